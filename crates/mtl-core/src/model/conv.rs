//! A faster 2-D convolution and max pooling on the CPU.
//!
//! candle 0.11 convolves directly on the CPU and back-propagates a convolution through a
//! transposed convolution and a second convolution with the batch as channels, and a max
//! pool through an upsampling, a comparison, an average pool and two products. Here a
//! convolution is im2col (the image's patches as the rows of one matrix, [`im2col`]) times
//! the kernel as one matrix product over the whole batch, the bias added to its rows; so
//! its backward pass is two more matrix products and col2im (the adjoint of im2col), and
//! the bias gradient a contiguous sum. The max pool keeps candle's output and sends each
//! window's gradient to its first maximum (PyTorch's convention; candle splits it among
//! tied maxima) in one pass.
//!
//! Anything these do not cover (another device or dtype, dilation) falls back to candle's
//! ops; the tests compare both paths and finite differences.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor};

use super::fused::{self, contiguous};

/// The geometry of one convolution over `[n, c, h, w]` images with `kh × kw` kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
}

impl Geometry {
    fn out_h(&self) -> usize {
        (self.h + 2 * self.padding - self.kh) / self.stride + 1
    }

    fn out_w(&self) -> usize {
        (self.w + 2 * self.padding - self.kw) / self.stride + 1
    }

    /// Rows of the patch matrix: one per image and output position.
    fn rows(&self) -> usize {
        self.n * self.out_h() * self.out_w()
    }

    /// Columns: one per channel and kernel offset, in the kernel's `[c, kh, kw]` order.
    fn cols(&self) -> usize {
        self.c * self.kh * self.kw
    }

    /// Calls `f(patch matrix index, input index, length)` for every run of patch entries
    /// that lies inside the image, one kernel row at a time (padding entries are zero and
    /// skipped): `length` consecutive entries of the patch matrix are the same number of
    /// consecutive input pixels.
    fn for_each_run(&self, mut f: impl FnMut(usize, usize, usize)) {
        let (oh, ow) = (self.out_h(), self.out_w());
        let cols = self.cols();
        for b in 0..self.n {
            for oy in 0..oh {
                for ox in 0..ow {
                    let row = (b * oh + oy) * ow + ox;
                    // The kernel columns inside the image: x = ox·stride + kj − padding.
                    let left = ox * self.stride;
                    let kj0 = self.padding.saturating_sub(left);
                    let kj1 = self.kw.min((self.w + self.padding).saturating_sub(left));
                    if kj0 >= kj1 {
                        continue;
                    }
                    for ch in 0..self.c {
                        let image = (b * self.c + ch) * self.h;
                        for ki in 0..self.kh {
                            let Some(y) = (oy * self.stride + ki).checked_sub(self.padding) else {
                                continue;
                            };
                            if y >= self.h {
                                continue;
                            }
                            let col = (ch * self.kh + ki) * self.kw + kj0;
                            let x = left + kj0 - self.padding;
                            f(row * cols + col, (image + y) * self.w + x, kj1 - kj0);
                        }
                    }
                }
            }
        }
    }
}

/// The convolution of `[n, c, h, w]` `x` with `[o, c, kh, kw]` `weight` plus `[o]` `bias`,
/// with `stride` and zero `padding` (no dilation): `[n, o, oh, ow]`, as candle's `conv2d`
/// then a bias add, faster on the CPU.
pub fn conv2d(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let fast = x.device().is_cpu()
        && [x, weight, bias].iter().all(|t| t.dtype() == DType::F32)
        && x.rank() == 4
        && weight.rank() == 4
        && stride > 0;
    if !fast {
        return x
            .conv2d(weight, padding, stride, 1, 1)?
            .broadcast_add(&bias.reshape((1, bias.elem_count(), 1, 1))?);
    }
    let (n, c, h, w) = x.dims4()?;
    let (o, wc, kh, kw) = weight.dims4()?;
    if wc != c || h + 2 * padding < kh || w + 2 * padding < kw {
        candle_core::bail!(
            "conv2d: a [{o}, {wc}, {kh}, {kw}] kernel does not fit [{n}, {c}, {h}, {w}] images with padding {padding}"
        );
    }
    let g = Geometry {
        n,
        c,
        h,
        w,
        kh,
        kw,
        stride,
        padding,
    };
    let cols = x.contiguous()?.apply_op1(Im2Col(g))?;
    let kernel = weight.reshape((o, g.cols()))?;
    let y = fused::bias_add(&cols.matmul(&kernel.t()?)?, bias)?;
    y.reshape((n, g.out_h() * g.out_w(), o))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape((n, o, g.out_h(), g.out_w()))
}

