//! ONNX export: the model's evaluation forward as an ONNX graph (opset [`OPSET`], IR version
//! [`IR_VERSION`]), written without a protobuf compiler ([`proto`] holds the messages).
//!
//! # The graph
//! - input [`INPUT`]: float32 `[N, features]`, the encoded features in the weights file's
//!   `feature_names` order, *before* standardisation (`N` is dynamic);
//! - the graph standardises `(x − normalizer.mean) / normalizer.std`, runs the body and the
//!   heads exactly as [`Model::forward`](crate::model::Model::forward) does in evaluation
//!   (dropout is the identity), then turns each head's raw output into what
//!   [`to_predictions`](super::to_predictions) gives;
//! - one output per task, named after the task, float32 `[N, out]`: a regression value in the
//!   target's units, P(`classes[1]`) of a binary task, class probabilities of a multiclass
//!   task, each pixel's probability (segmentation) or each pixel's class probabilities,
//!   class-major `[classes × pixels]` (semantic segmentation).
//!
//! Initializers carry the weights file's names (`shared.0.weight`, `normalizer.mean`, …);
//! nodes and intermediate values are named `/<layer>/<Op>` (`/heads.y1.2/Gemm`), as PyTorch's
//! exporter names them. The same model gives the same bytes.

pub mod proto;

use std::collections::HashSet;

use prost::Message as _;

use crate::experiment::{Shape, TaskKind};
use proto::{
    AttributeProto, DimValue, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, attribute_type, data_type,
};

/// The ONNX operator set the graph uses (`LayerNormalization` needs 17).
pub const OPSET: i64 = 17;

/// The ONNX IR version written (8: the IR of opset 17's release, ONNX 1.12).
pub const IR_VERSION: i64 = 8;

/// Name of the graph's input.
pub const INPUT: &str = "features";

/// Name of the dynamic batch dimension of the input and outputs.
pub const BATCH: &str = "N";

/// A value of the graph under construction: its name and the shape of one row (the batch
/// dimension comes first and is not part of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The value's name in the graph.
    pub name: String,
    /// One row's shape.
    pub shape: Shape,
}

/// A graph under construction: nodes in execution order and initializers.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    used: HashSet<String>,
}

/// An integer attribute.
pub fn attr_int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: attribute_type::INT,
        i: Some(value),
        ..AttributeProto::default()
    }
}

/// A float attribute.
pub fn attr_float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: attribute_type::FLOAT,
        f: Some(value),
        ..AttributeProto::default()
    }
}

/// An attribute holding a list of integers.
pub fn attr_ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_owned(),
        r#type: attribute_type::INTS,
        ints: values.to_vec(),
        ..AttributeProto::default()
    }
}

