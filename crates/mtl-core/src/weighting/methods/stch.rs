//! STCH: smooth Tchebycheff scalarisation against a warm-up nadir (Lin et al., ICML 2024).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, loss_based,
};
use crate::weighting::common::{check_input, softmax};

/// `STCH_mu`.
const STCH_MU: Hyper = Hyper {
    name: "STCH_mu",
    default: 1.0,
    min: 0.01,
    max: 10.0,
    integer: false,
    help: "Smoothing μ: small μ approaches the max over tasks, large μ the mean.",
};

/// `STCH_warmup_epoch`.
const STCH_WARMUP_EPOCH: Hyper = Hyper {
    name: "STCH_warmup_epoch",
    default: 4.0,
    min: 0.0,
    max: 100.0,
    integer: true,
    help: "Epoch whose mean losses become the nadir point z.",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "stch",
    label: "STCH (smooth Tchebycheff)",
    family: Family::Loss,
    paper: "Lin et al., ICML 2024",
    about: "Minimises a smooth version of the worst task's loss, measured relative to a \
            reference point (the nadir: each task's mean loss during the warm-up epoch). \
            The log-sum-exp with smoothing μ gives most weight to the task that is \
            currently worst off. Before and during the warm-up epoch it minimises the sum \
            of log losses.",
    formula: "e < E_w: L = Σ_k log L_k;  e > E_w: L = K · μ · log Σ_k exp( log(L_k / z_k) / μ )",
    hypers: &[STCH_MU, STCH_WARMUP_EPOCH],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let mu = STCH_MU.read(params)?;
    if !(mu.is_finite() && mu > 0.0) {
        return Err(WeightingError(format!(
            "stch: STCH_mu = {mu} must be a positive number"
        )));
    }
    let warmup = STCH_WARMUP_EPOCH.read(params)?;
    if !(warmup.is_finite() && warmup >= 0.0 && warmup.fract() == 0.0 && warmup < 1e9) {
        return Err(WeightingError(format!(
            "stch: STCH_warmup_epoch = {warmup} must be a non-negative whole number"
        )));
    }
    Ok(Box::new(SmoothTchebycheff {
        k,
        mu,
        // Checked above: a whole number in [0, 1e9).
        warmup_epoch: warmup as usize,
        loss_sum: vec![0.0; k],
        loss_count: 0,
        nadir: None,
    }))
}

/// Smooth Tchebycheff scalarisation (Lin et al., "Smooth Tchebycheff Scalarization for
/// Multi-Objective Optimization", ICML 2024), as LibMTL `STCH`.
///
/// - epoch < E_w: loss Σ log(Lₖ + 1e-20), effective cₖ = 1/(Lₖ + 1e-20);
/// - epoch = E_w: the same, and the losses of every step are summed to average the nadir z;
/// - epoch > E_w: L̃ₖ = log(Lₖ/zₖ + 1e-20), loss K·μ·logsumexp(L̃/μ), effective
///   cₖ = K·softmax(L̃/μ)ₖ / (zₖ·(Lₖ/zₖ + 1e-20)) ≈ K·softmax(L̃/μ)ₖ / Lₖ.
///
/// Logged `weights` are ones (LibMTL). Fallback: if no step of the warm-up epoch was seen (so
/// LibMTL would divide 0 by 0), the nadir is `loss_history[k][E_w]`, the same epoch mean; an
/// error if that is missing too, if a nadir entry is ≤ 0, or if a loss is negative.
#[derive(Debug)]
pub struct SmoothTchebycheff {
    /// Number of tasks K.
    k: usize,
    /// Smoothing μ (> 0).
    mu: f64,
    /// Warm-up epoch E_w whose mean losses give the nadir.
    warmup_epoch: usize,
    /// Σ of the losses seen during the warm-up epoch (K).
    loss_sum: Vec<f64>,
    /// Number of warm-up steps summed.
    loss_count: usize,
    /// The nadir z (K), fixed at the first step after warm-up.
    nadir: Option<Vec<f64>>,
}

impl SmoothTchebycheff {
    /// The nadir, fixing it on first use after warm-up.
    fn nadir(&mut self, input: &StepInput<'_>) -> Result<Vec<f64>, WeightingError> {
        if let Some(z) = &self.nadir {
            return Ok(z.clone());
        }
        let z: Vec<f64> = if self.loss_count > 0 {
            let n = self.loss_count as f64;
            self.loss_sum.iter().map(|s| s / n).collect()
        } else {
            // Fallback: no warm-up step seen; the epoch mean of the warm-up epoch is the same
            // average LibMTL would have formed.
            let e = self.warmup_epoch;
            let z: Option<Vec<f64>> = if input.loss_history.len() == self.k {
                input
                    .loss_history
                    .iter()
                    .map(|row| row.get(e).copied())
                    .collect()
            } else {
                None
            };
            z.ok_or_else(|| {
                WeightingError(format!(
                    "stch: epoch {} is after the warm-up epoch {e}, but no warm-up step was seen and loss_history has no epoch {e} to use as the nadir",
                    input.epoch
                ))
            })?
        };
        if let Some(i) = z.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(WeightingError(format!(
                "stch: nadir of task {i} is {} but must be positive",
                z[i]
            )));
        }
        self.nadir = Some(z.clone());
        Ok(z)
    }
}

