//! Files a run writes: weights (safetensors, with the spec beside them as JSON), metrics
//! (CSV) and loss curves (PNG). Every file is written to a temporary file in the target folder
//! and then renamed, so a crash or a full disk never leaves a half-written file.
//!
//! # The weights file
//! `model.safetensors` holds one `F32` tensor per parameter, named after its place:
//! `shared.<i>.weight`, `shared.<i>.bias`, `heads.<task>.<i>.weight`, … (PyTorch layout,
//! `Linear` weight `[out, in]`), plus `normalizer.mean` and `normalizer.std` (`[features]`):
//! standardise inputs as `(x − mean) / std` before the first layer. The safetensors metadata
//! holds `format` (`pt`, as PyTorch and Hugging Face loaders expect), `mtl_studio_format`
//! (`mtl-studio/1`), `spec` (the experiment spec as JSON), `tasks`,
//! `feature_names` and, for CSV data, `input_encoding` (JSON: each raw column's imputation
//! value or one-hot levels), so the file alone is enough to rebuild and run the model. The
//! metadata keys are written in sorted order: the same model gives the same bytes.

pub mod data;
pub mod onnx;
pub mod plot;
pub mod report;
pub mod torch;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::TaskInfo;
use crate::experiment::{ExperimentSpec, TaskKind};
use crate::model::NamedTensor;

/// Value of the `mtl_studio_format` metadata key: this product's own format version.
pub const FORMAT: &str = "mtl-studio/1";

/// The metadata key of [`FORMAT`]. The `format` key holds `pt`, what Hugging Face and
/// PyTorch loaders expect of a safetensors file of PyTorch-layout tensors (files written
/// before held [`FORMAT`] under `format`; they still load).
pub const FORMAT_KEY: &str = "mtl_studio_format";

/// Why a file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A file system error.
    #[error("{action}: {source}: {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file's content is not what MTL Studio writes.
    #[error("{message}: {path}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder, then a rename.
/// A symbolic link is written through (its target is replaced, the link stays); a device, a
/// FIFO or a folder is refused and left as it is (see [`crate::fsguard::write_target`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let io = |action, source| ExportError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let target = crate::fsguard::write_target(path).map_err(|e| io("cannot write", e))?;
    let path = target.as_path();
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)
        .map_err(|e| io("cannot create a file in the folder", e))?;
    tmp.write_all(bytes).map_err(|e| io("cannot write", e))?;
    // Temporary files are private (0600); a user's output file should be readable as usual.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| io("cannot set permissions", e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| io("cannot write", e))?;
    tmp.persist(path)
        .map_err(|e| io("cannot replace the file", e.error))?;
    Ok(())
}

/// Everything an exported model consists of.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelFile {
    /// The experiment spec.
    pub spec: ExperimentSpec,
    /// The parameters.
    pub tensors: Vec<NamedTensor>,
    /// Input standardisation: mean per feature.
    pub input_mean: Vec<f32>,
    /// Input standardisation: deviation per feature.
    pub input_std: Vec<f32>,
    /// Input column names.
    pub feature_names: Vec<String>,
    /// The tasks (kind, loss, output width, class names).
    pub tasks: Vec<TaskInfo>,
    /// How raw CSV columns become the features (absent for built-in data).
    pub input_encoding: Option<crate::data::csv::InputEncoding>,
}

/// Where the spec JSON goes beside a weights file: `spec.json` for `model.safetensors`,
/// otherwise `<stem>.spec.json`.
pub fn spec_path_for(weights: &Path) -> PathBuf {
    let stem = weights
        .file_stem()
        .map_or_else(|| "model".to_owned(), |s| s.to_string_lossy().into_owned());
    let name = if stem == "model" {
        "spec.json".to_owned()
    } else {
        format!("{stem}.spec.json")
    };
    weights.with_file_name(name)
}

