//! The trainer thread. It builds and owns everything candle touches for one run, takes
//! [`TrainerCommand`]s, and reports [`TrainerEvent`]s, calling a waker after each send so the
//! UI can repaint. It never names egui.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{
    Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError, sync_channel,
};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::checkpoint::Checkpoint;
use super::drive::{Driver, Observer, RunEvent, RunPlan};
use super::protocol::{
    Boundary, EvalMetrics, Pace, RunState, StepMetrics, TrainerCommand, TrainerEvent,
};
use super::run::{Session, StepOutcome, TrainError};
use crate::experiment::ExperimentSpec;

/// Called after every event, e.g. to ask the GUI for a repaint.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A waker that does nothing (tests, headless use).
pub fn no_waker() -> Waker {
    Arc::new(|| {})
}

/// Shortest time between two `Step` events (about 30 per second reach the UI).
const STEP_EVENT_INTERVAL: Duration = Duration::from_millis(33);

/// How a run starts.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Start paused (e.g. after loading weights for evaluation).
    pub start_paused: bool,
    /// Load these weights before the first step.
    pub initial_weights: Option<PathBuf>,
    /// Continue the run of this checkpoint (the spec must be the checkpoint's, but for its
    /// epochs): its weights, optimizer and strategy state, position and the evaluations so
    /// far.
    pub checkpoint: Option<PathBuf>,
    /// The pace to start at.
    pub pace: Pace,
}

/// The trainer thread has ended and every event was received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the trainer thread has ended")]
pub struct Disconnected;

/// The UI's handle on one run's thread. Dropping it stops the run and joins the thread.
pub struct TrainerHandle {
    run_id: u64,
    commands: Option<SyncSender<TrainerCommand>>,
    events: Option<Receiver<TrainerEvent>>,
    stop: Arc<AtomicBool>,
    steps_done: Arc<AtomicU64>,
    boundary: BoundarySlot,
    thread: Option<JoinHandle<()>>,
}

/// The latest live views, each replaced by the next (the UI never queues them).
#[derive(Default)]
struct Snapshots {
    /// Decision boundaries (two-input data).
    boundary: Option<Arc<Boundary>>,
    /// Every parameter (small models), for the network view.
    weights: Option<Arc<Vec<crate::model::NamedTensor>>>,
}

type BoundarySlot = Arc<std::sync::Mutex<Snapshots>>;

/// Models with more parameters than this send no weight snapshots.
const WEIGHTS_SNAPSHOT_MAX: usize = 100_000;

/// Grid samples per side of a boundary snapshot.
const BOUNDARY_N: usize = 48;
/// Shortest time between two boundary snapshots; a snapshot also waits at least ten times
/// its own cost, so it never takes more than a tenth of the trainer's time.
const BOUNDARY_INTERVAL: Duration = Duration::from_millis(200);

impl TrainerHandle {
    /// Starts a thread that trains `spec` as run `run_id`.
    pub fn spawn(
        run_id: u64,
        spec: ExperimentSpec,
        options: RunOptions,
        waker: Waker,
    ) -> std::io::Result<Self> {
        let (cmd_tx, cmd_rx) = sync_channel(64);
        let (ev_tx, ev_rx) = sync_channel(4096);
        let stop = Arc::new(AtomicBool::new(false));
        let steps_done = Arc::new(AtomicU64::new(0));
        let boundary: BoundarySlot = Arc::default();
        let worker = Worker {
            boundary: Arc::clone(&boundary),
            run_id,
            commands: cmd_rx,
            events: ev_tx,
            waker,
            stop: Arc::clone(&stop),
            steps_done: Arc::clone(&steps_done),
        };
        let thread = std::thread::Builder::new()
            .name(format!("trainer-{run_id}"))
            .spawn(move || worker.run(&spec, &options))?;
        Ok(Self {
            run_id,
            commands: Some(cmd_tx),
            events: Some(ev_rx),
            stop,
            steps_done,
            boundary,
            thread: Some(thread),
        })
    }

    /// A handle with no thread behind it: the returned [`ScriptedTrainer`] plays the trainer,
    /// writing the events the UI receives and reading the commands it sends. For UI tests
    /// that check what the window shows for given events without training anything.
    pub fn scripted(run_id: u64) -> (Self, ScriptedTrainer) {
        let (cmd_tx, cmd_rx) = sync_channel(64);
        let (ev_tx, ev_rx) = sync_channel(4096);
        let handle = Self {
            run_id,
            commands: Some(cmd_tx),
            events: Some(ev_rx),
            stop: Arc::new(AtomicBool::new(false)),
            steps_done: Arc::new(AtomicU64::new(0)),
            boundary: Arc::default(),
            thread: None,
        };
        let trainer = ScriptedTrainer {
            events: ev_tx,
            commands: cmd_rx,
            stop: Arc::clone(&handle.stop),
        };
        (handle, trainer)
    }

