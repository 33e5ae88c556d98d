//! The layers every architecture is made of: their built form ([`Layer`]), the [`Builder`]
//! that creates and initialises their parameters in model order, and the forward pass of
//! one layer or a list of them.
//!
//! # Shapes
//! - `Linear`: `[batch, in]` → `[batch, out]` (rows arriving as images are flattened);
//!   weight `[out, in]` (PyTorch layout), bias `[out]`
//! - `LayerNorm`: `[batch, width]` → the same; weight and bias `[width]`
//! - `Conv2d`: `[batch, c, h, w]` (or `[batch, c·h·w]`, reshaped) → `[batch, out_c, oh, ow]`;
//!   weight `[out_c, c, k, k]`, bias `[out_c]`
//! - `MaxPool2d`: `[batch, c, h, w]` → `[batch, c, h / k, w / k]`; `Flatten`: `[batch, …]` →
//!   `[batch, n]`

use candle_core::{D, DType, Device, Tensor, Var};
use rand::Rng as _;
use rand_chacha::ChaCha8Rng;

use super::{Mode, ModelError, Param, Part, fused};
use crate::experiment::{LayerSpec, Shape};
use crate::rng;

/// An activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Gelu,
}

/// A built layer; parameters are indices into the model's parameter list.
#[derive(Clone, Debug)]
pub(super) enum Layer {
    Linear {
        weight: usize,
        bias: usize,
    },
    Act(Act),
    Dropout(f32),
    Norm {
        weight: usize,
        bias: usize,
        eps: f64,
    },
    /// `input`: the image `[c, h, w]` each row holds (rows arriving flat are reshaped).
    Conv {
        weight: usize,
        bias: usize,
        stride: usize,
        padding: usize,
        input: (usize, usize, usize),
    },
    Pool {
        kernel: usize,
        input: (usize, usize, usize),
    },
    Flatten,
}

impl Layer {
    /// Parameter indices of this layer.
    pub(super) fn params(&self) -> Vec<usize> {
        match self {
            Self::Linear { weight, bias }
            | Self::Norm { weight, bias, .. }
            | Self::Conv { weight, bias, .. } => vec![*weight, *bias],
            _ => Vec::new(),
        }
    }
}

/// Builds the layers of a list, drawing every initial value from one seeded stream in the
/// order the parameters are created (that order is the model's parameter order).
pub(super) struct Builder<'a> {
    /// The parameters created so far.
    pub(super) params: Vec<Param>,
    init: ChaCha8Rng,
    /// The device every parameter is created on.
    pub(super) device: &'a Device,
    /// Multiply-adds per row of the layers built so far.
    pub(super) macs: usize,
}

impl<'a> Builder<'a> {
    /// An empty builder initialising from `seed`'s `init` stream.
    pub(super) fn new(seed: u64, device: &'a Device) -> Self {
        Self {
            params: Vec::new(),
            init: rng::stream(seed, "init"),
            device,
            macs: 0,
        }
    }

    /// Appends a parameter (learning-rate multiplier 1); returns its index.
    pub(super) fn add(&mut self, name: String, var: Var, part: Part) -> usize {
        self.params.push(Param {
            name,
            var,
            part,
            lr_scale: 1.0,
        });
        self.params.len() - 1
    }

    /// `Linear` weight and bias ~ U(−1/√fan_in, 1/√fan_in) (PyTorch's default).
    pub(super) fn linear(
        &mut self,
        prefix: &str,
        part: Part,
        fan_in: usize,
        out: usize,
    ) -> Result<(usize, usize), ModelError> {
        if out == 0 || fan_in == 0 {
            return Err(ModelError::Mismatch(format!(
                "{prefix}: Linear {fan_in} -> {out} has a zero size"
            )));
        }
        let bound = 1.0 / (fan_in as f64).sqrt();
        let w = uniform_var(&mut self.init, &[out, fan_in], bound, self.device)?;
        let b = uniform_var(&mut self.init, &[out], bound, self.device)?;
        Ok((
            self.add(format!("{prefix}.weight"), w, part),
            self.add(format!("{prefix}.bias"), b, part),
        ))
    }

