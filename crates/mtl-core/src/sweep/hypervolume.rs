//! The hypervolume of a front (Zitzler & Thiele, 1999): the volume of the loss space that
//! the runs dominate, up to a reference point. A larger hypervolume is a better front; it
//! rewards both closeness to the ideal and spread along the front. Exact for 2 and 3 tasks.

/// The hypervolume that `points` (per-task losses, minimised) dominate inside the box up to
/// `reference`: the volume of the union of the boxes [pᵢ, reference]. Points with a
/// non-finite loss, or not strictly below the reference in every task, add nothing. `None`
/// for other than 2 or 3 tasks, or a reference that is not finite.
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> Option<f64> {
    let k = reference.len();
    if !(2..=3).contains(&k) || reference.iter().any(|r| !r.is_finite()) {
        return None;
    }
    let inside: Vec<&Vec<f64>> = points
        .iter()
        .filter(|p| {
            p.len() == k
                && p.iter().all(|v| v.is_finite())
                && p.iter().zip(reference).all(|(v, r)| v < r)
        })
        .collect();
    Some(if k == 2 {
        area(
            inside.iter().map(|p| (p[0], p[1])).collect(),
            reference[0],
            reference[1],
        )
    } else {
        // Slices along the third loss: between consecutive values z, the dominated area is
        // that of the points with a third loss at most z.
        let mut by_z: Vec<&Vec<f64>> = inside;
        by_z.sort_by(|a, b| a[2].total_cmp(&b[2]));
        let mut volume = 0.0;
        for (i, p) in by_z.iter().enumerate() {
            let next = by_z.get(i + 1).map_or(reference[2], |q| q[2]);
            let depth = next - p[2];
            if depth > 0.0 {
                let slice: Vec<(f64, f64)> = by_z[..=i].iter().map(|q| (q[0], q[1])).collect();
                volume += depth * area(slice, reference[0], reference[1]);
            }
        }
        volume
    })
}

/// The area the points dominate in two dimensions up to (`rx`, `ry`).
fn area(mut points: Vec<(f64, f64)>, rx: f64, ry: f64) -> f64 {
    points.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut total = 0.0;
    let mut lowest = ry;
    for (x, y) in points {
        if y < lowest {
            total += (rx - x) * (lowest - y);
            lowest = y;
        }
    }
    total
}

/// The reference point of a sweep's hypervolumes: per task, the largest loss of the
/// untrained model (epoch 0 of every run's curve; the runs of one seed share it). A front
/// is then measured by how much of the loss space below the starting point its runs
/// reach, the same for every front of the sweep. `None` without such losses.
pub fn starting_point(curves: &[&[Vec<f64>]]) -> Option<Vec<f64>> {
    let mut out: Option<Vec<f64>> = None;
    for first in curves.iter().filter_map(|c| c.first()) {
        if first.iter().any(|v| !v.is_finite()) {
            continue;
        }
        out = Some(match out {
            None => first.clone(),
            Some(o) => o.iter().zip(first).map(|(a, b)| a.max(*b)).collect(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two points in 2-D: the union of two boxes minus their overlap.
    #[test]
    fn two_tasks_by_hand() {
        let hv = hypervolume(&[vec![1.0, 3.0], vec![2.0, 1.0]], &[4.0, 4.0]).unwrap();
        // (4-1)(4-3) + (4-2)(3-1) = 3 + 4.
        assert!((hv - 7.0).abs() < 1e-12, "{hv}");
        // A dominated point and one outside the box add nothing.
        let same = hypervolume(
            &[
                vec![1.0, 3.0],
                vec![2.0, 1.0],
                vec![3.0, 3.0],
                vec![5.0, 0.0],
            ],
            &[4.0, 4.0],
        )
        .unwrap();
        assert!((same - 7.0).abs() < 1e-12, "{same}");
    }

    /// Three tasks: matches a Monte-Carlo-free count on a fine grid.
    #[test]
    fn three_tasks_match_a_grid_count() {
        let pts = vec![
            vec![0.1, 0.6, 0.5],
            vec![0.5, 0.2, 0.4],
            vec![0.3, 0.3, 0.1],
            vec![0.7, 0.7, 0.7],
        ];
        let r = [1.0, 1.0, 1.0];
        let hv = hypervolume(&pts, &r).unwrap();
        let n = 100;
        let h = 1.0 / f64::from(n);
        let mut count = 0u32;
        for i in 0..n {
            for j in 0..n {
                for l in 0..n {
                    let c = [
                        (f64::from(i) + 0.5) * h,
                        (f64::from(j) + 0.5) * h,
                        (f64::from(l) + 0.5) * h,
                    ];
                    if pts.iter().any(|p| p.iter().zip(&c).all(|(a, b)| a <= b)) {
                        count += 1;
                    }
                }
            }
        }
        let grid = f64::from(count) * h * h * h;
        assert!((hv - grid).abs() < 0.01, "{hv} vs {grid}");
    }

    /// Other task counts have no hypervolume here; NaN points are ignored.
    #[test]
    fn unsupported_and_degenerate_input() {
        assert!(hypervolume(&[vec![1.0]], &[2.0]).is_none());
        assert!(hypervolume(&[vec![1.0; 4]], &[2.0; 4]).is_none());
        assert_eq!(hypervolume(&[vec![f64::NAN, 0.0]], &[1.0, 1.0]), Some(0.0));
        let start = starting_point(&[&[vec![1.0, 3.0], vec![0.5, 0.5]], &[vec![2.0, 1.0]]]);
        assert_eq!(start, Some(vec![2.0, 3.0]));
    }
}