    /// This run's id.
    pub fn run_id(&self) -> u64 {
        self.run_id
    }

    /// Sends a command. Returns false when the trainer thread is gone.
    pub fn send(&self, command: TrainerCommand) -> bool {
        self.commands
            .as_ref()
            .is_some_and(|c| c.send(command).is_ok())
    }

    /// Stops training after the current step. The thread stays to answer `SaveWeights`.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The latest decision-boundary snapshot (two-input data only).
    pub fn boundary(&self) -> Option<Arc<Boundary>> {
        self.boundary.lock().ok().and_then(|b| b.boundary.clone())
    }

    /// The latest copy of every parameter (models up to 100,000 parameters).
    pub fn weights(&self) -> Option<Arc<Vec<crate::model::NamedTensor>>> {
        self.boundary.lock().ok().and_then(|b| b.weights.clone())
    }

    /// Steps done so far (read without the event channel).
    pub fn steps_done(&self) -> u64 {
        self.steps_done.load(Ordering::SeqCst)
    }

    /// The next event, if one is waiting. [`Disconnected`] when the thread has ended and
    /// every event was received.
    pub fn try_recv(&self) -> Result<Option<TrainerEvent>, Disconnected> {
        match self.events.as_ref().map(Receiver::try_recv) {
            Some(Ok(ev)) => Ok(Some(ev)),
            Some(Err(TryRecvError::Empty)) => Ok(None),
            Some(Err(TryRecvError::Disconnected)) | None => Err(Disconnected),
        }
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<TrainerEvent>, Disconnected> {
        match self.events.as_ref().map(|e| e.recv_timeout(timeout)) {
            Some(Ok(ev)) => Ok(Some(ev)),
            Some(Err(RecvTimeoutError::Timeout)) => Ok(None),
            Some(Err(RecvTimeoutError::Disconnected)) | None => Err(Disconnected),
        }
    }
}

/// The trainer's side of a [`TrainerHandle::scripted`] handle.
pub struct ScriptedTrainer {
    /// Events for the UI, in order.
    pub events: SyncSender<TrainerEvent>,
    /// Commands the UI sent.
    pub commands: Receiver<TrainerCommand>,
    stop: Arc<AtomicBool>,
}

impl ScriptedTrainer {
    /// Whether the UI asked the run to stop.
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

impl Drop for TrainerHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Dropping both channel ends wakes a worker blocked on either.
        self.commands = None;
        self.events = None;
        if let Some(thread) = self.thread.take()
            && let Err(payload) = thread.join()
        {
            log::error!(
                "trainer thread panicked: {}",
                panic_message(payload.as_ref())
            );
        }
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Running sums between two `Step` events.
#[derive(Default)]
struct Aggregate {
    grad_norms: Option<Vec<f64>>,
    grad_cosines: Option<(Vec<f64>, Vec<usize>)>,
    arch: Option<crate::model::ArchState>,
    affinity: Option<(Vec<f64>, Vec<usize>)>,
    losses: Vec<(f64, usize)>,
    total: f64,
    steps: usize,
    rows: usize,
    shards: usize,
}

impl Aggregate {
    fn add(&mut self, outcome: &StepOutcome) {
        if self.losses.len() != outcome.task_losses.len() {
            self.losses = vec![(0.0, 0); outcome.task_losses.len()];
        }
        for (slot, loss) in self.losses.iter_mut().zip(&outcome.task_losses) {
            if let Some(l) = loss {
                slot.0 += f64::from(*l);
                slot.1 += 1;
            }
        }
        self.total += f64::from(outcome.total_loss);
        if outcome.grad_norms.is_some() {
            self.grad_norms.clone_from(&outcome.grad_norms);
        }
        if let Some(c) = &outcome.grad_cosines {
            let (sum, n) = self
                .grad_cosines
                .get_or_insert_with(|| (vec![0.0; c.len()], vec![0; c.len()]));
            if sum.len() == c.len() {
                for ((s, k), v) in sum.iter_mut().zip(n.iter_mut()).zip(c) {
                    if v.is_finite() {
                        *s += v;
                        *k += 1;
                    }
                }
            }
        }
        if outcome.arch.is_some() {
            self.arch.clone_from(&outcome.arch);
        }
        self.steps += 1;
        self.rows += outcome.rows;
        self.shards = outcome.shards;
    }

