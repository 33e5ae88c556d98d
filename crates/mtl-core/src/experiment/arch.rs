//! How the tasks share the network: the architecture (hard sharing, soft sharing,
//! cross-stitch, MMoE, one-gate MoE), connections from one task's head to another's, and
//! multi-task relationship learning over the heads' output layers; plus the [`Plan`] that
//! turns a spec into widths, head order and parameter counts without building any tensor.
//!
//! Formulas and papers are in the README ("Architectures") and on each variant below.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ExperimentSpec, LayerSpec, Problems, Shape};

/// How the layers listed in `model.shared` are used.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Architecture {
    /// Hard parameter sharing (Caruana 1997): one trunk of these layers, shared by every
    /// head.
    #[default]
    Hard,
    /// Soft parameter sharing (Duong et al. 2015): one tower of these layers per task, pulled
    /// together by an L2 penalty on the differences of corresponding parameters.
    Soft {
        /// Penalty strength λ (0: independent towers; large: towers become one).
        #[serde(default = "default_soft_lambda")]
        lambda: f64,
        /// Which towers are compared.
        #[serde(default)]
        coupling: Coupling,
    },
    /// Cross-stitch networks (Misra et al. 2016): one column of these layers per task, and
    /// after every block (a `linear` or `conv2d` layer and the layers up to the next one; see
    /// [`block_ends`]) a learned T × T matrix α mixes the columns: x̃ₜ = Σⱼ αₜⱼ xⱼ, applied
    /// to every value of the block's output (every channel and pixel after a conv block).
    CrossStitch {
        /// Initial αₜₜ; the rest of each row shares 1 − αₜₜ (the paper's convex start).
        #[serde(default = "default_self_weight")]
        self_weight: f64,
        /// Learning-rate multiplier for the α units (the paper uses 10²–10³ with SGD; the
        /// default 10 suits Adam, whose steps are already scale-free).
        #[serde(default = "default_lr_scale")]
        lr_scale: f64,
    },
    /// Multi-gate mixture of experts (Ma et al. 2018): `experts` copies of these layers, and
    /// per task a softmax gate on the input (the standardised row, flat `[batch, input]`) that
    /// mixes the experts' outputs.
    Mmoe {
        /// Number of experts.
        #[serde(default = "default_experts")]
        experts: usize,
    },
    /// One-gate mixture of experts (the MMoE paper's baseline): one gate shared by all tasks.
    Moe {
        /// Number of experts.
        #[serde(default = "default_experts")]
        experts: usize,
    },
}

fn default_soft_lambda() -> f64 {
    0.01
}
fn default_self_weight() -> f64 {
    0.9
}
fn default_lr_scale() -> f64 {
    10.0
}
fn default_experts() -> usize {
    4
}

/// Which pairs of towers the soft-sharing penalty compares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coupling {
    /// (λ/2)·Σ over all pairs t < t′ of ‖θₜ − θₜ′‖² (Duong et al. 2015).
    #[default]
    AllPairs,
    /// (λ/2)·Σ over consecutive tasks t, t+1 only.
    Consecutive,
    /// λ·Σₜ ‖θₜ − θ̄‖², each tower to the towers' mean (Evgeniou & Pontil 2004).
    Mean,
}

impl Coupling {
    /// Every coupling, in menu order.
    pub const ALL: [Self; 3] = [Self::AllPairs, Self::Consecutive, Self::Mean];

    /// Menu label.
    pub fn label(self) -> &'static str {
        match self {
            Self::AllPairs => "all pairs",
            Self::Consecutive => "consecutive tasks",
            Self::Mean => "to the mean",
        }
    }
}

impl Architecture {
    /// One of each kind with default settings, in menu order.
    pub fn palette() -> [Self; 5] {
        [
            Self::Hard,
            Self::Soft {
                lambda: default_soft_lambda(),
                coupling: Coupling::AllPairs,
            },
            Self::CrossStitch {
                self_weight: default_self_weight(),
                lr_scale: default_lr_scale(),
            },
            Self::Mmoe {
                experts: default_experts(),
            },
            Self::Moe {
                experts: default_experts(),
            },
        ]
    }

