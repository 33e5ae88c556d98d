//! Evaluation: losses and metrics per split, predictions, decision-boundary grids.

use super::*;

impl Session {
    /// Raw model outputs for a split's standardised rows, `[rows, out_k]` per task.
    pub(super) fn outputs(&self, split: &SplitData) -> Result<Vec<Vec<f32>>, TrainError> {
        // Chunks of rows, side by side on the session's threads.
        let chunk = EVAL_CHUNK
            .min(EVAL_INPUTS / split.features.max(1))
            .min(split.rows.div_ceil(self.threads))
            .max(1);
        let ranges: Vec<(usize, usize)> = (0..split.rows)
            .step_by(chunk)
            .map(|start| (start, (start + chunk).min(split.rows)))
            .collect();
        let (model, d) = (&self.model, split.features);
        let per_chunk = crate::trainer::parallel::map(self.pool, ranges, |_, (start, end)| {
            let x = Tensor::from_slice(
                &split.x[start * d..end * d],
                (end - start, d),
                model.device(),
            )?;
            model
                .forward(&x, Mode::Eval)?
                .into_iter()
                .map(|out| out.flatten_all()?.to_vec1::<f32>())
                .collect::<candle_core::Result<Vec<_>>>()
        });
        let mut outs = vec![Vec::new(); self.data.tasks.len()];
        for chunk in per_chunk {
            for (all, part) in outs.iter_mut().zip(chunk?) {
                all.extend(part);
            }
        }
        Ok(outs)
    }

    /// Loss and metric of every task on a split (the whole split, dropout off).
    pub fn evaluate(&self, split: Split) -> Result<Vec<TaskEval>, TrainError> {
        let rows = match split {
            Split::Train => &self.data.train,
            Split::Val => &self.data.val,
        };
        let outputs = self.outputs(rows)?;
        let device = self.model.device();
        let mut evals = Vec::with_capacity(outputs.len());
        for (k, (out, task)) in outputs.iter().zip(&self.data.tasks).enumerate() {
            let labels = &rows.labels[k];
            let target = TaskTarget::new(labels, task.loss, device)?;
            let loss = if target.count == 0 {
                f64::NAN
            } else {
                let pred = Tensor::from_slice(out, (rows.rows, task.out_dim), device)?;
                f64::from(task_loss(&pred, &target, task.loss)?.to_scalar::<f32>()?)
            };
            let all = metrics::task_metrics(
                task.kind,
                out,
                task.out_dim,
                &labels.values,
                &labels.mask,
                f64::from(task.target_std),
            );
            let metric = all.first().copied().unwrap_or(f64::NAN);
            evals.push(TaskEval { loss, metric, all });
        }
        Ok(evals)
    }

    /// Predictions for raw (not standardised) input rows `[rows, features]`: per task,
    /// `[rows, out]` with the regression value, the binary probability or the class
    /// probabilities.
    pub fn predict(&self, raw: &[f32]) -> Result<Vec<Vec<f32>>, TrainError> {
        let d = self.data.features();
        let mut x = raw.to_vec();
        self.data.standardise(&mut x);
        let split = SplitData {
            rows: x.len() / d.max(1),
            features: d,
            x,
            labels: Vec::new(),
        };
        let outputs = self.outputs(&split)?;
        Ok(outputs
            .into_iter()
            .zip(&self.data.tasks)
            .map(|(out, task)| crate::export::to_predictions(task, out))
            .collect())
    }

    /// The model's predictions on an `n × n` grid over the training inputs' range (with a
    /// margin), when the data have exactly two inputs; `None` otherwise.
    pub fn boundary(
        &self,
        run_id: u64,
        n: usize,
    ) -> Result<Option<crate::trainer::Boundary>, TrainError> {
        if self.data.features() != 2 || n < 2 || self.data.train.rows == 0 {
            return Ok(None);
        }
        // Training inputs are standardised; undo it for the range.
        let mut lo = [f32::INFINITY; 2];
        let mut hi = [f32::NEG_INFINITY; 2];
        for row in self.data.train.x.chunks(2) {
            for c in 0..2 {
                let raw = row[c] * self.data.input_std[c] + self.data.input_mean[c];
                if raw.is_finite() {
                    lo[c] = lo[c].min(raw);
                    hi[c] = hi[c].max(raw);
                }
            }
        }
        for c in 0..2 {
            let pad = ((hi[c] - lo[c]) * 0.05).max(1e-3);
            lo[c] -= pad;
            hi[c] += pad;
        }
        let at = |c: usize, i: usize| lo[c] + (hi[c] - lo[c]) * i as f32 / (n - 1) as f32;
        let mut raw = Vec::with_capacity(2 * n * n);
        for row in 0..n {
            for col in 0..n {
                raw.push(at(0, col));
                raw.push(at(1, row));
            }
        }
        let predictions = self.predict(&raw)?;
        let mut values = Vec::with_capacity(predictions.len());
        let mut confidence = Vec::with_capacity(predictions.len());
        for (p, task) in predictions.iter().zip(&self.data.tasks) {
            let width = task.out_dim.max(1);
            match task.kind {
                crate::experiment::TaskKind::Multiclass => {
                    let (v, c): (Vec<f32>, Vec<f32>) = p
                        .chunks(width)
                        .map(|probs| {
                            probs
                                .iter()
                                .enumerate()
                                .fold((0.0, f32::NEG_INFINITY), |b, (i, v)| {
                                    if *v > b.1 { (i as f32, *v) } else { b }
                                })
                        })
                        .unzip();
                    values.push(v);
                    confidence.push(c);
                }
                crate::experiment::TaskKind::Binary => {
                    let v: Vec<f32> = p.chunks(width).map(|r| r[0]).collect();
                    confidence.push(v.iter().map(|q| q.max(1.0 - q)).collect());
                    values.push(v);
                }
                _ => {
                    let v: Vec<f32> = p.chunks(width).map(|r| r[0]).collect();
                    confidence.push(vec![1.0; v.len()]);
                    values.push(v);
                }
            }
        }
        Ok(Some(crate::trainer::Boundary {
            run_id,
            step: self.step_count(),
            x: [lo[0], hi[0]],
            y: [lo[1], hi[1]],
            n,
            values,
            confidence,
        }))
    }
}
