//! The network, built from a [`ModelSpec`](crate::experiment::ModelSpec) into candle
//! variables with a seeded initialisation of our own.
//!
//! The layers of `model.shared` form, by [`Architecture`](crate::experiment::Architecture)
//! (one file each under `arch/`):
//! - **hard**: one trunk every head reads;
//! - **soft**: one tower per task, coupled by an L2 penalty ([`Model::penalty`]);
//! - **cross-stitch**: one column per task, mixed after every block by a learned T × T unit;
//! - **MMoE / MoE**: `experts` copies, mixed per task (or once) by a softmax gate on the input.
//!
//! Heads then run in an order where a head that reads another task's output or hidden layer
//! (a link) runs after it. With relationship learning, the heads' output weights are
//! coupled through a learned task covariance Ω.
//!
//! # Shapes
//! - input `[batch, input]`; representation `[batch, rep_width]` (one, or one per task)
//! - head `k` output `[batch, out_k]`: 1 for regression and binary tasks, the number of
//!   classes for multiclass tasks
//! - `Linear` weight `[out, in]` (PyTorch layout), bias `[out]`; cross-stitch unit `[T, T]`;
//!   gate weight `[experts, input]`
//!
//! # Parameter names
//! `shared.<i>.*` (hard trunk), `towers.<task>.<i>.*`, `columns.<task>.<i>.*`,
//! `stitch.<u>`, `experts.<e>.<i>.*`, `gates.<task>.*` (MMoE) or `gate.*` (MoE), and
//! `heads.<task>.<i>.*` where the head's output layer comes after its hidden layers: its
//! index is the number of entries in the head's `layers` (`heads.y.2.*` after
//! `[linear, relu]`).
//! Relationship learning adds the non-trainable `relationship.omega` `[T, T]` to exports.

mod arch;
mod conv;
pub mod fused;
mod layers;
pub mod loss;
mod onnx;

use candle_core::{Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use crate::data::TaskInfo;
use crate::experiment::{ExperimentSpec, Plan, Shape, Take};
use arch::relationship::Relation;
use arch::{Body, BodySpec};
use layers::{Builder, Layer, flat};

/// Name of the exported task covariance of relationship learning.
pub const OMEGA_NAME: &str = "relationship.omega";

/// Which part of the network a parameter belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Shared by every task (trunk, cross-stitch columns and units, experts, a MoE gate).
    Shared,
    /// Task `k`'s own: its head, and its tower or gate.
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
    /// Learning-rate multiplier (cross-stitch units train faster).
    pub lr_scale: f64,
}

/// A head: hidden layers, an output layer and links from other heads.
#[derive(Clone, Debug)]
struct Head {
    /// `heads.<task>`: the scope of its layers.
    prefix: String,
    hidden: Vec<Layer>,
    out: (usize, usize),
    links: Vec<Link>,
}

#[derive(Clone, Debug)]
struct Link {
    from: usize,
    take: Take,
    alpha: f64,
    detach: bool,
}

/// What each task's head reads: one representation for all, or one per task.
#[derive(Clone, Debug)]
pub enum Rep {
    /// Hard sharing and MoE.
    One(Tensor),
    /// Soft sharing, cross-stitch and MMoE.
    PerTask(Vec<Tensor>),
}

impl Rep {
    /// Task `k`'s representation.
    pub fn task(&self, k: usize) -> &Tensor {
        match self {
            Self::One(t) => t,
            Self::PerTask(v) => &v[k.min(v.len().saturating_sub(1))],
        }
    }
}

/// Why a model could not be built or loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Candle(#[from] candle_core::Error),
    /// Saved weights do not fit this model, or the spec cannot be built.
    #[error("{0}")]
    Mismatch(String),
}

/// The multi-task network.
#[derive(Debug)]
pub struct Model {
    /// The architecture: what the layers of `model.shared` became.
    body: Box<dyn Body>,
    heads: Vec<Head>,
    order: Vec<usize>,
    /// Multiply-adds of one row's forward pass through the linear and convolution layers.
    macs_per_row: usize,
    params: Vec<Param>,
    relation: Option<Relation>,
    device: Device,
}

/// Whether a forward pass trains (dropout active) or evaluates.
pub enum Mode<'a> {
    /// Training: dropout masks drawn from this seeded stream.
    Train(&'a mut ChaCha8Rng),
    /// Evaluation: dropout is the identity.
    Eval,
}

/// Architecture-specific state to show while training (plain data).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArchState {
    /// Soft sharing: K × K distances ‖θₜ − θₜ′‖ between towers (row-major).
    pub tower_distances: Option<Vec<f64>>,
    /// Relationship learning: Ω (K × K, row-major).
    pub omega: Option<Vec<f64>>,
    /// Cross-stitch: each unit's α (K × K, row-major).
    pub stitch: Vec<Vec<f64>>,
    /// Mixtures: per gate (K for MMoE, 1 for MoE) the mean gate weight of each expert on a
    /// batch.
    pub gates: Vec<Vec<f64>>,
}

