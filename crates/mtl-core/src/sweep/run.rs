//! Training the runs of a sweep: one run to its end, many on a pool of threads, a sweep in
//! the background for the GUI.

use super::*;

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
