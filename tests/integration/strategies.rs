//! Every weighting strategy trains the default experiment without NaN, with parameter
//! gradients and (where allowed) representation gradients.

use crate::common;

use mtl_studio::experiment::WeightingSpec;
use mtl_studio::trainer::{Session, Split};
use mtl_studio::weighting;

#[test]
fn every_strategy_trains_the_default_experiment_without_nan() {
    let mut failures = Vec::new();
    for method in weighting::methods() {
        for rep_grad in [false, true] {
            let mut spec = common::small_spec(800, 6);
            spec.weighting = WeightingSpec::of(method.key);
            spec.weighting.rep_grad = rep_grad;
            if !spec.validate().is_empty() {
                assert!(
                    rep_grad || method.key == "graddrop",
                    "{} must be valid with parameter gradients: {:?}",
                    method.key,
                    spec.validate()
                );
                continue;
            }
            let label = format!(
                "{}{}",
                method.key,
                if rep_grad { " (rep_grad)" } else { "" }
            );
            let mut s = match Session::new(&spec) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            let before: f64 = s
                .evaluate(Split::Val)
                .expect("eval")
                .iter()
                .map(|t| t.loss)
                .sum();
            let mut error = None;
            while s.epochs_done() < 6 {
                match s.train_step() {
                    Ok(out) => {
                        if out.task_weights.iter().any(|w| !w.is_finite())
                            || !out.total_loss.is_finite()
                        {
                            error = Some(format!("non-finite weights {:?}", out.task_weights));
                            break;
                        }
                    }
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            if let Some(e) = error {
                failures.push(format!("{label}: {e}"));
                continue;
            }
            let after: f64 = s
                .evaluate(Split::Val)
                .expect("eval")
                .iter()
                .map(|t| t.loss)
                .sum();
            if !(after.is_finite() && after < before) {
                failures.push(format!(
                    "{label}: validation loss {before} -> {after} did not fall"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
