//! "Explain this step": for one real step of the run, what the strategy saw and did (each
//! task's gradient on the shared parameters, their Gramian and cosines, the weights and the
//! combined update) and, after the step, each task's predicted first-order loss change
//! against the actual one on the same batch.

use serde::{Deserialize, Serialize};

use super::{Session, TrainError};
use crate::weighting::{StepOutput, api};

/// What one step did, in the numbers a student can check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepExplanation {
    /// The step explained (1-based, as the status bar counts).
    pub step: u64,
    /// The strategy's name.
    pub strategy: String,
    /// Rows in the batch.
    pub rows: usize,
    /// Each task's loss on the batch before the step (without dropout; `None` without a
    /// label in the batch).
    pub loss_before: Vec<Option<f64>>,
    /// Each task's loss on the same batch after the step (without dropout).
    pub loss_after: Vec<Option<f64>>,
    /// The norm of each task's gradient on the shared parameters (or on the shared
    /// representation, with representation gradients), as the strategy received it.
    pub grad_norms: Vec<f64>,
    /// The K × K Gramian gᵢ·gⱼ of those gradients (row-major).
    pub gram: Vec<f64>,
    /// The K × K cosines (row-major; NaN for a zero gradient).
    pub cosines: Vec<f64>,
    /// The strategy's task weights, as it reports them.
    pub weights: Vec<f64>,
    /// The weights that reproduce the combined update (Σ cₖ gₖ where it is such a sum).
    pub effective: Vec<f64>,
    /// The norm of the combined update for the shared parameters (or the representation).
    pub update_norm: f64,
    /// Each task's first-order prediction of its loss change, ∇Lₖ · Δθ over every parameter
    /// the step moved (`None` with representation gradients, where the trainer never forms
    /// the parameter gradient per task, or without a label).
    pub predicted: Vec<Option<f64>>,
    /// The norm of the whole parameter change Δθ.
    pub step_norm: f64,
    /// The learning rate of the step.
    pub lr: f64,
}

impl StepExplanation {
    /// Each task's actual loss change on the batch (`None` without a label).
    pub fn actual(&self) -> Vec<Option<f64>> {
        self.loss_before
            .iter()
            .zip(&self.loss_after)
            .map(|(b, a)| b.zip(*a).map(|(b, a)| a - b))
            .collect()
    }
}

/// What is collected while the explained step runs.
#[derive(Default)]
pub(super) struct Capture {
    /// The batch's rows.
    pub rows: Vec<usize>,
    /// Each task's loss on the batch before the step.
    pub before: Vec<Option<f64>>,
    /// Every parameter's value before the step.
    pub params: Vec<Vec<f32>>,
    /// From the gradient step: the per-task shared gradients, each task's own parameters'
    /// gradients, whether they are representation gradients, and the strategy's output.
    pub step: Option<Captured>,
}

/// What the gradient step hands over.
pub(super) struct Captured {
    pub task_grads: Vec<Vec<f64>>,
    pub own_grads: Vec<Vec<(usize, Vec<f32>)>>,
    pub rep: bool,
    pub out: StepOutput,
    /// The indices of the shared parameters, in the order `task_grads` flattens them.
    pub shared: Vec<usize>,
}

impl Session {
    /// Asks the next [`Session::train_step`] to explain itself; [`Self::take_explanation`]
    /// then returns what it did. The step itself trains exactly as any other (it always
    /// forms the per-task gradients, as diagnostic steps do).
    pub fn explain_next_step(&mut self) {
        self.explain = Some(Capture::default());
    }

    /// The explanation of the step asked for with [`Self::explain_next_step`], once it ran.
    pub fn take_explanation(&mut self) -> Option<StepExplanation> {
        self.explained.take()
    }

    /// Before the explained step: its batch's losses and the parameters.
    pub(super) fn explain_before(&mut self, rows: &[usize]) -> Result<(), TrainError> {
        if self.explain.is_none() {
            return Ok(());
        }
        let before = self.batch_losses_masked(rows)?;
        let params = self.param_values()?;
        if let Some(c) = &mut self.explain {
            c.rows = rows.to_vec();
            c.before = before;
            c.params = params;
        }
        Ok(())
    }

    /// After the explained step: the change of every parameter, each task's predicted and
    /// actual loss change.
    pub(super) fn explain_after(&mut self, step: u64) -> Result<(), TrainError> {
        let Some(capture) = self.explain.take() else {
            return Ok(());
        };
        let Some(captured) = capture.step else {
            return Err(TrainError::Weighting(
                "the explained step formed no per-task gradients".to_owned(),
            ));
        };
        let after_params = self.param_values()?;
        let delta: Vec<Vec<f64>> = after_params
            .iter()
            .zip(&capture.params)
            .map(|(a, b)| {
                a.iter()
                    .zip(b)
                    .map(|(x, y)| f64::from(*x) - f64::from(*y))
                    .collect()
            })
            .collect();
        let step_norm = delta.iter().flatten().map(|v| v * v).sum::<f64>().sqrt();
        let shared_delta: Vec<f64> = captured
            .shared
            .iter()
            .flat_map(|&i| delta[i].iter().copied())
            .collect();
        let loss_after = self.batch_losses_masked(&capture.rows)?;
        let predicted = captured
            .task_grads
            .iter()
            .zip(&captured.own_grads)
            .zip(&capture.before)
            .map(|((g, own), before)| {
                if captured.rep || before.is_none() {
                    return None;
                }
                let shared: f64 = g.iter().zip(&shared_delta).map(|(a, b)| a * b).sum();
                let heads: f64 = own
                    .iter()
                    .map(|(i, gi)| {
                        gi.iter()
                            .zip(&delta[*i])
                            .map(|(a, b)| f64::from(*a) * b)
                            .sum::<f64>()
                    })
                    .sum();
                Some(shared + heads)
            })
            .collect();
        let gram = api::gramian(&captured.task_grads);
        let k = gram.len();
        let grad_norms: Vec<f64> = (0..k).map(|i| gram[i][i].max(0.0).sqrt()).collect();
        let cosines = crate::weighting::cosines_from_gram(&gram);
        let combined =
            captured.out.shared_grad.clone().unwrap_or_else(|| {
                api::weighted_sum(&captured.task_grads, &captured.out.effective)
            });
        self.explained = Some(StepExplanation {
            step,
            strategy: self.strategy.name().to_owned(),
            rows: capture.rows.len(),
            loss_before: capture.before,
            loss_after,
            grad_norms,
            gram: gram.into_iter().flatten().collect(),
            cosines,
            weights: captured.out.weights.clone(),
            effective: captured.out.effective.clone(),
            update_norm: combined.iter().map(|v| v * v).sum::<f64>().sqrt(),
            predicted,
            step_norm,
            lr: self.optimizer.lr(),
        });
        Ok(())
    }

