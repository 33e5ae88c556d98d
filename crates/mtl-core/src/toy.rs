//! The two-parameter, two-task toy problem that CAGrad (Liu et al., NeurIPS 2021) and
//! Nash-MTL (Navon et al., ICML 2022) use to show how weighting strategies move on a loss
//! landscape: `x = (x₁, x₂)` is the whole model, `f₁` and `f₂` are the two task losses, and
//! every strategy sees the two exact task gradients at each step.
//!
//! The formulas follow `experiments/toy/problem.py` of Nash-MTL (with its `scale` on `f₁`,
//! 0.1 by default), the start points are that script's five, and the optimiser is Adam as
//! there. The gradients are written out by hand (and checked against finite differences).

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::weighting::{self, Params, StepInput, Strategy, WeightingError};

/// The lower clamp inside the logarithms, as in the reference.
pub const LOWER: f64 = 5e-6;
/// The Pareto set is the segment `x₁ ∈ [−7, 7]` at this `x₂` (as the reference plots it).
pub const PARETO_X2: f64 = -8.3552;
/// The ends of the Pareto segment in `x₁`.
pub const PARETO_X1: [f64; 2] = [-7.0, 7.0];
/// The square drawn: `[lo, hi]` on both axes.
pub const DOMAIN: [f64; 2] = [-10.0, 10.0];
/// The reference's five start points.
pub const STARTS: [[f64; 2]; 5] = [
    [-8.5, 7.5],
    [0.0, 0.0],
    [9.0, 9.0],
    [-7.5, -0.5],
    [9.0, -1.0],
];
/// Steps per "epoch" for strategies that look at per-epoch mean losses (DWA).
pub const EPOCH_STEPS: usize = 100;

/// The toy problem; `scale` multiplies `f₁` (the reference uses 0.1 so the losses differ in
/// scale, which is what separates the strategies).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Toy {
    /// Factor on `f₁`.
    pub scale: f64,
}

impl Default for Toy {
    fn default() -> Self {
        Self { scale: 0.1 }
    }
}

/// `ln(max(|u|, LOWER)) + 6` and its derivative with respect to `u`.
fn log_term(u: f64) -> (f64, f64) {
    if u.abs() > LOWER {
        (u.abs().ln() + 6.0, 1.0 / u)
    } else {
        (LOWER.ln() + 6.0, 0.0)
    }
}

impl Toy {
    /// The two losses at `x`.
    pub fn losses(&self, x: [f64; 2]) -> [f64; 2] {
        self.eval(x).0
    }

    /// The two losses and their gradients (`grads[task][coordinate]`) at `x`.
    pub fn eval(&self, [x1, x2]: [f64; 2]) -> ([f64; 2], [[f64; 2]; 2]) {
        let t = (-x2).tanh();
        let dt = -(1.0 - t * t); // d tanh(−x₂) / dx₂
        // The log parts (active where x₂ > 0).
        let u1 = 0.5 * (-x1 - 7.0) - t;
        let u2 = 0.5 * (-x1 + 3.0) + t + 2.0;
        let (a1, da1) = log_term(u1);
        let (a2, da2) = log_term(u2);
        let a1_grad = [da1 * -0.5, da1 * -dt];
        let a2_grad = [da2 * -0.5, da2 * dt];
        // The quadratic parts (active where x₂ < 0).
        let q = 0.1 * (x2 + 8.0).powi(2);
        let s1 = ((7.0 - x1).powi(2) + q) / 10.0 - 20.0;
        let s2 = ((-7.0 - x1).powi(2) + q) / 10.0 - 20.0;
        let s_dx2 = 0.02 * (x2 + 8.0);
        let s1_grad = [(x1 - 7.0) / 5.0, s_dx2];
        let s2_grad = [(x1 + 7.0) / 5.0, s_dx2];
        // The gates.
        let h = (0.5 * x2).tanh();
        let dh = 0.5 * (1.0 - h * h);
        // As torch's clamp, the gradient passes at the boundary itself (x₂ = 0), so the
        // reference's start at the origin is not a stationary point.
        let (c1, dc1) = if h >= 0.0 { (h, dh) } else { (0.0, 0.0) };
        let (c2, dc2) = if h <= 0.0 { (-h, -dh) } else { (0.0, 0.0) };
        let combine = |a: f64, ag: [f64; 2], s: f64, sg: [f64; 2]| {
            (
                a * c1 + s * c2,
                [
                    c1 * ag[0] + c2 * sg[0],
                    c1 * ag[1] + a * dc1 + c2 * sg[1] + s * dc2,
                ],
            )
        };
        let (f1, g1) = combine(a1, a1_grad, s1, s1_grad);
        let (f2, g2) = combine(a2, a2_grad, s2, s2_grad);
        let k = self.scale;
        ([k * f1, f2], [[k * g1[0], k * g1[1]], g2])
    }

