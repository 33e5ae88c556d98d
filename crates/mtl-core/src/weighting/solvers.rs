//! Solver-based gradient combination: each step solves a small optimisation problem over the
//! K task weights, built from the Gramian G (Gᵢⱼ = gᵢ·gⱼ) of the per-task shared gradients.
//!
//! - MGDA: the minimum-norm point of the convex hull of the (normalised) gradients.
//! - CAGrad: the best worst-case improvement in a ball around the mean gradient (its dual over
//!   the simplex).
//! - Nash-MTL: the Nash bargaining solution α > 0 with αₖ·(Gα)ₖ = 1.
//! - FairGrad: α-fair resource allocation, (Gx)ₖ = xₖ^(−1/α).
//! - UPGrad: the mean of the gradients' projections onto the dual cone of all gradients.
//!
//! LibMTL (commit 4336804) calls iterative or general-purpose solvers for these (its own
//! projected-gradient MinNormSolver, SciPy SLSQP and least squares, cvxpy + ECOS, quadprog).
//! Here each problem is solved exactly, in pure Rust, with methods meant for small K (up to a
//! few dozen tasks): an active-set method for the simplex QP (Wolfe's minimum-norm-point
//! scheme with a linear term), Lawson–Hanson's active-set method for the bound-constrained
//! QP, a one-dimensional root search that reduces CAGrad to a sequence of simplex QPs, and a
//! damped Newton method on a convex potential for Nash-MTL and FairGrad. The results therefore
//! match LibMTL's outputs where LibMTL is exact (MGDA with K = 2, UPGrad, FairGrad) and are at
//! least as good in the problems' own objectives where LibMTL stops early (MGDA with K ≥ 3,
//! CAGrad, Nash-MTL).
//!
//! Degenerate inputs never give NaN: where a problem has no finite solution (Nash-MTL and
//! FairGrad when the zero vector lies in the convex hull of the gradients, e.g. a zero or two
//! exactly opposite gradients) `combine` returns a [`WeightingError`] that says so; the other
//! methods have documented finite answers for every input.
//!
//! # Shapes
//! - K tasks, d shared parameters
//! - `grads`: K × d (row k = gₖ); `losses`: K
//! - G: K × K; every weight vector: K; `shared_grad`: d

use rand_chacha::ChaCha8Rng;

use super::api::{
    Family, Hyper, MethodInfo, Params, StepInput, StepOutput, Strategy, WeightingError,
    check_setup, check_step, dot, finite_output, gramian, param_f64, weighted_sum,
};

/// Every method of this family, for the GUI picker and the README.
pub const METHODS: &[MethodInfo] = &[
    MethodInfo {
        key: "mgda",
        label: "MGDA (multiple gradient descent)",
        family: Family::Gradient,
        paper: "Sener & Koltun, NeurIPS 2018",
        about: "Treats the tasks as separate objectives and looks for a common descent \
                direction: the shortest vector in the convex hull of the task gradients. \
                Moving against it lowers every task's loss at once (to first order); when it \
                is zero the model is Pareto-stationary. Parameter 'mgda_gn' (text) first \
                divides each gradient by a normaliser: 'none' (default), 'l2' (its length), \
                'loss' (the task loss) or 'loss+' (both). Weights lie on the simplex.",
        formula: "h_k = g_k / n_k,  w = argmin over w ∈ simplex of ‖Σ_k w_k · h_k‖²,  d = Σ_k w_k · h_k",
        hypers: &[],
    },
    MethodInfo {
        key: "cagrad",
        label: "CAGrad (conflict-averse gradient)",
        family: Family::Gradient,
        paper: "Liu, Liu, Jin, Stone, Liu, NeurIPS 2021",
        about: "Starts from the mean gradient g₀ and searches a ball of radius calpha·‖g₀‖ \
                around it for the direction that most improves the worst-off task. Its dual \
                picks simplex weights w; the update is g₀ plus a step along Σ w_k g_k. \
                calpha = 0 gives plain averaging; large calpha approaches MGDA. As in LibMTL \
                the result is on the mean scale, divided by 1 + calpha² (rescale = 1).",
        formula: "g₀ = (1/K) Σ_k g_k,  c = calpha · ‖g₀‖,  w = argmin over w ∈ simplex of Σ_k w_k (g_k · g₀) + c · √(‖Σ_k w_k g_k‖² + 1e-8),  gw = Σ_k w_k g_k,  d = (g₀ + c / ‖gw‖ · gw) / (1 + calpha²)",
        hypers: &[
            Hyper {
                name: "calpha",
                default: 0.5,
                help: "Radius of the search ball relative to ‖g₀‖ (0 = plain mean).",
            },
            Hyper {
                name: "rescale",
                default: 1.0,
                help: "Final scaling: 0 none, 1 divide by 1 + calpha², 2 divide by 1 + calpha.",
            },
        ],
    },
    MethodInfo {
        key: "nash_mtl",
        label: "Nash-MTL (bargaining)",
        family: Family::Gradient,
        paper: "Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik, Fetaya, ICML 2022",
        about: "Lets the tasks bargain over the update direction: the Nash bargaining \
                solution gives every task a weight α_k > 0 such that α_k times the task's \
                directional derivative along d is the same (1) for all tasks. Small or \
                conflicting gradients get larger weights. The loss weights α also scale each \
                head's gradient, and the shared step is clipped to norm max_norm.",
        formula: "α > 0 with α_k · (G α)_k = 1 for every k, G_ij = g_i · g_j;  d = Σ_k α_k g_k, clipped to ‖d‖ ≤ max_norm",
        hypers: &[
            Hyper {
                name: "update_weights_every",
                default: 1.0,
                help: "Re-solve for α every this many steps; reuse the last α in between.",
            },
            Hyper {
                name: "optim_niter",
                default: 20.0,
                help: "LibMTL's iteration cap; accepted but unused (solved to convergence).",
            },
            Hyper {
                name: "max_norm",
                default: 1.0,
                help: "Clip the shared gradient to this norm (0 = no clipping).",
            },
        ],
    },
    MethodInfo {
        key: "fairgrad",
        label: "FairGrad (α-fair allocation)",
        family: Family::Gradient,
        paper: "Ban & Ji, ICML 2024",
        about: "Sees the update as a shared resource and the tasks' loss decreases as their \
                utilities, and allocates it α-fairly: weights x > 0 with (G x)_k = \
                x_k^(-1/α). α = 1 is proportional fairness (the same answer as Nash-MTL, \
                without the clipping); larger α moves towards max-min fairness, helping the \
                worst-off task. The weights x also scale each head's gradient.",
        formula: "x > 0 with Σ_j (g_k · g_j) x_j = x_k^(-1/α) for every k;  d = Σ_k x_k g_k",
        hypers: &[Hyper {
            name: "FairGrad_alpha",
            default: 1.0,
            help: "Fairness α > 0: 1 = proportional fairness, large = max-min fairness.",
        }],
    },
    MethodInfo {
        key: "upgrad",
        label: "UPGrad (unconflicting projection)",
        family: Family::Gradient,
        paper: "Quinton & Rey, arXiv 2024 (Jacobian descent)",
        about: "Projects each task gradient onto the dual cone of all task gradients (the \
                directions that conflict with none of them) and averages the projections. \
                The result never increases any task's loss to first order, and it equals \
                the mean gradient when nothing conflicts. Each projection is a small \
                quadratic program over the Gramian of the gradients.",
        formula: "H = G / tr(G) + ε·I,  v_i = argmin over v ≥ e_i / K of v · H v,  w = Σ_i v_i,  d = Σ_k w_k g_k",
        hypers: &[
            Hyper {
                name: "UPGrad_norm_eps",
                default: 1e-4,
                help: "G is divided by its trace, or replaced by 0 if the trace is below this.",
            },
            Hyper {
                name: "UPGrad_reg_eps",
                default: 1e-4,
                help: "ε added to the diagonal of the normalised Gramian (keeps it invertible).",
            },
        ],
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
        "mgda" => build_mgda(params, k),
        "cagrad" => build_cagrad(params, k),
        "nash_mtl" => build_nash(params, k),
        "fairgrad" => build_fairgrad(params, k),
        "upgrad" => build_upgrad(params, k),
        _ => return None,
    };
    Some(built)
}

// ---------------------------------------------------------------------------------------
// Builders.
// ---------------------------------------------------------------------------------------

fn build_mgda(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("mgda", params, &["mgda_gn"], k)?;
    let norm = match params.get("mgda_gn") {
        None => MgdaNorm::None,
        Some(v) => match v.as_str() {
            Some("none") => MgdaNorm::None,
            Some("l2") => MgdaNorm::L2,
            Some("loss") => MgdaNorm::Loss,
            Some("loss+") => MgdaNorm::LossPlus,
            _ => {
                return Err(WeightingError(format!(
                    "mgda: parameter 'mgda_gn' must be one of \"none\", \"l2\", \"loss\", \
                     \"loss+\", got {v}"
                )));
            }
        },
    };
    Ok(Box::new(Mgda { k, norm }))
}

