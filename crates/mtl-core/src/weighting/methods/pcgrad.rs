//! PCGrad: gradient surgery, each task gradient projected off the ones it conflicts with
//! (Yu et al., NeurIPS 2020).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError, dot,
    weighted_sum,
};
use crate::weighting::common::{EPS, ORDER, checked_grads, finite, norm, visit_order};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "pcgrad",
    label: "PCGrad",
    family: Family::Gradient,
    paper: "Yu, Kumar, Gupta, Levine, Hausman, Finn, Gradient Surgery for Multi-Task Learning, NeurIPS 2020",
    about: "When two task gradients point against each other (negative dot product), PCGrad removes \
            from one of them the component that conflicts with the other, so that no task's update \
            directly undoes another's. Each task's gradient is projected against the others in a \
            random order, and the projected gradients are summed. Tasks whose gradients agree are \
            left untouched, so PCGrad equals plain summation when there is no conflict.",
    formula: "p_i = g_i; for j in random order: if ⟨p_i, g_j⟩ < 0 then p_i = p_i - ⟨p_i, g_j⟩ / (‖g_j‖² + ε) · g_j; d = Σ_i p_i",
    hypers: &[],
    choices: &[ORDER],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(PcGrad::new(params, k)?))
}

/// PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020), as LibMTL's
/// `PCGrad.py`.
///
/// For each task i, LibMTL shuffles all K task indices (i included) and projects p_i off every
/// g_j it conflicts with, using the original g_j and ‖g_j‖² + 1e-8 in the denominator. The shared
/// gradient is the sum of the p_i. `weights` = `effective` = 1 + accumulated projection
/// coefficients (LibMTL's `batch_weight`), which are exact: shared = Σ weights_k g_k. Heads get
/// weight 1. Param `order: "identity"` visits the indices in order instead of shuffling.
/// Degenerate inputs are finite by construction (the ε keeps zero gradients harmless).
#[derive(Clone, Debug)]
pub struct PcGrad {
    k: usize,
    identity: bool,
}

impl PcGrad {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        Ok(Self {
            k,
            identity: ORDER.read("pcgrad", params)? == "identity",
        })
    }
}

impl Strategy for PcGrad {
    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "pcgrad")?;
        let k = self.k;
        let denom: Vec<f64> = grads
            .iter()
            .map(|g| {
                let n = norm(g);
                n * n + EPS
            })
            .collect();
        let mut pc = grads.to_vec();
        let mut weights = vec![1.0; k];
        for p in pc.iter_mut() {
            for j in visit_order(k, None, self.identity, rng) {
                let gij = dot(p, &grads[j]);
                if gij < 0.0 {
                    let c = gij / denom[j];
                    for (x, g) in p.iter_mut().zip(&grads[j]) {
                        *x -= c * g;
                    }
                    weights[j] -= c;
                }
            }
        }
        let shared = weighted_sum(&pc, &vec![1.0; k]);
        finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: weights.clone(),
                effective: weights,
                head_weights: vec![1.0; k],
            },
            "pcgrad",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, identity, j2, j3, run};

    #[test]
    fn golden_pcgrad() {
        let out = run("pcgrad", &identity(), &j2(), &[1.0, 1.0]);
        close(&out.weights, &[2.2222, 1.5789], 1e-4);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.5848, 3.8012, 3.8012],
            1e-4,
        );
        let out = run("pcgrad", &identity(), &j3(), &[1.0, 1.0, 1.0]);
        close(&out.weights, &[1.2, 2.0, 1.2], 1e-6);
    }

    #[test]
    fn pcgrad_random_order_is_seeded_and_removes_conflicts() {
        let g = vec![
            vec![1.0, 0.2, -0.5],
            vec![-0.8, 1.0, 0.1],
            vec![-0.3, -0.9, 1.0],
        ];
        let a = run("pcgrad", &Params::new(), &g, &[1.0; 3]);
        let b = run("pcgrad", &Params::new(), &g, &[1.0; 3]);
        assert_eq!(a, b);
        // K = 2: the result is order-independent and p_i ⊥ g_j after the projection.
        let p = run("pcgrad", &Params::new(), &j2(), &[1.0; 2]);
        close(
            p.shared_grad.as_ref().unwrap(),
            &[0.5848, 3.8012, 3.8012],
            1e-4,
        );
    }
}
