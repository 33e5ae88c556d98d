//! GLS: the geometric mean of the task losses (Chennupati et al., CVPR Workshops 2019).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, loss_based,
};
use crate::weighting::common::check_input;

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "gls",
    label: "GLS (geometric loss strategy)",
    family: Family::Loss,
    paper: "Chennupati et al., CVPR Workshops 2019",
    about: "Minimises the geometric mean of the task losses instead of their sum. Its \
            gradient weights each task by the geometric mean divided by K times its own \
            loss, so a task whose loss is already small gets a large relative weight and \
            the losses' scales do not matter.",
    formula: "L = (Π_k L_k)^(1/K),  effective c_k = (Π_j L_j)^(1/K) / (K · L_k)",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    Ok(Box::new(GeometricLoss { k }))
}

/// Geometric loss strategy (Chennupati et al., "MultiNet++: Multi-Stream Feature Aggregation
/// and Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops 2019), as LibMTL `GLS`.
///
/// Loss (Π Lₖ)^(1/K). Effective weights cₖ = (Π L)^(1/K)/(K·Lₖ) (computed in log space);
/// logged `weights` are LibMTL's Lₖ/(K·Π L), which are not the gradient weights. Errors on a
/// loss ≤ 0 (the geometric mean is not differentiable there; LibMTL gives inf/NaN).
#[derive(Debug)]
pub struct GeometricLoss {
    /// Number of tasks K.
    k: usize,
}

impl Strategy for GeometricLoss {
    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("gls", input, self.k)?;
        if let Some(i) = input.losses.iter().position(|&l| l <= 0.0) {
            return Err(WeightingError(format!(
                "gls: needs positive losses, task {i} has loss {}",
                input.losses[i]
            )));
        }
        let kf = self.k as f64;
        let log_sum: f64 = input.losses.iter().map(|l| l.ln()).sum();
        let effective: Vec<f64> = input
            .losses
            .iter()
            .map(|l| (log_sum / kf - l.ln()).exp() / kf)
            .collect();
        let logged: Vec<f64> = input
            .losses
            .iter()
            .map(|l| (l.ln() - log_sum).exp() / kf)
            .collect();
        finite_output("gls", loss_based(input, effective, logged))
    }
}

#[cfg(test)]
mod tests {
    use crate::weighting::testing::{close, input, j2, rng, strategy};

    #[test]
    fn gls_golden_and_degenerate() {
        let j = j2();
        let mut s = strategy("gls", "{}", 2);
        let out = s
            .combine(&input(0, &[1.0, 4.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[1.0, 0.25], 1e-12);
        close(&out.weights, &[0.125, 0.5], 1e-12);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[-2.5, 1.25, 1.25],
            1e-12,
        );
        assert!(
            s.combine(&input(0, &[0.0, 4.0], Some(&j), &[]), &mut rng())
                .is_err()
        );
        // Tiny losses over many tasks: the logged weights would overflow; error, not inf.
        let many = vec![1e-30; 20];
        let r = strategy("gls", "{}", 20).combine(&input(0, &many, None, &[]), &mut rng());
        assert!(r.is_err());
    }
}
