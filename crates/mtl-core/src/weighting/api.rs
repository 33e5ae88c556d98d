//! The contract every loss-weighting or gradient-combination strategy implements.
//!
//! A strategy is a pure, stateful function of one training step's task losses and (when it
//! needs them) the per-task gradients on the shared parameters. It returns the combined
//! shared gradient and the weights to show. The same code runs in the trainer and in the
//! headless `mtl-studio aggregate` command, so it can be checked number by number against
//! LibMTL's reference outputs.
//!
//! # Shapes
//! - K tasks, d shared parameters (or representation entries)
//! - `grads`: K rows of length d (row k = ∇ of task k's loss w.r.t. the shared parameters)
//! - `losses`: K; `loss_history`: K rows, one value per completed epoch

use std::fmt;
use std::ops::Range;

use rand_chacha::ChaCha8Rng;

pub use super::state::{StateReader, StrategyState};

/// Hyperparameters by LibMTL name (`"calpha": 0.5`, `"order": "identity"`, …).
pub type Params = serde_json::Map<String, serde_json::Value>;

/// A strategy could not be built or could not combine this step's inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightingError(pub String);

impl fmt::Display for WeightingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WeightingError {}

/// What a strategy reads at one step.
#[derive(Clone, Copy, Debug)]
pub struct StepInput<'a> {
    /// Current epoch, 0-based (as LibMTL counts).
    pub epoch: usize,
    /// Task losses on this batch (K).
    pub losses: &'a [f64],
    /// Per-task shared gradients, K × d. Always present when [`Strategy::needs_grads`] is
    /// true; may be absent for loss-only strategies.
    pub grads: Option<&'a [Vec<f64>]>,
    /// Per-epoch mean training losses of the completed epochs, K rows.
    pub loss_history: &'a [Vec<f64>],
    /// The shared representation's value (length d), for GradDrop.
    pub rep_value: Option<&'a [f64]>,
    /// Independent gradient samples on further batches, each K × d (MoDo, SDMGrad: three,
    /// the first being `grads`); empty when the strategy draws none
    /// ([`Strategy::gradient_samples`]).
    pub samples: &'a [Vec<Vec<f64>>],
}

/// What a strategy decides at one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutput {
    /// The combined gradient for the shared parameters (length d). For loss-based strategies
    /// this is Σₖ effectiveₖ·gₖ when gradients were given, and `None` otherwise (the trainer
    /// then back-propagates Σₖ effectiveₖ·Lₖ once).
    pub shared_grad: Option<Vec<f64>>,
    /// Weights as LibMTL returns them (display and reference checks).
    pub weights: Vec<f64>,
    /// Effective weights cₖ on ∇Lₖ for the shared update, where one exists
    /// (shared_grad = Σ cₖ gₖ); shown in the GUI on one scale.
    pub effective: Vec<f64>,
    /// Weight on each task's loss for its own head's gradient (1 for gradient-manipulation
    /// methods, the loss weights for loss-based ones).
    pub head_weights: Vec<f64>,
}

/// One strategy with its state.
pub trait Strategy: Send {
    /// LibMTL's name, e.g. `pcgrad`.
    fn name(&self) -> &'static str;

    /// Whether per-task gradients are needed at this epoch (loss-only strategies: false).
    fn needs_grads(&self, epoch: usize) -> bool;

    /// Combines one step. `rng` drives stochastic choices (RLW, GradDrop, random orders).
    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError>;

    /// Called after the optimizer step with the losses recomputed on the same batch (FAMO).
    fn after_step(&mut self, _losses_after: &[f64]) {}

    /// Whether [`Strategy::after_step`] needs the losses after the step.
    fn needs_losses_after(&self) -> bool {
        false
    }

    /// Whether the strategy masks gradient entries instead of weighting whole tasks
    /// (GradDrop): the trainer then gives it each representation entry's signs folded into the
    /// gradients and applies [`Strategy::feature_multipliers`].
    fn masks_entries(&self) -> bool {
        false
    }

