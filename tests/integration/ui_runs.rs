//! The window and its run: the app's files equal the command line's, baselines started from
//! any tab score the run, and (with a scripted trainer) the window shows what the trainer
//! says and sends what its buttons mean.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;

use super::common;
use super::ui::{harness, step_labels, step_until, texts_containing};
use mtl_studio::app::MtlApp;
use mtl_studio::ui::history::Phase;

#[test]
fn the_apps_exported_metrics_equal_what_the_cli_writes_for_the_same_run() {
    let mut spec = common::small_spec(1200, 3);
    // MMoE with PCGrad: balance, evaluation, weight, gradient-cosine and gate rows.
    spec.model.architecture = mtl_studio::experiment::Architecture::Mmoe { experts: 3 };
    spec.weighting = mtl_studio::experiment::WeightingSpec::of("pcgrad");
    assert!(spec.validate().is_empty(), "{:?}", spec.validate());
    let mut h = harness();
    h.state_mut().state.spec = spec.clone();
    h.run_steps(1);
    h.get_by_label("▶ Train").click();
    step_until(&mut h, "the run finishes", |app| {
        app.history.phase == Phase::Run(mtl_studio::trainer::RunState::Finished)
    });
    let app_dir = tempfile::tempdir().expect("tempdir");
    h.state_mut().export_report(app_dir.path());
    let status = h.state().status.clone().expect("a status");
    assert!(!status.0, "{}", status.1);
    let cli_dir = tempfile::tempdir().expect("tempdir");
    mtl_studio::headless::train_to_dir(&spec, cli_dir.path(), &mut ()).expect("train");
    let read = |d: &std::path::Path| std::fs::read_to_string(d.join("metrics.csv")).expect("csv");
    let (app, cli) = (read(app_dir.path()), read(cli_dir.path()));
    for metric in ["labelled", "weight", "grad_cosine", "gate", "r2"] {
        assert!(
            cli.contains(&format!(",{metric},")),
            "the CLI writes {metric} rows:\n{cli}"
        );
    }
    assert_eq!(app, cli, "the app's metrics.csv equals the CLI's");
}

#[test]
fn baselines_started_from_the_tradeoffs_tab_score_the_current_run() {
    let mut h = harness();
    h.state_mut().state.spec.training.epochs = 2;
    h.run_steps(1);
    h.get_by_label("▶ Train").click();
    step_until(&mut h, "the run finishes", |app| {
        app.history.phase == Phase::Run(mtl_studio::trainer::RunState::Finished)
    });
    h.get_by_label("Trade-offs").click();
    h.run_steps(1);
    h.get_by_label("Train single-task baselines").click();
    h.run_steps(1);
    let b = h.state().tradeoff.baselines.as_ref().expect("baselines");
    assert_eq!(b.epochs, 2, "the run's epochs, not another number");
    step_until(&mut h, "the run is scored against its baselines", |app| {
        app.tradeoff.delta_for(&app.history).is_some()
    });
}

/// The window with a scripted trainer: the test writes the events and reads the commands.
fn scripted_run(
    run_id: u64,
) -> (
    Harness<'static, MtlApp>,
    mtl_studio::trainer::ScriptedTrainer,
) {
    use mtl_studio::trainer::{Session, TrainerEvent, TrainerHandle};
    let mut h = harness();
    h.run_steps(1);
    let info = Session::new(&h.state().state.spec).expect("session").info();
    let (handle, trainer) = TrainerHandle::scripted(run_id);
    h.state_mut().attach(handle);
    trainer
        .events
        .send(TrainerEvent::Started {
            run_id,
            info: Box::new(info),
        })
        .expect("send");
    (h, trainer)
}

