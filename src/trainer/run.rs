//! The step loop, without threads: a [`Session`] owns the data, the model and the optimizer
//! of one run and trains it one batch at a time. The worker thread, the CLI, the benchmark and
//! the tests all drive a `Session`.

use std::path::Path;

use candle_core::{Device, Tensor};
use rand::seq::SliceRandom as _;
use rand_chacha::ChaCha8Rng;

use super::protocol::{RunInfo, Split, TaskEval};
use crate::data::{self, DataError, PreparedData, SplitData};
use crate::experiment::{ExperimentSpec, SpecError};
use crate::export::{self, ExportError, ModelFile};
use crate::model::loss::{TaskTarget, task_loss};
use crate::model::{Mode, Model, ModelError, Part};
use crate::optim::Optimizer;
use crate::{metrics, rng};

/// Rows per forward pass when evaluating a whole split.
const EVAL_CHUNK: usize = 4096;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The spec is invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The data could not be loaded or do not fit.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model could not be built.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Weights could not be saved or loaded.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// A task's loss is NaN or infinite.
    #[error("task '{task}' diverged at step {step}: its loss is {value}")]
    Diverged {
        /// Task name.
        task: String,
        /// Step number (1-based).
        step: u64,
        /// The loss value.
        value: f32,
    },
}

/// What one training step did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutcome {
    /// Steps done, including this one.
    pub step: u64,
    /// Loss per task (`None` when the batch had no label for the task).
    pub task_losses: Vec<Option<f32>>,
    /// Weighted total loss.
    pub total_loss: f32,
    /// Rows in the batch.
    pub rows: usize,
    /// True when this step completed an epoch.
    pub epoch_finished: bool,
}

/// One training run.
pub struct Session {
    spec: ExperimentSpec,
    data: PreparedData,
    model: Model,
    optimizer: Optimizer,
    weights: Vec<f32>,
    batch_rng: ChaCha8Rng,
    dropout_rng: ChaCha8Rng,
    order: Vec<usize>,
    cursor: usize,
    epochs_done: usize,
    step: u64,
}

impl Session {
    /// Validates `spec`, loads its data and builds the model and optimizer.
    pub fn new(spec: &ExperimentSpec) -> Result<Self, TrainError> {
        spec.check()?;
        let dataset = data::load(spec)?;
        let prepared = PreparedData::new(spec, &dataset)?;
        Self::with_data(spec, prepared)
    }

    /// Builds a session on data that are already prepared.
    pub fn with_data(spec: &ExperimentSpec, data: PreparedData) -> Result<Self, TrainError> {
        let model = Model::new(spec, &data.tasks, &Device::Cpu)?;
        let optimizer = Optimizer::new(&spec.optimizer, model.params().len());
        let mut session = Self {
            weights: spec.weighting.initial_weights(&spec.tasks),
            spec: spec.clone(),
            batch_rng: rng::stream(spec.seed, "batches"),
            dropout_rng: rng::stream(spec.seed, "dropout"),
            order: Vec::new(),
            cursor: 0,
            epochs_done: 0,
            step: 0,
            model,
            optimizer,
            data,
        };
        session.reshuffle();
        Ok(session)
    }

    fn reshuffle(&mut self) {
        self.order = (0..self.data.train.rows).collect();
        self.order.shuffle(&mut self.batch_rng);
        self.cursor = 0;
    }

    /// The spec this session trains.
    pub fn spec(&self) -> &ExperimentSpec {
        &self.spec
    }

    /// The prepared data.
    pub fn data(&self) -> &PreparedData {
        &self.data
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Steps done.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// Completed epochs.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Epochs done as a fraction (e.g. 2.5 in the middle of the third epoch).
    pub fn epoch_progress(&self) -> f64 {
        // After the last batch of an epoch the counter has moved on and the cursor is at the
        // end; that position is the start of the next epoch, not its end.
        let rows = self.data.train.rows.max(1);
        self.epochs_done as f64 + (self.cursor % rows) as f64 / rows as f64
    }

    /// Optimizer steps per epoch.
    pub fn steps_per_epoch(&self) -> u64 {
        self.data.train.rows.div_ceil(self.spec.training.batch_size) as u64
    }

    /// The current task weights.
    pub fn task_weights(&self) -> &[f32] {
        &self.weights
    }

    /// Sets the task weights used from the next step on. Wrong lengths and negative or
    /// non-finite weights are rejected.
    pub fn set_task_weights(&mut self, weights: &[f32]) -> Result<(), String> {
        if weights.len() != self.weights.len() {
            return Err(format!(
                "{} weights given for {} tasks",
                weights.len(),
                self.weights.len()
            ));
        }
        if let Some(w) = weights.iter().find(|w| !(w.is_finite() && **w >= 0.0)) {
            return Err(format!("task weight {w} must be a number >= 0"));
        }
        self.weights = weights.to_vec();
        Ok(())
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f64 {
        self.optimizer.lr()
    }

    /// Sets the learning rate from the next step on.
    pub fn set_lr(&mut self, lr: f64) -> Result<(), String> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(format!("learning rate {lr} must be a number > 0"));
        }
        self.optimizer.set_lr(lr);
        Ok(())
    }

