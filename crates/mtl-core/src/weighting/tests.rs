//! Tests across strategies: every registered method is consistent with its info, and the
//! checks that compare several strategies of a group on the same inputs.

use super::*;

#[test]
fn the_registry_is_consistent_with_every_info() {
    let keys: Vec<&str> = methods().map(|m| m.key).collect();
    assert_eq!(keys.len(), 27, "{keys:?}");
    for (i, m) in methods().enumerate() {
        assert!(!keys[..i].contains(&m.key), "{}: key listed twice", m.key);
        assert_eq!(method(m.key), Some(m), "{}: found by key", m.key);
        let s = build(m.key, &Params::new(), 3).unwrap();
        assert_eq!(s.name(), m.key, "the strategy names itself");
        let mut all = Params::new();
        for h in m.hypers {
            assert!(
                h.min <= h.default && h.default <= h.max,
                "{}: {} default {} outside [{}, {}]",
                m.key,
                h.name,
                h.default,
                h.min,
                h.max
            );
            all.insert(h.name.to_owned(), serde_json::json!(h.default));
        }
        for c in m.choices {
            assert!(c.allowed.contains(&c.default), "{}: {}", m.key, c.name);
            for v in c.allowed {
                let p = testing::pairs(&[(c.name, (*v).into())]);
                assert!(build(m.key, &p, 3).is_ok(), "{}: {} = {v}", m.key, c.name);
            }
            let bad = testing::pairs(&[(c.name, "no such choice".into())]);
            assert!(build(m.key, &bad, 3).is_err(), "{}: {}", m.key, c.name);
            all.insert(c.name.to_owned(), c.default.into());
        }
        assert!(
            build(m.key, &all, 3).is_ok(),
            "{}: every default at once",
            m.key
        );
        match m.family {
            Family::Loss => assert_eq!(m.rep_grad, RepGrad::No, "{}", m.key),
            Family::Gradient => assert!(s.needs_grads(1), "{}", m.key),
        }
    }
    assert!(build("nope", &Params::new(), 2).is_err());
}

/// The strategies that weight the losses (and GradNorm).
mod loss_family {
    use crate::weighting::testing::{assert_finite, input, params, rng};
    use crate::weighting::{Family, MethodInfo, Params, build, method};