    /// Per-task, per-entry multipliers of the last [`Strategy::combine`] for strategies that
    /// mask gradient entries instead of weighting whole tasks (GradDrop): the trainer applies
    /// them to every row's representation gradient. K rows of length d.
    fn feature_multipliers(&self) -> Option<&[Vec<f64>]> {
        None
    }

    /// How many independent gradient samples (batches) a step needs: 1 for every strategy but
    /// MoDo and SDMGrad (3), for which the trainer draws further batches and passes every
    /// sample in [`StepInput::samples`].
    fn gradient_samples(&self) -> usize {
        1
    }

    /// What a run should tell the user about the last [`Strategy::combine`] although the step
    /// went on (the status bar and a `stationary_steps` row of `metrics.csv`): e.g. that no
    /// finite weights existed and the shared update was zero (a Pareto-stationary point).
    fn notice(&self) -> Option<&str> {
        None
    }

    /// Trains the strategy's own learnable parameters (UW's and IMTL's loss scales,
    /// GradNorm's logits) by one plain gradient step of size `lr`, using the gradients
    /// computed in the last [`Strategy::combine`]. The `aggregate` command never calls this.
    fn learn(&mut self, _lr: f64) {}

    /// Tells the strategy where each shared layer and parameter tensor lies in the
    /// flattened shared gradient, before the first step (the trainer, and `aggregate` for a
    /// case with `layers`). Strategies that group the gradient (the `aggregate_per` option,
    /// GradVac's `GradVac_group_type`) use it; the others ignore it. Without a call the
    /// whole gradient is one group.
    fn set_layout(&mut self, _layout: &SharedLayout) -> Result<(), WeightingError> {
        Ok(())
    }

    /// What the strategy has learned or accumulated so far (weights, moments, averages,
    /// counters), for a checkpoint; empty for a stateless strategy. A strategy rebuilt from
    /// the same spec and given this state with [`Strategy::restore`] goes on exactly as this
    /// one would.
    fn state(&self) -> StrategyState {
        StrategyState::default()
    }

    /// Puts back a [`Strategy::state`]. A state that does not fit (an unknown entry, a wrong
    /// length) is an error naming the entry, and nothing changes.
    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        StateReader::new(self.name(), state).finish()
    }
}

/// Where each shared layer and each shared parameter tensor lies in the flattened shared
/// gradient (the order of the model's shared parameters).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SharedLayout {
    /// One range per shared layer (a linear or conv layer's weight and bias, a layer norm's
    /// scale and shift, a cross-stitch unit), in order.
    pub layers: Vec<Range<usize>>,
    /// One range per shared parameter tensor, in order.
    pub tensors: Vec<Range<usize>>,
}

impl SharedLayout {
    /// The layout of layers given as the sizes of their tensors, in order: `[[6, 3], [3, 1]]`
    /// is a layer of a 6- and a 3-entry tensor followed by one of a 3- and a 1-entry tensor.
    pub fn from_sizes(layers: &[Vec<usize>]) -> Self {
        let mut out = Self::default();
        let mut at = 0;
        for layer in layers {
            let start = at;
            for &n in layer {
                out.tensors.push(at..at + n);
                at += n;
            }
            out.layers.push(start..at);
        }
        out
    }

    /// The length of the gradient it describes.
    pub fn len(&self) -> usize {
        self.tensors.last().map_or(0, |r| r.end)
    }

    /// Whether it describes no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A numeric hyperparameter: its LibMTL default and the range the settings panel offers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hyper {
    /// LibMTL name.
    pub name: &'static str,
    /// Default value.
    pub default: f64,
    /// Smallest value the settings panel offers (the strategy's own check may accept more).
    pub min: f64,
    /// Largest value the settings panel offers.
    pub max: f64,
    /// Whether it takes whole numbers only (a count, an epoch, a mode).
    pub integer: bool,
    /// One line on what it does.
    pub help: &'static str,
}

impl Hyper {
    /// The value in `params`, or the default.
    pub fn read(&self, params: &Params) -> Result<f64, WeightingError> {
        param_f64(params, self.name, self.default)
    }
}