    /// The spec key, e.g. `cross_stitch`.
    pub fn key(&self) -> &'static str {
        match self {
            Self::Hard => "hard",
            Self::Soft { .. } => "soft",
            Self::CrossStitch { .. } => "cross_stitch",
            Self::Mmoe { .. } => "mmoe",
            Self::Moe { .. } => "moe",
        }
    }

    /// Display name.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Hard => "Hard sharing",
            Self::Soft { .. } => "Soft sharing",
            Self::CrossStitch { .. } => "Cross-stitch",
            Self::Mmoe { .. } => "MMoE",
            Self::Moe { .. } => "MoE (one gate)",
        }
    }

    /// The paper.
    pub fn paper(&self) -> &'static str {
        match self {
            Self::Hard => "Caruana, Machine Learning 1997",
            Self::Soft { .. } => "Duong et al., ACL 2015",
            Self::CrossStitch { .. } => "Misra et al., CVPR 2016",
            Self::Mmoe { .. } | Self::Moe { .. } => "Ma et al., KDD 2018",
        }
    }

    /// One sentence for a tooltip.
    pub fn about(&self) -> &'static str {
        match self {
            Self::Hard => "One trunk shared by every task; each task adds its own head.",
            Self::Soft { .. } => {
                "Each task has its own tower of the listed layers; an L2 penalty λ pulls \
                 corresponding parameters together (λ = 0: separate models, large λ: one model)."
            }
            Self::CrossStitch { .. } => {
                "Each task has its own column; after every block a learned matrix α mixes the \
                 columns' activations, so the network learns how much to share per layer."
            }
            Self::Mmoe { .. } => {
                "Several experts (copies of the listed layers) are shared; each task has its \
                 own softmax gate on the input that decides how to mix them."
            }
            Self::Moe { .. } => {
                "Several experts mixed by one softmax gate that every task shares (MMoE's \
                 baseline)."
            }
        }
    }

    /// What one copy of the `model.shared` layers is called.
    pub fn layers_title(&self) -> &'static str {
        match self {
            Self::Hard => "Shared trunk",
            Self::Soft { .. } => "Each task's tower",
            Self::CrossStitch { .. } => "Each task's column",
            Self::Mmoe { .. } | Self::Moe { .. } => "Each expert",
        }
    }

    /// Whether every task's head reads one and the same representation (needed by
    /// representation gradients).
    pub fn one_representation(&self) -> bool {
        matches!(self, Self::Hard | Self::Moe { .. })
    }

    /// Whether some parameters are shared by all tasks (needed by gradient strategies).
    pub fn has_shared_params(&self) -> bool {
        !matches!(self, Self::Soft { .. })
    }

    /// Number of experts, for the mixture architectures.
    pub fn experts(&self) -> Option<usize> {
        match self {
            Self::Mmoe { experts } | Self::Moe { experts } => Some(*experts),
            _ => None,
        }
    }

    fn problems(&self, shared: &[LayerSpec], out: &mut Problems) {
        let at = "model.architecture";
        let has_linear = shared.iter().any(|l| matches!(l, LayerSpec::Linear { .. }));
        match self {
            Self::Hard => {}
            Self::Soft { lambda, .. } => {
                if !(lambda.is_finite() && *lambda >= 0.0) {
                    out.push(
                        &format!("{at}.lambda"),
                        format!("λ={lambda} must be a number >= 0"),
                    );
                }
                if !has_linear {
                    out.push(
                        "model.shared",
                        "soft sharing needs at least one linear layer to couple".to_owned(),
                    );
                }
            }
            Self::CrossStitch {
                self_weight,
                lr_scale,
            } => {
                if !(0.0..=1.0).contains(self_weight) {
                    out.push(
                        &format!("{at}.self_weight"),
                        format!("{self_weight} must be in [0, 1]"),
                    );
                }
                if !(lr_scale.is_finite() && *lr_scale > 0.0) {
                    out.push(
                        &format!("{at}.lr_scale"),
                        format!("{lr_scale} must be a number > 0"),
                    );
                }
                if !shared.iter().any(starts_block) {
                    out.push(
                        "model.shared",
                        "cross-stitch needs at least one linear or conv2d layer (units sit \
                         after each block)"
                            .to_owned(),
                    );
                }
            }
            Self::Mmoe { experts } | Self::Moe { experts } => {
                if !(1..=MAX_EXPERTS).contains(experts) {
                    out.push(
                        &format!("{at}.experts"),
                        format!("{experts} must be in 1..={MAX_EXPERTS}"),
                    );
                }
                if !has_linear {
                    out.push(
                        "model.shared",
                        "an expert needs at least one linear layer".to_owned(),
                    );
                }
            }
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Most experts a mixture may have.
pub const MAX_EXPERTS: usize = 64;

/// Multi-task relationship learning (Zhang & Yeung, UAI 2010) on the heads' output layers:
/// with W = [w₁ … w_m] the flattened output weights of the m heads (zero-padded to one
/// length), the loss gains (λ₁/2)·tr(WWᵀ) + (λ₂/2)·tr(W Ω⁻¹ Wᵀ), and every `update_every`
/// steps Ω takes its closed form (WᵀW + εI)^½ / tr((WᵀW + εI)^½): symmetric, positive
/// definite, trace 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelationshipSpec {
    /// λ₁: ridge strength on the output weights.
    pub lambda_ridge: f64,
    /// λ₂: strength of the relationship term tr(W Ω⁻¹ Wᵀ).
    pub lambda: f64,
    /// ε added to WᵀW before the square root (keeps Ω invertible).
    pub epsilon: f64,
    /// Optimizer steps between closed-form updates of Ω.
    pub update_every: u64,
}

impl Default for RelationshipSpec {
    fn default() -> Self {
        Self {
            lambda_ridge: 1e-4,
            lambda: 1e-3,
            epsilon: 1e-4,
            update_every: 20,
        }
    }
}

impl RelationshipSpec {
    fn problems(&self, out: &mut Problems) {
        let at = "model.relationship";
        for (name, v) in [("lambda_ridge", self.lambda_ridge), ("lambda", self.lambda)] {
            if !(v.is_finite() && v >= 0.0) {
                out.push(
                    &format!("{at}.{name}"),
                    format!("{v} must be a number >= 0"),
                );
            }
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            out.push(
                &format!("{at}.epsilon"),
                format!("{} must be a number > 0", self.epsilon),
            );
        }
        if self.update_every == 0 {
            out.push(&format!("{at}.update_every"), "0 must be >= 1".to_owned());
        }
    }
}

/// A connection into a head from another task's head: the source's output (or last hidden
/// layer), times `alpha`, is concatenated to this head's input. A head with links reads
/// `[representation, α·link₁, α·link₂, …]` in the order its links are listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// The task whose head feeds this one.
    pub from: String,
    /// What is taken from it.
    #[serde(default)]
    pub take: Take,
    /// Weight on the connection.
    #[serde(default = "crate::task::one")]
    pub alpha: f32,
    /// Stop this task's gradient at the connection (the source learns from its own loss only).
    #[serde(default)]
    pub detach: bool,
}

