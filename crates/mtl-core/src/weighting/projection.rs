//! Gradient-projection and gradient-rebalancing strategies: PCGrad, GradVac, IMTL-G,
//! Aligned-MTL, DB-MTL, MoCo, ExcessMTL and GradDrop.
//!
//! Every method here reads the per-task gradients on the shared parameters (K × d; for
//! GradDrop, on the shared representation) and rewrites them before they are summed into one
//! shared update. Each follows LibMTL (commit 4336804) number by number, including its
//! scales: PCGrad, GradVac and Aligned-MTL sum their rows, MoCo works on a loss-scaled EMA,
//! and ExcessMTL is a loss weighting whose weights come from the gradients.
//!
//! Where LibMTL would produce NaN or infinity (a singular matrix in IMTL, a zero first
//! excess in ExcessMTL, rank zero in Aligned-MTL) the strategy uses a finite fallback that is
//! documented on its type. Every output is checked to be finite before it is returned.
//!
//! # Shapes
//! - K tasks, d shared parameters (or representation entries for GradDrop)
//! - gradients: K rows of length d; losses: K; weights, effective, head weights: K

use rand::Rng as _;
use rand::seq::SliceRandom as _;
use rand_chacha::ChaCha8Rng;

use crate::linalg::sym_eigen;

use super::api::{
    Family, Hyper, MethodInfo, Params, StepInput, StepOutput, Strategy, WeightingError,
    check_setup, check_step, dot, finite_output, gramian, loss_based, param_f64, weighted_sum,
};

/// Every method of this family, for the GUI picker and the README.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        key: "pcgrad",
        label: "PCGrad",
        family: Family::Gradient,
        paper: "Yu, Kumar, Gupta, Levine, Hausman, Finn, Gradient Surgery for Multi-Task Learning, NeurIPS 2020",
        about: "When two task gradients point against each other (negative dot product), PCGrad removes \
                from one of them the component that conflicts with the other, so that no task's update \
                directly undoes another's. Each task's gradient is projected against the others in a \
                random order, and the projected gradients are summed. Tasks whose gradients agree are \
                left untouched, so PCGrad equals plain summation when there is no conflict.",
        formula: "p_i = g_i; for j in random order: if ⟨p_i, g_j⟩ < 0 then p_i = p_i - ⟨p_i, g_j⟩ / (‖g_j‖² + ε) · g_j; d = Σ_i p_i",
        hypers: &[],
    },
    MethodInfo {
        key: "gradvac",
        label: "GradVac",
        family: Family::Gradient,
        paper: "Wang, Tsvetkov, Firat, Cao, Gradient Vaccine: Investigating and Improving Multi-task \
                Optimization in Massively Multilingual Models, ICLR 2021",
        about: "GradVac generalises PCGrad: instead of only removing conflicts, it keeps for every pair \
                of tasks a running average of how similar (cosine) their gradients usually are, and \
                nudges a gradient towards the other whenever their current similarity falls below that \
                target. Related tasks are thus kept aligned as much as they normally are. On the first \
                step the targets are 0 and GradVac does exactly what PCGrad does.",
        formula: "ρ = cos(p_i, g_j); if ρ < ρT_ij: p_i = p_i + g_j · ‖p_i‖ (ρT_ij √(1 - ρ²) - ρ √(1 - ρT_ij²)) / (‖g_j‖ √(1 - ρT_ij²) + ε); \
                  ρT_ij = (1 - β) ρT_ij + β ρ; d = Σ_i p_i",
        hypers: &[
            Hyper {
                name: "GradVac_beta",
                default: 0.5,
                help: "EMA rate of the target similarities (0 keeps them at 0, 1 copies the latest)",
            },
            Hyper {
                name: "GradVac_group_type",
                default: 0.0,
                help: "parameter grouping; only 0 (whole model) is supported here",
            },
        ],
    },
    MethodInfo {
        key: "imtl",
        label: "IMTL",
        family: Family::Gradient,
        paper: "Liu, Li, Kuang, Xue, Chen, Yang, Liao, Zhang, Towards Impartial Multi-task Learning, ICLR 2021",
        about: "IMTL-G picks the combination of task gradients whose projection onto every task's unit \
                gradient is the same, so the shared update makes equal progress along every task's \
                direction no matter how large each gradient is. The weights come from a small linear \
                system and sum to 1. IMTL-L additionally learns a scale e^s per loss (s starts at 0), \
                trained by the loss e^s L - s, which balances the loss magnitudes.",
        formula: "u_i = g_i / ‖g_i‖; D = [g_1 - g_i], U = [u_1 - u_i] for i = 2..K; α_2..K = g_1 U^T (D U^T)^-1; \
                  α_1 = 1 - Σ α_i; d = Σ_i α_i g_i, so ⟨d, u_i⟩ is the same for every i",
        hypers: &[],
    },
    MethodInfo {
        key: "aligned_mtl",
        label: "Aligned-MTL",
        family: Family::Gradient,
        paper: "Senushkin, Patakin, Kuznetsov, Konushin, Independent Component Alignment for Multi-Task \
                Learning, CVPR 2023",
        about: "Aligned-MTL looks at the matrix of task gradients and rescales its principal directions so \
                that they all have the same strength (the smallest one's), which makes the system \
                well-conditioned: no direction dominates and conflicting directions no longer cancel \
                badly. The weights are read off the eigen-decomposition of the K × K Gram matrix of the \
                gradients; directions with (numerically) zero strength are dropped.",
        formula: "G G^T = V Λ V^T; B = √λ_min · V Λ^(-1/2) V^T; α = column sums of B; d = Σ_i α_i g_i",
        hypers: &[],
    },
    MethodInfo {
        key: "db_mtl",
        label: "DB-MTL",
        family: Family::Gradient,
        paper: "Lin, Ye, Zhang, Kwok, Dual-Balancing for Multi-Task Learning, arXiv 2308.12029, 2023",
        about: "DB-MTL balances tasks twice. Loss scales are balanced by working with the gradient of log L \
                instead of L, which is scale-free. Gradient magnitudes are balanced by smoothing each \
                task's gradient with a moving average and then stretching every task to the length of \
                the largest one, so that each task contributes equally strongly to the shared update.",
        formula: "h_i = g_i / (L_i + ε); m_i = h_i + β / t^σ · (m_i - h_i); α_i = max_j ‖m_j‖ / (‖m_i‖ + ε); d = Σ_i α_i m_i",
        hypers: &[
            Hyper {
                name: "DB_beta",
                default: 0.9,
                help: "EMA factor of the gradient buffer",
            },
            Hyper {
                name: "DB_beta_sigma",
                default: 0.0,
                help: "decay exponent: the EMA factor at step t is DB_beta / t^DB_beta_sigma",
            },
        ],
    },
    MethodInfo {
        key: "moco",
        label: "MoCo",
        family: Family::Gradient,
        paper: "Fernando, Shen, Liu, Chaudhury, Murugesan, Chen, Mitigating Gradient Bias in \
                Multi-objective Learning: A Provably Convergent Approach, ICLR 2023",
        about: "MoCo is a stochastic version of MGDA. Mini-batch gradients are noisy, so it keeps a moving \
                average of every task's (normalised, loss-scaled) gradient and slowly moves the task \
                weights towards the min-norm combination of these averages with a mirror (softmax) \
                step. The smoothing removes the bias that makes plain MGDA unreliable with small batches.",
        formula: "h_i = L_i g_i / (‖g_i‖ + ε); y_i = y_i - β_t (y_i - h_i); λ = softmax(λ - γ_t (Y Y^T + ρ I) λ); \
                  d = Σ_i λ_i y_i, with β_t = β / t^(β_σ), γ_t = γ / t^(γ_σ)",
        hypers: &[
            Hyper {
                name: "MoCo_beta",
                default: 0.5,
                help: "learning rate of the gradient tracker y",
            },
            Hyper {
                name: "MoCo_beta_sigma",
                default: 0.5,
                help: "decay exponent of MoCo_beta over steps",
            },
            Hyper {
                name: "MoCo_gamma",
                default: 0.1,
                help: "learning rate of the task weights λ",
            },
            Hyper {
                name: "MoCo_gamma_sigma",
                default: 0.5,
                help: "decay exponent of MoCo_gamma over steps",
            },
            Hyper {
                name: "MoCo_rho",
                default: 0.0,
                help: "L2 regularisation of λ's update",
            },
        ],
    },
    MethodInfo {
        key: "excess_mtl",
        label: "ExcessMTL",
        family: Family::Gradient,
        paper: "He, Zhou, Zhao, Zhang, Robust Multi-Task Learning with Excess Risks, ICML 2024",
        about: "ExcessMTL up-weights the tasks that are furthest from their best possible loss. It \
                estimates each task's remaining 'excess risk' from its gradient, scaled AdaGrad-style by \
                the running sum of squared gradients, compares it with the value at the first step, and \
                raises that task's loss weight multiplicatively. Weights always sum to K. Unlike label \
                noise, excess risk does not reward tasks that simply cannot be learned.",
        formula: "S_i = S_i + g_i * g_i; e_i = Σ g_i * g_i / √(S_i + ε); w_i = w_i · exp(η e_i / e_i at first step); \
                  w = K w / Σ_j w_j; loss = Σ_i w_i L_i",
        hypers: &[Hyper {
            name: "robust_step_size",
            default: 0.01,
            help: "step size η of the multiplicative weight update",
        }],
    },
    MethodInfo {
        key: "graddrop",
        label: "GradDrop",
        family: Family::Gradient,
        paper: "Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov, Just Pick a Sign: Optimizing Deep \
                Multitask Models with Gradient Sign Dropout, NeurIPS 2020",
        about: "GradDrop works on the gradient with respect to the shared representation. For every entry \
                it measures how much the tasks agree on the sign of the gradient, then randomly keeps \
                only the positive or only the negative contributions, picking the majority sign more \
                often. Conflicting pushes on the same feature are thus not averaged away; entries where \
                all tasks agree pass unchanged.",
        formula: "s_ik = g_ik · sign(r_k); P_k = (1 + Σ_i s_ik / (Σ_i |s_ik| + ε)) / 2; U_k uniform in [0, 1); \
                  keep_ik = (P_k > U_k and s_ik > 0) or (P_k < U_k and s_ik < 0); d_k = Σ_i g_ik (leak + (1 - leak) keep_ik)",
        hypers: &[Hyper {
            name: "leak",
            default: 0.0,
            help: "fraction of a dropped gradient that still passes (0 drops it fully)",
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
        "pcgrad" => boxed(PcGrad::new(params, k)),
        "gradvac" => boxed(GradVac::new(params, k)),
        "imtl" => boxed(Imtl::new(params, k)),
        "aligned_mtl" => boxed(AlignedMtl::new(params, k)),
        "db_mtl" => boxed(DbMtl::new(params, k)),
        "moco" => boxed(MoCo::new(params, k)),
        "excess_mtl" => boxed(ExcessMtl::new(params, k)),
        "graddrop" => boxed(GradDrop::new(params, k)),
        _ => return None,
    };
    Some(built)
}

fn boxed<S: Strategy + 'static>(
    built: Result<S, WeightingError>,
) -> Result<Box<dyn Strategy>, WeightingError> {
    built.map(|s| Box::new(s) as Box<dyn Strategy>)
}

