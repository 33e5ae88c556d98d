//! The network: a shared trunk and one head per task (hard parameter sharing), built from a
//! [`ModelSpec`](crate::experiment::ModelSpec) into candle variables with a seeded
//! initialisation of our own.
//!
//! # Shapes
//! - input `[batch, input]`
//! - trunk output `[batch, trunk_width]`
//! - head `k` output `[batch, out_k]`: 1 for regression and binary tasks, the number of
//!   classes for multiclass tasks
//! - `Linear` weight `[out, in]` (PyTorch layout), bias `[out]`
//!
//! Parameter names follow the layer positions: `shared.<i>.weight`, `shared.<i>.bias`,
//! `heads.<task>.<i>.weight`, where the head's output layer comes after its hidden layers.

pub mod loss;

use candle_core::{D, DType, Device, Tensor, Var};
use rand::Rng as _;
use rand_chacha::ChaCha8Rng;

use crate::data::TaskInfo;
use crate::experiment::{ExperimentSpec, LayerSpec};
use crate::rng;

/// Which part of the network a parameter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The shared trunk.
    Shared,
    /// The head of task `k`.
    Head(usize),
}

/// A named trainable tensor.
#[derive(Clone, Debug)]
pub struct Param {
    /// Export name, e.g. `shared.0.weight`.
    pub name: String,
    /// The variable.
    pub var: Var,
    /// Owning part.
    pub part: Part,
}

/// An activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Relu,
    Tanh,
    Sigmoid,
    Gelu,
}

/// A built layer; parameters are indices into [`Model::params`].
#[derive(Clone, Debug)]
enum Layer {
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
}

/// Why a model could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// Saved weights do not fit this model.
    #[error("{0}")]
    Mismatch(String),
}

/// The multi-task network.
#[derive(Debug)]
pub struct Model {
    shared: Vec<Layer>,
    heads: Vec<Vec<Layer>>,
    params: Vec<Param>,
    device: Device,
}

/// Whether a forward pass trains (dropout active) or evaluates.
pub enum Mode<'a> {
    /// Training: dropout masks drawn from this seeded stream.
    Train(&'a mut ChaCha8Rng),
    /// Evaluation: dropout is the identity.
    Eval,
}

impl Model {
    /// Builds the model of `spec` for `tasks` and initialises it from the spec's seed:
    /// `Linear` weights and biases ~ U(−1/√fan_in, 1/√fan_in) (PyTorch's default),
    /// `LayerNorm` weight 1 and bias 0.
    pub fn new(
        spec: &ExperimentSpec,
        tasks: &[TaskInfo],
        device: &Device,
    ) -> Result<Self, ModelError> {
        let mut init = rng::stream(spec.seed, "init");
        let mut params = Vec::new();
        let mut width = spec.model.input;
        let shared = build_layers(
            &spec.model.shared,
            "shared",
            Part::Shared,
            &mut width,
            &mut params,
            &mut init,
            device,
        )?;
        let trunk_width = width;
        let mut heads = Vec::with_capacity(tasks.len());
        for (k, task) in tasks.iter().enumerate() {
            let layers_spec = spec
                .head(&task.name)
                .map(|h| h.layers.clone())
                .unwrap_or_default();
            let mut all = layers_spec;
            all.push(LayerSpec::Linear { out: task.out_dim });
            let mut w = trunk_width;
            heads.push(build_layers(
                &all,
                &format!("heads.{}", task.name),
                Part::Head(k),
                &mut w,
                &mut params,
                &mut init,
                device,
            )?);
        }
        Ok(Self {
            shared,
            heads,
            params,
            device: device.clone(),
        })
    }

    /// Every trainable parameter, shared ones first.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of scalar parameters in `part`.
    pub fn param_count(&self, part: Part) -> usize {
        self.params
            .iter()
            .filter(|p| p.part == part)
            .map(|p| p.var.elem_count())
            .sum()
    }

    /// Runs the trunk and every head; returns one `[batch, out_k]` tensor per task.
    pub fn forward(&self, x: &Tensor, mut mode: Mode<'_>) -> candle_core::Result<Vec<Tensor>> {
        let h = self.forward_trunk(x, &mut mode)?;
        self.forward_heads(&h, &mut mode)
    }

