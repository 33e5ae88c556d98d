//! The experiment specification: everything a run needs, as plain data.
//!
//! An [`ExperimentSpec`] is what the GUI edits, what `mtl-studio train` reads from a TOML
//! file, and what an export writes as JSON next to the weights. It is versioned
//! ([`SPEC_VERSION`]) and [`ExperimentSpec::validate`] reports every problem with the place it
//! sits at (for example `model.shared[2]: Linear out=0 must be >= 1`) before any training.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::builtin;

mod arch;

pub use arch::{
    Architecture, Coupling, LinkSpec, MAX_EXPERTS, Plan, RelationshipSpec, Take, block_ends,
};

/// The current version of the spec file format.
pub const SPEC_VERSION: u32 = 1;

/// Largest width a layer may have (keeps a typo like `out = 1000000` from eating all memory).
pub const MAX_LAYER_WIDTH: usize = 16_384;

/// Most channels a convolution may have.
pub const MAX_CHANNELS: usize = 512;

/// A whole experiment: data, tasks, model, weighting, optimizer and training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// File format version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// A short human name for the experiment.
    #[serde(default)]
    pub name: String,
    /// The seed that fixes data, initial weights, batch order and dropout masks.
    pub seed: u64,
    /// Where the data come from.
    pub dataset: DatasetSpec,
    /// The tasks, in order; the order fixes colours, output columns and tensor names.
    pub tasks: Vec<TaskSpec>,
    /// The network: shared trunk and one head per task.
    pub model: ModelSpec,
    /// How the task losses are combined.
    #[serde(default)]
    pub weighting: WeightingSpec,
    /// The optimizer and its learning rate.
    pub optimizer: OptimizerSpec,
    /// Epochs, batch size and the validation split.
    pub training: TrainingSpec,
}

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

/// What a task predicts; it fixes the output size and the loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// A real value (one output).
    Regression,
    /// Two classes (one logit).
    Binary,
    /// Several classes (one logit per class).
    Multiclass,
    /// A binary mask over the pixels of an image (one logit per pixel).
    Segmentation,
    /// One class per pixel of an image (one logit per class and pixel, class-major: all
    /// pixels of class 0, then of class 1, ...).
    SemanticSegmentation,
}

impl TaskKind {
    /// All kinds, in the order the GUI offers them.
    pub const ALL: [Self; 5] = [
        Self::Regression,
        Self::Binary,
        Self::Multiclass,
        Self::Segmentation,
        Self::SemanticSegmentation,
    ];

    /// The loss used when the spec names none.
    pub fn default_loss(self) -> LossKind {
        match self {
            Self::Regression => LossKind::Mse,
            Self::Binary | Self::Segmentation => LossKind::Bce,
            Self::Multiclass | Self::SemanticSegmentation => LossKind::CrossEntropy,
        }
    }

    /// The losses that make sense for this kind.
    pub fn allowed_losses(self) -> &'static [LossKind] {
        match self {
            Self::Regression => &[LossKind::Mse, LossKind::Mae],
            Self::Binary | Self::Segmentation => &[LossKind::Bce],
            Self::Multiclass | Self::SemanticSegmentation => &[LossKind::CrossEntropy],
        }
    }

    /// Name of the per-task metric shown for this kind.
    pub fn metric_name(self) -> &'static str {
        match self {
            Self::Regression => "R²",
            Self::Binary | Self::Multiclass => "accuracy",
            Self::Segmentation => "IoU",
            Self::SemanticSegmentation => "mIoU",
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Regression => "regression",
            Self::Binary => "binary",
            Self::Multiclass => "multiclass",
            Self::Segmentation => "segmentation",
            Self::SemanticSegmentation => "semantic segmentation",
        })
    }
}

/// A task loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Mean squared error.
    Mse,
    /// Mean absolute error.
    Mae,
    /// Binary cross-entropy on a logit.
    Bce,
    /// Softmax cross-entropy on logits.
    CrossEntropy,
}

impl fmt::Display for LossKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Mse => "MSE",
            Self::Mae => "MAE",
            Self::Bce => "BCE with logits",
            Self::CrossEntropy => "cross-entropy",
        })
    }
}

/// One task of the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Unique name; used in tensor names (`heads.<name>.0.weight`), so letters, digits, `_`, `-`.
    pub name: String,
    /// What the task predicts.
    pub kind: TaskKind,
    /// Which label of the dataset this task learns (a built-in label or a CSV column).
    pub target: String,
    /// The loss; the kind's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<LossKind>,
    /// Static weight of this task's loss (used by the `manual` strategy).
    #[serde(default = "one")]
    pub weight: f32,
}

fn is_zero(v: &usize) -> bool {
    *v == 0
}

fn one() -> f32 {
    1.0
}

impl TaskSpec {
    /// The loss this task trains with.
    pub fn loss(&self) -> LossKind {
        self.loss.unwrap_or_else(|| self.kind.default_loss())
    }
}

/// The network: a shared trunk and one head per task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Number of input features; 0 takes it from a CSV file's encoded columns.
    pub input: usize,
    /// The inputs as an image `[channels, height, width]` (channels·height·width = input),
    /// for convolutional layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<[usize; 3]>,
    /// Layers of the shared trunk, applied in order (with other architectures: of each
    /// tower, column or expert).
    pub shared: Vec<LayerSpec>,
    /// How the tasks share `shared`: hard sharing unless set.
    #[serde(default)]
    pub architecture: Architecture,
    /// Multi-task relationship learning over the heads' output layers, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relationship: Option<RelationshipSpec>,
    /// One head per task. Each head's output layer (sized by the task's kind) is added
    /// automatically after its layers.
    pub heads: Vec<HeadSpec>,
}

/// The hidden layers of one task's head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadSpec {
    /// The task this head belongs to.
    pub task: String,
    /// Hidden layers, applied in order after the trunk.
    #[serde(default)]
    pub layers: Vec<LayerSpec>,
    /// Inputs taken from other tasks' heads (concatenated to the representation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<LinkSpec>,
}

/// One layer of the trunk or of a head.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerSpec {
    /// Fully connected layer `y = x Wᵀ + b`, W of shape `[out, in]`.
    Linear {
        /// Output width.
        out: usize,
    },
    /// max(x, 0).
    Relu,
    /// tanh(x).
    Tanh,
    /// 1 / (1 + e⁻ˣ).
    Sigmoid,
    /// Gaussian error linear unit (tanh approximation).
    Gelu,
    /// Zeroes each unit with probability `p` while training (seeded), scales the rest.
    Dropout {
        /// Drop probability in [0, 1).
        p: f32,
    },
    /// Normalises each row to zero mean and unit variance, then scales and shifts (learned).
    LayerNorm {
        /// Added to the variance.
        #[serde(default = "default_ln_eps")]
        eps: f64,
    },
    /// 2-D convolution over an image `[channels, height, width]`, weight
    /// `[out_channels, in_channels, kernel, kernel]` (PyTorch layout).
    Conv2d {
        /// Output channels.
        out_channels: usize,
        /// Square kernel size.
        #[serde(default = "default_kernel")]
        kernel: usize,
        /// Step between kernel positions.
        #[serde(default = "one_usize")]
        stride: usize,
        /// Zero padding on every side.
        #[serde(default = "one_usize")]
        padding: usize,
    },
    /// Maximum over `kernel × kernel` windows with stride `kernel`.
    MaxPool2d {
        /// Window size.
        #[serde(default = "two_usize")]
        kernel: usize,
    },
    /// An image `[c, h, w]` as a vector of c·h·w values (a `linear` after an image flattens
    /// it by itself).
    Flatten,
}

