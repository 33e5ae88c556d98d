//! What the UI remembers of the current run: bounded series for the charts and the
//! epoch-level evaluations (small, kept in full for the metrics CSV).

use crate::export::MetricRow;
use crate::metrics::history::Decimated;
use crate::trainer::{EvalMetrics, RunInfo, RunState, StepMetrics, TrainerEvent};

/// Points kept per step-level series.
pub const POINT_BUDGET: usize = 2000;

/// The lifecycle of the run as the UI sees it.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    /// No run yet.
    Idle,
    /// The thread is starting (loading data, building the model).
    Starting,
    /// A trainer state.
    Run(RunState),
    /// The run failed; the message says why.
    Failed(String),
}

/// History of one run.
#[derive(Clone, Debug)]
pub struct RunHistory {
    /// Run id the history belongs to.
    pub run_id: u64,
    /// Facts about the run once it started.
    pub info: Option<RunInfo>,
    /// Lifecycle.
    pub phase: Phase,
    /// Per task: training loss against epoch (step-level, decimated).
    pub task_loss: Vec<Decimated<[f64; 2]>>,
    /// Weighted total loss against epoch.
    pub total_loss: Decimated<[f64; 2]>,
    /// Per task: weight against epoch.
    pub weights: Vec<Decimated<[f64; 2]>>,
    /// Per task: norm of its shared gradient against epoch (when measured).
    pub grad_norms: Vec<Decimated<[f64; 2]>>,
    /// The gradient cosines of the last epoch's steps: per event, its step and the K × K
    /// sums and counts (row-major), oldest first.
    cosine_window: std::collections::VecDeque<(u64, Vec<f64>, Vec<usize>)>,
    /// Per pair of tasks (a < b, in order): the mean gradient cosine of each event against
    /// epoch.
    pub cosine_pairs: Vec<Decimated<[f64; 2]>>,
    /// Soft sharing: per pair of towers (a < b, in order) the distance against epoch.
    pub tower_distance: Vec<Decimated<[f64; 2]>>,
    /// The architecture's latest state (Ω, cross-stitch units, gates).
    pub arch: Option<crate::model::ArchState>,
    /// Every evaluation, in order.
    pub evals: Vec<EvalMetrics>,
    /// The latest step summary.
    pub last_step: Option<StepMetrics>,
    /// A divergence report, shown until the next run.
    pub diverged: Option<String>,
    /// When a stop rule ended the run: where and why.
    pub stopped: Option<crate::trainer::Stopped>,
    /// TAG lookahead affinity summed over every measurement of the run, and how many
    /// measured each cell.
    pub affinity: Option<(Vec<f64>, Vec<usize>)>,
    /// The run's `metrics.csv` rows, as the trainer's run loop made them.
    pub rows: Vec<MetricRow>,
    /// What the last explained step did (Explain step, while paused).
    pub explanation: Option<crate::trainer::StepExplanation>,
    /// The name the user gave this run in the charts' legend (instead of what changed).
    pub custom_label: Option<String>,
}

impl RunHistory {
    /// An empty history for run `run_id`.
    pub fn new(run_id: u64, phase: Phase) -> Self {
        Self {
            run_id,
            info: None,
            phase,
            task_loss: Vec::new(),
            total_loss: Decimated::new(POINT_BUDGET),
            weights: Vec::new(),
            grad_norms: Vec::new(),
            cosine_window: std::collections::VecDeque::new(),
            cosine_pairs: Vec::new(),
            tower_distance: Vec::new(),
            arch: None,
            evals: Vec::new(),
            last_step: None,
            diverged: None,
            stopped: None,
            affinity: None,
            rows: Vec::new(),
            explanation: None,
            custom_label: None,
        }
    }

    /// `run 3 · PCGrad`, for legends.
    pub fn label(&self) -> String {
        match &self.info {
            Some(info) => format!("run {} · {}", self.run_id, info.spec.weighting.label()),
            None => format!("run {}", self.run_id),
        }
    }

    /// How an earlier run is named in the legend, next to `current`: the name the user gave
    /// it, else what it did differently (`p = 0`, `MMoE`, `trunk 3-3`, `UW`).
    pub fn label_against(&self, current: &Self) -> String {
        if let Some(label) = &self.custom_label {
            return label.clone();
        }
        match (&current.info, &self.info) {
            (Some(c), Some(p)) => crate::experiment::describe_change(&c.spec, &p.spec),
            _ => self.label(),
        }
    }

