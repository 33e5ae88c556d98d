//! Data-parallel steps: a batch is cut into shards of consecutive rows, one per thread, that
//! run forward and backward side by side on the session's pool, and their parameter
//! gradients are summed before one optimizer update.
//!
//! The sum is the full batch's gradient: each shard divides its task losses by the *whole
//! batch's* denominator (labelled rows, or all rows with per-batch normalisation), so the
//! shards' losses add up to the batch loss and so do their gradients. Only the rounding of
//! the sums differs from one pass over the batch.
//!
//! Each shard has its own dropout stream and the shard count is the session's thread count
//! (fewer when the batch holds too little work), so a spec trains to the same curve for the
//! same thread count. Steps with per-task gradients shard the same way (`grads.rs`).

use candle_core::{Tensor, Var};
use rand_chacha::ChaCha8Rng;

use super::{Session, TrainError};
use crate::data::{Labels, PreparedData};
use crate::experiment::LossNormalisation;
use crate::model::loss::{TaskTarget, task_loss};
use crate::model::{Mode, Model, Param, Rep};
use crate::rng;
use crate::trainer::parallel;

/// Rows of the smallest shard: below this a shard's fixed costs outweigh what it saves.
const MIN_SHARD_ROWS: usize = 16;

/// Least work in a shard, in multiply-adds of its forward pass: below this a shard's fixed
/// costs (a hand-over between threads, one more pass of small ops) outweigh what it saves.
const MIN_SHARD_WORK: usize = 4_000_000;

/// How many shards a batch of `rows` rows is cut into (1: no sharding), for a model of
/// `macs_per_row` multiply-adds per row on `threads` threads.
pub(super) fn shard_count(rows: usize, macs_per_row: usize, threads: usize) -> usize {
    let min_rows = MIN_SHARD_ROWS.max(MIN_SHARD_WORK.div_ceil(macs_per_row.max(1)));
    (rows / min_rows).clamp(1, threads.max(1))
}

/// `rows` cut into `shards` runs of consecutive rows whose sizes differ by at most one
/// (always at least one run, empty for an empty batch).
fn cut(rows: &[usize], shards: usize) -> Vec<&[usize]> {
    let (n, s) = (rows.len(), shards.clamp(1, rows.len().max(1)));
    (0..s).map(|i| &rows[i * n / s..(i + 1) * n / s]).collect()
}

/// The dropout stream of shard `s`, independent of the unsharded path's.
pub(super) fn shard_rng(seed: u64, s: usize) -> ChaCha8Rng {
    rng::stream(seed, &format!("dropout/shard {s}"))
}

/// `var`'s gradient in `store`, flattened (`None`: no loss reaches it).
pub(super) fn flat_grad(
    store: &candle_core::backprop::GradStore,
    var: &Var,
) -> candle_core::Result<Option<Vec<f32>>> {
    store
        .get(var.as_tensor())
        .map(|g| g.flatten_all()?.to_vec1::<f32>())
        .transpose()
}

/// `acc += g`, element by element.
pub(super) fn add_into<T: Copy + std::ops::AddAssign>(acc: &mut [T], g: &[T]) {
    acc.iter_mut().zip(g).for_each(|(a, b)| *a += *b);
}

/// One shard's task losses (`None` where the shard has no labelled row for the task).
pub(super) type ShardLosses = Vec<Option<(Tensor, f32)>>;

/// One shard's forward pass.
pub(super) struct ShardPass {
    /// Task losses, each divided by the whole batch's denominator.
    pub losses: ShardLosses,
    /// With representation gradients: the detached representation the heads read (a leaf,
    /// so each task's backward pass stops there) and the trunk's output it copies.
    pub rep: Option<(Var, Tensor)>,
}

impl Session {
    /// Cuts `rows` into `shards` shards and runs the forward pass of each, side by side.
    /// Returns the passes and each task's batch loss (`None` without labels; the sum of the
    /// shards'), or the first task whose loss is not finite.
    pub(super) fn forward_passes(
        &mut self,
        rows: &[usize],
        shards: usize,
        step: u64,
    ) -> Result<(Vec<ShardPass>, Vec<Option<f32>>), TrainError> {
        let per_batch = self.spec.training.loss_normalisation == LossNormalisation::Batch;
        let denominators: Vec<usize> = self
            .data
            .train
            .labels
            .iter()
            .map(|l| {
                if per_batch {
                    rows.len()
                } else {
                    rows.iter().filter(|&&r| l.mask[r] > 0.0).count()
                }
            })
            .collect();
        let rep_grad = self.spec.weighting.rep_grad;
        let (model, data) = (&self.model, &self.data);
        // One shard keeps the one-pass dropout stream, so one thread trains as it always did.
        let rngs: Vec<&mut ChaCha8Rng> = if shards <= 1 {
            vec![&mut self.dropout_rng]
        } else {
            self.shard_rngs[..shards].iter_mut().collect()
        };
        let jobs: Vec<_> = rngs.into_iter().zip(cut(rows, shards)).collect();
        let passes: Vec<ShardPass> = parallel::map(self.pool, jobs, |_, (rng, rows)| {
            forward_shard(model, data, rows, &denominators, rng, rep_grad)
        })
        .into_iter()
        .collect::<Result<_, TrainError>>()?;

        let mut task_losses = Vec::with_capacity(denominators.len());
        for (k, task) in self.data.tasks.iter().enumerate() {
            let parts: Vec<f32> = passes
                .iter()
                .filter_map(|p| p.losses[k].as_ref().map(|(_, v)| *v))
                .collect();
            if parts.is_empty() {
                task_losses.push(None);
                continue;
            }
            let value: f32 = parts.iter().sum();
            if !value.is_finite() {
                return Err(TrainError::Diverged {
                    task: task.name.clone(),
                    step,
                    value,
                });
            }
            task_losses.push(Some(value));
        }
        Ok((passes, task_losses))
    }

