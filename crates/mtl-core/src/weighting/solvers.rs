//! The exact solvers the gradient-combination strategies share, for the small problems over
//! the K task weights built from the Gramian G (Gᵢⱼ = gᵢ·gⱼ) of the per-task gradients.
//!
//! LibMTL (commit 4336804) calls iterative or general-purpose solvers for these (its own
//! projected-gradient MinNormSolver, SciPy SLSQP and least squares, cvxpy + ECOS, quadprog).
//! Here each problem is solved exactly, in pure Rust, with methods meant for small K (up to a
//! few dozen tasks): an active-set method for the simplex QP (Wolfe's minimum-norm-point
//! scheme with a linear term; MGDA, CAGrad), Lawson–Hanson's active-set method for the
//! bound-constrained QP (UPGrad), and a damped Newton method on a convex potential for the
//! balance equations of Nash-MTL and FairGrad. The results therefore match LibMTL's outputs
//! where LibMTL is exact (MGDA with K = 2, UPGrad, FairGrad) and are at least as good in the
//! problems' own objectives where LibMTL stops early (MGDA with K ≥ 3, CAGrad, Nash-MTL).
//!
//! # Shapes
//! - K tasks; G and Q: K × K; every weight vector: K

use super::api::{WeightingError, dot};

/// M·x for a K × K matrix M.
pub fn mat_vec(m: &[Vec<f64>], x: &[f64]) -> Vec<f64> {
    m.iter().map(|row| dot(row, x)).collect()
}

/// xᵀ·M·x.
pub fn quad_form(m: &[Vec<f64>], x: &[f64]) -> f64 {
    dot(x, &mat_vec(m, x))
}

/// The largest absolute entry of a matrix and a vector (0 for empty input).
pub fn max_abs(m: &[Vec<f64>], v: &[f64]) -> f64 {
    m.iter()
        .flatten()
        .chain(v)
        .fold(0.0_f64, |acc, x| acc.max(x.abs()))
}

/// Solves A·x = b (n × n) by Gaussian elimination with partial pivoting. Returns `None` when
/// a pivot falls below `rel_tol` times the largest entry of A (numerically singular).
pub fn solve_linear(a: Vec<Vec<f64>>, b: Vec<f64>, rel_tol: f64) -> Option<Vec<f64>> {
    let scale = max_abs(&a, &[]);
    if !(scale > 0.0 && scale.is_finite()) {
        return None;
    }
    solve_pivots_above(a, b, rel_tol * scale)
}

/// Solves A·x = b (n × n) by Gaussian elimination with partial pivoting. Returns `None` when
/// a pivot is not larger than `tiny` in absolute value (numerically singular) or the solution
/// is not finite. The one elimination every solver here uses ([`solve_linear`] with a
/// relative threshold, IMTL with one in the gradients' units).
pub fn solve_pivots_above(mut a: Vec<Vec<f64>>, mut b: Vec<f64>, tiny: f64) -> Option<Vec<f64>> {
    let n = b.len();
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

// Exact solvers for small K.

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
pub fn simplex_qp(q: &[Vec<f64>], p: &[f64]) -> Vec<f64> {
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
pub fn nonneg_qp(q: &[Vec<f64>], p: &[f64]) -> Vec<f64> {
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

/// Squared norm below which the minimum-norm point of the convex hull of the task
/// gradients' *directions* (unit vectors) counts as zero: a direction resolved to about 1e-7,
/// the float32 resolution the gradients are computed in.
const HULL_ZERO_TOL: f64 = 1e-14;

/// Why a balance equation (Nash-MTL, FairGrad) has no positive solution: the zero vector lies
/// in the convex hull of the task gradients, so the current point is Pareto-stationary and
/// no direction lowers every loss.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stationary {
    /// A task gradient is exactly zero.
    ZeroGradient(usize),
    /// The gradients' directions cancel (e.g. two exactly opposite gradients).
    Cancelling,
}

impl Stationary {
    /// The notice a run shows: what happened and what the step did instead.
    pub fn notice(&self, name: &str) -> String {
        let why = match self {
            Self::ZeroGradient(k) => format!("the gradient of task {} is zero", k + 1),
            Self::Cancelling => "the task gradients cancel out (zero lies in their convex hull, \
                                 e.g. exactly opposite gradients)"
                .to_owned(),
        };
        format!(
            "{name}: {why}, so this point is Pareto-stationary and no finite weights exist; \
             the shared parameters were not updated this step (the heads were)"
        )
    }
}

/// The Gramian of the gradients' directions, C = D⁻¹ G D⁻¹ with D = diag(‖gₖ‖), and the
/// norms ‖gₖ‖; [`Stationary`] when a gradient is zero or the directions' hull holds zero.
/// Working with C makes the test independent of the gradients' scales: 0 is in the hull of
/// the gradients exactly when it is in the hull of their directions.
pub fn directions(g: &[Vec<f64>]) -> Result<(Vec<Vec<f64>>, Vec<f64>), Stationary> {
    let norms: Vec<f64> = (0..g.len()).map(|i| g[i][i].max(0.0).sqrt()).collect();
    if let Some(k) = norms.iter().position(|n| !(*n > 0.0 && n.is_finite())) {
        return Err(Stationary::ZeroGradient(k));
    }
    let c: Vec<Vec<f64>> = g
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .enumerate()
                .map(|(j, v)| if i == j { 1.0 } else { v / norms[i] / norms[j] })
                .collect()
        })
        .collect();
    let w = simplex_qp(&c, &vec![0.0; g.len()]);
    if quad_form(&c, &w) <= HULL_ZERO_TOL {
        return Err(Stationary::Cancelling);
    }
    Ok((c, norms))
}

