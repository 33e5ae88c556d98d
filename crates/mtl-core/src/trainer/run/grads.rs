//! Steps with per-task gradients: one backward pass per task (through the whole model, or
//! with representation gradients through the heads only), the strategy's combination, then
//! one update. Each shard of the batch takes its own backward passes, side by side, and the
//! per-task gradients are summed over the shards before the strategy sees them.

use candle_core::Tensor;

use super::shard::{ShardPass, add_into, flat_grad};
use super::{Session, TrainError};
use crate::model::{Param, Part, fused};
use crate::trainer::parallel;
use crate::weighting::{self, StepInput, StepOutput, api};

/// One shard's per-task gradients.
struct ShardGrads {
    /// Per task: the gradient of the shared parameters (flattened in order), or with
    /// representation gradients ∂L/∂rep summed over the shard's rows; `None` without a loss.
    task: Vec<Option<Vec<f64>>>,
    /// Per task: the gradients of the parameters it reaches outside the trunk.
    own: Vec<Vec<(usize, Vec<f32>)>>,
    /// Representation gradients: the representation summed over the shard's rows.
    rep_sum: Option<Vec<f64>>,
}

/// What one shard keeps for the trunk's backward pass with representation gradients.
struct RepBackward {
    /// Per task: ∂L/∂rep per row (`None` without a loss).
    rows: Vec<Option<Tensor>>,
    /// The trunk's output, still attached to the trunk's graph.
    trunk: Tensor,
}

/// What [`task_gradients`] needs to know about the model.
struct Layout<'a> {
    params: &'a [Param],
    /// Indices of the shared parameters.
    shared: &'a [usize],
    /// Their total size.
    shared_len: usize,
    /// GradDrop: sum sign(rep)·∂L/∂rep per entry instead of ∂L/∂rep.
    masks_entries: bool,
}

/// Where each shared layer and tensor lies in the flattened shared gradient (the order of
/// `params`' shared entries): a layer is the parameters `X.weight` and `X.bias` next to each
/// other; any other parameter (a cross-stitch unit `stitch.<u>`) is a layer of its own.
pub(super) fn shared_layout(params: &[Param]) -> weighting::SharedLayout {
    let mut sizes: Vec<Vec<usize>> = Vec::new();
    let mut last: Option<&str> = None;
    for p in params.iter().filter(|p| p.part == Part::Shared) {
        let layer = match p.name.rsplit_once('.') {
            Some((prefix, "weight" | "bias")) => prefix,
            _ => p.name.as_str(),
        };
        match sizes.last_mut() {
            Some(tensors) if last == Some(layer) => tensors.push(p.var.elem_count()),
            _ => sizes.push(vec![p.var.elem_count()]),
        }
        last = Some(layer);
    }
    weighting::SharedLayout::from_sizes(&sizes)
}

/// The sums over the rows of `[n, m]` `t`, in f64: `[m]`.
fn row_sums(t: &Tensor) -> candle_core::Result<Vec<f64>> {
    Ok(fused::row_sum(t)?
        .to_vec1::<f32>()?
        .into_iter()
        .map(f64::from)
        .collect())
}

/// How the trunk's part of the update is found: from representation gradients (one more
/// backward pass per shard) or from the combined parameter gradient.
struct Trunk {
    /// Each shard's pass for the trunk's backward (representation gradients).
    backward: Vec<RepBackward>,
    /// Whether the strategy works on representation gradients.
    rep: bool,
    /// Whether the strategy needed the per-task gradients (its combined gradient is used).
    strategy_needs: bool,
}

