//! Datasets: inputs, per-task labels with masks, the train/validation split and batching.
//!
//! # Shapes
//! - inputs `x`: row-major `[rows, features]` `f32`
//! - each task's labels: `[rows]` `f32` (a value, a 0/1 label, or a class index) plus a mask
//!   `[rows]` that is 1 where the row has a label for that task and 0 where it is missing.

pub mod builtin;
pub mod inspect;
pub mod numpy_rng;
pub mod shipped;
pub mod source;

pub use source::{DatasetSpec, csv, idx};

use std::path::PathBuf;

use rand::seq::SliceRandom as _;

use crate::rng;
use crate::task::{LossKind, TaskKind, TaskSpec};

/// A loaded dataset before tasks are chosen and rows split.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Human name.
    pub name: String,
    /// One name per input column.
    pub feature_names: Vec<String>,
    /// Number of rows.
    pub rows: usize,
    /// Raw inputs, row-major `[rows, features]`.
    pub x: Vec<f32>,
    /// Every label column the dataset offers.
    pub targets: Vec<TargetColumn>,
    /// A fixed split per row (a CSV `split` column), if the file has one.
    pub split: Option<Vec<SplitTag>>,
    /// How a CSV file's raw columns became the features (kept for `predict`).
    pub encoding: Option<csv::InputEncoding>,
}

/// A row's place in a fixed split.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitTag {
    /// Training row.
    Train,
    /// Validation row.
    Val,
    /// Test row (used for validation when a file has no validation rows).
    Test,
}

/// One label column.
#[derive(Clone, Debug)]
pub struct TargetColumn {
    /// Column name.
    pub name: String,
    /// What it holds.
    pub kind: TaskKind,
    /// Values: a real number, a 0/1 label or a class index (0 where missing).
    pub values: Vec<f32>,
    /// Whether each row has a label.
    pub present: Vec<bool>,
    /// Class names for binary and multiclass columns (index = class).
    pub classes: Vec<String>,
    /// Values per row: 1, or the pixels of a segmentation mask (`values` is
    /// `[rows, width]`).
    pub width: usize,
}

impl TargetColumn {
    /// A fully labelled regression column.
    pub fn regression(name: &str, values: Vec<f32>) -> Self {
        Self {
            name: name.to_owned(),
            kind: TaskKind::Regression,
            present: vec![true; values.len()],
            values,
            classes: Vec::new(),
            width: 1,
        }
    }

    /// A fully labelled 0/1 column.
    pub fn binary(name: &str, values: Vec<f32>) -> Self {
        Self {
            name: name.to_owned(),
            kind: TaskKind::Binary,
            present: vec![true; values.len()],
            values,
            classes: vec!["0".to_owned(), "1".to_owned()],
            width: 1,
        }
    }

    /// Number of labelled rows.
    pub fn labelled(&self) -> usize {
        self.present.iter().filter(|p| **p).count()
    }
}

impl Dataset {
    /// Number of input features.
    pub fn features(&self) -> usize {
        self.feature_names.len()
    }

    /// The label column called `name`.
    pub fn target(&self, name: &str) -> Option<&TargetColumn> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// Pearson correlation of two label columns over rows where both are present.
    pub fn label_correlation(&self, a: usize, b: usize) -> f64 {
        let (ta, tb) = (&self.targets[a], &self.targets[b]);
        if ta.width != 1 || tb.width != 1 {
            return f64::NAN;
        }
        let pairs: Vec<(f64, f64)> = (0..self.rows)
            .filter(|&i| ta.present[i] && tb.present[i])
            .map(|i| (f64::from(ta.values[i]), f64::from(tb.values[i])))
            .collect();
        pearson(&pairs)
    }
}

