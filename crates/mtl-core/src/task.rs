//! The task vocabulary that specs and data share: what a task predicts ([`TaskKind`]), its
//! loss ([`LossKind`]) and a task of an experiment ([`TaskSpec`]). A leaf: it imports nothing
//! of the crate, so the spec and the data both import it and not each other.

use std::fmt;

use serde::{Deserialize, Serialize};

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

pub(crate) fn is_zero(v: &usize) -> bool {
    *v == 0
}

pub(crate) fn one() -> f32 {
    1.0
}

impl TaskSpec {
    /// The loss this task trains with.
    pub fn loss(&self) -> LossKind {
        self.loss.unwrap_or_else(|| self.kind.default_loss())
    }
}

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