    fn add_affinity(&mut self, tag: &[f64]) {
        let (sum, n) = self
            .affinity
            .get_or_insert_with(|| (vec![0.0; tag.len()], vec![0; tag.len()]));
        for ((s, c), v) in sum.iter_mut().zip(n.iter_mut()).zip(tag) {
            if v.is_finite() {
                *s += v;
                *c += 1;
            }
        }
    }
}

struct Worker {
    boundary: BoundarySlot,
    run_id: u64,
    commands: Receiver<TrainerCommand>,
    events: SyncSender<TrainerEvent>,
    waker: Waker,
    stop: Arc<AtomicBool>,
    steps_done: Arc<AtomicU64>,
}

/// Why the step loop ended.
enum Exit {
    /// The UI dropped the handle.
    Disconnected,
}

/// What the user asked the run to do.
struct Control {
    state: RunState,
    /// Steps left of a `Step(n)` command.
    steps_left: Option<u64>,
    /// The shortest time between two steps (`None`: full speed).
    interval: Option<Duration>,
    /// When the next step may start.
    next_step: Instant,
}

impl Control {
    /// How long the loop may wait for a command before it has something to do: until the
    /// next paced step while running, a while when idle, not at all at full speed.
    fn wait(&self) -> Option<Duration> {
        match (self.state, self.interval) {
            (RunState::Running, None) => None,
            (RunState::Running, Some(_)) => {
                Some(self.next_step.saturating_duration_since(Instant::now()))
            }
            _ => Some(Duration::from_millis(100)),
        }
    }
}

/// The run loop's observer that reports to the UI: aggregated `Step` events (about 30 a
/// second), evaluations, metric rows, stop rules and the live snapshots.
struct Channel<'w> {
    worker: &'w Worker,
    planned_epochs: usize,
    agg: Aggregate,
    last_emit: Instant,
    boundary_due: Instant,
    /// Training time of the run so far.
    stepping: Duration,
    /// Training time since the last `Step` event.
    interval: Duration,
    /// Every step is reported (stepping by hand).
    single: bool,
    /// The UI is gone.
    gone: bool,
    /// The strategy's last notice sent as a warning (sent again only when it changes).
    notice: Option<String>,
    /// Every row of `metrics.csv` so far (for a checkpoint).
    rows: Vec<crate::export::MetricRow>,
}

impl Observer for Channel<'_> {
    fn on_event(&mut self, session: &Session, event: &RunEvent<'_>) {
        let run_id = self.worker.run_id;
        match event {
            RunEvent::Started | RunEvent::EpochEnd { .. } => {}
            RunEvent::Evaluated { split, tasks } => {
                self.gone |= !self.worker.send(TrainerEvent::Eval(EvalMetrics {
                    run_id,
                    epoch: session.epochs_done(),
                    step: session.step_count(),
                    split: *split,
                    tasks: tasks.to_vec(),
                }));
            }
            RunEvent::Rows(rows) => {
                self.rows.extend_from_slice(rows);
                if !rows.is_empty() {
                    self.gone |= !self.worker.send(TrainerEvent::Rows {
                        run_id,
                        rows: rows.to_vec(),
                    });
                }
            }
            RunEvent::Affinity { tag, .. } => self.agg.add_affinity(tag),
            RunEvent::Stepped { outcome, took } => {
                self.stepping += *took;
                self.interval += *took;
                self.worker.steps_done.store(outcome.step, Ordering::SeqCst);
                self.agg.add(outcome);
                // A strategy's notice (e.g. a zero, Pareto-stationary update) reaches the
                // status bar the first time it says something new; `metrics.csv` counts the
                // steps.
                if let Some(notice) = &outcome.notice
                    && self.notice.as_ref() != Some(notice)
                {
                    self.worker.warn(format!("step {}: {notice}", outcome.step));
                    self.notice = Some(notice.clone());
                }
                if self.single
                    || self.last_emit.elapsed() >= STEP_EVENT_INTERVAL
                    || outcome.epoch_finished
                {
                    self.flush(session);
                    // Forced only at the very end, so the last view shows the trained model.
                    let last =
                        outcome.epoch_finished && session.epochs_done() == self.planned_epochs;
                    self.snapshot(session, last);
                    self.interval = Duration::ZERO;
                    self.last_emit = Instant::now();
                }
            }
            RunEvent::StopRule(stopped) => {
                self.gone |= !self.worker.send(TrainerEvent::Stopped {
                    run_id,
                    stopped: (*stopped).clone(),
                });
            }
        }
    }
}

