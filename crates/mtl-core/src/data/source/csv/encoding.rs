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
/// found by name, in any order; other columns are ignored.
pub fn read_encoded(path: &Path, encoding: &InputEncoding) -> Result<Vec<f32>, DataError> {
    let bytes = read_bytes(path)?;
    let (mut reader, header) = open(&bytes, path)?;
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim_end_matches(":cat").to_owned())
        .collect();
    let columns = encoding
        .columns
        .iter()
        .map(|c| {
            header
                .iter()
                .position(|h| *h == c.name)
                .ok_or_else(|| DataError::Csv {
                    path: path.to_owned(),
                    line: 1,
                    column: 0,
                    message: format!(
                        "the header has no input column '{}' (the model needs: {})",
                        c.name,
                        encoding
                            .columns
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut x = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e, path))?;
        let line = record.position().map_or(0, ::csv::Position::line);
        let cells: Vec<&str> = columns
            .iter()
            .map(|&c| record.get(c).unwrap_or_default())
            .collect();
        encoding.encode(&cells, &|i| (line, columns[i] + 1), path, false, &mut x)?;
    }
    if x.is_empty() {
        return Err(DataError::Csv {
            path: path.to_owned(),
            line: 1,
            column: 0,
            message: "the file has no data rows".to_owned(),
        });
    }
    Ok(x)
}