    /// Every parameter's values, flattened, in the model's order.
    fn param_values(&self) -> Result<Vec<Vec<f32>>, TrainError> {
        self.model
            .params()
            .iter()
            .map(|p| Ok(p.var.as_tensor().flatten_all()?.to_vec1::<f32>()?))
            .collect()
    }

    /// Each task's loss on `rows` without dropout; `None` for a task with no label there.
    fn batch_losses_masked(&self, rows: &[usize]) -> Result<Vec<Option<f64>>, TrainError> {
        let batch = self.data.train.gather(rows);
        let losses = self.batch_losses(&batch)?;
        Ok(losses
            .into_iter()
            .zip(&batch.labels)
            .map(|(l, labels)| labels.mask.iter().any(|m| *m > 0.0).then_some(l))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::experiment::{ExperimentSpec, OptimizerSpec};
    use crate::trainer::Session;

    /// A small model trained with plain SGD, so that a step is Δθ = −lr·∇.
    fn spec(lr: f64, strategy: &str) -> ExperimentSpec {
        let mut spec = ExperimentSpec::default();
        if let crate::experiment::DatasetSpec::Mmoe(m) = &mut spec.dataset {
            m.samples = 600;
        }
        spec.optimizer = OptimizerSpec::Sgd {
            lr,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        };
        spec.weighting = crate::experiment::WeightingSpec::of(strategy);
        spec
    }

    /// Three ordinary steps at lr 0.01 (away from the initial weights, the same for every
    /// call), then the explained step at `lr`.
    fn explain(lr: f64, strategy: &str) -> (super::StepExplanation, Option<Vec<f64>>) {
        let mut s = Session::new(&spec(0.01, strategy)).expect("session");
        s.set_diagnostics_every(1);
        for _ in 0..3 {
            s.train_step().expect("step");
        }
        s.set_lr(lr).expect("lr");
        s.explain_next_step();
        let outcome = s.train_step().expect("explained step");
        let e = s.take_explanation().expect("the step explained itself");
        assert_eq!(e.step, outcome.step, "the step it explains");
        (e, outcome.grad_norms)
    }

    #[test]
    fn the_explanation_holds_the_trainers_own_gradients_and_weights() {
        for strategy in ["ew", "mgda", "pcgrad", "uw"] {
            let (e, norms) = explain(0.01, strategy);
            let norms = norms.expect("the step measured its gradients");
            assert_eq!(e.grad_norms.len(), 2, "{strategy}: two tasks");
            for (a, b) in e.grad_norms.iter().zip(&norms) {
                assert!(
                    (a - b).abs() <= 1e-12 * b.abs().max(1.0),
                    "{strategy}: the norms the trainer measured: {a} vs {b}"
                );
            }
            // The Gramian's diagonal is the squared norms; cosines are in [−1, 1].
            assert!(
                (e.gram[0] - e.grad_norms[0].powi(2)).abs() < 1e-9,
                "{strategy}"
            );
            assert!(
                e.cosines.iter().all(|c| c.abs() <= 1.0 + 1e-12),
                "{strategy}"
            );
            assert_eq!(e.weights.len(), 2, "{strategy}: its weights");
            assert!(e.update_norm > 0.0, "{strategy}: an update");
        }
    }

    #[test]
    fn the_first_order_prediction_matches_the_actual_change_to_second_order() {
        // With plain SGD the error of the first-order prediction is second order in the step:
        // halving the learning rate quarters it, while the prediction halves.
        let error = |lr: f64| {
            let (e, _) = explain(lr, "ew");
            let actual = e.actual();
            e.predicted
                .iter()
                .zip(&actual)
                .map(|(p, a)| {
                    let (p, a) = (p.expect("predicted"), a.expect("actual"));
                    assert!(p < 0.0, "a gradient step lowers each task's loss: {p}");
                    ((a - p).abs(), p.abs())
                })
                .collect::<Vec<_>>()
        };
        let (big, small) = (error(0.02), error(0.01));
        for ((eb, pb), (es, ps)) in big.iter().zip(&small) {
            assert!(
                *es <= 0.05 * ps,
                "the first-order prediction is within 5 % at the small step: {es} of {ps}"
            );
            assert!(
                (pb / ps - 2.0).abs() < 1e-3,
                "the prediction is linear in the step: {pb} vs {ps}"
            );
            assert!(
                es * 2.5 < *eb,
                "the error is second order: {es} at lr 0.01 vs {eb} at 0.02"
            );
        }
    }
}
