//! The model composer: the architecture and its settings, the shared layers' and each
//! head's layer lists (add, remove, reorder, edit), links between heads, relationship
//! learning, and a drawn diagram that shows what is shared.

use egui::{Sense, Ui, Vec2};

use super::diagram::{diagram_ui, out_width};
use super::theme;
use crate::experiment::{
    Architecture, Coupling, ExperimentSpec, LayerSpec, LinkSpec, MAX_EXPERTS, Plan,
    RelationshipSpec, Take,
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
/// parameter counts. Returns true when the spec changed (which of it applies live is decided
/// by `trainer::live_edit`).
pub fn composer_ui(
    ui: &mut Ui,
    spec: &mut ExperimentSpec,
    classes: &dyn Fn(&str) -> usize,
) -> bool {
    let mut changed = false;
    changed |= architecture_ui(ui, spec);
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
    // The button says what the layers are of: the shared trunk, each tower, column or expert.
    let add_label = match spec.model.architecture {
        Architecture::Hard => "➕ Add shared layer",
        Architecture::Soft { .. } => "➕ Add tower layer",
        Architecture::CrossStitch { .. } => "➕ Add column layer",
        Architecture::Mmoe { .. } | Architecture::Moe { .. } => "➕ Add expert layer",
    };
    changed |= layer_list_ui(ui, "trunk-layers", add_label, &mut spec.model.shared);
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
        changed |= layer_list_ui(
            ui,
            &format!("head-{}", task.name),
            &format!("➕ Add layer to {}", task.name),
            &mut head.layers,
        );
        changed |= links_ui(ui, &task.name, &names, &mut head.links);
    }
    changed
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
fn architecture_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> bool {
    let mut changed = false;
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
                        changed = true;
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
                changed |= ui
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
                            changed |= ui.selectable_value(coupling, c, c.label()).changed();
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
                changed |= ui
                    .add(egui::Slider::new(self_weight, 0.0..=1.0))
                    .on_hover_text(
                        "Each unit starts with this weight on its own column and shares the \
                         rest equally among the others (0.9 in the paper).",
                    )
                    .changed();
            });
            ui.horizontal(|ui| {
                ui.label("α learning-rate ×");
                changed |= ui
                    .add(egui::Slider::new(lr_scale, 1.0..=1000.0).logarithmic(true))
                    .on_hover_text("The paper trains the units 10²–10³ times faster with SGD; with Adam, whose steps do not grow with the gradient, about 10× is enough.")
                    .changed();
            });
        }
        Architecture::Mmoe { experts } | Architecture::Moe { experts } => {
            ui.horizontal(|ui| {
                ui.label("Experts");
                changed |= ui
                    .add(egui::DragValue::new(experts).range(1..=MAX_EXPERTS))
                    .on_hover_text("Each expert is a copy of the layers listed below.")
                    .changed();
            });
        }
    }
    changed |= relationship_ui(ui, spec);
    changed
}

/// The relationship-learning switch and its settings.
fn relationship_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> bool {
    let mut changed = false;
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
        changed = true;
    }
    if let Some(r) = &mut spec.model.relationship {
        ui.horizontal(|ui| {
            let label = ui.label("λ₂ (relationship)");
            changed |= ui
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
            changed |= ui
                .add(
                    egui::DragValue::new(&mut r.lambda_ridge)
                        .range(0.0..=1.0)
                        .speed(1e-5),
                )
                .changed();
            ui.label("Ω every");
            changed |= ui
                .add(
                    egui::DragValue::new(&mut r.update_every)
                        .range(1..=10_000)
                        .suffix(" steps"),
                )
                .changed();
        });
    }
    changed
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
