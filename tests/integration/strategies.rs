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

/// The strategies of issue 19 (MoDo, SDMGrad with their extra batches, DualProj, ConFIG, and
/// CR-MOGM on a solver and a projection, per-layer aggregation, gradient normalisation and
/// EPO) train every architecture without
/// a NaN, and the validation loss falls.
#[test]
fn the_newer_strategies_train_every_architecture_without_nan() {
    let (mut failures, mut trained) = (Vec::new(), 0);
    let with = |key: &str, options: &[(&str, serde_json::Value)]| {
        let mut w = WeightingSpec::of(key);
        for (name, value) in options {
            w.params.insert((*name).to_owned(), value.clone());
        }
        w
    };
    let strategies = [
        with("modo", &[]),
        with("sdmgrad", &[]),
        with("dualproj", &[]),
        with("config", &[]),
        with("cagrad", &[("CR_MOGM_alpha", serde_json::json!(0.5))]),
        with("pcgrad", &[("CR_MOGM_alpha", serde_json::json!(0.2))]),
        // Per-layer aggregation and gradient normalisation (issue 19, point 4).
        with("mgda", &[("aggregate_per", serde_json::json!("layer"))]),
        with(
            "upgrad",
            &[
                ("aggregate_per", serde_json::json!("tensor")),
                ("grad_normalize", serde_json::json!("loss+")),
            ],
        ),
        with("gradvac", &[("GradVac_group_type", serde_json::json!(1))]),
        with(
            "cagrad",
            &[
                ("grad_normalize", serde_json::json!("l2")),
                ("aggregate_per", serde_json::json!("layer")),
            ],
        ),
        // EPO with a preference (issue 19, point 5).
        with("epo", &[]),
    ];
    for base in crate::architectures::every_architecture() {
        for weighting in &strategies {
            let mut spec = base.clone();
            spec.weighting = weighting.clone();
            let label = format!(
                "{} on {} ({:?})",
                weighting.key(),
                spec.model.architecture,
                weighting.params
            );
            let problems = spec.validate();
            // Soft sharing has no shared parameters to combine gradients of: not applicable.
            if problems.iter().all(|p| p.path == "weighting.strategy") && !problems.is_empty() {
                continue;
            }
            if !problems.is_empty() {
                failures.push(format!("{label}: invalid {problems:?}"));
                continue;
            }
            trained += 1;
            let mut s = match Session::new(&spec) {
                Ok(s) => s,
                Err(e) => {
                    failures.push(format!("{label}: {e}"));
                    continue;
                }
            };
            let loss = |s: &Session| -> f64 {
                s.evaluate(Split::Val)
                    .expect("eval")
                    .iter()
                    .map(|t| t.loss)
                    .sum()
            };
            let before = loss(&s);
            let mut error = None;
            while s.epochs_done() < 3 {
                match s.train_step() {
                    Ok(out) if out.task_weights.iter().all(|w| w.is_finite()) => {}
                    Ok(out) => {
                        error = Some(format!("non-finite weights {:?}", out.task_weights));
                        break;
                    }
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
            let after = loss(&s);
            match error {
                Some(e) => failures.push(format!("{label}: {e}")),
                None if !(after.is_finite() && after < before) => {
                    failures.push(format!("{label}: validation loss {before} -> {after}"));
                }
                None => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(trained >= 6 * 6, "most architectures apply: {trained}");
}
