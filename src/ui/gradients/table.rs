//! The playground's table of each strategy's weights, update and first-order changes, and
//! its messages.

use super::*;

/// The numbers: the gradients and their cosines, then per strategy its weights, its update
/// and each task's ⟨gₖ, d⟩.
pub(super) fn table_ui(ui: &mut Ui, state: &GradientPlayground, updates: &[Update]) {
    let g = state.points();
    ui.strong("Task gradients");
    egui::Grid::new("gradients-g")
        .striped(true)
        .spacing([14.0, 3.0])
        .show(ui, |ui| {
            ui.label("");
            ui.label("g");
            ui.label("|g|");
            for j in 0..g.len() {
                ui.label(format!("cos(·, g{})", subscript(j + 1)));
            }
            ui.end_row();
            for (k, gk) in g.iter().enumerate() {
                ui.colored_label(theme::task(k), format!("g{}", subscript(k + 1)));
                ui.monospace(format_vec(&state.gradients()[k]));
                ui.monospace(format!("{:.3}", norm(gk)));
                for gj in &g {
                    let c = dot(gk, gj) / (norm(gk) * norm(gj)).max(1e-300);
                    ui.colored_label(theme::cosine(c), format!("{c:+.2}"));
                }
                ui.end_row();
            }
        });
    ui.add_space(8.0);
    ui.strong("Each strategy's update d");
    ui.weak("Computed by the strategies' own code (as in training and `mtl-studio aggregate`), fresh, with every loss 1. A step moves the parameters along −d: g_k·d > 0 means it lowers task k's loss to first order.");
    egui::Grid::new("gradients-updates")
        .striped(true)
        .spacing([14.0, 3.0])
        .show(ui, |ui| {
            ui.strong("strategy");
            ui.strong("weights");
            ui.strong("d");
            ui.strong("|d|");
            for k in 0..g.len() {
                ui.colored_label(theme::task(k), format!("g{}·d", subscript(k + 1)));
            }
            ui.strong("every task?");
            ui.end_row();
            for (i, u) in updates.iter().enumerate() {
                ui.colored_label(strategy_colour(i), &u.label);
                match &u.result {
                    Ok(c) => {
                        ui.monospace(format_vec(&c.weights));
                        ui.monospace(format_vec(&c.shared_grad));
                        ui.monospace(format!("{:.3}", norm(&to3(&c.shared_grad))));
                        let inner = u.inner(&g).unwrap_or_default();
                        for v in &inner {
                            ui.colored_label(
                                if *v > 1e-12 {
                                    theme::ok()
                                } else if *v < -1e-12 {
                                    theme::error()
                                } else {
                                    theme::input()
                                },
                                format!("{v:+.3}"),
                            );
                        }
                        let all = inner.iter().all(|v| *v > 1e-12);
                        let none_worse = inner.iter().all(|v| *v >= -1e-12);
                        ui.label(if all {
                            "yes"
                        } else if none_worse {
                            "none worse"
                        } else {
                            "no"
                        })
                        .on_hover_text(if all {
                            "The update lowers every task's loss to first order"
                        } else if none_worse {
                            "No task's loss rises to first order, but some stay put"
                        } else {
                            "The update raises at least one task's loss to first order"
                        });
                    }
                    Err(e) => {
                        ui.colored_label(theme::error(), "no update (below)")
                            .on_hover_text(e);
                    }
                }
                ui.end_row();
            }
        });
    messages_ui(ui, updates);
}

/// Under the table: each strategy's error, or its notice (a zero, Pareto-stationary update
/// where no finite weights exist, and why).
pub(super) fn messages_ui(ui: &mut Ui, updates: &[Update]) {
    for u in updates {
        match &u.result {
            Err(e) => {
                ui.add(egui::Label::new(
                    egui::RichText::new(format!("{}: {e}", u.label)).color(theme::error()),
                ));
            }
            Ok(c) => {
                if let Some(notice) = &c.notice {
                    ui.add(egui::Label::new(
                        egui::RichText::new(notice.as_str()).color(theme::warning()),
                    ));
                }
            }
        }
    }
}

pub(super) fn format_vec(v: &[f64]) -> String {
    format!(
        "({})",
        v.iter()
            .map(|x| format!("{x:+.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
