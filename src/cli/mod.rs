//! The headless command line: `mtl-studio init | validate | train | predict | share | bench`.
//! Without a subcommand the binary opens the GUI.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::experiment::{ExperimentSpec, TaskKind};
use crate::export;
pub use crate::export::report::loss_curves;
use crate::trainer::{RunEvent, Session};

mod bench;
mod data;
mod predict;
mod share;
mod strategies;
mod sweep;
mod train;

pub use train::train_with_bar;

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
    /// Open the desktop app, optionally on a spec or experiment file, a share code, or
    /// importing a CSV file.
    Gui {
        /// A spec or experiment file (TOML) to open instead of the last session's (an
        /// experiment file also restores the window), or a data file to load: a `.csv` /
        /// `.csv.gz` file (the import dialog opens on it) or an IDX images file.
        spec: Option<PathBuf>,
        /// A share code to open (see `share`): its experiment and window settings.
        #[arg(long, value_name = "CODE", conflicts_with = "spec")]
        code: Option<String>,
    },
    /// Print the share code of a spec or experiment file: one short line that `share
    /// --decode`, `gui --code` and the app's File › Open share code… turn back into the same
    /// experiment.
    Share {
        /// The spec or experiment file (TOML, or a spec as JSON).
        #[arg(required_unless_present = "decode")]
        file: Option<PathBuf>,
        /// Instead, print the experiment this share code carries, as an experiment file
        /// (TOML); `-` reads the code from standard input.
        #[arg(long, value_name = "CODE", conflicts_with = "file")]
        decode: Option<String>,
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
        /// Override the number of epochs (with --resume: the total, at least the epochs
        /// done). 0 trains nothing and writes the initial weights (the seed's, --init's or
        /// the checkpoint's) with their evaluation.
        #[arg(long)]
        epochs: Option<usize>,
        /// Override the seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Continue the run of this checkpoint (a `checkpoint.safetensors`, or a run folder
        /// holding one) exactly where it ended. The spec must be the checkpoint's but for
        /// the epochs, which may grow; OUT's metrics.csv holds the whole run.
        #[arg(long, value_name = "CKPT", conflicts_with = "init")]
        resume: Option<PathBuf>,
        /// Start from these weights (a `model.safetensors`, or a folder holding one)
        /// instead of the seed's; every tensor's name and shape must match the spec's model.
        #[arg(long, value_name = "WEIGHTS")]
        init: Option<PathBuf>,
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
        /// CSV with a header naming the model's input columns (other columns are ignored;
        /// `id:` columns are copied to the output, first).
        input: PathBuf,
        /// Write here instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Refuse a categorical level the model was not trained on (exit code 1, naming
        /// the line, column and value) instead of warning and encoding it as all zeros.
        #[arg(long)]
        strict: bool,
    },
    /// Export what an experiment uses, for use outside the app.
    #[command(subcommand)]
    Export(ExportCommand),
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
    /// Train the reference model of `shared/bench` (or a spec) and print samples/s as JSON
    /// lines.
    Bench(BenchArgs),
}

/// The options of `mtl-studio bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Thread counts to measure, e.g. `1,2`.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    pub threads: Vec<usize>,
    /// Epochs per measurement (default 10 for the reference model; a spec's own).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Internal: measure in this process (the parent sets the thread count).
    #[arg(long, hide = true)]
    pub child: bool,
    /// Instead of throughput, measure the step cost of these strategies relative to EW
    /// (e.g. `mgda,pcgrad`), in this process.
    #[arg(long, value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Task counts for `--strategies`.
    #[arg(long, default_value = "2,5", value_delimiter = ',')]
    pub tasks: Vec<usize>,
    /// Instead of the reference model, measure this experiment as `train` runs it (its
    /// epochs unless `--epochs` is given): samples/s of the training loop and of whole
    /// epochs with their evaluation, per thread count.
    #[arg(long)]
    pub spec: Option<PathBuf>,
}