/// A size as an ONNX dimension (sizes of a model always fit).
pub fn dim(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// `base`, or `base_<n>` with the smallest n ≥ 1 not yet used.
    fn unique(&mut self, base: &str) -> String {
        let mut name = base.to_owned();
        let mut n = 0;
        while self.used.contains(&name) {
            n += 1;
            name = format!("{base}_{n}");
        }
        self.used.insert(name.clone());
        name
    }

    /// A float32 initializer `name` of `dims`; the name as given (added once: a second call
    /// with the same name returns it unchanged).
    pub fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        if self.initializers.iter().any(|t| t.name == name) {
            return name.to_owned();
        }
        self.used.insert(name.to_owned());
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| dim(d)).collect(),
            data_type: data_type::FLOAT,
            name: name.to_owned(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..TensorProto::default()
        });
        name.to_owned()
    }

    /// A float32 scalar constant in `scope`.
    pub fn scalar(&mut self, scope: &str, value: f32) -> String {
        let name = self.unique(&format!("/{scope}/Constant"));
        self.initializers.push(TensorProto {
            data_type: data_type::FLOAT,
            name: name.clone(),
            raw_data: value.to_le_bytes().to_vec(),
            ..TensorProto::default()
        });
        name
    }

    /// A 1-D int64 constant in `scope` (a shape, axes, an index list); a scalar when
    /// `scalar`.
    pub fn ints(&mut self, scope: &str, values: &[i64], scalar: bool) -> String {
        let name = self.unique(&format!("/{scope}/Constant"));
        self.initializers.push(TensorProto {
            dims: if scalar {
                Vec::new()
            } else {
                vec![dim(values.len())]
            },
            data_type: data_type::INT64,
            name: name.clone(),
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..TensorProto::default()
        });
        name
    }

    /// Appends a node `op` in `scope` on `inputs`; returns its one output's name.
    pub fn op(
        &mut self,
        scope: &str,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
    ) -> String {
        let node = self.unique(&format!("/{scope}/{op}"));
        let output = self.unique(&format!("{node}_output_0"));
        self.push(node, op, inputs, attributes, output.clone());
        output
    }

    /// Appends a node `op` in `scope` whose output is named `output` (a graph output).
    pub fn op_to(
        &mut self,
        scope: &str,
        op: &str,
        inputs: &[&str],
        attributes: Vec<AttributeProto>,
        output: &str,
    ) {
        let node = self.unique(&format!("/{scope}/{op}"));
        self.used.insert(output.to_owned());
        self.push(node, op, inputs, attributes, output.to_owned());
    }

    fn push(
        &mut self,
        name: String,
        op: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
        output: String,
    ) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|&s| s.to_owned()).collect(),
            output: vec![output],
            name,
            op_type: op.to_owned(),
            attribute,
            ..NodeProto::default()
        });
    }

    /// Whether a value, node or initializer already has this name.
    pub fn is_used(&self, name: &str) -> bool {
        self.used.contains(name)
    }

    /// Marks `name` as taken (the graph input).
    pub fn reserve(&mut self, name: &str) {
        self.used.insert(name.to_owned());
    }
}

/// A float32 `[N, width]` input or output description.
pub fn batch_value(name: &str, width: usize, doc: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension {
                            value: Some(DimValue::DimParam(BATCH.to_owned())),
                        },
                        Dimension {
                            value: Some(DimValue::DimValue(dim(width))),
                        },
                    ],
                }),
            }),
        }),
        doc_string: doc.to_owned(),
    }
}

/// What [`model_bytes`] writes besides the graph.
#[derive(Debug)]
pub struct ModelInfo<'a> {
    /// The graph's name (the experiment's).
    pub name: &'a str,
    /// The graph input.
    pub input: ValueInfoProto,
    /// The graph outputs, in task order.
    pub outputs: Vec<ValueInfoProto>,
    /// Metadata entries, in the order given.
    pub metadata: Vec<(String, String)>,
    /// The model's description.
    pub doc: String,
}

/// The serialised `ModelProto` of `graph`.
pub fn model_bytes(graph: Graph, info: ModelInfo<'_>) -> Vec<u8> {
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "mtl-studio".to_owned(),
        producer_version: env!("CARGO_PKG_VERSION").to_owned(),
        domain: String::new(),
        model_version: 1,
        doc_string: info.doc,
        graph: Some(GraphProto {
            node: graph.nodes,
            name: info.name.to_owned(),
            initializer: graph.initializers,
            doc_string: String::new(),
            input: vec![info.input],
            output: info.outputs,
        }),
        metadata_props: info
            .metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
    };
    model.encode_to_vec()
}

/// Why a model could not be exported as ONNX.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    /// The model could not be rebuilt from its file, or a tensor could not be read.
    #[error("{0}")]
    Model(#[from] crate::model::ModelError),
    /// A tensor operation failed while reading the weights.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// A task's name is the graph input's.
    #[error(
        "task '{0}' has the name of the ONNX graph's input; rename the task to export the model as ONNX"
    )]
    TaskName(String),
    /// The file could not be written.
    #[error(transparent)]
    Export(#[from] super::ExportError),
}