impl Model {
    /// Builds the model of `spec` for `tasks` and initialises it from the spec's seed:
    /// `Linear` weights and biases ~ U(−1/√fan_in, 1/√fan_in) (PyTorch's default),
    /// `LayerNorm` weight 1 and bias 0, cross-stitch units at the spec's convex start, Ω = I/T.
    pub fn new(
        spec: &ExperimentSpec,
        tasks: &[TaskInfo],
        device: &Device,
    ) -> Result<Self, ModelError> {
        let out_dims: Vec<usize> = tasks.iter().map(|t| t.out_dim).collect();
        let plan: Plan = spec.plan(&out_dims).map_err(ModelError::Mismatch)?;
        let mut b = Builder::new(spec.seed, device);
        let body_spec = BodySpec {
            shared: &spec.model.shared,
            input: spec.model.input,
            input_shape: plan.shapes[0],
            tasks,
            plan: &plan,
        };
        let body = arch::build(&spec.model.architecture, &body_spec, &mut b)?;
        let heads = build_heads(spec, tasks, &plan, &mut b)?;
        let relation = match &spec.model.relationship {
            Some(r) => Some(Relation::new(
                r,
                heads.iter().map(|h| h.out.0).collect(),
                device,
            )?),
            None => None,
        };
        Ok(Self {
            body,
            heads,
            order: plan.order,
            macs_per_row: b.macs,
            params: b.params,
            relation,
            device: device.clone(),
        })
    }

    /// Every trainable parameter, in model order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Whether any parameter is shared by every task (soft sharing has none).
    pub fn has_shared(&self) -> bool {
        self.params.iter().any(|p| p.part == Part::Shared)
    }

    /// Multiply-adds of one row's forward pass through the linear and convolution layers
    /// (a convolution's weights count once per output pixel).
    pub fn macs_per_row(&self) -> usize {
        self.macs_per_row
    }

    /// Number of scalar parameters in `part`.
    pub fn param_count(&self, part: Part) -> usize {
        self.params
            .iter()
            .filter(|p| p.part == part)
            .map(|p| p.var.elem_count())
            .sum()
    }

    /// Runs the body and every head; returns one `[batch, out_k]` tensor per task.
    pub fn forward(&self, x: &Tensor, mut mode: Mode<'_>) -> candle_core::Result<Vec<Tensor>> {
        let h = self.forward_trunk(x, &mut mode)?;
        self.forward_heads(&h, &mut mode)
    }

    /// Runs the body: the representation(s) the heads read.
    pub fn forward_trunk(&self, x: &Tensor, mode: &mut Mode<'_>) -> candle_core::Result<Rep> {
        self.body.forward(&self.params, x, mode)
    }

