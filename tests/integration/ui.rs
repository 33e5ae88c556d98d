//! The GUI, driven headless with egui_kittest: clicks change what they should.

use crate::common;

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use mtl_studio::app::{AppState, MtlApp};
use mtl_studio::experiment::LayerSpec;
use mtl_studio::ui::history::Phase;

pub(crate) fn harness() -> Harness<'static, MtlApp> {
    let ctx = egui::Context::default();
    // Tests train at full speed unless they test the pace.
    let state = AppState {
        spec: common::small_spec(3000, 500),
        pace: mtl_studio::trainer::Pace::Full,
        ..AppState::default()
    };
    let app = MtlApp::new(&ctx, state);
    Harness::builder()
        .with_size([1400.0, 900.0])
        .build_ui_state(|ui, app: &mut MtlApp| app.show(ui), app)
}

/// Steps frames until `done` holds (the trainer runs on its own thread), or fails after 60 s.
pub(crate) fn step_until(
    h: &mut Harness<'static, MtlApp>,
    what: &str,
    done: impl Fn(&MtlApp) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(h.state()) {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    h.step();
}

/// Texts shown in the window (labels' values) that contain `needle`.
pub(crate) fn texts_containing(h: &Harness<'static, MtlApp>, needle: &str) -> Vec<String> {
    h.query_all_by(move |n| n.value().is_some_and(|v| v.contains(needle)))
        .filter_map(|n| n.accesskit_node().value())
        .collect()
}

/// The status bar's step counter (`step N`), if shown.
pub(crate) fn step_labels(h: &Harness<'static, MtlApp>) -> Vec<String> {
    texts_containing(h, "step ")
        .into_iter()
        .filter(|l| l.starts_with("step "))
        .collect()
}

#[test]
fn clicking_train_advances_the_step_counter_and_space_pauses() {
    let mut h = harness();
    h.run_steps(2);
    assert!(
        step_labels(&h).is_empty(),
        "no step counter before training"
    );
    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    step_until(&mut h, "training steps", |app| {
        app.history.last_step.as_ref().is_some_and(|m| m.step > 0)
    });
    let first = h.state().history.last_step.as_ref().map_or(0, |m| m.step);
    step_until(&mut h, "more steps", |app| {
        app.history
            .last_step
            .as_ref()
            .is_some_and(|m| m.step > first)
    });
    let shown = step_labels(&h);
    assert!(
        !shown.is_empty(),
        "the status bar shows the step: {shown:?}"
    );
    let n: u64 = shown[0]
        .trim_start_matches("step ")
        .parse()
        .expect("a number");
    assert!(n > first, "the counter advanced past {first}: {n}");
    assert!(
        h.query_by_label("⏸ Pause").is_some(),
        "Train turned into Pause"
    );

    h.key_press(egui::Key::Space);
    step_until(&mut h, "pause", |app| {
        app.history.phase == Phase::Run(mtl_studio::trainer::RunState::Paused)
    });
    let paused_at = h.state().steps_done();
    std::thread::sleep(Duration::from_millis(100));
    h.run_steps(3);
    assert_eq!(h.state().steps_done(), paused_at, "no steps while paused");
    assert!(
        h.query_by_label("▶ Resume").is_some(),
        "Pause turned into Resume"
    );
}

#[test]
fn adding_a_trunk_layer_from_the_composer_edits_the_spec() {
    let mut h = harness();
    h.run_steps(2);
    let before = h.state().state.spec.model.shared.len();
    h.get_by_label("➕ Add shared layer").click();
    h.run_steps(2);
    h.get_by_label("Linear(32)").click();
    h.run_steps(2);
    let shared = &h.state().state.spec.model.shared;
    assert_eq!(shared.len(), before + 1, "one more trunk layer");
    assert_eq!(
        shared.last(),
        Some(&LayerSpec::Linear { out: 32 }),
        "the chosen layer"
    );
    assert!(
        h.state().state.spec.validate().is_empty(),
        "still a valid model"
    );
}

#[test]
fn an_invalid_spec_disables_train_and_names_the_field() {
    let mut h = harness();
    h.state_mut().state.spec.tasks[1].name = "y1".to_owned();
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "tasks[1].name: 'y1' is used by an earlier task").is_empty(),
        "the problem is shown with its place"
    );
    h.get_by_label("▶ Train").click();
    h.run_steps(3);
    assert_eq!(h.state().history.phase, Phase::Idle, "no run starts");
}

#[test]
fn export_from_the_app_then_load_restores_the_model_paused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.safetensors");
    let mut h = harness();
    h.run_steps(1);
    h.state_mut().save_weights_to(path.clone());
    assert!(
        h.state().status.as_ref().is_some_and(|(err, _)| *err),
        "nothing to export before a run"
    );

    h.get_by_label("▶ Train").click();
    step_until(&mut h, "some steps", |app| app.steps_done() > 20);
    h.state_mut().save_weights_to(path.clone());
    step_until(&mut h, "saved", |app| {
        app.status
            .as_ref()
            .is_some_and(|(_, m)| m.starts_with("Saved weights"))
    });
    assert!(
        path.exists() && dir.path().join("spec.json").exists(),
        "weights and spec written"
    );

    // Change the editor's spec, then load: the file's spec comes back and a paused run starts.
    h.state_mut().state.spec.seed = 999;
    h.state_mut().load_weights(&path);
    step_until(&mut h, "loaded and paused", |app| {
        app.history.phase == Phase::Run(mtl_studio::trainer::RunState::Paused)
    });
    assert_ne!(
        h.state().state.spec.seed,
        999,
        "the spec of the weights file is restored"
    );
    assert_eq!(h.state().steps_done(), 0, "a loaded model waits paused");
    let loaded = texts_containing(&h, "Loaded weights");
    assert!(!loaded.is_empty(), "the status bar says so");
}

