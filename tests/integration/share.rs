//! Experiments to hand out: share codes and experiment files, through the command line and
//! through the window.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use egui_kittest::kittest::Queryable as _;
use mtl_studio::app::{AppState, MtlApp};
use mtl_studio::handout::{Experiment, Window};

use crate::ui::{harness, texts_containing};

fn mtl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
        .args(args)
        .output()
        .expect("runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn examples() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
            .expect("examples folder")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
    paths.sort();
    paths
}

/// `mtl-studio share FILE`: the code, checked to be one line.
fn share(file: &Path) -> String {
    let out = mtl(&["share", file.to_str().expect("utf8")]);
    assert!(
        out.status.success(),
        "share {}: {}",
        file.display(),
        text(&out.stderr)
    );
    let code = text(&out.stdout).trim_end().to_owned();
    assert!(!code.contains('\n'), "one line: {code}");
    code
}

/// `mtl-studio share --decode CODE`: the experiment file's text.
fn decode(code: &str) -> String {
    let out = mtl(&["share", "--decode", code]);
    assert!(out.status.success(), "decode {code}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn every_example_round_trips_through_share_and_decode_in_a_short_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lengths = Vec::new();
    for path in examples() {
        let original = Experiment::load(&path).expect("the example loads");
        let code = share(&path);
        assert!(code.starts_with("mtl1."), "{}: {code}", path.display());
        lengths.push((path.display().to_string(), code.len()));
        let decoded_text = decode(&code);
        let decoded = Experiment::from_toml(&decoded_text).expect("the decoded TOML reads");
        assert_eq!(decoded, original, "{}: the same experiment", path.display());
        // The printed experiment is a file the tools accept as it is.
        let file = dir.path().join("decoded.toml");
        std::fs::write(&file, &decoded_text).expect("write");
        let out = mtl(&["validate", file.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "{}: validate the decoded file: {}",
            path.display(),
            text(&out.stderr)
        );
    }
    assert!(
        lengths.iter().all(|(_, n)| *n <= 120),
        "a few dozen characters each: {lengths:?}"
    );
}

#[test]
fn an_experiment_file_keeps_the_window_through_a_code_and_trains_like_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/playground.toml");
    let spec = std::fs::read_to_string(base).expect("example");
    let experiment_file = dir.path().join("lecture.toml");
    std::fs::write(
        &experiment_file,
        format!(
            "{spec}\n[window]\ntab = \"Boundaries\"\npace = {{ steps_per_sec = 8.0 }}\n\n[window.presentation]\non = true\nscale = 2.0\nhidden = [\"model\", \"tab:Landscape\"]\n"
        ),
    )
    .expect("write");
    let original = Experiment::load(&experiment_file).expect("loads");
    let window = original.window.clone().expect("has a window");
    assert_eq!(window.tab, "Boundaries", "read from the file");
    let decoded_text = decode(&share(&experiment_file));
    let decoded = Experiment::from_toml(&decoded_text).expect("reads");
    assert_eq!(decoded, original, "spec and window survive the code");
    let decoded_file = dir.path().join("decoded.toml");
    std::fs::write(&decoded_file, &decoded_text).expect("write");

    // The original spec and the decoded experiment file train to the same metrics.
    let mut metrics = Vec::new();
    for (spec, run) in [(base, "a"), (decoded_file.to_str().expect("utf8"), "b")] {
        let out_dir = dir.path().join(run);
        let out = mtl(&[
            "train",
            spec,
            "--out",
            out_dir.to_str().expect("utf8"),
            "--epochs",
            "3",
            "--quiet",
        ]);
        assert!(out.status.success(), "train {spec}: {}", text(&out.stderr));
        metrics.push(std::fs::read_to_string(out_dir.join("metrics.csv")).expect("metrics"));
    }
    assert!(metrics[0].lines().count() > 10, "metrics were written");
    assert_eq!(metrics[0], metrics[1], "identical metrics, row for row");
}

#[test]
fn bad_codes_are_refused_on_the_command_line_with_a_sentence() {
    let code = share(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/mmoe.toml"
    )));
    let payload = code.strip_prefix("mtl1.").expect("prefix");
    let cases = [
        (format!("mtl3.{payload}"), "format 3"),
        (code[..code.len() - 6].to_owned(), "damaged"),
        ("hello there".to_owned(), "not an MTL Studio share code"),
    ];
    for (bad, words) in cases {
        let out = mtl(&["share", "--decode", &bad]);
        assert_eq!(out.status.code(), Some(1), "{bad}: exit 1");
        let err = text(&out.stderr);
        assert!(
            err.contains(words) && !err.contains("panicked"),
            "{bad}: {err}"
        );
    }
    // A code split over lines as a chat wraps it still decodes.
    let (a, b) = code.split_at(20);
    let out = mtl(&["share", "--decode", &format!("{a}\n  {b}\n")]);
    assert!(out.status.success(), "wrapped: {}", text(&out.stderr));
}

