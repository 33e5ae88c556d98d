//! # MTL Studio
//!
//! A desktop studio for multi-task learning: compose a shared trunk and one head per task,
//! load a dataset, choose how the task losses are weighted, train on a background thread while
//! every task's loss curve moves live, and export the trained weights.
//!
//! The crate has a core that knows nothing of the GUI ([`experiment`], [`data`], [`model`],
//! [`optim`], [`metrics`], [`trainer`], [`export`]), a thin GUI over it ([`app`], [`ui`]) and a
//! headless command line over the same core ([`cli`]).

pub mod app;
pub mod bench;
pub mod cli;
pub mod data;
pub mod experiment;
pub mod export;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod palette;
pub mod rng;
pub mod sweep;
pub mod toy;
pub mod trainer;
pub mod ui;
pub mod weighting;
