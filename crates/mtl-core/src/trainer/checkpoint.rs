//! Checkpoints: everything a run needs to go on exactly where it was, in one safetensors
//! file (`checkpoint.safetensors` in a run folder).
//!
//! # The file
//! Tensors, each named after its part:
//! - `model/<parameter>` (`F32`): the weights, named as in `model.safetensors`;
//! - `best/<parameter>` (`F32`): the best epoch's weights, when the stop rules restore them;
//! - `optimizer/a/<i>`, `optimizer/b/<i>` (`F32`): parameter *i*'s moments (Adam's first and
//!   second, SGD's momentum buffer, RMSprop's buffer and square average), once it was updated;
//! - `strategy/<entry>` (`F64`): the weighting strategy's state (UW's log-variances, FAMO's
//!   logits and Adam moments, GradVac's targets, Nash-MTL's warm start, CR-MOGM's average, …);
//! - `run/order` (`U64`): the epoch's batch order; `run/task_weights` (`F32`);
//!   `run/loss_history` (`F64`, K × epochs); `run/epoch_loss_sum` (`F64`) and
//!   `run/epoch_loss_count` (`U64`): the epoch under way; `run/task_rows/<k>` and
//!   `run/task_cursor` (`U64`, per-task sampling);
//! - `dynamics/*`: the sums of the epoch under way behind `metrics.csv`'s weight, cosine
//!   and affinity rows.
//!
//! Metadata (JSON text): `mtl_studio_format` (`mtl-studio-checkpoint/1`), `spec` (the run's
//! spec, with its input width filled in and any live edits), `epoch`, `step`, `cursor`,
//! `threads`, `split_rows`, `rng` (each random stream's position), `optimizer` (learning
//! rate, step), `best`, `dynamics` (counts) and `rows` (every row of `metrics.csv` so far).
//! Numbers that must come back bit for bit are written as Rust writes them (the shortest
//! text that reads back to the same `f64`), `NaN` and `inf` included. The metadata keys are
//! in sorted order: the same run gives the same bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::{Value, json};

use super::drive::EpochDynamics;
use super::protocol::{EvalMetrics, Split, TaskEval};
use crate::experiment::ExperimentSpec;
use crate::export::{ExportError, MetricRow};
use crate::model::{ArchState, NamedTensor};
use crate::optim::OptimizerState;
use crate::weighting::StrategyState;

/// The `mtl_studio_format` of a checkpoint.
pub const CHECKPOINT_FORMAT: &str = "mtl-studio-checkpoint/1";

/// The file name of a run folder's checkpoint.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// The best epoch so far under the stop rules.
#[derive(Clone, Debug, PartialEq)]
pub struct BestState {
    /// Its monitored loss.
    pub loss: f64,
    /// The epoch.
    pub epoch: usize,
    /// Its weights, when the stop rules restore them.
    pub weights: Option<Vec<NamedTensor>>,
}

/// A session's state ([`super::Session::state`]).
#[derive(Clone, Debug, PartialEq)]
pub struct SessionState {
    /// Every parameter (and Ω with relationship learning).
    pub weights: Vec<NamedTensor>,
    /// The optimizer's moments, step and learning rate.
    pub optimizer: OptimizerState,
    /// The weighting strategy's state.
    pub strategy: StrategyState,
    /// The task weights of the last step.
    pub task_weights: Vec<f32>,
    /// Completed epochs.
    pub epochs_done: usize,
    /// Steps done.
    pub step: u64,
    /// The epoch's batch order (training rows).
    pub order: Vec<usize>,
    /// How far into `order` the epoch is.
    pub cursor: usize,
    /// Per task, the mean training loss of each completed epoch.
    pub loss_history: Vec<Vec<f64>>,
    /// Per task, the sum and count of the losses of the epoch under way.
    pub epoch_losses: Vec<(f64, usize)>,
    /// Each random stream's position (`name`, word position).
    pub rngs: Vec<(String, u128)>,
    /// The stop rules' best epoch.
    pub best: Option<BestState>,
    /// Per-task sampling: each task's rows in their shuffled order ...
    pub task_rows: Vec<Vec<usize>>,
    /// ... and how far each is used.
    pub task_cursor: Vec<usize>,
}