    /// Builds `specs` as `prefix.<i>.*`, the first reading `shape`.
    pub(super) fn layers(
        &mut self,
        specs: &[LayerSpec],
        prefix: &str,
        part: Part,
        mut shape: Shape,
    ) -> Result<Vec<Layer>, ModelError> {
        let mut layers = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let layer = self.layer(spec, &format!("{prefix}.{i}"), part, shape)?;
            let next = spec
                .out_shape(shape)
                .map_err(|e| ModelError::Mismatch(format!("{prefix}.{i}: {e}")))?;
            self.macs += match (spec, shape, next) {
                (LayerSpec::Linear { out }, _, _) => shape.size() * out,
                (
                    LayerSpec::Conv2d {
                        out_channels,
                        kernel,
                        ..
                    },
                    Shape::Image(c, _, _),
                    Shape::Image(_, oh, ow),
                ) => out_channels * c * kernel * kernel * oh * ow,
                _ => 0,
            };
            shape = next;
            layers.push(layer);
        }
        Ok(layers)
    }

    /// Builds one layer `spec` named `name` (`prefix.<i>`) reading `shape`.
    fn layer(
        &mut self,
        spec: &LayerSpec,
        name: &str,
        part: Part,
        shape: Shape,
    ) -> Result<Layer, ModelError> {
        Ok(match (spec, shape) {
            (LayerSpec::Linear { out }, _) => {
                let (weight, bias) = self.linear(name, part, shape.size(), *out)?;
                Layer::Linear { weight, bias }
            }
            (LayerSpec::Relu, _) => Layer::Act(Act::Relu),
            (LayerSpec::Tanh, _) => Layer::Act(Act::Tanh),
            (LayerSpec::Sigmoid, _) => Layer::Act(Act::Sigmoid),
            (LayerSpec::Gelu, _) => Layer::Act(Act::Gelu),
            (LayerSpec::Dropout { p }, _) => Layer::Dropout(*p),
            (LayerSpec::LayerNorm { eps }, _) => {
                let width = shape.size();
                let w = Var::ones(width, DType::F32, self.device)?;
                let b = Var::zeros(width, DType::F32, self.device)?;
                Layer::Norm {
                    weight: self.add(format!("{name}.weight"), w, part),
                    bias: self.add(format!("{name}.bias"), b, part),
                    eps: *eps,
                }
            }
            (
                LayerSpec::Conv2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                },
                Shape::Image(c, h, w),
            ) => {
                // PyTorch's default: U(−1/√fan_in, 1/√fan_in), fan_in = c·k·k.
                let bound = 1.0 / ((c * kernel * kernel) as f64).sqrt();
                let wv = uniform_var(
                    &mut self.init,
                    &[*out_channels, c, *kernel, *kernel],
                    bound,
                    self.device,
                )?;
                let bv = uniform_var(&mut self.init, &[*out_channels], bound, self.device)?;
                Layer::Conv {
                    weight: self.add(format!("{name}.weight"), wv, part),
                    bias: self.add(format!("{name}.bias"), bv, part),
                    stride: *stride,
                    padding: *padding,
                    input: (c, h, w),
                }
            }
            (LayerSpec::MaxPool2d { kernel }, Shape::Image(c, h, w)) => Layer::Pool {
                kernel: *kernel,
                input: (c, h, w),
            },
            (LayerSpec::Flatten, _) => Layer::Flatten,
            (LayerSpec::Conv2d { .. } | LayerSpec::MaxPool2d { .. }, Shape::Flat(_)) => {
                return Err(ModelError::Mismatch(format!(
                    "{name}: {spec} needs an image input"
                )));
            }
        })
    }
}

/// A variable of `shape` with values ~ U(−bound, bound) drawn from `rng` in row-major order.
fn uniform_var(
    rng: &mut ChaCha8Rng,
    shape: &[usize],
    bound: f64,
    device: &Device,
) -> candle_core::Result<Var> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|_| rng.random_range(-bound..bound) as f32)
        .collect();
    Var::from_tensor(&Tensor::from_vec(values, shape, device)?)
}

/// The tensor of parameter `i`.
pub(super) fn tensor(params: &[Param], i: usize) -> &Tensor {
    params[i].var.as_tensor()
}

/// `h·wᵀ + b` for the `Linear` parameters `(w, b)`: `[batch, in]` → `[batch, out]`.
pub(super) fn linear(
    params: &[Param],
    h: &Tensor,
    w: usize,
    b: usize,
) -> candle_core::Result<Tensor> {
    let w = tensor(params, w);
    let b = tensor(params, b);
    fused::bias_add(&h.matmul(&w.t()?)?, b)
}

