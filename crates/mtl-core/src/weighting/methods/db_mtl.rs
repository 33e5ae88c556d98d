//! DB-MTL: dual balancing of loss scales (log losses) and gradient magnitudes (Lin et al.,
//! 2023).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    weighted_sum,
};
use crate::weighting::common::{EPS, checked_grads, finite, hyper_in, ls_coeff, norm};

/// `DB_beta`.
const DB_BETA: Hyper = Hyper {
    name: "DB_beta",
    default: 0.9,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "EMA factor of the gradient buffer",
};

/// `DB_beta_sigma`.
const DB_BETA_SIGMA: Hyper = Hyper {
    name: "DB_beta_sigma",
    default: 0.0,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "decay exponent: the EMA factor at step t is DB_beta / t^DB_beta_sigma",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "db_mtl",
    label: "DB-MTL",
    family: Family::Gradient,
    paper: "Lin, Ye, Zhang, Kwok, Dual-Balancing for Multi-Task Learning, arXiv 2308.12029, 2023",
    about: "DB-MTL balances tasks twice. Loss scales are balanced by working with the gradient of log L \
            instead of L, which is scale-free. Gradient magnitudes are balanced by smoothing each \
            task's gradient with a moving average and then stretching every task to the length of \
            the largest one, so that each task contributes equally strongly to the shared update.",
    formula: "h_i = g_i / (L_i + ε); m_i = h_i + β / t^σ · (m_i - h_i); α_i = max_j ‖m_j‖ / (‖m_i‖ + ε); d = Σ_i α_i m_i",
    hypers: &[DB_BETA, DB_BETA_SIGMA],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(DbMtl::new(params, k)?))
}

/// DB-MTL (Lin et al., "Dual-Balancing for Multi-Task Learning", arXiv 2308.12029, 2023), as
/// LibMTL's `DB_MTL.py`.
///
/// The input gradients are those of L; LibMTL differentiates log(L + 1e-8), so h_k =
/// g_k / (L_k + 1e-8). State: an EMA buffer m (K × d, starting at 0) and a step counter t from
/// 1: m = h + β/t^σ · (m - h). α_k = max_j ‖m_j‖ / (‖m_k‖ + 1e-8), shared = Σ α_k m_k.
/// `weights` are ones (LibMTL). Heads receive ∇log L_k, so `head_weights` = 1/(L_k + 1e-8).
/// The buffer mixes past steps, so no exact effective vector exists: `effective_k` =
/// α_k ⟨m_k, g_k⟩ / ‖g_k‖², the least-squares coefficient of task k's contribution on its
/// current gradient (exact on the first step, where m_k ∥ g_k; 0 when g_k = 0). Losses with
/// L + 1e-8 ≤ 0 (log undefined) are an error.
#[derive(Clone, Debug)]
pub struct DbMtl {
    k: usize,
    beta: f64,
    beta_sigma: f64,
    /// Steps taken so far.
    step: u64,
    /// EMA of the log-loss gradients (K × d); `None` before the first step.
    buffer: Option<Vec<Vec<f64>>>,
}

impl DbMtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        Ok(Self {
            k,
            beta: hyper_in(params, &DB_BETA, 0.0, f64::INFINITY)?,
            beta_sigma: hyper_in(params, &DB_BETA_SIGMA, f64::NEG_INFINITY, f64::INFINITY)?,
            step: 0,
            buffer: None,
        })
    }
}

impl Strategy for DbMtl {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push_scalar("step", self.step as f64);
        s.push_rows("buffer", self.buffer.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let step = r.count("step")?;
        let buffer = r.rows("buffer", self.k)?;
        r.finish()?;
        (self.step, self.buffer) = (step, buffer);
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
        let grads = checked_grads(input, self.k, "db_mtl")?;
        let d = grads.first().map_or(0, Vec::len);
        if let Some(i) = input.losses.iter().position(|l| *l + EPS <= 0.0) {
            return Err(WeightingError(format!(
                "db_mtl takes log(L + 1e-8) and needs positive losses; task {i} has loss {}",
                input.losses[i]
            )));
        }
        if let Some(prev) = self.buffer.as_ref().map(|m| m.first().map_or(0, Vec::len))
            && prev != d
        {
            return Err(WeightingError(format!(
                "db_mtl: gradient length changed from {prev} to {d}"
            )));
        }
        let step = self.step + 1;
        let decay = self.beta / (step as f64).powf(self.beta_sigma);
        let zeros = vec![vec![0.0; d]; self.k];
        let old = self.buffer.as_ref().unwrap_or(&zeros);
        let head: Vec<f64> = input.losses.iter().map(|l| 1.0 / (l + EPS)).collect();
        let buffer: Vec<Vec<f64>> = grads
            .iter()
            .zip(old)
            .zip(input.losses)
            .map(|((g, m), l)| {
                g.iter()
                    .zip(m)
                    .map(|(gv, mv)| {
                        let h = gv / (l + EPS);
                        h + decay * (mv - h)
                    })
                    .collect()
            })
            .collect();
        let norms: Vec<f64> = buffer.iter().map(|m| norm(m)).collect();
        let max_norm = norms.iter().copied().fold(0.0, f64::max);
        let alpha: Vec<f64> = norms.iter().map(|n| max_norm / (n + EPS)).collect();
        let shared = weighted_sum(&buffer, &alpha);
        let effective: Vec<f64> = alpha
            .iter()
            .zip(&buffer)
            .zip(grads)
            .map(|((a, m), g)| a * ls_coeff(m, g))
            .collect();
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: vec![1.0; self.k],
                effective,
                head_weights: head,
            },
            "db_mtl",
        )?;
        self.step = step;
        self.buffer = Some(buffer);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, j2, run};

    #[test]
    fn golden_db_mtl_first_step() {
        // J taken as the log-loss gradients: L + 1e-8 = 1.
        let out = run("db_mtl", &Params::new(), &j2(), &[1.0 - 1e-8, 1.0 - 1e-8]);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.0188, 0.2453, 0.2453],
            1e-4,
        );
        close(&out.weights, &[1.0, 1.0], 0.0);
        close(&out.effective, &[0.1453, 0.1], 1e-4);
        let d = weighted_sum(&j2(), &out.effective);
        close(&d, out.shared_grad.as_ref().unwrap(), 1e-12);
    }
}
