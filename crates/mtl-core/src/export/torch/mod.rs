//! `mtl-studio export torch`: a run's network as a readable PyTorch module (`model.py`) whose
//! `state_dict` is exactly the run's `model.safetensors`, and a training script (`train.py`)
//! that trains the same experiment in PyTorch, under `torchrun` too.
//!
//! Both files are plain text built from the model file (spec, tasks, feature names), the same
//! model giving the same bytes. `model.py` holds one `nn.Sequential` per trunk, tower, column,
//! expert and head, with the indices of the spec's layer lists, so every tensor name
//! (`shared.0.weight`, `heads.<task>.2.bias`, `normalizer.mean`, …) is a module path of the
//! generated class; [`parameter_names`] lists them, and `PARAMETER_NAMES` in `model.py` holds
//! the same list.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::{ExportError, ModelFile, write_atomic};
use crate::experiment::{Architecture, ExperimentSpec, LayerSpec, Plan, Shape, Take};

/// The training script's template; `train_py` fills in the experiment.
const TRAIN_TEMPLATE: &str = include_str!("train.py");

/// What [`write_torch`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TorchExport {
    /// The files written, in order.
    pub files: Vec<PathBuf>,
    /// Why the data file was not written (when it was not).
    pub data_note: Option<String>,
}

/// The spec as the model was built: `model.input` taken from the feature names when the
/// spec left it to the data file (0).
fn built_spec(file: &ModelFile) -> ExperimentSpec {
    let mut spec = file.spec.clone();
    if spec.model.input == 0 {
        spec.model.input = file.feature_names.len();
    }
    spec
}

/// The spec's plan for the file's tasks.
fn plan_of(file: &ModelFile) -> Result<(ExperimentSpec, Plan), String> {
    let spec = built_spec(file);
    let out: Vec<usize> = file.tasks.iter().map(|t| t.out_dim).collect();
    let plan = spec.plan(&out)?;
    if spec.tasks.len() != file.tasks.len() {
        return Err(format!(
            "the spec has {} tasks but the file describes {}",
            spec.tasks.len(),
            file.tasks.len()
        ));
    }
    Ok((spec, plan))
}

/// A Python string literal (JSON's escapes are Python's).
fn py_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// A Python float literal.
fn py_float(v: f64) -> String {
    if v.is_finite() {
        format!("{v:?}")
    } else {
        "float(\"nan\")".to_owned()
    }
}

/// JSON text as a Python expression: `json.loads(r"""…""")`; objects pretty-printed, a list
/// of names on one line.
fn py_json(value: &serde_json::Value) -> String {
    let flat = value
        .as_array()
        .is_some_and(|a| a.iter().all(|v| !v.is_object() && !v.is_array()));
    let text = if flat {
        serde_json::to_string(value)
    } else {
        serde_json::to_string_pretty(value)
    }
    .unwrap_or_else(|_| "null".to_owned());
    format!("json.loads(\n    r\"\"\"\n{text}\n\"\"\"\n)")
}

/// One layer as a PyTorch module expression, reading `shape`.
fn layer_py(layer: &LayerSpec, shape: Shape) -> String {
    let image = match shape {
        Shape::Image(c, h, w) => Some((c, h, w)),
        Shape::Flat(_) => None,
    };
    match layer {
        LayerSpec::Linear { out } if image.is_some() => {
            format!("FlatLinear({}, {out})", shape.size())
        }
        LayerSpec::Linear { out } => format!("nn.Linear({}, {out})", shape.size()),
        LayerSpec::Relu => "nn.ReLU()".to_owned(),
        LayerSpec::Tanh => "nn.Tanh()".to_owned(),
        LayerSpec::Sigmoid => "nn.Sigmoid()".to_owned(),
        LayerSpec::Gelu => "nn.GELU(approximate=\"tanh\")".to_owned(),
        LayerSpec::Dropout { p } => format!("nn.Dropout({})", py_float(f64::from(*p))),
        LayerSpec::LayerNorm { eps } => {
            format!("nn.LayerNorm({}, eps={})", shape.size(), py_float(*eps))
        }
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => {
            let (c, h, w) = image.unwrap_or((shape.size(), 1, 1));
            format!(
                "ImageConv2d(({c}, {h}, {w}), {c}, {out_channels}, {kernel}, stride={stride}, padding={padding})"
            )
        }
        LayerSpec::MaxPool2d { kernel } => {
            let (c, h, w) = image.unwrap_or((shape.size(), 1, 1));
            format!("ImageMaxPool2d(({c}, {h}, {w}), {kernel})")
        }
        LayerSpec::Flatten => "nn.Flatten()".to_owned(),
    }
}

