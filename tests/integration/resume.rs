//! Checkpoints: a run resumed from its checkpoint goes on bit for bit as the run that was
//! never interrupted; two identical runs write identical bytes; a checkpoint of another spec
//! is refused naming the field; `--init` starts from given weights and 0 epochs writes them.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common;

use mtl_studio::experiment::{ExperimentSpec, LayerSpec, WeightingSpec};
use mtl_studio::headless::{TrainReport, TrainStart, train_to_dir_from};
use mtl_studio::trainer::{CHECKPOINT_FILE, RunEvent, Session};

/// A small run with dropout in the trunk, Adam (the default) and `strategy`.
fn spec(strategy: &str, epochs: usize) -> ExperimentSpec {
    let mut spec = common::small_spec(600, epochs);
    spec.model.shared.insert(2, LayerSpec::Dropout { p: 0.2 });
    spec.weighting = WeightingSpec::of(strategy);
    spec
}

fn train(spec: &ExperimentSpec, out: &Path, start: &TrainStart) -> TrainReport {
    train_to_dir_from(spec, out, start, &mut (), &AtomicBool::new(false)).expect("train")
}

fn resume(from: &Path) -> TrainStart {
    TrainStart {
        resume: Some(from.to_owned()),
        ..TrainStart::default()
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{e}: {}", path.display()))
}

/// The files of a run that must be the same bytes for the same run.
const SAME_BYTES: [&str; 4] = [
    "model.safetensors",
    "spec.json",
    "metrics.csv",
    CHECKPOINT_FILE,
];

fn assert_same_run(a: &Path, b: &Path, what: &str) {
    for f in SAME_BYTES {
        assert!(read(&a.join(f)) == read(&b.join(f)), "{what}: {f} differs");
    }
}

/// 4 epochs, then 4 more from the checkpoint, write what 8 epochs in one run write, bit for
/// bit: the weights, metrics.csv (all 8 epochs) and the checkpoint. With strategies that
/// learn (UW's log-variances, FAMO's logits and Adam moments), a gradient method with state
/// (GradVac's targets, Nash-MTL's warm start), Adam's moments, dropout and, for UW, the
/// best epoch's weights of the stop rules.
#[test]
fn four_epochs_and_four_resumed_are_eight_epochs_bit_for_bit() {
    for strategy in ["uw", "famo", "gradvac", "nash_mtl"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, resumed, whole) = (
            dir.path().join("first"),
            dir.path().join("resumed"),
            dir.path().join("whole"),
        );
        let with_rules = |mut s: ExperimentSpec| {
            if strategy == "uw" {
                s.training.stop.patience = 50;
                s.training.stop.restore_best = true;
            }
            s
        };
        train(
            &with_rules(spec(strategy, 4)),
            &first,
            &TrainStart::default(),
        );
        train(
            &with_rules(spec(strategy, 8)),
            &resumed,
            &resume(&first.join(CHECKPOINT_FILE)),
        );
        train(
            &with_rules(spec(strategy, 8)),
            &whole,
            &TrainStart::default(),
        );
        assert_same_run(&resumed, &whole, strategy);
        // The report keeps only the last and best epochs' rows; metrics.csv holds them all.
        let csv_text = String::from_utf8(read(&resumed.join("metrics.csv"))).expect("utf8");
        let epochs: std::collections::BTreeSet<&str> = csv_text
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next())
            .collect();
        assert_eq!(epochs.len(), 9, "{strategy}: epochs 0..=8 in metrics.csv");
        let (before, after) = (
            read(&first.join("metrics.csv")),
            read(&resumed.join("metrics.csv")),
        );
        assert!(
            after.starts_with(&before),
            "{strategy}: the resumed metrics.csv begins with the first run's rows"
        );
    }
}

