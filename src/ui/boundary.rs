//! The Boundaries tab: for data with two inputs, one live heatmap per task of the model's
//! prediction over the input plane (class probability, most likely class, or value), with
//! the data points on top, as TensorFlow Playground draws it.

use egui::{Pos2, Rect, Sense, Stroke, Vec2, pos2};

use super::theme;
use crate::data::Dataset;
use crate::experiment::{ExperimentSpec, TaskKind};
use crate::trainer::Boundary;

/// Points drawn per panel at most.
const MAX_POINTS: usize = 1500;

/// Textures of the last snapshot drawn.
#[derive(Default)]
pub struct BoundaryView {
    key: Option<(u64, u64, bool)>,
    textures: Vec<egui::TextureHandle>,
    /// Whether the data points are drawn.
    pub hide_points: bool,
}

impl BoundaryView {
    /// Rebuilds the textures when `b` is a new snapshot.
    /// `scales`: per task, the label range to colour regression values on (so the map and
    /// the points share one scale), or `None` to use the predictions' own range.
    fn refresh(
        &mut self,
        ctx: &egui::Context,
        b: &Boundary,
        kinds: &[TaskKind],
        scales: &[Option<(f32, f32)>],
    ) {
        let key = (b.run_id, b.step, scales.iter().any(Option::is_some));
        if self.key == Some(key) && self.textures.len() == b.values.len() {
            return;
        }
        self.textures = b
            .values
            .iter()
            .zip(&b.confidence)
            .enumerate()
            .map(|(k, (values, conf))| {
                let kind = kinds.get(k).copied().unwrap_or(TaskKind::Regression);
                let range = scales
                    .get(k)
                    .copied()
                    .flatten()
                    .unwrap_or_else(|| finite_range(values));
                let n = b.n;
                let pixels = (0..n * n)
                    .map(|i| {
                        // Image rows run top-down; the grid's bottom-up.
                        let (img_row, col) = (i / n, i % n);
                        let j = (n - 1 - img_row) * n + col;
                        cell_colour(kind, values[j], conf[j], range)
                    })
                    .collect();
                ctx.load_texture(
                    format!("boundary-{k}"),
                    egui::ColorImage::new([n, n], pixels),
                    egui::TextureOptions::LINEAR,
                )
            })
            .collect();
        self.key = Some(key);
    }
}

/// The colour of a prediction: binary, blue (1) against orange (0), deeper with confidence;
/// multiclass, the class's colour; regression, the value on the sequential ramp.
fn cell_colour(kind: TaskKind, value: f32, confidence: f32, range: (f32, f32)) -> egui::Color32 {
    match kind {
        TaskKind::Binary => theme::class_shade(usize::from(value >= 0.5), 2.0 * (confidence - 0.5)),
        TaskKind::Multiclass => theme::class_shade(value.max(0.0) as usize, confidence),
        _ => {
            let t = if range.1 > range.0 {
                (value - range.0) / (range.1 - range.0)
            } else {
                0.5
            };
            theme::ramp(f64::from(t))
        }
    }
}

