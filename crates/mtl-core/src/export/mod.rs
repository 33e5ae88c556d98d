//! Files a run writes: weights (safetensors, with the spec beside them as JSON), metrics
//! (CSV) and loss curves (PNG). Every file is written to a temporary file in the target folder
//! and then renamed, so a crash or a full disk never leaves a half-written file.
//!
//! # The weights file
//! `model.safetensors` holds one `F32` tensor per parameter, named after its place:
//! `shared.<i>.weight`, `shared.<i>.bias`, `heads.<task>.<i>.weight`, … (PyTorch layout,
//! `Linear` weight `[out, in]`), plus `normalizer.mean` and `normalizer.std` (`[features]`):
//! standardise inputs as `(x − mean) / std` before the first layer. The safetensors metadata
//! holds `format` (`mtl-studio/1`), `spec` (the experiment spec as JSON), `tasks`,
//! `feature_names` and, for CSV data, `input_encoding` (JSON: each raw column's imputation
//! value or one-hot levels), so the file alone is enough to rebuild and run the model.

pub mod plot;
pub mod report;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::data::TaskInfo;
use crate::experiment::{ExperimentSpec, TaskKind};
use crate::model::NamedTensor;

/// Value of the `format` metadata key.
pub const FORMAT: &str = "mtl-studio/1";

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
    let mut metadata = HashMap::from([
        ("format".to_owned(), FORMAT.to_owned()),
        ("spec".to_owned(), file.spec.to_json()),
        ("tasks".to_owned(), tasks),
        ("feature_names".to_owned(), features),
    ]);
    if let Some(encoding) = &file.input_encoding {
        let json = serde_json::to_string(encoding).map_err(|e| format_err(e.to_string()))?;
        metadata.insert("input_encoding".to_owned(), json);
    }
    let bytes =
        safetensors::serialize(views, Some(metadata)).map_err(|e| format_err(e.to_string()))?;
    write_atomic(path, &bytes)?;
    write_atomic(&spec_path_for(path), file.spec.to_json().as_bytes())
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
    let bad = |message: String| ExportError::Format {
        path: path.clone(),
        message,
    };
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("not a safetensors file ({e})")))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        meta.get(key).ok_or_else(|| {
            bad(format!(
                "metadata '{key}' is missing; was this file written by MTL Studio?"
            ))
        })
    };
    if get("format")? != FORMAT {
        return Err(bad(format!(
            "format '{}' is not '{FORMAT}'",
            get("format")?
        )));
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
    let mut table = vec![
        ["epoch", "step", "split", "task", "loss", "metric", "value"]
            .map(str::to_owned)
            .to_vec(),
    ];
    table.extend(rows.iter().map(|r| {
        vec![
            r.epoch.to_string(),
            r.step.to_string(),
            r.split.to_owned(),
            r.task.clone(),
            csv_num(r.loss),
            r.metric.to_owned(),
            csv_num(r.value),
        ]
    }));
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

/// A number for a CSV cell: empty when not finite.
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
