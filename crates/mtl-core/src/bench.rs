//! The training-throughput benchmark of `shared/bench/README.md`, side by side with
//! `torch_bench.py`: hard sharing, trunk 100-256-256 (ReLU), two heads 256-64-1, Adam 1e-3,
//! batch 256, MMoE synthetic data (d = 100, p = 0.5, c = 1, m = 10, noise variance 0.01),
//! 20,000 training rows and 5,000 test rows, equal weighting, 10 epochs.
//!
//! The data are drawn exactly as the PyTorch script draws them (NumPy's `RandomState(0)`, see
//! [`reference_data`]), so the final test MSE of both can be compared.
//!
//! Only the training loop is timed (batch gather, forward, backward, optimizer step). Each
//! thread count runs in a child process started with `RAYON_NUM_THREADS`, because candle's
//! matrix multiply reads its thread count from the environment and the process's thread pool
//! is sized once.

use std::time::Instant;

use crate::Error as CliError;
use crate::data::numpy_rng::RandomState;
use crate::data::{Labels, PreparedData, SplitData, TaskInfo};
use crate::experiment::{
    DatasetSpec, ExperimentSpec, HeadSpec, LayerSpec, LossKind, MmoeSpec, OptimizerSpec, TaskKind,
    TaskSpec, TrainingSpec, WeightingSpec,
};
use std::sync::atomic::AtomicBool;

use crate::trainer::{Driver, Evaluation, RunEvent, RunPlan, Session, Split};

/// The reference experiment of the benchmark.
pub fn reference_spec(epochs: usize) -> ExperimentSpec {
    let lin = |out| LayerSpec::Linear { out };
    let tasks: Vec<TaskSpec> = ["y1", "y2"]
        .iter()
        .map(|n| TaskSpec {
            name: (*n).to_owned(),
            kind: TaskKind::Regression,
            target: (*n).to_owned(),
            loss: None,
            weight: 1.0,
        })
        .collect();
    ExperimentSpec {
        version: crate::experiment::SPEC_VERSION,
        name: "benchmark reference (shared/bench)".to_owned(),
        seed: 0,
        dataset: DatasetSpec::Mmoe(MmoeSpec {
            samples: 25_000,
            dim: 100,
            tasks: 2,
            correlation: 0.5,
            scale: 1.0,
            sin_terms: 10,
            noise_std: 0.1,
            ..MmoeSpec::default()
        }),
        model: crate::experiment::ModelSpec {
            input: 100,
            shared: vec![lin(256), LayerSpec::Relu, lin(256), LayerSpec::Relu],
            heads: tasks
                .iter()
                .map(|t| HeadSpec {
                    task: t.name.clone(),
                    layers: vec![lin(64), LayerSpec::Relu],
                    links: Vec::new(),
                })
                .collect(),
            architecture: crate::experiment::Architecture::Hard,
            relationship: None,
            input_shape: None,
        },
        tasks,
        weighting: WeightingSpec::default(),
        optimizer: OptimizerSpec::defaults_with_lr(1e-3)[1].clone(),
        training: TrainingSpec {
            epochs,
            batch_size: 256,
            validation_fraction: 0.2,
            ..TrainingSpec::default()
        },
    }
}

/// Rows of the benchmark's training and test sets.
const TRAIN_ROWS: usize = 20_000;
const TEST_ROWS: usize = 5_000;

