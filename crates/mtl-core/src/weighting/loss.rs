//! Loss-weighting strategies: the task weights are computed from the task losses alone
//! (EW, manual weights, UW, DWA, GLS, RLW, STCH, FAMO), plus GradNorm, which also reads the
//! norms of the per-task shared gradients.
//!
//! Every strategy follows LibMTL (commit 4336804) number by number: the same scale (EW sums
//! the losses), the same logged `weights`, and the same state carried between steps. Where
//! LibMTL's logged weights are not the weights that multiply the gradients (GLS, STCH, FAMO),
//! [`StepOutput::effective`] holds the true weights cₖ with shared gradient Σₖ cₖ·gₖ.
//!
//! # Shapes
//! - K tasks; `losses`: K; `grads` (optional except for GradNorm from epoch 1): K × d
//! - `loss_history`: K rows, one per-epoch mean training loss per completed epoch

use rand::Rng as _;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::api::{
    Family, Hyper, MethodInfo, Params, StepInput, StepOutput, Strategy, WeightingError,
    check_setup, check_step, finite_output, loss_based, param_f64, require_grads, weighted_sum,
};

/// Every method of this family, for the GUI picker and the README.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        key: "ew",
        label: "EW (equal weighting)",
        family: Family::Loss,
        paper: "Baseline (linear scalarisation); LibMTL EW",
        about: "Adds the task losses with weight 1 each and back-propagates the sum. It is the \
                baseline every other method is compared with. As in LibMTL the weights are 1, \
                not 1/K, so the step grows with the number of tasks.",
        formula: "L = Σ_k L_k,  w_k = 1",
        hypers: &[],
    },
    MethodInfo {
        key: "manual",
        label: "Manual static weights",
        family: Family::Loss,
        paper: "Classic weighted sum of losses (not in LibMTL)",
        about: "Adds the task losses with fixed weights you choose (parameter 'weights', one \
                non-negative number per task, default all 1). Useful for hand-tuning a \
                trade-off or for sweeping weights to trace a Pareto front.",
        formula: "L = Σ_k w_k · L_k,  w fixed",
        hypers: &[],
    },
    MethodInfo {
        key: "uw",
        label: "UW (uncertainty weighting)",
        family: Family::Loss,
        paper: "Kendall, Gal, Cipolla, CVPR 2018",
        about: "Learns one log-variance s_k per task together with the network. A task with a \
                large loss learns a large s_k and so gets a small weight 1/(2e^s_k); the term \
                s_k/2 stops all weights from shrinking to zero. At the optimum e^s_k equals the \
                task loss, so every task contributes about the same amount.",
        formula: "L = Σ_k ( L_k / (2·e^s_k) + s_k / 2 ),  w_k = 1 / (2·e^s_k),  s_k init -0.5",
        hypers: &[],
    },
    MethodInfo {
        key: "dwa",
        label: "DWA (dynamic weight average)",
        family: Family::Loss,
        paper: "Liu, Johns, Davison, CVPR 2019",
        about: "Looks at how fast each task's epoch-mean loss went down over the last two \
                epochs. Tasks that improve slowly (ratio close to or above 1) get more weight; \
                a softmax with temperature T turns the ratios into weights that sum to K. The \
                first two epochs use weight 1.",
        formula: "r_k = L_k(e-1) / L_k(e-2),  w = K · softmax(r / T)  (w = 1 for e ≤ 1)",
        hypers: &[Hyper {
            name: "T",
            default: 2.0,
            help: "Softmax temperature: larger T gives more uniform weights.",
        }],
    },
    MethodInfo {
        key: "gls",
        label: "GLS (geometric loss strategy)",
        family: Family::Loss,
        paper: "Chennupati et al., CVPR Workshops 2019",
        about: "Minimises the geometric mean of the task losses instead of their sum. Its \
                gradient weights each task by the geometric mean divided by K times its own \
                loss, so a task whose loss is already small gets a large relative weight and \
                the losses' scales do not matter.",
        formula: "L = (Π_k L_k)^(1/K),  effective c_k = (Π_j L_j)^(1/K) / (K · L_k)",
        hypers: &[],
    },
    MethodInfo {
        key: "rlw",
        label: "RLW (random loss weighting)",
        family: Family::Loss,
        paper: "Lin et al., TMLR 2022",
        about: "Draws fresh random weights at every step: a softmax of K standard normal \
                numbers. On average every task gets weight 1/K. The paper shows that this \
                simple random baseline is often as good as carefully designed methods.",
        formula: "z ~ N(0, I),  w = softmax(z),  L = Σ_k w_k · L_k",
        hypers: &[],
    },
    MethodInfo {
        key: "stch",
        label: "STCH (smooth Tchebycheff)",
        family: Family::Loss,
        paper: "Lin et al., ICML 2024",
        about: "Minimises a smooth version of the worst task's loss, measured relative to a \
                reference point (the nadir: each task's mean loss during the warm-up epoch). \
                The log-sum-exp with smoothing μ gives most weight to the task that is \
                currently worst off. Before and during the warm-up epoch it minimises the sum \
                of log losses.",
        formula: "e < E_w: L = Σ_k log L_k;  e > E_w: L = K · μ · log Σ_k exp( log(L_k / z_k) / μ )",
        hypers: &[
            Hyper {
                name: "STCH_mu",
                default: 1.0,
                help: "Smoothing μ: small μ approaches the max over tasks, large μ the mean.",
            },
            Hyper {
                name: "STCH_warmup_epoch",
                default: 4.0,
                help: "Epoch whose mean losses become the nadir point z.",
            },
        ],
    },
    MethodInfo {
        key: "famo",
        label: "FAMO (fast adaptive MTO)",
        family: Family::Loss,
        paper: "Liu, Feng, Stone, Liu, NeurIPS 2023",
        about: "Aims to decrease every task's loss at the same rate. It keeps task logits ξ, \
                weights the log losses with softmax(ξ), and after each step checks how much \
                each log loss actually went down; tasks that improved less get a larger \
                logit. It needs no per-task gradients, only one extra forward pass.",
        formula: "z = softmax(ξ),  c_k = z_k / (C · L_k),  C = Σ_j z_j / L_j;  after the step: δ_k = log L_k - log L'_k,  ξ := Adam step along -∇_ξ (z · δ)",
        hypers: &[
            Hyper {
                name: "FAMO_w_lr",
                default: 0.025,
                help: "Learning rate of the Adam step on the task logits.",
            },
            Hyper {
                name: "FAMO_w_gamma",
                default: 1e-3,
                help: "Weight decay on the task logits (added to the gradient, as torch Adam).",
            },
        ],
    },
    MethodInfo {
        key: "gradnorm",
        label: "GradNorm",
        family: Family::Gradient,
        paper: "Chen, Badrinarayanan, Lee, Rabinovich, ICML 2018",
        about: "Learns task weights so that each task's weighted gradient norm on the shared \
                parameters matches a target: the mean norm times the task's relative training \
                rate to the power α. Tasks that have trained less (loss still close to its \
                first-epoch value) are pushed to larger gradients. The first epoch uses weight 1.",
        formula: "w = K · softmax(ω),  G_k = ‖w_k · g_k‖,  l_k = L_k / L_k(epoch 0),  r_k = l_k / mean(l),  L_grad = Σ_k | G_k - mean(G) · r_k^α |",
        hypers: &[Hyper {
            name: "alpha",
            default: 1.5,
            help: "Strength of the pull towards a common training rate.",
        }],
    },
];

