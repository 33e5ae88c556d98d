//! Aligned-MTL: the task gradients' principal directions rescaled to one strength
//! (Senushkin et al., CVPR 2023).

use crate::linalg::sym_eigen;
use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError, gramian,
    weighted_sum,
};
use crate::weighting::common::{checked_grads, finite};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "aligned_mtl",
    label: "Aligned-MTL",
    family: Family::Gradient,
    paper: "Senushkin, Patakin, Kuznetsov, Konushin, Independent Component Alignment for Multi-Task \
            Learning, CVPR 2023",
    about: "Aligned-MTL looks at the matrix of task gradients and rescales its principal directions so \
            that they all have the same strength (the smallest one's), which makes the system \
            well-conditioned: no direction dominates and conflicting directions no longer cancel \
            badly. The weights are read off the eigen-decomposition of the K × K Gram matrix of the \
            gradients; directions with (numerically) zero strength are dropped.",
    formula: "G G^T = V Λ V^T; B = √λ_min · V Λ^(-1/2) V^T; α = column sums of B; d = Σ_i α_i g_i",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::Allowed,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(AlignedMtl::new(params, k)?))
}

/// Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task Learning",
/// CVPR 2023), as LibMTL's `Aligned_MTL.py` with `torch.linalg.eigh` for the removed
/// `torch.symeig`.
///
/// M = G Gᵀ (K × K) = V Λ Vᵀ by a Jacobi eigen-solver; eigenvalues not above
/// max λ · K · ε_f32 are dropped (LibMTL's rank truncation, with `torch.finfo().eps` of
/// float32); B = √λ_min · V Λ^(-1/2) Vᵀ over the kept ones; α = B.sum(0) (column sums, a sum
/// scale: divide by K for TorchJD's). `weights` = `effective` = α, shared = Σ α_k g_k, heads
/// get 1. Fallback: when every eigenvalue is dropped (all gradients zero), α = 0.
#[derive(Clone, Debug)]
pub struct AlignedMtl {
    k: usize,
}

impl AlignedMtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        Ok(Self { k })
    }
}

/// Aligned-MTL's α (K) for gradients g (K × d).
fn aligned_alpha(g: &[Vec<f64>]) -> Vec<f64> {
    let k = g.len();
    let (lam, v) = sym_eigen(&gramian(g));
    let lam_max = lam.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tol = lam_max * k as f64 * f64::from(f32::EPSILON);
    let kept: Vec<usize> = (0..k).filter(|&r| lam[r] > tol && lam[r] > 0.0).collect();
    let Some(lam_min) = kept.iter().map(|&r| lam[r]).reduce(f64::min) else {
        return vec![0.0; k];
    };
    let root_min = lam_min.sqrt();
    // α_j = Σ_i B_ij = √λ_min Σ_r (Σ_i V_ir) V_jr / √λ_r.
    let mut alpha = vec![0.0; k];
    for &r in &kept {
        let col_sum: f64 = (0..k).map(|i| v[i][r]).sum();
        let f = root_min * col_sum / lam[r].sqrt();
        for (a, row) in alpha.iter_mut().zip(&v) {
            *a += f * row[r];
        }
    }
    alpha
}

impl Strategy for AlignedMtl {
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
        let grads = checked_grads(input, self.k, "aligned_mtl")?;
        let alpha = aligned_alpha(grads);
        finite(
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &alpha)),
                weights: alpha.clone(),
                effective: alpha,
                head_weights: vec![1.0; self.k],
            },
            "aligned_mtl",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, j2, j3, run};

    #[test]
    fn golden_aligned_mtl() {
        let out = run("aligned_mtl", &Params::new(), &j2(), &[1.0, 1.0]);
        close(&out.weights, &[1.1181, 0.8165], 1e-4);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.4266, 1.9347, 1.9347],
            1e-4,
        );
        let out = run("aligned_mtl", &Params::new(), &j3(), &[1.0, 1.0, 1.0]);
        close(&out.weights, &[0.4816, 1.1037, 0.7624], 1e-4);
    }

    #[test]
    fn aligned_mtl_degenerate() {
        let g0 = vec![1.0, -2.0, 0.5];
        let neg: Vec<f64> = g0.iter().map(|v| -v).collect();
        let out = run(
            "aligned_mtl",
            &Params::new(),
            &[g0.clone(), neg],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.0, 0.0], 1e-12);
        let out = run(
            "aligned_mtl",
            &Params::new(),
            &[vec![0.0; 3], vec![0.0; 3]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.0, 0.0], 0.0);
        // Orthogonal gradients of different lengths: both scaled to the shorter one.
        let out = run(
            "aligned_mtl",
            &Params::new(),
            &[vec![3.0, 0.0], vec![0.0, 1.0]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[1.0 / 3.0, 1.0], 1e-12);
    }
}