/// The data of `torch_bench.py`'s `make_data()`, drawn with the same NumPy generator
/// (`RandomState(0)`) in the same order, so both programs train and test on identical rows.
/// Inputs are already N(0, 1) and are not standardised, as in the PyTorch script.
pub fn reference_data() -> PreparedData {
    let (d, m, p, c, noise_std) = (100, 10, 0.5f64, 1.0f64, 0.1f64);
    let mut rs = RandomState::new(0);
    let a: Vec<f64> = (0..d).map(|_| rs.standard_normal()).collect();
    let mut b: Vec<f64> = (0..d).map(|_| rs.standard_normal()).collect();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    let na = norm(&a);
    let u1: Vec<f64> = a.iter().map(|x| x / na).collect();
    let dot: f64 = b.iter().zip(&u1).map(|(x, y)| x * y).sum();
    b.iter_mut().zip(&u1).for_each(|(x, u)| *x -= dot * u);
    let nb = norm(&b);
    let u2: Vec<f64> = b.iter().map(|x| x / nb).collect();
    let w1: Vec<f64> = u1.iter().map(|x| c * x).collect();
    let w2: Vec<f64> = u1
        .iter()
        .zip(&u2)
        .map(|(x, y)| c * (p * x + (1.0 - p * p).sqrt() * y))
        .collect();
    let alpha: Vec<f64> = (0..m).map(|_| rs.standard_normal()).collect();
    let beta: Vec<f64> = (0..m).map(|_| rs.standard_normal()).collect();
    let mut draw = |n: usize| {
        let x: Vec<f64> = (0..n * d).map(|_| rs.standard_normal()).collect();
        let labels = [&w1, &w2]
            .iter()
            .map(|w| {
                let z: Vec<f64> = x
                    .chunks(d)
                    .map(|row| row.iter().zip(w.iter()).map(|(a, b)| a * b).sum())
                    .collect();
                let values = z
                    .iter()
                    .map(|z| {
                        let s: f64 = alpha
                            .iter()
                            .zip(&beta)
                            .map(|(a, b)| (z * a + b).sin())
                            .sum();
                        (z + s + rs.normal(0.0, noise_std)) as f32
                    })
                    .collect();
                Labels {
                    values,
                    mask: vec![1.0; n],
                    width: 1,
                }
            })
            .collect();
        SplitData {
            rows: n,
            features: d,
            x: x.iter().map(|v| *v as f32).collect(),
            labels,
        }
    };
    let train = draw(TRAIN_ROWS);
    let val = draw(TEST_ROWS);
    let task = |name: &str| TaskInfo {
        name: name.to_owned(),
        kind: TaskKind::Regression,
        loss: LossKind::Mse,
        out_dim: 1,
        classes: Vec::new(),
        target_mean: 0.0,
        target_std: 1.0,
    };
    PreparedData {
        name: "torch_bench.py make_data()".to_owned(),
        feature_names: (1..=d).map(|i| format!("x{i}")).collect(),
        tasks: vec![task("y1"), task("y2")],
        train,
        val,
        input_mean: vec![0.0; d],
        input_std: vec![1.0; d],
        encoding: None,
    }
}

/// Trains the reference model in this process and returns the JSON line.
pub fn measure_here(epochs: usize) -> Result<String, CliError> {
    let spec = reference_spec(epochs);
    let mut session = Session::with_data(&spec, reference_data())?;
    // Train as the PyTorch script does: no gradient diagnostics for the charts.
    session.set_diagnostics_every(0);
    // The PyTorch script evaluates only at the end: so does this run.
    let plan = RunPlan {
        evaluation: Evaluation::Never,
        affinity_every: 0,
        ..RunPlan::of(&spec)
    };
    let mut rows = 0usize;
    let mut count = |_: &Session, event: &RunEvent<'_>| {
        if let RunEvent::Stepped { outcome, .. } = event {
            rows += outcome.rows;
        }
    };
    let mut driver = Driver::new(session, plan);
    let started = Instant::now();
    driver.run(&mut count, &AtomicBool::new(false))?;
    let secs = started.elapsed().as_secs_f64();
    let session = driver.into_session();
    let test = session.evaluate(Split::Val)?;
    let threads = session.threads();
    let mse: Vec<f64> = test.iter().map(|t| (t.loss * 1e5).round() / 1e5).collect();
    Ok(serde_json::json!({
        "threads": threads,
        "samples_per_sec": (rows as f64 / secs).round(),
        "train_seconds": (secs * 1000.0).round() / 1000.0,
        "epochs": epochs,
        "final_test_mse": mse,
    })
    .to_string())
}