/// Everything a run needs to go on exactly where it was ([`super::Driver::checkpoint`],
/// [`super::Driver::resume`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// The run's spec as its session held it.
    pub spec: ExperimentSpec,
    /// The session.
    pub session: SessionState,
    pub(super) dynamics: EpochDynamics,
    /// Every row of `metrics.csv` so far.
    pub rows: Vec<MetricRow>,
    /// Threads the run stepped on: the same count continues it bit for bit.
    pub threads: usize,
    /// Training and validation rows of its data.
    pub split_rows: (usize, usize),
}

/// A problem with a checkpoint file.
fn bad(path: &Path, message: String) -> ExportError {
    ExportError::Format {
        path: path.to_owned(),
        message,
    }
}

impl Checkpoint {
    /// Completed epochs.
    pub fn epoch(&self) -> usize {
        self.session.epochs_done
    }

    /// Steps done.
    pub fn step(&self) -> u64 {
        self.session.step
    }

    /// The spec to continue this checkpoint with, given the spec `given` a user asks for:
    /// it must be the checkpoint's own but for the epoch count, which may grow (at least
    /// the epochs done); an input width of 0 ("from the file") matches the checkpoint's.
    /// Otherwise the error names the first field that differs, with both values.
    pub fn spec_for(&self, given: &ExperimentSpec) -> Result<ExperimentSpec, String> {
        let mut wanted = given.clone();
        if wanted.model.input == 0 {
            wanted.model.input = self.spec.model.input;
        }
        let epochs = wanted.training.epochs;
        if epochs < self.epoch() {
            return Err(format!(
                "the checkpoint has {} epochs done; the run cannot end at {epochs} (give --epochs {} or more)",
                self.epoch(),
                self.epoch()
            ));
        }
        wanted.training.epochs = self.spec.training.epochs;
        let a = serde_json::to_value(&self.spec).unwrap_or(Value::Null);
        let b = serde_json::to_value(&wanted).unwrap_or(Value::Null);
        if let Some((field, was, now)) = first_difference("", &a, &b) {
            return Err(format!(
                "the spec differs from the checkpoint's in '{field}': the checkpoint has {was}, the spec {now}"
            ));
        }
        wanted.training.epochs = epochs;
        Ok(wanted)
    }

    /// Whether `path` holds a checkpoint (a readable safetensors file of this format).
    pub fn is_checkpoint(path: &Path) -> bool {
        let Ok(bytes) = crate::fsguard::read_regular(path) else {
            return false;
        };
        SafeTensors::read_metadata(&bytes).is_ok_and(|(_, m)| {
            m.metadata()
                .as_ref()
                .and_then(|m| m.get(crate::export::FORMAT_KEY))
                .is_some_and(|v| v == CHECKPOINT_FORMAT)
        })
    }

