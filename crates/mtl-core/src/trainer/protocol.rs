//! What the UI and the trainer thread say to each other. Plain data only: tensors never
//! cross threads. Every event carries the run id, so the UI can drop events of an old run.

use std::path::PathBuf;

use crate::experiment::{ExperimentSpec, TaskKind};

/// UI → trainer.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainerCommand {
    /// Stop stepping until `Resume` or `Step`.
    Pause,
    /// Continue stepping (also after the planned epochs are done: trains further).
    Resume,
    /// Run `n` steps, then pause.
    Step(u64),
    /// New task weights, used from the next step on.
    SetTaskWeights(Vec<f32>),
    /// New learning rate, used from the next step on.
    SetLearningRate(f64),
    /// New penalty strength λ, from the next step on.
    SetPenalty(Penalty, f64),
    /// Write the weights (and the spec) to this `.safetensors` file.
    SaveWeights(PathBuf),
    /// Write the model as an ONNX graph to this `.onnx` file.
    ExportOnnx(PathBuf),
    /// Replace the weights with those of this file (same architecture).
    LoadWeights(PathBuf),
    /// Write a checkpoint of the run to this file: `train --resume` or the app's Load
    /// weights… continue the run from it exactly.
    SaveCheckpoint(PathBuf),
    /// Train at this pace from now on.
    SetPace(Pace),
    /// Run one step that explains itself (a [`TrainerEvent::Explained`] follows), then pause.
    ExplainStep,
}

/// How fast a run steps: as fast as it can, or at most so many optimizer steps a second (so a
/// class can watch the curves, boundaries and weights unfold).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pace {
    /// No waiting between steps.
    #[default]
    Full,
    /// At most this many steps per second.
    StepsPerSec(f64),
}

impl Pace {
    /// Slowest pace offered: a step every half second.
    pub const SLOWEST: f64 = 2.0;
    /// Fastest limited pace; above it the step itself is the limit on most models.
    pub const FASTEST: f64 = 2000.0;
    /// The pace a new user and the lessons start at: slow enough that a curve takes tens of
    /// seconds to settle and can be narrated (the default experiment's first epochs take about
    /// 25 s); full speed is one click away.
    pub const TEACHING: Self = Self::StepsPerSec(60.0);

    /// The shortest time between two steps (`None` at full speed). A rate outside
    /// [`Self::SLOWEST`]..=[`Self::FASTEST`] (or not a number) is taken at the nearest bound.
    pub fn interval(self) -> Option<std::time::Duration> {
        match self {
            Self::Full => None,
            Self::StepsPerSec(r) => {
                let r = if r.is_nan() {
                    Self::FASTEST
                } else {
                    r.clamp(Self::SLOWEST, Self::FASTEST)
                };
                std::time::Duration::try_from_secs_f64(1.0 / r).ok()
            }
        }
    }
}

/// Which penalty [`TrainerCommand::SetPenalty`] sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Penalty {
    /// Soft sharing's λ.
    Soft,
    /// Relationship learning's λ₂.
    Relationship,
}

/// What state the run is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// Stepping.
    Running,
    /// Waiting for `Resume` or `Step`.
    Paused,
    /// The planned epochs are done; the model can still be saved or trained further.
    Finished,
    /// Stopped by the user; the model can still be saved.
    Stopped,
}

/// Facts about a run that do not change while it runs.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    /// The spec the run trains.
    pub spec: ExperimentSpec,
    /// Task names, in order.
    pub task_names: Vec<String>,
    /// Task kinds, in order.
    pub task_kinds: Vec<TaskKind>,
    /// Optimizer steps in one epoch.
    pub steps_per_epoch: u64,
    /// Training rows.
    pub train_rows: usize,
    /// Validation rows.
    pub val_rows: usize,
    /// Parameters in the trunk.
    pub shared_params: usize,
    /// Parameters in each head.
    pub head_params: Vec<usize>,
    /// Per task: labelled rows and classes in each split.
    pub balance: Vec<crate::data::TaskBalance>,
    /// Threads a step may use (batches are cut into up to this many shards).
    pub threads: usize,
}

/// The model's predictions over the plane of a two-input dataset, for the live decision
/// boundaries. The trainer keeps only the latest one (see `TrainerHandle::boundary`).
#[derive(Clone, Debug, PartialEq)]
pub struct Boundary {
    /// Run id.
    pub run_id: u64,
    /// Steps done when it was taken.
    pub step: u64,
    /// The first input's range (raw units): `[lo, hi]`.
    pub x: [f32; 2],
    /// The second input's range.
    pub y: [f32; 2],
    /// Samples per side.
    pub n: usize,
    /// Per task, `n × n` values, row 0 at the bottom (`y` low): the regression value, the
    /// binary probability of class 1, or for multiclass the most likely class.
    pub values: Vec<Vec<f32>>,
    /// Per task, the probability of the shown class (classification; 1 for regression).
    pub confidence: Vec<Vec<f32>>,
}