    /// The strategies of this group, in registry order.
    fn family() -> impl Iterator<Item = &'static MethodInfo> {
        [
            "ew", "manual", "uw", "dwa", "gls", "rlw", "stch", "famo", "gradnorm",
        ]
        .into_iter()
        .map(|k| method(k).unwrap())
    }

    #[test]
    fn every_method_builds_and_names_itself() {
        for m in family() {
            let s = build(m.key, &Params::new(), 3).unwrap();
            assert_eq!(s.name(), m.key);
            let expected = if m.key == "gradnorm" {
                Family::Gradient
            } else {
                Family::Loss
            };
            assert_eq!(m.family, expected);
            for ch in m.formula.chars() {
                let ok = ch.is_ascii()
                    || ('α'..='ω').contains(&ch)
                    || ('Α'..='Ω').contains(&ch)
                    || "∇ΣΠ√·×≤≥‖⟨⟩∈∞₀₁₂²".contains(ch);
                assert!(ok, "{}: character {ch:?} not allowed in formula", m.key);
            }
        }
    }

    #[test]
    fn unknown_parameter_and_zero_tasks_are_errors() {
        assert!(build("ew", &params(r#"{"calpha": 0.5}"#), 2).is_err());
        assert!(build("dwa", &params(r#"{"T": 0}"#), 2).is_err());
        assert!(build("ew", &Params::new(), 0).is_err());
        assert!(build("stch", &params(r#"{"STCH_warmup_epoch": 1.5}"#), 2).is_err());
        assert!(build("manual", &params(r#"{"weights": [1, 2, 3]}"#), 2).is_err());
        assert!(build("manual", &params(r#"{"weights": [1, -2]}"#), 2).is_err());
        assert!(
            build(
                "gradnorm",
                &params(r#"{"init_loss_scale": "logspace(0,1,K)"}"#),
                2
            )
            .is_err()
        );
    }

    #[test]
    fn degenerate_inputs_never_give_nan() {
        let zeros = vec![vec![0.0; 3]; 2];
        let same = vec![vec![1.0, 2.0, 3.0]; 2];
        let opp = vec![vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0]];
        let hist = vec![vec![1.0, 1.0, 1.0], vec![1.0, 1.0, 1.0]];
        for m in family() {
            for g in [&zeros, &same, &opp] {
                for losses in [[1.0, 2.0], [1e-12, 1e12]] {
                    let mut s = build(m.key, &Params::new(), 2).unwrap();
                    for epoch in [0, 1, 2] {
                        let out = s
                            .combine(&input(epoch, &losses, Some(g), &hist), &mut rng())
                            .unwrap();
                        assert_finite(&out);
                        s.after_step(&[0.5, 1.0]);
                        s.learn(0.01);
                    }
                }
            }
            // Mismatched lengths and non-finite inputs are errors.
            let mut s = build(m.key, &Params::new(), 2).unwrap();
            assert!(
                s.combine(&input(1, &[1.0], Some(&same), &hist), &mut rng())
                    .is_err()
            );
            assert!(
                s.combine(&input(1, &[f64::NAN, 1.0], Some(&same), &hist), &mut rng())
                    .is_err()
            );
        }
    }
}

/// The strategies that project or rescale the per-task gradients.
mod projection_family {
    use crate::weighting::api::weighted_sum;
    use crate::weighting::testing::{all_finite, close, j2, params, rng};
    use crate::weighting::{Family, MethodInfo, Params, StepInput, build, method};

    /// The strategies of this group, in registry order.
    fn family() -> impl Iterator<Item = &'static MethodInfo> {
        [
            "pcgrad",
            "gradvac",
            "imtl",
            "aligned_mtl",
            "db_mtl",
            "moco",
            "excess_mtl",
            "graddrop",
        ]
        .into_iter()
        .map(|k| method(k).unwrap())
    }

    #[test]
    fn exact_effective_weights_reproduce_the_shared_gradient() {
        let g = [
            vec![0.3, -1.2, 0.5, 2.0],
            vec![-0.7, 0.4, 1.1, -0.3],
            vec![1.5, 0.2, -0.9, 0.6],
        ];
        for key in ["pcgrad", "gradvac", "imtl", "aligned_mtl", "excess_mtl"] {
            let mut s = build(key, &Params::new(), 3).unwrap();
            let mut r = rng();
            for step in 0..4 {
                let scaled: Vec<Vec<f64>> = g
                    .iter()
                    .map(|row| row.iter().map(|v| v * (1.0 + 0.3 * step as f64)).collect())
                    .collect();
                let input = StepInput {
                    epoch: 0,
                    losses: &[1.0, 2.0, 0.5],
                    grads: Some(&scaled),
                    loss_history: &[],
                    rep_value: None,
                    samples: &[],
                };
                let out = s.combine(&input, &mut r).unwrap();
                let d = weighted_sum(&scaled, &out.effective);
                close(&d, out.shared_grad.as_ref().unwrap(), 1e-10);
            }
        }
    }

    #[test]
    fn degenerate_inputs_stay_finite() {
        let g0 = vec![1.0, -2.0, 0.5];
        let cases: Vec<(&str, Vec<Vec<f64>>)> = vec![
            ("zero", vec![vec![0.0; 3], vec![0.0; 3]]),
            ("one zero", vec![g0.clone(), vec![0.0; 3]]),
            ("identical", vec![g0.clone(), g0.clone()]),
            (
                "opposite",
                vec![g0.clone(), g0.iter().map(|v| -v).collect()],
            ),
            (
                "collinear",
                vec![g0.clone(), g0.iter().map(|v| 3.0 * v).collect()],
            ),
            (
                "rank-deficient K3",
                vec![g0.clone(), g0.clone(), vec![0.0, 1.0, 0.0]],
            ),
            ("K above d", vec![vec![1.0], vec![-2.0], vec![3.0]]),
            (
                "tiny",
                vec![vec![1e-300, 0.0, 0.0], vec![0.0, -1e-300, 0.0]],
            ),
        ];
        for key in family().map(|m| m.key) {
            for (what, g) in &cases {
                let mut s = build(key, &Params::new(), g.len()).unwrap();
                let rep = vec![0.5, -1.0, 0.0][..g[0].len()].to_vec();
                let losses = vec![0.7; g.len()];
                let mut r = rng();
                for _ in 0..3 {
                    let input = StepInput {
                        epoch: 0,
                        losses: &losses,
                        grads: Some(g),
                        loss_history: &[],
                        rep_value: Some(&rep),
                        samples: &[],
                    };
                    let out = s
                        .combine(&input, &mut r)
                        .unwrap_or_else(|e| panic!("{key} on {what}: {e}"));
                    all_finite(&out);
                }
            }
        }
    }

    #[test]
    fn bad_setup_is_an_error() {
        assert!(build("nope", &Params::new(), 2).is_err());
        assert!(build("pcgrad", &params(r#"{"order": "sorted"}"#), 2).is_err());
        assert!(build("imtl", &params(r#"{"calpha": 0.5}"#), 2).is_err());
        assert!(build("gradvac", &params(r#"{"GradVac_group_type": 3}"#), 2).is_err());
        assert!(build("gradvac", &params(r#"{"GradVac_group_type": 0.5}"#), 2).is_err());
        assert!(build("graddrop", &params(r#"{"leak": 2.0}"#), 2).is_err());
        assert!(build("moco", &Params::new(), 0).is_err());
        let mut s = build("db_mtl", &Params::new(), 2).unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[-1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
            samples: &[],
        };
        assert!(s.combine(&input, &mut rng()).is_err());
        let input = StepInput {
            losses: &[1.0, 1.0, 1.0],
            ..input
        };
        assert!(s.combine(&input, &mut rng()).is_err());
    }

    #[test]
    fn method_table_is_consistent() {
        let extra = "∇ΣΠ√·×≤≥‖⟨⟩∈∞₀₁₂²";
        for (i, m) in family().enumerate() {
            assert_eq!(m.family, Family::Gradient);
            assert!(family().take(i).all(|o| o.key != m.key));
            let s = build(m.key, &Params::new(), 3).unwrap();
            assert_eq!(s.name(), m.key);
            assert!(s.needs_grads(0));
            for c in m.formula.chars() {
                let greek = ('\u{0370}'..='\u{03FF}').contains(&c);
                assert!(
                    c.is_ascii() || greek || extra.contains(c),
                    "{}: '{c}'",
                    m.key
                );
            }
            // Every listed hyper is accepted by build with its default.
            let mut p = Params::new();
            for h in m.hypers {
                p.insert(h.name.to_owned(), serde_json::json!(h.default));
            }
            assert!(build(m.key, &p, 2).is_ok(), "{}", m.key);
        }
    }
}

/// The strategies that solve a small optimisation problem over the task weights.
mod solver_family {
    use rand::{Rng as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;

    use crate::weighting::api::dot;
    use crate::weighting::testing::{
        assert_finite_msg, close_msg, j2, j3, pairs, random_grads, run0, try_run0,
    };
    use crate::weighting::{Family, MethodInfo, Params, build, method};

    /// The strategies of this group, in registry order.
    fn family() -> impl Iterator<Item = &'static MethodInfo> {
        ["mgda", "cagrad", "nash_mtl", "fairgrad", "upgrad"]
            .into_iter()
            .map(|k| method(k).unwrap())
    }

    #[test]
    fn golden_two_tasks() {
        let j = j2();
        let l = [1.0, 2.0];
        let none = Params::new();
        let out = run0("mgda", &none, &j, &l);
        close_msg(&out.weights, &[0.6, 0.4], 1e-12, "mgda weights");
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.0, 1.0, 1.0],
            1e-12,
            "mgda d",
        );

        let out = run0("cagrad", &none, &j, &l);
        close_msg(&out.weights, &[1.0, 0.0], 1e-9, "cagrad inner w");
        close_msg(&out.effective, &[0.5633, 0.4], 1e-4, "cagrad coefficients");
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.1468, 0.9633, 0.9633],
            1e-4,
            "cagrad d",
        );

        let out = run0("nash_mtl", &none, &j, &l);
        close_msg(&out.weights, &[0.5915, 0.4071], 1e-4, "nash alpha");
        close_msg(&out.head_weights, &out.weights.clone(), 0.0, "nash heads");
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.0542, 0.7061, 0.7061],
            1e-4,
            "nash clipped d",
        );

        let out = run0("fairgrad", &none, &j, &l);
        close_msg(&out.weights, &[0.5915, 0.4071], 1e-4, "fairgrad a=1");
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.0766, 0.9985, 0.9985],
            1e-4,
            "fairgrad a=1 d",
        );
        let two = pairs(&[("FairGrad_alpha", 2.0.into())]);
        let out = run0("fairgrad", &two, &j, &l);
        close_msg(&out.weights, &[0.4714, 0.3195], 1e-4, "fairgrad a=2");
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.0313, 0.7908, 0.7908],
            1e-4,
            "fairgrad a=2 d",
        );

        let out = run0("upgrad", &none, &j, &l);
        close_msg(&out.weights, &[1.1109, 0.7894], 1e-4, "upgrad weights");
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.2929, 1.9004, 1.9004],
            1e-4,
            "upgrad d",
        );
    }

    #[test]
    fn golden_three_tasks() {
        let j = j3();
        let l = [1.0, 1.0, 1.0];
        let none = Params::new();
        let out = run0("mgda", &none, &j, &l);
        close_msg(
            &out.weights,
            &[1.0 / 9.0, 5.0 / 9.0, 1.0 / 3.0],
            1e-12,
            "mgda w",
        );
        let d = out.shared_grad.unwrap();
        for g in &j {
            assert!((dot(g, &d) - 2.0 / 3.0).abs() < 1e-12, "mgda: g·d = ‖d‖²");
        }
        let out = run0("cagrad", &none, &j, &l);
        close_msg(
            &out.effective,
            &[0.2667, 0.5648, 0.2667],
            1e-4,
            "cagrad coefficients",
        );
        let out = run0("nash_mtl", &none, &j, &l);
        close_msg(&out.weights, &[0.428, 1.0106, 0.6037], 1e-4, "nash alpha");
        let out = run0("upgrad", &none, &j, &l);
        close_msg(&out.weights, &[0.3636, 0.6665, 0.4242], 1e-4, "upgrad w");
        let d = out.shared_grad.unwrap();
        let jd: Vec<f64> = j.iter().map(|g| dot(g, &d)).collect();
        close_msg(&jd, &[2.0, 0.545, 1.333], 1e-3, "upgrad J d");
    }

    /// Every solver-based method on zero, near-zero, identical, opposite, collinear,
    /// single-task and badly scaled (10⁸ apart, 10⁵ / 1 / 10⁻⁵) inputs: a finite answer,
    /// never NaN and never a refusal. Nash-MTL and FairGrad solve every input with an answer
    /// and make a zero (Pareto-stationary) update with a notice where none exists. MGDA's
    /// weights stay on the simplex; UPGrad's update conflicts with no task beyond what its
    /// ε·I regularisation allows (gₖ·d ≥ −ε·wₖ·tr G).
    #[test]
    fn degenerate_inputs_never_give_nan() {
        let g = vec![1.0, -2.0, 0.5];
        let h = vec![0.3, 1.0, 2.0];
        let neg: Vec<f64> = g.iter().map(|v| -v).collect();
        let times = |v: &[f64], c: f64| -> Vec<f64> { v.iter().map(|x| c * x).collect() };
        let cases: Vec<(&str, Vec<Vec<f64>>, bool)> = vec![
            (
                "zero",
                vec![vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]],
                false,
            ),
            (
                "one zero",
                vec![g.clone(), vec![0.0; 3], neg.clone()],
                false,
            ),
            ("identical", vec![g.clone(), g.clone(), g.clone()], true),
            ("opposite", vec![g.clone(), neg.clone()], false),
            (
                "collinear",
                vec![g.clone(), g.iter().map(|v| 3.0 * v).collect()],
                true,
            ),
            ("single", vec![g.clone()], true),
            ("single zero", vec![vec![0.0; 3]], false),
            ("empty d", vec![vec![], vec![]], false),
            ("near zero", vec![times(&g, 1e-30), times(&h, 1e-30)], true),
            ("1e8 ratio", vec![g.clone(), times(&h, 1e-8)], true),
            (
                "1e5 / 1 / 1e-5",
                vec![times(&g, 1e5), h.clone(), vec![0.0, 2e-6, 1e-5]],
                true,
            ),
            (
                "opposite, 1e8 apart",
                vec![g.clone(), times(&neg, 1e-8)],
                false,
            ),
        ];
        let gns = ["none", "l2", "loss", "loss+"];
        for (what, grads, solvable) in &cases {
            let losses = vec![0.7; grads.len()];
            for gn in gns {
                let p = pairs(&[("mgda_gn", gn.into())]);
                let out = run0("mgda", &p, grads, &losses);
                assert_finite_msg(&out, &format!("mgda {gn} {what}"));
                let s: f64 = out.weights.iter().sum();
                assert!((s - 1.0).abs() < 1e-12, "mgda {gn} {what}: simplex");
            }
            for key in ["cagrad", "upgrad", "imtl", "aligned_mtl"] {
                let out = run0(key, &Params::new(), grads, &losses);
                assert_finite_msg(&out, &format!("{key} {what}"));
            }
            let out = run0("upgrad", &Params::new(), grads, &losses);
            let d = out.shared_grad.clone().unwrap_or_default();
            let trace: f64 = grads.iter().map(|r| dot(r, r)).sum();
            for (r, w) in grads.iter().zip(&out.weights) {
                assert!(
                    dot(r, &d) >= -1e-4 * w * trace - 1e-12 * trace,
                    "upgrad {what}: conflicts with a task"
                );
            }
            for key in ["nash_mtl", "fairgrad"] {
                let mut s = crate::weighting::build(key, &Params::new(), grads.len()).unwrap();
                let input = crate::weighting::testing::input(0, &losses, Some(grads), &[]);
                let out = s
                    .combine(&input, &mut crate::weighting::testing::rng())
                    .unwrap_or_else(|e| panic!("{key} {what}: refused: {e}"));
                assert_finite_msg(&out, &format!("{key} {what}"));
                let zero = out
                    .shared_grad
                    .as_ref()
                    .is_some_and(|d| d.iter().all(|v| *v == 0.0));
                if *solvable {
                    assert!(s.notice().is_none(), "{key} {what}: solvable");
                    assert!(
                        out.weights.iter().all(|w| *w > 0.0),
                        "{key} {what}: positive weights"
                    );
                } else {
                    let notice = s.notice().unwrap_or_default();
                    assert!(zero, "{key} {what}: a zero update");
                    assert!(
                        notice.contains("Pareto-stationary"),
                        "{key} {what}: {notice}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_parameters_and_losses_are_errors() {
        let bad = [
            ("mgda", pairs(&[("mgda_gn", "l1".into())])),
            ("mgda", pairs(&[("mgda_gn", 2.0.into())])),
            ("cagrad", pairs(&[("rescale", 3.0.into())])),
            ("cagrad", pairs(&[("calpha", (-1.0).into())])),
            ("nash_mtl", pairs(&[("update_weights_every", 0.5.into())])),
            ("fairgrad", pairs(&[("FairGrad_alpha", 0.0.into())])),
            ("upgrad", pairs(&[("UPGrad_reg_eps", (-1.0).into())])),
            ("upgrad", pairs(&[("order", "identity".into())])),
        ];
        for (key, p) in &bad {
            assert!(build(key, p, 2).is_err(), "{key} {p:?} should fail");
        }
        assert!(build("upgrad", &Params::new(), 0).is_err(), "K = 0");
        let p = pairs(&[("mgda_gn", "loss".into())]);
        assert!(
            try_run0("mgda", &p, &j2(), &[1.0, 0.0]).is_err(),
            "loss normaliser needs positive losses"
        );
    }

    /// MGDA and UPGrad never increase a task's loss to first order: gₖ·d ≥ 0.
    #[test]
    fn mgda_and_upgrad_are_non_conflicting() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for trial in 0..300 {
            let k = 2 + trial % 7;
            let d = 1 + trial % 5;
            let grads = random_grads(&mut rng, k, d);
            let losses: Vec<f64> = (0..k).map(|_| rng.random_range(0.1..3.0)).collect();
            // UPGrad's guarantee is exact without the regulariser ε (UPGrad_reg_eps = 0).
            for (key, p) in [
                ("mgda", pairs(&[("mgda_gn", "none".into())])),
                ("mgda", pairs(&[("mgda_gn", "l2".into())])),
                ("mgda", pairs(&[("mgda_gn", "loss".into())])),
                ("mgda", pairs(&[("mgda_gn", "loss+".into())])),
                ("upgrad", pairs(&[("UPGrad_reg_eps", 0.0.into())])),
            ] {
                let out = run0(key, &p, &grads, &losses);
                let dir = out.shared_grad.unwrap();
                for (i, g) in grads.iter().enumerate() {
                    assert!(
                        dot(g, &dir) >= -1e-9,
                        "{key} trial {trial}: task {i} conflicts: {}",
                        dot(g, &dir)
                    );
                }
            }
            // With LibMTL's default ε = 1e-4 on the trace-normalised Gramian the KKT
            // conditions give gₖ·d ≥ -ε·tr(G)·wₖ.
            let out = run0("upgrad", &Params::new(), &grads, &losses);
            let dir = out.shared_grad.unwrap();
            let trace: f64 = grads.iter().map(|g| dot(g, g)).sum();
            for (i, g) in grads.iter().enumerate() {
                let bound = -1e-4 * trace * out.weights[i] - 1e-9;
                assert!(
                    dot(g, &dir) >= bound,
                    "upgrad default trial {trial}: task {i}"
                );
            }
        }
    }

    /// Permuting the tasks permutes the weights (generic inputs, unique solutions).
    #[test]
    fn permuting_tasks_permutes_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for trial in 0..100 {
            let k = 3 + trial % 5;
            let grads = random_grads(&mut rng, k, k + 2);
            let losses: Vec<f64> = (0..k).map(|_| rng.random_range(0.1..3.0)).collect();
            let mut perm: Vec<usize> = (0..k).collect();
            rand::seq::SliceRandom::shuffle(perm.as_mut_slice(), &mut rng);
            let pg: Vec<Vec<f64>> = perm.iter().map(|&i| grads[i].clone()).collect();
            let pl: Vec<f64> = perm.iter().map(|&i| losses[i]).collect();
            for key in ["mgda", "upgrad", "cagrad", "nash_mtl", "fairgrad"] {
                let a = run0(key, &Params::new(), &grads, &losses);
                let b = run0(key, &Params::new(), &pg, &pl);
                let want: Vec<f64> = perm.iter().map(|&i| a.weights[i]).collect();
                let scale = a.weights.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
                close_msg(
                    &b.weights,
                    &want,
                    1e-7 * scale,
                    &format!("{key} trial {trial}"),
                );
            }
        }
    }

    #[test]
    fn method_infos_are_complete() {
        let allowed = |c: char| {
            c.is_ascii() || ('\u{391}'..='\u{3c9}').contains(&c) || "∇Σ Π√·×≤≥‖⟨⟩∈∞₀₁₂²".contains(c)
        };
        for m in family() {
            assert!(build(m.key, &Params::new(), 3).is_ok(), "{} builds", m.key);
            assert!(
                m.formula.chars().all(allowed),
                "{}: formula characters",
                m.key
            );
            assert_eq!(m.family, Family::Gradient, "{}: family", m.key);
            for h in m.hypers {
                let p = pairs(&[(h.name, h.default.into())]);
                assert!(
                    build(m.key, &p, 3).is_ok(),
                    "{}: default of {} accepted",
                    m.key,
                    h.name
                );
            }
        }
    }
}

/// A strategy's saved state is all of it: a strategy rebuilt from the same parameters and
/// given the state of one that has taken some steps goes on with the same outputs, bit for
/// bit (plain and with the CR-MOGM option); a state of another strategy is refused.
#[test]
fn a_restored_state_continues_every_strategy_exactly() {
    use rand::{Rng as _, SeedableRng as _};
    use rand_chacha::ChaCha8Rng;

    let (k, d) = (3, 6);
    let mut data = ChaCha8Rng::seed_from_u64(11);
    // Per step: the losses, three gradient samples and the representation.
    type Step = (Vec<f64>, Vec<Vec<Vec<f64>>>, Vec<f64>);
    let steps: Vec<Step> = (0..8)
        .map(|_| {
            let losses = (0..k).map(|_| data.random_range(0.2..2.0)).collect();
            let samples = (0..3)
                .map(|_| testing::random_grads(&mut data, k, d))
                .collect();
            let rep = (0..d).map(|_| data.random_range(-1.0..1.0)).collect();
            (losses, samples, rep)
        })
        .collect();
    let history: Vec<Vec<f64>> = (0..k).map(|t| vec![1.0 + t as f64, 0.9, 0.8]).collect();
    let step = |s: &mut Box<dyn Strategy>, i: usize, rng: &mut ChaCha8Rng| {
        let (losses, samples, rep) = &steps[i];
        let epoch = i / 2;
        let hist: Vec<Vec<f64>> = history.iter().map(|h| h[..epoch.min(3)].to_vec()).collect();
        let input = StepInput {
            epoch,
            losses,
            grads: Some(&samples[0]),
            loss_history: &hist,
            rep_value: Some(rep),
            samples: if s.gradient_samples() > 1 {
                samples
            } else {
                &[]
            },
        };
        let out = s.combine(&input, rng).expect("combine");
        s.learn(0.01);
        if s.needs_losses_after() {
            let after: Vec<f64> = losses.iter().map(|l| l * 0.9).collect();
            s.after_step(&after);
        }
        out
    };
    let mut stateful = Vec::new();
    for m in methods() {
        let mut variants = vec![Params::new()];
        if crmogm::supports(m) {
            variants.push(testing::pairs(&[("CR_MOGM_alpha", 0.5.into())]));
        }
        if per_layer::supports(m) && m.key != "modo" && m.key != "sdmgrad" {
            let mut grouped = testing::pairs(&[("aggregate_per", "layer".into())]);
            if crmogm::supports(m) {
                grouped.insert("CR_MOGM_alpha".to_owned(), 0.5.into());
            }
            variants.push(grouped);
        }
        if m.key == "gradvac" {
            variants.push(testing::pairs(&[("GradVac_group_type", 2.into())]));
        }
        // Two shared layers of 3 entries each (tensors of 2 and 1).
        let layout = SharedLayout::from_sizes(&[vec![2, 1], vec![2, 1]]);
        for p in variants {
            let mut a = build(m.key, &p, k).expect("build");
            a.set_layout(&layout).expect("layout");
            let mut rng = ChaCha8Rng::seed_from_u64(5);
            for i in 0..4 {
                step(&mut a, i, &mut rng);
            }
            let state = a.state();
            if !state.is_empty() {
                stateful.push(m.key);
            }
            let mut b = build(m.key, &p, k).expect("build");
            b.set_layout(&layout).expect("layout");
            b.restore(&state)
                .unwrap_or_else(|e| panic!("{}: restore: {e}", m.key));
            let mut rng_b = rng.clone();
            for i in 4..8 {
                let (x, y) = (step(&mut a, i, &mut rng), step(&mut b, i, &mut rng_b));
                assert_eq!(x, y, "{} ({p:?}): step {i} after restoring", m.key);
            }
            assert_eq!(a.state(), b.state(), "{}: the same state after", m.key);
        }
    }
    for key in [
        "uw", "famo", "gradnorm", "gradvac", "nash_mtl", "moco", "stch",
    ] {
        assert!(stateful.contains(&key), "{key} saves a state");
    }
    let uw_state = build("uw", &Params::new(), k).expect("uw").state();
    let e = build("ew", &Params::new(), k)
        .expect("ew")
        .restore(&uw_state)
        .expect_err("another strategy's state");
    assert!(e.0.contains("unknown entry 'log_var'"), "{e}");
    let mut famo = build("famo", &Params::new(), 2).expect("famo");
    assert!(
        famo.restore(&uw_state).is_err(),
        "entries of another strategy"
    );
    assert_eq!(
        famo.state(),
        build("famo", &Params::new(), 2).expect("famo").state()
    );
}
