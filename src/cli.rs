//! The headless command line: `mtl-studio init | validate | train | predict | bench`.
//! Without a subcommand the binary opens the GUI.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::experiment::{ExperimentSpec, TaskKind};
pub use crate::export::report::loss_curves;
use crate::export::{self, MetricRow};
use crate::trainer::{Session, Split, TrainError};

/// MTL Studio: multi-task learning you can watch. Without a subcommand, opens the app.
#[derive(Debug, Parser)]
#[command(name = "mtl-studio", version, about)]
pub struct Cli {
    /// What to do; omit to open the desktop app.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop app, optionally on a spec file or importing a CSV file.
    Gui {
        /// A spec (TOML) to open instead of the last session's, or a data file to load: a
        /// `.csv` / `.csv.gz` file (the import dialog opens on it) or an IDX images file.
        spec: Option<PathBuf>,
    },
    /// Print a commented default experiment spec (TOML), or with `--data`, a ready spec for
    /// a CSV file (its detected tasks and a default model).
    Init {
        /// Write it to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// A CSV file (`.csv` or `.csv.gz`) to make the spec for.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Show what a CSV file holds: each column's role and kind, label counts per task, the
    /// split; or the first problem with its line and column (exit code 1).
    Inspect {
        /// The CSV file (`.csv` or `.csv.gz`).
        file: PathBuf,
    },
    /// Check a spec and list every problem with its place.
    Validate {
        /// The spec file (TOML or JSON).
        spec: PathBuf,
    },
    /// Train an experiment without a window and write metrics, weights and plots.
    Train {
        /// The spec file (TOML or JSON).
        spec: PathBuf,
        /// Output folder (created if needed): metrics.csv, model.safetensors, spec.json, the
        /// report (report.md, loss.png, loss.svg, spec.toml).
        #[arg(short, long)]
        out: PathBuf,
        /// Override the number of epochs.
        #[arg(long)]
        epochs: Option<usize>,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// No progress bar.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Measure how tasks help each other during a short run (TAG lookahead affinity and
    /// gradient cosines), write the K × K matrices and suggest groups of tasks.
    Affinity {
        /// The spec file (TOML or JSON).
        spec: PathBuf,
        /// Output folder: affinity.csv, affinity.png and .svg, groups.txt.
        #[arg(short, long)]
        out: PathBuf,
        /// Training steps of the short run.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Measure every this many steps.
        #[arg(long, default_value_t = 10)]
        every: usize,
        /// Step size of the lookahead.
        #[arg(long, default_value_t = 0.01)]
        lookahead: f64,
    },
    /// Explore the trade-off between tasks: train the experiment once per static task
    /// weighting on a grid over the simplex (2 or 3 tasks) and once per strategy, each for
    /// the same epochs and seeds, several at a time. Writes every run's final per-task
    /// validation losses and metrics (`sweep.csv`), the loss curves (`curves.csv`) and the
    /// runs with their non-dominated front (`front.png`).
    Sweep(SweepArgs),
    /// Run an exported model on the inputs of a CSV file; writes predictions as CSV.
    Predict {
        /// A `model.safetensors` file, or a folder holding one.
        model: PathBuf,
        /// CSV with a header naming the model's input columns (other columns are ignored).
        input: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// List every weighting strategy with its paper and hyperparameters (Markdown table).
    Strategies,
    /// Run weighting strategies on given per-task gradients (format
    /// `mtl-studio-aggregate-v1`) and write their combined gradients and weights as JSON.
    Aggregate {
        /// The cases file.
        cases: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Seed of the stochastic strategies (RLW, GradDrop, random orders).
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Train the reference model of `shared/bench` and print samples/s as JSON lines.
    Bench {
        /// Thread counts to measure, e.g. `1,2`.
        #[arg(long, default_value = "1,2", value_delimiter = ',')]
        threads: Vec<usize>,
        /// Epochs per measurement.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Internal: measure in this process (the parent sets the thread count).
        #[arg(long, hide = true)]
        child: bool,
        /// Instead of throughput, measure the step cost of these strategies relative to EW
        /// (e.g. `mgda,pcgrad`), in this process.
        #[arg(long, value_delimiter = ',')]
        strategies: Vec<String>,
        /// Task counts for `--strategies`.
        #[arg(long, default_value = "2,5", value_delimiter = ',')]
        tasks: Vec<usize>,
    },
}

/// The options of `mtl-studio sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// The spec file (TOML or JSON).
    pub spec: PathBuf,
    /// Output folder (created if needed).
    #[arg(short, long)]
    pub out: PathBuf,
    /// Weightings inside the simplex: 2 tasks get N, 3 tasks N(N+1)/2; 0 for none.
    #[arg(long, default_value_t = 5)]
    pub grid: usize,
    /// Strategies to run too, comma-separated, e.g. `ew,mgda,pcgrad`.
    #[arg(long, value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Seeds, comma-separated (default: the spec's).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<u64>,
    /// Override the number of epochs of every run.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Also train a single-task model per task (the same trunk and that task's head) and
    /// score every run against them by LibMTL's Δp (positive = better than single-task).
    #[arg(long)]
    pub baselines: bool,
    /// Trainings at the same time (default: the machine's cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

/// A CLI failure: one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Training or loading failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A file could not be written.
    #[error(transparent)]
    Export(#[from] export::ExportError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<crate::experiment::SpecError> for CliError {
    fn from(e: crate::experiment::SpecError) -> Self {
        Self::Train(e.into())
    }
}

impl From<crate::data::DataError> for CliError {
    fn from(e: crate::data::DataError) -> Self {
        Self::Train(e.into())
    }
}

fn stdout_line(text: &str) -> Result<(), CliError> {
    match writeln!(std::io::stdout().lock(), "{text}") {
        // A reader that stopped early (`mtl-studio strategies | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        result => {
            result.map_err(|e| CliError::Other(format!("cannot write to standard output: {e}")))
        }
    }
}

/// Runs a subcommand (not `Gui`).
pub fn run(command: Command) -> Result<(), CliError> {
    match command {
        Command::Gui { .. } => Err(CliError::Other("the GUI is opened by main".to_owned())),
        Command::Init { output, data } => {
            let text = match data {
                Some(file) => spec_for_file(&file)?,
                None => crate::experiment::DEFAULT_SPEC_TOML.to_owned(),
            };
            match output {
                Some(path) => Ok(export::write_atomic(&path, text.as_bytes())?),
                None => stdout_line(text.trim_end()),
            }
        }
        Command::Inspect { file } if crate::data::idx::is_idx_images(&file) => inspect_idx(&file),
        Command::Inspect { file } => {
            let inspection =
                crate::data::inspect::inspect_file(&file, &std::collections::BTreeMap::new())?;
            stdout_line(inspection.report().trim_end())
        }
        Command::Validate { spec } => {
            let spec = ExperimentSpec::load(&spec)?;
            stdout_line(&format!(
                "ok: '{}' is valid ({} tasks)",
                spec.name,
                spec.tasks.len()
            ))
        }
        Command::Train {
            spec,
            out,
            epochs,
            seed,
            quiet,
        } => {
            let mut spec = ExperimentSpec::load(&spec)?;
            if let Some(e) = epochs {
                spec.training.epochs = e;
            }
            if let Some(s) = seed {
                spec.seed = s;
            }
            let report = train_to_dir(&spec, &out, !quiet)?;
            stdout_line(&report.summary())
        }
        Command::Predict {
            model,
            input,
            output,
        } => predict(&model, &input, output.as_deref()),
        Command::Strategies => print_strategies(),
        Command::Affinity {
            spec,
            out,
            steps,
            every,
            lookahead,
        } => {
            let spec = ExperimentSpec::load(&spec)?;
            let report = affinity_to_dir(&spec, &out, steps, every, lookahead)?;
            stdout_line(report.trim_end())
        }
        Command::Sweep(args) => {
            let report = crate::sweep::run_cli(args)?;
            stdout_line(report.trim_end())
        }
        Command::Aggregate {
            cases,
            output,
            seed,
        } => {
            let text = std::fs::read_to_string(&cases).map_err(|e| {
                CliError::Other(format!("cannot read cases: {e}: {}", cases.display()))
            })?;
            let result = crate::weighting::aggregate::run_file(&text, seed)
                .map_err(|e| CliError::Other(format!("{e}: {}", cases.display())))?;
            let text = serde_json::to_string_pretty(&result).unwrap_or_default();
            match output {
                Some(path) => Ok(export::write_atomic(&path, text.as_bytes())?),
                None => stdout_line(&text),
            }
        }
        Command::Bench {
            threads,
            epochs,
            child,
            strategies,
            tasks,
        } => bench(&threads, epochs, child, &strategies, &tasks),
    }
}

/// `mtl-studio bench`: throughput per thread count, or per-strategy step costs.
fn bench(
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
        crate::bench::measure_threads(threads, epochs)?
    };
    lines.iter().try_for_each(|l| stdout_line(l))
}

/// A ready spec (TOML) for a CSV file: its tasks, a default model, the file's absolute path.
fn spec_for_file(file: &Path) -> Result<String, CliError> {
    if crate::data::idx::is_idx_images(file) {
        let mut idx = idx_spec(file);
        let d = crate::data::idx::load(&idx, 0)?;
        idx.images = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
        let targets = crate::data::idx::targets(&idx);
        let mut spec =
            ExperimentSpec::for_tasks(&d.name, crate::experiment::DatasetSpec::Idx(idx), &targets);
        spec.model.shared = vec![
            crate::experiment::LayerSpec::Linear { out: 128 },
            crate::experiment::LayerSpec::Relu,
            crate::experiment::LayerSpec::Linear { out: 64 },
            crate::experiment::LayerSpec::Relu,
        ];
        spec.training.epochs = 10;
        spec.training.batch_size = 64;
        let toml = spec
            .to_toml()
            .map_err(|e| CliError::Other(format!("cannot write the spec: {e}")))?;
        return Ok(format!(
            "# Made by `mtl-studio init --data {}` ({} images).\n# Set pairs = true under [dataset] for MultiMNIST (tasks left, right).\n\n{toml}",
            file.display(),
            d.rows
        ));
    }
    let inspection = crate::data::inspect::inspect_file(file, &std::collections::BTreeMap::new())?;
    let mut spec = inspection.spec();
    if let crate::experiment::DatasetSpec::Csv(c) = &mut spec.dataset {
        c.path = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned());
    }
    let toml = spec
        .to_toml()
        .map_err(|e| CliError::Other(format!("cannot write the spec: {e}")))?;
    let mut head = format!(
        "# Made by `mtl-studio init --data {}`.\n# Train it: mtl-studio train THIS.toml --out run\n",
        file.display()
    );
    for note in &inspection.notes {
        head.push_str(&format!("# note: {note}\n"));
    }
    head.push_str("# model.input = 0 takes the input size from the file.\n\n");
    Ok(head + &toml)
}

/// `inspect` for an IDX images file: its size and each task's class counts.
fn inspect_idx(file: &Path) -> Result<(), CliError> {
    let d = crate::data::idx::load(&idx_spec(file), 0)?;
    stdout_line(&format!(
        "{}: {} images of {} pixels (IDX)",
        file.display(),
        d.rows,
        d.features()
    ))?;
    for t in &d.targets {
        let counts: Vec<String> = t
            .classes
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let n = t.values.iter().filter(|v| **v as usize == c).count();
                format!("{name}: {n}")
            })
            .collect();
        stdout_line(&format!("  {} ({}): {}", t.name, t.kind, counts.join(", ")))?;
    }
    Ok(())
}

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
    if !(lookahead.is_finite() && lookahead > 0.0) {
        return Err(CliError::Other(format!(
            "--lookahead {lookahead} must be > 0"
        )));
    }
    create_out_dir(out)?;
    let mut session = Session::new(spec)?;
    let names: Vec<String> = session
        .data()
        .tasks
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let k = names.len();
    let (mut tag, mut cos) = (vec![0.0; k * k], vec![0.0; k * k]);
    let (mut tag_n, mut cos_n) = (vec![0usize; k * k], vec![0usize; k * k]);
    for step in 0..steps {
        if step % every.max(1) == 0 {
            let (t, c) = session.measure_affinity(lookahead)?;
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
        session.train_step()?;
    }
    let mean = |s: &[f64], n: &[usize]| -> Vec<f64> {
        s.iter()
            .zip(n)
            .map(|(v, c)| if *c > 0 { v / *c as f64 } else { f64::NAN })
            .collect()
    };
    let (tag, cos) = (mean(&tag, &tag_n), mean(&cos, &cos_n));
    write_affinity_csv(&out.join("affinity.csv"), &names, &tag, &cos)?;
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

/// An IDX images file with its labels found by name.
fn idx_spec(file: &Path) -> crate::experiment::IdxSpec {
    crate::experiment::IdxSpec {
        images: file.to_owned(),
        labels: None,
        pairs: false,
        limit: 0,
    }
}

/// The first sentence of a paragraph.
fn first_sentence(text: &str) -> &str {
    text.find(". ").map_or(text, |i| &text[..=i])
}

/// Prints every strategy as a Markdown table.
fn print_strategies() -> Result<(), CliError> {
    stdout_line("| key | strategy | family | what it does | paper | hyperparameters (default) |")?;
    stdout_line("| --- | --- | --- | --- | --- | --- |")?;
    for m in crate::weighting::methods() {
        let hypers: Vec<String> = m
            .hypers
            .iter()
            .map(|h| format!("`{}`={}", h.name, h.default))
            .collect();
        let family = match m.family {
            crate::weighting::Family::Loss => "loss",
            crate::weighting::Family::Gradient => "gradient",
        };
        stdout_line(&format!(
            "| `{}` | {} | {family} | {} | {} | {} |",
            m.key,
            m.label,
            first_sentence(m.about),
            m.paper,
            if hypers.is_empty() {
                "–".to_owned()
            } else {
                hypers.join(", ")
            }
        ))?;
    }
    Ok(())
}

/// What a headless training run produced.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// Task names.
    pub tasks: Vec<String>,
    /// Every evaluation row written to `metrics.csv`.
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

/// Epoch-0 rows on how each task's labels fall into the splits: `labelled` (rows with the
/// label), `label_share` (their share of the split, so of an average batch) and, for
/// classification, `class_count` per class (`task` = `<task>|<class>`).
fn balance_rows(session: &Session) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for b in session.data().balance() {
        for (split, s) in [("train", &b.train), ("val", &b.val)] {
            if s.rows == 0 {
                continue;
            }
            let row = |task: String, metric: &'static str, value: f64| MetricRow {
                epoch: 0,
                step: 0,
                split,
                task,
                loss: f64::NAN,
                metric,
                value,
            };
            rows.push(row(b.task.clone(), "labelled", s.labelled as f64));
            rows.push(row(b.task.clone(), "label_share", s.share()));
            for (name, n) in b.class_names.iter().zip(&s.classes) {
                rows.push(row(format!("{}|{name}", b.task), "class_count", *n as f64));
            }
        }
    }
    rows
}

