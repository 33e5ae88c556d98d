//! DWA: dynamic weight average over the epoch-mean losses (Liu, Johns, Davison, CVPR 2019).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, loss_based,
};
use crate::weighting::common::{check_input, softmax};

/// `T`.
const T: Hyper = Hyper {
    name: "T",
    default: 2.0,
    min: 0.05,
    max: 20.0,
    integer: false,
    help: "Softmax temperature: larger T gives more uniform weights.",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "dwa",
    label: "DWA (dynamic weight average)",
    family: Family::Loss,
    paper: "Liu, Johns, Davison, CVPR 2019",
    about: "Looks at how fast each task's epoch-mean loss went down over the last two \
            epochs. Tasks that improve slowly (ratio close to or above 1) get more weight; \
            a softmax with temperature T turns the ratios into weights that sum to K. The \
            first two epochs use weight 1.",
    formula: "r_k = L_k(e-1) / L_k(e-2),  w = K · softmax(r / T)  (w = 1 for e ≤ 1)",
    hypers: &[T],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let temperature = T.read(params)?;
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(WeightingError(format!(
            "dwa: T = {temperature} must be a positive number"
        )));
    }
    Ok(Box::new(DynamicWeightAverage { k, temperature }))
}

/// Dynamic weight average (Liu, Johns, Davison, "End-To-End Multi-Task Learning With
/// Attention", CVPR 2019), as LibMTL `DWA`.
///
/// For epoch e ≥ 2: w = K·softmax(r/T) with rₖ = `loss_history[k][e−1] / loss_history[k][e−2]`;
/// for epochs 0 and 1: w = 1. Errors if the history is too short or a ratio is not finite
/// (a zero epoch-mean loss).
#[derive(Debug)]
pub struct DynamicWeightAverage {
    /// Number of tasks K.
    k: usize,
    /// Softmax temperature T (> 0).
    temperature: f64,
}

impl Strategy for DynamicWeightAverage {
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
        check_input("dwa", input, self.k)?;
        let e = input.epoch;
        let w = if e > 1 {
            if input.loss_history.len() != self.k {
                return Err(WeightingError(format!(
                    "dwa: loss_history has {} rows for {} tasks",
                    input.loss_history.len(),
                    self.k
                )));
            }
            let mut r = Vec::with_capacity(self.k);
            for (i, row) in input.loss_history.iter().enumerate() {
                let (Some(prev2), Some(prev1)) = (row.get(e - 2), row.get(e - 1)) else {
                    return Err(WeightingError(format!(
                        "dwa: at epoch {e} needs the mean losses of epochs {} and {}, but task {i} has {} epochs of history",
                        e - 2,
                        e - 1,
                        row.len()
                    )));
                };
                let ratio = prev1 / prev2;
                if !ratio.is_finite() {
                    return Err(WeightingError(format!(
                        "dwa: loss ratio of task {i} is not finite ({prev1} / {prev2})"
                    )));
                }
                r.push(ratio / self.temperature);
            }
            let kf = self.k as f64;
            softmax(&r).into_iter().map(|s| kf * s).collect()
        } else {
            vec![1.0; self.k]
        };
        finite_output("dwa", loss_based(input, w.clone(), w))
    }
}

#[cfg(test)]
mod tests {
    use crate::weighting::testing::{close, input, rng, strategy};

    #[test]
    fn dwa_golden_and_errors() {
        let hist = vec![vec![1.0, 0.5], vec![1.0, 0.8]];
        let mut s = strategy("dwa", r#"{"T": 2.0}"#, 2);
        let out = s
            .combine(&input(2, &[1.0, 1.0], None, &hist), &mut rng())
            .unwrap();
        close(&out.weights, &[0.9251, 1.0749], 1e-4);
        let out = s
            .combine(&input(1, &[1.0, 1.0], None, &hist), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
        // Too little history, or a zero epoch mean.
        assert!(
            s.combine(&input(3, &[1.0, 1.0], None, &hist), &mut rng())
                .is_err()
        );
        let zero = vec![vec![0.0, 0.0], vec![1.0, 0.8]];
        assert!(
            s.combine(&input(2, &[1.0, 1.0], None, &zero), &mut rng())
                .is_err()
        );
    }
}
