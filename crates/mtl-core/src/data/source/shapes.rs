//! Shapes-32: 32 × 32 grey images of one circle, square or triangle (or, with more than one
//! `max_shapes`, up to three that do not overlap) with class, size, area, position, orientation and
//! mask labels, for convolutional trunks.

use rand::Rng as _;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{DatasetSpec, Source, normal, owned};
use crate::data::{DataError, Dataset, TargetColumn};
use crate::rng;
use crate::task::{TaskKind, TaskSpec};

/// Parameters of the Shapes-32 images (see `data::builtin::shapes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapesSpec {
    /// Number of images.
    pub samples: usize,
    /// Standard deviation of the pixel noise.
    pub noise: f64,
    /// Most shapes per image: 1 is the single-shape recipe; more draws 1..=max_shapes shapes
    /// that do not overlap and adds the `count` and `semantic` labels.
    pub max_shapes: usize,
}

impl Default for ShapesSpec {
    fn default() -> Self {
        Self {
            samples: 4000,
            noise: 0.05,
            max_shapes: 1,
        }
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

impl Source for ShapesSpec {
    fn label(&self) -> String {
        "Shapes-32".to_owned()
    }

    fn targets(&self) -> Option<Vec<(String, TaskKind)>> {
        Some(shapes_targets(self))
    }

    fn input_size(&self) -> Option<usize> {
        Some(SHAPES_SIDE * SHAPES_SIDE)
    }

    fn image_shape(&self) -> Option<[usize; 3]> {
        Some([1, SHAPES_SIDE, SHAPES_SIDE])
    }

    fn rows(&self) -> Option<usize> {
        Some(self.samples)
    }

    fn preview(&self) -> DatasetSpec {
        DatasetSpec::Shapes(Self {
            samples: self.samples.min(500),
            ..self.clone()
        })
    }

    fn load(&self, seed: u64, _tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
        Ok(shapes(self, seed))
    }

    fn problems(&self) -> Vec<(&'static str, String)> {
        let sh = self;
        let mut out = Vec::new();
        if sh.samples < 10 || sh.samples > 200_000 {
            out.push(("samples", format!("{} must be in 10..=200000", sh.samples)));
        }
        if !(0.0..=1.0).contains(&sh.noise) {
            out.push(("noise", format!("{} must be in [0, 1]", sh.noise)));
        }
        if sh.max_shapes == 0 || sh.max_shapes > 3 {
            out.push(("max_shapes", format!("{} must be in 1..=3", sh.max_shapes)));
        }
        out
    }
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