    /// Runs the trunk only: the shared representation `[batch, trunk_width]`.
    pub fn forward_trunk(&self, x: &Tensor, mode: &mut Mode<'_>) -> candle_core::Result<Tensor> {
        self.run(&self.shared, x.clone(), mode)
    }

    /// Runs every head on a shared representation.
    pub fn forward_heads(
        &self,
        h: &Tensor,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Vec<Tensor>> {
        self.heads
            .iter()
            .map(|head| self.run(head, h.clone(), mode))
            .collect()
    }

    fn run(
        &self,
        layers: &[Layer],
        mut h: Tensor,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Tensor> {
        for layer in layers {
            h = match layer {
                Layer::Linear { weight, bias } => {
                    let w = self.params[*weight].var.as_tensor();
                    let b = self.params[*bias].var.as_tensor();
                    h.matmul(&w.t()?)?.broadcast_add(b)?
                }
                Layer::Act(Act::Relu) => h.relu()?,
                Layer::Act(Act::Tanh) => h.tanh()?,
                Layer::Act(Act::Sigmoid) => candle_nn::ops::sigmoid(&h)?,
                Layer::Act(Act::Gelu) => h.gelu()?,
                Layer::Dropout(p) => match mode {
                    Mode::Train(rng) if *p > 0.0 => {
                        let keep = 1.0 - *p;
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
                },
                Layer::Norm { weight, bias, eps } => {
                    let mean = h.mean_keepdim(D::Minus1)?;
                    let centred = h.broadcast_sub(&mean)?;
                    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
                    let normed = centred.broadcast_div(&(var + *eps)?.sqrt()?)?;
                    normed
                        .broadcast_mul(self.params[*weight].var.as_tensor())?
                        .broadcast_add(self.params[*bias].var.as_tensor())?
                }
            };
        }
        Ok(h)
    }

    /// Every parameter as `(name, shape, values)`, in model order.
    pub fn export(&self) -> candle_core::Result<Vec<NamedTensor>> {
        self.params
            .iter()
            .map(|p| {
                Ok(NamedTensor {
                    name: p.name.clone(),
                    shape: p.var.dims().to_vec(),
                    values: p.var.flatten_all()?.to_vec1::<f32>()?,
                })
            })
            .collect()
    }

    /// Replaces every parameter with the tensor of the same name. Every parameter must be
    /// present with the same shape; extra tensors are an error too, so a file for another
    /// architecture is never half-loaded. Nothing changes when an error is returned.
    pub fn load(&mut self, tensors: &[NamedTensor]) -> Result<(), ModelError> {
        let mut staged = Vec::with_capacity(self.params.len());
        for p in &self.params {
            let t = tensors.iter().find(|t| t.name == p.name).ok_or_else(|| {
                ModelError::Mismatch(format!("the weights file has no tensor '{}'", p.name))
            })?;
            if t.shape != p.var.dims() {
                return Err(ModelError::Mismatch(format!(
                    "tensor '{}' has shape {:?} but the model's layer needs {:?}",
                    p.name,
                    t.shape,
                    p.var.dims()
                )));
            }
            staged.push(Tensor::from_slice(
                &t.values,
                t.shape.as_slice(),
                &self.device,
            )?);
        }
        if let Some(extra) = tensors
            .iter()
            .find(|t| !self.params.iter().any(|p| p.name == t.name))
        {
            return Err(ModelError::Mismatch(format!(
                "the weights file has a tensor '{}' that this model does not have",
                extra.name
            )));
        }
        for (p, t) in self.params.iter().zip(staged) {
            p.var.set(&t)?;
        }
        Ok(())
    }
}

/// A parameter as plain data, for export and loading.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Tensor name.
    pub name: String,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<f32>,
}

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

fn build_layers(
    specs: &[LayerSpec],
    prefix: &str,
    part: Part,
    width: &mut usize,
    params: &mut Vec<Param>,
    init: &mut ChaCha8Rng,
    device: &Device,
) -> Result<Vec<Layer>, ModelError> {
    let mut layers = Vec::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        let mut add = |suffix: &str, var: Var| {
            params.push(Param {
                name: format!("{prefix}.{i}.{suffix}"),
                var,
                part,
            });
            params.len() - 1
        };
        let layer = match spec {
            LayerSpec::Linear { out } => {
                if *out == 0 || *width == 0 {
                    return Err(ModelError::Mismatch(format!(
                        "{prefix}[{i}]: Linear {} -> {out} has a zero size",
                        *width
                    )));
                }
                let bound = 1.0 / (*width as f64).sqrt();
                let weight = add("weight", uniform_var(init, &[*out, *width], bound, device)?);
                let bias = add("bias", uniform_var(init, &[*out], bound, device)?);
                Layer::Linear { weight, bias }
            }
            LayerSpec::Relu => Layer::Act(Act::Relu),
            LayerSpec::Tanh => Layer::Act(Act::Tanh),
            LayerSpec::Sigmoid => Layer::Act(Act::Sigmoid),
            LayerSpec::Gelu => Layer::Act(Act::Gelu),
            LayerSpec::Dropout { p } => Layer::Dropout(*p),
            LayerSpec::LayerNorm { eps } => {
                let weight = add("weight", Var::ones(*width, DType::F32, device)?);
                let bias = add("bias", Var::zeros(*width, DType::F32, device)?);
                Layer::Norm {
                    weight,
                    bias,
                    eps: *eps,
                }
            }
        };
        *width = spec.out_width(*width);
        layers.push(layer);
    }
    Ok(layers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{PreparedData, load};

    fn model(spec: &ExperimentSpec) -> Model {
        let data = load(spec).expect("data");
        let prep = PreparedData::new(spec, &data).expect("prep");
        Model::new(spec, &prep.tasks, &Device::Cpu).expect("model")
    }

    #[test]
    fn names_shapes_and_counts() {
        let spec = ExperimentSpec::default();
        let m = model(&spec);
        let names: Vec<&str> = m.params().iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names[0], "shared.0.weight", "first parameter");
        assert!(
            names.contains(&"heads.y1.2.bias"),
            "head output layer bias: {names:?}"
        );
        assert_eq!(
            m.params()[0].var.dims(),
            [64, 16],
            "PyTorch layout [out, in]"
        );
        assert_eq!(
            m.param_count(Part::Shared),
            16 * 64 + 64 + 64 * 64 + 64,
            "trunk size"
        );
        assert_eq!(
            m.param_count(Part::Head(1)),
            64 * 32 + 32 + 32 + 1,
            "head size"
        );
    }

    #[test]
    fn init_is_seeded() {
        let spec = ExperimentSpec::default();
        let a = model(&spec).export().expect("export");
        let b = model(&spec).export().expect("export");
        assert_eq!(a, b, "same seed, same weights");
        let mut other = spec.clone();
        other.seed += 1;
        assert_ne!(a, model(&other).export().expect("export"), "other seed");
    }

    #[test]
    fn every_layer_kind_runs_forward() {
        let mut spec = ExperimentSpec::default();
        spec.model.shared = LayerSpec::palette();
        let m = model(&spec);
        let x = Tensor::ones((3, 16), DType::F32, &Device::Cpu).expect("x");
        let mut r = rng::stream(0, "t");
        let out = m.forward(&x, Mode::Train(&mut r)).expect("forward");
        assert_eq!(out.len(), 2, "one output per task");
        assert_eq!(out[0].dims(), [3, 1], "regression output");
    }

    #[test]
    fn load_rejects_wrong_shapes_without_changing_anything() {
        let spec = ExperimentSpec::default();
        let mut m = model(&spec);
        let before = m.export().expect("export");
        let mut bad = before.clone();
        bad[0].shape = vec![1, 1];
        bad[0].values = vec![0.0];
        let err = m.load(&bad).expect_err("shape mismatch");
        assert!(
            err.to_string().contains("shared.0.weight"),
            "names the tensor: {err}"
        );
        assert_eq!(m.export().expect("export"), before, "model unchanged");
    }
}
