//! The run loop: the one definition of a training run. A [`Driver`] owns a [`Session`] and
//! decides the cadence around its steps (affinity measurements before a step, the evaluation
//! at the end of each epoch, the stop rules, the end of the plan) and the rows of
//! `metrics.csv`; it tells [`Observer`]s what happened through [`RunEvent`]s and never decides
//! what they do with it. The desktop app's trainer thread, `mtl-studio train`, `affinity`,
//! `sweep` (with its single-task baselines) and `bench` all drive their runs through it, so a
//! run means the same thing everywhere (burn-train's learner and event processors are the
//! model).
//!
//! See the crate documentation for an example.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::checkpoint::Checkpoint;
use super::protocol::Stopped;
use super::protocol::{Split, TaskEval};
use super::run::{Session, StepOutcome, TrainError};
use crate::experiment::ExperimentSpec;
use crate::export::{self, MetricRow};

/// Step size of the TAG lookahead when a spec asks for affinity while training (as
/// `mtl-studio affinity`'s default).
pub const AFFINITY_LOOKAHEAD: f64 = 0.01;

/// What happened in a run, as it happens. Borrowed: an observer copies what it keeps.
#[derive(Debug)]
pub enum RunEvent<'a> {
    /// The session is built; nothing is trained yet.
    Started,
    /// One split was evaluated (at the start, after each epoch, after loading weights).
    Evaluated {
        /// The split.
        split: Split,
        /// Per task, in the spec's order.
        tasks: &'a [TaskEval],
    },
    /// The lookahead affinity was measured before a step (K × K, row-major).
    Affinity {
        /// TAG: how much a step on row's task lowers column's loss.
        tag: &'a [f64],
        /// Cosines between the task gradients.
        cosine: &'a [f64],
    },
    /// One optimizer step is done.
    Stepped {
        /// What it did.
        outcome: &'a StepOutcome,
        /// How long it took (the affinity measurement before it excluded).
        took: Duration,
    },
    /// An epoch ended and was evaluated.
    EpochEnd {
        /// The per-task losses the stop rules watch (validation, or training without
        /// validation rows); empty when the plan does not evaluate.
        monitored: &'a [f64],
    },
    /// New rows of `metrics.csv`, in file order.
    Rows(&'a [MetricRow]),
    /// A stop rule ended the run (the best weights are back if the rule says so).
    StopRule(&'a Stopped),
}

/// Something that follows a run: a channel to the GUI, a recorder, a progress bar.
pub trait Observer {
    /// Called for every event, in order, on the thread that trains.
    fn on_event(&mut self, session: &Session, event: &RunEvent<'_>);
}

impl<F: FnMut(&Session, &RunEvent<'_>)> Observer for F {
    fn on_event(&mut self, session: &Session, event: &RunEvent<'_>) {
        self(session, event);
    }
}

/// Two observers, in order.
impl<A: Observer + ?Sized, B: Observer + ?Sized> Observer for (&mut A, &mut B) {
    fn on_event(&mut self, session: &Session, event: &RunEvent<'_>) {
        self.0.on_event(session, event);
        self.1.on_event(session, event);
    }
}

/// No observer.
impl Observer for () {
    fn on_event(&mut self, _: &Session, _: &RunEvent<'_>) {}
}

/// Collects the rows of `metrics.csv` (what `mtl-studio train` writes and the app exports).
#[derive(Clone, Debug, Default)]
pub struct Recorder {
    /// Every row so far, in file order.
    pub rows: Vec<MetricRow>,
}

impl Observer for Recorder {
    fn on_event(&mut self, _: &Session, event: &RunEvent<'_>) {
        if let RunEvent::Rows(rows) = event {
            self.rows.extend_from_slice(rows);
        }
    }
}

/// Which splits the end of an epoch evaluates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evaluation {
    /// Training and validation (the app and `train`).
    BothSplits,
    /// Only the split the stop rules watch (sweeps: their curves use no other).
    Monitored,
    /// None, and no stop rules (`bench`, `affinity`).
    Never,
}

/// What a run does besides stepping, and when it ends.
#[derive(Clone, Debug, PartialEq)]
pub struct RunPlan {
    /// The run's length in epochs.
    pub epochs: usize,
    /// End after this many steps instead (whatever the epochs).
    pub max_steps: Option<u64>,
    /// What the end of an epoch evaluates.
    pub evaluation: Evaluation,
    /// Measure the lookahead affinity every this many steps (0: never) ...
    pub affinity_every: usize,
    /// ... with this step size.
    pub affinity_lookahead: f64,
}

impl RunPlan {
    /// The spec's own plan: its epochs, both splits, affinity as `[training]` asks.
    pub fn of(spec: &crate::experiment::ExperimentSpec) -> Self {
        Self {
            epochs: spec.training.epochs,
            max_steps: None,
            evaluation: Evaluation::BothSplits,
            affinity_every: spec.training.affinity_every,
            affinity_lookahead: AFFINITY_LOOKAHEAD,
        }
    }
}

/// Why a run ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// Its planned epochs (or steps) are done.
    Planned,
    /// A stop rule fired.
    StopRule(Stopped),
    /// It was cancelled.
    Cancelled,
}

/// What one [`Driver::step`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// The step itself.
    pub outcome: StepOutcome,
    /// How long the step took.
    pub took: Duration,
    /// Set when this step ended the run (it can still be stepped further, e.g. when the app
    /// resumes a finished run).
    pub end: Option<End>,
}