fn pearson(pairs: &[(f64, f64)]) -> f64 {
    let n = pairs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = pairs
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Why data could not be loaded or prepared.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("cannot read data: {source}: {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A CSV file has a problem at a place.
    #[error("{message} ({}): {}", place(*line, *column), path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line, counting the header as line 1.
        line: u64,
        /// 1-based column number (0 when the whole row is meant).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A file is not what it should be (a whole-file problem, no line to point at).
    #[error("{message}: {}", path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The dataset does not fit the tasks or the model.
    #[error("{0}")]
    Mismatch(String),
}

/// `line 3, column 2`, or `line 3` when the whole row is meant.
fn place(line: u64, column: usize) -> String {
    if column == 0 {
        format!("line {line}")
    } else {
        format!("line {line}, column {column}")
    }
}

/// What loading and preparing data read from an experiment. The experiment spec implements
/// it, so the data side needs nothing of the spec but this.
pub trait DataSettings {
    /// Where the data come from.
    fn dataset(&self) -> &DatasetSpec;
    /// The seed that fixes generated data and the split.
    fn seed(&self) -> u64;
    /// The tasks, in order.
    fn tasks(&self) -> &[TaskSpec];
    /// The model's number of inputs, which the data must match.
    fn input(&self) -> usize;
    /// The share of rows held out for validation (without a fixed split).
    fn validation_fraction(&self) -> f64;
    /// The share of task `task`'s training labels to keep, if only some are kept.
    fn keep_labels(&self, task: &str) -> Option<f64>;
}

/// Loads (or generates) the dataset an experiment names.
pub fn load(spec: &impl DataSettings) -> Result<Dataset, DataError> {
    spec.dataset().source().load(spec.seed(), spec.tasks())
}

/// What the model and the losses need to know about one task.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskInfo {
    /// Task name.
    pub name: String,
    /// Task kind.
    pub kind: TaskKind,
    /// Loss.
    pub loss: LossKind,
    /// Width of the head's output layer.
    pub out_dim: usize,
    /// Class names (binary and multiclass).
    pub classes: Vec<String>,
    /// Regression targets of CSV data are learned standardised, `(y − mean) / std`;
    /// predictions are mapped back. 0 and 1 (the identity) otherwise.
    #[serde(default)]
    pub target_mean: f32,
    /// See `target_mean`.
    #[serde(default = "one_f32")]
    pub target_std: f32,
}

fn one_f32() -> f32 {
    1.0
}

/// The labels of one task on one split.
#[derive(Clone, Debug, Default)]
pub struct Labels {
    /// `[rows, width]` values (0 where missing).
    pub values: Vec<f32>,
    /// `[rows]` 1.0 where labelled, 0.0 where missing.
    pub mask: Vec<f32>,
    /// Values per row (1 except for segmentation masks).
    pub width: usize,
}

impl Labels {
    /// Number of labelled rows.
    pub fn count(&self) -> usize {
        self.mask.iter().filter(|m| **m > 0.0).count()
    }
}

/// The rows of one split, inputs standardised.
#[derive(Clone, Debug, Default)]
pub struct SplitData {
    /// Number of rows.
    pub rows: usize,
    /// Number of features.
    pub features: usize,
    /// `[rows, features]` standardised inputs.
    pub x: Vec<f32>,
    /// One entry per task, in task order.
    pub labels: Vec<Labels>,
}

impl SplitData {
    /// Copies the rows `idx` (in that order) into a new split, e.g. one batch.
    pub fn gather(&self, idx: &[usize]) -> Self {
        let d = self.features;
        let x = gather_rows(&self.x, d, idx);
        let labels = self
            .labels
            .iter()
            .map(|l| Labels {
                values: gather_rows(&l.values, l.width.max(1), idx),
                mask: idx.iter().map(|&i| l.mask[i]).collect(),
                width: l.width.max(1),
            })
            .collect();
        Self {
            rows: idx.len(),
            features: d,
            x,
            labels,
        }
    }

    /// A contiguous range of rows `[start, end)`.
    pub fn range(&self, start: usize, end: usize) -> Self {
        let idx: Vec<usize> = (start..end).collect();
        self.gather(&idx)
    }
}

/// The rows `idx` (in that order) of a row-major `[rows, width]` buffer.
fn gather_rows(values: &[f32], width: usize, idx: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(idx.len() * width);
    for &i in idx {
        out.extend_from_slice(&values[i * width..(i + 1) * width]);
    }
    out
}

