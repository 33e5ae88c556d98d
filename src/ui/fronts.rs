//! What the Trade-offs tab draws about whole fronts: each family's hypervolume, the rays of a
//! preference sweep, and, with more than three tasks, every run as a line over the tasks
//! (parallel coordinates).

use egui::{RichText, Ui};
use egui_plot::{Line, LineStyle, Plot, PlotPoints};

use super::theme;
use crate::sweep::{self, Family, Hypervolumes, SweepPoint};

/// One finished run as these views need it.
pub struct FrontRun<'a> {
    /// What it is.
    pub point: &'a SweepPoint,
    /// Its final per-task losses (NaN when it failed).
    pub losses: Vec<f64>,
    /// Its per-epoch curves (epoch 0: the untrained model).
    pub curves: &'a [Vec<f64>],
    /// Whether no other run beats it on every task.
    pub on_front: bool,
    /// Its colour in the charts.
    pub colour: egui::Color32,
}

/// The hypervolumes of the runs' families (2 or 3 tasks).
pub fn volumes(runs: &[FrontRun<'_>]) -> Hypervolumes {
    Hypervolumes::of_runs(
        runs.iter()
            .map(|r| (r.point.family(), r.losses.as_slice(), r.curves)),
    )
}

/// The family's name as the tab says it.
fn family_words(f: Family) -> &'static str {
    match f {
        Family::Static => "static weights",
        Family::Preference => "preferences (EPO)",
        Family::Strategy => "strategies",
    }
}

/// What the colours of the scatter mean, when the sweep has preference runs.
pub fn key_ui(ui: &mut Ui, runs: &[FrontRun<'_>]) {
    if !runs.iter().any(|r| r.point.family() == Family::Preference) {
        return;
    }
    let dot = |ui: &mut Ui, colour: egui::Color32| {
        let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(10.0), egui::Sense::hover());
        ui.painter().circle_filled(rect.center(), 4.0, colour);
    };
    ui.horizontal_wrapped(|ui| {
        dot(ui, theme::input());
        ui.label("static weights");
        dot(ui, theme::preference());
        ui.label("EPO at a preference r, aiming at its dashed ray (r_k x L_k equal)");
        ui.weak("named: strategies");
    });
}

/// One line: each front's hypervolume, the earlier sweep's beside it when there is one.
pub fn hypervolume_ui(ui: &mut Ui, now: Option<&Hypervolumes>, earlier: Option<&Hypervolumes>) {
    let Some(now) = now else {
        return;
    };
    let Some(reference) = &now.reference else {
        return;
    };
    let text = |h: &Hypervolumes| -> String {
        let mut parts: Vec<String> = h
            .families
            .iter()
            .map(|(f, v)| format!("{} {v:.4}", family_words(*f)))
            .collect();
        if let Some(all) = h.all {
            parts.push(format!("all runs {all:.4}"));
        }
        parts.join(" · ")
    };
    let point: Vec<String> = reference.iter().map(|v| format!("{v:.3}")).collect();
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("Hypervolume").strong())
            .on_hover_text(
                "The area (2 tasks) or volume (3 tasks) of loss space that a front's runs beat, up \
             to the untrained model's losses: larger is a better front, closer to the ideal \
             and more spread. The reference point is the same for every front of the sweep.",
            );
        ui.label(text(now));
        ui.weak(format!(
            "(w.r.t. the untrained model's losses {})",
            point.join(", ")
        ));
        if let Some(e) = earlier {
            ui.weak(format!("earlier sweep: {}", text(e)));
        }
    });
}

/// The ray of each preference run in the pair of tasks (`a`, `b`): where r_a·L_a = r_b·L_b,
/// the line through 0 with slope r_a / r_b, up to the largest loss shown. Faint and dashed,
/// in the run's colour.
pub fn rays_ui(plot: &mut egui_plot::PlotUi<'_>, runs: &[FrontRun<'_>], (a, b): (usize, usize)) {
    let reach = runs
        .iter()
        .flat_map(|r| [r.losses.get(a), r.losses.get(b)])
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    if reach <= 0.0 {
        return;
    }
    for r in runs
        .iter()
        .filter(|r| r.point.family() == Family::Preference)
    {
        let Some(w) = &r.point.weights else {
            continue;
        };
        let (Some(ra), Some(rb)) = (w.get(a), w.get(b)) else {
            continue;
        };
        // L_b = (r_a / r_b)·L_a; stop where either loss reaches `reach`.
        let slope = ra / rb;
        let x = if slope > 1.0 { reach / slope } else { reach };
        plot.line(
            Line::new(
                format!("ray {}", r.point.label),
                PlotPoints::from(vec![[0.0, 0.0], [x, slope * x]]),
            )
            .color(theme::faint(r.colour, 120))
            .style(LineStyle::dashed_dense())
            .width(1.0),
        );
    }
}

/// Every run as a line over the tasks, each loss divided by the untrained model's (1 = no
/// better than at the start): the front's runs bold, the rest faint.
pub fn parallel_ui(
    ui: &mut Ui,
    runs: &[FrontRun<'_>],
    names: &[String],
    [width, height]: [f32; 2],
) {
    let curves: Vec<&[Vec<f64>]> = runs.iter().map(|r| r.curves).collect();
    let start = sweep::starting_point(&curves);
    let scale = |k: usize| {
        start
            .as_ref()
            .and_then(|s| s.get(k).copied())
            .filter(|v| *v > 0.0 && v.is_finite())
            .unwrap_or(1.0)
    };
    let labels: Vec<String> = names.to_vec();
    Plot::new("sweep-parallel")
        .width(width)
        .height(height)
        .x_axis_label("task")
        .y_axis_label("final loss / untrained model's")
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .include_y(0.0)
        .show(ui, |plot| {
            for r in runs {
                let pts: Vec<[f64; 2]> = r
                    .losses
                    .iter()
                    .enumerate()
                    .map(|(k, l)| [k as f64, l / scale(k)])
                    .collect();
                if pts.iter().any(|p| !p[1].is_finite()) {
                    continue;
                }
                let colour = if r.on_front {
                    r.colour
                } else {
                    theme::faint(r.colour, 90)
                };
                plot.line(
                    Line::new(r.point.label.clone(), PlotPoints::from(pts))
                        .color(colour)
                        .width(if r.on_front { 2.5 } else { 1.0 }),
                );
            }
        });
}