/// Builds the strategy `key` (a `MethodInfo::key`) for `k` tasks, or `None` if the key is
/// not in this family.
pub fn build(
    key: &str,
    params: &Params,
    k: usize,
) -> Option<Result<Box<dyn Strategy>, WeightingError>> {
    let built = match key {
        "ew" => build_ew(params, k),
        "manual" => build_manual(params, k),
        "uw" => build_uw(params, k),
        "dwa" => build_dwa(params, k),
        "gls" => build_gls(params, k),
        "rlw" => build_rlw(params, k),
        "stch" => build_stch(params, k),
        "famo" => build_famo(params, k),
        "gradnorm" => build_gradnorm(params, k),
        _ => return None,
    };
    Some(built)
}

// ---------------------------------------------------------------------------------------
// Builders.
// ---------------------------------------------------------------------------------------

fn build_ew(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("ew", params, &[], k)?;
    Ok(Box::new(EqualWeighting { k }))
}

fn build_manual(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("manual", params, &["weights"], k)?;
    let weights = match params.get("weights") {
        None => vec![1.0; k],
        Some(v) => {
            let arr = v.as_array().ok_or_else(|| {
                WeightingError(format!(
                    "manual: parameter 'weights' must be an array of {k} numbers, got {v}"
                ))
            })?;
            if arr.len() != k {
                return Err(WeightingError(format!(
                    "manual: parameter 'weights' has {} entries but there are {k} tasks",
                    arr.len()
                )));
            }
            let mut w = Vec::with_capacity(k);
            for (i, x) in arr.iter().enumerate() {
                let x = x.as_f64().ok_or_else(|| {
                    WeightingError(format!("manual: weights[{i}] must be a number, got {x}"))
                })?;
                if !x.is_finite() || x < 0.0 {
                    return Err(WeightingError(format!(
                        "manual: weights[{i}] = {x} must be finite and non-negative"
                    )));
                }
                w.push(x);
            }
            w
        }
    };
    Ok(Box::new(ManualWeights { weights }))
}

fn build_uw(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("uw", params, &[], k)?;
    Ok(Box::new(UncertaintyWeighting {
        log_var: vec![UW_INIT; k],
        grad: None,
    }))
}

fn build_dwa(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("dwa", params, &["T"], k)?;
    let temperature = param_f64(params, "T", 2.0)?;
    if !(temperature.is_finite() && temperature > 0.0) {
        return Err(WeightingError(format!(
            "dwa: T = {temperature} must be a positive number"
        )));
    }
    Ok(Box::new(DynamicWeightAverage { k, temperature }))
}

fn build_gls(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("gls", params, &[], k)?;
    Ok(Box::new(GeometricLoss { k }))
}

fn build_rlw(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("rlw", params, &[], k)?;
    Ok(Box::new(RandomLossWeighting { k }))
}

fn build_stch(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("stch", params, &["STCH_mu", "STCH_warmup_epoch"], k)?;
    let mu = param_f64(params, "STCH_mu", 1.0)?;
    if !(mu.is_finite() && mu > 0.0) {
        return Err(WeightingError(format!(
            "stch: STCH_mu = {mu} must be a positive number"
        )));
    }
    let warmup = param_f64(params, "STCH_warmup_epoch", 4.0)?;
    if !(warmup.is_finite() && warmup >= 0.0 && warmup.fract() == 0.0 && warmup < 1e9) {
        return Err(WeightingError(format!(
            "stch: STCH_warmup_epoch = {warmup} must be a non-negative whole number"
        )));
    }
    Ok(Box::new(SmoothTchebycheff {
        k,
        mu,
        // Checked above: a whole number in [0, 1e9).
        warmup_epoch: warmup as usize,
        loss_sum: vec![0.0; k],
        loss_count: 0,
        nadir: None,
    }))
}

fn build_famo(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("famo", params, &["FAMO_w_lr", "FAMO_w_gamma"], k)?;
    let lr = param_f64(params, "FAMO_w_lr", 0.025)?;
    let gamma = param_f64(params, "FAMO_w_gamma", 1e-3)?;
    if !(lr.is_finite() && lr >= 0.0) {
        return Err(WeightingError(format!(
            "famo: FAMO_w_lr = {lr} must be a non-negative number"
        )));
    }
    if !(gamma.is_finite() && gamma >= 0.0) {
        return Err(WeightingError(format!(
            "famo: FAMO_w_gamma = {gamma} must be a non-negative number"
        )));
    }
    Ok(Box::new(Famo {
        lr,
        weight_decay: gamma,
        logits: vec![0.0; k],
        adam_m: vec![0.0; k],
        adam_v: vec![0.0; k],
        adam_t: 0,
        prev_losses: None,
    }))
}

fn build_gradnorm(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("gradnorm", params, &["alpha", "init_loss_scale"], k)?;
    let alpha = param_f64(params, "alpha", 1.5)?;
    if !alpha.is_finite() {
        return Err(WeightingError(format!(
            "gradnorm: alpha = {alpha} must be a finite number"
        )));
    }
    let omega = match params.get("init_loss_scale") {
        None => vec![1.0; k],
        Some(v) => parse_init_scale(v, k)?,
    };
    Ok(Box::new(GradNorm {
        alpha,
        omega,
        grad: None,
    }))
}

