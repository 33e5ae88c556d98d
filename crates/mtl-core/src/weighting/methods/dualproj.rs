//! DualProj: the projection of the mean gradient onto the dual cone of the task gradients
//! (the GEM projection; Lopez-Paz & Ranzato, NeurIPS 2017, as an aggregator in TorchJD).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, weighted_sum,
};
use crate::weighting::common::checked_input;
use crate::weighting::methods::upgrad::dual_cone_weights;

/// `DualProj_norm_eps`.
const DUALPROJ_NORM_EPS: Hyper = Hyper {
    name: "DualProj_norm_eps",
    default: 1e-4,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "G is divided by its trace, or replaced by 0 if the trace is below this.",
};

/// `DualProj_reg_eps`.
const DUALPROJ_REG_EPS: Hyper = Hyper {
    name: "DualProj_reg_eps",
    default: 1e-4,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "ε added to the diagonal of the normalised Gramian (keeps it invertible).",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "dualproj",
    label: "DualProj (mean onto the dual cone)",
    family: Family::Gradient,
    paper: "Lopez-Paz & Ranzato, NeurIPS 2017 (GEM's projection); Quinton & Rey, arXiv 2024 (as an aggregator)",
    about: "Takes the mean of the task gradients and, if it conflicts with some task, \
            projects it onto the dual cone of the task gradients (the directions that \
            conflict with none of them): the closest update that worsens no task to first \
            order. UPGrad's sibling: UPGrad projects every gradient and averages, DualProj \
            averages and projects once.",
    formula: "H = G / tr(G) + ε·I,  v = argmin over v ≥ 1/K of v · H v,  d = Σ_k v_k g_k",
    hypers: &[DUALPROJ_NORM_EPS, DUALPROJ_REG_EPS],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let norm_eps = DUALPROJ_NORM_EPS.read(params)?;
    let reg_eps = DUALPROJ_REG_EPS.read(params)?;
    for (name, v) in [
        ("DualProj_norm_eps", norm_eps),
        ("DualProj_reg_eps", reg_eps),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(WeightingError(format!(
                "dualproj: parameter '{name}' must be a finite number >= 0, got {v}"
            )));
        }
    }
    Ok(Box::new(DualProj {
        k,
        norm_eps,
        reg_eps,
    }))
}

/// DualProj, as TorchJD's `DualProj()`: H = G/tr(G) (or 0 when tr(G) < `DualProj_norm_eps`)
/// plus `DualProj_reg_eps`·I, v = argmin vᵀHv subject to v ≥ 1/K (the projection of the
/// mean gradient Jᵀ(1/K) onto the dual cone {x : Jx ≥ 0}, in weight space), d = Σ vₖgₖ.
/// The QP is solved exactly by the active-set method UPGrad uses (TorchJD calls quadprog).
/// `weights` = `effective` = v; heads get 1. Mean scale, like UPGrad.
#[derive(Debug)]
pub struct DualProj {
    /// Number of tasks K.
    k: usize,
    /// Trace threshold.
    norm_eps: f64,
    /// Diagonal regularisation.
    reg_eps: f64,
}

impl Strategy for DualProj {
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
        let (grads, g) = checked_input("dualproj", input, self.k)?;
        let u = vec![1.0 / self.k as f64; self.k];
        let v = dual_cone_weights(&g, &u, self.norm_eps, self.reg_eps);
        finite_output(
            "dualproj",
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &v)),
                weights: v.clone(),
                effective: v,
                head_weights: vec![1.0; self.k],
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::dot;
    use crate::weighting::testing::{close_msg, j2, random_grads, run0};
    use rand::SeedableRng as _;

    /// TorchJD's published values (tests/unit/aggregation/test_values.py, float32, 4
    /// decimals): DualProj on [[-4, 1, 1], [6, 1, 1]] is (0.5563, 1.1109, 1.1109) with
    /// weights (0.6109, 0.5).
    #[test]
    fn dualproj_matches_torchjd_on_its_test_jacobian() {
        let out = run0("dualproj", &Params::new(), &j2(), &[1.0, 1.0]);
        close_msg(&out.weights, &[0.6109, 0.5], 1e-4, "weights");
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.5563, 1.1109, 1.1109],
            1e-4,
            "DualProj",
        );
    }

    /// Without conflict the mean is kept; with conflict no task is worsened beyond what the
    /// ε·I regularisation allows (gₖ·d ≥ −ε·vₖ·tr G).
    #[test]
    fn dualproj_keeps_the_mean_or_removes_the_conflict() {
        let same = vec![vec![1.0, 0.2], vec![0.8, 0.5]];
        let out = run0("dualproj", &pairs0(), &same, &[1.0, 1.0]);
        close_msg(&out.weights, &[0.5, 0.5], 1e-12, "no conflict: the mean");
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        for trial in 0..40 {
            let k = 2 + trial % 5;
            let grads = random_grads(&mut rng, k, 3);
            let out = run0("dualproj", &Params::new(), &grads, &vec![1.0; k]);
            let d = out.shared_grad.unwrap();
            let trace: f64 = grads.iter().map(|g| dot(g, g)).sum();
            for (g, v) in grads.iter().zip(&out.weights) {
                assert!(*v >= 1.0 / k as f64 - 1e-12, "trial {trial}: v ≥ 1/K");
                assert!(dot(g, &d) >= -1e-4 * v * trace - 1e-12, "trial {trial}");
            }
        }
    }

    fn pairs0() -> Params {
        Params::new()
    }
}
