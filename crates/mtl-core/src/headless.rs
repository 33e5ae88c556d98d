//! Headless runs that write a folder: `train` (weights, metrics, report) and `affinity`
//! (task-affinity matrices and suggested groups). The command line and scripts call these.

use std::path::{Path, PathBuf};
use std::time::Instant;

use std::sync::atomic::AtomicBool;

use crate::Error as CliError;
use crate::experiment::ExperimentSpec;
use crate::export::{self, MetricRow};
use crate::trainer::{Driver, End, Evaluation, Observer, RunEvent, RunPlan, Session};

/// Trains `spec` for `steps` steps, measuring the affinity every `every` steps before the
/// step; writes `affinity.csv` (`from,to,tag,cosine`, the means), `affinity.png`, `affinity.svg` and
/// `groups.txt`, and returns the text report.
pub fn affinity_to_dir(
    spec: &ExperimentSpec,
    out: &Path,
    steps: usize,
    every: usize,
    lookahead: f64,
) -> Result<String, CliError> {
    check_affinity_args(steps, every, lookahead)?;
    create_out_dir(out)?;
    let session = Session::new(spec)?;
    let names: Vec<String> = session
        .data()
        .tasks
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let k = names.len();
    let plan = RunPlan {
        epochs: spec.training.epochs,
        max_steps: Some(steps as u64),
        evaluation: Evaluation::Never,
        affinity_every: every,
        affinity_lookahead: lookahead,
    };
    let (mut tag, mut cos) = (vec![0.0; k * k], vec![0.0; k * k]);
    let (mut tag_n, mut cos_n) = (vec![0usize; k * k], vec![0usize; k * k]);
    let mut sums = |_: &Session, event: &RunEvent<'_>| {
        if let RunEvent::Affinity { tag: t, cosine: c } = event {
            for i in 0..k * k {
                if t[i].is_finite() {
                    tag[i] += t[i];
                    tag_n[i] += 1;
                }
                if c[i].is_finite() {
                    cos[i] += c[i];
                    cos_n[i] += 1;
                }
            }
        }
    };
    Driver::new(session, plan).run(&mut sums, &AtomicBool::new(false))?;
    let mean = |s: &[f64], n: &[usize]| -> Vec<f64> {
        s.iter()
            .zip(n)
            .map(|(v, c)| if *c > 0 { v / *c as f64 } else { f64::NAN })
            .collect()
    };
    let (tag, cos) = (mean(&tag, &tag_n), mean(&cos, &cos_n));
    write_affinity_csv(&out.join("affinity.csv"), &names, &tag, &cos)?;
    all_measured(&tag, &cos, k, steps, out)?;
    for file in ["affinity.png", "affinity.svg"] {
        export::plot::affinity_chart(
            &out.join(file),
            &names,
            &[
                ("Lookahead affinity (TAG): a step on row helps column", &tag),
                ("Gradient cosine", &cos),
            ],
        )?;
    }
    let mut report = format!(
        "task affinity after {steps} steps of '{}' (TAG lookahead {lookahead}, measured every {every} steps)\n",
        spec.name
    );
    let width = names.iter().map(String::len).max().unwrap_or(4).max(8);
    report.push_str(&format!("{:width$}", "from\\to"));
    for n in &names {
        report.push_str(&format!(" {n:>width$}"));
    }
    report.push('\n');
    for (i, n) in names.iter().enumerate() {
        report.push_str(&format!("{n:width$}"));
        for j in 0..k {
            report.push_str(&format!(" {:>width$.3}", tag[i * k + j]));
        }
        report.push('\n');
    }
    for groups in 2..=3.min(k) {
        if let Some(g) = crate::metrics::affinity::best_partition(&tag, k, groups) {
            let text: Vec<String> = g
                .groups
                .iter()
                .map(|grp| {
                    let members: Vec<&str> = grp.iter().map(|&t| names[t].as_str()).collect();
                    format!("{{{}}}", members.join(", "))
                })
                .collect();
            report.push_str(&format!(
                "best split into {groups} groups: {} (summed affinity {:.3})\n",
                text.join(" "),
                g.score
            ));
        }
    }
    export::write_atomic(&out.join("groups.txt"), report.as_bytes())?;
    Ok(report)
}

