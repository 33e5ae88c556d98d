//! Small dense linear algebra on `f64` matrices stored as rows (task-count sized: the
//! Gram matrices of the weighting strategies and the task covariance of relationship
//! learning).

/// Eigen-decomposition of a small symmetric matrix (n × n) by cyclic Jacobi rotations.
///
/// Returns the eigenvalues (unsorted) and V with `V[i][r]` the i-th entry of the unit
/// eigenvector of eigenvalue r, so that A = V diag(λ) Vᵀ. The input is symmetrised first.
pub fn sym_eigen(a: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut m: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| 0.5 * (a[i][j] + a[j][i])).collect())
        .collect();
    let mut v: Vec<Vec<f64>> = (0..n)
        .map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect())
        .collect();
    for sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| m[i][j] * m[i][j])
            .sum();
        if off == 0.0 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = m[p][q];
                if apq == 0.0 {
                    continue;
                }
                // Like Numerical Recipes: after a few sweeps, an element negligible next to both
                // diagonal entries is set to zero instead of rotated.
                let small = 100.0 * apq.abs();
                if sweep > 3
                    && m[p][p].abs() + small == m[p][p].abs()
                    && m[q][q].abs() + small == m[q][q].abs()
                {
                    m[p][q] = 0.0;
                    m[q][p] = 0.0;
                    continue;
                }
                let theta = (m[q][q] - m[p][p]) / (2.0 * apq);
                let t = if theta.abs() > 1e150 {
                    0.5 / theta
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // A <- Jᵀ A J with J the rotation in the (p, q) plane; V <- V J.
                for row in m.iter_mut() {
                    let (rp, rq) = (row[p], row[q]);
                    row[p] = c * rp - s * rq;
                    row[q] = s * rp + c * rq;
                }
                let (upper, lower) = m.split_at_mut(q);
                for (xp, xq) in upper[p].iter_mut().zip(lower[0].iter_mut()) {
                    let (pc, qc) = (*xp, *xq);
                    *xp = c * pc - s * qc;
                    *xq = s * pc + c * qc;
                }
                m[p][q] = 0.0;
                m[q][p] = 0.0;
                for row in v.iter_mut() {
                    let (rp, rq) = (row[p], row[q]);
                    row[p] = c * rp - s * rq;
                    row[q] = s * rp + c * rq;
                }
            }
        }
    }
    ((0..n).map(|i| m[i][i]).collect(), v)
}

/// The symmetric square root and inverse square root data of a symmetric positive
/// semi-definite matrix: returns (A^½, eigenvalues of A^½, eigenvectors), with negative
/// eigenvalues (rounding) clamped to zero.
pub fn sym_sqrt(a: &[Vec<f64>]) -> (Vec<Vec<f64>>, Vec<f64>, Vec<Vec<f64>>) {
    let (lam, v) = sym_eigen(a);
    let root: Vec<f64> = lam.iter().map(|l| l.max(0.0).sqrt()).collect();
    (compose(&root, &v), root, v)
}

/// V diag(λ) Vᵀ.
pub fn compose(lam: &[f64], v: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = lam.len();
    (0..n)
        .map(|i| {
            (0..n)
                .map(|j| (0..n).map(|r| v[i][r] * lam[r] * v[j][r]).sum())
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sym_eigen_reconstructs() {
        let a = vec![
            vec![5.0, -1.0, 2.0, 0.3],
            vec![-1.0, 2.0, -1.0, 0.0],
            vec![2.0, -1.0, 3.0, 1e-9],
            vec![0.3, 0.0, 1e-9, 0.0],
        ];
        let (lam, v) = sym_eigen(&a);
        for i in 0..4 {
            for j in 0..4 {
                let rec: f64 = (0..4).map(|r| v[i][r] * lam[r] * v[j][r]).sum();
                assert!((rec - a[i][j]).abs() < 1e-12, "{i} {j}");
                let orth: f64 = (0..4).map(|r| v[r][i] * v[r][j]).sum();
                assert!((orth - if i == j { 1.0 } else { 0.0 }).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn sym_sqrt_squares_back() {
        let a = vec![
            vec![4.0, 1.0, 0.5],
            vec![1.0, 3.0, 0.2],
            vec![0.5, 0.2, 2.0],
        ];
        let (s, root, _) = sym_sqrt(&a);
        assert!(root.iter().all(|r| *r > 0.0), "positive definite: {root:?}");
        for i in 0..3 {
            for j in 0..3 {
                let sq: f64 = (0..3).map(|r| s[i][r] * s[r][j]).sum();
                assert!(
                    (sq - a[i][j]).abs() < 1e-12,
                    "({i},{j}): {sq} vs {}",
                    a[i][j]
                );
                assert!((s[i][j] - s[j][i]).abs() < 1e-14, "symmetric");
            }
        }
    }
}
