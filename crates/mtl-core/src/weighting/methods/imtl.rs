//! IMTL: impartial multi-task learning, equal projections on every task's direction plus
//! learned loss scales (Liu et al., ICLR 2021).

use crate::linalg::sym_eigen;
use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError, gramian,
    weighted_sum,
};
use crate::weighting::common::{checked_grads, finite};
use crate::weighting::solvers::solve_pivots_above;

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "imtl",
    label: "IMTL",
    family: Family::Gradient,
    paper: "Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang, Towards Impartial Multi-task Learning, ICLR 2021",
    about: "IMTL-G picks the combination of task gradients whose projection onto every task's unit \
            gradient is the same, so the shared update makes equal progress along every task's \
            direction no matter how large each gradient is. The weights come from a small linear \
            system and sum to 1. IMTL-L additionally learns a scale e^s per loss (s starts at 0), \
            trained by the loss e^s L - s, which balances the loss magnitudes.",
    formula: "u_i = g_i / ‖g_i‖; D = [g_1 - g_i], U = [u_1 - u_i] for i = 2..K; α_2..K = g_1 U^T (D U^T)^-1; \
              α_1 = 1 - Σ α_i; d = Σ_i α_i g_i, so ⟨d, u_i⟩ is the same for every i",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::Allowed,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(Imtl::new(params, k)?))
}

/// IMTL (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021): IMTL-G's closed form
/// plus IMTL-L's learnable loss scales, as LibMTL's `IMTL.py`.
///
/// State: loss scales s (K, starting at 0). LibMTL back-propagates e^s·L - s per task, so the
/// gradients it combines are e^{s_k} g_k and each head receives e^{s_k} ∇L_k
/// (`head_weights` = e^s, 1 at the start). With those gradients, α_{2..K} = g_1 Uᵀ (D Uᵀ)⁻¹ and
/// α_1 = 1 - Σ α_{2..K}; `weights` = α (LibMTL's return value), `effective` = α_k e^{s_k},
/// shared = Σ α_k e^{s_k} g_k. [`Strategy::learn`] steps s by -lr·(e^s L - 1), the gradient
/// LibMTL's optimizer would use; the reference runner never calls it.
///
/// Fallback (LibMTL raises or returns NaN here): when a gradient is zero or D Uᵀ is
/// numerically singular (identical or collinear gradients, K above the rank), α is
/// TorchJD's equivalent form α ∝ G⁺ √diag(G) with the pseudo-inverse G⁺ of the Gram matrix,
/// normalised to sum to 1 (the least-squares analogue of "equal projections"); if that
/// vector sums to about 0 or all gradients are zero, α = 1/K.
#[derive(Clone, Debug)]
pub struct Imtl {
    k: usize,
    /// Log loss scales s (K).
    s: Vec<f64>,
    /// ∂/∂s of Σ (e^s L - s) at the last combine (K).
    s_grad: Option<Vec<f64>>,
}

impl Imtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        Ok(Self {
            k,
            s: vec![0.0; k],
            s_grad: None,
        })
    }
}

/// IMTL-G weights α (K, summing to 1) for gradients g (K × d); see [`Imtl`] for the fallback.
fn imtl_alpha(gram: &[Vec<f64>]) -> Vec<f64> {
    let k = gram.len();
    if k == 1 {
        return vec![1.0];
    }
    // Every quantity below is a combination of the gradients' dot products, so it is read
    // from the Gramian G instead of building K more gradient-sized vectors.
    let norms: Vec<f64> = (0..k).map(|i| gram[i][i].max(0.0).sqrt()).collect();
    let max_norm = norms.iter().copied().fold(0.0, f64::max);
    if max_norm > 0.0 && norms.iter().all(|&n| n > 1e-12 * max_norm) {
        // D_r = g_1 − g_r and U_r = u_1 − u_r (u = g/‖g‖), r = 2..K;
        // α_{2..K} = b M⁻¹ with M = D Uᵀ and b = g_1 Uᵀ, i.e. Mᵀ αᵀ = bᵀ.
        // g_a · U_r = G[a][0]/‖g_1‖ − G[a][r]/‖g_r‖.
        let dot_u = |a: usize, r: usize| gram[a][0] / norms[0] - gram[a][r] / norms[r];
        let m_t: Vec<Vec<f64>> = (1..k)
            .map(|r| (1..k).map(|c| dot_u(0, r) - dot_u(c, r)).collect())
            .collect();
        let b: Vec<f64> = (1..k).map(|r| dot_u(0, r)).collect();
        // Entries of M are at most ‖D_r‖·‖U_r‖ ≤ 4·max‖g‖; a pivot 1e-10 below that is singular.
        if let Some(x) = solve_pivots_above(m_t, b, 4e-10 * max_norm)
            && x.iter().all(|v| v.is_finite())
        {
            let mut alpha = Vec::with_capacity(k);
            alpha.push(1.0 - x.iter().sum::<f64>());
            alpha.extend(x);
            return alpha;
        }
    }
    imtl_pinv_alpha(gram)
}