#[test]
fn the_window_shows_what_the_trainer_reports_and_sends_what_its_buttons_say() {
    use mtl_studio::trainer::{RunState, StepMetrics, TrainerCommand, TrainerEvent};
    let (mut h, trainer) = scripted_run(7);
    let send = |e: TrainerEvent| trainer.events.send(e).expect("send");
    send(TrainerEvent::State {
        run_id: 7,
        state: RunState::Running,
    });
    send(TrainerEvent::Step(Box::new(StepMetrics {
        run_id: 7,
        step: 4321,
        epoch: 2.5,
        task_losses: vec![0.5, 0.25],
        total_loss: 0.75,
        task_weights: vec![1.0, 1.0],
        lr: 1e-3,
        samples_per_sec: 12_345.0,
        elapsed_secs: 3.0,
        grad_norms: None,
        grad_cosines: None,
        arch: None,
        affinity: None,
        shards: 1,
    })));
    h.run_steps(2);
    assert!(
        step_labels(&h).iter().all(|l| l == "step 4321") && !step_labels(&h).is_empty(),
        "the status bar: {:?}",
        step_labels(&h)
    );
    assert!(
        !texts_containing(&h, "12,345 samples/s").is_empty(),
        "the speed, with its digits grouped"
    );
    assert_eq!(
        h.state().history.task_loss[1].len(),
        1,
        "one point per task"
    );
    // A click on Pause is a command to the trainer, nothing else.
    h.get_by_label("⏸ Pause").click();
    h.run_steps(1);
    assert_eq!(
        trainer.commands.try_recv().ok(),
        Some(TrainerCommand::Pause),
        "Pause is sent"
    );
    // Until the trainer says so, the run is still running.
    assert!(h.query_by_label("⏸ Pause").is_some(), "still running");
    send(TrainerEvent::State {
        run_id: 7,
        state: RunState::Paused,
    });
    send(TrainerEvent::Diverged {
        run_id: 7,
        step: 4322,
        task: "y2".to_owned(),
        value: f32::NAN,
    });
    h.run_steps(2);
    assert!(h.query_by_label("▶ Resume").is_some(), "paused now");
    assert!(
        !texts_containing(&h, "Task 'y2' diverged at step 4322").is_empty(),
        "the divergence is explained"
    );
    // An event of another run is dropped.
    send(TrainerEvent::State {
        run_id: 6,
        state: RunState::Running,
    });
    h.run_steps(2);
    assert!(
        h.query_by_label("▶ Resume").is_some(),
        "stale events change nothing"
    );
    h.get_by_label("⏹ Stop").click();
    h.run_steps(1);
    assert!(trainer.stop_requested(), "Stop raises the stop flag");
}

#[test]
fn live_settings_reach_the_running_trainer_and_the_rest_asks_for_a_restart() {
    use mtl_studio::trainer::{RunState, TrainerCommand, TrainerEvent};
    let (mut h, trainer) = scripted_run(3);
    trainer
        .events
        .send(TrainerEvent::State {
            run_id: 3,
            state: RunState::Running,
        })
        .expect("send");
    h.run_steps(2);
    assert!(
        trainer.commands.try_recv().is_err(),
        "nothing edited, nothing sent"
    );
    // What the weight slider does: the task's weight, and manual weighting.
    {
        let spec = &mut h.state_mut().state.spec;
        spec.tasks[1].weight = 0.5;
        spec.weighting = mtl_studio::experiment::WeightingSpec::of("manual");
        *spec.optimizer.lr_mut() = 0.02;
    }
    h.run_steps(2);
    let sent: Vec<TrainerCommand> = trainer.commands.try_iter().collect();
    assert_eq!(
        sent,
        vec![
            TrainerCommand::SetTaskWeights(vec![1.0, 0.5]),
            TrainerCommand::SetLearningRate(0.02),
        ],
        "each live setting once"
    );
    h.run_steps(2);
    assert!(
        trainer.commands.try_recv().is_err(),
        "sent once, not every frame"
    );
    assert!(
        h.query_by_label("Settings changed: Restart to apply")
            .is_none(),
        "live settings need no restart"
    );
    h.state_mut().state.spec.training.epochs += 1;
    h.run_steps(2);
    assert!(trainer.commands.try_recv().is_err(), "epochs are not live");
    assert!(
        h.query_by_label("Settings changed: Restart to apply")
            .is_some(),
        "the top bar asks for a restart"
    );
}

/// A FIFO as the data file (nobody ever writes to it) is refused at once: the window goes on
/// drawing and says why, instead of waiting for a writer forever.
#[cfg(unix)]
#[test]
fn a_fifo_as_the_data_file_is_refused_and_the_window_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("slow.csv");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success(), "mkfifo");
    let mut h = harness();
    h.run_steps(1);
    {
        let spec = &mut h.state_mut().state.spec;
        spec.dataset = mtl_studio::experiment::DatasetSpec::Csv(mtl_studio::experiment::CsvSpec {
            path: fifo.clone(),
            columns: std::collections::BTreeMap::new(),
        });
    }
    // The next frame starts the reader off the window's thread; it gives up at once.
    h.run_steps(1);
    step_until(&mut h, "the reader gives up", |app| !app.summary_loading());
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "FIFO").is_empty(),
        "the window names the problem: {:?}",
        texts_containing(&h, "slow.csv")
    );
}

