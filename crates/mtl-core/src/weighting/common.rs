//! Small helpers shared by the strategies in [`super::methods`]: input checks, parameter
//! reading with ranges, softmax, norms and the visiting order of projection methods.

use rand::seq::SliceRandom as _;
use rand_chacha::ChaCha8Rng;

use super::api::{
    Choice, Hyper, Params, StepInput, StepOutput, WeightingError, check_step, dot, finite_output,
    gramian,
};

/// The ε LibMTL adds to denominators (PCGrad, GradVac, DB-MTL, MoCo).
pub const EPS: f64 = 1e-8;

/// Checks the step's losses (K, finite) and, when present, gradients (K rows of one length,
/// finite).
pub fn check_input(name: &str, input: &StepInput<'_>, k: usize) -> Result<(), WeightingError> {
    check_step(name, input, k, false).map(|_| ())
}

/// The per-task gradients (K × d, all rows the same length, all finite) after checking the
/// losses (K, finite) too.
pub fn checked_grads<'a>(
    input: &StepInput<'a>,
    k: usize,
    method: &str,
) -> Result<&'a [Vec<f64>], WeightingError> {
    Ok(check_step(method, input, k, true)?.unwrap_or_default())
}

/// The checked gradients (K × d) and their Gramian (K × K).
pub type Checked<'a> = (&'a [Vec<f64>], Vec<Vec<f64>>);

/// Checks the step's losses (K, finite) and gradients (present, K rows of one length,
/// finite) and returns the gradients (K × d) with their Gramian (K × K, finite).
pub fn checked_input<'a>(
    name: &str,
    input: &StepInput<'a>,
    k: usize,
) -> Result<Checked<'a>, WeightingError> {
    let grads = check_step(name, input, k, true)?.unwrap_or_default();
    let g = gramian(grads);
    if g.iter().flatten().any(|x| !x.is_finite()) {
        return Err(WeightingError(format!(
            "{name}: the gradients are too large (their dot products overflow)"
        )));
    }
    Ok((grads, g))
}

/// [`finite_output`] with the arguments in the other order.
pub fn finite(out: StepOutput, method: &str) -> Result<StepOutput, WeightingError> {
    finite_output(method, out)
}

/// The hyperparameter `hyper` (or its default), which must be a finite number in
/// `[lo, hi]` (either bound may be infinite).
pub fn hyper_in(params: &Params, hyper: &Hyper, lo: f64, hi: f64) -> Result<f64, WeightingError> {
    let name = hyper.name;
    let v = hyper.read(params)?;
    if v.is_finite() && v >= lo && v <= hi {
        return Ok(v);
    }
    let range = match (lo.is_finite(), hi.is_finite()) {
        (true, true) => format!(" in [{lo}, {hi}]"),
        (true, false) => format!(" ≥ {lo}"),
        (false, true) => format!(" ≤ {hi}"),
        (false, false) => String::new(),
    };
    Err(WeightingError(format!(
        "parameter '{name}' must be a finite number{range}, got {v}"
    )))
}

/// The hyperparameter `hyper` (or its default), which must be a whole number of at least 1.
pub fn positive_count(
    params: &Params,
    method: &str,
    hyper: &Hyper,
) -> Result<usize, WeightingError> {
    let name = hyper.name;
    let v = hyper.read(params)?;
    if !(v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= 1e9) {
        return Err(WeightingError(format!(
            "{method}: parameter '{name}' must be a whole number >= 1, got {v}"
        )));
    }
    Ok(v as usize)
}

/// Numerically stable softmax (subtracts the max first; same value as torch's).
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// torch's `sign` (and the derivative of `abs`): 0 at 0.
pub fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

/// ‖v‖₂.
pub fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

/// The least-squares coefficient c minimising ‖v - c g‖ (0 when g = 0).
pub fn ls_coeff(v: &[f64], g: &[f64]) -> f64 {
    let gg = dot(g, g);
    if gg > 0.0 { dot(v, g) / gg } else { 0.0 }
}

/// The tasks other than `skip` (all when `None`), in index order or shuffled by `rng`.
pub fn visit_order(
    k: usize,
    skip: Option<usize>,
    identity: bool,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..k).filter(|&j| Some(j) != skip).collect();
    if !identity {
        order.shuffle(rng);
    }
    order
}

/// `order` of the projection methods (PCGrad, GradVac): which other tasks' gradients each
/// task's gradient is projected against first.
pub const ORDER: Choice = Choice {
    name: "order",
    default: "random",
    allowed: &["identity", "random"],
    help: "\"random\" shuffles the tasks at every step (LibMTL); \"identity\" keeps their order.",
};
