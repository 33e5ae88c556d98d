//! ONNX export: for every example spec and for small specs covering every layer kind,
//! activation, architecture and head link, the exported graph run by tract agrees with
//! `predict` (the candle forward and the predictions) within 1e-5 relative.

use std::path::{Path, PathBuf};

use mtl_studio::experiment::{
    Architecture, Coupling, DatasetSpec, ExperimentSpec, LayerSpec, LinkSpec, RelationshipSpec,
    Take,
};
use mtl_studio::export::ModelFile;
use mtl_studio::export::onnx::to_onnx;
use mtl_studio::trainer::Session;
use tract_onnx::prelude::*;

/// Relative tolerance, with this floor under the magnitude (values near 0).
const REL: f32 = 1e-5;
const FLOOR: f32 = 0.1;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    paths
}

/// `spec` with a smaller generated dataset (shipped files stay as they are).
fn shrink(mut spec: ExperimentSpec) -> ExperimentSpec {
    match &mut spec.dataset {
        DatasetSpec::Mmoe(m) => m.samples = m.samples.min(600),
        DatasetSpec::Shapes(sh) => sh.samples = sh.samples.min(200),
        DatasetSpec::MultiDigits(m) => m.samples = m.samples.min(300),
        _ => {}
    }
    spec
}

/// A session of `spec` trained for a few steps (real, no longer initial, weights).
fn trained(spec: &ExperimentSpec, label: &str) -> Session {
    let mut s = Session::new(spec).unwrap_or_else(|e| panic!("{label}: {e}"));
    for _ in 0..8 {
        s.train_step()
            .unwrap_or_else(|e| panic!("{label}: step: {e}"));
    }
    s
}

/// The validation inputs as raw (not standardised) rows, as a user's CSV gives them.
fn raw_val_rows(s: &Session) -> (Vec<f32>, usize) {
    let data = s.data();
    let d = data.features();
    let mut x = data.val.x.clone();
    for row in x.chunks_mut(d) {
        for ((v, m), sd) in row.iter_mut().zip(&data.input_mean).zip(&data.input_std) {
            *v = *v * sd + m;
        }
    }
    (x, d)
}

/// Runs ONNX `bytes` on `rows` × `d` inputs with tract; per output, its values and shape.
fn run_tract(bytes: &[u8], x: Vec<f32>, rows: usize, d: usize) -> Vec<(Vec<f32>, Vec<usize>)> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the graph")
        .into_optimized()
        .expect("tract optimises the graph")
        .into_runnable()
        .expect("tract plans the graph");
    let input = tract_ndarray::Array2::from_shape_vec((rows, d), x).expect("input shape");
    let outputs = model
        .run(tvec!(Tensor::from(input).into()))
        .expect("tract runs the graph");
    outputs
        .iter()
        .map(|t| {
            let view = t.to_plain_array_view::<f32>().expect("float32 outputs");
            (view.iter().copied().collect(), view.shape().to_vec())
        })
        .collect()
}

/// Exports `file`, runs it with tract on the session's validation rows and compares every
/// task's output with `predict`'s; returns the largest relative difference.
fn check(s: &Session, file: &ModelFile, label: &str) -> f32 {
    let bytes = to_onnx(file).unwrap_or_else(|e| panic!("{label}: export: {e}"));
    assert_eq!(
        to_onnx(file).expect("export again"),
        bytes,
        "{label}: the same model gives the same bytes"
    );
    let (x, d) = raw_val_rows(s);
    let rows = x.len() / d;
    assert!(rows > 0, "{label}: validation rows");
    let expected = Session::from_model_file(file)
        .and_then(|again| again.predict(&x))
        .unwrap_or_else(|e| panic!("{label}: predict: {e}"));
    let got = run_tract(&bytes, x, rows, d);
    assert_eq!(got.len(), file.tasks.len(), "{label}: one output per task");
    let mut worst = 0.0f32;
    for ((task, want), (values, shape)) in file.tasks.iter().zip(&expected).zip(&got) {
        assert_eq!(
            shape,
            &[rows, task.out_dim],
            "{label}: output '{}' is [N, out]",
            task.name
        );
        for (i, (a, b)) in values.iter().zip(want).enumerate() {
            let rel = (a - b).abs() / b.abs().max(FLOOR);
            assert!(
                rel <= REL,
                "{label}: task '{}' value {i}: ONNX {a} vs predict {b} (relative {rel:.2e})",
                task.name
            );
            worst = worst.max(rel);
        }
    }
    worst
}