    /// Number of tasks of the run (0 before it started).
    pub fn task_count(&self) -> usize {
        self.info.as_ref().map_or(0, |i| i.task_names.len())
    }

    /// Takes in one event of this run. Returns a message for the status bar, if any.
    pub fn apply(&mut self, event: TrainerEvent) -> Option<(bool, String)> {
        match event {
            TrainerEvent::Started { info, .. } => {
                let k = info.task_names.len();
                self.task_loss = vec![Decimated::new(POINT_BUDGET); k];
                self.weights = vec![Decimated::new(POINT_BUDGET); k];
                self.grad_norms = vec![Decimated::new(POINT_BUDGET); k];
                self.tower_distance =
                    vec![Decimated::new(POINT_BUDGET); k * k.saturating_sub(1) / 2];
                self.cosine_pairs = vec![Decimated::new(POINT_BUDGET); k * k.saturating_sub(1) / 2];
                self.info = Some(*info);
                None
            }
            TrainerEvent::Step(m) => {
                for (series, loss) in self.task_loss.iter_mut().zip(&m.task_losses) {
                    if loss.is_finite() {
                        series.push([m.epoch, f64::from(*loss)]);
                    }
                }
                self.total_loss.push([m.epoch, f64::from(m.total_loss)]);
                for (series, w) in self.weights.iter_mut().zip(&m.task_weights) {
                    series.push([m.epoch, f64::from(*w)]);
                }
                if let Some(norms) = &m.grad_norms {
                    for (series, n) in self.grad_norms.iter_mut().zip(norms) {
                        series.push([m.epoch, *n]);
                    }
                }
                if let Some((sum, n)) = &m.grad_cosines {
                    self.add_cosines(m.step, m.epoch, sum, n);
                }
                if let Some(arch) = &m.arch {
                    if let Some(d) = &arch.tower_distances {
                        let k = self.task_count();
                        let pairs = (0..k).flat_map(|a| (a + 1..k).map(move |b| (a, b)));
                        for (series, (a, b)) in self.tower_distance.iter_mut().zip(pairs) {
                            if let Some(v) = d.get(a * k + b) {
                                series.push([m.epoch, *v]);
                            }
                        }
                    }
                    self.arch = Some(arch.clone());
                }
                if let Some((sum, n)) = &m.affinity {
                    let (total, count) = self
                        .affinity
                        .get_or_insert_with(|| (vec![0.0; sum.len()], vec![0; sum.len()]));
                    for ((t, c), (s, k)) in total
                        .iter_mut()
                        .zip(count.iter_mut())
                        .zip(sum.iter().zip(n))
                    {
                        *t += s;
                        *c += k;
                    }
                }
                self.last_step = Some(*m);
                None
            }
            TrainerEvent::Eval(e) => {
                self.evals.push(e);
                None
            }
            TrainerEvent::State { state, .. } => {
                self.phase = Phase::Run(state);
                None
            }
            TrainerEvent::Diverged {
                step, task, value, ..
            } => {
                let msg = format!(
                    "Task '{task}' diverged at step {step} (loss {value}); the run is paused. Lower the learning rate or this task's weight, then Resume or Restart."
                );
                self.diverged = Some(msg.clone());
                Some((true, msg))
            }
            TrainerEvent::Saved { path, .. } => Some((false, file_message(true, &path))),
            TrainerEvent::Loaded { path, .. } => Some((false, file_message(false, &path))),
            TrainerEvent::ExportedOnnx { path, .. } => {
                Some((false, format!("Exported ONNX to {}", path.display())))
            }
            TrainerEvent::Warning { message, .. } => Some((true, message)),
            TrainerEvent::Stopped { stopped, .. } => {
                let message = stopped.message.clone();
                self.stopped = Some(stopped);
                Some((false, message))
            }
            TrainerEvent::Rows { rows, .. } => {
                self.rows.extend(rows);
                None
            }
            TrainerEvent::Explained { explanation, .. } => {
                self.explanation = Some(*explanation);
                None
            }
            TrainerEvent::Failed { message, .. } => {
                self.phase = Phase::Failed(message.clone());
                Some((true, format!("Training failed: {message}")))
            }
        }
    }