// Shared helpers.

/// The ε LibMTL adds to denominators (PCGrad, GradVac, DB-MTL, MoCo).
const EPS: f64 = 1e-8;

/// A finite numeric hyperparameter in `[lo, hi]` (either bound may be infinite), or its
/// default.
fn hyper_in(
    params: &Params,
    name: &str,
    default: f64,
    lo: f64,
    hi: f64,
) -> Result<f64, WeightingError> {
    let v = param_f64(params, name, default)?;
    if v.is_finite() && v >= lo && v <= hi {
        return Ok(v);
    }
    let range = match (lo.is_finite(), hi.is_finite()) {
        (true, true) => format!(" in [{lo}, {hi}]"),
        (true, false) => format!(" ≥ {lo}"),
        (false, true) => format!(" ≤ {hi}"),
        (false, false) => String::new(),
    };
    Err(WeightingError(format!(
        "parameter '{name}' must be a finite number{range}, got {v}"
    )))
}

/// Reads `order`: `"identity"` visits tasks in index order, `"random"` (the default) shuffles.
fn identity_order(params: &Params, method: &str) -> Result<bool, WeightingError> {
    match params.get("order") {
        None => Ok(false),
        Some(v) => match v.as_str() {
            Some("identity") => Ok(true),
            Some("random") => Ok(false),
            _ => Err(WeightingError(format!(
                "{method}: parameter 'order' must be \"identity\" or \"random\", got {v}"
            ))),
        },
    }
}

/// The per-task gradients (K × d, all rows the same length, all finite) after checking the
/// losses (K, finite) too.
fn checked_grads<'a>(
    input: &StepInput<'a>,
    k: usize,
    method: &str,
) -> Result<&'a [Vec<f64>], WeightingError> {
    Ok(check_step(method, input, k, true)?.unwrap_or_default())
}

/// ‖v‖₂.
fn norm(v: &[f64]) -> f64 {
    dot(v, v).sqrt()
}

/// The least-squares coefficient c minimising ‖v - c g‖ (0 when g = 0).
fn ls_coeff(v: &[f64], g: &[f64]) -> f64 {
    let gg = dot(g, g);
    if gg > 0.0 { dot(v, g) / gg } else { 0.0 }
}

/// The tasks other than `skip` (all when `None`), in index order or shuffled by `rng`.
fn visit_order(k: usize, skip: Option<usize>, identity: bool, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..k).filter(|&j| Some(j) != skip).collect();
    if !identity {
        order.shuffle(rng);
    }
    order
}

/// [`finite_output`] with the arguments in this file's order.
fn finite(out: StepOutput, method: &str) -> Result<StepOutput, WeightingError> {
    finite_output(method, out)
}

/// Solves A x = b (n × n) by Gaussian elimination with partial pivoting; `None` when a pivot
/// is not larger than `tol` in absolute value (A numerically singular).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>, tol: f64) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() <= tol {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let pivot_row = a[col].clone();
        let pivot_b = b[col];
        for row in col + 1..n {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                *x -= f * p;
            }
            b[row] -= f * pivot_b;
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    Some(x)
}

// PCGrad.

/// PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020), as LibMTL's
/// `PCGrad.py`.
///
/// For each task i, LibMTL shuffles all K task indices (i included) and projects p_i off every
/// g_j it conflicts with, using the original g_j and ‖g_j‖² + 1e-8 in the denominator. The shared
/// gradient is the sum of the p_i. `weights` = `effective` = 1 + accumulated projection
/// coefficients (LibMTL's `batch_weight`), which are exact: shared = Σ weights_k g_k. Heads get
/// weight 1. Param `order: "identity"` visits the indices in order instead of shuffling.
/// Degenerate inputs are finite by construction (the ε keeps zero gradients harmless).
#[derive(Clone, Debug)]
pub struct PcGrad {
    k: usize,
    identity: bool,
}

impl PcGrad {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup("pcgrad", params, &["order"], k)?;
        Ok(Self {
            k,
            identity: identity_order(params, "pcgrad")?,
        })
    }
}

impl Strategy for PcGrad {
    fn name(&self) -> &'static str {
        "pcgrad"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "pcgrad")?;
        let k = self.k;
        let denom: Vec<f64> = grads
            .iter()
            .map(|g| {
                let n = norm(g);
                n * n + EPS
            })
            .collect();
        let mut pc = grads.to_vec();
        let mut weights = vec![1.0; k];
        for p in pc.iter_mut() {
            for j in visit_order(k, None, self.identity, rng) {
                let gij = dot(p, &grads[j]);
                if gij < 0.0 {
                    let c = gij / denom[j];
                    for (x, g) in p.iter_mut().zip(&grads[j]) {
                        *x -= c * g;
                    }
                    weights[j] -= c;
                }
            }
        }
        let shared = weighted_sum(&pc, &vec![1.0; k]);
        finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: weights.clone(),
                effective: weights,
                head_weights: vec![1.0; k],
            },
            "pcgrad",
        )
    }
}

