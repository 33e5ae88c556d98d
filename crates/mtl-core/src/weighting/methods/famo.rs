//! FAMO: fast adaptive multitask optimisation, loss-rate balancing with an extra forward pass
//! (Liu, Feng, Stone, Liu, NeurIPS 2023).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, loss_based,
};
use crate::weighting::common::{check_input, softmax};

/// `FAMO_w_lr`.
const FAMO_W_LR: Hyper = Hyper {
    name: "FAMO_w_lr",
    default: 0.025,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "Learning rate of the Adam step on the task logits.",
};

/// `FAMO_w_gamma`.
const FAMO_W_GAMMA: Hyper = Hyper {
    name: "FAMO_w_gamma",
    default: 1e-3,
    min: 0.0,
    max: 0.1,
    integer: false,
    help: "Weight decay on the task logits (added to the gradient, as torch Adam).",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "famo",
    label: "FAMO (fast adaptive MTO)",
    family: Family::Loss,
    paper: "Liu, Feng, Stone, Liu, NeurIPS 2023",
    about: "Aims to decrease every task's loss at the same rate. It keeps task logits ξ, \
            weights the log losses with softmax(ξ), and after each step checks how much \
            each log loss actually went down; tasks that improved less get a larger \
            logit. It needs no per-task gradients, only one extra forward pass.",
    formula: "z = softmax(ξ),  c_k = z_k / (C · L_k),  C = Σ_j z_j / L_j;  after the step: δ_k = log L_k - log L'_k,  ξ := Adam step along -∇_ξ (z · δ)",
    hypers: &[FAMO_W_LR, FAMO_W_GAMMA],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let lr = FAMO_W_LR.read(params)?;
    let gamma = FAMO_W_GAMMA.read(params)?;
    if !(lr.is_finite() && lr >= 0.0) {
        return Err(WeightingError(format!(
            "famo: FAMO_w_lr = {lr} must be a non-negative number"
        )));
    }
    if !(gamma.is_finite() && gamma >= 0.0) {
        return Err(WeightingError(format!(
            "famo: FAMO_w_gamma = {gamma} must be a non-negative number"
        )));
    }
    Ok(Box::new(Famo {
        lr,
        weight_decay: gamma,
        logits: vec![0.0; k],
        adam_m: vec![0.0; k],
        adam_v: vec![0.0; k],
        adam_t: 0,
        prev_losses: None,
    }))
}

/// Fast adaptive multitask optimisation (Liu, Feng, Stone, Liu, "FAMO: Fast Adaptive
/// Multitask Optimization", NeurIPS 2023), as LibMTL `FAMO`.
///
/// State: logits ξ (K, init 0) trained by Adam (lr `FAMO_w_lr`, betas 0.9/0.999, eps 1e-8,
/// weight decay `FAMO_w_gamma` added to the gradient as torch.optim.Adam does); L_min = 0 (never
/// updated in LibMTL). `combine`: z = softmax(ξ), Dₖ = Lₖ − L_min,ₖ + 1e-8, C = Σ zₖ/Dₖ; loss
/// Σ zₖ log Dₖ / C, so the effective weight is cₖ = zₖ/(C·Dₖ) (sums to 1). `after_step(L')`:
/// δₖ = log Dₖ − log D'ₖ, ∇ξ = z ⊙ (δ − z·δ), one Adam step.
///
/// LibMTL logs no weights (`None`); `weights` here are z = softmax(ξ). Errors if some
/// Dₖ ≤ 0 (a loss below −1e-8); `after_step` skips the update if δ is not finite.
#[derive(Debug)]
pub struct Famo {
    /// Adam learning rate on ξ.
    lr: f64,
    /// Adam weight decay on ξ (added to the gradient).
    weight_decay: f64,
    /// Task logits ξ (K).
    logits: Vec<f64>,
    /// Adam first moment (K).
    adam_m: Vec<f64>,
    /// Adam second moment (K).
    adam_v: Vec<f64>,
    /// Adam step count.
    adam_t: i32,
    /// Losses of the last `combine` (K), for `after_step`.
    prev_losses: Option<Vec<f64>>,
}

/// FAMO's offset in Dₖ = Lₖ − L_min,ₖ + ε.
const FAMO_EPS: f64 = 1e-8;

/// torch.optim.Adam defaults used by FAMO's logit optimiser: β₁, β₂ and ε.
const ADAM_BETA1: f64 = 0.9;
/// See [`ADAM_BETA1`].
const ADAM_BETA2: f64 = 0.999;
/// See [`ADAM_BETA1`].
const ADAM_EPS: f64 = 1e-8;