fn le_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Writes the weights file and the spec JSON beside it (see [`spec_path_for`]).
pub fn save_model(path: &Path, file: &ModelFile) -> Result<(), ExportError> {
    let format_err = |message: String| ExportError::Format {
        path: path.to_owned(),
        message,
    };
    let d = file.input_mean.len();
    let mut buffers: Vec<(String, Vec<usize>, Vec<u8>)> = file
        .tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone(), le_bytes(&t.values)))
        .collect();
    buffers.push((
        "normalizer.mean".to_owned(),
        vec![d],
        le_bytes(&file.input_mean),
    ));
    buffers.push((
        "normalizer.std".to_owned(),
        vec![d],
        le_bytes(&file.input_std),
    ));
    let views = buffers
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map(|v| (name.clone(), v))
                .map_err(|e| format_err(format!("tensor '{name}': {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tasks = serde_json::to_string(&file.tasks).map_err(|e| format_err(e.to_string()))?;
    let features =
        serde_json::to_string(&file.feature_names).map_err(|e| format_err(e.to_string()))?;
    // The spec names its data relative to the file's folder, not by this machine's path.
    let mut spec = file.spec.clone();
    if let Some(dir) = path.parent() {
        spec.dataset.relative_to(dir);
    }
    let spec_json = spec.to_json();
    let mut metadata = HashMap::from([
        ("format".to_owned(), "pt".to_owned()),
        (FORMAT_KEY.to_owned(), FORMAT.to_owned()),
        ("spec".to_owned(), spec_json.clone()),
        ("tasks".to_owned(), tasks),
        ("feature_names".to_owned(), features),
    ]);
    if let Some(encoding) = &file.input_encoding {
        let json = serde_json::to_string(encoding).map_err(|e| format_err(e.to_string()))?;
        metadata.insert("input_encoding".to_owned(), json);
    }
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| format_err(e.to_string()))?;
    let bytes = with_sorted_metadata(&bytes).map_err(format_err)?;
    write_atomic(path, &bytes)?;
    write_atomic(&spec_path_for(path), spec_json.as_bytes())
}

/// `bytes` (a safetensors file) with its metadata in a fixed (sorted) key order, so the same
/// model gives the same bytes: the safetensors crate writes its metadata map in hash order.
/// The tensors' entries and data are kept as they are; the header is padded to 8 bytes again.
pub(crate) fn with_sorted_metadata(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or("a safetensors file shorter than its header length")?;
    let n = usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|e| e.to_string())?;
    let header = bytes
        .get(8..8 + n)
        .ok_or("a safetensors header past the end")?;
    let data = &bytes[8 + n..];
    let mut entries: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(header).map_err(|e| e.to_string())?;
    let metadata: Option<std::collections::BTreeMap<String, serde_json::Value>> = entries
        .remove("__metadata__")
        .map(|m| match m {
            serde_json::Value::Object(m) => Ok(m.into_iter().collect()),
            _ => Err("metadata that is not an object".to_owned()),
        })
        .transpose()?;
    let mut text = String::from("{");
    let mut first = true;
    let mut push = |key: &str, value: String| {
        if !first {
            text.push(',');
        }
        first = false;
        text.push_str(&serde_json::Value::from(key).to_string());
        text.push(':');
        text.push_str(&value);
    };
    if let Some(m) = &metadata {
        push(
            "__metadata__",
            serde_json::to_string(m).map_err(|e| e.to_string())?,
        );
    }
    for (key, value) in &entries {
        push(key, value.to_string());
    }
    text.push('}');
    let mut header = text.into_bytes();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend((header.len() as u64).to_le_bytes());
    out.extend(header);
    out.extend_from_slice(data);
    Ok(out)
}

/// Reads a weights file written by [`save_model`]. A folder is read as `folder/model.safetensors`.
pub fn load_model(path: &Path) -> Result<ModelFile, ExportError> {
    let path = if path.is_dir() {
        path.join("model.safetensors")
    } else {
        path.to_owned()
    };
    let bytes = crate::fsguard::read_regular(&path).map_err(|source| ExportError::Io {
        action: "cannot read weights",
        path: path.clone(),
        source,
    })?;
    model_from_bytes(&bytes, &path)
}

