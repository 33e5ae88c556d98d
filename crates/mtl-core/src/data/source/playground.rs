//! TensorFlow-Playground-style 2-D points with several labels each (circle, xor, rotated
//! xor, gauss, spiral; plane and Gaussian-bump regression).

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::{DatasetSpec, Source, owned};
use crate::data::{DataError, Dataset, TargetColumn};
use crate::rng;
use crate::task::{TaskKind, TaskSpec};

/// Parameters of the Playground-style 2-D data (see `data::builtin::playground`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlaygroundSpec {
    /// Number of points.
    pub samples: usize,
    /// Label noise in [0, 0.5], as the Playground's slider divided by 100.
    pub noise: f64,
    /// Rotation of the second XOR task, in degrees.
    pub xor_angle_deg: f64,
}

impl Default for PlaygroundSpec {
    fn default() -> Self {
        Self {
            samples: 1_000,
            noise: 0.0,
            xor_angle_deg: 30.0,
        }
    }
}

/// Input dimension of the Playground data.
pub const PLAYGROUND_DIM: usize = 2;

/// Labels of the Playground data.
pub fn playground_targets() -> Vec<(String, TaskKind)> {
    owned(&PLAYGROUND_LABELS)
}

const PLAYGROUND_LABELS: [(&str, TaskKind); 7] = [
    ("circle", TaskKind::Binary),
    ("xor", TaskKind::Binary),
    ("xor_rotated", TaskKind::Binary),
    ("gauss", TaskKind::Binary),
    ("spiral", TaskKind::Binary),
    ("plane", TaskKind::Regression),
    ("gauss_bumps", TaskKind::Regression),
];

/// The Playground-style 2-D data: points uniform in [−6, 6]², each with every label of
/// [`playground_targets`]. As in the Playground, noise moves only the point used to compute a
/// label (so labels near a boundary flip), never the stored point.
pub fn playground(spec: &PlaygroundSpec, seed: u64) -> Dataset {
    let mut rng = rng::stream(seed, "data.playground");
    let n = spec.samples;
    let noise = spec.noise;
    let (sin, cos) = spec.xor_angle_deg.to_radians().sin_cos();
    let mut x = Vec::with_capacity(2 * n);
    let mut labels = vec![Vec::with_capacity(n); PLAYGROUND_LABELS.len()];
    for _ in 0..n {
        let px = rng.random_range(-6.0..6.0f64);
        let py = rng.random_range(-6.0..6.0f64);
        x.push(px as f32);
        x.push(py as f32);
        let mut jitter = |scale: f64| {
            let nx = rng.random_range(-scale..=scale) * noise;
            let ny = rng.random_range(-scale..=scale) * noise;
            (px + nx, py + ny)
        };
        let bit = |b: bool| if b { 1.0 } else { 0.0 };
        // Circle of radius R/2 = 2.5 (R = 5).
        let (cx, cy) = jitter(5.0);
        labels[0].push(bit((cx * cx + cy * cy).sqrt() < 2.5));
        // XOR.
        let (ax, ay) = jitter(5.0);
        labels[1].push(bit(ax * ay >= 0.0));
        // XOR with the plane rotated by the angle.
        let (bx, by) = jitter(5.0);
        let (rx, ry) = (cos * bx + sin * by, -sin * bx + cos * by);
        labels[2].push(bit(rx * ry >= 0.0));
        // Two Gaussians at (2, 2) and (−2, −2): the Bayes boundary x + y = 0.
        let (gx, gy) = jitter(3.0);
        labels[3].push(bit(gx + gy > 0.0));
        // Two spiral arms r = 5i/n, θ = 1.75·2π·i/n (+π for the second): the nearer arm.
        let (sx, sy) = jitter(1.0);
        labels[4].push(bit(spiral_arm(sx, sy)));
        // Plane: (x + y) mapped from [−10, 10] to [−1, 1].
        let (lx, ly) = jitter(6.0);
        labels[5].push(((lx + ly) / 10.0) as f32);
        // Six signed Gaussian bumps.
        let (ux, uy) = jitter(6.0);
        labels[6].push(gauss_bumps(ux, uy) as f32);
    }
    Dataset {
        name: format!("Playground 2-D (noise {noise})"),
        feature_names: vec!["x1".to_owned(), "x2".to_owned()],
        rows: n,
        x,
        targets: labels
            .into_iter()
            .zip(PLAYGROUND_LABELS)
            .map(|(values, (name, kind))| match kind {
                TaskKind::Regression => TargetColumn::regression(name, values),
                _ => TargetColumn::binary(name, values),
            })
            .collect(),
        split: None,
        encoding: None,
    }
}

/// True when (x, y) is nearer the first spiral arm than the second.
fn spiral_arm(x: f64, y: f64) -> bool {
    use std::f64::consts::{PI, TAU};
    let r = (x * x + y * y).sqrt();
    let theta = x.atan2(y); // Points are (r sin t, r cos t).
    let arm = 1.75 * TAU * r / 5.0;
    let diff = (theta - arm).rem_euclid(TAU);
    !(PI / 2.0..=1.5 * PI).contains(&diff)
}

/// The Playground's `reg-gauss` label: the signed bump with the largest magnitude.
fn gauss_bumps(x: f64, y: f64) -> f64 {
    const CENTRES: [(f64, f64, f64); 6] = [
        (-4.0, 2.5, 1.0),
        (0.0, 2.5, -1.0),
        (4.0, 2.5, 1.0),
        (-4.0, -2.5, -1.0),
        (0.0, -2.5, 1.0),
        (4.0, -2.5, -1.0),
    ];
    CENTRES
        .iter()
        .map(|(cx, cy, sign)| {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
            sign * (1.0 - d / 2.0).clamp(0.0, 1.0)
        })
        .fold(0.0, |best, v| if v.abs() > best.abs() { v } else { best })
}

impl Source for PlaygroundSpec {
    fn label(&self) -> String {
        "Playground 2-D".to_owned()
    }

    fn targets(&self) -> Option<Vec<(String, TaskKind)>> {
        Some(playground_targets())
    }

    fn input_size(&self) -> Option<usize> {
        Some(PLAYGROUND_DIM)
    }

    fn rows(&self) -> Option<usize> {
        Some(self.samples)
    }

    fn preview(&self) -> DatasetSpec {
        DatasetSpec::Playground(Self {
            samples: self.samples.min(5000),
            ..self.clone()
        })
    }

    fn load(&self, seed: u64, _tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
        Ok(playground(self, seed))
    }

    fn problems(&self) -> Vec<(&'static str, String)> {
        let p = self;
        let mut out = Vec::new();
        if p.samples < 10 {
            out.push(("samples", format!("{} must be >= 10", p.samples)));
        }
        if !(0.0..=0.5).contains(&p.noise) {
            out.push(("noise", format!("{} must be in [0, 0.5]", p.noise)));
        }
        if !p.xor_angle_deg.is_finite() {
            out.push(("xor_angle_deg", "must be a number".to_owned()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playground_xor_rotated_by_90_degrees_is_the_flipped_task() {
        let spec = PlaygroundSpec {
            samples: 500,
            noise: 0.0,
            xor_angle_deg: 90.0,
        };
        let data = playground(&spec, 5);
        let r = data.label_correlation(1, 2);
        assert!(r < -0.99, "xor at 90° is the negated xor, correlation {r}");
        let circle_positive = data.targets[0].values.iter().sum::<f32>() / data.rows as f32;
        assert!(
            (0.05..0.3).contains(&circle_positive),
            "about π·2.5²/144 ≈ 14% of points lie in the circle, got {circle_positive}"
        );
    }
}