/// `affinity`'s figures: a positive lookahead, `--steps` in 1..=[`crate::limits::MAX_STEPS`]
/// and `--every` in 1..=steps.
fn check_affinity_args(steps: usize, every: usize, lookahead: f64) -> Result<(), CliError> {
    if !(lookahead.is_finite() && lookahead > 0.0) {
        return Err(CliError::Other(format!(
            "--lookahead {lookahead} must be > 0"
        )));
    }
    if steps == 0 || steps as u64 > crate::limits::MAX_STEPS {
        return Err(CliError::Other(format!(
            "--steps {steps} must be in 1..={}",
            crate::limits::MAX_STEPS
        )));
    }
    if every == 0 || every > steps {
        return Err(CliError::Other(format!(
            "--every {every} must be in 1..=--steps ({steps}): it measures every this many steps"
        )));
    }
    Ok(())
}

/// An error when a pair of different tasks has no finite affinity (NaN is no result).
fn all_measured(
    tag: &[f64],
    cos: &[f64],
    k: usize,
    steps: usize,
    out: &Path,
) -> Result<(), CliError> {
    // Off the diagonal every pair must have been measured; NaN there is no result.
    let unmeasured = (0..k * k)
        .filter(|&i| i / k != i % k && !(tag[i].is_finite() && cos[i].is_finite()))
        .count();
    if unmeasured > 0 {
        return Err(CliError::Other(format!(
            "the affinity of {unmeasured} of the {} task pairs is NaN (no finite measurement in \
             {steps} steps; the losses or gradients were not finite): see affinity.csv in {}",
            k * (k - 1),
            out.display()
        )));
    }
    Ok(())
}

/// `from,to,tag,cosine`, one row per ordered pair of tasks.
fn write_affinity_csv(
    path: &Path,
    names: &[String],
    tag: &[f64],
    cos: &[f64],
) -> Result<(), CliError> {
    let k = names.len();
    let mut rows = vec![["from", "to", "tag", "cosine"].map(str::to_owned).to_vec()];
    for i in 0..k {
        for j in 0..k {
            rows.push(vec![
                names[i].clone(),
                names[j].clone(),
                tag[i * k + j].to_string(),
                cos[i * k + j].to_string(),
            ]);
        }
    }
    Ok(export::write_csv(path, &rows)?)
}

/// Creates the output folder (and its parents) or says why it cannot.
pub fn create_out_dir(out: &Path) -> Result<(), CliError> {
    std::fs::create_dir_all(out).map_err(|e| {
        CliError::Other(format!(
            "cannot create the output folder: {e}: {}",
            out.display()
        ))
    })
}

/// What a headless training run produced.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// Task names.
    pub tasks: Vec<String>,
    /// The rows of the last epoch (and of the best one, when a stop rule restored it);
    /// every row is in `metrics.csv`.
    pub rows: Vec<MetricRow>,
    /// Output folder.
    pub out: PathBuf,
    /// Seconds of training.
    pub seconds: f64,
    /// When a stop rule ended the run early.
    pub stopped: Option<crate::trainer::Stopped>,
}

impl TrainReport {
    /// A short text summary of the final validation (or training) metrics.
    pub fn summary(&self) -> String {
        let last_epoch = self.rows.iter().map(|r| r.epoch).max().unwrap_or(0);
        // After early stopping with restored weights, the best epoch's figures are the model's.
        let shown = match &self.stopped {
            Some(s) if s.restored => s.best_epoch,
            _ => last_epoch,
        };
        let has_val = self.rows.iter().any(|r| r.split == "val");
        let split = if has_val { "val" } else { "train" };
        let last: Vec<&MetricRow> = self
            .rows
            .iter()
            .filter(|r| {
                r.epoch == shown
                    && r.split == split
                    && r.loss.is_finite()
                    && r.metric != "best_epoch"
            })
            .collect();
        let mut parts: Vec<String> = Vec::new();
        for (i, r) in last.iter().enumerate() {
            let value = if !r.value.is_finite() {
                "n/a".to_owned()
            } else if r.value != 0.0 && r.value.abs() < 0.01 {
                format!("{:.3e}", r.value)
            } else {
                format!("{:.3}", r.value)
            };
            if i == 0 || last[i - 1].task != r.task {
                parts.push(format!(
                    "{}: loss {:.4}, {} {value}",
                    r.task, r.loss, r.metric
                ));
            } else if let Some(p) = parts.last_mut() {
                p.push_str(&format!(", {} {value}", r.metric));
            }
        }
        let stop = self
            .stopped
            .as_ref()
            .map_or_else(String::new, |s| format!("{} ", s.message));
        format!(
            "trained {last_epoch} epochs in {:.1}s; {stop}{split} (epoch {shown}): {}; wrote {}",
            self.seconds,
            parts.join("; "),
            self.out.display()
        )
    }
}

