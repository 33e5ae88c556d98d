//! The network of an experiment: the trunk, the heads and their layers.

use super::*;

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
    /// Gaussian error linear unit, the tanh approximation (candle's `gelu`, PyTorch's
    /// `GELU(approximate="tanh")`): 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
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
            Self::Image(c, h, w) => c.saturating_mul(h).saturating_mul(w),
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
                    n.saturating_add(padding.saturating_mul(2))
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
            (Self::Linear { out }, s) => out.saturating_mul(s.size()).saturating_add(*out),
            (Self::LayerNorm { .. }, s) => s.size().saturating_mul(2),
            (
                Self::Conv2d {
                    out_channels,
                    kernel,
                    ..
                },
                Shape::Image(c, ..),
            ) => out_channels
                .saturating_mul(c)
                .saturating_mul(kernel.saturating_mul(*kernel))
                .saturating_add(*out_channels),
            _ => 0,
        }
    }

    /// Describes what is wrong with this layer's settings, if anything.
    pub(crate) fn problem(&self) -> Option<String> {
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
