//! # MTL Studio
//!
//! A desktop studio for multi-task learning: compose a shared trunk and one head per task,
//! load a dataset, choose how the task losses are weighted, train on a background thread while
//! every task's loss curve moves live, and export the trained weights.
//!
//! The core that knows nothing of the GUI is its own crate, `mtl-core` (re-exported here as
//! [`experiment`], [`data`], [`model`], [`weighting`], [`trainer`], [`export`], …); this crate
//! is the thin GUI over it ([`app`], [`ui`]) and the headless command line ([`cli`]).

pub mod app;
pub mod cli;
pub mod handout;
pub mod ui;

pub use mtl_core::{
    bench, data, experiment, export, fsguard, headless, limits, linalg, metrics, model, optim,
    palette, rng, sweep, toy, trainer, weighting,
};
