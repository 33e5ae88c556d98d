//! Gradient normalisation before aggregation: each task gradient divided by its length, its
//! loss or both before the strategy sees it, as MGDA's `mgda_gn` does in LibMTL (Sener &
//! Koltun, NeurIPS 2018, section 3.2), offered to every gradient strategy where it means
//! something ([`supports`]) as the option `grad_normalize`.

use rand_chacha::ChaCha8Rng;

use super::api::{
    Choice, Family, MethodInfo, Params, StepInput, StepOutput, Strategy, WeightingError, dot,
};

/// `grad_normalize`: `none` keeps the strategy as it is.
pub const GRAD_NORMALIZE: Choice = Choice {
    name: "grad_normalize",
    default: "none",
    allowed: &["none", "l2", "loss", "loss+"],
    help: "Divide each task gradient first by nothing, its length (l2), the task loss \
           (loss), or both (loss+), as MGDA's mgda_gn; the heads are unchanged.",
};

/// The gradient strategies that do not take the option: MGDA has it as `mgda_gn`, GradDrop
/// works on signs per entry, and MoDo and SDMGrad combine several gradient samples.
const UNSUPPORTED: [&str; 5] = ["mgda", "graddrop", "gradnorm", "modo", "sdmgrad"];

/// Whether strategy `m` takes the `grad_normalize` option.
pub fn supports(m: &MethodInfo) -> bool {
    m.family == Family::Gradient && !UNSUPPORTED.contains(&m.key)
}

/// How the task gradients are divided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Normalizer {
    /// Not at all.
    None,
    /// By ‖gₖ‖.
    L2,
    /// By Lₖ.
    Loss,
    /// By Lₖ·‖gₖ‖.
    LossPlus,
}

impl Normalizer {
    /// The normaliser a choice value names (`none`, `l2`, `loss`, `loss+`).
    pub fn from_choice(value: &str) -> Self {
        match value {
            "l2" => Self::L2,
            "loss" => Self::Loss,
            "loss+" => Self::LossPlus,
            _ => Self::None,
        }
    }

    /// The divisors nₖ (positive): a zero gradient keeps length 1 (dividing by 0 would
    /// give NaN; its zero stays zero); `loss` and `loss+` need positive losses. `method`
    /// names the strategy in the error.
    pub fn divisors(
        self,
        method: &str,
        grads: &[Vec<f64>],
        losses: &[f64],
    ) -> Result<Vec<f64>, WeightingError> {
        let needs_loss = matches!(self, Self::Loss | Self::LossPlus);
        if needs_loss && let Some(i) = losses.iter().position(|l| !(*l > 0.0 && l.is_finite())) {
            return Err(WeightingError(format!(
                "{method}: dividing the gradients by the task loss needs positive losses \
                 (task {i} has loss {})",
                losses[i]
            )));
        }
        let length = |g: &Vec<f64>| {
            let n = dot(g, g).sqrt();
            if n > 0.0 && n.is_finite() { n } else { 1.0 }
        };
        Ok(match self {
            Self::None => vec![1.0; grads.len()],
            Self::L2 => grads.iter().map(length).collect(),
            Self::Loss => losses.to_vec(),
            Self::LossPlus => grads
                .iter()
                .zip(losses)
                .map(|(g, l)| l * length(g))
                .collect(),
        })
    }
}

/// `inner` with the option `grad_normalize` of `params` applied (unchanged for `none` or a
/// strategy that does not take it; `info` is the strategy's).
pub fn wrap(
    info: &MethodInfo,
    inner: Box<dyn Strategy>,
    params: &Params,
) -> Result<Box<dyn Strategy>, WeightingError> {
    if !supports(info) {
        return Ok(inner);
    }
    match Normalizer::from_choice(GRAD_NORMALIZE.read(info.key, params)?) {
        Normalizer::None => Ok(inner),
        by => Ok(Box::new(Normalized { inner, by })),
    }
}