/// The model of `file` as the bytes of an ONNX file (see the [module](self) for the graph).
/// The same file gives the same bytes.
pub fn to_onnx(file: &super::ModelFile) -> Result<Vec<u8>, OnnxError> {
    if let Some(task) = file.tasks.iter().find(|t| t.name == INPUT) {
        return Err(OnnxError::TaskName(task.name.clone()));
    }
    let mut model = crate::model::Model::new(&file.spec, &file.tasks, &candle_core::Device::Cpu)?;
    model.load(&file.tensors)?;
    let d = file.feature_names.len();
    let mut g = Graph::new();
    g.reserve(INPUT);
    for task in &file.tasks {
        g.reserve(&task.name);
    }
    let mean = g.weight("normalizer.mean", &[d], &file.input_mean);
    let std = g.weight("normalizer.std", &[d], &file.input_std);
    let centred = g.op("normalizer", "Sub", &[INPUT, &mean], Vec::new());
    let x = Value {
        name: g.op("normalizer", "Div", &[&centred, &std], Vec::new()),
        shape: Shape::Flat(d),
    };
    let raw = model.onnx_forward(&mut g, &x)?;
    let mut outputs = Vec::with_capacity(raw.len());
    for (task, out) in file.tasks.iter().zip(&raw) {
        predictions(&mut g, task, &out.name);
        outputs.push(batch_value(&task.name, task.out_dim, &output_doc(task)));
    }
    let mut metadata = vec![
        (super::FORMAT_KEY.to_owned(), super::FORMAT.to_owned()),
        ("feature_names".to_owned(), json(&file.feature_names)),
        ("tasks".to_owned(), json(&file.tasks)),
        ("spec".to_owned(), file.spec.to_json()),
    ];
    if let Some(encoding) = &file.input_encoding {
        metadata.push(("input_encoding".to_owned(), json(encoding)));
    }
    let input_doc = format!(
        "float32 [N, {d}]: the encoded features in the order of the metadata's feature_names, \
         before standardisation (the graph standardises them)"
    );
    let info = ModelInfo {
        name: &file.spec.name,
        input: batch_value(INPUT, d, &input_doc),
        outputs,
        metadata,
        doc: format!(
            "MTL Studio model '{}': one output per task, what `mtl-studio predict` computes",
            file.spec.name
        ),
    };
    Ok(model_bytes(g, info))
}

/// A metadata value as JSON (these types always serialise).
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Writes the model of `file` as ONNX to `path`, atomically.
pub fn write_onnx(path: &std::path::Path, file: &super::ModelFile) -> Result<(), OnnxError> {
    let bytes = to_onnx(file)?;
    super::write_atomic(path, &bytes)?;
    Ok(())
}

/// What an output holds, for its description.
fn output_doc(task: &crate::data::TaskInfo) -> String {
    match task.kind {
        TaskKind::Regression => "the predicted value, in the target's units".to_owned(),
        TaskKind::Binary => format!(
            "P({}): the probability of the second class",
            task.classes.get(1).map_or("1", String::as_str)
        ),
        TaskKind::Multiclass => format!("class probabilities of [{}]", task.classes.join(", ")),
        TaskKind::Segmentation => "each pixel's probability, row-major".to_owned(),
        TaskKind::SemanticSegmentation => format!(
            "each pixel's class probabilities, class-major [classes x pixels], classes [{}]",
            task.classes.join(", ")
        ),
    }
}

