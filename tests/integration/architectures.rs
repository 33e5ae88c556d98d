//! The architectures beyond hard sharing: each trains (its loss falls), its distinctive part
//! works, it round-trips through an export, and bad settings are named before training.

use crate::common;

use candle_core::{Device, Tensor};
use mtl_studio::data::{PreparedData, load};
use mtl_studio::experiment::{
    Architecture, Coupling, ExperimentSpec, LayerSpec, LinkSpec, OptimizerSpec, RelationshipSpec,
    Take, WeightingSpec,
};
use mtl_studio::model::{Mode, Model, OMEGA_NAME, Part};
use mtl_studio::trainer::{Session, Split};

fn spec_with(arch: Architecture) -> ExperimentSpec {
    let mut spec = common::small_spec(1500, 3);
    spec.model.architecture = arch;
    spec
}

fn link(from: &str, take: Take, alpha: f32, detach: bool) -> LinkSpec {
    LinkSpec {
        from: from.to_owned(),
        take,
        alpha,
        detach,
    }
}

/// Every validation problem of `spec`, joined.
fn problems(spec: &ExperimentSpec) -> String {
    spec.validate()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn val_losses(s: &Session) -> Vec<f64> {
    s.evaluate(Split::Val)
        .expect("evaluate")
        .iter()
        .map(|t| t.loss)
        .collect()
}

fn train_epochs(s: &mut Session, epochs: usize) {
    while s.epochs_done() < epochs {
        s.train_step().expect("step");
    }
}

/// One spec per architecture of the palette, plus relationship learning and a head link.
pub(crate) fn every_architecture() -> Vec<ExperimentSpec> {
    let mut specs: Vec<ExperimentSpec> =
        Architecture::palette().into_iter().map(spec_with).collect();
    let mut rel = spec_with(Architecture::Hard);
    rel.model.relationship = Some(RelationshipSpec::default());
    specs.push(rel);
    let mut linked = spec_with(Architecture::Hard);
    linked.model.heads[1]
        .links
        .push(link("y1", Take::Hidden, 0.5, false));
    specs.push(linked);
    specs
}

#[test]
fn every_architecture_learns_both_tasks() {
    for spec in every_architecture() {
        let label = format!(
            "{} (relationship {}, links {})",
            spec.model.architecture.label(),
            spec.model.relationship.is_some(),
            spec.model.heads[1].links.len()
        );
        let mut s = Session::new(&spec).unwrap_or_else(|e| panic!("{label}: {e}"));
        let before = val_losses(&s);
        train_epochs(&mut s, 3);
        let after = val_losses(&s);
        for (k, (b, a)) in before.iter().zip(&after).enumerate() {
            assert!(
                *a < 0.6 * b,
                "{label}: task {k} validation loss {b:.4} -> {a:.4} should fall by 40 %"
            );
        }
    }
}

#[test]
fn every_architecture_reloads_with_identical_predictions() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, spec) in every_architecture().into_iter().enumerate() {
        let label = spec.model.architecture.label();
        let mut s = Session::new(&spec).expect("session");
        for _ in 0..30 {
            s.train_step().expect("step");
        }
        let path = dir.path().join(format!("m{i}.safetensors"));
        s.save(&path).expect("save");
        let file = mtl_studio::export::load_model(&path).expect("load");
        let again = Session::from_model_file(&file).expect("rebuild");
        let rows: Vec<f32> = (0..5 * 16).map(|j| (j as f32 * 0.37).sin()).collect();
        assert_eq!(
            s.predict(&rows).expect("predict"),
            again.predict(&rows).expect("predict"),
            "{label}: same outputs after reloading"
        );
        if spec.model.relationship.is_some() {
            assert!(
                file.tensors.iter().any(|t| t.name == OMEGA_NAME),
                "Ω is exported"
            );
            assert_eq!(again.model().omega(), s.model().omega(), "Ω reloaded");
        }
    }
}

