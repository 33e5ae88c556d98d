//! Trade-off sweeps and single-task baselines: many short trainings of one experiment, run
//! side by side on a pool of threads.
//!
//! A sweep trains the experiment once per static weighting on a grid over the simplex (2 or
//! 3 tasks) and once per chosen strategy, each for the same epochs and seeds, and keeps every
//! run's final per-task validation losses and metrics. The non-dominated runs form the
//! empirical Pareto front. Single-task baselines train one model per task (the same trunk
//! and that task's head); a multi-task run is then scored against them with LibMTL's Δp
//! (see [`delta_p`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::experiment::{ExperimentSpec, TaskKind, WeightingSpec};
use crate::trainer::{
    Driver, End, Evaluation, RunEvent, RunPlan, Session, Split, TaskEval, TrainError,
};

/// One training of a sweep: a static weighting or a strategy, with a seed.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepPoint {
    /// Shown in tables and plots: `w=(0.25, 0.75)`, `pcgrad`, … (with `seed N` when several).
    pub label: String,
    /// Strategy key (`manual` for static weights).
    pub strategy: String,
    /// Static task weights, summing to the number of tasks (so their mean is 1, as EW's).
    pub weights: Option<Vec<f64>>,
    /// The run's seed.
    pub seed: u64,
}

/// The interior points of a grid on the simplex for `k` tasks: every weight vector whose
/// entries are positive multiples of `1 / (n + 1)` (2 tasks, n points; 3 tasks,
/// n(n + 1)/2 points). Corners (a task weighted 0) are left out: a task with weight 0 does
/// not train its head.
pub fn simplex_grid(k: usize, n: usize) -> Result<Vec<Vec<f64>>, String> {
    if n == 0 {
        return Ok(Vec::new());
    }
    match k {
        2 => {
            let steps = n + 1;
            Ok((1..steps)
                .map(|i| vec![i as f64 / steps as f64, (steps - i) as f64 / steps as f64])
                .collect())
        }
        3 => {
            // Entries a/s, b/s, c/s with a + b + c = s = n + 2 and each ≥ 1.
            let steps = n + 2;
            let unit = 1.0 / steps as f64;
            let mut out = Vec::new();
            for a in 1..steps {
                for b in 1..steps - a {
                    let c = steps - a - b;
                    out.push(vec![a as f64 * unit, b as f64 * unit, c as f64 * unit]);
                }
            }
            Ok(out)
        }
        _ => Err(format!(
            "a weight grid needs 2 or 3 tasks; this experiment has {k} (sweep strategies only, with --grid 0)"
        )),
    }
}

