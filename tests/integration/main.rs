//! The integration tests, in one test binary: each binary links the whole app and the core
//! crate, so one binary builds and links once instead of once per file.

mod aggregate;
mod architectures;
mod cli;
mod common;
mod fronts;
mod hostile;
mod malformed;
mod onnx;
mod resume;
mod share;
mod strategies;
mod torch_export;
mod trainer;
mod ui;
mod ui_charts;
mod ui_presentation;
mod ui_runs;