/// One backward pass per task on one shard.
fn task_gradients(
    pass: ShardPass,
    layout: &Layout<'_>,
) -> candle_core::Result<(ShardGrads, Option<RepBackward>)> {
    let ShardPass { losses, rep } = pass;
    let rep_flat: Vec<f32> = match &rep {
        Some((r, _)) if layout.masks_entries => r.flatten_all()?.to_vec1()?,
        _ => Vec::new(),
    };
    let k = losses.len();
    let mut grads = ShardGrads {
        task: Vec::with_capacity(k),
        own: Vec::with_capacity(k),
        rep_sum: None,
    };
    let mut rows: Vec<Option<Tensor>> = Vec::with_capacity(k);
    for loss in losses {
        let Some((loss, _)) = loss else {
            grads.task.push(None);
            grads.own.push(Vec::new());
            rows.push(None);
            continue;
        };
        let store = loss.backward()?;
        match &rep {
            Some((r, _)) => {
                let g = match store.get(r.as_tensor()) {
                    Some(g) => g.clone(),
                    None => r.zeros_like()?,
                };
                let summed = if layout.masks_entries {
                    // GradDrop reads Σ_rows ∂L/∂rep ⊙ sign(rep), per entry (LibMTL).
                    let width = r.dims()[1].max(1);
                    let values: Vec<f32> = g.flatten_all()?.to_vec1()?;
                    let mut out = vec![0.0f64; width];
                    for (i, (gv, hv)) in values.iter().zip(&rep_flat).enumerate() {
                        out[i % width] +=
                            f64::from(*gv) * f64::from(hv.signum() * f32::from(*hv != 0.0));
                    }
                    out
                } else {
                    row_sums(&g)?
                };
                grads.task.push(Some(summed));
                rows.push(Some(g));
            }
            None => {
                let mut flat = Vec::with_capacity(layout.shared_len);
                for &i in layout.shared {
                    let var = &layout.params[i].var;
                    match flat_grad(&store, var)? {
                        Some(g) => flat.extend(g.into_iter().map(f64::from)),
                        None => flat.extend(std::iter::repeat_n(0.0, var.elem_count())),
                    }
                }
                grads.task.push(Some(flat));
                rows.push(None);
            }
        }
        let mut own = Vec::new();
        for (i, p) in layout.params.iter().enumerate() {
            if p.part != Part::Shared
                && let Some(g) = flat_grad(&store, &p.var)?
            {
                own.push((i, g));
            }
        }
        grads.own.push(own);
    }
    let backward = match rep {
        Some((r, trunk)) => {
            if !layout.masks_entries {
                grads.rep_sum = Some(row_sums(r.as_tensor())?);
            }
            Some(RepBackward { rows, trunk })
        }
        None => None,
    };
    Ok((grads, backward))
}

/// Sums the shards' per-task gradients: per task the shared (or representation) gradient
/// (`dim` zeros where no shard has a loss), the own parameters' gradients, and the summed
/// representation.
#[expect(
    clippy::type_complexity,
    reason = "a private triple, named where it is taken"
)]
fn sum_over_shards(
    shards: Vec<ShardGrads>,
    k: usize,
    dim: usize,
) -> (Vec<Vec<f64>>, Vec<Vec<(usize, Vec<f32>)>>, Option<Vec<f64>>) {
    let mut task = vec![vec![0.0f64; dim]; k];
    let mut own: Vec<Vec<(usize, Vec<f32>)>> = vec![Vec::new(); k];
    let mut rep_sum: Option<Vec<f64>> = None;
    for shard in shards {
        for (acc, g) in task.iter_mut().zip(&shard.task) {
            if let Some(g) = g {
                add_into(acc, g);
            }
        }
        for (acc, gs) in own.iter_mut().zip(shard.own) {
            for (i, g) in gs {
                match acc.iter_mut().find(|(j, _)| *j == i) {
                    Some((_, sum)) => add_into(sum, &g),
                    None => acc.push((i, g)),
                }
            }
        }
        if let Some(r) = shard.rep_sum {
            match &mut rep_sum {
                Some(acc) => add_into(acc, &r),
                None => rep_sum = Some(r),
            }
        }
    }
    (task, own, rep_sum)
}

/// With representation gradients: Σₖ cₖ·∂Lₖ/∂rep per row (or per-feature multipliers),
/// pushed once through the trunk; the shared parameters' gradients (`None`: not reached).
fn trunk_gradients(
    pass: &RepBackward,
    effective: &[f64],
    multipliers: Option<&[Vec<f64>]>,
    layout: &Layout<'_>,
) -> candle_core::Result<Vec<Option<Vec<f32>>>> {
    let mut combined: Option<Tensor> = None;
    for (t, (row, c)) in pass.rows.iter().zip(effective).enumerate() {
        if let Some(row) = row {
            let scaled = match multipliers.and_then(|m| m.get(t)) {
                Some(m) => {
                    let m: Vec<f32> = m.iter().map(|v| *v as f32).collect();
                    let m = Tensor::from_vec(m, (1, row.dims()[1]), row.device())?;
                    row.broadcast_mul(&m)?
                }
                None => (row * *c)?,
            };
            combined = Some(match combined {
                None => scaled,
                Some(acc) => (acc + scaled)?,
            });
        }
    }
    let Some(combined) = combined else {
        return Ok(vec![None; layout.shared.len()]);
    };
    let store = (&pass.trunk * combined.detach())?.sum_all()?.backward()?;
    layout
        .shared
        .iter()
        .map(|&i| flat_grad(&store, &layout.params[i].var))
        .collect()
}

