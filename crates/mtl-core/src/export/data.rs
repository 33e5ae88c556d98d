//! `mtl-studio export data`: an experiment's dataset (generated, shipped or read from a
//! file) as MTL-CSV v1, with its split column, so that the split and the metrics can be
//! reproduced outside the app.

use std::fmt::Write as _;
use std::path::Path;

use super::{ExportError, write_atomic};
use crate::data::{self, Dataset, SplitTag};
use crate::experiment::{ExperimentSpec, TaskKind};

/// How many rows and columns were written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataSummary {
    /// Data rows written.
    pub rows: usize,
    /// Training rows among them.
    pub train: usize,
    /// Validation rows among them.
    pub val: usize,
    /// Columns: inputs, the tasks and `split`.
    pub columns: usize,
}

/// The dataset of `spec` as MTL-CSV v1 text: one numeric column per input feature (for a
/// CSV file, its encoded features: one-hot levels and missing-value indicators included, a
/// missing value left empty), one `task:<target>:class` or `task:<target>:reg` column per
/// task of the spec (class names, or the value in its own units; empty where unlabelled),
/// and `split` (`train` / `val`, as training splits the rows with the spec's seed). Rows
/// training never uses are left out. A segmentation task has a mask per row, which MTL-CSV
/// v1 cannot hold: refused.
pub fn mtl_csv(spec: &ExperimentSpec) -> Result<(String, DataSummary), String> {
    let dataset = data::load(spec).map_err(|e| e.to_string())?;
    mtl_csv_of(spec, &dataset)
}

/// [`mtl_csv`] of data already loaded.
pub fn mtl_csv_of(spec: &ExperimentSpec, data: &Dataset) -> Result<(String, DataSummary), String> {
    let mut columns = Vec::with_capacity(spec.tasks.len());
    for (i, task) in spec.tasks.iter().enumerate() {
        let col = data.target(&task.target).ok_or_else(|| {
            format!(
                "tasks[{i}].target: the data have no label '{}'",
                task.target
            )
        })?;
        if col.width != 1
            || matches!(
                task.kind,
                TaskKind::Segmentation | TaskKind::SemanticSegmentation
            )
        {
            return Err(format!(
                "tasks[{i}] ('{}') is a segmentation mask of {} values per row; MTL-CSV v1 holds one value per task column",
                task.name, col.width
            ));
        }
        columns.push(col);
    }
    let mut settings = spec.clone();
    settings.model.input = data.features();
    let tags = data::split_tags(&settings, data).map_err(|e| e.to_string())?;
    let mut out = String::new();
    let mut header: Vec<String> = data.feature_names.iter().map(|n| quote(n)).collect();
    for col in &columns {
        let kind = if col.kind == TaskKind::Regression {
            "reg"
        } else {
            "class"
        };
        header.push(quote(&format!("task:{}:{kind}", col.name)));
    }
    header.push("split".to_owned());
    out.push_str(&header.join(","));
    out.push('\n');
    let d = data.features();
    let mut summary = DataSummary {
        rows: 0,
        train: 0,
        val: 0,
        columns: header.len(),
    };
    for (r, tag) in tags.iter().enumerate() {
        let Some(tag) = tag else {
            continue;
        };
        let mut fields: Vec<String> = data.x[r * d..(r + 1) * d]
            .iter()
            .map(|v| {
                if v.is_finite() {
                    v.to_string()
                } else {
                    String::new()
                }
            })
            .collect();
        for col in &columns {
            fields.push(if !col.present[r] {
                String::new()
            } else if col.kind == TaskKind::Regression {
                col.values[r].to_string()
            } else {
                let class = col.values[r] as usize;
                quote(col.classes.get(class).map_or("", String::as_str))
            });
        }
        fields.push(
            match tag {
                SplitTag::Train => "train",
                SplitTag::Val | SplitTag::Test => "val",
            }
            .to_owned(),
        );
        let _ = writeln!(out, "{}", fields.join(","));
        summary.rows += 1;
        match tag {
            SplitTag::Train => summary.train += 1,
            SplitTag::Val | SplitTag::Test => summary.val += 1,
        }
    }
    Ok((out, summary))
}