fn default_kernel() -> usize {
    3
}
fn one_usize() -> usize {
    1
}
fn two_usize() -> usize {
    2
}

/// What flows between layers: a vector per row, or an image per row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `[width]`.
    Flat(usize),
    /// `[channels, height, width]`.
    Image(usize, usize, usize),
}

impl Shape {
    /// Number of values per row.
    pub fn size(self) -> usize {
        match self {
            Self::Flat(n) => n,
            Self::Image(c, h, w) => c * h * w,
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Flat(n) => write!(f, "{n}"),
            Self::Image(c, h, w) => write!(f, "{c}×{h}×{w}"),
        }
    }
}

fn default_ln_eps() -> f64 {
    1e-5
}

impl LayerSpec {
    /// The layers the composer offers, with default settings.
    pub fn palette() -> Vec<Self> {
        vec![
            Self::Linear { out: 32 },
            Self::Relu,
            Self::Tanh,
            Self::Sigmoid,
            Self::Gelu,
            Self::Dropout { p: 0.1 },
            Self::LayerNorm { eps: 1e-5 },
            Self::Conv2d {
                out_channels: 8,
                kernel: 3,
                stride: 1,
                padding: 1,
            },
            Self::MaxPool2d { kernel: 2 },
            Self::Flatten,
        ]
    }

    /// Short name, e.g. `Linear`.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Linear { .. } => "Linear",
            Self::Relu => "ReLU",
            Self::Tanh => "Tanh",
            Self::Sigmoid => "Sigmoid",
            Self::Gelu => "GELU",
            Self::Dropout { .. } => "Dropout",
            Self::LayerNorm { .. } => "LayerNorm",
            Self::Conv2d { .. } => "Conv2d",
            Self::MaxPool2d { .. } => "MaxPool2d",
            Self::Flatten => "Flatten",
        }
    }

    /// The shape after this layer, given the shape before it; errors say why the layer cannot
    /// take that input.
    pub fn out_shape(&self, input: Shape) -> Result<Shape, String> {
        match (self, input) {
            (Self::Linear { out }, _) => Ok(Shape::Flat(*out)),
            (Self::Flatten, s) => Ok(Shape::Flat(s.size())),
            (
                Self::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                },
                Shape::Image(_, h, w),
            ) => {
                let side = |n: usize| {
                    (n + 2 * padding)
                        .checked_sub(*kernel)
                        .map(|v| v / stride + 1)
                };
                match (side(h), side(w)) {
                    (Some(oh), Some(ow)) if oh > 0 && ow > 0 => {
                        Ok(Shape::Image(*out_channels, oh, ow))
                    }
                    _ => Err(format!(
                        "a {kernel}×{kernel} kernel with padding {padding} does not fit a {h}×{w} image"
                    )),
                }
            }
            (Self::MaxPool2d { kernel }, Shape::Image(c, h, w)) => {
                if h / kernel == 0 || w / kernel == 0 {
                    Err(format!(
                        "a {kernel}×{kernel} window does not fit a {h}×{w} image"
                    ))
                } else {
                    Ok(Shape::Image(c, h / kernel, w / kernel))
                }
            }
            (Self::Conv2d { .. } | Self::MaxPool2d { .. }, Shape::Flat(n)) => Err(format!(
                "{} needs an image, but its input is a vector of {n} (set model.input_shape, and \
                 keep image layers before any linear or flatten layer)",
                self.kind_name()
            )),
            (Self::LayerNorm { .. }, Shape::Image(..)) => {
                Err("LayerNorm needs a vector input: add a flatten layer before it".to_owned())
            }
            (_, s) => Ok(s),
        }
    }

    /// Width after this layer, given the width before it.
    pub fn out_width(&self, width_in: usize) -> usize {
        match self {
            Self::Linear { out } => *out,
            _ => width_in,
        }
    }

    /// Number of trainable parameters, given the width before the layer.
    pub fn param_count(&self, width_in: usize) -> usize {
        self.params_for(Shape::Flat(width_in))
    }

    /// Number of trainable parameters, given the shape before the layer.
    pub fn params_for(&self, input: Shape) -> usize {
        match (self, input) {
            (Self::Linear { out }, s) => out * s.size() + out,
            (Self::LayerNorm { .. }, s) => 2 * s.size(),
            (
                Self::Conv2d {
                    out_channels,
                    kernel,
                    ..
                },
                Shape::Image(c, ..),
            ) => out_channels * c * kernel * kernel + out_channels,
            _ => 0,
        }
    }

    /// Describes what is wrong with this layer's settings, if anything.
    fn problem(&self) -> Option<String> {
        match self {
            Self::Linear { out } if *out == 0 => Some(format!("Linear out={out} must be >= 1")),
            Self::Linear { out } if *out > MAX_LAYER_WIDTH => Some(format!(
                "Linear out={out} is larger than the limit of {MAX_LAYER_WIDTH}"
            )),
            Self::Dropout { p } if !(0.0..1.0).contains(p) => {
                Some(format!("Dropout p={p} must be in [0, 1)"))
            }
            Self::LayerNorm { eps } if !(eps.is_finite() && *eps > 0.0) => {
                Some(format!("LayerNorm eps={eps} must be > 0"))
            }
            Self::Conv2d {
                out_channels,
                kernel,
                stride,
                ..
            } if *out_channels == 0
                || *out_channels > MAX_CHANNELS
                || *kernel == 0
                || *kernel > 15
                || *stride == 0 =>
            {
                Some(format!(
                    "Conv2d needs 1..={MAX_CHANNELS} out_channels, a kernel in 1..=15 and a \
                     stride >= 1 (got {out_channels}, {kernel}, {stride})"
                ))
            }
            Self::MaxPool2d { kernel } if *kernel == 0 || *kernel > 16 => {
                Some(format!("MaxPool2d kernel={kernel} must be in 1..=16"))
            }
            _ => None,
        }
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Linear { out } => write!(f, "Linear({out})"),
            Self::Dropout { p } => write!(f, "Dropout({p})"),
            Self::Conv2d {
                out_channels,
                kernel,
                ..
            } => write!(f, "Conv2d({out_channels}, {kernel}×{kernel})"),
            Self::MaxPool2d { kernel } => write!(f, "MaxPool2d({kernel})"),
            other => f.write_str(other.kind_name()),
        }
    }
}

