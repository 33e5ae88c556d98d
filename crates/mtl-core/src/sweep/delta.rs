//! Scoring runs: the non-dominated front, and the comparison with single-task baselines
//! (LibMTL's Δp and Nash-MTL's Δm%).

use super::*;

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
