//! Nash-MTL: the Nash bargaining solution over the task gradients (Navon et al., ICML 2022).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    dot, finite_output, weighted_sum,
};
use crate::weighting::common::{checked_input, positive_count};
use crate::weighting::solvers::{Stationary, fair_solve};

/// `update_weights_every`.
const UPDATE_WEIGHTS_EVERY: Hyper = Hyper {
    name: "update_weights_every",
    default: 1.0,
    min: 1.0,
    max: 100.0,
    integer: true,
    help: "Re-solve for α every this many steps; reuse the last α in between.",
};

/// `optim_niter`.
const OPTIM_NITER: Hyper = Hyper {
    name: "optim_niter",
    default: 20.0,
    min: 1.0,
    max: 100.0,
    integer: true,
    help: "LibMTL's iteration cap; accepted but unused (solved to convergence).",
};

/// `max_norm`.
const MAX_NORM: Hyper = Hyper {
    name: "max_norm",
    default: 1.0,
    min: 0.0,
    max: 100.0,
    integer: false,
    help: "Clip the shared gradient to this norm (0 = no clipping).",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "nash_mtl",
    label: "Nash-MTL (bargaining)",
    family: Family::Gradient,
    paper: "Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya, ICML 2022",
    about: "Lets the tasks bargain over the update direction: the Nash bargaining \
            solution gives every task a weight α_k > 0 such that α_k times the task's \
            directional derivative along d is the same (1) for all tasks. Small or \
            conflicting gradients get larger weights. The loss weights α also scale each \
            head's gradient, and the shared step is clipped to norm max_norm.",
    formula: "α > 0 with α_k · (G α)_k = 1 for every k, G_ij = g_i · g_j;  d = Σ_k α_k g_k, clipped to ‖d‖ ≤ max_norm",
    hypers: &[UPDATE_WEIGHTS_EVERY, OPTIM_NITER, MAX_NORM],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let every = positive_count(params, "nash_mtl", &UPDATE_WEIGHTS_EVERY)?;
    // Accepted for LibMTL compatibility; the solver here always runs to convergence.
    positive_count(params, "nash_mtl", &OPTIM_NITER)?;
    let max_norm = MAX_NORM.read(params)?;
    if !(max_norm.is_finite() && max_norm >= 0.0) {
        return Err(WeightingError(format!(
            "nash_mtl: parameter 'max_norm' must be a finite number >= 0, got {max_norm}"
        )));
    }
    Ok(Box::new(NashMtl {
        k,
        every,
        max_norm,
        step: 0,
        alpha: vec![1.0; k],
        notice: None,
    }))
}

/// Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022), as LibMTL
/// `Nash_MTL`: α > 0 solves αₖ·(Gα)ₖ = 1 with the unnormalised Gramian (the fixed point
/// LibMTL's cvxpy problem actually encodes), α is rounded to float32 as LibMTL does, the
/// loss is Σ αₖLₖ (heads get weight αₖ), and the shared gradient Σ αₖgₖ is clipped like
/// `clip_grad_norm_(max_norm)`: multiplied by max_norm/(‖·‖ + 1e-6) when that is below 1.
///
/// State: the last α (init ones) and a step counter. α is re-solved every
/// `update_weights_every` steps, warm-started from the last one; in between the last α is
/// reused. LibMTL's sequence of at most `optim_niter` ECOS solves is replaced by an exact
/// Newton solve (`fair_solve` with exponent 1), so `optim_niter` has no effect.
/// `weights` = `head_weights` = α; `effective` = α times the clipping factor.
///
/// The equations are solved in the units of the gradients' directions (α-scaling is exact
/// for Nash-MTL), so gradients of very different lengths (10⁸ apart) are solved as well as
/// unit ones. Degenerate inputs: when the zero vector lies in the convex hull of the
/// gradients (a zero gradient, exactly opposite gradients, …) no finite α exists and the
/// point is Pareto-stationary (LibMTL's ECOS fails and it keeps the previous α); the step
/// is then a zero shared update, the heads get the last α, α is kept, and
/// [`Strategy::notice`] says why.
#[derive(Debug)]
pub struct NashMtl {
    /// Number of tasks K.
    k: usize,
    /// Re-solve every this many steps.
    every: usize,
    /// Clip norm of the shared gradient (0 = none).
    max_norm: f64,
    /// Steps taken.
    step: usize,
    /// The last α (K, full precision), the warm start.
    alpha: Vec<f64>,
    /// Why the last step was a zero update, if it was.
    notice: Option<String>,
}

