//! The dataset sources, one file each: a source's settings (its part of the spec), the labels
//! it offers, its input size, its loading and its validation problems.
//!
//! [`DatasetSpec`] is the spec's `[dataset]` table: one variant per source, told apart by
//! `source = "..."`.

pub mod csv;
pub mod idx;
pub mod mmoe;
pub mod multi_digits;
pub mod playground;
pub mod shapes;
pub mod shipped;

use std::path::{Path, PathBuf};

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, StandardNormal};
use serde::{Deserialize, Serialize};

pub use csv::{CsvColumnRole, CsvSpec};
pub use idx::IdxSpec;
pub use mmoe::MmoeSpec;
pub use multi_digits::MultiDigitsSpec;
pub use playground::PlaygroundSpec;
pub use shapes::ShapesSpec;
pub use shipped::{Shipped, ShippedSpec};

use super::{DataError, Dataset};
use crate::task::{TaskKind, TaskSpec};

/// Largest width a layer may have (keeps a typo like `out = 1000000` from eating all memory);
/// also the largest input dimension of the MMoE data.
pub const MAX_LAYER_WIDTH: usize = 16_384;

/// Where the data of an experiment come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum DatasetSpec {
    /// The synthetic regression tasks of Ma et al. (KDD 2018) with a task-correlation knob.
    Mmoe(MmoeSpec),
    /// TensorFlow-Playground-style 2-D points with several labels each.
    Playground(PlaygroundSpec),
    /// Shapes-32: 32 × 32 grey images of one circle, square or triangle.
    Shapes(ShapesSpec),
    /// A CSV file with a header row; task targets are named columns, all others are inputs.
    Csv(CsvSpec),
    /// A real dataset shipped inside the app (Digits, Penguins, Adult, the small classics).
    Shipped(ShippedSpec),
    /// MultiDigits: pairs of Digits images overlaid on an 11 × 11 canvas; tasks left, right.
    MultiDigits(MultiDigitsSpec),
    /// MNIST-style IDX image files (MNIST-10k, Fashion-MNIST), optionally as MultiMNIST pairs.
    Idx(IdxSpec),
}

impl DatasetSpec {
    /// The source these settings describe: ask it for labels, sizes, data and problems
    /// instead of matching on the variant.
    pub fn source(&self) -> &dyn Source {
        match self {
            Self::Mmoe(s) => s,
            Self::Playground(s) => s,
            Self::Shapes(s) => s,
            Self::Csv(s) => s,
            Self::Shipped(s) => s,
            Self::MultiDigits(s) => s,
            Self::Idx(s) => s,
        }
    }

    /// The source, to change it (e.g. [`Source::resolve_paths`]).
    pub fn source_mut(&mut self) -> &mut dyn Source {
        match self {
            Self::Mmoe(s) => s,
            Self::Playground(s) => s,
            Self::Shapes(s) => s,
            Self::Csv(s) => s,
            Self::Shipped(s) => s,
            Self::MultiDigits(s) => s,
            Self::Idx(s) => s,
        }
    }
}

/// What every dataset source answers. Get one from a spec with [`DatasetSpec::source`]; each
/// file of this folder implements it for its settings struct.
pub trait Source {
    /// A short human name of the data, e.g. `Shapes-32` or `CSV data/penguins.csv`.
    fn label(&self) -> String;

    /// The label columns (name and kind) the data will have, when known without reading a
    /// file (`None` for CSV files, whose header names them).
    fn targets(&self) -> Option<Vec<(String, TaskKind)>>;

    /// The number of input features the settings fix; `None` when it comes from the file
    /// (then `model.input = 0` means "from the file").
    fn input_size(&self) -> Option<usize> {
        None
    }

    /// The inputs as an image, `[channels, height, width]`, for image data.
    fn image_shape(&self) -> Option<[usize; 3]> {
        None
    }

    /// The number of rows generated data will have; `None` for files.
    fn rows(&self) -> Option<usize> {
        None
    }

    /// The settings for a quick look at the data: generated data keep only the first rows a
    /// preview needs (the generators draw rows in order); files are read whole.
    fn preview(&self) -> DatasetSpec;

    /// Loads (or generates) the data. `seed` fixes generated data; `tasks` name the target
    /// columns of a plain CSV file.
    fn load(&self, seed: u64, tasks: &[TaskSpec]) -> Result<Dataset, DataError>;

    /// Problems of the settings, each with its field under `dataset.` (e.g. `samples`).
    fn problems(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    /// Makes relative file paths absolute, taking them from `dir` (the spec file's folder).
    fn resolve_paths(&mut self, dir: &Path) {
        let _ = dir;
    }
}

/// Makes `path` absolute by taking a relative one from `dir`.
fn absolute(path: &mut PathBuf, dir: &Path) {
    if path.is_relative() {
        *path = dir.join(&*path);
    }
}

/// Label names and kinds as owned pairs.
fn owned(labels: &[(&str, TaskKind)]) -> Vec<(String, TaskKind)> {
    labels.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect()
}

/// One standard normal draw.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}