/// Reads GradNorm's `init_loss_scale`: the string `linspace(a,b,K)` (torch.linspace with K
/// points; the last argument may be `K` or the number of tasks), an array of K numbers, or one
/// number for every task.
fn parse_init_scale(v: &serde_json::Value, k: usize) -> Result<Vec<f64>, WeightingError> {
    let bad = || {
        WeightingError(format!(
            "gradnorm: init_loss_scale must be \"linspace(a,b,K)\", an array of {k} numbers or a number, got {v}"
        ))
    };
    let out = if let Some(x) = v.as_f64() {
        vec![x; k]
    } else if let Some(arr) = v.as_array() {
        if arr.len() != k {
            return Err(bad());
        }
        arr.iter()
            .map(serde_json::Value::as_f64)
            .collect::<Option<Vec<f64>>>()
            .ok_or_else(bad)?
    } else if let Some(s) = v.as_str() {
        let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let inner = compact
            .strip_prefix("linspace(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(bad)?;
        let parts: Vec<&str> = inner.split(',').collect();
        let [a, b, n] = parts.as_slice() else {
            return Err(bad());
        };
        let a: f64 = a.parse().map_err(|_| bad())?;
        let b: f64 = b.parse().map_err(|_| bad())?;
        if *n != "K" && *n != "k" && n.parse::<usize>().ok() != Some(k) {
            return Err(bad());
        }
        linspace(a, b, k)
    } else {
        return Err(bad());
    };
    if out.iter().all(|x| x.is_finite()) {
        Ok(out)
    } else {
        Err(bad())
    }
}

/// `n` evenly spaced points from `a` to `b` inclusive, as torch.linspace (one point: `a`).
fn linspace(a: f64, b: f64, n: usize) -> Vec<f64> {
    if n == 1 {
        return vec![a];
    }
    let step = (b - a) / (n - 1) as f64;
    (0..n)
        .map(|i| if i + 1 == n { b } else { a + step * i as f64 })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Shared helpers.
// ---------------------------------------------------------------------------------------

/// UW's initial log-variance s (LibMTL `loss_scale` init).
const UW_INIT: f64 = -0.5;

/// Checks the step's losses (K, finite) and, when present, gradients (K rows of one length,
/// finite).
fn check_input(name: &str, input: &StepInput<'_>, k: usize) -> Result<(), WeightingError> {
    check_step(name, input, k, false).map(|_| ())
}

/// Numerically stable softmax (subtracts the max first; same value as torch's).
fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// torch's `sign` (and the derivative of `abs`): 0 at 0.
fn sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

// ---------------------------------------------------------------------------------------
// EW and manual weights.
// ---------------------------------------------------------------------------------------

/// Equal weighting (LibMTL `EW`): weight 1 on every loss, i.e. the plain sum (not the mean
/// the LibMTL docstring claims).
#[derive(Debug)]
pub struct EqualWeighting {
    /// Number of tasks K.
    k: usize,
}

impl Strategy for EqualWeighting {
    fn name(&self) -> &'static str {
        "ew"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("ew", input, self.k)?;
        let w = vec![1.0; self.k];
        Ok(loss_based(input, w.clone(), w))
    }
}

/// Manual static weights (not in LibMTL): the classic weighted sum Σ wₖ·Lₖ with weights fixed
/// by the user (parameter `weights`, K finite non-negative numbers, default all 1).
#[derive(Debug)]
pub struct ManualWeights {
    /// The fixed weights (K).
    weights: Vec<f64>,
}

impl Strategy for ManualWeights {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("manual", input, self.weights.len())?;
        Ok(loss_based(
            input,
            self.weights.clone(),
            self.weights.clone(),
        ))
    }
}

// ---------------------------------------------------------------------------------------
// UW.
// ---------------------------------------------------------------------------------------

/// Uncertainty weighting (Kendall, Gal, Cipolla, "Multi-Task Learning Using Uncertainty to
/// Weigh Losses for Scene Geometry and Semantics", CVPR 2018), as LibMTL `UW`.
///
/// State: log-variances s (K), initialised to -0.5. The loss is Σ (Lₖ/(2e^sₖ) + sₖ/2), so the
/// weight on Lₖ (logged and effective) is 1/(2e^sₖ). `combine` stores ∂/∂sₖ = ½ − ½e^(−sₖ)Lₖ;
/// [`Strategy::learn`] steps s by it (clamped to [−700, 700] so e^s stays finite). The
/// reference runner never steps s.
#[derive(Debug)]
pub struct UncertaintyWeighting {
    /// Learnable log-variances s (K).
    log_var: Vec<f64>,
    /// ∂L/∂s from the last `combine` (K), consumed by `learn`.
    grad: Option<Vec<f64>>,
}