/// Reads the bytes of a weights file written by [`save_model`]; `path` names the file in
/// errors. Nothing is built: [`crate::trainer::Session::from_model_file`] checks the spec
/// before it builds the network.
pub fn model_from_bytes(bytes: &[u8], path: &Path) -> Result<ModelFile, ExportError> {
    let path = path.to_owned();
    let bad = |message: String| ExportError::Format {
        path: path.clone(),
        message,
    };
    let st = SafeTensors::deserialize(bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        meta.get(key).ok_or_else(|| {
            bad(format!(
                "metadata '{key}' is missing; was this file written by MTL Studio?"
            ))
        })
    };
    // Ours: `format = pt` with our version under its own key, or (older files) our
    // version under `format`.
    let version = match (meta.get("format").map(String::as_str), meta.get(FORMAT_KEY)) {
        (_, Some(v)) if v == crate::trainer::checkpoint::CHECKPOINT_FORMAT => {
            return Err(bad(
                "this is a checkpoint, not a model file: continue it with `train --resume` \
                 or the app's Load weights…, or use the model.safetensors beside it"
                    .to_owned(),
            ));
        }
        (Some("pt"), Some(v)) => v.as_str(),
        (Some(v), None) if v != "pt" => v,
        _ => {
            return Err(bad(format!(
                "metadata '{FORMAT_KEY}' is missing; was this file written by MTL Studio?"
            )));
        }
    };
    if version != FORMAT {
        return Err(bad(format!("format '{version}' is not '{FORMAT}'")));
    }
    let spec = ExperimentSpec::from_json(get("spec")?)
        .map_err(|e| bad(format!("metadata 'spec': {e}")))?;
    let tasks: Vec<TaskInfo> =
        serde_json::from_str(get("tasks")?).map_err(|e| bad(format!("metadata 'tasks': {e}")))?;
    let feature_names: Vec<String> = serde_json::from_str(get("feature_names")?)
        .map_err(|e| bad(format!("metadata 'feature_names': {e}")))?;
    let mut tensors = Vec::new();
    let (mut mean, mut std) = (None, None);
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor '{name}' is {:?}, not F32",
                view.dtype()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        match name.as_str() {
            "normalizer.mean" => mean = Some(values),
            "normalizer.std" => std = Some(values),
            _ => tensors.push(NamedTensor {
                name,
                shape: view.shape().to_vec(),
                values,
            }),
        }
    }
    let input_encoding = match meta.get("input_encoding") {
        Some(json) => Some(
            serde_json::from_str(json)
                .map_err(|e| bad(format!("metadata 'input_encoding': {e}")))?,
        ),
        None => None,
    };
    let (Some(input_mean), Some(input_std)) = (mean, std) else {
        return Err(bad(
            "tensors 'normalizer.mean' and 'normalizer.std' are missing".to_owned(),
        ));
    };
    if input_mean.len() != feature_names.len() || input_std.len() != feature_names.len() {
        return Err(bad(
            "normalizer size does not match the feature names".to_owned()
        ));
    }
    Ok(ModelFile {
        spec,
        tensors,
        input_mean,
        input_std,
        feature_names,
        tasks,
        input_encoding,
    })
}

/// Turns raw outputs `[rows, out]` of a task into predictions: the value for regression, the
/// probability of class 1 for binary tasks, class probabilities for multiclass tasks, each
/// pixel's probability for segmentation, each pixel's class probabilities (class-major) for
/// semantic segmentation.
pub fn to_predictions(task: &TaskInfo, mut out: Vec<f32>) -> Vec<f32> {
    match task.kind {
        TaskKind::Regression => {
            out.iter_mut()
                .for_each(|v| *v = *v * task.target_std + task.target_mean);
            out
        }
        TaskKind::Binary | TaskKind::Segmentation => {
            out.iter_mut().for_each(|z| *z = 1.0 / (1.0 + (-*z).exp()));
            out
        }
        TaskKind::SemanticSegmentation => {
            // Softmax over the classes of each pixel (class-major rows).
            let classes = task.classes.len().max(1);
            let pixels = task.out_dim / classes;
            for row in out.chunks_mut(task.out_dim.max(1)) {
                for p in 0..pixels {
                    let max = (0..classes)
                        .map(|c| row[c * pixels + p])
                        .fold(f32::NEG_INFINITY, f32::max);
                    let sum: f32 = (0..classes)
                        .map(|c| (row[c * pixels + p] - max).exp())
                        .sum();
                    for c in 0..classes {
                        row[c * pixels + p] = (row[c * pixels + p] - max).exp() / sum;
                    }
                }
            }
            out
        }
        TaskKind::Multiclass => {
            for row in out.chunks_mut(task.out_dim.max(1)) {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = row
                    .iter_mut()
                    .map(|v| {
                        *v = (*v - max).exp();
                        *v
                    })
                    .sum();
                row.iter_mut().for_each(|v| *v /= sum);
            }
            out
        }
    }
}

