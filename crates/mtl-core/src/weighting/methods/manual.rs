//! Manual static weights: the classic weighted sum of the task losses (not in LibMTL).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    check_setup, loss_based,
};
use crate::weighting::common::check_input;

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "manual",
    label: "Manual static weights",
    family: Family::Loss,
    paper: "Classic weighted sum of losses (not in LibMTL)",
    about: "Adds the task losses with fixed weights you choose (parameter 'weights', one \
            non-negative number per task, default all 1). Useful for hand-tuning a \
            trade-off or for sweeping weights to trace a Pareto front.",
    formula: "L = Σ_k w_k · L_k,  w fixed",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
///
/// `weights` (K finite non-negative numbers, default all 1) is not a spec parameter: the
/// experiment fills it in from the tasks' weights.
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("manual", params, &["weights"], k)?;
    let weights = match params.get("weights") {
        None => vec![1.0; k],
        Some(v) => {
            let arr = v.as_array().ok_or_else(|| {
                WeightingError(format!(
                    "manual: parameter 'weights' must be an array of {k} numbers, got {v}"
                ))
            })?;
            if arr.len() != k {
                return Err(WeightingError(format!(
                    "manual: parameter 'weights' has {} entries but there are {k} tasks",
                    arr.len()
                )));
            }
            let mut w = Vec::with_capacity(k);
            for (i, x) in arr.iter().enumerate() {
                let x = x.as_f64().ok_or_else(|| {
                    WeightingError(format!("manual: weights[{i}] must be a number, got {x}"))
                })?;
                if !x.is_finite() || x < 0.0 {
                    return Err(WeightingError(format!(
                        "manual: weights[{i}] = {x} must be finite and non-negative"
                    )));
                }
                w.push(x);
            }
            w
        }
    };
    Ok(Box::new(ManualWeights { weights }))
}

/// Manual static weights (not in LibMTL): the classic weighted sum Σ wₖ·Lₖ with weights fixed
/// by the user (parameter `weights`, K finite non-negative numbers, default all 1).
#[derive(Debug)]
pub struct ManualWeights {
    /// The fixed weights (K).
    weights: Vec<f64>,
}

impl Strategy for ManualWeights {
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
        check_input("manual", input, self.weights.len())?;
        Ok(loss_based(
            input,
            self.weights.clone(),
            self.weights.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use crate::weighting::testing::{close, input, j2, rng, strategy};

    #[test]
    fn manual_weights() {
        let j = j2();
        let mut s = strategy("manual", r#"{"weights": [0.25, 2]}"#, 2);
        let out = s
            .combine(&input(3, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[0.25, 2.0], 0.0);
        close(&out.head_weights, &[0.25, 2.0], 0.0);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[11.0, 2.25, 2.25],
            1e-12,
        );
        let out = strategy("manual", "{}", 2)
            .combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
    }
}