impl Strategy for UncertaintyWeighting {
    fn name(&self) -> &'static str {
        "uw"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("uw", input, self.log_var.len())?;
        let w: Vec<f64> = self.log_var.iter().map(|s| 1.0 / (2.0 * s.exp())).collect();
        let grad: Vec<f64> = self
            .log_var
            .iter()
            .zip(input.losses)
            .map(|(s, l)| 0.5 - 0.5 * (-s).exp() * l)
            .collect();
        let out = finite_output("uw", loss_based(input, w.clone(), w))?;
        self.grad = Some(grad);
        Ok(out)
    }

    fn learn(&mut self, lr: f64) {
        if let Some(grad) = self.grad.take() {
            for (s, g) in self.log_var.iter_mut().zip(&grad) {
                let next = *s - lr * g;
                // Keeps s finite (and so the weights) whatever the learning rate.
                if next.is_finite() {
                    *s = next.clamp(-700.0, 700.0);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// DWA.
// ---------------------------------------------------------------------------------------

/// Dynamic weight average (Liu, Johns, Davison, "End-To-End Multi-Task Learning With
/// Attention", CVPR 2019), as LibMTL `DWA`.
///
/// For epoch e ≥ 2: w = K·softmax(r/T) with rₖ = `loss_history[k][e−1] / loss_history[k][e−2]`;
/// for epochs 0 and 1: w = 1. Errors if the history is too short or a ratio is not finite
/// (a zero epoch-mean loss).
#[derive(Debug)]
pub struct DynamicWeightAverage {
    /// Number of tasks K.
    k: usize,
    /// Softmax temperature T (> 0).
    temperature: f64,
}

impl Strategy for DynamicWeightAverage {
    fn name(&self) -> &'static str {
        "dwa"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("dwa", input, self.k)?;
        let e = input.epoch;
        let w = if e > 1 {
            if input.loss_history.len() != self.k {
                return Err(WeightingError(format!(
                    "dwa: loss_history has {} rows for {} tasks",
                    input.loss_history.len(),
                    self.k
                )));
            }
            let mut r = Vec::with_capacity(self.k);
            for (i, row) in input.loss_history.iter().enumerate() {
                let (Some(prev2), Some(prev1)) = (row.get(e - 2), row.get(e - 1)) else {
                    return Err(WeightingError(format!(
                        "dwa: at epoch {e} needs the mean losses of epochs {} and {}, but task {i} has {} epochs of history",
                        e - 2,
                        e - 1,
                        row.len()
                    )));
                };
                let ratio = prev1 / prev2;
                if !ratio.is_finite() {
                    return Err(WeightingError(format!(
                        "dwa: loss ratio of task {i} is not finite ({prev1} / {prev2})"
                    )));
                }
                r.push(ratio / self.temperature);
            }
            let kf = self.k as f64;
            softmax(&r).into_iter().map(|s| kf * s).collect()
        } else {
            vec![1.0; self.k]
        };
        finite_output("dwa", loss_based(input, w.clone(), w))
    }
}

// ---------------------------------------------------------------------------------------
// GLS.
// ---------------------------------------------------------------------------------------

/// Geometric loss strategy (Chennupati et al., "MultiNet++: Multi-Stream Feature Aggregation
/// and Geometric Loss Strategy for Multi-Task Learning", CVPR Workshops 2019), as LibMTL `GLS`.
///
/// Loss (Π Lₖ)^(1/K). Effective weights cₖ = (Π L)^(1/K)/(K·Lₖ) (computed in log space);
/// logged `weights` are LibMTL's Lₖ/(K·Π L), which are not the gradient weights. Errors on a
/// loss ≤ 0 (the geometric mean is not differentiable there; LibMTL gives inf/NaN).
#[derive(Debug)]
pub struct GeometricLoss {
    /// Number of tasks K.
    k: usize,
}

impl Strategy for GeometricLoss {
    fn name(&self) -> &'static str {
        "gls"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("gls", input, self.k)?;
        if let Some(i) = input.losses.iter().position(|&l| l <= 0.0) {
            return Err(WeightingError(format!(
                "gls: needs positive losses, task {i} has loss {}",
                input.losses[i]
            )));
        }
        let kf = self.k as f64;
        let log_sum: f64 = input.losses.iter().map(|l| l.ln()).sum();
        let effective: Vec<f64> = input
            .losses
            .iter()
            .map(|l| (log_sum / kf - l.ln()).exp() / kf)
            .collect();
        let logged: Vec<f64> = input
            .losses
            .iter()
            .map(|l| (l.ln() - log_sum).exp() / kf)
            .collect();
        finite_output("gls", loss_based(input, effective, logged))
    }
}

// ---------------------------------------------------------------------------------------
// RLW.
// ---------------------------------------------------------------------------------------

/// Random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting: A Litmus
/// Test for Multi-Task Learning", TMLR 2022), as LibMTL `RLW`: w = softmax(z), z ~ N(0, I_K)
/// drawn from `rng` at every step.
#[derive(Debug)]
pub struct RandomLossWeighting {
    /// Number of tasks K.
    k: usize,
}

impl Strategy for RandomLossWeighting {
    fn name(&self) -> &'static str {
        "rlw"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("rlw", input, self.k)?;
        let z: Vec<f64> = (0..self.k)
            .map(|_| rng.sample::<f64, _>(StandardNormal))
            .collect();
        let w = softmax(&z);
        finite_output("rlw", loss_based(input, w.clone(), w))
    }
}

// ---------------------------------------------------------------------------------------
// STCH.
// ---------------------------------------------------------------------------------------

/// Smooth Tchebycheff scalarisation (Lin et al., "Smooth Tchebycheff Scalarization for
/// Multi-Objective Optimization", ICML 2024), as LibMTL `STCH`.
///
/// - epoch < E_w: loss Σ log(Lₖ + 1e-20), effective cₖ = 1/(Lₖ + 1e-20);
/// - epoch = E_w: the same, and the losses of every step are summed to average the nadir z;
/// - epoch > E_w: L̃ₖ = log(Lₖ/zₖ + 1e-20), loss K·μ·logsumexp(L̃/μ), effective
///   cₖ = K·softmax(L̃/μ)ₖ / (zₖ·(Lₖ/zₖ + 1e-20)) ≈ K·softmax(L̃/μ)ₖ / Lₖ.
///
/// Logged `weights` are ones (LibMTL). Fallback: if no step of the warm-up epoch was seen (so
/// LibMTL would divide 0 by 0), the nadir is `loss_history[k][E_w]`, the same epoch mean; an
/// error if that is missing too, if a nadir entry is ≤ 0, or if a loss is negative.
#[derive(Debug)]
pub struct SmoothTchebycheff {
    /// Number of tasks K.
    k: usize,
    /// Smoothing μ (> 0).
    mu: f64,
    /// Warm-up epoch E_w whose mean losses give the nadir.
    warmup_epoch: usize,
    /// Σ of the losses seen during the warm-up epoch (K).
    loss_sum: Vec<f64>,
    /// Number of warm-up steps summed.
    loss_count: usize,
    /// The nadir z (K), fixed at the first step after warm-up.
    nadir: Option<Vec<f64>>,
}

impl SmoothTchebycheff {
    /// The nadir, fixing it on first use after warm-up.
    fn nadir(&mut self, input: &StepInput<'_>) -> Result<Vec<f64>, WeightingError> {
        if let Some(z) = &self.nadir {
            return Ok(z.clone());
        }
        let z: Vec<f64> = if self.loss_count > 0 {
            let n = self.loss_count as f64;
            self.loss_sum.iter().map(|s| s / n).collect()
        } else {
            // Fallback: no warm-up step seen; the epoch mean of the warm-up epoch is the same
            // average LibMTL would have formed.
            let e = self.warmup_epoch;
            let z: Option<Vec<f64>> = if input.loss_history.len() == self.k {
                input
                    .loss_history
                    .iter()
                    .map(|row| row.get(e).copied())
                    .collect()
            } else {
                None
            };
            z.ok_or_else(|| {
                WeightingError(format!(
                    "stch: epoch {} is after the warm-up epoch {e}, but no warm-up step was seen and loss_history has no epoch {e} to use as the nadir",
                    input.epoch
                ))
            })?
        };
        if let Some(i) = z.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(WeightingError(format!(
                "stch: nadir of task {i} is {} but must be positive",
                z[i]
            )));
        }
        self.nadir = Some(z.clone());
        Ok(z)
    }
}

impl Strategy for SmoothTchebycheff {
    fn name(&self) -> &'static str {
        "stch"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("stch", input, self.k)?;
        if let Some(i) = input.losses.iter().position(|&l| l < 0.0) {
            return Err(WeightingError(format!(
                "stch: needs non-negative losses, task {i} has loss {}",
                input.losses[i]
            )));
        }
        let ones = vec![1.0; self.k];
        if input.epoch <= self.warmup_epoch {
            // Gradient of Σ log(L + 1e-20).
            let c: Vec<f64> = input.losses.iter().map(|l| 1.0 / (l + 1e-20)).collect();
            let out = finite_output("stch", loss_based(input, c, ones))?;
            if input.epoch == self.warmup_epoch {
                for (s, l) in self.loss_sum.iter_mut().zip(input.losses) {
                    *s += l;
                }
                self.loss_count += 1;
            }
            return Ok(out);
        }
        let z = self.nadir(input)?;
        // Gradient of K·μ·logsumexp(L̃/μ) with L̃ = log(L/z + 1e-20).
        let ratio: Vec<f64> = input
            .losses
            .iter()
            .zip(&z)
            .map(|(l, z)| l / z + 1e-20)
            .collect();
        let scaled: Vec<f64> = ratio.iter().map(|r| r.ln() / self.mu).collect();
        let kf = self.k as f64;
        let c: Vec<f64> = softmax(&scaled)
            .iter()
            .zip(ratio.iter().zip(&z))
            .map(|(p, (r, z))| kf * p / (r * z))
            .collect();
        finite_output("stch", loss_based(input, c, ones))
    }
}