    /// Writes the checkpoint to `path`, atomically.
    pub fn save(&self, path: &Path) -> Result<(), ExportError> {
        let mut w = Writer::default();
        let s = &self.session;
        for t in &s.weights {
            w.f32(format!("model/{}", t.name), t.shape.clone(), &t.values);
        }
        if let Some(best) = s.best.as_ref().and_then(|b| b.weights.as_ref()) {
            for t in best {
                w.f32(format!("best/{}", t.name), t.shape.clone(), &t.values);
            }
        }
        for (i, (a, b)) in s.optimizer.moments.iter().enumerate() {
            if !a.is_empty() {
                w.f32(format!("optimizer/a/{i}"), vec![a.len()], a);
                w.f32(format!("optimizer/b/{i}"), vec![b.len()], b);
            }
        }
        for (name, values) in &s.strategy.entries {
            w.f64(format!("strategy/{name}"), vec![values.len()], values);
        }
        let k = s.loss_history.len();
        w.u64("run/order", &s.order);
        w.f32("run/task_weights".into(), vec![k], &s.task_weights);
        let epochs = s.loss_history.first().map_or(0, Vec::len);
        w.f64(
            "run/loss_history".into(),
            vec![k, epochs],
            &s.loss_history.concat(),
        );
        let sums: Vec<f64> = s.epoch_losses.iter().map(|(sum, _)| *sum).collect();
        let counts: Vec<usize> = s.epoch_losses.iter().map(|(_, n)| *n).collect();
        w.f64("run/epoch_loss_sum".into(), vec![k], &sums);
        w.u64("run/epoch_loss_count", &counts);
        for (t, rows) in s.task_rows.iter().enumerate() {
            w.u64(&format!("run/task_rows/{t}"), rows);
        }
        if !s.task_cursor.is_empty() {
            w.u64("run/task_cursor", &s.task_cursor);
        }
        let dynamics = write_dynamics(&mut w, &self.dynamics);
        let rngs: BTreeMap<&str, String> = s
            .rngs
            .iter()
            .map(|(n, p)| (n.as_str(), p.to_string()))
            .collect();
        let json = |v: &Value| v.to_string();
        let mut meta = HashMap::from([
            (
                crate::export::FORMAT_KEY.to_owned(),
                CHECKPOINT_FORMAT.to_owned(),
            ),
            ("spec".to_owned(), self.spec.to_json()),
            ("epoch".to_owned(), s.epochs_done.to_string()),
            ("step".to_owned(), s.step.to_string()),
            ("cursor".to_owned(), s.cursor.to_string()),
            ("threads".to_owned(), self.threads.to_string()),
            (
                "split_rows".to_owned(),
                json(&json!([self.split_rows.0, self.split_rows.1])),
            ),
            ("rng".to_owned(), json(&json!(rngs))),
            (
                "optimizer".to_owned(),
                json(&json!({
                    "lr": num(s.optimizer.lr),
                    "step": s.optimizer.step,
                    "params": s.optimizer.moments.len(),
                })),
            ),
            ("dynamics".to_owned(), json(&dynamics)),
            ("rows".to_owned(), json(&rows_json(&self.rows))),
        ]);
        if let Some(b) = &s.best {
            meta.insert(
                "best".to_owned(),
                json(
                    &json!({"loss": num(b.loss), "epoch": b.epoch, "weights": b.weights.is_some()}),
                ),
            );
        }
        let bytes = w.into_bytes(meta).map_err(|e| bad(path, e))?;
        crate::export::write_atomic(path, &bytes)
    }

    /// Reads a checkpoint written by [`Checkpoint::save`]; a folder is read as
    /// `folder/checkpoint.safetensors`. Every problem names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, ExportError> {
        let path: PathBuf = if path.is_dir() {
            path.join(CHECKPOINT_FILE)
        } else {
            path.to_owned()
        };
        let bytes = crate::fsguard::read_regular(&path).map_err(|source| ExportError::Io {
            action: "cannot read the checkpoint",
            path: path.clone(),
            source,
        })?;
        let r = Reader::new(&path, &bytes)?;
        let format = r
            .meta(crate::export::FORMAT_KEY)
            .map_err(|e| bad(&path, e))?;
        if format != CHECKPOINT_FORMAT {
            return Err(bad(
                &path,
                format!(
                    "format '{format}' is not '{CHECKPOINT_FORMAT}' (a model file? `train --init` starts from one)"
                ),
            ));
        }
        read_checkpoint(&r).map_err(|e| bad(&path, e))
    }
}

/// The shortest text that reads back to `v` (`NaN`, `inf` and `-inf` included).
fn num(v: f64) -> String {
    format!("{v:?}")
}

/// [`num`] read back.
fn parse_num(v: &Value) -> Option<f64> {
    v.as_str()?.parse().ok()
}

/// The first place where `a` and `b` differ: (dotted path, `a`'s value, `b`'s value).
fn first_difference(at: &str, a: &Value, b: &Value) -> Option<(String, String, String)> {
    let join = |key: &str| {
        if at.is_empty() {
            key.to_owned()
        } else {
            format!("{at}.{key}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|key| {
                let null = Value::Null;
                first_difference(
                    &join(key),
                    x.get(key).unwrap_or(&null),
                    y.get(key).unwrap_or(&null),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(&join(&i.to_string()), p, q)),
        _ if a == b => None,
        _ => Some((at.to_owned(), a.to_string(), b.to_string())),
    }
}

/// The metadata `rows`: one array `[epoch, step, split, task, loss, metric, value]` per row.
fn rows_json(rows: &[MetricRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| {
                json!([
                    r.epoch,
                    r.step,
                    r.split,
                    r.task,
                    num(r.loss),
                    r.metric,
                    num(r.value)
                ])
            })
            .collect(),
    )
}

/// A name read from a file as the `&'static str` a [`MetricRow`] holds: each distinct name
/// is kept once for the life of the process (there are a few dozen).
pub(super) fn interned(name: &str) -> &'static str {
    static NAMES: std::sync::Mutex<BTreeSet<&'static str>> = std::sync::Mutex::new(BTreeSet::new());
    let mut names = NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(n) = names.get(name) {
        return n;
    }
    let n: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(n);
    n
}