/// What a [`LinkSpec`] takes from its source head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Take {
    /// The source's raw output layer (logits for classification: before any sigmoid or
    /// softmax; a regression value on the learned, possibly standardised, scale).
    #[default]
    Output,
    /// Exactly the input of the source's output layer: its last hidden layer after that
    /// layer's activation (with no hidden layers, the source head's own input).
    Hidden,
}

impl Take {
    /// Menu label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Output => "output",
            Self::Hidden => "hidden",
        }
    }
}

/// Widths, head order and parameter counts of a spec's network, computed without tensors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The shape entering each layer of `model.shared`, then the shape leaving the last.
    pub shapes: Vec<Shape>,
    /// Width of the representation each head reads (the output of `model.shared`,
    /// flattened).
    pub rep_width: usize,
    /// Per task: the head's input width (representation plus links).
    pub head_in: Vec<usize>,
    /// Per task: the width entering its output layer.
    pub hidden: Vec<usize>,
    /// Per task: output width.
    pub out: Vec<usize>,
    /// Tasks in the order their heads run (every link's source before its target).
    pub order: Vec<usize>,
    /// Layer indices of `model.shared` after which a cross-stitch unit sits.
    pub stitch_after: Vec<usize>,
    /// Parameters shared by every task.
    pub shared_params: usize,
    /// Parameters of each task alone (tower, gate, head).
    pub task_params: Vec<usize>,
}

/// Whether `layer` starts a cross-stitch block: a `linear` or a `conv2d` layer.
fn starts_block(layer: &LayerSpec) -> bool {
    matches!(layer, LayerSpec::Linear { .. } | LayerSpec::Conv2d { .. })
}

/// Indices of layers that end a block: the layer before each `linear` or `conv2d` after the
/// first, and the last layer. A block is a `linear` or `conv2d` layer and what follows it up
/// to the next one (`conv2d, relu, max_pool2d` is one block, so its unit sits after the
/// pooling, as in Misra et al.). Empty when there is no such layer.
pub fn block_ends(layers: &[LayerSpec]) -> Vec<usize> {
    let Some(first) = layers.iter().position(starts_block) else {
        return Vec::new();
    };
    let mut ends: Vec<usize> = (first + 1..layers.len())
        .filter(|&i| starts_block(&layers[i]))
        .map(|i| i - 1)
        .collect();
    ends.push(layers.len() - 1);
    ends
}