/// Drives one [`Session`] through its [`RunPlan`].
pub struct Driver {
    session: Session,
    plan: RunPlan,
    dynamics: EpochDynamics,
}

impl Driver {
    /// A driver of `session` following `plan`.
    pub fn new(session: Session, plan: RunPlan) -> Self {
        let k = session.data().tasks.len();
        Self {
            session,
            plan,
            dynamics: EpochDynamics::new(k),
        }
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session, to change it between steps (live edits, loading weights).
    pub fn session_mut(&mut self) -> &mut Session {
        &mut self.session
    }

    /// The plan.
    pub fn plan(&self) -> &RunPlan {
        &self.plan
    }

    /// Gives the session back.
    pub fn into_session(self) -> Session {
        self.session
    }

    /// Starts the run: [`RunEvent::Started`], the label-balance rows, the first evaluation.
    pub fn start(&mut self, observer: &mut dyn Observer) -> Result<(), TrainError> {
        observer.on_event(&self.session, &RunEvent::Started);
        let rows = balance_rows(&self.session);
        observer.on_event(&self.session, &RunEvent::Rows(&rows));
        self.evaluate(observer)?;
        Ok(())
    }

    /// Evaluates the splits the plan asks for, emitting each and its rows; returns the losses
    /// the stop rules watch (empty when the plan never evaluates).
    pub fn evaluate(&mut self, observer: &mut dyn Observer) -> Result<Vec<f64>, TrainError> {
        let has_val = self.session.data().val.rows > 0;
        let splits: &[Split] = match (self.plan.evaluation, has_val) {
            (Evaluation::Never, _) => &[],
            (Evaluation::BothSplits, true) => &[Split::Train, Split::Val],
            (_, false) => &[Split::Train],
            (Evaluation::Monitored, true) => &[Split::Val],
        };
        let mut monitored = Vec::new();
        for &split in splits {
            let evals = self.session.evaluate(split)?;
            observer.on_event(
                &self.session,
                &RunEvent::Evaluated {
                    split,
                    tasks: &evals,
                },
            );
            let mut rows = Vec::new();
            for (eval, task) in evals.iter().zip(&self.session.data().tasks) {
                rows.extend(export::task_eval_rows(
                    self.session.epochs_done(),
                    self.session.step_count(),
                    split.name(),
                    &task.name,
                    task.kind,
                    eval,
                ));
            }
            observer.on_event(&self.session, &RunEvent::Rows(&rows));
            monitored = evals.iter().map(|e| e.loss).collect();
        }
        Ok(monitored)
    }

    /// One step: the affinity measurement when due, the optimizer step, and at the end of an
    /// epoch its evaluation, its rows and the stop rules.
    pub fn step(&mut self, observer: &mut dyn Observer) -> Result<StepReport, TrainError> {
        let every = self.plan.affinity_every as u64;
        if every > 0 && self.session.step_count().is_multiple_of(every) {
            let (tag, cosine) = self
                .session
                .measure_affinity(self.plan.affinity_lookahead)?;
            self.dynamics.add_affinity(&tag);
            observer.on_event(
                &self.session,
                &RunEvent::Affinity {
                    tag: &tag,
                    cosine: &cosine,
                },
            );
        }
        let started = Instant::now();
        let outcome = self.session.train_step()?;
        let took = started.elapsed();
        self.dynamics.add(&outcome);
        observer.on_event(
            &self.session,
            &RunEvent::Stepped {
                outcome: &outcome,
                took,
            },
        );
        let mut end = None;
        if outcome.epoch_finished {
            let monitored = self.evaluate(observer)?;
            observer.on_event(
                &self.session,
                &RunEvent::EpochEnd {
                    monitored: &monitored,
                },
            );
            let rows = self.dynamics.take_rows(&self.session);
            observer.on_event(&self.session, &RunEvent::Rows(&rows));
            if self.plan.evaluation != Evaluation::Never
                && let Some(stopped) = self.session.check_stop(&monitored)?
            {
                let row = MetricRow {
                    epoch: stopped.epoch,
                    step: self.session.step_count(),
                    split: if self.session.data().val.rows > 0 {
                        "val"
                    } else {
                        "train"
                    },
                    task: self.session.spec().training.stop.monitor.clone(),
                    loss: stopped.best_loss,
                    metric: "best_epoch",
                    value: stopped.best_epoch as f64,
                };
                observer.on_event(&self.session, &RunEvent::Rows(&[row]));
                observer.on_event(&self.session, &RunEvent::StopRule(&stopped));
                end = Some(End::StopRule(stopped));
            } else if self.plan.max_steps.is_none()
                && self.session.epochs_done() == self.plan.epochs
            {
                end = Some(End::Planned);
            }
        }
        if end.is_none()
            && self
                .plan
                .max_steps
                .is_some_and(|n| self.session.step_count() >= n)
        {
            end = Some(End::Planned);
        }
        Ok(StepReport { outcome, took, end })
    }

    /// Whether the plan is done before any step (zero epochs or steps).
    fn nothing_to_do(&self) -> bool {
        match self.plan.max_steps {
            Some(n) => self.session.step_count() >= n,
            None => self.session.epochs_done() >= self.plan.epochs,
        }
    }

    /// Everything needed to continue this run exactly ([`Driver::resume`]), with `rows`,
    /// the rows of `metrics.csv` so far.
    pub fn checkpoint(&self, rows: &[MetricRow]) -> Result<Checkpoint, TrainError> {
        let data = self.session.data();
        Ok(Checkpoint {
            spec: self.session.spec().clone(),
            session: self.session.state()?,
            dynamics: self.dynamics.clone(),
            rows: rows.to_vec(),
            threads: self.session.threads(),
            split_rows: (data.train.rows, data.val.rows),
        })
    }

    /// A driver that goes on where `checkpoint` was: the session of `spec` (the
    /// checkpoint's own, or one that differs from it in its epochs only: see
    /// [`Checkpoint::spec_for`]) with every state put back. Start it with
    /// [`Driver::replay`], then [`Driver::run_on`] or [`Driver::step`].
    pub fn resume(
        spec: &ExperimentSpec,
        checkpoint: &Checkpoint,
        plan: RunPlan,
    ) -> Result<Self, TrainError> {
        let mut session = Session::new(spec)?;
        let (train, val) = (session.data().train.rows, session.data().val.rows);
        if (train, val) != checkpoint.split_rows {
            return Err(TrainError::Checkpoint(format!(
                "its data had {} training and {} validation rows, this run's {train} and {val} (has the data file changed?)",
                checkpoint.split_rows.0, checkpoint.split_rows.1
            )));
        }
        session.restore(&checkpoint.session)?;
        let k = session.data().tasks.len();
        let d = &checkpoint.dynamics;
        let square = |v: Option<&Vec<f64>>| v.is_none_or(|v| v.len() == k * k);
        let fits = [d.weights.len(), d.sampled.len()] == [k, k]
            && [d.cosines.len(), d.tag.len(), d.tag_n.len()] == [k * k; 3]
            && d.arch.as_ref().is_none_or(|a| {
                square(a.tower_distances.as_ref())
                    && square(a.omega.as_ref())
                    && a.stitch.iter().all(|s| s.len() == k * k)
            });
        if !fits {
            return Err(TrainError::Checkpoint(format!(
                "its epoch sums are not those of {k} tasks"
            )));
        }
        Ok(Self {
            session,
            plan,
            dynamics: d.clone(),
        })
    }

    /// Starts a resumed run: [`RunEvent::Started`] and the rows of `metrics.csv` so far (the
    /// checkpoint's), instead of [`Driver::start`]'s first evaluation.
    pub fn replay(&mut self, observer: &mut dyn Observer, rows: &[MetricRow]) {
        observer.on_event(&self.session, &RunEvent::Started);
        observer.on_event(&self.session, &RunEvent::Rows(rows));
    }

    /// Starts the run and steps it to its end; `cancel` ends it after the current step.
    pub fn run(
        &mut self,
        observer: &mut dyn Observer,
        cancel: &AtomicBool,
    ) -> Result<End, TrainError> {
        self.start(observer)?;
        self.run_on(observer, cancel)
    }

    /// Steps a started (or replayed) run to its end; `cancel` ends it after the current
    /// step.
    pub fn run_on(
        &mut self,
        observer: &mut dyn Observer,
        cancel: &AtomicBool,
    ) -> Result<End, TrainError> {
        if self.nothing_to_do() {
            return Ok(End::Planned);
        }
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Ok(End::Cancelled);
            }
            if let Some(end) = self.step(observer)?.end {
                return Ok(end);
            }
        }
    }
}