/// Trains `spec` in this process the way `mtl-studio train` runs it (the same data, epochs,
/// gradient diagnostics, end-of-epoch evaluation and stop rules) and returns the JSON line:
/// samples per second of the training loop alone (the time spent in steps) and of whole
/// epochs (wall time, the evaluation included), and the seconds of each.
pub fn measure_spec(spec: &ExperimentSpec) -> Result<String, CliError> {
    let session = Session::new(spec)?;
    let threads = session.threads();
    let mut rows = 0usize;
    let mut stepping = std::time::Duration::ZERO;
    let mut count = |_: &Session, event: &RunEvent<'_>| {
        if let RunEvent::Stepped { outcome, took } = event {
            rows += outcome.rows;
            stepping += *took;
        }
    };
    let mut driver = Driver::new(session, RunPlan::of(spec));
    let started = Instant::now();
    driver.run(&mut count, &AtomicBool::new(false))?;
    let wall = started.elapsed().as_secs_f64();
    let loop_secs = stepping.as_secs_f64();
    let session = driver.into_session();
    let per_sec = |secs: f64| {
        if secs > 0.0 {
            (rows as f64 / secs).round()
        } else {
            0.0
        }
    };
    Ok(serde_json::json!({
        "spec": spec.name,
        "threads": threads,
        "epochs": session.epochs_done(),
        "rows": rows,
        "train_samples_per_sec": per_sec(loop_secs),
        "epoch_samples_per_sec": per_sec(wall),
        "train_seconds": (loop_secs * 1000.0).round() / 1000.0,
        "eval_seconds": ((wall - loop_secs).max(0.0) * 1000.0).round() / 1000.0,
        "seconds": (wall * 1000.0).round() / 1000.0,
    })
    .to_string())
}

/// One line of the strategy-cost benchmark.
fn cost_line(tasks: usize, strategy: &str, rep_grad: bool, ms: f64, relative: f64) -> String {
    serde_json::json!({
        "tasks": tasks,
        "strategy": strategy,
        "rep_grad": rep_grad,
        "threads": crate::trainer::parallel::threads(),
        "ms_per_step": (ms * 1000.0).round() / 1000.0,
        "relative_to_ew": (relative * 100.0).round() / 100.0,
    })
    .to_string()
}

/// The reference model with `tasks` MMoE tasks (pairs share a correlation of 0.5).
fn reference_spec_with_tasks(tasks: usize, strategy: &str, rep_grad: bool) -> ExperimentSpec {
    let mut spec = reference_spec(1);
    let lin = |out| LayerSpec::Linear { out };
    spec.tasks = (1..=tasks)
        .map(|i| TaskSpec {
            name: format!("y{i}"),
            kind: TaskKind::Regression,
            target: format!("y{i}"),
            loss: None,
            weight: 1.0,
        })
        .collect();
    spec.model.heads = spec
        .tasks
        .iter()
        .map(|t| HeadSpec {
            task: t.name.clone(),
            layers: vec![lin(64), LayerSpec::Relu],
            links: Vec::new(),
        })
        .collect();
    if let DatasetSpec::Mmoe(m) = &mut spec.dataset {
        m.tasks = tasks;
        m.samples = 5_000;
    }
    spec.weighting = WeightingSpec::of(strategy);
    spec.weighting.rep_grad = rep_grad;
    spec
}

/// Steps per timed block, and timed blocks per strategy.
const BLOCK_STEPS: usize = 20;
const BLOCKS: usize = 7;

/// Milliseconds per step over one block of `steps` steps.
fn block_ms(session: &mut Session, steps: usize) -> Result<f64, CliError> {
    let started = Instant::now();
    for _ in 0..steps {
        session.train_step()?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / steps as f64)
}