#[test]
fn the_pace_control_sets_the_trainers_pace_live() {
    use mtl_studio::trainer::{Pace, RunState, TrainerCommand, TrainerEvent};
    let (mut h, trainer) = scripted_run(5);
    trainer
        .events
        .send(TrainerEvent::State {
            run_id: 5,
            state: RunState::Running,
        })
        .expect("send");
    h.run_steps(2);
    assert_eq!(
        h.state().state.pace,
        Pace::Full,
        "the tests' harness trains at full speed"
    );
    h.get_by_label("⏩ Full speed").click();
    h.run_steps(2);
    let sent: Vec<TrainerCommand> = trainer.commands.try_iter().collect();
    assert!(
        matches!(sent.as_slice(), [TrainerCommand::SetPace(Pace::StepsPerSec(r))] if *r > 0.0),
        "leaving full speed sends a pace: {sent:?}"
    );
    h.get_by_label("⏩ Full speed").click();
    h.run_steps(2);
    assert_eq!(
        trainer.commands.try_iter().collect::<Vec<_>>(),
        vec![TrainerCommand::SetPace(Pace::Full)],
        "and full speed again"
    );
    assert_eq!(
        mtl_studio::app::AppState::default().pace,
        Pace::TEACHING,
        "a new user starts at the teaching pace"
    );
}

#[test]
fn a_spec_that_does_not_load_is_shown_over_the_experiment_the_window_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("broken.toml");
    let text = mtl_studio::experiment::DEFAULT_SPEC_TOML
        .replace("epochs = 40", "epochs = 0")
        .replace("batch_size = 64", "batch_size = 0");
    std::fs::write(&path, text).expect("write");
    let err = mtl_studio::experiment::ExperimentSpec::load(&path).expect_err("broken");
    let (title, lines) = mtl_studio::app::spec_problem(&path, &err);
    assert!(lines.len() >= 2, "one line per problem: {lines:?}");
    let mut h = harness();
    let before = h.state().state.spec.clone();
    h.state_mut().show_problem(&title, lines);
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("Cannot open").is_some(),
        "the window names the file"
    );
    assert!(
        !texts_containing(&h, "training.epochs").is_empty()
            && !texts_containing(&h, "training.batch_size").is_empty(),
        "every problem with its place"
    );
    assert_eq!(h.state().state.spec, before, "the experiment is kept");
    h.get_by_label("OK").click();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("Cannot open").is_none(),
        "dismissed"
    );
}

#[test]
fn the_cosine_chart_shows_the_mean_of_the_last_epoch_and_each_pair_over_time() {
    use mtl_studio::trainer::{StepMetrics, TrainerEvent};
    let (mut h, trainer) = scripted_run(9);
    h.run_steps(1);
    let per_epoch = h
        .state()
        .history
        .info
        .as_ref()
        .map_or(0, |i| i.steps_per_epoch);
    assert!(per_epoch >= 2, "the small spec has several steps per epoch");
    let step = |step: u64, cos: f64, n: usize| {
        let off = cos * n as f64;
        TrainerEvent::Step(Box::new(StepMetrics {
            run_id: 9,
            step,
            epoch: step as f64 / per_epoch as f64,
            task_losses: vec![0.5, 0.25],
            total_loss: 0.75,
            task_weights: vec![1.0, 1.0],
            lr: 1e-3,
            samples_per_sec: 100.0,
            elapsed_secs: 1.0,
            grad_norms: Some(vec![1.0, 1.0]),
            // Two steps summed per event: the diagonal is 1, the pair `cos`.
            grad_cosines: Some((vec![n as f64, off, off, n as f64], vec![n; 4])),
            arch: None,
            affinity: None,
            shards: 1,
        }))
    };
    // An old epoch of conflict, then a full epoch of agreement at 0.5 in two-step events.
    trainer.events.send(step(2, -1.0, 2)).expect("send");
    let mut s = 2;
    while s < 2 + per_epoch {
        s += 2;
        trainer.events.send(step(s, 0.5, 2)).expect("send");
    }
    h.run_steps(3);
    let (mean, measured) = h.state().history.cosines().expect("measured");
    assert!(
        (mean[1] - 0.5).abs() < 1e-12,
        "the old epoch's conflict has left the mean: {mean:?}"
    );
    assert!(
        measured as u64 <= per_epoch + 1 && measured >= 2,
        "about one epoch of steps: {measured} of {per_epoch}"
    );
    assert!(
        !texts_containing(&h, "Gradient cosine, last-epoch mean").is_empty(),
        "the chart says what it averages"
    );
    h.get_by_label("Affinity").click();
    h.run_steps(2);
    assert!(
        !texts_containing(&h, &format!("({measured} measured steps)")).is_empty(),
        "the Affinity tab says how many steps"
    );
    let pairs = &h.state().history.cosine_pairs;
    assert_eq!(pairs.len(), 1, "two tasks, one pair");
    let first = pairs[0].points().next().expect("a point");
    assert!(
        (first[1] + 1.0).abs() < 1e-12,
        "the pair's series keeps the early conflict: {first:?}"
    );
}