impl ExperimentSpec {
    /// The order in which the heads run: every link's source before the head it feeds.
    /// Errors name the unknown task, the self-link, or the cycle (`a → b → a`).
    pub fn head_order(&self) -> Result<Vec<usize>, String> {
        let k = self.tasks.len();
        let index = |name: &str| self.tasks.iter().position(|t| t.name == name);
        let mut deps: Vec<Vec<usize>> = vec![Vec::new(); k];
        for (t, task) in self.tasks.iter().enumerate() {
            for link in self.head(&task.name).map_or(&[][..], |h| &h.links) {
                let Some(s) = index(&link.from) else {
                    return Err(format!(
                        "head '{}' takes input from '{}', which is not a task",
                        task.name, link.from
                    ));
                };
                if s == t {
                    return Err(format!(
                        "head '{}' cannot take its own output as input",
                        task.name
                    ));
                }
                deps[t].push(s);
            }
        }
        // Depth-first search; `state`: 0 unseen, 1 on the current path, 2 done.
        let mut state = vec![0u8; k];
        let mut order = Vec::with_capacity(k);
        let mut path: Vec<usize> = Vec::new();
        fn visit(
            t: usize,
            deps: &[Vec<usize>],
            state: &mut [u8],
            order: &mut Vec<usize>,
            path: &mut Vec<usize>,
        ) -> Result<(), Vec<usize>> {
            match state[t] {
                2 => return Ok(()),
                1 => {
                    let start = path.iter().position(|&p| p == t).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(t);
                    return Err(cycle);
                }
                _ => {}
            }
            state[t] = 1;
            path.push(t);
            for &s in &deps[t] {
                visit(s, deps, state, order, path)?;
            }
            path.pop();
            state[t] = 2;
            order.push(t);
            Ok(())
        }
        for t in 0..k {
            visit(t, &deps, &mut state, &mut order, &mut path).map_err(|cycle| {
                // The path runs from a head to what it reads; show the flow of data instead.
                let names: Vec<&str> = cycle
                    .iter()
                    .rev()
                    .map(|&i| self.tasks[i].name.as_str())
                    .collect();
                format!(
                    "the task connections form a cycle ({}); remove one of them",
                    names.join(" -> ")
                )
            })?;
        }
        Ok(order)
    }

    /// The shape of one input row: `model.input_shape` when set (its product must be
    /// `model.input`), otherwise a vector of `model.input`.
    pub fn input_shape(&self) -> Result<Shape, String> {
        let m = &self.model;
        match m.input_shape {
            None => Ok(Shape::Flat(m.input)),
            Some([c, h, w]) => match c.checked_mul(h).and_then(|ch| ch.checked_mul(w)) {
                Some(n) if n == m.input && n > 0 => Ok(Shape::Image(c, h, w)),
                Some(n) => Err(format!(
                    "model.input_shape: {c}×{h}×{w} = {n} values, but model.input is {}",
                    m.input
                )),
                None => Err(format!("model.input_shape: {c}×{h}×{w} is too many values")),
            },
        }
    }