/// Trains `spec` and writes `model.safetensors`, `spec.json` and the run's report
/// (`report.md`, `metrics.csv`, `loss.png`, `loss.svg`, `spec.toml`; see [`export::report`]) into
/// `out`. A diverging loss is an error (the files of the epochs before it are still written).
/// The folder holds one run: see [`crate::rundir`].
pub fn train_to_dir(
    spec: &ExperimentSpec,
    out: &Path,
    observer: &mut dyn Observer,
) -> Result<TrainReport, CliError> {
    train_to_dir_until(spec, out, observer, &AtomicBool::new(false))
}

/// [`train_to_dir`] that ends early when `interrupt` is set (Ctrl-C, SIGTERM): the weights
/// and metrics of the run so far are written with a report saying it was interrupted, and the
/// result is an error saying so (a command exits non-zero).
///
/// The files are written into a temporary folder beside `out` and moved into place as a
/// whole when the run ends, so a killed run leaves the previous run as it was, and a failed
/// run replaces it with its report (without a model), never mixing the two.
pub fn train_to_dir_until(
    spec: &ExperimentSpec,
    out: &Path,
    observer: &mut dyn Observer,
    interrupt: &AtomicBool,
) -> Result<TrainReport, CliError> {
    train_to_dir_from(spec, out, &TrainStart::default(), observer, interrupt)
}

/// Where a headless run starts: afresh, from given weights, or where a checkpoint was.
#[derive(Clone, Debug, Default)]
pub struct TrainStart {
    /// Continue this checkpoint (`checkpoint.safetensors`, or a run folder holding one).
    pub resume: Option<PathBuf>,
    /// Start from these weights (`model.safetensors`, or a folder holding one).
    pub init: Option<PathBuf>,
    /// Write the initial weights (or the resumed ones) without training.
    pub no_epochs: bool,
}

/// The driver of a run as `start` says, started (its first evaluation, or the rows a
/// checkpoint carries), with notes for the report.
fn start_driver(
    spec: &ExperimentSpec,
    start: &TrainStart,
    observer: &mut dyn Observer,
) -> Result<(Driver, Vec<String>), CliError> {
    let mut plan = RunPlan::of(spec);
    if start.no_epochs {
        plan.epochs = 0;
    }
    let mut notes = Vec::new();
    if let Some(path) = &start.resume {
        let checkpoint = crate::trainer::Checkpoint::load(path)?;
        let run_spec = checkpoint
            .spec_for(spec)
            .map_err(|e| CliError::Other(format!("{e}: {}", path.display())))?;
        if start.no_epochs {
            plan.epochs = checkpoint.epoch();
        }
        let mut driver = Driver::resume(&run_spec, &checkpoint, plan)?;
        notes.push(format!(
            "Resumed after epoch {} (step {}) from {}.",
            checkpoint.epoch(),
            checkpoint.step(),
            path.display()
        ));
        if checkpoint.threads != driver.session().threads() {
            notes.push(format!(
                "The checkpoint was written on {} threads and this run used {}: the curve goes on, but not bit for bit as one run on {} threads would.",
                checkpoint.threads,
                driver.session().threads(),
                checkpoint.threads
            ));
        }
        driver.replay(observer, &checkpoint.rows);
        return Ok((driver, notes));
    }
    let mut session = Session::new(spec)?;
    if let Some(path) = &start.init {
        session.load_weights(path)?;
        notes.push(format!("Started from the weights of {}.", path.display()));
    }
    let mut driver = Driver::new(session, plan);
    driver.start(observer)?;
    Ok((driver, notes))
}

