//! Placeholder until the loss family lands: EW and manual weights.
use rand_chacha::ChaCha8Rng;

use super::api::{
    Family, MethodInfo, Params, StepInput, StepOutput, Strategy, WeightingError, loss_based,
};

/// EW and manual.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        key: "ew",
        label: "Equal weighting (EW)",
        family: Family::Loss,
        paper: "baseline",
        about: "Every task weight is 1.",
        formula: "L = Σ L_k",
        hypers: &[],
    },
    MethodInfo {
        key: "manual",
        label: "Manual static weights",
        family: Family::Loss,
        paper: "baseline",
        about: "Weights from the sliders.",
        formula: "L = Σ w_k L_k",
        hypers: &[],
    },
];

struct Fixed {
    name: &'static str,
    w: Vec<f64>,
}

impl Strategy for Fixed {
    fn name(&self) -> &'static str {
        self.name
    }
    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }
    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        Ok(loss_based(input, self.w.clone(), self.w.clone()))
    }
}

/// EW and manual.
pub fn build(
    key: &str,
    params: &Params,
    k: usize,
) -> Option<Result<Box<dyn Strategy>, WeightingError>> {
    match key {
        "ew" => Some(Ok(Box::new(Fixed {
            name: "ew",
            w: vec![1.0; k],
        }))),
        "manual" => {
            let w: Vec<f64> = params
                .get("weights")
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                .unwrap_or_else(|| vec![1.0; k]);
            Some(Ok(Box::new(Fixed { name: "manual", w })))
        }
        _ => None,
    }
}