#[test]
fn a_large_soft_sharing_penalty_makes_the_towers_one() {
    let distance = |lambda: f64| {
        let mut spec = spec_with(Architecture::Soft {
            lambda,
            coupling: Coupling::AllPairs,
        });
        spec.optimizer = OptimizerSpec::defaults_with_lr(0.01)[0].clone();
        if let OptimizerSpec::Sgd { momentum, .. } = &mut spec.optimizer {
            *momentum = 0.0;
        }
        let mut s = Session::new(&spec).expect("session");
        let mut first = None;
        let mut last = None;
        for _ in 0..150 {
            let out = s.train_step().expect("step");
            if let Some(d) = out.arch.and_then(|a| a.tower_distances) {
                first.get_or_insert(d[1]);
                last = Some(d[1]);
            }
        }
        (first.expect("measured"), last.expect("measured"))
    };
    let (start, strong) = distance(20.0);
    let (_, free) = distance(0.0);
    assert!(
        strong < 0.01 * start,
        "λ = 20: tower distance {start:.3} -> {strong:.5} should vanish"
    );
    assert!(
        free > 0.5 * start,
        "λ = 0: the towers stay apart ({start:.3} -> {free:.3})"
    );
}

#[test]
fn the_soft_penalty_is_the_documented_sum() {
    for coupling in Coupling::ALL {
        let mut spec = spec_with(Architecture::Soft {
            lambda: 0.3,
            coupling,
        });
        spec.tasks.push(spec.tasks[0].clone());
        spec.tasks[2].name = "y1b".to_owned();
        spec.sync_heads();
        let data = load(&spec).expect("data");
        let prep = PreparedData::new(&spec, &data).expect("prep");
        let m = Model::new(&spec, &prep.tasks, &Device::Cpu).expect("model");
        let towers: Vec<Vec<f32>> = ["y1", "y2", "y1b"]
            .iter()
            .map(|t| {
                m.params()
                    .iter()
                    .filter(|p| p.name.starts_with(&format!("towers.{t}.")))
                    .flat_map(|p| {
                        p.var
                            .flatten_all()
                            .and_then(|v| v.to_vec1::<f32>())
                            .expect("values")
                    })
                    .collect()
            })
            .collect();
        let sq = |a: &[f32], b: &[f32]| -> f64 {
            a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
        };
        let expected = match coupling {
            Coupling::AllPairs => {
                0.15 * (sq(&towers[0], &towers[1])
                    + sq(&towers[0], &towers[2])
                    + sq(&towers[1], &towers[2]))
            }
            Coupling::Consecutive => {
                0.15 * (sq(&towers[0], &towers[1]) + sq(&towers[1], &towers[2]))
            }
            Coupling::Mean => {
                let mean: Vec<f32> = (0..towers[0].len())
                    .map(|i| (towers[0][i] + towers[1][i] + towers[2][i]) / 3.0)
                    .collect();
                0.3 * towers.iter().map(|t| sq(t, &mean)).sum::<f64>()
            }
        };
        let got = f64::from(
            m.penalty()
                .expect("penalty")
                .expect("some")
                .to_scalar::<f32>()
                .expect("scalar"),
        );
        assert!(
            (got - expected).abs() < 1e-4 * expected,
            "{coupling:?}: penalty {got} vs {expected}"
        );
    }
}

#[test]
fn omega_stays_symmetric_positive_definite_with_trace_one() {
    let mut spec = spec_with(Architecture::Hard);
    spec.model.relationship = Some(RelationshipSpec {
        update_every: 5,
        ..RelationshipSpec::default()
    });
    let mut s = Session::new(&spec).expect("session");
    let start = s.model().omega().expect("omega");
    assert_eq!(start, vec![0.5, 0.0, 0.0, 0.5], "Ω starts at I/T");
    for _ in 0..60 {
        s.train_step().expect("step");
        let o = s.model().omega().expect("omega");
        let (a, b, c) = (o[0], o[1], o[3]);
        assert_eq!(o[1], o[2], "symmetric: {o:?}");
        assert!(((a + c) - 1.0).abs() < 1e-6, "trace 1: {o:?}");
        assert!(a > 0.0 && a * c - b * b > 0.0, "positive definite: {o:?}");
    }
    assert_ne!(s.model().omega().expect("omega"), start, "Ω was updated");
}

