//! The trainer: losses fall, runs are reproducible, stop is prompt, divergence is caught,
//! failures are reported, and exported weights reload with identical predictions.

use crate::common;

use std::time::{Duration, Instant};

use mtl_studio::experiment::{CsvSpec, DatasetSpec, ExperimentSpec, OptimizerSpec};
use mtl_studio::export;
use mtl_studio::trainer::{
    RunOptions, RunState, Session, Split, TrainError, TrainerCommand, TrainerEvent, TrainerHandle,
    no_waker,
};

fn losses(session: &Session, split: Split) -> Vec<f64> {
    session
        .evaluate(split)
        .expect("evaluate")
        .iter()
        .map(|t| t.loss)
        .collect()
}

#[test]
fn both_tasks_losses_fall_on_the_default_experiment() {
    let spec = ExperimentSpec::default();
    let mut s = Session::new(&spec).expect("session");
    let before = losses(&s, Split::Val);
    while s.epochs_done() < 3 {
        s.train_step().expect("step");
    }
    let after = losses(&s, Split::Val);
    for (k, (b, a)) in before.iter().zip(&after).enumerate() {
        assert!(
            a < &(b * 0.5),
            "task {k}: validation loss {b} -> {a} should at least halve"
        );
    }
    let metrics: Vec<f64> = s
        .evaluate(Split::Val)
        .expect("eval")
        .iter()
        .map(|t| t.metric)
        .collect();
    assert!(
        metrics.iter().all(|r2| *r2 > 0.5),
        "R² above 0.5 after 3 epochs: {metrics:?}"
    );
}

#[test]
fn same_seed_gives_identical_curves_and_another_seed_does_not() {
    let curve = |seed: u64| {
        let mut spec = common::small_spec(1500, 2);
        spec.seed = seed;
        spec.model
            .shared
            .insert(2, mtl_studio::experiment::LayerSpec::Dropout { p: 0.2 });
        let mut s = Session::new(&spec).expect("session");
        (0..60)
            .map(|_| s.train_step().expect("step").task_losses)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        curve(7),
        curve(7),
        "same seed, same loss curve (dropout included)"
    );
    assert_ne!(curve(7), curve(8), "another seed, another curve");
}

#[test]
fn task_weights_change_the_objective_from_the_next_step() {
    let spec = common::small_spec(1500, 1);
    let mut s = Session::new(&spec).expect("session");
    s.set_task_weights(&[0.0, 1.0]).expect("weights");
    let out = s.train_step().expect("step");
    let y2 = out.task_losses[1].expect("y2 labelled");
    assert!(
        (out.total_loss - y2).abs() < 1e-6,
        "with weights (0, 1) the total is task 2's loss"
    );
}

/// A small experiment whose SGD step (lr 10⁴) makes the losses blow up within a few steps.
fn diverging_spec() -> ExperimentSpec {
    let mut spec = common::small_spec(1500, 50);
    spec.optimizer = OptimizerSpec::Sgd {
        lr: 1e4,
        momentum: 0.9,
        nesterov: false,
        weight_decay: 0.0,
    };
    spec
}