impl<'w> Channel<'w> {
    fn new(worker: &'w Worker, planned_epochs: usize) -> Self {
        Self {
            worker,
            planned_epochs,
            agg: Aggregate::default(),
            last_emit: Instant::now(),
            boundary_due: Instant::now(),
            stepping: Duration::ZERO,
            interval: Duration::ZERO,
            single: false,
            gone: false,
            notice: None,
            rows: Vec::new(),
        }
    }

    /// Takes the live snapshots (boundary, weights) when due (or `force`), keeping only the
    /// latest.
    fn snapshot(&mut self, session: &Session, force: bool) {
        if !force && Instant::now() < self.boundary_due {
            return;
        }
        // A view that cannot be drawn never stops training.
        if let Err(e) = self.take_snapshot(session) {
            log::warn!("live view snapshot failed: {e}");
            self.boundary_due = Instant::now() + Duration::from_secs(3600 * 24);
        }
    }

    fn take_snapshot(&mut self, session: &Session) -> Result<(), TrainError> {
        let started = Instant::now();
        let boundary = session.boundary(self.worker.run_id, BOUNDARY_N)?;
        let model = session.model();
        let small = model.param_count(crate::model::Part::Shared)
            + (0..session.data().tasks.len())
                .map(|k| model.param_count(crate::model::Part::Head(k)))
                .sum::<usize>()
            <= WEIGHTS_SNAPSHOT_MAX;
        let weights = if small { Some(model.export()?) } else { None };
        if boundary.is_none() && weights.is_none() {
            // Nothing to show live: never again.
            self.boundary_due = Instant::now() + Duration::from_secs(3600 * 24);
            return Ok(());
        }
        if let Ok(mut slot) = self.worker.boundary.lock() {
            slot.boundary = boundary.map(Arc::new);
            slot.weights = weights.map(Arc::new);
        }
        self.boundary_due = Instant::now() + BOUNDARY_INTERVAL.max(started.elapsed() * 10);
        Ok(())
    }

    /// Sends the aggregate as one `Step` event (dropped, not blocked on, if the UI is behind).
    fn flush(&mut self, session: &Session) {
        let agg = &mut self.agg;
        if agg.steps == 0 {
            return;
        }
        let secs = self.interval.as_secs_f64();
        let event = TrainerEvent::Step(Box::new(StepMetrics {
            run_id: self.worker.run_id,
            step: session.step_count(),
            epoch: session.epoch_progress(),
            task_losses: agg
                .losses
                .iter()
                .map(|(sum, n)| {
                    if *n > 0 {
                        (*sum / *n as f64) as f32
                    } else {
                        f32::NAN
                    }
                })
                .collect(),
            total_loss: (agg.total / agg.steps as f64) as f32,
            task_weights: session.task_weights().to_vec(),
            lr: session.lr(),
            samples_per_sec: if secs > 0.0 {
                agg.rows as f64 / secs
            } else {
                0.0
            },
            elapsed_secs: self.stepping.as_secs_f64(),
            grad_norms: agg.grad_norms.clone(),
            grad_cosines: agg.grad_cosines.clone(),
            arch: agg.arch.clone(),
            affinity: agg.affinity.clone(),
            shards: agg.shards.max(1),
        }));
        match self.worker.events.try_send(event) {
            Ok(()) => {
                *agg = Aggregate::default();
                (self.worker.waker)();
            }
            // The UI is behind: keep aggregating and send the sum next time.
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {}
        }
    }
}