/// A dataset made ready for training: tasks chosen, rows split, inputs standardised with the
/// training rows' mean and standard deviation.
#[derive(Clone, Debug)]
pub struct PreparedData {
    /// Dataset name.
    pub name: String,
    /// Input column names.
    pub feature_names: Vec<String>,
    /// The tasks, in spec order.
    pub tasks: Vec<TaskInfo>,
    /// Training rows.
    pub train: SplitData,
    /// Validation rows (possibly none).
    pub val: SplitData,
    /// Per-feature mean used to standardise.
    pub input_mean: Vec<f32>,
    /// Per-feature standard deviation used to standardise: the population deviation (÷ n)
    /// over the training rows, missing cells skipped (1 for constant features).
    pub input_std: Vec<f32>,
    /// How raw CSV columns become the features, when the data came from a CSV file.
    pub encoding: Option<csv::InputEncoding>,
}

impl PreparedData {
    /// Chooses the spec's tasks from `data`, splits the rows with the spec's seed and
    /// validation fraction, and standardises the inputs.
    pub fn new(spec: &impl DataSettings, data: &Dataset) -> Result<Self, DataError> {
        if data.features() != spec.input() {
            return Err(DataError::Mismatch(format!(
                "model.input: the model expects {} inputs but dataset '{}' has {} features",
                spec.input(),
                data.name,
                data.features()
            )));
        }
        if data.rows < 2 {
            return Err(DataError::Mismatch(format!(
                "dataset '{}' has {} row(s); at least 2 are needed",
                data.name, data.rows
            )));
        }
        let (columns, mut tasks) = choose_tasks(spec, data)?;
        let (mut train_idx, mut val_idx) = split_rows(spec, data, &columns);
        if train_idx.is_empty() {
            return Err(DataError::Mismatch(format!(
                "dataset '{}' has no training rows",
                data.name
            )));
        }
        if val_idx.is_empty() && data.split.is_none() && spec.validation_fraction() > 0.0 {
            return Err(DataError::Mismatch(format!(
                "dataset '{}' has {} rows: too few for a training and a validation split \
                 (validation share {}); add rows, or set the validation share to 0",
                data.name,
                data.rows,
                spec.validation_fraction()
            )));
        }
        train_idx.sort_unstable();
        val_idx.sort_unstable();

        let d = data.features();
        // Missing numeric inputs (NaN) take the training rows' mean: 0 once standardised.
        let (mean, std) = column_stats(&data.x, d, &train_idx);
        let mut train = split_of(data, &columns, &train_idx, (&mean, &std));
        keep_labels(spec, &mut train);
        let mut val = split_of(data, &columns, &val_idx, (&mean, &std));
        if data.encoding.is_some() {
            standardise_targets(&mut tasks, &mut train, &mut val);
        }
        for (task, labels) in tasks.iter().zip(&train.labels) {
            if labels.count() == 0 {
                return Err(DataError::Mismatch(format!(
                    "task '{}' has no labelled rows in the training split",
                    task.name
                )));
            }
        }
        Ok(Self {
            name: data.name.clone(),
            feature_names: data.feature_names.clone(),
            tasks,
            val,
            train,
            encoding: data
                .encoding
                .as_ref()
                .map(|e| e.with_train_imputation(&mean)),
            input_mean: mean,
            input_std: std,
        })
    }

    /// Number of input features.
    pub fn features(&self) -> usize {
        self.feature_names.len()
    }

    /// Per task: how many rows of each split carry its label, and its class counts.
    pub fn balance(&self) -> Vec<TaskBalance> {
        self.tasks
            .iter()
            .enumerate()
            .map(|(k, task)| {
                let count = |split: &SplitData| {
                    let labels = split.labels.get(k);
                    let labelled = labels.map_or(0, Labels::count);
                    let mut classes = vec![0usize; task.classes.len()];
                    if matches!(task.kind, TaskKind::Binary | TaskKind::Multiclass)
                        && let Some(l) = labels
                    {
                        for (v, m) in l.values.iter().zip(&l.mask) {
                            if *m > 0.0
                                && let Some(c) = classes.get_mut(*v as usize)
                            {
                                *c += 1;
                            }
                        }
                    }
                    SplitBalance {
                        rows: split.rows,
                        labelled,
                        classes,
                    }
                };
                TaskBalance {
                    task: task.name.clone(),
                    kind: task.kind,
                    class_names: task.classes.clone(),
                    train: count(&self.train),
                    val: count(&self.val),
                }
            })
            .collect()
    }