fn build_cagrad(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("cagrad", params, &["calpha", "rescale"], k)?;
    let calpha = param_f64(params, "calpha", 0.5)?;
    if !(calpha.is_finite() && calpha >= 0.0) {
        return Err(WeightingError(format!(
            "cagrad: parameter 'calpha' must be a finite number >= 0, got {calpha}"
        )));
    }
    let rescale = param_f64(params, "rescale", 1.0)?;
    let divisor = if rescale == 0.0 {
        1.0
    } else if rescale == 1.0 {
        1.0 + calpha * calpha
    } else if rescale == 2.0 {
        1.0 + calpha
    } else {
        return Err(WeightingError(format!(
            "cagrad: parameter 'rescale' must be 0, 1 or 2, got {rescale}"
        )));
    };
    Ok(Box::new(CaGrad { k, calpha, divisor }))
}

fn build_nash(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup(
        "nash_mtl",
        params,
        &["update_weights_every", "optim_niter", "max_norm"],
        k,
    )?;
    let every = positive_count(params, "nash_mtl", "update_weights_every", 1.0)?;
    // Accepted for LibMTL compatibility; the solver here always runs to convergence.
    positive_count(params, "nash_mtl", "optim_niter", 20.0)?;
    let max_norm = param_f64(params, "max_norm", 1.0)?;
    if !(max_norm.is_finite() && max_norm >= 0.0) {
        return Err(WeightingError(format!(
            "nash_mtl: parameter 'max_norm' must be a finite number >= 0, got {max_norm}"
        )));
    }
    Ok(Box::new(NashMtl {
        k,
        every,
        max_norm,
        step: 0,
        alpha: vec![1.0; k],
    }))
}

fn build_fairgrad(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("fairgrad", params, &["FairGrad_alpha"], k)?;
    let alpha = param_f64(params, "FairGrad_alpha", 1.0)?;
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(WeightingError(format!(
            "fairgrad: parameter 'FairGrad_alpha' must be a finite number > 0, got {alpha}"
        )));
    }
    Ok(Box::new(FairGrad { k, alpha }))
}

fn build_upgrad(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    check_setup("upgrad", params, &["UPGrad_norm_eps", "UPGrad_reg_eps"], k)?;
    let norm_eps = param_f64(params, "UPGrad_norm_eps", 1e-4)?;
    let reg_eps = param_f64(params, "UPGrad_reg_eps", 1e-4)?;
    for (name, v) in [("UPGrad_norm_eps", norm_eps), ("UPGrad_reg_eps", reg_eps)] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(WeightingError(format!(
                "upgrad: parameter '{name}' must be a finite number >= 0, got {v}"
            )));
        }
    }
    Ok(Box::new(UpGrad {
        k,
        norm_eps,
        reg_eps,
    }))
}

// ---------------------------------------------------------------------------------------
// Shared helpers.
// ---------------------------------------------------------------------------------------

/// Reads an integer parameter that must be at least 1.
fn positive_count(
    params: &Params,
    method: &str,
    name: &str,
    default: f64,
) -> Result<usize, WeightingError> {
    let v = param_f64(params, name, default)?;
    if !(v.is_finite() && v >= 1.0 && v.fract() == 0.0 && v <= 1e9) {
        return Err(WeightingError(format!(
            "{method}: parameter '{name}' must be a whole number >= 1, got {v}"
        )));
    }
    Ok(v as usize)
}

/// The checked gradients (K × d) and their Gramian (K × K).
type Checked<'a> = (&'a [Vec<f64>], Vec<Vec<f64>>);

/// Checks the step's losses (K, finite) and gradients (present, K rows of one length,
/// finite) and returns the gradients (K × d) with their Gramian (K × K, finite).
fn checked_input<'a>(
    name: &str,
    input: &StepInput<'a>,
    k: usize,
) -> Result<Checked<'a>, WeightingError> {
    let grads = check_step(name, input, k, true)?.unwrap_or_default();
    let g = gramian(grads);
    if g.iter().flatten().any(|x| !x.is_finite()) {
        return Err(WeightingError(format!(
            "{name}: the gradients are too large (their dot products overflow)"
        )));
    }
    Ok((grads, g))
}

/// M·x for a K × K matrix M.
fn mat_vec(m: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    m.iter().map(|row| dot(row, x)).collect()
}

/// xᵀ·M·x.
fn quad_form(m: &[Vec<f64>], x: &[f64]) -> f64 {
    dot(x, &mat_vec(m, x))
}

/// The largest absolute entry of a matrix and a vector (0 for empty input).
fn max_abs(m: &[Vec<f64>], v: &[f64]) -> f64 {
    m.iter()
        .flatten()
        .chain(v)
        .fold(0.0_f64, |acc, x| acc.max(x.abs()))
}