// GradVac.

/// GradVac (Wang et al., "Gradient Vaccine", ICLR 2021), as LibMTL's `GradVac.py` with
/// `GradVac_group_type` 0 (the whole shared vector is one group).
///
/// State: target cosines ρT (K × K, starting at 0), updated by an EMA with rate
/// `GradVac_beta` after every visited pair, whether or not the pair was adjusted. For each
/// task i, the other tasks are visited in a shuffled order (i excluded; `order: "identity"`
/// visits them in index order). The shared gradient is Σ_i p_i. `weights` are all ones, as
/// LibMTL returns; `effective` are the exact coefficients c with shared = Σ c_k g_k (tracked
/// through the adjustments). Heads get weight 1. √(1 - ρ²) is clamped at 0 so rounding with
/// |ρ| slightly above 1 cannot give NaN. Group types 1 and 2 (per layer, per matrix) need
/// layer boundaries the API does not carry and are rejected.
#[derive(Clone, Debug)]
pub struct GradVac {
    k: usize,
    identity: bool,
    beta: f64,
    /// Target cosines ρT[i][j] (K × K).
    rho_t: Vec<Vec<f64>>,
}

impl GradVac {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup(
            "gradvac",
            params,
            &["order", "GradVac_beta", "GradVac_group_type"],
            k,
        )?;
        let group = param_f64(params, "GradVac_group_type", 0.0)?;
        if group != 0.0 {
            return Err(WeightingError(format!(
                "gradvac: GradVac_group_type {group} is not supported; only 0 (whole model) is, \
                 because per-layer groups need layer boundaries the gradients do not carry"
            )));
        }
        Ok(Self {
            k,
            identity: identity_order(params, "gradvac")?,
            beta: hyper_in(params, "GradVac_beta", 0.5, 0.0, 1.0)?,
            rho_t: vec![vec![0.0; k]; k],
        })
    }
}

impl Strategy for GradVac {
    fn name(&self) -> &'static str {
        "gradvac"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "gradvac")?;
        let k = self.k;
        let beta = self.beta;
        let gnorm: Vec<f64> = grads.iter().map(|g| norm(g)).collect();
        let mut rho_t = self.rho_t.clone();
        let mut pc = grads.to_vec();
        let mut effective = vec![1.0; k];
        for (i, p) in pc.iter_mut().enumerate() {
            for j in visit_order(k, Some(i), self.identity, rng) {
                let pn = norm(p);
                let rho = dot(p, &grads[j]) / (pn * gnorm[j] + EPS);
                let target = rho_t[i][j];
                if rho < target {
                    let root_t = (1.0 - target * target).max(0.0).sqrt();
                    let root_r = (1.0 - rho * rho).max(0.0).sqrt();
                    let w = pn * (target * root_r - rho * root_t) / (gnorm[j] * root_t + EPS);
                    for (x, g) in p.iter_mut().zip(&grads[j]) {
                        *x += w * g;
                    }
                    effective[j] += w;
                }
                rho_t[i][j] = (1.0 - beta) * target + beta * rho;
            }
        }
        let shared = weighted_sum(&pc, &vec![1.0; k]);
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: vec![1.0; k],
                effective,
                head_weights: vec![1.0; k],
            },
            "gradvac",
        )?;
        if rho_t.iter().flatten().any(|v| !v.is_finite()) {
            return Err(WeightingError(
                "gradvac produced non-finite target cosines".to_owned(),
            ));
        }
        self.rho_t = rho_t;
        Ok(out)
    }
}

// IMTL.

/// IMTL (Liu et al., "Towards Impartial Multi-task Learning", ICLR 2021): IMTL-G's closed form
/// plus IMTL-L's learnable loss scales, as LibMTL's `IMTL.py`.
///
/// State: loss scales s (K, starting at 0). LibMTL back-propagates e^s·L - s per task, so the
/// gradients it combines are e^{s_k} g_k and each head receives e^{s_k} ∇L_k
/// (`head_weights` = e^s, 1 at the start). With those gradients, α_{2..K} = g_1 Uᵀ (D Uᵀ)⁻¹ and
/// α_1 = 1 - Σ α_{2..K}; `weights` = α (LibMTL's return value), `effective` = α_k e^{s_k},
/// shared = Σ α_k e^{s_k} g_k. [`Strategy::learn`] steps s by -lr·(e^s L - 1), the gradient
/// LibMTL's optimizer would use; the reference runner never calls it.
///
/// Fallback (LibMTL raises or returns NaN here): when a gradient is zero or D Uᵀ is
/// numerically singular (identical or collinear gradients, K above the rank), α is
/// TorchJD's equivalent form α ∝ G⁺ √diag(G) with the pseudo-inverse G⁺ of the Gram matrix,
/// normalised to sum to 1 (the least-squares analogue of "equal projections"); if that
/// vector sums to about 0 or all gradients are zero, α = 1/K.
#[derive(Clone, Debug)]
pub struct Imtl {
    k: usize,
    /// Log loss scales s (K).
    s: Vec<f64>,
    /// ∂/∂s of Σ (e^s L - s) at the last combine (K).
    s_grad: Option<Vec<f64>>,
}

impl Imtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup("imtl", params, &[], k)?;
        Ok(Self {
            k,
            s: vec![0.0; k],
            s_grad: None,
        })
    }
}

/// IMTL-G weights α (K, summing to 1) for gradients g (K × d); see [`Imtl`] for the fallback.
fn imtl_alpha(gram: &[Vec<f64>]) -> Vec<f64> {
    let k = gram.len();
    if k == 1 {
        return vec![1.0];
    }
    // Every quantity below is a combination of the gradients' dot products, so it is read
    // from the Gramian G instead of building K more gradient-sized vectors.
    let norms: Vec<f64> = (0..k).map(|i| gram[i][i].max(0.0).sqrt()).collect();
    let max_norm = norms.iter().copied().fold(0.0, f64::max);
    if max_norm > 0.0 && norms.iter().all(|&n| n > 1e-12 * max_norm) {
        // D_r = g_1 − g_r and U_r = u_1 − u_r (u = g/‖g‖), r = 2..K;
        // α_{2..K} = b M⁻¹ with M = D Uᵀ and b = g_1 Uᵀ, i.e. Mᵀ αᵀ = bᵀ.
        // g_a · U_r = G[a][0]/‖g_1‖ − G[a][r]/‖g_r‖.
        let dot_u = |a: usize, r: usize| gram[a][0] / norms[0] - gram[a][r] / norms[r];
        let m_t: Vec<Vec<f64>> = (1..k)
            .map(|r| (1..k).map(|c| dot_u(0, r) - dot_u(c, r)).collect())
            .collect();
        let b: Vec<f64> = (1..k).map(|r| dot_u(0, r)).collect();
        // Entries of M are at most ‖D_r‖·‖U_r‖ ≤ 4·max‖g‖; a pivot 1e-10 below that is singular.
        if let Some(x) = solve(m_t, b, 4e-10 * max_norm)
            && x.iter().all(|v| v.is_finite())
        {
            let mut alpha = Vec::with_capacity(k);
            alpha.push(1.0 - x.iter().sum::<f64>());
            alpha.extend(x);
            return alpha;
        }
    }
    imtl_pinv_alpha(gram)
}

