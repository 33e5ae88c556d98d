//! GradNorm: task weights learned so that the weighted gradient norms train at a common rate
//! (Chen, Badrinarayanan, Lee, Rabinovich, ICML 2018).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Extra, Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy,
    WeightingError, finite_output, loss_based, require_grads, weighted_sum,
};
use crate::weighting::common::{check_input, sign, softmax};

/// `alpha`.
const ALPHA: Hyper = Hyper {
    name: "alpha",
    default: 1.5,
    min: 0.0,
    max: 5.0,
    integer: false,
    help: "Strength of the pull towards a common training rate.",
};

/// `init_loss_scale`.
const INIT_LOSS_SCALE: Extra = Extra {
    name: "init_loss_scale",
    help: "Initial logits ω: \"linspace(a,b,K)\", K numbers or one number (default 1 each).",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "gradnorm",
    label: "GradNorm",
    family: Family::Gradient,
    paper: "Chen, Badrinarayanan, Lee, Rabinovich, ICML 2018",
    about: "Learns task weights so that each task's weighted gradient norm on the shared \
            parameters matches a target: the mean norm times the task's relative training \
            rate to the power α. Tasks that have trained less (loss still close to its \
            first-epoch value) are pushed to larger gradients. The first epoch uses weight 1.",
    formula: "w = K · softmax(ω),  G_k = ‖w_k · g_k‖,  l_k = L_k / L_k(epoch 0),  r_k = l_k / mean(l),  L_grad = Σ_k | G_k - mean(G) · r_k^α |",
    hypers: &[ALPHA],
    choices: &[],
    extras: &[INIT_LOSS_SCALE],
    rep_grad: RepGrad::Allowed,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let alpha = ALPHA.read(params)?;
    if !alpha.is_finite() {
        return Err(WeightingError(format!(
            "gradnorm: alpha = {alpha} must be a finite number"
        )));
    }
    let omega = match params.get(INIT_LOSS_SCALE.name) {
        None => vec![1.0; k],
        Some(v) => parse_init_scale(v, k)?,
    };
    Ok(Box::new(GradNorm {
        alpha,
        omega,
        grad: None,
    }))
}

/// Reads GradNorm's `init_loss_scale`: the string `linspace(a,b,K)` (torch.linspace with K
/// points; the last argument may be `K` or the number of tasks), an array of K numbers, or one
/// number for every task.
fn parse_init_scale(v: &serde_json::Value, k: usize) -> Result<Vec<f64>, WeightingError> {
    let bad = || {
        WeightingError(format!(
            "gradnorm: init_loss_scale must be \"linspace(a,b,K)\", an array of {k} numbers or a number, got {v}"
        ))
    };
    let out = if let Some(x) = v.as_f64() {
        vec![x; k]
    } else if let Some(arr) = v.as_array() {
        if arr.len() != k {
            return Err(bad());
        }
        arr.iter()
            .map(serde_json::Value::as_f64)
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(bad)?
    } else if let Some(s) = v.as_str() {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let inner = compact
            .strip_prefix("linspace(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        let parts: Vec<&str> = inner.split(',').collect();
        let [a, b, n] = parts.as_slice() else {
            return Err(bad());
        };
        let a: f64 = a.parse().map_err(|_| bad())?;
        let b: f64 = b.parse().map_err(|_| bad())?;
        if *n != "K" && *n != "k" && n.parse::<usize>().ok() != Some(k) {
            return Err(bad());
        }
        linspace(a, b, k)
    } else {
        return Err(bad());
    };
    if out.iter().all(|x| x.is_finite()) {
        Ok(out)
    } else {
        Err(bad())
    }
}

/// `n` evenly spaced points from `a` to `b` inclusive, as torch.linspace (one point: `a`).
fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    let step = (b - a) / (n - 1) as f64;
    (0..n)
        .map(|i| if i + 1 == n { b } else { a + step * i as f64 })
        .collect()
}

