//! Epochs, batches, the validation split, task sampling and the stop rules.

use super::*;

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
    #[serde(skip_serializing_if = "crate::task::is_zero")]
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
    /// When a rule fires, put back the weights of the best epoch: the last epoch whose loss
    /// was below the best before it by more than `min_delta` (the first epoch with a finite
    /// loss counts). A run that ends at its last epoch keeps its last weights.
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
