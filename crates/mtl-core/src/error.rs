//! The error of the headless runs (train, affinity, sweep, bench): one line for the user.

use crate::export::ExportError;
use crate::trainer::TrainError;

/// A headless run failed: one line for the user.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Training or loading failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A file could not be written.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<crate::experiment::SpecError> for Error {
    fn from(e: crate::experiment::SpecError) -> Self {
        Self::Train(e.into())
    }
}

impl From<crate::export::onnx::OnnxError> for Error {
    fn from(e: crate::export::onnx::OnnxError) -> Self {
        Self::Train(e.into())
    }
}

impl From<crate::data::DataError> for Error {
    fn from(e: crate::data::DataError) -> Self {
        Self::Train(e.into())
    }
}
