//! ConFIG: the conflict-free direction with equal cosine to every task gradient (Liu, Chen &
//! Thuerey, ICLR 2025).

use rand_chacha::ChaCha8Rng;

use crate::linalg::sym_eigen;
use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    weighted_sum,
};
use crate::weighting::common::{checked_input, finite};
use crate::weighting::solvers::mat_vec;

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "config",
    label: "ConFIG (conflict-free)",
    family: Family::Gradient,
    paper: "Liu, Chen & Thuerey, ICLR 2025 (ConFIG: Towards Conflict-free Training of Physics Informed Neural Networks)",
    about: "Looks for the direction that makes the same angle with every task gradient \
            (positive dot product with each unit gradient, all equal), so no task is \
            worsened and none is favoured, whatever the gradients' lengths; its length is \
            the sum of the task gradients' projections onto it. With more tasks than \
            directions the pseudo-inverse gives the least-squares compromise.",
    formula: "u_k = g_k / ‖g_k‖,  x = pinv(U) 1,  d = (Σ_k g_k · x̂) x̂  with x̂ = x / ‖x‖",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (it has none).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    Ok(Box::new(Config { k }))
}

/// ConFIG (Liu, Chen & Thuerey, "ConFIG: Towards Conflict-free Training of Physics Informed
/// Neural Networks", ICLR 2025), as TorchJD's `ConFIG()` (adapted from the authors' code):
/// the unit gradients uₖ = gₖ/‖gₖ‖ (0 for a zero gradient), x = pinv(U)·1, x̂ = x/max(‖x‖,
/// 1e-12) and d = (Σₖ gₖ·x̂)·x̂. Everything is read from the Gramian: pinv(U) = Uᵀ(UUᵀ)⁺,
/// so x = Σₖ yₖuₖ with y = C⁺1, C = UUᵀ the cosine matrix, whose pseudo-inverse drops
/// eigenvalues below (max(K, d)·ε)²·λ_max, torch's default cut-off on U's singular values.
/// `weights` = `effective` = c with d = Σ cₖgₖ; heads get 1. Sum scale (the length adds the
/// tasks' projections), like EW and PCGrad. All-zero gradients give d = 0.
#[derive(Debug)]
pub struct Config {
    /// Number of tasks K.
    k: usize,
}

/// ConFIG's coefficients c (K) with d = Σ cₖgₖ, from the Gramian `g` and the gradients'
/// length `dim`.
pub fn config_weights(g: &[Vec<f64>], dim: usize) -> Vec<f64> {
    let k = g.len();
    let norms: Vec<f64> = (0..k).map(|i| g[i][i].max(0.0).sqrt()).collect();
    let inv = |n: f64| if n > 0.0 { 1.0 / n } else { 0.0 };
    let c: Vec<Vec<f64>> = (0..k)
        .map(|i| {
            (0..k)
                .map(|j| g[i][j] * inv(norms[i]) * inv(norms[j]))
                .collect()
        })
        .collect();
    let (lam, v) = sym_eigen(&c);
    let lam_max = lam.iter().copied().fold(0.0, f64::max);
    let rtol = k.max(dim) as f64 * f64::EPSILON;
    let cut = rtol * rtol * lam_max;
    // y = C⁺ 1.
    let mut y = vec![0.0; k];
    for (r, &l) in lam.iter().enumerate() {
        if lam_max > 0.0 && l > cut {
            let proj: f64 = (0..k).map(|i| v[i][r]).sum::<f64>() / l;
            for (yi, row) in y.iter_mut().zip(&v) {
                *yi += row[r] * proj;
            }
        }
    }
    // x = Σ (yₖ/‖gₖ‖) gₖ; ‖x‖² = yᵀCy; Σⱼ gⱼ·x = Σⱼ (G·coef)ⱼ.
    let coef: Vec<f64> = y.iter().zip(&norms).map(|(yk, n)| yk * inv(*n)).collect();
    let gx = mat_vec(g, &coef);
    let x_norm = gx
        .iter()
        .zip(&coef)
        .map(|(a, b)| a * b)
        .sum::<f64>()
        .max(0.0)
        .sqrt();
    let denom = x_norm.max(1e-12);
    let length: f64 = gx.iter().sum::<f64>() / denom;
    coef.iter().map(|c| length * c / denom).collect()
}

impl Strategy for Config {
    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let (grads, g) = checked_input("config", input, self.k)?;
        let c = config_weights(&g, grads.first().map_or(0, Vec::len));
        finite(
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &c)),
                weights: c.clone(),
                effective: c,
                head_weights: vec![1.0; self.k],
            },
            "config",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::dot;
    use crate::weighting::testing::{close_msg, j2, j3, random_grads, run0};
    use rand::SeedableRng as _;

    /// TorchJD's published value (tests/unit/aggregation/test_values.py, float32, 4
    /// decimals): ConFIG on [[-4, 1, 1], [6, 1, 1]] is (0.1588, 2.0706, 2.0706).
    #[test]
    fn config_matches_torchjd_on_its_test_jacobian() {
        let out = run0("config", &Params::new(), &j2(), &[1.0, 1.0]);
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.1588, 2.0706, 2.0706],
            1e-4,
            "ConFIG",
        );
    }

    /// With K ≤ d independent gradients the direction makes the same positive angle with
    /// each (no conflict), and the result does not depend on the tasks' order or on a
    /// gradient's length, only its direction (the length scales linearly).
    #[test]
    fn config_has_equal_cosines_and_is_permutation_invariant() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for trial in 0..30 {
            let k = 2 + trial % 4;
            let grads = random_grads(&mut rng, k, k + 2);
            let d = run0("config", &Params::new(), &grads, &vec![1.0; k])
                .shared_grad
                .unwrap();
            let cos: Vec<f64> = grads
                .iter()
                .map(|g| dot(g, &d) / (dot(g, g) * dot(&d, &d)).sqrt())
                .collect();
            for c in &cos {
                assert!(
                    *c > 0.0 && (c - cos[0]).abs() < 1e-9,
                    "trial {trial}: {cos:?}"
                );
            }
            let mut reversed = grads.clone();
            reversed.reverse();
            let e = run0("config", &Params::new(), &reversed, &vec![1.0; k])
                .shared_grad
                .unwrap();
            close_msg(&e, &d, 1e-9, "permutation invariant");
        }
        // More tasks than directions (3 in 4 dimensions is fine; 3 in 2 is not): finite.
        let out = run0("config", &Params::new(), &j3(), &[1.0; 3]);
        assert!(out.shared_grad.unwrap().iter().all(|v| v.is_finite()));
        let flat = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![-1.0, -1.0]];
        let out = run0("config", &Params::new(), &flat, &[1.0; 3]);
        assert!(out.shared_grad.unwrap().iter().all(|v| v.is_finite()));
        let zero = vec![vec![0.0; 3], vec![0.0; 3]];
        let out = run0("config", &Params::new(), &zero, &[1.0; 2]);
        assert_eq!(out.shared_grad, Some(vec![0.0; 3]));
    }
}
