//! CR-MOGM, the correlation-reduced variant of any gradient-manipulation strategy (Zhou et
//! al., "On the Convergence of Stochastic Multi-Objective Gradient Manipulation and Beyond",
//! NeurIPS 2022): the strategy's task weights are replaced by their moving average, which
//! makes the stochastic update's weights less correlated with the batch's own gradients.
//! An option (`CR_MOGM_alpha`) of every gradient strategy whose update is a weighted sum of
//! the task gradients ([`supports`]).

use rand_chacha::ChaCha8Rng;

use super::api::{Params, StepInput, StepOutput, Strategy, WeightingError, weighted_sum};
use super::state::StrategyState;

pub use super::api::{CR_MOGM_ALPHA, supports};

/// `inner` with the option `CR_MOGM_alpha` of `params` applied (unchanged when it is 1 or
/// absent); an error when it is outside (0, 1].
pub fn wrap(
    inner: Box<dyn Strategy>,
    params: &Params,
) -> Result<Box<dyn Strategy>, WeightingError> {
    let alpha = CR_MOGM_ALPHA.read(params)?;
    if !(alpha.is_finite() && alpha > 0.0 && alpha <= 1.0) {
        return Err(WeightingError(format!(
            "{}: parameter 'CR_MOGM_alpha' must be in (0, 1], got {alpha}",
            inner.name()
        )));
    }
    if alpha == 1.0 {
        return Ok(inner);
    }
    Ok(Box::new(CrMogm {
        inner,
        alpha,
        average: None,
    }))
}

/// A gradient strategy whose effective weights c are averaged across steps:
/// λₜ = α·cₜ + (1 − α)·λₜ₋₁ (λ₁ = c₁), and the shared update is Σₖ λₜ,ₖ·gₖ with this step's
/// gradients. `effective` = λₜ; `weights` and `head_weights` stay the strategy's own. A
/// step where the strategy found no finite weights (a zero, Pareto-stationary update with a
/// notice) is passed on unchanged and leaves the average as it was.
struct CrMogm {
    inner: Box<dyn Strategy>,
    alpha: f64,
    average: Option<Vec<f64>>,
}

impl Strategy for CrMogm {
    forward_to_inner!();

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let mut out = self.inner.combine(input, rng)?;
        let Some(grads) = input.grads else {
            return Ok(out);
        };
        if self.inner.notice().is_some() {
            return Ok(out);
        }
        let average: Vec<f64> = match &self.average {
            Some(prev) if prev.len() == out.effective.len() => out
                .effective
                .iter()
                .zip(prev)
                .map(|(c, p)| self.alpha * c + (1.0 - self.alpha) * p)
                .collect(),
            _ => out.effective.clone(),
        };
        out.shared_grad = Some(weighted_sum(grads, &average));
        out.effective.clone_from(&average);
        self.average = Some(average);
        Ok(out)
    }

    fn state(&self) -> StrategyState {
        let mut s = self.inner.state();
        s.push_opt(AVERAGE, self.average.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let (mine, inner): (Vec<_>, Vec<_>) = state
            .entries
            .iter()
            .cloned()
            .partition(|(n, _)| n == AVERAGE);
        let average = mine.into_iter().next().map(|(_, v)| v);
        self.inner.restore(&StrategyState { entries: inner })?;
        self.average = average;
        Ok(())
    }
}

/// The state entry of the moving average λ (beside the strategy's own entries).
const AVERAGE: &str = "CR_MOGM.average";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close_msg, input, pairs, rng};
    use crate::weighting::{build, methods};

    /// The averaged weights follow λₜ = α·cₜ + (1 − α)·λₜ₋₁ exactly, and the update is
    /// Σ λₜ,ₖ·gₖ with the current gradients.
    #[test]
    fn the_weights_are_the_moving_average_of_the_strategys() {
        let steps = [
            vec![vec![1.0, 0.0], vec![-0.5, 1.0]],
            vec![vec![2.0, 1.0], vec![0.0, -1.0]],
            vec![vec![0.3, 0.4], vec![1.0, 0.2]],
        ];
        let alpha = 0.3;
        let mut plain = build("mgda", &Params::new(), 2).unwrap();
        let mut averaged = build("mgda", &pairs(&[("CR_MOGM_alpha", alpha.into())]), 2).unwrap();
        let mut lambda: Option<Vec<f64>> = None;
        for g in &steps {
            let i = input(0, &[1.0, 1.0], Some(g), &[]);
            let c = plain.combine(&i, &mut rng()).unwrap().effective;
            let want: Vec<f64> = match &lambda {
                None => c.clone(),
                Some(l) => c
                    .iter()
                    .zip(l)
                    .map(|(a, b)| alpha * a + (1.0 - alpha) * b)
                    .collect(),
            };
            let out = averaged.combine(&i, &mut rng()).unwrap();
            close_msg(&out.effective, &want, 1e-15, "λₜ");
            close_msg(
                out.shared_grad.as_ref().unwrap(),
                &weighted_sum(g, &want),
                1e-15,
                "d",
            );
            lambda = Some(want);
        }
    }

    /// Every gradient strategy but the four named takes the option; loss-based ones and those
    /// four refuse it by name, and α outside (0, 1] is refused.
    #[test]
    fn every_supported_gradient_strategy_takes_the_option() {
        let p = pairs(&[("CR_MOGM_alpha", 0.5.into())]);
        for m in methods() {
            let built = build(m.key, &p, 2);
            assert_eq!(built.is_ok(), supports(m), "{}: {:?}", m.key, built.err());
        }
        assert!(supports(crate::weighting::method("nash_mtl").unwrap()));
        for bad in [0.0, 1.5, f64::NAN] {
            let p = pairs(&[("CR_MOGM_alpha", bad.into())]);
            assert!(build("mgda", &p, 2).is_err(), "α = {bad}");
        }
    }
}