    /// Standardises raw input rows with this data's statistics.
    pub fn standardise(&self, raw: &mut [f32]) {
        standardise(raw, &self.input_mean, &self.input_std);
    }
}

/// Where each row of `data` goes when `spec` trains on it: `Some(Train)` or `Some(Val)`
/// (the same split as [`PreparedData::new`]), `None` for a row training never uses (a row
/// of a file's `test` split when the file also has `val` rows).
pub fn split_tags(
    spec: &impl DataSettings,
    data: &Dataset,
) -> Result<Vec<Option<SplitTag>>, DataError> {
    let (columns, _) = choose_tasks(spec, data)?;
    let (train, val) = split_rows(spec, data, &columns);
    let mut tags = vec![None; data.rows];
    for i in train {
        tags[i] = Some(SplitTag::Train);
    }
    for i in val {
        tags[i] = Some(SplitTag::Val);
    }
    Ok(tags)
}

/// The label column and the task's description for every task of the spec, in order.
fn choose_tasks<'a>(
    spec: &impl DataSettings,
    data: &'a Dataset,
) -> Result<(Vec<&'a TargetColumn>, Vec<TaskInfo>), DataError> {
    let mut columns = Vec::with_capacity(spec.tasks().len());
    let mut tasks = Vec::with_capacity(spec.tasks().len());
    for (i, task) in spec.tasks().iter().enumerate() {
        let col = data.target(&task.target).ok_or_else(|| {
            DataError::Mismatch(format!(
                "tasks[{i}].target: dataset '{}' has no label '{}'",
                data.name, task.target
            ))
        })?;
        if col.kind != task.kind {
            return Err(DataError::Mismatch(format!(
                "tasks[{i}].kind: label '{}' is {}, not {}",
                task.target, col.kind, task.kind
            )));
        }
        let out_dim = match task.kind {
            TaskKind::Regression | TaskKind::Binary => 1,
            TaskKind::Multiclass => col.classes.len(),
            TaskKind::Segmentation => col.width,
            TaskKind::SemanticSegmentation => col.classes.len() * col.width,
        };
        if matches!(
            task.kind,
            TaskKind::Multiclass | TaskKind::SemanticSegmentation
        ) && col.classes.len() < 2
        {
            return Err(DataError::Mismatch(format!(
                "tasks[{i}]: label '{}' has {out_dim} class(es); multiclass needs >= 2",
                task.target
            )));
        }
        tasks.push(TaskInfo {
            name: task.name.clone(),
            kind: task.kind,
            loss: task.loss(),
            out_dim,
            classes: col.classes.clone(),
            target_mean: 0.0,
            target_std: 1.0,
        });
        columns.push(col);
    }

    Ok((columns, tasks))
}

/// The (training, validation) rows: the file's fixed split, or a seeded stratified one.
fn split_rows(
    spec: &impl DataSettings,
    data: &Dataset,
    columns: &[&TargetColumn],
) -> (Vec<usize>, Vec<usize>) {
    match &data.split {
        // A fixed split from the file: validation rows, or test rows when there are none.
        Some(tags) => {
            let rows = |want: SplitTag| {
                (0..data.rows)
                    .filter(|&i| tags[i] == want)
                    .collect::<Vec<_>>()
            };
            let val = rows(SplitTag::Val);
            let val = if val.is_empty() {
                rows(SplitTag::Test)
            } else {
                val
            };
            (rows(SplitTag::Train), val)
        }
        None => {
            // Stratified on the first classification task, so every class is in both
            // parts in proportion.
            let class_column = spec
                .tasks()
                .iter()
                .zip(columns)
                .find(|(t, _)| matches!(t.kind, TaskKind::Binary | TaskKind::Multiclass))
                .map(|(_, c)| *c);
            let strata: Vec<Option<u32>> = (0..data.rows)
                .map(|r| class_column.and_then(|c| c.present[r].then(|| c.values[r] as u32)))
                .collect();
            stratified_split(
                &strata,
                spec.validation_fraction(),
                &mut rng::stream(spec.seed(), "data.split"),
            )
        }
    }
}

