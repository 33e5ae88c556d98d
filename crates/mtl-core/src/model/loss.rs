//! Masked task losses: each is the mean over the rows that carry a label for the task.
//!
//! # Shapes
//! - `pred`: `[batch, out]` (out = 1 except for multiclass)
//! - `labels`: `[batch]`, or `[batch, pixels]` for segmentation (BCE averaged over a row's
//!   pixels) and semantic segmentation (class indices; `pred` is `[batch, classes × pixels]`,
//!   class-major, and the cross-entropy is averaged over a row's pixels)
//! - `mask`: `[batch]`; 1 where a row is labelled, 0 where it is not
//! - result: a scalar

use candle_core::{D, DType, Tensor};

use crate::data::Labels;
use crate::experiment::LossKind;

/// The labels of one task for one batch, as tensors.
pub struct TaskTarget {
    /// `[batch]` label values (class indices as `f32` for classification).
    pub values: Tensor,
    /// `[batch]` class indices as `u32` (multiclass only).
    pub classes: Option<Tensor>,
    /// `[batch]` mask.
    pub mask: Tensor,
    /// Number of labelled rows.
    pub count: usize,
    /// What the summed loss is divided by: the labelled rows (the default), or all the
    /// batch's rows (`per_batch_row`), so a task labelled on few rows weighs less.
    pub denominator: usize,
}

impl TaskTarget {
    /// Uploads one task's labels for a batch.
    pub fn new(
        labels: &Labels,
        loss: LossKind,
        device: &candle_core::Device,
    ) -> candle_core::Result<Self> {
        let n = labels.mask.len();
        let width = labels.width.max(1);
        let classes = if loss == LossKind::CrossEntropy {
            let idx: Vec<u32> = labels.values.iter().map(|v| *v as u32).collect();
            Some(if width > 1 {
                Tensor::from_vec(idx, (n, width), device)?
            } else {
                Tensor::from_vec(idx, n, device)?
            })
        } else {
            None
        };
        Ok(Self {
            values: if width > 1 {
                Tensor::from_slice(&labels.values, (n, width), device)?
            } else {
                Tensor::from_slice(&labels.values, n, device)?
            },
            classes,
            mask: Tensor::from_slice(&labels.mask, n, device)?,
            count: labels.count(),
            denominator: labels.count(),
        })
    }

    /// Divides the loss by all the batch's rows instead of the labelled ones.
    #[must_use]
    pub fn per_batch_row(mut self) -> Self {
        self.denominator = self.mask.dims().first().copied().unwrap_or(1);
        self
    }
}

