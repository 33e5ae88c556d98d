//! EW: equal weighting, the plain sum of the task losses (LibMTL `EW`).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    loss_based,
};
use crate::weighting::common::check_input;

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "ew",
    label: "EW (equal weighting)",
    family: Family::Loss,
    paper: "Baseline (linear scalarisation); LibMTL EW",
    about: "Adds the task losses with weight 1 each and back-propagates the sum. It is the \
            baseline every other method is compared with. As in LibMTL the weights are 1, \
            not 1/K, so the step grows with the number of tasks.",
    formula: "L = Σ_k L_k,  w_k = 1",
    hypers: &[],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    Ok(Box::new(EqualWeighting { k }))
}

/// Equal weighting (LibMTL `EW`): weight 1 on every loss, i.e. the plain sum (not the mean
/// the LibMTL docstring claims).
#[derive(Debug)]
pub struct EqualWeighting {
    /// Number of tasks K.
    k: usize,
}

impl Strategy for EqualWeighting {
    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("ew", input, self.k)?;
        let w = vec![1.0; self.k];
        Ok(loss_based(input, w.clone(), w))
    }
}

#[cfg(test)]
mod tests {
    use crate::weighting::testing::{close, input, j2, rng, strategy};

    #[test]
    fn ew_golden() {
        let j = j2();
        let out = strategy("ew", "{}", 2)
            .combine(&input(0, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
        close(out.shared_grad.as_ref().unwrap(), &[2.0, 2.0, 2.0], 1e-12);
        // Without gradients the shared gradient is left to the trainer.
        let out = strategy("ew", "{}", 2)
            .combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        assert!(out.shared_grad.is_none());
    }
}
