//! UPGrad: the mean of the task gradients' projections onto their dual cone (Quinton & Rey,
//! 2024).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, weighted_sum,
};
use crate::weighting::common::checked_input;
use crate::weighting::solvers::nonneg_qp;

/// `UPGrad_norm_eps`.
const UPGRAD_NORM_EPS: Hyper = Hyper {
    name: "UPGrad_norm_eps",
    default: 1e-4,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "G is divided by its trace, or replaced by 0 if the trace is below this.",
};

/// `UPGrad_reg_eps`.
const UPGRAD_REG_EPS: Hyper = Hyper {
    name: "UPGrad_reg_eps",
    default: 1e-4,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "ε added to the diagonal of the normalised Gramian (keeps it invertible).",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "upgrad",
    label: "UPGrad (unconflicting projection)",
    family: Family::Gradient,
    paper: "Quinton & Rey, arXiv 2024 (Jacobian descent)",
    about: "Projects each task gradient onto the dual cone of all task gradients (the \
            directions that conflict with none of them) and averages the projections. \
            The result never increases any task's loss to first order, and it equals \
            the mean gradient when nothing conflicts. Each projection is a small \
            quadratic program over the Gramian of the gradients.",
    formula: "H = G / tr(G) + ε·I,  v_i = argmin over v ≥ e_i / K of v · H v,  w = Σ_i v_i,  d = Σ_k w_k g_k",
    hypers: &[UPGRAD_NORM_EPS, UPGRAD_REG_EPS],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let norm_eps = UPGRAD_NORM_EPS.read(params)?;
    let reg_eps = UPGRAD_REG_EPS.read(params)?;
    for (name, v) in [("UPGrad_norm_eps", norm_eps), ("UPGrad_reg_eps", reg_eps)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(WeightingError(format!(
                "upgrad: parameter '{name}' must be a finite number >= 0, got {v}"
            )));
        }
    }
    Ok(Box::new(UpGrad {
        k,
        norm_eps,
        reg_eps,
    }))
}

/// UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", arXiv
/// 2406.16232, 2024), as LibMTL `UPGrad` (adapted from TorchJD): H = G/tr(G) (or 0 when
/// tr(G) < `UPGrad_norm_eps`) plus `UPGrad_reg_eps`·I; for every task i,
/// vⁱ = argmin vᵀHv subject to v ≥ eᵢ/K; the weights are w = Σᵢ vⁱ and the shared gradient
/// is Σ wₖgₖ (the mean of the gradients' projections onto the dual cone). `weights` =
/// `effective` = w; heads get 1.
///
/// Each QP is solved exactly by an active-set method (`nonneg_qp` on v − eᵢ/K) instead of
/// quadprog, with the same result. With `UPGrad_reg_eps` = 0 and a singular G the QPs are
/// still bounded (the linear term lies in the range of H), so every input gives a finite
/// answer; all-zero gradients give w = 1/K each and d = 0.
#[derive(Debug)]
pub struct UpGrad {
    /// Number of tasks K.
    k: usize,
    /// Trace threshold.
    norm_eps: f64,
    /// Diagonal regularisation.
    reg_eps: f64,
}

impl UpGrad {
    /// The UPGrad weights (K) for a Gramian G (K × K): Σᵢ of the dual-cone weights of eᵢ/K.
    fn weights(&self, g: &[Vec<f64>]) -> Vec<f64> {
        let k = self.k;
        let mut w = vec![0.0; k];
        for i in 0..k {
            let mut u = vec![0.0; k];
            u[i] = 1.0 / k as f64;
            let v = dual_cone_weights(g, &u, self.norm_eps, self.reg_eps);
            for (wj, vj) in w.iter_mut().zip(&v) {
                *wj += vj;
            }
        }
        w
    }
}

/// The weights v = argmin vᵀHv subject to v ≥ u, with H = G/tr(G) (or 0 when tr(G) <
/// `norm_eps`) plus `reg_eps`·I: the projection of Jᵀu onto the dual cone of the gradients,
/// in weight space (UPGrad with u = eᵢ/K, DualProj with u = 1/K). Solved exactly as
/// v = u + y, y ≥ 0 minimising ½yᵀHy + (Hu)ᵀy.
pub fn dual_cone_weights(g: &[Vec<f64>], u: &[f64], norm_eps: f64, reg_eps: f64) -> Vec<f64> {
    let k = g.len();
    let trace: f64 = (0..k).map(|i| g[i][i]).sum();
    let mut h: Vec<Vec<f64>> = if trace < norm_eps {
        vec![vec![0.0; k]; k]
    } else {
        g.iter()
            .map(|row| row.iter().map(|v| v / trace).collect())
            .collect()
    };
    for (i, row) in h.iter_mut().enumerate() {
        row[i] += reg_eps;
    }
    let p = crate::weighting::solvers::mat_vec(&h, u);
    let y = nonneg_qp(&h, &p);
    u.iter().zip(&y).map(|(a, b)| a + b).collect()
}

impl Strategy for UpGrad {
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
        let (grads, g) = checked_input("upgrad", input, self.k)?;
        let w = self.weights(&g);
        finite_output(
            "upgrad",
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &w)),
                weights: w.clone(),
                effective: w,
                head_weights: vec![1.0; self.k],
            },
        )
    }
}
