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
    max: 2.0,
    integer: true,
    help: "parameter grouping: 0 the whole model, 1 each shared layer, 2 each parameter tensor, \
           with target similarities per group",
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

/// GradVac (Wang et al., "Gradient Vaccine", ICLR 2021), as LibMTL's `GradVac.py`.
///
/// State: target cosines ρT (K × K per group, starting at 0), updated by an EMA with rate
/// `GradVac_beta` after every visited pair and group, whether or not it was adjusted. For
/// each task i, the other tasks are visited in a shuffled order (i excluded; `order:
/// "identity"` visits them in index order), and for each of them every group in turn: with
/// `GradVac_group_type` 0 the whole shared vector, 1 each shared layer, 2 each parameter
/// tensor (LibMTL's `whole_model`, `all_layer`, `all_matrix`; the trainer gives the layout,
/// and `aggregate` a case's `layers`). The shared gradient is Σ_i p_i. `weights` are all
/// ones, as LibMTL returns; `effective` are the coefficients c with shared = Σ c_k g_k
/// (tracked through the adjustments; with several groups, the mean over the groups of each
/// group's exact coefficients). Heads get weight 1. √(1 - ρ²) is clamped at 0 so rounding
/// with |ρ| slightly above 1 cannot give NaN.
#[derive(Clone, Debug)]
pub struct GradVac {
    k: usize,
    identity: bool,
    beta: f64,
    /// 0 whole model, 1 per layer, 2 per tensor.
    group_type: u8,
    /// The groups' ranges in the shared gradient (empty: the whole of it).
    groups: Vec<std::ops::Range<usize>>,
    /// Target cosines ρT[i][j][group].
    rho_t: Vec<Vec<Vec<f64>>>,
}

impl GradVac {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        let group = GRADVAC_GROUP_TYPE.read(params)?;
        let group_type = match group {
            0.0 => 0,
            1.0 => 1,
            2.0 => 2,
            _ => {
                return Err(WeightingError(format!(
                    "gradvac: GradVac_group_type must be 0 (whole model), 1 (each layer) or 2 \
                     (each parameter tensor), got {group}"
                )));
            }
        };
        Ok(Self {
            k,
            identity: ORDER.read("gradvac", params)? == "identity",
            beta: hyper_in(params, &GRADVAC_BETA, 0.0, 1.0)?,
            group_type,
            groups: Vec::new(),
            rho_t: vec![vec![vec![0.0]; k]; k],
        })
    }
}

