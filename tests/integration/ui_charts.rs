//! The charts on a projector-sized window: the legend sits outside the plots, earlier runs
//! are named by what changed (and keep a name the user gives them), fixed axes hold across a
//! restart, and nothing runs off a 1024 × 768 or 1280 × 720 window.

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use mtl_studio::app::{AppState, MtlApp};
use mtl_studio::experiment::{Architecture, ExperimentSpec};
use mtl_studio::trainer::{
    EvalMetrics, RunInfo, ScriptedTrainer, Session, Split, StepMetrics, TrainerEvent, TrainerHandle,
};
use mtl_studio::ui::history::{Phase, RunHistory};

/// The app in a window of `size` with the four-task example experiment.
fn window(size: [f32; 2]) -> Harness<'static, MtlApp> {
    let ctx = egui::Context::default();
    let text = std::fs::read_to_string("examples/affinity.toml").expect("the example");
    let mut spec = ExperimentSpec::from_toml(&text).expect("it parses");
    if let mtl_studio::experiment::DatasetSpec::Mmoe(m) = &mut spec.dataset {
        m.samples = 400;
    }
    let state = AppState {
        spec,
        pace: mtl_studio::trainer::Pace::Full,
        ..AppState::default()
    };
    let app = MtlApp::new(&ctx, state);
    Harness::builder()
        .with_size(size)
        .build_ui_state(|ui, app: &mut MtlApp| app.show(ui), app)
}

fn info(spec: &ExperimentSpec) -> RunInfo {
    Session::new(spec).expect("a session").info()
}

fn eval(run_id: u64, epoch: usize, k: usize, loss: f64) -> TrainerEvent {
    TrainerEvent::Eval(EvalMetrics {
        run_id,
        epoch,
        step: epoch as u64 * 10,
        split: Split::Val,
        tasks: (0..k)
            .map(|_| mtl_studio::metrics::TaskEval {
                loss,
                metric: 0.5,
                all: Vec::new(),
            })
            .collect(),
    })
}

fn step(run_id: u64, epoch: f64, k: usize, loss: f32) -> TrainerEvent {
    TrainerEvent::Step(Box::new(StepMetrics {
        run_id,
        step: (epoch * 10.0) as u64,
        epoch,
        task_losses: vec![loss; k],
        total_loss: loss * k as f32,
        task_weights: vec![1.0; k],
        lr: 1e-3,
        samples_per_sec: 1000.0,
        elapsed_secs: 1.0,
        grad_norms: None,
        grad_cosines: None,
        arch: None,
        affinity: None,
        shards: 1,
    }))
}

/// An earlier run of `spec` with a few validation points.
fn earlier_run(run_id: u64, spec: &ExperimentSpec) -> RunHistory {
    let mut run = RunHistory::new(run_id, Phase::Idle);
    let info = info(spec);
    let k = info.task_names.len();
    run.apply(TrainerEvent::Started {
        run_id,
        info: Box::new(info),
    });
    for epoch in 1..=3 {
        run.apply(eval(run_id, epoch, k, 1.0 / epoch as f64));
    }
    run
}

/// Shows a scripted run of the app's spec, `id`, from now on.
fn attach_scripted(h: &mut Harness<'static, MtlApp>, id: u64) -> ScriptedTrainer {
    let info = info(&h.state().state.spec);
    let (handle, trainer) = TrainerHandle::scripted(id);
    h.state_mut().attach(handle);
    trainer
        .events
        .send(TrainerEvent::Started {
            run_id: id,
            info: Box::new(info),
        })
        .expect("send");
    trainer
}

/// The rects of the nodes showing `value`.
fn with_value(h: &Harness<'static, MtlApp>, value: &str) -> Vec<egui::Rect> {
    h.query_all_by(|n| n.value().as_deref() == Some(value))
        .map(|n| n.rect())
        .collect()
}