/// How the task losses (or their gradients) are combined: a strategy of
/// [`crate::weighting`] with its hyperparameters under their LibMTL names.
///
/// ```toml
/// [weighting]
/// strategy = "cagrad"
/// calpha = 0.5
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightingSpec {
    /// Strategy key (`ew`, `manual`, `uw`, `pcgrad`, `mgda`, …); `equal` means `ew`.
    pub strategy: String,
    /// Take per-task gradients with respect to the shared representation (the trunk's
    /// output) instead of the shared parameters: one backward pass through the trunk instead
    /// of K (LibMTL's `rep_grad`). Only for strategies that produce task weights.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rep_grad: bool,
    /// Hyperparameters by LibMTL name; absent ones take LibMTL's defaults.
    #[serde(flatten)]
    pub params: crate::weighting::Params,
}

impl Default for WeightingSpec {
    fn default() -> Self {
        Self::of("ew")
    }
}

impl WeightingSpec {
    /// Strategy `key` with default hyperparameters.
    pub fn of(key: &str) -> Self {
        Self {
            strategy: key.to_owned(),
            rep_grad: false,
            params: crate::weighting::Params::new(),
        }
    }

    /// The strategy key, with `equal` read as `ew`.
    pub fn key(&self) -> &str {
        match self.strategy.as_str() {
            "equal" => "ew",
            other => other,
        }
    }

    /// True for the manual strategy, whose weights are the tasks' `weight`s.
    pub fn is_manual(&self) -> bool {
        self.key() == "manual"
    }

    /// The task weights shown before the first step: the manual weights, or ones.
    pub fn initial_weights(&self, tasks: &[TaskSpec]) -> Vec<f32> {
        if self.is_manual() {
            tasks.iter().map(|t| t.weight).collect()
        } else {
            vec![1.0; tasks.len()]
        }
    }