#[test]
fn cross_stitch_units_mix_the_columns_and_learn_at_their_own_rate() {
    let build = |self_weight: f64| {
        let spec = spec_with(Architecture::CrossStitch {
            self_weight,
            lr_scale: 100.0,
        });
        let data = load(&spec).expect("data");
        let prep = PreparedData::new(&spec, &data).expect("prep");
        Model::new(&spec, &prep.tasks, &Device::Cpu).expect("model")
    };
    let x = Tensor::ones((4, 16), candle_core::DType::F32, &Device::Cpu).expect("x");
    // Changing column y2's first layer changes task y1's output only when the units mix.
    let y1_reacts = |m: &Model| {
        let before = m.forward(&x, Mode::Eval).expect("forward")[0]
            .to_vec2::<f32>()
            .expect("v");
        let p = m
            .params()
            .iter()
            .find(|p| p.name == "columns.y2.0.bias")
            .expect("column parameter");
        p.var
            .set(&(p.var.as_tensor() + 1.0).expect("add"))
            .expect("set");
        let after = m.forward(&x, Mode::Eval).expect("forward")[0]
            .to_vec2::<f32>()
            .expect("v");
        before != after
    };
    assert!(!y1_reacts(&build(1.0)), "α = I: the columns are separate");
    assert!(
        y1_reacts(&build(0.9)),
        "α = (0.9, 0.1): y2's column feeds y1"
    );
    let m = build(0.9);
    let units: Vec<_> = m
        .params()
        .iter()
        .filter(|p| p.name.starts_with("stitch."))
        .collect();
    assert_eq!(units.len(), 2, "one unit after each of the two blocks");
    assert!(
        units
            .iter()
            .all(|u| u.lr_scale == 100.0 && u.part == Part::Shared)
    );
    assert_eq!(
        units[0].var.to_vec2::<f32>().expect("v"),
        vec![vec![0.9, 0.1], vec![0.1, 0.9]],
        "convex start"
    );

    // The units move: more with a larger learning-rate scale.
    let moved = |lr_scale: f64| {
        let spec = spec_with(Architecture::CrossStitch {
            self_weight: 0.9,
            lr_scale,
        });
        let mut s = Session::new(&spec).expect("session");
        for _ in 0..20 {
            s.train_step().expect("step");
        }
        let state = s
            .model()
            .arch_state(&x)
            .expect("state")
            .stitch
            .first()
            .cloned()
            .expect("unit");
        (state[0] - 0.9).abs() + (state[1] - 0.1).abs()
    };
    assert!(
        moved(100.0) > 10.0 * moved(1.0),
        "lr_scale 100 moves α more than lr_scale 1"
    );
}

#[test]
fn gates_sum_to_one_and_mmoe_has_one_per_task() {
    for (arch, gates) in [
        (Architecture::Mmoe { experts: 3 }, 2),
        (Architecture::Moe { experts: 3 }, 1),
    ] {
        let mut s = Session::new(&spec_with(arch.clone())).expect("session");
        let out = s.train_step().expect("step");
        let state = out.arch.expect("state on the first step");
        assert_eq!(state.gates.len(), gates, "{arch}: gates");
        for g in &state.gates {
            assert_eq!(g.len(), 3, "one weight per expert");
            let sum: f64 = g.iter().sum();
            assert!(
                (sum - 1.0).abs() < 1e-5,
                "{arch}: gate weights sum to 1: {g:?}"
            );
        }
        let own = s.model().param_count(Part::Head(0));
        let head_only = 64 * 32 + 32 + 32 + 1;
        let gate = 16 * 3 + 3;
        let expected = if gates == 2 {
            head_only + gate
        } else {
            head_only
        };
        assert_eq!(own, expected, "{arch}: task y1's own parameters");
    }
}