/// Opening an IDX images file reads only its header on the window's thread (for the image
/// size); the images themselves arrive through the background data summary.
#[test]
fn opening_idx_images_reads_only_the_header_on_the_window_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 20u32;
    let header = |magic: u32, dims: &[u32]| {
        let mut b = magic.to_be_bytes().to_vec();
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b
    };
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let mut images = header(0x803, &[n, 6, 6]);
    for l in &labels {
        images.extend((0..36u8).map(|p| if p == *l * 3 { 255 } else { 0 }));
    }
    let mut label_bytes = header(0x801, &[n]);
    label_bytes.extend(&labels);
    let img_path = dir.path().join("toy-images-idx3-ubyte");
    std::fs::write(&img_path, images).expect("write");
    std::fs::write(dir.path().join("toy-labels-idx1-ubyte"), label_bytes).expect("write");
    let mut h = harness();
    h.run_steps(1);
    let ctx = h.ctx.clone();
    h.state_mut().open_dataset(&img_path, &ctx);
    assert_eq!(
        h.state().state.spec.model.input_shape,
        Some([1, 6, 6]),
        "the image size comes from the header"
    );
    h.run_steps(1);
    step_until(&mut h, "the images arrive", |app| !app.summary_loading());
    h.run_steps(2);
    assert!(
        !texts_containing(&h, "20 rows × 36 features").is_empty(),
        "the images' number is shown"
    );
}

/// *Load weights…* on a checkpoint continues its run: paused, with the evaluations so far in
/// the charts, and *Resume* trains on to the bytes of the run that was never interrupted
/// (its metrics and its weights).
#[test]
fn a_checkpoint_loaded_in_the_app_continues_its_run_exactly() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use mtl_studio::headless::{TrainStart, train_to_dir, train_to_dir_from};
    use mtl_studio::trainer::{RunEvent, RunState, Session};
    let spec = common::small_spec(600, 4);
    let dir = tempfile::tempdir().expect("tempdir");
    let (cut, whole) = (dir.path().join("cut"), dir.path().join("whole"));
    let interrupt = AtomicBool::new(false);
    let mut after_epoch_2 = |s: &Session, e: &RunEvent<'_>| {
        if matches!(e, RunEvent::EpochEnd { .. }) && s.epochs_done() == 2 {
            interrupt.store(true, Ordering::Relaxed);
        }
    };
    train_to_dir_from(
        &spec,
        &cut,
        &TrainStart::default(),
        &mut after_epoch_2,
        &interrupt,
    )
    .expect_err("interrupted after epoch 2");
    train_to_dir(&spec, &whole, &mut ()).expect("train");

    let mut h = harness();
    h.run_steps(1);
    h.state_mut()
        .load_weights(&cut.join(mtl_studio::trainer::CHECKPOINT_FILE));
    step_until(&mut h, "the checkpoint's run is paused", |app| {
        app.history.phase == Phase::Run(RunState::Paused)
    });
    let epochs: Vec<usize> = h.state().history.evals.iter().map(|e| e.epoch).collect();
    assert_eq!(epochs, [0, 0, 1, 1, 2, 2], "train and val of epochs 0..=2");
    assert_eq!(
        h.state().state.spec.training.epochs,
        4,
        "the checkpoint's spec"
    );
    h.get_by_label("▶ Resume").click();
    step_until(&mut h, "the run finishes", |app| {
        app.history.phase == Phase::Run(RunState::Finished)
    });
    let weights = dir.path().join("app.safetensors");
    h.state_mut().save_weights_to(weights.clone());
    step_until(&mut h, "the weights are saved", |_| weights.exists());
    let app_dir = dir.path().join("report");
    std::fs::create_dir(&app_dir).expect("mkdir");
    h.state_mut().export_report(&app_dir);
    let read = |p: std::path::PathBuf| std::fs::read(&p).expect("read");
    assert!(
        read(app_dir.join("metrics.csv")) == read(whole.join("metrics.csv")),
        "the app's metrics.csv is the uninterrupted run's"
    );
    assert!(
        read(weights) == read(whole.join("model.safetensors")),
        "the app's weights are the uninterrupted run's, bit for bit"
    );
}
