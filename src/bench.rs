//! The training-throughput benchmark of `shared/bench/README.md`, side by side with
//! `torch_bench.py`: hard sharing, trunk 100-256-256 (ReLU), two heads 256-64-1, Adam 1e-3,
//! batch 256, MMoE synthetic data (d = 100, p = 0.5, c = 1, m = 10, noise variance 0.01),
//! 20,000 training rows and 5,000 test rows, equal weighting, 10 epochs.
//!
//! Only the training loop is timed (batch gather, forward, backward, optimizer step). Each
//! thread count runs in a child process started with `RAYON_NUM_THREADS`, because candle's
//! matrix multiply reads its thread count from the environment and the process's thread pool
//! is sized once.

use std::process::Command;
use std::time::Instant;

use crate::cli::CliError;
use crate::experiment::{
    DatasetSpec, ExperimentSpec, HeadSpec, LayerSpec, MmoeSpec, OptimizerSpec, TaskKind, TaskSpec,
    TrainingSpec, WeightingSpec,
};
use crate::trainer::{Session, Split};

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
        }),
        model: crate::experiment::ModelSpec {
            input: 100,
            shared: vec![lin(256), LayerSpec::Relu, lin(256), LayerSpec::Relu],
            heads: tasks
                .iter()
                .map(|t| HeadSpec {
                    task: t.name.clone(),
                    layers: vec![lin(64), LayerSpec::Relu],
                })
                .collect(),
        },
        tasks,
        weighting: WeightingSpec::Equal,
        optimizer: OptimizerSpec::defaults_with_lr(1e-3)[1].clone(),
        training: TrainingSpec {
            epochs,
            batch_size: 256,
            validation_fraction: 0.2,
        },
    }
}

/// Trains the reference model in this process and returns the JSON line.
pub fn measure_here(epochs: usize) -> Result<String, CliError> {
    let spec = reference_spec(epochs);
    let mut session = Session::new(&spec)?;
    let mut rows = 0usize;
    let started = Instant::now();
    while session.epochs_done() < epochs {
        rows += session.train_step()?.rows;
    }
    let secs = started.elapsed().as_secs_f64();
    let test = session.evaluate(Split::Val)?;
    let threads = candle_core::utils::get_num_threads();
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

/// Runs [`measure_here`] once per thread count, each in a child process.
pub fn measure_threads(threads: &[usize], epochs: usize) -> Result<Vec<String>, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find this program: {e}")))?;
    let mut lines = Vec::new();
    for &t in threads {
        if t == 0 {
            return Err(CliError::Other(
                "--threads: 0 is not a thread count".to_owned(),
            ));
        }
        let out = Command::new(&exe)
            .args(["bench", "--child", "--epochs", &epochs.to_string()])
            .env("RAYON_NUM_THREADS", t.to_string())
            .output()
            .map_err(|e| CliError::Other(format!("cannot start the benchmark: {e}")))?;
        if !out.status.success() {
            return Err(CliError::Other(format!(
                "the benchmark with {t} thread(s) failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        lines.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    Ok(lines)
}