/// The patches of the images as rows: `[n·oh·ow, c·kh·kw]`; its gradient is col2im.
struct Im2Col(Geometry);

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let x = contiguous("im2col", s, l)?;
        let mut out = vec![0.0f32; g.rows() * g.cols()];
        g.for_each_run(|at, from, len| out[at..at + len].copy_from_slice(&x[from..from + len]));
        Ok((CpuStorage::F32(out), Shape::from((g.rows(), g.cols()))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&Col2Im(self.0))?))
    }
}

/// The adjoint of [`Im2Col`]: each patch entry added back to its pixel, `[n, c, h, w]`.
struct Col2Im(Geometry);

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let g = self.0;
        let cols = contiguous("col2im", s, l)?;
        if cols.len() != g.rows() * g.cols() {
            candle_core::bail!("col2im: {} entries for {} patches", cols.len(), g.rows());
        }
        let mut out = vec![0.0f32; g.n * g.c * g.h * g.w];
        g.for_each_run(|at, to, len| {
            for (o, v) in out[to..to + len].iter_mut().zip(&cols[at..at + len]) {
                *o += v;
            }
        });
        Ok((CpuStorage::F32(out), Shape::from((g.n, g.c, g.h, g.w))))
    }
}

/// `k × k` max pooling with stride `k` of `[n, c, h, w]` `x` (rows and columns past the last
/// whole window dropped, as candle's `max_pool2d`), with a one-pass gradient.
pub fn max_pool2d(x: &Tensor, k: usize) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 && x.rank() == 4 && k > 0 {
        x.contiguous()?.apply_op1(MaxPool(k))
    } else {
        x.max_pool2d(k)
    }
}

/// Max pooling; its gradient goes to the first maximum of each window.
struct MaxPool(usize);

/// Each `k × k` window's first maximum of `[n, c, h, w]` images: its input index, windows in
/// row-major order. A NaN wins, as in candle's max (a NaN input gives a NaN output).
fn argmax(x: &[f32], dims: (usize, usize, usize, usize), k: usize) -> Vec<usize> {
    let (n, c, h, w) = dims;
    let (oh, ow) = (h / k, w / k);
    let mut best = Vec::with_capacity(n * c * oh * ow);
    for plane in 0..n * c {
        let base = plane * h * w;
        for oy in 0..oh {
            for ox in 0..ow {
                let mut at = base + oy * k * w + ox * k;
                let mut top = x[at];
                for i in 0..k {
                    let row = base + (oy * k + i) * w + ox * k;
                    for (j, &v) in x[row..row + k].iter().enumerate() {
                        let better = (v > top) | (v.is_nan() & !top.is_nan());
                        at = if better { row + j } else { at };
                        top = if better { v } else { top };
                    }
                }
                best.push(at);
            }
        }
    }
    best
}

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max-pool-fused"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = contiguous("max-pool-fused", s, l)?;
        let dims = l.shape().dims4()?;
        let k = self.0;
        let out = argmax(x, dims, k).iter().map(|&i| x[i]).collect();
        let (n, c, h, w) = dims;
        Ok((CpuStorage::F32(out), Shape::from((n, c, h / k, w / k))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op2_no_bwd(
            &arg.contiguous()?,
            &MaxPoolGrad(self.0),
        )?))
    }
}