#[test]
fn file_export_onnx_writes_the_running_model_as_a_graph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.onnx");
    let mut h = harness();
    h.state_mut()
        .type_paths_instead("No file dialog can open here (a test).");
    h.run_steps(2);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Export ONNX…").click();
    h.run_steps(2);
    assert!(
        h.state().path_prompt.is_none()
            && h.state()
                .status
                .as_ref()
                .is_some_and(|(err, m)| *err && m.contains("Nothing to export")),
        "nothing to export before a run"
    );

    h.get_by_label("▶ Train").click();
    step_until(&mut h, "some steps", |app| app.steps_done() > 20);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Export ONNX…").click();
    h.run_steps(2);
    let prompt = h
        .state_mut()
        .path_prompt
        .as_mut()
        .expect("asked for a path");
    assert!(
        prompt.text.ends_with("model.onnx"),
        "suggested name: {}",
        prompt.text
    );
    prompt.text = path.display().to_string();
    h.run_steps(1);
    h.get_by_label("Save").click();
    step_until(&mut h, "exported", |app| {
        app.status
            .as_ref()
            .is_some_and(|(_, m)| m.starts_with("Exported ONNX"))
    });
    let bytes = std::fs::read(&path).expect("the ONNX file");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("features") && text.contains("shared.0.weight"),
        "an ONNX graph of the model"
    );
}

#[test]
fn moving_a_weight_slider_while_training_reaches_the_trainer() {
    let mut h = harness();
    h.get_by_label("▶ Train").click();
    step_until(&mut h, "training", |app| app.steps_done() > 5);
    h.get_by_label("Weight of y2").set_value_accesskit(2.5);
    h.run_steps(2);
    let spec = &h.state().state.spec;
    assert_eq!(
        spec.weighting,
        mtl_studio::experiment::WeightingSpec::of("manual"),
        "a slider switches to manual weights"
    );
    assert!(
        (spec.tasks[1].weight - 2.5).abs() < 1e-6,
        "the spec holds the new weight"
    );
    step_until(&mut h, "the trainer uses the new weights", |app| {
        app.history
            .last_step
            .as_ref()
            .is_some_and(|m| (m.task_weights[1] - 2.5).abs() < 1e-6)
    });
    let w = h.state().history.weights[1].last().expect("weight series");
    assert!(
        (w[1] - 2.5).abs() < 1e-6,
        "the task-weight chart shows it: {w:?}"
    );
}

#[test]
fn restarting_with_another_strategy_keeps_the_earlier_run_for_comparison() {
    let mut h = harness();
    h.get_by_label("▶ Train").click();
    step_until(&mut h, "an epoch", |app| app.history.evals.len() >= 4);
    assert!(
        h.query_by_label_contains("samples/s · 1 thread").is_some(),
        "the status bar shows the speed and the training threads"
    );
    h.state_mut().state.spec.weighting = mtl_studio::experiment::WeightingSpec::of("uw");
    h.run_steps(2);
    h.get_by_label("⟲ Restart").click();
    h.run_steps(1);
    step_until(&mut h, "the new run", |app| {
        app.history.run_id == 2 && app.history.evals.len() >= 4
    });
    let app = h.state();
    assert_eq!(app.past_runs.len(), 1, "the first run is kept");
    assert!(
        app.past_runs[0].label().contains("EW"),
        "labelled by its strategy: {}",
        app.past_runs[0].label()
    );
    assert!(
        app.history.label().contains("UW"),
        "the new run uses UW: {} {:?} {}",
        app.history.label(),
        app.history.phase,
        app.history.evals.len()
    );
    assert!(
        !texts_containing(&h, "Compare 1 earlier run").is_empty()
            || h.query_by_label_contains("Compare 1 earlier run").is_some(),
        "the comparison toggle counts it"
    );
}

/// Opens the strategy menu, which sits below the fold of the settings panel: scrolled to
/// first, as a user would.
fn open_strategy_menu(h: &mut Harness<'static, MtlApp>) {
    h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "Strategy")
        .scroll_to_me();
    h.run_steps(3);
    h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "Strategy")
        .click();
    h.run_steps(3);
}

#[test]
fn picking_a_strategy_shows_its_paper_and_hyperparameters() {
    let mut h = harness();
    h.run_steps(2);
    open_strategy_menu(&mut h);
    h.get_by_label("   GradNorm").click();
    h.run_steps(2);
    assert_eq!(
        h.state().state.spec.weighting.key(),
        "gradnorm",
        "the spec uses the picked strategy"
    );
    assert!(
        !texts_containing(&h, "ICML 2018").is_empty(),
        "its paper is shown"
    );
    assert!(
        !texts_containing(&h, "alpha").is_empty(),
        "its hyperparameter is listed"
    );
    assert!(
        h.state().state.spec.validate().is_empty(),
        "a valid experiment"
    );
}