#[test]
fn a_link_feeds_one_head_into_another_and_detach_stops_its_gradient() {
    let build = |detach: bool| {
        let mut spec = spec_with(Architecture::Hard);
        spec.model.heads[1]
            .links
            .push(link("y1", Take::Output, 2.0, detach));
        let data = load(&spec).expect("data");
        let prep = PreparedData::new(&spec, &data).expect("prep");
        Model::new(&spec, &prep.tasks, &Device::Cpu).expect("model")
    };
    let m = build(false);
    let w = m
        .params()
        .iter()
        .find(|p| p.name == "heads.y2.0.weight")
        .expect("y2's first layer");
    assert_eq!(
        w.var.dims(),
        [32, 64 + 1],
        "y2 reads the trunk and y1's output"
    );
    let x = Tensor::ones((4, 16), candle_core::DType::F32, &Device::Cpu).expect("x");
    let grad_reaches_y1 = |m: &Model| {
        let out = m.forward(&x, Mode::Eval).expect("forward");
        let grads = out[1].sum_all().expect("sum").backward().expect("backward");
        let y1_out = m
            .params()
            .iter()
            .find(|p| p.name == "heads.y1.2.weight")
            .expect("y1 output layer");
        grads.get(y1_out.var.as_tensor()).is_some()
    };
    assert!(
        grad_reaches_y1(&m),
        "y2's loss trains y1's head through the link"
    );
    assert!(!grad_reaches_y1(&build(true)), "detach stops it");
}

#[test]
fn bad_architectures_are_named_before_training() {
    let mut cycle = spec_with(Architecture::Hard);
    for (h, from) in [(0, "y2"), (1, "y1")] {
        cycle.model.heads[h]
            .links
            .push(link(from, Take::Output, 1.0, false));
    }
    let p = problems(&cycle);
    assert!(p.contains("cycle") && p.contains("y1 -> y2 -> y1"), "{p}");

    let mut unknown = spec_with(Architecture::Hard);
    unknown.model.heads[0]
        .links
        .push(link("nope", Take::Output, 1.0, false));
    assert!(problems(&unknown).contains("'nope', which is not a task"));

    let mut rep = spec_with(Architecture::Mmoe { experts: 2 });
    rep.weighting = WeightingSpec::of("mgda");
    rep.weighting.rep_grad = true;
    assert!(
        problems(&rep).contains("weighting.rep_grad"),
        "{}",
        problems(&rep)
    );
    let mut moe = rep.clone();
    moe.model.architecture = Architecture::Moe { experts: 2 };
    assert_eq!(problems(&moe), "", "MoE has one representation");

    let mut soft = spec_with(Architecture::Soft {
        lambda: 0.1,
        coupling: Coupling::AllPairs,
    });
    soft.weighting = WeightingSpec::of("pcgrad");
    assert!(problems(&soft).contains("soft sharing has none"));

    let mut experts = spec_with(Architecture::Mmoe { experts: 0 });
    experts.model.shared = vec![LayerSpec::Relu];
    let p = problems(&experts);
    assert!(
        p.contains("model.architecture.experts") && p.contains("model.shared"),
        "{p}"
    );

    let mut stitch = spec_with(Architecture::CrossStitch {
        self_weight: 1.5,
        lr_scale: 0.0,
    });
    stitch.model.shared.clear();
    let p = problems(&stitch);
    assert!(
        p.contains("self_weight") && p.contains("lr_scale") && p.contains("cross-stitch needs"),
        "{p}"
    );
}