/// Every point of a sweep: the grid's static weightings, then the strategies, each for every
/// seed.
pub fn plan(
    k: usize,
    grid: usize,
    strategies: &[String],
    seeds: &[u64],
) -> Result<Vec<SweepPoint>, String> {
    if seeds.is_empty() {
        return Err("a sweep needs at least one seed".to_owned());
    }
    for s in strategies {
        if crate::weighting::method(s).is_none() {
            return Err(format!(
                "unknown strategy '{s}' (known: {})",
                crate::weighting::methods()
                    .map(|m| m.key)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let with_seed = |label: String, seed: u64| {
        if seeds.len() > 1 {
            format!("{label} seed {seed}")
        } else {
            label
        }
    };
    let mut out = Vec::new();
    for w in simplex_grid(k, grid)? {
        let names: Vec<String> = w.iter().map(|v| format!("{v:.2}")).collect();
        for &seed in seeds {
            out.push(SweepPoint {
                label: with_seed(format!("w=({})", names.join(", ")), seed),
                strategy: "manual".to_owned(),
                weights: Some(w.iter().map(|v| v * k as f64).collect()),
                seed,
            });
        }
    }
    for s in strategies {
        for &seed in seeds {
            out.push(SweepPoint {
                label: with_seed(s.clone(), seed),
                strategy: s.clone(),
                weights: None,
                seed,
            });
        }
    }
    if out.is_empty() {
        return Err("nothing to sweep: give a grid above 0 or some strategies".to_owned());
    }
    Ok(out)
}

/// The experiment as one point of a sweep trains it.
pub fn spec_for(base: &ExperimentSpec, point: &SweepPoint) -> ExperimentSpec {
    let mut spec = base.clone();
    spec.seed = point.seed;
    if point.strategy != base.weighting.strategy {
        spec.weighting = WeightingSpec::of(&point.strategy);
    }
    if let Some(w) = &point.weights {
        for (t, w) in spec.tasks.iter_mut().zip(w) {
            t.weight = *w as f32;
        }
    }
    // Live affinity measurements would only slow every run down.
    spec.training.affinity_every = 0;
    spec.name = format!("{} [{}]", base.name, point.label);
    spec
}

/// The experiment restricted to task `name` (the same trunk and that task's head).
pub fn single_task_spec(base: &ExperimentSpec, name: &str) -> ExperimentSpec {
    let mut spec = base.restricted_to(&[name.to_owned()]);
    spec.weighting = WeightingSpec::of("ew");
    spec.training.affinity_every = 0;
    spec.name = format!("{} [single task {name}]", base.name);
    spec
}

/// What one training produced.
#[derive(Clone, Debug, PartialEq)]
pub struct RunResult {
    /// Task names.
    pub tasks: Vec<String>,
    /// The split the figures come from (`val`, or `train` without validation rows).
    pub split: &'static str,
    /// Per epoch (0 = before training), per task: the loss on `split`.
    pub curves: Vec<Vec<f64>>,
    /// The final evaluation on `split`, per task.
    pub last: Vec<TaskEval>,
    /// Seconds of training.
    pub seconds: f64,
    /// Why the run stopped early, if it failed or was cancelled.
    pub error: Option<String>,
}

impl RunResult {
    /// A run of `spec` that did not train, with why.
    pub fn not_run(spec: &ExperimentSpec, why: &str) -> Self {
        Self {
            tasks: spec.tasks.iter().map(|t| t.name.clone()).collect(),
            split: "val",
            curves: Vec::new(),
            last: Vec::new(),
            seconds: 0.0,
            error: Some(why.to_owned()),
        }
    }

    /// The final per-task losses on the result's split.
    pub fn final_losses(&self) -> Vec<f64> {
        self.last.iter().map(|e| e.loss).collect()
    }
}

/// Trains `spec` for its epochs, evaluating after each; stops early when `cancel` is set.
pub fn train_once(spec: &ExperimentSpec, cancel: &AtomicBool) -> RunResult {
    let started = Instant::now();
    let tasks: Vec<String> = spec.tasks.iter().map(|t| t.name.clone()).collect();
    let mut result = RunResult {
        tasks,
        split: "val",
        curves: Vec::new(),
        last: Vec::new(),
        seconds: 0.0,
        error: None,
    };
    let outcome = (|| -> Result<(), TrainError> {
        let mut session = Session::new(spec)?;
        // The sweep already trains one run per thread.
        session.set_threads(1);
        result.split = if session.data().val.rows > 0 {
            Split::Val
        } else {
            Split::Train
        }
        .name();
        // Sweeps keep only the monitored split's curves, and no affinity (it leaves the
        // run's path as it is and nothing here shows it).
        let plan = RunPlan {
            evaluation: Evaluation::Monitored,
            affinity_every: 0,
            ..RunPlan::of(spec)
        };
        let mut curves = |_: &Session, event: &RunEvent<'_>| {
            if let RunEvent::Evaluated { tasks, .. } = event {
                result.curves.push(tasks.iter().map(|e| e.loss).collect());
                result.last = tasks.to_vec();
            }
        };
        // Stop rules end a sweep's run as they end any other.
        if Driver::new(session, plan).run(&mut curves, cancel)? == End::Cancelled {
            result.error = Some("cancelled".to_owned());
        }
        Ok(())
    })();
    if let Err(e) = outcome {
        result.error = Some(e.to_string());
    }
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// Trains every spec on `threads` threads (at least 1), calling `done(index, &result)` as
/// each finishes, in whatever order they finish. Returns the results in the specs' order.
/// Setting `cancel` makes the running trainings stop after their current step and the rest
/// not start (their results say "cancelled").
pub fn run_pool(
    specs: &[ExperimentSpec],
    threads: usize,
    cancel: &AtomicBool,
    done: &(dyn Fn(usize, &RunResult) + Sync),
) -> Vec<RunResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunResult>>> = Mutex::new(vec![None; specs.len()]);
    std::thread::scope(|scope| {
        for t in 0..threads.max(1).min(specs.len().max(1)) {
            let (next, results) = (&next, &results);
            let work = move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(spec) = specs.get(i) else { break };
                    let result = if cancel.load(Ordering::Relaxed) {
                        RunResult::not_run(spec, "cancelled")
                    } else {
                        // A panic in one training is that run's error, not the sweep's end.
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            train_once(spec, cancel)
                        }))
                        .unwrap_or_else(|_| RunResult::not_run(spec, "the training crashed"))
                    };
                    done(i, &result);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            };
            if let Err(e) = std::thread::Builder::new()
                .name(format!("sweep-{t}"))
                .spawn_scoped(scope, work)
            {
                log::warn!("could not start sweep thread {t}: {e}");
            }
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results
        .into_iter()
        .zip(specs)
        .map(|(r, spec)| {
            r.unwrap_or_else(|| RunResult::not_run(spec, "not run (no thread could be started)"))
        })
        .collect()
}

/// A sweep in progress on a background thread, for the GUI.
pub struct SweepJob {
    /// The points, in order.
    pub points: Vec<SweepPoint>,
    /// Results as they arrive (`None`: still training).
    pub results: Arc<Mutex<Vec<Option<RunResult>>>>,
    cancel: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SweepJob {
    /// Starts training `specs` (one per point) on `threads` threads; `wake` is called after
    /// each run finishes.
    pub fn start(
        points: Vec<SweepPoint>,
        specs: Vec<ExperimentSpec>,
        threads: usize,
        wake: crate::trainer::Waker,
    ) -> Result<Self, String> {
        let results = Arc::new(Mutex::new(vec![None; specs.len()]));
        let cancel = Arc::new(AtomicBool::new(false));
        let (r, c) = (Arc::clone(&results), Arc::clone(&cancel));
        let thread = std::thread::Builder::new()
            .name("sweep".to_owned())
            .spawn(move || {
                run_pool(&specs, threads, &c, &|i, result| {
                    if let Ok(mut all) = r.lock() {
                        all[i] = Some(result.clone());
                    }
                    wake();
                });
                wake();
            })
            .map_err(|e| format!("could not start the sweep: {e}"))?;
        Ok(Self {
            points,
            results,
            cancel,
            thread: Some(thread),
        })
    }

    /// How many runs have finished, of how many.
    pub fn progress(&self) -> (usize, usize) {
        let all = self.results.lock().map(|r| r.iter().flatten().count());
        (all.unwrap_or(0), self.points.len())
    }

    /// Whether every run has finished.
    pub fn finished(&self) -> bool {
        let (done, total) = self.progress();
        done == total
    }

    /// A copy of the results so far.
    pub fn snapshot(&self) -> Vec<Option<RunResult>> {
        self.results.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Asks every run to stop after its current step.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

impl Drop for SweepJob {
    fn drop(&mut self) {
        self.cancel();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            log::warn!("the sweep thread panicked");
        }
    }
}

/// Which points are non-dominated (minimisation in every coordinate). A point with a
/// non-finite coordinate is never on the front.
pub fn pareto_mask(points: &[Vec<f64>]) -> Vec<bool> {
    let finite = |p: &[f64]| !p.is_empty() && p.iter().all(|v| v.is_finite());
    points
        .iter()
        .map(|p| {
            finite(p)
                && !points.iter().any(|q| {
                    finite(q)
                        && q.len() == p.len()
                        && q.iter().zip(p).all(|(a, b)| a <= b)
                        && q.iter().zip(p).any(|(a, b)| a < b)
                })
        })
        .collect()
}

/// Whether a larger value of metric `key` is better; `None` for metrics left out of Δp (R²,
/// whose relative change is meaningless near 0).
pub fn higher_is_better(key: &str) -> Option<bool> {
    match key {
        "mse" | "mae" => Some(false),
        "accuracy" | "balanced_accuracy" | "f1" | "auc" | "iou" | "miou" | "pixel_accuracy" => {
            Some(true)
        }
        _ => None,
    }
}

/// One task's relative change against its baseline, averaged over its metrics (LibMTL's
/// per-task term): Σₘ (−1)^{higherₘ} (Bₘ − Nₘ) / Bₘ / Mₜ, positive = better. Metrics whose
/// baseline is 0 or not finite are skipped; `None` when none is left.
pub fn task_improvement(kind: TaskKind, baseline: &[f64], run: &[f64]) -> Option<f64> {
    let mut sum = 0.0;
    let mut count = 0usize;
    for ((key, b), n) in crate::metrics::metric_keys(kind)
        .iter()
        .zip(baseline)
        .zip(run)
    {
        let Some(higher) = higher_is_better(key) else {
            continue;
        };
        if !(b.is_finite() && n.is_finite()) || *b == 0.0 {
            continue;
        }
        let sign = if higher { -1.0 } else { 1.0 };
        sum += sign * (b - n) / b;
        count += 1;
    }
    (count > 0).then(|| sum / count as f64)
}

/// LibMTL's Δp (`count_improvement`): the mean over tasks of each task's mean relative
/// improvement over its single-task baseline. Positive means the multi-task run is better.
/// `baseline` and `run` hold, per task, a list of (higher is better, value) metrics.
pub fn delta_p(baseline: &[Vec<(bool, f64)>], run: &[Vec<(bool, f64)>]) -> f64 {
    let per_task: Vec<f64> = baseline
        .iter()
        .zip(run)
        .map(|(b, n)| {
            let terms: Vec<f64> = b
                .iter()
                .zip(n)
                .map(|((higher, b), (_, n))| {
                    let sign = if *higher { -1.0 } else { 1.0 };
                    sign * (b - n) / b
                })
                .collect();
            terms.iter().sum::<f64>() / terms.len().max(1) as f64
        })
        .collect();
    per_task.iter().sum::<f64>() / per_task.len().max(1) as f64
}

/// The Nash-MTL / CAGrad / FAMO Δm%: 100 × the mean over all metrics pooled of
/// (−1)^{higher} (N − B) / B. Negative means the multi-task run is better. Metrics whose
/// baseline is 0 or either value is not finite are left out; `None` when none is left.
pub fn delta_m_percent(baseline: &[Vec<(bool, f64)>], run: &[Vec<(bool, f64)>]) -> Option<f64> {
    let terms: Vec<f64> = baseline
        .iter()
        .zip(run)
        .flat_map(|(b, n)| {
            b.iter()
                .zip(n)
                .filter(|((_, b), (_, n))| b.is_finite() && n.is_finite() && *b != 0.0)
                .map(|((higher, b), (_, n))| {
                    let sign = if *higher { -1.0 } else { 1.0 };
                    sign * (n - b) / b
                })
        })
        .collect();
    (!terms.is_empty()).then(|| 100.0 * terms.iter().sum::<f64>() / terms.len() as f64)
}

/// A task's metrics for Δp: (higher is better, value) for every metric of its kind that
/// counts (see [`higher_is_better`]).
pub fn delta_metrics(kind: TaskKind, eval: &TaskEval) -> Vec<(bool, f64)> {
    crate::metrics::metric_keys(kind)
        .iter()
        .zip(&eval.all)
        .filter_map(|(key, v)| higher_is_better(key).map(|h| (h, *v)))
        .collect()
}

/// A run against its single-task baselines: per task, and overall in both conventions.
#[derive(Clone, Debug, PartialEq)]
pub struct DeltaSummary {
    /// Per task: name, single-task loss, this run's loss, relative change (positive better).
    pub tasks: Vec<(String, f64, f64, Option<f64>)>,
    /// LibMTL's Δp (positive = better).
    pub delta_p: Option<f64>,
    /// Nash-MTL's Δm% (negative = better); `None` when no metric compares.
    pub delta_m_percent: Option<f64>,
}

/// Compares a run's evaluations `run` (one per task) with single-task `baselines`.
pub fn delta_summary(
    names: &[String],
    kinds: &[TaskKind],
    baselines: &[RunResult],
    run: &[TaskEval],
) -> DeltaSummary {
    // Task k's baseline is baselines[k]; a failed one compares nothing.
    let base: Vec<Option<&TaskEval>> = (0..names.len())
        .map(|k| {
            baselines
                .get(k)
                .filter(|b| b.error.is_none())
                .and_then(|b| b.last.first())
        })
        .collect();
    let tasks = names
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let (b, n) = (base.get(k).copied().flatten(), run.get(k));
            let change = b
                .zip(n)
                .zip(kinds.get(k))
                .and_then(|((b, n), kind)| task_improvement(*kind, &b.all, &n.all));
            (
                name.clone(),
                b.map_or(f64::NAN, |e| e.loss),
                n.map_or(f64::NAN, |e| e.loss),
                change,
            )
        })
        .collect();
    let result = RunResult {
        tasks: names.to_vec(),
        split: "val",
        curves: Vec::new(),
        last: run.to_vec(),
        seconds: 0.0,
        error: None,
    };
    // Δm pools the metrics of the tasks that have both a baseline and an evaluation.
    let (mut b_metrics, mut n_metrics) = (Vec::new(), Vec::new());
    for ((b, n), kind) in base.iter().zip(run).zip(kinds) {
        if let Some(b) = b {
            b_metrics.push(delta_metrics(*kind, b));
            n_metrics.push(delta_metrics(*kind, n));
        }
    }
    DeltaSummary {
        tasks,
        delta_p: run_delta_p(kinds, baselines, &result),
        delta_m_percent: delta_m_percent(&b_metrics, &n_metrics),
    }
}

impl DeltaSummary {
    /// The comparison as Markdown, with both conventions stated.
    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "## Against single-task models\n\n| task | single-task loss | this run's loss | relative change |\n|---|---|---|---|\n",
        );
        for (name, b, n, c) in &self.tasks {
            let change = c.map_or_else(|| "n/a".to_owned(), |c| format!("{:+.2} %", 100.0 * c));
            md.push_str(&format!("| {name} | {b:.4} | {n:.4} | {change} |\n"));
        }
        if let Some(dp) = self.delta_p {
            md.push_str(&format!(
                "\nΔp = {:+.2} % (LibMTL: per task, the mean relative change over its metrics, \
                 signed so that positive is better; then the mean over tasks).\n",
                100.0 * dp
            ));
        }
        if let Some(dm) = self.delta_m_percent {
            md.push_str(&format!(
                "\nΔm = {dm:+.2} % (Nash-MTL / CAGrad: the mean over all metrics pooled, signed \
                 so that negative is better).\n"
            ));
        }
        md
    }
}

