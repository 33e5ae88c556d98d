//! MGDA: the minimum-norm point of the convex hull of the task gradients (Sener & Koltun,
//! NeurIPS 2018).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Choice, Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, gramian, weighted_sum,
};
use crate::weighting::common::checked_input;
use crate::weighting::normalize::Normalizer;
use crate::weighting::solvers::simplex_qp;

/// `mgda_gn`.
const MGDA_GN: Choice = Choice {
    name: "mgda_gn",
    default: "none",
    allowed: &["none", "l2", "loss", "loss+"],
    help: "Divide each gradient first by nothing, its length, the task loss, or both.",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "mgda",
    label: "MGDA (multiple gradient descent)",
    family: Family::Gradient,
    paper: "Sener & Koltun, NeurIPS 2018",
    about: "Treats the tasks as separate objectives and looks for a common descent \
            direction: the shortest vector in the convex hull of the task gradients. \
            Moving against it lowers every task's loss at once (to first order); when it \
            is zero the model is Pareto-stationary. Parameter 'mgda_gn' (text) first \
            divides each gradient by a normaliser: 'none' (default), 'l2' (its length), \
            'loss' (the task loss) or 'loss+' (both). Weights lie on the simplex.",
    formula: "h_k = g_k / n_k,  w = argmin over w ∈ simplex of ‖Σ_k w_k · h_k‖²,  d = Σ_k w_k · h_k",
    hypers: &[],
    choices: &[MGDA_GN],
    extras: &[],
    rep_grad: RepGrad::Allowed,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let norm = Normalizer::from_choice(MGDA_GN.read("mgda", params)?);
    Ok(Box::new(Mgda { k, norm }))
}

/// MGDA (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS
/// 2018), with LibMTL's MinNormSolver semantics: the gradients are divided by the
/// normaliser (`mgda_gn`) first, the weights w are the minimum-norm point of their convex
/// hull (on the simplex, returned as `weights`), and the shared gradient is Σ wₖ·gₖ/nₖ on
/// the normalised gradients (so `effective` = wₖ/nₖ). Heads get weight 1.
///
/// - K = 2: LibMTL's closed form, including its clipping of a one-sided optimum to
///   0.999 / 0.001, so the output equals LibMTL's.
/// - K ≥ 3: solved exactly by an active-set method (`simplex_qp`) instead of LibMTL's 250
///   projected-gradient steps, so ‖d‖² is never larger than LibMTL's. When the minimiser
///   is not unique (collinear gradients) the point d is still unique.
/// - Degenerate inputs: a zero gradient under `l2` or `loss+` keeps normaliser 1 (LibMTL
///   divides by 0 and gets NaN); it then makes d = 0, which is MGDA's answer when one task
///   is already stationary. `loss` and `loss+` need positive losses (an error otherwise).
///   All-zero gradients give d = 0 (uniform weights for K ≥ 3, LibMTL's 0.999 / 0.001 for
///   K = 2).
#[derive(Debug)]
pub struct Mgda {
    /// Number of tasks K.
    k: usize,
    /// The normaliser (`mgda_gn`).
    norm: Normalizer,
}

/// LibMTL's two-vector min-norm step (`_min_norm_element_from2`): the weight γ on v₁ in
/// γ·v₁ + (1 − γ)·v₂ of least norm, clipped to 0.999 / 0.001 at the ends.
fn min_norm_pair(v1v1: f64, v1v2: f64, v2v2: f64) -> f64 {
    if v1v2 >= v1v1 {
        0.999
    } else if v1v2 >= v2v2 {
        0.001
    } else {
        (v2v2 - v1v2) / (v1v1 + v2v2 - 2.0 * v1v2)
    }
}

impl Strategy for Mgda {
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
        let (grads, _) = checked_input("mgda", input, self.k)?;
        let norms = self.norm.divisors("mgda", grads, input.losses)?;
        let scaled: Vec<Vec<f64>> = grads
            .iter()
            .zip(&norms)
            .map(|(g, n)| g.iter().map(|v| v / n).collect())
            .collect();
        let m = gramian(&scaled);
        if m.iter().flatten().any(|x| !x.is_finite()) {
            return Err(WeightingError(
                "mgda: the normalised gradients overflow (losses too small?)".to_owned(),
            ));
        }
        let weights = match self.k {
            1 => vec![1.0],
            2 => {
                let gamma = min_norm_pair(m[0][0], m[0][1], m[1][1]);
                vec![gamma, 1.0 - gamma]
            }
            k => simplex_qp(&m, &vec![0.0; k]),
        };
        let effective: Vec<f64> = weights.iter().zip(&norms).map(|(w, n)| w / n).collect();
        finite_output(
            "mgda",
            StepOutput {
                shared_grad: Some(weighted_sum(&scaled, &weights)),
                weights,
                effective,
                head_weights: vec![1.0; self.k],
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::weighting::testing::{assert_finite_msg, close_msg, pairs, run0};

    #[test]
    fn mgda_l2_zero_gradient_falls_back_to_zero_step() {
        let grads = vec![vec![1.0, 2.0], vec![0.0, 0.0], vec![-1.0, 0.5]];
        let p = pairs(&[("mgda_gn", "l2".into())]);
        let out = run0("mgda", &p, &grads, &[1.0, 1.0, 1.0]);
        close_msg(
            &out.weights,
            &[0.0, 1.0, 0.0],
            1e-12,
            "weight on the zero gradient",
        );
        close_msg(
            out.shared_grad.as_ref().unwrap(),
            &[0.0, 0.0],
            1e-15,
            "d = 0",
        );
        let out = run0("mgda", &p, &grads[..2], &[1.0, 1.0]);
        assert_finite_msg(&out, "K = 2 with a zero gradient");
    }
}