impl Strategy for Famo {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("logits", &self.logits);
        s.push("adam_m", &self.adam_m);
        s.push("adam_v", &self.adam_v);
        s.push_scalar("adam_t", f64::from(self.adam_t));
        s.push_opt("prev_losses", self.prev_losses.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let k = self.logits.len();
        let mut r = StateReader::new(INFO.key, state);
        let logits = r.vec("logits", k)?;
        let adam_m = r.vec("adam_m", k)?;
        let adam_v = r.vec("adam_v", k)?;
        let adam_t = i32::try_from(r.count("adam_t")?)
            .map_err(|_| WeightingError("famo: saved state: 'adam_t' is too large".into()))?;
        let prev_losses = r.opt("prev_losses", k)?;
        r.finish()?;
        self.logits = logits;
        self.adam_m = adam_m;
        self.adam_v = adam_v;
        self.adam_t = adam_t;
        self.prev_losses = prev_losses;
        Ok(())
    }

    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn needs_losses_after(&self) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("famo", input, self.logits.len())?;
        let d: Vec<f64> = input.losses.iter().map(|l| l + FAMO_EPS).collect();
        if let Some(i) = d.iter().position(|&v| v <= 0.0) {
            return Err(WeightingError(format!(
                "famo: needs losses above -1e-8, task {i} has loss {}",
                input.losses[i]
            )));
        }
        let z = softmax(&self.logits);
        let c: f64 = z.iter().zip(&d).map(|(z, d)| z / d).sum();
        let effective: Vec<f64> = z.iter().zip(&d).map(|(z, d)| z / (c * d)).collect();
        let out = finite_output("famo", loss_based(input, effective, z))?;
        self.prev_losses = Some(input.losses.to_vec());
        Ok(out)
    }

    fn after_step(&mut self, losses_after: &[f64]) {
        let Some(prev) = self.prev_losses.take() else {
            return;
        };
        if losses_after.len() != prev.len() {
            return;
        }
        let delta: Vec<f64> = prev
            .iter()
            .zip(losses_after)
            .map(|(p, a)| (p + FAMO_EPS).ln() - (a + FAMO_EPS).ln())
            .collect();
        if delta.iter().any(|x| !x.is_finite()) {
            return;
        }
        // Vector-Jacobian product of softmax: z ⊙ (δ − z·δ).
        let z = softmax(&self.logits);
        let zd: f64 = z.iter().zip(&delta).map(|(z, d)| z * d).sum();
        let grad: Vec<f64> = z.iter().zip(&delta).map(|(z, d)| z * (d - zd)).collect();
        // torch.optim.Adam (amsgrad off, maximize off).
        self.adam_t = self.adam_t.saturating_add(1);
        let bc1 = 1.0 - ADAM_BETA1.powi(self.adam_t);
        let bc2 = 1.0 - ADAM_BETA2.powi(self.adam_t);
        let state = self
            .logits
            .iter_mut()
            .zip(self.adam_m.iter_mut().zip(self.adam_v.iter_mut()));
        for ((xi, (m, v)), dg) in state.zip(&grad) {
            // Weight decay is added to the gradient, as torch.optim.Adam does.
            let g = dg + self.weight_decay * *xi;
            *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
            *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
            let denom = v.sqrt() / bc2.sqrt() + ADAM_EPS;
            *xi -= self.lr / bc1 * *m / denom;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{assert_finite, close, input, rng};

    #[test]
    fn famo_golden() {
        let mut s = Famo {
            lr: 0.025,
            weight_decay: 1e-3,
            logits: vec![0.0; 2],
            adam_m: vec![0.0; 2],
            adam_v: vec![0.0; 2],
            adam_t: 0,
            prev_losses: None,
        };
        assert!(s.needs_losses_after());
        let out = s
            .combine(&input(0, &[1.0, 4.0], None, &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[0.8, 0.2], 1e-8);
        close(&out.weights, &[0.5, 0.5], 1e-12);
        s.after_step(&[0.9, 3.0]);
        close(&s.logits, &[0.025, -0.025], 1e-6);
        close(&softmax(&s.logits), &[0.5125, 0.4875], 1e-4);
        // The ξ gradient itself.
        let z = [0.5, 0.5];
        let delta = [(1.0f64 / 0.9).ln(), (4.0f64 / 3.0).ln()];
        let zd = 0.5 * (delta[0] + delta[1]);
        close(
            &[z[0] * (delta[0] - zd), z[1] * (delta[1] - zd)],
            &[-0.0456, 0.0456],
            1e-4,
        );
        // A second call without combine does nothing.
        let before = s.logits.clone();
        s.after_step(&[0.5, 0.5]);
        assert_eq!(s.logits, before);
        // Zero losses stay finite (D = 1e-8); negative ones are an error.
        let out = s
            .combine(&input(0, &[0.0, 0.0], None, &[]), &mut rng())
            .unwrap();
        assert_finite(&out);
        assert!(
            s.combine(&input(0, &[-1.0, 0.0], None, &[]), &mut rng())
                .is_err()
        );
    }
}