/// Solves A·x = b (n × n) by Gaussian elimination with partial pivoting. Returns `None` when
/// a pivot falls below `rel_tol` times the largest entry of A (numerically singular).
fn solve_linear(mut a: Vec<Vec<f64>>, mut b: Vec<f64>, rel_tol: f64) -> Option<Vec<f64>> {
    let n = b.len();
    let scale = max_abs(&a, &[]);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    let tiny = rel_tol * scale;
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        let size = a[pivot][col].abs();
        if size.is_nan() || size <= tiny {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        let (top, bottom) = a.split_at_mut(col + 1);
        let pivot_row = &top[col];
        for (offset, target) in bottom.iter_mut().enumerate() {
            let factor = target[col] / pivot_row[col];
            if factor != 0.0 {
                for (t, p) in target[col..].iter_mut().zip(&pivot_row[col..]) {
                    *t -= factor * p;
                }
                b[col + 1 + offset] -= factor * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - tail) / a[row][row];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

// ---------------------------------------------------------------------------------------
// Exact solvers for small K.
// ---------------------------------------------------------------------------------------

/// Relative tolerance of the active-set optimality tests (the problems are scaled so that
/// their largest entry is 1 first).
const ACTIVE_SET_TOL: f64 = 1e-14;

/// Pivot threshold (relative) below which a KKT system counts as singular.
const PIVOT_TOL: f64 = 1e-14;

/// Minimises ½·xᵀQx + pᵀx over the probability simplex {x ≥ 0, Σ x = 1}.
///
/// Q (K × K) must be a Gramian JJᵀ and p must lie in its range (p = Q·r: p = 0 for MGDA,
/// p = G·1/K for CAGrad). On the simplex the objective is then ½‖Σₖ xₖ·(gₖ + Jᵀr)‖² plus a
/// constant, a minimum-norm-point problem, and this is Wolfe's primal active-set method for
/// it: keep a support S on which x minimises over the affine hull {Σ_S x = 1}, add the
/// coordinate with the most negative reduced gradient, and walk back to the boundary when
/// the affine minimiser leaves the simplex. The supports it visits are affinely
/// independent, so every KKT system is non-singular (up to rounding), and it stops after
/// finitely many steps with an exact solution. The solution need not be unique when Q is
/// singular; ties go to the lowest index first. All-zero input gives the uniform vector.
fn simplex_qp(q: &[Vec<f64>], p: &[f64]) -> Vec<f64> {
    let k = p.len();
    if k <= 1 {
        return vec![1.0; k];
    }
    let scale = max_abs(q, p);
    if !(scale > 0.0 && scale.is_finite()) {
        return vec![1.0 / k as f64; k];
    }
    let q: Vec<Vec<f64>> = q
        .iter()
        .map(|row| row.iter().map(|v| v / scale).collect())
        .collect();
    let p: Vec<f64> = p.iter().map(|v| v / scale).collect();
    let objective = |x: &[f64]| 0.5 * quad_form(&q, x) + dot(&p, x);

    // Start at the best vertex.
    let start = (0..k)
        .min_by(|&i, &j| (0.5 * q[i][i] + p[i]).total_cmp(&(0.5 * q[j][j] + p[j])))
        .unwrap_or(0);
    let mut x = vec![0.0; k];
    x[start] = 1.0;
    let mut support = vec![start];
    let mut best = (objective(&x), x.clone());

    for _ in 0..(20 * k + 100) {
        let grad: Vec<f64> = mat_vec(&q, &x).iter().zip(&p).map(|(a, b)| a + b).collect();
        let lambda = dot(&x, &grad);
        let entering = (0..k)
            .filter(|i| !support.contains(i))
            .filter(|&i| grad[i] < lambda - ACTIVE_SET_TOL)
            .min_by(|&i, &j| grad[i].total_cmp(&grad[j]));
        let Some(j) = entering else {
            break;
        };
        support.push(j);
        if !simplex_minor_steps(&q, &p, &mut x, &mut support) {
            break;
        }
        let value = objective(&x);
        if value < best.0 {
            best = (value, x.clone());
        }
    }
    let value = objective(&x);
    if value < best.0 {
        best = (value, x);
    }
    let mut x = best.1;
    for v in &mut x {
        *v = v.max(0.0);
    }
    let total: f64 = x.iter().sum();
    x.iter().map(|v| v / total).collect()
}

/// The inner loop of [`simplex_qp`] after a coordinate entered `support` (last entry):
/// moves x towards the affine minimiser on the support, dropping coordinates that reach 0,
/// until the affine minimiser is strictly inside. Returns false when no further progress is
/// possible (singular system or the entering coordinate would not become positive), leaving
/// x feasible.
fn simplex_minor_steps(q: &[Vec<f64>], p: &[f64], x: &mut [f64], support: &mut Vec<usize>) -> bool {
    let entering = support.len() - 1;
    for round in 0..=support.len() {
        let Some(y) = affine_minimiser(q, p, support) else {
            support.retain(|&i| x[i] > 0.0);
            return false;
        };
        if round == 0 && y[entering] <= 0.0 {
            // Numerically optimal already: the new coordinate would not be used.
            support.pop();
            return false;
        }
        if y.iter().all(|&v| v > 0.0) {
            for (&i, &v) in support.iter().zip(&y) {
                x[i] = v;
            }
            return true;
        }
        // Walk from x towards y until the first coordinate hits 0.
        let mut theta = 1.0_f64;
        let mut leaving = 0;
        for (idx, (&i, &v)) in support.iter().zip(&y).enumerate() {
            if v <= 0.0 {
                let t = x[i] / (x[i] - v);
                if t < theta {
                    theta = t;
                    leaving = idx;
                }
            }
        }
        for (&i, &v) in support.iter().zip(&y) {
            x[i] += theta * (v - x[i]);
        }
        x[support[leaving]] = 0.0;
        for &i in support.iter() {
            if x[i] <= 0.0 {
                x[i] = 0.0;
            }
        }
        support.retain(|&i| x[i] > 0.0);
        if support.is_empty() {
            return false;
        }
    }
    false
}

/// The minimiser of ½·xᵀQx + pᵀx over {x_S free, Σ_S x = 1} (coordinates outside `support`
/// fixed at 0), from its KKT system; `None` if that system is singular.
fn affine_minimiser(q: &[Vec<f64>], p: &[f64], support: &[usize]) -> Option<Vec<f64>> {
    let n = support.len();
    let mut a = vec![vec![0.0; n + 1]; n + 1];
    let mut b = vec![0.0; n + 1];
    for (r, &i) in support.iter().enumerate() {
        for (c, &j) in support.iter().enumerate() {
            a[r][c] = q[i][j];
        }
        a[r][n] = 1.0;
        a[n][r] = 1.0;
        b[r] = -p[i];
    }
    b[n] = 1.0;
    let mut sol = solve_linear(a, b, PIVOT_TOL)?;
    sol.truncate(n);
    Some(sol)
}

/// Minimises ½·yᵀQy + pᵀy subject to y ≥ 0.
///
/// Q (K × K) must be symmetric positive definite, or positive semi-definite with p in its
/// range (then the minimum is finite). Lawson–Hanson's active-set method in Gramian form:
/// free the coordinate with the most negative gradient, solve the unconstrained problem on
/// the free set, and step back to the boundary when a free coordinate would turn
/// non-positive. Finite, exact up to rounding. All-zero input gives y = 0.
fn nonneg_qp(q: &[Vec<f64>], p: &[f64]) -> Vec<f64> {
    let k = p.len();
    let mut y = vec![0.0; k];
    let scale = max_abs(q, p);
    if !(scale > 0.0 && scale.is_finite()) {
        return y;
    }
    let q: Vec<Vec<f64>> = q
        .iter()
        .map(|row| row.iter().map(|v| v / scale).collect())
        .collect();
    let p: Vec<f64> = p.iter().map(|v| v / scale).collect();
    let mut free: Vec<usize> = Vec::new();
    'outer: for _ in 0..(20 * k + 100) {
        let grad: Vec<f64> = mat_vec(&q, &y).iter().zip(&p).map(|(a, b)| a + b).collect();
        let entering = (0..k)
            .filter(|i| !free.contains(i))
            .filter(|&i| grad[i] < -ACTIVE_SET_TOL)
            .min_by(|&i, &j| grad[i].total_cmp(&grad[j]));
        let Some(j) = entering else {
            break;
        };
        free.push(j);
        for round in 0..=free.len() {
            let a: Vec<Vec<f64>> = free
                .iter()
                .map(|&r| free.iter().map(|&c| q[r][c]).collect())
                .collect();
            let b: Vec<f64> = free.iter().map(|&r| -p[r]).collect();
            let Some(z) = solve_linear(a, b, PIVOT_TOL) else {
                free.retain(|&i| y[i] > 0.0);
                break 'outer;
            };
            if round == 0 && z.last().is_none_or(|&v| v <= 0.0) {
                // Numerically optimal already.
                free.pop();
                break 'outer;
            }
            if z.iter().all(|&v| v > 0.0) {
                for (&i, &v) in free.iter().zip(&z) {
                    y[i] = v;
                }
                continue 'outer;
            }
            let mut theta = 1.0_f64;
            let mut leaving = 0;
            for (idx, (&i, &v)) in free.iter().zip(&z).enumerate() {
                if v <= 0.0 {
                    let t = y[i] / (y[i] - v);
                    if t < theta {
                        theta = t;
                        leaving = idx;
                    }
                }
            }
            for (&i, &v) in free.iter().zip(&z) {
                y[i] += theta * (v - y[i]);
            }
            y[free[leaving]] = 0.0;
            for &i in &free {
                if y[i] <= 0.0 {
                    y[i] = 0.0;
                }
            }
            free.retain(|&i| y[i] > 0.0);
        }
        break;
    }
    y
}

/// Relative squared norm below which the minimum-norm point of the convex hull of the
/// gradients counts as zero (≈ float32 resolution of the gradients' lengths, squared).
const HULL_ZERO_TOL: f64 = 1e-14;

/// Checks that α·(Gx)-type fixed points have a positive solution: they do exactly when the
/// zero vector is not in the convex hull of the gradients (then the potential of
/// [`fair_solve`] is coercive); otherwise the weights would have to be infinite.
fn check_hull_excludes_zero(name: &str, g: &[Vec<f64>]) -> Result<(), WeightingError> {
    let max_diag = g
        .iter()
        .enumerate()
        .fold(0.0_f64, |m, (i, row)| m.max(row[i]));
    if max_diag <= 0.0 {
        return Err(WeightingError(format!(
            "{name}: all task gradients are zero, so no finite weights solve the balance \
             equations"
        )));
    }
    let scaled: Vec<Vec<f64>> = g
        .iter()
        .map(|row| row.iter().map(|v| v / max_diag).collect())
        .collect();
    let w = simplex_qp(&scaled, &vec![0.0; g.len()]);
    if quad_form(&scaled, &w) <= HULL_ZERO_TOL {
        return Err(WeightingError(format!(
            "{name}: a task gradient is zero or the task gradients cancel out (the zero \
             vector lies in their convex hull, e.g. two exactly opposite gradients), so the \
             balance equations have no positive solution: the weights would be infinite"
        )));
    }
    Ok(())
}

/// Solves (G·x)ₖ = xₖ^(−1/a) for x > 0 (K unknowns, a > 0), starting from `start` (positive).
///
/// These are the stationarity conditions of the strictly convex potential
/// f(x) = ½·xᵀGx − Σₖ h(xₖ) with h′(x) = x^(−1/a) (h = log for a = 1), which has a unique
/// minimiser when [`check_hull_excludes_zero`] passes. The start is first rescaled to the
/// best point on its ray (closed form), then Newton's method with the Hessian
/// G + diag(x^(−1/a−1)/a), an Armijo backtracking line search on f and a fraction-to-boundary
/// rule runs to machine precision (quadratic convergence).
fn fair_solve(
    name: &str,
    g: &[Vec<f64>],
    a: f64,
    start: &[f64],
) -> Result<Vec<f64>, WeightingError> {
    check_hull_excludes_zero(name, g)?;
    let k = g.len();
    let e = 1.0 / a;
    let h = |v: f64| {
        if e == 1.0 {
            v.ln()
        } else {
            v.powf(1.0 - e) / (1.0 - e)
        }
    };
    let potential = |x: &[f64]| 0.5 * quad_form(g, x) - x.iter().map(|&v| h(v)).sum::<f64>();

    let mut x: Vec<f64> = if start.len() == k && start.iter().all(|v| v.is_finite() && *v > 0.0) {
        start.to_vec()
    } else {
        vec![1.0; k]
    };
    // The best multiple τ·x: τ·xᵀGx = τ^(−1/a)·Σ xₖ^(1−1/a).
    let curv = quad_form(g, &x);
    let lin: f64 = x.iter().map(|v| v.powf(1.0 - e)).sum();
    let tau = (lin / curv).powf(a / (a + 1.0));
    if tau.is_finite() && tau > 0.0 {
        for v in &mut x {
            *v *= tau;
        }
    }

    for _ in 0..500 {
        let gx = mat_vec(g, &x);
        let residual: Vec<f64> = gx.iter().zip(&x).map(|(s, v)| s - v.powf(-e)).collect();
        let mut hessian = g.to_vec();
        for (i, row) in hessian.iter_mut().enumerate() {
            row[i] += e * x[i].powf(-e - 1.0);
        }
        let Some(step) = solve_linear(hessian, residual.clone(), 1e-300) else {
            break;
        };
        let decrement = dot(&residual, &step);
        let relative = step
            .iter()
            .zip(&x)
            .fold(0.0_f64, |m, (s, v)| m.max((s / v).abs()));
        // Fraction to the boundary x > 0.
        let mut t = 1.0_f64;
        for (s, v) in step.iter().zip(&x) {
            if *s > 0.0 {
                t = t.min(0.9 * v / s);
            }
        }
        let f0 = potential(&x);
        let mut next: Vec<f64>;
        loop {
            next = x.iter().zip(&step).map(|(v, s)| v - t * s).collect();
            // Close to the solution f cannot resolve the decrease: take the Newton step.
            if relative < 1e-3 || potential(&next) <= f0 - 1e-4 * t * decrement {
                break;
            }
            t *= 0.5;
            if t < 1e-12 {
                break;
            }
        }
        if next.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
            break;
        }
        x = next;
        if relative < 1e-14 {
            break;
        }
    }
    let rhs: Vec<f64> = x.iter().map(|v| v.powf(-e)).collect();
    let residual = mat_vec(g, &x)
        .iter()
        .zip(&rhs)
        .map(|(s, r)| (s - r).powi(2))
        .sum::<f64>()
        .sqrt();
    let size = rhs.iter().map(|r| r * r).sum::<f64>().sqrt();
    if x.iter().all(|v| v.is_finite() && *v > 0.0) && residual <= 1e-8 * size {
        Ok(x)
    } else {
        Err(WeightingError(format!(
            "{name}: the weight solver did not converge (relative residual {:e}); the \
             gradients are nearly cancelling",
            residual / size
        )))
    }
}

/// CAGrad's inner problem: argmin over w ∈ simplex of bᵀw + c·√(wᵀGw + 1e-8) (c > 0).
///
/// With √(q + ε) = min over s > 0 of ((q + ε)/s + s)/2 the problem becomes
/// min over s of φ(s), φ(s) = min over w of bᵀw + (c/2)·((wᵀGw + ε)/s + s): for fixed s a
/// simplex QP, and φ is convex in s with φ′(s) ∝ s² − (q(s) + ε), where q(s) = wᵀGw at the
/// inner minimiser (unique, because the point Σ wₖ gₖ is). So s* is the root of that
/// increasing function, found by bisection on [√ε, √(max Gₖₖ + ε)] to full precision, and
/// the answer is w(s*).
fn cagrad_weights(g: &[Vec<f64>], b: &[f64], c: f64) -> Vec<f64> {
    const EPS: f64 = 1e-8;
    let k = b.len();
    if k <= 1 {
        return vec![1.0; k];
    }
    let objective = |w: &[f64]| dot(b, w) + c * (quad_form(g, w) + EPS).sqrt();
    let inner = |s: f64| {
        let scaled: Vec<Vec<f64>> = g
            .iter()
            .map(|row| row.iter().map(|v| v * c / s).collect())
            .collect();
        simplex_qp(&scaled, b)
    };
    let max_diag = g
        .iter()
        .enumerate()
        .fold(0.0_f64, |m, (i, row)| m.max(row[i]));
    let mut lo = EPS.sqrt();
    let mut hi = (max_diag + EPS).sqrt();
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if !(mid > lo && mid < hi) {
            break;
        }
        let w = inner(mid);
        if mid * mid < quad_form(g, &w) + EPS {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 * hi {
            break;
        }
    }
    // Near s* the objective is flat to rounding, so the answer is w(s*), not the best
    // objective value seen; the ends of the search range are kept only as a safeguard.
    let w = inner(0.5 * (lo + hi));
    let value = objective(&w);
    let tol = 1e-12 * (value.abs() + c);
    [inner(EPS.sqrt()), inner((max_diag + EPS).sqrt())]
        .into_iter()
        .find(|cand| objective(cand) < value - tol)
        .unwrap_or(w)
}

// ---------------------------------------------------------------------------------------
// MGDA.
// ---------------------------------------------------------------------------------------

/// MGDA's gradient normaliser (LibMTL `mgda_gn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MgdaNorm {
    /// No normalisation.
    None,
    /// Divide by ‖gₖ‖.
    L2,
    /// Divide by Lₖ.
    Loss,
    /// Divide by Lₖ·‖gₖ‖.
    LossPlus,
}