#[test]
fn another_strategy_asks_for_a_restart_but_a_weight_does_not() {
    let mut h = harness();
    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    step_until(&mut h, "the run", |app| app.history.info.is_some());
    h.state_mut().state.spec.tasks[0].weight = 2.0;
    h.state_mut().state.spec.weighting = mtl_studio::experiment::WeightingSpec::of("manual");
    h.run_steps(2);
    assert!(
        texts_containing(&h, "Restart to apply").is_empty(),
        "weights apply live"
    );
    h.state_mut().state.spec.weighting = mtl_studio::experiment::WeightingSpec::of("mgda");
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "Restart to apply").is_empty(),
        "a new strategy needs a restart"
    );
}

#[test]
fn opening_an_mtl_csv_makes_its_task_columns_the_tasks_and_trains() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("two.csv");
    let mut text = String::from("a,kind,task:up:class,task:level:reg\n");
    for i in 0..300 {
        let a = (i % 20) as f32 / 10.0 - 1.0;
        let kind = ["p", "q", "r"][i % 3];
        text.push_str(&format!(
            "{a},{kind},{},{}\n",
            if a > 0.0 { "yes" } else { "no" },
            a * 3.0
        ));
    }
    std::fs::write(&path, text).expect("write");
    let mut h = harness();
    let before = h.state().state.spec.clone();
    let ctx = h.ctx.clone();
    h.state_mut().open_dataset(&path, &ctx);
    step_until(&mut h, "the import dialog", |app| {
        app.import()
            .is_some_and(|i| !i.busy() && i.inspection().is_some())
    });
    assert_eq!(h.state().state.spec, before, "nothing changes before Load");
    assert!(
        !texts_containing(&h, "up (binary): 300 of 300 rows labelled").is_empty(),
        "the dialog shows each task's coverage"
    );
    h.get_by_label("Load dataset").click();
    h.run_steps(2);
    assert!(h.state().import().is_none(), "the dialog closes");
    let spec = &h.state().state.spec;
    let tasks: Vec<(&str, mtl_studio::experiment::TaskKind)> = spec
        .tasks
        .iter()
        .map(|t| (t.name.as_str(), t.kind))
        .collect();
    assert_eq!(
        tasks,
        [
            ("up", mtl_studio::experiment::TaskKind::Binary),
            ("level", mtl_studio::experiment::TaskKind::Regression)
        ],
        "task columns with detected kinds"
    );
    assert_eq!(spec.model.input, 4, "a, and three one-hot levels of kind");
    assert!(
        spec.validate().is_empty(),
        "ready to train: {:?}",
        spec.validate()
    );
    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    step_until(&mut h, "training steps", |app| app.steps_done() > 10);
}

#[test]
fn picking_mmoe_and_linking_heads_edits_the_spec_and_training_shows_the_gates() {
    let mut h = harness();
    h.run_steps(2);
    h.get_by_role_and_label(egui::accesskit::Role::ComboBox, "Architecture")
        .click();
    h.run_steps(3);
    h.get_by_label("MMoE").click();
    h.run_steps(2);
    assert_eq!(
        h.state().state.spec.model.architecture,
        mtl_studio::experiment::Architecture::Mmoe { experts: 4 },
        "the spec uses the picked architecture"
    );
    assert!(
        !texts_containing(&h, "Each expert").is_empty(),
        "the layer list is titled for experts"
    );
    h.get_by_label("➕ Input from another task into y2")
        .scroll_to_me();
    h.run_steps(2);
    h.get_by_label("➕ Input from another task into y2")
        .click_accesskit();
    h.run_steps(2);
    // The menu's entry is drawn last (the popup sits above everything else).
    h.get_all_by_label("y1")
        .last()
        .expect("the menu lists task y1")
        .click();
    h.run_steps(2);
    let links = &h.state().state.spec.model.heads[1].links;
    assert_eq!(links.len(), 1, "one link into y2");
    assert_eq!(links[0].from, "y1", "from y1");
    assert!(h.state().state.spec.validate().is_empty(), "a valid model");

    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    step_until(&mut h, "gate weights", |app| {
        app.history
            .arch
            .as_ref()
            .is_some_and(|a| a.gates.len() == 2)
    });
    assert!(
        !texts_containing(&h, "Gate weights per task").is_empty(),
        "the gate view is shown"
    );
}

#[test]
fn moving_soft_sharing_lambda_while_training_applies_without_a_restart() {
    let mut h = harness();
    h.state_mut().state.spec.model.architecture = mtl_studio::experiment::Architecture::Soft {
        lambda: 0.01,
        coupling: mtl_studio::experiment::Coupling::AllPairs,
    };
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    step_until(&mut h, "tower distances", |app| {
        app.history
            .tower_distance
            .first()
            .is_some_and(|s| s.points().count() > 2)
    });
    let last = |app: &MtlApp| {
        app.history
            .tower_distance
            .first()
            .and_then(|s| s.last())
            .map_or(f64::NAN, |p| p[1])
    };
    let at_change = last(h.state());
    h.get_by_role_and_label(egui::accesskit::Role::Slider, "Coupling λ")
        .set_value_accesskit(100.0);
    h.run_steps(2);
    assert!(
        texts_containing(&h, "Restart to apply").is_empty(),
        "λ applies live, without a restart"
    );
    step_until(&mut h, "the towers pulled together", |app| {
        last(app) < 0.8 * at_change
    });
}