/// The fallback α ∝ G⁺ √diag(G), normalised to sum 1 (or 1/K); see [`Imtl`].
fn imtl_pinv_alpha(gram: &[Vec<f64>]) -> Vec<f64> {
    let k = gram.len();
    let uniform = vec![1.0 / k as f64; k];
    let (lam, v) = sym_eigen(gram);
    let lam_max = lam.iter().copied().fold(0.0, f64::max);
    if lam_max <= 0.0 {
        return uniform;
    }
    let root_diag: Vec<f64> = (0..k).map(|i| gram[i][i].max(0.0).sqrt()).collect();
    let mut out = vec![0.0; k];
    for (r, &l) in lam.iter().enumerate() {
        if l > 1e-10 * lam_max {
            let proj: f64 = (0..k).map(|i| v[i][r] * root_diag[i]).sum::<f64>() / l;
            for (o, row) in out.iter_mut().zip(&v) {
                *o += row[r] * proj;
            }
        }
    }
    let total: f64 = out.iter().sum();
    let mass: f64 = out.iter().map(|x| x.abs()).sum();
    if mass <= 0.0 || !mass.is_finite() || !total.is_finite() || total.abs() <= 1e-9 * mass {
        return uniform;
    }
    out.iter().map(|x| x / total).collect()
}

impl Strategy for Imtl {
    fn name(&self) -> &'static str {
        "imtl"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "imtl")?;
        let scale: Vec<f64> = self.s.iter().map(|s| s.exp()).collect();
        // The Gramian of the scaled gradients cᵢ gᵢ: cᵢ cⱼ (gᵢ · gⱼ).
        let gram: Vec<Vec<f64>> = gramian(grads)
            .iter()
            .zip(&scale)
            .map(|(row, ci)| row.iter().zip(&scale).map(|(g, cj)| g * ci * cj).collect())
            .collect();
        let alpha = imtl_alpha(&gram);
        let effective: Vec<f64> = alpha.iter().zip(&scale).map(|(a, c)| a * c).collect();
        // Σ αᵢ (cᵢ gᵢ).
        let shared = weighted_sum(grads, &effective);
        let s_grad: Vec<f64> = scale
            .iter()
            .zip(input.losses)
            .map(|(c, l)| c * l - 1.0)
            .collect();
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: alpha,
                effective,
                head_weights: scale,
            },
            "imtl",
        )?;
        self.s_grad = Some(s_grad);
        Ok(out)
    }

    fn learn(&mut self, lr: f64) {
        if let Some(grad) = self.s_grad.take() {
            for (s, g) in self.s.iter_mut().zip(grad) {
                let next = *s - lr * g;
                if next.is_finite() {
                    *s = next;
                }
            }
        }
    }
}

// Aligned-MTL.

/// Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task Learning",
/// CVPR 2023), as LibMTL's `Aligned_MTL.py` with `torch.linalg.eigh` for the removed
/// `torch.symeig`.
///
/// M = G Gᵀ (K × K) = V Λ Vᵀ by a Jacobi eigen-solver; eigenvalues not above
/// max λ · K · ε_f32 are dropped (LibMTL's rank truncation, with `torch.finfo().eps` of
/// float32); B = √λ_min · V Λ^(-1/2) Vᵀ over the kept ones; α = B.sum(0) (column sums, a sum
/// scale: divide by K for TorchJD's). `weights` = `effective` = α, shared = Σ α_k g_k, heads
/// get 1. Fallback: when every eigenvalue is dropped (all gradients zero), α = 0.
#[derive(Clone, Debug)]
pub struct AlignedMtl {
    k: usize,
}

impl AlignedMtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup("aligned_mtl", params, &[], k)?;
        Ok(Self { k })
    }
}

/// Aligned-MTL's α (K) for gradients g (K × d).
fn aligned_alpha(g: &[Vec<f64>]) -> Vec<f64> {
    let k = g.len();
    let (lam, v) = sym_eigen(&gramian(g));
    let lam_max = lam.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tol = lam_max * k as f64 * f64::from(f32::EPSILON);
    let kept: Vec<usize> = (0..k).filter(|&r| lam[r] > tol && lam[r] > 0.0).collect();
    let Some(lam_min) = kept.iter().map(|&r| lam[r]).reduce(f64::min) else {
        return vec![0.0; k];
    };
    let root_min = lam_min.sqrt();
    // α_j = Σ_i B_ij = √λ_min Σ_r (Σ_i V_ir) V_jr / √λ_r.
    let mut alpha = vec![0.0; k];
    for &r in &kept {
        let col_sum: f64 = (0..k).map(|i| v[i][r]).sum();
        let f = root_min * col_sum / lam[r].sqrt();
        for (a, row) in alpha.iter_mut().zip(&v) {
            *a += f * row[r];
        }
    }
    alpha
}

impl Strategy for AlignedMtl {
    fn name(&self) -> &'static str {
        "aligned_mtl"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "aligned_mtl")?;
        let alpha = aligned_alpha(grads);
        finite(
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &alpha)),
                weights: alpha.clone(),
                effective: alpha,
                head_weights: vec![1.0; self.k],
            },
            "aligned_mtl",
        )
    }
}

// DB-MTL.

/// DB-MTL (Lin et al., "Dual-Balancing for Multi-Task Learning", arXiv 2308.12029, 2023), as
/// LibMTL's `DB_MTL.py`.
///
/// The input gradients are those of L; LibMTL differentiates log(L + 1e-8), so h_k =
/// g_k / (L_k + 1e-8). State: an EMA buffer m (K × d, starting at 0) and a step counter t from
/// 1: m = h + β/t^σ · (m - h). α_k = max_j ‖m_j‖ / (‖m_k‖ + 1e-8), shared = Σ α_k m_k.
/// `weights` are ones (LibMTL). Heads receive ∇log L_k, so `head_weights` = 1/(L_k + 1e-8).
/// The buffer mixes past steps, so no exact effective vector exists: `effective_k` =
/// α_k ⟨m_k, g_k⟩ / ‖g_k‖², the least-squares coefficient of task k's contribution on its
/// current gradient (exact on the first step, where m_k ∥ g_k; 0 when g_k = 0). Losses with
/// L + 1e-8 ≤ 0 (log undefined) are an error.
#[derive(Clone, Debug)]
pub struct DbMtl {
    k: usize,
    beta: f64,
    beta_sigma: f64,
    /// Steps taken so far.
    step: u64,
    /// EMA of the log-loss gradients (K × d); `None` before the first step.
    buffer: Option<Vec<Vec<f64>>>,
}

impl DbMtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup("db_mtl", params, &["DB_beta", "DB_beta_sigma"], k)?;
        Ok(Self {
            k,
            beta: hyper_in(params, "DB_beta", 0.9, 0.0, f64::INFINITY)?,
            beta_sigma: hyper_in(
                params,
                "DB_beta_sigma",
                0.0,
                f64::NEG_INFINITY,
                f64::INFINITY,
            )?,
            step: 0,
            buffer: None,
        })
    }
}

impl Strategy for DbMtl {
    fn name(&self) -> &'static str {
        "db_mtl"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "db_mtl")?;
        let d = grads.first().map_or(0, Vec::len);
        if let Some(i) = input.losses.iter().position(|l| *l + EPS <= 0.0) {
            return Err(WeightingError(format!(
                "db_mtl takes log(L + 1e-8) and needs positive losses; task {i} has loss {}",
                input.losses[i]
            )));
        }
        if let Some(prev) = self.buffer.as_ref().map(|m| m.first().map_or(0, Vec::len))
            && prev != d
        {
            return Err(WeightingError(format!(
                "db_mtl: gradient length changed from {prev} to {d}"
            )));
        }
        let step = self.step + 1;
        let decay = self.beta / (step as f64).powf(self.beta_sigma);
        let zeros = vec![vec![0.0; d]; self.k];
        let old = self.buffer.as_ref().unwrap_or(&zeros);
        let head: Vec<f64> = input.losses.iter().map(|l| 1.0 / (l + EPS)).collect();
        let buffer: Vec<Vec<f64>> = grads
            .iter()
            .zip(old)
            .zip(input.losses)
            .map(|((g, m), l)| {
                g.iter()
                    .zip(m)
                    .map(|(gv, mv)| {
                        let h = gv / (l + EPS);
                        h + decay * (mv - h)
                    })
                    .collect()
            })
            .collect();
        let norms: Vec<f64> = buffer.iter().map(|m| norm(m)).collect();
        let max_norm = norms.iter().copied().fold(0.0, f64::max);
        let alpha: Vec<f64> = norms.iter().map(|n| max_norm / (n + EPS)).collect();
        let shared = weighted_sum(&buffer, &alpha);
        let effective: Vec<f64> = alpha
            .iter()
            .zip(&buffer)
            .zip(grads)
            .map(|((a, m), g)| a * ls_coeff(m, g))
            .collect();
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: vec![1.0; self.k],
                effective,
                head_weights: head,
            },
            "db_mtl",
        )?;
        self.step = step;
        self.buffer = Some(buffer);
        Ok(out)
    }
}