/// MGDA (Sener & Koltun, "Multi-Task Learning as Multi-Objective Optimization", NeurIPS
/// 2018), with LibMTL's MinNormSolver semantics: the gradients are divided by the
/// normaliser (`mgda_gn`) first, the weights w are the minimum-norm point of their convex
/// hull (on the simplex, returned as `weights`), and the shared gradient is Σ wₖ·gₖ/nₖ on
/// the normalised gradients (so `effective` = wₖ/nₖ). Heads get weight 1.
///
/// - K = 2: LibMTL's closed form, including its clipping of a one-sided optimum to
///   0.999 / 0.001, so the output equals LibMTL's.
/// - K ≥ 3: solved exactly by an active-set method (`simplex_qp`) instead of LibMTL's 250
///   projected-gradient steps, so ‖d‖² is never larger than LibMTL's. When the minimiser
///   is not unique (collinear gradients) the point d is still unique.
/// - Degenerate inputs: a zero gradient under `l2` or `loss+` keeps normaliser 1 (LibMTL
///   divides by 0 and gets NaN); it then makes d = 0, which is MGDA's answer when one task
///   is already stationary. `loss` and `loss+` need positive losses (an error otherwise).
///   All-zero gradients give d = 0 (uniform weights for K ≥ 3, LibMTL's 0.999 / 0.001 for
///   K = 2).
#[derive(Debug)]
pub struct Mgda {
    /// Number of tasks K.
    k: usize,
    /// The normaliser.
    norm: MgdaNorm,
}

impl Mgda {
    /// The normalisers nₖ (K, positive).
    fn normalisers(&self, grads: &[Vec<f64>], losses: &[f64]) -> Result<Vec<f64>, WeightingError> {
        let needs_loss = matches!(self.norm, MgdaNorm::Loss | MgdaNorm::LossPlus);
        if needs_loss && let Some(i) = losses.iter().position(|l| *l <= 0.0) {
            return Err(WeightingError(format!(
                "mgda: mgda_gn = loss/loss+ divides by the task loss, which must be positive \
                 (task {i} has loss {})",
                losses[i]
            )));
        }
        let length = |g: &Vec<f64>| {
            let n = dot(g, g).sqrt();
            if n > 0.0 { n } else { 1.0 }
        };
        Ok(match self.norm {
            MgdaNorm::None => vec![1.0; self.k],
            MgdaNorm::L2 => grads.iter().map(length).collect(),
            MgdaNorm::Loss => losses.to_vec(),
            MgdaNorm::LossPlus => grads
                .iter()
                .zip(losses)
                .map(|(g, l)| l * length(g))
                .collect(),
        })
    }
}

/// LibMTL's two-vector min-norm step (`_min_norm_element_from2`): the weight γ on v₁ in
/// γ·v₁ + (1 − γ)·v₂ of least norm, clipped to 0.999 / 0.001 at the ends.
fn min_norm_pair(v1v1: f64, v1v2: f64, v2v2: f64) -> f64 {
    if v1v2 >= v1v1 {
        0.999
    } else if v1v2 >= v2v2 {
        0.001
    } else {
        (v2v2 - v1v2) / (v1v1 + v2v2 - 2.0 * v1v2)
    }
}

impl Strategy for Mgda {
    fn name(&self) -> &'static str {
        "mgda"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let (grads, _) = checked_input("mgda", input, self.k)?;
        let norms = self.normalisers(grads, input.losses)?;
        let scaled: Vec<Vec<f64>> = grads
            .iter()
            .zip(&norms)
            .map(|(g, n)| g.iter().map(|v| v / n).collect())
            .collect();
        let m = gramian(&scaled);
        if m.iter().flatten().any(|x| !x.is_finite()) {
            return Err(WeightingError(
                "mgda: the normalised gradients overflow (losses too small?)".to_owned(),
            ));
        }
        let weights = match self.k {
            1 => vec![1.0],
            2 => {
                let gamma = min_norm_pair(m[0][0], m[0][1], m[1][1]);
                vec![gamma, 1.0 - gamma]
            }
            k => simplex_qp(&m, &vec![0.0; k]),
        };
        let effective: Vec<f64> = weights.iter().zip(&norms).map(|(w, n)| w / n).collect();
        finite_output(
            "mgda",
            StepOutput {
                shared_grad: Some(weighted_sum(&scaled, &weights)),
                weights,
                effective,
                head_weights: vec![1.0; self.k],
            },
        )
    }
}

