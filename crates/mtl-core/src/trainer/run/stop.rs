//! The stop rules: early stopping and a target loss, with the best epoch's weights.

use super::*;

impl Session {
    /// Applies the stop rules after an epoch, given that epoch's per-task losses on the
    /// monitored split (validation, or training without validation rows). Remembers the best
    /// epoch (and its weights when they are to be restored); when a rule fires, puts the best
    /// weights back and says why. `None`: go on.
    pub fn check_stop(&mut self, task_losses: &[f64]) -> Result<Option<Stopped>, TrainError> {
        let rules = self.spec.training.stop.clone();
        if rules.is_off() || self.epochs_done == 0 {
            return Ok(None);
        }
        let value = if rules.monitor == "mean" {
            let finite: Vec<f64> = task_losses
                .iter()
                .copied()
                .filter(|l| l.is_finite())
                .collect();
            finite.iter().sum::<f64>() / finite.len().max(1) as f64
        } else {
            self.data
                .tasks
                .iter()
                .position(|t| t.name == rules.monitor)
                .and_then(|k| task_losses.get(k).copied())
                .unwrap_or(f64::NAN)
        };
        let improved = self
            .best
            .as_ref()
            .is_none_or(|b| value < b.loss - rules.min_delta);
        if improved && value.is_finite() {
            self.best = Some(Best {
                loss: value,
                epoch: self.epochs_done,
                weights: if rules.restore_best {
                    Some(self.model.export()?)
                } else {
                    None
                },
            });
        }
        let Some(best) = &self.best else {
            return Ok(None);
        };
        let split = if self.data.val.rows > 0 {
            "validation"
        } else {
            "training"
        };
        let what = if rules.monitor == "mean" {
            format!("mean {split} loss")
        } else {
            format!("{split} loss of {}", rules.monitor)
        };
        let reason = if rules.target_loss.is_some_and(|t| value <= t) {
            format!(
                "the {what} reached the target {} ({value:.4})",
                rules.target_loss.unwrap_or_default()
            )
        } else if rules.patience > 0 && self.epochs_done - best.epoch >= rules.patience {
            format!(
                "the {what} has not improved by more than {} for {} epochs",
                rules.min_delta, rules.patience
            )
        } else {
            return Ok(None);
        };
        let (best_epoch, best_loss) = (best.epoch, best.loss);
        let restored = match &best.weights {
            Some(w) if best_epoch != self.epochs_done => {
                self.model.load(w)?;
                true
            }
            _ => false,
        };
        let message = format!(
            "Stopped after epoch {}: {reason}. {}",
            self.epochs_done,
            if restored {
                format!("Restored the weights of epoch {best_epoch} ({what} {best_loss:.4}).")
            } else {
                format!("Best: epoch {best_epoch} ({what} {best_loss:.4}).")
            }
        );
        Ok(Some(Stopped {
            epoch: self.epochs_done,
            best_epoch,
            best_loss,
            restored,
            message,
        }))
    }
}
