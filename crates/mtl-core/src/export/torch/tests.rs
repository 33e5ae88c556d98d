use std::collections::BTreeSet;
use std::io::Write as _;

use super::*;
use crate::experiment::{Coupling, DatasetSpec, LinkSpec, RelationshipSpec};

/// The model file of `spec` (untrained) on a small MMoE dataset.
fn file_of(mut spec: ExperimentSpec) -> ModelFile {
    if let DatasetSpec::Mmoe(m) = &mut spec.dataset {
        m.samples = 200;
    }
    let session = crate::trainer::Session::new(&spec).expect("session");
    session.model_file().expect("model file")
}

/// Every tensor name of the weights file, normaliser included.
fn file_names(file: &ModelFile) -> BTreeSet<String> {
    file.tensors
        .iter()
        .map(|t| t.name.clone())
        .chain(["normalizer.mean".to_owned(), "normalizer.std".to_owned()])
        .collect()
}

/// The default spec with each architecture, relationship learning and a link.
fn variants() -> Vec<(&'static str, ExperimentSpec)> {
    let base = ExperimentSpec::default();
    let with = |arch: Architecture| {
        let mut s = base.clone();
        s.model.architecture = arch;
        s
    };
    let mut related = base.clone();
    related.model.relationship = Some(RelationshipSpec::default());
    let mut linked = base.clone();
    linked.model.heads[1].links.push(LinkSpec {
        from: "y1".to_owned(),
        take: Take::Hidden,
        alpha: 0.5,
        detach: true,
    });
    vec![
        ("hard", base.clone()),
        (
            "soft",
            with(Architecture::Soft {
                lambda: 0.1,
                coupling: Coupling::AllPairs,
            }),
        ),
        (
            "cross_stitch",
            with(Architecture::CrossStitch {
                self_weight: 0.9,
                lr_scale: 10.0,
            }),
        ),
        ("mmoe", with(Architecture::Mmoe { experts: 3 })),
        ("moe", with(Architecture::Moe { experts: 2 })),
        ("relationship", related),
        ("links", linked),
    ]
}

#[test]
fn the_module_names_every_tensor_of_the_weights_file_for_every_architecture() {
    for (what, spec) in variants() {
        let file = file_of(spec);
        let names = parameter_names(&file).expect("names");
        let declared: BTreeSet<String> = names.iter().cloned().collect();
        assert_eq!(declared.len(), names.len(), "{what}: no name twice");
        assert_eq!(declared, file_names(&file), "{what}: the same tensors");
        let py = model_py(&file).expect("model.py");
        let listed = format!(
            "PARAMETER_NAMES = {}",
            py_json(&serde_json::Value::from(names))
        );
        assert!(py.contains(&listed), "{what}: PARAMETER_NAMES in model.py");
        assert!(
            py.contains("class MtlModel(nn.Module):"),
            "{what}: the class"
        );
    }
}

#[test]
fn layers_keep_the_spec_indices_and_the_head_output_comes_last() {
    let file = file_of(ExperimentSpec::default());
    let py = model_py(&file).expect("model.py");
    // Default trunk: linear 64, relu, linear 64, relu; heads: linear 32, relu, then output.
    assert!(
        py.contains("nn.Linear(16, 64),  # 0\n            nn.ReLU(),  # 1\n            nn.Linear(64, 64),  # 2"),
        "trunk indices:\n{py}"
    );
    assert!(
        py.contains("nn.Linear(32, 1),  # 2: the output layer"),
        "head output at index 2:\n{py}"
    );
}

#[test]
fn the_same_model_gives_the_same_files_and_train_py_carries_the_spec() {
    let file = file_of(ExperimentSpec::default());
    assert_eq!(model_py(&file), model_py(&file), "model.py deterministic");
    let train = train_py(&file).expect("train.py");
    assert_eq!(Ok(train.clone()), train_py(&file), "train.py deterministic");
    assert!(
        !train.contains("@SPEC@") && !train.contains("@NAME@"),
        "filled in"
    );
    let start = train.find("SPEC = json.loads(").expect("SPEC");
    let body = &train[start..];
    let json_start = body.find("r\"\"\"\n").expect("raw string") + 5;
    let json_end = body.find("\n\"\"\"").expect("end");
    let spec = ExperimentSpec::from_json(&body[json_start..json_end]).expect("the spec parses");
    assert_eq!(spec, file.spec, "the run's spec");
}

/// `python3 -m py_compile` on the files, or `None` without python3.
fn py_compile(dir: &Path, files: &[&str]) -> Option<std::process::Output> {
    let mut cmd = std::process::Command::new("python3");
    cmd.arg("-m").arg("py_compile");
    for f in files {
        cmd.arg(dir.join(f));
    }
    cmd.output().ok()
}

#[test]
fn the_generated_python_compiles() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (what, spec) in variants() {
        let file = file_of(spec);
        let out = dir.path().join(what);
        let written = write_torch(&file, &out, Err("no data".to_owned())).expect("written");
        assert_eq!(written.files.len(), 2, "model.py and train.py");
        assert_eq!(written.data_note.as_deref(), Some("no data"), "the note");
        match py_compile(&out, &["model.py", "train.py"]) {
            Some(o) => assert!(
                o.status.success(),
                "{what}: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            None => {
                let _ = writeln!(std::io::stderr(), "python3 not found: py_compile skipped");
                return;
            }
        }
    }
}