#[test]
fn onnx_graph_of_every_example_agrees_with_predict() {
    let mut worst = Vec::new();
    for path in examples() {
        let label = path.display().to_string();
        let spec = shrink(ExperimentSpec::load(&path).unwrap_or_else(|e| panic!("{label}: {e}")));
        let s = trained(&spec, &label);
        let file = s.model_file().expect("model file");
        worst.push((check(&s, &file, &label), label));
    }
    assert!(worst.len() >= 15, "every example: {worst:?}");
}

fn link(from: &str, take: Take, alpha: f32, detach: bool) -> LinkSpec {
    LinkSpec {
        from: from.to_owned(),
        take,
        alpha,
        detach,
    }
}

/// The default experiment (two regression tasks, 16 inputs), small, with `arch`.
fn vector_spec(arch: Architecture) -> ExperimentSpec {
    let mut spec = ExperimentSpec::default();
    if let DatasetSpec::Mmoe(m) = &mut spec.dataset {
        m.samples = 300;
    }
    spec.model.architecture = arch;
    spec
}

/// The convolutional example (class, area and mask of a shape), small, with `arch`.
fn conv_spec(arch: Architecture) -> ExperimentSpec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/conv_shapes.toml");
    let mut spec = shrink(ExperimentSpec::load(&path).expect("conv example"));
    spec.model.architecture = arch;
    spec
}

fn architectures() -> Vec<Architecture> {
    vec![
        Architecture::Hard,
        Architecture::Soft {
            lambda: 0.1,
            coupling: Coupling::AllPairs,
        },
        Architecture::CrossStitch {
            self_weight: 0.8,
            lr_scale: 10.0,
        },
        Architecture::Mmoe { experts: 3 },
        Architecture::Moe { experts: 2 },
    ]
}

/// Specs beyond the examples: every vector layer kind and activation in the trunk and the
/// heads, links of both kinds (detached and not), relationship learning, and every
/// architecture on vectors and on a convolutional trunk (conv, pool, flatten; cross-stitch
/// units after conv blocks; experts of images).
fn extra_specs() -> Vec<(String, ExperimentSpec)> {
    let mut out = Vec::new();
    for arch in architectures() {
        let mut spec = vector_spec(arch.clone());
        spec.model.shared = vec![
            LayerSpec::Linear { out: 24 },
            LayerSpec::LayerNorm { eps: 1e-5 },
            LayerSpec::Gelu,
            LayerSpec::Dropout { p: 0.2 },
            LayerSpec::Linear { out: 20 },
            LayerSpec::Sigmoid,
            LayerSpec::Linear { out: 16 },
            LayerSpec::Tanh,
        ];
        spec.model.heads[0].layers = vec![
            LayerSpec::Linear { out: 8 },
            LayerSpec::LayerNorm { eps: 1e-3 },
            LayerSpec::Gelu,
        ];
        spec.model.heads[1].layers = vec![LayerSpec::Linear { out: 6 }, LayerSpec::Relu];
        spec.model.heads[1].links = vec![
            link("y1", Take::Hidden, 0.5, false),
            link("y1", Take::Output, 2.0, true),
        ];
        spec.model.relationship = Some(RelationshipSpec::default());
        out.push((format!("vector layers, {}", arch.label()), spec));
        out.push((
            format!("conv trunk, {}", arch.label()),
            conv_spec(arch.clone()),
        ));
    }
    // A head without hidden layers whose input is linked (`hidden` = its own input).
    let mut bare = vector_spec(Architecture::Hard);
    bare.model.heads[0].layers.clear();
    bare.model.heads[1].links = vec![link("y1", Take::Hidden, 1.0, false)];
    out.push(("bare linked head".to_owned(), bare));
    out
}

#[test]
fn onnx_graph_of_every_layer_kind_and_architecture_agrees_with_predict() {
    for (label, spec) in extra_specs() {
        let problems = spec.validate();
        assert!(problems.is_empty(), "{label}: {problems:?}");
        let s = trained(&spec, &label);
        let file = s.model_file().expect("model file");
        check(&s, &file, &label);
    }
}