    /// Distance from `x` to the Pareto set (the segment at [`PARETO_X2`]).
    pub fn pareto_distance([x1, x2]: [f64; 2]) -> f64 {
        let nearest = x1.clamp(PARETO_X1[0], PARETO_X1[1]);
        ((x1 - nearest).powi(2) + (x2 - PARETO_X2).powi(2)).sqrt()
    }

    /// `n` points along the Pareto front in loss space, `f₁` rising.
    pub fn pareto_front(&self, n: usize) -> Vec<[f64; 2]> {
        (0..n)
            .map(|i| {
                let t = i as f64 / (n.max(2) - 1) as f64;
                let x1 = PARETO_X1[1] + (PARETO_X1[0] - PARETO_X1[1]) * t;
                self.losses([x1, PARETO_X2])
            })
            .collect()
    }
}

/// What a contour panel shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Surface {
    /// `f₁ + f₂`, the loss equal weighting minimises.
    #[default]
    Sum,
    /// Task 1's loss.
    F1,
    /// Task 2's loss.
    F2,
}

impl Surface {
    /// Every surface.
    pub const ALL: [Self; 3] = [Self::Sum, Self::F1, Self::F2];

    /// A short label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sum => "f₁ + f₂",
            Self::F1 => "f₁",
            Self::F2 => "f₂",
        }
    }

    /// The surface's value from the two losses.
    pub fn of(self, f: [f64; 2]) -> f64 {
        match self {
            Self::Sum => f[0] + f[1],
            Self::F1 => f[0],
            Self::F2 => f[1],
        }
    }
}

/// A sampled surface: `n × n` values over [`DOMAIN`], row 0 at the bottom (`x₂` low).
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// Samples per side.
    pub n: usize,
    /// Row-major values, `values[row * n + col]` at
    /// `(x₁, x₂) = (lo + col·step, lo + row·step)`.
    pub values: Vec<f64>,
}

impl Field {
    /// Samples `surface` of `toy` on an `n × n` grid.
    pub fn sample(toy: &Toy, surface: Surface, n: usize) -> Self {
        let n = n.max(2);
        let step = (DOMAIN[1] - DOMAIN[0]) / (n - 1) as f64;
        let mut values = Vec::with_capacity(n * n);
        for row in 0..n {
            for col in 0..n {
                let x = [DOMAIN[0] + col as f64 * step, DOMAIN[0] + row as f64 * step];
                values.push(surface.of(toy.losses(x)));
            }
        }
        Self { n, values }
    }

    /// Contour levels at evenly spaced quantiles of the samples (so the log valleys and the
    /// wide quadratic slopes both get lines).
    pub fn levels(&self, count: usize) -> Vec<f64> {
        let mut sorted: Vec<f64> = self
            .values
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        if sorted.is_empty() {
            return Vec::new();
        }
        sorted.sort_by(f64::total_cmp);
        let mut out: Vec<f64> = (1..=count)
            .map(|i| sorted[(i * (sorted.len() - 1)) / (count + 1)])
            .collect();
        out.dedup_by(|a, b| (*a - *b).abs() < 1e-9);
        out
    }

