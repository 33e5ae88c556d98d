//! Where the data of an experiment come from: [`DatasetSpec`] and each source's settings.

use super::*;

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

/// IDX image files (see `data::idx`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdxSpec {
    /// The `*-images-idx3-ubyte[.gz]` file; relative paths are taken from the spec's folder.
    pub images: PathBuf,
    /// The labels file; by default the images file's name with `images-idx3` replaced by
    /// `labels-idx1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// Make MultiMNIST pairs (tasks `left`, `right`) instead of single images.
    #[serde(default)]
    pub pairs: bool,
    /// Use only the first `limit` images (0: all).
    #[serde(default)]
    pub limit: usize,
}

/// A dataset shipped inside the app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedSpec {
    /// Which one: `digits`, `penguins`, `adult`, `iris`, `wine`, `breast_cancer`,
    /// `diabetes` or `linnerud`.
    pub name: crate::data::shipped::Shipped,
}

/// Parameters of MultiDigits (see `data::shipped::multi_digits`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiDigitsSpec {
    /// Number of pairs (about a fifth are validation pairs made of held-out digits).
    pub samples: usize,
    /// How far the right digit is shifted right and down, in pixels (0..=3; smaller overlaps
    /// more).
    pub offset: usize,
}

impl Default for MultiDigitsSpec {
    fn default() -> Self {
        Self {
            samples: 9000,
            offset: 3,
        }
    }
}

/// Parameters of the MMoE synthetic data (see `data::builtin::mmoe`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MmoeSpec {
    /// Number of samples generated (train and validation together).
    pub samples: usize,
    /// Input dimension d.
    pub dim: usize,
    /// Number of tasks; tasks come in pairs whose weight vectors have cosine `correlation`.
    pub tasks: usize,
    /// The task-correlation score p in [-1, 1]: cos(w1, w2).
    pub correlation: f64,
    /// Scale c of the weight vectors.
    pub scale: f64,
    /// Number m of sine terms.
    pub sin_terms: usize,
    /// Standard deviation of the label noise.
    pub noise_std: f64,
    /// With 4 or more tasks: the cosine between each later pair's first weight vector and the
    /// first pair's, in [-1, 1] (0: pairs unrelated; negative: pairs conflict).
    pub pair_correlation: f64,
}

impl Default for MmoeSpec {
    fn default() -> Self {
        Self {
            samples: 12_000,
            dim: 16,
            tasks: 2,
            correlation: 0.5,
            scale: 1.0,
            sin_terms: 5,
            noise_std: 0.1,
            pair_correlation: 0.0,
        }
    }
}

/// Parameters of the Playground-style 2-D data (see `data::builtin::playground`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaygroundSpec {
    /// Number of points.
    pub samples: usize,
    /// Label noise in [0, 0.5], as the Playground's slider divided by 100.
    pub noise: f64,
    /// Rotation of the second XOR task, in degrees.
    pub xor_angle_deg: f64,
}

impl Default for PlaygroundSpec {
    fn default() -> Self {
        Self {
            samples: 1_000,
            noise: 0.0,
            xor_angle_deg: 30.0,
        }
    }
}

/// Parameters of the Shapes-32 images (see `data::builtin::shapes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapesSpec {
    /// Number of images.
    pub samples: usize,
    /// Standard deviation of the pixel noise.
    pub noise: f64,
    /// Most shapes per image: 1 is the single-shape recipe; more draws 1..=max_shapes shapes
    /// that do not overlap and adds the `count` and `semantic` labels.
    pub max_shapes: usize,
}

impl Default for ShapesSpec {
    fn default() -> Self {
        Self {
            samples: 4000,
            noise: 0.05,
            max_shapes: 1,
        }
    }
}

/// A CSV file on disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSpec {
    /// Path of the file; relative paths are taken from the spec file's folder.
    pub path: PathBuf,
    /// Roles chosen for columns by name, overriding what the header says (the import
    /// dialog's choices; `init --data` picks the last column of a file without `task:`
    /// columns). Columns not named here keep their header role.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub columns: std::collections::BTreeMap<String, CsvColumnRole>,
}

/// What a CSV column is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvColumnRole {
    /// An input; numeric when every value is a number, otherwise one-hot encoded.
    Input,
    /// An input one-hot encoded even when its values are numbers (integer codes).
    Categorical,
    /// A classification task (binary with two classes).
    Class,
    /// A regression task.
    Regression,
    /// The split column (`train` / `val` / `test`).
    Split,
    /// Carried but not used (ids, notes, leaky columns).
    Ignore,
}

impl CsvColumnRole {
    /// Every role, in the order the import dialog offers them.
    pub const ALL: [Self; 6] = [
        Self::Input,
        Self::Categorical,
        Self::Class,
        Self::Regression,
        Self::Split,
        Self::Ignore,
    ];

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Categorical => "input (categorical)",
            Self::Class => "task: class",
            Self::Regression => "task: regression",
            Self::Split => "split",
            Self::Ignore => "ignored",
        }
    }

    /// Whether the column is a task target.
    pub fn is_task(self) -> bool {
        matches!(self, Self::Class | Self::Regression)
    }
}
