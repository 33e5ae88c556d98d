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
        for path in self.paths_mut() {
            absolute(path, dir);
        }
    }

    /// The file paths the settings read (data, labels), to check or rewrite them.
    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        Vec::new()
    }
}

impl DatasetSpec {
    /// The file paths these settings read, as written.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut spec = self.clone();
        spec.source_mut()
            .paths_mut()
            .into_iter()
            .map(|p| p.clone())
            .collect()
    }

    /// The paths, as written in a spec file, that read outside that file's folder: absolute
    /// paths, and relative ones whose `..` climb above the folder. Reading them needs the
    /// user's word in the app (the file could point at any file of the machine).
    pub fn paths_outside(&self) -> Vec<PathBuf> {
        self.paths()
            .into_iter()
            .filter(|p| p.has_root() || p.is_absolute() || climbs_out(p))
            .collect()
    }

    /// Makes every file path relative to `dir` (where the file that holds these settings is
    /// written), so an exported spec names its data relative to itself, not by the absolute
    /// path of this machine. Paths in memory are absolute or relative to the working folder
    /// (a loaded spec's relative paths are resolved against its folder when it is read).
    pub fn relative_to(&mut self, dir: &Path) {
        let Ok(dir) = std::path::absolute(dir) else {
            return;
        };
        for path in self.source_mut().paths_mut() {
            if let Ok(full) = std::path::absolute(&*path) {
                *path = relative_path(&full, &dir);
            }
        }
    }
}

/// Whether the relative path `p` climbs above its starting folder (`../x`, `a/../../x`).
fn climbs_out(p: &Path) -> bool {
    use std::path::Component;
    let mut depth = 0i64;
    for c in p.components() {
        match c {
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return true;
                }
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    false
}

/// `path` (absolute) as seen from the absolute folder `dir`: `../data/x.csv`. Paths on other
/// roots (another drive) stay as they are.
pub fn relative_path(path: &Path, dir: &Path) -> PathBuf {
    use std::path::Component;
    fn norm(p: &Path) -> Vec<Component<'_>> {
        let mut out: Vec<Component<'_>> = Vec::new();
        for c in p.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }
    let (to, from) = (norm(path), norm(dir));
    if to.first() != from.first() {
        return path.to_owned();
    }
    let common = to.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..from.len() {
        out.push("..");
    }
    for c in &to[common..] {
        out.push(c.as_os_str());
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
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