#[test]
fn the_legend_sits_above_the_charts_and_earlier_runs_are_named_by_what_changed() {
    let mut h = window([1280.0, 720.0]);
    h.run_steps(1);
    let spec = h.state().state.spec.clone();
    // Four earlier runs, each differing from the current run in one way.
    let mut mmoe = spec.clone();
    mmoe.model.architecture = Architecture::Mmoe { experts: 4 };
    let mut uw = spec.clone();
    uw.weighting = mtl_studio::experiment::WeightingSpec::of("uw");
    let mut epochs = spec.clone();
    epochs.training.epochs = 30;
    let past = vec![
        earlier_run(1, &mmoe),
        earlier_run(2, &uw),
        earlier_run(3, &epochs),
        earlier_run(4, &spec),
    ];
    h.state_mut().past_runs = past;
    let trainer = attach_scripted(&mut h, 5);
    for e in 1..=3 {
        trainer
            .events
            .send(step(5, e as f64, 4, 0.5))
            .expect("send");
        trainer.events.send(eval(5, e, 4, 0.4)).expect("send");
    }
    h.run_steps(3);
    // Earlier runs are named by what they did differently.
    for name in ["MMoE", "UW", "30 epochs", "same settings"] {
        assert!(
            !with_value(&h, name).is_empty(),
            "an earlier run named {name}: {:?}",
            super::ui::texts_containing(&h, "")
        );
    }
    // Every legend entry lies above every chart: none over the data.
    let top_of_charts = [
        "Loss per task",
        "Total weighted loss  Σ w·L",
        "Effective task weights",
    ]
    .iter()
    .map(|t| h.get_by_label_contains(t).rect().min.y)
    .fold(f32::INFINITY, f32::min);
    let mut entries: Vec<egui::Rect> = ["■ y1", "■ y2", "■ y3", "■ y4", "validation"]
        .iter()
        .map(|t| h.get_by_label(t).rect())
        .collect();
    for v in ["MMoE", "UW", "30 epochs", "same settings"] {
        entries.extend(with_value(&h, v));
    }
    for r in &entries {
        assert!(
            r.max.y <= top_of_charts && r.max.x <= 1280.0,
            "a legend entry at {r:?} overlaps the charts (which start at y = {top_of_charts})"
        );
    }
    // The user renames an earlier run; the name sticks over later frames.
    h.get_by(|n| {
        n.value().as_deref() == Some("UW") && n.role() == egui::accesskit::Role::TextInput
    })
    .focus();
    h.run_steps(1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_steps(1);
    h.get_by(|n| {
        n.value().as_deref() == Some("UW") && n.role() == egui::accesskit::Role::TextInput
    })
    .type_text("Kendall's UW");
    h.run_steps(2);
    h.key_press(egui::Key::Enter);
    h.run_steps(3);
    assert_eq!(
        h.state().past_runs[1].custom_label.as_deref(),
        Some("Kendall's UW"),
        "the edited name is kept"
    );
    assert!(!with_value(&h, "Kendall's UW").is_empty(), "and shown");
    assert!(with_value(&h, "UW").is_empty(), "instead of what changed");
}

#[test]
fn fixed_axes_keep_the_first_runs_range_after_a_restart_until_reset() {
    let mut h = window([1280.0, 720.0]);
    h.run_steps(1);
    assert!(!h.state().state.view.fixed_axes, "off by default");
    h.get_by_label("Fixed axes").click();
    h.run_steps(1);
    assert!(
        h.state().state.view.fixed_axes,
        "the toggle sets the preference"
    );
    let trainer = attach_scripted(&mut h, 1);
    for e in 1..=4 {
        trainer
            .events
            .send(step(1, f64::from(e), 4, 8.0))
            .expect("send");
    }
    h.run_steps(3);
    let kept = |h: &Harness<'static, MtlApp>| {
        mtl_studio::ui::plots::fixed_extent(&h.ctx, "loss log").expect("an extent is kept")
    };
    let first = kept(&h);
    assert!((first[3] - 8f64.log10()).abs() < 1e-9, "{first:?}");
    // A restart whose losses are much smaller: the axes stay where the first run put them.
    let trainer = attach_scripted(&mut h, 2);
    trainer.events.send(step(2, 0.5, 4, 0.01)).expect("send");
    h.run_steps(3);
    let after = kept(&h);
    assert!(
        after[3] >= first[3] && after[1] >= 4.0 && after[2] <= 0.01f64.log10() + 1e-9,
        "grown, never shrunk: {after:?}"
    );
    // Reset fits the axes to what shows now.
    h.get_by_label("Reset axes").click();
    h.run_steps(2);
    let reset = kept(&h);
    assert!(reset[3] < first[3] && reset[1] < 4.0, "{reset:?}");
}

/// Every tab at a projector's sizes: no widget runs past the window's right edge (the tab
/// bar scrolls instead), and *Save view as PNG…* sits inside it, right of the first tab.
#[test]
fn every_tab_fits_1024_by_768_and_1280_by_720() {
    let mut problems = Vec::new();
    for size in [[1024.0, 768.0], [1280.0, 720.0]] {
        let mut h = window(size);
        h.run_steps(2);
        let tabs = &mtl_studio::app::tabs::TABS;
        let tab_labels: Vec<&str> = tabs.iter().map(|t| t.label()).collect();
        for tab in tabs.iter().map(|t| t.key()) {
            h.state_mut().state.tab = tab.to_owned();
            h.run_steps(3);
            let save = h.get_by_label("Save view as PNG…").rect();
            assert!(
                save.max.x <= size[0] && save.min.x >= h.get_by_label("Charts").rect().max.x,
                "{tab} at {size:?}: the save button at {save:?}"
            );
            let outside: Vec<String> = h
                .query_all_by(|n| {
                    let label = n.label().unwrap_or_default();
                    !tab_labels.contains(&label.as_str())
                })
                .filter(|n| {
                    n.accesskit_node().bounding_box().is_some() && {
                        let r = n.rect();
                        r.width() > 0.0 && r.max.x > size[0] + 0.5
                    }
                })
                .map(|n| {
                    format!(
                        "{:?} {:?} at {:?}",
                        n.accesskit_node().role(),
                        n.accesskit_node().label().or(n.value()),
                        n.rect()
                    )
                })
                .collect();
            if !outside.is_empty() {
                problems.push(format!(
                    "{tab} at {size:?}: past the right edge: {outside:#?}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Penguins: species and sex are classified (accuracy in [0, 1]), body mass regressed (R²,
/// unbounded below): the two get separate charts, so neither squashes the other.
#[test]
fn r2_gets_its_own_axis_apart_from_accuracy() {
    let mut h = window([1280.0, 720.0]);
    let text = std::fs::read_to_string("examples/penguins.toml").expect("the example");
    h.state_mut().state.spec = ExperimentSpec::from_toml(&text).expect("it parses");
    h.run_steps(1);
    let _trainer = attach_scripted(&mut h, 1);
    h.run_steps(3);
    assert!(
        h.query_by_label("Metric per task (accuracy)").is_some(),
        "{:?}",
        super::ui::texts_containing(&h, "per task")
    );
    assert!(h.query_by_label("R² per task (regression)").is_some());
}