// ---------------------------------------------------------------------------------------
// FAMO.
// ---------------------------------------------------------------------------------------

/// Fast adaptive multitask optimisation (Liu, Feng, Stone, Liu, "FAMO: Fast Adaptive
/// Multitask Optimization", NeurIPS 2023), as LibMTL `FAMO`.
///
/// State: logits ξ (K, init 0) trained by Adam (lr `FAMO_w_lr`, betas 0.9/0.999, eps 1e-8,
/// weight decay `FAMO_w_gamma` added to the gradient as torch.optim.Adam does); L_min = 0 (never
/// updated in LibMTL). `combine`: z = softmax(ξ), Dₖ = Lₖ − L_min,ₖ + 1e-8, C = Σ zₖ/Dₖ; loss
/// Σ zₖ log Dₖ / C, so the effective weight is cₖ = zₖ/(C·Dₖ) (sums to 1). `after_step(L')`:
/// δₖ = log Dₖ − log D'ₖ, ∇ξ = z ⊙ (δ − z·δ), one Adam step.
///
/// LibMTL logs no weights (`None`); `weights` here are z = softmax(ξ). Errors if some
/// Dₖ ≤ 0 (a loss below −1e-8); `after_step` skips the update if δ is not finite.
#[derive(Debug)]
pub struct Famo {
    /// Adam learning rate on ξ.
    lr: f64,
    /// Adam weight decay on ξ (added to the gradient).
    weight_decay: f64,
    /// Task logits ξ (K).
    logits: Vec<f64>,
    /// Adam first moment (K).
    adam_m: Vec<f64>,
    /// Adam second moment (K).
    adam_v: Vec<f64>,
    /// Adam step count.
    adam_t: i32,
    /// Losses of the last `combine` (K), for `after_step`.
    prev_losses: Option<Vec<f64>>,
}

/// FAMO's offset in Dₖ = Lₖ − L_min,ₖ + ε.
const FAMO_EPS: f64 = 1e-8;

/// torch.optim.Adam defaults used by FAMO's logit optimiser: β₁, β₂ and ε.
const ADAM_BETA1: f64 = 0.9;
/// See [`ADAM_BETA1`].
const ADAM_BETA2: f64 = 0.999;
/// See [`ADAM_BETA1`].
const ADAM_EPS: f64 = 1e-8;

impl Strategy for Famo {
    fn name(&self) -> &'static str {
        "famo"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        false
    }

    fn needs_losses_after(&self) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        check_input("famo", input, self.logits.len())?;
        let d: Vec<f64> = input.losses.iter().map(|l| l + FAMO_EPS).collect();
        if let Some(i) = d.iter().position(|&v| v <= 0.0) {
            return Err(WeightingError(format!(
                "famo: needs losses above -1e-8, task {i} has loss {}",
                input.losses[i]
            )));
        }
        let z = softmax(&self.logits);
        let c: f64 = z.iter().zip(&d).map(|(z, d)| z / d).sum();
        let effective: Vec<f64> = z.iter().zip(&d).map(|(z, d)| z / (c * d)).collect();
        let out = finite_output("famo", loss_based(input, effective, z))?;
        self.prev_losses = Some(input.losses.to_vec());
        Ok(out)
    }

    fn after_step(&mut self, losses_after: &[f64]) {
        let Some(prev) = self.prev_losses.take() else {
            return;
        };
        if losses_after.len() != prev.len() {
            return;
        }
        let delta: Vec<f64> = prev
            .iter()
            .zip(losses_after)
            .map(|(p, a)| (p + FAMO_EPS).ln() - (a + FAMO_EPS).ln())
            .collect();
        if delta.iter().any(|x| !x.is_finite()) {
            return;
        }
        // Vector-Jacobian product of softmax: z ⊙ (δ − z·δ).
        let z = softmax(&self.logits);
        let zd: f64 = z.iter().zip(&delta).map(|(z, d)| z * d).sum();
        let grad: Vec<f64> = z.iter().zip(&delta).map(|(z, d)| z * (d - zd)).collect();
        // torch.optim.Adam (amsgrad off, maximize off).
        self.adam_t = self.adam_t.saturating_add(1);
        let bc1 = 1.0 - ADAM_BETA1.powi(self.adam_t);
        let bc2 = 1.0 - ADAM_BETA2.powi(self.adam_t);
        let state = self
            .logits
            .iter_mut()
            .zip(self.adam_m.iter_mut().zip(self.adam_v.iter_mut()));
        for ((xi, (m, v)), dg) in state.zip(&grad) {
            // Weight decay is added to the gradient, as torch.optim.Adam does.
            let g = dg + self.weight_decay * *xi;
            *m = ADAM_BETA1 * *m + (1.0 - ADAM_BETA1) * g;
            *v = ADAM_BETA2 * *v + (1.0 - ADAM_BETA2) * g * g;
            let denom = v.sqrt() / bc2.sqrt() + ADAM_EPS;
            *xi -= self.lr / bc1 * *m / denom;
        }
    }
}

// ---------------------------------------------------------------------------------------
// GradNorm.
// ---------------------------------------------------------------------------------------

/// GradNorm (Chen, Badrinarayanan, Lee, Rabinovich, "GradNorm: Gradient Normalization for
/// Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018), as LibMTL `GradNorm`.
///
/// State: logits ω (K, init 1, or `init_loss_scale`), w = K·softmax(ω). Epoch 0: plain EW
/// (w = 1, no gradients needed). From epoch 1: Gₖ = ‖wₖ·gₖ‖ (over all shared parameters),
/// L̃ₖ = Lₖ / `loss_history[k][0]`, rₖ = L̃ₖ/mean(L̃), L_grad = Σ |Gₖ − sg(mean(G)·rₖ^α)|; the
/// shared gradient is Σ wₖ·gₖ and the heads get weight 1. `combine` stores ∂L_grad/∂ω for
/// [`Strategy::learn`] (LibMTL's `loss_scale.grad`); the reference runner never steps ω.
///
/// Fallback: if the training rates rₖ are not finite (a first-epoch mean loss ≤ 0, or all
/// losses 0), the stored ω gradient is zero for that step; the shared gradient is unaffected.
#[derive(Debug)]
pub struct GradNorm {
    /// Restoring-force exponent α.
    alpha: f64,
    /// Logits ω (K).
    omega: Vec<f64>,
    /// ∂L_grad/∂ω from the last `combine` (K), consumed by `learn`.
    grad: Option<Vec<f64>>,
}