#[test]
fn a_malformed_file_is_reported_and_the_previous_dataset_stays() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed/ragged_row.csv");
    let mut h = harness();
    h.run_steps(2);
    let before = h.state().state.spec.clone();
    let ctx = h.ctx.clone();
    h.state_mut().open_dataset(&path, &ctx);
    step_until(&mut h, "the import to fail", |app| app.import().is_none());
    h.run_steps(2);
    assert_eq!(h.state().state.spec, before, "the dataset is untouched");
    assert!(
        !texts_containing(&h, "row has 4 fields but the header has 3 (line 3)").is_empty(),
        "the status bar says what and where"
    );
}

#[test]
fn changing_a_column_role_in_the_import_dialog_changes_the_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("plain.csv");
    let mut text = String::from("a,b,score\n");
    for i in 0..100 {
        text.push_str(&format!(
            "{},{},{}\n",
            i % 10,
            (i * 7) % 13,
            f64::from(i) * 0.5
        ));
    }
    std::fs::write(&path, text).expect("write");
    let mut h = harness();
    let ctx = h.ctx.clone();
    h.state_mut().open_dataset(&path, &ctx);
    let ready = |app: &MtlApp| {
        app.import()
            .is_some_and(|i| !i.busy() && i.inspection().is_some())
    };
    step_until(&mut h, "the import dialog", ready);
    let tasks = |app: &MtlApp| -> Vec<String> {
        app.import()
            .and_then(|i| i.inspection())
            .map(|i| i.tasks.iter().map(|t| t.name.clone()).collect())
            .unwrap_or_default()
    };
    assert_eq!(tasks(h.state()), ["score"], "the last column is the task");
    // Make column `a` a classification task too: open its role menu, pick "task: class".
    h.query_all_by_role(egui::accesskit::Role::ComboBox)
        .find(|n| n.value().is_some_and(|v| v == "input"))
        .expect("a role menu showing 'input'")
        .click();
    h.run_steps(2);
    h.get_by_label("task: class").click();
    h.run_steps(1);
    step_until(&mut h, "the re-check", ready);
    assert_eq!(tasks(h.state()), ["a", "score"]);
    h.get_by_label("Load dataset").click();
    h.run_steps(2);
    let spec = &h.state().state.spec;
    assert_eq!(spec.tasks.len(), 2);
    match &spec.dataset {
        mtl_studio::experiment::DatasetSpec::Csv(c) => assert_eq!(
            c.columns.get("a"),
            Some(&mtl_studio::experiment::CsvColumnRole::Class),
            "the choice is saved in the spec"
        ),
        other => panic!("not a CSV dataset: {other:?}"),
    }
}

#[test]
fn the_dataset_tab_shows_labels_scatter_and_table() {
    let mut h = harness();
    h.run_steps(2);
    // The tab (the left panel's section has the same name).
    h.query_all_by_label("Dataset")
        .last()
        .expect("the Dataset tab")
        .click();
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "y1 (regression)").is_empty(),
        "each label's distribution is shown"
    );
    h.get_by_label("Scatter").click();
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "colour by").is_empty(),
        "the scatter offers axes and a colouring label"
    );
    // Numbers with four decimals, as the table writes its cells.
    let cells = |h: &Harness<'static, MtlApp>| {
        texts_containing(h, ".")
            .into_iter()
            .filter(|t| {
                t.parse::<f64>().is_ok() && t.rsplit('.').next().is_some_and(|d| d.len() == 4)
            })
            .count()
    };
    let before = cells(&h);
    h.get_by_label("Table").click();
    h.run_steps(2);
    for header in ["row", "y1", "y2", "x1", "x8"] {
        assert!(
            h.query_all_by_value(header).next().is_some(),
            "the table has a {header} column"
        );
    }
    assert!(
        h.query_all_by_value("0").next().is_some() && h.query_all_by_value("1").next().is_some(),
        "rows are numbered"
    );
    assert!(
        cells(&h) >= before + 10 * 8,
        "at least ten rows of eight features, as numbers: {} (before: {before})",
        cells(&h)
    );
    h.get_by_label("Metrics").click();
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "No run yet: the table fills").is_empty(),
        "the metrics tab explains itself before a run"
    );
}

/// A file dropped on the window, as the windowing layer hands it to egui.
#[derive(Debug)]
struct Dropped(std::path::PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &std::path::Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn dropping_a_csv_on_the_window_opens_the_import_dialog() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/datasets/penguins_mtl.csv");
    let mut h = harness();
    h.run_steps(2);
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(path)));
    h.step();
    step_until(&mut h, "the import dialog", |app| {
        app.import()
            .is_some_and(|i| !i.busy() && i.inspection().is_some())
    });
    assert!(
        !texts_containing(&h, "sex (binary): 333 of 344 rows labelled").is_empty(),
        "the dropped file is inspected: penguins' missing sex labels are counted"
    );
}

