//! The step loop, without threads: a [`Session`] owns the data, the model and the optimizer
//! of one run and trains it one batch at a time. The worker thread, the CLI, the benchmark and
//! the tests all drive a `Session`.

use std::path::Path;

use candle_core::{Device, Tensor, Var};
use rand::seq::SliceRandom as _;
use rand_chacha::ChaCha8Rng;

use super::protocol::{Penalty, RunInfo, Split, Stopped, TaskEval};
use crate::data::{self, DataError, PreparedData, SplitData};
use crate::experiment::{ExperimentSpec, SpecError};
use crate::export::{self, ExportError, ModelFile};
use crate::model::loss::{TaskTarget, task_loss};
use crate::model::{ArchState, Mode, Model, ModelError, Part};
use crate::optim::Optimizer;
use crate::weighting::{StepInput, StepOutput, Strategy};
use crate::{metrics, rng};

mod affinity;
mod eval;
mod explain;
mod grads;
mod io;
mod resume;
mod shard;
mod stop;

/// Loss-only strategies also measure the task gradients every this many steps, for the
/// gradient-norm and cosine views (0: never).
pub const DIAGNOSTICS_EVERY: u64 = 10;

pub use explain::StepExplanation;

/// Rows per forward pass when evaluating a whole split, at most.
const EVAL_CHUNK: usize = 4096;