impl GradNorm {
    /// Loss weights w = K·softmax(ω) (K).
    fn weights(&self) -> Vec<f64> {
        let kf = self.omega.len() as f64;
        softmax(&self.omega).into_iter().map(|s| kf * s).collect()
    }

    /// ∂L_grad/∂ω (K) for per-task gradients `grads` (K × d) and relative training rates
    /// `rates` (K), at weights `w`.
    fn omega_grad(&self, grads: &[Vec<f64>], w: &[f64], rates: &[f64]) -> Vec<f64> {
        let norms: Vec<f64> = grads
            .iter()
            .map(|g| g.iter().map(|x| x * x).sum::<f64>().sqrt())
            .collect();
        let big_g: Vec<f64> = w.iter().zip(&norms).map(|(w, n)| w.abs() * n).collect();
        let mean_g = big_g.iter().sum::<f64>() / big_g.len() as f64;
        // b_k = ∂L_grad/∂w_k = sign(G_k − target_k) · sign(w_k) · ‖g_k‖ (0 where G_k = 0, as
        // torch's norm backward).
        let b: Vec<f64> = big_g
            .iter()
            .zip(rates)
            .zip(w.iter().zip(&norms))
            .map(|((gk, r), (wk, n))| {
                if *gk == 0.0 {
                    0.0
                } else {
                    sign(gk - mean_g * r.powf(self.alpha)) * sign(*wk) * n
                }
            })
            .collect();
        // Chain rule through w = K·softmax(ω): ∂w_j/∂ω_i = w_j (δ_ij − s_i).
        let s = softmax(&self.omega);
        let bw: f64 = b.iter().zip(w).map(|(b, w)| b * w).sum();
        let out: Vec<f64> = (0..w.len()).map(|i| b[i] * w[i] - s[i] * bw).collect();
        if out.iter().all(|x| x.is_finite()) {
            out
        } else {
            vec![0.0; w.len()]
        }
    }
}