    /// Display name.
    pub fn label(&self) -> &'static str {
        crate::weighting::method(self.key()).map_or("unknown strategy", |m| m.label)
    }

    /// Builds the strategy for `tasks` (manual weights come from the tasks).
    pub fn build(
        &self,
        tasks: &[TaskSpec],
    ) -> Result<Box<dyn crate::weighting::Strategy>, crate::weighting::WeightingError> {
        let mut params = self.params.clone();
        if self.is_manual() {
            params.insert(
                "weights".to_owned(),
                serde_json::Value::from(
                    tasks
                        .iter()
                        .map(|t| f64::from(t.weight))
                        .collect::<Vec<_>>(),
                ),
            );
        }
        crate::weighting::build(self.key(), &params, tasks.len())
    }

    fn problems(&self, out: &mut Problems) {
        let Some(method) = crate::weighting::method(self.key()) else {
            out.push(
                "weighting.strategy",
                format!(
                    "'{}' is not a strategy (known: {})",
                    self.strategy,
                    crate::weighting::methods()
                        .map(|m| m.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return;
        };
        const STRING_PARAMS: [&str; 3] = ["order", "mgda_gn", "init_loss_scale"];
        for (name, value) in &self.params {
            let known = method.hypers.iter().any(|h| h.name == name);
            if STRING_PARAMS.contains(&name.as_str()) {
                continue;
            }
            if !known {
                out.push(
                    &format!("weighting.{name}"),
                    format!(
                        "{} has no parameter '{name}' (it has: {})",
                        method.label,
                        if method.hypers.is_empty() {
                            "none".to_owned()
                        } else {
                            method
                                .hypers
                                .iter()
                                .map(|h| h.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                );
            } else if !value.as_f64().is_some_and(f64::is_finite) {
                out.push(
                    &format!("weighting.{name}"),
                    format!("{value} must be a number"),
                );
            }
        }
        if method.key == "graddrop" && !self.rep_grad {
            out.push(
                "weighting.rep_grad",
                "GradDrop works on representation gradients: set rep_grad = true".to_owned(),
            );
        }
        // LibMTL accepts representation gradients only for the strategies whose result is a
        // weighting of the task gradients.
        const REP_GRAD: [&str; 6] = [
            "gradnorm",
            "mgda",
            "imtl",
            "aligned_mtl",
            "excess_mtl",
            "graddrop",
        ];
        if self.rep_grad
            && method.family == crate::weighting::Family::Gradient
            && !REP_GRAD.contains(&method.key)
        {
            out.push(
                "weighting.rep_grad",
                format!(
                    "{} works on parameter gradients only (as in LibMTL); representation gradients suit {}",
                    method.label,
                    REP_GRAD.join(", ")
                ),
            );
        }
        if self.rep_grad && method.family == crate::weighting::Family::Loss {
            out.push(
                "weighting.rep_grad",
                format!("{} uses only the losses; representation gradients would leave the trunk untrained", method.label),
            );
        }
    }
}

/// The optimizer, with its hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with (optionally Nesterov) momentum, as PyTorch's `SGD`.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor in [0, 1).
        #[serde(default)]
        momentum: f64,
        /// Use Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam (Kingma & Ba 2015), weight decay as an L2 term in the gradient.
    Adam {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        #[serde(default = "beta1")]
        beta1: f64,
        /// Second-moment decay.
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator.
        #[serde(default = "adam_eps")]
        eps: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
    /// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.
    #[serde(rename = "adamw")]
    AdamW {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        #[serde(default = "beta1")]
        beta1: f64,
        /// Second-moment decay.
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator.
        #[serde(default = "adam_eps")]
        eps: f64,
        /// Decoupled weight decay.
        #[serde(default = "adamw_decay")]
        weight_decay: f64,
    },
    /// RMSprop (Hinton's lecture 6e), as PyTorch's `RMSprop`.
    Rmsprop {
        /// Learning rate.
        lr: f64,
        /// Smoothing constant of the squared-gradient average.
        #[serde(default = "rms_alpha")]
        alpha: f64,
        /// Added to the denominator.
        #[serde(default = "rms_eps")]
        eps: f64,
        /// Momentum factor in [0, 1).
        #[serde(default)]
        momentum: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_eps() -> f64 {
    1e-8
}
fn adamw_decay() -> f64 {
    0.01
}
fn rms_alpha() -> f64 {
    0.99
}
fn rms_eps() -> f64 {
    1e-8
}

impl OptimizerSpec {
    /// The four optimizers with default settings and learning rate `lr`.
    pub fn defaults_with_lr(lr: f64) -> [Self; 4] {
        [
            Self::Sgd {
                lr,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0,
            },
            Self::Adam {
                lr,
                beta1: beta1(),
                beta2: beta2(),
                eps: adam_eps(),
                weight_decay: 0.0,
            },
            Self::AdamW {
                lr,
                beta1: beta1(),
                beta2: beta2(),
                eps: adam_eps(),
                weight_decay: adamw_decay(),
            },
            Self::Rmsprop {
                lr,
                alpha: rms_alpha(),
                eps: rms_eps(),
                momentum: 0.0,
                weight_decay: 0.0,
            },
        ]
    }

    /// Display name.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "SGD (momentum)",
            Self::Adam { .. } => "Adam",
            Self::AdamW { .. } => "AdamW",
            Self::Rmsprop { .. } => "RMSprop",
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Self::Sgd { lr, .. }
            | Self::Adam { lr, .. }
            | Self::AdamW { lr, .. }
            | Self::Rmsprop { lr, .. } => *lr,
        }
    }

    /// Mutable access to the learning rate.
    pub fn lr_mut(&mut self) -> &mut f64 {
        match self {
            Self::Sgd { lr, .. }
            | Self::Adam { lr, .. }
            | Self::AdamW { lr, .. }
            | Self::Rmsprop { lr, .. } => lr,
        }
    }

    fn problems(&self, out: &mut Problems) {
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            out.push(
                "optimizer.lr",
                format!("learning rate {lr} must be a number > 0"),
            );
        }
        let mut unit = |name: &str, value: f64| {
            if !(0.0..1.0).contains(&value) {
                out.push(
                    &format!("optimizer.{name}"),
                    format!("{value} must be in [0, 1)"),
                );
            }
        };
        match self {
            Self::Sgd { momentum, .. } => unit("momentum", *momentum),
            Self::Adam { beta1, beta2, .. } | Self::AdamW { beta1, beta2, .. } => {
                unit("beta1", *beta1);
                unit("beta2", *beta2);
            }
            Self::Rmsprop {
                alpha, momentum, ..
            } => {
                unit("alpha", *alpha);
                unit("momentum", *momentum);
            }
        }
        let (eps, decay) = match self {
            Self::Sgd { weight_decay, .. } => (None, *weight_decay),
            Self::Adam {
                eps, weight_decay, ..
            }
            | Self::AdamW {
                eps, weight_decay, ..
            }
            | Self::Rmsprop {
                eps, weight_decay, ..
            } => (Some(*eps), *weight_decay),
        };
        if let Some(eps) = eps
            && !(eps.is_finite() && eps > 0.0)
        {
            out.push("optimizer.eps", format!("{eps} must be > 0"));
        }
        if !(decay.is_finite() && decay >= 0.0) {
            out.push("optimizer.weight_decay", format!("{decay} must be >= 0"));
        }
    }
}

/// Epochs, batch size and the validation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingSpec {
    /// Passes over the training rows.
    pub epochs: usize,
    /// Rows per optimizer step (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Share of rows held out for validation, in [0, 0.9].
    pub validation_fraction: f64,
    /// When to stop before `epochs`: a target loss, early stopping.
    #[serde(skip_serializing_if = "StopSpec::is_off")]
    pub stop: StopSpec,
    /// How the rows of a batch are chosen.
    #[serde(skip_serializing_if = "Sampling::is_joint")]
    pub sampling: Sampling,
    /// How a task's training loss is averaged: over the batch's rows that carry its label
    /// (`labelled`, the default) or over all the batch's rows (`batch`, so a task labelled on
    /// few rows contributes in proportion).
    #[serde(skip_serializing_if = "LossNormalisation::is_labelled")]
    pub loss_normalisation: LossNormalisation,
    /// Measure TAG's lookahead task affinity every this many steps while training (0: never);
    /// each measurement costs K + 1 forward and K backward passes.
    #[serde(skip_serializing_if = "is_zero")]
    pub affinity_every: usize,
    /// Per task name, the share of its training labels to keep (seeded; the others are
    /// treated as missing), to study tasks with scarce labels. Validation labels stay.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub keep_labels: std::collections::BTreeMap<String, f64>,
}

/// What a task's training loss is averaged over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossNormalisation {
    /// The batch's rows that carry the task's label.
    #[default]
    Labelled,
    /// All the batch's rows.
    Batch,
}

impl LossNormalisation {
    /// Whether this is the default.
    pub fn is_labelled(&self) -> bool {
        *self == Self::Labelled
    }
}

/// How the rows of each training batch are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sampling {
    /// Every batch is drawn from all training rows (an epoch visits each row once); each task
    /// learns from the rows of the batch that carry its label.
    #[default]
    Joint,
    /// Each step picks a task with equal probability and draws the batch from the rows
    /// labelled for it.
    Uniform,
    /// Each step picks task k with probability nₖ / Σ n (nₖ: its labelled training rows).
    Proportional,
    /// Proportional at the start, moving to uniform by the last epoch: pₖ ∝ nₖ^α with α
    /// falling linearly from 1 to 0 over training.
    Annealed,
}

impl Sampling {
    /// Every schedule, in the order the GUI offers them.
    pub const ALL: [Self; 4] = [
        Self::Joint,
        Self::Uniform,
        Self::Proportional,
        Self::Annealed,
    ];

    /// Whether batches are joint (the default).
    pub fn is_joint(&self) -> bool {
        *self == Self::Joint
    }

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Joint => "joint batches (all rows)",
            Self::Uniform => "per task: uniform",
            Self::Proportional => "per task: proportional to labels",
            Self::Annealed => "per task: annealed (proportional to uniform)",
        }
    }

    /// The probability of each task at `progress` (0 at the start of training, 1 at the end)
    /// given their labelled training rows; `None` for joint batches.
    pub fn probabilities(self, labelled: &[usize], progress: f64) -> Option<Vec<f64>> {
        let alpha = match self {
            Self::Joint => return None,
            Self::Uniform => 0.0,
            Self::Proportional => 1.0,
            Self::Annealed => 1.0 - progress.clamp(0.0, 1.0),
        };
        let raw: Vec<f64> = labelled
            .iter()
            .map(|n| {
                if *n == 0 {
                    0.0
                } else {
                    (*n as f64).powf(alpha)
                }
            })
            .collect();
        let total: f64 = raw.iter().sum();
        Some(if total > 0.0 {
            raw.iter().map(|v| v / total).collect()
        } else {
            vec![1.0 / labelled.len().max(1) as f64; labelled.len()]
        })
    }
}

/// Stop rules, checked after every epoch on the validation loss (the training loss when there
/// is no validation split).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StopSpec {
    /// Which loss: `mean` (of the tasks' losses) or a task's name.
    pub monitor: String,
    /// Stop once the monitored loss is at or below this.
    pub target_loss: Option<f64>,
    /// Early stopping: stop after this many epochs without an improvement of more than
    /// `min_delta` on the best so far (0: off).
    pub patience: usize,
    /// The smallest decrease that counts as an improvement.
    pub min_delta: f64,
    /// When a rule fires, put back the weights of the best epoch.
    pub restore_best: bool,
}

