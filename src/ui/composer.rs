//! The model composer: the trunk's and each head's layer lists (add, remove, reorder, edit)
//! and a drawn diagram of trunk and heads that shows what is shared.

use egui::{Align2, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Ui, Vec2};

use super::theme;
use crate::experiment::{ExperimentSpec, LayerSpec, TaskKind};

/// Edits one layer list. Returns true when anything changed.
pub fn layer_list_ui(ui: &mut Ui, id: &str, add_label: &str, layers: &mut Vec<LayerSpec>) -> bool {
    let mut changed = false;
    let mut action: Option<(usize, i32)> = None; // (index, -1 up / +1 down / 0 remove)
    let count = layers.len();
    egui::Grid::new(id)
        .num_columns(3)
        .striped(true)
        .show(ui, |ui| {
            for (i, layer) in layers.iter_mut().enumerate() {
                ui.label(format!("{i}"));
                ui.horizontal(|ui| {
                    ui.label(layer.kind_name());
                    match layer {
                        LayerSpec::Linear { out } => {
                            changed |= ui
                                .add(
                                    egui::DragValue::new(out)
                                        .range(1..=crate::experiment::MAX_LAYER_WIDTH)
                                        .prefix("out "),
                                )
                                .on_hover_text("Output width of this layer")
                                .changed();
                        }
                        LayerSpec::Dropout { p } => {
                            changed |= ui
                                .add(
                                    egui::DragValue::new(p)
                                        .range(0.0..=0.95)
                                        .speed(0.01)
                                        .prefix("p "),
                                )
                                .changed();
                        }
                        LayerSpec::LayerNorm { eps } => {
                            changed |= ui
                                .add(
                                    egui::DragValue::new(eps)
                                        .range(1e-12..=1.0)
                                        .speed(1e-6)
                                        .prefix("eps "),
                                )
                                .changed();
                        }
                        _ => {}
                    }
                });
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(i > 0, egui::Button::new("⏶").small())
                        .on_hover_text("Move up")
                        .clicked()
                    {
                        action = Some((i, -1));
                    }
                    if ui
                        .add_enabled(i + 1 < count, egui::Button::new("⏷").small())
                        .on_hover_text("Move down")
                        .clicked()
                    {
                        action = Some((i, 1));
                    }
                    if ui
                        .add(egui::Button::new("✖").small())
                        .on_hover_text("Remove this layer")
                        .clicked()
                    {
                        action = Some((i, 0));
                    }
                });
                ui.end_row();
            }
        });
    if let Some((i, dir)) = action {
        match dir {
            0 => drop(layers.remove(i)),
            -1 => layers.swap(i, i - 1),
            _ => layers.swap(i, i + 1),
        }
        changed = true;
    }
    ui.menu_button(add_label, |ui| {
        for layer in LayerSpec::palette() {
            if ui.button(layer.to_string()).clicked() {
                layers.push(layer);
                changed = true;
                ui.close();
            }
        }
    });
    changed
}