fn parse_rows(v: &Value) -> Result<Vec<MetricRow>, String> {
    let rows = v.as_array().ok_or("metadata 'rows' is not a list")?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let bad = || format!("metadata 'rows': row {} is damaged", i + 1);
            let f = row.as_array().filter(|f| f.len() == 7).ok_or_else(bad)?;
            let int = |v: &Value| v.as_u64().ok_or_else(bad);
            let text = |v: &Value| v.as_str().map(str::to_owned).ok_or_else(bad);
            Ok(MetricRow {
                epoch: usize::try_from(int(&f[0])?).map_err(|_| bad())?,
                step: int(&f[1])?,
                split: interned(&text(&f[2])?),
                task: text(&f[3])?,
                loss: parse_num(&f[4]).ok_or_else(bad)?,
                metric: interned(&text(&f[5])?),
                value: parse_num(&f[6]).ok_or_else(bad)?,
            })
        })
        .collect()
}

/// Writes the epoch sums' arrays and returns their counts for the metadata.
fn write_dynamics(w: &mut Writer, d: &EpochDynamics) -> Value {
    w.f64("dynamics/weights".into(), vec![d.weights.len()], &d.weights);
    w.u64("dynamics/sampled", &d.sampled);
    w.f64("dynamics/cosines".into(), vec![d.cosines.len()], &d.cosines);
    w.f64("dynamics/tag".into(), vec![d.tag.len()], &d.tag);
    w.u64("dynamics/tag_n", &d.tag_n);
    if let Some(a) = &d.arch {
        let mut put = |name: String, v: &[f64]| w.f64(name, vec![v.len()], v);
        if let Some(v) = &a.tower_distances {
            put("dynamics/arch/tower_distances".into(), v);
        }
        if let Some(v) = &a.omega {
            put("dynamics/arch/omega".into(), v);
        }
        for (i, v) in a.stitch.iter().enumerate() {
            put(format!("dynamics/arch/stitch/{i}"), v);
        }
        for (i, v) in a.gates.iter().enumerate() {
            put(format!("dynamics/arch/gates/{i}"), v);
        }
    }
    json!({
        "steps": d.steps,
        "stationary": d.stationary,
        "measured": d.measured,
        "arch": d.arch.as_ref().map(|a| json!({"stitch": a.stitch.len(), "gates": a.gates.len()})),
    })
}

fn read_dynamics(r: &Reader<'_>) -> Result<EpochDynamics, String> {
    let meta: Value = r.meta_json("dynamics")?;
    let count = |key: &str| -> Result<usize, String> {
        meta.get(key)
            .and_then(Value::as_u64)
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| format!("metadata 'dynamics': '{key}' is missing"))
    };
    let arch = match meta.get("arch") {
        Some(Value::Object(a)) => {
            let n = |key: &str| a.get(key).and_then(Value::as_u64).unwrap_or(0);
            Some(ArchState {
                tower_distances: r.opt_f64("dynamics/arch/tower_distances")?,
                omega: r.opt_f64("dynamics/arch/omega")?,
                stitch: (0..n("stitch"))
                    .map(|i| r.f64(&format!("dynamics/arch/stitch/{i}")))
                    .collect::<Result<_, _>>()?,
                gates: (0..n("gates"))
                    .map(|i| r.f64(&format!("dynamics/arch/gates/{i}")))
                    .collect::<Result<_, _>>()?,
            })
        }
        _ => None,
    };
    Ok(EpochDynamics {
        weights: r.f64("dynamics/weights")?,
        sampled: r.usizes("dynamics/sampled")?,
        steps: count("steps")?,
        stationary: count("stationary")?,
        cosines: r.f64("dynamics/cosines")?,
        measured: count("measured")?,
        tag: r.f64("dynamics/tag")?,
        tag_n: r.usizes("dynamics/tag_n")?,
        arch,
    })
}

