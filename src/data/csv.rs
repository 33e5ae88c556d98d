//! A plain CSV loader: a header row, one column per task target (named by `tasks[].target`),
//! every other column a numeric input. An empty cell (or `NA`, `NaN`, `?`) in a target column
//! is a missing label, which masks only that task for that row. Every problem is reported with
//! the file, line and column.

use std::collections::BTreeSet;
use std::path::Path;

use super::{DataError, Dataset, TargetColumn};
use crate::experiment::{TaskKind, TaskSpec};

/// Most classes a multiclass column may have.
pub const MAX_CLASSES: usize = 1000;

fn is_missing(cell: &str) -> bool {
    matches!(
        cell.trim(),
        "" | "NA" | "na" | "NaN" | "nan" | "?" | "null" | "None"
    )
}

/// Loads `path` for `tasks`.
pub fn load(path: &Path, tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    parse(&bytes, path, tasks)
}

/// Parses CSV bytes; `path` is used in messages.
#[expect(
    clippy::too_many_lines,
    reason = "header checks, rows and targets read best in order"
)]
pub fn parse(bytes: &[u8], path: &Path, tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
    let err = |line: u64, column: usize, message: String| DataError::Csv {
        path: path.to_owned(),
        line,
        column,
        message,
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e, path))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(err(1, 0, "the file is empty (no header row)".to_owned()));
    }
    for (i, name) in header.iter().enumerate() {
        if name.is_empty() {
            return Err(err(1, i + 1, "a column has no name".to_owned()));
        }
        if header[..i].contains(name) {
            return Err(err(1, i + 1, format!("column name '{name}' appears twice")));
        }
    }
    let mut target_cols = Vec::new();
    for task in tasks {
        let col = header
            .iter()
            .position(|h| *h == task.target)
            .ok_or_else(|| {
                err(
                    1,
                    0,
                    format!(
                        "task '{}' needs a column '{}', which the header lacks",
                        task.name, task.target
                    ),
                )
            })?;
        if !target_cols.iter().any(|(c, _)| *c == col) {
            target_cols.push((col, task.kind));
        }
    }
    let inputs: Vec<usize> = (0..header.len())
        .filter(|c| !target_cols.iter().any(|(t, _)| t == c))
        .collect();
    if inputs.is_empty() {
        return Err(err(
            1,
            0,
            "no input columns are left after the targets".to_owned(),
        ));
    }

    let mut x = Vec::new();
    let mut raw_targets: Vec<Vec<Option<String>>> = vec![Vec::new(); target_cols.len()];
    let mut rows = 0;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e, path))?;
        let line = record.position().map_or(0, ::csv::Position::line);
        for &c in &inputs {
            let cell = record.get(c).unwrap_or_default().trim();
            let value: f32 = cell.parse().map_err(|_| {
                let what = if is_missing(cell) {
                    "a missing input value".to_owned()
                } else {
                    format!("'{cell}' is not a number")
                };
                err(
                    line,
                    c + 1,
                    format!("{what} in input column '{}'", header[c]),
                )
            })?;
            if !value.is_finite() {
                return Err(err(line, c + 1, format!("'{cell}' is not a finite number")));
            }
            x.push(value);
        }
        for (slot, (c, _)) in raw_targets.iter_mut().zip(&target_cols) {
            let cell = record.get(*c).unwrap_or_default().trim();
            slot.push((!is_missing(cell)).then(|| cell.to_owned()));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(err(
            1,
            0,
            "the file has a header but no data rows".to_owned(),
        ));
    }
    let targets = target_cols
        .iter()
        .zip(raw_targets)
        .map(|(&(c, kind), cells)| target_column(&header[c], kind, &cells, c + 1, path))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Dataset {
        name: path
            .file_name()
            .map_or_else(|| "CSV".to_owned(), |n| n.to_string_lossy().into_owned()),
        feature_names: inputs.iter().map(|&c| header[c].clone()).collect(),
        rows,
        x,
        targets,
    })
}

/// Reads the columns `features` (by name, in any order; other columns are ignored) of a CSV
/// file with a header, as row-major `[rows, features]`. Used to run an exported model.
pub fn read_features(path: &Path, features: &[String]) -> Result<Vec<f32>, DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    let err = |line: u64, column: usize, message: String| DataError::Csv {
        path: path.to_owned(),
        line,
        column,
        message,
    };
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(bytes.as_slice());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(&e, path))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let columns = features
        .iter()
        .map(|f| {
            header.iter().position(|h| h == f).ok_or_else(|| {
                err(
                    1,
                    0,
                    format!(
                        "the header has no input column '{f}' (the model needs: {})",
                        features.join(", ")
                    ),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut x = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e, path))?;
        let line = record.position().map_or(0, ::csv::Position::line);
        for (&c, name) in columns.iter().zip(features) {
            let cell = record.get(c).unwrap_or_default().trim();
            let v: f32 = cell
                .parse()
                .ok()
                .filter(|v: &f32| v.is_finite())
                .ok_or_else(|| {
                    err(
                        line,
                        c + 1,
                        format!("'{cell}' is not a number in input column '{name}'"),
                    )
                })?;
            x.push(v);
        }
    }
    if x.is_empty() {
        return Err(err(1, 0, "the file has no data rows".to_owned()));
    }
    Ok(x)
}

fn csv_error(e: &::csv::Error, path: &Path) -> DataError {
    let line = e.position().map_or(0, ::csv::Position::line);
    let message = match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("row has {len} fields but the header has {expected_len}"),
        ::csv::ErrorKind::Utf8 { err, .. } => {
            format!("text is not valid UTF-8 (field {})", err.field() + 1)
        }
        _ => e.to_string(),
    };
    DataError::Csv {
        path: path.to_owned(),
        line,
        column: 0,
        message,
    }
}

