//! ExcessMTL: loss weights raised for the tasks furthest from their best loss (He et al.,
//! ICML 2024).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    loss_based,
};
use crate::weighting::common::{checked_grads, finite, hyper_in};

/// `robust_step_size`.
const ROBUST_STEP_SIZE: Hyper = Hyper {
    name: "robust_step_size",
    default: 0.01,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "step size η of the multiplicative weight update",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "excess_mtl",
    label: "ExcessMTL",
    family: Family::Gradient,
    paper: "He, Zhou, Zhao, Zhang, Robust Multi-Task Learning with Excess Risks, ICML 2024",
    about: "ExcessMTL up-weights the tasks that are furthest from their best possible loss. It \
            estimates each task's remaining 'excess risk' from its gradient, scaled AdaGrad-style by \
            the running sum of squared gradients, compares it with the value at the first step, and \
            raises that task's loss weight multiplicatively. Weights always sum to K. Unlike label \
            noise, excess risk does not reward tasks that simply cannot be learned.",
    formula: "S_i = S_i + g_i * g_i; e_i = Σ g_i * g_i / √(S_i + ε); w_i = w_i · exp(η e_i / e_i at first step); \
              w = K w / Σ_j w_j; loss = Σ_i w_i L_i",
    hypers: &[ROBUST_STEP_SIZE],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::Allowed,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(ExcessMtl::new(params, k)?))
}

/// ExcessMTL (He et al., "Robust Multi-Task Learning with Excess Risks", ICML 2024), as
/// LibMTL's `ExcessMTL.py`.
///
/// State: loss weights w (K, starting at 1), AdaGrad sums S (K × d), first-step excesses e⁰.
/// S_k += g_k²; e_k = Σ g_k² / √(S_k + 1e-7). The first call only records e⁰ (w stays 1);
/// later calls set w_k = w_k · exp(η e_k / e⁰_k) and renormalise to Σ w = K (computed in the
/// log domain, which is the same number without overflow). The loss is Σ w_k L_k, so
/// `weights` = `effective` = `head_weights` = w and shared = Σ w_k g_k.
/// Fallback (LibMTL divides by zero): if e⁰_k = 0 (task k's gradient was zero at the first
/// step), its ratio counts as 0 and its baseline is taken from its first step with e_k > 0.
#[derive(Clone, Debug)]
pub struct ExcessMtl {
    k: usize,
    step_size: f64,
    /// Loss weights w (K, summing to K).
    loss_weight: Vec<f64>,
    /// AdaGrad sums of squared gradients (K × d); `None` before the first step.
    grad_sum: Option<Vec<Vec<f64>>>,
    /// First-step excess risks e⁰ (K); `None` before the first step.
    initial: Option<Vec<f64>>,
}

impl ExcessMtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        Ok(Self {
            k,
            step_size: hyper_in(params, &ROBUST_STEP_SIZE, f64::NEG_INFINITY, f64::INFINITY)?,
            loss_weight: vec![1.0; k],
            grad_sum: None,
            initial: None,
        })
    }
}

impl Strategy for ExcessMtl {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("loss_weight", &self.loss_weight);
        s.push_rows("grad_sum", self.grad_sum.as_deref());
        s.push_opt("initial", self.initial.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let loss_weight = r.vec("loss_weight", self.k)?;
        let grad_sum = r.rows("grad_sum", self.k)?;
        let initial = r.opt("initial", self.k)?;
        r.finish()?;
        (self.loss_weight, self.grad_sum, self.initial) = (loss_weight, grad_sum, initial);
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
        let grads = checked_grads(input, self.k, "excess_mtl")?;
        let k = self.k;
        let d = grads.first().map_or(0, Vec::len);
        let mut grad_sum = self
            .grad_sum
            .clone()
            .unwrap_or_else(|| vec![vec![0.0; d]; k]);
        if grad_sum.first().map_or(0, Vec::len) != d {
            return Err(WeightingError(format!(
                "excess_mtl: gradient length changed from {} to {d}",
                grad_sum.first().map_or(0, Vec::len)
            )));
        }
        let mut excess = vec![0.0; k];
        for ((e, s), g) in excess.iter_mut().zip(grad_sum.iter_mut()).zip(grads) {
            for (sv, gv) in s.iter_mut().zip(g) {
                *sv += gv * gv;
            }
            *e = g
                .iter()
                .zip(s.iter())
                .map(|(gv, sv)| gv * gv / (sv + 1e-7).sqrt())
                .sum();
        }
        let mut weights = self.loss_weight.clone();
        let initial = match &self.initial {
            None => excess.clone(),
            Some(init) => {
                let mut init = init.clone();
                let mut log_w: Vec<f64> = Vec::with_capacity(k);
                for ((w, e), e0) in weights.iter().zip(&excess).zip(init.iter_mut()) {
                    let ratio = if *e0 > 0.0 {
                        e / *e0
                    } else {
                        // Zero first excess: this step becomes the task's baseline.
                        *e0 = *e;
                        0.0
                    };
                    log_w.push(w.ln() + self.step_size * ratio);
                }
                let top = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = log_w.iter().map(|v| (v - top).exp()).collect();
                let total: f64 = exps.iter().sum();
                weights = exps.iter().map(|e| e / total * k as f64).collect();
                init
            }
        };
        let out = finite(
            loss_based(input, weights.clone(), weights.clone()),
            "excess_mtl",
        )?;
        self.loss_weight = weights;
        self.grad_sum = Some(grad_sum);
        self.initial = Some(initial);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, j2, rng};

    #[test]
    fn excess_mtl_first_step_keeps_ones_then_moves() {
        let mut s = build(&Params::new(), 2).unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
            samples: &[],
        };
        let first = s.combine(&input, &mut rng()).unwrap();
        close(&first.weights, &[1.0, 1.0], 0.0);
        close(first.shared_grad.as_ref().unwrap(), &[2.0, 2.0, 2.0], 1e-12);
        let second = s.combine(&input, &mut rng()).unwrap();
        assert!((second.weights.iter().sum::<f64>() - 2.0).abs() < 1e-12);
        // Same gradient twice: e shrinks by the same factor for both, so the weights stay equal.
        close(&second.weights, &[1.0, 1.0], 1e-9);
        close(&second.head_weights, &second.weights, 0.0);
    }
}
