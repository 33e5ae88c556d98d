//! The model composer: the architecture and its settings, the shared layers' and each
//! head's layer lists (add, remove, reorder, edit), links between heads, relationship
//! learning, and a drawn diagram that shows what is shared.

use egui::{Align2, FontId, Pos2, Rect, Sense, Shape, Stroke, StrokeKind, Ui, Vec2};

use super::settings::Edits;
use super::theme;
use crate::experiment::{
    Architecture, Coupling, ExperimentSpec, LayerSpec, LinkSpec, MAX_EXPERTS, Plan,
    RelationshipSpec, Take, TaskKind,
};

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
                    changed |= layer_params_ui(ui, layer);
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

/// The settings of one layer (width, probability, kernel, …). Returns true on a change.
fn layer_params_ui(ui: &mut Ui, layer: &mut LayerSpec) -> bool {
    let mut changed = false;
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
        LayerSpec::Conv2d {
            out_channels,
            kernel,
            stride,
            padding,
        } => {
            changed |= ui
                .add(
                    egui::DragValue::new(out_channels)
                        .range(1..=crate::experiment::MAX_CHANNELS)
                        .prefix("ch "),
                )
                .on_hover_text("Output channels")
                .changed();
            changed |= ui
                .add(egui::DragValue::new(kernel).range(1..=15).prefix("k "))
                .on_hover_text("Kernel size")
                .changed();
            changed |= ui
                .add(egui::DragValue::new(stride).range(1..=8).prefix("s "))
                .on_hover_text("Stride")
                .changed();
            changed |= ui
                .add(egui::DragValue::new(padding).range(0..=7).prefix("p "))
                .on_hover_text("Zero padding")
                .changed();
        }
        LayerSpec::MaxPool2d { kernel } => {
            changed |= ui
                .add(egui::DragValue::new(kernel).range(1..=16).prefix("k "))
                .on_hover_text("Window (and stride)")
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
    changed
}

/// The whole composer: architecture, layers, links, relationship learning, diagram and
/// parameter counts. A change of soft sharing's λ or relationship learning's λ₂ is a live
/// edit ([`Edits::penalty`]); everything else is structural.
pub fn composer_ui(
    ui: &mut Ui,
    spec: &mut ExperimentSpec,
    classes: &dyn Fn(&str) -> usize,
) -> Edits {
    let mut edits = Edits::default();
    edits |= architecture_ui(ui, spec);
    ui.add_space(4.0);
    diagram_ui(ui, spec, classes);
    match plan_of(spec, classes) {
        Ok(plan) => {
            ui.label(format!(
                "Parameters: shared {} · task-specific {} ({})",
                fmt_count(plan.shared_params),
                fmt_count(plan.task_params.iter().sum()),
                spec.tasks
                    .iter()
                    .zip(&plan.task_params)
                    .map(|(t, n)| format!("{} {}", t.name, fmt_count(*n)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Err(e) => {
            ui.colored_label(theme::error(), e);
        }
    }
    ui.add_space(4.0);
    let title = spec.model.architecture.layers_title();
    let input = spec
        .input_shape()
        .map_or_else(|_| spec.model.input.to_string(), |s| s.to_string());
    ui.strong(format!("{title} (input {input})"))
        .on_hover_text(spec.model.architecture.about());
    edits.structure |= layer_list_ui(
        ui,
        "trunk-layers",
        "➕ Add shared layer",
        &mut spec.model.shared,
    );
    let names: Vec<String> = spec.tasks.iter().map(|t| t.name.clone()).collect();
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
        edits.structure |= layer_list_ui(
            ui,
            &format!("head-{}", task.name),
            &format!("➕ Add layer to {}", task.name),
            &mut head.layers,
        );
        edits.structure |= links_ui(ui, &task.name, &names, &mut head.links);
    }
    edits
}

/// The network plan for the composer's counts and diagram.
fn plan_of(spec: &ExperimentSpec, classes: &dyn Fn(&str) -> usize) -> Result<Plan, String> {
    let out: Vec<usize> = spec
        .tasks
        .iter()
        .map(|t| out_width(t.kind, classes(&t.target)))
        .collect();
    spec.plan(&out)
}

/// Architecture picker, its settings, and relationship learning.
fn architecture_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> Edits {
    let mut edits = Edits::default();
    let arch = &mut spec.model.architecture;
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("Architecture")
            .selected_text(arch.label())
            .show_ui(ui, |ui| {
                for option in Architecture::palette() {
                    let selected = option.key() == arch.key();
                    let about = format!("{} ({})", option.about(), option.paper());
                    if ui
                        .selectable_label(selected, option.label())
                        .on_hover_text(about)
                        .clicked()
                        && !selected
                    {
                        *arch = option;
                        edits.structure = true;
                    }
                }
            });
        ui.weak(arch.paper());
    });
    match arch {
        Architecture::Hard => {}
        Architecture::Soft { lambda, coupling } => {
            ui.horizontal(|ui| {
                let label = ui.label("Coupling λ");
                edits.penalty |= ui
                    .add(
                        egui::Slider::new(lambda, 0.0..=100.0)
                            .logarithmic(true)
                            .smallest_positive(1e-4),
                    )
                    .on_hover_text(
                        "Strength of the L2 penalty between the towers; applies live while \
                         training. 0: separate models; large: the towers become one.",
                    )
                    .labelled_by(label.id)
                    .changed();
            });
            ui.horizontal(|ui| {
                egui::ComboBox::from_label("Couple towers")
                    .selected_text(coupling.label())
                    .show_ui(ui, |ui| {
                        for c in Coupling::ALL {
                            edits.structure |=
                                ui.selectable_value(coupling, c, c.label()).changed();
                        }
                    });
            });
        }
        Architecture::CrossStitch {
            self_weight,
            lr_scale,
        } => {
            ui.horizontal(|ui| {
                ui.label("Initial own-column α");
                edits.structure |= ui
                    .add(egui::Slider::new(self_weight, 0.0..=1.0))
                    .on_hover_text(
                        "Each unit starts with this weight on its own column and shares the \
                         rest equally among the others (0.9 in the paper).",
                    )
                    .changed();
            });
            ui.horizontal(|ui| {
                ui.label("α learning-rate ×");
                edits.structure |= ui
                    .add(egui::Slider::new(lr_scale, 1.0..=1000.0).logarithmic(true))
                    .on_hover_text("The paper trains the units 10²–10³ times faster with SGD; with Adam, whose steps do not grow with the gradient, about 10× is enough.")
                    .changed();
            });
        }
        Architecture::Mmoe { experts } | Architecture::Moe { experts } => {
            ui.horizontal(|ui| {
                ui.label("Experts");
                edits.structure |= ui
                    .add(egui::DragValue::new(experts).range(1..=MAX_EXPERTS))
                    .on_hover_text("Each expert is a copy of the layers listed below.")
                    .changed();
            });
        }
    }
    edits |= relationship_ui(ui, spec);
    edits
}

/// The relationship-learning switch and its settings.
fn relationship_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> Edits {
    let mut edits = Edits::default();
    let mut on = spec.model.relationship.is_some();
    if ui
        .checkbox(&mut on, "Learn task relationships (MRL)")
        .on_hover_text(
            "Zhang & Yeung, UAI 2010: couples the heads' output weights through a learned \
             task covariance Ω, shown as a heatmap while training.",
        )
        .changed()
    {
        spec.model.relationship = on.then(RelationshipSpec::default);
        edits.structure = true;
    }
    if let Some(r) = &mut spec.model.relationship {
        ui.horizontal(|ui| {
            let label = ui.label("λ₂ (relationship)");
            edits.penalty |= ui
                .add(
                    egui::Slider::new(&mut r.lambda, 0.0..=1.0)
                        .logarithmic(true)
                        .smallest_positive(1e-6),
                )
                .on_hover_text("Weight of tr(W Ω^-1 W^T); applies live while training.")
                .labelled_by(label.id)
                .changed();
        });
        ui.horizontal(|ui| {
            ui.label("λ₁ (ridge)");
            edits.structure |= ui
                .add(
                    egui::DragValue::new(&mut r.lambda_ridge)
                        .range(0.0..=1.0)
                        .speed(1e-5),
                )
                .changed();
            ui.label("Ω every");
            edits.structure |= ui
                .add(
                    egui::DragValue::new(&mut r.update_every)
                        .range(1..=10_000)
                        .suffix(" steps"),
                )
                .changed();
        });
    }
    edits
}

/// The links into one head: source task, what it takes, α, detach, remove; and a menu to add
/// one. Returns true on a change.
fn links_ui(ui: &mut Ui, task: &str, names: &[String], links: &mut Vec<LinkSpec>) -> bool {
    let mut changed = false;
    let mut remove = None;
    for (j, link) in links.iter_mut().enumerate() {
        ui.horizontal(|ui| {
            let label = ui.label("   input from");
            egui::ComboBox::from_id_salt(format!("link-from-{task}-{j}"))
                .selected_text(link.from.as_str())
                .width(70.0)
                .show_ui(ui, |ui| {
                    for name in names.iter().filter(|n| n.as_str() != task) {
                        changed |= ui
                            .selectable_value(&mut link.from, name.clone(), name.as_str())
                            .changed();
                    }
                })
                .response
                .labelled_by(label.id);
            egui::ComboBox::from_id_salt(format!("link-take-{task}-{j}"))
                .selected_text(link.take.label())
                .width(60.0)
                .show_ui(ui, |ui| {
                    for take in [Take::Output, Take::Hidden] {
                        changed |= ui
                            .selectable_value(&mut link.take, take, take.label())
                            .changed();
                    }
                })
                .response
                .labelled_by(label.id);
            changed |= ui
                .add(
                    egui::DragValue::new(&mut link.alpha)
                        .range(-10.0..=10.0)
                        .speed(0.01)
                        .prefix("α "),
                )
                .on_hover_text("Weight on the connection")
                .changed();
            changed |= ui
                .checkbox(&mut link.detach, "detach")
                .on_hover_text("This task's loss does not train the source head")
                .changed();
            if ui
                .add(egui::Button::new("✖").small())
                .on_hover_text("Remove this connection")
                .clicked()
            {
                remove = Some(j);
            }
        });
    }
    if let Some(j) = remove {
        links.remove(j);
        changed = true;
    }
    let others: Vec<&String> = names.iter().filter(|n| n.as_str() != task).collect();
    if !others.is_empty() {
        ui.menu_button(format!("➕ Input from another task into {task}"), |ui| {
            for name in others {
                if ui.button(name.as_str()).clicked() {
                    links.push(LinkSpec {
                        from: name.clone(),
                        take: Take::Output,
                        alpha: 1.0,
                        detach: false,
                    });
                    changed = true;
                    ui.close();
                }
            }
        });
    }
    changed
}

/// The output width of a task: `size` is the label's classes (multiclass), pixels
/// (segmentation) or classes × pixels (semantic segmentation).
fn out_width(kind: TaskKind, size: usize) -> usize {
    match kind {
        TaskKind::Multiclass => size.max(2),
        TaskKind::Segmentation | TaskKind::SemanticSegmentation => size.max(1),
        TaskKind::Regression | TaskKind::Binary => 1,
    }
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

/// Most expert rows drawn; more are summarised as "+ n more".
const EXPERT_ROWS: usize = 4;

/// Draws input → body → heads → outputs, left to right. Shared parts sit on a tinted
/// "shared" band in the trunk colour, each task's own parts in its colour. Soft sharing
/// draws its towers with springs (λ) between them, cross-stitch its units as crossing
/// edges (α), mixtures their experts and gates; links between heads are curved arrows, and
/// relationship learning brackets the output layers with Ω.
#[expect(
    clippy::too_many_lines,
    reason = "one painter pass over every part of the diagram"
)]
pub fn diagram_ui(ui: &mut Ui, spec: &ExperimentSpec, classes: &dyn Fn(&str) -> usize) {
    let arch = &spec.model.architecture;
    let k = spec.tasks.len().max(1);
    // With many layers for the width, only layers with weights (and pooling) get a box.
    let longest_head = spec
        .model
        .heads
        .iter()
        .map(|h| h.layers.len())
        .max()
        .unwrap_or(0);
    let full_cols = 2 + spec.model.shared.len() + longest_head + 2;
    let compact = ui.available_width() / full_cols as f32 <= 40.0;
    let keep = |l: &LayerSpec| {
        !compact
            || matches!(
                l,
                LayerSpec::Linear { .. }
                    | LayerSpec::Conv2d { .. }
                    | LayerSpec::MaxPool2d { .. }
                    | LayerSpec::LayerNorm { .. }
            )
    };
    let heads: Vec<Vec<String>> = spec
        .tasks
        .iter()
        .map(|t| {
            let mut boxes: Vec<String> = spec
                .head(&t.name)
                .map(|h| h.layers.iter().filter(|l| keep(l)).map(short).collect())
                .unwrap_or_default();
            boxes.push(format!("out {}", out_width(t.kind, classes(&t.target))));
            boxes
        })
        .collect();
    // Indices into `model.shared` of the layers drawn.
    let shown: Vec<usize> = (0..spec.model.shared.len())
        .filter(|&i| keep(&spec.model.shared[i]))
        .collect();
    let body: Vec<String> = shown
        .iter()
        .map(|&i| short(&spec.model.shared[i]))
        .collect();
    // The drawn box at or before layer `i`.
    let drawn_at = |i: usize| shown.iter().rposition(|&s| s <= i);
    let experts = arch.experts().unwrap_or(0);
    let expert_rows = experts.min(EXPERT_ROWS);
    let body_rows = match arch {
        Architecture::Hard => 1,
        Architecture::Soft { .. } | Architecture::CrossStitch { .. } => k,
        Architecture::Mmoe { .. } | Architecture::Moe { .. } => {
            expert_rows + usize::from(experts > EXPERT_ROWS)
        }
    };
    let gate_col = usize::from(experts > 0);
    let head_cols = heads.iter().map(Vec::len).max().unwrap_or(1);
    let body_cols = body.len().max(1);
    let cols = 1 + body_cols + gate_col + head_cols;
    let links = spec.model.heads.iter().any(|h| !h.links.is_empty());
    // Links run between head rows: give them room.
    let row_h = if links { 46.0 } else { 30.0 };
    let top_pad = 16.0;
    let rows = k.max(body_rows);
    let width = ui.available_width().max(200.0);
    let height = rows as f32 * row_h + top_pad + 8.0;
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, height), Sense::hover());
    let painter = ui.painter_at(rect);
    let label_w = 8.0 + 7.0 * spec.tasks.iter().map(|t| t.name.len()).max().unwrap_or(4) as f32;
    let col_w = (rect.width() - 8.0 - label_w) / cols as f32;
    let box_w = (col_w - 8.0).clamp(18.0, 70.0);
    let box_h = 20.0;
    let font = FontId::proportional(11.0);
    let text_colour = ui.visuals().text_color();
    let band_h = rows as f32 * row_h;
    // Rows of `n` items spread over the full height.
    let y_of =
        |i: usize, n: usize| rect.top() + top_pad + band_h * (i as f32 + 0.5) / n.max(1) as f32;
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
    let edge = Stroke::new(1.5, text_colour);
    let thin = Stroke::new(1.0, theme::faint(text_colour, 140));
    let band = |from: usize, to: usize, label: &str| {
        let left = x_of(from) - box_w / 2.0 - 3.0;
        let right = x_of(to) + box_w / 2.0 + 3.0;
        let r = Rect::from_min_max(
            Pos2::new(left, rect.top() + 1.0),
            Pos2::new(right, rect.top() + top_pad + band_h),
        );
        painter.rect_filled(r, 6.0, theme::faint(theme::shared(), 40));
        painter.text(
            Pos2::new(r.center().x, rect.top() + 7.0),
            Align2::CENTER_CENTER,
            label,
            font.clone(),
            theme::shared(),
        );
    };
    let centre_row = y_of(0, 1);
    let input = draw_box(
        Pos2::new(x_of(0), centre_row),
        &match spec.input_shape() {
            Ok(crate::experiment::Shape::Image(1, h, w)) => format!("{h}×{w}"),
            Ok(shape @ crate::experiment::Shape::Image(..)) => shape.to_string(),
            _ => format!("in {}", spec.model.input),
        },
        theme::input(),
    );
    // Where each task's head starts from; with a cross-stitch unit at the end, every column
    // feeds every head.
    let mut feeds: Vec<Rect> = vec![input; k];
    let mut mix_into_heads = false;
    let last_body_col = body_cols;
    match arch {
        Architecture::Hard => {
            if !body.is_empty() {
                band(1, body.len(), "shared");
            }
            let mut prev = input;
            for (i, text) in body.iter().enumerate() {
                let r = draw_box(Pos2::new(x_of(1 + i), centre_row), text, theme::shared());
                painter.line_segment([prev.right_center(), r.left_center()], edge);
                prev = r;
            }
            feeds = vec![prev; k];
        }
        Architecture::Soft { .. } | Architecture::CrossStitch { .. } => {
            let stitched = matches!(arch, Architecture::CrossStitch { .. });
            if stitched && !body.is_empty() {
                band(1, body.len(), "shared: columns mixed by α");
            }
            // Units sit after the drawn box at or before each block's end.
            let ends: Vec<usize> = crate::experiment::block_ends(&spec.model.shared)
                .into_iter()
                .filter_map(drawn_at)
                .collect();
            let mut grid: Vec<Vec<Rect>> = vec![Vec::new(); k];
            for (t, row) in grid.iter_mut().enumerate() {
                let y = y_of(t, k);
                let colour = theme::task(t);
                let fill = if stitched {
                    theme::faint(colour, 170)
                } else {
                    colour
                };
                let mut prev = input;
                for (i, text) in body.iter().enumerate() {
                    let r = draw_box(Pos2::new(x_of(1 + i), y), text, fill);
                    let straight = !stitched || i == 0 || !ends.contains(&(i - 1));
                    if straight {
                        painter.line_segment([prev.right_center(), r.left_center()], edge);
                    }
                    prev = r;
                    row.push(r);
                }
                feeds[t] = prev;
            }
            if stitched {
                // After a unit, every column feeds every column of the next block.
                for &after in &ends {
                    let targets: Vec<Option<Rect>> =
                        grid.iter().map(|row| row.get(after + 1).copied()).collect();
                    for (a, row) in grid.iter().enumerate() {
                        let from = row[after].right_center();
                        for (b, target) in targets.iter().enumerate() {
                            match target {
                                Some(r) => {
                                    painter.line_segment(
                                        [from, r.left_center()],
                                        if a == b { edge } else { thin },
                                    );
                                }
                                // The last unit mixes what the heads read.
                                None => mix_into_heads = true,
                            }
                        }
                    }
                    let x = grid[0][after].right() + 4.0;
                    painter.text(
                        Pos2::new(x, rect.top() + top_pad - 2.0),
                        Align2::LEFT_BOTTOM,
                        "α",
                        font.clone(),
                        theme::shared(),
                    );
                }
            } else {
                // Springs between corresponding parametric layers of neighbouring towers.
                for (i, layer) in spec.model.shared.iter().enumerate() {
                    let Some(i) = shown.iter().position(|&s| s == i) else {
                        continue;
                    };
                    if layer.param_count(1) == 0 {
                        continue;
                    }
                    for t in 1..k {
                        let a = grid[t - 1][i].center_bottom();
                        let b = grid[t][i].center_top();
                        painter.add(Shape::dashed_line(
                            &[a, b],
                            Stroke::new(1.2, theme::shared()),
                            3.0,
                            2.0,
                        ));
                    }
                }
                painter.text(
                    Pos2::new(x_of(1), rect.top() + 7.0),
                    Align2::LEFT_CENTER,
                    match arch {
                        Architecture::Soft { lambda, .. } => {
                            format!(
                                "towers coupled by λ = {}",
                                super::plots::format_value(*lambda)
                            )
                        }
                        _ => String::new(),
                    },
                    font.clone(),
                    theme::shared(),
                );
            }
        }
        Architecture::Mmoe { .. } | Architecture::Moe { .. } => {
            if !body.is_empty() {
                band(1, body.len(), "shared experts");
            }
            let mut ends = Vec::new();
            for e in 0..expert_rows {
                let y = y_of(e, body_rows);
                let mut prev = input;
                for (i, text) in body.iter().enumerate() {
                    let r = draw_box(Pos2::new(x_of(1 + i), y), text, theme::shared());
                    painter.line_segment(
                        [prev.right_center(), r.left_center()],
                        if i == 0 { thin } else { edge },
                    );
                    prev = r;
                }
                ends.push(prev);
            }
            if experts > EXPERT_ROWS {
                painter.text(
                    Pos2::new(x_of(1), y_of(expert_rows, body_rows)),
                    Align2::LEFT_CENTER,
                    format!("+ {} more experts", experts - EXPERT_ROWS),
                    font.clone(),
                    theme::shared(),
                );
            }
            let per_task = matches!(arch, Architecture::Mmoe { .. });
            let gates: Vec<(Pos2, egui::Color32)> = if per_task {
                (0..k)
                    .map(|t| {
                        (
                            Pos2::new(x_of(1 + last_body_col), y_of(t, k)),
                            theme::task(t),
                        )
                    })
                    .collect()
            } else {
                vec![(
                    Pos2::new(x_of(1 + last_body_col), centre_row),
                    theme::shared(),
                )]
            };
            // Every gate reads the raw input: a dashed line under the experts.
            if let Some(lowest) = gates
                .iter()
                .map(|(c, _)| *c)
                .max_by(|a, b| a.y.total_cmp(&b.y))
            {
                let floor = rect.bottom() - 3.0;
                let route = [
                    input.center_bottom(),
                    Pos2::new(input.center().x, floor),
                    Pos2::new(lowest.x, floor),
                    lowest + Vec2::new(0.0, 8.0),
                ];
                painter.add(Shape::dashed_line(&route, thin, 3.0, 3.0));
            }
            for (g, (centre, colour)) in gates.iter().enumerate() {
                for end in &ends {
                    painter.line_segment([end.right_center(), *centre], thin);
                }
                painter.circle_filled(*centre, 8.0, *colour);
                painter.circle_stroke(*centre, 8.0, Stroke::new(1.0, theme::on_box()));
                painter.text(
                    *centre,
                    Align2::CENTER_CENTER,
                    "g",
                    font.clone(),
                    theme::on_box(),
                );
                let node = Rect::from_center_size(*centre, Vec2::splat(16.0));
                if per_task {
                    feeds[g] = node;
                } else {
                    feeds = vec![node; k];
                }
            }
        }
    }
    // Heads.
    let first_head_col = 1 + body_cols + gate_col;
    let mut head_boxes: Vec<Vec<Rect>> = Vec::with_capacity(k);
    for (t, boxes) in heads.iter().enumerate() {
        let y = y_of(t, k);
        let colour = theme::task(t);
        let mut last = feeds[t];
        if mix_into_heads && !boxes.is_empty() {
            let first = Pos2::new(x_of(first_head_col), y) - Vec2::new(box_w / 2.0, 0.0);
            for (s, feed) in feeds.iter().enumerate() {
                if s != t {
                    painter.line_segment([feed.right_center(), first], thin);
                }
            }
        }
        let mut row = Vec::new();
        for (j, text) in boxes.iter().enumerate() {
            let r = draw_box(Pos2::new(x_of(first_head_col + j), y), text, colour);
            painter.line_segment(
                [last.right_center(), r.left_center()],
                Stroke::new(1.5, colour),
            );
            last = r;
            row.push(r);
        }
        painter.text(
            last.right_center() + Vec2::new(3.0, 0.0),
            Align2::LEFT_CENTER,
            spec.tasks[t].name.as_str(),
            font.clone(),
            colour,
        );
        head_boxes.push(row);
    }
    // Links: a curved arrow from the source's output (or hidden) box to the target's first box.
    for (t, task) in spec.tasks.iter().enumerate() {
        for link in spec.head(&task.name).map_or(&[][..], |h| &h.links) {
            let Some(s) = spec.tasks.iter().position(|x| x.name == link.from) else {
                continue;
            };
            let (Some(src_row), Some(dst)) = (head_boxes.get(s), head_boxes[t].first()) else {
                continue;
            };
            let src = match link.take {
                Take::Output => src_row.last(),
                Take::Hidden => src_row.len().checked_sub(2).and_then(|i| src_row.get(i)),
            }
            .or(src_row.first());
            let Some(src) = src else { continue };
            let down = dst.center().y > src.center().y;
            let (a, b) = if down {
                (src.center_bottom(), dst.center_top())
            } else {
                (src.center_top(), dst.center_bottom())
            };
            let bend = Pos2::new(
                (a.x + b.x) / 2.0 + 0.6 * (a.x - b.x).abs().min(40.0),
                (a.y + b.y) / 2.0,
            );
            let colour = theme::task(s);
            let stroke = Stroke::new(1.5, colour);
            let curve = egui::epaint::QuadraticBezierShape::from_points_stroke(
                [a, bend, b],
                false,
                egui::Color32::TRANSPARENT,
                stroke,
            );
            if link.detach {
                let points = curve.flatten(Some(0.5));
                painter.add(Shape::dashed_line(&points, stroke, 4.0, 3.0));
            } else {
                painter.add(curve);
            }
            let dir = if down { -1.0 } else { 1.0 };
            painter.add(Shape::convex_polygon(
                vec![
                    b,
                    b + Vec2::new(-4.0, 6.0 * dir),
                    b + Vec2::new(4.0, 6.0 * dir),
                ],
                colour,
                Stroke::NONE,
            ));
            let middle = Pos2::new(
                0.25 * a.x + 0.5 * bend.x + 0.25 * b.x,
                0.25 * a.y + 0.5 * bend.y + 0.25 * b.y,
            );
            painter.text(
                middle + Vec2::new(6.0, 0.0),
                Align2::LEFT_CENTER,
                format!("α {}", super::plots::format_value(f64::from(link.alpha))),
                font.clone(),
                colour,
            );
        }
    }
    // Relationship learning: Ω couples the output layers.
    if spec.model.relationship.is_some() {
        let outs: Vec<Rect> = head_boxes
            .iter()
            .filter_map(|r| r.last().copied())
            .collect();
        if let Some(first) = outs.first() {
            let all = outs.iter().fold(*first, |acc, r| acc.union(*r)).expand(3.0);
            painter.rect_stroke(
                all,
                5.0,
                Stroke::new(1.5, theme::shared()),
                StrokeKind::Outside,
            );
            painter.text(
                Pos2::new(all.center().x, all.top() - 2.0),
                Align2::CENTER_BOTTOM,
                "Ω",
                font.clone(),
                theme::shared(),
            );
        }
    }
}

fn short(layer: &LayerSpec) -> String {
    match layer {
        LayerSpec::Linear { out } => format!("{out}"),
        LayerSpec::Dropout { p } => format!("drop {p}"),
        LayerSpec::LayerNorm { .. } => "norm".to_owned(),
        LayerSpec::Conv2d { out_channels, .. } => format!("conv{out_channels}"),
        LayerSpec::MaxPool2d { kernel } => format!("pool{kernel}"),
        LayerSpec::Flatten => "flat".to_owned(),
        other => other.kind_name().to_owned(),
    }
}