impl Strategy for GradVac {
    fn state(&self) -> StrategyState {
        // ρT[i][j][group], flattened in that order.
        let flat: Vec<f64> = self.rho_t.iter().flatten().flatten().copied().collect();
        let mut s = StrategyState::default();
        s.push("rho_t", &flat);
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let groups = self
            .rho_t
            .first()
            .and_then(|r| r.first())
            .map_or(1, Vec::len);
        let mut r = StateReader::new(INFO.key, state);
        let rho_t = r.vec("rho_t", self.k * self.k * groups)?;
        r.finish()?;
        self.rho_t = rho_t
            .chunks(self.k.max(1) * groups)
            .map(|row| row.chunks(groups).map(<[f64]>::to_vec).collect())
            .collect();
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
        let d = grads.first().map_or(0, Vec::len);
        let groups: Vec<std::ops::Range<usize>> = if self.groups.is_empty() {
            std::iter::once(0..d).collect()
        } else {
            self.groups.clone()
        };
        if groups.last().map(|r| r.end) != Some(d) {
            return Err(WeightingError(format!(
                "gradvac: the gradients have {d} entries but the shared layers {}",
                groups.last().map_or(0, |r| r.end)
            )));
        }
        let gnorm: Vec<Vec<f64>> = grads
            .iter()
            .map(|g| groups.iter().map(|r| norm(&g[r.clone()])).collect())
            .collect();
        let mut rho_t = self.rho_t.clone();
        let mut pc = grads.to_vec();
        let mut effective = vec![1.0; k];
        let share = 1.0 / groups.len() as f64;
        for (i, p) in pc.iter_mut().enumerate() {
            for j in visit_order(k, Some(i), self.identity, rng) {
                for (group, range) in groups.iter().enumerate() {
                    let slice = &mut p[range.clone()];
                    let other = &grads[j][range.clone()];
                    let pn = norm(slice);
                    let rho = dot(slice, other) / (pn * gnorm[j][group] + EPS);
                    let target = rho_t[i][j][group];
                    if rho < target {
                        let root_t = (1.0 - target * target).max(0.0).sqrt();
                        let root_r = (1.0 - rho * rho).max(0.0).sqrt();
                        let w = pn * (target * root_r - rho * root_t)
                            / (gnorm[j][group] * root_t + EPS);
                        for (x, g) in slice.iter_mut().zip(other) {
                            *x += w * g;
                        }
                        effective[j] += w * share;
                    }
                    rho_t[i][j][group] = (1.0 - beta) * target + beta * rho;
                }
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
        if rho_t.iter().flatten().flatten().any(|v| !v.is_finite()) {
            return Err(WeightingError(
                "gradvac produced non-finite target cosines".to_owned(),
            ));
        }
        self.rho_t = rho_t;
        Ok(out)
    }

    fn set_layout(
        &mut self,
        layout: &crate::weighting::SharedLayout,
    ) -> Result<(), WeightingError> {
        self.groups = match self.group_type {
            1 => layout.layers.clone(),
            2 => layout.tensors.clone(),
            _ => return Ok(()),
        };
        let g = self.groups.len().max(1);
        self.rho_t = vec![vec![vec![0.0; g]; self.k]; self.k];
        Ok(())
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

    /// Per layer (LibMTL's `all_layer`), each layer's slice is vaccinated with its own target
    /// similarities: with two tasks (one visit order) it equals whole-model GradVac run on
    /// each slice alone, over several steps.
    #[test]
    fn per_layer_groups_have_their_own_targets() {
        let steps = [
            vec![vec![1.0, 0.0, 0.5], vec![0.6, 0.8, 0.5]],
            vec![vec![1.0, 0.0, 1.0], vec![0.0, 1.0, -1.0]],
            vec![vec![0.2, -1.0, 0.3], vec![1.0, 0.4, 0.9]],
        ];
        let mut p = identity();
        p.insert("GradVac_group_type".to_owned(), 1.into());
        let mut grouped = build(&p, 2).unwrap();
        let layout = crate::weighting::SharedLayout::from_sizes(&[vec![1, 1], vec![1]]);
        grouped.set_layout(&layout).unwrap();
        let mut alone: Vec<_> = layout
            .layers
            .iter()
            .map(|_| build(&identity(), 2).unwrap())
            .collect();
        for g in &steps {
            let out = run_on(grouped.as_mut(), g);
            for (range, s) in layout.layers.iter().zip(&mut alone) {
                let block: Vec<Vec<f64>> = g.iter().map(|r| r[range.clone()].to_vec()).collect();
                let want = run_on(s.as_mut(), &block);
                close(&out[range.clone()], &want, 1e-12);
            }
        }
        // Per tensor there are three groups of one entry.
        p.insert("GradVac_group_type".to_owned(), 2.into());
        let mut per_tensor = build(&p, 2).unwrap();
        per_tensor.set_layout(&layout).unwrap();
        let a = run_on(per_tensor.as_mut(), &steps[0]);
        assert_eq!(a.len(), 3);
    }

    fn run_on(s: &mut dyn Strategy, g: &[Vec<f64>]) -> Vec<f64> {
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(g),
            loss_history: &[],
            rep_value: None,
            samples: &[],
        };
        s.combine(&input, &mut rng()).unwrap().shared_grad.unwrap()
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