/// A summary of the steps since the previous `Step` event.
#[derive(Clone, Debug, PartialEq)]
pub struct StepMetrics {
    /// Run id.
    pub run_id: u64,
    /// Steps done so far.
    pub step: u64,
    /// Epochs done so far, fractional.
    pub epoch: f64,
    /// Mean loss per task since the previous event (NaN where a task had no labels).
    pub task_losses: Vec<f32>,
    /// Mean weighted total loss since the previous event.
    pub total_loss: f32,
    /// Task weights in use.
    pub task_weights: Vec<f32>,
    /// Learning rate in use.
    pub lr: f64,
    /// Training throughput over the last interval.
    pub samples_per_sec: f64,
    /// Seconds spent stepping so far (pauses excluded).
    pub elapsed_secs: f64,
    /// Norms of the per-task shared gradients, as last measured.
    pub grad_norms: Option<Vec<f64>>,
    /// K × K cosines between task gradients (row-major), summed over the measurements since
    /// the previous event, with how many measured each cell (a non-finite cosine, e.g. of a
    /// zero gradient, is not counted).
    pub grad_cosines: Option<(Vec<f64>, Vec<usize>)>,
    /// The architecture's state (tower distances, Ω, cross-stitch units, gates), as last
    /// measured.
    pub arch: Option<crate::model::ArchState>,
    /// TAG lookahead affinity (K × K, row onto column), summed over the measurements since
    /// the previous event, with how many measured each cell (a task without a label in the
    /// batch is not measured); when `training.affinity_every` is set.
    pub affinity: Option<(Vec<f64>, Vec<usize>)>,
    /// Threads the latest step trained on (its shards; 1 when the batch was not cut).
    pub shards: usize,
}

/// Which rows a metric was computed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    /// Training rows.
    Train,
    /// Validation rows.
    Val,
}

impl Split {
    /// Name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
        }
    }
}

pub use crate::metrics::TaskEval;

/// An evaluation over a whole split (at the start and after every epoch).
#[derive(Clone, Debug, PartialEq)]
pub struct EvalMetrics {
    /// Run id.
    pub run_id: u64,
    /// Epochs done.
    pub epoch: usize,
    /// Steps done.
    pub step: u64,
    /// The split.
    pub split: Split,
    /// One entry per task.
    pub tasks: Vec<TaskEval>,
}

/// Why a run stopped before its last epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Stopped {
    /// The epoch after which the rule fired.
    pub epoch: usize,
    /// The best epoch (its weights are back when `restored`).
    pub best_epoch: usize,
    /// The monitored loss of the best epoch.
    pub best_loss: f64,
    /// Whether the best epoch's weights were put back.
    pub restored: bool,
    /// What happened, for people.
    pub message: String,
}

/// Trainer → UI.
#[derive(Clone, Debug, PartialEq)]
pub enum TrainerEvent {
    /// The run is set up.
    Started {
        /// Run id.
        run_id: u64,
        /// About the run.
        info: Box<RunInfo>,
    },
    /// Training progress.
    Step(Box<StepMetrics>),
    /// Per-task losses and metrics on a split.
    Eval(EvalMetrics),
    /// The run changed state.
    State {
        /// Run id.
        run_id: u64,
        /// New state.
        state: RunState,
    },
    /// A task's loss became NaN or infinite; the run is paused and the weights are those
    /// before the step.
    Diverged {
        /// Run id.
        run_id: u64,
        /// The step that produced it (1-based).
        step: u64,
        /// The task.
        task: String,
        /// The value.
        value: f32,
    },
    /// Weights were written.
    Saved {
        /// Run id.
        run_id: u64,
        /// The weights file.
        path: PathBuf,
    },
    /// The model was written as ONNX.
    ExportedOnnx {
        /// Run id.
        run_id: u64,
        /// The ONNX file.
        path: PathBuf,
    },
    /// Weights were loaded.
    Loaded {
        /// Run id.
        run_id: u64,
        /// The weights file.
        path: PathBuf,
    },
    /// A command failed but the run goes on (e.g. a file could not be written).
    Warning {
        /// Run id.
        run_id: u64,
        /// What went wrong.
        message: String,
    },
    /// A stop rule fired (early stopping or a target loss); the run is finished.
    Stopped {
        /// Run id.
        run_id: u64,
        /// When and why.
        stopped: Stopped,
    },
    /// New rows of the run's `metrics.csv` (the same rows `mtl-studio train` writes).
    Rows {
        /// Run id.
        run_id: u64,
        /// The rows, in file order.
        rows: Vec<crate::export::MetricRow>,
    },
    /// What one step did, asked for with [`TrainerCommand::ExplainStep`].
    Explained {
        /// Run id.
        run_id: u64,
        /// The step's numbers.
        explanation: Box<crate::trainer::StepExplanation>,
    },
    /// The run failed; it is over.
    Failed {
        /// Run id.
        run_id: u64,
        /// What went wrong.
        message: String,
    },
}

impl TrainerEvent {
    /// The run this event belongs to.
    pub fn run_id(&self) -> u64 {
        match self {
            Self::Step(m) => m.run_id,
            Self::Eval(m) => m.run_id,
            Self::Started { run_id, .. }
            | Self::State { run_id, .. }
            | Self::Diverged { run_id, .. }
            | Self::Saved { run_id, .. }
            | Self::ExportedOnnx { run_id, .. }
            | Self::Loaded { run_id, .. }
            | Self::Warning { run_id, .. }
            | Self::Stopped { run_id, .. }
            | Self::Rows { run_id, .. }
            | Self::Explained { run_id, .. }
            | Self::Failed { run_id, .. } => *run_id,
        }
    }
}