impl Default for StopSpec {
    fn default() -> Self {
        Self {
            monitor: "mean".to_owned(),
            target_loss: None,
            patience: 0,
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

impl StopSpec {
    /// Whether no rule is set (then the run trains all its epochs).
    pub fn is_off(&self) -> bool {
        self.target_loss.is_none() && self.patience == 0
    }
}

impl Default for TrainingSpec {
    fn default() -> Self {
        Self {
            epochs: 40,
            batch_size: 64,
            validation_fraction: 0.2,
            stop: StopSpec::default(),
            sampling: Sampling::Joint,
            loss_normalisation: LossNormalisation::Labelled,
            affinity_every: 0,
            keep_labels: std::collections::BTreeMap::new(),
        }
    }
}

impl Default for ExperimentSpec {
    fn default() -> Self {
        let hidden = |out| vec![LayerSpec::Linear { out }, LayerSpec::Relu];
        let tasks: Vec<TaskSpec> = ["y1", "y2"]
            .iter()
            .map(|name| TaskSpec {
                name: (*name).to_owned(),
                kind: TaskKind::Regression,
                target: (*name).to_owned(),
                loss: None,
                weight: 1.0,
            })
            .collect();
        let mut shared = hidden(64);
        shared.extend(hidden(64));
        Self {
            version: SPEC_VERSION,
            name: "MMoE synthetic, two related tasks".to_owned(),
            seed: 42,
            dataset: DatasetSpec::Mmoe(MmoeSpec::default()),
            model: ModelSpec {
                input: MmoeSpec::default().dim,
                shared,
                heads: tasks
                    .iter()
                    .map(|t| HeadSpec {
                        task: t.name.clone(),
                        layers: hidden(32),
                        links: Vec::new(),
                    })
                    .collect(),
                architecture: Architecture::Hard,
                relationship: None,
                input_shape: None,
            },
            tasks,
            weighting: WeightingSpec::default(),
            optimizer: OptimizerSpec::defaults_with_lr(1e-3)[1].clone(),
            training: TrainingSpec::default(),
        }
    }
}

/// One problem found by [`ExperimentSpec::validate`]: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecProblem {
    /// Place in the spec, e.g. `model.shared[2]` or `tasks[1].name`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems while validating.
#[derive(Default)]
struct Problems(Vec<SpecProblem>);

impl Problems {
    fn push(&mut self, path: &str, message: String) {
        self.0.push(SpecProblem {
            path: path.to_owned(),
            message,
        });
    }
}

/// Why a spec could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read spec: {source}: {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML or JSON did not parse, or has a wrong field.
    #[error("{message}: {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The spec parsed but has problems.
    #[error("{} problem(s) in the spec: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SpecProblem>),
}

impl ExperimentSpec {
    /// Reads a spec from a TOML (or, by extension, JSON) file. Relative CSV paths are resolved
    /// against the file's folder. The spec is validated.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_owned(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut spec = if is_json {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
        .map_err(|message| SpecError::Parse {
            path: path.to_owned(),
            message,
        })?;
        if let Some(dir) = path.parent() {
            let absolute = |p: &mut PathBuf| {
                if p.is_relative() {
                    *p = dir.join(&*p);
                }
            };
            match &mut spec.dataset {
                DatasetSpec::Csv(csv) => absolute(&mut csv.path),
                DatasetSpec::Idx(idx) => {
                    absolute(&mut idx.images);
                    if let Some(l) = &mut idx.labels {
                        absolute(l);
                    }
                }
                _ => {}
            }
        }
        spec.check()?;
        Ok(spec)
    }

    /// Parses TOML text (not validated).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))
    }

