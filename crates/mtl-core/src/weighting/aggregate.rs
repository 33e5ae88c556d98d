//! The headless `aggregate` contract (`mtl-studio-aggregate-v1`): run strategies on given
//! per-task gradients, step by step, without training. See
//! `shared/reference/aggregate-format.md`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, StepInput, build};
use crate::rng;

/// The format tag of input and output files.
pub const FORMAT: &str = "mtl-studio-aggregate-v1";

/// An input file.
#[derive(Debug, Deserialize)]
pub struct CaseFile {
    /// Must be [`FORMAT`].
    pub format: String,
    /// The cases.
    pub cases: Vec<Case>,
}

/// One case: a strategy, its parameters and a sequence of steps.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// Case id, copied to the output.
    pub id: String,
    /// Strategy key.
    pub method: String,
    /// Hyperparameters (LibMTL names).
    #[serde(default)]
    pub params: Params,
    /// Number of tasks.
    #[serde(rename = "K")]
    pub k: usize,
    /// Gradient length.
    pub d: usize,
    /// K × epochs per-epoch mean losses.
    #[serde(default)]
    pub loss_history: Vec<Vec<f64>>,
    /// The shared representation (GradDrop).
    #[serde(default)]
    pub rep_value: Option<Vec<f64>>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// One step of a case.
#[derive(Debug, Deserialize)]
pub struct Step {
    /// Epoch (0-based).
    #[serde(default)]
    pub epoch: usize,
    /// K × d gradients.
    #[serde(rename = "G")]
    pub g: Vec<Vec<f64>>,
    /// K losses.
    pub losses: Vec<f64>,
    /// K losses after the optimizer step (FAMO).
    #[serde(default)]
    pub losses_after: Option<Vec<f64>>,
}

/// Writes a number, or "NaN" / "Infinity" / "-Infinity" as the format asks.
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else if v.is_nan() {
        json!("NaN")
    } else if v > 0.0 {
        json!("Infinity")
    } else {
        json!("-Infinity")
    }
}

fn nums(v: &[f64]) -> Value {
    Value::Array(v.iter().map(|x| num(*x)).collect())
}

/// Runs one case; an error message when it cannot be computed.
pub fn run_case(case: &Case, seed: u64) -> Result<Vec<Value>, String> {
    if case.steps.is_empty() {
        return Err("the case has no steps".to_owned());
    }
    for (i, s) in case.steps.iter().enumerate() {
        if s.g.len() != case.k || s.g.iter().any(|row| row.len() != case.d) {
            return Err(format!("steps[{i}].G must be {} × {}", case.k, case.d));
        }
        if s.losses.len() != case.k {
            return Err(format!("steps[{i}].losses must have {} values", case.k));
        }
    }
    let mut strategy = build(&case.method, &case.params, case.k).map_err(|e| e.0)?;
    let mut rng = rng::stream(seed, &case.id);
    let mut out = Vec::with_capacity(case.steps.len());
    for (i, s) in case.steps.iter().enumerate() {
        let input = StepInput {
            epoch: s.epoch,
            losses: &s.losses,
            grads: Some(&s.g),
            loss_history: &case.loss_history,
            rep_value: case.rep_value.as_deref(),
        };
        let result = strategy
            .combine(&input, &mut rng)
            .map_err(|e| format!("step {i}: {e}"))?;
        if strategy.needs_losses_after()
            && let Some(after) = &s.losses_after
        {
            strategy.after_step(after);
        }
        let shared = result
            .shared_grad
            .unwrap_or_else(|| super::api::weighted_sum(&s.g, &result.effective));
        out.push(json!({
            "shared_grad": nums(&shared),
            "weights": nums(&result.weights),
            "effective_weights": nums(&result.effective),
        }));
    }
    Ok(out)
}

/// Runs every case of a file's text; per-case failures become `{"id", "error"}` entries.
pub fn run_file(text: &str, seed: u64) -> Result<Value, String> {
    let file: CaseFile = serde_json::from_str(text).map_err(|e| format!("not a case file: {e}"))?;
    if file.format != FORMAT {
        return Err(format!("format '{}' is not '{FORMAT}'", file.format));
    }
    let results: Vec<Value> = file
        .cases
        .iter()
        .map(|case| match run_case(case, seed) {
            Ok(steps) => json!({"id": case.id, "steps": steps}),
            Err(error) => json!({"id": case.id, "error": error}),
        })
        .collect();
    Ok(json!({"format": FORMAT, "results": results}))
}