/// Epoch-0 rows on how each task's labels fall into the splits: `labelled` (rows with the
/// label), `label_share` (their share of the split, so of an average batch) and, for
/// classification, `class_count` per class (`task` = `<task>|<class>`).
fn balance_rows(session: &Session) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for b in session.data().balance() {
        for (split, s) in [("train", &b.train), ("val", &b.val)] {
            if s.rows == 0 {
                continue;
            }
            let row = |task: String, metric: &'static str, value: f64| MetricRow {
                epoch: 0,
                step: 0,
                split,
                task,
                loss: f64::NAN,
                metric,
                value,
            };
            rows.push(row(b.task.clone(), "labelled", s.labelled as f64));
            rows.push(row(b.task.clone(), "label_share", s.share()));
            for (name, n) in b.class_names.iter().zip(&s.classes) {
                rows.push(row(format!("{}|{name}", b.task), "class_count", *n as f64));
            }
        }
    }
    rows
}

/// Per-epoch means of the task weights, gradient cosines and affinity, for `metrics.csv`
/// (the sums so far of the epoch under way; a checkpoint saves them).
#[derive(Clone, Debug, PartialEq)]
pub(super) struct EpochDynamics {
    pub(super) weights: Vec<f64>,
    pub(super) sampled: Vec<usize>,
    pub(super) steps: usize,
    /// Steps whose shared update was zero (the strategy's notice: no finite weights).
    pub(super) stationary: usize,
    pub(super) cosines: Vec<f64>,
    pub(super) measured: usize,
    pub(super) tag: Vec<f64>,
    pub(super) tag_n: Vec<usize>,
    pub(super) arch: Option<crate::model::ArchState>,
}