// ---------------------------------------------------------------------------------------
// CAGrad.
// ---------------------------------------------------------------------------------------

/// CAGrad (Liu, Liu, Jin, Stone, Liu, "Conflict-Averse Gradient Descent for Multi-task
/// Learning", NeurIPS 2021), as LibMTL `CAGrad`: with g₀ the mean gradient,
/// c = calpha·√(mean(G) + 1e-8) + 1e-8 and bₖ = (G·1/K)ₖ, the weights w minimise
/// bᵀw + c·√(wᵀGw + 1e-8) over the simplex; then gw = Σ wₖgₖ, λ = c/(‖gw‖ + 1e-8) and
/// d = (g₀ + λ·gw)/divisor, divisor = 1, 1 + calpha² or 1 + calpha for rescale 0, 1, 2.
///
/// `weights` = w (as LibMTL returns); `effective` = (1/K + λ·wₖ)/divisor; heads get 1.
/// LibMTL runs SciPy's SLSQP from 1/K with a loose tolerance; here the problem is solved
/// exactly (`cagrad_weights`), so the objective is never worse. The point gw is unique,
/// so d is too, even when w is not. Zero or cancelling gradients give finite results (the
/// 1e-8 terms keep every division finite).
#[derive(Debug)]
pub struct CaGrad {
    /// Number of tasks K.
    k: usize,
    /// calpha (≥ 0).
    calpha: f64,
    /// 1, 1 + calpha² or 1 + calpha (rescale 0, 1, 2).
    divisor: f64,
}

impl Strategy for CaGrad {
    fn name(&self) -> &'static str {
        "cagrad"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let (grads, g) = checked_input("cagrad", input, self.k)?;
        let k = self.k as f64;
        let mean_g = g.iter().flatten().sum::<f64>() / (k * k);
        let c = self.calpha * (mean_g + 1e-8).sqrt() + 1e-8;
        let b: Vec<f64> = g.iter().map(|row| row.iter().sum::<f64>() / k).collect();
        let w = cagrad_weights(&g, &b, c);
        let gw = weighted_sum(grads, &w);
        let lambda = c / (dot(&gw, &gw).sqrt() + 1e-8);
        let mean = weighted_sum(grads, &vec![1.0 / k; self.k]);
        let shared: Vec<f64> = mean
            .iter()
            .zip(&gw)
            .map(|(m, v)| (m + lambda * v) / self.divisor)
            .collect();
        let effective: Vec<f64> = w
            .iter()
            .map(|wk| (1.0 / k + lambda * wk) / self.divisor)
            .collect();
        finite_output(
            "cagrad",
            StepOutput {
                shared_grad: Some(shared),
                weights: w,
                effective,
                head_weights: vec![1.0; self.k],
            },
        )
    }
}

// ---------------------------------------------------------------------------------------
// Nash-MTL.
// ---------------------------------------------------------------------------------------

/// Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022), as LibMTL
/// `Nash_MTL`: α > 0 solves αₖ·(Gα)ₖ = 1 with the unnormalised Gramian (the fixed point
/// LibMTL's cvxpy problem actually encodes), α is rounded to float32 as LibMTL does, the
/// loss is Σ αₖLₖ (heads get weight αₖ), and the shared gradient Σ αₖgₖ is clipped like
/// `clip_grad_norm_(max_norm)`: multiplied by max_norm/(‖·‖ + 1e-6) when that is below 1.
///
/// State: the last α (init ones) and a step counter. α is re-solved every
/// `update_weights_every` steps, warm-started from the last one; in between the last α is
/// reused. LibMTL's sequence of at most `optim_niter` ECOS solves is replaced by an exact
/// Newton solve (`fair_solve` with exponent 1), so `optim_niter` has no effect.
/// `weights` = `head_weights` = α; `effective` = α times the clipping factor.
///
/// Degenerate inputs: when the zero vector lies in the convex hull of the gradients (a zero
/// gradient, exactly opposite gradients, …) no finite α exists (LibMTL's solver fails);
/// `combine` returns an error and leaves the state unchanged.
#[derive(Debug)]
pub struct NashMtl {
    /// Number of tasks K.
    k: usize,
    /// Re-solve every this many steps.
    every: usize,
    /// Clip norm of the shared gradient (0 = none).
    max_norm: f64,
    /// Steps taken.
    step: usize,
    /// The last α (K, full precision), the warm start.
    alpha: Vec<f64>,
}

impl Strategy for NashMtl {
    fn name(&self) -> &'static str {
        "nash_mtl"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let (grads, g) = checked_input("nash_mtl", input, self.k)?;
        let alpha = if self.step.is_multiple_of(self.every) {
            fair_solve("nash_mtl", &g, 1.0, &self.alpha)?
        } else {
            self.alpha.clone()
        };
        // LibMTL casts α to float32 before using it.
        let alpha32: Vec<f64> = alpha.iter().map(|&a| f64::from(a as f32)).collect();
        let mut shared = weighted_sum(grads, &alpha32);
        let mut factor = 1.0;
        if self.max_norm > 0.0 {
            let coef = self.max_norm / (dot(&shared, &shared).sqrt() + 1e-6);
            if coef < 1.0 {
                factor = coef;
                for v in &mut shared {
                    *v *= coef;
                }
            }
        }
        let out = finite_output(
            "nash_mtl",
            StepOutput {
                shared_grad: Some(shared),
                effective: alpha32.iter().map(|a| a * factor).collect(),
                head_weights: alpha32.clone(),
                weights: alpha32,
            },
        )?;
        self.alpha = alpha;
        self.step += 1;
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------
// FairGrad.
// ---------------------------------------------------------------------------------------

/// FairGrad (Ban & Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024), as
/// LibMTL `FairGrad`: x > 0 solves (Gx)ₖ = xₖ^(−1/α) (α = `FairGrad_alpha`), the loss is
/// Σ xₖLₖ, so the shared gradient is Σ xₖgₖ and heads get weight xₖ; `weights` =
/// `effective` = `head_weights` = x.
///
/// LibMTL calls SciPy's `least_squares` from 1/K on every step; here the same equations are
/// solved exactly by Newton's method on their convex potential (`fair_solve`), also from
/// 1/K (no state). Degenerate inputs: when the zero vector lies in the convex hull of the
/// gradients (a zero gradient, exactly opposite gradients, …) no finite solution exists
/// (LibMTL's least squares stops at huge, arbitrary weights); `combine` returns an error.
#[derive(Debug)]
pub struct FairGrad {
    /// Number of tasks K.
    k: usize,
    /// The fairness exponent α > 0.
    alpha: f64,
}

impl Strategy for FairGrad {
    fn name(&self) -> &'static str {
        "fairgrad"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let (grads, g) = checked_input("fairgrad", input, self.k)?;
        let start = vec![1.0 / self.k as f64; self.k];
        let x = fair_solve("fairgrad", &g, self.alpha, &start)?;
        finite_output(
            "fairgrad",
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &x)),
                weights: x.clone(),
                effective: x.clone(),
                head_weights: x,
            },
        )
    }
}

// ---------------------------------------------------------------------------------------
// UPGrad.
// ---------------------------------------------------------------------------------------

/// UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", arXiv
/// 2406.16232, 2024), as LibMTL `UPGrad` (adapted from TorchJD): H = G/tr(G) (or 0 when
/// tr(G) < `UPGrad_norm_eps`) plus `UPGrad_reg_eps`·I; for every task i,
/// vⁱ = argmin vᵀHv subject to v ≥ eᵢ/K; the weights are w = Σᵢ vⁱ and the shared gradient
/// is Σ wₖgₖ (the mean of the gradients' projections onto the dual cone). `weights` =
/// `effective` = w; heads get 1.
///
/// Each QP is solved exactly by an active-set method (`nonneg_qp` on v − eᵢ/K) instead of
/// quadprog, with the same result. With `UPGrad_reg_eps` = 0 and a singular G the QPs are
/// still bounded (the linear term lies in the range of H), so every input gives a finite
/// answer; all-zero gradients give w = 1/K each and d = 0.
#[derive(Debug)]
pub struct UpGrad {
    /// Number of tasks K.
    k: usize,
    /// Trace threshold.
    norm_eps: f64,
    /// Diagonal regularisation.
    reg_eps: f64,
}

impl UpGrad {
    /// The UPGrad weights (K) for a Gramian G (K × K).
    fn weights(&self, g: &[Vec<f64>]) -> Vec<f64> {
        let k = self.k;
        let trace: f64 = (0..k).map(|i| g[i][i]).sum();
        let mut h: Vec<Vec<f64>> = if trace < self.norm_eps {
            vec![vec![0.0; k]; k]
        } else {
            g.iter()
                .map(|row| row.iter().map(|v| v / trace).collect())
                .collect()
        };
        for (i, row) in h.iter_mut().enumerate() {
            row[i] += self.reg_eps;
        }
        let mut w = vec![0.0; k];
        for i in 0..k {
            // v = u + y with u = eᵢ/K and y ≥ 0: minimise ½yᵀHy + (Hu)ᵀy.
            let u = 1.0 / k as f64;
            let p: Vec<f64> = h.iter().map(|row| row[i] * u).collect();
            let y = nonneg_qp(&h, &p);
            for (j, (wj, yj)) in w.iter_mut().zip(&y).enumerate() {
                *wj += yj + if i == j { u } else { 0.0 };
            }
        }
        w
    }
}

