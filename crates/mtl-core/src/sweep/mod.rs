//! Trade-off sweeps and single-task baselines: many short trainings of one experiment, run
//! side by side on a pool of threads.
//!
//! A sweep trains the experiment once per static weighting on a grid over the simplex (2 or
//! 3 tasks) and once per chosen strategy, each for the same epochs and seeds, and keeps every
//! run's final per-task validation losses and metrics. The non-dominated runs form the
//! empirical Pareto front. With preferences, it also trains EPO once per ray of the same
//! grid (the grid point as the preference over the tasks), which traces the front by
//! asking for each place on it; every family of runs (static weights, preferences, all
//! runs) is scored by its front's hypervolume ([`hypervolume`]). Single-task baselines train one model per task (the same trunk
//! and that task's head); a multi-task run is then scored against them with LibMTL's Δp
//! (see [`delta_p`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

mod delta;
mod hypervolume;
mod output;
mod run;

pub use delta::*;
pub use hypervolume::*;
pub use output::*;
pub use run::*;

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

/// Which kind of run a sweep point is: its runs form one front.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Static task weights from the grid.
    Static,
    /// EPO aimed at a preference ray from the grid.
    Preference,
    /// A weighting strategy.
    Strategy,
}

impl Family {
    /// Its name in `sweep.csv` and the charts.
    pub fn name(self) -> &'static str {
        match self {
            Self::Static => "static",
            Self::Preference => "preference",
            Self::Strategy => "strategy",
        }
    }
}

/// The strategy of the preference sweep (EPO, which reads the tasks' weights as its
/// preference).
pub const PREFERENCE_STRATEGY: &str = "epo";

impl SweepPoint {
    /// Which family of runs it belongs to.
    pub fn family(&self) -> Family {
        match (&self.weights, self.strategy.as_str()) {
            (Some(_), PREFERENCE_STRATEGY) => Family::Preference,
            (Some(_), _) => Family::Static,
            (None, _) => Family::Strategy,
        }
    }
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

/// Every point of a sweep: the grid's static weightings, with `preferences` EPO on each of
/// the grid's rays, then the strategies, each for every seed.
pub fn plan(
    k: usize,
    grid: usize,
    strategies: &[String],
    seeds: &[u64],
    preferences: bool,
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
    // The number of runs before any is listed (`--grid 1e9` must not allocate them).
    let grid_points = match (k, grid) {
        (_, 0) => 0u64,
        (3, n) => (n as u64).saturating_mul((n as u64).saturating_add(1)) / 2,
        (_, n) => n as u64,
    };
    let runs = grid_points
        .saturating_add(strategies.len() as u64)
        .saturating_mul(seeds.len() as u64);
    crate::limits::check_sweep_runs(runs)?;
    let mut out = Vec::new();
    let rays = simplex_grid(k, grid)?;
    let families: &[(&str, &str)] = if preferences {
        &[("w", "manual"), ("r", PREFERENCE_STRATEGY)]
    } else {
        &[("w", "manual")]
    };
    for (prefix, strategy) in families {
        for w in &rays {
            let names: Vec<String> = w.iter().map(|v| format!("{v:.2}")).collect();
            for &seed in seeds {
                out.push(SweepPoint {
                    label: with_seed(format!("{prefix}=({})", names.join(", ")), seed),
                    strategy: (*strategy).to_owned(),
                    weights: Some(w.iter().map(|v| v * k as f64).collect()),
                    seed,
                });
            }
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
    if point.family() == Family::Preference {
        // The grid's ray is the preference, through the tasks' weights.
        spec.weighting.params.remove("preference");
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
        let p = plan(2, 1, &["pcgrad".to_owned()], &[3], false).expect("plan");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].weights, Some(vec![1.0, 1.0]));
        assert_eq!(p[1].strategy, "pcgrad");
        assert!(plan(2, 1, &["nope".to_owned()], &[3], false).is_err());
        // With preferences, EPO runs once per ray of the same grid.
        let p = plan(2, 3, &[], &[3], true).expect("plan");
        let families: Vec<Family> = p.iter().map(SweepPoint::family).collect();
        assert_eq!(families[..3], [Family::Static; 3]);
        assert_eq!(families[3..], [Family::Preference; 3]);
        assert_eq!(p[3].label, "r=(0.25, 0.75)");
        assert_eq!(p[3].weights, Some(vec![0.5, 1.5]));
    }
}