#[test]
fn gradient_strategies_train_the_mixture_and_stitch_architectures() {
    for arch in [
        Architecture::Mmoe { experts: 3 },
        Architecture::CrossStitch {
            self_weight: 0.9,
            lr_scale: 100.0,
        },
    ] {
        for strategy in ["mgda", "pcgrad"] {
            let mut spec = spec_with(arch.clone());
            spec.weighting = WeightingSpec::of(strategy);
            let mut s = Session::new(&spec).expect("session");
            let before = val_losses(&s);
            train_epochs(&mut s, 2);
            let after = val_losses(&s);
            for (b, a) in before.iter().zip(&after) {
                assert!(a < b, "{arch} + {strategy}: {b} -> {a}");
            }
        }
    }
}

#[test]
fn every_example_spec_loads_validates_and_trains() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let mut spec =
            ExperimentSpec::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen.push(spec.model.architecture.key());
        match &mut spec.dataset {
            mtl_studio::experiment::DatasetSpec::Mmoe(m) => m.samples = 1000,
            mtl_studio::experiment::DatasetSpec::Shapes(sh) => sh.samples = 300,
            mtl_studio::experiment::DatasetSpec::MultiDigits(m) => m.samples = 600,
            _ => {}
        }
        let mut s = Session::new(&spec).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let before = val_losses(&s);
        train_epochs(&mut s, 2);
        let after = val_losses(&s);
        let (b, a): (f64, f64) = (before.iter().sum(), after.iter().sum());
        assert!(a < b, "{}: summed loss {b} -> {a}", path.display());
    }
    for key in ["hard", "soft", "cross_stitch", "mmoe", "moe"] {
        assert!(seen.contains(&key), "an example for {key}: {seen:?}");
    }
}

#[test]
fn relationship_learning_finds_the_two_related_pairs() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/task_relationships.toml");
    let mut spec = ExperimentSpec::load(&path).expect("example");
    spec.training.epochs = 8;
    let mut s = Session::new(&spec).expect("session");
    train_epochs(&mut s, 8);
    let o = s.model().omega().expect("omega");
    let rho = |i: usize, j: usize| o[i * 4 + j] / (o[i * 4 + i] * o[j * 4 + j]).sqrt();
    let within = rho(0, 1).min(rho(2, 3));
    let across = [rho(0, 2), rho(0, 3), rho(1, 2), rho(1, 3)]
        .into_iter()
        .fold(f64::MIN, f64::max);
    assert!(
        within > 2.0 * across && within > 0.15,
        "pairs (y1, y2) and (y3, y4) related: within {within:.3}, across at most {across:.3}"
    );
}

#[test]
fn a_convolutional_trunk_learns_shape_class_area_and_mask() {
    let mut spec = ExperimentSpec::shapes_example();
    if let mtl_studio::experiment::DatasetSpec::Shapes(sh) = &mut spec.dataset {
        sh.samples = 600;
    }
    let mut s = Session::new(&spec).expect("session");
    let before = s.evaluate(Split::Val).expect("eval");
    train_epochs(&mut s, 4);
    let after = s.evaluate(Split::Val).expect("eval");
    assert!(
        after[0].metric > 0.6,
        "shape accuracy {:.3} well above chance (1/3)",
        after[0].metric
    );
    assert!(
        after[1].loss < 0.5 * before[1].loss,
        "area loss {} -> {}",
        before[1].loss,
        after[1].loss
    );
    assert!(
        after[2].metric > before[2].metric + 0.2 && after[2].metric > 0.4,
        "mask IoU {:.3} -> {:.3}",
        before[2].metric,
        after[2].metric
    );
    let conv = s
        .model()
        .params()
        .iter()
        .find(|p| p.name == "shared.0.weight")
        .expect("first conv");
    assert_eq!(
        conv.var.dims(),
        [8, 1, 3, 3],
        "PyTorch layout [out, in, k, k]"
    );

    // The conv model (with its segmentation head) reloads with identical predictions.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("conv.safetensors");
    s.save(&path).expect("save");
    let again = Session::from_model_file(&mtl_studio::export::load_model(&path).expect("load"))
        .expect("rebuild");
    let rows: Vec<f32> = (0..2 * 1024)
        .map(|j| (j as f32 * 0.01).sin().abs())
        .collect();
    let a = s.predict(&rows).expect("predict");
    assert_eq!(a, again.predict(&rows).expect("predict"), "same outputs");
    assert_eq!(a[2].len(), 2 * 1024, "one probability per pixel");
}

