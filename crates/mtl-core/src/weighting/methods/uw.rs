//! UW: uncertainty weighting with learned log-variances (Kendall, Gal, Cipolla, CVPR 2018).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, loss_based,
};
use crate::weighting::common::check_input;

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "uw",
    label: "UW (uncertainty weighting)",
    family: Family::Loss,
    paper: "Kendall, Gal, Cipolla, CVPR 2018",
    about: "Learns one log-variance s_k per task together with the network. A task with a \
            large loss learns a large s_k and so gets a small weight 1/(2e^s_k); the term \
            s_k/2 stops all weights from shrinking to zero. At the optimum e^s_k equals the \
            task loss, so every task contributes about the same amount.",
    formula: "L = Σ_k ( L_k / (2·e^s_k) + s_k / 2 ),  w_k = 1 / (2·e^s_k),  s_k init -0.5",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    Ok(Box::new(UncertaintyWeighting {
        log_var: vec![UW_INIT; k],
        grad: None,
    }))
}

/// UW's initial log-variance s (LibMTL `loss_scale` init).
const UW_INIT: f64 = -0.5;

/// Uncertainty weighting (Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to
/// Weigh Losses for Scene Geometry and Semantics", CVPR 2018), as LibMTL `UW`.
///
/// State: log-variances s (K), initialised to -0.5. The loss is Σ (Lₖ/(2e^sₖ) + sₖ/2), so the
/// weight on Lₖ (logged and effective) is 1/(2e^sₖ). `combine` stores ∂/∂sₖ = ½ − ½e^(−sₖ)Lₖ;
/// [`Strategy::learn`] steps s by it (clamped to [−700, 700] so e^s stays finite). The
/// reference runner never steps s.
#[derive(Debug)]
pub struct UncertaintyWeighting {
    /// Learnable log-variances s (K).
    log_var: Vec<f64>,
    /// ∂L/∂s from the last `combine` (K), consumed by `learn`.
    grad: Option<Vec<f64>>,
}

impl Strategy for UncertaintyWeighting {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("log_var", &self.log_var);
        s.push_opt("grad", self.grad.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let k = self.log_var.len();
        let mut r = StateReader::new(INFO.key, state);
        let log_var = r.vec("log_var", k)?;
        let grad = r.opt("grad", k)?;
        r.finish()?;
        (self.log_var, self.grad) = (log_var, grad);
        Ok(())
    }

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
        check_input("uw", input, self.log_var.len())?;
        let w: Vec<f64> = self.log_var.iter().map(|s| 1.0 / (2.0 * s.exp())).collect();
        let grad: Vec<f64> = self
            .log_var
            .iter()
            .zip(input.losses)
            .map(|(s, l)| 0.5 - 0.5 * (-s).exp() * l)
            .collect();
        let out = finite_output("uw", loss_based(input, w.clone(), w))?;
        self.grad = Some(grad);
        Ok(out)
    }

    fn learn(&mut self, lr: f64) {
        if let Some(grad) = self.grad.take() {
            for (s, g) in self.log_var.iter_mut().zip(&grad) {
                let next = *s - lr * g;
                // Keeps s finite (and so the weights) whatever the learning rate.
                if next.is_finite() {
                    *s = next.clamp(-700.0, 700.0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, input, rng};

    #[test]
    fn uw_golden_and_learn() {
        let mut s = UncertaintyWeighting {
            log_var: vec![UW_INIT; 2],
            grad: None,
        };
        let out = s
            .combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        close(
            &out.weights,
            &[0.824_360_635_350_064, 0.824_360_635_350_064],
            1e-12,
        );
        close(&out.effective, &out.weights, 0.0);
        let loss: f64 = [1.0, 2.0]
            .iter()
            .zip(&s.log_var)
            .map(|(l, sv)| l / (2.0 * sv.exp()) + sv / 2.0)
            .sum();
        assert!((loss - 1.97308).abs() < 1e-5);
        close(s.grad.as_ref().unwrap(), &[-0.3244, -1.1487], 1e-4);
        s.learn(0.1);
        close(&s.log_var, &[-0.5 + 0.032_436, -0.5 + 0.114_872], 1e-5);
        // The fixed point is e^s = L: the gradient vanishes there.
        let mut s = UncertaintyWeighting {
            log_var: vec![0.0, 2f64.ln()],
            grad: None,
        };
        s.combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        close(s.grad.as_ref().unwrap(), &[0.0, 0.0], 1e-12);
    }
}