impl EpochDynamics {
    pub(super) fn new(k: usize) -> Self {
        Self {
            weights: vec![0.0; k],
            sampled: vec![0; k],
            steps: 0,
            stationary: 0,
            cosines: vec![0.0; k * k],
            measured: 0,
            tag: vec![0.0; k * k],
            tag_n: vec![0; k * k],
            arch: None,
        }
    }

    fn add(&mut self, outcome: &StepOutcome) {
        for (sum, w) in self.weights.iter_mut().zip(&outcome.task_weights) {
            *sum += f64::from(*w);
        }
        self.steps += 1;
        self.stationary += usize::from(outcome.notice.is_some());
        if let Some(c) = outcome.sampled_task.and_then(|k| self.sampled.get_mut(k)) {
            *c += 1;
        }
        if let Some(c) = &outcome.grad_cosines {
            for (sum, v) in self.cosines.iter_mut().zip(c) {
                *sum += v;
            }
            self.measured += 1;
        }
        if outcome.arch.is_some() {
            self.arch.clone_from(&outcome.arch);
        }
    }

    fn add_affinity(&mut self, tag: &[f64]) {
        for ((sum, n), v) in self.tag.iter_mut().zip(&mut self.tag_n).zip(tag) {
            if v.is_finite() {
                *sum += v;
                *n += 1;
            }
        }
    }

