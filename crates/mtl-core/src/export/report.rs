//! A run's report: a small folder anyone can open. `report.md` (what was trained, how, the
//! final metrics, the loss chart), the chart as `loss.png` and `loss.svg`, every metric as
//! `metrics.csv` and the experiment as `spec.toml`. The desktop app and `mtl-studio train`
//! write the same report.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plot::{Curve, loss_chart};
use super::{ExportError, MetricRow, write_atomic, write_metrics_csv};
use crate::experiment::ExperimentSpec;

/// Task `task`'s (colour `k`) loss curve on `split`: training solid, validation dashed;
/// `None` without points.
pub fn loss_curve(task: &str, k: usize, split: &str, points: Vec<(f64, f64)>) -> Option<Curve> {
    (!points.is_empty()).then(|| Curve {
        name: format!("{task} ({split})"),
        colour: k,
        dashed: split == "val",
        points,
    })
}

/// Loss curves from metric rows: per task, training solid and validation dashed.
pub fn loss_curves(rows: &[MetricRow], tasks: &[String]) -> Vec<Curve> {
    let mut curves = Vec::new();
    for (k, task) in tasks.iter().enumerate() {
        for split in ["train", "val"] {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| r.task == *task && r.split == split && r.loss.is_finite())
                .map(|r| (r.epoch as f64, r.loss))
                .collect();
            curves.extend(loss_curve(task, k, split, points));
        }
    }
    curves
}

/// What a report says beyond the spec and the metric rows.
#[derive(Clone, Debug, Default)]
pub struct ReportNotes {
    /// Seconds of training, if known.
    pub seconds: Option<f64>,
    /// Training threads, if known (the same spec on as many threads gives the same curves).
    pub threads: Option<usize>,
    /// Why training stopped early, if it did.
    pub stopped: Option<String>,
    /// Extra lines (e.g. the comparison with single-task models), Markdown.
    pub extra: Vec<String>,
}

/// Writes the report of a run of `spec` with metric `rows` into `dir` (created if needed).
/// Returns the files written.
pub fn write_report(
    dir: &Path,
    spec: &ExperimentSpec,
    rows: &[MetricRow],
    notes: &ReportNotes,
) -> Result<Vec<PathBuf>, ExportError> {
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    })?;
    let tasks: Vec<String> = spec.tasks.iter().map(|t| t.name.clone()).collect();
    let curves = loss_curves(rows, &tasks);
    let metrics = dir.join("metrics.csv");
    write_metrics_csv(&metrics, rows)?;
    let mut written = write_report_beside(dir, spec, &curves, rows, notes)?;
    written.insert(2, metrics);
    Ok(written)
}

/// The report without `metrics.csv` (already in `dir`, e.g. written as the rows came by a
/// [`crate::trainer::MetricsStream`]): the charts of `curves`, `spec.toml` and `report.md`,
/// whose final metrics come from `rows` (the rows of the last epoch suffice).
pub fn write_report_beside(
    dir: &Path,
    spec: &ExperimentSpec,
    curves: &[Curve],
    rows: &[MetricRow],
    notes: &ReportNotes,
) -> Result<Vec<PathBuf>, ExportError> {
    let title = format!("{} — loss per task", spec.name);
    let mut written = Vec::new();
    for name in ["loss.png", "loss.svg"] {
        let path = dir.join(name);
        loss_chart(&path, &title, curves)?;
        written.push(path);
    }
    // Data paths relative to the report's folder: `train spec.toml` there finds the data.
    let mut spec = spec.clone();
    spec.dataset.relative_to(dir);
    let spec = &spec;
    let toml = spec.to_toml().map_err(|message| ExportError::Format {
        path: dir.join("spec.toml"),
        message,
    })?;
    let spec_path = dir.join("spec.toml");
    write_atomic(&spec_path, toml.as_bytes())?;
    written.push(spec_path);
    let report = dir.join("report.md");
    write_atomic(&report, markdown(spec, rows, notes, &toml).as_bytes())?;
    written.push(report);
    Ok(written)
}

