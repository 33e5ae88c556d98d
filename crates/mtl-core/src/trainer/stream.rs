//! `metrics.csv` written as the rows come, for long headless runs: memory stays flat
//! however many epochs run. Only what the report needs stays in memory: the loss curves,
//! thinned to a point budget (as burn-train does: past the budget every other point goes and
//! the stride doubles), and the rows of the last epoch and of the best one.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::export::{ExportError, MetricRow, plot::Curve};
use crate::trainer::{Observer, RunEvent, Session};

/// Most points kept per loss curve (a chart is a few hundred pixels wide).
pub const CURVE_POINTS: usize = 2000;

/// One curve's points, thinned to a budget: every `stride`-th point is kept; past the
/// budget every other kept point goes and the stride doubles. The latest point is kept
/// aside too, so the curve always ends where the run ended.
#[derive(Clone, Debug)]
pub struct Thinned {
    points: Vec<(f64, f64)>,
    stride: usize,
    seen: usize,
    budget: usize,
    last: Option<(f64, f64)>,
}

impl Thinned {
    /// An empty curve that keeps at most about `budget` points.
    pub fn new(budget: usize) -> Self {
        Self {
            points: Vec::new(),
            stride: 1,
            seen: 0,
            budget: budget.max(2),
            last: None,
        }
    }

    /// Adds a point.
    pub fn push(&mut self, p: (f64, f64)) {
        self.last = Some(p);
        if self.seen.is_multiple_of(self.stride) {
            self.points.push(p);
            if self.points.len() > self.budget {
                let mut i = 0;
                self.points.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }

    /// The kept points, ending with the latest.
    pub fn points(&self) -> Vec<(f64, f64)> {
        let mut out = self.points.clone();
        if let Some(last) = self.last
            && out.last() != Some(&last)
        {
            out.push(last);
        }
        out
    }
}

/// An [`Observer`] that writes every row to a `metrics.csv` file as it comes (the same bytes
/// as [`crate::export::write_metrics_csv`] of all the rows) and keeps the loss curves
/// ([`Thinned`]) and the rows of the last and the best epoch.
pub struct MetricsStream {
    path: PathBuf,
    writer: Option<::csv::Writer<BufWriter<File>>>,
    error: Option<ExportError>,
    tasks: Vec<String>,
    /// Per task, train then val.
    curves: Vec<[Thinned; 2]>,
    epoch: usize,
    current: Vec<MetricRow>,
    best: Vec<MetricRow>,
}

impl MetricsStream {
    /// Creates `path` (replacing it) and writes the header; `tasks` name the curves.
    pub fn create(path: &Path, tasks: &[String]) -> Result<Self, ExportError> {
        let io = |source| ExportError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        };
        let file = File::create(path).map_err(io)?;
        let mut writer = ::csv::Writer::from_writer(BufWriter::new(file));
        writer
            .write_record(crate::export::METRICS_HEADER)
            .map_err(|e| io(e.into()))?;
        Ok(Self {
            path: path.to_owned(),
            writer: Some(writer),
            error: None,
            tasks: tasks.to_vec(),
            curves: tasks
                .iter()
                .map(|_| [Thinned::new(CURVE_POINTS), Thinned::new(CURVE_POINTS)])
                .collect(),
            epoch: 0,
            current: Vec::new(),
            best: Vec::new(),
        })
    }

    fn write(&mut self, r: &MetricRow) {
        let Some(w) = &mut self.writer else { return };
        let record = crate::export::metrics_record(r);
        if let Err(e) = w.write_record(&record) {
            self.error = Some(ExportError::Io {
                action: "write",
                path: self.path.clone(),
                source: e.into(),
            });
            self.writer = None;
        }
    }

    fn keep(&mut self, session: &Session, r: &MetricRow) {
        if r.epoch != self.epoch {
            // A new epoch: the one before stays only if it is the best so far.
            if session.best_epoch() == Some(self.epoch) {
                self.best = std::mem::take(&mut self.current);
            } else {
                self.current.clear();
            }
            self.epoch = r.epoch;
        }
        self.current.push(r.clone());
        if r.loss.is_finite()
            && let Some(k) = self.tasks.iter().position(|t| *t == r.task)
        {
            let split = match r.split {
                "train" => 0,
                "val" => 1,
                _ => return,
            };
            self.curves[k][split].push((r.epoch as f64, r.loss));
        }
    }

    /// Flushes the file; returns the loss curves (as [`crate::export::report::loss_curves`]
    /// draws them) and the rows kept: the best epoch's (when it is not the last) and the
    /// last epoch's, in file order.
    pub fn finish(
        mut self,
        session: &Session,
    ) -> Result<(Vec<Curve>, Vec<MetricRow>), ExportError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let io = |path: &Path, source| ExportError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        };
        if let Some(w) = self.writer.take() {
            let buf = w.into_inner().map_err(|e| {
                io(
                    &self.path,
                    std::io::Error::new(e.error().kind(), e.error().to_string()),
                )
            })?;
            let file = buf
                .into_inner()
                .map_err(|e| io(&self.path, e.into_error()))?;
            file.sync_all().map_err(|e| io(&self.path, e))?;
        }
        let mut rows = Vec::new();
        if session.best_epoch() != Some(self.epoch) {
            rows.append(&mut self.best);
        }
        rows.append(&mut self.current);
        let mut curves = Vec::new();
        for (k, (task, pair)) in self.tasks.iter().zip(&self.curves).enumerate() {
            for (split, thinned) in ["train", "val"].into_iter().zip(pair) {
                curves.extend(crate::export::report::loss_curve(
                    task,
                    k,
                    split,
                    thinned.points(),
                ));
            }
        }
        Ok((curves, rows))
    }
}