/// Runs `layers` in order on `h`.
pub(super) fn run(
    params: &[Param],
    layers: &[Layer],
    mut h: Tensor,
    mode: &mut Mode<'_>,
) -> candle_core::Result<Tensor> {
    for layer in layers {
        h = apply(params, layer, h, mode)?;
    }
    Ok(h)
}

/// Runs one layer on `h`; dropout draws its mask from the mode's stream when training.
pub(super) fn apply(
    params: &[Param],
    layer: &Layer,
    h: Tensor,
    mode: &mut Mode<'_>,
) -> candle_core::Result<Tensor> {
    Ok(match layer {
        Layer::Linear { weight, bias } => linear(params, &flat(h)?, *weight, *bias)?,
        Layer::Flatten => flat(h)?,
        Layer::Conv {
            weight,
            bias,
            stride,
            padding,
            input,
        } => {
            let w = tensor(params, *weight);
            let b = tensor(params, *bias);
            super::conv::conv2d(&image(h, *input)?, w, b, *stride, *padding)?
        }
        Layer::Pool { kernel, input } => super::conv::max_pool2d(&image(h, *input)?, *kernel)?,
        Layer::Act(Act::Relu) => fused::relu(&h)?,
        Layer::Act(Act::Tanh) => h.tanh()?,
        Layer::Act(Act::Sigmoid) => candle_nn::ops::sigmoid(&h)?,
        Layer::Act(Act::Gelu) => h.gelu()?,
        Layer::Dropout(p) => dropout(h, *p, mode)?,
        Layer::Norm { weight, bias, eps } => {
            let mean = h.mean_keepdim(D::Minus1)?;
            let centred = h.broadcast_sub(&mean)?;
            let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
            let normed = centred.broadcast_div(&(var + *eps)?.sqrt()?)?;
            normed
                .broadcast_mul(tensor(params, *weight))?
                .broadcast_add(tensor(params, *bias))?
        }
    })
}

/// Inverted dropout with rate `p` when training; the identity otherwise.
fn dropout(h: Tensor, p: f32, mode: &mut Mode<'_>) -> candle_core::Result<Tensor> {
    Ok(match mode {
        Mode::Train(rng) if p > 0.0 => {
            let keep = 1.0 - p;
            let mask: Vec<f32> = (0..h.elem_count())
                .map(|_| {
                    if rng.random::<f32>() < keep {
                        1.0 / keep
                    } else {
                        0.0
                    }
                })
                .collect();
            let mask = Tensor::from_vec(mask, h.shape(), h.device())?;
            (h * mask)?
        }
        _ => h,
    })
}

/// Rows as vectors: `[batch, …]` → `[batch, n]`.
pub(super) fn flat(h: Tensor) -> candle_core::Result<Tensor> {
    if h.rank() > 2 {
        h.flatten_from(1)
    } else {
        Ok(h)
    }
}

/// Rows as images: `[batch, c·h·w]` → `[batch, c, h, w]` (images pass unchanged).
fn image(x: Tensor, (c, h, w): (usize, usize, usize)) -> candle_core::Result<Tensor> {
    if x.rank() == 2 {
        let rows = x.dim(0)?;
        x.reshape((rows, c, h, w))
    } else {
        Ok(x)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::{Act, Layer, apply};
    use crate::model::Mode;

    #[test]
    fn gelu_is_the_tanh_approximation() {
        let xs = [-3.0f32, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0];
        let x = Tensor::new(&xs, &Device::Cpu).expect("x");
        let y: Vec<f32> = apply(&[], &Layer::Act(Act::Gelu), x.clone(), &mut Mode::Eval)
            .and_then(|t| t.to_vec1())
            .expect("gelu");
        let exact: Vec<f32> = x.gelu_erf().and_then(|t| t.to_vec1()).expect("erf");
        for ((&v, &g), &e) in xs.iter().zip(&y).zip(&exact) {
            let tanh = 0.5
                * v
                * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (v + 0.044715 * v.powi(3))).tanh());
            assert!((g - tanh).abs() < 1e-6, "gelu({v}) = {g}, tanh form {tanh}");
            if v == 1.0 {
                assert!((g - e).abs() > 1e-4, "not the erf form: {g} vs {e}");
            }
        }
    }
}
