//! A session's state for a checkpoint, and putting it back (see
//! [`crate::trainer::checkpoint`]).

use rand_chacha::ChaCha8Rng;

use super::*;
use crate::trainer::checkpoint::{BestState, SessionState};

/// More shard streams than any machine has threads: a checkpoint naming more is damaged.
const MAX_SHARD_STREAMS: usize = 4096;

/// The name of shard `s`'s dropout stream in a checkpoint.
fn shard_stream(s: usize) -> String {
    format!("dropout/shard {s}")
}

impl Session {
    /// Everything this session needs to go on exactly where it is: the weights, the
    /// optimizer's and the strategy's state, the counters, the epoch's order and every random
    /// stream's position.
    pub fn state(&self) -> Result<SessionState, TrainError> {
        let mut rngs: Vec<(String, u128)> = [
            ("batches", &self.batch_rng),
            ("dropout", &self.dropout_rng),
            ("weighting", &self.strategy_rng),
            ("gradient samples", &self.sample_rng),
        ]
        .iter()
        .map(|(name, rng)| ((*name).to_owned(), rng.get_word_pos()))
        .collect();
        for (s, rng) in self.shard_rngs.iter().enumerate() {
            rngs.push((shard_stream(s), rng.get_word_pos()));
        }
        Ok(SessionState {
            weights: self.model.export()?,
            optimizer: self.optimizer.state(),
            strategy: self.strategy.state(),
            task_weights: self.weights.clone(),
            epochs_done: self.epochs_done,
            step: self.step,
            order: self.order.clone(),
            cursor: self.cursor,
            loss_history: self.loss_history.clone(),
            epoch_losses: self.epoch_losses.clone(),
            rngs,
            best: self.best.as_ref().map(|b| BestState {
                loss: b.loss,
                epoch: b.epoch,
                weights: b.weights.clone(),
            }),
            task_rows: self.task_rows.clone(),
            task_cursor: self.task_cursor.clone(),
        })
    }

    /// Puts back a [`Self::state`] of a session of the same spec and data. A state that
    /// does not fit (another model, other data) is an error saying what differs; the
    /// session is then not to be used (build a new one).
    pub fn restore(&mut self, state: &SessionState) -> Result<(), TrainError> {
        let bad = |message: String| TrainError::Checkpoint(message);
        let k = self.data.tasks.len();
        let rows = self.data.train.rows;
        if state.order.len() != rows || state.order.iter().any(|&r| r >= rows) {
            return Err(bad(format!(
                "its epoch order has {} rows, the training split {rows}",
                state.order.len()
            )));
        }
        if state.cursor > rows {
            return Err(bad(format!(
                "its batch position {} is past the split",
                state.cursor
            )));
        }
        let per_task = |v: usize, what: &str| {
            if v == k {
                Ok(())
            } else {
                Err(bad(format!("it has {v} {what} for {k} tasks")))
            }
        };
        per_task(state.task_weights.len(), "task weights")?;
        per_task(state.loss_history.len(), "loss histories")?;
        per_task(state.epoch_losses.len(), "epoch losses")?;
        if state
            .loss_history
            .iter()
            .any(|h| h.len() != state.epochs_done)
        {
            return Err(bad(format!(
                "its loss history is not one value per task and epoch ({} epochs)",
                state.epochs_done
            )));
        }
        if !self.spec.training.sampling.is_joint() {
            per_task(state.task_rows.len(), "task row lists")?;
            per_task(state.task_cursor.len(), "task positions")?;
            if state.task_rows.iter().flatten().any(|&r| r >= rows) {
                return Err(bad(format!(
                    "a task's rows lie past the training split's {rows}"
                )));
            }
        }
        self.model.load(&state.weights)?;
        if let Some(best) = state.best.as_ref().and_then(|b| b.weights.as_ref()) {
            // Checked by loading them once (the current weights are put back after).
            self.model.load(best)?;
            self.model.load(&state.weights)?;
        }
        let sizes: Vec<usize> = self
            .model
            .params()
            .iter()
            .map(|p| p.var.elem_count())
            .collect();
        self.optimizer
            .restore(&state.optimizer, &sizes)
            .map_err(bad)?;
        self.strategy.restore(&state.strategy)?;
        for (name, pos) in &state.rngs {
            self.stream_mut(name)
                .ok_or_else(|| bad(format!("unknown random stream '{name}'")))?
                .set_word_pos(*pos);
        }
        self.weights.clone_from(&state.task_weights);
        self.epochs_done = state.epochs_done;
        self.step = state.step;
        self.order.clone_from(&state.order);
        self.cursor = state.cursor;
        self.loss_history.clone_from(&state.loss_history);
        self.epoch_losses.clone_from(&state.epoch_losses);
        self.best = state.best.as_ref().map(|b| Best {
            loss: b.loss,
            epoch: b.epoch,
            weights: b.weights.clone(),
        });
        if !self.spec.training.sampling.is_joint() {
            self.task_rows.clone_from(&state.task_rows);
            self.task_cursor.clone_from(&state.task_cursor);
        }
        Ok(())
    }

    /// The random stream called `name` in a checkpoint (a shard's is made when missing).
    fn stream_mut(&mut self, name: &str) -> Option<&mut ChaCha8Rng> {
        match name {
            "batches" => Some(&mut self.batch_rng),
            "dropout" => Some(&mut self.dropout_rng),
            "weighting" => Some(&mut self.strategy_rng),
            "gradient samples" => Some(&mut self.sample_rng),
            _ => {
                let s: usize = name.strip_prefix("dropout/shard ")?.parse().ok()?;
                if s >= MAX_SHARD_STREAMS {
                    return None;
                }
                while self.shard_rngs.len() <= s {
                    let next = self.shard_rngs.len();
                    self.shard_rngs.push(shard::shard_rng(self.spec.seed, next));
                }
                self.shard_rngs.get_mut(s)
            }
        }
    }
}
