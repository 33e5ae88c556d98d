//! A faster bias add and ReLU for the linear layers on the CPU.
//!
//! `y.broadcast_add(b)` back-propagates the bias gradient through candle's generic reduction
//! over the batch, which walks the gradient with strides; a profile of the reference model
//! (`mtl-studio bench`) spends about a tenth of each training step there. [`bias_add`] adds
//! the bias row by row and sums the gradient's rows contiguously instead. Anything it does
//! not cover (another device or dtype, a non-contiguous tensor) falls back to
//! `broadcast_add`, so results never depend on which path ran beyond float rounding.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};

/// `y + b` for `y` of shape `[n, m]` and `b` of shape `[m]`, with a fast bias gradient.
pub fn bias_add(y: &Tensor, b: &Tensor) -> Result<Tensor> {
    let fast = y.device().is_cpu()
        && y.dtype() == DType::F32
        && b.dtype() == DType::F32
        && y.rank() == 2
        && b.rank() == 1
        && y.dim(1)? == b.dim(0)?
        && y.is_contiguous()
        && b.is_contiguous();
    if fast {
        y.apply_op2(b, BiasAdd)
    } else {
        y.broadcast_add(b)
    }
}

/// The sum over the rows of `[n, m]` `t`: `[m]`, contiguously on the CPU (candle's `sum(0)`
/// walks the rows with strides), else with `sum(0)`. No gradient.
pub fn row_sum(t: &Tensor) -> Result<Tensor> {
    if t.is_contiguous() && t.dtype() == DType::F32 && t.device().is_cpu() && t.rank() == 2 {
        t.apply_op1_no_bwd(&RowSum)
    } else {
        t.sum(0)
    }
}

/// `max(x, 0)` with a one-pass gradient (`grad` where the input is ≥ 0, else 0, the same
/// convention as candle's).
/// candle's own ReLU back-propagates through a zero tensor, a comparison, a cast and a
/// product; this does the same in one pass. Falls back to `relu` where it does not apply.
pub fn relu(x: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() {
        x.apply_op1(Relu)
    } else {
        x.relu()
    }
}

struct Relu;

impl CustomOp1 for Relu {
    fn name(&self) -> &'static str {
        "relu-fused"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous("relu-fused", s, l)?;
        let out = x.iter().map(|v| v.max(0.0)).collect();
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let fast = grad.is_contiguous() && arg.is_contiguous() && grad.dtype() == DType::F32;
        Ok(Some(if fast {
            grad.apply_op2_no_bwd(arg, &ReluGrad)?
        } else {
            let mask = arg.ge(0f64)?.to_dtype(grad.dtype())?;
            (grad * mask)?
        }))
    }
}

/// `grad` where the ReLU's input is ≥ 0, else 0 (same shapes, contiguous).
struct ReluGrad;

impl CustomOp2 for ReluGrad {
    fn name(&self) -> &'static str {
        "relu-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = contiguous("relu-grad", s1, l1)?;
        let x = contiguous("relu-grad", s2, l2)?;
        if g.len() != x.len() {
            candle_core::bail!("relu-grad: {} gradients for {} inputs", g.len(), x.len());
        }
        let out = g
            .iter()
            .zip(x)
            .map(|(g, x)| if *x >= 0.0 { *g } else { 0.0 })
            .collect();
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// The contiguous f32 values of a storage, or an error naming the op.
pub(super) fn contiguous<'a>(op: &str, s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        candle_core::bail!("{op}: expects f32")
    };
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&v[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous tensor"),
    }
}

struct BiasAdd;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "bias-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (n, m) = l1.shape().dims2()?;
        let y = contiguous("bias-add", s1, l1)?;
        let b = contiguous("bias-add", s2, l2)?;
        if b.len() != m {
            candle_core::bail!("bias-add: bias of {} for rows of {m}", b.len());
        }
        let mut out = Vec::with_capacity(n * m);
        for row in y.chunks_exact(m.max(1)) {
            out.extend(row.iter().zip(b).map(|(v, c)| v + c));
        }
        Ok((CpuStorage::F32(out), Shape::from((n, m))))
    }

    fn bwd(
        &self,
        _y: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        Ok((Some(grad.clone()), Some(row_sum(grad)?)))
    }
}

/// The sum of a contiguous `[n, m]` tensor's rows: `[m]`.
struct RowSum;