impl Strategy for UpGrad {
    fn name(&self) -> &'static str {
        "upgrad"
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let (grads, g) = checked_input("upgrad", input, self.k)?;
        let w = self.weights(&g);
        finite_output(
            "upgrad",
            StepOutput {
                shared_grad: Some(weighted_sum(grads, &w)),
                weights: w.clone(),
                effective: w,
                head_weights: vec![1.0; self.k],
            },
        )
    }
}

// ---------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng as _};
    use rand_distr::StandardNormal;

    use super::*;

    /// TorchJD's test Jacobian (2 × 3).
    fn j2() -> Vec<Vec<f64>> {
        vec![vec![-4.0, 1.0, 1.0], vec![6.0, 1.0, 1.0]]
    }

    /// The 3-task Jacobian of §1.4 (3 × 4).
    fn j3() -> Vec<Vec<f64>> {
        vec![
            vec![1.0, 0.0, 0.0, 2.0],
            vec![-1.0, 1.0, 0.0, 0.0],
            vec![0.0, -1.0, 1.0, 1.0],
        ]
    }

    fn params(pairs: &[(&str, serde_json::Value)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn run(key: &str, p: &Params, grads: &[Vec<f64>], losses: &[f64]) -> StepOutput {
        try_run(key, p, grads, losses).unwrap()
    }

    fn try_run(
        key: &str,
        p: &Params,
        grads: &[Vec<f64>],
        losses: &[f64],
    ) -> Result<StepOutput, WeightingError> {
        let mut s = build(key, p, grads.len()).unwrap()?;
        let input = StepInput {
            epoch: 0,
            losses,
            grads: Some(grads),
            loss_history: &[],
            rep_value: None,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        s.combine(&input, &mut rng)
    }

    fn close(got: &[f64], want: &[f64], tol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() <= tol, "{what}: got {got:?}, want {want:?}");
        }
    }

    fn random_grads(rng: &mut ChaCha8Rng, k: usize, d: usize) -> Vec<Vec<f64>> {
        (0..k)
            .map(|_| {
                (0..d)
                    .map(|_| rng.sample::<f64, _>(StandardNormal))
                    .collect()
            })
            .collect()
    }

    fn assert_finite(out: &StepOutput, what: &str) {
        let all = out
            .weights
            .iter()
            .chain(&out.effective)
            .chain(&out.head_weights)
            .chain(out.shared_grad.iter().flatten());
        for v in all {
            assert!(v.is_finite(), "{what}: non-finite output {out:?}");
        }
    }

    #[test]
    fn golden_two_tasks() {
        let j = j2();
        let l = [1.0, 2.0];
        let none = Params::new();
        let out = run("mgda", &none, &j, &l);
        close(&out.weights, &[0.6, 0.4], 1e-12, "mgda weights");
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.0, 1.0, 1.0],
            1e-12,
            "mgda d",
        );

        let out = run("cagrad", &none, &j, &l);
        close(&out.weights, &[1.0, 0.0], 1e-9, "cagrad inner w");
        close(&out.effective, &[0.5633, 0.4], 1e-4, "cagrad coefficients");
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.1468, 0.9633, 0.9633],
            1e-4,
            "cagrad d",
        );

        let out = run("nash_mtl", &none, &j, &l);
        close(&out.weights, &[0.5915, 0.4071], 1e-4, "nash alpha");
        close(&out.head_weights, &out.weights.clone(), 0.0, "nash heads");
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.0542, 0.7061, 0.7061],
            1e-4,
            "nash clipped d",
        );

        let out = run("fairgrad", &none, &j, &l);
        close(&out.weights, &[0.5915, 0.4071], 1e-4, "fairgrad a=1");
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.0766, 0.9985, 0.9985],
            1e-4,
            "fairgrad a=1 d",
        );
        let two = params(&[("FairGrad_alpha", 2.0.into())]);
        let out = run("fairgrad", &two, &j, &l);
        close(&out.weights, &[0.4714, 0.3195], 1e-4, "fairgrad a=2");
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.0313, 0.7908, 0.7908],
            1e-4,
            "fairgrad a=2 d",
        );

        let out = run("upgrad", &none, &j, &l);
        close(&out.weights, &[1.1109, 0.7894], 1e-4, "upgrad weights");
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.2929, 1.9004, 1.9004],
            1e-4,
            "upgrad d",
        );
    }

    #[test]
    fn golden_three_tasks() {
        let j = j3();
        let l = [1.0, 1.0, 1.0];
        let none = Params::new();
        let out = run("mgda", &none, &j, &l);
        close(
            &out.weights,
            &[1.0 / 9.0, 5.0 / 9.0, 1.0 / 3.0],
            1e-12,
            "mgda w",
        );
        let d = out.shared_grad.unwrap();
        for g in &j {
            assert!((dot(g, &d) - 2.0 / 3.0).abs() < 1e-12, "mgda: g·d = ‖d‖²");
        }
        let out = run("cagrad", &none, &j, &l);
        close(
            &out.effective,
            &[0.2667, 0.5648, 0.2667],
            1e-4,
            "cagrad coefficients",
        );
        let out = run("nash_mtl", &none, &j, &l);
        close(&out.weights, &[0.428, 1.0106, 0.6037], 1e-4, "nash alpha");
        let out = run("upgrad", &none, &j, &l);
        close(&out.weights, &[0.3636, 0.6665, 0.4242], 1e-4, "upgrad w");
        let d = out.shared_grad.unwrap();
        let jd: Vec<f64> = j.iter().map(|g| dot(g, &d)).collect();
        close(&jd, &[2.0, 0.545, 1.333], 1e-3, "upgrad J d");
    }

    /// Every method on zero, identical, opposite, collinear and single-task inputs: a finite
    /// answer or (Nash-MTL, FairGrad without a solution) a clear error, never NaN.
    #[test]
    fn degenerate_inputs_never_give_nan() {
        let g = vec![1.0, -2.0, 0.5];
        let neg: Vec<f64> = g.iter().map(|v| -v).collect();
        let cases: Vec<(&str, Vec<Vec<f64>>, bool)> = vec![
            (
                "zero",
                vec![vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]],
                false,
            ),
            (
                "one zero",
                vec![g.clone(), vec![0.0; 3], neg.clone()],
                false,
            ),
            ("identical", vec![g.clone(), g.clone(), g.clone()], true),
            ("opposite", vec![g.clone(), neg.clone()], false),
            (
                "collinear",
                vec![g.clone(), g.iter().map(|v| 3.0 * v).collect()],
                true,
            ),
            ("single", vec![g.clone()], true),
            ("single zero", vec![vec![0.0; 3]], false),
            ("empty d", vec![vec![], vec![]], false),
        ];
        let gns = ["none", "l2", "loss", "loss+"];
        for (what, grads, solvable) in &cases {
            let losses = vec![0.7; grads.len()];
            for gn in gns {
                let p = params(&[("mgda_gn", gn.into())]);
                let out = run("mgda", &p, grads, &losses);
                assert_finite(&out, &format!("mgda {gn} {what}"));
                let s: f64 = out.weights.iter().sum();
                assert!((s - 1.0).abs() < 1e-12, "mgda {gn} {what}: simplex");
            }
            for key in ["cagrad", "upgrad"] {
                let out = run(key, &Params::new(), grads, &losses);
                assert_finite(&out, &format!("{key} {what}"));
            }
            for key in ["nash_mtl", "fairgrad"] {
                match try_run(key, &Params::new(), grads, &losses) {
                    Ok(out) => {
                        assert!(*solvable, "{key} {what}: should have failed");
                        assert_finite(&out, &format!("{key} {what}"));
                    }
                    Err(e) => {
                        assert!(!*solvable, "{key} {what}: unexpected error {e}");
                        assert!(e.0.starts_with(key), "{key}: message names the method");
                    }
                }
            }
        }
    }

    #[test]
    fn mgda_l2_zero_gradient_falls_back_to_zero_step() {
        let grads = vec![vec![1.0, 2.0], vec![0.0, 0.0], vec![-1.0, 0.5]];
        let p = params(&[("mgda_gn", "l2".into())]);
        let out = run("mgda", &p, &grads, &[1.0, 1.0, 1.0]);
        close(
            &out.weights,
            &[0.0, 1.0, 0.0],
            1e-12,
            "weight on the zero gradient",
        );
        close(
            out.shared_grad.as_ref().unwrap(),
            &[0.0, 0.0],
            1e-15,
            "d = 0",
        );
        let out = run("mgda", &p, &grads[..2], &[1.0, 1.0]);
        assert_finite(&out, "K = 2 with a zero gradient");
    }

    #[test]
    fn bad_parameters_and_losses_are_errors() {
        let bad = [
            ("mgda", params(&[("mgda_gn", "l1".into())])),
            ("mgda", params(&[("mgda_gn", 2.0.into())])),
            ("cagrad", params(&[("rescale", 3.0.into())])),
            ("cagrad", params(&[("calpha", (-1.0).into())])),
            ("nash_mtl", params(&[("update_weights_every", 0.5.into())])),
            ("fairgrad", params(&[("FairGrad_alpha", 0.0.into())])),
            ("upgrad", params(&[("UPGrad_reg_eps", (-1.0).into())])),
            ("upgrad", params(&[("order", "identity".into())])),
        ];
        for (key, p) in &bad {
            assert!(
                build(key, p, 2).unwrap().is_err(),
                "{key} {p:?} should fail"
            );
        }
        assert!(
            build("upgrad", &Params::new(), 0).unwrap().is_err(),
            "K = 0"
        );
        assert!(build("pcgrad", &Params::new(), 2).is_none(), "other family");
        let p = params(&[("mgda_gn", "loss".into())]);
        assert!(
            try_run("mgda", &p, &j2(), &[1.0, 0.0]).is_err(),
            "loss normaliser needs positive losses"
        );
    }

    /// MGDA and UPGrad never increase a task's loss to first order: gₖ·d ≥ 0.
    #[test]
    fn mgda_and_upgrad_are_non_conflicting() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for trial in 0..300 {
            let k = 2 + trial % 7;
            let d = 1 + trial % 5;
            let grads = random_grads(&mut rng, k, d);
            let losses: Vec<f64> = (0..k).map(|_| rng.random_range(0.1..3.0)).collect();
            // UPGrad's guarantee is exact without the regulariser ε (UPGrad_reg_eps = 0).
            for (key, p) in [
                ("mgda", params(&[("mgda_gn", "none".into())])),
                ("mgda", params(&[("mgda_gn", "l2".into())])),
                ("mgda", params(&[("mgda_gn", "loss".into())])),
                ("mgda", params(&[("mgda_gn", "loss+".into())])),
                ("upgrad", params(&[("UPGrad_reg_eps", 0.0.into())])),
            ] {
                let out = run(key, &p, &grads, &losses);
                let dir = out.shared_grad.unwrap();
                for (i, g) in grads.iter().enumerate() {
                    assert!(
                        dot(g, &dir) >= -1e-9,
                        "{key} trial {trial}: task {i} conflicts: {}",
                        dot(g, &dir)
                    );
                }
            }
            // With LibMTL's default ε = 1e-4 on the trace-normalised Gramian the KKT
            // conditions give gₖ·d ≥ -ε·tr(G)·wₖ.
            let out = run("upgrad", &Params::new(), &grads, &losses);
            let dir = out.shared_grad.unwrap();
            let trace: f64 = grads.iter().map(|g| dot(g, g)).sum();
            for (i, g) in grads.iter().enumerate() {
                let bound = -1e-4 * trace * out.weights[i] - 1e-9;
                assert!(
                    dot(g, &dir) >= bound,
                    "upgrad default trial {trial}: task {i}"
                );
            }
        }
    }

    /// Permuting the tasks permutes the weights (generic inputs, unique solutions).
    #[test]
    fn permuting_tasks_permutes_weights() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for trial in 0..100 {
            let k = 3 + trial % 5;
            let grads = random_grads(&mut rng, k, k + 2);
            let losses: Vec<f64> = (0..k).map(|_| rng.random_range(0.1..3.0)).collect();
            let mut perm: Vec<usize> = (0..k).collect();
            rand::seq::SliceRandom::shuffle(perm.as_mut_slice(), &mut rng);
            let pg: Vec<Vec<f64>> = perm.iter().map(|&i| grads[i].clone()).collect();
            let pl: Vec<f64> = perm.iter().map(|&i| losses[i]).collect();
            for key in ["mgda", "upgrad", "cagrad", "nash_mtl", "fairgrad"] {
                let a = run(key, &Params::new(), &grads, &losses);
                let b = run(key, &Params::new(), &pg, &pl);
                let want: Vec<f64> = perm.iter().map(|&i| a.weights[i]).collect();
                let scale = a.weights.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
                close(
                    &b.weights,
                    &want,
                    1e-7 * scale,
                    &format!("{key} trial {trial}"),
                );
            }
        }
    }

    /// Accelerated projected gradient (FISTA), a simple independent reference.
    fn simplex_reference(q: &[Vec<f64>], p: &[f64]) -> f64 {
        let k = p.len();
        let lip = q
            .iter()
            .map(|r| r.iter().map(|v| v.abs()).sum::<f64>())
            .fold(1e-12, f64::max);
        let mut x = vec![1.0 / k as f64; k];
        let mut z = x.clone();
        let mut t = 1.0_f64;
        for _ in 0..5000 {
            let grad: Vec<f64> = mat_vec(q, &z).iter().zip(p).map(|(a, b)| a + b).collect();
            let y: Vec<f64> = z.iter().zip(&grad).map(|(v, g)| v - g / lip).collect();
            let next = project_simplex(&y);
            let t_next = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
            z = next
                .iter()
                .zip(&x)
                .map(|(a, b)| a + (t - 1.0) / t_next * (a - b))
                .collect();
            x = next;
            t = t_next;
        }
        0.5 * quad_form(q, &x) + dot(p, &x)
    }

    fn project_simplex(y: &[f64]) -> Vec<f64> {
        let mut s = y.to_vec();
        s.sort_by(|a, b| b.total_cmp(a));
        let mut sum = 0.0;
        let mut theta = 0.0;
        for (i, v) in s.iter().enumerate() {
            sum += v;
            let t = (sum - 1.0) / (i + 1) as f64;
            if v - t > 0.0 {
                theta = t;
            }
        }
        y.iter().map(|v| (v - theta).max(0.0)).collect()
    }

    #[test]
    fn simplex_qp_is_exact_on_singular_and_regular_problems() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for trial in 0..60 {
            let k = 3 + trial % 8;
            let d = 1 + trial % 6;
            let mut grads = random_grads(&mut rng, k, d);
            if trial % 4 == 0 {
                grads[1] = grads[0].clone();
            }
            let q = gramian(&grads);
            // p in the range of Q, as in every use (MGDA: 0, CAGrad: G·1/K).
            let r: Vec<f64> = (0..k)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect();
            let p: Vec<f64> = if trial % 2 == 0 {
                vec![0.0; k]
            } else {
                mat_vec(&q, &r)
            };
            let x = simplex_qp(&q, &p);
            assert!(x.iter().all(|v| *v >= 0.0), "feasible");
            assert!(
                (x.iter().sum::<f64>() - 1.0).abs() < 1e-12,
                "on the simplex"
            );
            // KKT: the reduced gradient is λ on the support and at least λ elsewhere.
            let grad: Vec<f64> = mat_vec(&q, &x).iter().zip(&p).map(|(a, b)| a + b).collect();
            let lambda = dot(&x, &grad);
            let scale = max_abs(&q, &p);
            for (xi, gi) in x.iter().zip(&grad) {
                assert!(
                    *gi >= lambda - 1e-10 * scale,
                    "trial {trial}: dual feasible"
                );
                if *xi > 1e-12 {
                    assert!(
                        (gi - lambda).abs() <= 1e-10 * scale,
                        "trial {trial}: support"
                    );
                }
            }
            let value = 0.5 * quad_form(&q, &x) + dot(&p, &x);
            let reference = simplex_reference(&q, &p);
            assert!(
                value <= reference + 1e-10,
                "trial {trial}: {value} vs reference {reference}"
            );
        }
    }

    #[test]
    fn nonneg_qp_satisfies_kkt() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for trial in 0..100 {
            let k = 2 + trial % 9;
            let grads = random_grads(&mut rng, k, 1 + trial % 6);
            let mut q = gramian(&grads);
            for (i, row) in q.iter_mut().enumerate() {
                row[i] += 1e-4;
            }
            let p: Vec<f64> = (0..k)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect();
            let y = nonneg_qp(&q, &p);
            let grad: Vec<f64> = mat_vec(&q, &y).iter().zip(&p).map(|(a, b)| a + b).collect();
            let size = y.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            for i in 0..k {
                assert!(y[i] >= 0.0, "trial {trial}: feasible");
                assert!(grad[i] >= -1e-9, "trial {trial}: dual feasible {grad:?}");
                assert!(
                    (y[i] * grad[i]).abs() <= 1e-9 * size,
                    "trial {trial}: complementary"
                );
            }
        }
    }

    /// Nash-MTL's balance equations and the invariant ‖Σ αₖgₖ‖² = K (before the clip), also
    /// across warm-started steps with very different scales.
    #[test]
    fn nash_solves_the_balance_equations_across_steps() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let k = 5;
        let none = params(&[("max_norm", 0.0.into())]);
        let mut s = build("nash_mtl", &none, k).unwrap().unwrap();
        for step in 0..20 {
            let scale = 10f64.powi(step % 7 - 3);
            let grads: Vec<Vec<f64>> = random_grads(&mut rng, k, 8)
                .into_iter()
                .map(|g| g.iter().map(|v| v * scale).collect())
                .collect();
            let losses = vec![1.0; k];
            let input = StepInput {
                epoch: 0,
                losses: &losses,
                grads: Some(&grads),
                loss_history: &[],
                rep_value: None,
            };
            let out = s
                .combine(&input, &mut ChaCha8Rng::seed_from_u64(0))
                .unwrap();
            let d = out.shared_grad.unwrap();
            let norm2 = dot(&d, &d);
            assert!(
                (norm2 - k as f64).abs() < 1e-5,
                "step {step}: ‖d‖² = {norm2}"
            );
            for (g, a) in grads.iter().zip(&out.weights) {
                assert!((a * dot(g, &d) - 1.0).abs() < 1e-5, "step {step}: balance");
            }
        }
    }

    #[test]
    fn fairgrad_solves_its_equations_for_several_alphas() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        for trial in 0..60 {
            let k = 2 + trial % 6;
            let grads = random_grads(&mut rng, k, k + 3);
            let alpha = [0.5, 1.0, 2.0, 5.0][trial % 4];
            let p = params(&[("FairGrad_alpha", alpha.into())]);
            let out = run("fairgrad", &p, &grads, &vec![1.0; k]);
            let g = gramian(&grads);
            let gx = mat_vec(&g, &out.weights);
            for (lhs, x) in gx.iter().zip(&out.weights) {
                let rhs = x.powf(-1.0 / alpha);
                assert!(
                    (lhs - rhs).abs() <= 1e-10 * rhs,
                    "trial {trial}: {lhs} vs {rhs}"
                );
            }
        }
    }

    #[test]
    fn cagrad_beats_a_fine_grid_for_two_tasks() {
        let mut rng = ChaCha8Rng::seed_from_u64(17);
        for trial in 0..40 {
            let grads = random_grads(&mut rng, 2, 3);
            let g = gramian(&grads);
            let b: Vec<f64> = g.iter().map(|r| r.iter().sum::<f64>() / 2.0).collect();
            let c = 0.5 * ((g.iter().flatten().sum::<f64>() / 4.0) + 1e-8).sqrt() + 1e-8;
            let f = |w: &[f64]| dot(&b, w) + c * (quad_form(&g, w) + 1e-8).sqrt();
            let w = cagrad_weights(&g, &b, c);
            let grid = (0..=100_000)
                .map(|i| {
                    let t = f64::from(i) / 100_000.0;
                    f(&[t, 1.0 - t])
                })
                .fold(f64::INFINITY, f64::min);
            assert!(
                f(&w) <= grid + 1e-12,
                "trial {trial}: {} vs grid {grid}",
                f(&w)
            );
        }
    }

    #[test]
    fn nash_reuses_alpha_between_updates() {
        let p = params(&[("update_weights_every", 2.0.into())]);
        let mut s = build("nash_mtl", &p, 2).unwrap().unwrap();
        let a = j2();
        let b: Vec<Vec<f64>> = a
            .iter()
            .map(|g| g.iter().map(|v| 2.0 * v).collect())
            .collect();
        let losses = [1.0, 1.0];
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut step = |grads: &[Vec<f64>]| {
            let input = StepInput {
                epoch: 0,
                losses: &losses,
                grads: Some(grads),
                loss_history: &[],
                rep_value: None,
            };
            s.combine(&input, &mut rng).unwrap().weights
        };
        let first = step(&a);
        let second = step(&b);
        let third = step(&b);
        assert_eq!(first, second, "reused between updates");
        close(&third, &[first[0] / 2.0, first[1] / 2.0], 1e-6, "re-solved");
    }

    #[test]
    fn method_infos_are_complete() {
        let allowed = |c: char| {
            c.is_ascii() || ('\u{391}'..='\u{3c9}').contains(&c) || "∇Σ Π√·×≤≥‖⟨⟩∈∞₀₁₂²".contains(c)
        };
        for m in METHODS {
            assert!(
                build(m.key, &Params::new(), 3).is_some(),
                "{} builds",
                m.key
            );
            assert!(
                m.formula.chars().all(allowed),
                "{}: formula characters",
                m.key
            );
            assert_eq!(m.family, Family::Gradient, "{}: family", m.key);
            for h in m.hypers {
                let p = params(&[(h.name, h.default.into())]);
                assert!(
                    build(m.key, &p, 3).unwrap().is_ok(),
                    "{}: default of {} accepted",
                    m.key,
                    h.name
                );
            }
        }
    }

    /// Random gradients: generic (mode 0), rows scaled over six decades (1), nearly identical
    /// (2) or nearly opposite to the first row (3, ill-conditioned).
    fn hard_grads(rng: &mut ChaCha8Rng, k: usize, d: usize, mode: usize) -> Vec<Vec<f64>> {
        let mut g = random_grads(rng, k, d);
        let base = g[0].clone();
        for (i, row) in g.iter_mut().enumerate().skip(1) {
            for (v, b) in row.iter_mut().zip(&base) {
                match mode {
                    1 => *v *= 10f64.powi((i % 7) as i32 - 3),
                    2 => *v = b + 1e-7 * *v,
                    3 if i % 2 == 1 => *v = -b + 1e-6 * *v,
                    _ => {}
                }
            }
        }
        g
    }

    /// The optimality (KKT) conditions of the simplex problems (MGDA, CAGrad) and of
    /// UPGrad's QPs hold to rounding on hard inputs, up to K = 20.
    #[test]
    fn solvers_meet_kkt_conditions_on_hard_inputs() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for trial in 0..200 {
            let k = 2 + trial % 19;
            let d = 1 + (trial / 3) % 12;
            let mode = trial % 4;
            let gg = gramian(&hard_grads(&mut rng, k, d, mode));
            let scale = (0..k).fold(0.0_f64, |m, i| m.max(gg[i][i]));
            let tol = if mode == 3 { 1e-8 } else { 1e-12 };
            // KKT on the simplex for a gradient `grad` at w.
            let check = |w: &[f64], grad: &[f64], what: &str| {
                let lambda = dot(w, grad);
                for (wi, gi) in w.iter().zip(grad) {
                    assert!(*gi >= lambda - tol * scale, "{what} trial {trial}: dual");
                    if *wi > 0.0 {
                        assert!((gi - lambda).abs() <= tol * scale, "{what} trial {trial}");
                    }
                }
            };
            let w = simplex_qp(&gg, &vec![0.0; k]);
            check(&w, &mat_vec(&gg, &w), "mgda");
            let b: Vec<f64> = gg
                .iter()
                .map(|r| r.iter().sum::<f64>() / k as f64)
                .collect();
            let mean = gg.iter().flatten().sum::<f64>() / (k * k) as f64;
            let c = 0.5 * (mean + 1e-8).sqrt() + 1e-8;
            let w = cagrad_weights(&gg, &b, c);
            let root = (quad_form(&gg, &w) + 1e-8).sqrt();
            let grad: Vec<f64> = b
                .iter()
                .zip(mat_vec(&gg, &w))
                .map(|(bi, gi)| bi + c * gi / root)
                .collect();
            check(&w, &grad, "cagrad");
            let trace: f64 = (0..k).map(|i| gg[i][i]).sum();
            let mut h: Vec<Vec<f64>> = gg
                .iter()
                .map(|r| r.iter().map(|v| v / trace).collect())
                .collect();
            for (i, r) in h.iter_mut().enumerate() {
                r[i] += 1e-4;
            }
            for i in 0..k {
                let p: Vec<f64> = h.iter().map(|r| r[i] / k as f64).collect();
                let y = nonneg_qp(&h, &p);
                let grad: Vec<f64> = mat_vec(&h, &y).iter().zip(&p).map(|(a, b)| a + b).collect();
                let size = y.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
                for (yj, gj) in y.iter().zip(&grad) {
                    assert!(*gj >= -1e-12 * size, "upgrad trial {trial}: dual");
                    if *yj > 0.0 {
                        assert!(gj.abs() <= 1e-12 * size, "upgrad trial {trial}: support");
                    }
                }
            }
            if let Ok(a) = fair_solve("nash_mtl", &gg, 1.0, &vec![1.0; k]) {
                let ga = mat_vec(&gg, &a);
                let bad = a
                    .iter()
                    .zip(&ga)
                    .map(|(x, y)| (x * y - 1.0).abs())
                    .fold(0.0, f64::max);
                let allowed = if mode == 3 { 1e-2 } else { 1e-9 };
                assert!(bad <= allowed, "nash trial {trial}: balance off by {bad:e}");
            } else {
                // Only when the hull (nearly) contains 0: generic K > d or mode 3.
                assert!(k > d || mode == 3, "nash trial {trial}: unexpected error");
            }
        }
    }
}
