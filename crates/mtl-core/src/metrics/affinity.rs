//! Grouping tasks by their affinity (TAG's network selection, restricted to partitions): split
//! the tasks into n groups so that the tasks in a group help each other most.

/// A split of the tasks into groups, and its score.
#[derive(Clone, Debug, PartialEq)]
pub struct Grouping {
    /// The groups, as task indices in increasing order; groups ordered by their first task.
    pub groups: Vec<Vec<usize>>,
    /// Σ over tasks j of the mean affinity onto j from the other tasks of j's group (0 for a
    /// task alone).
    pub score: f64,
}

/// The score of a grouping under the K × K affinity `z` (row i onto column j).
pub fn score(z: &[f64], k: usize, groups: &[Vec<usize>]) -> f64 {
    let mut total = 0.0;
    for g in groups {
        if g.len() < 2 {
            continue;
        }
        for &j in g {
            let onto: Vec<f64> = g
                .iter()
                .filter(|&&i| i != j)
                .map(|&i| z[i * k + j])
                .filter(|v| v.is_finite())
                .collect();
            if !onto.is_empty() {
                total += onto.iter().sum::<f64>() / onto.len() as f64;
            }
        }
    }
    total
}

/// The best split of `k` tasks into exactly `n` non-empty groups (every split is tried: at
/// most a few hundred thousand for ten tasks). `None` when n is 0 or more than k.
pub fn best_partition(z: &[f64], k: usize, n: usize) -> Option<Grouping> {
    if n == 0 || n > k || z.len() < k * k {
        return None;
    }
    let mut best: Option<Grouping> = None;
    // Restricted growth strings: a[0] = 0, a[i] <= max(a[..i]) + 1.
    let mut a = vec![0usize; k];
    loop {
        let blocks = a.iter().max().map_or(0, |m| m + 1);
        if blocks == n {
            let groups: Vec<Vec<usize>> = (0..n)
                .map(|b| (0..k).filter(|&t| a[t] == b).collect())
                .collect();
            let s = score(z, k, &groups);
            if best.as_ref().is_none_or(|b| s > b.score) {
                best = Some(Grouping { groups, score: s });
            }
        }
        // Next string: increment from the right where allowed.
        let mut i = k;
        loop {
            if i <= 1 {
                return best;
            }
            i -= 1;
            let limit = a[..i].iter().max().map_or(0, |m| m + 1);
            if a[i] < limit && a[i] < n - 1 {
                a[i] += 1;
                for x in &mut a[i + 1..] {
                    *x = 0;
                }
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_helpful_pairs_are_grouped() {
        // Tasks 0-1 help each other, 2-3 help each other, across the pairs they hurt.
        let k = 4;
        let mut z = vec![-0.5; k * k];
        for (a, b) in [(0, 1), (1, 0), (2, 3), (3, 2)] {
            z[a * k + b] = 1.0;
        }
        for i in 0..k {
            z[i * k + i] = 2.0;
        }
        let g = best_partition(&z, k, 2).expect("a grouping");
        assert_eq!(g.groups, [vec![0, 1], vec![2, 3]]);
        assert!((g.score - 4.0).abs() < 1e-12);
        let three = best_partition(&z, k, 3).expect("three groups");
        assert_eq!(three.groups.len(), 3);
        assert!(three.score < g.score, "breaking a pair loses affinity");
        assert!(best_partition(&z, k, 5).is_none());
        // Against brute force over every two-way split of 5 tasks, on arbitrary values.
        let k = 5;
        let z: Vec<f64> = (0..k * k)
            .map(|i| ((i * 37 + 11) % 17) as f64 / 8.0 - 1.0)
            .collect();
        let brute = (1u32..(1 << k) - 1)
            .map(|mask| {
                let a: Vec<usize> = (0..k).filter(|t| mask >> t & 1 == 1).collect();
                let b: Vec<usize> = (0..k).filter(|t| mask >> t & 1 == 0).collect();
                score(&z, k, &[a, b])
            })
            .fold(f64::NEG_INFINITY, f64::max);
        let found = best_partition(&z, k, 2).expect("a grouping");
        assert!(
            (found.score - brute).abs() < 1e-12,
            "{} vs {brute}",
            found.score
        );
    }
}