/// A hyperparameter whose value is one of a few strings, e.g. MGDA's `mgda_gn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// LibMTL name.
    pub name: &'static str,
    /// Default value (one of `allowed`).
    pub default: &'static str,
    /// Every accepted value.
    pub allowed: &'static [&'static str],
    /// One line on what it does.
    pub help: &'static str,
}

impl Choice {
    /// The value in `params` (one of [`Choice::allowed`]), or the default; `method` names
    /// the strategy in the error.
    pub fn read(&self, method: &str, params: &Params) -> Result<&'static str, WeightingError> {
        let Some(v) = params.get(self.name) else {
            return Ok(self.default);
        };
        if let Some(found) = v
            .as_str()
            .and_then(|s| self.allowed.iter().find(|a| **a == s))
        {
            return Ok(found);
        }
        Err(WeightingError(format!(
            "{method}: parameter '{}' must be {}, got {v}",
            self.name,
            self.describe_allowed()
        )))
    }

    /// The accepted values in words: `"a" or "b"`, or `one of "a", "b", "c"`.
    pub fn describe_allowed(&self) -> String {
        let quoted: Vec<String> = self.allowed.iter().map(|a| format!("\"{a}\"")).collect();
        match quoted.as_slice() {
            [a, b] => format!("{a} or {b}"),
            _ => format!("one of {}", quoted.join(", ")),
        }
    }
}

/// A parameter that is neither a number nor a choice, parsed by the strategy itself (e.g.
/// GradNorm's `init_loss_scale`); the settings panel does not edit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extra {
    /// LibMTL name.
    pub name: &'static str,
    /// What it accepts and what it does.
    pub help: &'static str,
}

/// Whether a strategy can take per-task gradients with respect to the shared representation
/// (the trunk's output) instead of the shared parameters (LibMTL's `rep_grad`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepGrad {
    /// Parameter gradients only (loss-only strategies, and those LibMTL restricts).
    No,
    /// Either; representation gradients are faster (one backward pass through the trunk).
    Allowed,
    /// Representation gradients only (GradDrop).
    Required,
}

/// How a strategy is presented to users, and everything the validator, the settings panel
/// and the command line need to know about it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MethodInfo {
    /// LibMTL-style key used in specs and the aggregate command (lower case), e.g. `cagrad`.
    pub key: &'static str,
    /// Display name, e.g. `CAGrad`.
    pub label: &'static str,
    /// `loss` (weights from losses only) or `gradient` (combines per-task gradients).
    pub family: Family,
    /// The paper, e.g. `Liu et al., NeurIPS 2021`.
    pub paper: &'static str,
    /// One paragraph: what it does and why.
    pub about: &'static str,
    /// The formula in plain text.
    pub formula: &'static str,
    /// Numeric hyperparameters with defaults and ranges.
    pub hypers: &'static [Hyper],
    /// String-valued hyperparameters with their allowed values.
    pub choices: &'static [Choice],
    /// Further parameters the strategy parses itself.
    pub extras: &'static [Extra],
    /// Whether representation gradients can be used.
    pub rep_grad: RepGrad,
}

impl MethodInfo {
    /// The names of every parameter a spec may give: choices, numbers (the strategy's own,
    /// then the options every strategy of its kind has), then extras.
    pub fn param_names(&self) -> Vec<&'static str> {
        self.all_choices()
            .map(|c| c.name)
            .chain(self.all_hypers().map(|h| h.name))
            .chain(self.extras.iter().map(|e| e.name))
            .collect()
    }

    /// Its string choices followed by the options it shares with other strategies (the
    /// per-layer `aggregate_per` and the gradient normaliser `grad_normalize` of the
    /// gradient strategies that take them).
    pub fn all_choices(&self) -> impl Iterator<Item = &'static Choice> + use<> {
        let per: &'static [Choice] = if crate::weighting::per_layer::supports(self) {
            std::slice::from_ref(&crate::weighting::per_layer::AGGREGATE_PER)
        } else {
            &[]
        };
        let norm: &'static [Choice] = if crate::weighting::normalize::supports(self) {
            std::slice::from_ref(&crate::weighting::normalize::GRAD_NORMALIZE)
        } else {
            &[]
        };
        self.choices.iter().chain(per).chain(norm)
    }

    /// Its numeric hyperparameters followed by the options it shares with other strategies
    /// (CR-MOGM's `CR_MOGM_alpha` on gradient strategies that take it).
    pub fn all_hypers(&self) -> impl Iterator<Item = &'static Hyper> + use<> {
        let shared: &'static [Hyper] = if supports(self) {
            std::slice::from_ref(&CR_MOGM_ALPHA)
        } else {
            &[]
        };
        self.hypers.iter().chain(shared)
    }

    /// Rejects zero tasks and parameters not in [`MethodInfo::param_names`].
    pub fn check_setup(&self, params: &Params, k: usize) -> Result<(), WeightingError> {
        check_setup(self.key, params, &self.param_names(), k)
    }
}