/// A run interrupted in the middle of an epoch writes a checkpoint there, and resuming it
/// (from the folder) gives the uninterrupted run's bytes: the epoch's order, its position
/// and its running sums are in the checkpoint. Also with per-task sampling (each task's
/// shuffled rows), MMoE (its gates' rows) and relationship learning (its Ω).
#[test]
fn a_run_interrupted_mid_epoch_resumes_bit_for_bit() {
    use mtl_studio::experiment::{Architecture, RelationshipSpec, Sampling};
    let mut sampled = spec("uw", 3);
    sampled.training.sampling = Sampling::Uniform;
    sampled.model.architecture = Architecture::Mmoe { experts: 3 };
    let mut related = spec("ew", 3);
    related.model.relationship = Some(RelationshipSpec {
        update_every: 3,
        ..RelationshipSpec::default()
    });
    for (what, spec) in [
        ("gradvac", spec("gradvac", 3)),
        ("uniform sampling, MMoE", sampled),
        ("relationship learning", related),
    ] {
        assert!(spec.validate().is_empty(), "{what}: {:?}", spec.validate());
        let dir = tempfile::tempdir().expect("tempdir");
        let (cut, resumed, whole) = (
            dir.path().join("cut"),
            dir.path().join("resumed"),
            dir.path().join("whole"),
        );
        let interrupt = AtomicBool::new(false);
        let mut at_step_11 = |s: &Session, e: &RunEvent<'_>| {
            if matches!(e, RunEvent::Stepped { .. }) && s.step_count() == 11 {
                interrupt.store(true, Ordering::Relaxed);
            }
        };
        let err = train_to_dir_from(
            &spec,
            &cut,
            &TrainStart::default(),
            &mut at_step_11,
            &interrupt,
        )
        .expect_err("interrupted");
        assert!(err.to_string().contains("interrupted"), "{what}: {err}");
        let checkpoint =
            mtl_studio::trainer::Checkpoint::load(&cut).expect("the folder's checkpoint");
        assert_eq!(
            (checkpoint.epoch(), checkpoint.step()),
            (1, 11),
            "{what}: mid-epoch 2"
        );
        train(&spec, &resumed, &resume(&cut));
        train(&spec, &whole, &TrainStart::default());
        assert_same_run(&resumed, &whole, what);
    }
}

#[test]
fn two_identical_runs_write_identical_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let spec = spec("famo", 2);
    train(&spec, &a, &TrainStart::default());
    train(&spec, &b, &TrainStart::default());
    assert_same_run(&a, &b, "the same spec twice");
}

/// The spec must be the checkpoint's but for the epochs, which may only grow: another
/// value is refused with the field's name and both values, and nothing is written.
#[test]
fn a_checkpoint_of_another_spec_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = dir.path().join("first");
    train(&spec("uw", 2), &first, &TrainStart::default());
    let refused = |s: &ExperimentSpec| {
        let out = dir.path().join("refused");
        let e = train_to_dir_from(s, &out, &resume(&first), &mut (), &AtomicBool::new(false))
            .expect_err("refused");
        assert!(!out.exists(), "nothing written for a refused checkpoint");
        e.to_string()
    };
    let mut other_lr = spec("uw", 4);
    *other_lr.optimizer.lr_mut() = 0.01;
    let e = refused(&other_lr);
    assert!(
        e.contains("'optimizer.lr'") && e.contains("0.001") && e.contains("0.01"),
        "{e}"
    );
    let e = refused(&spec("famo", 4));
    assert!(e.contains("'weighting.strategy'"), "{e}");
    let e = refused(&spec("uw", 1));
    assert!(e.contains("2 epochs done"), "{e}");
    let e = train_to_dir_from(
        &spec("uw", 4),
        &dir.path().join("x"),
        &resume(&first.join("model.safetensors")),
        &mut (),
        &AtomicBool::new(false),
    )
    .expect_err("a model file is no checkpoint");
    assert!(
        e.to_string().contains("not 'mtl-studio-checkpoint/1'"),
        "{e}"
    );
    // The same spec with the same epochs: nothing to train, the same run written again.
    let again = dir.path().join("again");
    train(&spec("uw", 2), &again, &resume(&first));
    assert_same_run(&first, &again, "resumed at its end");
}

