//! CSV files, in the MTL-CSV v1 convention (`shared/reference/datasets.md` §4.3) and as plain
//! CSV:
//!
//! - `task:NAME`, `task:NAME:class`, `task:NAME:reg` columns are task targets (the suffix
//!   forces the kind; otherwise it is detected). In a plain CSV, the columns named by the
//!   spec's `tasks[].target` are the targets.
//! - `split` holds `train` / `val` (`valid`) / `test` and fixes the split.
//! - `id:…` and `meta:…` columns are carried by the file but are not inputs.
//! - Every other column is an input: numeric, or categorical (any non-numeric value, or a
//!   `:cat` suffix), one-hot encoded with at most [`MAX_LEVELS`] levels.
//! - Missing values (empty, `NA`, `N/A`, `NaN`, `null`, `None`, `?`): in a target, the row
//!   has no label for that task (masked); in a numeric input, the training rows' mean is imputed (once the
//!   split is known, in `PreparedData`) and a
//!   `NAME_missing` indicator is added when more than 1% are missing; in a categorical input,
//!   `(missing)` is a level of its own. Rows without any label are dropped.
//!
//! `.csv.gz` files are decompressed. Every problem is reported with the file, line and column.

mod encoding;
mod parse;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use encoding::{
    InputColumn, InputEncoding, InputKind, PredictInput, UnseenLevel, read_encoded,
    read_for_prediction,
};
pub use parse::*;

use super::{DatasetSpec, Source};
use crate::data::{DataError, Dataset};
use crate::task::{TaskKind, TaskSpec};

/// A CSV file on disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSpec {
    /// Path of the file; relative paths are taken from the spec file's folder.
    pub path: PathBuf,
    /// Roles chosen for columns by name, overriding what the header says (the import
    /// dialog's choices; `init --data` picks the last column of a file without `task:`
    /// columns). Columns not named here keep their header role.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub columns: std::collections::BTreeMap<String, CsvColumnRole>,
}

/// What a CSV column is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvColumnRole {
    /// An input; numeric when every value is a number, otherwise one-hot encoded.
    Input,
    /// An input one-hot encoded even when its values are numbers (integer codes).
    Categorical,
    /// A classification task (binary with two classes).
    Class,
    /// A regression task.
    Regression,
    /// The split column (`train` / `val` / `test`).
    Split,
    /// Carried but not used (ids, notes, leaky columns).
    Ignore,
}

impl CsvColumnRole {
    /// Every role, in the order the import dialog offers them.
    pub const ALL: [Self; 6] = [
        Self::Input,
        Self::Categorical,
        Self::Class,
        Self::Regression,
        Self::Split,
        Self::Ignore,
    ];

    /// As people read it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Input => "input",
            Self::Categorical => "input (categorical)",
            Self::Class => "task: class",
            Self::Regression => "task: regression",
            Self::Split => "split",
            Self::Ignore => "ignored",
        }
    }

    /// Whether the column is a task target.
    pub fn is_task(self) -> bool {
        matches!(self, Self::Class | Self::Regression)
    }
}

/// Most classes a classification target may have.
pub const MAX_CLASSES: usize = 1000;

/// Most levels a categorical input may have.
pub const MAX_LEVELS: usize = 50;

/// The level that stands for a missing categorical value.
pub const MISSING_LEVEL: &str = "(missing)";

fn is_missing(cell: &str) -> bool {
    let c = cell.trim();
    c.is_empty()
        || ["na", "n/a", "nan", "null", "none", "?"]
            .iter()
            .any(|m| c.eq_ignore_ascii_case(m))
}
/// A column's role from its header name.
#[derive(Clone, Debug, PartialEq)]
enum Role {
    Target {
        name: String,
        kind: Option<KindHint>,
    },
    Split,
    Ignored,
    Input {
        name: String,
        categorical: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum KindHint {
    Class,
    Reg,
    Exact(TaskKind),
}

/// The name a column has as a task or input: the header without its `task:` prefix and its
/// `:class` / `:reg` / `:cat` suffix.
pub fn bare_name(header: &str) -> &str {
    let rest = header.strip_prefix("task:").unwrap_or(header);
    rest.strip_suffix(":class")
        .or_else(|| rest.strip_suffix(":reg"))
        .or_else(|| rest.strip_suffix(":cat"))
        .unwrap_or(rest)
}

fn role(header: &str, tasks: &[TaskSpec], overrides: &BTreeMap<String, CsvColumnRole>) -> Role {
    if let Some(chosen) = overrides.get(header) {
        let name = bare_name(header).to_owned();
        let kind = tasks
            .iter()
            .find(|t| t.target == name)
            .map(|t| KindHint::Exact(t.kind));
        return match chosen {
            CsvColumnRole::Input => Role::Input {
                name,
                categorical: false,
            },
            CsvColumnRole::Categorical => Role::Input {
                name,
                categorical: true,
            },
            CsvColumnRole::Class => Role::Target {
                name,
                kind: kind.or(Some(KindHint::Class)),
            },
            CsvColumnRole::Regression => Role::Target {
                name,
                kind: kind.or(Some(KindHint::Reg)),
            },
            CsvColumnRole::Split => Role::Split,
            CsvColumnRole::Ignore => Role::Ignored,
        };
    }
    let lower = header.to_ascii_lowercase();
    if let Some(rest) = header.strip_prefix("task:") {
        let (name, kind) = match rest.rsplit_once(':') {
            Some((n, "class")) => (n, Some(KindHint::Class)),
            Some((n, "reg")) => (n, Some(KindHint::Reg)),
            _ => (rest, None),
        };
        return Role::Target {
            name: name.to_owned(),
            kind,
        };
    }
    if lower == "split" {
        return Role::Split;
    }
    if lower.starts_with("id:") || lower.starts_with("meta:") {
        return Role::Ignored;
    }
    if let Some(task) = tasks.iter().find(|t| t.target == header) {
        return Role::Target {
            name: header.to_owned(),
            kind: Some(KindHint::Exact(task.kind)),
        };
    }
    match header.strip_suffix(":cat") {
        Some(name) => Role::Input {
            name: name.to_owned(),
            categorical: true,
        },
        None => Role::Input {
            name: header.to_owned(),
            categorical: false,
        },
    }
}

impl Source for CsvSpec {
    fn label(&self) -> String {
        format!("CSV {}", self.path.display())
    }

    fn targets(&self) -> Option<Vec<(String, TaskKind)>> {
        // The file's header names them; validation does not read files.
        None
    }

    fn preview(&self) -> DatasetSpec {
        DatasetSpec::Csv(self.clone())
    }

    fn load(&self, _seed: u64, tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
        load_with(&self.path, tasks, &self.columns)
    }

    fn problems(&self) -> Vec<(&'static str, String)> {
        if self.path.as_os_str().is_empty() {
            vec![("path", "no file given".to_owned())]
        } else {
            Vec::new()
        }
    }

    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        vec![&mut self.path]
    }
}
