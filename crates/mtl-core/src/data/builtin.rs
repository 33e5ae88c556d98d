//! Built-in generated datasets, fully determined by their parameters and a seed.
//!
//! - [`mmoe`]: the synthetic regression tasks of Ma et al., "Modeling Task Relationships in
//!   Multi-task Learning with Multi-gate Mixture-of-Experts" (KDD 2018), §3.2, with the
//!   task-correlation knob p.
//! - [`playground`]: TensorFlow-Playground-style 2-D points with several labels each (circle,
//!   xor, rotated xor, gauss, spiral; plane and Gaussian-bump regression).
//! - [`shapes`]: Shapes-32 images (one circle, square or triangle) with class, size, area,
//!   position and orientation labels, for convolutional trunks.

use rand::Rng as _;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal, StandardNormal};

use super::{Dataset, TargetColumn};
use crate::experiment::{MmoeSpec, PlaygroundSpec, ShapesSpec, TaskKind};
use crate::rng;

/// Input dimension of the Playground data.
pub const PLAYGROUND_DIM: usize = 2;

/// Labels of the MMoE data: `y1 ... yK`, all regression.
pub fn mmoe_targets(spec: &MmoeSpec) -> Vec<(String, TaskKind)> {
    (1..=spec.tasks)
        .map(|i| (format!("y{i}"), TaskKind::Regression))
        .collect()
}

/// Labels of the Playground data.
pub fn playground_targets() -> Vec<(String, TaskKind)> {
    owned(&PLAYGROUND_LABELS)
}