    /// Runs every head on the representation(s), sources of links first. A head reads its
    /// representation flattened, then each link's source times α concatenated in the order
    /// the links are listed; `output` takes the source's raw output layer, `hidden` exactly
    /// what entered that output layer.
    pub fn forward_heads(
        &self,
        rep: &Rep,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Vec<Tensor>> {
        let k = self.heads.len();
        let mut outs: Vec<Option<Tensor>> = vec![None; k];
        let mut hidden: Vec<Option<Tensor>> = vec![None; k];
        for &t in &self.order {
            let head = &self.heads[t];
            let mut input = flat(rep.task(t).clone())?;
            if !head.links.is_empty() {
                let mut parts = vec![input];
                for link in &head.links {
                    let source = match link.take {
                        Take::Output => &outs[link.from],
                        Take::Hidden => &hidden[link.from],
                    };
                    let source = source.as_ref().ok_or_else(|| {
                        candle_core::Error::Msg("a linked head ran before its source".into())
                    })?;
                    let source = if link.detach {
                        source.detach()
                    } else {
                        source.clone()
                    };
                    parts.push((source * link.alpha)?);
                }
                input = Tensor::cat(&parts, 1)?;
            }
            let h = layers::run(&self.params, &head.hidden, input, mode)?;
            outs[t] = Some(layers::linear(&self.params, &h, head.out.0, head.out.1)?);
            hidden[t] = Some(h);
        }
        outs.into_iter()
            .map(|o| o.ok_or_else(|| candle_core::Error::Msg("a head did not run".into())))
            .collect()
    }

    /// Whether [`Self::penalty`] can be non-zero (soft sharing or relationship learning).
    pub fn has_penalty(&self) -> bool {
        self.body.has_penalty() || self.relation.is_some()
    }

    /// The architecture's regulariser, added to the weighted task losses: soft sharing's
    /// coupling penalty and relationship learning's (λ₁/2)·tr(WWᵀ) + (λ₂/2)·tr(WΩ⁻¹Wᵀ).
    /// `None` when the model has none.
    pub fn penalty(&self) -> candle_core::Result<Option<Tensor>> {
        let mut terms: Vec<Tensor> = Vec::new();
        self.body.penalty(&self.params, &mut terms)?;
        if let Some(rel) = &self.relation {
            rel.penalty(&self.params, &mut terms)?;
        }
        let mut it = terms.into_iter();
        let Some(first) = it.next() else {
            return Ok(None);
        };
        it.try_fold(first, |a, b| a + b).map(Some)
    }

    /// Changes soft sharing's λ from the next step on; false when the model has no towers.
    pub fn set_soft_lambda(&mut self, lambda: f64) -> bool {
        self.body.set_soft_lambda(lambda)
    }

    /// Changes relationship learning's λ₂ from the next step on; false without it.
    pub fn set_relationship_lambda(&mut self, lambda: f64) -> bool {
        match &mut self.relation {
            Some(r) => {
                r.set_lambda(lambda);
                true
            }
            None => false,
        }
    }

    /// Steps between Ω updates, when relationship learning is on.
    pub fn relationship_every(&self) -> Option<u64> {
        self.relation.as_ref().map(Relation::every)
    }

    /// Relationship learning's closed-form step: Ω = (WᵀW + εI)^½ / tr((WᵀW + εI)^½), from
    /// the current output weights. Does nothing without relationship learning.
    pub fn update_relationship(&mut self) -> candle_core::Result<()> {
        match &mut self.relation {
            Some(rel) => rel.update(&self.params, &self.device),
            None => Ok(()),
        }
    }

    /// Ω of relationship learning (T × T, row-major), when on.
    pub fn omega(&self) -> Option<Vec<f64>> {
        self.relation.as_ref().map(Relation::omega)
    }

    /// The architecture's live state; `x` is a batch for the gate weights.
    pub fn arch_state(&self, x: &Tensor) -> candle_core::Result<ArchState> {
        let mut state = ArchState {
            omega: self.omega(),
            ..ArchState::default()
        };
        self.body.state(&self.params, x, &mut state)?;
        Ok(state)
    }

    /// Every parameter as `(name, shape, values)`, in model order; with relationship
    /// learning, Ω last as [`OMEGA_NAME`].
    pub fn export(&self) -> candle_core::Result<Vec<NamedTensor>> {
        let mut out: Vec<NamedTensor> = self
            .params
            .iter()
            .map(|p| {
                Ok(NamedTensor {
                    name: p.name.clone(),
                    shape: p.var.dims().to_vec(),
                    values: p.var.flatten_all()?.to_vec1::<f32>()?,
                })
            })
            .collect::<candle_core::Result<_>>()?;
        if let Some(rel) = &self.relation {
            out.push(rel.export());
        }
        Ok(out)
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
        let mut omega = None;
        for t in tensors {
            if self.params.iter().any(|p| p.name == t.name) {
                continue;
            }
            match &self.relation {
                Some(rel) if t.name == OMEGA_NAME => {
                    omega = Some(rel.stage(t, &self.device)?);
                }
                _ => {
                    return Err(ModelError::Mismatch(format!(
                        "the weights file has a tensor '{}' that this model does not have",
                        t.name
                    )));
                }
            }
        }
        for (p, t) in self.params.iter().zip(staged) {
            p.var.set(&t)?;
        }
        if let (Some(rel), Some(staged)) = (&mut self.relation, omega) {
            rel.set(staged);
        }
        Ok(())
    }
}

/// Builds every task's head `heads.<task>.<i>.*` in task order: its hidden layers, then its
/// output layer, then its links.
fn build_heads(
    spec: &ExperimentSpec,
    tasks: &[TaskInfo],
    plan: &Plan,
    b: &mut Builder<'_>,
) -> Result<Vec<Head>, ModelError> {
    let k = tasks.len();
    let mut heads = Vec::with_capacity(k);
    for (t, task) in tasks.iter().enumerate() {
        let head_spec = spec.head(&task.name);
        let prefix = format!("heads.{}", task.name);
        let layers = head_spec.map_or(&[][..], |h| &h.layers);
        let hidden = b.layers(layers, &prefix, Part::Head(t), Shape::Flat(plan.head_in[t]))?;
        let out = b.linear(
            &format!("{prefix}.{}", layers.len()),
            Part::Head(t),
            plan.hidden[t],
            task.out_dim,
        )?;
        let links = head_spec
            .map_or(&[][..], |h| &h.links)
            .iter()
            .map(|l| Link {
                from: tasks.iter().position(|x| x.name == l.from).unwrap_or(t),
                take: l.take,
                alpha: f64::from(l.alpha),
                detach: l.detach,
            })
            .collect();
        heads.push(Head {
            prefix,
            hidden,
            out,
            links,
        });
    }
    Ok(heads)
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::data::{PreparedData, load};
    use candle_core::DType;

    use crate::experiment::LayerSpec;
    use crate::rng;

    /// The model of `spec` for its prepared tasks, on the CPU.
    pub(crate) fn model(spec: &ExperimentSpec) -> Model {
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
        // Every kind that takes vectors (image layers: tests/architectures.rs).
        spec.model.shared = LayerSpec::palette()
            .into_iter()
            .filter(|l| !matches!(l, LayerSpec::Conv2d { .. } | LayerSpec::MaxPool2d { .. }))
            .collect();
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
