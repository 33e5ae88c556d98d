//! `export torch`: for every example spec, model.py and train.py compile and the module
//! names every tensor of the weights file (CI-safe: no torch needed; the real check with
//! torch is `scripts/check_torch.sh`).

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;
use std::process::Command;

use mtl_studio::experiment::ExperimentSpec;
use mtl_studio::export::torch;
use mtl_studio::trainer::Session;

#[test]
fn every_example_exports_compiling_python_that_names_every_tensor() {
    let dir = tempfile::tempdir().expect("tempdir");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut specs: Vec<_> = std::fs::read_dir(&examples)
        .expect("examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 10, "the examples: {specs:?}");
    let python = Command::new("python3").arg("--version").output().is_ok();
    if !python {
        let _ = writeln!(
            std::io::stderr(),
            "python3 not found: py_compile skipped, the names still checked"
        );
    }
    for path in &specs {
        let name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let spec = ExperimentSpec::load(path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let session = Session::new(&spec).unwrap_or_else(|e| panic!("{name}: {e}"));
        let file = session.model_file().expect("model file");
        let in_file: BTreeSet<String> = file
            .tensors
            .iter()
            .map(|t| t.name.clone())
            .chain(["normalizer.mean".to_owned(), "normalizer.std".to_owned()])
            .collect();
        let names = torch::parameter_names(&file).expect("names");
        assert_eq!(
            names.iter().cloned().collect::<BTreeSet<_>>(),
            in_file,
            "{name}: the module's tensors are the file's"
        );
        let out = dir.path().join(&name);
        torch::write_torch(&file, &out, Err("not needed".to_owned())).expect("written");
        let model_py = std::fs::read_to_string(out.join("model.py")).expect("model.py");
        for n in &names {
            assert!(model_py.contains(&format!("\"{n}\"")), "{name}: {n} listed");
        }
        if python {
            let o = Command::new("python3")
                .args(["-m", "py_compile"])
                .arg(out.join("model.py"))
                .arg(out.join("train.py"))
                .output()
                .expect("python3");
            assert!(
                o.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}