    /// The update with loss-only task weights `coefficients`: one backward pass of
    /// Σₖ cₖ·Lₖ (+ the architecture's penalty) per shard, side by side, the gradients summed.
    pub(super) fn loss_only_update(
        &mut self,
        passes: Vec<ShardPass>,
        coefficients: &[f64],
        penalty: Option<&Tensor>,
    ) -> Result<(), TrainError> {
        let params = self.model.params();
        let grads = summed_gradients(self.pool, passes, coefficients, penalty, params)?;
        if grads.iter().all(Option::is_none) {
            // No task has a label in this batch and there is no penalty: no update, and
            // the optimizer's step count stays.
            return Ok(());
        }
        self.optimizer.begin_step();
        for (i, (param, g)) in params.iter().zip(&grads).enumerate() {
            if let Some(g) = g {
                self.optimizer.update(i, &param.var, g)?;
            }
        }
        Ok(())
    }
}

/// Each shard's backward pass of Σₖ cₖ·Lₖ (the first shard adding `penalty`), side by side,
/// and each parameter's gradient summed over the shards (`None`: no loss reaches it).
fn summed_gradients(
    pool: Option<&rayon::ThreadPool>,
    passes: Vec<ShardPass>,
    coefficients: &[f64],
    penalty: Option<&Tensor>,
    params: &[Param],
) -> candle_core::Result<Vec<Option<Vec<f32>>>> {
    let per_shard = parallel::map(pool, passes, |s, pass| {
        let start = if s == 0 { penalty.cloned() } else { None };
        let Some(total) = super::weighted_total(&pass.losses, coefficients, start)? else {
            return Ok(vec![None; params.len()]);
        };
        let store = total.backward()?;
        params
            .iter()
            .map(|p| flat_grad(&store, &p.var))
            .collect::<candle_core::Result<Vec<_>>>()
    });
    let mut sums: Vec<Option<Vec<f32>>> = vec![None; params.len()];
    for shard in per_shard {
        for (sum, g) in sums.iter_mut().zip(shard?) {
            match (sum.as_mut(), g) {
                (Some(acc), Some(g)) => add_into(acc, &g),
                (None, g) => *sum = g,
                (Some(_), None) => {}
            }
        }
    }
    Ok(sums)
}

/// Gathers one shard's rows and runs the model and the task losses on them, each loss
/// divided by the whole batch's denominator.
fn forward_shard(
    model: &Model,
    data: &PreparedData,
    rows: &[usize],
    denominators: &[usize],
    rng: &mut ChaCha8Rng,
    rep_grad: bool,
) -> Result<ShardPass, TrainError> {
    let batch = data.train.gather(rows);
    let device = model.device();
    let x = Tensor::from_slice(&batch.x, (batch.rows, batch.features), device)?;
    let mut mode = Mode::Train(rng);
    let body = model.forward_trunk(&x, &mut mode)?;
    // (Validation allows representation gradients only where every head reads one
    // representation.) An image representation is flattened to one row per sample, as
    // the heads read it anyway, so its gradient sums run over rows.
    let rep = match (&body, rep_grad) {
        (Rep::One(t), true) => {
            let t = if t.rank() > 2 {
                t.flatten_from(1)?
            } else {
                t.clone()
            };
            Some((Var::from_tensor(&t.detach())?, t))
        }
        _ => None,
    };
    let outputs = match &rep {
        Some((v, _)) => model.forward_heads(&Rep::One(v.as_tensor().clone()), &mut mode)?,
        None => model.forward_heads(&body, &mut mode)?,
    };
    let mut losses = Vec::with_capacity(outputs.len());
    for ((out, task), (labels, denominator)) in outputs
        .iter()
        .zip(&data.tasks)
        .zip(batch.labels.iter().zip(denominators))
    {
        losses.push(shard_loss(out, labels, task.loss, *denominator)?);
    }
    Ok(ShardPass { losses, rep })
}

/// One task's loss on a shard, divided by `denominator`; `None` without labelled rows.
fn shard_loss(
    out: &Tensor,
    labels: &Labels,
    loss: crate::experiment::LossKind,
    denominator: usize,
) -> Result<Option<(Tensor, f32)>, TrainError> {
    let mut target = TaskTarget::new(labels, loss, out.device())?;
    if target.count == 0 {
        return Ok(None);
    }
    target.denominator = denominator;
    let loss = task_loss(out, &target, loss)?;
    let value = loss.to_scalar::<f32>()?;
    Ok(Some((loss, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_into_even_runs_of_rows() {
        let rows: Vec<usize> = (0..97).collect();
        let runs = cut(&rows, 3);
        let sizes: Vec<usize> = runs.iter().map(|r| r.len()).collect();
        assert_eq!(sizes, [32, 32, 33], "even sizes");
        assert_eq!(runs.concat(), rows, "every row once, in order");
        assert_eq!(cut(&rows[..2], 5).len(), 2, "never an empty shard");
        assert_eq!(
            cut(&[], 2),
            [&[] as &[usize]],
            "an empty batch: one empty run"
        );
        // The reference model (about 124k multiply-adds per row) shards from 66 rows.
        assert_eq!(shard_count(64, 124_032, 2), 1);
        assert_eq!(shard_count(66, 124_032, 2), 2);
        assert_eq!(shard_count(256, 124_032, 1), 1, "one thread, one shard");
        assert_eq!(shard_count(4096, 1_000, 8), 1, "too little work");
    }
}