impl Worker {
    fn run(self, spec: &ExperimentSpec, options: &RunOptions) {
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| self.train(spec, options)));
        let message = match result {
            Ok(Ok(Exit::Disconnected)) => return,
            Ok(Err(err)) => format!("{err}"),
            Err(payload) => format!("the trainer crashed: {}", panic_message(payload.as_ref())),
        };
        self.send(TrainerEvent::Failed {
            run_id: self.run_id,
            message,
        });
    }

    /// Sends an event that must arrive (blocks while the UI catches up).
    fn send(&self, event: TrainerEvent) -> bool {
        let ok = self.events.send(event).is_ok();
        (self.waker)();
        ok
    }

    fn set_state(&self, state: RunState) -> bool {
        self.send(TrainerEvent::State {
            run_id: self.run_id,
            state,
        })
    }

    fn warn(&self, message: String) {
        self.send(TrainerEvent::Warning {
            run_id: self.run_id,
            message,
        });
    }

    /// The run's driver: a new session (with the initial weights, if any), or the
    /// checkpoint's, with the checkpoint.
    fn driver(
        &self,
        spec: &ExperimentSpec,
        options: &RunOptions,
    ) -> Result<(Driver, Option<Checkpoint>), TrainError> {
        if let Some(path) = &options.checkpoint {
            let checkpoint = Checkpoint::load(path)?;
            let spec = checkpoint.spec_for(spec).map_err(TrainError::Checkpoint)?;
            let driver = Driver::resume(&spec, &checkpoint, RunPlan::of(&spec))?;
            self.send(TrainerEvent::Loaded {
                run_id: self.run_id,
                path: path.clone(),
            });
            return Ok((driver, Some(checkpoint)));
        }
        let mut session = Session::new(spec)?;
        if let Some(path) = &options.initial_weights {
            session.load_weights(path)?;
            self.send(TrainerEvent::Loaded {
                run_id: self.run_id,
                path: path.clone(),
            });
        }
        Ok((Driver::new(session, RunPlan::of(spec)), None))
    }

    fn train(&self, spec: &ExperimentSpec, options: &RunOptions) -> Result<Exit, TrainError> {
        let (mut driver, checkpoint) = self.driver(spec, options)?;
        if !self.send(TrainerEvent::Started {
            run_id: self.run_id,
            info: Box::new(driver.session().info()),
        }) {
            return Ok(Exit::Disconnected);
        }
        let mut channel = Channel::new(self, spec.training.epochs);
        match &checkpoint {
            Some(c) => {
                // The charts get the evaluations so far; the rows go to the history as they
                // were.
                for eval in super::checkpoint::evaluations(&c.rows, &driver.session().data().tasks)
                {
                    channel.gone |= !self.send(TrainerEvent::Eval(EvalMetrics {
                        run_id: self.run_id,
                        ..eval
                    }));
                }
                driver.replay(&mut channel, &c.rows);
                if c.epoch() >= spec.training.epochs {
                    self.warn(format!(
                        "this checkpoint's run has done its {} epochs: Resume trains on past them until you stop it",
                        c.epoch()
                    ));
                }
            }
            None => driver.start(&mut channel)?,
        }
        if channel.gone {
            return Ok(Exit::Disconnected);
        }
        let mut control = Control {
            state: if options.start_paused {
                RunState::Paused
            } else {
                RunState::Running
            },
            steps_left: None,
            interval: options.pace.interval(),
            next_step: Instant::now(),
        };
        self.set_state(control.state);
        channel.snapshot(driver.session(), true);
        loop {
            // Commands: drain without waiting at full speed; otherwise wait for one until
            // the next paced step is due (or a while when idle), so waiting never spins.
            let command = match control.wait() {
                None | Some(Duration::ZERO) => match self.commands.try_recv() {
                    Ok(c) => Some(c),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return Ok(Exit::Disconnected),
                },
                Some(wait) => match self.commands.recv_timeout(wait) {
                    Ok(c) => Some(c),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return Ok(Exit::Disconnected),
                },
            };
            if let Some(command) = command {
                self.command(command, &mut driver, &mut channel, &mut control)?;
            } else if self.stop.load(Ordering::SeqCst) && control.state != RunState::Stopped {
                channel.flush(driver.session());
                control.state = RunState::Stopped;
                self.set_state(control.state);
            } else if control.state == RunState::Running && Instant::now() >= control.next_step {
                // Paced steps start an interval apart (a step slower than that is followed at
                // once by the next).
                if let Some(interval) = control.interval {
                    control.next_step = Instant::now() + interval;
                }
                self.step(&mut driver, &mut channel, &mut control)?;
            }
            if channel.gone {
                return Ok(Exit::Disconnected);
            }
        }
    }

    /// Applies one command from the UI.
    fn command(
        &self,
        command: TrainerCommand,
        driver: &mut Driver,
        channel: &mut Channel<'_>,
        control: &mut Control,
    ) -> Result<(), TrainError> {
        let stopped = control.state == RunState::Stopped;
        let session = driver.session_mut();
        match command {
            TrainerCommand::Pause if control.state == RunState::Running => {
                control.state = RunState::Paused;
                control.steps_left = None;
                self.set_state(control.state);
            }
            TrainerCommand::Resume if !stopped && control.state != RunState::Running => {
                control.state = RunState::Running;
                control.steps_left = None;
                self.set_state(control.state);
            }
            TrainerCommand::Step(n) if !stopped && n > 0 => {
                control.state = RunState::Running;
                control.steps_left = Some(n);
                self.set_state(control.state);
            }
            TrainerCommand::ExplainStep if !stopped => {
                session.explain_next_step();
                control.state = RunState::Running;
                control.steps_left = Some(1);
                self.set_state(control.state);
            }
            TrainerCommand::SetTaskWeights(w) => {
                if let Err(message) = session.set_task_weights(&w) {
                    self.warn(message);
                }
            }
            TrainerCommand::SetPenalty(which, lambda) => {
                if let Err(message) = session.set_penalty(which, lambda) {
                    self.warn(message);
                }
            }
            TrainerCommand::SetLearningRate(lr) => {
                if let Err(message) = session.set_lr(lr) {
                    self.warn(message);
                }
            }
            TrainerCommand::SaveWeights(path) => match session.save(&path) {
                Ok(()) => {
                    self.send(TrainerEvent::Saved {
                        run_id: self.run_id,
                        path,
                    });
                }
                Err(e) => self.warn(format!("{e}")),
            },
            TrainerCommand::SaveCheckpoint(path) => {
                let saved = driver
                    .checkpoint(&channel.rows)
                    .and_then(|c| c.save(&path).map_err(TrainError::from));
                match saved {
                    Ok(()) => {
                        self.send(TrainerEvent::Saved {
                            run_id: self.run_id,
                            path,
                        });
                    }
                    Err(e) => self.warn(format!("{e}")),
                }
            }
            TrainerCommand::ExportOnnx(path) => match session.export_onnx(&path) {
                Ok(()) => {
                    self.send(TrainerEvent::ExportedOnnx {
                        run_id: self.run_id,
                        path,
                    });
                }
                Err(e) => self.warn(format!("{e}")),
            },
            TrainerCommand::SetPace(pace) => {
                control.interval = pace.interval();
                control.next_step = Instant::now();
            }
            TrainerCommand::LoadWeights(path) => {
                match session.load_weights(&path) {
                    Ok(()) => {
                        self.send(TrainerEvent::Loaded {
                            run_id: self.run_id,
                            path,
                        });
                    }
                    Err(e) => self.warn(format!("{e}")),
                }
                driver.evaluate(channel)?;
                channel.snapshot(driver.session(), true);
            }
            _ => {}
        }
        Ok(())
    }

    /// One step of the run loop; a diverged loss or a strategy that cannot combine the batch
    /// pauses the run instead of ending it.
    fn step(
        &self,
        driver: &mut Driver,
        channel: &mut Channel<'_>,
        control: &mut Control,
    ) -> Result<(), TrainError> {
        if let Some(n) = &mut control.steps_left {
            *n = n.saturating_sub(1);
        }
        channel.single = control.steps_left.is_some();
        let report = match driver.step(channel) {
            Ok(report) => report,
            Err(TrainError::Diverged { task, step, value }) => {
                channel.flush(driver.session());
                self.send(TrainerEvent::Diverged {
                    run_id: self.run_id,
                    step,
                    task,
                    value,
                });
                control.state = RunState::Paused;
                self.set_state(control.state);
                return Ok(());
            }
            Err(TrainError::Weighting(message)) => {
                // The strategy could not combine this batch (e.g. Nash-MTL on exactly
                // opposite gradients). Keep the model: pause and say why.
                channel.flush(driver.session());
                self.warn(format!("paused: {message}"));
                control.state = RunState::Paused;
                control.steps_left = None;
                self.set_state(control.state);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if let Some(explanation) = driver.session_mut().take_explanation() {
            self.send(TrainerEvent::Explained {
                run_id: self.run_id,
                explanation: Box::new(explanation),
            });
        }
        if report.end.is_some() {
            control.state = RunState::Finished;
            control.steps_left = None;
            self.set_state(control.state);
        } else if control.steps_left == Some(0) {
            control.state = RunState::Paused;
            control.steps_left = None;
            self.set_state(control.state);
        }
        Ok(())
    }
}