    /// The iso-lines at `level` as segments in problem coordinates (marching squares).
    pub fn contour(&self, level: f64) -> Vec<[[f64; 2]; 2]> {
        let n = self.n;
        let step = (DOMAIN[1] - DOMAIN[0]) / (n - 1) as f64;
        let at = |col: usize, row: usize| self.values[row * n + col];
        let pos = |col: f64, row: f64| [DOMAIN[0] + col * step, DOMAIN[0] + row * step];
        let mut out = Vec::new();
        for row in 0..n - 1 {
            for col in 0..n - 1 {
                // Corners counter-clockwise from bottom-left, with their grid positions.
                let corners = [
                    (at(col, row), col as f64, row as f64),
                    (at(col + 1, row), col as f64 + 1.0, row as f64),
                    (at(col + 1, row + 1), col as f64 + 1.0, row as f64 + 1.0),
                    (at(col, row + 1), col as f64, row as f64 + 1.0),
                ];
                let mut crossings: Vec<[f64; 2]> = Vec::with_capacity(4);
                for e in 0..4 {
                    let (va, ca, ra) = corners[e];
                    let (vb, cb, rb) = corners[(e + 1) % 4];
                    if (va < level) != (vb < level) && va.is_finite() && vb.is_finite() {
                        let t = (level - va) / (vb - va);
                        crossings.push(pos(ca + (cb - ca) * t, ra + (rb - ra) * t));
                    }
                }
                if crossings.len() >= 2 {
                    out.push([crossings[0], crossings[1]]);
                }
                if crossings.len() == 4 {
                    out.push([crossings[2], crossings[3]]);
                }
            }
        }
        out
    }

    /// The smallest and largest finite value.
    pub fn range(&self) -> (f64, f64) {
        self.values
            .iter()
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            })
    }
}

/// How a path takes its steps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToyOptimizer {
    /// Adam (β = 0.9, 0.999), as the reference experiments use.
    #[default]
    Adam,
    /// Plain gradient descent: the step is the combined direction times the learning rate.
    Sgd,
}

/// One recorded step of a path.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PathPoint {
    /// Where the step started.
    pub x: [f64; 2],
    /// The two losses there.
    pub losses: [f64; 2],
    /// The two task gradients there.
    pub grads: [[f64; 2]; 2],
    /// The combined direction the strategy chose (what the optimiser was given).
    pub direction: [f64; 2],
    /// The strategy's effective weights on the two gradients.
    pub weights: [f64; 2],
}

/// One strategy's path from one start point.
pub struct ToyPath {
    /// Strategy key.
    pub key: String,
    /// The problem.
    pub toy: Toy,
    strategy: Box<dyn Strategy>,
    optimizer: ToyOptimizer,
    lr: f64,
    x: [f64; 2],
    m: [f64; 2],
    v: [f64; 2],
    rng: ChaCha8Rng,
    history: Vec<Vec<f64>>,
    window: [f64; 2],
    /// Every step so far.
    pub points: Vec<PathPoint>,
    /// Why the path stopped early, if it did.
    pub error: Option<String>,
}

impl std::fmt::Debug for ToyPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToyPath")
            .field("key", &self.key)
            .field("x", &self.x)
            .field("steps", &self.points.len())
            .finish_non_exhaustive()
    }
}

impl ToyPath {
    /// A path for strategy `key` (with `params`) from `start`.
    pub fn new(
        key: &str,
        params: &Params,
        toy: Toy,
        start: [f64; 2],
        optimizer: ToyOptimizer,
        lr: f64,
        seed: u64,
    ) -> Result<Self, WeightingError> {
        if !(lr.is_finite() && lr > 0.0) {
            return Err(WeightingError(format!(
                "the learning rate must be positive, not {lr}"
            )));
        }
        Ok(Self {
            key: key.to_owned(),
            toy,
            strategy: weighting::build(key, params, 2)?,
            optimizer,
            lr,
            x: start,
            m: [0.0; 2],
            v: [0.0; 2],
            rng: crate::rng::stream(seed, &format!("toy-{key}")),
            history: vec![Vec::new(), Vec::new()],
            window: [0.0; 2],
            points: Vec::new(),
            error: None,
        })
    }

    /// The current point.
    pub fn x(&self) -> [f64; 2] {
        self.x
    }

    /// Takes `n` steps (fewer when the strategy fails; the failure is kept in `error`).
    pub fn run(&mut self, n: usize) {
        for _ in 0..n {
            if self.error.is_some() {
                return;
            }
            if let Err(e) = self.step() {
                self.error = Some(format!("step {}: {e}", self.points.len() + 1));
            }
        }
    }

