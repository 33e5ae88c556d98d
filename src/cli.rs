//! The headless command line: `mtl-studio init | validate | train | predict | bench`.
//! Without a subcommand the binary opens the GUI.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::experiment::{ExperimentSpec, TaskKind};
use crate::export;
pub use crate::export::report::loss_curves;
use crate::trainer::{RunEvent, Session};

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
pub use mtl_core::Error as CliError;
pub use mtl_core::headless::{TrainReport, affinity_to_dir, create_out_dir};

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
            let report = train_with_bar(&spec, &out, !quiet)?;
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
            let report = sweep(args)?;
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
        measure_threads(threads, epochs)?
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

/// Prints every strategy as a Markdown table, from each strategy's info.
fn print_strategies() -> Result<(), CliError> {
    use crate::weighting::{Family, RepGrad};
    stdout_line(
        "| key | strategy | family | what it does | paper | hyperparameters (default) | rep_grad |",
    )?;
    stdout_line("| --- | --- | --- | --- | --- | --- | --- |")?;
    for m in crate::weighting::methods() {
        let hypers: Vec<String> = m
            .hypers
            .iter()
            .map(|h| format!("`{}`={}", h.name, h.default))
            .chain(
                m.choices
                    .iter()
                    .map(|c| format!("`{}`={} ({})", c.name, c.default, c.allowed.join(" / "))),
            )
            .collect();
        let family = match m.family {
            Family::Loss => "loss",
            Family::Gradient => "gradient",
        };
        let rep_grad = match m.rep_grad {
            RepGrad::No => "–",
            RepGrad::Allowed => "allowed",
            RepGrad::Required => "required",
        };
        stdout_line(&format!(
            "| `{}` | {} | {family} | {} | {} | {} | {rep_grad} |",
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

/// A progress bar (hidden unless `shown`) with this template.
fn bar(shown: bool, template: &str) -> ProgressBar {
    let bar = if shown {
        ProgressBar::new(0)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `mtl-studio train`: [`crate::headless::train_to_dir`] with a progress bar.
pub fn train_with_bar(
    spec: &ExperimentSpec,
    out: &Path,
    shown: bool,
) -> Result<TrainReport, CliError> {
    let bar = bar(
        shown,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps ({per_sec}, eta {eta}) {msg}",
    );
    let mut progress = |session: &Session, event: &RunEvent<'_>| match event {
        RunEvent::Started => {
            bar.set_length(session.steps_per_epoch() * session.spec().training.epochs as u64);
        }
        RunEvent::Stepped { .. } => bar.inc(1),
        RunEvent::EpochEnd { monitored } => {
            let split = if session.data().val.rows > 0 {
                "val"
            } else {
                "train"
            };
            let losses: Vec<String> = session
                .data()
                .tasks
                .iter()
                .zip(monitored.iter())
                .map(|(t, l)| format!("{} {l:.4}", t.name))
                .collect();
            bar.set_message(format!(
                "epoch {} {split}: {}",
                session.epochs_done(),
                losses.join(", ")
            ));
        }
        _ => {}
    };
    let report = crate::headless::train_to_dir(spec, out, &mut progress);
    bar.finish_and_clear();
    report
}

/// `mtl-studio sweep`: loads the spec, applies the overrides, runs the sweep.
fn sweep(args: SweepArgs) -> Result<String, CliError> {
    let mut spec = ExperimentSpec::load(&args.spec)?;
    if let Some(e) = args.epochs {
        spec.training.epochs = e;
    }
    let seeds = if args.seeds.is_empty() {
        vec![spec.seed]
    } else {
        args.seeds
    };
    let options = crate::sweep::SweepOptions {
        grid: args.grid,
        strategies: args.strategies,
        seeds,
        baselines: args.baselines,
        threads: args.threads.unwrap_or_else(crate::sweep::default_threads),
    };
    let bar = bar(
        !args.quiet,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} runs (eta {eta}) {msg}",
    );
    crate::sweep::sweep_to_dir(&spec, &options, &args.out, &|p| match p {
        crate::sweep::SweepProgress::Start { runs } => bar.set_length(runs as u64),
        crate::sweep::SweepProgress::Done { label, result } => {
            bar.inc(1);
            match &result.error {
                Some(e) => bar.println(format!("{label}: failed: {e}")),
                None => bar.set_message(format!("{label} done")),
            }
        }
        crate::sweep::SweepProgress::Finish => bar.finish_and_clear(),
    })
}

/// Runs [`crate::bench::measure_here`] once per thread count, each in a child process.
fn measure_threads(threads: &[usize], epochs: usize) -> Result<Vec<String>, CliError> {
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