/// `--init`: the run starts from the given weights (its first evaluation is theirs); a file
/// of another architecture is refused naming the tensor. `--epochs 0` writes the initial
/// weights, the same bytes every time.
#[test]
fn init_starts_from_given_weights_and_zero_epochs_writes_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let trained = dir.path().join("trained");
    train(&spec("ew", 2), &trained, &TrainStart::default());
    let weights = trained.join("model.safetensors");
    let exported = dir.path().join("exported");
    let start = TrainStart {
        init: Some(weights.clone()),
        no_epochs: true,
        ..TrainStart::default()
    };
    let report = train(&spec("ew", 2), &exported, &start);
    assert!(report.rows.iter().all(|r| r.epoch == 0), "no epoch trained");
    let tensors = |p: &Path| {
        let mut t = mtl_studio::export::load_model(p).expect("load").tensors;
        t.sort_by(|a, b| a.name.cmp(&b.name));
        t
    };
    assert_eq!(
        tensors(&exported.join("model.safetensors")),
        tensors(&weights),
        "the given weights, untouched"
    );
    let val_loss = |rows: &[mtl_studio::export::MetricRow], epoch: usize| {
        rows.iter()
            .find(|r| r.epoch == epoch && r.split == "val" && r.metric == "r2")
            .map(|r| r.loss)
    };
    let trained_rows = mtl_studio::trainer::Checkpoint::load(&trained)
        .expect("checkpoint")
        .rows;
    assert_eq!(
        val_loss(&report.rows, 0),
        val_loss(&trained_rows, 2),
        "the first evaluation is of the given weights"
    );

    let (z1, z2) = (dir.path().join("z1"), dir.path().join("z2"));
    let zero = TrainStart {
        no_epochs: true,
        ..TrainStart::default()
    };
    train(&spec("ew", 2), &z1, &zero);
    train(&spec("ew", 2), &z2, &zero);
    assert_same_run(&z1, &z2, "0 epochs twice");
    let initial = Session::new(&spec("ew", 2)).expect("session");
    let mut fresh = initial.model().export().expect("export");
    fresh.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        tensors(&z1.join("model.safetensors")),
        fresh,
        "the seed's weights"
    );
    // Resuming the 0-epoch checkpoint trains the whole run.
    let (resumed, whole) = (dir.path().join("resumed"), dir.path().join("whole"));
    train(&spec("ew", 2), &resumed, &resume(&z1));
    train(&spec("ew", 2), &whole, &TrainStart::default());
    assert_same_run(&resumed, &whole, "resumed from 0 epochs");

    let mut wider = spec("ew", 2);
    wider.model.shared[0] = LayerSpec::Linear { out: 65 };
    let e = train_to_dir_from(
        &wider,
        &dir.path().join("wider"),
        &TrainStart {
            init: Some(weights),
            ..TrainStart::default()
        },
        &mut (),
        &AtomicBool::new(false),
    )
    .expect_err("another architecture");
    assert!(e.to_string().contains("shared.0.weight"), "{e}");
}

/// The app's *Save checkpoint…* (the trainer thread's `SaveCheckpoint`) in the middle of an
/// epoch: `train --resume` on it gives the uninterrupted run's bytes.
#[test]
fn a_checkpoint_saved_by_the_trainer_thread_resumes_bit_for_bit() {
    use std::time::{Duration, Instant};

    use mtl_studio::trainer::{
        RunOptions, RunState, TrainerCommand, TrainerEvent, TrainerHandle, no_waker,
    };
    let spec = spec("famo", 3);
    let dir = tempfile::tempdir().expect("tempdir");
    let saved = dir.path().join("app.checkpoint.safetensors");
    let handle = TrainerHandle::spawn(
        1,
        spec.clone(),
        RunOptions {
            start_paused: true,
            ..RunOptions::default()
        },
        no_waker(),
    )
    .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut paused = 0;
    while paused < 2 {
        assert!(Instant::now() < deadline, "timed out");
        if let Ok(Some(TrainerEvent::State {
            state: RunState::Paused,
            ..
        })) = handle.recv_timeout(Duration::from_millis(100))
        {
            paused += 1;
            if paused == 1 {
                handle.send(TrainerCommand::Step(13));
            }
        }
    }
    assert_eq!(handle.steps_done(), 13, "paused after 13 steps");
    handle.send(TrainerCommand::SaveCheckpoint(saved.clone()));
    loop {
        assert!(Instant::now() < deadline, "timed out");
        match handle.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(TrainerEvent::Saved { path, .. })) => {
                assert_eq!(path, saved);
                break;
            }
            Ok(Some(TrainerEvent::Warning { message, .. })) => panic!("{message}"),
            _ => {}
        }
    }
    drop(handle);
    let (resumed, whole) = (dir.path().join("resumed"), dir.path().join("whole"));
    train(&spec, &resumed, &resume(&saved));
    train(&spec, &whole, &TrainStart::default());
    assert_same_run(&resumed, &whole, "saved by the trainer thread at step 13");
}
