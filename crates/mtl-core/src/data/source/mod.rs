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

use crate::task::TaskKind;

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

/// Label names and kinds as owned pairs.
fn owned(labels: &[(&str, TaskKind)]) -> Vec<(String, TaskKind)> {
    labels.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect()
}

/// One standard normal draw.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
}
