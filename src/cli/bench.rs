//! `bench`: training throughput per thread count (each in a child process), or the step
//! cost of strategies.

use super::*;

/// `mtl-studio bench`: throughput per thread count (of the reference model, or of a spec as
/// `train` runs it), or per-strategy step costs.
pub(super) fn bench(args: &BenchArgs) -> Result<(), CliError> {
    let BenchArgs {
        threads,
        epochs,
        child,
        strategies,
        tasks,
        spec,
    } = args;
    let (epochs, spec) = (*epochs, spec.as_deref());
    let lines = if !strategies.is_empty() {
        crate::bench::measure_strategies(tasks, strategies)?
    } else if *child {
        vec![match spec {
            Some(path) => {
                let mut spec = ExperimentSpec::load(path)?;
                if let Some(e) = epochs {
                    spec.training.epochs = e;
                }
                crate::bench::measure_spec(&spec)?
            }
            None => crate::bench::measure_here(epochs.unwrap_or(10))?,
        }]
    } else {
        measure_threads(threads, epochs, spec)?
    };
    lines.iter().try_for_each(|l| stdout_line(l))
}

/// Runs the measurement once per thread count, each in a child process (candle's matrix
/// multiply reads its thread count from the environment once per process).
pub(super) fn measure_threads(
    threads: &[usize],
    epochs: Option<usize>,
    spec: Option<&Path>,
) -> Result<Vec<String>, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find this program: {e}")))?;
    if let Some(path) = spec {
        // Refuse a bad spec once, here, rather than once per child.
        ExperimentSpec::load(path)?;
    }
    let mut lines = Vec::new();
    for &t in threads {
        if t == 0 {
            return Err(CliError::Other(
                "--threads: 0 is not a thread count".to_owned(),
            ));
        }
        let mut command = std::process::Command::new(&exe);
        command.args(["bench", "--child"]);
        if let Some(e) = epochs {
            command.args(["--epochs", &e.to_string()]);
        }
        if let Some(path) = spec {
            command.arg("--spec").arg(path);
        }
        let out = command
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
