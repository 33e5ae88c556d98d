//! The MMoE synthetic regression tasks: Ma et al., "Modeling Task Relationships in
//! Multi-task Learning with Multi-gate Mixture-of-Experts" (KDD 2018), §3.2, with the
//! task-correlation knob p.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};
use serde::{Deserialize, Serialize};

use super::{DatasetSpec, MAX_LAYER_WIDTH, Source, normal};
use crate::data::{DataError, Dataset, TargetColumn};
use crate::rng;
use crate::task::{TaskKind, TaskSpec};

/// Parameters of the MMoE synthetic data (see `data::builtin::mmoe`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MmoeSpec {
    /// Number of samples generated (train and validation together).
    pub samples: usize,
    /// Input dimension d.
    pub dim: usize,
    /// Number of tasks; tasks come in pairs whose weight vectors have cosine `correlation`.
    pub tasks: usize,
    /// The task-correlation score p in [-1, 1]: cos(w1, w2).
    pub correlation: f64,
    /// Scale c of the weight vectors.
    pub scale: f64,
    /// Number m of sine terms.
    pub sin_terms: usize,
    /// Standard deviation of the label noise.
    pub noise_std: f64,
    /// With 4 or more tasks: the cosine between each later pair's first weight vector and the
    /// first pair's, in [-1, 1] (0: pairs unrelated; negative: pairs conflict).
    pub pair_correlation: f64,
}

impl Default for MmoeSpec {
    fn default() -> Self {
        Self {
            samples: 12_000,
            dim: 16,
            tasks: 2,
            correlation: 0.5,
            scale: 1.0,
            sin_terms: 5,
            noise_std: 0.1,
            pair_correlation: 0.0,
        }
    }
}

/// Labels of the MMoE data: `y1 ... yK`, all regression.
pub fn mmoe_targets(spec: &MmoeSpec) -> Vec<(String, TaskKind)> {
    // Validation refuses more tasks than dimensions; a spec that asks for 2^64 is not
    // listed label by label before it is told so.
    (1..=spec.tasks.min(spec.dim).min(MAX_LAYER_WIDTH))
        .map(|i| (format!("y{i}"), TaskKind::Regression))
        .collect()
}