/// The named tensors under `prefix` (`model/`, `best/`), in the file's order.
fn named_tensors(r: &Reader<'_>, prefix: &str) -> Result<Vec<NamedTensor>, String> {
    r.names(prefix)
        .into_iter()
        .map(|name| {
            let (shape, values) = r.f32_shaped(&name)?;
            Ok(NamedTensor {
                name: name[prefix.len()..].to_owned(),
                shape,
                values,
            })
        })
        .collect()
}

/// The optimizer's state, of at most `tensors` parameters.
fn read_optimizer(r: &Reader<'_>, tensors: usize) -> Result<OptimizerState, String> {
    let optimizer: Value = r.meta_json("optimizer")?;
    let params = optimizer
        .get("params")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n <= tensors)
        .ok_or("metadata 'optimizer': no parameter count")?;
    let mut moments = Vec::with_capacity(params);
    for i in 0..params {
        moments.push(match r.opt_f32(&format!("optimizer/a/{i}"))? {
            Some(a) => (a, r.f32(&format!("optimizer/b/{i}"))?),
            None => (Vec::new(), Vec::new()),
        });
    }
    let optimizer = OptimizerState {
        lr: optimizer
            .get("lr")
            .and_then(parse_num)
            .ok_or("metadata 'optimizer': no learning rate")?,
        step: optimizer
            .get("step")
            .and_then(Value::as_u64)
            .ok_or("metadata 'optimizer': no step")?,
        moments,
    };
    Ok(optimizer)
}

/// The stop rules' best epoch, if there is one.
fn read_best(r: &Reader<'_>) -> Result<Option<BestState>, String> {
    let best = match r.meta_opt("best") {
        None => None,
        Some(text) => {
            let b: Value =
                serde_json::from_str(text).map_err(|e| format!("metadata 'best': {e}"))?;
            let restores = b.get("weights").and_then(Value::as_bool).unwrap_or(false);
            Some(BestState {
                loss: b
                    .get("loss")
                    .and_then(parse_num)
                    .ok_or("metadata 'best': no loss")?,
                epoch: b
                    .get("epoch")
                    .and_then(Value::as_u64)
                    .and_then(|e| usize::try_from(e).ok())
                    .ok_or("metadata 'best': no epoch")?,
                weights: if restores {
                    Some(named_tensors(r, "best/")?)
                } else {
                    None
                },
            })
        }
    };
    Ok(best)
}

fn read_session(r: &Reader<'_>) -> Result<SessionState, String> {
    let int = |key: &str| -> Result<u64, String> {
        r.meta(key)?
            .parse()
            .map_err(|_| format!("metadata '{key}' is not a whole number"))
    };
    let to_usize = |v: u64| usize::try_from(v).map_err(|e| e.to_string());
    let weights = named_tensors(r, "model/")?;
    let optimizer = read_optimizer(r, weights.len())?;
    let strategy = StrategyState {
        entries: r
            .names("strategy/")
            .into_iter()
            .map(|name| Ok((name["strategy/".len()..].to_owned(), r.f64(&name)?)))
            .collect::<Result<_, String>>()?,
    };
    let (shape, history) = r.f64_shaped("run/loss_history")?;
    let (k, epochs) = match shape[..] {
        [k, e] if k * e == history.len() => (k, e),
        _ => return Err("tensor 'run/loss_history' is not tasks × epochs".to_owned()),
    };
    let loss_history: Vec<Vec<f64>> = (0..k)
        .map(|t| history[t * epochs..(t + 1) * epochs].to_vec())
        .collect();
    let sums = r.f64("run/epoch_loss_sum")?;
    let counts = r.usizes("run/epoch_loss_count")?;
    let rngs: BTreeMap<String, String> =
        serde_json::from_value(r.meta_json("rng")?).map_err(|e| format!("metadata 'rng': {e}"))?;
    let rngs = rngs
        .into_iter()
        .map(|(name, pos)| {
            pos.parse::<u128>()
                .map(|p| (name.clone(), p))
                .map_err(|_| format!("metadata 'rng': the position of '{name}' is damaged"))
        })
        .collect::<Result<_, _>>()?;
    let best = read_best(r)?;
    let task_rows = (0..)
        .map_while(|t| r.opt_usizes(&format!("run/task_rows/{t}")).transpose())
        .collect::<Result<_, _>>()?;
    Ok(SessionState {
        weights,
        optimizer,
        strategy,
        task_weights: r.f32("run/task_weights")?,
        epochs_done: to_usize(int("epoch")?)?,
        step: int("step")?,
        order: r.usizes("run/order")?,
        cursor: to_usize(int("cursor")?)?,
        loss_history,
        epoch_losses: sums.into_iter().zip(counts).collect(),
        rngs,
        best,
        task_rows,
        task_cursor: r.opt_usizes("run/task_cursor")?.unwrap_or_default(),
    })
}