#[test]
fn image_layer_shapes_are_checked_before_training() {
    let mut no_shape = ExperimentSpec::shapes_example();
    no_shape.model.input_shape = None;
    let p = problems(&no_shape);
    assert!(
        p.contains("model.shared[0]") && p.contains("needs an image"),
        "{p}"
    );
    let mut wrong = ExperimentSpec::shapes_example();
    wrong.model.input_shape = Some([3, 32, 32]);
    assert!(
        problems(&wrong).contains("model.input_shape"),
        "{}",
        problems(&wrong)
    );
    let mut pool = ExperimentSpec::shapes_example();
    pool.model
        .shared
        .insert(3, LayerSpec::MaxPool2d { kernel: 16 });
    let p = problems(&pool);
    assert!(
        p.contains("model.shared[6]") && p.contains("does not fit"),
        "{p}"
    );
    let mut norm = ExperimentSpec::shapes_example();
    norm.model
        .shared
        .insert(1, LayerSpec::LayerNorm { eps: 1e-5 });
    assert!(
        problems(&norm).contains("add a flatten layer"),
        "{}",
        problems(&norm)
    );
}

/// Shapes-32 with a cross-stitch trunk of two conv blocks and no linear layer; `act` follows
/// each conv, and `pool` adds a max-pool to each block.
fn conv_stitch_spec(samples: usize, act: &LayerSpec, pool: bool) -> ExperimentSpec {
    let mut spec = ExperimentSpec::shapes_example();
    if let mtl_studio::experiment::DatasetSpec::Shapes(sh) = &mut spec.dataset {
        sh.samples = samples;
    }
    spec.model.architecture = Architecture::CrossStitch {
        self_weight: 0.9,
        lr_scale: 10.0,
    };
    let conv = LayerSpec::Conv2d {
        out_channels: 4,
        kernel: 3,
        stride: 1,
        padding: 1,
    };
    let mut shared = Vec::new();
    for _ in 0..2 {
        shared.push(conv.clone());
        shared.push(act.clone());
        if pool {
            shared.push(LayerSpec::MaxPool2d { kernel: 2 });
        }
    }
    shared.push(LayerSpec::Flatten);
    spec.model.shared = shared;
    spec
}

#[test]
fn a_conv_only_cross_stitch_trunk_gets_a_unit_per_conv_block_trains_and_reloads() {
    let spec = conv_stitch_spec(200, &LayerSpec::Relu, true);
    assert_eq!(problems(&spec), "", "a conv-only trunk is accepted");
    let plan = spec.plan(&[3, 1, 1024]).expect("plan");
    assert_eq!(
        plan.stitch_after,
        [2, 6],
        "a unit after each conv, relu, max_pool2d block (the second takes the flatten)"
    );
    let mut s = Session::new(&spec).expect("session");
    let units: Vec<_> = s
        .model()
        .params()
        .iter()
        .filter(|p| p.name.starts_with("stitch."))
        .map(|p| (p.name.clone(), p.var.dims().to_vec()))
        .collect();
    assert_eq!(
        units,
        [
            ("stitch.0".to_owned(), vec![3, 3]),
            ("stitch.1".to_owned(), vec![3, 3])
        ],
        "one T × T unit per conv block"
    );
    let start = s
        .model()
        .arch_state(&Tensor::zeros((1, 1024), candle_core::DType::F32, &Device::Cpu).expect("x"));
    let start = start.expect("state").stitch;
    train_epochs(&mut s, 2);
    for (t, l) in val_losses(&s).iter().enumerate() {
        assert!(l.is_finite(), "task {t}: loss {l} after training");
    }
    let x = Tensor::zeros((1, 1024), candle_core::DType::F32, &Device::Cpu).expect("x");
    let after = s.model().arch_state(&x).expect("state").stitch;
    assert!(
        after.iter().flatten().all(|a| a.is_finite()),
        "units finite: {after:?}"
    );
    assert_ne!(after, start, "the units learned");

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("stitch.safetensors");
    s.save(&path).expect("save");
    let again = Session::from_model_file(&mtl_studio::export::load_model(&path).expect("load"))
        .expect("rebuild");
    let rows: Vec<f32> = (0..2 * 1024)
        .map(|j| (j as f32 * 0.013).sin().abs())
        .collect();
    assert_eq!(
        s.predict(&rows).expect("predict"),
        again.predict(&rows).expect("predict"),
        "same outputs after reloading"
    );
}