/// The tab. `boundary` is the trainer's latest snapshot; `data` the dataset's rows (raw
/// inputs and labels) for the points on top.
pub fn boundary_ui(
    ui: &mut egui::Ui,
    view: &mut BoundaryView,
    spec: &ExperimentSpec,
    boundary: Option<&Boundary>,
    data: Option<&Dataset>,
) {
    if spec.model.input != 2 {
        ui.add_space(20.0);
        ui.label(format!(
            "Decision boundaries need data with two inputs (this experiment has {}). Pick \
             \"2-D Playground data\" as the source, or open the lesson \"Shared or separate \
             models?\" from Help > Lessons.",
            spec.model.input
        ));
        return;
    }
    let Some(b) = boundary else {
        ui.add_space(20.0);
        ui.label("Press ▶ Train: the model's prediction over the plane appears here and follows training.");
        return;
    };
    ui.horizontal(|ui| {
        ui.label(format!(
            "Step {}: the model's prediction on a {}×{} grid over the inputs' range.",
            b.step, b.n, b.n
        ));
        ui.checkbox(&mut view.hide_points, "hide the points");
        if data.is_none() {
            ui.weak("(no points: the data being edited differ from this run's)");
        }
    });
    ui.weak(
        "Binary: orange is class 0, blue class 1, paler where the model is unsure. Multiclass: \
         the most likely class's colour. Regression: the value, dark low to yellow high. Points: \
         the training data, coloured by their label the same way.",
    );
    let names: Vec<&str> = spec.tasks.iter().map(|t| t.name.as_str()).collect();
    // The points carry the dataset's label the task learns (its target), not the task name.
    let targets: Vec<&str> = spec.tasks.iter().map(|t| t.target.as_str()).collect();
    let kinds: Vec<TaskKind> = spec.tasks.iter().map(|t| t.kind).collect();
    let scales: Vec<Option<(f32, f32)>> = targets
        .iter()
        .map(|t| {
            let column = data?.targets.iter().find(|c| c.name == *t)?;
            let r = finite_range(&column.values);
            (r.0 < r.1).then_some(r)
        })
        .collect();
    view.refresh(ui.ctx(), b, &kinds, &scales);
    let count = view.textures.len().max(1);
    let width = ui.available_width();
    let height = ui.available_height() - 30.0;
    let columns = (1..=count)
        .map(|c| {
            let rows = count.div_ceil(c);
            (
                c,
                (width / c as f32 - 12.0).min(height / rows as f32 - 30.0),
            )
        })
        .fold((1, 0.0_f32), |best, c| if c.1 > best.1 { c } else { best });
    let size = columns.1.clamp(160.0, 560.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("boundaries")
            .spacing([10.0, 10.0])
            .show(ui, |ui| {
                for (k, tex) in view.textures.iter().enumerate() {
                    ui.vertical(|ui| {
                        ui.horizontal(|ui| {
                            ui.colored_label(theme::task(k), "■");
                            ui.strong(names.get(k).copied().unwrap_or(""));
                        });
                        let (response, painter) =
                            ui.allocate_painter(Vec2::splat(size), Sense::hover());
                        let rect = response.rect;
                        painter.image(
                            tex.id(),
                            rect,
                            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
                            egui::Color32::WHITE,
                        );
                        if !view.hide_points
                            && let Some(d) = data
                        {
                            points(&painter, rect, b, d, targets.get(k).copied().unwrap_or(""));
                        }
                        painter.rect_stroke(
                            rect,
                            0.0,
                            Stroke::new(1.0, theme::outline()),
                            egui::StrokeKind::Inside,
                        );
                    });
                    if (k + 1) % columns.0 == 0 {
                        ui.end_row();
                    }
                }
            });
    });
}

/// The smallest and largest finite value.
fn finite_range(values: &[f32]) -> (f32, f32) {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

/// The dataset's points with label `target`, mapped into `rect`.
fn points(painter: &egui::Painter, rect: Rect, b: &Boundary, d: &Dataset, target: &str) {
    if d.features() != 2 {
        return;
    }
    let Some(target) = d.targets.iter().find(|t| t.name == target) else {
        return;
    };
    let range = finite_range(&target.values);
    let to_screen = |x: f32, y: f32| -> Pos2 {
        let fx = (x - b.x[0]) / (b.x[1] - b.x[0]);
        let fy = (y - b.y[0]) / (b.y[1] - b.y[0]);
        pos2(
            rect.left() + fx * rect.width(),
            rect.bottom() - fy * rect.height(),
        )
    };
    let stride = d.rows.div_ceil(MAX_POINTS).max(1);
    for r in (0..d.rows).step_by(stride) {
        if !target.present.get(r).copied().unwrap_or(false) {
            continue;
        }
        let p = to_screen(d.x[2 * r], d.x[2 * r + 1]);
        if !rect.contains(p) {
            continue;
        }
        let v = target.values[r * target.width.max(1)];
        let fill = match target.kind {
            TaskKind::Binary => theme::class_shade(usize::from(v >= 0.5), 1.0),
            TaskKind::Multiclass => theme::class_shade(v.max(0.0) as usize, 1.0),
            _ => theme::ramp(f64::from(if range.1 > range.0 {
                (v - range.0) / (range.1 - range.0)
            } else {
                0.5
            })),
        };
        painter.circle(p, 3.0, fill, Stroke::new(1.0, theme::outline()));
    }
}