/// One row of the metrics file.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricRow {
    /// Epochs done.
    pub epoch: usize,
    /// Steps done.
    pub step: u64,
    /// `train` or `val`.
    pub split: &'static str,
    /// Task name.
    pub task: String,
    /// Mean loss.
    pub loss: f64,
    /// Metric name (`R²` is written `r2`).
    pub metric: &'static str,
    /// Metric value.
    pub value: f64,
}

/// The headline metric's name of a task kind in metrics files.
pub fn metric_key(kind: TaskKind) -> &'static str {
    crate::metrics::metric_keys(kind)
        .first()
        .copied()
        .unwrap_or("metric")
}

/// One metrics-file row per metric of one task's evaluation (the loss repeated on each).
pub fn task_eval_rows(
    epoch: usize,
    step: u64,
    split: &'static str,
    task: &str,
    kind: TaskKind,
    eval: &crate::metrics::TaskEval,
) -> Vec<MetricRow> {
    crate::metrics::metric_keys(kind)
        .iter()
        .zip(&eval.all)
        .map(|(key, value)| MetricRow {
            epoch,
            step,
            split,
            task: task.to_owned(),
            loss: eval.loss,
            metric: key,
            value: *value,
        })
        .collect()
}

/// Writes metrics as CSV with columns `epoch,step,split,task,loss,metric,value`.
pub fn write_metrics_csv(path: &Path, rows: &[MetricRow]) -> Result<(), ExportError> {
    let mut table = vec![METRICS_HEADER.map(str::to_owned).to_vec()];
    table.extend(rows.iter().map(|r| metrics_record(r).to_vec()));
    write_csv(path, &table)
}

/// Writes `rows` (the first is the header) as CSV, atomically.
pub fn write_csv(path: &Path, rows: &[Vec<String>]) -> Result<(), ExportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let result: Result<(), csv::Error> = rows.iter().try_for_each(|r| w.write_record(r));
    let bytes = result
        .map_err(|e| e.to_string())
        .and_then(|()| w.into_inner().map_err(|e| e.to_string()))
        .map_err(|message| ExportError::Format {
            path: path.to_owned(),
            message,
        })?;
    write_atomic(path, &bytes)
}

/// The columns of `metrics.csv`.
pub const METRICS_HEADER: [&str; 7] = ["epoch", "step", "split", "task", "loss", "metric", "value"];

/// One row of `metrics.csv` as its cells, in [`METRICS_HEADER`]'s order.
pub fn metrics_record(r: &MetricRow) -> [String; 7] {
    [
        r.epoch.to_string(),
        r.step.to_string(),
        r.split.to_owned(),
        r.task.clone(),
        csv_num(r.loss),
        r.metric.to_owned(),
        csv_num(r.value),
    ]
}