    fn add_cosines(&mut self, step: u64, epoch: f64, sum: &[f64], n: &[usize]) {
        let k = self.task_count();
        if sum.len() != k * k || n.len() != sum.len() {
            return;
        }
        let pairs = (0..k).flat_map(|a| (a + 1..k).map(move |b| (a, b)));
        for (series, (a, b)) in self.cosine_pairs.iter_mut().zip(pairs) {
            let i = a * k + b;
            if n[i] > 0 {
                series.push([epoch, sum[i] / n[i] as f64]);
            }
        }
        self.cosine_window
            .push_back((step, sum.to_vec(), n.to_vec()));
        // Keep the events of the last epoch's steps.
        let span = self.info.as_ref().map_or(1, |i| i.steps_per_epoch.max(1));
        while self
            .cosine_window
            .front()
            .is_some_and(|(s, _, _)| *s + span <= step)
        {
            self.cosine_window.pop_front();
        }
    }

    /// The mean K × K gradient cosine matrix over the last epoch's measurements (row-major),
    /// with how many measurements it averages (the most of any cell); `None` before any.
    pub fn cosines(&self) -> Option<(Vec<f64>, usize)> {
        let (_, first, _) = self.cosine_window.front()?;
        let mut sum = vec![0.0; first.len()];
        let mut count = vec![0usize; first.len()];
        for (_, s, n) in &self.cosine_window {
            for (i, (v, c)) in s.iter().zip(n).enumerate() {
                if let (Some(total), Some(k)) = (sum.get_mut(i), count.get_mut(i)) {
                    *total += v;
                    *k += c;
                }
            }
        }
        let measured = count.iter().copied().max().unwrap_or(0);
        let mean = sum
            .iter()
            .zip(&count)
            .map(|(v, c)| if *c > 0 { v / *c as f64 } else { f64::NAN })
            .collect();
        Some((mean, measured))
    }

    /// The run's task names (empty before it starts).
    pub fn task_names(&self) -> Vec<String> {
        self.info
            .as_ref()
            .map(|i| i.task_names.clone())
            .unwrap_or_default()
    }

    /// The mean TAG affinity over the run's measurements (K × K, row onto column).
    pub fn affinity_mean(&self) -> Option<Vec<f64>> {
        let (sum, n) = self.affinity.as_ref()?;
        Some(
            sum.iter()
                .zip(n)
                .map(|(v, c)| if *c > 0 { v / *c as f64 } else { f64::NAN })
                .collect(),
        )
    }

    /// How many affinity measurements the run made (the most of any cell).
    pub fn affinity_count(&self) -> usize {
        self.affinity
            .as_ref()
            .and_then(|(_, n)| n.iter().max().copied())
            .unwrap_or(0)
    }

    /// Evaluations of one split as `(epoch, loss)` or `(epoch, metric)` points per task.
    pub fn eval_series(
        &self,
        split: crate::trainer::Split,
        task: usize,
        metric: bool,
    ) -> Vec<[f64; 2]> {
        self.evals
            .iter()
            .filter(|e| e.split == split)
            .filter_map(|e| {
                e.tasks
                    .get(task)
                    .map(|t| [e.epoch as f64, if metric { t.metric } else { t.loss }])
            })
            .filter(|p| p[1].is_finite())
            .collect()
    }

    /// The rows of the run's metrics CSV: the same rows `mtl-studio train` writes for the
    /// same run.
    pub fn metric_rows(&self) -> Vec<MetricRow> {
        self.rows.clone()
    }
}

/// The status line after weights or a checkpoint were saved (`saved`) or loaded.
fn file_message(saved: bool, path: &std::path::Path) -> String {
    match (saved, is_checkpoint_name(path)) {
        (true, true) => format!("Saved a checkpoint to {}", path.display()),
        (true, false) => format!("Saved weights to {}", path.display()),
        (false, true) => format!(
            "Loaded the checkpoint {}: Resume continues its run",
            path.display()
        ),
        (false, false) => format!("Loaded weights from {}", path.display()),
    }
}

/// Whether a file's name says it is a checkpoint (`checkpoint.safetensors`,
/// `run3.checkpoint.safetensors`).
fn is_checkpoint_name(path: &std::path::Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with("checkpoint.safetensors"))
}