impl Session {
    /// The per-task shared gradients (K × d each) on `count` further batches of `rows` rows,
    /// for strategies that take independent gradient samples (MoDo, SDMGrad; LibMTL draws
    /// three batches per step). Each batch is drawn at random, without replacement, from the
    /// rows the step's own batch came from (all training rows, or with per-task sampling the
    /// drawn task's labelled rows), by a stream of its own: the epoch's order is untouched.
    /// Only the shared gradients are kept; the update uses the step's own batch for the heads.
    pub(super) fn extra_samples(
        &mut self,
        count: usize,
        rows: usize,
        sampled_task: Option<usize>,
        step: u64,
    ) -> Result<Vec<Vec<Vec<f64>>>, TrainError> {
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            let pool: Vec<usize> = match sampled_task {
                Some(k) => self.task_rows[k].clone(),
                None => (0..self.data.train.rows).collect(),
            };
            let picked =
                rand::seq::index::sample(&mut self.sample_rng, pool.len(), rows.min(pool.len()));
            let batch: Vec<usize> = picked.iter().map(|i| pool[i]).collect();
            let (passes, _) = self.forward_passes(&batch, 1, step)?;
            let params = self.model.params();
            let shared: Vec<usize> = (0..params.len())
                .filter(|&i| params[i].part == Part::Shared)
                .collect();
            let layout = Layout {
                params,
                shared: &shared,
                shared_len: shared.iter().map(|&i| params[i].var.elem_count()).sum(),
                masks_entries: false,
            };
            let k = self.data.tasks.len();
            let mut per_shard = Vec::with_capacity(passes.len());
            for pass in passes {
                per_shard.push(task_gradients(pass, &layout)?.0);
            }
            out.push(sum_over_shards(per_shard, k, layout.shared_len).0);
        }
        Ok(out)
    }

    /// Per-task gradients, the strategy's combination, and the optimizer step. Returns the
    /// strategy's output and (norms, cosines) of the task gradients.
    ///
    /// Shared parameters get the strategy's combined gradient. A task's own parameters get
    /// Σₜ wₜ·∂Lₜ/∂θ over the tasks whose loss reaches them (only their own task, unless a
    /// link feeds one head into another), with wₜ the strategy's head weight. The
    /// architecture's penalty gradient is added to every parameter it touches.
    #[expect(clippy::type_complexity, reason = "a private pair of diagnostics")]
    pub(super) fn gradient_step(
        &mut self,
        passes: Vec<ShardPass>,
        loss_values: &[f64],
        epoch: usize,
        strategy_needs: bool,
        penalty: Option<&Tensor>,
        extra_samples: Vec<Vec<Vec<f64>>>,
    ) -> Result<(StepOutput, Option<(Vec<f64>, Vec<f64>)>), TrainError> {
        let params = self.model.params();
        let shared: Vec<usize> = (0..params.len())
            .filter(|&i| params[i].part == Part::Shared)
            .collect();
        let rep_width = passes
            .iter()
            .find_map(|p| p.rep.as_ref().map(|(r, _)| r.dims()[1]));
        let layout = Layout {
            params,
            shared: &shared,
            shared_len: shared.iter().map(|&i| params[i].var.elem_count()).sum(),
            masks_entries: rep_width.is_some() && self.strategy.masks_entries(),
        };
        let pool = self.pool;
        let mut per_shard = Vec::with_capacity(passes.len());
        let mut backward = Vec::new();
        for result in parallel::map(pool, passes, |_, pass| task_gradients(pass, &layout)) {
            let (grads, rep) = result?;
            per_shard.push(grads);
            backward.extend(rep);
        }
        let dim = rep_width.unwrap_or(layout.shared_len);
        let (task_grads, own_grads, rep_sum) = sum_over_shards(per_shard, loss_values.len(), dim);
        let gram = api::gramian(&task_grads);
        let norms: Vec<f64> = (0..gram.len())
            .map(|i| gram[i][i].max(0.0).sqrt())
            .collect();
        let cosines = weighting::cosines_from_gram(&gram);
        // GradDrop's signs are already folded into the gradients.
        let rep_value: Option<Vec<f64>> = match rep_width {
            Some(w) if layout.masks_entries => Some(vec![1.0; w]),
            Some(w) => Some(rep_sum.unwrap_or_else(|| vec![0.0; w])),
            None => None,
        };
        // With further samples, this batch's gradients are the first of them.
        let samples: Vec<Vec<Vec<f64>>> = if extra_samples.is_empty() {
            Vec::new()
        } else {
            std::iter::once(task_grads.clone())
                .chain(extra_samples)
                .collect()
        };
        let input = StepInput {
            epoch,
            losses: loss_values,
            grads: Some(&task_grads),
            loss_history: &self.loss_history,
            rep_value: rep_value.as_deref(),
            samples: &samples,
        };
        let out = self.strategy.combine(&input, &mut self.strategy_rng)?;
        if out
            .effective
            .iter()
            .chain(&out.head_weights)
            .any(|w| !w.is_finite())
        {
            return Err(TrainError::Weighting(format!(
                "{} produced a non-finite task weight at step {}",
                self.strategy.name(),
                self.step + 1
            )));
        }

        if let Some(capture) = &mut self.explain {
            capture.step = Some(super::explain::Captured {
                task_grads: task_grads.clone(),
                own_grads: own_grads.clone(),
                rep: rep_width.is_some(),
                out: out.clone(),
                shared: shared.clone(),
            });
        }
        let multipliers = self.strategy.feature_multipliers();
        let update = Update {
            out: &out,
            task_grads: &task_grads,
            own_grads: &own_grads,
            multipliers,
            pool: self.pool,
        };
        update.apply(
            &mut self.optimizer,
            Trunk {
                backward,
                rep: rep_width.is_some(),
                strategy_needs,
            },
            &layout,
            penalty,
        )?;
        Ok((out, Some((norms, cosines))))
    }
}

