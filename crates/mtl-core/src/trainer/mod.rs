//! Training: one step ([`run`]'s `Session`), the run loop around the steps ([`drive`]), the
//! thread that runs it for the app ([`worker`]) and the messages between that thread and the UI
//! ([`protocol`]).

pub mod checkpoint;
pub mod drive;
pub mod live;
pub mod parallel;
pub mod protocol;
pub mod run;
pub mod stream;
pub mod worker;

pub use checkpoint::{CHECKPOINT_FILE, Checkpoint};
pub use drive::{
    AFFINITY_LOOKAHEAD, Driver, End, Evaluation, Observer, Recorder, RunEvent, RunPlan, StepReport,
};
pub use live::{LiveEdit, apply_live, live_edit};
pub use protocol::Stopped;
pub use protocol::{
    Boundary, EvalMetrics, Pace, Penalty, RunInfo, RunState, Split, StepMetrics, TaskEval,
    TrainerCommand, TrainerEvent,
};
pub use run::{Session, StepExplanation, StepOutcome, TrainError};
pub use stream::MetricsStream;
pub use worker::{RunOptions, ScriptedTrainer, TrainerHandle, Waker, no_waker};