/// `CR_MOGM_alpha`: 1 keeps the strategy as it is.
pub const CR_MOGM_ALPHA: Hyper = Hyper {
    name: "CR_MOGM_alpha",
    default: 1.0,
    min: 0.01,
    max: 1.0,
    integer: false,
    help: "CR-MOGM (Zhou et al., NeurIPS 2022): use the moving average λ ← α·λ̂ + (1 − α)·λ \
           of the strategy's task weights λ̂; 1 = off, smaller = smoother.",
};

/// The strategies whose update is not Σₖ cₖ·gₖ with this step's effective weights c, so a
/// moving average of c would be another method: GradDrop masks entries, DB-MTL and MoCo
/// already average past gradients, MoDo combines a third sample.
const UNSUPPORTED: [&str; 4] = ["graddrop", "db_mtl", "moco", "modo"];

/// Whether strategy `m` takes the CR-MOGM option.
pub fn supports(m: &MethodInfo) -> bool {
    m.family == Family::Gradient && !UNSUPPORTED.contains(&m.key)
}

/// Strategy families.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Weights computed from the losses.
    Loss,
    /// Per-task gradients combined on the shared parameters.
    Gradient,
}

/// Reads a numeric hyperparameter, or its default.
pub fn param_f64(params: &Params, name: &str, default: f64) -> Result<f64, WeightingError> {
    match params.get(name) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| WeightingError(format!("parameter '{name}' must be a number, got {v}"))),
    }
}

/// Σₖ cₖ·gₖ.
pub fn weighted_sum(grads: &[Vec<f64>], c: &[f64]) -> Vec<f64> {
    let d = grads.first().map_or(0, Vec::len);
    let mut out = vec![0.0; d];
    for (g, w) in grads.iter().zip(c) {
        for (o, v) in out.iter_mut().zip(g) {
            *o += w * v;
        }
    }
    out
}

/// The Gramian G Gᵀ (K × K), each pair's product computed once.
pub fn gramian(grads: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let k = grads.len();
    let mut g = vec![vec![0.0; k]; k];
    for i in 0..k {
        for j in i..k {
            let v = dot(&grads[i], &grads[j]);
            g[i][j] = v;
            g[j][i] = v;
        }
    }
    g
}

/// a · b, over the shorter of the two.
///
/// Eight running sums, one per lane, instead of one: a single sum waits on each addition
/// before the next, while independent lanes let the compiler use vector instructions (task
/// gradients have 10⁵–10⁶ entries). The lanes are added at the end, so the result differs
/// from a left-to-right sum by rounding only.
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    const LANES: usize = 8;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += x[l] * y[l];
        }
    }
    acc.iter().sum::<f64>() + tail
}

/// Gradients from the input, or an error naming the strategy.
pub fn require_grads<'a>(
    input: &StepInput<'a>,
    name: &str,
) -> Result<&'a [Vec<f64>], WeightingError> {
    input
        .grads
        .ok_or_else(|| WeightingError(format!("{name} needs per-task gradients")))
}