// MoCo.

/// MoCo (Fernando et al., "Mitigating Gradient Bias in Multi-objective Learning: A Provably
/// Convergent Approach", ICLR 2023), as LibMTL's `MoCo.py` (softmax mirror step, not the
/// paper's simplex projection).
///
/// State: tracker Y (K × d, starting at 0), weights λ (K, starting at 1/K), step t from 1.
/// h_k = g_k / (‖g_k‖ + 1e-8) · L_k; Y = Y - β/t^{β_σ} (Y - H);
/// λ = softmax(λ - γ/t^{γ_σ} (Y Yᵀ + ρ I) λ); shared = Yᵀ λ. `weights` = λ (LibMTL), heads
/// get weight 1. Y mixes past steps, so `effective_k` = λ_k ⟨y_k, g_k⟩ / ‖g_k‖², the least-squares
/// coefficient of task k's contribution on its current gradient (exact on the first step;
/// 0 when g_k = 0).
#[derive(Clone, Debug)]
pub struct MoCo {
    k: usize,
    beta: f64,
    beta_sigma: f64,
    gamma: f64,
    gamma_sigma: f64,
    rho: f64,
    /// Steps taken so far.
    step: u64,
    /// Gradient tracker Y (K × d); `None` before the first step.
    y: Option<Vec<Vec<f64>>>,
    /// Task weights λ (K, on the simplex).
    lambda: Vec<f64>,
}

impl MoCo {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup(
            "moco",
            params,
            &[
                "MoCo_beta",
                "MoCo_beta_sigma",
                "MoCo_gamma",
                "MoCo_gamma_sigma",
                "MoCo_rho",
            ],
            k,
        )?;
        Ok(Self {
            k,
            beta: hyper_in(params, "MoCo_beta", 0.5, 0.0, f64::INFINITY)?,
            beta_sigma: hyper_in(
                params,
                "MoCo_beta_sigma",
                0.5,
                f64::NEG_INFINITY,
                f64::INFINITY,
            )?,
            gamma: hyper_in(params, "MoCo_gamma", 0.1, 0.0, f64::INFINITY)?,
            gamma_sigma: hyper_in(
                params,
                "MoCo_gamma_sigma",
                0.5,
                f64::NEG_INFINITY,
                f64::INFINITY,
            )?,
            rho: hyper_in(params, "MoCo_rho", 0.0, f64::NEG_INFINITY, f64::INFINITY)?,
            step: 0,
            y: None,
            lambda: vec![1.0 / k as f64; k],
        })
    }
}

impl Strategy for MoCo {
    fn name(&self) -> &'static str {
        "moco"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "moco")?;
        let k = self.k;
        let d = grads.first().map_or(0, Vec::len);
        if let Some(prev) = self.y.as_ref().map(|m| m.first().map_or(0, Vec::len))
            && prev != d
        {
            return Err(WeightingError(format!(
                "moco: gradient length changed from {prev} to {d}"
            )));
        }
        let step = self.step + 1;
        let t = step as f64;
        let beta_t = self.beta / t.powf(self.beta_sigma);
        let gamma_t = self.gamma / t.powf(self.gamma_sigma);
        let zeros = vec![vec![0.0; d]; k];
        let old = self.y.as_ref().unwrap_or(&zeros);
        let y: Vec<Vec<f64>> = grads
            .iter()
            .zip(old)
            .zip(input.losses)
            .map(|((g, yk), l)| {
                let n = norm(g) + EPS;
                g.iter()
                    .zip(yk)
                    .map(|(gv, yv)| {
                        let h = gv / n * l;
                        yv - beta_t * (yv - h)
                    })
                    .collect()
            })
            .collect();
        let gram = gramian(&y);
        let z: Vec<f64> = (0..k)
            .map(|i| {
                let row: f64 = (0..k).map(|j| gram[i][j] * self.lambda[j]).sum::<f64>()
                    + self.rho * self.lambda[i];
                self.lambda[i] - gamma_t * row
            })
            .collect();
        let z_max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let exps: Vec<f64> = z.iter().map(|v| (v - z_max).exp()).collect();
        let total: f64 = exps.iter().sum();
        let lambda: Vec<f64> = exps.iter().map(|e| e / total).collect();
        let shared = weighted_sum(&y, &lambda);
        let effective: Vec<f64> = lambda
            .iter()
            .zip(&y)
            .zip(grads)
            .map(|((l, yk), g)| l * ls_coeff(yk, g))
            .collect();
        let out = finite(
            StepOutput {
                shared_grad: Some(shared),
                weights: lambda.clone(),
                effective,
                head_weights: vec![1.0; k],
            },
            "moco",
        )?;
        self.step = step;
        self.y = Some(y);
        self.lambda = lambda;
        Ok(out)
    }
}

// ExcessMTL.

/// ExcessMTL (He et al., "Robust Multi-Task Learning with Excess Risks", ICML 2024), as
/// LibMTL's `ExcessMTL.py`.
///
/// State: loss weights w (K, starting at 1), AdaGrad sums S (K × d), first-step excesses e⁰.
/// S_k += g_k²; e_k = Σ g_k² / √(S_k + 1e-7). The first call only records e⁰ (w stays 1);
/// later calls set w_k = w_k · exp(η e_k / e⁰_k) and renormalise to Σ w = K (computed in the
/// log domain, which is the same number without overflow). The loss is Σ w_k L_k, so
/// `weights` = `effective` = `head_weights` = w and shared = Σ w_k g_k.
/// Fallback (LibMTL divides by zero): if e⁰_k = 0 (task k's gradient was zero at the first
/// step), its ratio counts as 0 and its baseline is taken from its first step with e_k > 0.
#[derive(Clone, Debug)]
pub struct ExcessMtl {
    k: usize,
    step_size: f64,
    /// Loss weights w (K, summing to K).
    loss_weight: Vec<f64>,
    /// AdaGrad sums of squared gradients (K × d); `None` before the first step.
    grad_sum: Option<Vec<Vec<f64>>>,
    /// First-step excess risks e⁰ (K); `None` before the first step.
    initial: Option<Vec<f64>>,
}

impl ExcessMtl {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup("excess_mtl", params, &["robust_step_size"], k)?;
        Ok(Self {
            k,
            step_size: hyper_in(
                params,
                "robust_step_size",
                0.01,
                f64::NEG_INFINITY,
                f64::INFINITY,
            )?,
            loss_weight: vec![1.0; k],
            grad_sum: None,
            initial: None,
        })
    }
}

