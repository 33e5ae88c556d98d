//! MoDo: multi-objective gradient with double sampling (Chen, Fernando, Ying & Chen,
//! NeurIPS 2023 / JMLR 2024).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    dot, weighted_sum,
};
use crate::weighting::common::{checked_grads, finite, hyper_in};

/// `MoDo_gamma`.
const MODO_GAMMA: Hyper = Hyper {
    name: "MoDo_gamma",
    default: 1e-3,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "Step size of the weights λ (one projected gradient step per training step).",
};

/// `MoDo_rho`.
const MODO_RHO: Hyper = Hyper {
    name: "MoDo_rho",
    default: 0.1,
    min: 0.0,
    max: 10.0,
    integer: false,
    help: "ℓ2 regularisation ρ of λ's update (pulls λ towards the uniform weights).",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "modo",
    label: "MoDo (double sampling)",
    family: Family::Gradient,
    paper: "Chen, Fernando, Ying & Chen, NeurIPS 2023 / JMLR 2024",
    about: "A stochastic MGDA: the weights λ take one projected gradient step per training \
            step on ‖Σ λ_k g_k‖², with the product of the gradients estimated from two \
            independent batches (so its expectation is unbiased), and the update uses a \
            third batch. Each step therefore draws three batches and takes three sets of \
            per-task gradients. λ starts uniform and moves slowly (γ).",
    formula: "λ ← Π_Δ(λ − γ·(G₁ (G₂ᵀ λ) + ρ λ)),  d = G₃ᵀ λ  (G₁, G₂, G₃: K × d gradients on three independent batches)",
    hypers: &[MODO_GAMMA, MODO_RHO],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let gamma = hyper_in(params, &MODO_GAMMA, 0.0, f64::INFINITY)
        .map_err(|e| WeightingError(format!("modo: {e}")))?;
    let rho = hyper_in(params, &MODO_RHO, 0.0, f64::INFINITY)
        .map_err(|e| WeightingError(format!("modo: {e}")))?;
    Ok(Box::new(MoDo {
        k,
        gamma,
        rho,
        lambda: vec![1.0 / k as f64; k],
    }))
}

/// MoDo (Chen et al., "Three-Way Trade-Off in Multi-Objective Learning: Optimization,
/// Generalization and Conflict-Avoidance", NeurIPS 2023 / JMLR 2024), as LibMTL `MoDo`:
/// with three independent gradient samples G₁, G₂, G₃ (K × d each; [`StepInput::samples`]),
/// λ ← Π_Δ(λ − γ·(G₁(G₂ᵀλ) + ρλ)) with LibMTL's simplex projection, and the shared gradient
/// is G₃ᵀλ. State: λ (init 1/K). `weights` = `effective` = λ (the weights on the third
/// sample's gradients); heads get 1.
///
/// Differences from LibMTL: its heads get the mean of their gradients over the three
/// batches; here they get their gradient on the step's own batch (the first sample). Without
/// independent samples (the gradient playground, an `aggregate` case without `G_samples`)
/// the step's one gradient matrix serves as all three: the noiseless limit.
#[derive(Debug)]
pub struct MoDo {
    /// Number of tasks K.
    k: usize,
    /// Step size γ.
    gamma: f64,
    /// Regularisation ρ.
    rho: f64,
    /// The weights λ on the simplex.
    lambda: Vec<f64>,
}

/// The three samples of a step: [`StepInput::samples`] when it has three of the right shape,
/// else the step's gradients three times.
pub(crate) fn three_samples<'a>(
    name: &str,
    input: &StepInput<'a>,
    grads: &'a [Vec<f64>],
) -> Result<[&'a [Vec<f64>]; 3], WeightingError> {
    match input.samples {
        [] => Ok([grads, grads, grads]),
        [a, b, c] => {
            for s in [a, b, c] {
                let shape_ok =
                    s.len() == grads.len() && s.iter().zip(grads).all(|(r, g)| r.len() == g.len());
                if !shape_ok {
                    return Err(WeightingError(format!(
                        "{name}: every gradient sample must be K × d like the step's gradients"
                    )));
                }
                if s.iter().flatten().any(|v| !v.is_finite()) {
                    return Err(WeightingError(format!(
                        "{name}: a gradient sample has a non-finite entry"
                    )));
                }
            }
            Ok([a, b, c])
        }
        other => Err(WeightingError(format!(
            "{name}: needs 3 gradient samples, got {}",
            other.len()
        ))),
    }
}

/// The Euclidean projection onto the probability simplex, as LibMTL MoDo's
/// `_projection2simplex` (the threshold of the sorted entries).
pub(crate) fn project_simplex(y: &[f64]) -> Vec<f64> {
    let m = y.len();
    let mut sorted = y.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut tmax_f = (y.iter().sum::<f64>() - 1.0) / m as f64;
    let mut tmpsum = 0.0;
    for i in 0..m.saturating_sub(1) {
        tmpsum += sorted[i];
        let tmax = (tmpsum - 1.0) / (i as f64 + 1.0);
        if tmax > sorted[i + 1] {
            tmax_f = tmax;
            break;
        }
    }
    y.iter().map(|v| (v - tmax_f).max(0.0)).collect()
}

impl Strategy for MoDo {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("lambda", &self.lambda);
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let lambda = r.vec("lambda", self.k)?;
        r.finish()?;
        self.lambda = lambda;
        Ok(())
    }

    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn gradient_samples(&self) -> usize {
        3
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "modo")?;
        let [g1, g2, g3] = three_samples("modo", input, grads)?;
        // G₂ᵀλ (d), then G₁ times it (K).
        let v = weighted_sum(g2, &self.lambda);
        let step: Vec<f64> = g1
            .iter()
            .zip(&self.lambda)
            .map(|(g, l)| dot(g, &v) + self.rho * l)
            .collect();
        let moved: Vec<f64> = self
            .lambda
            .iter()
            .zip(&step)
            .map(|(l, s)| l - self.gamma * s)
            .collect();
        let lambda = project_simplex(&moved);
        let out = finite(
            StepOutput {
                shared_grad: Some(weighted_sum(g3, &lambda)),
                weights: lambda.clone(),
                effective: lambda.clone(),
                head_weights: vec![1.0; self.k],
            },
            "modo",
        )?;
        self.lambda = lambda;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projection_lands_on_the_simplex_and_keeps_points_on_it() {
        let p = project_simplex(&[0.3, 0.7]);
        assert!((p[0] - 0.3).abs() < 1e-15 && (p[1] - 0.7).abs() < 1e-15);
        let p = project_simplex(&[2.0, -1.0, 0.5]);
        assert_eq!(p, vec![1.0, 0.0, 0.0]);
        let p = project_simplex(&[0.5, 0.5, 0.5]);
        for v in &p {
            assert!((v - 1.0 / 3.0).abs() < 1e-15);
        }
    }
}
