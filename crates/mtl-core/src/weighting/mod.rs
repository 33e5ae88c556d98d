//! Loss weighting and gradient combination: every strategy of the MTL literature behind one
//! trait ([`Strategy`]), one file per family:
//!
//! - [`loss`]: weights from the losses alone (EW, manual, UW, DWA, GLS, RLW, STCH, FAMO) and
//!   GradNorm;
//! - [`projection`]: per-task gradients projected or rescaled (PCGrad, GradVac, IMTL,
//!   Aligned-MTL, DB-MTL, MoCo, ExcessMTL, GradDrop);
//! - [`solvers`]: per-task gradients combined by solving a small optimisation problem (MGDA,
//!   CAGrad, Nash-MTL, FairGrad, UPGrad).
//!
//! The conventions (sum or mean scale, which weights are reported) follow LibMTL so numbers
//! compare with the reference library; see `mtl-studio aggregate`.

pub mod aggregate;
pub mod api;
pub mod loss;
pub mod projection;
pub mod solvers;

pub use api::{Family, Hyper, MethodInfo, Params, StepInput, StepOutput, Strategy, WeightingError};

/// Every strategy, loss-based first.
pub fn methods() -> impl Iterator<Item = &'static MethodInfo> {
    loss::METHODS
        .iter()
        .chain(projection::METHODS)
        .chain(solvers::METHODS)
}

/// The strategy called `key`, if there is one.
pub fn method(key: &str) -> Option<&'static MethodInfo> {
    methods().find(|m| m.key == key)
}

/// Builds strategy `key` for `k` tasks with `params` (LibMTL names; absent ones take their
/// defaults).
pub fn build(key: &str, params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    let key = key.to_ascii_lowercase();
    loss::build(&key, params, k)
        .or_else(|| projection::build(&key, params, k))
        .or_else(|| solvers::build(&key, params, k))
        .unwrap_or_else(|| {
            Err(WeightingError(format!(
                "unknown strategy '{key}' (known: {})",
                methods().map(|m| m.key).collect::<Vec<_>>().join(", ")
            )))
        })
}

/// Cosine similarity of every pair of task gradients (K × K, row-major); 0 where a gradient
/// is zero.
pub fn cosines(grads: &[Vec<f64>]) -> Vec<f64> {
    cosines_from_gram(&api::gramian(grads))
}

/// [`cosines`] from the Gramian of the gradients.
pub fn cosines_from_gram(gram: &[Vec<f64>]) -> Vec<f64> {
    let norms: Vec<f64> = (0..gram.len())
        .map(|i| gram[i][i].max(0.0).sqrt())
        .collect();
    let mut out = Vec::with_capacity(gram.len() * gram.len());
    for (row, na) in gram.iter().zip(&norms) {
        for (g, nb) in row.iter().zip(&norms) {
            out.push(if *na > 0.0 && *nb > 0.0 {
                g / (na * nb)
            } else {
                0.0
            });
        }
    }
    out
}
