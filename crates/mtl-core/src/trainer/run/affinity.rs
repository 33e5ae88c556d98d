//! Task affinity: TAG's lookahead and the gradient cosines, measured on the next batch.

use super::*;

impl Session {
    /// Per-task losses of the model on `batch` (dropout off); `None` where the batch has no
    /// label for a task.
    pub(super) fn batch_loss_tensors(
        &self,
        batch: &SplitData,
        x: &Tensor,
    ) -> Result<Vec<Option<Tensor>>, TrainError> {
        let device = self.model.device();
        let outputs = self.model.forward(x, Mode::Eval)?;
        let mut out = Vec::with_capacity(outputs.len());
        for (k, (pred, task)) in outputs.iter().zip(&self.data.tasks).enumerate() {
            let target = TaskTarget::new(&batch.labels[k], task.loss, device)?;
            out.push(if target.count == 0 {
                None
            } else {
                Some(task_loss(pred, &target, task.loss)?)
            });
        }
        Ok(out)
    }

    /// Inter-task affinity on the next training batch (the batch is not trained on and the
    /// weights are left as they were).
    ///
    /// TAG's lookahead (Fifty et al., NeurIPS 2021): for each task i, take a plain gradient
    /// step of size `eta` on the shared parameters with task i's gradient alone and measure
    /// every task j's loss on the same batch: Z(i→j) = (1 − Lⱼ(θ⁺ⁱ)/Lⱼ(θ)) / eta. Positive: a
    /// step for i helps j. Also the cosine between the tasks' shared gradients. Both are
    /// row-major K × K (row i, column j); NaN where a task has no label in the batch.
    pub fn measure_affinity(&mut self, eta: f64) -> Result<(Vec<f64>, Vec<f64>), TrainError> {
        let k = self.data.tasks.len();
        let n = self.spec.training.batch_size.min(self.order.len()).max(1);
        let rows: Vec<usize> = (0..n)
            .map(|i| self.order[(self.cursor + i) % self.order.len()])
            .collect();
        let batch = self.data.train.gather(&rows);
        let device = self.model.device().clone();
        let x = Tensor::from_slice(&batch.x, (batch.rows, batch.features), &device)?;
        let base = self.batch_loss_tensors(&batch, &x)?;
        let base_values: Vec<f64> = base
            .iter()
            .map(|l| {
                l.as_ref()
                    .map_or(Ok(f64::NAN), |t| t.to_scalar::<f32>().map(f64::from))
            })
            .collect::<Result<_, _>>()?;
        let shared: Vec<Var> = self
            .model
            .params()
            .iter()
            .filter(|p| p.part == Part::Shared)
            .map(|p| p.var.clone())
            .collect();
        // Each task's gradient on the shared parameters.
        let mut grads: Vec<Option<Vec<Tensor>>> = Vec::with_capacity(k);
        for loss in &base {
            grads.push(match loss {
                None => None,
                Some(l) => {
                    let store = l.backward()?;
                    Some(
                        shared
                            .iter()
                            .map(|v| match store.get(v.as_tensor()) {
                                Some(g) => Ok(g.clone()),
                                None => v.as_tensor().zeros_like(),
                            })
                            .collect::<candle_core::Result<_>>()?,
                    )
                }
            });
        }
        let mut tag = vec![f64::NAN; k * k];
        for (i, g) in grads.iter().enumerate() {
            let Some(g) = g else { continue };
            let saved: Vec<Tensor> = shared
                .iter()
                .map(|v| v.as_tensor().copy())
                .collect::<candle_core::Result<_>>()?;
            for (v, gi) in shared.iter().zip(g) {
                v.set(&(v.as_tensor() - (gi * eta)?)?)?;
            }
            let after = self.batch_loss_tensors(&batch, &x);
            for (v, s) in shared.iter().zip(&saved) {
                v.set(s)?;
            }
            for (j, l) in after?.iter().enumerate() {
                if let Some(l) = l {
                    let lj = f64::from(l.to_scalar::<f32>()?);
                    if base_values[j] > 0.0 {
                        tag[i * k + j] = (1.0 - lj / base_values[j]) / eta;
                    }
                }
            }
        }
        let flat: Vec<Option<Vec<f64>>> = grads
            .iter()
            .map(|g| {
                g.as_ref()
                    .map(|ts| -> candle_core::Result<Vec<f64>> {
                        let mut out = Vec::new();
                        for t in ts {
                            out.extend(
                                t.flatten_all()?
                                    .to_vec1::<f32>()?
                                    .into_iter()
                                    .map(f64::from),
                            );
                        }
                        Ok(out)
                    })
                    .transpose()
            })
            .collect::<candle_core::Result<_>>()?;
        let mut cosine = vec![f64::NAN; k * k];
        for i in 0..k {
            for j in 0..k {
                if let (Some(a), Some(b)) = (&flat[i], &flat[j]) {
                    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
                    let na = a.iter().map(|x| x * x).sum::<f64>().sqrt();
                    let nb = b.iter().map(|x| x * x).sum::<f64>().sqrt();
                    if na > 0.0 && nb > 0.0 {
                        cosine[i * k + j] = dot / (na * nb);
                    }
                }
            }
        }
        Ok((tag, cosine))
    }
}