    /// One step: both gradients, the strategy's combination, the optimiser's move.
    pub fn step(&mut self) -> Result<(), WeightingError> {
        let (losses, grads) = self.toy.eval(self.x);
        let rows: Vec<Vec<f64>> = grads.iter().map(|g| g.to_vec()).collect();
        let step = self.points.len();
        let input = StepInput {
            epoch: step / EPOCH_STEPS,
            losses: &losses,
            grads: Some(&rows),
            loss_history: &self.history,
            rep_value: None,
            samples: &[],
        };
        let out = self.strategy.combine(&input, &mut self.rng)?;
        // No finite weights (a zero, Pareto-stationary update): the path ends here, saying why.
        if let Some(notice) = self.strategy.notice() {
            return Err(WeightingError(notice.to_owned()));
        }
        let d = out
            .shared_grad
            .unwrap_or_else(|| weighting::api::weighted_sum(&rows, &out.effective));
        let direction = [
            d.first().copied().unwrap_or(0.0),
            d.get(1).copied().unwrap_or(0.0),
        ];
        if !direction.iter().all(|v| v.is_finite()) {
            return Err(WeightingError(
                "the combined direction is not finite".into(),
            ));
        }
        self.strategy.learn(self.lr);
        self.points.push(PathPoint {
            x: self.x,
            losses,
            grads,
            direction,
            weights: [
                out.effective.first().copied().unwrap_or(f64::NAN),
                out.effective.get(1).copied().unwrap_or(f64::NAN),
            ],
        });
        match self.optimizer {
            ToyOptimizer::Sgd => {
                for (x, d) in self.x.iter_mut().zip(direction) {
                    *x -= self.lr * d;
                }
            }
            ToyOptimizer::Adam => {
                let t = self.points.len() as i32;
                let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
                for (((x, m), v), d) in self
                    .x
                    .iter_mut()
                    .zip(&mut self.m)
                    .zip(&mut self.v)
                    .zip(direction)
                {
                    *m = b1 * *m + (1.0 - b1) * d;
                    *v = b2 * *v + (1.0 - b2) * d * d;
                    let m_hat = *m / (1.0 - b1.powi(t));
                    let v_hat = *v / (1.0 - b2.powi(t));
                    *x -= self.lr * m_hat / (v_hat.sqrt() + eps);
                }
            }
        }
        if self.strategy.needs_losses_after() {
            let after = self.toy.losses(self.x);
            self.strategy.after_step(&after);
        }
        for (w, l) in self.window.iter_mut().zip(losses) {
            *w += l;
        }
        if self.points.len().is_multiple_of(EPOCH_STEPS) {
            for (h, w) in self.history.iter_mut().zip(&mut self.window) {
                h.push(*w / EPOCH_STEPS as f64);
                *w = 0.0;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradients_match_finite_differences() {
        let toy = Toy::default();
        let h = 1e-6;
        for x in [
            [-8.5, 7.5],
            [0.3, 0.2],
            [9.0, -1.0],
            [2.0, -5.0],
            [-3.0, 1.5],
            [5.0, 0.01],
        ] {
            let (_, g) = toy.eval(x);
            for c in 0..2 {
                let mut hi = x;
                let mut lo = x;
                hi[c] += h;
                lo[c] -= h;
                let (fh, fl) = (toy.losses(hi), toy.losses(lo));
                for task in 0..2 {
                    let fd = (fh[task] - fl[task]) / (2.0 * h);
                    assert!(
                        (fd - g[task][c]).abs() < 1e-5 * (1.0 + fd.abs()),
                        "task {task} coord {c} at {x:?}: analytic {} vs fd {fd}",
                        g[task][c]
                    );
                }
            }
        }
    }

    #[test]
    fn the_pareto_segment_is_not_dominated_by_any_grid_point() {
        let toy = Toy::default();
        let field: Vec<[f64; 2]> = (0..201)
            .flat_map(|r| (0..201).map(move |c| [-10.0 + 0.1 * c as f64, -10.0 + 0.1 * r as f64]))
            .map(|x| toy.losses(x))
            .collect();
        for p in toy.pareto_front(15) {
            let dominated = field
                .iter()
                .any(|q| q[0] < p[0] - 1e-3 && q[1] < p[1] - 1e-3);
            assert!(!dominated, "{p:?} is dominated");
        }
        // A point off the segment is dominated by the segment.
        let off = toy.losses([0.0, -5.0]);
        assert!(
            toy.pareto_front(200)
                .iter()
                .any(|q| q[0] < off[0] && q[1] < off[1])
        );
    }

    #[test]
    fn contours_cross_where_the_field_crosses_the_level() {
        let field = Field::sample(&Toy::default(), Surface::Sum, 41);
        let levels = field.levels(8);
        assert_eq!(levels.len(), 8);
        assert!(levels.windows(2).all(|w| w[0] < w[1]));
        let toy = Toy::default();
        for level in levels {
            let segments = field.contour(level);
            assert!(!segments.is_empty());
            // Each crossing lies (to interpolation accuracy) on the level.
            for s in segments.iter().take(20) {
                let v = Surface::Sum.of(toy.losses(s[0]));
                let spread = (field.range().1 - field.range().0).abs();
                assert!((v - level).abs() < 0.1 * spread, "{v} vs {level}");
            }
        }
    }

    fn end(key: &str, start: [f64; 2], steps: usize) -> ToyPath {
        let p = path(key, start, steps);
        assert!(p.error.is_none(), "{key}: {:?}", p.error);
        p
    }

    fn path(key: &str, start: [f64; 2], steps: usize) -> ToyPath {
        let mut p = ToyPath::new(
            key,
            &Params::new(),
            Toy::default(),
            start,
            ToyOptimizer::Adam,
            0.01,
            7,
        )
        .expect("builds");
        p.run(steps);
        p
    }

    #[test]
    fn equal_weighting_descends_the_summed_loss() {
        let p = end("ew", [0.0, 0.0], 500);
        let first = p.points[0].losses;
        let last = p.toy.losses(p.x());
        assert!(last[0] + last[1] < first[0] + first[1] - 1.0);
        // EW's direction is the plain sum of the two gradients.
        let q = p.points[10];
        for c in 0..2 {
            assert!((q.direction[c] - (q.grads[0][c] + q.grads[1][c])).abs() < 1e-9);
        }
    }

    #[test]
    fn the_five_strategies_take_visibly_different_paths_from_one_start() {
        let keys = crate::weighting::COMPARED_BY_DEFAULT;
        let paths: Vec<ToyPath> = keys.iter().map(|k| path(k, STARTS[0], 1500)).collect();
        for i in 0..keys.len() {
            for j in i + 1..keys.len() {
                let (a, b) = (paths[i].x(), paths[j].x());
                let gap = ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
                assert!(
                    gap > 0.05,
                    "{} and {} end together at {a:?}",
                    keys[i],
                    keys[j]
                );
            }
        }
    }

    #[test]
    fn nash_mtl_reaches_the_pareto_set_where_equal_weighting_stalls() {
        for start in STARTS {
            let nash = path("nash_mtl", start, 3000);
            assert!(
                Toy::pareto_distance(nash.x()) < 0.1,
                "nash from {start:?} ends at {:?}",
                nash.x()
            );
            // Near the Pareto set the two gradients nearly cancel and Nash-MTL's weights grow
            // large, but they still exist: it never refuses. Only where the gradients cancel
            // exactly would it stop, at a Pareto-stationary point.
            assert!(
                nash.error
                    .as_deref()
                    .is_none_or(|e| e.contains("Pareto-stationary")),
                "{:?}",
                nash.error
            );
        }
        let ew = end("ew", STARTS[4], 3000);
        assert!(Toy::pareto_distance(ew.x()) > 1.0, "{:?}", ew.x());
    }

    #[test]
    fn the_origin_is_not_a_stationary_point() {
        let (_, g) = Toy::default().eval([0.0, 0.0]);
        assert!(g[1][1].abs() > 1.0, "{g:?}");
        let p = end("ew", [0.0, 0.0], 200);
        assert!(Toy::pareto_distance(p.x()) < 8.0);
    }
}