impl Strategy for GradNorm {
    fn name(&self) -> &'static str {
        "gradnorm"
    }

    fn needs_grads(&self, epoch: usize) -> bool {
        epoch >= 1
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let k = self.omega.len();
        check_input("gradnorm", input, k)?;
        if input.epoch == 0 {
            // LibMTL runs plain EW in epoch 0 and leaves ω without a gradient.
            self.grad = None;
            let ones = vec![1.0; k];
            return Ok(loss_based(input, ones.clone(), ones));
        }
        let grads = require_grads(input, "gradnorm")?;
        if input.loss_history.len() != k || input.loss_history.iter().any(Vec::is_empty) {
            return Err(WeightingError(
                "gradnorm: from epoch 1 needs the epoch-0 mean losses (loss_history[k][0]) of every task".to_owned(),
            ));
        }
        let w = self.weights();
        let tilde: Vec<f64> = input
            .losses
            .iter()
            .zip(input.loss_history)
            .map(|(l, h)| l / h[0])
            .collect();
        let mean_tilde = tilde.iter().sum::<f64>() / k as f64;
        let rates: Vec<f64> = tilde.iter().map(|t| t / mean_tilde).collect();
        let grad = if rates.iter().all(|r| r.is_finite()) {
            self.omega_grad(grads, &w, &rates)
        } else {
            vec![0.0; k]
        };
        let out = StepOutput {
            shared_grad: Some(weighted_sum(grads, &w)),
            weights: w.clone(),
            effective: w,
            head_weights: vec![1.0; k],
        };
        let out = finite_output("gradnorm", out)?;
        self.grad = Some(grad);
        Ok(out)
    }

    fn learn(&mut self, lr: f64) {
        if let Some(grad) = self.grad.take() {
            let next: Vec<f64> = self
                .omega
                .iter()
                .zip(&grad)
                .map(|(o, g)| o - lr * g)
                .collect();
            if next.iter().all(|x| x.is_finite()) {
                self.omega = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;

    use super::*;

    fn params(json: &str) -> Params {
        serde_json::from_str(json).unwrap()
    }

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    fn strategy(key: &str, p: &str, k: usize) -> Box<dyn Strategy> {
        build(key, &params(p), k).unwrap().unwrap()
    }

    /// TorchJD's test Jacobian (§1.4).
    fn jac() -> Vec<Vec<f64>> {
        vec![vec![-4.0, 1.0, 1.0], vec![6.0, 1.0, 1.0]]
    }

    fn input<'a>(
        epoch: usize,
        losses: &'a [f64],
        grads: Option<&'a [Vec<f64>]>,
        hist: &'a [Vec<f64>],
    ) -> StepInput<'a> {
        StepInput {
            epoch,
            losses,
            grads,
            loss_history: hist,
            rep_value: None,
        }
    }

    fn assert_finite(out: &StepOutput) {
        for v in out
            .weights
            .iter()
            .chain(&out.effective)
            .chain(&out.head_weights)
            .chain(out.shared_grad.iter().flatten())
        {
            assert!(v.is_finite(), "{out:?}");
        }
    }

    #[test]
    fn every_method_builds_and_names_itself() {
        for m in METHODS {
            let s = build(m.key, &Params::new(), 3).unwrap().unwrap();
            assert_eq!(s.name(), m.key);
            let expected = if m.key == "gradnorm" {
                Family::Gradient
            } else {
                Family::Loss
            };
            assert_eq!(m.family, expected);
            for ch in m.formula.chars() {
                let ok = ch.is_ascii()
                    || ('α'..='ω').contains(&ch)
                    || ('Α'..='Ω').contains(&ch)
                    || "∇ΣΠ√·×≤≥‖⟨⟩∈∞₀₁₂²".contains(ch);
                assert!(ok, "{}: character {ch:?} not allowed in formula", m.key);
            }
        }
        assert!(build("pcgrad", &Params::new(), 2).is_none());
    }

    #[test]
    fn unknown_parameter_and_zero_tasks_are_errors() {
        assert!(
            build("ew", &params(r#"{"calpha": 0.5}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(build("dwa", &params(r#"{"T": 0}"#), 2).unwrap().is_err());
        assert!(build("ew", &Params::new(), 0).unwrap().is_err());
        assert!(
            build("stch", &params(r#"{"STCH_warmup_epoch": 1.5}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(
            build("manual", &params(r#"{"weights": [1, 2, 3]}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(
            build("manual", &params(r#"{"weights": [1, -2]}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(
            build(
                "gradnorm",
                &params(r#"{"init_loss_scale": "logspace(0,1,K)"}"#),
                2
            )
            .unwrap()
            .is_err()
        );
    }

    #[test]
    fn ew_golden() {
        let j = jac();
        let out = strategy("ew", "{}", 2)
            .combine(&input(0, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
        close(out.shared_grad.as_ref().unwrap(), &[2.0, 2.0, 2.0], 1e-12);
        // Without gradients the shared gradient is left to the trainer.
        let out = strategy("ew", "{}", 2)
            .combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        assert!(out.shared_grad.is_none());
    }

    #[test]
    fn manual_weights() {
        let j = jac();
        let mut s = strategy("manual", r#"{"weights": [0.25, 2]}"#, 2);
        let out = s
            .combine(&input(3, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[0.25, 2.0], 0.0);
        close(&out.head_weights, &[0.25, 2.0], 0.0);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[11.0, 2.25, 2.25],
            1e-12,
        );
        let out = strategy("manual", "{}", 2)
            .combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
    }

    #[test]
    fn uw_golden_and_learn() {
        let mut s = UncertaintyWeighting {
            log_var: vec![UW_INIT; 2],
            grad: None,
        };
        let out = s
            .combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        close(
            &out.weights,
            &[0.824_360_635_350_064, 0.824_360_635_350_064],
            1e-12,
        );
        close(&out.effective, &out.weights, 0.0);
        let loss: f64 = [1.0, 2.0]
            .iter()
            .zip(&s.log_var)
            .map(|(l, sv)| l / (2.0 * sv.exp()) + sv / 2.0)
            .sum();
        assert!((loss - 1.97308).abs() < 1e-5);
        close(s.grad.as_ref().unwrap(), &[-0.3244, -1.1487], 1e-4);
        s.learn(0.1);
        close(&s.log_var, &[-0.5 + 0.032_436, -0.5 + 0.114_872], 1e-5);
        // The fixed point is e^s = L: the gradient vanishes there.
        let mut s = UncertaintyWeighting {
            log_var: vec![0.0, 2f64.ln()],
            grad: None,
        };
        s.combine(&input(0, &[1.0, 2.0], None, &[]), &mut rng())
            .unwrap();
        close(s.grad.as_ref().unwrap(), &[0.0, 0.0], 1e-12);
    }

    #[test]
    fn dwa_golden_and_errors() {
        let hist = vec![vec![1.0, 0.5], vec![1.0, 0.8]];
        let mut s = strategy("dwa", r#"{"T": 2.0}"#, 2);
        let out = s
            .combine(&input(2, &[1.0, 1.0], None, &hist), &mut rng())
            .unwrap();
        close(&out.weights, &[0.9251, 1.0749], 1e-4);
        let out = s
            .combine(&input(1, &[1.0, 1.0], None, &hist), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
        // Too little history, or a zero epoch mean.
        assert!(
            s.combine(&input(3, &[1.0, 1.0], None, &hist), &mut rng())
                .is_err()
        );
        let zero = vec![vec![0.0, 0.0], vec![1.0, 0.8]];
        assert!(
            s.combine(&input(2, &[1.0, 1.0], None, &zero), &mut rng())
                .is_err()
        );
    }

    #[test]
    fn gls_golden_and_degenerate() {
        let j = jac();
        let mut s = strategy("gls", "{}", 2);
        let out = s
            .combine(&input(0, &[1.0, 4.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[1.0, 0.25], 1e-12);
        close(&out.weights, &[0.125, 0.5], 1e-12);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[-2.5, 1.25, 1.25],
            1e-12,
        );
        assert!(
            s.combine(&input(0, &[0.0, 4.0], Some(&j), &[]), &mut rng())
                .is_err()
        );
        // Tiny losses over many tasks: the logged weights would overflow; error, not inf.
        let many = vec![1e-30; 20];
        let r = strategy("gls", "{}", 20).combine(&input(0, &many, None, &[]), &mut rng());
        assert!(r.is_err());
    }

    #[test]
    fn rlw_on_simplex_mean_and_seeded() {
        let k = 4;
        let mut s = strategy("rlw", "{}", k);
        let losses = vec![1.0; k];
        let mut r = ChaCha8Rng::seed_from_u64(42);
        let n = 20_000;
        let mut mean = vec![0.0; k];
        for _ in 0..n {
            let out = s.combine(&input(0, &losses, None, &[]), &mut r).unwrap();
            assert!((out.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(out.weights.iter().all(|w| *w > 0.0));
            for (m, w) in mean.iter_mut().zip(&out.weights) {
                *m += w / f64::from(n);
            }
        }
        close(&mean, &[0.25; 4], 0.01);
        let a = s
            .combine(
                &input(0, &losses, None, &[]),
                &mut ChaCha8Rng::seed_from_u64(3),
            )
            .unwrap();
        let b = s
            .combine(
                &input(0, &losses, None, &[]),
                &mut ChaCha8Rng::seed_from_u64(3),
            )
            .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn stch_golden_and_nadir() {
        let j = jac();
        let p = r#"{"STCH_mu": 1.0, "STCH_warmup_epoch": 0}"#;
        let mut s = strategy("stch", p, 2);
        // Warm-up epoch 0: nadir from the mean of [1,1] and [1,1].
        let out = s
            .combine(&input(0, &[1.0, 1.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[1.0, 1.0], 1e-12);
        s.combine(&input(0, &[1.0, 1.0], Some(&j), &[]), &mut rng())
            .unwrap();
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[2.0 / 3.0, 2.0 / 3.0], 1e-12);
        close(&out.weights, &[1.0, 1.0], 0.0);
        // The nadir is the average over the warm-up steps.
        let mut s = strategy("stch", p, 2);
        s.combine(&input(0, &[1.0, 1.0], None, &[]), &mut rng())
            .unwrap();
        s.combine(&input(0, &[3.0, 3.0], None, &[]), &mut rng())
            .unwrap();
        let out = s
            .combine(&input(1, &[2.0, 4.0], None, &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[2.0 / 3.0 / 2.0, 4.0 / 3.0 / 4.0], 1e-12);
        // Fallback: no warm-up step seen, nadir from loss_history.
        let hist = vec![vec![1.0], vec![1.0]];
        let out = strategy("stch", p, 2)
            .combine(&input(1, &[1.0, 2.0], None, &hist), &mut rng())
            .unwrap();
        close(&out.effective, &[2.0 / 3.0, 2.0 / 3.0], 1e-12);
        assert!(
            strategy("stch", p, 2)
                .combine(&input(1, &[1.0, 2.0], None, &[]), &mut rng())
                .is_err()
        );
        // A zero nadir is an error; a zero loss before warm-up is finite.
        let mut s = strategy("stch", p, 2);
        s.combine(&input(0, &[0.0, 1.0], None, &[]), &mut rng())
            .unwrap();
        assert!(
            s.combine(&input(1, &[1.0, 2.0], None, &[]), &mut rng())
                .is_err()
        );
        let out = strategy("stch", "{}", 2)
            .combine(&input(0, &[0.0, 1.0], None, &[]), &mut rng())
            .unwrap();
        assert_finite(&out);
    }

    #[test]
    fn famo_golden() {
        let mut s = Famo {
            lr: 0.025,
            weight_decay: 1e-3,
            logits: vec![0.0; 2],
            adam_m: vec![0.0; 2],
            adam_v: vec![0.0; 2],
            adam_t: 0,
            prev_losses: None,
        };
        assert!(s.needs_losses_after());
        let out = s
            .combine(&input(0, &[1.0, 4.0], None, &[]), &mut rng())
            .unwrap();
        close(&out.effective, &[0.8, 0.2], 1e-8);
        close(&out.weights, &[0.5, 0.5], 1e-12);
        s.after_step(&[0.9, 3.0]);
        close(&s.logits, &[0.025, -0.025], 1e-6);
        close(&softmax(&s.logits), &[0.5125, 0.4875], 1e-4);
        // The ξ gradient itself.
        let z = [0.5, 0.5];
        let delta = [(1.0f64 / 0.9).ln(), (4.0f64 / 3.0).ln()];
        let zd = 0.5 * (delta[0] + delta[1]);
        close(
            &[z[0] * (delta[0] - zd), z[1] * (delta[1] - zd)],
            &[-0.0456, 0.0456],
            1e-4,
        );
        // A second call without combine does nothing.
        let before = s.logits.clone();
        s.after_step(&[0.5, 0.5]);
        assert_eq!(s.logits, before);
        // Zero losses stay finite (D = 1e-8); negative ones are an error.
        let out = s
            .combine(&input(0, &[0.0, 0.0], None, &[]), &mut rng())
            .unwrap();
        assert_finite(&out);
        assert!(
            s.combine(&input(0, &[-1.0, 0.0], None, &[]), &mut rng())
                .is_err()
        );
    }

    #[test]
    fn gradnorm_golden() {
        let j = jac();
        // ω = 0 is the same as the default ω = 1 (softmax is shift invariant).
        let mut s = GradNorm {
            alpha: 1.5,
            omega: vec![0.0; 2],
            grad: None,
        };
        assert!(!s.needs_grads(0));
        assert!(s.needs_grads(1));
        // L̃ = L / L(0) = [0.5, 1].
        let hist = vec![vec![2.0], vec![2.0]];
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &hist), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 1e-12);
        close(&out.head_weights, &[1.0, 1.0], 0.0);
        close(out.shared_grad.as_ref().unwrap(), &[2.0, 2.0, 2.0], 1e-12);
        close(s.grad.as_ref().unwrap(), &[5.2035, -5.2035], 1e-4);
        // L_grad value from the same quantities.
        let norms = [18f64.sqrt(), 38f64.sqrt()];
        let mean = 0.5 * (norms[0] + norms[1]);
        let targets = [
            mean * (2.0f64 / 3.0).powf(1.5),
            mean * (4.0f64 / 3.0).powf(1.5),
        ];
        close(&targets, &[2.8324, 8.0114], 1e-4);
        let l_grad = (norms[0] - targets[0]).abs() + (norms[1] - targets[1]).abs();
        assert!((l_grad - 3.2571).abs() < 1e-4);
        s.learn(0.1);
        close(&s.omega, &[-0.52035, 0.52035], 1e-4);
        assert!(s.grad.is_none());
    }

    #[test]
    fn gradnorm_epoch0_init_scale_and_degenerate() {
        let j = jac();
        let mut s = strategy(
            "gradnorm",
            r#"{"init_loss_scale": "linspace(-0.5,0.5,K)"}"#,
            2,
        );
        let out = s
            .combine(&input(0, &[1.0, 2.0], Some(&j), &[]), &mut rng())
            .unwrap();
        close(&out.weights, &[1.0, 1.0], 0.0);
        let hist = vec![vec![2.0], vec![2.0]];
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &hist), &mut rng())
            .unwrap();
        close(
            &out.weights,
            &[0.537_882_842_739_990_3, 1.462_117_157_260_009_7],
            1e-12,
        );
        close(&linspace(-0.5, 0.5, 3), &[-0.5, 0.0, 0.5], 0.0);
        // Epoch ≥ 1 without gradients or history is an error.
        assert!(
            s.combine(&input(1, &[1.0, 2.0], None, &hist), &mut rng())
                .is_err()
        );
        assert!(
            s.combine(&input(1, &[1.0, 2.0], Some(&j), &[]), &mut rng())
                .is_err()
        );
        // Zero gradients, zero losses, zero first-epoch losses: finite, ω gradient zero.
        let zeros = vec![vec![0.0; 3]; 2];
        let mut s = GradNorm {
            alpha: 1.5,
            omega: vec![1.0; 2],
            grad: None,
        };
        let out = s
            .combine(&input(1, &[0.0, 0.0], Some(&zeros), &hist), &mut rng())
            .unwrap();
        assert_finite(&out);
        close(s.grad.as_ref().unwrap(), &[0.0, 0.0], 0.0);
        let zero_hist = vec![vec![0.0], vec![0.0]];
        let out = s
            .combine(&input(1, &[1.0, 2.0], Some(&j), &zero_hist), &mut rng())
            .unwrap();
        assert_finite(&out);
        close(s.grad.as_ref().unwrap(), &[0.0, 0.0], 0.0);
        // Identical and exactly opposite gradients stay finite.
        let same = vec![vec![1.0, 2.0, 3.0]; 2];
        let opp = vec![vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0]];
        for g in [&same, &opp] {
            let out = s
                .combine(&input(1, &[1.0, 2.0], Some(g), &hist), &mut rng())
                .unwrap();
            assert_finite(&out);
            assert!(s.grad.as_ref().unwrap().iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn degenerate_inputs_never_give_nan() {
        let zeros = vec![vec![0.0; 3]; 2];
        let same = vec![vec![1.0, 2.0, 3.0]; 2];
        let opp = vec![vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0]];
        let hist = vec![vec![1.0, 1.0, 1.0], vec![1.0, 1.0, 1.0]];
        for m in METHODS {
            for g in [&zeros, &same, &opp] {
                for losses in [[1.0, 2.0], [1e-12, 1e12]] {
                    let mut s = build(m.key, &Params::new(), 2).unwrap().unwrap();
                    for epoch in [0, 1, 2] {
                        let out = s
                            .combine(&input(epoch, &losses, Some(g), &hist), &mut rng())
                            .unwrap();
                        assert_finite(&out);
                        s.after_step(&[0.5, 1.0]);
                        s.learn(0.01);
                    }
                }
            }
            // Mismatched lengths and non-finite inputs are errors.
            let mut s = build(m.key, &Params::new(), 2).unwrap().unwrap();
            assert!(
                s.combine(&input(1, &[1.0], Some(&same), &hist), &mut rng())
                    .is_err()
            );
            assert!(
                s.combine(&input(1, &[f64::NAN, 1.0], Some(&same), &hist), &mut rng())
                    .is_err()
            );
        }
    }
}
