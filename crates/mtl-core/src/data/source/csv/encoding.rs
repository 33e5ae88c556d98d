//! How raw CSV columns become model features, and reading new rows the same way.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::parse::{csv_error, open, read_bytes};
use super::{MISSING_LEVEL, is_missing};
use crate::data::DataError;

/// How raw input columns become model features; saved with exported models so that
/// `predict` encodes new rows the same way.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InputEncoding {
    /// The input columns, in feature order.
    pub columns: Vec<InputColumn>,
}

/// One raw input column and its features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputColumn {
    /// Column name in the file (without a `:cat` suffix).
    pub name: String,
    /// How it is encoded.
    pub kind: InputKind,
}

/// Encoding of one input column.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputKind {
    /// A number; missing values take `impute`; with `indicator`, a 0/1 `NAME_missing`
    /// feature follows.
    Numeric {
        /// Value used for a missing cell.
        impute: f32,
        /// Whether a missing-indicator feature follows.
        indicator: bool,
    },
    /// One 0/1 feature per level (`NAME=level`).
    Categorical {
        /// The levels, in feature order.
        levels: Vec<String>,
    },
}

impl InputEncoding {
    /// Plain numeric columns with these names and no imputation (a missing value is an error).
    pub fn numeric(names: &[String]) -> Self {
        Self {
            columns: names
                .iter()
                .map(|n| InputColumn {
                    name: n.clone(),
                    kind: InputKind::Numeric {
                        impute: f32::NAN,
                        indicator: false,
                    },
                })
                .collect(),
        }
    }

    /// Feature names, in order.
    pub fn feature_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        for c in &self.columns {
            match &c.kind {
                InputKind::Numeric { indicator, .. } => {
                    names.push(c.name.clone());
                    if *indicator {
                        names.push(format!("{}_missing", c.name));
                    }
                }
                InputKind::Categorical { levels } => {
                    names.extend(levels.iter().map(|l| format!("{}={l}", c.name)));
                }
            }
        }
        names
    }

    /// The same encoding with each numeric column's missing value set to `feature_means` of
    /// its feature (the training rows' means, so `predict` imputes as training did).
    pub fn with_train_imputation(&self, feature_means: &[f32]) -> Self {
        let mut out = self.clone();
        let mut f = 0;
        for c in &mut out.columns {
            match &mut c.kind {
                InputKind::Numeric { impute, indicator } => {
                    if let Some(m) = feature_means.get(f) {
                        *impute = *m;
                    }
                    f += 1 + usize::from(*indicator);
                }
                InputKind::Categorical { levels } => f += levels.len(),
            }
        }
        out
    }

    /// Appends the features of one row (`cells[i]` is column `i`'s raw text). `at` gives the
    /// place for messages: (line, column index) of each cell.
    ///
    /// With `missing_as_nan`, a missing numeric cell becomes NaN (to be imputed once the
    /// training rows are known) instead of the column's `impute` value.
    pub(super) fn encode(
        &self,
        cells: &[&str],
        place: &dyn Fn(usize) -> (u64, usize),
        path: &Path,
        missing_as_nan: bool,
        out: &mut Vec<f32>,
    ) -> Result<(), DataError> {
        for (i, (c, cell)) in self.columns.iter().zip(cells).enumerate() {
            let missing = is_missing(cell);
            match &c.kind {
                InputKind::Numeric { impute, indicator } => {
                    if missing && impute.is_nan() {
                        let (line, column) = place(i);
                        return Err(DataError::Csv {
                            path: path.to_owned(),
                            line,
                            column,
                            message: format!("input column '{}' has a missing value", c.name),
                        });
                    }
                    if missing {
                        out.push(if missing_as_nan { f32::NAN } else { *impute });
                    } else {
                        let v: f32 = cell
                            .trim()
                            .parse()
                            .ok()
                            .filter(|v: &f32| v.is_finite())
                            .ok_or_else(|| {
                                let (line, column) = place(i);
                                DataError::Csv {
                                    path: path.to_owned(),
                                    line,
                                    column,
                                    message: format!(
                                        "{} in input column '{}'",
                                        super::parse::not_a_number(cell.trim()),
                                        c.name
                                    ),
                                }
                            })?;
                        out.push(v);
                    }
                    if *indicator {
                        out.push(if missing { 1.0 } else { 0.0 });
                    }
                }
                InputKind::Categorical { levels } => {
                    let level = if missing { MISSING_LEVEL } else { cell.trim() };
                    // A level never seen in training (when predicting) encodes as all zeros.
                    out.extend(levels.iter().map(|l| if l == level { 1.0 } else { 0.0 }));
                }
            }
        }
        Ok(())
    }
}
/// Reads raw rows of a CSV file and encodes them as an exported model's features. Columns are
/// found by name, in any order; other columns are ignored. [`read_for_prediction`] without
/// `strict`, keeping the features only.
pub fn read_encoded(path: &Path, encoding: &InputEncoding) -> Result<Vec<f32>, DataError> {
    Ok(read_for_prediction(path, encoding, false)?.x)
}

/// What `predict` reads from a CSV file ([`read_for_prediction`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PredictInput {
    /// The features, row-major.
    pub x: Vec<f32>,
    /// The `id:` columns (MTL-CSV: carried, not inputs), passed through: each header ...
    pub id_header: Vec<String>,
    /// ... and each row's cells.
    pub id_rows: Vec<Vec<String>>,
    /// The categorical levels the model was not trained on, in order of first appearance.
    pub unseen: Vec<UnseenLevel>,
}