impl Strategy for ExcessMtl {
    fn name(&self) -> &'static str {
        "excess_mtl"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "excess_mtl")?;
        let k = self.k;
        let d = grads.first().map_or(0, Vec::len);
        let mut grad_sum = self
            .grad_sum
            .clone()
            .unwrap_or_else(|| vec![vec![0.0; d]; k]);
        if grad_sum.first().map_or(0, Vec::len) != d {
            return Err(WeightingError(format!(
                "excess_mtl: gradient length changed from {} to {d}",
                grad_sum.first().map_or(0, Vec::len)
            )));
        }
        let mut excess = vec![0.0; k];
        for ((e, s), g) in excess.iter_mut().zip(grad_sum.iter_mut()).zip(grads) {
            for (sv, gv) in s.iter_mut().zip(g) {
                *sv += gv * gv;
            }
            *e = g
                .iter()
                .zip(s.iter())
                .map(|(gv, sv)| gv * gv / (sv + 1e-7).sqrt())
                .sum();
        }
        let mut weights = self.loss_weight.clone();
        let initial = match &self.initial {
            None => excess.clone(),
            Some(init) => {
                let mut init = init.clone();
                let mut log_w: Vec<f64> = Vec::with_capacity(k);
                for ((w, e), e0) in weights.iter().zip(&excess).zip(init.iter_mut()) {
                    let ratio = if *e0 > 0.0 {
                        e / *e0
                    } else {
                        // Zero first excess: this step becomes the task's baseline.
                        *e0 = *e;
                        0.0
                    };
                    log_w.push(w.ln() + self.step_size * ratio);
                }
                let top = log_w.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let exps: Vec<f64> = log_w.iter().map(|v| (v - top).exp()).collect();
                let total: f64 = exps.iter().sum();
                weights = exps.iter().map(|e| e / total * k as f64).collect();
                init
            }
        };
        let out = finite(
            loss_based(input, weights.clone(), weights.clone()),
            "excess_mtl",
        )?;
        self.loss_weight = weights;
        self.grad_sum = Some(grad_sum);
        self.initial = Some(initial);
        Ok(out)
    }
}

// GradDrop.

/// GradDrop (Chen et al., "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient
/// Sign Dropout", NeurIPS 2020), as LibMTL's `GradDrop.py`.
///
/// Works on the representation gradient: the input gradients (K × d) are ∂L_k/∂rep for one
/// representation of length d, and `rep_value` (d, required) is the representation itself.
/// Per entry f: s_kf = g_kf · sign(rep_f) (sign(0) = 0, as torch), P_f = ½(1 + Σ_k s_kf /
/// (Σ_k |s_kf| + 1e-7)), U_f uniform in [0, 1) from `rng` (one draw per entry, in index
/// order); task k's entry is kept when (P_f > U_f and s_kf > 0) or (P_f < U_f and s_kf < 0);
/// output_f = Σ_k g_kf (leak + (1 - leak) keep_kf). LibMTL returns no weights: `weights` are
/// ones. There is no exact effective vector (the mask is per entry): `effective_k` is the
/// least-squares coefficient ⟨masked g_k, g_k⟩ / ‖g_k‖², the share of task k's squared
/// gradient that passed (0 when g_k = 0). Heads get 1.
#[derive(Clone, Debug)]
pub struct GradDrop {
    k: usize,
    leak: f64,
    /// The last step's multipliers `leak + (1 − leak)·mask`, K × d.
    factors: Vec<Vec<f64>>,
}

impl GradDrop {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        check_setup("graddrop", params, &["leak"], k)?;
        Ok(Self {
            k,
            leak: hyper_in(params, "leak", 0.0, 0.0, 1.0)?,
            factors: Vec::new(),
        })
    }
}