    /// Parses JSON text (not validated).
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Writes the spec as TOML text.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }

    /// Writes the spec as pretty JSON text.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Validates, turning problems into an error.
    pub fn check(&self) -> Result<(), SpecError> {
        let problems = self.validate();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid(problems))
        }
    }

    /// Every problem of the spec, each with its place. Empty when the spec can be trained.
    pub fn validate(&self) -> Vec<SpecProblem> {
        let mut out = Problems::default();
        if self.version != SPEC_VERSION {
            out.push(
                "version",
                format!(
                    "version {} is not supported (this build reads version {SPEC_VERSION})",
                    self.version
                ),
            );
        }
        let targets = self.validate_dataset(&mut out);
        self.validate_tasks(targets.as_deref(), &mut out);
        self.validate_model(&mut out);
        self.validate_sharing(&mut out);
        self.optimizer.problems(&mut out);
        self.weighting.problems(&mut out);
        let t = &self.training;
        if t.epochs == 0 {
            out.push("training.epochs", "epochs=0 must be >= 1".to_owned());
        }
        if t.batch_size == 0 {
            out.push(
                "training.batch_size",
                "batch_size=0 must be >= 1".to_owned(),
            );
        }
        if !(0.0..=0.9).contains(&t.validation_fraction) {
            out.push(
                "training.validation_fraction",
                format!("{} must be in [0, 0.9]", t.validation_fraction),
            );
        }
        for (name, share) in &t.keep_labels {
            if !self.tasks.iter().any(|task| task.name == *name) {
                out.push(
                    &format!("training.keep_labels.{name}"),
                    "not a task".to_owned(),
                );
            }
            if !(*share > 0.0 && *share <= 1.0) {
                out.push(
                    &format!("training.keep_labels.{name}"),
                    format!("{share} must be in (0, 1]"),
                );
            }
        }
        let stop = &t.stop;
        if stop.monitor != "mean" && !self.tasks.iter().any(|task| task.name == stop.monitor) {
            out.push(
                "training.stop.monitor",
                format!("'{}' is neither 'mean' nor a task", stop.monitor),
            );
        }
        if !(stop.min_delta.is_finite() && stop.min_delta >= 0.0) {
            out.push(
                "training.stop.min_delta",
                format!("{} must be >= 0", stop.min_delta),
            );
        }
        if stop.target_loss.is_some_and(|l| !l.is_finite()) {
            out.push("training.stop.target_loss", "must be a number".to_owned());
        }
        out.0
    }

    /// Checks the dataset settings; returns the built-in targets when they are known.
    fn validate_dataset(&self, out: &mut Problems) -> Option<Vec<(String, TaskKind)>> {
        match &self.dataset {
            DatasetSpec::Mmoe(m) => {
                if m.samples < 10 {
                    out.push("dataset.samples", format!("{} must be >= 10", m.samples));
                }
                if m.dim == 0 || m.dim > MAX_LAYER_WIDTH {
                    out.push(
                        "dataset.dim",
                        format!("{} must be in 1..={MAX_LAYER_WIDTH}", m.dim),
                    );
                }
                if m.tasks == 0 || m.tasks > m.dim.max(1) {
                    out.push(
                        "dataset.tasks",
                        format!("{} must be in 1..=dim ({})", m.tasks, m.dim),
                    );
                }
                if !(-1.0..=1.0).contains(&m.correlation) {
                    out.push(
                        "dataset.correlation",
                        format!("p={} must be in [-1, 1]", m.correlation),
                    );
                }
                if !(-1.0..=1.0).contains(&m.pair_correlation) {
                    out.push(
                        "dataset.pair_correlation",
                        format!("{} must be in [-1, 1]", m.pair_correlation),
                    );
                }
                if !(m.scale.is_finite() && m.scale > 0.0) {
                    out.push("dataset.scale", format!("c={} must be > 0", m.scale));
                }
                if !(m.noise_std.is_finite() && m.noise_std >= 0.0) {
                    out.push("dataset.noise_std", format!("{} must be >= 0", m.noise_std));
                }
                Some(builtin::mmoe_targets(m))
            }
            DatasetSpec::Playground(p) => {
                if p.samples < 10 {
                    out.push("dataset.samples", format!("{} must be >= 10", p.samples));
                }
                if !(0.0..=0.5).contains(&p.noise) {
                    out.push("dataset.noise", format!("{} must be in [0, 0.5]", p.noise));
                }
                if !p.xor_angle_deg.is_finite() {
                    out.push("dataset.xor_angle_deg", "must be a number".to_owned());
                }
                Some(builtin::playground_targets())
            }
            DatasetSpec::Shapes(sh) => {
                if sh.samples < 10 || sh.samples > 200_000 {
                    out.push(
                        "dataset.samples",
                        format!("{} must be in 10..=200000", sh.samples),
                    );
                }
                if !(0.0..=1.0).contains(&sh.noise) {
                    out.push("dataset.noise", format!("{} must be in [0, 1]", sh.noise));
                }
                if sh.max_shapes == 0 || sh.max_shapes > 3 {
                    out.push(
                        "dataset.max_shapes",
                        format!("{} must be in 1..=3", sh.max_shapes),
                    );
                }
                Some(builtin::shapes_targets(sh))
            }
            DatasetSpec::Csv(c) => {
                if c.path.as_os_str().is_empty() {
                    out.push("dataset.path", "no file given".to_owned());
                }
                None
            }
            DatasetSpec::Shipped(sh) => Some(sh.name.targets()),
            DatasetSpec::Idx(i) => {
                if i.images.as_os_str().is_empty() {
                    out.push("dataset.images", "no file given".to_owned());
                }
                Some(crate::data::idx::targets(i))
            }
            DatasetSpec::MultiDigits(m) => {
                if m.samples < 10 || m.samples > 200_000 {
                    out.push(
                        "dataset.samples",
                        format!("{} must be in 10..=200000", m.samples),
                    );
                }
                if m.offset > 3 {
                    out.push("dataset.offset", format!("{} must be in 0..=3", m.offset));
                }
                Some(crate::data::shipped::multi_digits_targets())
            }
        }
    }

    fn validate_tasks(&self, targets: Option<&[(String, TaskKind)]>, out: &mut Problems) {
        if self.tasks.is_empty() {
            out.push("tasks", "there must be at least one task".to_owned());
        }
        let mut seen = HashSet::new();
        for (i, task) in self.tasks.iter().enumerate() {
            let at = format!("tasks[{i}]");
            if task.name.is_empty()
                || !task
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                out.push(
                    &format!("{at}.name"),
                    format!(
                        "'{}' must be non-empty and use only letters, digits, '_' and '-'",
                        task.name
                    ),
                );
            }
            if !seen.insert(task.name.as_str()) {
                out.push(
                    &format!("{at}.name"),
                    format!("'{}' is used by an earlier task", task.name),
                );
            }
            if !task.kind.allowed_losses().contains(&task.loss()) {
                out.push(
                    &format!("{at}.loss"),
                    format!(
                        "{} does not fit a {} task (use {})",
                        task.loss(),
                        task.kind,
                        task.kind.default_loss()
                    ),
                );
            }
            if !(task.weight.is_finite() && task.weight >= 0.0) {
                out.push(
                    &format!("{at}.weight"),
                    format!("{} must be a number >= 0", task.weight),
                );
            }
            if let Some(targets) = targets {
                match targets.iter().find(|(name, _)| *name == task.target) {
                    None => out.push(
                        &format!("{at}.target"),
                        format!(
                            "'{}' is not a label of this dataset (it has: {})",
                            task.target,
                            targets
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    Some((_, kind)) if *kind != task.kind => out.push(
                        &format!("{at}.kind"),
                        format!("label '{}' is {kind}, not {}", task.target, task.kind),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    fn validate_model(&self, out: &mut Problems) {
        let m = &self.model;
        if m.input == 0
            && !matches!(
                self.dataset,
                DatasetSpec::Csv(_) | DatasetSpec::Shipped(_) | DatasetSpec::Idx(_)
            )
        {
            out.push(
                "model.input",
                "input=0 must be >= 1 (0, meaning \"from the file\", is for CSV and shipped data)"
                    .to_owned(),
            );
        }
        let data_dim = match &self.dataset {
            DatasetSpec::Mmoe(d) => Some(d.dim),
            DatasetSpec::Playground(_) => Some(builtin::PLAYGROUND_DIM),
            DatasetSpec::Shapes(_) => Some(builtin::SHAPES_SIDE * builtin::SHAPES_SIDE),
            DatasetSpec::MultiDigits(_) => Some(
                crate::data::shipped::MULTI_DIGITS_SIDE * crate::data::shipped::MULTI_DIGITS_SIDE,
            ),
            DatasetSpec::Csv(_) | DatasetSpec::Shipped(_) | DatasetSpec::Idx(_) => None,
        };
        if let Some(dim) = data_dim
            && dim != m.input
        {
            out.push(
                "model.input",
                format!("input={} but the dataset has {dim} features", m.input),
            );
        }
        for (i, layer) in m.shared.iter().enumerate() {
            if let Some(msg) = layer.problem() {
                out.push(&format!("model.shared[{i}]"), msg);
            }
        }
        let mut seen = HashSet::new();
        for (h, head) in m.heads.iter().enumerate() {
            if !self.tasks.iter().any(|t| t.name == head.task) {
                out.push(
                    &format!("model.heads[{h}].task"),
                    format!("'{}' is not one of the tasks", head.task),
                );
            }
            if !seen.insert(head.task.as_str()) {
                out.push(
                    &format!("model.heads[{h}].task"),
                    format!("task '{}' already has a head", head.task),
                );
            }
            for (i, layer) in head.layers.iter().enumerate() {
                if let Some(msg) = layer.problem() {
                    out.push(&format!("model.heads[{h}].layers[{i}]"), msg);
                }
            }
        }
        for task in &self.tasks {
            if !m.heads.iter().any(|h| h.task == task.name) {
                out.push("model.heads", format!("task '{}' has no head", task.name));
            }
        }
    }

    /// A convolutional experiment on Shapes-32: a conv trunk shared by a shape classifier, an
    /// area regressor and a mask segmenter.
    pub fn shapes_example() -> Self {
        let conv = |out_channels| LayerSpec::Conv2d {
            out_channels,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let side = builtin::SHAPES_SIDE;
        let tasks: Vec<TaskSpec> = [
            ("shape", TaskKind::Multiclass),
            ("area", TaskKind::Regression),
            ("mask", TaskKind::Segmentation),
        ]
        .iter()
        .map(|(name, kind)| TaskSpec {
            name: (*name).to_owned(),
            kind: *kind,
            target: (*name).to_owned(),
            loss: None,
            weight: 1.0,
        })
        .collect();
        let mut spec = Self {
            name: "Shapes-32: class, area and mask from one conv trunk".to_owned(),
            dataset: DatasetSpec::Shapes(ShapesSpec::default()),
            tasks,
            ..Self::default()
        };
        spec.model.input = side * side;
        spec.model.input_shape = Some([1, side, side]);
        spec.model.shared = vec![
            conv(8),
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { kernel: 2 },
            conv(16),
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { kernel: 2 },
            LayerSpec::Flatten,
            LayerSpec::Linear { out: 128 },
            LayerSpec::Relu,
        ];
        spec.model.heads = Vec::new();
        spec.sync_heads();
        // The mask head decodes 1024 pixels: a wider hidden layer.
        if let Some(head) = spec.model.heads.iter_mut().find(|h| h.task == "mask") {
            head.layers = vec![LayerSpec::Linear { out: 256 }, LayerSpec::Relu];
        }
        spec.training = TrainingSpec {
            epochs: 8,
            batch_size: 32,
            validation_fraction: 0.2,
            ..TrainingSpec::default()
        };
        spec
    }

    /// A ready experiment on a file-like dataset (CSV, shipped, MultiDigits) with the given
    /// tasks: a hard-shared MLP trunk (64, 32) with a small head per task, Adam 1e-3, equal
    /// weights, `model.input = 0` (taken from the file) unless the input size is fixed.
    pub fn for_tasks(name: &str, dataset: DatasetSpec, targets: &[(String, TaskKind)]) -> Self {
        let hidden = |out| vec![LayerSpec::Linear { out }, LayerSpec::Relu];
        let tasks: Vec<TaskSpec> = targets
            .iter()
            .map(|(target, kind)| TaskSpec {
                name: task_name_from(target),
                kind: *kind,
                target: target.clone(),
                loss: None,
                weight: 1.0,
            })
            .collect();
        let mut spec = Self {
            name: name.to_owned(),
            dataset,
            tasks,
            ..Self::default()
        };
        spec.model.input = match &spec.dataset {
            DatasetSpec::MultiDigits(_) => {
                crate::data::shipped::MULTI_DIGITS_SIDE * crate::data::shipped::MULTI_DIGITS_SIDE
            }
            _ => 0,
        };
        spec.model.shared = [hidden(64), hidden(32)].concat();
        spec.model.heads = spec
            .tasks
            .iter()
            .map(|t| HeadSpec {
                task: t.name.clone(),
                layers: hidden(16),
                links: Vec::new(),
            })
            .collect();
        spec.training = TrainingSpec {
            epochs: 30,
            batch_size: 32,
            validation_fraction: 0.2,
            ..TrainingSpec::default()
        };
        spec
    }

    /// A ready experiment on a shipped dataset with all of its tasks.
    pub fn shipped(which: crate::data::shipped::Shipped) -> Self {
        let mut spec = Self::for_tasks(
            which.title(),
            DatasetSpec::Shipped(ShippedSpec { name: which }),
            &which.targets(),
        );
        if which == crate::data::shipped::Shipped::Adult {
            // 32,561 training rows: fewer, larger steps.
            spec.training.epochs = 8;
            spec.training.batch_size = 256;
        }
        spec
    }

    /// A ready MultiDigits experiment (left and right digit).
    pub fn multi_digits() -> Self {
        let mut spec = Self::for_tasks(
            "MultiDigits: left and right digit",
            DatasetSpec::MultiDigits(MultiDigitsSpec::default()),
            &crate::data::shipped::multi_digits_targets(),
        );
        spec.model.shared = vec![
            LayerSpec::Linear { out: 128 },
            LayerSpec::Relu,
            LayerSpec::Linear { out: 64 },
            LayerSpec::Relu,
        ];
        spec.training.epochs = 20;
        spec
    }

    /// The head of task `name`, if it has one.
    pub fn head(&self, name: &str) -> Option<&HeadSpec> {
        self.model.heads.iter().find(|h| h.task == name)
    }

    /// The experiment with only the tasks in `names` (their heads, the same trunk); settings
    /// that name other tasks are dropped and the stop rules watch the mean.
    pub fn restricted_to(&self, names: &[String]) -> Self {
        let mut spec = self.clone();
        spec.tasks.retain(|t| names.contains(&t.name));
        spec.training.keep_labels.retain(|t, _| names.contains(t));
        spec.training.stop.monitor = "mean".to_owned();
        if spec.tasks.len() < 2 {
            // Relationship learning needs two tasks to relate.
            spec.model.relationship = None;
        }
        spec.sync_heads();
        spec
    }

    /// Keeps `model.heads` in step with `tasks`: adds an empty head for a new task, drops
    /// heads of removed tasks, and orders heads as the tasks are ordered. Training settings
    /// that name a task that is gone (`keep_labels`, the stop rules' monitor) are dropped.
    pub fn sync_heads(&mut self) {
        // Settings that name tasks follow the task list.
        let names: Vec<String> = self.tasks.iter().map(|t| t.name.clone()).collect();
        self.training.keep_labels.retain(|t, _| names.contains(t));
        if self.training.stop.monitor != "mean" && !names.contains(&self.training.stop.monitor) {
            self.training.stop.monitor = "mean".to_owned();
        }
        let mut heads = Vec::with_capacity(self.tasks.len());
        for task in &self.tasks {
            let head = self
                .model
                .heads
                .iter()
                .find(|h| h.task == task.name)
                .cloned()
                .unwrap_or_else(|| HeadSpec {
                    task: task.name.clone(),
                    layers: vec![LayerSpec::Linear { out: 32 }, LayerSpec::Relu],
                    links: Vec::new(),
                });
            heads.push(head);
        }
        for head in &mut heads {
            head.links
                .retain(|l| self.tasks.iter().any(|t| t.name == l.from));
        }
        self.model.heads = heads;
    }
}

/// The commented default spec printed by `mtl-studio init`. A test checks that it parses to
/// [`ExperimentSpec::default`].
pub const DEFAULT_SPEC_TOML: &str = r#"# MTL Studio experiment spec (format version 1).
# Train it with:  mtl-studio train this-file.toml --out runs/first
version = 1
name = "MMoE synthetic, two related tasks"
# One seed fixes the data, the initial weights, the batch order and dropout masks.
seed = 42

# Where the data come from. source = "mmoe" | "playground" | "csv".
#   mmoe:       synthetic regression tasks of Ma et al. (KDD 2018); labels y1, y2, ...
#   playground: 2-D points (x1, x2) with labels circle, xor, xor_rotated, gauss, spiral
#               (binary) and plane, gauss_bumps (regression); keys samples, noise, xor_angle_deg
#   csv:        path = "data.csv" (or .csv.gz), MTL-CSV v1: task:NAME columns are targets,
#               a split column fixes the split, other columns are inputs (text: one-hot);
#               set model.input = 0 to take the input size from the file
[dataset]
source = "mmoe"
samples = 12000
dim = 16            # input dimension d
tasks = 2           # tasks come in pairs with cos(w1, w2) = correlation
correlation = 0.5   # the task-correlation knob p in [-1, 1]
scale = 1.0         # c
sin_terms = 5       # m
noise_std = 0.1

# One [[tasks]] block per task. kind = "regression" | "binary" | "multiclass".
# loss defaults to the kind's (mse | bce | cross_entropy; regression may use mae).
# weight is used by the "manual" weighting strategy.
[[tasks]]
name = "y1"
kind = "regression"
target = "y1"
weight = 1.0

[[tasks]]
name = "y2"
kind = "regression"
target = "y2"
weight = 1.0

# The network. Layers: linear (out), relu, tanh, sigmoid, gelu, dropout (p), layer_norm (eps).
# Each head gets an output layer sized by its task's kind after the layers listed here.
[model]
input = 16
shared = [
    { type = "linear", out = 64 },
    { type = "relu" },
    { type = "linear", out = 64 },
    { type = "relu" },
]

[[model.heads]]
task = "y1"
layers = [{ type = "linear", out = 32 }, { type = "relu" }]

[[model.heads]]
task = "y2"
layers = [{ type = "linear", out = 32 }, { type = "relu" }]

# strategy = "ew" (every weight 1) | "manual" (tasks[].weight) | "uw" | "dwa" | "gls" | "rlw" |
# "stch" | "famo" | "gradnorm" | "mgda" | "pcgrad" | "gradvac" | "imtl" | "cagrad" | "nash_mtl" |
# "aligned_mtl" | "db_mtl" | "fairgrad" | "excess_mtl" | "moco" | "graddrop" | "upgrad",
# with hyperparameters under their LibMTL names, e.g. calpha = 0.5 for cagrad.
[weighting]
strategy = "ew"

# kind = "sgd" (lr, momentum, nesterov, weight_decay) | "adam" | "adamw" (lr, beta1, beta2,
# eps, weight_decay) | "rmsprop" (lr, alpha, eps, momentum, weight_decay)
[optimizer]
kind = "adam"
lr = 0.001
beta1 = 0.9
beta2 = 0.999
eps = 1e-8
weight_decay = 0.0

[training]
epochs = 40
batch_size = 64
validation_fraction = 0.2
"#;

/// A valid task name made from a column name (letters, digits, `_` and `-`; at most 24).
pub fn task_name_from(column: &str) -> String {
    let name: String = column
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(24)
        .collect();
    if name.is_empty() {
        "task".to_owned()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(spec: &ExperimentSpec) -> Vec<String> {
        spec.validate().into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn default_template_parses_to_default_spec() {
        let spec = ExperimentSpec::from_toml(DEFAULT_SPEC_TOML).expect("template parses");
        assert_eq!(
            spec,
            ExperimentSpec::default(),
            "template and Default agree"
        );
        assert!(
            spec.validate().is_empty(),
            "default spec is valid: {:?}",
            spec.validate()
        );
    }

    #[test]
    fn toml_and_json_round_trip() {
        let spec = ExperimentSpec::default();
        let toml = spec.to_toml().expect("serialises");
        assert_eq!(
            ExperimentSpec::from_toml(&toml),
            Ok(spec.clone()),
            "TOML round trip"
        );
        assert_eq!(
            ExperimentSpec::from_json(&spec.to_json()),
            Ok(spec),
            "JSON round trip"
        );
    }

    #[test]
    fn zero_width_layer_is_named() {
        let mut spec = ExperimentSpec::default();
        spec.model.shared[2] = LayerSpec::Linear { out: 0 };
        let problems = spec.validate();
        assert_eq!(problems.len(), 1, "exactly one problem: {problems:?}");
        assert_eq!(
            problems[0].to_string(),
            "model.shared[2]: Linear out=0 must be >= 1",
            "message names the layer"
        );
    }

    #[test]
    fn each_bad_field_is_reported_with_its_place() {
        type Mutation = Box<dyn Fn(&mut ExperimentSpec)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("version", Box::new(|s| s.version = 9)),
            ("training.epochs", Box::new(|s| s.training.epochs = 0)),
            (
                "training.batch_size",
                Box::new(|s| s.training.batch_size = 0),
            ),
            (
                "training.validation_fraction",
                Box::new(|s| s.training.validation_fraction = 1.5),
            ),
            ("optimizer.lr", Box::new(|s| *s.optimizer.lr_mut() = -1.0)),
            (
                "optimizer.lr",
                Box::new(|s| *s.optimizer.lr_mut() = f64::NAN),
            ),
            ("tasks[1].name", Box::new(|s| s.tasks[1].name = "y1".into())),
            (
                "tasks[0].name",
                Box::new(|s| s.tasks[0].name = "a b".into()),
            ),
            (
                "tasks[0].target",
                Box::new(|s| s.tasks[0].target = "nope".into()),
            ),
            (
                "tasks[0].kind",
                Box::new(|s| s.tasks[0].kind = TaskKind::Binary),
            ),
            (
                "tasks[0].loss",
                Box::new(|s| s.tasks[0].loss = Some(LossKind::Bce)),
            ),
            (
                "tasks[1].weight",
                Box::new(|s| s.tasks[1].weight = f32::INFINITY),
            ),
            ("tasks", Box::new(|s| s.tasks.clear())),
            ("model.input", Box::new(|s| s.model.input = 3)),
            (
                "model.heads[0].layers[0]",
                Box::new(|s| s.model.heads[0].layers[0] = LayerSpec::Dropout { p: 1.0 }),
            ),
            ("model.heads", Box::new(|s| drop(s.model.heads.pop()))),
            (
                "model.heads[1].task",
                Box::new(|s| s.model.heads[1].task = "zz".into()),
            ),
            (
                "dataset.correlation",
                Box::new(|s| {
                    if let DatasetSpec::Mmoe(m) = &mut s.dataset {
                        m.correlation = 2.0;
                    }
                }),
            ),
            (
                "dataset.dim",
                Box::new(|s| {
                    if let DatasetSpec::Mmoe(m) = &mut s.dataset {
                        m.dim = 0;
                    }
                }),
            ),
        ];
        for (expected, mutate) in cases {
            let mut spec = ExperimentSpec::default();
            mutate(&mut spec);
            let found = paths(&spec);
            assert!(
                found.iter().any(|p| p == expected),
                "expected a problem at {expected}, got {found:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_bad_toml_are_errors_with_position() {
        let err = ExperimentSpec::from_toml("version = 1\nseeed = 3\n").expect_err("typo");
        assert!(err.contains("seeed"), "names the unknown field: {err}");
        let err = ExperimentSpec::from_toml("version = = 1").expect_err("syntax");
        assert!(err.contains("line 1"), "gives the line: {err}");
    }

    #[test]
    fn sync_heads_follows_tasks() {
        let mut spec = ExperimentSpec::default();
        spec.tasks.swap(0, 1);
        spec.tasks.push(TaskSpec {
            name: "extra".into(),
            kind: TaskKind::Regression,
            target: "y1".into(),
            loss: None,
            weight: 1.0,
        });
        spec.sync_heads();
        let names: Vec<_> = spec.model.heads.iter().map(|h| h.task.as_str()).collect();
        assert_eq!(names, ["y2", "y1", "extra"], "heads follow task order");
    }
}