/// The output of a loss-based strategy with effective weights `c` (and LibMTL's logged
/// `weights`): the shared gradient is Σ cₖ gₖ when gradients are given.
pub fn loss_based(input: &StepInput<'_>, c: Vec<f64>, weights: Vec<f64>) -> StepOutput {
    StepOutput {
        shared_grad: input.grads.map(|g| weighted_sum(g, &c)),
        weights,
        head_weights: c.clone(),
        effective: c,
    }
}

/// Rejects zero tasks and parameters this method does not know (`allowed` lists its names).
pub fn check_setup(
    name: &str,
    params: &Params,
    allowed: &[&str],
    k: usize,
) -> Result<(), WeightingError> {
    if k == 0 {
        return Err(WeightingError(format!("{name}: needs at least one task")));
    }
    if let Some(unknown) = params.keys().find(|p| !allowed.contains(&p.as_str())) {
        let known = if allowed.is_empty() {
            "none".to_owned()
        } else {
            allowed.join(", ")
        };
        return Err(WeightingError(format!(
            "{name}: unknown parameter '{unknown}' (known: {known})"
        )));
    }
    Ok(())
}

/// Checks one step's input: K finite losses and, when present, K gradient rows of one length
/// with finite entries. With `need_grads` a missing gradient matrix is an error. Returns the
/// gradients.
pub fn check_step<'a>(
    name: &str,
    input: &StepInput<'a>,
    k: usize,
    need_grads: bool,
) -> Result<Option<&'a [Vec<f64>]>, WeightingError> {
    if input.losses.len() != k {
        return Err(WeightingError(format!(
            "{name}: got {} losses for {k} tasks",
            input.losses.len()
        )));
    }
    if let Some(i) = input.losses.iter().position(|l| !l.is_finite()) {
        return Err(WeightingError(format!(
            "{name}: loss of task {i} is not finite ({})",
            input.losses[i]
        )));
    }
    let Some(grads) = input.grads else {
        return if need_grads {
            Err(WeightingError(format!("{name} needs per-task gradients")))
        } else {
            Ok(None)
        };
    };
    if grads.len() != k {
        return Err(WeightingError(format!(
            "{name}: got {} gradient rows for {k} tasks",
            grads.len()
        )));
    }
    let d = grads.first().map_or(0, Vec::len);
    if let Some(i) = grads.iter().position(|g| g.len() != d) {
        return Err(WeightingError(format!(
            "{name}: gradient rows differ in length ({d} for task 0, {} for task {i})",
            grads[i].len()
        )));
    }
    if let Some(i) = grads.iter().position(|g| g.iter().any(|x| !x.is_finite())) {
        return Err(WeightingError(format!(
            "{name}: the gradient of task {i} has a non-finite entry"
        )));
    }
    Ok(Some(grads))
}

/// Returns `out` if every number in it is finite, else an error naming the strategy (the last
/// guard before a strategy returns: weights must never be NaN or infinite).
pub fn finite_output(name: &str, out: StepOutput) -> Result<StepOutput, WeightingError> {
    let finite = out.weights.iter().all(|x| x.is_finite())
        && out.effective.iter().all(|x| x.is_finite())
        && out.head_weights.iter().all(|x| x.is_finite())
        && out.shared_grad.iter().flatten().all(|x| x.is_finite());
    if finite {
        Ok(out)
    } else {
        Err(WeightingError(format!(
            "{name}: the weights overflowed (losses or gradients too large or too small)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_and_gramian_match_plain_sums() {
        for n in [0, 1, 7, 8, 9, 17, 1000] {
            let a: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..n).map(|i| (i as f64 * 0.11).cos() - 0.2).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            let fast = dot(&a, &b);
            assert!(
                (fast - plain).abs() <= 1e-12 * plain.abs().max(1.0),
                "n = {n}: {fast} vs {plain}"
            );
            let g = gramian(&[a.clone(), b.clone()]);
            assert_eq!(g[0][1], g[1][0], "symmetric");
            assert!((g[0][1] - plain).abs() <= 1e-12 * plain.abs().max(1.0));
        }
        assert_eq!(
            dot(&[1.0, 2.0, 3.0], &[4.0, 5.0]),
            14.0,
            "the shorter length"
        );
    }
}