/// Input values per forward pass when evaluating (`EVAL_CHUNK` rows of a few dozen
/// features, 256 images of 32 × 32): a convolution's patches grow with the rows, and chunks
/// of thousands of images no longer fit the caches (measured: the conv example's evaluation
/// took longer than its training epoch with 4096-row chunks).
const EVAL_INPUTS: usize = 1 << 18;

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
    /// The model could not be exported as ONNX.
    #[error(transparent)]
    Onnx(#[from] crate::export::onnx::OnnxError),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// The weighting strategy failed.
    #[error("weighting: {0}")]
    Weighting(String),
    /// A checkpoint does not fit this run.
    #[error("the checkpoint does not fit this run: {0}")]
    Checkpoint(String),
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

impl From<crate::weighting::WeightingError> for TrainError {
    fn from(e: crate::weighting::WeightingError) -> Self {
        Self::Weighting(e.0)
    }
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
    /// The effective task weights of this step.
    pub task_weights: Vec<f32>,
    /// Norms of the per-task shared gradients, when they were computed this step.
    pub grad_norms: Option<Vec<f64>>,
    /// K × K cosines between the task gradients, when computed this step.
    pub grad_cosines: Option<Vec<f64>>,
    /// The architecture's state (tower distances, Ω, cross-stitch units, gates), on
    /// diagnostic steps.
    pub arch: Option<ArchState>,
    /// With per-task sampling, the task this step's batch was drawn for.
    pub sampled_task: Option<usize>,
    /// Shards the batch was cut into and trained side by side (1: one pass).
    pub shards: usize,
    /// What the strategy said about this step although it went on, e.g. a Pareto-stationary
    /// zero shared update where no finite weights exist (Nash-MTL, FairGrad).
    pub notice: Option<String>,
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
    strategy: Box<dyn Strategy>,
    strategy_rng: ChaCha8Rng,
    /// Draws the further batches of strategies that take several gradient samples (MoDo,
    /// SDMGrad), apart from the epoch's order.
    sample_rng: ChaCha8Rng,
    loss_history: Vec<Vec<f64>>,
    epoch_losses: Vec<(f64, usize)>,
    diagnostics_every: u64,
    best: Option<Best>,
    /// Per-task sampling: each task's labelled training rows, in a shuffled order, and how
    /// far each has been used.
    task_rows: Vec<Vec<usize>>,
    task_cursor: Vec<usize>,
    /// Threads a step may use: a batch is cut into up to this many shards.
    threads: usize,
    /// The pool of `threads` threads (`None` for one thread).
    pool: Option<&'static rayon::ThreadPool>,
    /// One dropout stream per shard of a data-parallel step.
    shard_rngs: Vec<ChaCha8Rng>,
    /// What the step being explained has collected so far.
    explain: Option<explain::Capture>,
    /// The explanation of the last explained step, until taken.
    explained: Option<StepExplanation>,
}

/// The best epoch so far under the stop rules' monitored loss.
struct Best {
    loss: f64,
    epoch: usize,
    weights: Option<Vec<crate::model::NamedTensor>>,
}

impl Session {
    /// Validates `spec`, loads its data and builds the model and optimizer.
    pub fn new(spec: &ExperimentSpec) -> Result<Self, TrainError> {
        let (spec, prepared) = Self::prepare(spec)?;
        Self::with_data(&spec, prepared)
    }

    /// Everything training checks before it builds the network, without building it: the
    /// spec's problems, the strategy's hyperparameter ranges, the dataset read (or made)
    /// and split, and the network's size against the memory limits with the data's real
    /// widths. Returns the spec as trained (`model.input` from the file when it was 0) and
    /// the prepared data. `validate` runs this, so it says what `train` would say.
    pub fn prepare(spec: &ExperimentSpec) -> Result<(ExperimentSpec, PreparedData), TrainError> {
        spec.check()?;
        spec.weighting
            .build(&spec.tasks)
            .map_err(|e| TrainError::Weighting(e.0))?;
        let dataset = data::load(spec)?;
        let mut spec = spec.clone();
        if spec.model.input == 0 {
            // "From the file": a CSV's encoded feature count.
            spec.model.input = dataset.features();
        }
        let prepared = PreparedData::new(&spec, &dataset)?;
        Self::network_fits(&spec, &prepared)?;
        Ok((spec, prepared))
    }

    /// The network's size with the data's real widths against the memory limits
    /// ([`crate::limits::check_network`]), before any tensor is made.
    fn network_fits(spec: &ExperimentSpec, data: &PreparedData) -> Result<(), TrainError> {
        let out: Vec<usize> = data.tasks.iter().map(|t| t.out_dim).collect();
        if let Ok(plan) = spec.plan(&out) {
            let rows = (data.train.rows + data.val.rows) as u64;
            crate::limits::check_network(spec, &plan, (rows > 0).then_some(rows)).map_err(
                |message| {
                    SpecError::Invalid(vec![crate::experiment::SpecProblem {
                        path: "model".to_owned(),
                        message,
                    }])
                },
            )?;
        }
        Ok(())
    }

    /// The best epoch so far under the stop rules' monitored loss (`None` before the first
    /// epoch's check, or without evaluation).
    pub fn best_epoch(&self) -> Option<usize> {
        self.best.as_ref().map(|b| b.epoch)
    }

    /// Builds a session on data that are already prepared.
    pub fn with_data(spec: &ExperimentSpec, data: PreparedData) -> Result<Self, TrainError> {
        Self::network_fits(spec, &data)?;
        let model = Model::new(spec, &data.tasks, &Device::Cpu)?;
        let mut optimizer = Optimizer::new(&spec.optimizer, model.params().len());
        for (i, p) in model.params().iter().enumerate() {
            optimizer.set_lr_scale(i, p.lr_scale);
        }
        let mut strategy = spec
            .weighting
            .build(&spec.tasks)
            .map_err(|e| TrainError::Weighting(e.0))?;
        if !spec.weighting.rep_grad {
            strategy
                .set_layout(&grads::shared_layout(model.params()))
                .map_err(|e| TrainError::Weighting(e.0))?;
        }
        let k = data.tasks.len();
        let mut session = Self {
            strategy,
            strategy_rng: rng::stream(spec.seed, "weighting"),
            sample_rng: rng::stream(spec.seed, "gradient samples"),
            loss_history: vec![Vec::new(); k],
            epoch_losses: vec![(0.0, 0); k],
            diagnostics_every: DIAGNOSTICS_EVERY,
            best: None,
            task_rows: Vec::new(),
            task_cursor: Vec::new(),
            threads: 1,
            pool: None,
            shard_rngs: Vec::new(),
            explain: None,
            explained: None,
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
        session.set_threads(super::parallel::threads());
        session.reshuffle();
        if !session.spec.training.sampling.is_joint() {
            session.task_rows = session
                .data
                .train
                .labels
                .iter()
                .map(|l| (0..l.mask.len()).filter(|&r| l.mask[r] > 0.0).collect())
                .collect();
            session.task_cursor = vec![usize::MAX; k];
        }
        Ok(session)
    }

    /// The rows of the next batch (`n` of them) and, with per-task sampling, the task drawn.
    fn next_rows(&mut self, n: usize) -> (Vec<usize>, Option<usize>) {
        // Joint batches (the default) need nothing else: the next rows of the epoch's order.
        if self.spec.training.sampling.is_joint() {
            return (self.order[self.cursor..self.cursor + n].to_vec(), None);
        }
        let labelled: Vec<usize> = self.task_rows.iter().map(Vec::len).collect();
        let total_steps = (self.steps_per_epoch() * self.spec.training.epochs as u64).max(1);
        let progress = self.step as f64 / total_steps as f64;
        let p = self
            .spec
            .training
            .sampling
            .probabilities(&labelled, progress)
            .unwrap_or_else(|| vec![1.0 / labelled.len().max(1) as f64; labelled.len()]);
        let u: f64 = rand::Rng::random(&mut self.batch_rng);
        let mut acc = 0.0;
        let mut k = p.len() - 1;
        for (i, pi) in p.iter().enumerate() {
            acc += pi;
            if u < acc {
                k = i;
                break;
            }
        }
        let mut rows = Vec::with_capacity(n);
        let pool_len = self.task_rows[k].len();
        while rows.len() < n.min(pool_len) {
            if self.task_cursor[k] >= pool_len {
                self.task_rows[k].shuffle(&mut self.batch_rng);
                self.task_cursor[k] = 0;
            }
            let take = (n - rows.len()).min(pool_len - self.task_cursor[k]);
            let c = self.task_cursor[k];
            rows.extend_from_slice(&self.task_rows[k][c..c + take]);
            self.task_cursor[k] += take;
        }
        (rows, Some(k))
    }

    fn reshuffle(&mut self) {
        self.order = (0..self.data.train.rows).collect();
        self.order.shuffle(&mut self.batch_rng);
        self.cursor = 0;
    }

    /// Lets each step use up to `threads` threads (at least 1): batches big enough are cut
    /// into that many shards trained side by side. The same spec and thread count give the
    /// same curve; another thread count sums the gradient in another order, so its curve
    /// differs by rounding. Shards run with the process's kernel threading: programs call
    /// [`super::parallel::take_kernel_threads`] first, so that each shard's kernels are
    /// single-threaded instead of competing for the same cores.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
        self.pool = super::parallel::pool(self.threads);
        let seed = self.spec.seed;
        while self.shard_rngs.len() < self.threads {
            let s = self.shard_rngs.len();
            self.shard_rngs.push(shard::shard_rng(seed, s));
        }
    }

    /// Threads a step may use.
    pub fn threads(&self) -> usize {
        self.threads
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
        if !self.spec.weighting.takes_task_weights() {
            return Err(format!(
                "task weights apply to equal or manual weighting; this run uses {} (Restart to switch)",
                self.spec.weighting.label()
            ));
        }
        // Equal weighting with new weights is manual weighting from now on.
        self.spec.weighting = crate::experiment::WeightingSpec::of("manual");
        for (task, w) in self.spec.tasks.iter_mut().zip(weights) {
            task.weight = *w;
        }
        self.strategy = self
            .spec
            .weighting
            .build(&self.spec.tasks)
            .map_err(|e| e.0)?;
        if !self.spec.weighting.rep_grad {
            self.strategy
                .set_layout(&grads::shared_layout(self.model.params()))
                .map_err(|e| e.0)?;
        }
        self.weights = weights.to_vec();
        Ok(())
    }

    /// Measure task gradients every `n` steps even when the strategy does not need them
    /// (0: never). Benchmarks switch it off.
    pub fn set_diagnostics_every(&mut self, n: u64) {
        self.diagnostics_every = n;
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
        // The spec says what the run trains with (a checkpoint saves it).
        *self.spec.optimizer.lr_mut() = lr;
        Ok(())
    }

    /// Sets soft sharing's λ or relationship learning's λ₂ from the next step on.
    pub fn set_penalty(&mut self, which: Penalty, lambda: f64) -> Result<(), String> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(format!("penalty λ={lambda} must be a number >= 0"));
        }
        match which {
            Penalty::Soft => {
                if !self.model.set_soft_lambda(lambda) {
                    return Err("this run does not use soft sharing (Restart to switch)".into());
                }
                if let crate::experiment::Architecture::Soft { lambda: l, .. } =
                    &mut self.spec.model.architecture
                {
                    *l = lambda;
                }
            }
            Penalty::Relationship => {
                if !self.model.set_relationship_lambda(lambda) {
                    return Err(
                        "this run does not learn task relationships (Restart to switch)".into(),
                    );
                }
                if let Some(r) = &mut self.spec.model.relationship {
                    r.lambda = lambda;
                }
            }
        }
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
            balance: self.data.balance(),
            threads: self.threads,
        }
    }

    /// Trains on the next batch. A NaN or infinite task loss returns
    /// [`TrainError::Diverged`] before any weight changes.
    ///
    /// Loss-only strategies back-propagate Σ cₖ·Lₖ once. Gradient strategies take one
    /// backward pass per task (or, with representation gradients, one per task through the
    /// heads only), combine the shared gradients and step the optimizer with the combined
    /// shared gradient plus each head's own (weighted) gradient.
    pub fn train_step(&mut self) -> Result<StepOutcome, TrainError> {
        // A step cut into shards runs on the session's pool as a whole: one hand-over between
        // threads per step. Other steps stay on this thread.
        let shards = self.shard_count(self.spec.training.batch_size);
        match self.pool {
            Some(pool) if shards > 1 => pool.install(|| self.step_once()),
            _ => self.step_once(),
        }
    }

    /// Shards a batch of `rows` rows is cut into.
    fn shard_count(&self, rows: usize) -> usize {
        shard::shard_count(rows, self.model.macs_per_row(), self.threads)
    }

    fn step_once(&mut self) -> Result<StepOutcome, TrainError> {
        if self.cursor >= self.order.len() {
            self.reshuffle();
        }
        let end = (self.cursor + self.spec.training.batch_size).min(self.order.len());
        let (rows, sampled_task) = self.next_rows(end - self.cursor);
        self.cursor = end;
        let step = self.step + 1;
        let epoch = self.epochs_done;
        let rep_grad = self.spec.weighting.rep_grad;
        let needs = self.strategy.needs_grads(epoch);
        let explaining = self.explain.is_some();
        let diagnose = explaining
            || self.diagnostics_every > 0
                && step % self.diagnostics_every == 1 % self.diagnostics_every;
        self.explain_before(&rows)?;
        let shards = self.shard_count(rows.len());
        let (passes, task_losses) = self.forward_passes(&rows, shards, step)?;
        let loss_values: Vec<f64> = task_losses
            .iter()
            .map(|l| l.map_or(0.0, f64::from))
            .collect();
        let arch = if diagnose {
            let batch = self.data.train.gather(&rows);
            let x =
                Tensor::from_slice(&batch.x, (batch.rows, batch.features), self.model.device())?;
            Some(self.model.arch_state(&x)?)
        } else {
            None
        };
        let has_shared = self.model.has_shared();
        let penalty = self.model.penalty()?;
        let (out, diagnostics) = if needs || (diagnose && has_shared) || rep_grad || explaining {
            // MoDo and SDMGrad: the per-task gradients on further, independent batches.
            let extra = match self.strategy.gradient_samples() {
                n if needs && n > 1 => self.extra_samples(n - 1, rows.len(), sampled_task, step)?,
                _ => Vec::new(),
            };
            self.gradient_step(passes, &loss_values, epoch, needs, penalty.as_ref(), extra)?
        } else {
            let out = self.loss_only_weights(epoch, &loss_values)?;
            self.loss_only_update(passes, &out.effective, penalty.as_ref())?;
            (out, None)
        };
        let mut outcome = self.finish_step(
            &rows,
            step,
            sampled_task,
            task_losses,
            &out,
            (diagnostics, arch),
        )?;
        outcome.shards = shards;
        self.explain_after(step)?;
        Ok(outcome)
    }

    /// The bookkeeping after an update: the relationship, the strategy's learning, the
    /// epoch's losses and the outcome.
    #[expect(clippy::type_complexity, reason = "a private pair of diagnostics")]
    fn finish_step(
        &mut self,
        rows: &[usize],
        step: u64,
        sampled_task: Option<usize>,
        task_losses: Vec<Option<f32>>,
        out: &StepOutput,
        (diagnostics, arch): (Option<(Vec<f64>, Vec<f64>)>, Option<ArchState>),
    ) -> Result<StepOutcome, TrainError> {
        let loss_values: Vec<f64> = task_losses
            .iter()
            .map(|l| l.map_or(0.0, f64::from))
            .collect();
        if let Some(every) = self.model.relationship_every()
            && step.is_multiple_of(every)
        {
            self.model.update_relationship()?;
        }
        self.strategy.learn(self.optimizer.lr());
        if self.strategy.needs_losses_after() {
            let after = self.batch_losses(&self.data.train.gather(rows))?;
            self.strategy.after_step(&after);
        }
        let total_loss = out
            .effective
            .iter()
            .zip(&loss_values)
            .map(|(c, l)| c * l)
            .sum::<f64>() as f32;
        self.weights = out.effective.iter().map(|w| *w as f32).collect();
        for ((sum, n), l) in self.epoch_losses.iter_mut().zip(&task_losses) {
            if let Some(l) = l {
                *sum += f64::from(*l);
                *n += 1;
            }
        }

        self.step = step;
        let epoch_finished = self.cursor >= self.order.len();
        if epoch_finished {
            self.epochs_done += 1;
            for (history, (sum, n)) in self.loss_history.iter_mut().zip(&mut self.epoch_losses) {
                history.push(if *n > 0 { *sum / *n as f64 } else { 0.0 });
                (*sum, *n) = (0.0, 0);
            }
        }
        let (grad_norms, grad_cosines) = diagnostics.unzip();
        Ok(StepOutcome {
            step,
            task_losses,
            total_loss,
            rows: rows.len(),
            epoch_finished,
            task_weights: self.weights.clone(),
            grad_norms,
            grad_cosines,
            arch,
            sampled_task,
            shards: 1,
            notice: self.strategy.notice().map(str::to_owned),
        })
    }

    /// The strategy's weights from this step's losses alone (no gradients).
    fn loss_only_weights(
        &mut self,
        epoch: usize,
        losses: &[f64],
    ) -> Result<StepOutput, TrainError> {
        let input = StepInput {
            epoch,
            losses,
            grads: None,
            loss_history: &self.loss_history,
            rep_value: None,
            samples: &[],
        };
        Ok(self.strategy.combine(&input, &mut self.strategy_rng)?)
    }

    /// Task losses of a batch with the current weights (no gradients; dropout off).
    fn batch_losses(&self, batch: &SplitData) -> Result<Vec<f64>, TrainError> {
        let device = self.model.device();
        let x = Tensor::from_slice(&batch.x, (batch.rows, batch.features), device)?;
        let outputs = self.model.forward(&x, Mode::Eval)?;
        let mut out = Vec::with_capacity(outputs.len());
        for (k, (pred, task)) in outputs.iter().zip(&self.data.tasks).enumerate() {
            let target = TaskTarget::new(&batch.labels[k], task.loss, device)?;
            out.push(f64::from(
                task_loss(pred, &target, task.loss)?.to_scalar::<f32>()?,
            ));
        }
        Ok(out)
    }
}

