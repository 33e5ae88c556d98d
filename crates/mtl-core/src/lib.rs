//! # mtl-core
//!
//! The library under MTL Studio: everything below the GUI and the command line. It knows
//! nothing of windows; the desktop app and `mtl-studio` are thin layers over it.
//!
//! - [`experiment`] holds the experiment as data ([`experiment::ExperimentSpec`]) and its
//!   validation;
//! - [`data`] the dataset sources, preparation and splits;
//! - [`model`] the layers, architectures and losses;
//! - [`weighting`] the loss-weighting and gradient-combination strategies;
//! - [`optim`] the optimizers;
//! - [`trainer`] the training session, the run loop and the trainer thread;
//! - [`metrics`], [`export`], [`headless`], [`sweep`], [`toy`] and [`bench`](mod@bench) what runs produce
//!   and how they are compared.
//!
//! Training a spec headless takes a few lines: a [`trainer::Session`] holds the data, model
//! and optimizer; a [`trainer::Driver`] runs it through its plan and tells observers what
//! happens (here a [`trainer::Recorder`], which keeps the rows of `metrics.csv`).
//!
//! ```
//! use mtl_core::experiment::{DatasetSpec, ExperimentSpec};
//! use mtl_core::trainer::{Driver, End, Recorder, RunPlan, Session};
//!
//! # fn main() -> Result<(), mtl_core::trainer::TrainError> {
//! let mut spec = ExperimentSpec::default(); // two related MMoE regression tasks
//! spec.training.epochs = 1;
//! if let DatasetSpec::Mmoe(data) = &mut spec.dataset {
//!     data.samples = 500;
//! }
//! let mut driver = Driver::new(Session::new(&spec)?, RunPlan::of(&spec));
//! let mut recorder = Recorder::default();
//! let end = driver.run(&mut recorder, &std::sync::atomic::AtomicBool::new(false))?;
//! assert_eq!(end, End::Planned);
//! let r2 = recorder.rows.iter().filter(|r| r.metric == "r2" && r.split == "val");
//! assert_eq!(r2.count(), 4, "two tasks, before and after the epoch");
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

pub mod bench;
pub mod data;
pub mod error;
pub mod experiment;
pub mod export;
pub mod fsguard;
pub mod headless;
pub mod limits;
pub mod linalg;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod palette;
pub mod rng;
pub mod rundir;
pub mod sweep;
pub mod task;
pub mod toy;
pub mod trainer;
pub mod weighting;

pub use error::Error;