impl Strategy for GradDrop {
    fn name(&self) -> &'static str {
        "graddrop"
    }

    fn feature_multipliers(&self) -> Option<&[Vec<f64>]> {
        (!self.factors.is_empty()).then_some(self.factors.as_slice())
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "graddrop")?;
        let d = grads.first().map_or(0, Vec::len);
        let rep = input.rep_value.ok_or_else(|| {
            WeightingError(
                "graddrop needs the shared representation's value (rep_value)".to_owned(),
            )
        })?;
        if rep.len() != d {
            return Err(WeightingError(format!(
                "graddrop: rep_value has length {} but the gradients have length {d}",
                rep.len()
            )));
        }
        if rep.iter().any(|v| !v.is_finite()) {
            return Err(WeightingError(
                "graddrop: rep_value has a non-finite entry".to_owned(),
            ));
        }
        let mut out = vec![0.0; d];
        let mut kept_sq = vec![0.0; self.k];
        let mut factors = vec![vec![0.0; d]; self.k];
        for (f, (o, r)) in out.iter_mut().zip(rep).enumerate() {
            let sign = if *r > 0.0 {
                1.0
            } else if *r < 0.0 {
                -1.0
            } else {
                0.0
            };
            let s: Vec<f64> = grads.iter().map(|g| g[f] * sign).collect();
            let sum: f64 = s.iter().sum();
            let abs: f64 = s.iter().map(|v| v.abs()).sum();
            let p = 0.5 * (1.0 + sum / (abs + 1e-7));
            let u: f64 = rng.random::<f64>();
            for (((g, sk), kept), row) in grads
                .iter()
                .zip(&s)
                .zip(kept_sq.iter_mut())
                .zip(factors.iter_mut())
            {
                let keep = (p > u && *sk > 0.0) || (p < u && *sk < 0.0);
                let factor = self.leak + (1.0 - self.leak) * if keep { 1.0 } else { 0.0 };
                row[f] = factor;
                *o += g[f] * factor;
                *kept += g[f] * g[f] * factor;
            }
        }
        let effective: Vec<f64> = grads
            .iter()
            .zip(&kept_sq)
            .map(|(g, kept)| {
                let gg = dot(g, g);
                if gg > 0.0 { kept / gg } else { 0.0 }
            })
            .collect();
        self.factors = factors;
        finite(
            StepOutput {
                shared_grad: Some(out),
                weights: vec![1.0; self.k],
                effective,
                head_weights: vec![1.0; self.k],
            },
            "graddrop",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;

    fn rng() -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(7)
    }

    fn params(json: &str) -> Params {
        serde_json::from_str(json).unwrap()
    }

    fn identity() -> Params {
        params(r#"{"order": "identity"}"#)
    }

    /// TorchJD's test Jacobian (§1.4): J = [[-4, 1, 1], [6, 1, 1]].
    fn j2() -> Vec<Vec<f64>> {
        vec![vec![-4.0, 1.0, 1.0], vec![6.0, 1.0, 1.0]]
    }

    /// §1.4's 3-task Jacobian.
    fn j3() -> Vec<Vec<f64>> {
        vec![
            vec![1.0, 0.0, 0.0, 2.0],
            vec![-1.0, 1.0, 0.0, 0.0],
            vec![0.0, -1.0, 1.0, 1.0],
        ]
    }

    fn run(key: &str, p: &Params, grads: &[Vec<f64>], losses: &[f64]) -> StepOutput {
        let mut s = build(key, p, grads.len()).unwrap().unwrap();
        let rep = vec![1.0; grads[0].len()];
        let input = StepInput {
            epoch: 0,
            losses,
            grads: Some(grads),
            loss_history: &[],
            rep_value: Some(&rep),
        };
        s.combine(&input, &mut rng()).unwrap()
    }

    fn close(a: &[f64], b: &[f64], tol: f64) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    fn all_finite(out: &StepOutput) {
        assert!(
            out.shared_grad
                .as_ref()
                .unwrap()
                .iter()
                .all(|v| v.is_finite()),
            "{out:?}"
        );
        assert!(out.weights.iter().all(|v| v.is_finite()), "{out:?}");
        assert!(out.effective.iter().all(|v| v.is_finite()), "{out:?}");
        assert!(out.head_weights.iter().all(|v| v.is_finite()), "{out:?}");
    }

    #[test]
    fn golden_pcgrad() {
        let out = run("pcgrad", &identity(), &j2(), &[1.0, 1.0]);
        close(&out.weights, &[2.2222, 1.5789], 1e-4);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.5848, 3.8012, 3.8012],
            1e-4,
        );
        let out = run("pcgrad", &identity(), &j3(), &[1.0, 1.0, 1.0]);
        close(&out.weights, &[1.2, 2.0, 1.2], 1e-6);
    }

    #[test]
    fn golden_gradvac_first_step_is_pcgrad() {
        let out = run("gradvac", &identity(), &j2(), &[1.0, 1.0]);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.5848, 3.8012, 3.8012],
            1e-4,
        );
        close(&out.weights, &[1.0, 1.0], 0.0);
        close(&out.effective, &[2.2222, 1.5789], 1e-4);
    }

    #[test]
    fn golden_imtl() {
        let out = run("imtl", &Params::new(), &j2(), &[1.0, 1.0]);
        close(&out.weights, &[0.5923, 0.4077], 1e-4);
        close(out.shared_grad.as_ref().unwrap(), &[0.0767, 1.0, 1.0], 1e-4);
        let out = run("imtl", &Params::new(), &j3(), &[1.0, 1.0, 1.0]);
        close(&out.weights, &[0.17, 0.5284, 0.3016], 1e-4);
        let d = out.shared_grad.unwrap();
        for g in j3() {
            assert!((dot(&d, &g) / norm(&g) - 0.4137).abs() < 1e-4);
        }
    }

    #[test]
    fn golden_aligned_mtl() {
        let out = run("aligned_mtl", &Params::new(), &j2(), &[1.0, 1.0]);
        close(&out.weights, &[1.1181, 0.8165], 1e-4);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.4266, 1.9347, 1.9347],
            1e-4,
        );
        let out = run("aligned_mtl", &Params::new(), &j3(), &[1.0, 1.0, 1.0]);
        close(&out.weights, &[0.4816, 1.1037, 0.7624], 1e-4);
    }

    #[test]
    fn golden_db_mtl_first_step() {
        // J taken as the log-loss gradients: L + 1e-8 = 1.
        let out = run("db_mtl", &Params::new(), &j2(), &[1.0 - 1e-8, 1.0 - 1e-8]);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.0188, 0.2453, 0.2453],
            1e-4,
        );
        close(&out.weights, &[1.0, 1.0], 0.0);
        close(&out.effective, &[0.1453, 0.1], 1e-4);
        let d = weighted_sum(&j2(), &out.effective);
        close(&d, out.shared_grad.as_ref().unwrap(), 1e-12);
    }

    #[test]
    fn golden_moco_first_step() {
        let out = run("moco", &Params::new(), &j2(), &[1.0, 2.0]);
        close(&out.weights, &[0.5094, 0.4906], 1e-4);
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.2374, 0.1396, 0.1396],
            1e-4,
        );
        let d = weighted_sum(&j2(), &out.effective);
        close(&d, out.shared_grad.as_ref().unwrap(), 1e-12);
    }

    #[test]
    fn excess_mtl_first_step_keeps_ones_then_moves() {
        let mut s = build("excess_mtl", &Params::new(), 2).unwrap().unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
        };
        let first = s.combine(&input, &mut rng()).unwrap();
        close(&first.weights, &[1.0, 1.0], 0.0);
        close(first.shared_grad.as_ref().unwrap(), &[2.0, 2.0, 2.0], 1e-12);
        let second = s.combine(&input, &mut rng()).unwrap();
        assert!((second.weights.iter().sum::<f64>() - 2.0).abs() < 1e-12);
        // Same gradient twice: e shrinks by the same factor for both, so the weights stay equal.
        close(&second.weights, &[1.0, 1.0], 1e-9);
        close(&second.head_weights, &second.weights, 0.0);
    }

    #[test]
    fn exact_effective_weights_reproduce_the_shared_gradient() {
        let g = [
            vec![0.3, -1.2, 0.5, 2.0],
            vec![-0.7, 0.4, 1.1, -0.3],
            vec![1.5, 0.2, -0.9, 0.6],
        ];
        for key in ["pcgrad", "gradvac", "imtl", "aligned_mtl", "excess_mtl"] {
            let mut s = build(key, &Params::new(), 3).unwrap().unwrap();
            let mut r = rng();
            for step in 0..4 {
                let scaled: Vec<Vec<f64>> = g
                    .iter()
                    .map(|row| row.iter().map(|v| v * (1.0 + 0.3 * step as f64)).collect())
                    .collect();
                let input = StepInput {
                    epoch: 0,
                    losses: &[1.0, 2.0, 0.5],
                    grads: Some(&scaled),
                    loss_history: &[],
                    rep_value: None,
                };
                let out = s.combine(&input, &mut r).unwrap();
                let d = weighted_sum(&scaled, &out.effective);
                close(&d, out.shared_grad.as_ref().unwrap(), 1e-10);
            }
        }
    }

    #[test]
    fn pcgrad_random_order_is_seeded_and_removes_conflicts() {
        let g = vec![
            vec![1.0, 0.2, -0.5],
            vec![-0.8, 1.0, 0.1],
            vec![-0.3, -0.9, 1.0],
        ];
        let a = run("pcgrad", &Params::new(), &g, &[1.0; 3]);
        let b = run("pcgrad", &Params::new(), &g, &[1.0; 3]);
        assert_eq!(a, b);
        // K = 2: the result is order-independent and p_i ⊥ g_j after the projection.
        let p = run("pcgrad", &Params::new(), &j2(), &[1.0; 2]);
        close(
            p.shared_grad.as_ref().unwrap(),
            &[0.5848, 3.8012, 3.8012],
            1e-4,
        );
    }

    #[test]
    fn gradvac_targets_carry_between_steps() {
        let mut s = build("gradvac", &identity(), 2).unwrap().unwrap();
        let g = vec![vec![1.0, 0.0], vec![0.6, 0.8]];
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
        };
        // Step 1: no conflict (cos 0.6 > 0), sum unchanged; targets become 0.3.
        let out = s.combine(&input, &mut rng()).unwrap();
        close(out.shared_grad.as_ref().unwrap(), &[1.6, 0.8], 1e-12);
        // Step 2 with cos 0 < 0.3: the pair is pulled towards the target cosine.
        let g2 = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let input2 = StepInput {
            grads: Some(&g2),
            ..input
        };
        let out = s.combine(&input2, &mut rng()).unwrap();
        let d = out.shared_grad.unwrap();
        assert!(d[0] > 1.0 && d[1] > 1.0, "{d:?}");
        // p_0 = g_0 + w g_1 has cosine 0.3 with g_1.
        let w = out.effective[1] - 1.0;
        let p0 = [1.0, w];
        assert!((dot(&p0, &[0.0, 1.0]) / norm(&p0) - 0.3).abs() < 1e-7);
    }

    #[test]
    fn imtl_learn_steps_the_scales() {
        let mut s = build("imtl", &Params::new(), 2).unwrap().unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[2.0, 0.5],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
        };
        let first = s.combine(&input, &mut rng()).unwrap();
        close(&first.head_weights, &[1.0, 1.0], 0.0);
        s.learn(0.1);
        // s = -0.1 · (L - 1) = [-0.1, 0.05].
        let second = s.combine(&input, &mut rng()).unwrap();
        close(
            &second.head_weights,
            &[(-0.1f64).exp(), 0.05f64.exp()],
            1e-12,
        );
        // IMTL-G is scale-invariant in direction: d·u_i stays equal for all i.
        let d = second.shared_grad.unwrap();
        let proj: Vec<f64> = g.iter().map(|r| dot(&d, r) / norm(r)).collect();
        assert!((proj[0] - proj[1]).abs() < 1e-10, "{proj:?}");
    }

    #[test]
    fn degenerate_inputs_stay_finite() {
        let g0 = vec![1.0, -2.0, 0.5];
        let cases: Vec<(&str, Vec<Vec<f64>>)> = vec![
            ("zero", vec![vec![0.0; 3], vec![0.0; 3]]),
            ("one zero", vec![g0.clone(), vec![0.0; 3]]),
            ("identical", vec![g0.clone(), g0.clone()]),
            (
                "opposite",
                vec![g0.clone(), g0.iter().map(|v| -v).collect()],
            ),
            (
                "collinear",
                vec![g0.clone(), g0.iter().map(|v| 3.0 * v).collect()],
            ),
            (
                "rank-deficient K3",
                vec![g0.clone(), g0.clone(), vec![0.0, 1.0, 0.0]],
            ),
            ("K above d", vec![vec![1.0], vec![-2.0], vec![3.0]]),
            (
                "tiny",
                vec![vec![1e-300, 0.0, 0.0], vec![0.0, -1e-300, 0.0]],
            ),
        ];
        for key in METHODS.iter().map(|m| m.key) {
            for (what, g) in &cases {
                let mut s = build(key, &Params::new(), g.len()).unwrap().unwrap();
                let rep = vec![0.5, -1.0, 0.0][..g[0].len()].to_vec();
                let losses = vec![0.7; g.len()];
                let mut r = rng();
                for _ in 0..3 {
                    let input = StepInput {
                        epoch: 0,
                        losses: &losses,
                        grads: Some(g),
                        loss_history: &[],
                        rep_value: Some(&rep),
                    };
                    let out = s
                        .combine(&input, &mut r)
                        .unwrap_or_else(|e| panic!("{key} on {what}: {e}"));
                    all_finite(&out);
                }
            }
        }
    }

    #[test]
    fn imtl_singular_fallbacks() {
        let g0 = vec![1.0, -2.0, 0.5];
        // Identical: equal weights, d = g.
        let out = run(
            "imtl",
            &Params::new(),
            &[g0.clone(), g0.clone()],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.5, 0.5], 1e-12);
        close(out.shared_grad.as_ref().unwrap(), &g0, 1e-12);
        // Collinear g_2 = 3 g_1: α ∝ G⁺ √diag(G) = [1, 3] / 4.
        let g1: Vec<f64> = g0.iter().map(|v| 3.0 * v).collect();
        let out = run("imtl", &Params::new(), &[g0.clone(), g1], &[1.0, 1.0]);
        close(&out.weights, &[0.25, 0.75], 1e-10);
        // Exactly opposite is not singular for K = 2: α = [0.5, 0.5], d = 0 (LibMTL too).
        let neg: Vec<f64> = g0.iter().map(|v| -v).collect();
        let out = run("imtl", &Params::new(), &[g0.clone(), neg], &[1.0, 1.0]);
        close(&out.weights, &[0.5, 0.5], 1e-12);
        close(out.shared_grad.as_ref().unwrap(), &[0.0; 3], 1e-12);
        // A zero gradient: all weight on the other task.
        let out = run(
            "imtl",
            &Params::new(),
            &[g0.clone(), vec![0.0; 3]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[1.0, 0.0], 1e-12);
        // All zero: uniform.
        let out = run(
            "imtl",
            &Params::new(),
            &[vec![0.0; 3], vec![0.0; 3]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.5, 0.5], 0.0);
    }

    #[test]
    fn aligned_mtl_degenerate() {
        let g0 = vec![1.0, -2.0, 0.5];
        let neg: Vec<f64> = g0.iter().map(|v| -v).collect();
        let out = run(
            "aligned_mtl",
            &Params::new(),
            &[g0.clone(), neg],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.0, 0.0], 1e-12);
        let out = run(
            "aligned_mtl",
            &Params::new(),
            &[vec![0.0; 3], vec![0.0; 3]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[0.0, 0.0], 0.0);
        // Orthogonal gradients of different lengths: both scaled to the shorter one.
        let out = run(
            "aligned_mtl",
            &Params::new(),
            &[vec![3.0, 0.0], vec![0.0, 1.0]],
            &[1.0, 1.0],
        );
        close(&out.weights, &[1.0 / 3.0, 1.0], 1e-12);
    }

    #[test]
    fn graddrop_keeps_everything_when_signs_agree() {
        let g = vec![vec![1.0, -2.0, 0.5, 3.0], vec![0.5, -1.0, 2.0, 0.1]];
        let rep = vec![0.3, 1.0, -2.0, 0.7];
        let sum = weighted_sum(&g, &[1.0, 1.0]);
        let mut s = build("graddrop", &Params::new(), 2).unwrap().unwrap();
        let mut r = rng();
        for _ in 0..50 {
            let input = StepInput {
                epoch: 0,
                losses: &[1.0, 1.0],
                grads: Some(&g),
                loss_history: &[],
                rep_value: Some(&rep),
            };
            let out = s.combine(&input, &mut r).unwrap();
            close(out.shared_grad.as_ref().unwrap(), &sum, 0.0);
            close(&out.effective, &[1.0, 1.0], 1e-12);
            close(&out.weights, &[1.0, 1.0], 0.0);
        }
    }

    #[test]
    fn graddrop_picks_one_sign_with_probability_p() {
        // Feature 0: s = [3, -1] so P = 0.5 (1 + 2 / 4) = 0.75: keep +3 with probability 0.75.
        let g = vec![vec![3.0], vec![-1.0]];
        let rep = vec![2.0];
        let mut s = build("graddrop", &Params::new(), 2).unwrap().unwrap();
        let mut r = rng();
        let (mut pos, n) = (0, 20_000);
        for _ in 0..n {
            let input = StepInput {
                epoch: 0,
                losses: &[1.0, 1.0],
                grads: Some(&g),
                loss_history: &[],
                rep_value: Some(&rep),
            };
            let d = s.combine(&input, &mut r).unwrap().shared_grad.unwrap()[0];
            if d == 3.0 {
                pos += 1;
            } else {
                assert_eq!(d, -1.0);
            }
        }
        let frac = f64::from(pos) / f64::from(n);
        assert!((frac - 0.75).abs() < 0.02, "{frac}");
        // leak = 1 keeps everything.
        let mut s = build("graddrop", &params(r#"{"leak": 1.0}"#), 2)
            .unwrap()
            .unwrap();
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: Some(&rep),
        };
        close(
            s.combine(&input, &mut r)
                .unwrap()
                .shared_grad
                .as_ref()
                .unwrap(),
            &[2.0],
            0.0,
        );
    }

    #[test]
    fn graddrop_needs_rep_value() {
        let mut s = build("graddrop", &Params::new(), 2).unwrap().unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
        };
        assert!(
            s.combine(&input, &mut rng())
                .unwrap_err()
                .0
                .contains("rep_value")
        );
    }

    #[test]
    fn bad_setup_is_an_error() {
        assert!(build("nope", &Params::new(), 2).is_none());
        assert!(
            build("pcgrad", &params(r#"{"order": "sorted"}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(
            build("imtl", &params(r#"{"calpha": 0.5}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(
            build("gradvac", &params(r#"{"GradVac_group_type": 1}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(
            build("graddrop", &params(r#"{"leak": 2.0}"#), 2)
                .unwrap()
                .is_err()
        );
        assert!(build("moco", &Params::new(), 0).unwrap().is_err());
        let mut s = build("db_mtl", &Params::new(), 2).unwrap().unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[-1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
        };
        assert!(s.combine(&input, &mut rng()).is_err());
        let input = StepInput {
            losses: &[1.0, 1.0, 1.0],
            ..input
        };
        assert!(s.combine(&input, &mut rng()).is_err());
    }

    #[test]
    fn method_table_is_consistent() {
        let extra = "∇ΣΠ√·×≤≥‖⟨⟩∈∞₀₁₂²";
        for (i, m) in METHODS.iter().enumerate() {
            assert_eq!(m.family, Family::Gradient);
            assert!(METHODS[..i].iter().all(|o| o.key != m.key));
            let s = build(m.key, &Params::new(), 3).unwrap().unwrap();
            assert_eq!(s.name(), m.key);
            assert!(s.needs_grads(0));
            for c in m.formula.chars() {
                let greek = ('\u{0370}'..='\u{03FF}').contains(&c);
                assert!(
                    c.is_ascii() || greek || extra.contains(c),
                    "{}: '{c}'",
                    m.key
                );
            }
            // Every listed hyper is accepted by build with its default.
            let mut p = Params::new();
            for h in m.hypers {
                p.insert(h.name.to_owned(), serde_json::json!(h.default));
            }
            assert!(build(m.key, &p, 2).unwrap().is_ok(), "{}", m.key);
        }
    }
}
