//! Reading and parsing CSV files: delimiters, quotes, progress, the preview, and a file's
//! inputs and targets.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::{
    CsvColumnRole, InputColumn, InputEncoding, InputKind, KindHint, MAX_CLASSES, MAX_LEVELS,
    MISSING_LEVEL, Role, is_missing, role,
};
use crate::data::{DataError, Dataset, SplitTag, TargetColumn};
use crate::task::{TaskKind, TaskSpec};

/// Loads `path` (`.csv` or `.csv.gz`) for `tasks`.
pub fn load(path: &Path, tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
    load_with(path, tasks, &BTreeMap::new())
}

/// Loads `path` for `tasks`, with the roles of some columns chosen by name.
pub fn load_with(
    path: &Path,
    tasks: &[TaskSpec],
    overrides: &BTreeMap<String, CsvColumnRole>,
) -> Result<Dataset, DataError> {
    let bytes = read_bytes(path)?;
    parse_with(&bytes, path, tasks, overrides)
}

/// The file's bytes, decompressed when the name ends in `.gz` (every member of a
/// multi-member gzip file, as `gzip -d` reads it). The file may hold at most
/// [`crate::limits::MAX_FILE_BYTES`] and decompress to at most
/// [`crate::limits::MAX_INFLATED_BYTES`]; past either it is refused with the limit.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let io = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let raw = crate::fsguard::read_regular(path).map_err(io)?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
    {
        crate::limits::read_capped(
            flate2::read::MultiGzDecoder::new(raw.as_slice()),
            crate::limits::MAX_INFLATED_BYTES,
            "the decompressed data",
            None,
        )
        .map_err(io)
    } else {
        Ok(raw)
    }
}

/// A cell as an error message shows it: at most 40 characters (a 200 KB field is cut, with
/// its length said).
pub(super) fn shown(cell: &str) -> String {
    const MAX: usize = 40;
    match cell.char_indices().nth(MAX) {
        None => cell.to_owned(),
        Some((end, _)) => format!("{}… ({} bytes)", &cell[..end], cell.len()),
    }
}

/// Why a cell is not a float32: beyond its range (`1e39`), infinite, or not a number at all.
pub(super) fn not_a_number(cell: &str) -> String {
    match cell.parse::<f64>() {
        Ok(v) if v.is_finite() => {
            format!("'{}' is beyond the float32 range (±3.4e38)", shown(cell))
        }
        _ => format!("'{}' is not a number", shown(cell)),
    }
}

/// Comma, or `;` / tab when the header has no comma.
fn delimiter(bytes: &[u8]) -> u8 {
    let first_line = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    if first_line.contains(&b',') {
        b','
    } else if first_line.contains(&b';') {
        b';'
    } else if first_line.contains(&b'\t') {
        b'\t'
    } else {
        b','
    }
}

/// Finds a quoted field that is never closed (the CSV reader would silently run it to the
/// end of the file) and reports where it opens.
fn check_quotes(bytes: &[u8], path: &Path) -> Result<(), DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let delim = delimiter(bytes);
    let (mut line, mut field) = (1u64, 1usize);
    let mut open: Option<(u64, usize)> = None;
    let mut field_start = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if open.is_some() {
            if b == b'"' {
                if bytes.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    open = None;
                }
            } else if b == b'\n' {
                line += 1;
            }
        } else if b == b'"' && field_start {
            open = Some((line, field));
        } else if b == delim {
            field += 1;
        } else if b == b'\n' {
            line += 1;
            field = 1;
        }
        field_start = open.is_none() && (b == delim || b == b'\n');
        i += 1;
    }
    match open {
        Some((line, column)) => Err(DataError::Csv {
            path: path.to_owned(),
            line,
            column,
            message: "a quoted field is never closed (its opening quote is here)".to_owned(),
        }),
        None => Ok(()),
    }
}