/// The rows `idx` of `data`: inputs standardised with `(mean, std)`, the task columns' labels.
fn split_of(
    data: &Dataset,
    columns: &[&TargetColumn],
    idx: &[usize],
    (mean, std): (&[f32], &[f32]),
) -> SplitData {
    let d = data.features();
    let mut x = Vec::with_capacity(idx.len() * d);
    for &r in idx {
        let row = &data.x[r * d..(r + 1) * d];
        x.extend(
            row.iter()
                .zip(mean.iter().zip(std))
                .map(|(v, (m, s))| if v.is_nan() { 0.0 } else { (v - m) / s }),
        );
    }
    let labels = columns
        .iter()
        .map(|c| Labels {
            values: gather_rows(&c.values, c.width.max(1), idx),
            mask: idx
                .iter()
                .map(|&r| if c.present[r] { 1.0 } else { 0.0 })
                .collect(),
            width: c.width.max(1),
        })
        .collect();
    SplitData {
        rows: idx.len(),
        features: d,
        x,
        labels,
    }
}

/// Scarce labels on purpose: keeps only a seeded share of a task's training labels.
fn keep_labels(spec: &impl DataSettings, train: &mut SplitData) {
    for (k, task) in spec.tasks().iter().enumerate() {
        let Some(share) = spec.keep_labels(&task.name) else {
            continue;
        };
        let mask = &mut train.labels[k].mask;
        let mut labelled: Vec<usize> = (0..mask.len()).filter(|&r| mask[r] > 0.0).collect();
        labelled.shuffle(&mut rng::stream(
            spec.seed(),
            &format!("keep_labels.{}", task.name),
        ));
        let keep = ((labelled.len() as f64 * share).round() as usize).max(1);
        for &r in labelled.iter().skip(keep) {
            mask[r] = 0.0;
        }
    }
}

/// CSV data: learns regression targets on a unit scale, `(y − mean) / std` with the training
/// labels' statistics (body mass in grams would otherwise dwarf every other loss);
/// predictions are mapped back.
fn standardise_targets(tasks: &mut [TaskInfo], train: &mut SplitData, val: &mut SplitData) {
    for (k, task) in tasks.iter_mut().enumerate() {
        if task.kind != TaskKind::Regression {
            continue;
        }
        let labels = &train.labels[k];
        let n = labels.count().max(1) as f64;
        let pairs = || {
            labels
                .values
                .iter()
                .zip(&labels.mask)
                .filter(|(_, m)| **m > 0.0)
                .map(|(v, _)| f64::from(*v))
        };
        let mean = pairs().sum::<f64>() / n;
        let std = (pairs().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let std = if std > 1e-12 { std } else { 1.0 };
        task.target_mean = mean as f32;
        task.target_std = std as f32;
        for split in [&mut *train, &mut *val] {
            for v in &mut split.labels[k].values {
                *v = (*v - task.target_mean) / task.target_std;
            }
        }
    }
}

/// How one task's labels fall into the splits.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskBalance {
    /// Task name.
    pub task: String,
    /// Its kind.
    pub kind: TaskKind,
    /// Class names (classification).
    pub class_names: Vec<String>,
    /// The training split.
    pub train: SplitBalance,
    /// The validation split.
    pub val: SplitBalance,
}

/// Labels of one task in one split.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitBalance {
    /// Rows in the split.
    pub rows: usize,
    /// Rows with this task's label.
    pub labelled: usize,
    /// Labelled rows per class (classification; empty otherwise).
    pub classes: Vec<usize>,
}

impl SplitBalance {
    /// The share of the split's rows (so of a batch drawn from it, on average) that carry the
    /// label.
    pub fn share(&self) -> f64 {
        self.labelled as f64 / self.rows.max(1) as f64
    }
}

/// Standardises raw row-major inputs in place with per-feature mean and deviation.
pub fn standardise(raw: &mut [f32], mean: &[f32], std: &[f32]) {
    let d = mean.len().max(1);
    for row in raw.chunks_mut(d) {
        for ((v, m), s) in row.iter_mut().zip(mean).zip(std) {
            *v = (*v - m) / s;
        }
    }
}