/// [`train_to_dir_until`] starting as `start` says: from a checkpoint (the spec must be the
/// checkpoint's but for the epochs, which may grow; the rows of `metrics.csv` so far are
/// written again before the new ones, so the folder holds the whole run), from given
/// weights, or without training. The folder also gets `checkpoint.safetensors`, to resume
/// this run.
pub fn train_to_dir_from(
    spec: &ExperimentSpec,
    out: &Path,
    start: &TrainStart,
    observer: &mut dyn Observer,
    interrupt: &AtomicBool,
) -> Result<TrainReport, CliError> {
    let run_dir = crate::rundir::RunDir::begin(out)?;
    let stage = run_dir.staging().to_owned();
    let names: Vec<String> = spec.tasks.iter().map(|t| t.name.clone()).collect();
    // Rows go to disk as they come; memory holds only what the report needs (the
    // checkpoint reads every row back from the file at the end).
    let metrics = stage.join("metrics.csv");
    let mut stream = crate::trainer::MetricsStream::create(&metrics, &names)?;
    let (mut driver, start_notes) = start_driver(spec, start, &mut (&mut stream, &mut *observer))?;
    let started = Instant::now();
    let result = driver.run_on(&mut (&mut stream, observer), interrupt);
    let seconds = started.elapsed().as_secs_f64();
    let (curves, rows) = stream.finish(driver.session())?;
    let mut interrupted = false;
    let (stopped, failure) = match result {
        Ok(End::StopRule(s)) => (Some(s), None),
        Ok(End::Cancelled) => {
            interrupted = true;
            (None, None)
        }
        Ok(End::Planned) => (None, None),
        // A run that cannot start writes nothing (and the previous run stays).
        Err(e) if rows.is_empty() => return Err(e.into()),
        Err(e) => (None, Some(e)),
    };
    let session = driver.session();
    let tasks: Vec<String> = session
        .data()
        .tasks
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let epochs = session.epochs_done();
    let mut extra: Vec<String> = run_dir
        .notes()
        .iter()
        .map(|n| format!("Note: {n}"))
        .chain(start_notes)
        .collect();
    if let Some(e) = &failure {
        extra.push(format!("**Training failed:** {e}"));
    }
    if interrupted {
        extra.push(format!(
            "**Interrupted** after {epochs} finished epoch(s): the weights and metrics are those of the run so far."
        ));
    }
    let notes = export::report::ReportNotes {
        seconds: Some(seconds),
        threads: Some(session.threads()),
        stopped: stopped.as_ref().map(|s| s.message.clone()),
        extra,
    };
    export::report::write_report_beside(&stage, spec, &curves, &rows, &notes)?;
    if let Some(e) = failure {
        // The failed run replaces the previous one whole: its report, no model.
        run_dir.commit()?;
        return Err(e.into());
    }
    session.save(&stage.join("model.safetensors"))?;
    let all_rows = crate::trainer::stream::read_rows(&metrics)?;
    driver
        .checkpoint(&all_rows)?
        .save(&stage.join(crate::trainer::CHECKPOINT_FILE))?;
    run_dir.commit()?;
    if interrupted {
        return Err(CliError::Other(format!(
            "interrupted after {epochs} finished epoch(s); wrote the run so far: {}",
            out.display()
        )));
    }
    Ok(TrainReport {
        tasks,
        rows,
        out: out.to_owned(),
        seconds,
        stopped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn affinity_refuses_no_steps_no_measurement_and_nan_pairs() {
        assert!(check_affinity_args(0, 1, 0.01).is_err(), "--steps 0");
        assert!(check_affinity_args(10, 0, 0.01).is_err(), "--every 0");
        assert!(check_affinity_args(10, 11, 0.01).is_err(), "never measured");
        assert!(
            check_affinity_args(10, 10, f64::NAN).is_err(),
            "NaN lookahead"
        );
        assert!(check_affinity_args(10, 10, 0.01).is_ok());
        let out = Path::new("runs/aff");
        // Two tasks: the diagonal may be anything, each off-diagonal pair must be finite.
        let finite = [f64::NAN, 0.5, -0.2, f64::NAN];
        assert!(all_measured(&finite, &finite, 2, 10, out).is_ok());
        let nan = [0.0, f64::NAN, 0.1, 0.0];
        let e = all_measured(&nan, &finite, 2, 10, out).expect_err("a NaN pair");
        assert!(
            e.to_string().contains("1 of the 2 task pairs is NaN"),
            "{e}"
        );
    }
}
