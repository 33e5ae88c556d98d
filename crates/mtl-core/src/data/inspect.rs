//! What a CSV file holds, as the import dialog, `mtl-studio inspect` and
//! `mtl-studio init --data` show it: each column's role and kind, label coverage and class
//! counts per task, the split, and the first rows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use super::csv::{self, InputKind};
use super::source::CsvColumnRole;
use super::{DataError, Dataset, SplitTag};
use crate::task::TaskKind;

/// Above this many rows, the dialog warns that training will be slow.
pub const LARGE_ROWS: usize = 200_000;

/// Above this many encoded input features, the dialog warns.
pub const LARGE_FEATURES: usize = 2_000;

/// Rows kept for the preview table.
pub const PREVIEW_ROWS: usize = 40;

/// One column of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnReport {
    /// The header cell.
    pub header: String,
    /// Its role.
    pub role: CsvColumnRole,
    /// What was detected: "numeric", "categorical, 5 levels", "class, 3 classes", ...
    pub detail: String,
    /// Cells that are missing (empty, NA, ?, ...).
    pub missing: usize,
}

/// One task of the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskReport {
    /// Target name.
    pub name: String,
    /// Kind.
    pub kind: TaskKind,
    /// Rows with a label.
    pub labelled: usize,
    /// Rows in all.
    pub rows: usize,
    /// Classification: (class, count); regression: empty.
    pub class_counts: Vec<(String, usize)>,
    /// Regression: (min, mean, max) of the labels.
    pub range: Option<(f64, f64, f64)>,
}

/// Everything the import dialog shows.
#[derive(Clone, Debug)]
pub struct Inspection {
    /// The file.
    pub path: PathBuf,
    /// The delimiter in use (`,`, `;` or tab).
    pub delimiter: char,
    /// The header.
    pub header: Vec<String>,
    /// The first rows, as text.
    pub preview: Vec<Vec<String>>,
    /// Per column.
    pub columns: Vec<ColumnReport>,
    /// Per task.
    pub tasks: Vec<TaskReport>,
    /// Rows per split tag (train, val, test) when the file has a split column.
    pub split_counts: Option<[usize; 3]>,
    /// The roles that must be given in the spec to load the file this way.
    pub overrides: BTreeMap<String, CsvColumnRole>,
    /// Notes for the user (a chosen task, a detected delimiter, dropped rows).
    pub notes: Vec<String>,
    /// The loaded data.
    pub dataset: Dataset,
}

/// Reads and inspects a file (`.csv` or `.csv.gz`) with some roles chosen.
pub fn inspect_file(
    path: &Path,
    overrides: &BTreeMap<String, CsvColumnRole>,
) -> Result<Inspection, DataError> {
    inspect_file_with_progress(path, overrides, None)
}

/// [`inspect_file`], counting how far it is in per mille (reading 0–100, the first pass
/// 100–400, loading 400–1000).
pub fn inspect_file_with_progress(
    path: &Path,
    overrides: &BTreeMap<String, CsvColumnRole>,
    progress: Option<&AtomicU32>,
) -> Result<Inspection, DataError> {
    let bytes = csv::read_bytes(path)?;
    if let Some(p) = progress {
        p.store(100, Ordering::Relaxed);
    }
    inspect_with_progress(&bytes, path, overrides, progress)
}

/// Inspects CSV bytes (`path` names them in messages). A file without any task column gets
/// its last column as the task (rule 2 of MTL-CSV v1), recorded in `overrides`.
pub fn inspect(
    bytes: &[u8],
    path: &Path,
    overrides: &BTreeMap<String, CsvColumnRole>,
) -> Result<Inspection, DataError> {
    inspect_with_progress(bytes, path, overrides, None)
}