/// What the strategy decided for one step, to turn into parameter updates.
#[derive(Clone, Copy)]
struct Update<'a> {
    out: &'a StepOutput,
    task_grads: &'a [Vec<f64>],
    own_grads: &'a [Vec<(usize, Vec<f32>)>],
    multipliers: Option<&'a [Vec<f64>]>,
    pool: Option<&'static rayon::ThreadPool>,
}

impl Update<'_> {
    /// One gradient per parameter from the strategy's output (the trunk's combined gradient,
    /// each head's weighted own gradients, the penalty's), then one optimizer update each.
    fn apply(
        &self,
        optimizer: &mut crate::optim::Optimizer,
        trunk: Trunk,
        layout: &Layout<'_>,
        penalty: Option<&Tensor>,
    ) -> Result<(), TrainError> {
        let Self {
            out,
            task_grads,
            own_grads,
            multipliers,
            pool,
        } = *self;
        let params = layout.params;
        let shared = layout.shared;
        let mut update: Vec<Option<Vec<f32>>> = vec![None; params.len()];
        let mut accumulate = |i: usize, g: &[f32], scale: f32| {
            let slot = update[i].get_or_insert_with(|| vec![0.0; g.len()]);
            for (s, v) in slot.iter_mut().zip(g) {
                *s += scale * v;
            }
        };
        if trunk.rep {
            let per_shard = parallel::map(pool, trunk.backward, |_, pass| {
                trunk_gradients(&pass, &out.effective, multipliers, layout)
            });
            for grads in per_shard {
                for (&i, g) in shared.iter().zip(grads?) {
                    if let Some(g) = g {
                        accumulate(i, &g, 1.0);
                    }
                }
            }
        } else {
            let combined = match (&out.shared_grad, trunk.strategy_needs) {
                (Some(g), true) => g.clone(),
                _ => api::weighted_sum(task_grads, &out.effective),
            };
            let mut offset = 0;
            for &i in shared {
                let n = params[i].var.elem_count();
                let g: Vec<f32> = combined[offset..offset + n]
                    .iter()
                    .map(|v| *v as f32)
                    .collect();
                offset += n;
                accumulate(i, &g, 1.0);
            }
        }
        for (own, w) in own_grads.iter().zip(&out.head_weights) {
            for (i, g) in own {
                accumulate(*i, g, *w as f32);
            }
        }
        if let Some(p) = penalty {
            let grads = p.backward()?;
            for (i, param) in params.iter().enumerate() {
                if let Some(g) = flat_grad(&grads, &param.var)? {
                    accumulate(i, &g, 1.0);
                }
            }
        }
        optimizer.begin_step();
        for (i, g) in update.iter().enumerate() {
            if let Some(g) = g {
                optimizer.update(i, &params[i].var, g)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    #[test]
    fn row_sums_equal_candles_sum_over_rows() {
        let values: Vec<f32> = (0..5 * 3).map(|i| (i as f32 * 0.37).sin()).collect();
        let t = Tensor::from_vec(values, (5, 3), &Device::Cpu).expect("tensor");
        let ours = row_sums(&t).expect("row sums");
        let candle: Vec<f32> = t.sum(0).and_then(|s| s.to_vec1()).expect("sum");
        assert_eq!(ours.len(), 3, "one sum per column");
        for (a, b) in ours.iter().zip(&candle) {
            assert!((a - f64::from(*b)).abs() < 1e-6, "{a} vs {b}");
        }
    }
}