/// `layers` read from `input` as the lines of an `nn.Sequential(...)` at `indent`, each with
/// its index as a comment (the index is the tensor name's).
fn sequential_py(layers: &[LayerSpec], mut shape: Shape, indent: &str) -> String {
    let mut out = String::from("nn.Sequential(\n");
    for (i, layer) in layers.iter().enumerate() {
        let _ = writeln!(out, "{indent}    {},  # {i}", layer_py(layer, shape));
        shape = layer.out_shape(shape).unwrap_or(shape);
    }
    out.push_str(indent);
    out.push(')');
    out
}

/// The head of `task` (index `t`): its hidden layers and its output layer last.
fn head_py(spec: &ExperimentSpec, plan: &Plan, file: &ModelFile, t: usize) -> String {
    let task = &file.tasks[t];
    let layers = spec
        .head(&task.name)
        .map_or(&[][..], |h| h.layers.as_slice());
    let mut all = layers.to_vec();
    all.push(LayerSpec::Linear { out: task.out_dim });
    let text = sequential_py(&all, Shape::Flat(plan.head_in[t]), "            ");
    let n = layers.len();
    text.replacen(
        &format!("  # {n}\n"),
        &format!("  # {n}: the output layer\n"),
        1,
    )
}

/// Whether any layer of the trunk reads an image (the helper classes are then needed).
fn uses_images(plan: &Plan) -> bool {
    plan.shapes.iter().any(|s| matches!(s, Shape::Image(..)))
}

/// Every tensor name of the generated module, in `state_dict` order.
pub fn parameter_names(file: &ModelFile) -> Result<Vec<String>, String> {
    let (spec, plan) = plan_of(file)?;
    let mut names = vec!["normalizer.mean".to_owned(), "normalizer.std".to_owned()];
    let layer_names = |prefix: &str, layers: &[LayerSpec], names: &mut Vec<String>| {
        for (i, layer) in layers.iter().enumerate() {
            if matches!(
                layer,
                LayerSpec::Linear { .. } | LayerSpec::LayerNorm { .. } | LayerSpec::Conv2d { .. }
            ) {
                names.push(format!("{prefix}.{i}.weight"));
                names.push(format!("{prefix}.{i}.bias"));
            }
        }
    };
    let shared = &spec.model.shared;
    match &spec.model.architecture {
        Architecture::Hard => layer_names("shared", shared, &mut names),
        Architecture::Soft { .. } => {
            for t in &file.tasks {
                layer_names(&format!("towers.{}", t.name), shared, &mut names);
            }
        }
        Architecture::CrossStitch { .. } => {
            for t in &file.tasks {
                layer_names(&format!("columns.{}", t.name), shared, &mut names);
            }
            names.extend((0..plan.stitch_after.len()).map(|u| format!("stitch.{u}")));
        }
        Architecture::Mmoe { experts } | Architecture::Moe { experts } => {
            for e in 0..*experts {
                layer_names(&format!("experts.{e}"), shared, &mut names);
            }
            if matches!(spec.model.architecture, Architecture::Mmoe { .. }) {
                for t in &file.tasks {
                    names.push(format!("gates.{}.weight", t.name));
                    names.push(format!("gates.{}.bias", t.name));
                }
            } else {
                names.push("gate.weight".to_owned());
                names.push("gate.bias".to_owned());
            }
        }
    }
    for t in &file.tasks {
        let mut layers = spec
            .head(&t.name)
            .map_or_else(Vec::new, |h| h.layers.clone());
        layers.push(LayerSpec::Linear { out: t.out_dim });
        layer_names(&format!("heads.{}", t.name), &layers, &mut names);
    }
    if spec.model.relationship.is_some() {
        names.push(crate::model::OMEGA_NAME.to_owned());
    }
    Ok(names)
}

