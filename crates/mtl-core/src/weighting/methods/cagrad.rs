//! CAGrad: conflict-averse gradient descent, the best worst-case improvement near the mean
//! gradient (Liu et al., NeurIPS 2021).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    dot, finite_output, weighted_sum,
};
use crate::weighting::common::checked_input;
use crate::weighting::solvers::{quad_form, simplex_qp};

/// `calpha`.
const CALPHA: Hyper = Hyper {
    name: "calpha",
    default: 0.5,
    min: 0.0,
    max: 10.0,
    integer: false,
    help: "Radius of the search ball relative to ‖g₀‖ (0 = plain mean).",
};

/// `rescale`.
const RESCALE: Hyper = Hyper {
    name: "rescale",
    default: 1.0,
    min: 0.0,
    max: 2.0,
    integer: true,
    help: "Final scaling: 0 none, 1 divide by 1 + calpha², 2 divide by 1 + calpha.",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "cagrad",
    label: "CAGrad (conflict-averse gradient)",
    family: Family::Gradient,
    paper: "Liu, Liu, Jin, Stone, Liu, NeurIPS 2021",
    about: "Starts from the mean gradient g₀ and searches a ball of radius calpha·‖g₀‖ \
            around it for the direction that most improves the worst-off task. Its dual \
            picks simplex weights w; the update is g₀ plus a step along Σ w_k g_k. \
            calpha = 0 gives plain averaging; large calpha approaches MGDA. As in LibMTL \
            the result is on the mean scale, divided by 1 + calpha² (rescale = 1).",
    formula: "g₀ = (1/K) Σ_k g_k,  c = calpha · ‖g₀‖,  w = argmin over w ∈ simplex of Σ_k w_k (g_k · g₀) + c · √(‖Σ_k w_k g_k‖² + 1e-8),  gw = Σ_k w_k g_k,  d = (g₀ + c / ‖gw‖ · gw) / (1 + calpha²)",
    hypers: &[CALPHA, RESCALE],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let calpha = CALPHA.read(params)?;
    if !(calpha.is_finite() && calpha >= 0.0) {
        return Err(WeightingError(format!(
            "cagrad: parameter 'calpha' must be a finite number >= 0, got {calpha}"
        )));
    }
    let rescale = RESCALE.read(params)?;
    let divisor = if rescale == 0.0 {
        1.0
    } else if rescale == 1.0 {
        1.0 + calpha * calpha
    } else if rescale == 2.0 {
        1.0 + calpha
    } else {
        return Err(WeightingError(format!(
            "cagrad: parameter 'rescale' must be 0, 1 or 2, got {rescale}"
        )));
    };
    Ok(Box::new(CaGrad { k, calpha, divisor }))
}

/// CAGrad (Liu, Liu, Jin, Stone, Liu, "Conflict-Averse Gradient Descent for Multi-task
/// Learning", NeurIPS 2021), as LibMTL `CAGrad`: with g₀ the mean gradient,
/// c = calpha·√(mean(G) + 1e-8) + 1e-8 and bₖ = (G·1/K)ₖ, the weights w minimise
/// bᵀw + c·√(wᵀGw + 1e-8) over the simplex; then gw = Σ wₖgₖ, λ = c/(‖gw‖ + 1e-8) and
/// d = (g₀ + λ·gw)/divisor, divisor = 1, 1 + calpha² or 1 + calpha for rescale 0, 1, 2.
///
/// `weights` = w (as LibMTL returns); `effective` = (1/K + λ·wₖ)/divisor; heads get 1.
/// LibMTL runs SciPy's SLSQP from 1/K with a loose tolerance; here the problem is solved
/// exactly (`cagrad_weights`), so the objective is never worse. The point gw is unique,
/// so d is too, even when w is not. Zero or cancelling gradients give finite results (the
/// 1e-8 terms keep every division finite).
#[derive(Debug)]
pub struct CaGrad {
    /// Number of tasks K.
    k: usize,
    /// calpha (≥ 0).
    calpha: f64,
    /// 1, 1 + calpha² or 1 + calpha (rescale 0, 1, 2).
    divisor: f64,
}

