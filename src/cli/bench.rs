//! `bench`: training throughput per thread count (each in a child process), or the step
//! cost of strategies.

use super::*;

/// `mtl-studio bench`: throughput per thread count, or per-strategy step costs.
pub(super) fn bench(
    threads: &[usize],
    epochs: usize,
    child: bool,
    strategies: &[String],
    tasks: &[usize],
) -> Result<(), CliError> {
    let lines = if !strategies.is_empty() {
        crate::bench::measure_strategies(tasks, strategies)?
    } else if child {
        vec![crate::bench::measure_here(epochs)?]
    } else {
        measure_threads(threads, epochs)?
    };
    lines.iter().try_for_each(|l| stdout_line(l))
}

/// Runs [`crate::bench::measure_here`] once per thread count, each in a child process.
pub(super) fn measure_threads(threads: &[usize], epochs: usize) -> Result<Vec<String>, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Other(format!("cannot find this program: {e}")))?;
    let mut lines = Vec::new();
    for &t in threads {
        if t == 0 {
            return Err(CliError::Other(
                "--threads: 0 is not a thread count".to_owned(),
            ));
        }
        let out = std::process::Command::new(&exe)
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