/// A number as a CSV cell: its shortest exact decimal form, or empty when not finite.
pub fn csv_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("a.txt");
        write_atomic(&p, b"one").expect("write");
        write_atomic(&p, b"two").expect("overwrite");
        assert_eq!(std::fs::read(&p).expect("read"), b"two", "content replaced");
        let n = std::fs::read_dir(dir.path()).expect("ls").count();
        assert_eq!(n, 1, "no temporary file left behind");
        let err = write_atomic(&dir.path().join("missing/x.txt"), b"x").expect_err("no folder");
        assert!(err.to_string().ends_with("x.txt"), "path in message: {err}");
    }

    #[test]
    fn spec_sidecar_names() {
        assert_eq!(
            spec_path_for(Path::new("/r/model.safetensors")),
            Path::new("/r/spec.json"),
            "model"
        );
        assert_eq!(
            spec_path_for(Path::new("/r/run3.safetensors")),
            Path::new("/r/run3.spec.json"),
            "other"
        );
    }

    /// The tensors sorted by name (a file's tensors come back in any order).
    fn by_name(mut t: Vec<NamedTensor>) -> Vec<NamedTensor> {
        t.sort_by(|a, b| a.name.cmp(&b.name));
        t
    }

    /// A small model file: a trained session's weights, spec and data.
    fn model_file() -> ModelFile {
        let mut spec = ExperimentSpec::default();
        if let crate::experiment::DatasetSpec::Mmoe(m) = &mut spec.dataset {
            m.samples = 300;
        }
        let session = crate::trainer::Session::new(&spec).expect("session");
        session.model_file().expect("model file")
    }

    #[test]
    fn the_same_model_gives_the_same_bytes_with_pytorch_metadata() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = model_file();
        let mut saved = Vec::new();
        for i in 0..6 {
            let p = dir.path().join(format!("m{i}.safetensors"));
            save_model(&p, &file).expect("saved");
            saved.push(std::fs::read(&p).expect("read"));
        }
        assert!(
            saved.windows(2).all(|w| w[0] == w[1]),
            "every save has the same bytes (metadata in a fixed order)"
        );
        let (_, meta) = SafeTensors::read_metadata(&saved[0]).expect("a safetensors file");
        let meta = meta.metadata().clone().unwrap_or_default();
        assert_eq!(
            meta.get("format").map(String::as_str),
            Some("pt"),
            "PyTorch layout"
        );
        assert_eq!(
            meta.get(FORMAT_KEY).map(String::as_str),
            Some(FORMAT),
            "our version"
        );
        let back = load_model(&dir.path().join("m0.safetensors")).expect("loads");
        assert!(
            by_name(back.tensors) == by_name(file.tensors.clone()),
            "the weights back"
        );
        assert_eq!(back.spec, file.spec, "the spec back");
    }

    #[test]
    fn files_of_the_older_layout_still_load_and_other_formats_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = model_file();
        let p = dir.path().join("m.safetensors");
        save_model(&p, &file).expect("saved");
        let rewrite = |format: Option<&str>, ours: Option<&str>| {
            let bytes = std::fs::read(&p).expect("read");
            let st = SafeTensors::deserialize(&bytes).expect("parse");
            let (_, meta) = SafeTensors::read_metadata(&bytes).expect("meta");
            let mut meta = meta.metadata().clone().unwrap_or_default();
            meta.remove("format");
            meta.remove(FORMAT_KEY);
            if let Some(f) = format {
                meta.insert("format".to_owned(), f.to_owned());
            }
            if let Some(o) = ours {
                meta.insert(FORMAT_KEY.to_owned(), o.to_owned());
            }
            let views: Vec<(String, TensorView<'_>)> = st.tensors();
            let q = dir.path().join("rewritten.safetensors");
            std::fs::write(
                &q,
                safetensors::serialize(views, Some(meta)).expect("serialise"),
            )
            .expect("write");
            load_model(&q).map(|m| m.tensors)
        };
        assert!(
            by_name(rewrite(Some(FORMAT), None).expect("the older layout loads"))
                == by_name(file.tensors.clone()),
            "the same weights"
        );
        let err = rewrite(Some("pt"), None).expect_err("a plain PyTorch file is not ours");
        assert!(err.to_string().contains(FORMAT_KEY), "{err}");
        let err = rewrite(Some("pt"), Some("mtl-studio/9")).expect_err("a newer version");
        assert!(err.to_string().contains("mtl-studio/9"), "{err}");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("bad.safetensors");
        std::fs::write(&p, b"not a model").expect("write");
        let err = load_model(&p).expect_err("garbage");
        assert!(err.to_string().contains("not a safetensors file"), "{err}");
        let err = load_model(&dir.path().join("none.safetensors")).expect_err("missing");
        assert!(err.to_string().contains("cannot read weights"), "{err}");
    }
}