/// Clicks File › `item`.
fn file_menu(h: &mut egui_kittest::Harness<'static, MtlApp>, item: &str) {
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label(item).click();
}

/// The text the last frame copied to the clipboard.
fn copied(h: &egui_kittest::Harness<'static, MtlApp>) -> Option<String> {
    h.output()
        .platform_output
        .commands
        .iter()
        .find_map(|c| match c {
            egui::OutputCommand::CopyText(text) => Some(text.clone()),
            _ => None,
        })
}

#[test]
fn a_share_code_copied_in_one_window_opens_the_same_experiment_in_another() {
    let mut h = harness();
    h.run_steps(2);
    // What a lecturer sets up: a tab, a teaching pace, presentation settings and an edit.
    h.get_by_label("Network").click();
    h.run_steps(2);
    h.get_by_label("⏩ Full speed").click();
    h.run_steps(2);
    {
        let state = &mut h.state_mut().state;
        state.presentation.scale = 2.0;
        state.presentation.high_contrast = true;
        state.presentation.hidden.insert("optimizer".to_owned());
        state.spec.seed = 77;
        state.view.smoothing = 0.3;
    }
    h.run_steps(2);
    let sent = h.state().state.clone();
    assert_eq!(sent.tab, "Network", "the tab was clicked");
    assert_eq!(
        sent.pace,
        mtl_studio::trainer::Pace::TEACHING,
        "full speed was turned off"
    );

    // An experiment with a problem gets no code: it would not open where it is pasted.
    h.state_mut().state.spec.tasks[1].name = "y1".to_owned();
    file_menu(&mut h, "Copy share code");
    h.step();
    assert_eq!(copied(&h), None, "nothing copied");
    assert!(
        h.state()
            .status
            .as_ref()
            .is_some_and(|(e, m)| *e && m.contains("fix the experiment first")),
        "{:?}",
        h.state().status
    );
    h.state_mut().state.spec.tasks[1].name = "y2".to_owned();
    h.run_steps(2);

    file_menu(&mut h, "Copy share code");
    h.step();
    let code = copied(&h).expect("a share code on the clipboard");
    assert!(code.starts_with("mtl1.") && code.len() < 200, "{code}");
    let status = h.state().status.clone().expect("a status message");
    assert!(
        !status.0 && status.1.contains(&format!("{} characters", code.len())),
        "the status bar says so: {status:?}"
    );

    // A fresh window, with another experiment and window settings.
    let mut h = harness();
    h.run_steps(2);
    let before = h.state().state.clone();
    assert_ne!(before, sent, "starts elsewhere");

    // A bad code first: the window says why and the experiment stays.
    file_menu(&mut h, "Open share code…");
    h.run_steps(2);
    let field = h.get_by_role(egui::accesskit::Role::MultilineTextInput);
    field.focus();
    field.type_text("mtl9.abcdef");
    h.run_steps(2);
    // Ctrl+Enter opens, as the Open button does.
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::Enter);
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "format 9, made by a newer MTL Studio").is_empty(),
        "the error is shown in the window"
    );
    assert_eq!(h.state().state, before, "nothing changed");

    // Escape cancels and keeps the experiment too; then the real code, in a fresh window.
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert!(
        h.query_by_label("Open share code").is_none(),
        "the window closed"
    );
    assert_eq!(h.state().state, before, "nothing changed");
    file_menu(&mut h, "Open share code…");
    h.run_steps(2);
    let field = h.get_by_role(egui::accesskit::Role::MultilineTextInput);
    assert_eq!(field.value().as_deref(), Some(""), "an empty field");
    field.focus();
    h.get_by_role(egui::accesskit::Role::MultilineTextInput)
        .type_text(&code);
    h.run_steps(2);
    h.get_by_label("Open").click();
    h.run_steps(3);
    assert_eq!(
        h.state().state,
        sent,
        "the same experiment and window settings"
    );
    assert!(
        h.query_by_label("Open share code").is_none(),
        "the window closed"
    );
}