/// The fallback α ∝ G⁺ √diag(G), normalised to sum 1 (or 1/K); see [`Imtl`].
fn imtl_pinv_alpha(gram: &[Vec<f64>]) -> Vec<f64> {
    let k = gram.len();
    let uniform = vec![1.0 / k as f64; k];
    let (lam, v) = sym_eigen(gram);
    let lam_max = lam.iter().copied().fold(0.0, f64::max);
    if lam_max <= 0.0 {
        return uniform;
    }
    let root_diag: Vec<f64> = (0..k).map(|i| gram[i][i].max(0.0).sqrt()).collect();
    let mut out = vec![0.0; k];
    for (r, &l) in lam.iter().enumerate() {
        if l > 1e-10 * lam_max {
            let proj: f64 = (0..k).map(|i| v[i][r] * root_diag[i]).sum::<f64>() / l;
            for (o, row) in out.iter_mut().zip(&v) {
                *o += row[r] * proj;
            }
        }
    }
    let total: f64 = out.iter().sum();
    let mass: f64 = out.iter().map(|x| x.abs()).sum();
    if mass <= 0.0 || !mass.is_finite() || !total.is_finite() || total.abs() <= 1e-9 * mass {
        return uniform;
    }
    out.iter().map(|x| x / total).collect()
}

impl Strategy for Imtl {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("s", &self.s);
        s.push_opt("s_grad", self.s_grad.as_deref());
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let s = r.vec("s", self.k)?;
        let s_grad = r.opt("s_grad", self.k)?;
        r.finish()?;
        (self.s, self.s_grad) = (s, s_grad);
        Ok(())
    }

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
        let grads = checked_grads(input, self.k, "imtl")?;
        let scale: Vec<f64> = self.s.iter().map(|s| s.exp()).collect();
        // The Gramian of the scaled gradients cᵢ gᵢ: cᵢ cⱼ (gᵢ · gⱼ).
        let gram: Vec<Vec<f64>> = gramian(grads)
            .iter()
            .zip(&scale)
            .map(|(row, ci)| row.iter().zip(&scale).map(|(g, cj)| g * ci * cj).collect())
            .collect();
        let alpha = imtl_alpha(&gram);
        let effective: Vec<f64> = alpha.iter().zip(&scale).map(|(a, c)| a * c).collect();
        // Σ αᵢ (cᵢ gᵢ).
        let shared = weighted_sum(grads, &effective);
        let s_grad: Vec<f64> = scale
            .iter()
            .zip(input.losses)
            .map(|(c, l)| c * l - 1.0)
            .collect();
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: alpha,
                effective,
                head_weights: scale,
            },
            "imtl",
        )?;
        self.s_grad = Some(s_grad);
        Ok(out)
    }

    fn learn(&mut self, lr: f64) {
        if let Some(grad) = self.s_grad.take() {
            for (s, g) in self.s.iter_mut().zip(grad) {
                let next = *s - lr * g;
                if next.is_finite() {
                    *s = next;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::dot;
    use crate::weighting::common::norm;
    use crate::weighting::testing::{close, j2, j3, rng, run};

    #[test]
    fn golden_imtl() {
        let out = run("imtl", &Params::new(), &j2(), &[1.0, 1.0]);
        close(&out.weights, &[0.5923, 0.4077], 1e-4);
        close(out.shared_grad.as_ref().unwrap(), &[0.0767, 1.0, 1.0], 1e-4);
        let out = run("imtl", &Params::new(), &j3(), &[1.0, 1.0, 1.0]);
        close(&out.weights, &[0.17, 0.5284, 0.3016], 1e-4);
        let d = out.shared_grad.unwrap();
        for g in j3() {
            assert!((dot(&d, &g) / norm(&g) - 0.4137).abs() < 1e-4);
        }
    }

    #[test]
    fn imtl_learn_steps_the_scales() {
        let mut s = build(&Params::new(), 2).unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[2.0, 0.5],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
            samples: &[],
        };
        let first = s.combine(&input, &mut rng()).unwrap();
        close(&first.head_weights, &[1.0, 1.0], 0.0);
        s.learn(0.1);
        // s = -0.1 · (L - 1) = [-0.1, 0.05].
        let second = s.combine(&input, &mut rng()).unwrap();
        close(
            &second.head_weights,
            &[(-0.1f64).exp(), 0.05f64.exp()],
            1e-12,
        );
        // IMTL-G is scale-invariant in direction: d·u_i stays equal for all i.
        let d = second.shared_grad.unwrap();
        let proj: Vec<f64> = g.iter().map(|r| dot(&d, r) / norm(r)).collect();
        assert!((proj[0] - proj[1]).abs() < 1e-10, "{proj:?}");
    }

    #[test]
    fn imtl_singular_fallbacks() {
        let g0 = vec![1.0, -2.0, 0.5];
        // Identical: equal weights, d = g.
        let out = run(
            "imtl",
            &Params::new(),
            &[g0.clone(), g0.clone()],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.5, 0.5], 1e-12);
        close(out.shared_grad.as_ref().unwrap(), &g0, 1e-12);
        // Collinear g_2 = 3 g_1: α ∝ G⁺ √diag(G) = [1, 3] / 4.
        let g1: Vec<f64> = g0.iter().map(|v| 3.0 * v).collect();
        let out = run("imtl", &Params::new(), &[g0.clone(), g1], &[1.0, 1.0]);
        close(&out.weights, &[0.25, 0.75], 1e-10);
        // Exactly opposite is not singular for K = 2: α = [0.5, 0.5], d = 0 (LibMTL too).
        let neg: Vec<f64> = g0.iter().map(|v| -v).collect();
        let out = run("imtl", &Params::new(), &[g0.clone(), neg], &[1.0, 1.0]);
        close(&out.weights, &[0.5, 0.5], 1e-12);
        close(out.shared_grad.as_ref().unwrap(), &[0.0; 3], 1e-12);
        // A zero gradient: all weight on the other task.
        let out = run(
            "imtl",
            &Params::new(),
            &[g0.clone(), vec![0.0; 3]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[1.0, 0.0], 1e-12);
        // All zero: uniform.
        let out = run(
            "imtl",
            &Params::new(),
            &[vec![0.0; 3], vec![0.0; 3]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.5, 0.5], 0.0);
    }
}