/// Evaluates both splits into `rows`; returns the per-task losses the stop rules watch
/// (validation, or training without validation rows).
fn eval_rows(session: &Session, rows: &mut Vec<MetricRow>) -> Result<Vec<f64>, TrainError> {
    let mut monitored = Vec::new();
    for split in [Split::Train, Split::Val] {
        if split == Split::Val && session.data().val.rows == 0 {
            continue;
        }
        let evals = session.evaluate(split)?;
        monitored = evals.iter().map(|e| e.loss).collect();
        for (eval, task) in evals.iter().zip(&session.data().tasks) {
            rows.extend(export::task_eval_rows(
                session.epochs_done(),
                session.step_count(),
                split.name(),
                &task.name,
                task.kind,
                eval,
            ));
        }
    }
    Ok(monitored)
}

/// Trains `spec` and writes `model.safetensors`, `spec.json` and the run's report
/// (`report.md`, `metrics.csv`, `loss.png`, `loss.svg`, `spec.toml`; see [`export::report`]) into
/// `out`. A diverging loss is an error (the files of the epochs before it are still written).
pub fn train_to_dir(
    spec: &ExperimentSpec,
    out: &Path,
    progress: bool,
) -> Result<TrainReport, CliError> {
    create_out_dir(out)?;
    let mut session = Session::new(spec)?;
    let total = session.steps_per_epoch() * spec.training.epochs as u64;
    let bar = if progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps ({per_sec}, eta {eta}) {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut rows = balance_rows(&session);
    eval_rows(&session, &mut rows)?;
    let started = Instant::now();
    let mut failure = None;
    let mut dynamics = EpochDynamics::new(session.data().tasks.len());
    let mut stopped = None;
    while session.epochs_done() < spec.training.epochs {
        match session.train_step() {
            Ok(outcome) => {
                bar.inc(1);
                dynamics.add(&outcome);
                if outcome.epoch_finished {
                    let monitored = eval_rows(&session, &mut rows)?;
                    let msg: Vec<String> = session
                        .data()
                        .tasks
                        .iter()
                        .zip(&monitored)
                        .map(|(t, l)| format!("{} {l:.4}", t.name))
                        .collect();
                    bar.set_message(format!(
                        "epoch {} {}: {}",
                        session.epochs_done(),
                        rows.last().map_or("", |r| r.split),
                        msg.join(", ")
                    ));
                    dynamics.flush(&session, &mut rows);
                    if let Some(s) = session.check_stop(&monitored)? {
                        rows.push(MetricRow {
                            epoch: s.epoch,
                            step: session.step_count(),
                            split: if session.data().val.rows > 0 {
                                "val"
                            } else {
                                "train"
                            },
                            task: spec.training.stop.monitor.clone(),
                            loss: s.best_loss,
                            metric: "best_epoch",
                            value: s.best_epoch as f64,
                        });
                        stopped = Some(s);
                        break;
                    }
                }
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let tasks: Vec<String> = session
        .data()
        .tasks
        .iter()
        .map(|t| t.name.clone())
        .collect();
    let notes = export::report::ReportNotes {
        seconds: Some(seconds),
        threads: Some(session.threads()),
        stopped: stopped.as_ref().map(|s| s.message.clone()),
        extra: failure
            .as_ref()
            .map(|e| vec![format!("**Training failed:** {e}")])
            .unwrap_or_default(),
    };
    export::report::write_report(out, spec, &rows, &notes)?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    session.save(&out.join("model.safetensors"))?;
    Ok(TrainReport {
        tasks,
        rows,
        out: out.to_owned(),
        seconds,
        stopped,
    })
}

/// Per-epoch means of the task weights and gradient cosines, for `metrics.csv`.
struct EpochDynamics {
    weights: Vec<f64>,
    sampled: Vec<usize>,
    steps: usize,
    cosines: Vec<f64>,
    measured: usize,
    arch: Option<crate::model::ArchState>,
}

impl EpochDynamics {
    fn new(k: usize) -> Self {
        Self {
            weights: vec![0.0; k],
            sampled: vec![0; k],
            steps: 0,
            cosines: vec![0.0; k * k],
            measured: 0,
            arch: None,
        }
    }

    fn add(&mut self, outcome: &crate::trainer::StepOutcome) {
        for (sum, w) in self.weights.iter_mut().zip(&outcome.task_weights) {
            *sum += f64::from(*w);
        }
        self.steps += 1;
        if let Some(c) = outcome.sampled_task.and_then(|k| self.sampled.get_mut(k)) {
            *c += 1;
        }
        if let Some(c) = &outcome.grad_cosines {
            for (sum, v) in self.cosines.iter_mut().zip(c) {
                *sum += v;
            }
            self.measured += 1;
        }
        if outcome.arch.is_some() {
            self.arch.clone_from(&outcome.arch);
        }
    }

    /// Rows `epoch,step,train,<task>,,weight,<mean>` and `…,<a>|<b>,,grad_cosine,<mean>`;
    /// and, as last measured, `<a>|<b>` rows `tower_distance` and `omega` (a ≤ b),
    /// `unit<u>:<a>|<b>` rows `stitch` (α of row a, column b), `<gate>|expert<e>` rows `gate`.
    fn flush(&mut self, session: &Session, rows: &mut Vec<MetricRow>) {
        let tasks = &session.data().tasks;
        let row = |task: String, metric: &'static str, value: f64| MetricRow {
            epoch: session.epochs_done(),
            step: session.step_count(),
            split: "train",
            task,
            loss: f64::NAN,
            metric,
            value,
        };
        for (t, sum) in tasks.iter().zip(&self.weights) {
            rows.push(row(
                t.name.clone(),
                "weight",
                sum / self.steps.max(1) as f64,
            ));
        }
        if !session.spec().training.sampling.is_joint() {
            for (t, n) in tasks.iter().zip(&self.sampled) {
                rows.push(row(
                    t.name.clone(),
                    "sampled_share",
                    *n as f64 / self.steps.max(1) as f64,
                ));
            }
        }
        if self.measured > 0 {
            let k = tasks.len();
            for a in 0..k {
                for b in a + 1..k {
                    let name = format!("{}|{}", tasks[a].name, tasks[b].name);
                    rows.push(row(
                        name,
                        "grad_cosine",
                        self.cosines[a * k + b] / self.measured as f64,
                    ));
                }
            }
        }
        if let Some(arch) = &self.arch {
            let k = tasks.len();
            let pair = |a: usize, b: usize| format!("{}|{}", tasks[a].name, tasks[b].name);
            for (metric, matrix, diagonal) in [
                ("tower_distance", arch.tower_distances.as_ref(), false),
                ("omega", arch.omega.as_ref(), true),
            ] {
                let Some(m) = matrix else { continue };
                for a in 0..k {
                    for b in a + usize::from(!diagonal)..k {
                        rows.push(row(pair(a, b), metric, m[a * k + b]));
                    }
                }
            }
            for (u, alpha) in arch.stitch.iter().enumerate() {
                for a in 0..k {
                    for b in 0..k {
                        rows.push(row(
                            format!("unit{u}:{}", pair(a, b)),
                            "stitch",
                            alpha[a * k + b],
                        ));
                    }
                }
            }
            let one_gate = arch.gates.len() == 1;
            for (g, weights) in arch.gates.iter().enumerate() {
                let gate = if one_gate {
                    "all".to_owned()
                } else {
                    tasks[g].name.clone()
                };
                for (e, w) in weights.iter().enumerate() {
                    rows.push(row(format!("{gate}|expert{e}"), "gate", *w));
                }
            }
        }
        *self = Self::new(tasks.len());
    }
}

fn predict(model: &Path, input: &Path, output: Option<&Path>) -> Result<(), CliError> {
    let file = export::load_model(model)?;
    let session = Session::from_model_file(&file)?;
    let encoding = file
        .input_encoding
        .clone()
        .unwrap_or_else(|| crate::data::csv::InputEncoding::numeric(&file.feature_names));
    let x = crate::data::csv::read_encoded(input, &encoding)?;
    let rows = x.len() / file.feature_names.len().max(1);
    let preds = session.predict(&x)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = Vec::new();
    for task in &file.tasks {
        match task.kind {
            TaskKind::Regression => header.push(task.name.clone()),
            TaskKind::Binary => {
                header.push(task.name.clone());
                header.push(format!("{}_p", task.name));
            }
            TaskKind::Multiclass => {
                header.push(task.name.clone());
                header.extend(task.classes.iter().map(|c| format!("{}_p_{c}", task.name)));
            }
            TaskKind::Segmentation => {
                header.extend((0..task.out_dim).map(|i| format!("{}_p_{i}", task.name)));
            }
            TaskKind::SemanticSegmentation => {
                let pixels = task.out_dim / task.classes.len().max(1);
                header.extend((0..pixels).map(|i| format!("{}_{i}", task.name)));
            }
        }
    }
    let csv_err = |e: csv::Error| CliError::Other(format!("cannot write predictions: {e}"));
    w.write_record(&header).map_err(csv_err)?;
    for r in 0..rows {
        let mut record = Vec::new();
        for (task, p) in file.tasks.iter().zip(&preds) {
            let row = &p[r * task.out_dim..(r + 1) * task.out_dim];
            match task.kind {
                TaskKind::Regression => record.push(row[0].to_string()),
                TaskKind::Binary => {
                    let class = usize::from(row[0] >= 0.5);
                    record.push(
                        task.classes
                            .get(class)
                            .cloned()
                            .unwrap_or_else(|| class.to_string()),
                    );
                    record.push(row[0].to_string());
                }
                TaskKind::Multiclass => {
                    let class = crate::metrics::argmax(row);
                    record.push(
                        task.classes
                            .get(class)
                            .cloned()
                            .unwrap_or_else(|| class.to_string()),
                    );
                    record.extend(row.iter().map(ToString::to_string));
                }
                TaskKind::Segmentation => record.extend(row.iter().map(ToString::to_string)),
                TaskKind::SemanticSegmentation => {
                    // The most probable class of each pixel.
                    let classes = task.classes.len().max(1);
                    let pixels = task.out_dim / classes;
                    record.extend((0..pixels).map(|p| {
                        let best = (0..classes)
                            .max_by(|a, b| row[a * pixels + p].total_cmp(&row[b * pixels + p]))
                            .unwrap_or(0);
                        task.classes.get(best).cloned().unwrap_or_default()
                    }));
                }
            }
        }
        w.write_record(&record).map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| CliError::Other(format!("cannot write predictions: {e}")))?;
    match output {
        Some(path) => Ok(export::write_atomic(path, &bytes)?),
        None => std::io::stdout()
            .lock()
            .write_all(&bytes)
            .map_err(|e| CliError::Other(format!("cannot write to standard output: {e}"))),
    }
}
