//! A series with a fixed point budget, however long training runs.
//!
//! [`Decimated`] keeps at most `budget` points. Incoming points are averaged in buckets of
//! `stride` consecutive points; when the buffer is full, neighbouring pairs are averaged and
//! the stride doubles (burn-train's halving decimation, with averaging so that no point is
//! simply dropped). Pushing is O(1) amortised and memory is bounded.

/// A point that can be averaged with another.
pub trait Point: Copy {
    /// The mean of `self` and `other`, weighted by how many raw points each stands for.
    fn blend(self, self_weight: f64, other: Self, other_weight: f64) -> Self;
}

impl Point for [f64; 2] {
    fn blend(self, a: f64, other: Self, b: f64) -> Self {
        let s = a + b;
        [
            (self[0] * a + other[0] * b) / s,
            (self[1] * a + other[1] * b) / s,
        ]
    }
}

/// A bounded, decimated series.
#[derive(Clone, Debug)]
pub struct Decimated<T> {
    points: Vec<T>,
    budget: usize,
    stride: usize,
    pending: Option<(T, usize)>,
    raw_count: usize,
}

impl<T: Point> Decimated<T> {
    /// An empty series that keeps fewer than `budget` points (rounded up to an even number,
    /// at least 2).
    pub fn new(budget: usize) -> Self {
        let budget = budget.max(2).next_multiple_of(2);
        Self {
            points: Vec::with_capacity(budget),
            budget,
            stride: 1,
            pending: None,
            raw_count: 0,
        }
    }

    /// Adds one raw point.
    pub fn push(&mut self, p: T) {
        self.raw_count += 1;
        let (acc, n) = match self.pending.take() {
            None => (p, 1),
            Some((acc, n)) => (acc.blend(n as f64, p, 1.0), n + 1),
        };
        if n < self.stride {
            self.pending = Some((acc, n));
            return;
        }
        self.points.push(acc);
        if self.points.len() >= self.budget {
            // The budget is even, so every stored point stands for `stride` raw points and
            // pairs merge with equal weights.
            let merged: Vec<T> = self
                .points
                .chunks(2)
                .map(|c| {
                    if c.len() == 2 {
                        c[0].blend(1.0, c[1], 1.0)
                    } else {
                        c[0]
                    }
                })
                .collect();
            self.points = merged;
            self.stride *= 2;
        }
    }

    /// The stored points, oldest first, plus the bucket still being filled.
    pub fn points(&self) -> impl Iterator<Item = T> + '_ {
        self.points
            .iter()
            .copied()
            .chain(self.pending.map(|(p, _)| p))
    }

    /// The completed stored points.
    pub fn stored(&self) -> &[T] {
        &self.points
    }

    /// The newest raw point's bucket (or the last stored point).
    pub fn last(&self) -> Option<T> {
        self.pending
            .map(|(p, _)| p)
            .or_else(|| self.points.last().copied())
    }

    /// How many raw points were pushed.
    pub fn raw_count(&self) -> usize {
        self.raw_count
    }

    /// Number of points stored (at most the budget, plus one pending).
    pub fn len(&self) -> usize {
        self.points.len() + usize::from(self.pending.is_some())
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.raw_count == 0
    }

    /// Removes every point.
    pub fn clear(&mut self) {
        *self = Self::new(self.budget);
    }
}

/// Debiased exponential moving average (TensorBoard's smoothing): weight `alpha` in [0, 1)
/// on the past, with the start-up bias removed so early values are not pulled to zero.
pub fn ema(values: impl Iterator<Item = [f64; 2]>, alpha: f64) -> Vec<[f64; 2]> {
    let mut acc = 0.0;
    let mut norm = 0.0;
    values
        .map(|[x, y]| {
            if !y.is_finite() {
                return [x, y];
            }
            acc = alpha * acc + (1.0 - alpha) * y;
            norm = alpha * norm + (1.0 - alpha);
            [x, acc / norm]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_budget_and_keeps_the_mean() {
        let mut s = Decimated::new(100);
        for i in 0..100_000 {
            s.push([i as f64, 1.0 + (i % 2) as f64]);
        }
        assert!(s.len() <= 100, "bounded: {}", s.len());
        assert!(s.len() >= 50, "not over-decimated: {}", s.len());
        assert_eq!(s.raw_count(), 100_000, "counts raw points");
        let pts: Vec<_> = s.points().collect();
        assert!(
            pts.windows(2).all(|w| w[0][0] < w[1][0]),
            "x stays increasing"
        );
        let stored = s.stored();
        assert!(
            stored.iter().all(|p| (p[1] - 1.5).abs() < 1e-9),
            "averaging keeps the mean: {:?}",
            &stored[..4]
        );
        let first = pts[0][0];
        let last = pts[pts.len() - 1][0];
        assert!(
            first < 1000.0 && last > 99_000.0,
            "spans the whole run: {first}..{last}"
        );
    }

    #[test]
    fn ema_is_debiased() {
        let out = ema([[0.0, 5.0], [1.0, 5.0]].into_iter(), 0.9);
        assert!(
            (out[0][1] - 5.0).abs() < 1e-12,
            "first value is not pulled to zero"
        );
        let out = ema([[0.0, 0.0], [1.0, 10.0]].into_iter(), 0.5);
        assert!(
            (out[1][1] - 10.0 * 0.5 / 0.75).abs() < 1e-12,
            "weighted mean"
        );
    }
}