    /// Widths and parameter counts of the network for tasks with output widths `out`
    /// (in task order). Errors say what cannot be built and where.
    pub fn plan(&self, out: &[usize]) -> Result<Plan, String> {
        let m = &self.model;
        let k = self.tasks.len();
        if out.len() != k {
            return Err(format!("{} output widths for {k} tasks", out.len()));
        }
        let order = self.head_order()?;
        let mut shape = self.input_shape()?;
        let mut shapes = vec![shape];
        let mut trunk = 0usize;
        for (i, layer) in m.shared.iter().enumerate() {
            if shape.size() == 0 {
                return Err(format!(
                    "model.shared[{i}]: the input to this layer is empty"
                ));
            }
            trunk = trunk.saturating_add(layer.params_for(shape));
            shape = layer
                .out_shape(shape)
                .map_err(|e| format!("model.shared[{i}] ({layer}): {e}"))?;
            shapes.push(shape);
        }
        let rep_width = shape.size();
        let stitch_after = match m.architecture {
            Architecture::CrossStitch { .. } => block_ends(&m.shared),
            _ => Vec::new(),
        };
        let gate = |n: usize| m.input.saturating_mul(n).saturating_add(n);
        let (shared_params, per_task_body) = match &m.architecture {
            Architecture::Hard => (trunk, 0),
            Architecture::Soft { .. } => (0, trunk),
            Architecture::CrossStitch { .. } => (
                k.saturating_mul(trunk)
                    .saturating_add(stitch_after.len().saturating_mul(k * k)),
                0,
            ),
            Architecture::Mmoe { experts } => (experts.saturating_mul(trunk), gate(*experts)),
            Architecture::Moe { experts } => (
                experts.saturating_mul(trunk).saturating_add(gate(*experts)),
                0,
            ),
        };
        let mut head_in = vec![0; k];
        let mut hidden = vec![0; k];
        let mut task_params = vec![per_task_body; k];
        for &t in &order {
            let task = &self.tasks[t];
            let head = self.head(&task.name);
            let mut w = rep_width;
            for link in head.map_or(&[][..], |h| &h.links) {
                let s = self
                    .tasks
                    .iter()
                    .position(|x| x.name == link.from)
                    .unwrap_or(t);
                w = w.saturating_add(match link.take {
                    Take::Output => out[s],
                    Take::Hidden => hidden[s],
                });
            }
            head_in[t] = w;
            for (i, layer) in head.map_or(&[][..], |h| &h.layers).iter().enumerate() {
                if w == 0 {
                    return Err(format!(
                        "head '{}' layer {i}: the input to this layer is empty",
                        task.name
                    ));
                }
                task_params[t] = task_params[t].saturating_add(layer.param_count(w));
                w = layer
                    .out_shape(Shape::Flat(w))
                    .map_err(|e| format!("head '{}' layer {i} ({layer}): {e}", task.name))?
                    .size();
            }
            if w == 0 {
                return Err(format!(
                    "head '{}': the output layer has no input (the layers before it are empty)",
                    task.name
                ));
            }
            hidden[t] = w;
            task_params[t] =
                task_params[t].saturating_add(LayerSpec::Linear { out: out[t] }.param_count(w));
        }
        Ok(Plan {
            shapes,
            rep_width,
            head_in,
            hidden,
            out: out.to_vec(),
            order,
            stitch_after,
            shared_params,
            task_params,
        })
    }

    /// Architecture, relationship and link checks of [`Self::validate`].
    pub(super) fn validate_sharing(&self, out: &mut Problems) {
        let m = &self.model;
        m.architecture.problems(&m.shared, out);
        if let Some(r) = &m.relationship {
            r.problems(out);
            if self.tasks.len() < 2 {
                out.push(
                    "model.relationship",
                    "relationship learning needs at least two tasks".to_owned(),
                );
            }
        }
        for (h, head) in m.heads.iter().enumerate() {
            for (j, link) in head.links.iter().enumerate() {
                if !(link.alpha.is_finite()) {
                    out.push(
                        &format!("model.heads[{h}].links[{j}].alpha"),
                        format!("{} must be a number", link.alpha),
                    );
                }
            }
        }
        match self.head_order() {
            Err(e) => out.push("model.heads", e),
            Ok(_) => {
                // Shapes through the layers (output widths do not matter here).
                // Shapes only once each layer's own settings are sound (one message per fault).
                let layer_faults = out.0.iter().any(|p| p.path.starts_with("model."));
                if self.model.input > 0 && !layer_faults {
                    match self.plan(&vec![1; self.tasks.len()]) {
                        Err(e) => {
                            let (path, message) =
                                e.split_once(": ").unwrap_or(("model", e.as_str()));
                            let path = path.split(' ').next().unwrap_or(path);
                            out.push(path, message.to_owned());
                        }
                        Ok(plan) => {
                            let rows = self.dataset.source().rows().map(|r| r as u64);
                            if let Err(e) = crate::limits::check_network(self, &plan, rows) {
                                out.push("model", e);
                            }
                        }
                    }
                }
            }
        }
        if self.weighting.rep_grad && !m.architecture.one_representation() {
            out.push(
                "weighting.rep_grad",
                format!(
                    "representation gradients need one representation shared by every task; \
                     {} gives each task its own (use hard sharing or MoE, or rep_grad = false)",
                    m.architecture.label()
                ),
            );
        }
        let gradient = crate::weighting::method(self.weighting.key())
            .is_some_and(|info| info.family == crate::weighting::Family::Gradient);
        if gradient && !m.architecture.has_shared_params() {
            out.push(
                "weighting.strategy",
                format!(
                    "{} combines gradients of shared parameters, but soft sharing has none (each \
                     task owns its tower); use a loss-weighting strategy",
                    self.weighting.label()
                ),
            );
        }
    }
}