/// The report's text.
fn markdown(spec: &ExperimentSpec, rows: &[MetricRow], notes: &ReportNotes, toml: &str) -> String {
    let mut md = String::new();
    let last_epoch = rows.iter().map(|r| r.epoch).max().unwrap_or(0);
    let arch = &spec.model.architecture;
    let _ = writeln!(md, "# {}\n", spec.name);
    let _ = writeln!(
        md,
        "{} task(s): {}. Architecture: {} ({}). Weighting: {}. Optimizer: {}, {} epochs of \
         batches of {}, seed {}.\n",
        spec.tasks.len(),
        spec.tasks
            .iter()
            .map(|t| format!("{} ({})", t.name, t.kind))
            .collect::<Vec<_>>()
            .join(", "),
        arch.label(),
        arch.paper(),
        spec.weighting.label(),
        spec.optimizer.label(),
        last_epoch,
        spec.training.batch_size,
        spec.seed
    );
    if let Some(s) = notes.seconds {
        let _ = writeln!(md, "Trained in {s:.1} s.\n");
    }
    if let Some(t) = notes.threads {
        let _ = writeln!(
            md,
            "Training threads: {t} (the same spec on {t} thread(s) reproduces these curves).\n"
        );
    }
    if let Some(s) = &notes.stopped {
        let _ = writeln!(md, "{s}\n");
    }
    let _ = writeln!(md, "![Loss per task](loss.png)\n");
    let split = if rows.iter().any(|r| r.split == "val") {
        "val"
    } else {
        "train"
    };
    let _ = writeln!(md, "## Final metrics ({split}, epoch {last_epoch})\n");
    let _ = writeln!(md, "| task | loss | metric | value |\n|---|---|---|---|");
    for r in rows.iter().filter(|r| {
        r.epoch == last_epoch && r.split == split && r.loss.is_finite() && r.value.is_finite()
    }) {
        let _ = writeln!(
            md,
            "| {} | {:.4} | {} | {} |",
            r.task,
            r.loss,
            r.metric,
            short(r.value)
        );
    }
    for line in &notes.extra {
        let _ = writeln!(md, "\n{line}");
    }
    let _ = writeln!(
        md,
        "\n## Experiment\n\nThe spec below trains this run again with \
         `mtl-studio train spec.toml --out run` (`spec.toml` in this folder). Every metric is in \
         `metrics.csv`; the chart is also `loss.svg`.\n\n```toml\n{}\n```",
        toml.trim_end()
    );
    let _ = writeln!(md, "\n_Made by MTL Studio {}._", env!("CARGO_PKG_VERSION"));
    md
}

/// A metric value, short: 4 significant digits.
fn short(v: f64) -> String {
    if v != 0.0 && (v.abs() < 0.01 || v.abs() >= 1e5) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(epoch: usize, split: &'static str, task: &str, loss: f64) -> MetricRow {
        MetricRow {
            epoch,
            step: epoch as u64 * 10,
            split,
            task: task.to_owned(),
            loss,
            metric: "r2",
            value: 0.5,
        }
    }

    #[test]
    fn a_report_holds_the_charts_the_metrics_and_a_spec_that_loads_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = ExperimentSpec::default();
        let rows: Vec<MetricRow> = (0..=3)
            .flat_map(|e| {
                ["y1", "y2"].into_iter().flat_map(move |t| {
                    ["train", "val"]
                        .into_iter()
                        .map(move |s| row(e, s, t, 1.0 / (1.0 + e as f64)))
                })
            })
            .collect();
        let notes = ReportNotes {
            seconds: Some(2.5),
            threads: Some(2),
            stopped: None,
            extra: vec!["Δp = +1.00 %".to_owned()],
        };
        let written = write_report(dir.path(), &spec, &rows, &notes).expect("report");
        assert_eq!(written.len(), 5);
        let md = std::fs::read_to_string(dir.path().join("report.md")).expect("md");
        assert!(md.contains("## Final metrics (val, epoch 3)"));
        assert!(
            md.contains("Training threads: 2"),
            "the thread count is recorded"
        );
        assert!(md.contains("| y2 | 0.2500 | r2 | 0.5000 |"));
        assert!(md.contains("Δp = +1.00 %"));
        assert!(md.contains("Trained in 2.5 s."));
        let svg = std::fs::read_to_string(dir.path().join("loss.svg")).expect("svg");
        assert!(svg.starts_with("<svg") && svg.contains("loss per task"));
        let png = image::open(dir.path().join("loss.png")).expect("a PNG");
        assert_eq!((png.width(), png.height()), (960, 600));
        let again = ExperimentSpec::load(&dir.path().join("spec.toml")).expect("loads");
        assert_eq!(again, spec);
    }
}