#[test]
fn save_experiment_then_open_it_restores_the_window() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("class.toml");
    let state = AppState {
        tab: "Metrics".to_owned(),
        pace: mtl_studio::trainer::Pace::StepsPerSec(5.0),
        ..AppState::default()
    };
    let ctx = egui::Context::default();
    let mut app = MtlApp::new(&ctx, state.clone());
    app.save_experiment_to(&path);
    assert!(
        app.status
            .as_ref()
            .is_some_and(|(e, m)| !e && m.contains("Saved")),
        "{:?}",
        app.status
    );
    let text = std::fs::read_to_string(&path).expect("written");
    assert!(
        text.contains("[window]") && text.contains("tab = \"Metrics\""),
        "{text}"
    );

    let mut other = MtlApp::new(&ctx, AppState::default());
    other.open_experiment(&path);
    assert_eq!(other.state, state, "the spec and the window back");

    // A plain spec changes only the experiment.
    let spec_path = dir.path().join("spec.toml");
    let mut spec = state.spec.clone();
    spec.seed = 5;
    std::fs::write(&spec_path, spec.to_toml().expect("toml")).expect("write");
    other.open_experiment(&spec_path);
    assert_eq!(other.state.spec, spec, "the spec replaced");
    assert_eq!(
        Window::of(&other.state),
        Window::of(&state),
        "the window kept"
    );
}

/// A spec whose CSV path is `path` (as written in the file).
fn csv_spec_text(path: &str) -> String {
    let mut spec = mtl_studio::experiment::ExperimentSpec {
        dataset: mtl_studio::experiment::DatasetSpec::Csv(mtl_studio::experiment::CsvSpec {
            path: path.into(),
            columns: std::collections::BTreeMap::new(),
        }),
        ..Default::default()
    };
    spec.model.input = 0;
    spec.to_toml().expect("toml")
}

#[test]
fn an_experiment_reading_outside_its_folder_asks_before_reading() {
    let dir = tempfile::tempdir().expect("tempdir");
    let specs = dir.path().join("specs");
    std::fs::create_dir(&specs).expect("mkdir");
    // Inside the folder: opens at once.
    let inside = specs.join("inside.toml");
    std::fs::write(&inside, csv_spec_text("data/x.csv")).expect("write");
    // Absolute, and `..` that climbs out: both wait for the user's word.
    let absolute = specs.join("absolute.toml");
    std::fs::write(&absolute, csv_spec_text("/etc/passwd")).expect("write");
    let climbing = specs.join("climbing.toml");
    std::fs::write(&climbing, csv_spec_text("../secret.csv")).expect("write");

    let mut h = harness();
    let before = h.state().state.clone();
    h.state_mut().open_experiment(&inside);
    assert!(
        h.state().pending_read().is_none(),
        "no question for data inside"
    );
    assert_ne!(h.state().state.spec, before.spec, "opened at once");

    let mut h = harness();
    h.state_mut().open_experiment(&absolute);
    h.run_steps(2);
    assert_eq!(
        h.state().pending_read(),
        Some(&[PathBuf::from("/etc/passwd")][..]),
        "the full path awaits an answer"
    );
    assert_eq!(h.state().state, before, "nothing read or changed yet");
    assert!(
        !texts_containing(&h, "/etc/passwd").is_empty(),
        "the window names the file in full"
    );
    h.get_by_label("Cancel").click();
    h.run_steps(2);
    assert!(h.state().pending_read().is_none(), "answered");
    assert_eq!(h.state().state, before, "Cancel changes nothing");

    h.state_mut().open_experiment(&climbing);
    h.run_steps(2);
    let shown = h.state().pending_read().expect("asked").to_vec();
    let expected = dir.path().join("secret.csv");
    assert_eq!(
        shown,
        vec![std::path::absolute(&expected).expect("absolute")],
        "'..' shown taken out"
    );
    h.get_by_label("Read").click();
    h.run_steps(2);
    assert!(h.state().pending_read().is_none(), "answered");
    match &h.state().state.spec.dataset {
        mtl_studio::experiment::DatasetSpec::Csv(csv) => {
            assert!(
                csv.path.ends_with("specs/../secret.csv"),
                "{}",
                csv.path.display()
            );
        }
        other => panic!("expected the CSV spec, got {other:?}"),
    }

    // A share code with an absolute path asks too.
    let mut h = harness();
    let code = Experiment {
        spec: mtl_studio::experiment::ExperimentSpec::from_toml(&csv_spec_text("/etc/passwd"))
            .expect("spec"),
        window: None,
    }
    .share_code()
    .expect("code");
    assert_eq!(h.state_mut().open_share_code(&code), Ok(()));
    h.run_steps(2);
    assert!(h.state().pending_read().is_some(), "a share code asks too");
}
