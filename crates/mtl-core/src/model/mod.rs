//! The network, built from a [`ModelSpec`](crate::experiment::ModelSpec) into candle
//! variables with a seeded initialisation of our own.
//!
//! The layers of `model.shared` form, by [`Architecture`]:
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
//! `heads.<task>.<i>.*` where the head's output layer comes after its hidden layers.
//! Relationship learning adds the non-trainable `relationship.omega` `[T, T]` to exports.

pub mod fused;
mod layers;
pub mod loss;

use candle_core::{D, DType, Device, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use crate::data::TaskInfo;
use crate::experiment::{
    Architecture, Coupling, ExperimentSpec, Plan, RelationshipSpec, Shape, Take,
};
use crate::linalg;
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

/// What the layers of `model.shared` became.
#[derive(Clone, Debug)]
enum Body {
    /// Hard sharing.
    Trunk(Vec<Layer>),
    /// Soft sharing: one tower per task.
    Towers(Vec<Vec<Layer>>),
    /// Cross-stitch: one column per task and units `(after layer i, α param)`.
    Stitched {
        columns: Vec<Vec<Layer>>,
        units: Vec<(usize, usize)>,
    },
    /// Mixture of experts: gates `(weight, bias)`, one per task (MMoE) or one (MoE).
    Experts {
        experts: Vec<Vec<Layer>>,
        gates: Vec<(usize, usize)>,
    },
}

/// A head: hidden layers, an output layer and links from other heads.
#[derive(Clone, Debug)]
struct Head {
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

/// Soft sharing's penalty: λ, the coupling, and for each coupled tensor its index in every
/// tower.
#[derive(Clone, Debug)]
struct Soft {
    lambda: f64,
    coupling: Coupling,
    groups: Vec<Vec<usize>>,
}

/// Relationship learning state: the spec, the heads' output weights and Ω.
#[derive(Clone, Debug)]
struct Relation {
    spec: RelationshipSpec,
    out_weights: Vec<usize>,
    omega: Vec<Vec<f64>>,
    omega_inv: Tensor,
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
    body: Body,
    heads: Vec<Head>,
    order: Vec<usize>,
    /// Multiply-adds of one row's forward pass through the linear and convolution layers.
    macs_per_row: usize,
    params: Vec<Param>,
    soft: Option<Soft>,
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
    #[expect(
        clippy::too_many_lines,
        reason = "one arm per architecture, then the heads, in parameter order"
    )]
    pub fn new(
        spec: &ExperimentSpec,
        tasks: &[TaskInfo],
        device: &Device,
    ) -> Result<Self, ModelError> {
        let out_dims: Vec<usize> = tasks.iter().map(|t| t.out_dim).collect();
        let plan: Plan = spec.plan(&out_dims).map_err(ModelError::Mismatch)?;
        let k = tasks.len();
        let mut b = Builder::new(spec.seed, device);
        let shared = &spec.model.shared;
        let input = spec.model.input;
        let input_shape = plan.shapes[0];
        let mut soft = None;
        let body = match &spec.model.architecture {
            Architecture::Hard => {
                Body::Trunk(b.layers(shared, "shared", Part::Shared, input_shape)?)
            }
            Architecture::Soft { lambda, coupling } => {
                let towers = tasks
                    .iter()
                    .enumerate()
                    .map(|(t, task)| {
                        b.layers(
                            shared,
                            &format!("towers.{}", task.name),
                            Part::Head(t),
                            input_shape,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let per_tower: Vec<Vec<usize>> = towers
                    .iter()
                    .map(|layers| layers.iter().flat_map(Layer::params).collect())
                    .collect();
                let groups = (0..per_tower.first().map_or(0, Vec::len))
                    .map(|j| per_tower.iter().map(|p| p[j]).collect())
                    .collect();
                soft = Some(Soft {
                    lambda: *lambda,
                    coupling: *coupling,
                    groups,
                });
                Body::Towers(towers)
            }
            Architecture::CrossStitch {
                self_weight,
                lr_scale,
            } => {
                let columns = tasks
                    .iter()
                    .map(|task| {
                        b.layers(
                            shared,
                            &format!("columns.{}", task.name),
                            Part::Shared,
                            input_shape,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let off = if k > 1 {
                    (1.0 - self_weight) / (k - 1) as f64
                } else {
                    0.0
                };
                let mut units = Vec::new();
                for (u, &after) in plan.stitch_after.iter().enumerate() {
                    let alpha: Vec<f32> = (0..k * k)
                        .map(|i| {
                            if i / k == i % k {
                                *self_weight as f32
                            } else {
                                off as f32
                            }
                        })
                        .collect();
                    let var = Var::from_tensor(&Tensor::from_vec(alpha, (k, k), device)?)?;
                    let idx = b.add(format!("stitch.{u}"), var, Part::Shared);
                    b.params[idx].lr_scale = *lr_scale;
                    units.push((after, idx));
                }
                Body::Stitched { columns, units }
            }
            Architecture::Mmoe { experts } | Architecture::Moe { experts } => {
                let list = (0..*experts)
                    .map(|e| b.layers(shared, &format!("experts.{e}"), Part::Shared, input_shape))
                    .collect::<Result<Vec<_>, _>>()?;
                let gates = if matches!(spec.model.architecture, Architecture::Mmoe { .. }) {
                    tasks
                        .iter()
                        .enumerate()
                        .map(|(t, task)| {
                            b.linear(
                                &format!("gates.{}", task.name),
                                Part::Head(t),
                                input,
                                *experts,
                            )
                        })
                        .collect::<Result<Vec<_>, _>>()?
                } else {
                    vec![b.linear("gate", Part::Shared, input, *experts)?]
                };
                Body::Experts {
                    experts: list,
                    gates,
                }
            }
        };
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
            heads.push(Head { hidden, out, links });
        }
        let relation = match &spec.model.relationship {
            Some(r) => {
                let omega: Vec<Vec<f64>> = (0..k)
                    .map(|i| {
                        (0..k)
                            .map(|j| if i == j { 1.0 / k as f64 } else { 0.0 })
                            .collect()
                    })
                    .collect();
                let omega_inv = inverse_tensor(&omega, device)?;
                Some(Relation {
                    spec: r.clone(),
                    out_weights: heads.iter().map(|h| h.out.0).collect(),
                    omega,
                    omega_inv,
                })
            }
            None => None,
        };
        Ok(Self {
            body,
            heads,
            order: plan.order,
            macs_per_row: b.macs,
            params: b.params,
            soft,
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
        match &self.body {
            Body::Trunk(layers) => Ok(Rep::One(layers::run(
                &self.params,
                layers,
                x.clone(),
                mode,
            )?)),
            Body::Towers(towers) => Ok(Rep::PerTask(
                towers
                    .iter()
                    .map(|t| layers::run(&self.params, t, x.clone(), mode))
                    .collect::<candle_core::Result<_>>()?,
            )),
            Body::Stitched { columns, units } => {
                let mut hs: Vec<Tensor> = vec![x.clone(); columns.len()];
                let mut next = units.iter().peekable();
                for i in 0..columns.first().map_or(0, Vec::len) {
                    for (h, column) in hs.iter_mut().zip(columns) {
                        *h = layers::apply(&self.params, &column[i], h.clone(), mode)?;
                    }
                    if let Some(&(_, alpha)) = next.next_if(|(after, _)| *after == i) {
                        hs = stitch(&hs, self.params[alpha].var.as_tensor())?;
                    }
                }
                Ok(Rep::PerTask(hs))
            }
            Body::Experts { experts, gates } => {
                let outs = experts
                    .iter()
                    .map(|e| layers::run(&self.params, e, x.clone(), mode).and_then(flat))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let stacked = Tensor::stack(&outs, 1)?; // [batch, experts, width]
                let mut reps = Vec::with_capacity(gates.len());
                for &(w, b) in gates {
                    let g = self.gate(x, w, b)?.unsqueeze(1)?; // [batch, 1, experts]
                    reps.push(g.matmul(&stacked)?.squeeze(1)?);
                }
                if reps.len() == 1 {
                    Ok(Rep::One(reps.remove(0)))
                } else {
                    Ok(Rep::PerTask(reps))
                }
            }
        }
    }

    /// Softmax gate weights `[batch, experts]` of gate `(w, b)` on input `x`.
    fn gate(&self, x: &Tensor, w: usize, b: usize) -> candle_core::Result<Tensor> {
        let logits = layers::linear(&self.params, x, w, b)?;
        candle_nn::ops::softmax(&logits, D::Minus1)
    }

    /// Runs every head on the representation(s), sources of links first.
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
        self.soft.is_some() || self.relation.is_some()
    }

    /// The architecture's regulariser, added to the weighted task losses: soft sharing's
    /// coupling penalty and relationship learning's (λ₁/2)·tr(WWᵀ) + (λ₂/2)·tr(WΩ⁻¹Wᵀ).
    /// `None` when the model has none.
    pub fn penalty(&self) -> candle_core::Result<Option<Tensor>> {
        let mut terms: Vec<Tensor> = Vec::new();
        if let Some(soft) = &self.soft
            && soft.lambda > 0.0
        {
            for group in &soft.groups {
                let v: Vec<&Tensor> = group
                    .iter()
                    .map(|&i| self.params[i].var.as_tensor())
                    .collect();
                let mut sum: Option<Tensor> = None;
                let mut add = |t: Tensor| -> candle_core::Result<()> {
                    sum = Some(match sum.take() {
                        None => t,
                        Some(s) => (s + t)?,
                    });
                    Ok(())
                };
                match soft.coupling {
                    Coupling::AllPairs => {
                        for a in 0..v.len() {
                            for b in a + 1..v.len() {
                                add((v[a] - v[b])?.sqr()?.sum_all()?)?;
                            }
                        }
                    }
                    Coupling::Consecutive => {
                        for a in 1..v.len() {
                            add((v[a - 1] - v[a])?.sqr()?.sum_all()?)?;
                        }
                    }
                    Coupling::Mean => {
                        let stacked = Tensor::stack(&v, 0)?;
                        let mean = stacked.mean_keepdim(0)?;
                        // λ·Σ‖θₜ − θ̄‖², written as 2·(λ/2)·… to share the scale below.
                        add((stacked.broadcast_sub(&mean)?.sqr()?.sum_all()? * 2.0)?)?;
                    }
                }
                if let Some(s) = sum {
                    terms.push((s * (soft.lambda / 2.0))?);
                }
            }
        }
        if let Some(rel) = &self.relation {
            let w = self.relation_matrix(rel)?; // [d, T]
            if rel.spec.lambda_ridge > 0.0 {
                terms.push((w.sqr()?.sum_all()? * (rel.spec.lambda_ridge / 2.0))?);
            }
            if rel.spec.lambda > 0.0 {
                let tr = (w.matmul(&rel.omega_inv)? * &w)?.sum_all()?;
                terms.push((tr * (rel.spec.lambda / 2.0))?);
            }
        }
        let mut it = terms.into_iter();
        let Some(first) = it.next() else {
            return Ok(None);
        };
        it.try_fold(first, |a, b| a + b).map(Some)
    }

    /// W = [w₁ … w_T]: each head's output weights flattened into a column, zero-padded to the
    /// longest.
    fn relation_matrix(&self, rel: &Relation) -> candle_core::Result<Tensor> {
        let flat: Vec<Tensor> = rel
            .out_weights
            .iter()
            .map(|&i| self.params[i].var.as_tensor().flatten_all())
            .collect::<candle_core::Result<_>>()?;
        let d = flat.iter().map(Tensor::elem_count).max().unwrap_or(0);
        let cols: Vec<Tensor> = flat
            .into_iter()
            .map(|t| {
                let n = t.elem_count();
                if n < d {
                    t.pad_with_zeros(0, 0, d - n)
                } else {
                    Ok(t)
                }
            })
            .collect::<candle_core::Result<_>>()?;
        Tensor::stack(&cols, 1)
    }

    /// Changes soft sharing's λ from the next step on; false when the model has no towers.
    pub fn set_soft_lambda(&mut self, lambda: f64) -> bool {
        match &mut self.soft {
            Some(s) => {
                s.lambda = lambda;
                true
            }
            None => false,
        }
    }

    /// Changes relationship learning's λ₂ from the next step on; false without it.
    pub fn set_relationship_lambda(&mut self, lambda: f64) -> bool {
        match &mut self.relation {
            Some(r) => {
                r.spec.lambda = lambda;
                true
            }
            None => false,
        }
    }

    /// Steps between Ω updates, when relationship learning is on.
    pub fn relationship_every(&self) -> Option<u64> {
        self.relation.as_ref().map(|r| r.spec.update_every)
    }

    /// Relationship learning's closed-form step: Ω = (WᵀW + εI)^½ / tr((WᵀW + εI)^½), from
    /// the current output weights. Does nothing without relationship learning.
    pub fn update_relationship(&mut self) -> candle_core::Result<()> {
        let Some(rel) = &self.relation else {
            return Ok(());
        };
        let w = self.relation_matrix(rel)?.to_dtype(DType::F64)?;
        let gram: Vec<Vec<f64>> = w.t()?.matmul(&w)?.to_vec2()?;
        let eps = rel.spec.epsilon;
        let a: Vec<Vec<f64>> = gram
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, v)| if i == j { v + eps } else { *v })
                    .collect()
            })
            .collect();
        let (root, _, _) = linalg::sym_sqrt(&a);
        let trace: f64 = (0..root.len()).map(|i| root[i][i]).sum();
        if !(trace.is_finite() && trace > 0.0) {
            return Err(candle_core::Error::Msg(format!(
                "relationship learning: tr((WᵀW + εI)^½) = {trace} (the output weights are not finite)"
            )));
        }
        // Exactly symmetric, and held at the f32 precision it is used and exported in.
        let k = root.len();
        let omega: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| f64::from(((root[i][j] + root[j][i]) / (2.0 * trace)) as f32))
                    .collect()
            })
            .collect();
        let inv = inverse_tensor(&omega, &self.device)?;
        if let Some(rel) = &mut self.relation {
            rel.omega = omega;
            rel.omega_inv = inv;
        }
        Ok(())
    }

    /// Ω of relationship learning (T × T, row-major), when on.
    pub fn omega(&self) -> Option<Vec<f64>> {
        self.relation
            .as_ref()
            .map(|r| r.omega.iter().flatten().copied().collect())
    }

    /// The architecture's live state; `x` is a batch for the gate weights.
    pub fn arch_state(&self, x: &Tensor) -> candle_core::Result<ArchState> {
        let mut state = ArchState {
            omega: self.omega(),
            ..ArchState::default()
        };
        if let Some(soft) = &self.soft {
            let towers = soft.groups.first().map_or(0, Vec::len);
            let mut flat: Vec<Vec<f32>> = vec![Vec::new(); towers];
            for group in &soft.groups {
                for (t, &i) in group.iter().enumerate() {
                    flat[t].extend(self.params[i].var.flatten_all()?.to_vec1::<f32>()?);
                }
            }
            let mut d = vec![0.0; towers * towers];
            for a in 0..towers {
                for b in 0..towers {
                    d[a * towers + b] = flat[a]
                        .iter()
                        .zip(&flat[b])
                        .map(|(x, y)| f64::from(x - y).powi(2))
                        .sum::<f64>()
                        .sqrt();
                }
            }
            state.tower_distances = Some(d);
        }
        match &self.body {
            Body::Stitched { units, .. } => {
                for &(_, i) in units {
                    state.stitch.push(
                        self.params[i]
                            .var
                            .flatten_all()?
                            .to_vec1::<f32>()?
                            .into_iter()
                            .map(f64::from)
                            .collect(),
                    );
                }
            }
            Body::Experts { gates, .. } => {
                for &(w, b) in gates {
                    let mean = self.gate(x, w, b)?.mean(0)?.to_vec1::<f32>()?;
                    state.gates.push(mean.into_iter().map(f64::from).collect());
                }
            }
            _ => {}
        }
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
            let k = rel.omega.len();
            out.push(NamedTensor {
                name: OMEGA_NAME.to_owned(),
                shape: vec![k, k],
                values: rel.omega.iter().flatten().map(|v| *v as f32).collect(),
            });
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
                    let k = rel.omega.len();
                    if t.shape != [k, k] {
                        return Err(ModelError::Mismatch(format!(
                            "tensor '{OMEGA_NAME}' has shape {:?} but this model has {k} tasks",
                            t.shape
                        )));
                    }
                    let m: Vec<Vec<f64>> = t
                        .values
                        .chunks(k)
                        .map(|row| row.iter().map(|v| f64::from(*v)).collect())
                        .collect();
                    let inv = inverse_tensor(&m, &self.device)?;
                    omega = Some((m, inv));
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
        if let (Some(rel), Some((m, inv))) = (&mut self.relation, omega) {
            rel.omega = m;
            rel.omega_inv = inv;
        }
        Ok(())
    }
}

