//! MoCo: a stochastic MGDA with tracked gradients and mirror-step weights (Fernando et al.,
//! ICLR 2023).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    gramian, weighted_sum,
};
use crate::weighting::common::{EPS, checked_grads, finite, hyper_in, ls_coeff, norm};

/// `MoCo_beta`.
const MOCO_BETA: Hyper = Hyper {
    name: "MoCo_beta",
    default: 0.5,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "learning rate of the gradient tracker y",
};

/// `MoCo_beta_sigma`.
const MOCO_BETA_SIGMA: Hyper = Hyper {
    name: "MoCo_beta_sigma",
    default: 0.5,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "decay exponent of MoCo_beta over steps",
};

/// `MoCo_gamma`.
const MOCO_GAMMA: Hyper = Hyper {
    name: "MoCo_gamma",
    default: 0.1,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "learning rate of the task weights λ",
};

/// `MoCo_gamma_sigma`.
const MOCO_GAMMA_SIGMA: Hyper = Hyper {
    name: "MoCo_gamma_sigma",
    default: 0.5,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "decay exponent of MoCo_gamma over steps",
};

/// `MoCo_rho`.
const MOCO_RHO: Hyper = Hyper {
    name: "MoCo_rho",
    default: 0.0,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "L2 regularisation of λ's update",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "moco",
    label: "MoCo",
    family: Family::Gradient,
    paper: "Fernando, Shen, Liu, Chaudhury, Murugesan, Chen, Mitigating Gradient Bias in \
            Multi-objective Learning: A Provably Convergent Approach, ICLR 2023",
    about: "MoCo is a stochastic version of MGDA. Mini-batch gradients are noisy, so it keeps a moving \
            average of every task's (normalised, loss-scaled) gradient and slowly moves the task \
            weights towards the min-norm combination of these averages with a mirror (softmax) \
            step. The smoothing removes the bias that makes plain MGDA unreliable with small batches.",
    formula: "h_i = L_i g_i / (‖g_i‖ + ε); y_i = y_i - β_t (y_i - h_i); λ = softmax(λ - γ_t (Y Y^T + ρ I) λ); \
              d = Σ_i λ_i y_i, with β_t = β / t^(β_σ), γ_t = γ / t^(γ_σ)",
    hypers: &[
        MOCO_BETA,
        MOCO_BETA_SIGMA,
        MOCO_GAMMA,
        MOCO_GAMMA_SIGMA,
        MOCO_RHO,
    ],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(MoCo::new(params, k)?))
}

/// MoCo (Fernando et al., "Mitigating Gradient Bias in Multi-objective Learning: A Provably
/// Convergent Approach", ICLR 2023), as LibMTL's `MoCo.py` (softmax mirror step, not the
/// paper's simplex projection).
///
/// State: tracker Y (K × d, starting at 0), weights λ (K, starting at 1/K), step t from 1.
/// h_k = g_k / (‖g_k‖ + 1e-8) · L_k; Y = Y - β/t^{β_σ} (Y - H);
/// λ = softmax(λ - γ/t^{γ_σ} (Y Yᵀ + ρ I) λ); shared = Yᵀ λ. `weights` = λ (LibMTL), heads
/// get weight 1. Y mixes past steps, so `effective_k` = λ_k ⟨y_k, g_k⟩ / ‖g_k‖², the least-squares
/// coefficient of task k's contribution on its current gradient (exact on the first step;
/// 0 when g_k = 0).
#[derive(Clone, Debug)]
pub struct MoCo {
    k: usize,
    beta: f64,
    beta_sigma: f64,
    gamma: f64,
    gamma_sigma: f64,
    rho: f64,
    /// Steps taken so far.
    step: u64,
    /// Gradient tracker Y (K × d); `None` before the first step.
    y: Option<Vec<Vec<f64>>>,
    /// Task weights λ (K, on the simplex).
    lambda: Vec<f64>,
}

impl MoCo {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        Ok(Self {
            k,
            beta: hyper_in(params, &MOCO_BETA, 0.0, f64::INFINITY)?,
            beta_sigma: hyper_in(params, &MOCO_BETA_SIGMA, f64::NEG_INFINITY, f64::INFINITY)?,
            gamma: hyper_in(params, &MOCO_GAMMA, 0.0, f64::INFINITY)?,
            gamma_sigma: hyper_in(params, &MOCO_GAMMA_SIGMA, f64::NEG_INFINITY, f64::INFINITY)?,
            rho: hyper_in(params, &MOCO_RHO, f64::NEG_INFINITY, f64::INFINITY)?,
            step: 0,
            y: None,
            lambda: vec![1.0 / k as f64; k],
        })
    }
}

impl Strategy for MoCo {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push_scalar("step", self.step as f64);
        s.push_rows("y", self.y.as_deref());
        s.push("lambda", &self.lambda);
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let step = r.count("step")?;
        let y = r.rows("y", self.k)?;
        let lambda = r.vec("lambda", self.k)?;
        r.finish()?;
        (self.step, self.y, self.lambda) = (step, y, lambda);
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
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "moco")?;
        let k = self.k;
        let d = grads.first().map_or(0, Vec::len);
        if let Some(prev) = self.y.as_ref().map(|m| m.first().map_or(0, Vec::len))
            && prev != d
        {
            return Err(WeightingError(format!(
                "moco: gradient length changed from {prev} to {d}"
            )));
        }
        let step = self.step + 1;
        let t = step as f64;
        let beta_t = self.beta / t.powf(self.beta_sigma);
        let gamma_t = self.gamma / t.powf(self.gamma_sigma);
        let zeros = vec![vec![0.0; d]; k];
        let old = self.y.as_ref().unwrap_or(&zeros);
        let y: Vec<Vec<f64>> = grads
            .iter()
            .zip(old)
            .zip(input.losses)
            .map(|((g, yk), l)| {
                let n = norm(g) + EPS;
                g.iter()
                    .zip(yk)
                    .map(|(gv, yv)| {
                        let h = gv / n * l;
                        yv - beta_t * (yv - h)
                    })
                    .collect()
            })
            .collect();
        let gram = gramian(&y);
        let z: Vec<f64> = (0..k)
            .map(|i| {
                let row: f64 = (0..k).map(|j| gram[i][j] * self.lambda[j]).sum::<f64>()
                    + self.rho * self.lambda[i];
                self.lambda[i] - gamma_t * row
            })
            .collect();
        let z_max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = z.iter().map(|v| (v - z_max).exp()).collect();
        let total: f64 = exps.iter().sum();
        let lambda: Vec<f64> = exps.iter().map(|e| e / total).collect();
        let shared = weighted_sum(&y, &lambda);
        let effective: Vec<f64> = lambda
            .iter()
            .zip(&y)
            .zip(grads)
            .map(|((l, yk), g)| l * ls_coeff(yk, g))
            .collect();
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: lambda.clone(),
                effective,
                head_weights: vec![1.0; k],
            },
            "moco",
        )?;
        self.step = step;
        self.y = Some(y);
        self.lambda = lambda;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, j2, run};

    #[test]
    fn golden_moco_first_step() {
        let out = run("moco", &Params::new(), &j2(), &[1.0, 2.0]);
        close(&out.weights, &[0.5094, 0.4906], 1e-4);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.2374, 0.1396, 0.1396],
            1e-4,
        );
        let d = weighted_sum(&j2(), &out.effective);
        close(&d, out.shared_grad.as_ref().unwrap(), 1e-12);
    }
}