#[test]
fn ticking_early_stopping_sets_a_patience_in_the_spec() {
    let mut h = harness();
    h.run_steps(2);
    assert_eq!(h.state().state.spec.training.stop.patience, 0);
    // Below the fold of the settings panel: an accessibility click, as a screen reader would.
    h.get_by_label("Early stopping").click_accesskit();
    h.run_steps(2);
    assert_eq!(h.state().state.spec.training.stop.patience, 5);
    assert!(
        !texts_containing(&h, "mean of the tasks").is_empty(),
        "the monitor menu appears"
    );
}

#[test]
fn measuring_affinity_while_training_suggests_groups_and_a_click_keeps_one() {
    let mut h = harness();
    h.run_steps(2);
    h.get_by_label("Affinity").click();
    h.run_steps(2);
    h.get_by_label("Measure task affinity while training")
        .click();
    h.run_steps(2);
    assert_eq!(h.state().state.spec.training.affinity_every, 10);
    h.get_by_label("▶ Train").click();
    h.run_steps(1);
    step_until(&mut h, "affinity measurements", |app| {
        app.history.affinity_count() >= 2
    });
    h.get_by_label("⏹ Stop").click();
    h.run_steps(2);
    let tasks = |app: &MtlApp| -> Vec<String> {
        app.state
            .spec
            .tasks
            .iter()
            .map(|t| t.name.clone())
            .collect()
    };
    assert_eq!(tasks(h.state()), ["y1", "y2"]);
    h.get_by_label("{y2}").click();
    h.run_steps(2);
    assert_eq!(
        tasks(h.state()),
        ["y2"],
        "the group button keeps that group's tasks"
    );
}

#[test]
fn the_landscape_tab_steps_and_plays_every_strategy_and_reset_starts_over() {
    let mut h = harness();
    h.run_steps(1);
    h.get_by_label("Landscape").click();
    h.run_steps(2);
    assert_eq!(
        h.state().landscape.paths.len(),
        5,
        "EW, MGDA, PCGrad, CAGrad, Nash-MTL"
    );
    assert!(
        h.state()
            .landscape
            .paths
            .iter()
            .all(|p| p.points.is_empty())
    );
    h.get_by_label("Step").click();
    h.run_steps(1);
    assert!(
        h.state()
            .landscape
            .paths
            .iter()
            .all(|p| p.points.len() == 1),
        "one step each"
    );
    assert!(!texts_containing(&h, "step 1 / 3000").is_empty());
    h.get_by_label("▶ Play").click();
    for _ in 0..20 {
        h.step();
    }
    let steps = h.state().landscape.steps();
    assert!(steps > 100, "playing advances the paths ({steps} steps)");
    // The paths already differ: no two strategies are at the same point.
    let ends: Vec<[f64; 2]> = h.state().landscape.paths.iter().map(|p| p.x()).collect();
    for (i, a) in ends.iter().enumerate() {
        for b in &ends[i + 1..] {
            assert!((a[0] - b[0]).abs() + (a[1] - b[1]).abs() > 1e-6);
        }
    }
    h.get_by_label("⏸ Pause").click();
    h.run_steps(1);
    h.get_by_label("Reset").click();
    h.run_steps(1);
    assert_eq!(h.state().landscape.steps(), 0);
    assert_eq!(h.state().landscape.start, mtl_studio::toy::STARTS[0]);
}

#[test]
fn the_tradeoffs_tab_sweeps_the_experiment_and_scores_runs_against_single_task_models() {
    let mut h = harness();
    h.state_mut().state.spec.training.epochs = 2;
    h.run_steps(1);
    h.get_by_label("Trade-offs").click();
    h.run_steps(1);
    {
        let t = &mut h.state_mut().tradeoff;
        t.grid = 3;
        t.strategies = vec!["ew".to_owned(), "pcgrad".to_owned()];
        t.threads = 2;
    }
    h.get_by_label("▶ Run sweep").click();
    h.run_steps(1);
    step_until(&mut h, "the sweep finishes", |app| {
        app.tradeoff.job.as_ref().is_some_and(|j| j.finished())
    });
    let job = h.state().tradeoff.job.as_ref().expect("a sweep");
    assert_eq!(job.progress(), (5, 5), "3 weightings and 2 strategies");
    assert!(job.snapshot().iter().flatten().all(|r| r.error.is_none()));
    assert!(
        h.query_by_label("w=(0.25, 0.75)").is_some(),
        "a table row per run"
    );
    // A click on a row opens that run's curves.
    h.get_by_label("pcgrad").click();
    h.run_steps(2);
    assert_eq!(h.state().tradeoff.selected, Some(4));
    assert!(
        h.query_by_label_contains("pcgrad: val loss per epoch")
            .is_some()
    );
    // Single-task baselines bring the Δp column.
    assert!(h.query_by_label_contains("Δp %").is_none());
    h.get_by_label("Train single-task baselines").click();
    h.run_steps(1);
    step_until(&mut h, "the baselines finish", |app| {
        app.tradeoff
            .baselines
            .as_ref()
            .is_some_and(mtl_studio::ui::tradeoff::Baselines::finished)
    });
    assert!(h.query_by_label_contains("Δp %").is_some());
    // They score only runs of exactly that experiment: other data (another correlation), or
    // another seed, get none.
    let swept = h
        .state()
        .tradeoff
        .swept
        .clone()
        .expect("the swept experiment");
    let t = &h.state().tradeoff;
    assert!(t.finished_baselines(&swept, swept.seed).is_some());
    assert!(t.finished_baselines(&swept, swept.seed + 1).is_none());
    let mut other = swept.clone();
    if let mtl_studio::experiment::DatasetSpec::Mmoe(m) = &mut other.dataset {
        m.correlation = -0.3;
    }
    assert!(t.finished_baselines(&other, other.seed).is_none());
    // A changed weighting is the same experiment to compare against.
    other = swept.clone();
    other.weighting = mtl_studio::experiment::WeightingSpec::of("pcgrad");
    assert!(t.finished_baselines(&other, other.seed).is_some());
}