impl CustomOp1 for RowSum {
    fn name(&self) -> &'static str {
        "row-sum"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (_, m) = l.shape().dims2()?;
        let g = contiguous("row-sum", s, l)?;
        let mut out = vec![0f32; m];
        for row in g.chunks_exact(m.max(1)) {
            for (o, v) in out.iter_mut().zip(row) {
                *o += v;
            }
        }
        Ok((CpuStorage::F32(out), Shape::from(m)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn values(n: usize, seed: f32) -> Vec<f32> {
        (0..n).map(|i| ((i as f32 + seed) * 0.37).sin()).collect()
    }

    #[test]
    fn matches_broadcast_add_forward_and_backward() {
        let dev = Device::Cpu;
        let y = Var::from_vec(values(5 * 3, 1.0), (5, 3), &dev).expect("y");
        let b = Var::from_vec(values(3, 7.0), 3, &dev).expect("b");
        let r = Tensor::from_vec(values(5 * 3, 3.0), (5, 3), &dev).expect("r");
        let fast = bias_add(y.as_tensor(), b.as_tensor()).expect("fast");
        let slow = y.as_tensor().broadcast_add(b.as_tensor()).expect("slow");
        let diff = (&fast - &slow)
            .and_then(|d| d.abs())
            .and_then(|d| d.max_all())
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff");
        assert!(diff < 1e-6);
        let grads = |out: &Tensor| {
            let g = (out * &r)
                .and_then(|p| p.sum_all())
                .and_then(|s| s.backward())
                .expect("backward");
            (
                g.get(y.as_tensor())
                    .expect("dy")
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .expect("dy"),
                g.get(b.as_tensor())
                    .expect("db")
                    .to_vec1::<f32>()
                    .expect("db"),
            )
        };
        let (fy, fb) = grads(&fast);
        let (sy, sb) = grads(&slow);
        for (a, c) in fy.iter().zip(&sy).chain(fb.iter().zip(&sb)) {
            assert!((a - c).abs() < 1e-5, "{a} vs {c}");
        }
    }

    #[test]
    fn the_bias_gradient_matches_finite_differences() {
        let dev = Device::Cpu;
        let yv = values(4 * 6, 2.0);
        let bv = values(6, 5.0);
        let rv = values(4 * 6, 9.0);
        // L(b) = Σ r ⊙ tanh(y + b): a non-linear loss, so the check is not trivial.
        let loss = |b: &[f32]| -> f64 {
            yv.chunks(6)
                .zip(rv.chunks(6))
                .flat_map(|(yr, rr)| {
                    yr.iter()
                        .zip(rr)
                        .zip(b)
                        .map(|((y, r), b)| f64::from(*r) * f64::from(y + b).tanh())
                })
                .sum()
        };
        let y = Tensor::from_vec(yv.clone(), (4, 6), &dev).expect("y");
        let b = Var::from_vec(bv.clone(), 6, &dev).expect("b");
        let r = Tensor::from_vec(rv.clone(), (4, 6), &dev).expect("r");
        let g = bias_add(&y, b.as_tensor())
            .and_then(|t| t.tanh())
            .and_then(|t| t * &r)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward())
            .expect("backward");
        let db = g
            .get(b.as_tensor())
            .expect("db")
            .to_vec1::<f32>()
            .expect("db");
        let h = 1e-3f32;
        for j in 0..6 {
            let (mut hi, mut lo) = (bv.clone(), bv.clone());
            hi[j] += h;
            lo[j] -= h;
            let fd = (loss(&hi) - loss(&lo)) / (2.0 * f64::from(h));
            assert!(
                (fd - f64::from(db[j])).abs() < 1e-3,
                "b[{j}]: {fd} vs {}",
                db[j]
            );
        }
    }

    #[test]
    fn relu_matches_candle_forward_and_backward() {
        let dev = Device::Cpu;
        let mut xv = values(4 * 5, 0.5);
        xv[3] = 0.0; // the kink: candle's convention is a gradient of 1 there
        let x = Var::from_vec(xv.clone(), (4, 5), &dev).expect("x");
        let r = Tensor::from_vec(values(4 * 5, 4.0), (4, 5), &dev).expect("r");
        let run = |out: Tensor| {
            let g = (&out * &r)
                .and_then(|p| p.sum_all())
                .and_then(|s| s.backward())
                .expect("backward");
            (
                out.flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .expect("out"),
                g.get(x.as_tensor())
                    .expect("dx")
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .expect("dx"),
            )
        };
        let (fo, fg) = run(relu(x.as_tensor()).expect("fused"));
        let (so, sg) = run(x.as_tensor().relu().expect("candle"));
        assert_eq!(fo, so);
        assert_eq!(fg, sg);
        assert!(fo.contains(&0.0) && fo.iter().any(|v| *v > 0.0));
        // Finite differences away from the kink.
        let h = 1e-3f32;
        let rv = values(4 * 5, 4.0);
        for i in 0..xv.len() {
            if xv[i].abs() < 0.01 {
                continue;
            }
            let f = |d: f32| -> f32 { rv[i] * (xv[i] + d).max(0.0) };
            let fd = (f(h) - f(-h)) / (2.0 * h);
            assert!((fd - fg[i]).abs() < 1e-3, "x[{i}]: {fd} vs {}", fg[i]);
        }
    }

    #[test]
    fn falls_back_for_what_it_does_not_cover() {
        let dev = Device::Cpu;
        let y = Tensor::from_vec(values(6, 1.0), (3, 2), &dev).expect("y");
        let b = Tensor::from_vec(values(2, 2.0), 2, &dev).expect("b");
        // A transposed (non-contiguous) input takes broadcast_add and gives the same values.
        let yt = Tensor::from_vec(values(6, 1.0), (2, 3), &dev)
            .and_then(|t| t.t())
            .expect("t");
        let fast = bias_add(&yt, &b).expect("fallback");
        let slow = yt.broadcast_add(&b).expect("slow");
        assert_eq!(
            fast.to_vec2::<f32>().expect("fast"),
            slow.to_vec2::<f32>().expect("slow")
        );
        assert_eq!(bias_add(&y, &b).expect("fast").dims(), &[3, 2]);
    }
}
