//! A small linear program over the probability simplex, solved exactly by the two-phase
//! simplex method with Bland's rule (no cycling): EPO's balance and descent problems
//! (Mahapatra & Rajan, ICML 2020, whose code calls cvxpy with GLPK for the same LPs).
//!
//! maximise c·α  subject to  α ≥ 0,  Σα = 1,  aᵢ·α ≥ bᵢ for every row i.
//!
//! Meant for small K (tasks) and a few rows: the tableau is dense.

/// One constraint aᵢ·α ≥ bᵢ.
#[derive(Clone, Debug, PartialEq)]
pub struct AtLeast {
    /// The coefficients aᵢ (K).
    pub a: Vec<f64>,
    /// The bound bᵢ.
    pub b: f64,
}

/// Tolerance on the scaled tableau's entries.
const TOL: f64 = 1e-11;

/// The maximiser of `c`·α over the simplex intersected with `rows`, or `None` when that set
/// is empty (or the input is not finite). Every row is scaled to its largest entry first, so
/// rows in gradient units of very different sizes are handled alike.
pub fn simplex_lp(c: &[f64], rows: &[AtLeast]) -> Option<Vec<f64>> {
    let k = c.len();
    if k == 0 || rows.iter().any(|r| r.a.len() != k) {
        return None;
    }
    if c.iter()
        .chain(rows.iter().flat_map(|r| r.a.iter().chain([&r.b])))
        .any(|v| !v.is_finite())
    {
        return None;
    }
    let m = rows.len();
    // Columns: α (k), slacks (m), artificials (m + 1), then the right-hand side.
    let cols = k + m + m + 1;
    let rhs = cols;
    let mut tab = vec![vec![0.0; cols + 1]; m + 1];
    for (i, row) in rows.iter().enumerate() {
        let scale = row
            .a
            .iter()
            .chain([&row.b])
            .fold(0.0_f64, |s, v| s.max(v.abs()));
        let scale = if scale > 0.0 { scale } else { 1.0 };
        // aᵢ·α − sᵢ = bᵢ, with the sign flipped so the right-hand side is ≥ 0.
        let sign = if row.b < 0.0 { -1.0 } else { 1.0 };
        for (j, v) in row.a.iter().enumerate() {
            tab[i][j] = sign * v / scale;
        }
        tab[i][k + i] = -sign;
        tab[i][k + m + i] = 1.0;
        tab[i][rhs] = sign * row.b / scale;
    }
    for v in &mut tab[m][..k] {
        *v = 1.0;
    }
    tab[m][k + m + m] = 1.0;
    tab[m][rhs] = 1.0;
    let mut basis: Vec<usize> = (0..=m).map(|i| k + m + i).collect();

    // Phase 1: drive the artificials to zero.
    let mut phase1 = vec![0.0; cols];
    for v in &mut phase1[k + m..] {
        *v = -1.0;
    }
    let all = vec![true; cols];
    optimise(&mut tab, &mut basis, &phase1, &all)?;
    let infeasibility: f64 = basis
        .iter()
        .zip(&tab)
        .filter(|(b, _)| **b >= k + m)
        .map(|(_, row)| row[rhs])
        .sum();
    if infeasibility > 1e-9 {
        return None;
    }
    // Artificials left in the basis at zero leave it where a real column can take their row.
    for r in 0..basis.len() {
        if basis[r] >= k + m
            && let Some(j) = (0..k + m).find(|&j| tab[r][j].abs() > TOL)
        {
            pivot(&mut tab, &mut basis, r, j);
        }
    }

    // Phase 2: the objective, artificials barred from entering.
    let scale = c.iter().fold(0.0_f64, |s, v| s.max(v.abs()));
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let mut phase2 = vec![0.0; cols];
    for (p, v) in phase2.iter_mut().zip(c) {
        *p = v / scale;
    }
    let real: Vec<bool> = (0..cols).map(|j| j < k + m).collect();
    optimise(&mut tab, &mut basis, &phase2, &real)?;
    let mut alpha = vec![0.0; k];
    for (row, &b) in tab.iter().zip(&basis) {
        if b < k {
            alpha[b] = row[rhs].max(0.0);
        }
    }
    let sum: f64 = alpha.iter().sum();
    if !(sum > 0.0 && sum.is_finite()) {
        return None;
    }
    Some(alpha.iter().map(|a| a / sum).collect())
}

/// Pivots the tableau on (`r`, `j`): column `j` enters the basis in row `r`.
fn pivot(tab: &mut [Vec<f64>], basis: &mut [usize], r: usize, j: usize) {
    let p = tab[r][j];
    for v in &mut tab[r] {
        *v /= p;
    }
    let pivot_row = tab[r].clone();
    for (i, row) in tab.iter_mut().enumerate() {
        if i != r {
            let f = row[j];
            if f != 0.0 {
                for (v, pv) in row.iter_mut().zip(&pivot_row) {
                    *v -= f * pv;
                }
            }
        }
    }
    basis[r] = j;
}