    /// Rows `epoch,step,train,<task>,,weight,<mean>`; `all` row `stationary_steps` (steps
    /// with a zero shared update because the strategy found no finite weights, when any); `…,<a>|<b>,,grad_cosine,<mean>`;
    /// `<a>|<b>` rows `tag` (ordered pairs, when affinity was measured); and, as last
    /// measured, `<a>|<b>` rows `tower_distance` and `omega` (a ≤ b), `unit<u>:<a>|<b>` rows
    /// `stitch` (α of row a, column b), `<gate>|expert<e>` rows `gate`. Starts the next epoch.
    fn take_rows(&mut self, session: &Session) -> Vec<MetricRow> {
        let tasks = &session.data().tasks;
        let k = tasks.len();
        let mut rows = Vec::new();
        let row = |task: String, metric: &'static str, value: f64| MetricRow {
            epoch: session.epochs_done(),
            step: session.step_count(),
            split: "train",
            task,
            loss: f64::NAN,
            metric,
            value,
        };
        let pair = |a: usize, b: usize| format!("{}|{}", tasks[a].name, tasks[b].name);
        for (t, sum) in tasks.iter().zip(&self.weights) {
            rows.push(row(
                t.name.clone(),
                "weight",
                sum / self.steps.max(1) as f64,
            ));
        }
        if self.stationary > 0 {
            // The steps the strategy found no finite weights and left the trunk unchanged.
            rows.push(row(
                "all".to_owned(),
                "stationary_steps",
                self.stationary as f64,
            ));
        }
        if !session.spec().training.sampling.is_joint() {
            for (t, n) in tasks.iter().zip(&self.sampled) {
                rows.push(row(
                    t.name.clone(),
                    "sampled_share",
                    *n as f64 / self.steps.max(1) as f64,
                ));
            }
        }
        if self.measured > 0 {
            for a in 0..k {
                for b in a + 1..k {
                    rows.push(row(
                        pair(a, b),
                        "grad_cosine",
                        self.cosines[a * k + b] / self.measured as f64,
                    ));
                }
            }
        }
        if self.tag_n.iter().any(|n| *n > 0) {
            for a in 0..k {
                for b in 0..k {
                    let n = self.tag_n[a * k + b];
                    let mean = if n > 0 {
                        self.tag[a * k + b] / n as f64
                    } else {
                        f64::NAN
                    };
                    rows.push(row(pair(a, b), "tag", mean));
                }
            }
        }
        if let Some(arch) = &self.arch {
            let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
            arch_rows(arch, &names, &mut |task, metric, value| {
                rows.push(row(task, metric, value));
            });
        }
        *self = Self::new(k);
        rows
    }
}

/// The rows of an architecture's state (see [`EpochDynamics::take_rows`]).
fn arch_rows(
    arch: &crate::model::ArchState,
    names: &[&str],
    push: &mut dyn FnMut(String, &'static str, f64),
) {
    let k = names.len();
    let pair = |a: usize, b: usize| format!("{}|{}", names[a], names[b]);
    for (metric, matrix, diagonal) in [
        ("tower_distance", arch.tower_distances.as_ref(), false),
        ("omega", arch.omega.as_ref(), true),
    ] {
        let Some(m) = matrix else { continue };
        for a in 0..k {
            for b in a + usize::from(!diagonal)..k {
                push(pair(a, b), metric, m[a * k + b]);
            }
        }
    }
    for (u, alpha) in arch.stitch.iter().enumerate() {
        for a in 0..k {
            for b in 0..k {
                push(
                    format!("unit{u}:{}", pair(a, b)),
                    "stitch",
                    alpha[a * k + b],
                );
            }
        }
    }
    let one_gate = arch.gates.len() == 1;
    for (g, weights) in arch.gates.iter().enumerate() {
        // One gate for all tasks (MoE) is `all`; MMoE has one per task.
        let gate = if one_gate {
            "all".to_owned()
        } else {
            names.get(g).copied().unwrap_or_default().to_owned()
        };
        for (e, w) in weights.iter().enumerate() {
            push(format!("{gate}|expert{e}"), "gate", *w);
        }
    }
}