/// The masked mean loss of `pred` against `target`. With no labelled rows it is 0.
pub fn task_loss(
    pred: &Tensor,
    target: &TaskTarget,
    loss: LossKind,
) -> candle_core::Result<Tensor> {
    let per_row = match loss {
        LossKind::Mse => (pred.squeeze(1)? - &target.values)?.sqr()?,
        LossKind::Mae => (pred.squeeze(1)? - &target.values)?.abs()?,
        LossKind::Bce => {
            // Stable form: max(z, 0) − z·y + log(1 + e^−|z|); a mask's pixels are averaged
            // within each row.
            let z = if target.values.rank() == 2 {
                pred.clone()
            } else {
                pred.squeeze(1)?
            };
            let softplus = (z.abs()?.neg()?.exp()? + 1.0)?.log()?;
            let per_entry = ((z.relu()? - (&z * &target.values)?)? + softplus)?;
            if per_entry.rank() == 2 {
                per_entry.mean(1)?
            } else {
                per_entry
            }
        }
        LossKind::CrossEntropy if target.values.rank() == 2 => {
            // Semantic segmentation: `[batch, classes × pixels]` logits, class-major; the
            // cross-entropy of each pixel is averaged within its row.
            let (batch, pixels) = target.values.dims2()?;
            let classes = pred.dim(1)? / pixels.max(1);
            let logp = candle_nn::ops::log_softmax(&pred.reshape((batch, classes, pixels))?, 1)?;
            let idx = match &target.classes {
                Some(idx) => idx.clone(),
                None => target.values.to_dtype(DType::U32)?,
            };
            logp.gather(&idx.unsqueeze(1)?, 1)?
                .squeeze(1)?
                .neg()?
                .mean(1)?
        }
        LossKind::CrossEntropy => {
            let logp = candle_nn::ops::log_softmax(pred, D::Minus1)?;
            let idx = match &target.classes {
                Some(idx) => idx.unsqueeze(1)?,
                None => target.values.to_dtype(DType::U32)?.unsqueeze(1)?,
            };
            logp.gather(&idx, 1)?.squeeze(1)?.neg()?
        }
    };
    let denom = target.denominator.max(1) as f64;
    (per_row * &target.mask)?.sum_all()? / denom
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    fn target(values: &[f32], mask: &[f32], loss: LossKind) -> TaskTarget {
        let labels = Labels {
            values: values.to_vec(),
            mask: mask.to_vec(),
            width: values.len() / mask.len().max(1),
        };
        TaskTarget::new(&labels, loss, &Device::Cpu).expect("target")
    }

    fn scalar(t: &Tensor) -> f32 {
        t.to_scalar::<f32>().expect("scalar")
    }

    #[test]
    fn segmentation_bce_averages_pixels_then_labelled_rows() {
        // Two rows of two pixels; the second row is unlabelled.
        let t = target(&[1.0, 0.0, 1.0, 1.0], &[1.0, 0.0], LossKind::Bce);
        let logits = Tensor::new(&[[0.0f32, 2.0], [9.0, 9.0]], &Device::Cpu).expect("logits");
        let l = scalar(&task_loss(&logits, &t, LossKind::Bce).expect("loss"));
        let bce = |z: f32, y: f32| {
            -(y * (1.0 / (1.0 + (-z).exp())).ln() + (1.0 - y) * (1.0 / (1.0 + z.exp())).ln())
        };
        let expected = 0.5 * (bce(0.0, 1.0) + bce(2.0, 0.0));
        assert!((l - expected).abs() < 1e-6, "{l} vs {expected}");
    }

    #[test]
    fn semantic_segmentation_is_per_pixel_cross_entropy() {
        // One labelled row of 2 pixels, 3 classes, class-major logits; a second unlabelled row.
        let t = target(&[2.0, 0.0, 1.0, 1.0], &[1.0, 0.0], LossKind::CrossEntropy);
        let logits = Tensor::new(
            &[
                [0.0f32, 1.0, 2.0, 0.0, 3.0, -1.0],
                [9.0, 9.0, 9.0, 9.0, 9.0, 9.0],
            ],
            &Device::Cpu,
        )
        .expect("logits");
        let l = scalar(&task_loss(&logits, &t, LossKind::CrossEntropy).expect("loss"));
        let ce = |z: [f32; 3], y: usize| {
            let lse = z.iter().map(|v| v.exp()).sum::<f32>().ln();
            lse - z[y]
        };
        // Pixel 0 has logits (0, 2, 3) and class 2; pixel 1 has (1, 0, -1) and class 0.
        let expected = 0.5 * (ce([0.0, 2.0, 3.0], 2) + ce([1.0, 0.0, -1.0], 0));
        assert!((l - expected).abs() < 1e-5, "{l} vs {expected}");
    }

    #[test]
    fn per_batch_row_normalisation_divides_by_every_row() {
        let pred = Tensor::new(&[[1.0f32], [2.0], [100.0], [7.0]], &Device::Cpu).expect("pred");
        let t = target(&[0.0, 0.0, 0.0, 0.0], &[1.0, 1.0, 0.0, 0.0], LossKind::Mse).per_batch_row();
        let l = scalar(&task_loss(&pred, &t, LossKind::Mse).expect("loss"));
        assert!((l - 5.0 / 4.0).abs() < 1e-6, "(1 + 4) over 4 rows, got {l}");
    }

    #[test]
    fn masked_rows_do_not_count() {
        let pred = Tensor::new(&[[1.0f32], [2.0], [100.0]], &Device::Cpu).expect("pred");
        let t = target(&[0.0, 0.0, 0.0], &[1.0, 1.0, 0.0], LossKind::Mse);
        let l = scalar(&task_loss(&pred, &t, LossKind::Mse).expect("loss"));
        assert!(
            (l - 2.5).abs() < 1e-6,
            "mean of 1 and 4 over labelled rows, got {l}"
        );
    }

    #[test]
    fn bce_and_cross_entropy_match_closed_forms() {
        let pred = Tensor::new(&[[0.5f32], [-2.0]], &Device::Cpu).expect("pred");
        let t = target(&[1.0, 0.0], &[1.0, 1.0], LossKind::Bce);
        let l = scalar(&task_loss(&pred, &t, LossKind::Bce).expect("loss"));
        let sig = |z: f32| 1.0 / (1.0 + (-z).exp());
        let expected = (-(sig(0.5)).ln() - (1.0 - sig(-2.0)).ln()) / 2.0;
        assert!((l - expected).abs() < 1e-5, "BCE {l} vs {expected}");

        let logits = Tensor::new(&[[1.0f32, 2.0, 3.0]], &Device::Cpu).expect("logits");
        let t = target(&[2.0], &[1.0], LossKind::CrossEntropy);
        let l = scalar(&task_loss(&logits, &t, LossKind::CrossEntropy).expect("loss"));
        let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        assert!((l - (lse - 3.0)).abs() < 1e-5, "CE {l} vs {}", lse - 3.0);
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        for loss in [LossKind::Mse, LossKind::Bce, LossKind::Mae] {
            let z0 = [0.3f32, -1.2, 2.0];
            let t = target(&[1.0, 0.0, 1.0], &[1.0, 1.0, 0.0], loss);
            let var = candle_core::Var::from_tensor(
                &Tensor::new(&[[z0[0]], [z0[1]], [z0[2]]], &dev).expect("z"),
            )
            .expect("var");
            let l = task_loss(var.as_tensor(), &t, loss).expect("loss");
            let grads = l.backward().expect("backward");
            let g: Vec<f32> = grads
                .get(var.as_tensor())
                .expect("grad")
                .flatten_all()
                .expect("flat")
                .to_vec1()
                .expect("vec");
            for i in 0..3 {
                let eval = |delta: f32| {
                    let mut z = z0;
                    z[i] += delta;
                    let p = Tensor::new(&[[z[0]], [z[1]], [z[2]]], &dev).expect("z");
                    f64::from(scalar(&task_loss(&p, &t, loss).expect("loss")))
                };
                let h = 1e-2;
                let fd = (eval(h) - eval(-h)) / (2.0 * f64::from(h));
                assert!(
                    (fd - f64::from(g[i])).abs() < 1e-3,
                    "{loss}: d/dz{i} autograd {} vs finite difference {fd}",
                    g[i]
                );
            }
        }
    }
}