#[test]
fn a_second_sweep_keeps_the_first_ones_front_faint_behind_it_saying_what_changed() {
    let mut h = harness();
    h.state_mut().state.spec.training.epochs = 1;
    h.run_steps(1);
    h.get_by_label("Trade-offs").click();
    h.run_steps(1);
    {
        let t = &mut h.state_mut().tradeoff;
        t.grid = 2;
        t.strategies = vec!["ew".to_owned()];
        t.threads = 2;
    }
    let sweep = |h: &mut Harness<'static, MtlApp>| {
        h.get_by_label("▶ Run sweep").click();
        h.run_steps(1);
        step_until(h, "the sweep finishes", |app| {
            app.tradeoff.job.as_ref().is_some_and(|j| j.finished())
        });
    };
    sweep(&mut h);
    assert!(h.state().tradeoff.earlier.is_none(), "no earlier sweep yet");
    assert!(texts_containing(&h, "the earlier sweep").is_empty());
    if let mtl_studio::experiment::DatasetSpec::Mmoe(m) = &mut h.state_mut().state.spec.dataset {
        m.correlation = 0.25;
    }
    sweep(&mut h);
    let earlier = h
        .state()
        .tradeoff
        .earlier
        .as_ref()
        .expect("the first sweep is kept");
    assert_eq!(earlier.runs.len(), 3, "its 2 weightings and EW");
    assert!(
        earlier.changed.contains("correlation = "),
        "it says what changed: {}",
        earlier.changed
    );
    assert!(
        !texts_containing(
            &h,
            "Faint dots and dashed line: the earlier sweep, at correlation"
        )
        .is_empty(),
        "the tab says what the faint points are"
    );
    h.get_by_label("Hide").click();
    h.run_steps(1);
    assert!(h.state().tradeoff.earlier.is_none(), "hidden on request");
}

#[test]
fn the_boundaries_tab_draws_each_tasks_prediction_while_training_two_input_data() {
    let ctx = egui::Context::default();
    let spec = mtl_studio::experiment::ExperimentSpec::load(std::path::Path::new(
        "examples/playground.toml",
    ))
    .expect("spec");
    let app = MtlApp::new(
        &ctx,
        AppState {
            spec,
            ..AppState::default()
        },
    );
    let mut h = Harness::builder()
        .with_size([1400.0, 900.0])
        .build_ui_state(|ui, app: &mut MtlApp| app.show(ui), app);
    h.run_steps(1);
    h.get_by_label("Boundaries").click();
    h.run_steps(1);
    assert!(h.query_by_label_contains("Press ▶ Train").is_some());
    h.get_by_label("▶ Train").click();
    step_until(&mut h, "a boundary snapshot", |app| {
        app.history.last_step.as_ref().is_some_and(|s| s.step > 50)
    });
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("the model's prediction on a 48×48 grid")
            .is_some()
    );
    assert!(h.query_by_label("circle").is_some() && h.query_by_label("xor").is_some());
    // The Network tab draws the live weights.
    assert!(h.query_by_label_contains("Lines: weights").is_none());
    h.get_by_label("Network").click();
    h.run_steps(2);
    assert!(h.query_by_label_contains("Lines: weights").is_some());
}

#[test]
fn every_lesson_loads_its_experiment_opens_its_view_and_trains() {
    let mut h = harness();
    h.state_mut().lessons.user_dir = None;
    h.run_steps(1);
    h.get_by_label("Help").click();
    h.run_steps(3);
    h.get_by_label("Lessons…").click();
    h.run_steps(2);
    assert!(h.state().lessons.open);
    for (i, entry) in mtl_studio::ui::lessons::built_in().iter().enumerate() {
        let lesson = entry.lesson.as_ref().expect("a built-in lesson loads");
        h.state_mut().lessons.current = i;
        h.run_steps(1);
        h.get_by_label("Load this lesson's experiment").click();
        h.run_steps(1);
        assert_eq!(h.state().state.tab, lesson.tab, "{}", lesson.title);
        assert_eq!(h.state().state.spec, lesson.spec, "{}", lesson.title);
        assert_eq!(
            h.state().state.pace,
            lesson.pace,
            "{}: its pace",
            lesson.title
        );
        assert_eq!(
            h.state().state.presentation.hidden,
            lesson.hidden,
            "{}: only its hidden controls",
            lesson.title
        );
        // From a fresh start, the lesson's experiment trains (at full speed here): its first
        // evaluation after training arrives and every loss is finite.
        h.state_mut().state.pace = mtl_studio::trainer::Pace::Full;
        h.state_mut().state.spec.training.epochs = 1;
        let before = h.state().history.run_id;
        h.get_by_label("▶ Train").click();
        step_until(&mut h, &lesson.title, |app| {
            app.history.run_id != before && app.history.evals.iter().any(|e| e.epoch == 1)
        });
        let last = h.state().history.evals.last().expect("an evaluation");
        assert!(
            last.tasks.iter().all(|t| t.loss.is_finite()),
            "{}",
            lesson.title
        );
    }
}