/// Maximises `obj`·x from the current basic feasible solution, entering only `allowed`
/// columns, by Bland's rule. `None` when unbounded or past the iteration cap (neither
/// happens on a bounded LP in exact arithmetic; the cap guards against rounding).
fn optimise(
    tab: &mut [Vec<f64>],
    basis: &mut [usize],
    obj: &[f64],
    allowed: &[bool],
) -> Option<()> {
    let cols = obj.len();
    let rhs = cols;
    let cap = 50 * (tab.len() + cols);
    for _ in 0..cap {
        // Reduced costs rⱼ = objⱼ − Σᵢ obj_{basis i}·tabᵢⱼ; enter the first positive one.
        let entering = (0..cols)
            .filter(|&j| allowed[j] && !basis.contains(&j))
            .find(|&j| {
                let reduced = obj[j]
                    - tab
                        .iter()
                        .zip(basis.iter())
                        .map(|(row, &b)| obj[b] * row[j])
                        .sum::<f64>();
                reduced > TOL
            });
        let Some(j) = entering else {
            return Some(());
        };
        // Ratio test; ties go to the smallest basic index (Bland).
        let mut best: Option<(f64, usize, usize)> = None;
        for (r, row) in tab.iter().enumerate() {
            if row[j] > TOL {
                let ratio = row[rhs] / row[j];
                let better = match best {
                    None => true,
                    Some((q, _, b)) => ratio < q - TOL || (ratio <= q + TOL && basis[r] < b),
                };
                if better {
                    best = Some((ratio, r, basis[r]));
                }
            }
        }
        let (_, r, _) = best?;
        pivot(tab, basis, r, j);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(a: &[f64], b: f64) -> AtLeast {
        AtLeast { a: a.to_vec(), b }
    }

    /// Without rows the maximum of a linear function on the simplex is its best vertex.
    #[test]
    fn the_best_vertex_wins_without_rows() {
        let x = simplex_lp(&[1.0, 3.0, 2.0], &[]).unwrap();
        assert_eq!(x, vec![0.0, 1.0, 0.0]);
    }

    /// A row cuts the best vertex off: max α₂ with α₁ ≥ 0.6 on two tasks is (0.6, 0.4);
    /// in three tasks with α₁ − α₂ ≥ 0 and max α₂ + 0·α₃: α₁ = α₂ = 0.5.
    #[test]
    fn rows_move_the_optimum_to_an_edge() {
        let x = simplex_lp(&[0.0, 1.0], &[row(&[1.0, 0.0], 0.6)]).unwrap();
        assert!(
            (x[0] - 0.6).abs() < 1e-12 && (x[1] - 0.4).abs() < 1e-12,
            "{x:?}"
        );
        let x = simplex_lp(&[0.0, 1.0, 0.0], &[row(&[1.0, -1.0, 0.0], 0.0)]).unwrap();
        assert!(
            (x[0] - 0.5).abs() < 1e-12 && (x[1] - 0.5).abs() < 1e-12,
            "{x:?}"
        );
    }

    /// An empty feasible set is `None`; rows 10⁸ apart in scale are solved alike.
    #[test]
    fn infeasible_and_badly_scaled_rows() {
        assert!(simplex_lp(&[1.0, 1.0], &[row(&[1.0, 1.0], 2.0)]).is_none());
        let x = simplex_lp(
            &[1.0, 0.0],
            &[row(&[-1e8, 1e8], 0.0), row(&[1e-8, 0.0], 0.25e-8)],
        )
        .unwrap();
        // α₂ ≥ α₁ and α₁ ≥ 0.25: the maximum of α₁ is 0.5.
        assert!((x[0] - 0.5).abs() < 1e-9, "{x:?}");
    }

    /// Random LPs: the answer is feasible and no vertex of the feasible set (found by brute
    /// force over pairs of active constraints, three tasks) does better.
    #[test]
    fn random_lps_match_brute_force() {
        use rand::{Rng as _, SeedableRng as _};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for trial in 0..300 {
            let c: Vec<f64> = (0..3).map(|_| rng.random_range(-1.0..1.0)).collect();
            let rows: Vec<AtLeast> = (0..2)
                .map(|_| {
                    row(
                        &(0..3)
                            .map(|_| rng.random_range(-1.0..1.0))
                            .collect::<Vec<_>>(),
                        rng.random_range(-0.5..0.3),
                    )
                })
                .collect();
            let feasible = |x: &[f64]| {
                x.iter().all(|v| *v >= -1e-9)
                    && rows
                        .iter()
                        .all(|r| r.a.iter().zip(x).map(|(a, v)| a * v).sum::<f64>() >= r.b - 1e-9)
            };
            // Candidate vertices: Σα = 1 with two of the five inequalities tight.
            let mut planes: Vec<(Vec<f64>, f64)> = (0..3)
                .map(|i| {
                    let mut e = vec![0.0; 3];
                    e[i] = 1.0;
                    (e, 0.0)
                })
                .collect();
            planes.extend(rows.iter().map(|r| (r.a.clone(), r.b)));
            let mut best: Option<f64> = None;
            for i in 0..planes.len() {
                for j in i + 1..planes.len() {
                    let a = vec![vec![1.0; 3], planes[i].0.clone(), planes[j].0.clone()];
                    let b = vec![1.0, planes[i].1, planes[j].1];
                    if let Some(x) = crate::weighting::solvers::solve_linear(a, b, 1e-12)
                        && feasible(&x)
                    {
                        let v: f64 = c.iter().zip(&x).map(|(a, b)| a * b).sum();
                        best = Some(best.map_or(v, |b: f64| b.max(v)));
                    }
                }
            }
            let got = simplex_lp(&c, &rows);
            match (best, got) {
                (None, None) => {}
                (Some(want), Some(x)) => {
                    assert!(feasible(&x), "trial {trial}: {x:?} infeasible");
                    let v: f64 = c.iter().zip(&x).map(|(a, b)| a * b).sum();
                    assert!((v - want).abs() < 1e-9, "trial {trial}: {v} vs {want}");
                }
                (want, got) => panic!("trial {trial}: brute force {want:?}, simplex {got:?}"),
            }
        }
    }
}
