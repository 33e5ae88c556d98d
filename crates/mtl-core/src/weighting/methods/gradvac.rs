//! GradVac: gradient vaccine, pairs of task gradients pulled towards their usual similarity
//! (Wang et al., ICLR 2021).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    dot, weighted_sum,
};
use crate::weighting::common::{EPS, ORDER, checked_grads, finite, hyper_in, norm, visit_order};

/// `GradVac_beta`.
const GRADVAC_BETA: Hyper = Hyper {
    name: "GradVac_beta",
    default: 0.5,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "EMA rate of the target similarities (0 keeps them at 0, 1 copies the latest)",
};

/// `GradVac_group_type`.
const GRADVAC_GROUP_TYPE: Hyper = Hyper {
    name: "GradVac_group_type",
    default: 0.0,
    min: 0.0,
    max: 0.0,
    integer: true,
    help: "parameter grouping; only 0 (whole model) is supported here",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "gradvac",
    label: "GradVac",
    family: Family::Gradient,
    paper: "Wang, Tsvetkov, Firat, Cao, Gradient Vaccine: Investigating and Improving Multi-task \
            Optimization in Massively Multilingual Models, ICLR 2021",
    about: "GradVac generalises PCGrad: instead of only removing conflicts, it keeps for every pair \
            of tasks a running average of how similar (cosine) their gradients usually are, and \
            nudges a gradient towards the other whenever their current similarity falls below that \
            target. Related tasks are thus kept aligned as much as they normally are. On the first \
            step the targets are 0 and GradVac does exactly what PCGrad does.",
    formula: "ρ = cos(p_i, g_j); if ρ < ρT_ij: p_i = p_i + g_j · ‖p_i‖ (ρT_ij √(1 - ρ²) - ρ √(1 - ρT_ij²)) / (‖g_j‖ √(1 - ρT_ij²) + ε); \
              ρT_ij = (1 - β) ρT_ij + β ρ; d = Σ_i p_i",
    hypers: &[GRADVAC_BETA, GRADVAC_GROUP_TYPE],
    choices: &[ORDER],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(GradVac::new(params, k)?))
}

/// GradVac (Wang et al., "Gradient Vaccine", ICLR 2021), as LibMTL's `GradVac.py` with
/// `GradVac_group_type` 0 (the whole shared vector is one group).
///
/// State: target cosines ρT (K × K, starting at 0), updated by an EMA with rate
/// `GradVac_beta` after every visited pair, whether or not the pair was adjusted. For each
/// task i, the other tasks are visited in a shuffled order (i excluded; `order: "identity"`
/// visits them in index order). The shared gradient is Σ_i p_i. `weights` are all ones, as
/// LibMTL returns; `effective` are the exact coefficients c with shared = Σ c_k g_k (tracked
/// through the adjustments). Heads get weight 1. √(1 - ρ²) is clamped at 0 so rounding with
/// |ρ| slightly above 1 cannot give NaN. Group types 1 and 2 (per layer, per matrix) need
/// layer boundaries the API does not carry and are rejected.
#[derive(Clone, Debug)]
pub struct GradVac {
    k: usize,
    identity: bool,
    beta: f64,
    /// Target cosines ρT[i][j] (K × K).
    rho_t: Vec<Vec<f64>>,
}

impl GradVac {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        let group = GRADVAC_GROUP_TYPE.read(params)?;
        if group != 0.0 {
            return Err(WeightingError(format!(
                "gradvac: GradVac_group_type {group} is not supported; only 0 (whole model) is, \
                 because per-layer groups need layer boundaries the gradients do not carry"
            )));
        }
        Ok(Self {
            k,
            identity: ORDER.read("gradvac", params)? == "identity",
            beta: hyper_in(params, &GRADVAC_BETA, 0.0, 1.0)?,
            rho_t: vec![vec![0.0; k]; k],
        })
    }
}

impl Strategy for GradVac {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push_rows("rho_t", Some(self.rho_t.as_slice()));
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let rho_t = r.vec("rho_t", self.k * self.k)?;
        r.finish()?;
        self.rho_t = rho_t.chunks(self.k.max(1)).map(<[f64]>::to_vec).collect();
        Ok(())
    }

    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "gradvac")?;
        let k = self.k;
        let beta = self.beta;
        let gnorm: Vec<f64> = grads.iter().map(|g| norm(g)).collect();
        let mut rho_t = self.rho_t.clone();
        let mut pc = grads.to_vec();
        let mut effective = vec![1.0; k];
        for (i, p) in pc.iter_mut().enumerate() {
            for j in visit_order(k, Some(i), self.identity, rng) {
                let pn = norm(p);
                let rho = dot(p, &grads[j]) / (pn * gnorm[j] + EPS);
                let target = rho_t[i][j];
                if rho < target {
                    let root_t = (1.0 - target * target).max(0.0).sqrt();
                    let root_r = (1.0 - rho * rho).max(0.0).sqrt();
                    let w = pn * (target * root_r - rho * root_t) / (gnorm[j] * root_t + EPS);
                    for (x, g) in p.iter_mut().zip(&grads[j]) {
                        *x += w * g;
                    }
                    effective[j] += w;
                }
                rho_t[i][j] = (1.0 - beta) * target + beta * rho;
            }
        }
        let shared = weighted_sum(&pc, &vec![1.0; k]);
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: vec![1.0; k],
                effective,
                head_weights: vec![1.0; k],
            },
            "gradvac",
        )?;
        if rho_t.iter().flatten().any(|v| !v.is_finite()) {
            return Err(WeightingError(
                "gradvac produced non-finite target cosines".to_owned(),
            ));
        }
        self.rho_t = rho_t;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, identity, j2, rng, run};

    #[test]
    fn golden_gradvac_first_step_is_pcgrad() {
        let out = run("gradvac", &identity(), &j2(), &[1.0, 1.0]);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.5848, 3.8012, 3.8012],
            1e-4,
        );
        close(&out.weights, &[1.0, 1.0], 0.0);
        close(&out.effective, &[2.2222, 1.5789], 1e-4);
    }

    #[test]
    fn gradvac_targets_carry_between_steps() {
        let mut s = build(&identity(), 2).unwrap();
        let g = vec![vec![1.0, 0.0], vec![0.6, 0.8]];
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
            samples: &[],
        };
        // Step 1: no conflict (cos 0.6 > 0), sum unchanged; targets become 0.3.
        let out = s.combine(&input, &mut rng()).unwrap();
        close(out.shared_grad.as_ref().unwrap(), &[1.6, 0.8], 1e-12);
        // Step 2 with cos 0 < 0.3: the pair is pulled towards the target cosine.
        let g2 = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let input2 = StepInput {
            grads: Some(&g2),
            ..input
        };
        let out = s.combine(&input2, &mut rng()).unwrap();
        let d = out.shared_grad.unwrap();
        assert!(d[0] > 1.0 && d[1] > 1.0, "{d:?}");
        // p_0 = g_0 + w g_1 has cosine 0.3 with g_1.
        let w = out.effective[1] - 1.0;
        let p0 = [1.0, w];
        assert!((dot(&p0, &[0.0, 1.0]) / norm(&p0) - 0.3).abs() < 1e-7);
    }
}