/// A session of `spec` with gradient diagnostics off (so EW pays nothing extra), after one
/// warm-up block.
fn warm_session(spec: &ExperimentSpec) -> Result<Session, CliError> {
    let mut session = Session::new(spec)?;
    session.set_diagnostics_every(0);
    block_ms(&mut session, BLOCK_STEPS)?;
    Ok(session)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Step cost of each strategy relative to EW on the reference model with `task_counts` tasks,
/// with parameter gradients and (where allowed) representation gradients. Each strategy's
/// blocks alternate with blocks of an EW run, and the cost is the median of the per-block
/// ratios, so a machine that slows down for a while slows both sides.
pub fn measure_strategies(
    task_counts: &[usize],
    strategies: &[String],
) -> Result<Vec<String>, CliError> {
    if let Some(unknown) = strategies
        .iter()
        .find(|s| crate::weighting::method(s).is_none())
    {
        return Err(CliError::Other(format!(
            "--strategies: '{unknown}' is not a strategy (known: {})",
            crate::weighting::methods()
                .map(|m| m.key)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let max = crate::limits::MAX_BENCH_TASKS;
    if let Some(k) = task_counts.iter().find(|&&k| k == 0 || k > max) {
        return Err(CliError::Other(format!(
            "--tasks: {k} must be in 1..={max}"
        )));
    }
    let mut lines = Vec::new();
    for &k in task_counts {
        let mut ew = warm_session(&reference_spec_with_tasks(k, "ew", false))?;
        let mut ew_ms = Vec::new();
        let mut rows = Vec::new();
        for strategy in strategies {
            for rep in [false, true] {
                let spec = reference_spec_with_tasks(k, strategy, rep);
                if !spec.validate().is_empty() {
                    continue;
                }
                let mut session = warm_session(&spec)?;
                let (mut ms, mut ratios) = (Vec::new(), Vec::new());
                for _ in 0..BLOCKS {
                    let e = block_ms(&mut ew, BLOCK_STEPS)?;
                    let m = block_ms(&mut session, BLOCK_STEPS)?;
                    ew_ms.push(e);
                    ms.push(m);
                    ratios.push(m / e);
                }
                rows.push(cost_line(k, strategy, rep, median(ms), median(ratios)));
            }
        }
        if ew_ms.is_empty() {
            ew_ms.push(block_ms(&mut ew, BLOCK_STEPS)?);
        }
        lines.push(cost_line(k, "ew", false, median(ew_ms), 1.0));
        lines.extend(rows);
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_data_equal_torch_bench_make_data() {
        // Values printed by torch_bench.make_data(): ytr[0, 0], ytr[19999, 1], yte[4999, 0],
        // xte[4999, 99] (float32), and the training label variances.
        let data = reference_data();
        let close = |a: f32, b: f32| (a - b).abs() < 1e-5;
        assert!(
            close(data.train.labels[0].values[0], 1.287_990_7),
            "ytr[0,0]"
        );
        assert!(
            close(data.train.labels[1].values[19_999], 0.269_449_65),
            "ytr[19999,1]"
        );
        assert!(
            close(data.val.labels[0].values[4_999], -0.462_052_64),
            "yte[4999,0]"
        );
        assert!(
            close(data.val.x[4_999 * 100 + 99], -1.733_800_3),
            "xte[4999,99]"
        );
        for (k, expected) in [0.411_632_9, 0.420_313_5].into_iter().enumerate() {
            let v = &data.train.labels[k].values;
            let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / v.len() as f64;
            // torch.var is the unbiased estimate (n − 1).
            let var = v
                .iter()
                .map(|x| (f64::from(*x) - mean).powi(2))
                .sum::<f64>()
                / (v.len() - 1) as f64;
            assert!(
                (var - expected).abs() < 1e-5,
                "label variance of task {k}: {var}"
            );
        }
    }
}
