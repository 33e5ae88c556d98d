//! The "Explain step" window: what one real step of the run did, in numbers a student can
//! check: each task's gradient on the shared parameters, their Gramian and cosines, the
//! strategy's weights and combined update, and each task's predicted (first-order) against
//! actual loss change on the step's batch.

use egui::Ui;

use super::theme;
use crate::trainer::StepExplanation;

/// The window's contents for `e`, with the run's task names.
pub fn explanation_ui(ui: &mut Ui, e: &StepExplanation, names: &[String]) {
    ui.horizontal_wrapped(|ui| {
        let strategy =
            crate::weighting::method(&e.strategy).map_or(e.strategy.as_str(), |m| m.label);
        ui.strong(format!("Step {} · {strategy}", e.step));
        ui.weak(format!(
            "{} rows · lr {:.1e} · |combined update| {:.4} · |Δθ| {:.2e}",
            e.rows, e.lr, e.update_norm, e.step_norm
        ));
    });
    ui.add_space(4.0);
    let name = |k: usize| names.get(k).cloned().unwrap_or_else(|| format!("task {k}"));
    egui::Grid::new("explain-tasks")
        .striped(true)
        .spacing([14.0, 3.0])
        .show(ui, |ui| {
            ui.strong("task");
            ui.strong("loss before");
            ui.strong("|g| shared").on_hover_text("The norm of the task's gradient on the shared parameters, as the strategy received it");
            ui.strong("weight").on_hover_text("The strategy's weight for the task, as it reports it");
            ui.strong("effective").on_hover_text("The weight that reproduces the combined update (Σ c_k·g_k where it is such a sum)");
            ui.strong("predicted Δloss").on_hover_text("First order: the task's gradient · the parameter change of this step, over every parameter the step moved");
            ui.strong("actual Δloss").on_hover_text("The task's loss on the same batch after the step minus before (without dropout)");
            ui.end_row();
            let actual = e.actual();
            for k in 0..e.grad_norms.len() {
                ui.colored_label(theme::task(k), name(k));
                ui.monospace(fmt(e.loss_before.get(k).copied().flatten()));
                ui.monospace(format!("{:.4}", e.grad_norms[k]));
                ui.monospace(format!("{:.3}", e.weights.get(k).copied().unwrap_or(f64::NAN)));
                ui.monospace(format!("{:.3}", e.effective.get(k).copied().unwrap_or(f64::NAN)));
                let p = e.predicted.get(k).copied().flatten();
                let a = actual.get(k).copied().flatten();
                change(ui, p);
                change(ui, a);
                ui.end_row();
            }
        });
    ui.add_space(6.0);
    let k = e.grad_norms.len();
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| {
            ui.strong("Gramian g_i·g_j");
            matrix(ui, "explain-gram", &e.gram, k, names, &|v| {
                (format!("{v:.3e}"), theme::input())
            });
        });
        ui.add_space(16.0);
        ui.vertical(|ui| {
            ui.strong("Cosines");
            matrix(ui, "explain-cos", &e.cosines, k, names, &|v| {
                (format!("{v:+.3}"), theme::cosine(v))
            });
        });
    });
    ui.add_space(4.0);
    ui.add(
        egui::Label::new(
            egui::RichText::new(
                "Predicted and actual agree to first order; their gap is the curvature of the \
                 loss over this step (it shrinks with the square of the step). Step again to \
                 explain the next one.",
            )
            .weak(),
        )
        .wrap(),
    );
}

fn fmt(v: Option<f64>) -> String {
    v.map_or_else(|| "no label".to_owned(), |v| format!("{v:.5}"))
}

/// A loss change, green when it falls.
fn change(ui: &mut Ui, v: Option<f64>) {
    match v {
        Some(v) => {
            ui.colored_label(
                if v < 0.0 {
                    theme::ok()
                } else {
                    theme::warning()
                },
                format!("{v:+.3e}"),
            );
        }
        None => {
            ui.weak("n/a").on_hover_text(
                "With representation gradients the trainer never forms each task's parameter gradient, so there is no prediction; a task without a label in the batch has no loss",
            );
        }
    }
}

fn matrix(
    ui: &mut Ui,
    id: &str,
    values: &[f64],
    k: usize,
    names: &[String],
    cell: &dyn Fn(f64) -> (String, egui::Color32),
) {
    egui::Grid::new(id).spacing([10.0, 2.0]).show(ui, |ui| {
        ui.label("");
        for j in 0..k {
            ui.colored_label(theme::task(j), names.get(j).map_or("", String::as_str));
        }
        ui.end_row();
        for i in 0..k {
            ui.colored_label(theme::task(i), names.get(i).map_or("", String::as_str));
            for j in 0..k {
                let (text, colour) = cell(values.get(i * k + j).copied().unwrap_or(f64::NAN));
                ui.colored_label(colour, egui::RichText::new(text).monospace());
            }
            ui.end_row();
        }
    });
}