/// Solves (G·x)ₖ = xₖ^(−1/a) for x > 0 (K unknowns, a > 0), starting from `start` (positive).
/// `Ok(Err(_))` when no positive solution exists (the zero vector is in the gradients'
/// convex hull, see [`directions`]): the caller makes a Pareto-stationary step.
///
/// The problem is solved in the units of the gradients' directions: with
/// zₖ = ‖gₖ‖·xₖ and C the Gramian of the unit vectors it reads
/// (C·z)ₖ = bₖ·zₖ^(−1/a), bₖ = ‖gₖ‖^(1/a − 1) (b = 1 for Nash-MTL's a = 1, which is
/// therefore independent of each gradient's length). So gradients 10⁸ times apart, or far
/// from 1 in size, are as well conditioned as unit ones. These are the stationarity
/// conditions of the strictly convex potential f(z) = ½·zᵀCz − Σₖ bₖ·h(zₖ) with
/// h′(z) = z^(−1/a) (h = log for a = 1), coercive when zero is outside the hull. The start
/// is rescaled to the best point on its ray (closed form), then Newton's method with the
/// Hessian C + diag(bₖ·zₖ^(−1/a−1)/a), an Armijo backtracking line search on f and a
/// fraction-to-boundary rule runs to machine precision (quadratic convergence). An error
/// only when Newton did not bring every equation's residual below 1e-10 of the size of its
/// terms (its backward error; not seen in the tests, nearly cancelling gradients included).
pub fn fair_solve(
    name: &str,
    g: &[Vec<f64>],
    a: f64,
    start: &[f64],
) -> Result<Result<Vec<f64>, Stationary>, WeightingError> {
    let (c, norms) = match directions(g) {
        Ok(found) => found,
        Err(why) => return Ok(Err(why)),
    };
    let k = g.len();
    let e = 1.0 / a;
    // bₖ = ‖gₖ‖^(e − 1), scaled to a largest entry of 1 (undone at the end).
    let log_b: Vec<f64> = norms.iter().map(|n| (e - 1.0) * n.ln()).collect();
    let log_max = log_b.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let b: Vec<f64> = log_b.iter().map(|l| (l - log_max).exp()).collect();
    let h = |v: f64| {
        if e == 1.0 {
            v.ln()
        } else {
            v.powf(1.0 - e) / (1.0 - e)
        }
    };
    let potential = |z: &[f64]| {
        0.5 * quad_form(&c, z) - z.iter().zip(&b).map(|(&v, bk)| bk * h(v)).sum::<f64>()
    };

    let mut z: Vec<f64> = if start.len() == k && start.iter().all(|v| v.is_finite() && *v > 0.0) {
        start.iter().zip(&norms).map(|(x, n)| x * n).collect()
    } else {
        vec![1.0; k]
    };
    if z.iter().any(|v| !(v.is_finite() && *v > 0.0)) {
        z = vec![1.0; k];
    }
    // The best multiple τ·z: τ·zᵀCz = τ^(−1/a)·Σ bₖ·zₖ^(1−1/a).
    let curv = quad_form(&c, &z);
    let lin: f64 = z.iter().zip(&b).map(|(v, bk)| bk * v.powf(1.0 - e)).sum();
    let tau = (lin / curv).powf(a / (a + 1.0));
    if tau.is_finite() && tau > 0.0 {
        for v in &mut z {
            *v *= tau;
        }
    }

    for _ in 0..500 {
        let cz = mat_vec(&c, &z);
        let residual: Vec<f64> = cz
            .iter()
            .zip(&z)
            .zip(&b)
            .map(|((s, v), bk)| s - bk * v.powf(-e))
            .collect();
        let mut hessian = c.clone();
        for (i, row) in hessian.iter_mut().enumerate() {
            row[i] += e * b[i] * z[i].powf(-e - 1.0);
        }
        let Some(step) = solve_linear(hessian, residual.clone(), 1e-300) else {
            break;
        };
        let decrement = dot(&residual, &step);
        let relative = step
            .iter()
            .zip(&z)
            .fold(0.0_f64, |m, (s, v)| m.max((s / v).abs()));
        // Fraction to the boundary z > 0.
        let mut t = 1.0_f64;
        for (s, v) in step.iter().zip(&z) {
            if *s > 0.0 {
                t = t.min(0.9 * v / s);
            }
        }
        let f0 = potential(&z);
        let mut next: Vec<f64>;
        loop {
            next = z.iter().zip(&step).map(|(v, s)| v - t * s).collect();
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
        z = next;
        if relative < 1e-14 {
            break;
        }
    }
    // The backward error of each equation: its residual over the size of its terms. Nearly
    // cancelling gradients have huge zₖ whose products (Cz)ₖ cancel to a small number, so
    // the residual can only be resolved to rounding of the terms, not of the result.
    let cz = mat_vec(&c, &z);
    let worst = (0..k)
        .map(|i| {
            let rhs = b[i] * z[i].powf(-e);
            let terms: f64 = c[i].iter().zip(&z).map(|(cij, zj)| (cij * zj).abs()).sum();
            (cz[i] - rhs).abs() / (terms + rhs)
        })
        .fold(0.0_f64, f64::max);
    // Undo the scaling of b (z for max b = 1 times max b^(1/(1+e))), then xₖ = zₖ/‖gₖ‖.
    let t = (log_max / (1.0 + e)).exp();
    let x: Vec<f64> = z.iter().zip(&norms).map(|(v, n)| t * v / n).collect();
    if x.iter().all(|v| v.is_finite() && *v > 0.0) && worst <= 1e-10 {
        Ok(Ok(x))
    } else {
        Err(WeightingError(format!(
            "{name}: the weight solver did not converge (backward error {worst:e}); the \
             gradients are nearly cancelling"
        )))
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng as _;
    use rand::SeedableRng as _;
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    use super::*;
    use crate::weighting::api::gramian;
    use crate::weighting::methods::cagrad::cagrad_weights;
    use crate::weighting::testing::random_grads;

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
            if let Ok(Ok(a)) = fair_solve("nash_mtl", &gg, 1.0, &vec![1.0; k]) {
                // The backward error of (Gα)ₖ = 1/αₖ: nearly opposite gradients (mode 3) have
                // huge α whose products cancel, so only the terms' rounding is resolvable.
                let ga = mat_vec(&gg, &a);
                let bad = (0..k)
                    .map(|i| {
                        let terms: f64 = gg[i].iter().zip(&a).map(|(g, x)| (g * x).abs()).sum();
                        (ga[i] - 1.0 / a[i]).abs() / (terms + 1.0 / a[i])
                    })
                    .fold(0.0, f64::max);
                assert!(bad <= 1e-9, "nash trial {trial}: balance off by {bad:e}");
                if mode != 3 {
                    let forward = a
                        .iter()
                        .zip(&ga)
                        .map(|(x, y)| (x * y - 1.0).abs())
                        .fold(0.0, f64::max);
                    assert!(
                        forward <= 1e-9,
                        "nash trial {trial}: αₖ(Gα)ₖ off by {forward:e}"
                    );
                }
            } else {
                // Only when the hull (nearly) contains 0: generic K > d or mode 3.
                assert!(k > d || mode == 3, "nash trial {trial}: unexpected error");
            }
        }
    }
}