/// What `mtl-studio export` writes.
#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// The experiment's dataset (generated, shipped or read from a file) as MTL-CSV v1 with
    /// its `split` column (train / val, as training splits the rows with the spec's seed).
    Data {
        /// The spec or experiment file.
        spec: PathBuf,
        /// The CSV file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// A run's network as a PyTorch module (`model.py`, whose state_dict loads the run's
    /// `model.safetensors` strictly) and a script that trains the same experiment in
    /// PyTorch, under `torchrun` too (`train.py`), with the experiment's data (`data.csv`).
    Torch {
        /// A run folder or a `model.safetensors` file.
        run: PathBuf,
        /// The folder to write into (created if needed).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// A trained model as an ONNX graph (opset 17): input `features` (float32 `[N, F]`, the
    /// encoded features before standardisation), one output per task named after it, holding
    /// what `predict` computes (values in the target's units, probabilities).
    Onnx {
        /// A `model.safetensors` file, or a run folder holding one.
        model: PathBuf,
        /// The `.onnx` file to write.
        #[arg(short, long)]
        output: PathBuf,
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
    /// Also sweep preferences: train EPO once per ray of the grid (the grid point as the
    /// preference over the tasks), tracing the front by asking for each place on it.
    #[arg(long)]
    pub preferences: bool,
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
        Command::Share { file, decode } => match (file, decode) {
            (_, Some(code)) => share::decode(&code),
            (Some(file), None) => share::encode(&file),
            (None, None) => Err(CliError::Other(
                "give a spec or experiment file, or --decode CODE".to_owned(),
            )),
        },
        Command::Init { output, data } => data::init(output.as_deref(), data.as_deref()),
        Command::Inspect { file } if crate::data::idx::is_idx_images(&file) => {
            data::inspect_idx(&file)
        }
        Command::Inspect { file } => {
            let inspection =
                crate::data::inspect::inspect_file(&file, &std::collections::BTreeMap::new())?;
            stdout_line(inspection.report().trim_end())
        }
        Command::Validate { spec } => {
            let spec = ExperimentSpec::load(&spec)?;
            // What train checks before it builds anything: the data read, the strategy's
            // ranges, the memory limits.
            Session::prepare(&spec)?;
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
            resume,
            init,
            quiet,
        } => {
            let mut spec = ExperimentSpec::load(&spec)?;
            // 0 epochs keeps the spec's count (a valid spec) and trains none of it.
            if let Some(e) = epochs.filter(|e| *e > 0) {
                spec.training.epochs = e;
            }
            if let Some(s) = seed {
                spec.seed = s;
            }
            let start = crate::headless::TrainStart {
                resume,
                init,
                no_epochs: epochs == Some(0),
            };
            let report = train_with_bar(&spec, &out, &start, !quiet)?;
            stdout_line(&report.summary())
        }
        Command::Predict {
            model,
            input,
            output,
            strict,
        } => predict::predict(&model, &input, output.as_deref(), strict),
        Command::Export(ExportCommand::Data { spec, output }) => data::export_data(&spec, &output),
        Command::Export(ExportCommand::Torch { run, output }) => data::export_torch(&run, &output),
        Command::Export(ExportCommand::Onnx { model, output }) => {
            predict::export_onnx(&model, &output)
        }
        Command::Strategies => strategies::print_strategies(),
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
            let report = sweep::sweep(args)?;
            stdout_line(report.trim_end())
        }
        Command::Aggregate {
            cases,
            output,
            seed,
        } => {
            let text = crate::fsguard::read_regular_to_string(&cases).map_err(|e| {
                CliError::Other(format!("cannot read cases: {e}: {}", cases.display()))
            })?;
            let result = crate::weighting::aggregate::run_file(&text, seed)
                .map_err(|e| CliError::Other(format!("{e}: {}", cases.display())))?;
            let json = serde_json::to_string_pretty(&result).unwrap_or_default();
            match output {
                Some(path) => export::write_atomic(&path, json.as_bytes())?,
                None => stdout_line(&json)?,
            }
            aggregate_outcome(&result, &cases)
        }
        Command::Bench(args) => bench::bench(&args),
    }
}

/// `aggregate`'s exit: an error when there were cases and every one failed (the results,
/// with each case's error, are written all the same).
fn aggregate_outcome(result: &serde_json::Value, cases: &Path) -> Result<(), CliError> {
    let results = result["results"].as_array().map_or(&[][..], Vec::as_slice);
    let failed: Vec<&serde_json::Value> = results
        .iter()
        .filter(|r| r.get("error").is_some())
        .collect();
    match failed.first() {
        Some(first) if failed.len() == results.len() => Err(CliError::Other(format!(
            "every one of the {} cases failed (the first, '{}': {}): {}",
            results.len(),
            first["id"].as_str().unwrap_or("?"),
            first["error"].as_str().unwrap_or("?"),
            cases.display()
        ))),
        _ => Ok(()),
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
