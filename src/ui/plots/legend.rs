//! The legend strip above the charts and how earlier runs are drawn.

use super::*;

/// How earlier run `i` (0 = the oldest kept) is drawn: dotted or dashed, each run its own.
pub(super) fn past_style(i: usize) -> LineStyle {
    match i % 4 {
        0 => LineStyle::Dotted { spacing: 5.0 },
        1 => LineStyle::Dashed { length: 3.0 },
        2 => LineStyle::Dotted { spacing: 11.0 },
        _ => LineStyle::Dashed { length: 18.0 },
    }
}

/// A short sample of a line style, as egui_plot draws it.
pub(super) fn style_sample(
    ui: &mut Ui,
    style: LineStyle,
    colour: egui::Color32,
    width: f32,
    marker: bool,
) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(30.0, 14.0), egui::Sense::hover());
    let painter = ui.painter();
    let line = [rect.left_center(), rect.right_center()];
    match style {
        LineStyle::Solid => {
            painter.line_segment(line, egui::Stroke::new(width, colour));
        }
        LineStyle::Dotted { spacing } => {
            painter.extend(egui::Shape::dotted_line(&line, colour, spacing, width));
        }
        LineStyle::Dashed { length } => {
            let gap = length * (std::f32::consts::GOLDEN_RATIO - 1.0);
            painter.extend(egui::Shape::dashed_line(
                &line,
                egui::Stroke::new(width, colour),
                length,
                gap,
            ));
        }
    }
    if marker {
        painter.circle_filled(rect.center(), 2.5, colour);
    }
}

/// The legend of every chart, above them (never over the data): each task's colour and full
/// name, what each line style means, where a stop rule fired, and the earlier runs, each
/// named by what it did differently from the current run (the name can be edited).
pub fn legend_ui(ui: &mut Ui, history: &RunHistory, past: &mut [RunHistory], prefs: &ViewPrefs) {
    let names = history.task_names();
    let weak = ui.visuals().weak_text_color();
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        for (k, name) in names.iter().enumerate() {
            ui.label(
                egui::RichText::new(format!("■ {name}"))
                    .color(theme::task(k))
                    .strong(),
            );
        }
        if !names.is_empty() {
            ui.separator();
        }
        style_sample(ui, LineStyle::Solid, weak, 2.0, false);
        ui.label(if prefs.smoothing > 0.0 {
            "train (smoothed)"
        } else {
            "train"
        });
        if prefs.show_val {
            style_sample(ui, LineStyle::dashed_loose(), weak, 1.5, true);
            ui.label("validation");
        }
        if let Some(s) = &history.stopped {
            ui.separator();
            ui.colored_label(theme::warning(), format!("┆ stopped at epoch {}", s.epoch));
            ui.colored_label(
                theme::ok(),
                if s.restored {
                    format!("┆ best epoch {} (weights restored)", s.best_epoch)
                } else {
                    format!("┆ best epoch {}", s.best_epoch)
                },
            );
        }
    });
    if !prefs.compare || past.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 6.0;
        ui.label("Earlier runs (validation):")
            .on_hover_text("Each earlier run is named by what it did differently from the current run; click a name to change it.");
        for (i, run) in past.iter_mut().enumerate() {
            // One entry: sample, number and name, never split over two rows.
            ui.horizontal(|ui| {
                style_sample(ui, past_style(i), ui.visuals().text_color(), 2.0, false);
                ui.weak(format!("run {}", run.run_id));
                let mut text = run.label_against(history);
                let width = (text.chars().count() as f32 * 8.0 + 12.0).clamp(60.0, 220.0);
                let response = ui
                    .add(
                        egui::TextEdit::singleline(&mut text)
                            .id_salt(("earlier-run", run.run_id))
                            .desired_width(width),
                    )
                    .on_hover_text(format!("Run {}: click to rename it", run.run_id));
                if response.changed() {
                    run.custom_label = Some(text.clone());
                }
                if response.lost_focus() && text.trim().is_empty() {
                    // An emptied name goes back to what changed.
                    run.custom_label = None;
                }
            });
        }
    });
}