/// `model.py`: the network of `file` as an `nn.Module` with a no-argument constructor.
pub fn model_py(file: &ModelFile) -> Result<String, String> {
    let (spec, plan) = plan_of(file)?;
    let mut out = String::new();
    out.push_str(&model_header(file, &spec));
    out.push_str(&model_constants(file, &spec, &plan)?);
    out.push_str(HELPERS);
    if uses_images(&plan) {
        out.push_str(IMAGE_HELPERS);
    }
    if spec.model.relationship.is_some() {
        out.push_str(RELATIONSHIP_HELPER);
    }
    out.push_str(&model_class(file, &spec, &plan));
    Ok(out)
}

/// The module docstring and imports.
fn model_header(file: &ModelFile, spec: &ExperimentSpec) -> String {
    let arch = spec.model.architecture.label();
    format!(
        r#""""The network of the MTL Studio experiment {name} ({arch}), in PyTorch.

Written by `mtl-studio export torch`. `MtlModel()` builds this architecture; its state_dict
is the run's model.safetensors, tensor for tensor:

    from safetensors.torch import load_file
    from model import MtlModel

    model = MtlModel()
    model.load_state_dict(load_file("model.safetensors"), strict=True)
    model.eval()
    predictions = model(features)

`features` is float32 [N, {features}]: the encoded input features in FEATURE_NAMES order,
before standardisation (the module standardises them with its `normalizer` buffers; a
missing value, NaN, takes the training mean, as in MTL Studio). `forward` returns one tensor
[N, out] per task, named after the task, holding what `mtl-studio predict` writes: a
regression value in the target's units, P(classes[1]) of a binary task, the class
probabilities of a multiclass task, each pixel's probability of a segmentation task, each
pixel's class probabilities (class-major) of a semantic segmentation task. `logits` returns
the raw outputs. Dropout is active in training mode only (model.train()).
"""

import json

import torch
from torch import nn

"#,
        name = py_str(&spec.name),
        features = file.feature_names.len(),
    )
}

/// `FEATURE_NAMES`, `TASKS`, `PARAMETER_NAMES` and the architecture's constants.
fn model_constants(file: &ModelFile, spec: &ExperimentSpec, plan: &Plan) -> Result<String, String> {
    let mut out = String::new();
    out.push_str("# The input features, in the order `forward` reads them.\n");
    let features = serde_json::Value::from(file.feature_names.clone());
    let _ = writeln!(out, "FEATURE_NAMES = {}\n", py_json(&features));
    out.push_str(
        "# The tasks, in output order: kind, loss, output width, class names and, for a\n\
         # regression target learned standardised, its training mean and deviation.\n",
    );
    let tasks = serde_json::to_value(&file.tasks).map_err(|e| e.to_string())?;
    let _ = writeln!(out, "TASKS = {}\n", py_json(&tasks));
    out.push_str("TASK_NAMES = [task[\"name\"] for task in TASKS]\n\n");
    out.push_str("# Every tensor of MtlModel().state_dict(), as named in model.safetensors.\n");
    let names = serde_json::Value::from(parameter_names(file)?);
    let _ = writeln!(out, "PARAMETER_NAMES = {}\n", py_json(&names));
    let order: Vec<String> = plan
        .order
        .iter()
        .map(|&t| file.tasks[t].name.clone())
        .collect();
    let _ = writeln!(
        out,
        "# The order the heads run in (a head reading another task's head runs after it).\nHEAD_ORDER = {}\n",
        py_json(&serde_json::Value::from(order))
    );
    if let Some(links) = links_py(file, spec) {
        out.push_str(&links);
    }
    if let Architecture::CrossStitch { self_weight, .. } = spec.model.architecture {
        let _ = writeln!(
            out,
            "# Cross-stitch unit u mixes the columns after layer STITCH_AFTER[u] of each column;\n\
             # units start with SELF_WEIGHT on the diagonal, the rest of each row shared evenly.\n\
             STITCH_AFTER = {:?}\nSELF_WEIGHT = {}\n",
            plan.stitch_after,
            py_float(self_weight)
        );
    }
    Ok(out)
}

/// `LINKS`: per task, the heads it reads (source, what, α, detach); `None` without links.
fn links_py(file: &ModelFile, spec: &ExperimentSpec) -> Option<String> {
    let mut lines = Vec::new();
    for t in &file.tasks {
        let Some(head) = spec.head(&t.name).filter(|h| !h.links.is_empty()) else {
            continue;
        };
        let links: Vec<String> = head
            .links
            .iter()
            .map(|l| {
                let take = match l.take {
                    Take::Output => "output",
                    Take::Hidden => "hidden",
                };
                format!(
                    "({}, \"{take}\", {}, {})",
                    py_str(&l.from),
                    py_float(f64::from(l.alpha)),
                    if l.detach { "True" } else { "False" }
                )
            })
            .collect();
        lines.push(format!("    {}: [{}],", py_str(&t.name), links.join(", ")));
    }
    if lines.is_empty() {
        return None;
    }
    Some(format!(
        "# Task connections: a head reads its representation, then each listed source's raw\n\
         # output (\"output\") or the input of its output layer (\"hidden\"), times alpha;\n\
         # detach stops this task's loss from training the source.\nLINKS = {{\n{}\n}}\n\n",
        lines.join("\n")
    ))
}

const HELPERS: &str = r#"
class Normalizer(nn.Module):
    """Standardises input rows as (x - mean) / std; a missing value (NaN) becomes 0, the
    training mean."""

    def __init__(self, features):
        super().__init__()
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def forward(self, x):
        z = (x - self.mean) / self.std
        return torch.where(torch.isnan(z), torch.zeros_like(z), z)


def to_predictions(task, out):
    """What `mtl-studio predict` writes, from a task's raw output [N, out]."""
    kind = task["kind"]
    if kind == "regression":
        return out * task["target_std"] + task["target_mean"]
    if kind in ("binary", "segmentation"):
        return torch.sigmoid(out)
    if kind == "multiclass":
        return torch.softmax(out, dim=1)
    # Semantic segmentation: [N, classes * pixels], class-major; softmax over the classes.
    n, classes = out.shape[0], len(task["classes"])
    return torch.softmax(out.reshape(n, classes, -1), dim=1).reshape(n, -1)

"#;

const IMAGE_HELPERS: &str = r#"
class ImageConv2d(nn.Conv2d):
    """nn.Conv2d reading each row as an image (c, h, w), rows of flat pixels included."""

    def __init__(self, image, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.image = tuple(image)

    def forward(self, x):
        return super().forward(x.reshape(x.shape[0], *self.image))


class ImageMaxPool2d(nn.MaxPool2d):
    """nn.MaxPool2d (stride = kernel) reading each row as an image (c, h, w)."""

    def __init__(self, image, kernel):
        super().__init__(kernel)
        self.image = tuple(image)

    def forward(self, x):
        return super().forward(x.reshape(x.shape[0], *self.image))


class FlatLinear(nn.Linear):
    """nn.Linear reading an image row flattened (row-major c, h, w)."""

    def forward(self, x):
        return super().forward(x.flatten(1))

"#;

const RELATIONSHIP_HELPER: &str = r#"
class Relationship(nn.Module):
    """Multi-task relationship learning's task covariance Omega [T, T] (not trained by the
    optimizer; train.py updates it in closed form). It does not enter `forward`."""

    def __init__(self, tasks):
        super().__init__()
        self.register_buffer("omega", torch.eye(tasks) / tasks)

"#;

/// The `MtlModel` class.
fn model_class(file: &ModelFile, spec: &ExperimentSpec, plan: &Plan) -> String {
    let shared = &spec.model.shared;
    let input = plan.shapes[0];
    let mut out = String::new();
    if !matches!(spec.model.architecture, Architecture::Hard) {
        let _ = write!(
            out,
            "\ndef trunk():\n    \"\"\"The layers of `model.shared`: one copy per {}.\"\"\"\n    return {}\n\n",
            match spec.model.architecture {
                Architecture::Soft { .. } => "task (its tower)",
                Architecture::CrossStitch { .. } => "task (its column)",
                _ => "expert",
            },
            sequential_py(shared, input, "    ")
        );
    }
    out.push_str("\nclass MtlModel(nn.Module):\n");
    let _ = writeln!(
        out,
        "    \"\"\"{} ({}), {} task(s).\"\"\"\n",
        spec.name.replace('"', "'").replace('\\', "/"),
        spec.model.architecture.label(),
        file.tasks.len()
    );
    out.push_str("    def __init__(self):\n        super().__init__()\n");
    let _ = writeln!(
        out,
        "        self.normalizer = Normalizer({})",
        file.feature_names.len()
    );
    out.push_str(&body_init(spec, plan));
    out.push_str("        self.heads = nn.ModuleDict({\n");
    for (t, task) in file.tasks.iter().enumerate() {
        let _ = writeln!(
            out,
            "            {}: {},",
            py_str(&task.name),
            head_py(spec, plan, file, t)
        );
    }
    out.push_str("        })\n");
    if spec.model.relationship.is_some() {
        let _ = writeln!(
            out,
            "        self.relationship = Relationship({})",
            file.tasks.len()
        );
    }
    out.push('\n');
    out.push_str(&representations_py(spec));
    out.push_str(&logits_py(links_py(file, spec).is_some()));
    out.push_str(
        r#"
    def forward(self, features):
        """What `mtl-studio predict` writes, per task: [N, out]."""
        logits = self.logits(features)
        return {task["name"]: to_predictions(task, logits[task["name"]]) for task in TASKS}
"#,
    );
    out
}

/// The body's modules in `__init__`.
fn body_init(spec: &ExperimentSpec, plan: &Plan) -> String {
    let input = spec.model.input;
    match &spec.model.architecture {
        Architecture::Hard => format!(
            "        self.shared = {}\n",
            sequential_py(&spec.model.shared, plan.shapes[0], "        ")
        ),
        Architecture::Soft { .. } => {
            "        self.towers = nn.ModuleDict({task: trunk() for task in TASK_NAMES})\n"
                .to_owned()
        }
        Architecture::CrossStitch { .. } => {
            "        self.columns = nn.ModuleDict({task: trunk() for task in TASK_NAMES})\n\
             \x20       t = len(TASK_NAMES)\n\
             \x20       off = (1.0 - SELF_WEIGHT) / (t - 1) if t > 1 else 0.0\n\
             \x20       start = torch.full((t, t), off) + (SELF_WEIGHT - off) * torch.eye(t)\n\
             \x20       self.stitch = nn.ParameterList(\n\
             \x20           [nn.Parameter(start.clone()) for _ in STITCH_AFTER]\n\
             \x20       )\n"
                .to_owned()
        }
        Architecture::Mmoe { experts } => format!(
            "        self.experts = nn.ModuleList([trunk() for _ in range({experts})])\n\
             \x20       # One softmax gate per task on the standardised input.\n\
             \x20       self.gates = nn.ModuleDict({{task: nn.Linear({input}, {experts}) for task in TASK_NAMES}})\n"
        ),
        Architecture::Moe { experts } => format!(
            "        self.experts = nn.ModuleList([trunk() for _ in range({experts})])\n\
             \x20       # One softmax gate for all tasks on the standardised input.\n\
             \x20       self.gate = nn.Linear({input}, {experts})\n"
        ),
    }
}

/// `representations(z)`: per task, what its head reads.
fn representations_py(spec: &ExperimentSpec) -> String {
    let body = match &spec.model.architecture {
        Architecture::Hard => {
            "        h = self.shared(z)\n        return {task: h for task in TASK_NAMES}\n"
        }
        Architecture::Soft { .. } => {
            "        return {task: tower(z) for task, tower in self.towers.items()}\n"
        }
        Architecture::CrossStitch { .. } => {
            "        columns = list(self.columns.values())\n\
             \x20       units = dict(zip(STITCH_AFTER, self.stitch))\n\
             \x20       hs = [z for _ in columns]\n\
             \x20       for i in range(len(columns[0])):\n\
             \x20           hs = [column[i](h) for column, h in zip(columns, hs)]\n\
             \x20           if i in units:\n\
             \x20               # Column t becomes sum_j alpha[t, j] * column j.\n\
             \x20               mixed = units[i] @ torch.stack(hs).reshape(len(hs), -1)\n\
             \x20               hs = [m.reshape(hs[0].shape) for m in mixed]\n\
             \x20       return dict(zip(TASK_NAMES, hs))\n"
        }
        Architecture::Mmoe { .. } => {
            "        outs = torch.stack([expert(z).flatten(1) for expert in self.experts], dim=1)\n\
             \x20       reps = {}\n\
             \x20       for task, gate in self.gates.items():\n\
             \x20           g = torch.softmax(gate(z), dim=1).unsqueeze(1)  # [N, 1, experts]\n\
             \x20           reps[task] = (g @ outs).squeeze(1)\n\
             \x20       return reps\n"
        }
        Architecture::Moe { .. } => {
            "        outs = torch.stack([expert(z).flatten(1) for expert in self.experts], dim=1)\n\
             \x20       g = torch.softmax(self.gate(z), dim=1).unsqueeze(1)  # [N, 1, experts]\n\
             \x20       h = (g @ outs).squeeze(1)\n\
             \x20       return {task: h for task in TASK_NAMES}\n"
        }
    };
    format!(
        "    def representations(self, z):\n        \"\"\"Per task, the representation its head reads, from standardised rows z.\"\"\"\n{body}\n"
    )
}

/// `logits(features)`: the heads on the representations.
fn logits_py(links: bool) -> String {
    let heads = if links {
        "        outs, hidden = {}, {}\n\
         \x20       for task in HEAD_ORDER:\n\
         \x20           parts = [reps[task].flatten(1)]\n\
         \x20           for source, take, alpha, detach in LINKS.get(task, []):\n\
         \x20               s = outs[source] if take == \"output\" else hidden[source]\n\
         \x20               parts.append((s.detach() if detach else s) * alpha)\n\
         \x20           head = self.heads[task]\n\
         \x20           hidden[task] = head[:-1](torch.cat(parts, dim=1))\n\
         \x20           outs[task] = head[-1](hidden[task])\n\
         \x20       return {task: outs[task] for task in TASK_NAMES}\n"
    } else {
        "        return {task: self.heads[task](reps[task].flatten(1)) for task in TASK_NAMES}\n"
    };
    format!(
        "    def logits(self, features):\n        \"\"\"Per task, the raw output layer [N, out] (before any sigmoid or softmax).\"\"\"\n        reps = self.representations(self.normalizer(features))\n{heads}\n"
    )
}

/// `train.py`: trains the experiment of `file` in PyTorch (see the template's docstring).
pub fn train_py(file: &ModelFile) -> Result<String, String> {
    let spec = built_spec(file);
    let spec_json: serde_json::Value =
        serde_json::from_str(&spec.to_json()).map_err(|e| e.to_string())?;
    let encoding = match &file.input_encoding {
        Some(e) => serde_json::to_value(e).map_err(|e| e.to_string())?,
        None => serde_json::Value::Null,
    };
    let name = py_str(&spec.name);
    Ok(TRAIN_TEMPLATE
        .replace("@NAME@", name.trim_matches('"'))
        .replace("@SPEC@", &py_json(&spec_json))
        .replace("@INPUT_ENCODING@", &py_json(&encoding)))
}

/// Writes `model.py`, `train.py` and (when given) `data.csv` into `dir` (created if needed),
/// each atomically.
pub fn write_torch(
    file: &ModelFile,
    dir: &Path,
    data: Result<String, String>,
) -> Result<TorchExport, ExportError> {
    let format_err = |message: String| ExportError::Format {
        path: dir.to_owned(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Io {
        action: "cannot create the folder",
        path: dir.to_owned(),
        source,
    })?;
    let model = model_py(file).map_err(format_err)?;
    let train = train_py(file).map_err(format_err)?;
    let mut files = Vec::new();
    for (name, text) in [("model.py", &model), ("train.py", &train)] {
        let path = dir.join(name);
        write_atomic(&path, text.as_bytes())?;
        files.push(path);
    }
    let data_note = match data {
        Ok(csv) => {
            let path = dir.join("data.csv");
            write_atomic(&path, csv.as_bytes())?;
            files.push(path);
            None
        }
        Err(why) => Some(why),
    };
    Ok(TorchExport { files, data_note })
}

#[cfg(test)]
mod tests;
