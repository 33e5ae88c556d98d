//! The headless `aggregate` contract (`mtl-studio-aggregate-v1`): run strategies on given
//! per-task gradients, step by step, without training. See
//! `shared/reference/aggregate-format.md`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Params, StepInput, build};
use crate::rng;
use rand_chacha::ChaCha8Rng;

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
    /// The shared layers, each as the sizes of its parameter tensors in order (summing to
    /// `d`), for per-layer aggregation (`aggregate_per`, `GradVac_group_type`); absent: the
    /// gradient is one layer.
    #[serde(default)]
    pub layers: Option<Vec<Vec<usize>>>,
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
    /// Independent gradient samples, each K × d (MoDo, SDMGrad: three).
    #[serde(default, rename = "G_samples")]
    pub g_samples: Vec<Vec<Vec<f64>>>,
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

/// One strategy's decision on one set of task gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct Combined {
    /// The update for the shared parameters (length d): the strategy's combined gradient, or
    /// Σₖ effectiveₖ·gₖ for a strategy that weights the losses.
    pub shared_grad: Vec<f64>,
    /// The strategy's task weights, as it reports them.
    pub weights: Vec<f64>,
    /// The weights that reproduce the update (shared_grad = Σ cₖ gₖ where it is such a sum).
    pub effective: Vec<f64>,
    /// What the strategy says about this step although it went on (e.g. a Pareto-stationary
    /// zero update where no finite weights exist).
    pub notice: Option<String>,
}

/// What a fresh strategy `method` (with `params`, LibMTL names) does with the gradients `g`
/// (K × d) and the losses `losses` at epoch 0, with no history: the one step the gradient
/// playground draws, computed by the same code as `aggregate` and training.
pub fn combine_once(
    method: &str,
    params: &Params,
    g: &[Vec<f64>],
    losses: &[f64],
    seed: u64,
) -> Result<Combined, String> {
    let mut strategy = build(method, params, g.len()).map_err(|e| e.0)?;
    let mut rng = rng::stream(seed, method);
    let input = StepInput {
        epoch: 0,
        losses,
        grads: Some(g),
        loss_history: &[],
        rep_value: None,
        samples: &[],
    };
    combine_step(strategy.as_mut(), &input, &mut rng)
}

/// One step of `strategy` on `input`; the update is its own combined gradient, or the
/// weighted sum of the gradients when it weights the losses.
fn combine_step(
    strategy: &mut dyn super::Strategy,
    input: &StepInput<'_>,
    rng: &mut ChaCha8Rng,
) -> Result<Combined, String> {
    let result = strategy.combine(input, rng).map_err(|e| e.to_string())?;
    let shared_grad = result.shared_grad.unwrap_or_else(|| {
        super::api::weighted_sum(input.grads.unwrap_or_default(), &result.effective)
    });
    Ok(Combined {
        shared_grad,
        weights: result.weights,
        effective: result.effective,
        notice: strategy.notice().map(str::to_owned),
    })
}

/// Runs one case; an error message when it cannot be computed.
pub fn run_case(case: &Case, seed: u64) -> Result<Vec<Value>, String> {
    if case.steps.is_empty() {
        return Err("the case has no steps".to_owned());
    }
    // Strategies form K × K matrices: K is bounded before any is made.
    if case.k == 0 || case.k > crate::limits::MAX_CASE_TASKS {
        return Err(format!(
            "K = {} must be in 1..={} (the limit of an aggregate case)",
            case.k,
            crate::limits::MAX_CASE_TASKS
        ));
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
    if let Some(layers) = &case.layers {
        let layout = super::SharedLayout::from_sizes(layers);
        if layout.len() != case.d {
            return Err(format!(
                "layers hold {} entries but d is {}",
                layout.len(),
                case.d
            ));
        }
        strategy.set_layout(&layout).map_err(|e| e.0)?;
    }
    let mut rng = rng::stream(seed, &case.id);
    let mut out = Vec::with_capacity(case.steps.len());
    for (i, s) in case.steps.iter().enumerate() {
        let input = StepInput {
            epoch: s.epoch,
            losses: &s.losses,
            grads: Some(&s.g),
            loss_history: &case.loss_history,
            rep_value: case.rep_value.as_deref(),
            samples: &s.g_samples,
        };
        let result = combine_step(strategy.as_mut(), &input, &mut rng)
            .map_err(|e| format!("step {i}: {e}"))?;
        if strategy.needs_losses_after()
            && let Some(after) = &s.losses_after
        {
            strategy.after_step(after);
        }
        let mut step = json!({
            "shared_grad": nums(&result.shared_grad),
            "weights": nums(&result.weights),
            "effective_weights": nums(&result.effective),
        });
        if let Some(notice) = result.notice {
            step["notice"] = json!(notice);
        }
        out.push(step);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A case with `layers` aggregates per layer: MGDA with `aggregate_per = "layer"` on two
    /// layers gives, on each layer's entries, what MGDA gives on that layer alone; layers
    /// that do not add up to `d` are refused.
    #[test]
    fn a_case_with_layers_aggregates_each_layer_alone() {
        let g = json!([[1.0, 0.0, 2.0, -1.0], [0.0, 1.0, -1.0, 2.0]]);
        let case = |method: &str, params: Value, layers: Value, g: &Value, d: usize| -> Value {
            json!({
                "format": FORMAT,
                "cases": [{
                    "id": "c", "method": method, "params": params, "K": 2, "d": d,
                    "layers": layers,
                    "steps": [{"G": g, "losses": [1.0, 1.0]}]
                }]
            })
        };
        let shared = |v: &Value| -> Vec<f64> {
            v["results"][0]["steps"][0]["shared_grad"]
                .as_array()
                .expect("shared_grad")
                .iter()
                .map(|x| x.as_f64().expect("number"))
                .collect()
        };
        let whole = run_file(
            &case(
                "mgda",
                json!({"aggregate_per": "layer"}),
                json!([[2, 1], [1]]),
                &g,
                4,
            )
            .to_string(),
            0,
        )
        .expect("runs");
        let got = shared(&whole);
        for (range, block) in [
            (0..3, json!([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])),
            (3..4, json!([[-1.0], [2.0]])),
        ] {
            let d = range.len();
            let one = run_file(
                &case("mgda", json!({}), Value::Null, &block, d).to_string(),
                0,
            )
            .expect("runs");
            let want = shared(&one);
            for (a, b) in got[range].iter().zip(&want) {
                assert!((a - b).abs() < 1e-12, "{got:?} vs {want:?}");
            }
        }
        let bad = run_file(
            &case(
                "mgda",
                json!({"aggregate_per": "layer"}),
                json!([[2], [1]]),
                &g,
                4,
            )
            .to_string(),
            0,
        )
        .expect("runs");
        let error = bad["results"][0]["error"].as_str().unwrap_or_default();
        assert!(error.contains("layers hold 3 entries but d is 4"), "{bad}");
    }
}