impl Observer for MetricsStream {
    fn on_event(&mut self, session: &Session, event: &RunEvent<'_>) {
        if let RunEvent::Rows(rows) = event {
            for r in *rows {
                self.write(r);
                self.keep(session, r);
            }
        }
    }
}

impl std::fmt::Debug for MetricsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsStream")
            .field("path", &self.path)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// The rows of a `metrics.csv` that a [`MetricsStream`] wrote, read back: the checkpoint
/// carries every row, and reading them from the file at the end keeps a run from holding
/// them in memory. Values round-trip exactly (shortest decimal form; an empty cell is NaN,
/// as written).
pub fn read_rows(path: &Path) -> Result<Vec<MetricRow>, ExportError> {
    let damaged = |message: String| ExportError::Format {
        path: path.to_owned(),
        message,
    };
    let file = crate::fsguard::open_regular(path).map_err(|e| ExportError::Io {
        action: "read",
        path: path.to_owned(),
        source: e,
    })?;
    let mut reader = ::csv::Reader::from_reader(std::io::BufReader::new(file));
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| damaged(e.to_string()))?;
        let bad = || damaged(format!("line {} is not a metrics row", i + 2));
        if record.len() != 7 {
            return Err(bad());
        }
        let num = |s: &str| -> Result<f64, ExportError> {
            if s.is_empty() {
                Ok(f64::NAN)
            } else {
                s.parse().map_err(|_| bad())
            }
        };
        rows.push(MetricRow {
            epoch: record[0].parse().map_err(|_| bad())?,
            step: record[1].parse().map_err(|_| bad())?,
            split: super::checkpoint::interned(&record[2]),
            task: record[3].to_owned(),
            loss: num(&record[4])?,
            metric: super::checkpoint::interned(&record[5]),
            value: num(&record[6])?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinned_curves_keep_everything_under_the_budget_and_stay_bounded_past_it() {
        let mut under = Thinned::new(100);
        for i in 0..100 {
            under.push((f64::from(i), 1.0));
        }
        assert_eq!(
            under.points().len(),
            100,
            "nothing dropped under the budget"
        );
        let mut over = Thinned::new(100);
        for i in 0..100_000 {
            over.push((f64::from(i), 1.0));
        }
        let points = over.points();
        assert!(points.len() <= 102, "{} points", points.len());
        assert!(points.len() >= 50, "{} points", points.len());
        assert_eq!(points[0].0, 0.0, "starts at the start");
        assert_eq!(
            points.last().map(|p| p.0),
            Some(99_999.0),
            "ends at the end"
        );
        assert!(
            points.windows(2).all(|w| w[0].0 < w[1].0),
            "in order, evenly thinned"
        );
    }
}