fn inspect_with_progress(
    bytes: &[u8],
    path: &Path,
    overrides: &BTreeMap<String, CsvColumnRole>,
    progress: Option<&AtomicU32>,
) -> Result<Inspection, DataError> {
    let span = |lo, hi| progress.map(|counter| csv::Progress { counter, lo, hi });
    let csv::Preview {
        header,
        rows: preview,
        delimiter,
        missing,
        total_rows,
    } = csv::preview(bytes, path, PREVIEW_ROWS, span(100, 400))?;
    let mut overrides = overrides.clone();
    let mut notes = Vec::new();
    if delimiter != ',' {
        notes.push(format!(
            "The header has no comma: reading the file as {}-separated.",
            if delimiter == '\t' {
                "tab".to_owned()
            } else {
                format!("'{delimiter}'")
            }
        ));
    }
    let has_task = |o: &BTreeMap<String, CsvColumnRole>| {
        header.iter().any(|h| match o.get(h) {
            Some(role) => role.is_task(),
            None => h.starts_with("task:"),
        })
    };
    // The last column that could be a task: not the split, not an id or meta column, not
    // ignored.
    let candidate = header.iter().enumerate().rev().find(|(_, h)| {
        let lower = h.to_ascii_lowercase();
        match overrides.get(*h) {
            Some(role) => !matches!(role, CsvColumnRole::Split | CsvColumnRole::Ignore),
            None => lower != "split" && !lower.starts_with("id:") && !lower.starts_with("meta:"),
        }
    });
    if !has_task(&overrides)
        && let Some((index, last)) = candidate
    {
        let role = match csv::detect_column_kind(bytes, path, index)? {
            TaskKind::Regression => CsvColumnRole::Regression,
            _ => CsvColumnRole::Class,
        };
        notes.push(format!(
            "No column is marked task:…, so the last column '{last}' is the task ({}). Change roles below.",
            role.label()
        ));
        overrides.insert(last.clone(), role);
    }
    let dataset = csv::parse_with_progress(bytes, path, &[], &overrides, span(400, 1000))?;
    let columns = header
        .iter()
        .zip(&missing)
        .map(|(h, &missing)| column_report(h, &overrides, &dataset, missing))
        .collect();
    let tasks = dataset.targets.iter().map(task_report).collect();
    let split_counts = dataset.split.as_ref().map(|tags| {
        let count = |t: SplitTag| tags.iter().filter(|x| **x == t).count();
        [
            count(SplitTag::Train),
            count(SplitTag::Val),
            count(SplitTag::Test),
        ]
    });
    if dataset.rows > LARGE_ROWS {
        notes.push(format!(
            "{} rows: training will be slow on a laptop (more than {LARGE_ROWS}); consider a sample.",
            dataset.rows
        ));
    }
    if dataset.features() > LARGE_FEATURES {
        notes.push(format!(
            "{} input features after encoding (more than {LARGE_FEATURES}): check the categorical columns, or ignore some.",
            dataset.features()
        ));
    }
    if total_rows > dataset.rows {
        notes.push(format!(
            "{} row(s) without any label were dropped.",
            total_rows - dataset.rows
        ));
    }
    Ok(Inspection {
        path: path.to_owned(),
        delimiter,
        header,
        preview,
        columns,
        tasks,
        split_counts,
        overrides,
        notes,
        dataset,
    })
}

fn column_report(
    header: &str,
    overrides: &BTreeMap<String, CsvColumnRole>,
    dataset: &Dataset,
    missing: usize,
) -> ColumnReport {
    let name = csv::bare_name(header);
    let lower = header.to_ascii_lowercase();
    let (role, detail) =
        if let Some(t) = dataset.targets.iter().find(|t| {
            t.name == name && (header.starts_with("task:") || overrides.contains_key(header))
        }) {
            let detail = match t.kind {
                TaskKind::Regression => "regression".to_owned(),
                TaskKind::Binary => format!("binary ({})", t.classes.join(" / ")),
                _ => format!("{} classes", t.classes.len()),
            };
            let role = if t.kind == TaskKind::Regression {
                CsvColumnRole::Regression
            } else {
                CsvColumnRole::Class
            };
            (role, detail)
        } else if let Some(c) = dataset
            .encoding
            .as_ref()
            .and_then(|e| e.columns.iter().find(|c| c.name == name))
        {
            match &c.kind {
                InputKind::Numeric { indicator, .. } => (
                    CsvColumnRole::Input,
                    if *indicator {
                        "numeric, mean-imputed + indicator".to_owned()
                    } else if missing > 0 {
                        "numeric, mean-imputed".to_owned()
                    } else {
                        "numeric".to_owned()
                    },
                ),
                InputKind::Categorical { levels } => (
                    if header.ends_with(":cat")
                        || overrides.get(header) == Some(&CsvColumnRole::Categorical)
                    {
                        CsvColumnRole::Categorical
                    } else {
                        CsvColumnRole::Input
                    },
                    format!("categorical, {} levels (one-hot)", levels.len()),
                ),
            }
        } else if overrides.get(header) == Some(&CsvColumnRole::Split) || lower == "split" {
            (CsvColumnRole::Split, "train / val / test".to_owned())
        } else {
            (CsvColumnRole::Ignore, "not used".to_owned())
        };
    ColumnReport {
        header: header.to_owned(),
        role,
        detail,
        missing,
    }
}