fn target_column(
    name: &str,
    kind: TaskKind,
    cells: &[Option<String>],
    column: usize,
    path: &Path,
) -> Result<TargetColumn, DataError> {
    let present: Vec<bool> = cells.iter().map(Option::is_some).collect();
    if !present.iter().any(|p| *p) {
        return Err(DataError::Csv {
            path: path.to_owned(),
            line: 1,
            column,
            message: format!("target column '{name}' has no labels"),
        });
    }
    let (values, classes) = match kind {
        TaskKind::Regression => {
            let mut values = Vec::with_capacity(cells.len());
            for (row, cell) in cells.iter().enumerate() {
                let v = match cell {
                    None => 0.0,
                    Some(s) => {
                        s.parse::<f32>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| DataError::Csv {
                                path: path.to_owned(),
                                line: row as u64 + 2,
                                column,
                                message: format!(
                                    "'{s}' is not a number in regression target '{name}'"
                                ),
                            })?
                    }
                };
                values.push(v);
            }
            (values, Vec::new())
        }
        TaskKind::Binary | TaskKind::Multiclass => class_values(name, kind, cells, column, path)?,
    };
    Ok(TargetColumn {
        name: name.to_owned(),
        kind,
        values,
        present,
        classes,
    })
}

/// Maps class labels to indices: numeric labels in numeric order, otherwise sorted text.
fn class_values(
    name: &str,
    kind: TaskKind,
    cells: &[Option<String>],
    column: usize,
    path: &Path,
) -> Result<(Vec<f32>, Vec<String>), DataError> {
    let distinct: BTreeSet<&str> = cells.iter().flatten().map(String::as_str).collect();
    let mut classes: Vec<String> = distinct.iter().map(|s| (*s).to_owned()).collect();
    if classes.iter().all(|c| c.parse::<f64>().is_ok()) {
        classes.sort_by(|a, b| {
            let (x, y) = (
                a.parse::<f64>().unwrap_or(0.0),
                b.parse::<f64>().unwrap_or(0.0),
            );
            x.total_cmp(&y)
        });
    }
    let bad = |message: String| DataError::Csv {
        path: path.to_owned(),
        line: 1,
        column,
        message,
    };
    match kind {
        TaskKind::Binary if classes.len() > 2 => {
            return Err(bad(format!(
                "binary target '{name}' has {} distinct values ({}); a binary task needs 2",
                classes.len(),
                classes
                    .iter()
                    .take(5)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        TaskKind::Binary if classes.len() == 1 => {
            // One observed class: keep it as class 1 if it looks positive, else class 0.
            let positive = matches!(classes[0].as_str(), "1" | "true" | "yes" | "True" | "Yes");
            let other = if positive { "0" } else { "1" }.to_owned();
            if positive {
                classes.insert(0, other);
            } else {
                classes.push(other);
            }
        }
        TaskKind::Multiclass if classes.len() > MAX_CLASSES => {
            return Err(bad(format!(
                "target '{name}' has {} classes, more than the limit of {MAX_CLASSES}",
                classes.len()
            )));
        }
        _ => {}
    }
    let values = cells
        .iter()
        .map(|c| {
            c.as_ref()
                .and_then(|s| classes.iter().position(|k| k == s))
                .map_or(0.0, |i| i as f32)
        })
        .collect();
    Ok((values, classes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(name: &str, kind: TaskKind) -> TaskSpec {
        TaskSpec {
            name: name.to_owned(),
            kind,
            target: name.to_owned(),
            loss: None,
            weight: 1.0,
        }
    }

    #[test]
    fn parses_inputs_targets_and_missing_labels() {
        let text = "a,b,y,c\n1,2,0.5,cat\n3,4,,dog\n5,6,1.5,cat\n";
        let tasks = [task("y", TaskKind::Regression), task("c", TaskKind::Binary)];
        let d = parse(text.as_bytes(), Path::new("t.csv"), &tasks).expect("parses");
        assert_eq!(d.feature_names, ["a", "b"], "non-target columns are inputs");
        assert_eq!(d.x, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "inputs row-major");
        assert_eq!(
            d.targets[0].present,
            [true, false, true],
            "empty cell is missing"
        );
        assert_eq!(d.targets[1].classes, ["cat", "dog"], "classes sorted");
        assert_eq!(d.targets[1].values, [0.0, 1.0, 0.0], "class indices");
    }

    #[test]
    fn errors_name_line_and_column() {
        let tasks = [task("y", TaskKind::Regression)];
        let cases = [
            ("a,y\n1,2\n3,x\n", "line 3, column 2"),
            ("a,y\n1,2\nq,3\n", "line 3, column 1"),
            ("a,y\n1,2\n1,2,3\n", "line 3"),
            ("a,y\n", "no data rows"),
            ("", "empty"),
            ("a,a,y\n1,2,3\n", "appears twice"),
            ("a,b\n1,2\n", "lacks"),
        ];
        for (text, expected) in cases {
            let err = parse(text.as_bytes(), Path::new("bad.csv"), &tasks)
                .expect_err("must fail")
                .to_string();
            assert!(
                err.contains(expected),
                "'{err}' should contain '{expected}'"
            );
            assert!(err.ends_with("bad.csv"), "'{err}' ends with the file");
        }
    }
}