#[test]
fn the_weight_and_total_loss_charts_name_the_runs_strategy() {
    let mut h = harness();
    h.state_mut().state.spec.weighting = mtl_studio::experiment::WeightingSpec::of("uw");
    h.state_mut().state.spec.training.epochs = 1;
    h.run_steps(1);
    assert!(
        h.query_by_label("Effective task weights (UW)").is_none(),
        "no run, no strategy in the title"
    );
    h.get_by_label("▶ Train").click();
    step_until(&mut h, "the run starts", |app| app.history.info.is_some());
    assert!(
        h.query_by_label("Effective task weights (UW)").is_some(),
        "the weights chart names UW"
    );
    assert!(
        h.query_by_label("Total weighted loss  Σ w·L (UW)")
            .is_some(),
        "the total chart names UW"
    );
}

/// A lesson file with an inline experiment, as a lecturer writes one.
fn user_lesson(spec: &mtl_studio::experiment::ExperimentSpec) -> String {
    let mut doc = toml::Table::new();
    doc.insert("title".into(), "My own lesson".into());
    doc.insert(
        "text".into(),
        toml::Value::Array(vec!["What this is about.".into()]),
    );
    doc.insert(
        "steps".into(),
        toml::Value::Array(vec!["Press ▶ Train and watch the network.".into()]),
    );
    doc.insert("tab".into(), "Network".into());
    doc.insert("pace".into(), 12.into());
    doc.insert(
        "hide".into(),
        toml::Value::Array(vec!["model".into(), "tab:Landscape".into()]),
    );
    doc.insert("scale".into(), 2.0.into());
    doc.insert(
        "experiment".into(),
        toml::Value::try_from(spec).expect("a spec is TOML"),
    );
    toml::to_string(&doc).expect("a lesson is TOML")
}

/// Opens Help › Lessons… on lessons read from `dir`, and waits until they are read.
fn open_lessons_from(h: &mut Harness<'static, MtlApp>, dir: &std::path::Path) {
    h.state_mut().lessons.user_dir = Some(dir.to_owned());
    h.run_steps(1);
    h.get_by_label("Help").click();
    h.run_steps(3);
    h.get_by_label("Lessons…").click();
    h.run_steps(1);
    step_until(h, "the lessons folder is read", |app| {
        app.lessons.open && !app.lessons.loading()
    });
}

#[test]
fn a_lesson_file_in_the_user_folder_is_listed_and_loads_its_spec_tab_pace_and_hidden_controls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut spec = common::small_spec(600, 3);
    spec.name = "A lecturer's experiment".to_owned();
    std::fs::write(dir.path().join("mine.toml"), user_lesson(&spec)).expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a lesson").expect("write");
    let mut h = harness();
    // A control the lecturer hid stays hidden whatever the lessons do.
    h.state_mut()
        .state
        .presentation
        .hidden
        .insert("pace".to_owned());
    open_lessons_from(&mut h, dir.path());
    let built_in = mtl_studio::ui::lessons::BUILT_IN.len();
    assert_eq!(
        h.state().lessons.entries.len(),
        built_in + 1,
        "the built-in lessons and the folder's one lesson file"
    );
    assert!(
        !texts_containing(&h, &dir.path().display().to_string()).is_empty(),
        "the panel shows the folder"
    );
    // Walk to it with "Next lesson", as a student would.
    for _ in 0..built_in {
        h.get_by_label("Next lesson").click();
        h.run_steps(2);
    }
    assert!(
        h.query_by_label("My own lesson").is_some(),
        "its title is shown"
    );
    h.get_by_label("Load this lesson's experiment").click();
    h.run_steps(2);
    let app = h.state();
    assert_eq!(app.state.spec, spec, "the inline experiment");
    assert_eq!(app.state.tab, "Network", "its tab");
    assert_eq!(
        app.state.pace,
        mtl_studio::trainer::Pace::StepsPerSec(12.0),
        "its pace"
    );
    let hidden = &app.state.presentation.hidden;
    assert!(
        hidden.contains("model") && hidden.contains("tab:Landscape") && hidden.contains("pace"),
        "its hidden controls and the lecturer's: {hidden:?}"
    );
    assert!(
        (app.state.presentation.scale - 2.0).abs() < f32::EPSILON,
        "its presentation scale"
    );
    // The panel shows them again on request, and keeps the lecturer's hidden.
    h.get_by_label("Show the controls the lesson hid").click();
    h.run_steps(2);
    let hidden: Vec<&String> = h.state().state.presentation.hidden.iter().collect();
    assert_eq!(hidden, ["pace"], "only the lecturer's hidden control");
    assert!(
        h.query_by_label("Show the controls the lesson hid")
            .is_none(),
        "nothing left to show"
    );
    // Another lesson that hides nothing shows the first one's hidden controls again, and
    // keeps the lecturer's.
    h.get_by_label("Load this lesson's experiment").click();
    h.run_steps(2);
    assert!(
        h.state().state.presentation.hidden.contains("model"),
        "hidden again"
    );
    h.state_mut().lessons.current = 0;
    h.run_steps(1);
    h.get_by_label("Load this lesson's experiment").click();
    h.run_steps(2);
    let hidden: Vec<&String> = h.state().state.presentation.hidden.iter().collect();
    assert_eq!(hidden, ["pace"], "only the lecturer's hidden control");
}