fn read_checkpoint(r: &Reader<'_>) -> Result<Checkpoint, String> {
    let spec =
        ExperimentSpec::from_json(r.meta("spec")?).map_err(|e| format!("metadata 'spec': {e}"))?;
    let split: Vec<usize> = serde_json::from_value(r.meta_json("split_rows")?)
        .map_err(|e| format!("metadata 'split_rows': {e}"))?;
    let [train, val] = split[..] else {
        return Err("metadata 'split_rows' is not two counts".to_owned());
    };
    Ok(Checkpoint {
        spec,
        session: read_session(r)?,
        dynamics: read_dynamics(r)?,
        rows: parse_rows(&r.meta_json("rows")?)?,
        threads: r
            .meta("threads")?
            .parse()
            .map_err(|_| "metadata 'threads' is not a count".to_owned())?,
        split_rows: (train, val),
    })
}

/// Tensors to write: (name, type, shape, little-endian bytes).
#[derive(Default)]
struct Writer {
    tensors: Vec<(String, Dtype, Vec<usize>, Vec<u8>)>,
}

impl Writer {
    fn f32(&mut self, name: String, shape: Vec<usize>, v: &[f32]) {
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensors.push((name, Dtype::F32, shape, bytes));
    }

    fn f64(&mut self, name: String, shape: Vec<usize>, v: &[f64]) {
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensors.push((name, Dtype::F64, shape, bytes));
    }

    fn u64(&mut self, name: &str, v: &[usize]) {
        let bytes = v.iter().flat_map(|x| (*x as u64).to_le_bytes()).collect();
        self.tensors
            .push((name.to_owned(), Dtype::U64, vec![v.len()], bytes));
    }

    fn into_bytes(self, meta: HashMap<String, String>) -> Result<Vec<u8>, String> {
        let views = self
            .tensors
            .iter()
            .map(|(name, dtype, shape, bytes)| {
                TensorView::new(*dtype, shape.clone(), bytes)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| format!("tensor '{name}': {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| e.to_string())?;
        crate::export::with_sorted_metadata(&bytes)
    }
}

/// A tensor's shape and values.
type Shaped<T> = (Vec<usize>, Vec<T>);

/// A tensor's shape and little-endian bytes.
type Raw<'a> = (Vec<usize>, &'a [u8]);

/// A checkpoint file being read.
struct Reader<'a> {
    tensors: SafeTensors<'a>,
    meta: HashMap<String, String>,
}

impl<'a> Reader<'a> {
    fn new(path: &Path, bytes: &'a [u8]) -> Result<Self, ExportError> {
        let tensors = SafeTensors::deserialize(bytes)
            .map_err(|e| bad(path, format!("not a safetensors file ({e})")))?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(path, e.to_string()))?;
        Ok(Self {
            tensors,
            meta: meta.metadata().clone().unwrap_or_default(),
        })
    }

    fn meta_opt(&self, key: &str) -> Option<&str> {
        self.meta.get(key).map(String::as_str)
    }

    fn meta(&self, key: &str) -> Result<&str, String> {
        self.meta_opt(key).ok_or_else(|| {
            format!("metadata '{key}' is missing; was this file written by MTL Studio?")
        })
    }

    fn meta_json(&self, key: &str) -> Result<Value, String> {
        serde_json::from_str(self.meta(key)?).map_err(|e| format!("metadata '{key}': {e}"))
    }

    /// The tensor names that start with `prefix`, sorted.
    fn names(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .tensors
            .names()
            .into_iter()
            .filter(|n| n.starts_with(prefix))
            .map(str::to_owned)
            .collect();
        names.sort();
        names
    }

