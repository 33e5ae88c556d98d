//! RLW: random loss weighting, fresh softmax-normal weights at every step (Lin et al., TMLR 2022).

use rand::Rng as _;
use rand_distr::StandardNormal;

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    finite_output, loss_based,
};
use crate::weighting::common::{check_input, softmax};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "rlw",
    label: "RLW (random loss weighting)",
    family: Family::Loss,
    paper: "Lin et al., TMLR 2022",
    about: "Draws fresh random weights at every step: a softmax of K standard normal \
            numbers. On average every task gets weight 1/K. The paper shows that this \
            simple random baseline is often as good as carefully designed methods.",
    formula: "z ~ N(0, I),  w = softmax(z),  L = Σ_k w_k · L_k",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    Ok(Box::new(RandomLossWeighting { k }))
}

/// Random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus
/// Test for Multi-Task Learning", TMLR 2022), as LibMTL `RLW`: w = softmax(z), z ~ N(0, I_K)
/// drawn from `rng` at every step.
#[derive(Debug)]
pub struct RandomLossWeighting {
    /// Number of tasks K.
    k: usize,
}

impl Strategy for RandomLossWeighting {
    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("rlw", input, self.k)?;
        let z: Vec<f64> = (0..self.k)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let w = softmax(&z);
        finite_output("rlw", loss_based(input, w.clone(), w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close, input, strategy};
    use rand::SeedableRng as _;

    #[test]
    fn rlw_on_simplex_mean_and_seeded() {
        let k = 4;
        let mut s = strategy("rlw", "{}", k);
        let losses = vec![1.0; k];
        let mut r = ChaCha8Rng::seed_from_u64(42);
        let n = 20_000;
        let mut mean = vec![0.0; k];
        for _ in 0..n {
            let out = s.combine(&input(0, &losses, None, &[]), &mut r).unwrap();
            assert!((out.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(out.weights.iter().all(|w| *w > 0.0));
            for (m, w) in mean.iter_mut().zip(&out.weights) {
                *m += w / f64::from(n);
            }
        }
        close(&mean, &[0.25; 4], 0.01);
        let a = s
            .combine(
                &input(0, &losses, None, &[]),
                &mut ChaCha8Rng::seed_from_u64(3),
            )
            .unwrap();
        let b = s
            .combine(
                &input(0, &losses, None, &[]),
                &mut ChaCha8Rng::seed_from_u64(3),
            )
            .unwrap();
        assert_eq!(a, b);
    }
}
