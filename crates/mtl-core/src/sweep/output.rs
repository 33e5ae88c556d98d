//! A sweep from the command line: every run, then `sweep.csv`, `curves.csv`,
//! `baselines.csv` and the front's chart in a folder.

use super::*;

/// What a headless sweep runs.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepOptions {
    /// Grid size (see [`simplex_grid`]).
    pub grid: usize,
    /// Strategy keys.
    pub strategies: Vec<String>,
    /// Seeds; every point runs once per seed.
    pub seeds: Vec<u64>,
    /// Also run EPO once per ray of the grid (the preference sweep).
    pub preferences: bool,
    /// Also train single-task baselines and report Δp.
    pub baselines: bool,
    /// Trainings at the same time.
    pub threads: usize,
}

/// The machine's cores (at least 1).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
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
    let points = plan(
        k,
        options.grid,
        &options.strategies,
        &options.seeds,
        options.preferences,
    )
    .map_err(CliError::Other)?;
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
    let volumes = Hypervolumes::of(&points, runs, &losses);
    write_sweep_csv(
        &out.join("sweep.csv"),
        base,
        &points,
        runs,
        &front,
        &deltas,
        &volumes,
    )?;
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
        write_front_charts(out, base, options, &points, &losses, &front)?;
    }
    if let Some(first) = runs.iter().find_map(|r| r.error.as_ref())
        && runs.iter().all(|r| r.error.is_some())
    {
        return Err(CliError::Other(format!(
            "every one of the {} runs failed (the first: {first}); sweep.csv in {} lists them",
            runs.len(),
            out.display()
        )));
    }
    let mut summary = sweep_summary(&points, runs, &front, &deltas, &names, out);
    summary.push_str(&volumes.summary());
    Ok(summary)
}

/// The hypervolume of each family's front and of all runs, w.r.t. the untrained model's
/// losses ([`starting_point`]); 2 or 3 tasks only.
#[derive(Clone, Debug, PartialEq)]
pub struct Hypervolumes {
    /// The reference point (per task), if there is one.
    pub reference: Option<Vec<f64>>,
    /// Per family present in the sweep: its hypervolume.
    pub families: Vec<(Family, f64)>,
    /// Of every run together.
    pub all: Option<f64>,
}

impl Hypervolumes {
    /// The hypervolumes of a sweep's runs (`losses`: each run's final losses, NaN when it
    /// failed).
    pub fn of(points: &[SweepPoint], runs: &[RunResult], losses: &[Vec<f64>]) -> Self {
        Self::of_runs(
            points
                .iter()
                .zip(runs)
                .zip(losses)
                .map(|((p, r), l)| (p.family(), l.as_slice(), r.curves.as_slice())),
        )
    }

    /// The hypervolumes of runs given as (family, final losses, per-epoch curves).
    pub fn of_runs<'a>(
        runs: impl Iterator<Item = (Family, &'a [f64], &'a [Vec<f64>])> + Clone,
    ) -> Self {
        let curves: Vec<&[Vec<f64>]> = runs.clone().map(|(_, _, c)| c).collect();
        let reference = starting_point(&curves).filter(|r| (2..=3).contains(&r.len()));
        let mut families = Vec::new();
        let mut all = None;
        if let Some(r) = &reference {
            for family in [Family::Static, Family::Preference, Family::Strategy] {
                let members: Vec<Vec<f64>> = runs
                    .clone()
                    .filter(|(f, _, _)| *f == family)
                    .map(|(_, l, _)| l.to_vec())
                    .collect();
                if let (false, Some(hv)) = (members.is_empty(), hypervolume(&members, r)) {
                    families.push((family, hv));
                }
            }
            let every: Vec<Vec<f64>> = runs.map(|(_, l, _)| l.to_vec()).collect();
            all = hypervolume(&every, r);
        }
        Self {
            reference,
            families,
            all,
        }
    }

    /// The hypervolume of `family`'s front.
    pub fn of_family(&self, family: Family) -> Option<f64> {
        self.families
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, v)| *v)
    }

    /// One line per front for the command's summary (empty without a reference point).
    pub fn summary(&self) -> String {
        let Some(r) = &self.reference else {
            return String::new();
        };
        let reference: Vec<String> = r.iter().map(|v| format!("{v:.4}")).collect();
        let mut text = format!(
            "\nhypervolume w.r.t. the untrained model's losses ({}):",
            reference.join(", ")
        );
        for (family, hv) in &self.families {
            text.push_str(&format!(" {} {hv:.4},", family.name()));
        }
        if let Some(all) = self.all {
            text.push_str(&format!(" all runs {all:.4}"));
        }
        text
    }
}

/// `front.png` and `front.svg`: every run at its final losses, the front and the strategies
/// named (2 or 3 tasks).
fn write_front_charts(
    out: &std::path::Path,
    base: &ExperimentSpec,
    options: &SweepOptions,
    points: &[SweepPoint],
    losses: &[Vec<f64>],
    front: &[bool],
) -> Result<(), crate::Error> {
    let names: Vec<String> = base.tasks.iter().map(|t| t.name.clone()).collect();
    let strategy_index = |p: &SweepPoint| {
        options
            .strategies
            .iter()
            .position(|s| p.weights.is_none() && *s == p.strategy)
    };
    let drawn: Vec<crate::export::plot::FrontPoint> = points
        .iter()
        .zip(losses)
        .zip(front)
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
    Ok(())
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
    volumes: &Hypervolumes,
) -> Result<(), crate::export::ExportError> {
    let mut header: Vec<String> = [
        "run", "label", "strategy", "family", "weights", "seed", "split",
    ]
    .map(str::to_owned)
    .to_vec();
    for t in &base.tasks {
        header.push(format!("{}_loss", t.name));
        for key in crate::metrics::metric_keys(t.kind) {
            header.push(format!("{}_{key}", t.name));
        }
    }
    header.extend(["on_front", "front_hypervolume", "hv_reference"].map(str::to_owned));
    header.extend(base.tasks.iter().map(|t| format!("{}_delta", t.name)));
    header.extend(["delta_p", "delta_m_percent", "seconds", "error"].map(str::to_owned));
    let mut rows = vec![header];
    for (i, (((p, r), f), d)) in points.iter().zip(runs).zip(front).zip(deltas).enumerate() {
        let mut row = vec![
            i.to_string(),
            p.label.clone(),
            p.strategy.clone(),
            p.family().name().to_owned(),
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
        row.push(
            volumes
                .of_family(p.family())
                .map_or_else(String::new, crate::export::csv_num),
        );
        row.push(volumes.reference.as_ref().map_or_else(String::new, |r| {
            r.iter()
                .map(|v| crate::export::csv_num(*v))
                .collect::<Vec<_>>()
                .join(";")
        }));
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