    /// Tensor `name`'s shape and bytes, if it is there and of type `dtype`.
    fn raw(&self, name: &str, dtype: Dtype) -> Result<Option<Raw<'a>>, String> {
        match self.tensors.tensor(name) {
            Err(_) => Ok(None),
            Ok(view) if view.dtype() == dtype => Ok(Some((view.shape().to_vec(), view.data()))),
            Ok(view) => Err(format!(
                "tensor '{name}' is {:?}, not {dtype:?}",
                view.dtype()
            )),
        }
    }

    fn need<T>(name: &str, v: Option<T>) -> Result<T, String> {
        v.ok_or_else(|| format!("tensor '{name}' is missing"))
    }

    fn opt_f32_shaped(&self, name: &str) -> Result<Option<Shaped<f32>>, String> {
        Ok(self.raw(name, Dtype::F32)?.map(|(shape, b)| {
            let v = b
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            (shape, v)
        }))
    }

    fn f32_shaped(&self, name: &str) -> Result<Shaped<f32>, String> {
        Self::need(name, self.opt_f32_shaped(name)?)
    }

    fn opt_f32(&self, name: &str) -> Result<Option<Vec<f32>>, String> {
        Ok(self.opt_f32_shaped(name)?.map(|(_, v)| v))
    }

    fn f32(&self, name: &str) -> Result<Vec<f32>, String> {
        Self::need(name, self.opt_f32(name)?)
    }

    fn opt_f64_shaped(&self, name: &str) -> Result<Option<Shaped<f64>>, String> {
        Ok(self.raw(name, Dtype::F64)?.map(|(shape, b)| {
            let v = b
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect();
            (shape, v)
        }))
    }

    fn f64_shaped(&self, name: &str) -> Result<Shaped<f64>, String> {
        Self::need(name, self.opt_f64_shaped(name)?)
    }

    fn opt_f64(&self, name: &str) -> Result<Option<Vec<f64>>, String> {
        Ok(self.opt_f64_shaped(name)?.map(|(_, v)| v))
    }

    fn f64(&self, name: &str) -> Result<Vec<f64>, String> {
        Self::need(name, self.opt_f64(name)?)
    }

    fn opt_usizes(&self, name: &str) -> Result<Option<Vec<usize>>, String> {
        let Some((_, b)) = self.raw(name, Dtype::U64)? else {
            return Ok(None);
        };
        b.chunks_exact(8)
            .map(|c| {
                let v = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
                usize::try_from(v).map_err(|_| format!("tensor '{name}': {v} is too large"))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn usizes(&self, name: &str) -> Result<Vec<usize>, String> {
        Self::need(name, self.opt_usizes(name)?)
    }
}

/// The evaluations behind `rows` (as [`super::Driver::evaluate`] wrote them), in order:
/// what a resumed run shows for its epochs so far. `run_id` is 0.
pub fn evaluations(rows: &[MetricRow], tasks: &[crate::data::TaskInfo]) -> Vec<EvalMetrics> {
    let mut out: Vec<EvalMetrics> = Vec::new();
    let mut i = 0;
    while i < rows.len() {
        let r = &rows[i];
        let split = match r.split {
            "train" => Split::Train,
            "val" => Split::Val,
            _ => {
                i += 1;
                continue;
            }
        };
        // One evaluation: every task's metric rows, in task order.
        let mut evals = Vec::with_capacity(tasks.len());
        let mut j = i;
        for task in tasks {
            let keys = crate::metrics::metric_keys(task.kind);
            let run = rows.get(j..j + keys.len()).filter(|run| {
                run.iter().zip(keys).all(|(row, key)| {
                    row.task == task.name
                        && row.metric == *key
                        && (row.epoch, row.step, row.split) == (r.epoch, r.step, r.split)
                })
            });
            let Some(run) = run else { break };
            let all: Vec<f64> = run.iter().map(|row| row.value).collect();
            evals.push(TaskEval {
                loss: run[0].loss,
                metric: all[0],
                all,
            });
            j += keys.len();
        }
        if evals.len() == tasks.len() && !tasks.is_empty() {
            out.push(EvalMetrics {
                run_id: 0,
                epoch: r.epoch,
                step: r.step,
                split,
                tasks: evals,
            });
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trainer::{Driver, RunPlan, Session};

    /// A driver of a small run after `steps` steps (mid-epoch) and its checkpoint.
    fn checkpoint(steps: usize) -> (ExperimentSpec, Checkpoint) {
        let mut spec = ExperimentSpec::default();
        if let crate::experiment::DatasetSpec::Mmoe(m) = &mut spec.dataset {
            m.samples = 400;
        }
        spec.training.epochs = 3;
        spec.weighting = crate::experiment::WeightingSpec::of("famo");
        let mut driver = Driver::new(Session::new(&spec).expect("session"), RunPlan::of(&spec));
        let mut rows = crate::trainer::Recorder::default();
        driver.start(&mut rows).expect("start");
        for _ in 0..steps {
            driver.step(&mut rows).expect("step");
        }
        let c = driver.checkpoint(&rows.rows).expect("checkpoint");
        (spec, c)
    }

    /// Saved and loaded, a checkpoint writes the same bytes again; the rows' non-finite
    /// numbers (the balance rows' loss) come back.
    #[test]
    fn a_checkpoint_reads_back_to_the_same_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (_, c) = checkpoint(7);
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        c.save(&a).expect("save");
        let loaded = Checkpoint::load(&a).expect("load");
        loaded.save(&b).expect("save again");
        assert_eq!(std::fs::read(&a).ok(), std::fs::read(&b).ok(), "same bytes");
        // The file keeps tensors, streams and strategy entries sorted by name.
        let sorted = |s: &SessionState| {
            let mut s = s.clone();
            s.weights.sort_by(|a, b| a.name.cmp(&b.name));
            s.rngs.sort();
            s.strategy.entries.sort_by(|a, b| a.0.cmp(&b.0));
            s
        };
        let (x, y) = (sorted(&loaded.session), sorted(&c.session));
        assert!(x.weights == y.weights, "weights");
        assert!(x.optimizer == y.optimizer, "optimizer");
        assert!(x.strategy == y.strategy, "strategy");
        assert!(x.rngs == y.rngs, "rngs");
        assert!(x.order == y.order, "order");
        assert!(x.loss_history == y.loss_history, "history");
        assert!(x == y, "the session state");
        assert_eq!(loaded.dynamics, c.dynamics, "the epoch sums");
        assert_eq!(loaded.rows.len(), c.rows.len(), "every row");
        assert!(loaded.rows[0].loss.is_nan(), "a NaN loss stays NaN");
        assert_eq!(
            format!("{:?}", loaded.rows),
            format!("{:?}", c.rows),
            "rows"
        );
        assert!(Checkpoint::is_checkpoint(&a), "recognised");
        assert!(
            !Checkpoint::is_checkpoint(dir.path()),
            "a folder is not one"
        );
    }

    /// A damaged checkpoint is an error naming the file or what does not fit, never a
    /// panic: cut short, a tensor of the wrong size, epoch sums of another run.
    #[test]
    fn a_damaged_checkpoint_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (spec, c) = checkpoint(3);
        let path = dir.path().join("c.safetensors");
        c.save(&path).expect("save");
        let bytes = std::fs::read(&path).expect("read");
        for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).expect("write");
            let e = Checkpoint::load(&path).expect_err("cut short");
            assert!(e.to_string().contains("c.safetensors"), "{e}");
        }
        let mut bad = c.clone();
        bad.dynamics.tag.pop();
        let e = Driver::resume(&spec, &bad, RunPlan::of(&spec))
            .err()
            .expect("epoch sums of another run");
        assert!(e.to_string().contains("epoch sums"), "{e}");
        let mut bad = c.clone();
        bad.session.order.truncate(10);
        assert!(
            Driver::resume(&spec, &bad, RunPlan::of(&spec)).is_err(),
            "order"
        );
        let mut bad = c.clone();
        bad.session.strategy.entries[0].1.push(1.0);
        let e = Driver::resume(&spec, &bad, RunPlan::of(&spec))
            .err()
            .expect("strategy state of another size");
        assert!(e.to_string().contains("famo"), "{e}");
        let mut bad = c;
        bad.session.weights[0].shape = vec![1];
        let e = Driver::resume(&spec, &bad, RunPlan::of(&spec))
            .err()
            .expect("weights of another model");
        assert!(e.to_string().contains("shape"), "{e}");
    }
}