/// Per-column mean and standard deviation over the rows `idx`, skipping missing (NaN)
/// cells.
fn column_stats(x: &[f32], d: usize, idx: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0.0f64; d];
    let mut count = vec![0usize; d];
    for &r in idx {
        for ((s, c), v) in sum.iter_mut().zip(&mut count).zip(&x[r * d..(r + 1) * d]) {
            if !v.is_nan() {
                *s += f64::from(*v);
                *c += 1;
            }
        }
    }
    let mean: Vec<f64> = sum
        .iter()
        .zip(&count)
        .map(|(s, c)| if *c > 0 { s / *c as f64 } else { 0.0 })
        .collect();
    let mut var = vec![0.0f64; d];
    for &r in idx {
        for ((s, v), m) in var.iter_mut().zip(&x[r * d..(r + 1) * d]).zip(&mean) {
            if !v.is_nan() {
                *s += (f64::from(*v) - m).powi(2);
            }
        }
    }
    let std = var
        .iter()
        .zip(&count)
        .map(|(v, c)| {
            let sd = (v / (*c).max(1) as f64).sqrt();
            if sd > 1e-12 { sd as f32 } else { 1.0 }
        })
        .collect();
    (mean.iter().map(|m| *m as f32).collect(), std)
}

/// Splits rows into (train, validation) at random, stratified on `strata` (one key per row,
/// `None` for rows without that label): each stratum gives its share of validation rows, so
/// a rare class shows up in both parts.
fn stratified_split(
    strata: &[Option<u32>],
    fraction: f64,
    rng: &mut impl rand::Rng,
) -> (Vec<usize>, Vec<usize>) {
    let rows = strata.len();
    let mut groups: std::collections::BTreeMap<Option<u32>, Vec<usize>> =
        std::collections::BTreeMap::new();
    for (i, key) in strata.iter().enumerate() {
        groups.entry(*key).or_default().push(i);
    }
    let n_val_total = ((rows as f64) * fraction).round() as usize;
    let n_val_total = n_val_total.min(rows.saturating_sub(1));
    let (mut train, mut val) = (Vec::new(), Vec::new());
    let (mut seen, mut taken) = (0usize, 0usize);
    for members in groups.values_mut() {
        members.shuffle(rng);
        seen += members.len();
        // Cumulative rounding keeps the total exact and each stratum proportional.
        let target = ((seen as f64) * n_val_total as f64 / rows as f64).round() as usize;
        let take = target.saturating_sub(taken).min(members.len());
        taken += take;
        val.extend_from_slice(&members[..take]);
        train.extend_from_slice(&members[take..]);
    }
    (train, val)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::ExperimentSpec;

    #[test]
    fn split_is_seeded_disjoint_and_standardised() {
        let spec = ExperimentSpec::default();
        let data = load(&spec).expect("built-in data");
        let p = PreparedData::new(&spec, &data).expect("prepares");
        assert_eq!(
            p.train.rows + p.val.rows,
            data.rows,
            "every row is used once"
        );
        assert_eq!(
            p.val.rows,
            (data.rows as f64 * 0.2).round() as usize,
            "20% held out"
        );
        let d = p.features();
        let mean0: f32 =
            (0..p.train.rows).map(|r| p.train.x[r * d]).sum::<f32>() / p.train.rows as f32;
        assert!(
            mean0.abs() < 1e-4,
            "train inputs have zero mean, got {mean0}"
        );
        let q = PreparedData::new(&spec, &data).expect("prepares");
        assert_eq!(p.val.x, q.val.x, "same seed, same split");
    }

    #[test]
    fn missing_inputs_take_the_training_mean_and_the_split_is_stratified() {
        // Train rows have mass 10 and 30 (mean 20); the validation row's 1000 must not leak.
        let text = "mass,task:y:reg,split\n10,1,train\n30,2,train\n,3,train\n1000,4,val\n";
        let data = csv::parse(text.as_bytes(), std::path::Path::new("m.csv"), &[]).expect("parses");
        let mut spec = ExperimentSpec {
            tasks: vec![crate::task::TaskSpec {
                name: "y".to_owned(),
                kind: TaskKind::Regression,
                target: "y".to_owned(),
                loss: None,
                weight: 1.0,
            }],
            ..ExperimentSpec::default()
        };
        spec.model.input = data.features();
        let p = PreparedData::new(&spec, &data).expect("prepares");
        assert!(
            (p.input_mean[0] - 20.0).abs() < 1e-6,
            "train mean: {:?}",
            p.input_mean
        );
        let imputed = match &p.encoding.as_ref().expect("encoding").columns[0].kind {
            csv::InputKind::Numeric { impute, .. } => *impute,
            other => panic!("numeric expected: {other:?}"),
        };
        assert!(
            (imputed - 20.0).abs() < 1e-6,
            "predict imputes like training: {imputed}"
        );
        assert_eq!(
            p.train.x[2 * p.features()],
            0.0,
            "the missing cell is the mean: 0 standardised"
        );

        // Stratified: a 10% class keeps its share in both parts.
        let strata: Vec<Option<u32>> = (0..1000).map(|i| Some(u32::from(i % 10 == 0))).collect();
        let (train, val) = stratified_split(&strata, 0.2, &mut rng::stream(1, "t"));
        assert_eq!((train.len(), val.len()), (800, 200));
        let rare = val.iter().filter(|&&i| i % 10 == 0).count();
        assert_eq!(rare, 20, "exactly the class's share of the validation rows");
    }

    #[test]
    fn balance_counts_labelled_rows_and_classes_per_split() {
        let text = "x,task:c:class,task:r:reg,split\n\
                    1,a,,train\n2,b,1,train\n3,a,2,train\n4,,3,train\n5,b,,val\n";
        let data = csv::parse(text.as_bytes(), std::path::Path::new("b.csv"), &[]).expect("parses");
        let task = |name: &str, kind| crate::task::TaskSpec {
            name: name.to_owned(),
            kind,
            target: name.to_owned(),
            loss: None,
            weight: 1.0,
        };
        let mut spec = ExperimentSpec {
            tasks: vec![task("c", TaskKind::Binary), task("r", TaskKind::Regression)],
            ..ExperimentSpec::default()
        };
        spec.model.input = data.features();
        let b = PreparedData::new(&spec, &data).expect("prepares").balance();
        assert_eq!((b[0].train.labelled, b[0].train.rows), (3, 4));
        assert_eq!(b[0].train.classes, [2, 1], "a twice, b once");
        assert_eq!((b[0].val.labelled, b[1].val.labelled), (1, 0));
        assert_eq!(b[1].train.labelled, 3);
        assert!((b[1].train.share() - 0.75).abs() < 1e-12);
        assert!(b[1].train.classes.is_empty(), "no classes for regression");
    }

    #[test]
    fn the_normaliser_uses_the_population_std_and_binary_label_1_is_classes_1() {
        let text = "x,task:c:class,split\n1,no,train\n2,yes,train\n4,no,train\n7,yes,train\n";
        let data = csv::parse(text.as_bytes(), std::path::Path::new("p.csv"), &[]).expect("parses");
        let mut spec = ExperimentSpec {
            tasks: vec![crate::task::TaskSpec {
                name: "c".to_owned(),
                kind: TaskKind::Binary,
                target: "c".to_owned(),
                loss: None,
                weight: 1.0,
            }],
            ..ExperimentSpec::default()
        };
        spec.model.input = data.features();
        let p = PreparedData::new(&spec, &data).expect("prepares");
        // Mean 3.5; squared deviations sum to 21: population std √(21/4), not √(21/3).
        assert!((p.input_mean[0] - 3.5).abs() < 1e-6, "{:?}", p.input_mean);
        assert!(
            (p.input_std[0] - (21.0f32 / 4.0).sqrt()).abs() < 1e-5,
            "population std: {:?}",
            p.input_std
        );
        // The model's sigmoid is the probability of label 1, which is classes[1].
        assert_eq!(p.tasks[0].classes, ["no", "yes"]);
        assert_eq!(p.train.rows, 4);
        for r in 0..p.train.rows {
            let raw = p.train.x[r] * p.input_std[0] + p.input_mean[0];
            let yes = (raw - 2.0).abs() < 1e-4 || (raw - 7.0).abs() < 1e-4;
            assert_eq!(
                p.train.labels[0].values[r],
                f32::from(u8::from(yes)),
                "row {raw}"
            );
        }
    }

    #[test]
    fn wrong_input_size_is_a_clear_error() {
        let mut spec = ExperimentSpec::default();
        spec.model.input = 5;
        let data = load(&spec).expect("built-in data");
        let err = PreparedData::new(&spec, &data).expect_err("mismatch");
        assert!(
            err.to_string().contains("model.input"),
            "names the field: {err}"
        );
    }
}