/// What a headless sweep runs.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepOptions {
    /// Grid size (see [`simplex_grid`]).
    pub grid: usize,
    /// Strategy keys.
    pub strategies: Vec<String>,
    /// Seeds; every point runs once per seed.
    pub seeds: Vec<u64>,
    /// Also train single-task baselines and report Δp.
    pub baselines: bool,
    /// Trainings at the same time.
    pub threads: usize,
}

/// The machine's cores (at least 1).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Δp of `run` against per-task single-task `baselines` (task k's baseline is the only task
/// of `baselines[k]`); `None` when a baseline or the run has no metrics.
pub fn run_delta_p(kinds: &[TaskKind], baselines: &[RunResult], run: &RunResult) -> Option<f64> {
    if run.last.len() != kinds.len() || baselines.len() != kinds.len() {
        return None;
    }
    let mut b = Vec::new();
    let mut n = Vec::new();
    for ((kind, base), eval) in kinds.iter().zip(baselines).zip(&run.last) {
        if base.error.is_some() {
            return None;
        }
        let base_eval = base.last.first()?;
        let (bm, nm) = (delta_metrics(*kind, base_eval), delta_metrics(*kind, eval));
        // Metrics whose baseline is 0 or not finite cannot be compared relatively.
        let keep: Vec<usize> = (0..bm.len())
            .filter(|&i| bm[i].1.is_finite() && bm[i].1 != 0.0 && nm[i].1.is_finite())
            .collect();
        if keep.is_empty() {
            return None;
        }
        b.push(keep.iter().map(|&i| bm[i]).collect::<Vec<_>>());
        n.push(keep.iter().map(|&i| nm[i]).collect::<Vec<_>>());
    }
    Some(delta_p(&b, &n))
}