#[test]
fn conv_cross_stitch_unit_gradients_match_finite_differences() {
    // tanh, no pooling and heads of one linear layer: the loss is smooth, so central
    // differences are exact to O(ε²).
    let mut spec = conv_stitch_spec(40, &LayerSpec::Tanh, false);
    for head in &mut spec.model.heads {
        head.layers.clear();
    }
    let data = load(&spec).expect("data");
    let prep = PreparedData::new(&spec, &data).expect("prep");
    let m = Model::new(&spec, &prep.tasks, &Device::Cpu).expect("model");
    // Units away from their start, so every entry matters.
    for (u, p) in m
        .params()
        .iter()
        .filter(|p| p.name.starts_with("stitch."))
        .enumerate()
    {
        let v: Vec<f32> = (0..9)
            .map(|i| 0.2 + 0.07 * i as f32 + 0.1 * u as f32)
            .collect();
        p.var
            .set(&Tensor::from_vec(v, (3, 3), &Device::Cpu).expect("t"))
            .expect("set");
    }
    let rows: Vec<f32> = (0..2 * 1024).map(|j| (j as f32 * 0.017).cos()).collect();
    let x = Tensor::from_vec(rows, (2, 1024), &Device::Cpu).expect("x");
    let loss = |m: &Model| -> Tensor {
        let outs = m.forward(&x, Mode::Eval).expect("forward");
        let terms: Vec<Tensor> = outs
            .iter()
            .map(|o| o.sqr().and_then(|q| q.mean_all()).expect("mean"))
            .collect();
        Tensor::stack(&terms, 0)
            .and_then(|t| t.sum_all())
            .expect("sum")
    };
    let value = |m: &Model| loss(m).to_scalar::<f32>().expect("scalar");
    let grads = loss(&m).backward().expect("backward");
    let eps = 1e-2f32;
    let mut checked = 0;
    for p in m.params().iter().filter(|p| p.name.starts_with("stitch.")) {
        let g: Vec<f32> = grads
            .get(p.var.as_tensor())
            .expect("a gradient for the unit")
            .flatten_all()
            .and_then(|t| t.to_vec1())
            .expect("values");
        let base: Vec<f32> = p.var.flatten_all().and_then(|t| t.to_vec1()).expect("v");
        for i in 0..base.len() {
            let at = |d: f32| {
                let mut v = base.clone();
                v[i] += d;
                p.var
                    .set(&Tensor::from_vec(v, (3, 3), &Device::Cpu).expect("t"))
                    .expect("set");
                value(&m)
            };
            let fd = (at(eps) - at(-eps)) / (2.0 * eps);
            at(0.0);
            assert!(
                (fd - g[i]).abs() <= 1e-3 + 2e-2 * g[i].abs(),
                "{}[{i}]: autograd {} vs finite difference {fd}",
                p.name,
                g[i]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 18, "both units, every entry");
}