fn owned(labels: &[(&str, TaskKind)]) -> Vec<(String, TaskKind)> {
    labels.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect()
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

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    StandardNormal.sample(rng)
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

/// Side of a Shapes-32 image.
pub const SHAPES_SIDE: usize = 32;

/// Labels of the Shapes-32 data (the multi-shape variant adds `count` and `semantic`).
pub fn shapes_targets(spec: &ShapesSpec) -> Vec<(String, TaskKind)> {
    let mut labels = owned(&SHAPES_LABELS);
    if spec.max_shapes > 1 {
        labels.extend(owned(&MULTI_LABELS));
    }
    labels
}

const SHAPES_LABELS: [(&str, TaskKind); 8] = [
    ("shape", TaskKind::Multiclass),
    ("size", TaskKind::Regression),
    ("area", TaskKind::Regression),
    ("centre_x", TaskKind::Regression),
    ("centre_y", TaskKind::Regression),
    ("orientation_sin", TaskKind::Regression),
    ("orientation_cos", TaskKind::Regression),
    ("mask", TaskKind::Segmentation),
];

/// Shapes-32 (this project's recipe, after dSprites): one grey shape per 32 × 32 image
/// (with `max_shapes` > 1: 1 to `max_shapes` shapes that do not overlap, see `multi_shapes`).
///
/// Class k ∈ {circle, square, triangle}; circumradius r ~ U(6, 12) px; centre ~ U(r + 1,
/// 31 − r) on both axes; rotation θ ~ U(0, 2π); intensity v ~ U(0.5, 1). Each pixel is
/// rendered by 4 × 4 supersampling: image = clip(v·coverage + N(0, noise²), 0, 1). Labels:
/// `shape` (3 classes), `size` = r/32, `area` = (pixels with coverage ≥ ½)/1024, `centre_x`
/// and `centre_y` = c/32, `orientation_sin`/`orientation_cos` = sin kθ, cos kθ with k = 4
/// for squares and 3 for triangles (their symmetries), missing for circles, and `mask`, the
/// 32 × 32 segmentation (coverage ≥ ½).
pub fn shapes(spec: &ShapesSpec, seed: u64) -> Dataset {
    if spec.max_shapes > 1 {
        return multi_shapes(spec, seed);
    }
    let mut rng = rng::stream(seed, "data.shapes");
    let n = spec.samples;
    let side = SHAPES_SIDE;
    let noise = spec.noise.max(0.0);
    let mut x = Vec::with_capacity(n * side * side);
    let mut masks = Vec::with_capacity(n * side * side);
    let mut labels: Vec<Vec<f32>> = vec![Vec::with_capacity(n); SHAPES_LABELS.len() - 1];
    let mut present_orientation = Vec::with_capacity(n);
    for _ in 0..n {
        let class = rng.random_range(0..3usize);
        let r: f64 = rng.random_range(6.0..12.0);
        let cx: f64 = rng.random_range(r + 1.0..side as f64 - r - 1.0);
        let cy: f64 = rng.random_range(r + 1.0..side as f64 - r - 1.0);
        let theta: f64 = rng.random_range(0.0..std::f64::consts::TAU);
        let v: f64 = rng.random_range(0.5..1.0);
        let area = render_shape(
            class,
            (cx, cy, r, theta),
            v,
            noise,
            &mut rng,
            (&mut x, &mut masks),
        );
        let symmetry = match class {
            1 => 4.0,
            _ => 3.0,
        };
        let s = side as f64;
        let values = [
            class as f64,
            r / s,
            area as f64 / (s * s),
            cx / s,
            cy / s,
            if class == 0 {
                0.0
            } else {
                (symmetry * theta).sin()
            },
            if class == 0 {
                0.0
            } else {
                (symmetry * theta).cos()
            },
        ];
        for (column, v) in labels.iter_mut().zip(values) {
            column.push(v as f32);
        }
        present_orientation.push(class != 0);
    }
    labels.push(masks);
    Dataset {
        name: "Shapes-32".to_owned(),
        feature_names: pixel_names(),
        rows: n,
        x,
        targets: shape_columns(labels, &present_orientation, n),
        split: None,
        encoding: None,
    }
}

/// Draws one Shapes-32 image (class, (cx, cy, r, θ), intensity v, pixel noise) into `x` by
/// 4 × 4 supersampling; returns the number of pixels at least half covered.
fn render_shape(
    class: usize,
    geometry: (f64, f64, f64, f64),
    v: f64,
    noise: f64,
    rng: &mut ChaCha8Rng,
    (x, masks): (&mut Vec<f32>, &mut Vec<f32>),
) -> usize {
    let mut area = 0usize;
    for coverage in coverage_of(class, geometry) {
        area += usize::from(coverage >= 0.5);
        masks.push(if coverage >= 0.5 { 1.0 } else { 0.0 });
        let value = (v * coverage + noise * normal(rng)).clamp(0.0, 1.0);
        x.push(value as f32);
    }
    area
}

/// The share of each pixel (row-major) that a shape covers, by 4 × 4 supersampling at
/// sub-pixel centres.
fn coverage_of(class: usize, (cx, cy, r, theta): (f64, f64, f64, f64)) -> Vec<f64> {
    let side = SHAPES_SIDE;
    let (sin, cos) = theta.sin_cos();
    let triangle: Vec<(f64, f64)> = (0..3)
        .map(|k| {
            let a = theta + std::f64::consts::FRAC_PI_2 + std::f64::consts::TAU * k as f64 / 3.0;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    let inside = |px: f64, py: f64| {
        let (dx, dy) = (px - cx, py - cy);
        match class {
            0 => dx * dx + dy * dy <= r * r,
            1 => {
                let half = r / std::f64::consts::SQRT_2;
                let u = dx * cos + dy * sin;
                let w = -dx * sin + dy * cos;
                u.abs() <= half && w.abs() <= half
            }
            _ => {
                let cross = |(ax, ay): (f64, f64), (bx, by): (f64, f64)| {
                    (bx - ax) * (py - ay) - (by - ay) * (px - ax)
                };
                let c: Vec<f64> = (0..3)
                    .map(|k| cross(triangle[k], triangle[(k + 1) % 3]))
                    .collect();
                c.iter().all(|v| *v >= 0.0) || c.iter().all(|v| *v <= 0.0)
            }
        }
    };
    let mut out = Vec::with_capacity(side * side);
    for i in 0..side {
        for j in 0..side {
            let mut hits = 0u32;
            for s in 0..4 {
                for t in 0..4 {
                    let px = j as f64 + (f64::from(s) + 0.5) / 4.0;
                    let py = i as f64 + (f64::from(t) + 0.5) / 4.0;
                    hits += u32::from(inside(px, py));
                }
            }
            out.push(f64::from(hits) / 16.0);
        }
    }
    out
}

/// Labels added by the multi-shape variant of Shapes-32.
const MULTI_LABELS: [(&str, TaskKind); 2] = [
    ("count", TaskKind::Multiclass),
    ("semantic", TaskKind::SemanticSegmentation),
];

/// One shape of a multi-shape image.
struct Placed {
    class: usize,
    geometry: (f64, f64, f64, f64),
    value: f64,
}

/// Draws 1 to `max` shapes that do not overlap (centre distance > rₐ + r_b + 1; a placement
/// that fails 100 times ends the image with the shapes placed so far).
fn place_shapes(max: usize, rng: &mut ChaCha8Rng) -> Vec<Placed> {
    let side = SHAPES_SIDE as f64;
    let n = rng.random_range(1..=max.max(1));
    let mut placed: Vec<Placed> = Vec::with_capacity(n);
    'shapes: for _ in 0..n {
        for _ in 0..100 {
            let class = rng.random_range(0..3usize);
            // Smaller shapes than the single-shape recipe, so three fit side by side.
            let r: f64 = rng.random_range(4.0..8.0);
            let cx: f64 = rng.random_range(r + 1.0..side - r - 1.0);
            let cy: f64 = rng.random_range(r + 1.0..side - r - 1.0);
            let theta: f64 = rng.random_range(0.0..std::f64::consts::TAU);
            let value: f64 = rng.random_range(0.5..1.0);
            let clear = placed.iter().all(|p| {
                let (px, py, pr, _) = p.geometry;
                ((px - cx).powi(2) + (py - cy).powi(2)).sqrt() > pr + r + 1.0
            });
            if clear {
                placed.push(Placed {
                    class,
                    geometry: (cx, cy, r, theta),
                    value,
                });
                continue 'shapes;
            }
        }
        break;
    }
    placed
}

/// The multi-shape variant of Shapes-32 (see [`shapes`]): 1 to `max_shapes` shapes that do
/// not overlap, radius r ~ U(4, 8). The single-shape labels describe the largest shape (by
/// mask area), except `area` (all shapes) and `mask` (their union); `count` (classes 1, 2, 3)
/// and `semantic` (a 4-class segmentation: background, circle, square, triangle) are added.
fn multi_shapes(spec: &ShapesSpec, seed: u64) -> Dataset {
    let mut rng = rng::stream(seed, "data.shapes.multi");
    let n = spec.samples;
    let side = SHAPES_SIDE;
    let plane = side * side;
    let s = side as f64;
    let mut x = Vec::with_capacity(n * plane);
    let (mut masks, mut semantic) = (Vec::with_capacity(n * plane), Vec::with_capacity(n * plane));
    let mut labels: Vec<Vec<f32>> = vec![Vec::with_capacity(n); SHAPES_LABELS.len() - 1];
    let (mut count, mut present_orientation) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let placed = place_shapes(spec.max_shapes, &mut rng);
        let mut image = vec![0.0f64; plane];
        let mut classes = vec![0.0f32; plane];
        let mut largest = (0usize, 0usize);
        for (k, shape) in placed.iter().enumerate() {
            let cover = coverage_of(shape.class, shape.geometry);
            let mut area = 0usize;
            for (p, c) in cover.iter().enumerate() {
                image[p] = image[p].max(shape.value * c);
                if *c >= 0.5 {
                    area += 1;
                    classes[p] = (shape.class + 1) as f32;
                }
            }
            if area > largest.1 {
                largest = (k, area);
            }
        }
        for v in &image {
            x.push((v + spec.noise.max(0.0) * normal(&mut rng)).clamp(0.0, 1.0) as f32);
        }
        let total = classes.iter().filter(|c| **c > 0.0).count();
        masks.extend(classes.iter().map(|c| if *c > 0.0 { 1.0 } else { 0.0 }));
        semantic.extend_from_slice(&classes);
        let big = &placed[largest.0];
        let (cx, cy, r, theta) = big.geometry;
        let symmetry = if big.class == 1 { 4.0 } else { 3.0 };
        let circle = big.class == 0;
        let values = [
            big.class as f64,
            r / s,
            total as f64 / (s * s),
            cx / s,
            cy / s,
            if circle {
                0.0
            } else {
                (symmetry * theta).sin()
            },
            if circle {
                0.0
            } else {
                (symmetry * theta).cos()
            },
        ];
        for (column, v) in labels.iter_mut().zip(values) {
            column.push(v as f32);
        }
        present_orientation.push(!circle);
        count.push((placed.len() - 1) as f32);
    }
    labels.push(masks);
    let mut targets = shape_columns(labels, &present_orientation, n);
    let mut count_column = TargetColumn::regression(MULTI_LABELS[0].0, count);
    count_column.kind = TaskKind::Multiclass;
    count_column.classes = (1..=spec.max_shapes.max(1))
        .map(|k| k.to_string())
        .collect();
    targets.push(count_column);
    let mut semantic_column = TargetColumn::regression(MULTI_LABELS[1].0, semantic);
    semantic_column.kind = TaskKind::SemanticSegmentation;
    semantic_column.classes = ["background", "circle", "square", "triangle"]
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    semantic_column.width = plane;
    semantic_column.present = vec![true; n];
    targets.push(semantic_column);
    Dataset {
        name: format!("Shapes-32 (1-{} shapes)", spec.max_shapes),
        feature_names: pixel_names(),
        rows: n,
        x,
        targets,
        split: None,
        encoding: None,
    }
}

fn pixel_names() -> Vec<String> {
    let side = SHAPES_SIDE;
    (0..side * side)
        .map(|p| format!("px_{}_{}", p / side, p % side))
        .collect()
}

/// The single-shape label columns from their values (the mask last).
fn shape_columns(
    labels: Vec<Vec<f32>>,
    present_orientation: &[bool],
    n: usize,
) -> Vec<TargetColumn> {
    SHAPES_LABELS
        .iter()
        .zip(labels)
        .map(|((name, kind), values)| {
            let mut column = TargetColumn::regression(name, values);
            column.kind = *kind;
            if *kind == TaskKind::Multiclass {
                column.classes = vec!["circle".into(), "square".into(), "triangle".into()];
            }
            if name.starts_with("orientation") {
                column.present = present_orientation.to_vec();
            }
            if *kind == TaskKind::Segmentation {
                column.width = SHAPES_SIDE * SHAPES_SIDE;
                column.present = vec![true; n];
            }
            column
        })
        .collect()
}

#[cfg(test)]
mod shapes_tests {
    use super::*;

    #[test]
    fn shapes_are_seeded_inside_the_image_and_labelled_as_specified() {
        let spec = ShapesSpec {
            samples: 60,
            noise: 0.0,
            max_shapes: 1,
        };
        let a = shapes(&spec, 3);
        let b = shapes(&spec, 3);
        assert_eq!(a.x, b.x, "same seed, same images");
        assert_eq!(a.x.len(), 60 * 1024);
        let shape = &a.targets[0];
        let area = &a.targets[2];
        let size = &a.targets[1];
        let orient = &a.targets[5];
        for row in 0..60 {
            let img = &a.x[row * 1024..(row + 1) * 1024];
            // The border is empty: the shape lies fully inside.
            for k in 0..32 {
                assert_eq!(img[k], 0.0, "top row");
                assert_eq!(img[31 * 32 + k], 0.0, "bottom row");
            }
            let r = f64::from(size.values[row]) * 32.0;
            let theory = match shape.values[row] as usize {
                0 => std::f64::consts::PI * r * r,
                1 => 2.0 * r * r,
                _ => 1.299 * r * r,
            };
            let rendered = f64::from(area.values[row]) * 1024.0;
            assert!(
                (rendered - theory).abs() < 0.08 * theory,
                "row {row}: area {rendered} vs {theory}"
            );
            assert_eq!(
                orient.present[row],
                shape.values[row] != 0.0,
                "orientation is missing exactly for circles"
            );
        }
    }

    #[test]
    fn multi_shapes_do_not_overlap_and_label_count_and_classes() {
        let spec = ShapesSpec {
            samples: 80,
            noise: 0.0,
            max_shapes: 3,
        };
        let d = shapes(&spec, 9);
        let col = |name: &str| d.target(name).expect(name);
        let (count, semantic, mask, shape) =
            (col("count"), col("semantic"), col("mask"), col("shape"));
        assert_eq!(semantic.kind, TaskKind::SemanticSegmentation);
        assert_eq!(semantic.classes.len(), 4);
        let counts: std::collections::BTreeSet<u32> =
            count.values.iter().map(|v| *v as u32).collect();
        assert_eq!(counts.len(), 3, "1, 2 and 3 shapes all occur: {counts:?}");
        for r in 0..d.rows {
            let sem = &semantic.values[r * 1024..(r + 1) * 1024];
            let msk = &mask.values[r * 1024..(r + 1) * 1024];
            for (s, m) in sem.iter().zip(msk) {
                assert_eq!(*s > 0.0, *m > 0.5, "the mask is the union of the classes");
            }
            // The largest shape's class is among the image's classes.
            let largest = shape.values[r] as usize + 1;
            assert!(sem.iter().any(|c| *c as usize == largest), "row {r}");
            // No more classes than shapes.
            let present: std::collections::BTreeSet<u32> = sem
                .iter()
                .filter(|c| **c > 0.0)
                .map(|c| *c as u32)
                .collect();
            assert!(present.len() <= count.values[r] as usize + 1, "row {r}");
        }
        assert_eq!(d.x, shapes(&spec, 9).x, "seeded");
    }
}