/// Every run of a sweep (its points, then the single-task baselines per seed, seed-major)
/// with a label each, and the seeds the baselines ran with.
fn sweep_specs<'a>(
    base: &ExperimentSpec,
    options: &'a SweepOptions,
    points: &[SweepPoint],
) -> (Vec<ExperimentSpec>, Vec<String>, &'a [u64]) {
    let mut specs: Vec<ExperimentSpec> = points.iter().map(|p| spec_for(base, p)).collect();
    let names: Vec<String> = base.tasks.iter().map(|t| t.name.clone()).collect();
    // Single-task baselines, per seed (the seed also draws the data), seed-major.
    let baseline_seeds: &[u64] = if options.baselines {
        &options.seeds
    } else {
        &[]
    };
    for &seed in baseline_seeds {
        let mut seeded = base.clone();
        seeded.seed = seed;
        specs.extend(names.iter().map(|n| single_task_spec(&seeded, n)));
    }
    let labels: Vec<String> = points
        .iter()
        .map(|p| p.label.clone())
        .chain(baseline_seeds.iter().flat_map(|seed| {
            names.iter().map(move |n| {
                if options.seeds.len() > 1 {
                    format!("single-task {n} seed {seed}")
                } else {
                    format!("single-task {n}")
                }
            })
        }))
        .collect();
    (specs, labels, baseline_seeds)
}