#[test]
fn a_nan_loss_is_caught_with_task_and_step_and_weights_stay_finite() {
    let spec = diverging_spec();
    let mut s = Session::new(&spec).expect("session");
    let mut caught = None;
    for _ in 0..500 {
        match s.train_step() {
            Ok(_) => {}
            Err(TrainError::Diverged { task, step, value }) => {
                caught = Some((task, step, value));
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    let (task, step, value) = caught.expect("an lr of 1e4 must diverge");
    assert!(
        ["y1", "y2"].contains(&task.as_str()),
        "names the task: {task}"
    );
    assert_eq!(
        step,
        s.step_count() + 1,
        "the diverging step is the one after the last good one"
    );
    assert!(!value.is_finite(), "reports the bad value");
}

#[test]
fn the_worker_pauses_on_divergence_and_says_so() {
    let spec = diverging_spec();
    let handle = TrainerHandle::spawn(1, spec, RunOptions::default(), no_waker()).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut diverged = false;
    let mut paused_after = false;
    while Instant::now() < deadline && !paused_after {
        match handle.recv_timeout(Duration::from_millis(200)) {
            Ok(Some(TrainerEvent::Diverged { .. })) => diverged = true,
            Ok(Some(TrainerEvent::State {
                state: RunState::Paused,
                ..
            })) if diverged => paused_after = true,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(
        diverged && paused_after,
        "a Diverged event, then the run pauses"
    );
}

#[test]
fn stop_takes_effect_within_one_step() {
    let spec = common::small_spec(5000, 1000);
    let handle = TrainerHandle::spawn(1, spec, RunOptions::default(), no_waker()).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    while handle.steps_done() < 20 && Instant::now() < deadline {
        // Keep the event channel drained, as the UI does.
        while let Ok(Some(_)) = handle.try_recv() {}
        std::thread::sleep(Duration::from_millis(2));
    }
    let at_stop = handle.steps_done();
    handle.stop();
    let mut stopped = false;
    while !stopped && Instant::now() < deadline {
        if let Ok(Some(TrainerEvent::State {
            state: RunState::Stopped,
            ..
        })) = handle.recv_timeout(Duration::from_millis(100))
        {
            stopped = true;
        }
    }
    assert!(stopped, "a Stopped state arrives");
    let after = handle.steps_done();
    assert!(
        after <= at_stop + 1,
        "at most one step after stop: {at_stop} -> {after}"
    );
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(handle.steps_done(), after, "no steps after Stopped");
}

#[test]
fn pause_step_and_live_changes_work_through_the_thread() {
    let spec = common::small_spec(2000, 1000);
    let handle = TrainerHandle::spawn(
        1,
        spec,
        RunOptions {
            start_paused: true,
            ..RunOptions::default()
        },
        no_waker(),
    )
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let wait_state = |want: RunState| {
        while Instant::now() < deadline {
            if let Ok(Some(TrainerEvent::State { state, .. })) =
                handle.recv_timeout(Duration::from_millis(100))
                && state == want
            {
                return true;
            }
        }
        false
    };
    assert!(wait_state(RunState::Paused), "starts paused");
    assert_eq!(handle.steps_done(), 0, "no steps while paused");
    handle.send(TrainerCommand::SetTaskWeights(vec![0.25, 0.75]));
    handle.send(TrainerCommand::SetLearningRate(0.005));
    handle.send(TrainerCommand::Step(3));
    let mut last = None;
    while Instant::now() < deadline {
        match handle.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(TrainerEvent::Step(m))) => last = Some(m),
            Ok(Some(TrainerEvent::State {
                state: RunState::Paused,
                ..
            })) => break,
            _ => {}
        }
    }
    assert_eq!(handle.steps_done(), 3, "Step(3) runs exactly three steps");
    let m = last.expect("step events");
    assert_eq!(m.task_weights, vec![0.25, 0.75], "new weights used");
    assert!((m.lr - 0.005).abs() < 1e-12, "new learning rate used");
}

#[test]
fn a_failing_run_reports_why_and_the_handle_survives() {
    let spec = ExperimentSpec {
        dataset: DatasetSpec::Csv(CsvSpec {
            path: "/definitely/missing.csv".into(),
            columns: Default::default(),
        }),
        ..ExperimentSpec::default()
    };
    let handle = TrainerHandle::spawn(4, spec, RunOptions::default(), no_waker()).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut message = None;
    while message.is_none() && Instant::now() < deadline {
        if let Ok(Some(TrainerEvent::Failed { run_id, message: m })) =
            handle.recv_timeout(Duration::from_millis(100))
        {
            assert_eq!(run_id, 4, "carries the run id");
            message = Some(m);
        }
    }
    let message = message.expect("a Failed event");
    assert!(
        message.contains("/definitely/missing.csv"),
        "names the file: {message}"
    );
}

#[test]
fn export_then_load_gives_identical_predictions() {
    let spec = common::small_spec(1500, 1);
    let mut s = Session::new(&spec).expect("session");
    for _ in 0..30 {
        s.train_step().expect("step");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.safetensors");
    s.save(&path).expect("save");
    assert!(
        dir.path().join("spec.json").exists(),
        "spec JSON beside the weights"
    );

    let raw: Vec<f32> = (0..16 * 5).map(|i| (i as f32 * 0.37).sin() * 2.0).collect();
    let expected = s.predict(&raw).expect("predict");

    let file = export::load_model(&path).expect("load");
    assert_eq!(file.spec, spec, "the spec travels with the weights");
    let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
    assert!(
        names.contains(&"shared.0.weight") && names.contains(&"heads.y2.2.bias"),
        "readable names: {names:?}"
    );
    let reloaded = Session::from_model_file(&file).expect("rebuild");
    assert_eq!(
        reloaded.predict(&raw).expect("predict"),
        expected,
        "identical predictions after reload"
    );

    let mut fresh = Session::new(&spec).expect("fresh");
    assert_ne!(
        fresh.predict(&raw).expect("predict"),
        expected,
        "an untrained model differs"
    );
    fresh.load_weights(&path).expect("load into session");
    assert_eq!(
        fresh.predict(&raw).expect("predict"),
        expected,
        "identical after load_weights"
    );
}

#[test]
fn loading_weights_of_another_architecture_is_refused() {
    let spec = common::small_spec(1500, 1);
    let s = Session::new(&spec).expect("session");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("model.safetensors");
    s.save(&path).expect("save");
    let mut other = spec.clone();
    other.model.shared[0] = mtl_studio::experiment::LayerSpec::Linear { out: 10 };
    let mut t = Session::new(&other).expect("session");
    let err = t
        .load_weights(&path)
        .expect_err("shape mismatch")
        .to_string();
    assert!(err.contains("shared.0.weight"), "names the tensor: {err}");
}

#[test]
fn a_csv_task_with_missing_labels_trains_on_its_labelled_rows() {
    use mtl_studio::experiment::{HeadSpec, TaskKind, TaskSpec};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data.csv");
    let mut text = String::from("a,b,sum,sign\n");
    for i in 0..400 {
        let (a, b) = ((i % 20) as f32 / 10.0 - 1.0, (i / 20) as f32 / 10.0 - 1.0);
        // Every third row has no `sum` label; `sign` is text.
        let sum = if i % 3 == 0 {
            String::new()
        } else {
            format!("{}", a + b)
        };
        let sign = if a > b { "pos" } else { "neg" };
        text.push_str(&format!("{a},{b},{sum},{sign}\n"));
    }
    std::fs::write(&path, text).expect("write");
    let mut spec = ExperimentSpec {
        dataset: DatasetSpec::Csv(CsvSpec {
            path,
            columns: Default::default(),
        }),
        tasks: vec![
            TaskSpec {
                name: "sum".into(),
                kind: TaskKind::Regression,
                target: "sum".into(),
                loss: None,
                weight: 1.0,
            },
            TaskSpec {
                name: "sign".into(),
                kind: TaskKind::Binary,
                target: "sign".into(),
                loss: None,
                weight: 1.0,
            },
        ],
        ..ExperimentSpec::default()
    };
    spec.model.input = 2;
    spec.model.heads = spec
        .tasks
        .iter()
        .map(|t| HeadSpec {
            task: t.name.clone(),
            layers: vec![],
            links: Vec::new(),
        })
        .collect();
    spec.optimizer = OptimizerSpec::defaults_with_lr(0.01)[1].clone();
    spec.training.batch_size = 32;
    let mut s = Session::new(&spec).expect("session");
    let labelled = s.data().train.labels[0].count();
    assert!(
        labelled < s.data().train.rows,
        "some rows lack the regression label"
    );
    assert_eq!(
        s.data().train.labels[1].count(),
        s.data().train.rows,
        "the class label is complete"
    );
    let before = s.evaluate(Split::Val).expect("eval");
    while s.epochs_done() < 30 {
        let out = s.train_step().expect("step");
        assert!(
            out.task_losses.iter().flatten().all(|l| l.is_finite()),
            "finite losses"
        );
    }
    let after = s.evaluate(Split::Val).expect("eval");
    assert!(
        after[0].loss < before[0].loss * 0.2,
        "regression loss falls: {} -> {}",
        before[0].loss,
        after[0].loss
    );
    assert!(
        after[1].metric > 0.9,
        "the sign is learned: accuracy {}",
        after[1].metric
    );
}

#[test]
fn a_csv_with_categories_and_big_units_round_trips_through_export_and_predict() {
    use mtl_studio::data::csv::read_encoded;
    use mtl_studio::experiment::{HeadSpec, LayerSpec, TaskKind, TaskSpec};
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("grams.csv");
    let mut text = String::from("x,colour,task:mass:reg\n");
    for i in 0..600 {
        let x = (i % 30) as f32 / 10.0 - 1.5;
        let colour = if i % 2 == 0 { "red" } else { "blue" };
        let mass = 4000.0 + 500.0 * x + if colour == "red" { 300.0 } else { 0.0 };
        // Some inputs are missing: imputed, with an indicator feature.
        let x_cell = if i % 50 == 7 {
            String::new()
        } else {
            x.to_string()
        };
        text.push_str(&format!("{x_cell},{colour},{mass}\n"));
    }
    std::fs::write(&path, text).expect("write");
    let mut spec = ExperimentSpec {
        dataset: DatasetSpec::Csv(CsvSpec {
            path,
            columns: Default::default(),
        }),
        tasks: vec![TaskSpec {
            name: "mass".into(),
            kind: TaskKind::Regression,
            target: "mass".into(),
            loss: None,
            weight: 1.0,
        }],
        ..ExperimentSpec::default()
    };
    spec.model.input = 0; // From the file.
    spec.model.shared = vec![LayerSpec::Linear { out: 16 }, LayerSpec::Relu];
    spec.model.heads = vec![HeadSpec {
        task: "mass".into(),
        layers: vec![],
        links: Vec::new(),
    }];
    spec.optimizer = OptimizerSpec::defaults_with_lr(0.01)[1].clone();
    let mut s = Session::new(&spec).expect("session");
    assert_eq!(
        s.data().feature_names,
        ["x", "x_missing", "colour=blue", "colour=red"],
        "numeric with indicator, one-hot levels"
    );
    while s.epochs_done() < 40 {
        s.train_step().expect("step");
    }
    let r2 = s.evaluate(Split::Val).expect("eval")[0].metric;
    assert!(r2 > 0.95, "learned on the standardised scale: R² {r2}");

    let model = dir.path().join("model.safetensors");
    s.save(&model).expect("save");
    let file = export::load_model(&model).expect("load");
    let encoding = file
        .input_encoding
        .clone()
        .expect("the encoding travels with the model");
    let input = dir.path().join("new.csv");
    std::fs::write(&input, "colour,x\nred,1.0\nblue,-1.0\n").expect("write");
    let x = read_encoded(&input, &encoding).expect("encode");
    let preds = Session::from_model_file(&file)
        .expect("rebuild")
        .predict(&x)
        .expect("predict");
    let (red, blue) = (preds[0][0], preds[0][1]);
    assert!(
        (red - 4800.0).abs() < 150.0,
        "prediction in grams: {red} vs 4800"
    );
    assert!(
        (blue - 3500.0).abs() < 150.0,
        "prediction in grams: {blue} vs 3500"
    );
}

fn train_one_epoch(session: &mut Session) {
    let target = session.epochs_done() + 1;
    while session.epochs_done() < target {
        session.train_step().expect("step");
    }
}

#[test]
fn early_stopping_restores_the_best_epochs_weights() {
    let mut spec = common::small_spec(1500, 20);
    spec.training.stop = mtl_studio::experiment::StopSpec {
        patience: 2,
        ..mtl_studio::experiment::StopSpec::default()
    };
    let mut session = Session::new(&spec).expect("session");
    // The rule sees the losses it is given: epoch 1 is the best, then two worse epochs.
    train_one_epoch(&mut session);
    let at_best = losses(&session, Split::Val);
    assert!(
        session.check_stop(&[0.5, 0.5]).expect("check").is_none(),
        "epoch 1: the best so far"
    );
    train_one_epoch(&mut session);
    assert!(
        session.check_stop(&[0.6, 0.6]).expect("check").is_none(),
        "one epoch without improvement"
    );
    train_one_epoch(&mut session);
    let before_restore = losses(&session, Split::Val);
    assert_ne!(before_restore, at_best, "training changed the model");
    let stopped = session
        .check_stop(&[0.7, 0.7])
        .expect("check")
        .expect("patience 2 is used up after epoch 3");
    assert_eq!((stopped.epoch, stopped.best_epoch), (3, 1));
    assert!(stopped.restored && stopped.message.contains("Restored the weights of epoch 1"));
    assert_eq!(
        losses(&session, Split::Val),
        at_best,
        "the best epoch's weights are back"
    );

    // A target loss stops at once, and without restoring keeps the last weights.
    let mut spec = common::small_spec(1500, 20);
    spec.training.stop = mtl_studio::experiment::StopSpec {
        target_loss: Some(10.0),
        restore_best: false,
        ..mtl_studio::experiment::StopSpec::default()
    };
    let mut session = Session::new(&spec).expect("session");
    train_one_epoch(&mut session);
    let real = losses(&session, Split::Val);
    let stopped = session
        .check_stop(&real)
        .expect("check")
        .expect("below the target");
    assert!(!stopped.restored && stopped.message.contains("reached the target"));
}

#[test]
fn a_stop_monitor_must_name_a_task() {
    let mut spec = common::small_spec(1500, 20);
    spec.training.stop.patience = 3;
    spec.training.stop.monitor = "nope".to_owned();
    let problems = spec.validate();
    assert!(
        problems.iter().any(|p| p.path == "training.stop.monitor"),
        "{problems:?}"
    );
}

/// The default two tasks with y2 keeping a tenth of its training labels.
fn scarce_y2(sampling: mtl_studio::experiment::Sampling) -> ExperimentSpec {
    let mut spec = common::small_spec(3000, 4);
    spec.training.keep_labels.insert("y2".to_owned(), 0.1);
    spec.training.sampling = sampling;
    spec
}

/// Steps `n` batches; returns how often each task was sampled.
fn sampled_counts(session: &mut Session, n: usize) -> Vec<usize> {
    let mut counts = vec![0; 2];
    for _ in 0..n {
        if let Some(k) = session.train_step().expect("step").sampled_task {
            counts[k] += 1;
        }
    }
    counts
}

#[test]
fn sampling_schedules_decide_which_task_learns_first() {
    use mtl_studio::experiment::Sampling;
    let balance = Session::new(&scarce_y2(Sampling::Joint))
        .expect("session")
        .data()
        .balance();
    let (n1, n2) = (balance[0].train.labelled, balance[1].train.labelled);
    assert_eq!(
        n2,
        (n1 as f64 * 0.1).round() as usize,
        "y2 keeps a tenth: {n1} vs {n2}"
    );

    let mut drop_y2 = Vec::new();
    for sampling in [Sampling::Proportional, Sampling::Uniform] {
        let mut s = Session::new(&scarce_y2(sampling)).expect("session");
        let before = losses(&s, Split::Val);
        let counts = sampled_counts(&mut s, 60);
        let after = losses(&s, Split::Val);
        let share_y2 = counts[1] as f64 / 60.0;
        match sampling {
            Sampling::Proportional => assert!(share_y2 < 0.25, "about 1/11: {counts:?}"),
            _ => assert!((0.3..0.7).contains(&share_y2), "about half: {counts:?}"),
        }
        drop_y2.push(before[1] - after[1]);
    }
    assert!(
        drop_y2[1] > drop_y2[0],
        "uniform sampling teaches the scarce task faster: {drop_y2:?}"
    );

    // Annealed: proportional at first, uniform by the end.
    let mut s = Session::new(&scarce_y2(Sampling::Annealed)).expect("session");
    let per_epoch = s.steps_per_epoch() as usize;
    let first = sampled_counts(&mut s, per_epoch);
    let _ = sampled_counts(&mut s, 2 * per_epoch);
    let last = sampled_counts(&mut s, per_epoch);
    assert!(
        last[1] > first[1],
        "y2 is drawn more often late: {first:?} then {last:?}"
    );

    // Joint batches draw no task.
    let mut s = Session::new(&scarce_y2(Sampling::Joint)).expect("session");
    assert_eq!(sampled_counts(&mut s, 5), [0, 0]);
}

#[test]
fn sampling_probabilities_follow_their_formulas() {
    use mtl_studio::experiment::Sampling;
    let n = [1000, 100];
    let p = Sampling::Proportional.probabilities(&n, 0.3).expect("p");
    assert!((p[0] - 1000.0 / 1100.0).abs() < 1e-12);
    let u = Sampling::Uniform.probabilities(&n, 0.3).expect("u");
    assert_eq!(u, [0.5, 0.5]);
    let a0 = Sampling::Annealed.probabilities(&n, 0.0).expect("a0");
    let a1 = Sampling::Annealed.probabilities(&n, 1.0).expect("a1");
    assert!((a0[0] - p[0]).abs() < 1e-12 && (a1[0] - 0.5).abs() < 1e-12);
    let half = Sampling::Annealed.probabilities(&n, 0.5).expect("half");
    assert!(
        (half[0] - 1000f64.sqrt() / (1000f64.sqrt() + 10.0)).abs() < 1e-12,
        "α = 1/2"
    );
    assert!(Sampling::Joint.probabilities(&n, 0.5).is_none());
}

#[test]
fn measuring_affinity_leaves_the_model_as_it_was() {
    let spec = common::small_spec(1500, 2);
    let mut s = Session::new(&spec).expect("session");
    s.train_step().expect("step");
    let before = losses(&s, Split::Val);
    let (tag, cosine) = s.measure_affinity(0.01).expect("affinity");
    assert_eq!(losses(&s, Split::Val), before, "the lookahead is undone");
    assert!(tag.iter().all(|v| v.is_finite()) && tag.len() == 4);
    assert!((cosine[0] - 1.0).abs() < 1e-9 && (cosine[3] - 1.0).abs() < 1e-9);
    assert!(
        tag[0] > 0.0 && tag[3] > 0.0,
        "a step on a task helps that task: {tag:?}"
    );
}

#[test]
fn loss_normalisation_by_batch_rows_shrinks_a_scarce_tasks_loss() {
    use mtl_studio::experiment::{LossNormalisation, Sampling};
    let first_losses = |norm| {
        let mut spec = scarce_y2(Sampling::Joint);
        spec.training.loss_normalisation = norm;
        let mut s = Session::new(&spec).expect("session");
        s.train_step().expect("step").task_losses
    };
    let labelled = first_losses(LossNormalisation::Labelled);
    let batch = first_losses(LossNormalisation::Batch);
    let (l1, b1) = (labelled[0].expect("y1"), batch[0].expect("y1"));
    assert!(
        (l1 - b1).abs() < 1e-6,
        "y1 is labelled on every row: {l1} vs {b1}"
    );
    let (l2, b2) = (labelled[1].expect("y2"), batch[1].expect("y2"));
    assert!(
        b2 > 0.0 && b2 < 0.5 * l2,
        "y2 keeps a tenth of its labels: {l2} vs {b2}"
    );
}

#[test]
fn settings_that_name_a_removed_task_follow_the_task_list() {
    let mut spec = common::small_spec(1500, 2);
    spec.training.keep_labels.insert("y1".to_owned(), 0.1);
    spec.training.stop.monitor = "y1".to_owned();
    spec.training.stop.patience = 3;
    assert!(spec.validate().is_empty());
    spec.tasks.retain(|t| t.name == "y2");
    spec.sync_heads();
    assert!(spec.training.keep_labels.is_empty());
    assert_eq!(spec.training.stop.monitor, "mean");
    assert!(
        spec.validate().is_empty(),
        "still trainable: {:?}",
        spec.validate()
    );
}

#[test]
fn the_decision_boundary_grid_matches_the_models_predictions_and_follows_training() {
    let spec =
        ExperimentSpec::load(std::path::Path::new("examples/playground.toml")).expect("spec");
    let mut s = Session::new(&spec).expect("session");
    let b = s.boundary(9, 12).expect("boundary").expect("two inputs");
    assert_eq!((b.run_id, b.n, b.values.len()), (9, 12, 2));
    assert!(b.values.iter().all(|v| v.len() == 144));
    // Cell (row, col) is the prediction at (x lo + col·dx, y lo + row·dy).
    let (dx, dy) = ((b.x[1] - b.x[0]) / 11.0, (b.y[1] - b.y[0]) / 11.0);
    for (row, col) in [(0, 0), (0, 11), (11, 0), (5, 7)] {
        let p = s
            .predict(&[b.x[0] + col as f32 * dx, b.y[0] + row as f32 * dy])
            .expect("predict");
        for (task, pred) in p.iter().enumerate() {
            let v = b.values[task][row * 12 + col];
            assert!(
                (v - pred[0]).abs() < 1e-5,
                "task {task} cell ({row}, {col})"
            );
            let c = b.confidence[task][row * 12 + col];
            assert!((c - v.max(1.0 - v)).abs() < 1e-6);
        }
    }
    // The range covers the data ([-6, 6]² plus a margin).
    assert!(b.x[0] < -5.5 && b.x[1] > 5.5 && b.y[0] < -5.5 && b.y[1] > 5.5);
    // After training, the circle task's grid says "inside" at the centre and "outside" at a
    // corner.
    while s.epochs_done() < 30 {
        s.train_step().expect("step");
    }
    let b = s.boundary(9, 21).expect("boundary").expect("two inputs");
    assert!(b.values[0][10 * 21 + 10] > 0.8, "centre of the circle");
    assert!(b.values[0][0] < 0.2, "corner");
    // Data with more than two inputs has no boundary.
    let other = Session::new(&common::small_spec(500, 1)).expect("session");
    assert!(other.boundary(1, 12).expect("ok").is_none());
}

#[test]
fn a_running_trainer_keeps_the_latest_boundary_snapshot() {
    let mut spec =
        ExperimentSpec::load(std::path::Path::new("examples/playground.toml")).expect("spec");
    spec.training.epochs = 40;
    let handle = TrainerHandle::spawn(4, spec, RunOptions::default(), no_waker()).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut finished = false;
    while !finished {
        assert!(Instant::now() < deadline, "the run did not finish");
        if let Ok(Some(TrainerEvent::State { state, .. })) =
            handle.recv_timeout(Duration::from_millis(50))
        {
            finished = state == RunState::Finished;
        }
    }
    let b = handle.boundary().expect("a snapshot");
    let weights = handle.weights().expect("a weights snapshot");
    let first = weights
        .iter()
        .find(|t| t.name == "shared.0.weight")
        .expect("the first trunk layer");
    assert_eq!(first.shape, vec![8, 2]);
    assert!(weights.iter().any(|t| t.name == "heads.xor.0.weight"));
    assert_eq!(b.run_id, 4);
    assert!(b.step > 0, "taken during training, not only at the start");
    assert_eq!(b.values.len(), 2);
}

/// Widens every linear layer of the trunk to 256 units, so that a shard of 64 rows is
/// worth its own thread (a shard needs enough rows × parameters).
fn widen(spec: &mut ExperimentSpec) {
    for layer in &mut spec.model.shared {
        if let mtl_studio::experiment::LayerSpec::Linear { out } = layer {
            *out = 256;
        }
    }
}

/// Per step: the task losses; per step: the shards; per task: predictions.
type ThreadedRun = (Vec<Vec<Option<f32>>>, Vec<usize>, Vec<Vec<f32>>);

/// Losses of `steps` steps and the validation predictions after them, on `threads` threads.
fn run_on_threads(spec: &ExperimentSpec, threads: usize, steps: usize) -> ThreadedRun {
    let mut s = Session::new(spec).expect("session");
    s.set_threads(threads);
    s.set_diagnostics_every(0);
    let outcomes: Vec<_> = (0..steps).map(|_| s.train_step().expect("step")).collect();
    let x: Vec<f32> = s.data().val.x[..64 * s.data().val.features].to_vec();
    let raw: Vec<f32> = x
        .chunks(s.data().val.features)
        .flat_map(|row| {
            row.iter()
                .zip(&s.data().input_std)
                .zip(&s.data().input_mean)
                .map(|((v, sd), m)| v * sd + m)
        })
        .collect();
    let predictions = s.predict(&raw).expect("predict");
    (
        outcomes.iter().map(|o| o.task_losses.clone()).collect(),
        outcomes.iter().map(|o| o.shards).collect(),
        predictions,
    )
}

/// The losses and predictions of a one-pass run and a sharded run agree within relative
/// tolerances (losses, predictions).
fn assert_close_runs(
    what: &str,
    (one, one_pred): (&[Vec<Option<f32>>], &[Vec<f32>]),
    (two, two_pred): (&[Vec<Option<f32>>], &[Vec<f32>]),
    (loss_tol, pred_tol): (f32, f32),
) {
    for (a, b) in one.iter().flatten().zip(two.iter().flatten()) {
        let (a, b) = (a.expect("label"), b.expect("label"));
        assert!(
            (a - b).abs() <= loss_tol * a.abs().max(1.0),
            "{what}: loss {a} one pass, {b} in shards"
        );
    }
    for (a, b) in one_pred.iter().flatten().zip(two_pred.iter().flatten()) {
        assert!(
            (a - b).abs() <= pred_tol * a.abs().max(1.0),
            "{what}: prediction {a} one pass, {b} in shards"
        );
    }
}

#[test]
fn a_batch_cut_into_shards_takes_the_same_step_as_one_pass() {
    use mtl_studio::experiment::{LossNormalisation, Sampling, WeightingSpec};
    // Scarce labels (shards get different labelled counts), both normalisations, a loss-only
    // strategy that learns (uncertainty weighting), an odd batch size.
    // Per-task gradients too: full (MGDA, PCGrad) and representation gradients (MGDA,
    // GradDrop, which reads the representation's signs).
    for (norm, strategy, rep_grad) in [
        (LossNormalisation::Labelled, "ew", false),
        (LossNormalisation::Batch, "uw", false),
        (LossNormalisation::Labelled, "mgda", false),
        (LossNormalisation::Batch, "pcgrad", false),
        (LossNormalisation::Labelled, "mgda", true),
        (LossNormalisation::Labelled, "graddrop", true),
    ] {
        let mut spec = scarce_y2(Sampling::Joint);
        widen(&mut spec);
        spec.training.loss_normalisation = norm;
        spec.training.batch_size = 301;
        spec.weighting = WeightingSpec::of(strategy);
        spec.weighting.rep_grad = rep_grad;
        assert!(
            spec.validate().is_empty(),
            "{strategy}: {:?}",
            spec.validate()
        );
        let (one, one_shards, one_pred) = run_on_threads(&spec, 1, 6);
        let (two, two_shards, two_pred) = run_on_threads(&spec, 2, 6);
        assert!(one_shards.iter().all(|s| *s == 1), "one thread, one pass");
        assert!(
            two_shards.iter().all(|s| *s == 2),
            "two threads cut a 301-row batch in two: {two_shards:?}"
        );
        let what = format!("{norm:?}/{strategy}");
        assert_close_runs(&what, (&one, &one_pred), (&two, &two_pred), (1e-5, 1e-4));
    }
}

#[test]
fn sharded_runs_are_reproducible_and_small_batches_stay_whole() {
    let mut spec = common::small_spec(1500, 2);
    widen(&mut spec);
    spec.model
        .shared
        .insert(2, mtl_studio::experiment::LayerSpec::Dropout { p: 0.2 });
    spec.training.batch_size = 256;
    let (a, shards, _) = run_on_threads(&spec, 2, 8);
    let (b, _, _) = run_on_threads(&spec, 2, 8);
    assert!(shards.contains(&2), "sharded: {shards:?}");
    assert_eq!(a, b, "same spec and threads, same curve (dropout included)");
    // A batch too small to be worth two shards trains in one pass, and so does a small
    // model's batch.
    spec.training.batch_size = 64;
    let (_, shards, _) = run_on_threads(&spec, 2, 3);
    assert!(
        shards.iter().all(|s| *s == 1),
        "64 rows stay whole: {shards:?}"
    );
    spec = common::small_spec(1500, 2);
    spec.training.batch_size = 256;
    let (_, shards, _) = run_on_threads(&spec, 2, 3);
    assert!(
        shards.iter().all(|s| *s == 1),
        "a small model's batch stays whole: {shards:?}"
    );
}

#[test]
fn evaluation_on_several_threads_matches_one_thread() {
    let mut spec = common::small_spec(3000, 1);
    widen(&mut spec);
    let mut s = Session::new(&spec).expect("session");
    s.set_diagnostics_every(0);
    for _ in 0..5 {
        s.train_step().expect("step");
    }
    for split in [Split::Train, Split::Val] {
        let one = s.evaluate(split).expect("one thread");
        s.set_threads(3);
        let three = s.evaluate(split).expect("three threads");
        s.set_threads(1);
        for (a, b) in one.iter().zip(&three) {
            assert!(
                (a.loss - b.loss).abs() <= 1e-6 * a.loss.abs().max(1.0),
                "{split:?} loss {} vs {}",
                a.loss,
                b.loss
            );
            for (x, y) in a.all.iter().zip(&b.all) {
                assert!(
                    (x - y).abs() <= 1e-6 * x.abs().max(1.0),
                    "{split:?} metric {x} vs {y}"
                );
            }
        }
    }
}

#[test]
fn a_convolutional_model_takes_the_same_step_in_shards() {
    use mtl_studio::experiment::WeightingSpec;
    // Classification (cross-entropy), regression and a per-pixel mask (BCE) on a conv trunk
    // whose output is an image; with representation gradients too.
    for (strategy, rep_grad) in [("ew", false), ("mgda", true)] {
        let mut spec = ExperimentSpec::shapes_example();
        if let DatasetSpec::Shapes(sh) = &mut spec.dataset {
            sh.samples = 400;
        }
        spec.training.batch_size = 64;
        spec.weighting = WeightingSpec::of(strategy);
        spec.weighting.rep_grad = rep_grad;
        assert!(spec.validate().is_empty(), "{:?}", spec.validate());
        let (one, _, one_pred) = run_on_threads(&spec, 1, 2);
        let (two, shards, two_pred) = run_on_threads(&spec, 2, 2);
        assert!(shards.iter().all(|s| *s == 2), "sharded: {shards:?}");
        assert_close_runs(strategy, (&one, &one_pred), (&two, &two_pred), (1e-4, 1e-3));
    }
}

#[test]
fn sweeps_honour_the_stop_rules() {
    let mut spec = common::small_spec(1200, 30);
    // A target every run reaches in its first epochs.
    spec.training.stop.target_loss = Some(10.0);
    let result = mtl_studio::sweep::train_once(&spec, &std::sync::atomic::AtomicBool::new(false));
    assert!(result.error.is_none(), "{:?}", result.error);
    assert_eq!(
        result.curves.len(),
        2,
        "the start and the first epoch, where the target loss is reached: {:?}",
        result.curves
    );
    spec.training.stop.target_loss = None;
    spec.training.epochs = 3;
    let result = mtl_studio::sweep::train_once(&spec, &std::sync::atomic::AtomicBool::new(false));
    assert_eq!(result.curves.len(), 4, "without a rule, every epoch");
}

#[test]
fn the_run_loop_gives_the_same_rows_to_every_observer_and_ends_on_plan() {
    use mtl_studio::trainer::{Driver, End, Recorder, RunEvent, RunPlan};
    let spec = common::small_spec(800, 2);
    let mut driver = Driver::new(Session::new(&spec).expect("session"), RunPlan::of(&spec));
    let mut recorder = Recorder::default();
    let mut epochs_seen = Vec::new();
    let mut steps = 0u64;
    let mut follow = |s: &Session, e: &RunEvent<'_>| match e {
        RunEvent::EpochEnd { monitored } => {
            assert_eq!(monitored.len(), 2, "one loss per task");
            epochs_seen.push(s.epochs_done());
        }
        RunEvent::Stepped { .. } => steps += 1,
        _ => {}
    };
    let end = driver
        .run(
            &mut (&mut recorder, &mut follow),
            &std::sync::atomic::AtomicBool::new(false),
        )
        .expect("run");
    assert_eq!(end, End::Planned, "ends when the planned epochs are done");
    assert_eq!(epochs_seen, vec![1, 2], "an epoch end per epoch");
    assert_eq!(steps, driver.session().steps_per_epoch() * 2, "every step");
    let evals: Vec<usize> = recorder
        .rows
        .iter()
        .filter(|r| r.metric == "r2" && r.split == "val" && r.task == "y1")
        .map(|r| r.epoch)
        .collect();
    assert_eq!(
        evals,
        vec![0, 1, 2],
        "an evaluation row at the start and per epoch"
    );
}

/// Drains the handle's events (as the UI does) until `done` holds or a minute has passed.
fn wait_for(handle: &TrainerHandle, done: impl Fn(&TrainerHandle) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(handle) && Instant::now() < deadline {
        while let Ok(Some(_)) = handle.try_recv() {}
        std::thread::sleep(Duration::from_millis(5));
    }
    done(handle)
}

#[test]
fn a_paced_run_waits_between_steps_and_a_new_pace_applies_live() {
    use mtl_studio::trainer::Pace;
    let spec = common::small_spec(5000, 1000);
    let options = RunOptions {
        pace: Pace::StepsPerSec(20.0),
        ..RunOptions::default()
    };
    let started = Instant::now();
    let handle = TrainerHandle::spawn(1, spec, options, no_waker()).expect("spawn");
    assert!(wait_for(&handle, |h| h.steps_done() >= 11), "steps go on");
    // Ten intervals of 50 ms lie between the first step and the eleventh: a slow machine only
    // makes this longer.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "paced steps start at most 20 a second: 11 steps in {:?}",
        started.elapsed()
    );
    // The slowest pace: in the next second at most three more steps start.
    assert!(handle.send(TrainerCommand::SetPace(Pace::StepsPerSec(Pace::SLOWEST))));
    std::thread::sleep(Duration::from_millis(100));
    let before = handle.steps_done();
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(1) {
        while let Ok(Some(_)) = handle.try_recv() {}
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        handle.steps_done() <= before + 3,
        "two steps a second: {before} -> {}",
        handle.steps_done()
    );
    // Full speed: hundreds of steps, which at two a second would take minutes.
    assert!(handle.send(TrainerCommand::SetPace(Pace::Full)));
    let target = handle.steps_done() + 300;
    assert!(
        wait_for(&handle, |h| h.steps_done() >= target),
        "full speed applies live"
    );
}

/// Nash-MTL where no finite weights exist: with 1% of y2's labels, most batches have no y2
/// label, so y2's shared gradient is zero and zero lies in the gradients' hull. The run
/// goes on (issue 19): those steps leave the trunk unchanged, the heads still learn, the
/// status bar gets the notice once, and `metrics.csv` counts the steps per epoch.
#[test]
fn nash_mtl_without_finite_weights_makes_zero_updates_and_says_so() {
    use mtl_studio::experiment::{Sampling, WeightingSpec};
    let mut spec = scarce_y2(Sampling::Proportional);
    spec.training.keep_labels.insert("y2".to_owned(), 0.01);
    spec.weighting = WeightingSpec::of("nash_mtl");
    spec.training.epochs = 2;
    let mut session = Session::new(&spec).expect("session");
    let before = losses(&session, Split::Val);
    let mut stationary = 0;
    while session.epochs_done() < 2 {
        let out = session.train_step().expect("never refuses a step");
        if let Some(notice) = &out.notice {
            assert!(notice.contains("Pareto-stationary"), "{notice}");
            assert!(
                notice.contains("task 2"),
                "names the zero gradient: {notice}"
            );
            stationary += 1;
        }
    }
    assert!(stationary > 0, "y1-only steps are stationary");
    let after = losses(&session, Split::Val);
    assert!(
        after[0] < before[0],
        "y1 still learns: {before:?} -> {after:?}"
    );

    let handle = TrainerHandle::spawn(5, spec, RunOptions::default(), no_waker()).expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut warnings, mut counted, mut finished) = (Vec::new(), 0.0, false);
    while !finished {
        assert!(Instant::now() < deadline, "the run did not finish");
        match handle.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(TrainerEvent::Warning { message, .. })) => warnings.push(message),
            Ok(Some(TrainerEvent::Rows { rows, .. })) => {
                counted += rows
                    .iter()
                    .filter(|r| r.metric == "stationary_steps")
                    .map(|r| r.value)
                    .sum::<f64>();
            }
            Ok(Some(TrainerEvent::Failed { message, .. })) => panic!("failed: {message}"),
            Ok(Some(TrainerEvent::State { state, .. })) => {
                finished = state == RunState::Finished;
            }
            _ => {}
        }
    }
    assert_eq!(
        warnings.len(),
        1,
        "one notice, not one per step: {warnings:?}"
    );
    assert!(warnings[0].contains("Pareto-stationary"));
    assert_eq!(counted, stationary as f64, "metrics count every such step");
}