/// `start` + Σₖ cₖ·Lₖ over the tasks with a loss (`None` when there is nothing to add).
fn weighted_total(
    losses: &[Option<(Tensor, f32)>],
    coefficients: &[f64],
    start: Option<Tensor>,
) -> candle_core::Result<Option<Tensor>> {
    let mut total = start;
    for (loss, c) in losses.iter().zip(coefficients) {
        if let Some((loss, _)) = loss {
            let weighted = (loss * *c)?;
            total = Some(match total {
                None => weighted,
                Some(t) => (t + weighted)?,
            });
        }
    }
    Ok(total)
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

    /// MoDo and SDMGrad draw two further batches per step (LibMTL's three samples) from their
    /// own stream; other strategies draw none, and the epoch's order is the same either way.
    #[test]
    fn strategies_with_three_samples_draw_two_more_batches() {
        use rand::RngCore as _;
        let fresh = || rng::stream(small_spec().seed, "gradient samples");
        for (key, draws) in [
            ("modo", true),
            ("sdmgrad", true),
            ("ew", false),
            ("mgda", false),
        ] {
            let mut spec = small_spec();
            spec.weighting = crate::experiment::WeightingSpec::of(key);
            let mut s = Session::new(&spec).expect("session");
            let order = s.order.clone();
            let out = s.train_step().expect("step");
            assert!(out.task_weights.iter().all(|w| w.is_finite()), "{key}");
            let advanced = s.sample_rng.next_u64() != fresh().next_u64();
            assert_eq!(advanced, draws, "{key}: further batches drawn");
            assert_eq!(s.order, order, "{key}: the epoch's order is untouched");
        }
        // The samples are gradients of other batches: K × d, different from each other.
        let mut spec = small_spec();
        spec.weighting = crate::experiment::WeightingSpec::of("modo");
        let mut s = Session::new(&spec).expect("session");
        let samples = s.extra_samples(2, 64, None, 1).expect("samples");
        let d = s.model.param_count(Part::Shared);
        assert_eq!(samples.len(), 2);
        for sample in &samples {
            assert_eq!(sample.len(), 2, "K rows");
            assert!(sample.iter().all(|g| g.len() == d), "d columns");
        }
        assert_ne!(samples[0], samples[1], "independent batches");
    }
}