/// The gradient of [`MaxPool`] from (output gradient, input): `[n, c, h, w]`.
struct MaxPoolGrad(usize);

impl CustomOp2 for MaxPoolGrad {
    fn name(&self) -> &'static str {
        "max-pool-grad"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let grad = contiguous("max-pool-grad", s1, l1)?;
        let x = contiguous("max-pool-grad", s2, l2)?;
        let dims = l2.shape().dims4()?;
        let best = argmax(x, dims, self.0);
        if best.len() != grad.len() {
            candle_core::bail!(
                "max-pool-grad: {} gradients for {} windows",
                grad.len(),
                best.len()
            );
        }
        let mut out = vec![0.0f32; x.len()];
        for (g, &i) in grad.iter().zip(&best) {
            out[i] += g;
        }
        Ok((CpuStorage::F32(out), l2.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    fn random(shape: &[usize], seed: u64) -> Vec<f32> {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        (0..shape.iter().product::<usize>())
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect()
    }

    fn var(shape: &[usize], seed: u64) -> Var {
        Var::from_vec(random(shape, seed), shape, &Device::Cpu).expect("var")
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32, what: &str) {
        let a: Vec<f32> = a.flatten_all().and_then(|t| t.to_vec1()).expect("a");
        let b: Vec<f32> = b.flatten_all().and_then(|t| t.to_vec1()).expect("b");
        assert_eq!(a.len(), b.len(), "{what}: sizes");
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// Forward and gradients (input, kernel, bias) equal candle's conv2d + bias on several
    /// geometries: stride 1 and 2, padding 0 to 2, odd sizes, rectangular kernels.
    #[test]
    fn conv_matches_candle_forward_and_backward() {
        let cases = [
            ([2, 3, 7, 6], [4, 3, 3, 3], 1, 1),
            ([3, 1, 8, 8], [2, 1, 3, 3], 2, 0),
            ([1, 2, 5, 9], [3, 2, 2, 3], 1, 2),
            ([2, 4, 6, 6], [5, 4, 1, 1], 1, 0),
        ];
        for (i, (xs, ws, stride, padding)) in cases.into_iter().enumerate() {
            let x = var(&xs, 10 + i as u64);
            let w = var(&ws, 20 + i as u64);
            let b = var(&[ws[0]], 30 + i as u64);
            let fast =
                conv2d(x.as_tensor(), w.as_tensor(), b.as_tensor(), stride, padding).expect("fast");
            let slow = x
                .as_tensor()
                .conv2d(w.as_tensor(), padding, stride, 1, 1)
                .and_then(|y| y.broadcast_add(&b.as_tensor().reshape((1, ws[0], 1, 1))?))
                .expect("candle");
            close(&fast, &slow, 1e-5, "forward");
            // A weighted sum, so every output entry gets its own gradient.
            let weights = Tensor::from_vec(random(slow.dims(), 99), slow.dims(), &Device::Cpu)
                .expect("weights");
            let gf = (fast * &weights)
                .and_then(|t| t.sum_all())
                .and_then(|t| t.backward());
            let gs = (slow * &weights)
                .and_then(|t| t.sum_all())
                .and_then(|t| t.backward());
            let (gf, gs) = (gf.expect("fast grads"), gs.expect("candle grads"));
            for (v, what) in [(&x, "d input"), (&w, "d kernel"), (&b, "d bias")] {
                let a = gf.get(v.as_tensor()).expect(what);
                let c = gs.get(v.as_tensor()).expect(what);
                close(a, c, 1e-4, &format!("case {i}: {what}"));
            }
        }
    }

    /// The kernel gradient matches central finite differences of the loss.
    #[test]
    fn conv_kernel_gradient_matches_finite_differences() {
        let (xs, ws) = ([2, 2, 5, 5], [3, 2, 3, 3]);
        let x = Tensor::from_vec(random(&xs, 1), &xs, &Device::Cpu).expect("x");
        let wv = random(&ws, 2);
        let b = Tensor::zeros(3, DType::F32, &Device::Cpu).expect("b");
        let loss = |w: &[f32]| -> f64 {
            let w = Tensor::from_vec(w.to_vec(), &ws, &Device::Cpu).expect("w");
            let y = conv2d(&x, &w, &b, 1, 1).expect("conv");
            f64::from(
                (&y * &y)
                    .and_then(|t| t.sum_all())
                    .and_then(|t| t.to_scalar::<f32>())
                    .expect("loss"),
            )
        };
        let w = Var::from_vec(wv.clone(), &ws, &Device::Cpu).expect("w");
        let y = conv2d(&x, w.as_tensor(), &b, 1, 1).expect("conv");
        let grads = (&y * &y)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward())
            .expect("grads");
        let g: Vec<f32> = grads
            .get(w.as_tensor())
            .and_then(|t| t.flatten_all().ok())
            .and_then(|t| t.to_vec1().ok())
            .expect("grad");
        for i in [0, 7, 20, 53] {
            let (mut up, mut down) = (wv.clone(), wv.clone());
            up[i] += 1e-2;
            down[i] -= 1e-2;
            let fd = (loss(&up) - loss(&down)) / 2e-2;
            assert!(
                (f64::from(g[i]) - fd).abs() < 1e-2 * (1.0 + fd.abs()),
                "{i}: {} vs {fd}",
                g[i]
            );
        }
    }

    /// Max pooling equals candle's forward, and odd sizes drop the last row and column. Its
    /// gradient is the output gradient at each window's maximum and 0 elsewhere, checked by
    /// hand and by finite differences. (candle 0.11's own max-pool backward multiplies by
    /// the share of tied maxima over k², so a unique maximum gets 1/k² of its gradient.)
    #[test]
    fn max_pool_matches_candle_and_its_gradient_is_exact() {
        for (shape, k) in [([2, 3, 6, 6], 2), ([1, 2, 7, 5], 2), ([2, 1, 9, 9], 3)] {
            let x = var(&shape, 5);
            let fast = max_pool2d(x.as_tensor(), k).expect("fast");
            let slow = x.as_tensor().max_pool2d(k).expect("candle");
            close(&fast, &slow, 0.0, "forward");
            let wv = random(slow.dims(), 6);
            let weights = Tensor::from_vec(wv.clone(), slow.dims(), &Device::Cpu).expect("weights");
            let grads = (fast * &weights)
                .and_then(|t| t.sum_all())
                .and_then(|t| t.backward())
                .expect("grads");
            let got: Vec<f32> = grads
                .get(x.as_tensor())
                .and_then(|t| t.flatten_all().ok())
                .and_then(|t| t.to_vec1().ok())
                .expect("grad");
            let xv: Vec<f32> = x
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1())
                .expect("x");
            let dims = (shape[0], shape[1], shape[2], shape[3]);
            let mut want = vec![0.0f32; xv.len()];
            for (w, &i) in wv.iter().zip(&argmax(&xv, dims, k)) {
                want[i] = *w;
            }
            assert_eq!(got, want, "{shape:?}");
            // Finite differences at a maximum and at an entry that is not one.
            let loss = |v: &[f32]| -> f32 {
                let t = Tensor::from_vec(v.to_vec(), &shape, &Device::Cpu).expect("t");
                (max_pool2d(&t, k).expect("pool") * &weights)
                    .and_then(|t| t.sum_all())
                    .and_then(|t| t.to_scalar())
                    .expect("loss")
            };
            let at = argmax(&xv, dims, k)[0];
            for i in [at, if at == 0 { 1 } else { 0 }] {
                let (mut up, mut down) = (xv.clone(), xv.clone());
                up[i] += 1e-3;
                down[i] -= 1e-3;
                let fd = (loss(&up) - loss(&down)) / 2e-3;
                assert!((fd - got[i]).abs() < 1e-2, "{i}: {fd} vs {}", got[i]);
            }
        }
    }
}