/// A categorical input's level that the model was not trained on: it is encoded as all
/// zeros (no level), or refused with `strict`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnseenLevel {
    /// The input column.
    pub column: String,
    /// The level as written (`(missing)` for a missing cell).
    pub value: String,
    /// Rows with it.
    pub count: usize,
    /// The first line with it.
    pub line: u64,
    /// The training level it equals but for upper and lower case, if there is one (levels
    /// are case-sensitive).
    pub case_of: Option<String>,
}

impl UnseenLevel {
    /// One line for the user.
    pub fn message(&self) -> String {
        let case = self.case_of.as_ref().map_or_else(String::new, |l| {
            format!(
                " (it differs from the trained level '{l}' in case only; levels are case-sensitive)"
            )
        });
        format!(
            "input column '{}': level '{}' was not seen in training{case}: {} row(s), the first on line {}; encoded as all zeros (no level)",
            self.column, self.value, self.count, self.line
        )
    }
}

/// The position of each of `encoding`'s columns in `header` (names without `:cat`). A column
/// the model needs that is missing, or that appears twice, is an error naming it (with both
/// column numbers).
fn find_columns(
    header: &[String],
    encoding: &InputEncoding,
    path: &Path,
) -> Result<Vec<usize>, DataError> {
    let at = |column: usize, message: String| DataError::Csv {
        path: path.to_owned(),
        line: 1,
        column,
        message,
    };
    let mut columns = Vec::with_capacity(encoding.columns.len());
    for c in &encoding.columns {
        let mut found = header.iter().enumerate().filter(|(_, h)| **h == c.name);
        let Some((first, _)) = found.next() else {
            return Err(at(
                0,
                format!(
                    "the header has no input column '{}' (the model needs: {})",
                    c.name,
                    encoding
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if let Some((second, _)) = found.next() {
            return Err(at(
                second + 1,
                format!(
                    "columns {} and {} are both the input '{}': which one the model should read is not clear",
                    first + 1,
                    second + 1,
                    c.name
                ),
            ));
        }
        columns.push(first);
    }
    Ok(columns)
}

/// Reads raw rows of a CSV file for an exported model: the features (columns found by name,
/// in any order; other columns ignored), the `id:` columns to pass through, and the
/// categorical levels the model was not trained on (encoded as all zeros; with `strict`
/// the first one is an error naming its line, column and value). Line numbers count every
/// line ending, `\r\n` included.
pub fn read_for_prediction(
    path: &Path,
    encoding: &InputEncoding,
    strict: bool,
) -> Result<PredictInput, DataError> {
    let bytes = read_bytes(path)?;
    let (mut reader, header) = open(&bytes, path)?;
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim_end_matches(":cat").to_owned())
        .collect();
    let columns = find_columns(&header, encoding, path)?;
    let ids: Vec<usize> = (0..header.len())
        .filter(|&i| header[i].to_ascii_lowercase().starts_with("id:"))
        .collect();
    let mut out = PredictInput {
        id_header: ids.iter().map(|&i| header[i].clone()).collect(),
        ..PredictInput::default()
    };
    let lines = super::parse::LineStarts::new(&bytes);
    for record in reader.records() {
        let record = record.map_err(|e| lines.fix(csv_error(&e, path), e.position()))?;
        let line = lines.line(record.position());
        let cells: Vec<&str> = columns
            .iter()
            .map(|&c| record.get(c).unwrap_or_default())
            .collect();
        for ((c, cell), &at) in encoding.columns.iter().zip(&cells).zip(&columns) {
            if let InputKind::Categorical { levels } = &c.kind {
                let level = if is_missing(cell) {
                    MISSING_LEVEL
                } else {
                    cell.trim()
                };
                if !levels.iter().any(|l| l == level) {
                    note_unseen(&mut out.unseen, &c.name, level, levels, line);
                    if strict {
                        return Err(DataError::Csv {
                            path: path.to_owned(),
                            line,
                            column: at + 1,
                            message: unseen_error(&c.name, level, levels),
                        });
                    }
                }
            }
        }
        encoding.encode(&cells, &|i| (line, columns[i] + 1), path, false, &mut out.x)?;
        out.id_rows.push(
            ids.iter()
                .map(|&i| record.get(i).unwrap_or_default().to_owned())
                .collect(),
        );
    }
    if out.id_rows.is_empty() {
        return Err(DataError::Csv {
            path: path.to_owned(),
            line: 1,
            column: 0,
            message: "the file has no data rows".to_owned(),
        });
    }
    Ok(out)
}

/// Counts one row with the unseen `level` of `column`.
fn note_unseen(
    unseen: &mut Vec<UnseenLevel>,
    column: &str,
    level: &str,
    levels: &[String],
    line: u64,
) {
    if let Some(u) = unseen
        .iter_mut()
        .find(|u| u.column == column && u.value == level)
    {
        u.count += 1;
        return;
    }
    unseen.push(UnseenLevel {
        column: column.to_owned(),
        value: level.to_owned(),
        count: 1,
        line,
        case_of: levels
            .iter()
            .find(|l| l.to_lowercase() == level.to_lowercase())
            .cloned(),
    });
}

/// The `--strict` refusal of an unseen level.
fn unseen_error(column: &str, level: &str, levels: &[String]) -> String {
    let case = levels
        .iter()
        .find(|l| l.to_lowercase() == level.to_lowercase())
        .map_or_else(String::new, |l| {
            format!(" (it differs from the trained level '{l}' in case only)")
        });
    format!(
        "input column '{column}' has the level '{level}', which the model was not trained on{case}; its levels: {}",
        levels.join(", ")
    )
}
