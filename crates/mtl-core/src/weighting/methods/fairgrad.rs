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
    Ok(Box::new(FairGrad {
        k,
        alpha,
        notice: None,
    }))
}

/// FairGrad (Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024), as
/// LibMTL `FairGrad`: x > 0 solves (Gx)ₖ = xₖ^(−1/α) (α = `FairGrad_alpha`), the loss is
/// Σ xₖLₖ, so the shared gradient is Σ xₖgₖ and heads get weight xₖ; `weights` =
/// `effective` = `head_weights` = x.
///
/// LibMTL calls SciPy's `least_squares` from 1/K on every step; here the same equations are
/// solved exactly by Newton's method on their convex potential (`fair_solve`), also from
/// 1/K (no state), in the units of the gradients' directions so that lengths 10⁸ apart are
/// solved as well as unit ones. Degenerate inputs: when the zero vector lies in the convex
/// hull of the gradients (a zero gradient, exactly opposite gradients, …) no finite solution
/// exists and the point is Pareto-stationary (LibMTL's least squares stops at huge,
/// arbitrary weights); the step is then a zero shared update with weights 0, heads with
/// weight 1, and [`Strategy::notice`] says why.
#[derive(Debug)]
pub struct FairGrad {
    /// Number of tasks K.
    k: usize,
    /// The fairness exponent α > 0.
    alpha: f64,
    /// Why the last step was a zero update, if it was.
    notice: Option<String>,
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
        let x = match fair_solve("fairgrad", &g, self.alpha, &start)? {
            Ok(x) => {
                self.notice = None;
                x
            }
            Err(why) => {
                // Pareto-stationary: a zero shared update, heads with weight 1.
                self.notice = Some(why.notice(INFO.label));
                return Ok(StepOutput {
                    shared_grad: Some(vec![0.0; grads.first().map_or(0, Vec::len)]),
                    weights: vec![0.0; self.k],
                    effective: vec![0.0; self.k],
                    head_weights: vec![1.0; self.k],
                });
            }
        };
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

    fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
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

    /// Norms 10⁸ apart and 10⁵ / 1 / 10⁻⁵ are solved (issue 19) to a relative residual of
    /// 1e-10 for several α; exactly opposite gradients give a zero update and a notice.
    #[test]
    fn fairgrad_solves_badly_scaled_inputs_and_stops_where_none_exists() {
        let cases = [
            vec![vec![1.0, 0.2, 0.0], vec![1e-8, 3e-8, -1e-8]],
            vec![
                vec![1e5, 0.0, 2e4],
                vec![0.3, 1.0, 0.0],
                vec![0.0, -2e-6, 1e-5],
            ],
        ];
        for grads in cases {
            for alpha in [0.5, 1.0, 2.0] {
                let p = pairs(&[("FairGrad_alpha", alpha.into())]);
                let out = run0("fairgrad", &p, &grads, &vec![1.0; grads.len()]);
                let gx = mat_vec(&gramian(&grads), &out.weights);
                for (lhs, x) in gx.iter().zip(&out.weights) {
                    let rhs = x.powf(-1.0 / alpha);
                    assert!(
                        (lhs - rhs).abs() <= 1e-10 * rhs,
                        "α = {alpha}, {grads:?}: {lhs} vs {rhs}"
                    );
                }
            }
        }
        let mut s = build(&Params::new(), 2).unwrap();
        let grads = vec![vec![3.0, 1.0], vec![-3.0, -1.0]];
        let input = crate::weighting::testing::input(0, &[1.0, 1.0], Some(&grads), &[]);
        let out = s
            .combine(&input, &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        assert_eq!(out.shared_grad, Some(vec![0.0, 0.0]));
        assert_eq!(out.head_weights, vec![1.0, 1.0], "the heads still learn");
        assert!(s.notice().is_some_and(|n| n.contains("cancel")));
    }
}