impl Strategy for SmoothTchebycheff {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("loss_sum", &self.loss_sum);
        s.push_scalar("loss_count", self.loss_count as f64);
        s.push_opt("nadir", self.nadir.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let loss_sum = r.vec("loss_sum", self.k)?;
        let loss_count = usize::try_from(r.count("loss_count")?).unwrap_or(usize::MAX);
        let nadir = r.opt("nadir", self.k)?;
        r.finish()?;
        (self.loss_sum, self.loss_count, self.nadir) = (loss_sum, loss_count, nadir);
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
        check_input("stch", input, self.k)?;
        if let Some(i) = input.losses.iter().position(|&l| l < 0.0) {
            return Err(WeightingError(format!(
                "stch: needs non-negative losses, task {i} has loss {}",
                input.losses[i]
            )));
        }
        let ones = vec![1.0; self.k];
        if input.epoch <= self.warmup_epoch {
            // Gradient of Σ log(L + 1e-20).
            let c: Vec<f64> = input.losses.iter().map(|l| 1.0 / (l + 1e-20)).collect();
            let out = finite_output("stch", loss_based(input, c, ones))?;
            if input.epoch == self.warmup_epoch {
                for (s, l) in self.loss_sum.iter_mut().zip(input.losses) {
                    *s += l;
                }
                self.loss_count += 1;
            }
            return Ok(out);
        }
        let z = self.nadir(input)?;
        // Gradient of K·μ·logsumexp(L̃/μ) with L̃ = log(L/z + 1e-20).
        let ratio: Vec<f64> = input
            .losses
            .iter()
            .zip(&z)
            .map(|(l, z)| l / z + 1e-20)
            .collect();
        let scaled: Vec<f64> = ratio.iter().map(|r| r.ln() / self.mu).collect();
        let kf = self.k as f64;
        let c: Vec<f64> = softmax(&scaled)
            .iter()
            .zip(ratio.iter().zip(&z))
            .map(|(p, (r, z))| kf * p / (r * z))
            .collect();
        finite_output("stch", loss_based(input, c, ones))
    }
}

#[cfg(test)]
mod tests {
    use crate::weighting::testing::{assert_finite, close, input, j2, rng, strategy};

    #[test]
    fn stch_golden_and_nadir() {
        let j = j2();
        let p = r#"{"STCH_mu": 1.0, "STCH_warmup_epoch": 0}"#;
        let mut s = strategy("stch", p, 2);
        // Warm-up epoch 0: nadir from the mean of [1,1] and [1,1].
        let out = s
            .combine(&input(0, &[1.0, 1.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[1.0, 1.0], 1e-12);
        s.combine(&input(0, &[1.0, 1.0], Some(&j), &[]), &mut rng())
            .unwrap();
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[2.0 / 3.0, 2.0 / 3.0], 1e-12);
        close(&out.weights, &[1.0, 1.0], 0.0);
        // The nadir is the average over the warm-up steps.
        let mut s = strategy("stch", p, 2);
        s.combine(&input(0, &[1.0, 1.0], None, &[]), &mut rng())
            .unwrap();
        s.combine(&input(0, &[3.0, 3.0], None, &[]), &mut rng())
            .unwrap();
        let out = s
            .combine(&input(1, &[2.0, 4.0], None, &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[2.0 / 3.0 / 2.0, 4.0 / 3.0 / 4.0], 1e-12);
        // Fallback: no warm-up step seen, nadir from loss_history.
        let hist = vec![vec![1.0], vec![1.0]];
        let out = strategy("stch", p, 2)
            .combine(&input(1, &[1.0, 2.0], None, &hist), &mut rng())
            .unwrap();
        close(&out.effective, &[2.0 / 3.0, 2.0 / 3.0], 1e-12);
        assert!(
            strategy("stch", p, 2)
                .combine(&input(1, &[1.0, 2.0], None, &[]), &mut rng())
                .is_err()
        );
        // A zero nadir is an error; a zero loss before warm-up is finite.
        let mut s = strategy("stch", p, 2);
        s.combine(&input(0, &[0.0, 1.0], None, &[]), &mut rng())
            .unwrap();
        assert!(
            s.combine(&input(1, &[1.0, 2.0], None, &[]), &mut rng())
                .is_err()
        );
        let out = strategy("stch", "{}", 2)
            .combine(&input(0, &[0.0, 1.0], None, &[]), &mut rng())
            .unwrap();
        assert_finite(&out);
    }
}