/// GradNorm (Chen, Badrinarayanan, Lee, Rabinovich, "GradNorm: Gradient Normalization for
/// Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018), as LibMTL `GradNorm`.
///
/// State: logits ω (K, init 1, or `init_loss_scale`), w = K·softmax(ω). Epoch 0: plain EW
/// (w = 1, no gradients needed). From epoch 1: Gₖ = ‖wₖ·gₖ‖ (over all shared parameters),
/// L̃ₖ = Lₖ / `loss_history[k][0]`, rₖ = L̃ₖ/mean(L̃), L_grad = Σ |Gₖ − sg(mean(G)·rₖ^α)|; the
/// shared gradient is Σ wₖ·gₖ and the heads get weight 1. `combine` stores ∂L_grad/∂ω for
/// [`Strategy::learn`] (LibMTL's `loss_scale.grad`); the reference runner never steps ω.
///
/// Fallback: if the training rates rₖ are not finite (a first-epoch mean loss ≤ 0, or all
/// losses 0), the stored ω gradient is zero for that step; the shared gradient is unaffected.
#[derive(Debug)]
pub struct GradNorm {
    /// Restoring-force exponent α.
    alpha: f64,
    /// Logits ω (K).
    omega: Vec<f64>,
    /// ∂L_grad/∂ω from the last `combine` (K), consumed by `learn`.
    grad: Option<Vec<f64>>,
}

impl GradNorm {
    /// Loss weights w = K·softmax(ω) (K).
    fn weights(&self) -> Vec<f64> {
        let kf = self.omega.len() as f64;
        softmax(&self.omega).into_iter().map(|s| kf * s).collect()
    }

    /// ∂L_grad/∂ω (K) for per-task gradients `grads` (K × d) and relative training rates
    /// `rates` (K), at weights `w`.
    fn omega_grad(&self, grads: &[Vec<f64>], w: &[f64], rates: &[f64]) -> Vec<f64> {
        let norms: Vec<f64> = grads
            .iter()
            .map(|g| g.iter().map(|x| x * x).sum::<f64>().sqrt())
            .collect();
        let big_g: Vec<f64> = w.iter().zip(&norms).map(|(w, n)| w.abs() * n).collect();
        let mean_g = big_g.iter().sum::<f64>() / big_g.len() as f64;
        // b_k = ∂L_grad/∂w_k = sign(G_k − target_k) · sign(w_k) · ‖g_k‖ (0 where G_k = 0, as
        // torch's norm backward).
        let b: Vec<f64> = big_g
            .iter()
            .zip(rates)
            .zip(w.iter().zip(&norms))
            .map(|((gk, r), (wk, n))| {
                if *gk == 0.0 {
                    0.0
                } else {
                    sign(gk - mean_g * r.powf(self.alpha)) * sign(*wk) * n
                }
            })
            .collect();
        // Chain rule through w = K·softmax(ω): ∂w_j/∂ω_i = w_j (δ_ij − s_i).
        let s = softmax(&self.omega);
        let bw: f64 = b.iter().zip(w).map(|(b, w)| b * w).sum();
        let out: Vec<f64> = (0..w.len()).map(|i| b[i] * w[i] - s[i] * bw).collect();
        if out.iter().all(|x| x.is_finite()) {
            out
        } else {
            vec![0.0; w.len()]
        }
    }
}