/// The strategy on hₖ = gₖ / nₖ. Its combined gradient is kept (it is one of the hₖ);
/// `effective` becomes cₖ / nₖ, the weights on the raw gradients gₖ, so the update is
/// still Σₖ effectiveₖ·gₖ; `weights` and `head_weights` stay the strategy's own.
struct Normalized {
    inner: Box<dyn Strategy>,
    by: Normalizer,
}

impl Strategy for Normalized {
    forward_to_inner!();

    fn state(&self) -> super::StrategyState {
        self.inner.state()
    }

    fn restore(&mut self, state: &super::StrategyState) -> Result<(), WeightingError> {
        self.inner.restore(state)
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let Some(grads) = input.grads else {
            return self.inner.combine(input, rng);
        };
        let n = self.by.divisors(self.inner.name(), grads, input.losses)?;
        let scaled: Vec<Vec<f64>> = grads
            .iter()
            .zip(&n)
            .map(|(g, n)| g.iter().map(|v| v / n).collect())
            .collect();
        let sub = StepInput {
            grads: Some(&scaled),
            ..*input
        };
        let mut out = self.inner.combine(&sub, rng)?;
        for (c, n) in out.effective.iter_mut().zip(&n) {
            *c /= n;
        }
        if out.shared_grad.is_none() {
            out.shared_grad = Some(super::api::weighted_sum(grads, &out.effective));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::weighted_sum;
    use crate::weighting::testing::{close_msg, input, pairs, rng};
    use crate::weighting::{build, methods};

    /// With `l2`, a strategy sees unit gradients: PCGrad on (g₁, g₂) normalised equals PCGrad
    /// on g₁/‖g₁‖ and g₂/‖g₂‖, and `effective` reproduces the update on the raw gradients.
    #[test]
    fn the_strategy_sees_the_divided_gradients() {
        let g = vec![vec![3.0, 4.0, 0.0], vec![-1.0, 0.0, 0.0]];
        let unit = vec![vec![0.6, 0.8, 0.0], vec![-1.0, 0.0, 0.0]];
        let p = pairs(&[
            ("grad_normalize", "l2".into()),
            ("order", "identity".into()),
        ]);
        let mut normed = build("pcgrad", &p, 2).unwrap();
        let mut plain = build("pcgrad", &pairs(&[("order", "identity".into())]), 2).unwrap();
        let out = normed
            .combine(&input(0, &[1.0, 1.0], Some(&g), &[]), &mut rng())
            .unwrap();
        let want = plain
            .combine(&input(0, &[1.0, 1.0], Some(&unit), &[]), &mut rng())
            .unwrap();
        let shared = out.shared_grad.as_ref().unwrap();
        close_msg(shared, want.shared_grad.as_ref().unwrap(), 1e-12, "d");
        close_msg(&weighted_sum(&g, &out.effective), shared, 1e-12, "Σ c g");
    }

    /// `loss+` divides by Lₖ·‖gₖ‖, and a zero gradient keeps divisor 1.
    #[test]
    fn the_divisors_follow_libmtl() {
        let g = vec![vec![3.0, 4.0], vec![0.0, 0.0]];
        let n = Normalizer::LossPlus.divisors("x", &g, &[2.0, 0.5]).unwrap();
        close_msg(&n, &[10.0, 0.5], 1e-15, "n");
        let err = Normalizer::Loss
            .divisors("x", &g, &[1.0, 0.0])
            .err()
            .unwrap();
        assert!(err.0.contains("task 1"), "{err}");
    }

    /// Every gradient strategy but MGDA (its own mgda_gn), GradDrop, MoDo and SDMGrad takes
    /// the option; the loss-based ones refuse it.
    #[test]
    fn the_option_is_offered_where_it_applies() {
        let p = pairs(&[("grad_normalize", "l2".into())]);
        for m in methods() {
            let built = build(m.key, &p, 2);
            assert_eq!(built.is_ok(), supports(m), "{}: {:?}", m.key, built.err());
        }
    }
}
