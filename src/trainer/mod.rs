//! Training: the step loop ([`run`]), the thread that runs it ([`worker`]) and the messages
//! between that thread and the UI ([`protocol`]).

pub mod parallel;
pub mod protocol;
pub mod run;
pub mod worker;

pub use protocol::{
    Boundary, EvalMetrics, Penalty, RunInfo, RunState, Split, StepMetrics, TaskEval,
    TrainerCommand, TrainerEvent,
};
pub use run::{Session, StepOutcome, Stopped, TrainError};
pub use worker::{RunOptions, TrainerHandle, Waker, no_waker};