    /// Facts about this run for the UI.
    pub fn info(&self) -> RunInfo {
        RunInfo {
            spec: self.spec.clone(),
            task_names: self.data.tasks.iter().map(|t| t.name.clone()).collect(),
            task_kinds: self.data.tasks.iter().map(|t| t.kind).collect(),
            steps_per_epoch: self.steps_per_epoch(),
            train_rows: self.data.train.rows,
            val_rows: self.data.val.rows,
            shared_params: self.model.param_count(Part::Shared),
            head_params: (0..self.data.tasks.len())
                .map(|k| self.model.param_count(Part::Head(k)))
                .collect(),
        }
    }

    /// Trains on the next batch. A NaN or infinite task loss returns
    /// [`TrainError::Diverged`] before any weight changes.
    pub fn train_step(&mut self) -> Result<StepOutcome, TrainError> {
        if self.cursor >= self.order.len() {
            self.reshuffle();
        }
        let end = (self.cursor + self.spec.training.batch_size).min(self.order.len());
        let batch = self.data.train.gather(&self.order[self.cursor..end]);
        self.cursor = end;
        let step = self.step + 1;

        let device = self.model.device().clone();
        let x = Tensor::from_slice(&batch.x, (batch.rows, batch.features), &device)?;
        let outputs = self.model.forward(&x, Mode::Train(&mut self.dropout_rng))?;
        let mut total: Option<Tensor> = None;
        let mut task_losses = Vec::with_capacity(outputs.len());
        for (k, (out, task)) in outputs.iter().zip(&self.data.tasks).enumerate() {
            let target = TaskTarget::new(&batch.labels[k], task.loss, &device)?;
            if target.count == 0 {
                task_losses.push(None);
                continue;
            }
            let loss = task_loss(out, &target, task.loss)?;
            let value = loss.to_scalar::<f32>()?;
            if !value.is_finite() {
                return Err(TrainError::Diverged {
                    task: task.name.clone(),
                    step,
                    value,
                });
            }
            task_losses.push(Some(value));
            let weighted = (loss * f64::from(self.weights[k]))?;
            total = Some(match total {
                None => weighted,
                Some(t) => (t + weighted)?,
            });
        }
        let total_loss = match &total {
            Some(t) => {
                let grads = t.backward()?;
                let vars: Vec<_> = self.model.params().iter().map(|p| &p.var).collect();
                self.optimizer.step(&vars, &grads)?;
                t.to_scalar::<f32>()?
            }
            None => 0.0,
        };
        self.step = step;
        let epoch_finished = self.cursor >= self.order.len();
        if epoch_finished {
            self.epochs_done += 1;
        }
        Ok(StepOutcome {
            step,
            task_losses,
            total_loss,
            rows: batch.rows,
            epoch_finished,
        })
    }

    /// Raw model outputs for a split's standardised rows, `[rows, out_k]` per task.
    fn outputs(&self, split: &SplitData) -> Result<Vec<Vec<f32>>, TrainError> {
        let mut outs = vec![Vec::new(); self.data.tasks.len()];
        let device = self.model.device();
        let mut start = 0;
        while start < split.rows {
            let end = (start + EVAL_CHUNK).min(split.rows);
            let d = split.features;
            let x = Tensor::from_slice(&split.x[start * d..end * d], (end - start, d), device)?;
            for (k, out) in self.model.forward(&x, Mode::Eval)?.into_iter().enumerate() {
                outs[k].extend(out.flatten_all()?.to_vec1::<f32>()?);
            }
            start = end;
        }
        Ok(outs)
    }