/// Gram-Schmidt: `count` orthonormal vectors in R^dim from Gaussian draws.
fn orthonormal(rng: &mut ChaCha8Rng, count: usize, dim: usize) -> Vec<Vec<f64>> {
    let mut basis: Vec<Vec<f64>> = Vec::with_capacity(count);
    while basis.len() < count {
        let mut v: Vec<f64> = (0..dim).map(|_| normal(rng)).collect();
        for b in &basis {
            let dot: f64 = v.iter().zip(b).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(b).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        // A draw inside the span of the earlier vectors has no new direction: draw again.
        if norm > 1e-8 {
            basis.push(v.into_iter().map(|a| a / norm).collect());
        }
    }
    basis
}

/// The MMoE synthetic data.
///
/// Tasks come in pairs: for each pair draw orthonormal u₁, u₂ (one orthonormal set over all
/// tasks, so different pairs are unrelated), set w₁ = c·u₁ and w₂ = c·(p·u₁ + √(1−p²)·u₂), and
/// (with `pair_correlation` r ≠ 0) tilt each later pair's u₁ towards the first pair's:
/// u₁ ← r·u₁⁽¹⁾ + √(1−r²)·u₁, so r < 0 makes the pairs conflict;
/// y = wᵀx + Σᵢ sin(αᵢ·wᵀx + βᵢ) + ε with x ~ N(0, I), α, β ~ N(0, 1) shared by all tasks and
/// ε ~ N(0, σ²). The label correlation is lower than p because of the sine terms; see
/// [`Dataset::label_correlation`].
pub fn mmoe(spec: &MmoeSpec, seed: u64) -> Dataset {
    let mut rng = rng::stream(seed, "data.mmoe");
    let (d, k, c, p) = (spec.dim, spec.tasks, spec.scale, spec.correlation);
    let basis = orthonormal(&mut rng, k, d);
    let q = (1.0 - p * p).max(0.0).sqrt();
    // Each pair's first direction: its own, or leaning on the first pair's by pair_correlation.
    let (r, rq) = (
        spec.pair_correlation,
        (1.0 - spec.pair_correlation.powi(2)).max(0.0).sqrt(),
    );
    let first = |t: usize| -> Vec<f64> {
        if t < 2 || r == 0.0 {
            basis[t - t % 2].clone()
        } else {
            basis[0]
                .iter()
                .zip(&basis[t - t % 2])
                .map(|(a, b)| r * a + rq * b)
                .collect()
        }
    };
    let weights: Vec<Vec<f64>> = (0..k)
        .map(|t| {
            let u1 = first(t);
            if t % 2 == 1 {
                u1.iter()
                    .zip(&basis[t])
                    .map(|(a, b)| c * (p * a + q * b))
                    .collect()
            } else {
                u1.iter().map(|a| c * a).collect()
            }
        })
        .collect();
    let alpha: Vec<f64> = (0..spec.sin_terms).map(|_| normal(&mut rng)).collect();
    let beta: Vec<f64> = (0..spec.sin_terms).map(|_| normal(&mut rng)).collect();
    let noise = Normal::new(0.0, spec.noise_std).unwrap_or_else(|_| {
        // validate() rejects a negative or NaN deviation; fall back to no noise.
        Normal::new(0.0, 0.0).unwrap_or_else(|_| unreachable!("N(0, 0) is valid"))
    });
    let n = spec.samples;
    let mut x = Vec::with_capacity(n * d);
    let mut ys = vec![Vec::with_capacity(n); k];
    let mut row = vec![0.0f64; d];
    for _ in 0..n {
        row.iter_mut().for_each(|v| *v = normal(&mut rng));
        x.extend(row.iter().map(|&v| v as f32));
        for (t, w) in weights.iter().enumerate() {
            let z: f64 = w.iter().zip(&row).map(|(a, b)| a * b).sum();
            let s: f64 = alpha
                .iter()
                .zip(&beta)
                .map(|(a, b)| (a * z + b).sin())
                .sum();
            let eps = noise.sample(&mut rng);
            ys[t].push((z + s + eps) as f32);
        }
    }
    Dataset {
        name: format!("MMoE synthetic (d={d}, p={p})"),
        feature_names: (1..=d).map(|i| format!("x{i}")).collect(),
        rows: n,
        x,
        targets: ys
            .into_iter()
            .enumerate()
            .map(|(t, values)| TargetColumn::regression(&format!("y{}", t + 1), values))
            .collect(),
        split: None,
        encoding: None,
    }
}

impl Source for MmoeSpec {
    fn label(&self) -> String {
        "MMoE synthetic".to_owned()
    }

    fn targets(&self) -> Option<Vec<(String, TaskKind)>> {
        Some(mmoe_targets(self))
    }

    fn input_size(&self) -> Option<usize> {
        Some(self.dim)
    }

    fn rows(&self) -> Option<usize> {
        Some(self.samples)
    }

    fn preview(&self) -> DatasetSpec {
        DatasetSpec::Mmoe(Self {
            samples: self.samples.min(5000),
            ..self.clone()
        })
    }

    fn load(&self, seed: u64, _tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
        Ok(mmoe(self, seed))
    }

    fn problems(&self) -> Vec<(&'static str, String)> {
        let m = self;
        let mut out = Vec::new();
        if m.samples < 10 {
            out.push(("samples", format!("{} must be >= 10", m.samples)));
        }
        if m.dim == 0 || m.dim > MAX_LAYER_WIDTH {
            out.push(("dim", format!("{} must be in 1..={MAX_LAYER_WIDTH}", m.dim)));
        }
        if m.tasks == 0 || m.tasks > m.dim.max(1) {
            out.push((
                "tasks",
                format!("{} must be in 1..=dim ({})", m.tasks, m.dim),
            ));
        }
        if !(-1.0..=1.0).contains(&m.correlation) {
            out.push((
                "correlation",
                format!("p={} must be in [-1, 1]", m.correlation),
            ));
        }
        if !(-1.0..=1.0).contains(&m.pair_correlation) {
            out.push((
                "pair_correlation",
                format!("{} must be in [-1, 1]", m.pair_correlation),
            ));
        }
        if !(m.scale.is_finite() && m.scale > 0.0) {
            out.push(("scale", format!("c={} must be > 0", m.scale)));
        }
        if !(m.noise_std.is_finite() && m.noise_std >= 0.0) {
            out.push(("noise_std", format!("{} must be >= 0", m.noise_std)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmoe_is_seeded_and_correlation_follows_p() {
        let mut spec = MmoeSpec {
            samples: 4000,
            ..MmoeSpec::default()
        };
        let a = mmoe(&spec, 1);
        assert_eq!(a.x, mmoe(&spec, 1).x, "same seed, same data");
        assert_ne!(a.x, mmoe(&spec, 2).x, "other seed, other data");
        let mut last = -2.0;
        for p in [-1.0, 0.0, 0.5, 1.0] {
            spec.correlation = p;
            let r = mmoe(&spec, 3).label_correlation(0, 1);
            assert!(r > last, "correlation grows with p: {r} after {last}");
            last = r;
        }
        spec.correlation = 1.0;
        let r = mmoe(&spec, 3).label_correlation(0, 1);
        assert!(r > 0.98, "p = 1 gives near-identical labels, got {r}");
        spec.correlation = 0.0;
        let r = mmoe(&spec, 3).label_correlation(0, 1);
        assert!(r.abs() < 0.1, "p = 0 gives uncorrelated labels, got {r}");
    }
}