fn task_report(t: &super::TargetColumn) -> TaskReport {
    let labelled: Vec<f32> = t
        .values
        .iter()
        .zip(&t.present)
        .filter(|(_, p)| **p)
        .map(|(v, _)| *v)
        .collect();
    let class_counts = t
        .classes
        .iter()
        .enumerate()
        .map(|(c, name)| {
            (
                name.clone(),
                labelled.iter().filter(|v| **v as usize == c).count(),
            )
        })
        .collect();
    let range = (t.kind == TaskKind::Regression && !labelled.is_empty()).then(|| {
        let n = labelled.len() as f64;
        let mean = labelled.iter().map(|v| f64::from(*v)).sum::<f64>() / n;
        let min = labelled.iter().fold(f32::INFINITY, |m, v| m.min(*v));
        let max = labelled.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
        (f64::from(min), mean, f64::from(max))
    });
    TaskReport {
        name: t.name.clone(),
        kind: t.kind,
        labelled: labelled.len(),
        rows: t.present.len(),
        class_counts,
        range,
    }
}

impl Inspection {
    /// The report `mtl-studio inspect` prints.
    pub fn report(&self) -> String {
        let mut out = String::new();
        let d = &self.dataset;
        let _ = writeln!(
            out,
            "{}: {} rows, {} columns -> {} input features, {} task(s)",
            self.path.display(),
            d.rows,
            self.header.len(),
            d.features(),
            d.targets.len()
        );
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        match self.split_counts {
            Some([tr, va, te]) => {
                let _ = writeln!(out, "split column: {tr} train, {va} val, {te} test");
            }
            None => {
                let _ = writeln!(
                    out,
                    "no split column: a seeded random split is made (stratified on the first class task)"
                );
            }
        }
        let _ = writeln!(out, "\ncolumns:");
        let width = self.header.iter().map(String::len).max().unwrap_or(0);
        for c in &self.columns {
            let missing = if c.missing > 0 {
                format!(", {} missing", c.missing)
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "  {:width$}  {:20} {}{missing}",
                c.header,
                c.role.label(),
                c.detail
            );
        }
        let _ = writeln!(out, "\ntasks:");
        for t in &self.tasks {
            let _ = write!(
                out,
                "  {} ({}): {} of {} rows labelled",
                t.name, t.kind, t.labelled, t.rows
            );
            if let Some((min, mean, max)) = t.range {
                let _ = write!(out, "; min {min:.4}, mean {mean:.4}, max {max:.4}");
            }
            if !t.class_counts.is_empty() {
                let counts: Vec<String> = t
                    .class_counts
                    .iter()
                    .map(|(c, n)| format!("{c}: {n}"))
                    .collect();
                let _ = write!(out, "; {}", counts.join(", "));
            }
            let _ = writeln!(out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_column_is_never_taken_as_the_task() {
        let text = "a,y,split\n1,0.5,train\n2,1.5,train\n3,2.5,val\n4,3.5,train\n";
        let i = inspect(text.as_bytes(), Path::new("s.csv"), &BTreeMap::new()).expect("loads");
        assert_eq!(i.overrides.get("y"), Some(&CsvColumnRole::Regression));
        assert_eq!(i.split_counts, Some([3, 1, 0]), "the split still splits");
    }

    #[test]
    fn a_plain_file_gets_a_task_and_wide_files_a_warning() {
        let header: Vec<String> = (0..2001).map(|i| format!("x{i}")).collect();
        let mut text = format!("{},y\n", header.join(","));
        for r in 0..5 {
            let row: Vec<String> = (0..2001).map(|i| ((i + r) % 7).to_string()).collect();
            text.push_str(&format!("{},{}.5\n", row.join(","), r));
        }
        let i = inspect(text.as_bytes(), Path::new("wide.csv"), &BTreeMap::new()).expect("loads");
        assert_eq!(i.overrides.get("y"), Some(&CsvColumnRole::Regression));
        assert_eq!(i.tasks.len(), 1);
        assert!(
            i.notes.iter().any(|n| n.contains("2001 input features")),
            "{:?}",
            i.notes
        );
        let spec = i.spec();
        assert_eq!(spec.tasks[0].target, "y");
        assert!(spec.validate().is_empty(), "{:?}", spec.validate());
    }
}