#[test]
fn a_broken_lesson_file_is_listed_with_its_error_and_the_good_ones_stay() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("a-good.toml"),
        user_lesson(&common::small_spec(600, 3)),
    )
    .expect("write");
    // A TOML error on line 3, column 8.
    std::fs::write(
        dir.path().join("b-typo.toml"),
        "title = \"Typo\"\nexample = \"tradeoff\"\npace = = 5\n",
    )
    .expect("write");
    // Parses, but names a control that does not exist and an experiment with a problem.
    let mut bad = common::small_spec(600, 3);
    bad.training.batch_size = 0;
    std::fs::write(
        dir.path().join("c-wrong.toml"),
        user_lesson(&bad).replace("\"model\"", "\"modle\""),
    )
    .expect("write");
    // A FIFO would block a reader for ever: it is skipped, not opened.
    #[cfg(unix)]
    let fifo = std::process::Command::new("mkfifo")
        .arg(dir.path().join("d-fifo.toml"))
        .status()
        .is_ok_and(|s| s.success());
    let mut h = harness();
    open_lessons_from(&mut h, dir.path());
    let entries = &h.state().lessons.entries;
    let built_in = mtl_studio::ui::lessons::BUILT_IN.len();
    assert!(
        entries[built_in].lesson.is_ok(),
        "the good lesson loads: {:?}",
        entries[built_in].lesson.as_ref().err()
    );
    let typo = texts_containing(&h, "b-typo.toml:3:8:");
    assert!(!typo.is_empty(), "the parser's error, with line and column");
    assert!(
        !texts_containing(&h, "hidden control `modle`").is_empty(),
        "the unknown control is named"
    );
    assert!(
        !texts_containing(&h, "c-wrong.toml: experiment:").is_empty(),
        "the experiment's problem is listed"
    );
    #[cfg(unix)]
    if fifo {
        assert!(
            !texts_containing(&h, "d-fifo.toml: not a regular file").is_empty(),
            "the FIFO is listed as not a lesson file"
        );
    }
    // Picking a broken one says it does not load; its load button is not offered.
    h.state_mut().lessons.current = built_in + 1;
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "This lesson does not load").is_empty(),
        "the broken lesson says so"
    );
    assert!(
        h.query_by_label("Load this lesson's experiment").is_none(),
        "nothing to load"
    );
}

#[test]
fn a_run_exports_a_report_with_its_charts_metrics_spec_and_baseline_comparison() {
    let mut h = harness();
    h.state_mut().state.spec.training.epochs = 2;
    h.run_steps(1);
    h.get_by_label("▶ Train").click();
    step_until(&mut h, "the run finishes", |app| {
        app.history.phase == Phase::Run(mtl_studio::trainer::RunState::Finished)
    });
    let spec = h.state().history.info.as_ref().expect("info").spec.clone();
    h.state_mut()
        .tradeoff
        .start_baselines(&spec, &[spec.seed], mtl_studio::trainer::no_waker());
    step_until(&mut h, "the baselines", |app| {
        app.tradeoff.delta_for(&app.history).is_some()
    });
    let dir = tempfile::tempdir().expect("tempdir");
    h.state_mut().export_report(dir.path());
    let status = h.state().status.clone().expect("a status");
    assert!(!status.0, "{}", status.1);
    for f in [
        "report.md",
        "loss.png",
        "loss.svg",
        "metrics.csv",
        "spec.toml",
    ] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let md = std::fs::read_to_string(dir.path().join("report.md")).expect("md");
    assert!(md.contains("## Final metrics (val, epoch 2)"), "{md}");
    assert!(md.contains("## Against single-task models"));
    assert!(md.contains("Δp = "));
}

#[test]
fn strategies_the_architecture_cannot_serve_are_greyed_out() {
    let mut h = harness();
    h.state_mut().state.spec.model.architecture = mtl_studio::experiment::Architecture::Soft {
        lambda: 0.01,
        coupling: mtl_studio::experiment::Coupling::AllPairs,
    };
    h.run_steps(2);
    open_strategy_menu(&mut h);
    assert!(
        h.get_by_label("   PCGrad").accesskit_node().is_disabled(),
        "soft sharing has no shared parameters to combine gradients on"
    );
    assert!(
        !h.get_by_label("   UW (uncertainty weighting)")
            .accesskit_node()
            .is_disabled(),
        "loss weighting serves every architecture"
    );
    // A click on a greyed-out strategy changes nothing.
    h.get_by_label("   PCGrad").click();
    h.run_steps(2);
    assert_eq!(
        h.state().state.spec.weighting.key(),
        "ew",
        "still equal weighting"
    );
}