impl NashMtl {
    /// The Pareto-stationary step: a zero shared update, the heads weighted by the last α
    /// (what LibMTL keeps when its solver fails), and a notice.
    fn stationary(&mut self, grads: &[Vec<f64>], why: &Stationary) -> StepOutput {
        self.notice = Some(why.notice(INFO.label));
        self.step += 1;
        let alpha32: Vec<f64> = self.alpha.iter().map(|&a| f64::from(a as f32)).collect();
        StepOutput {
            shared_grad: Some(vec![0.0; grads.first().map_or(0, Vec::len)]),
            effective: vec![0.0; self.k],
            head_weights: alpha32.clone(),
            weights: alpha32,
        }
    }
}

impl Strategy for NashMtl {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push_scalar("step", self.step as f64);
        s.push("alpha", &self.alpha);
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let step = usize::try_from(r.count("step")?).unwrap_or(usize::MAX);
        let alpha = r.vec("alpha", self.alpha.len())?;
        r.finish()?;
        (self.step, self.alpha) = (step, alpha);
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
        let (grads, g) = checked_input("nash_mtl", input, self.k)?;
        self.notice = None;
        let alpha = if self.step.is_multiple_of(self.every) {
            match fair_solve("nash_mtl", &g, 1.0, &self.alpha)? {
                Ok(alpha) => alpha,
                Err(why) => return Ok(self.stationary(grads, &why)),
            }
        } else {
            self.alpha.clone()
        };
        // LibMTL casts α to float32 before using it.
        let alpha32: Vec<f64> = alpha.iter().map(|&a| f64::from(a as f32)).collect();
        let mut shared = weighted_sum(grads, &alpha32);
        let mut factor = 1.0;
        if self.max_norm > 0.0 {
            let coef = self.max_norm / (dot(&shared, &shared).sqrt() + 1e-6);
            if coef < 1.0 {
                factor = coef;
                for v in &mut shared {
                    *v *= coef;
                }
            }
        }
        let out = finite_output(
            "nash_mtl",
            StepOutput {
                shared_grad: Some(shared),
                effective: alpha32.iter().map(|a| a * factor).collect(),
                head_weights: alpha32.clone(),
                weights: alpha32,
            },
        )?;
        self.alpha = alpha;
        self.step += 1;
        Ok(out)
    }

    fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close_msg, j2, pairs, random_grads};
    use rand::SeedableRng as _;

    /// Nash-MTL's balance equations and the invariant ‖Σ αₖgₖ‖² = K (before the clip), also
    /// across warm-started steps with very different scales.
    #[test]
    fn nash_solves_the_balance_equations_across_steps() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let k = 5;
        let none = pairs(&[("max_norm", 0.0.into())]);
        let mut s = build(&none, k).unwrap();
        for step in 0..20 {
            let scale = 10f64.powi(step % 7 - 3);
            let grads: Vec<Vec<f64>> = random_grads(&mut rng, k, 8)
                .into_iter()
                .map(|g| g.iter().map(|v| v * scale).collect())
                .collect();
            let losses = vec![1.0; k];
            let input = StepInput {
                epoch: 0,
                losses: &losses,
                grads: Some(&grads),
                loss_history: &[],
                rep_value: None,
                samples: &[],
            };
            let out = s
                .combine(&input, &mut ChaCha8Rng::seed_from_u64(0))
                .unwrap();
            let d = out.shared_grad.unwrap();
            let norm2 = dot(&d, &d);
            assert!(
                (norm2 - k as f64).abs() < 1e-5,
                "step {step}: ‖d‖² = {norm2}"
            );
            for (g, a) in grads.iter().zip(&out.weights) {
                assert!((a * dot(g, &d) - 1.0).abs() < 1e-5, "step {step}: balance");
            }
        }
    }

    #[test]
    fn nash_reuses_alpha_between_updates() {
        let p = pairs(&[("update_weights_every", 2.0.into())]);
        let mut s = build(&p, 2).unwrap();
        let a = j2();
        let b: Vec<Vec<f64>> = a
            .iter()
            .map(|g| g.iter().map(|v| 2.0 * v).collect())
            .collect();
        let losses = [1.0, 1.0];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut step = |grads: &[Vec<f64>]| {
            let input = StepInput {
                epoch: 0,
                losses: &losses,
                grads: Some(grads),
                loss_history: &[],
                rep_value: None,
                samples: &[],
            };
            s.combine(&input, &mut rng).unwrap().weights
        };
        let first = step(&a);
        let second = step(&b);
        let third = step(&b);
        assert_eq!(first, second, "reused between updates");
        close_msg(&third, &[first[0] / 2.0, first[1] / 2.0], 1e-6, "re-solved");
    }

    /// One step of a fresh Nash-MTL (no clipping) on `grads`: the output and the notice.
    fn once(grads: &[Vec<f64>]) -> (StepOutput, Option<String>) {
        let mut s = build(&pairs(&[("max_norm", 0.0.into())]), grads.len()).unwrap();
        let losses = vec![1.0; grads.len()];
        let input = StepInput {
            epoch: 0,
            losses: &losses,
            grads: Some(grads),
            loss_history: &[],
            rep_value: None,
            samples: &[],
        };
        let out = s
            .combine(&input, &mut ChaCha8Rng::seed_from_u64(0))
            .unwrap();
        (out, s.notice().map(str::to_owned))
    }

    /// Norms 10⁸ apart, and 10⁵ / 1 / 10⁻⁵, have an answer (issue 19): the balance
    /// equations αₖ·gₖ·d = 1 hold to 1e-9 relative, in float64 before the float32 rounding of
    /// α (that rounding alone moves them by ~1e-7).
    #[test]
    fn nash_solves_gradients_of_very_different_lengths() {
        let cases = [
            vec![vec![1.0, 0.2, 0.0], vec![1e-8, 3e-8, -1e-8]],
            vec![
                vec![1e5, 0.0, 2e4],
                vec![0.3, 1.0, 0.0],
                vec![0.0, -2e-6, 1e-5],
            ],
        ];
        for grads in cases {
            let gram = crate::weighting::api::gramian(&grads);
            let alpha = fair_solve("nash_mtl", &gram, 1.0, &vec![1.0; grads.len()])
                .unwrap()
                .unwrap();
            let d = weighted_sum(&grads, &alpha);
            for (g, a) in grads.iter().zip(&alpha) {
                let balance = a * dot(g, &d);
                assert!((balance - 1.0).abs() < 1e-9, "{grads:?}: {balance}");
            }
            let (out, notice) = once(&grads);
            assert!(notice.is_none(), "solved, no notice");
            assert!(out.weights.iter().all(|a| *a > 0.0 && a.is_finite()));
        }
    }

    /// Exactly opposite gradients, and a zero gradient: no positive α exists, so the step is
    /// a zero shared update (Pareto-stationary), the heads keep the last α, and a notice says
    /// why.
    #[test]
    fn nash_makes_a_zero_update_with_a_notice_where_no_weights_exist() {
        for grads in [
            vec![vec![1.0, -2.0, 0.5], vec![-1.0, 2.0, -0.5]],
            vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 0.0]],
        ] {
            let (out, notice) = once(&grads);
            assert_eq!(out.shared_grad, Some(vec![0.0; 3]), "{grads:?}");
            assert_eq!(out.effective, vec![0.0; 2]);
            assert_eq!(out.head_weights, vec![1.0; 2], "the initial α");
            let notice = notice.expect("a notice");
            assert!(notice.contains("Pareto-stationary"), "{notice}");
        }
        let (_, notice) = once(&[vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert!(notice.is_none(), "a solvable step clears the notice");
    }
}