/// A strict reader over CSV bytes (a UTF-8 BOM skipped, the delimiter detected) and the
/// trimmed header.
pub(super) fn open<'a>(
    bytes: &'a [u8],
    path: &Path,
) -> Result<(::csv::Reader<&'a [u8]>, Vec<String>), DataError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .delimiter(delimiter(bytes))
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| csv_error(&e, path))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    Ok((reader, header))
}

/// Records between two progress reports.
const PROGRESS_EVERY: usize = 2048;

/// Where a long read reports how far it is: a per-mille counter of the whole job, of which
/// this read covers `lo..hi`.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// The counter (0..=1000).
    pub counter: &'a std::sync::atomic::AtomicU32,
    /// Per mille where this read starts.
    pub lo: u32,
    /// Per mille where it ends.
    pub hi: u32,
}

impl Progress<'_> {
    fn report(self, byte: u64, total: usize) {
        let share = (byte as f64 / total.max(1) as f64).clamp(0.0, 1.0);
        let at = self.lo + (f64::from(self.hi - self.lo) * share) as u32;
        self.counter.store(at, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The first rows of a file as text, with per-column missing counts over the whole file.
#[derive(Clone, Debug)]
pub struct Preview {
    /// The trimmed header.
    pub header: Vec<String>,
    /// The first rows.
    pub rows: Vec<Vec<String>>,
    /// The delimiter in use.
    pub delimiter: char,
    /// Missing cells per column.
    pub missing: Vec<usize>,
    /// Data rows in the file.
    pub total_rows: usize,
}

/// Reads the header, the first `keep` rows and the missing counts (the file must be
/// well-formed: the same errors as [`parse`]).
pub fn preview(
    bytes: &[u8],
    path: &Path,
    keep: usize,
    progress: Option<Progress<'_>>,
) -> Result<Preview, DataError> {
    check_quotes(bytes, path)?;
    let (mut reader, header) = open(bytes, path)?;
    let mut rows = Vec::new();
    let mut missing = vec![0usize; header.len()];
    let mut total_rows = 0;
    for (k, record) in reader.records().enumerate() {
        if k % PROGRESS_EVERY == 0
            && let (Some(p), Ok(r)) = (progress, &record)
        {
            p.report(r.position().map_or(0, ::csv::Position::byte), bytes.len());
        }
        let record = record.map_err(|e| csv_error(&e, path))?;
        for (m, cell) in missing.iter_mut().zip(record.iter()) {
            *m += usize::from(is_missing(cell));
        }
        if rows.len() < keep {
            rows.push(record.iter().map(str::to_owned).collect());
        }
        total_rows += 1;
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    Ok(Preview {
        header,
        rows,
        delimiter: char::from(delimiter(bytes)),
        missing,
        total_rows,
    })
}

/// The task kind MTL-CSV v1's rule would give column `index` (over its non-missing values).
pub fn detect_column_kind(bytes: &[u8], path: &Path, index: usize) -> Result<TaskKind, DataError> {
    let (mut reader, _) = open(bytes, path)?;
    let mut values = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(&e, path))?;
        if let Some(cell) = record.get(index)
            && !is_missing(cell)
        {
            values.push(cell.trim().to_owned());
        }
    }
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    Ok(detect_kind(&refs))
}

/// Parses CSV bytes; `path` is used in messages.
pub fn parse(bytes: &[u8], path: &Path, tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
    parse_with(bytes, path, tasks, &BTreeMap::new())
}

/// Parses CSV bytes with the roles of some columns chosen by name (see [`CsvColumnRole`]).
pub fn parse_with(
    bytes: &[u8],
    path: &Path,
    tasks: &[TaskSpec],
    overrides: &BTreeMap<String, CsvColumnRole>,
) -> Result<Dataset, DataError> {
    parse_with_progress(bytes, path, tasks, overrides, None)
}

/// A CSV problem at `line` and `column` (1-based; 0: the whole row) of `path`.
fn at(path: &Path, line: u64, column: usize, message: String) -> DataError {
    DataError::Csv {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// [`parse_with`], reporting how far it has read.
pub fn parse_with_progress(
    bytes: &[u8],
    path: &Path,
    tasks: &[TaskSpec],
    overrides: &BTreeMap<String, CsvColumnRole>,
    progress: Option<Progress<'_>>,
) -> Result<Dataset, DataError> {
    check_quotes(bytes, path)?;
    let (mut reader, header) = open(bytes, path)?;
    let roles = header_roles(&header, tasks, overrides, path)?;
    let inputs: Vec<usize> = (0..header.len())
        .filter(|&c| matches!(roles[c], Role::Input { .. }))
        .collect();
    if inputs.is_empty() {
        return Err(at(
            path,
            1,
            0,
            "no input columns are left after the targets".to_owned(),
        ));
    }
    let targets: Vec<usize> = (0..header.len())
        .filter(|&c| matches!(roles[c], Role::Target { .. }))
        .collect();
    let split_col = roles.iter().position(|r| *r == Role::Split);
    let rows = labelled_rows(&mut reader, bytes, path, progress, &targets)?;
    let split = split_col.map(|c| split_tags(&rows, c, path)).transpose()?;

    // Input encoding from the whole file.
    let mut columns = Vec::with_capacity(inputs.len());
    for &c in &inputs {
        if let Role::Input { name, categorical } = &roles[c] {
            columns.push(input_column(&rows, c, name, *categorical, path)?);
        }
    }
    let encoding = InputEncoding { columns };
    let features = encoding.feature_names().len() as u64;
    crate::limits::check_data(rows.len() as u64, features)
        .map_err(|e| at(path, 1, 0, format!("the encoded inputs are too large: {e}")))?;
    let mut x = Vec::new();
    for (line, cells) in &rows {
        let raw: Vec<&str> = inputs.iter().map(|&c| cells[c].as_str()).collect();
        encoding.encode(&raw, &|i| (*line, inputs[i] + 1), path, true, &mut x)?;
    }
    let targets = targets
        .iter()
        .map(|&c| {
            let Role::Target { name, kind } = &roles[c] else {
                unreachable!("filtered to targets above")
            };
            let cells: Vec<(u64, Option<String>)> = rows
                .iter()
                .map(|(line, r)| (*line, (!is_missing(&r[c])).then(|| r[c].trim().to_owned())))
                .collect();
            target_column(name, *kind, &cells, c + 1, path)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Dataset {
        name: path
            .file_name()
            .map_or_else(|| "CSV".to_owned(), |n| n.to_string_lossy().into_owned()),
        feature_names: encoding.feature_names(),
        rows: rows.len(),
        x,
        targets,
        split,
        encoding: Some(encoding),
    })
}

/// Checks the header (names, the roles the spec gives, every task's column) and gives each
/// column its role.
fn header_roles(
    header: &[String],
    tasks: &[TaskSpec],
    overrides: &BTreeMap<String, CsvColumnRole>,
    path: &Path,
) -> Result<Vec<Role>, DataError> {
    let err = |line: u64, column: usize, message: String| at(path, line, column, message);
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
        // `task:NAME:KIND`: the kind is `class` or `reg`, nothing else (a typo such as
        // `:regression` would otherwise silently become part of the task's name).
        if !overrides.contains_key(name)
            && let Some(rest) = name.strip_prefix("task:")
            && let Some((_, kind)) = rest.rsplit_once(':')
            && kind != "class"
            && kind != "reg"
        {
            return Err(err(
                1,
                i + 1,
                format!(
                    "column '{}' has the task kind ':{}'; use ':class' or ':reg' (or no suffix)",
                    shown(name),
                    shown(kind)
                ),
            ));
        }
    }
    for name in overrides.keys() {
        if !header.contains(name) {
            return Err(err(
                1,
                0,
                format!("the spec gives a role to column '{name}', which the header lacks"),
            ));
        }
    }
    let roles: Vec<Role> = header.iter().map(|h| role(h, tasks, overrides)).collect();
    for task in tasks {
        let found = roles
            .iter()
            .any(|r| matches!(r, Role::Target { name, .. } if *name == task.target));
        if !found {
            return Err(err(
                1,
                0,
                format!(
                    "task '{}' needs a column '{}' (or 'task:{}'), which the header lacks",
                    task.name, task.target, task.target
                ),
            ));
        }
    }
    Ok(roles)
}

/// Every data row as text with its line number, rows without any label dropped.
fn labelled_rows(
    reader: &mut ::csv::Reader<&[u8]>,
    bytes: &[u8],
    path: &Path,
    progress: Option<Progress<'_>>,
    targets: &[usize],
) -> Result<Vec<(u64, Vec<String>)>, DataError> {
    let err = |line: u64, column: usize, message: String| at(path, line, column, message);
    // All rows as text, with their line numbers.
    let lines = LineStarts::new(bytes);
    let mut rows: Vec<(u64, Vec<String>)> = Vec::new();
    let mut cells = 0u64;
    for (k, record) in reader.records().enumerate() {
        if k % PROGRESS_EVERY == 0
            && let (Some(p), Ok(r)) = (progress, &record)
        {
            p.report(r.position().map_or(0, ::csv::Position::byte), bytes.len());
        }
        let record = record.map_err(|e| lines.fix(csv_error(&e, path), e.position()))?;
        let line = lines.line(record.position());
        cells += record.len() as u64;
        if cells > crate::limits::MAX_CSV_CELLS || rows.len() as u64 >= crate::limits::MAX_ROWS {
            return Err(err(
                line,
                0,
                format!(
                    "the file has more than {} cells or {} rows, the limits of a CSV file",
                    crate::limits::count(crate::limits::MAX_CSV_CELLS),
                    crate::limits::count(crate::limits::MAX_ROWS)
                ),
            ));
        }
        rows.push((line, record.iter().map(str::to_owned).collect()));
    }
    if rows.is_empty() {
        return Err(err(
            1,
            0,
            "the file has a header but no data rows".to_owned(),
        ));
    }
    // Rows without any label teach nothing.
    if !targets.is_empty() {
        let before = rows.len();
        rows.retain(|(_, cells)| targets.iter().any(|&c| !is_missing(&cells[c])));
        if rows.len() < before {
            log::warn!(
                "{}: dropped {} row(s) without any label",
                path.display(),
                before - rows.len()
            );
        }
        if rows.is_empty() {
            return Err(err(1, 0, "no row has a label for any task".to_owned()));
        }
    }

    Ok(rows)
}

/// The split column's tags, one per row.
fn split_tags(
    rows: &[(u64, Vec<String>)],
    c: usize,
    path: &Path,
) -> Result<Vec<SplitTag>, DataError> {
    let err = |line: u64, column: usize, message: String| at(path, line, column, message);
    rows.iter()
        .map(
            |(line, cells)| match cells[c].trim().to_ascii_lowercase().as_str() {
                "train" => Ok(SplitTag::Train),
                "val" | "valid" | "validation" => Ok(SplitTag::Val),
                "test" => Ok(SplitTag::Test),
                other => Err(err(
                    *line,
                    c + 1,
                    format!("split '{}' must be train, val or test", shown(other)),
                )),
            },
        )
        .collect::<Result<Vec<_>, _>>()
}

/// How input column `c` is encoded: a number (with its mean for missing values) or
/// categories.
fn input_column(
    rows: &[(u64, Vec<String>)],
    c: usize,
    name: &str,
    categorical: bool,
    path: &Path,
) -> Result<InputColumn, DataError> {
    let err = |line: u64, column: usize, message: String| at(path, line, column, message);
    let present: Vec<&str> = rows
        .iter()
        .map(|(_, r)| r[c].trim())
        .filter(|v| !is_missing(v))
        .collect();
    let is_number = |v: &str| v.parse::<f32>().is_ok_and(f32::is_finite);
    let numbers = present.iter().filter(|v| is_number(v)).count();
    let numeric = !categorical && numbers == present.len();
    // A column of numbers with a few stray words is a typo, not a category, whatever the
    // column's length: at least 90% numbers, or all numbers but one.
    if !categorical
        && !numeric
        && numbers >= 2
        && (numbers * 10 >= present.len() * 9 || numbers + 1 == present.len())
        && let Some((line, cells)) = rows
            .iter()
            .find(|(_, r)| !is_missing(&r[c]) && !is_number(r[c].trim()))
    {
        return Err(err(
            *line,
            c + 1,
            format!(
                "{}, but {numbers} of the {} values of input column '{name}' are; fix the value, or name the column '{name}:cat' to treat it as categories",
                not_a_number(cells[c].trim()),
                present.len()
            ),
        ));
    }
    let kind = if numeric {
        let missing = rows.len() - present.len();
        if present.is_empty() {
            return Err(err(
                1,
                c + 1,
                format!("input column '{name}' has no values"),
            ));
        }
        let mean = present
            .iter()
            .filter_map(|v| v.parse::<f64>().ok())
            .sum::<f64>()
            / present.len() as f64;
        InputKind::Numeric {
            impute: mean as f32,
            indicator: missing * 100 > rows.len(),
        }
    } else {
        let mut levels: Vec<String> = present
            .iter()
            .map(|v| (*v).to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if present.len() < rows.len() {
            levels.push(MISSING_LEVEL.to_owned());
        }
        if levels.len() > MAX_LEVELS {
            return Err(err(
                1,
                c + 1,
                format!(
                    "input column '{name}' has {} distinct values; a categorical input may have at most {MAX_LEVELS}",
                    levels.len()
                ),
            ));
        }
        InputKind::Categorical { levels }
    };
    Ok(InputColumn {
        name: name.to_owned(),
        kind,
    })
}
/// Line numbers from byte offsets. The CSV reader's own count is one too low in files with
/// `\r\n` line endings: a record's position is taken before the `\n` of the line ending
/// before it is read. Counting the line endings (`\n`, `\r\n` or a lone `\r`) before
/// the record's first byte is right whatever the endings.
pub(super) struct LineStarts<'a> {
    bytes: &'a [u8],
    /// The offset just past each line ending, in order.
    ends: Vec<usize>,
}

impl<'a> LineStarts<'a> {
    /// The line endings of `bytes` (a UTF-8 BOM is skipped, as the reader skips it).
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let ends = (0..bytes.len())
            .filter(|&i| {
                bytes[i] == b'\n' || (bytes[i] == b'\r' && bytes.get(i + 1) != Some(&b'\n'))
            })
            .map(|i| i + 1)
            .collect();
        Self { bytes, ends }
    }

    /// The 1-based line of the record at `position` (0 without one).
    pub(super) fn line(&self, position: Option<&::csv::Position>) -> u64 {
        let Some(p) = position else {
            return 0;
        };
        let Ok(mut at) = usize::try_from(p.byte()) else {
            return p.line();
        };
        // The record starts after the rest of the line ending before it.
        while matches!(self.bytes.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        1 + self.ends.partition_point(|&end| end <= at) as u64
    }

    /// `error` with the line of `position`, when it has one.
    pub(super) fn fix(
        &self,
        mut error: DataError,
        position: Option<&::csv::Position>,
    ) -> DataError {
        if let (DataError::Csv { line, .. }, Some(_)) = (&mut error, position) {
            *line = self.line(position);
        }
        error
    }
}

pub(super) fn csv_error(e: &::csv::Error, path: &Path) -> DataError {
    let line = e.position().map_or(0, ::csv::Position::line);
    let (column, message) = match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => (
            0,
            format!("row has {len} fields but the header has {expected_len}"),
        ),
        ::csv::ErrorKind::Utf8 { err, .. } => (
            err.field() + 1,
            "the text is not valid UTF-8 (save the file as UTF-8)".to_owned(),
        ),
        _ => (0, e.to_string()),
    };
    DataError::Csv {
        path: path.to_owned(),
        line,
        column,
        message,
    }
}

/// Kind detection of MTL-CSV v1 (§4.3, rule 4) over the labelled values.
pub(super) fn detect_kind(values: &[&str]) -> TaskKind {
    let bool_word = |v: &str| {
        ["true", "false", "yes", "no"]
            .iter()
            .any(|w| v.eq_ignore_ascii_case(w))
    };
    let numbers: Option<Vec<f64>> = values.iter().map(|v| v.parse::<f64>().ok()).collect();
    let class = match numbers {
        None => true,
        Some(_) if values.iter().any(|v| bool_word(v)) => true,
        Some(nums) => {
            let distinct: BTreeSet<i64> = nums.iter().map(|v| *v as i64).collect();
            nums.iter().all(|v| v.fract() == 0.0)
                && distinct.len() <= 20
                && distinct.len() <= 2.max(values.len() / 5)
        }
    };
    if !class {
        TaskKind::Regression
    } else if values.iter().collect::<BTreeSet<_>>().len() == 2 {
        TaskKind::Binary
    } else {
        TaskKind::Multiclass
    }
}

fn target_column(
    name: &str,
    hint: Option<KindHint>,
    cells: &[(u64, Option<String>)],
    column: usize,
    path: &Path,
) -> Result<TargetColumn, DataError> {
    let present: Vec<bool> = cells.iter().map(|(_, c)| c.is_some()).collect();
    if !present.iter().any(|p| *p) {
        return Err(DataError::Csv {
            path: path.to_owned(),
            line: 1,
            column,
            message: format!("target column '{name}' has no labels"),
        });
    }
    let labelled: Vec<&str> = cells.iter().filter_map(|(_, c)| c.as_deref()).collect();
    let distinct = labelled.iter().collect::<BTreeSet<_>>().len();
    let kind = match hint {
        Some(KindHint::Exact(k)) => k,
        Some(KindHint::Reg) => TaskKind::Regression,
        Some(KindHint::Class) if distinct <= 2 => TaskKind::Binary,
        Some(KindHint::Class) => TaskKind::Multiclass,
        None => detect_kind(&labelled),
    };
    let (values, classes) = match kind {
        TaskKind::Regression => {
            let mut values = Vec::with_capacity(cells.len());
            for (line, cell) in cells {
                let v = match cell {
                    None => 0.0,
                    Some(s) => {
                        s.parse::<f32>()
                            .ok()
                            .filter(|v| v.is_finite())
                            .ok_or_else(|| DataError::Csv {
                                path: path.to_owned(),
                                line: *line,
                                column,
                                message: format!(
                                    "{} in regression target '{name}'",
                                    not_a_number(s)
                                ),
                            })?
                    }
                };
                values.push(v);
            }
            (values, Vec::new())
        }
        TaskKind::Binary | TaskKind::Multiclass => class_values(name, kind, cells, column, path)?,
        TaskKind::Segmentation | TaskKind::SemanticSegmentation => {
            return Err(DataError::Csv {
                path: path.to_owned(),
                line: 1,
                column,
                message: format!(
                    "target column '{name}' cannot be a segmentation task: a CSV cell holds one \
                     value, a mask needs one per pixel"
                ),
            });
        }
    };
    Ok(TargetColumn {
        name: name.to_owned(),
        kind,
        values,
        present,
        classes,
        width: 1,
    })
}

/// Maps class labels to indices: numeric labels in numeric order, otherwise sorted text.
fn class_values(
    name: &str,
    kind: TaskKind,
    cells: &[(u64, Option<String>)],
    column: usize,
    path: &Path,
) -> Result<(Vec<f32>, Vec<String>), DataError> {
    let distinct: BTreeSet<&str> = cells.iter().filter_map(|(_, c)| c.as_deref()).collect();
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
            let positive = ["1", "true", "yes"]
                .iter()
                .any(|w| classes[0].eq_ignore_ascii_case(w));
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
        .map(|(_, c)| {
            c.as_ref()
                .and_then(|s| classes.iter().position(|k| k == s))
                .map_or(0.0, |i| i as f32)
        })
        .collect();
    Ok((values, classes))
}