/// Writes [`mtl_csv`] of `spec` to `path` (atomically).
pub fn write_mtl_csv(spec: &ExperimentSpec, path: &Path) -> Result<DataSummary, ExportError> {
    let (text, summary) = mtl_csv(spec).map_err(|message| ExportError::Format {
        path: path.to_owned(),
        message,
    })?;
    write_atomic(path, text.as_bytes())?;
    Ok(summary)
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{CsvSpec, DatasetSpec};

    /// Exports `spec`'s data, reads the file back as a CSV dataset with its split column and
    /// checks every row, label and split.
    fn round_trip(spec: &ExperimentSpec) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data.csv");
        let summary = write_mtl_csv(spec, &path).expect("written");
        let original = data::load(spec).expect("loads");
        let mut settings = spec.clone();
        settings.model.input = original.features();
        let tags = data::split_tags(&settings, &original).expect("split");
        assert_eq!(summary.rows, tags.iter().flatten().count(), "{}", spec.name);

        let mut back = spec.clone();
        back.dataset = DatasetSpec::Csv(CsvSpec {
            path: path.clone(),
            columns: std::collections::BTreeMap::new(),
        });
        let read = data::load(&back).expect("the exported file reads as MTL-CSV");
        assert_eq!(read.rows, summary.rows, "{}: every row back", spec.name);
        let kept: Vec<usize> = (0..original.rows).filter(|&r| tags[r].is_some()).collect();
        let d = original.features();
        assert_eq!(read.features(), d, "{}: the same inputs", spec.name);
        for (i, &r) in kept.iter().enumerate() {
            for j in 0..d {
                let (a, b) = (original.x[r * d + j], read.x[i * d + j]);
                assert!(
                    a == b || (a.is_nan() && b.is_nan()),
                    "{}: row {r} input {j}: {a} vs {b}",
                    spec.name
                );
            }
        }
        let split = read.split.as_ref().expect("the split column is read");
        for (i, &r) in kept.iter().enumerate() {
            let want = match tags[r] {
                Some(SplitTag::Train) => SplitTag::Train,
                _ => SplitTag::Val,
            };
            assert_eq!(split[i], want, "{}: row {r}'s split", spec.name);
        }
        for task in &spec.tasks {
            let a = original.target(&task.target).expect("label");
            let b = read.target(&task.target).expect("label back");
            for (i, &r) in kept.iter().enumerate() {
                assert_eq!(
                    a.present[r], b.present[i],
                    "{}: {} row {r}",
                    spec.name, task.name
                );
                if a.present[r] {
                    let (va, vb) = if a.kind == TaskKind::Regression {
                        (a.values[r].to_string(), b.values[i].to_string())
                    } else {
                        (
                            a.classes[a.values[r] as usize].clone(),
                            b.classes[b.values[i] as usize].clone(),
                        )
                    };
                    assert_eq!(va, vb, "{}: {} row {r}", spec.name, task.name);
                }
            }
        }
    }

    #[test]
    fn generated_and_shipped_data_round_trip_with_their_split() {
        for text in [
            include_str!("../../../../examples/playground.toml"),
            include_str!("../../../../examples/mmoe.toml"),
            include_str!("../../../../examples/penguins.toml"),
        ] {
            let spec = ExperimentSpec::from_toml(text).expect("example");
            round_trip(&spec);
        }
    }

    #[test]
    fn a_segmentation_task_is_refused_with_its_name() {
        let spec =
            ExperimentSpec::from_toml(include_str!("../../../../examples/shapes_semantic.toml"))
                .expect("example");
        let err = mtl_csv(&spec).expect_err("masks do not fit MTL-CSV v1");
        assert!(err.contains("segmentation mask"), "{err}");
    }
}