impl Strategy for GradNorm {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("omega", &self.omega);
        s.push_opt("grad", self.grad.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let k = self.omega.len();
        let mut r = StateReader::new(INFO.key, state);
        let omega = r.vec("omega", k)?;
        let grad = r.opt("grad", k)?;
        r.finish()?;
        (self.omega, self.grad) = (omega, grad);
        Ok(())
    }

    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, epoch: usize) -> bool {
        epoch >= 1
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let k = self.omega.len();
        check_input("gradnorm", input, k)?;
        if input.epoch == 0 {
            // LibMTL runs plain EW in epoch 0 and leaves ω without a gradient.
            self.grad = None;
            let ones = vec![1.0; k];
            return Ok(loss_based(input, ones.clone(), ones));
        }
        let grads = require_grads(input, "gradnorm")?;
        if input.loss_history.len() != k || input.loss_history.iter().any(Vec::is_empty) {
            return Err(WeightingError(
                "gradnorm: from epoch 1 needs the epoch-0 mean losses (loss_history[k][0]) of every task".to_owned(),
            ));
        }
        let w = self.weights();
        let tilde: Vec<f64> = input
            .losses
            .iter()
            .zip(input.loss_history)
            .map(|(l, h)| l / h[0])
            .collect();
        let mean_tilde = tilde.iter().sum::<f64>() / k as f64;
        let rates: Vec<f64> = tilde.iter().map(|t| t / mean_tilde).collect();
        let grad = if rates.iter().all(|r| r.is_finite()) {
            self.omega_grad(grads, &w, &rates)
        } else {
            vec![0.0; k]
        };
        let out = StepOutput {
            shared_grad: Some(weighted_sum(grads, &w)),
            weights: w.clone(),
            effective: w,
            head_weights: vec![1.0; k],
        };
        let out = finite_output("gradnorm", out)?;
        self.grad = Some(grad);
        Ok(out)
    }

    fn learn(&mut self, lr: f64) {
        if let Some(grad) = self.grad.take() {
            let next: Vec<f64> = self
                .omega
                .iter()
                .zip(&grad)
                .map(|(o, g)| o - lr * g)
                .collect();
            if next.iter().all(|x| x.is_finite()) {
                self.omega = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{assert_finite, close, input, j2, rng, strategy};

    #[test]
    fn gradnorm_golden() {
        let j = j2();
        // ω = 0 is the same as the default ω = 1 (softmax is shift invariant).
        let mut s = GradNorm {
            alpha: 1.5,
            omega: vec![0.0; 2],
            grad: None,
        };
        assert!(!s.needs_grads(0));
        assert!(s.needs_grads(1));
        // L̃ = L / L(0) = [0.5, 1].
        let hist = vec![vec![2.0], vec![2.0]];
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &hist), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 1e-12);
        close(&out.head_weights, &[1.0, 1.0], 0.0);
        close(out.shared_grad.as_ref().unwrap(), &[2.0, 2.0, 2.0], 1e-12);
        close(s.grad.as_ref().unwrap(), &[5.2035, -5.2035], 1e-4);
        // L_grad value from the same quantities.
        let norms = [18f64.sqrt(), 38f64.sqrt()];
        let mean = 0.5 * (norms[0] + norms[1]);
        let targets = [
            mean * (2.0f64 / 3.0).powf(1.5),
            mean * (4.0f64 / 3.0).powf(1.5),
        ];
        close(&targets, &[2.8324, 8.0114], 1e-4);
        let l_grad = (norms[0] - targets[0]).abs() + (norms[1] - targets[1]).abs();
        assert!((l_grad - 3.2571).abs() < 1e-4);
        s.learn(0.1);
        close(&s.omega, &[-0.52035, 0.52035], 1e-4);
        assert!(s.grad.is_none());
    }

    #[test]
    fn gradnorm_epoch0_init_scale_and_degenerate() {
        let j = j2();
        let mut s = strategy(
            "gradnorm",
            r#"{"init_loss_scale": "linspace(-0.5,0.5,K)"}"#,
            2,
        );
        let out = s
            .combine(&input(0, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
        let hist = vec![vec![2.0], vec![2.0]];
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &hist), &mut rng())
            .unwrap();
        close(
            &out.weights,
            &[0.537_882_842_739_990_3, 1.462_117_157_260_009_7],
            1e-12,
        );
        close(&linspace(-0.5, 0.5, 3), &[-0.5, 0.0, 0.5], 0.0);
        // Epoch ≥ 1 without gradients or history is an error.
        assert!(
            s.combine(&input(1, &[1.0, 2.0], None, &hist), &mut rng())
                .is_err()
        );
        assert!(
            s.combine(&input(1, &[1.0, 2.0], Some(&j), &[]), &mut rng())
                .is_err()
        );
        // Zero gradients, zero losses, zero first-epoch losses: finite, ω gradient zero.
        let zeros = vec![vec![0.0; 3]; 2];
        let mut s = GradNorm {
            alpha: 1.5,
            omega: vec![1.0; 2],
            grad: None,
        };
        let out = s
            .combine(&input(1, &[0.0, 0.0], Some(&zeros), &hist), &mut rng())
            .unwrap();
        assert_finite(&out);
        close(s.grad.as_ref().unwrap(), &[0.0, 0.0], 0.0);
        let zero_hist = vec![vec![0.0], vec![0.0]];
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &zero_hist), &mut rng())
            .unwrap();
        assert_finite(&out);
        close(s.grad.as_ref().unwrap(), &[0.0, 0.0], 0.0);
        // Identical and exactly opposite gradients stay finite.
        let same = vec![vec![1.0, 2.0, 3.0]; 2];
        let opp = vec![vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0]];
        for g in [&same, &opp] {
            let out = s
                .combine(&input(1, &[1.0, 2.0], Some(g), &hist), &mut rng())
                .unwrap();
            assert_finite(&out);
            assert!(s.grad.as_ref().unwrap().iter().all(|x| x.is_finite()));
        }
    }
}