impl Strategy for CaGrad {
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
        let (grads, g) = checked_input("cagrad", input, self.k)?;
        let k = self.k as f64;
        let mean_g = g.iter().flatten().sum::<f64>() / (k * k);
        let c = self.calpha * (mean_g + 1e-8).sqrt() + 1e-8;
        let b: Vec<f64> = g.iter().map(|row| row.iter().sum::<f64>() / k).collect();
        let w = cagrad_weights(&g, &b, c);
        let gw = weighted_sum(grads, &w);
        let lambda = c / (dot(&gw, &gw).sqrt() + 1e-8);
        let mean = weighted_sum(grads, &vec![1.0 / k; self.k]);
        let shared: Vec<f64> = mean
            .iter()
            .zip(&gw)
            .map(|(m, v)| (m + lambda * v) / self.divisor)
            .collect();
        let effective: Vec<f64> = w
            .iter()
            .map(|wk| (1.0 / k + lambda * wk) / self.divisor)
            .collect();
        finite_output(
            "cagrad",
            StepOutput {
                shared_grad: Some(shared),
                weights: w,
                effective,
                head_weights: vec![1.0; self.k],
            },
        )
    }
}

/// CAGrad's inner problem: argmin over w ∈ simplex of bᵀw + c·√(wᵀGw + 1e-8) (c > 0).
///
/// With √(q + ε) = min over s > 0 of ((q + ε)/s + s)/2 the problem becomes
/// min over s of φ(s), φ(s) = min over w of bᵀw + (c/2)·((wᵀGw + ε)/s + s): for fixed s a
/// simplex QP, and φ is convex in s with φ′(s) ∝ s² − (q(s) + ε), where q(s) = wᵀGw at the
/// inner minimiser (unique, because the point Σ wₖ gₖ is). So s* is the root of that
/// increasing function, found by bisection on [√ε, √(max Gₖₖ + ε)] to full precision, and
/// the answer is w(s*).
pub fn cagrad_weights(g: &[Vec<f64>], b: &[f64], c: f64) -> Vec<f64> {
    const EPS: f64 = 1e-8;
    let k = b.len();
    if k <= 1 {
        return vec![1.0; k];
    }
    let objective = |w: &[f64]| dot(b, w) + c * (quad_form(g, w) + EPS).sqrt();
    let inner = |s: f64| {
        let scaled: Vec<Vec<f64>> = g
            .iter()
            .map(|row| row.iter().map(|v| v * c / s).collect())
            .collect();
        simplex_qp(&scaled, b)
    };
    let max_diag = g
        .iter()
        .enumerate()
        .fold(0.0_f64, |m, (i, row)| m.max(row[i]));
    let mut lo = EPS.sqrt();
    let mut hi = (max_diag + EPS).sqrt();
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if !(mid > lo && mid < hi) {
            break;
        }
        let w = inner(mid);
        if mid * mid < quad_form(g, &w) + EPS {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi {
            break;
        }
    }
    // Near s* the objective is flat to rounding, so the answer is w(s*), not the best
    // objective value seen; the ends of the search range are kept only as a safeguard.
    let w = inner(0.5 * (lo + hi));
    let value = objective(&w);
    let tol = 1e-12 * (value.abs() + c);
    [inner(EPS.sqrt()), inner((max_diag + EPS).sqrt())]
        .into_iter()
        .find(|cand| objective(cand) < value - tol)
        .unwrap_or(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::gramian;
    use crate::weighting::testing::random_grads;
    use rand::SeedableRng as _;

    #[test]
    fn cagrad_beats_a_fine_grid_for_two_tasks() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for trial in 0..40 {
            let grads = random_grads(&mut rng, 2, 3);
            let g = gramian(&grads);
            let b: Vec<f64> = g.iter().map(|r| r.iter().sum::<f64>() / 2.0).collect();
            let c = 0.5 * ((g.iter().flatten().sum::<f64>() / 4.0) + 1e-8).sqrt() + 1e-8;
            let f = |w: &[f64]| dot(&b, w) + c * (quad_form(&g, w) + 1e-8).sqrt();
            let w = cagrad_weights(&g, &b, c);
            let grid = (0..=100_000)
                .map(|i| {
                    let t = f64::from(i) / 100_000.0;
                    f(&[t, 1.0 - t])
                })
                .fold(f64::INFINITY, f64::min);
            assert!(
                f(&w) <= grid + 1e-12,
                "trial {trial}: {} vs grid {grid}",
                f(&w)
            );
        }
    }
}
