//! Helpers for the strategies' unit tests: parameters, inputs, the test Jacobians and
//! tolerant comparisons.

use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::{Params, StepInput, StepOutput, Strategy, WeightingError, build};

/// Parameters from JSON text.
pub fn params(json: &str) -> Params {
    serde_json::from_str(json).unwrap()
}

/// Parameters from name/value pairs.
pub fn pairs(pairs: &[(&str, serde_json::Value)]) -> Params {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// The seeded generator most tests use.
pub fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

/// `a` equals `b` entry by entry within `tol`.
pub fn close(a: &[f64], b: &[f64], tol: f64) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
    }
}

/// [`close`], naming what is compared.
pub fn close_msg(got: &[f64], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() <= tol, "{what}: got {got:?}, want {want:?}");
    }
}

/// Strategy `key` with parameters from JSON text.
pub fn strategy(key: &str, p: &str, k: usize) -> Box<dyn Strategy> {
    build(key, &params(p), k).unwrap()
}

/// TorchJD's test Jacobian (§1.4): J = [[-4, 1, 1], [6, 1, 1]].
pub fn j2() -> Vec<Vec<f64>> {
    vec![vec![-4.0, 1.0, 1.0], vec![6.0, 1.0, 1.0]]
}

/// The 3-task Jacobian of §1.4 (3 × 4).
pub fn j3() -> Vec<Vec<f64>> {
    vec![
        vec![1.0, 0.0, 0.0, 2.0],
        vec![-1.0, 1.0, 0.0, 0.0],
        vec![0.0, -1.0, 1.0, 1.0],
    ]
}

/// One step's input without a representation.
pub fn input<'a>(
    epoch: usize,
    losses: &'a [f64],
    grads: Option<&'a [Vec<f64>]>,
    hist: &'a [Vec<f64>],
) -> StepInput<'a> {
    StepInput {
        epoch,
        losses,
        grads,
        loss_history: hist,
        rep_value: None,
        samples: &[],
    }
}

/// Every number of the output is finite.
pub fn assert_finite(out: &StepOutput) {
    for v in out
        .weights
        .iter()
        .chain(&out.effective)
        .chain(&out.head_weights)
        .chain(out.shared_grad.iter().flatten())
    {
        assert!(v.is_finite(), "{out:?}");
    }
}

/// [`assert_finite`], naming the case.
pub fn assert_finite_msg(out: &StepOutput, what: &str) {
    let all = out
        .weights
        .iter()
        .chain(&out.effective)
        .chain(&out.head_weights)
        .chain(out.shared_grad.iter().flatten());
    for v in all {
        assert!(v.is_finite(), "{what}: non-finite output {out:?}");
    }
}

/// A shared gradient is present and every number of the output is finite.
pub fn all_finite(out: &StepOutput) {
    assert!(
        out.shared_grad
            .as_ref()
            .unwrap()
            .iter()
            .all(|v| v.is_finite()),
        "{out:?}"
    );
    assert!(out.weights.iter().all(|v| v.is_finite()), "{out:?}");
    assert!(out.effective.iter().all(|v| v.is_finite()), "{out:?}");
    assert!(out.head_weights.iter().all(|v| v.is_finite()), "{out:?}");
}

/// `order: "identity"`.
pub fn identity() -> Params {
    params(r#"{"order": "identity"}"#)
}

/// One step of strategy `key` at epoch 0 with a representation of ones and [`rng`].
pub fn run(key: &str, p: &Params, grads: &[Vec<f64>], losses: &[f64]) -> StepOutput {
    let mut s = build(key, p, grads.len()).unwrap();
    let rep = vec![1.0; grads[0].len()];
    let input = StepInput {
        epoch: 0,
        losses,
        grads: Some(grads),
        loss_history: &[],
        rep_value: Some(&rep),
        samples: &[],
    };
    s.combine(&input, &mut rng()).unwrap()
}

/// One step of strategy `key` at epoch 0 without a representation, seed 0.
pub fn run0(key: &str, p: &Params, grads: &[Vec<f64>], losses: &[f64]) -> StepOutput {
    try_run0(key, p, grads, losses).unwrap()
}

/// [`run0`], returning the error.
pub fn try_run0(
    key: &str,
    p: &Params,
    grads: &[Vec<f64>],
    losses: &[f64],
) -> Result<StepOutput, WeightingError> {
    let mut s = build(key, p, grads.len())?;
    let input = StepInput {
        epoch: 0,
        losses,
        grads: Some(grads),
        loss_history: &[],
        rep_value: None,
        samples: &[],
    };
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    s.combine(&input, &mut rng)
}

/// K × d standard normal gradients.
pub fn random_grads(rng: &mut ChaCha8Rng, k: usize, d: usize) -> Vec<Vec<f64>> {
    (0..k)
        .map(|_| {
            (0..d)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect()
        })
        .collect()
}