/// Runs a sweep and writes `sweep.csv`, `curves.csv`, `front.png` (and `baselines.csv`) into
/// `out`; returns a text summary.
pub fn sweep_to_dir(
    base: &ExperimentSpec,
    options: &SweepOptions,
    out: &std::path::Path,
    progress: &(dyn Fn(SweepProgress<'_>) + Sync),
) -> Result<String, crate::Error> {
    use crate::Error as CliError;
    base.check()?;
    let k = base.tasks.len();
    let points =
        plan(k, options.grid, &options.strategies, &options.seeds).map_err(CliError::Other)?;
    crate::headless::create_out_dir(out)?;
    let (specs, labels, baseline_seeds) = sweep_specs(base, options, &points);
    let names: Vec<String> = base.tasks.iter().map(|t| t.name.clone()).collect();
    progress(SweepProgress::Start { runs: specs.len() });
    let cancel = AtomicBool::new(false);
    let results = run_pool(&specs, options.threads, &cancel, &|i, result| {
        let label = labels.get(i).map_or("", String::as_str);
        progress(SweepProgress::Done { label, result });
    });
    progress(SweepProgress::Finish);
    let (runs, stl) = results.split_at(points.len());
    let kinds: Vec<TaskKind> = base.tasks.iter().map(|t| t.kind).collect();
    let losses: Vec<Vec<f64>> = runs
        .iter()
        .map(|r| {
            if r.error.is_some() {
                vec![f64::NAN; k]
            } else {
                r.final_losses()
            }
        })
        .collect();
    let front = pareto_mask(&losses);
    let deltas: Vec<Option<DeltaSummary>> = runs
        .iter()
        .zip(&points)
        .map(|(r, p)| {
            (options.baselines && r.error.is_none())
                .then(|| {
                    let at = options.seeds.iter().position(|s| *s == p.seed)?;
                    let set = stl.get(at * k..(at + 1) * k)?;
                    Some(delta_summary(&names, &kinds, set, &r.last))
                })
                .flatten()
        })
        .collect();
    write_sweep_csv(&out.join("sweep.csv"), base, &points, runs, &front, &deltas)?;
    write_curves_csv(&out.join("curves.csv"), &results, &labels)?;
    if options.baselines {
        write_baselines_csv(
            &out.join("baselines.csv"),
            &names,
            &kinds,
            baseline_seeds,
            stl,
        )?;
    }
    if (2..=3).contains(&k) {
        let strategy_index = |p: &SweepPoint| {
            options
                .strategies
                .iter()
                .position(|s| p.weights.is_none() && *s == p.strategy)
        };
        let drawn: Vec<crate::export::plot::FrontPoint> = points
            .iter()
            .zip(&losses)
            .zip(&front)
            .map(|((p, l), f)| crate::export::plot::FrontPoint {
                label: p.label.clone(),
                losses: l.clone(),
                on_front: *f,
                strategy: strategy_index(p),
            })
            .collect();
        for file in ["front.png", "front.svg"] {
            crate::export::plot::front_chart(
                &out.join(file),
                &format!("{}: final per-task loss of every run", base.name),
                &names,
                &drawn,
            )?;
        }
    }
    Ok(sweep_summary(&points, runs, &front, &deltas, &names, out))
}

/// How far a sweep has come, for a progress bar.
#[derive(Clone, Copy, Debug)]
pub enum SweepProgress<'a> {
    /// The sweep starts this many runs.
    Start {
        /// Runs in all (points and baselines).
        runs: usize,
    },
    /// One run ended (trained, failed or cancelled).
    Done {
        /// What the run is (e.g. `w = 0.25/0.75`).
        label: &'a str,
        /// What it produced.
        result: &'a RunResult,
    },
    /// Every run ended.
    Finish,
}

/// `run,label,epoch,task,loss`: every run's loss per epoch.
fn write_curves_csv(
    path: &std::path::Path,
    results: &[RunResult],
    labels: &[String],
) -> Result<(), crate::export::ExportError> {
    let mut rows = vec![
        ["run", "label", "epoch", "task", "loss"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for (i, (r, label)) in results.iter().zip(labels).enumerate() {
        for (epoch, row) in r.curves.iter().enumerate() {
            for (task, loss) in r.tasks.iter().zip(row) {
                rows.push(vec![
                    i.to_string(),
                    label.clone(),
                    epoch.to_string(),
                    task.clone(),
                    crate::export::csv_num(*loss),
                ]);
            }
        }
    }
    crate::export::write_csv(path, &rows)
}

/// `seed,task,loss,metric,value`: each single-task baseline's final metrics (`stl` holds,
/// per seed, one run per task).
fn write_baselines_csv(
    path: &std::path::Path,
    names: &[String],
    kinds: &[TaskKind],
    seeds: &[u64],
    stl: &[RunResult],
) -> Result<(), crate::export::ExportError> {
    let mut rows = vec![
        ["seed", "task", "loss", "metric", "value", "error"]
            .map(str::to_owned)
            .to_vec(),
    ];
    for (seed, set) in seeds.iter().zip(stl.chunks(names.len().max(1))) {
        for ((name, kind), r) in names.iter().zip(kinds).zip(set) {
            if let Some(e) = &r.error {
                rows.push(vec![
                    seed.to_string(),
                    name.clone(),
                    String::new(),
                    String::new(),
                    String::new(),
                    e.clone(),
                ]);
                continue;
            }
            if let Some(e) = r.last.first() {
                for (key, v) in crate::metrics::metric_keys(*kind).iter().zip(&e.all) {
                    rows.push(vec![
                        seed.to_string(),
                        name.clone(),
                        crate::export::csv_num(e.loss),
                        (*key).to_owned(),
                        crate::export::csv_num(*v),
                        String::new(),
                    ]);
                }
            }
        }
    }
    crate::export::write_csv(path, &rows)
}

fn write_sweep_csv(
    path: &std::path::Path,
    base: &ExperimentSpec,
    points: &[SweepPoint],
    runs: &[RunResult],
    front: &[bool],
    deltas: &[Option<DeltaSummary>],
) -> Result<(), crate::export::ExportError> {
    let mut header: Vec<String> = ["run", "label", "strategy", "weights", "seed", "split"]
        .map(str::to_owned)
        .to_vec();
    for t in &base.tasks {
        header.push(format!("{}_loss", t.name));
        for key in crate::metrics::metric_keys(t.kind) {
            header.push(format!("{}_{key}", t.name));
        }
    }
    header.push("on_front".to_owned());
    header.extend(base.tasks.iter().map(|t| format!("{}_delta", t.name)));
    header.extend(["delta_p", "delta_m_percent", "seconds", "error"].map(str::to_owned));
    let mut rows = vec![header];
    for (i, (((p, r), f), d)) in points.iter().zip(runs).zip(front).zip(deltas).enumerate() {
        let mut row = vec![
            i.to_string(),
            p.label.clone(),
            p.strategy.clone(),
            p.weights.as_ref().map_or_else(String::new, |w| {
                w.iter()
                    .map(|v| format!("{v}"))
                    .collect::<Vec<_>>()
                    .join(";")
            }),
            p.seed.to_string(),
            r.split.to_owned(),
        ];
        for (t, task) in base.tasks.iter().enumerate() {
            let keys = crate::metrics::metric_keys(task.kind);
            match r.last.get(t) {
                Some(e) if r.error.is_none() => {
                    row.push(crate::export::csv_num(e.loss));
                    row.extend((0..keys.len()).map(|m| {
                        crate::export::csv_num(e.all.get(m).copied().unwrap_or(f64::NAN))
                    }));
                }
                _ => row.extend(std::iter::repeat_n(String::new(), keys.len() + 1)),
            }
        }
        row.push(u8::from(*f).to_string());
        for t in 0..base.tasks.len() {
            let change = d.as_ref().and_then(|d| d.tasks.get(t)).and_then(|x| x.3);
            row.push(change.map_or_else(String::new, |v| format!("{v}")));
        }
        let dp = d.as_ref().and_then(|d| d.delta_p);
        row.push(dp.map_or_else(String::new, |v| format!("{v}")));
        row.push(
            d.as_ref()
                .and_then(|d| d.delta_m_percent)
                .map_or_else(String::new, |v| format!("{v}")),
        );
        row.push(format!("{:.2}", r.seconds));
        row.push(r.error.clone().unwrap_or_default());
        rows.push(row);
    }
    crate::export::write_csv(path, &rows)
}

fn sweep_summary(
    points: &[SweepPoint],
    runs: &[RunResult],
    front: &[bool],
    deltas: &[Option<DeltaSummary>],
    names: &[String],
    out: &std::path::Path,
) -> String {
    let mut text = format!(
        "{:<28} {}  front{}\n",
        "run",
        names
            .iter()
            .map(|n| format!("{:>12}", format!("{n} loss")))
            .collect::<String>(),
        if deltas.iter().any(Option::is_some) {
            "   Δp %    Δm %"
        } else {
            ""
        }
    );
    for (((p, r), f), d) in points.iter().zip(runs).zip(front).zip(deltas) {
        let cells: String = match &r.error {
            Some(e) => format!("  failed: {e}"),
            None => r
                .final_losses()
                .iter()
                .map(|l| format!("{l:>12.4}"))
                .collect(),
        };
        let delta = d.as_ref().map_or_else(String::new, |d| {
            let dp = d
                .delta_p
                .map_or_else(|| "    n/a".to_owned(), |v| format!("{:>+7.2}", 100.0 * v));
            let dm = d
                .delta_m_percent
                .map_or_else(|| "    n/a".to_owned(), |v| format!("{v:>+7.2}"));
            format!("  {dp} {dm}")
        });
        text.push_str(&format!(
            "{:<28} {cells}  {:<5}{delta}\n",
            p.label,
            if *f { "yes" } else { "" }
        ));
    }
    let failed = runs.iter().filter(|r| r.error.is_some()).count();
    text.push_str(&format!(
        "{} runs, {} on the front{}; wrote {}",
        runs.len(),
        front.iter().filter(|f| **f).count(),
        if failed > 0 {
            format!(", {failed} failed")
        } else {
            String::new()
        },
        out.display()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libmtl_docstring_example_gives_its_golden_values() {
        // LibMTL utils.count_improvement: base {A:[96,98], B:[0.2]}, new {A:[93,99],
        // B:[0.5]}, weights {A:[1,0], B:[1]} (1 = higher is better).
        let base = vec![vec![(true, 96.0), (false, 98.0)], vec![(true, 0.2)]];
        let new = vec![vec![(true, 93.0), (false, 99.0)], vec![(true, 0.5)]];
        assert!((delta_p(&base, &new) - 0.739_636).abs() < 1e-6);
        let dm = delta_m_percent(&base, &new).expect("finite");
        assert!((dm - -48.618).abs() < 1e-3);
        // A zero or undefined baseline metric is left out, never inf or NaN.
        let zero = vec![vec![(true, 0.0), (false, 2.0)]];
        let run = vec![vec![(true, 0.5), (false, f64::NAN)]];
        assert_eq!(delta_m_percent(&zero, &run), None);
    }

    #[test]
    fn the_grid_covers_the_simplex_interior() {
        let g2 = simplex_grid(2, 3).expect("2 tasks");
        assert_eq!(g2, vec![vec![0.25, 0.75], vec![0.5, 0.5], vec![0.75, 0.25]]);
        let g3 = simplex_grid(3, 4).expect("3 tasks");
        // a + b + c = 6 with each ≥ 1: C(5, 2) = 10 points.
        assert_eq!(g3.len(), 10);
        assert_eq!(
            simplex_grid(3, 1).expect("centre"),
            vec![vec![1.0 / 3.0; 3]]
        );
        for w in &g3 {
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(w.iter().all(|v| *v > 0.0));
        }
        assert!(simplex_grid(4, 3).is_err());
        assert!(simplex_grid(4, 0).expect("no grid").is_empty());
    }

    #[test]
    fn the_front_keeps_exactly_the_non_dominated_points() {
        let pts = vec![
            vec![1.0, 4.0],
            vec![2.0, 2.0],
            vec![3.0, 3.0], // dominated by (2, 2)
            vec![4.0, 1.0],
            vec![2.0, 2.0], // a tie stays on the front
            vec![f64::NAN, 0.0],
        ];
        assert_eq!(
            pareto_mask(&pts),
            vec![true, true, false, true, true, false]
        );
    }

    #[test]
    fn a_plan_scales_static_weights_to_a_mean_of_one() {
        let p = plan(2, 1, &["pcgrad".to_owned()], &[3]).expect("plan");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].weights, Some(vec![1.0, 1.0]));
        assert_eq!(p[1].strategy, "pcgrad");
        assert!(plan(2, 1, &["nope".to_owned()], &[3]).is_err());
    }
}
