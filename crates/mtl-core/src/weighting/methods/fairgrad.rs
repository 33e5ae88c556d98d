//! FairGrad: α-fair allocation of the update among the tasks (Ban & Ji, ICML 2024).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, weighted_sum,
};
use crate::weighting::common::checked_input;
use crate::weighting::solvers::fair_solve;

/// `FairGrad_alpha`.
const FAIRGRAD_ALPHA: Hyper = Hyper {
    name: "FairGrad_alpha",
    default: 1.0,
    min: 0.01,
    max: 10.0,
    integer: false,
    help: "Fairness α > 0: 1 = proportional fairness, large = max-min fairness.",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "fairgrad",
    label: "FairGrad (α-fair allocation)",
    family: Family::Gradient,
    paper: "Ban & Ji, ICML 2024",
    about: "Sees the update as a shared resource and the tasks' loss decreases as their \
            utilities, and allocates it α-fairly: weights x > 0 with (G x)_k = \
            x_k^(-1/α). α = 1 is proportional fairness (the same answer as Nash-MTL, \
            without the clipping); larger α moves towards max-min fairness, helping the \
            worst-off task. The weights x also scale each head's gradient.",
    formula: "x > 0 with Σ_j (g_k · g_j) x_j = x_k^(-1/α) for every k;  d = Σ_k x_k g_k",
    hypers: &[FAIRGRAD_ALPHA],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let alpha = FAIRGRAD_ALPHA.read(params)?;
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(WeightingError(format!(
            "fairgrad: parameter 'FairGrad_alpha' must be a finite number > 0, got {alpha}"
        )));
    }
    Ok(Box::new(FairGrad { k, alpha }))
}

/// FairGrad (Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024), as
/// LibMTL `FairGrad`: x > 0 solves (Gx)ₖ = xₖ^(−1/α) (α = `FairGrad_alpha`), the loss is
/// Σ xₖLₖ, so the shared gradient is Σ xₖgₖ and heads get weight xₖ; `weights` =
/// `effective` = `head_weights` = x.
///
/// LibMTL calls SciPy's `least_squares` from 1/K on every step; here the same equations are
/// solved exactly by Newton's method on their convex potential (`fair_solve`), also from
/// 1/K (no state). Degenerate inputs: when the zero vector lies in the convex hull of the
/// gradients (a zero gradient, exactly opposite gradients, …) no finite solution exists
/// (LibMTL's least squares stops at huge, arbitrary weights); `combine` returns an error.
#[derive(Debug)]
pub struct FairGrad {
    /// Number of tasks K.
    k: usize,
    /// The fairness exponent α > 0.
    alpha: f64,
}

impl Strategy for FairGrad {
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
        let (grads, g) = checked_input("fairgrad", input, self.k)?;
        let start = vec![1.0 / self.k as f64; self.k];
        let x = fair_solve("fairgrad", &g, self.alpha, &start)?;
        finite_output(
            "fairgrad",
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &x)),
                weights: x.clone(),
                effective: x.clone(),
                head_weights: x,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::gramian;
    use crate::weighting::solvers::mat_vec;
    use crate::weighting::testing::{pairs, random_grads, run0};
    use rand::SeedableRng as _;

    #[test]
    fn fairgrad_solves_its_equations_for_several_alphas() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for trial in 0..60 {
            let k = 2 + trial % 6;
            let grads = random_grads(&mut rng, k, k + 3);
            let alpha = [0.5, 1.0, 2.0, 5.0][trial % 4];
            let p = pairs(&[("FairGrad_alpha", alpha.into())]);
            let out = run0("fairgrad", &p, &grads, &vec![1.0; k]);
            let g = gramian(&grads);
            let gx = mat_vec(&g, &out.weights);
            for (lhs, x) in gx.iter().zip(&out.weights) {
                let rhs = x.powf(-1.0 / alpha);
                assert!(
                    (lhs - rhs).abs() <= 1e-10 * rhs,
                    "trial {trial}: {lhs} vs {rhs}"
                );
            }
        }
    }
}