    /// Loss and metric of every task on a split (the whole split, dropout off).
    pub fn evaluate(&self, split: Split) -> Result<Vec<TaskEval>, TrainError> {
        let rows = match split {
            Split::Train => &self.data.train,
            Split::Val => &self.data.val,
        };
        let outputs = self.outputs(rows)?;
        let device = self.model.device();
        let mut evals = Vec::with_capacity(outputs.len());
        for (k, (out, task)) in outputs.iter().zip(&self.data.tasks).enumerate() {
            let labels = &rows.labels[k];
            let target = TaskTarget::new(labels, task.loss, device)?;
            let loss = if target.count == 0 {
                f64::NAN
            } else {
                let pred = Tensor::from_slice(out, (rows.rows, task.out_dim), device)?;
                f64::from(task_loss(&pred, &target, task.loss)?.to_scalar::<f32>()?)
            };
            let metric =
                metrics::task_metric(task.kind, out, task.out_dim, &labels.values, &labels.mask);
            evals.push(TaskEval { loss, metric });
        }
        Ok(evals)
    }

    /// Predictions for raw (not standardised) input rows `[rows, features]`: per task,
    /// `[rows, out]` with the regression value, the binary probability or the class
    /// probabilities.
    pub fn predict(&self, raw: &[f32]) -> Result<Vec<Vec<f32>>, TrainError> {
        let d = self.data.features();
        let mut x = raw.to_vec();
        self.data.standardise(&mut x);
        let split = SplitData {
            rows: x.len() / d.max(1),
            features: d,
            x,
            labels: Vec::new(),
        };
        let outputs = self.outputs(&split)?;
        Ok(outputs
            .into_iter()
            .zip(&self.data.tasks)
            .map(|(out, task)| crate::export::to_predictions(task, out))
            .collect())
    }

    /// Everything an export file holds.
    pub fn model_file(&self) -> Result<ModelFile, TrainError> {
        Ok(ModelFile {
            spec: self.spec.clone(),
            tensors: self.model.export()?,
            input_mean: self.data.input_mean.clone(),
            input_std: self.data.input_std.clone(),
            feature_names: self.data.feature_names.clone(),
            tasks: self.data.tasks.clone(),
        })
    }

    /// Writes the weights to `path` (safetensors, atomically) and the spec as JSON beside it.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        export::save_model(path, &self.model_file()?)?;
        Ok(())
    }

    /// Loads weights saved from a model of the same architecture. Nothing changes on error.
    pub fn load_weights(&mut self, path: &Path) -> Result<(), TrainError> {
        let file = export::load_model(path)?;
        self.model.load(&file.tensors)?;
        Ok(())
    }

    /// A session rebuilt from an export file: its spec, its data statistics and its weights.
    /// The spec's dataset is not loaded; the session can predict but has no rows to train on.
    pub fn from_model_file(file: &ModelFile) -> Result<Self, TrainError> {
        let d = file.feature_names.len();
        let empty = SplitData {
            rows: 0,
            features: d,
            x: Vec::new(),
            labels: vec![data::Labels::default(); file.tasks.len()],
        };
        let prepared = PreparedData {
            name: file.spec.name.clone(),
            feature_names: file.feature_names.clone(),
            tasks: file.tasks.clone(),
            train: empty.clone(),
            val: empty,
            input_mean: file.input_mean.clone(),
            input_std: file.input_std.clone(),
        };
        let mut session = Self::with_data(&file.spec, prepared)?;
        session.model.load(&file.tensors)?;
        Ok(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small_spec() -> ExperimentSpec {
        let mut spec = ExperimentSpec::default();
        if let crate::experiment::DatasetSpec::Mmoe(m) = &mut spec.dataset {
            m.samples = 1500;
        }
        spec.training.epochs = 3;
        spec
    }

    #[test]
    fn an_epoch_has_the_expected_steps() {
        let mut s = Session::new(&small_spec()).expect("session");
        let steps = s.steps_per_epoch();
        assert_eq!(steps, 1200u64.div_ceil(64), "1200 train rows / batch 64");
        let mut finished_at = None;
        for i in 1..=steps {
            let out = s.train_step().expect("step");
            if out.epoch_finished {
                finished_at = Some(i);
            }
        }
        assert_eq!(finished_at, Some(steps), "the last batch ends the epoch");
        assert_eq!(s.epochs_done(), 1, "one epoch done");
    }

    #[test]
    fn weights_and_lr_are_checked() {
        let mut s = Session::new(&small_spec()).expect("session");
        assert!(s.set_task_weights(&[1.0]).is_err(), "wrong length");
        assert!(s.set_task_weights(&[1.0, f32::NAN]).is_err(), "NaN weight");
        assert!(s.set_task_weights(&[0.5, 2.0]).is_ok(), "fine");
        assert!(s.set_lr(0.0).is_err(), "zero lr");
        assert!(s.set_lr(0.01).is_ok(), "fine");
        assert!((s.lr() - 0.01).abs() < 1e-12, "lr applied");
    }
}