/// The nodes turning task `task`'s raw output `raw` into its predictions, written to the
/// graph output named after the task (see [`to_predictions`](super::to_predictions)).
fn predictions(g: &mut Graph, task: &crate::data::TaskInfo, raw: &str) {
    let scope = format!("predictions.{}", task.name);
    let out = task.name.as_str();
    match task.kind {
        TaskKind::Regression => {
            let std = g.scalar(&scope, task.target_std);
            let mean = g.scalar(&scope, task.target_mean);
            let scaled = g.op(&scope, "Mul", &[raw, &std], Vec::new());
            g.op_to(&scope, "Add", &[&scaled, &mean], Vec::new(), out);
        }
        TaskKind::Binary | TaskKind::Segmentation => {
            g.op_to(&scope, "Sigmoid", &[raw], Vec::new(), out);
        }
        TaskKind::Multiclass => {
            g.op_to(&scope, "Softmax", &[raw], vec![attr_int("axis", 1)], out);
        }
        TaskKind::SemanticSegmentation => {
            let classes = task.classes.len().max(1);
            let pixels = task.out_dim / classes;
            let split = g.ints(&scope, &[0, dim(classes), dim(pixels)], false);
            let per_pixel = g.op(&scope, "Reshape", &[raw, &split], Vec::new());
            let p = g.op(&scope, "Softmax", &[&per_pixel], vec![attr_int("axis", 1)]);
            let back = g.ints(&scope, &[0, dim(task.out_dim)], false);
            g.op_to(&scope, "Reshape", &[&p, &back], Vec::new(), out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model file of the default experiment (two regression tasks).
    fn model_file() -> super::super::ModelFile {
        let mut spec = crate::experiment::ExperimentSpec::default();
        if let crate::experiment::DatasetSpec::Mmoe(m) = &mut spec.dataset {
            m.samples = 300;
        }
        let session = crate::trainer::Session::new(&spec).expect("session");
        session.model_file().expect("model file")
    }

    #[test]
    fn the_graph_has_its_input_outputs_opset_and_the_weights_names() {
        let file = model_file();
        let bytes = to_onnx(&file).expect("export");
        let model = ModelProto::decode(bytes.as_slice()).expect("a ModelProto");
        assert_eq!(model.ir_version, IR_VERSION, "IR version");
        assert_eq!(model.opset_import[0].version, OPSET, "opset");
        let graph = model.graph.expect("a graph");
        let names = |v: &[ValueInfoProto]| v.iter().map(|i| i.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&graph.input), [INPUT], "one input");
        assert_eq!(names(&graph.output), ["y1", "y2"], "one output per task");
        let dims: Vec<Option<DimValue>> = graph.input[0]
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .and_then(|t| t.shape.as_ref())
            .map(|s| s.dim.iter().map(|d| d.value.clone()).collect())
            .unwrap_or_default();
        assert_eq!(
            dims,
            [
                Some(DimValue::DimParam(BATCH.to_owned())),
                Some(DimValue::DimValue(16))
            ],
            "[N, features]"
        );
        let inits: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
        for t in &file.tensors {
            assert!(inits.contains(&t.name.as_str()), "initializer '{}'", t.name);
        }
        assert!(inits.contains(&"normalizer.std"), "the standardisation");
        let produced: Vec<&str> = graph
            .node
            .iter()
            .flat_map(|n| n.output.iter())
            .map(String::as_str)
            .collect();
        assert!(
            produced.contains(&"y1") && produced.contains(&"y2"),
            "outputs produced"
        );
        let keys: Vec<&str> = model
            .metadata_props
            .iter()
            .map(|m| m.key.as_str())
            .collect();
        assert!(
            keys.contains(&"feature_names") && keys.contains(&"tasks"),
            "{keys:?}"
        );
        // Every node's inputs exist before it: the graph input, an initializer or an
        // earlier node's output (what a checker and a runtime need).
        let mut known: std::collections::HashSet<&str> = inits.into_iter().collect();
        known.insert(INPUT);
        for node in &graph.node {
            for input in &node.input {
                assert!(
                    known.contains(input.as_str()),
                    "{}: input '{input}' is defined",
                    node.name
                );
            }
            known.extend(node.output.iter().map(String::as_str));
        }
        // Every integer attribute is written, 0 too (the checker wants one value each).
        let concat = graph
            .node
            .iter()
            .find(|n| n.op_type == "Gemm")
            .expect("a Gemm");
        assert_eq!(concat.attribute[0].i, Some(1), "transB = 1");
    }

    #[test]
    fn a_zero_integer_attribute_is_encoded() {
        let bytes = attr_int("axis", 0).encode_to_vec();
        let back = AttributeProto::decode(bytes.as_slice()).expect("decode");
        assert_eq!(back.i, Some(0), "axis = 0 present");
    }

    #[test]
    fn a_task_named_like_the_input_is_refused() {
        let mut file = model_file();
        file.tasks[1].name = INPUT.to_owned();
        let err = to_onnx(&file).expect_err("name taken");
        assert!(err.to_string().contains("task 'features'"), "{err}");
    }
}