/// The whole composer: trunk, heads, diagram, parameter counts. Returns true on a change.
pub fn composer_ui(
    ui: &mut Ui,
    spec: &mut ExperimentSpec,
    classes: &dyn Fn(&str) -> usize,
) -> bool {
    let mut changed = false;
    diagram_ui(ui, spec, classes);
    let (shared, heads) = param_counts(spec, classes);
    ui.label(format!(
        "Parameters: shared {} · task-specific {} ({})",
        fmt_count(shared),
        fmt_count(heads.iter().sum()),
        spec.tasks
            .iter()
            .zip(&heads)
            .map(|(t, n)| format!("{} {}", t.name, fmt_count(*n)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    ui.add_space(4.0);
    ui.strong(format!("Shared trunk (input {})", spec.model.input));
    changed |= layer_list_ui(
        ui,
        "trunk-layers",
        "➕ Add trunk layer",
        &mut spec.model.shared,
    );
    for (k, task) in spec.tasks.iter().enumerate() {
        let Some(head) = spec.model.heads.iter_mut().find(|h| h.task == task.name) else {
            continue;
        };
        ui.add_space(4.0);
        ui.horizontal(|ui| {
            let (rect, _) = ui.allocate_exact_size(Vec2::splat(10.0), Sense::hover());
            ui.painter().rect_filled(rect, 2.0, theme::task(k));
            ui.strong(format!("Head '{}'", task.name));
            ui.weak(format!(
                "then output {} ({})",
                out_width(task.kind, classes(&task.target)),
                task.loss()
            ));
        });
        changed |= layer_list_ui(
            ui,
            &format!("head-{}", task.name),
            &format!("➕ Add layer to {}", task.name),
            &mut head.layers,
        );
    }
    changed
}

fn out_width(kind: TaskKind, classes: usize) -> usize {
    if kind == TaskKind::Multiclass {
        classes.max(2)
    } else {
        1
    }
}

/// Parameters in the trunk and in each head (with its output layer).
pub fn param_counts(spec: &ExperimentSpec, classes: &dyn Fn(&str) -> usize) -> (usize, Vec<usize>) {
    let mut w = spec.model.input;
    let mut shared = 0;
    for l in &spec.model.shared {
        shared += l.param_count(w);
        w = l.out_width(w);
    }
    let trunk = w;
    let heads = spec
        .tasks
        .iter()
        .map(|t| {
            let mut w = trunk;
            let mut n = 0;
            for l in spec
                .head(&t.name)
                .map(|h| h.layers.as_slice())
                .unwrap_or_default()
            {
                n += l.param_count(w);
                w = l.out_width(w);
            }
            n + LayerSpec::Linear {
                out: out_width(t.kind, classes(&t.target)),
            }
            .param_count(w)
        })
        .collect();
    (shared, heads)
}

/// `12345` → `12.3k`.
pub fn fmt_count(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{:.2}M", n as f64 / 1e6)
    } else if n >= 10_000 {
        format!("{:.1}k", n as f64 / 1e3)
    } else {
        n.to_string()
    }
}

/// Draws input → trunk → heads → outputs, left to right. Shared layers in the trunk colour,
/// each head in its task's colour.
pub fn diagram_ui(ui: &mut Ui, spec: &ExperimentSpec, classes: &dyn Fn(&str) -> usize) {
    let heads: Vec<(usize, &str, Vec<String>)> = spec
        .tasks
        .iter()
        .enumerate()
        .map(|(k, t)| {
            let mut boxes: Vec<String> = spec
                .head(&t.name)
                .map(|h| h.layers.iter().map(short).collect())
                .unwrap_or_default();
            boxes.push(format!("out {}", out_width(t.kind, classes(&t.target))));
            (k, t.name.as_str(), boxes)
        })
        .collect();
    let trunk: Vec<String> = spec.model.shared.iter().map(short).collect();
    let head_cols = heads.iter().map(|h| h.2.len()).max().unwrap_or(1);
    let cols = 1 + trunk.len() + head_cols;
    let rows = heads.len().max(1);
    let row_h = 30.0;
    let width = ui.available_width().max(200.0);
    let height = (rows as f32 * row_h + 28.0).max(70.0);
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    let painter = ui.painter_at(rect);
    let label_w = 8.0 + 7.0 * spec.tasks.iter().map(|t| t.name.len()).max().unwrap_or(4) as f32;
    let col_w = (rect.width() - 8.0 - label_w) / cols as f32;
    let box_w = (col_w - 8.0).clamp(20.0, 70.0);
    let box_h = 20.0;
    let font = FontId::proportional(11.0);
    let centre_y = rect.top() + 14.0 + rows as f32 * row_h / 2.0;
    let x_of = |c: usize| rect.left() + 4.0 + col_w * (c as f32 + 0.5);
    let draw_box = |centre: Pos2, text: &str, fill: egui::Color32| {
        let r = Rect::from_center_size(centre, Vec2::new(box_w, box_h));
        painter.rect_filled(r, 4.0, fill);
        painter.rect_stroke(
            r,
            4.0,
            Stroke::new(1.0, theme::on_box()),
            StrokeKind::Inside,
        );
        painter.text(
            centre,
            Align2::CENTER_CENTER,
            text,
            font.clone(),
            theme::on_box(),
        );
        r
    };
    let edge = Stroke::new(1.5, ui.visuals().text_color());
    // Label the shared region.
    if !trunk.is_empty() {
        let left = x_of(1) - box_w / 2.0 - 3.0;
        let right = x_of(trunk.len()) + box_w / 2.0 + 3.0;
        let band = Rect::from_min_max(
            Pos2::new(left, rect.top() + 1.0),
            Pos2::new(right, rect.bottom() - 1.0),
        );
        painter.rect_filled(band, 6.0, theme::faint(theme::shared(), 40));
        painter.text(
            Pos2::new(band.center().x, rect.top() + 7.0),
            Align2::CENTER_CENTER,
            "shared",
            font.clone(),
            theme::shared(),
        );
    }
    let mut prev = draw_box(
        Pos2::new(x_of(0), centre_y),
        &format!("in {}", spec.model.input),
        theme::input(),
    );
    for (i, text) in trunk.iter().enumerate() {
        let r = draw_box(Pos2::new(x_of(1 + i), centre_y), text, theme::shared());
        painter.line_segment([prev.right_center(), r.left_center()], edge);
        prev = r;
    }
    let trunk_end = prev;
    for (row, (k, name, boxes)) in heads.iter().enumerate() {
        let y = rect.top() + 14.0 + row_h * (row as f32 + 0.5);
        let colour = theme::task(*k);
        let mut last = trunk_end;
        for (j, text) in boxes.iter().enumerate() {
            let r = draw_box(Pos2::new(x_of(1 + trunk.len() + j), y), text, colour);
            painter.line_segment(
                [last.right_center(), r.left_center()],
                Stroke::new(1.5, colour),
            );
            last = r;
        }
        painter.text(
            last.right_center() + Vec2::new(3.0, 0.0),
            Align2::LEFT_CENTER,
            *name,
            font.clone(),
            colour,
        );
    }
}

fn short(layer: &LayerSpec) -> String {
    match layer {
        LayerSpec::Linear { out } => format!("{out}"),
        LayerSpec::Dropout { p } => format!("drop {p}"),
        LayerSpec::LayerNorm { .. } => "norm".to_owned(),
        other => other.kind_name().to_owned(),
    }
}