/// Cross-stitch: x̃ₜ = Σⱼ αₜⱼ xⱼ for columns `hs` (each `[batch, …]`, all alike).
fn stitch(hs: &[Tensor], alpha: &Tensor) -> candle_core::Result<Vec<Tensor>> {
    let shape = hs[0].shape().clone();
    let k = hs.len();
    let stacked = Tensor::stack(hs, 0)?.reshape((k, shape.elem_count()))?;
    let mixed = alpha.matmul(&stacked)?;
    (0..k)
        .map(|t| mixed.get(t)?.reshape(shape.clone()))
        .collect()
}

/// A row-major `f64` matrix as an `f32` tensor.
fn matrix_tensor(m: &[Vec<f64>], device: &Device) -> candle_core::Result<Tensor> {
    let k = m.len();
    let values: Vec<f32> = m.iter().flatten().map(|v| *v as f32).collect();
    Tensor::from_vec(values, (k, k), device)
}

/// Ω⁻¹ of a symmetric positive definite Ω, as a tensor (eigenvalues floored at 10⁻¹²).
fn inverse_tensor(omega: &[Vec<f64>], device: &Device) -> candle_core::Result<Tensor> {
    let (lam, v) = linalg::sym_eigen(omega);
    let inv: Vec<f64> = lam.iter().map(|l| 1.0 / l.max(1e-12)).collect();
    matrix_tensor(&linalg::compose(&inv, &v), device)
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
mod tests {
    use super::*;
    use crate::data::{PreparedData, load};
    use crate::experiment::LayerSpec;
    use crate::rng;

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
