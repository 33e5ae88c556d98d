//! The live charts: per-task loss (train and validation), total loss, task weights and the
//! per-task metric. Every chart's x axis is the epoch (fractional within an epoch); the axes
//! are linked so zooming one zooms all.

use egui::Ui;
use std::cell::Cell;
use std::collections::HashMap;

use egui_plot::{Line, LineStyle, Plot, PlotPoints, Points};
use serde::{Deserialize, Serialize};

use super::history::RunHistory;
use super::theme;
use crate::metrics::history::ema;
use crate::trainer::Split;

mod axes;
mod charts;
mod legend;
mod tables;

pub use axes::*;
use charts::Charts;
pub use legend::*;
pub use tables::*;

/// Chart preferences (persisted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewPrefs {
    /// Plot losses as log10.
    pub log_scale: bool,
    /// EMA weight on the past, 0 (off) to 0.99.
    pub smoothing: f64,
    /// Draw validation curves.
    pub show_val: bool,
    /// Overlay the validation curves of earlier runs.
    pub compare: bool,
    /// Keep each chart's axes from run to run: they grow to show new data but never shrink
    /// back, so restarts and sweeps compare by eye.
    pub fixed_axes: bool,
}

impl Default for ViewPrefs {
    fn default() -> Self {
        Self {
            log_scale: true,
            smoothing: 0.6,
            show_val: true,
            compare: true,
            fixed_axes: false,
        }
    }
}

/// The toolbar above the charts. Returns true when the user asks to clear earlier runs.
pub fn toolbar_ui(ui: &mut Ui, prefs: &mut ViewPrefs, earlier_runs: usize) -> bool {
    let mut clear = false;
    // Wraps onto a second row when the window is narrow, instead of running off its edge.
    ui.horizontal_wrapped(|ui| {
        ui.checkbox(&mut prefs.log_scale, "Log scale")
            .on_hover_text("Plot losses on a logarithmic axis (egui_plot draws log10 of the loss; the axis shows the loss itself).");
        ui.separator();
        ui.label("Smoothing");
        ui.add(egui::Slider::new(&mut prefs.smoothing, 0.0..=0.99).fixed_decimals(2))
            .on_hover_text("Exponential moving average of the training curves (debiased, as TensorBoard's). The raw curve stays faint underneath.");
        ui.separator();
        ui.checkbox(&mut prefs.show_val, "Validation").on_hover_text("Draw validation loss and metric (dashed, one point per epoch).");
        ui.separator();
        if ui
            .checkbox(&mut prefs.fixed_axes, "Fixed axes")
            .on_hover_text("Keep each chart's axes from run to run: they grow to show new data but never shrink back, so restarts and sweeps compare by eye.")
            .changed()
        {
            reset_fixed_axes(ui.ctx());
        }
        if prefs.fixed_axes
            && ui
                .button("Reset axes")
                .on_hover_text("Fit the axes to the data shown now")
                .clicked()
        {
            reset_fixed_axes(ui.ctx());
        }
        ui.separator();
        ui.add_enabled(earlier_runs > 0, egui::Checkbox::new(&mut prefs.compare, format!("Compare {earlier_runs} earlier run(s)")))
            .on_hover_text("Overlay the validation loss and metric of earlier runs (dotted and dashed), e.g. the same model under another strategy.");
        if ui.add_enabled(earlier_runs > 0, egui::Button::new("Clear")).on_hover_text("Forget the earlier runs").clicked() {
            clear = true;
        }
    });
    clear
}

/// A chart's data extent `[x min, x max, y min, y max]` (in plotted units).
pub type Extent = [f64; 4];

/// The smallest extent holding both.
pub fn grow(a: Option<Extent>, b: Option<Extent>) -> Option<Extent> {
    match (a, b) {
        (Some(a), Some(b)) => Some([
            a[0].min(b[0]),
            a[1].max(b[1]),
            a[2].min(b[2]),
            a[3].max(b[3]),
        ]),
        (a, None) => a,
        (None, b) => b,
    }
}

fn fixed_axes_id() -> egui::Id {
    egui::Id::unique("mtl-fixed-axes")
}

/// With fixed axes on: the extent each chart keeps (by chart id, `loss log` for the loss
/// chart on a log axis), grown over every run shown since the axes were last reset.
pub fn fixed_extent(ctx: &egui::Context, chart: &str) -> Option<Extent> {
    ctx.data(|d| {
        d.get_temp::<HashMap<String, Extent>>(fixed_axes_id())
            .and_then(|m| m.get(chart).copied())
    })
}

/// Forgets every chart's kept extent.
pub fn reset_fixed_axes(ctx: &egui::Context) {
    ctx.data_mut(|d| d.remove::<HashMap<String, Extent>>(fixed_axes_id()));
}

fn keep_extent(ctx: &egui::Context, chart: String, extent: Extent) {
    ctx.data_mut(|d| {
        d.get_temp_mut_or_default::<HashMap<String, Extent>>(fixed_axes_id())
            .insert(chart, extent);
    });
}

/// A live view of an architecture's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ArchView {
    Towers,
    Omega,
    Stitch,
    Gates,
}

/// One cell of the charts grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChartCell {
    Loss,
    Total,
    GradNorms,
    Weights,
    Metric,
    MetricR2,
    Cosine,
    NoSharedGradient,
    Arch(ArchView),
}

/// The narrowest a chart gets before the grid drops to fewer columns.
const MIN_CHART_WIDTH: f32 = 220.0;
/// The lowest a chart gets before the grid scrolls.
const MIN_CHART_HEIGHT: f32 = 150.0;

/// How many chart columns fit `width`: 3, or fewer when the window is narrow.
pub fn chart_columns(width: f32, gap: f32) -> usize {
    (((width + gap) / (MIN_CHART_WIDTH + gap)).floor() as usize).clamp(1, 3)
}

/// The charts in a grid filling `ui`: loss, total, gradient norms, weights, metric and
/// cosines, then the architecture's own views (tower distances, Ω, cross-stitch units,
/// gates) when it has any; three columns, fewer when narrow, scrolling when they do not fit.
pub fn charts_ui(ui: &mut Ui, history: &RunHistory, past: &[RunHistory], prefs: &ViewPrefs) {
    let gap = ui.spacing().item_spacing.y;
    let past = if prefs.compare { past } else { &[] };
    let mut charts = Charts {
        history,
        past,
        prefs,
        names: history.task_names(),
        link: ui.scope_id().with("mtl-charts-x"),
        size: egui::Vec2::ZERO,
        past_labels: past.iter().map(|p| p.label_against(history)).collect(),
        extent: Cell::new(None),
        r2_cell: false,
    };
    let mut views = charts.arch_views();
    // Soft sharing has no shared parameters, so no shared gradients: its own views take the
    // gradient charts' places.
    let soft = views.first() == Some(&ArchView::Towers);
    let in_gradient_cells: Vec<ArchView> = if soft {
        views.drain(..views.len().min(2)).collect()
    } else {
        Vec::new()
    };
    let mut cells = vec![
        ChartCell::Loss,
        ChartCell::Total,
        in_gradient_cells
            .first()
            .map_or(ChartCell::GradNorms, |v| ChartCell::Arch(*v)),
        ChartCell::Weights,
        ChartCell::Metric,
        match (soft, in_gradient_cells.get(1)) {
            (_, Some(view)) => ChartCell::Arch(*view),
            (true, None) => ChartCell::NoSharedGradient,
            (false, None) => ChartCell::Cosine,
        },
    ];
    cells.extend(views.iter().map(|v| ChartCell::Arch(*v)));
    let gap_x = ui.spacing().item_spacing.x;
    // A little slack so the last column never touches (or passes) the panel's edge.
    let width = ui.available_width() - 4.0;
    let cols = chart_columns(width, gap_x);
    let size = |cells: usize| {
        let rows = cells.div_ceil(cols) as f32;
        egui::vec2(
            ((width - (cols as f32 - 1.0) * gap_x) / cols as f32).floor(),
            ((ui.available_height() - rows * 22.0 - gap * (rows + 1.0)) / rows)
                .max(MIN_CHART_HEIGHT),
        )
    };
    charts.size = size(cells.len());
    // R² and metrics in [0, 1] share a cell, one chart above the other, while both stay
    // readable; else R² takes a cell of its own.
    if charts.mixed_metrics() && (charts.size.y - 22.0 - gap) / 2.0 < 90.0 {
        charts.r2_cell = true;
        let at = cells
            .iter()
            .position(|c| *c == ChartCell::Metric)
            .map_or(cells.len(), |i| i + 1);
        cells.insert(at, ChartCell::MetricR2);
        charts.size = size(cells.len());
    }
    egui::ScrollArea::vertical()
        .id_salt("charts-scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::Grid::new("charts")
                .num_columns(cols)
                .spacing([gap_x, gap])
                .show(ui, |ui| {
                    for (i, cell) in cells.iter().enumerate() {
                        ui.vertical(|ui| match cell {
                            ChartCell::Loss => charts.loss_ui(ui),
                            ChartCell::Total => charts.total_ui(ui),
                            ChartCell::GradNorms => charts.grad_norms_ui(ui),
                            ChartCell::Weights => charts.weights_ui(ui),
                            ChartCell::Metric => charts.metric_ui(ui),
                            ChartCell::MetricR2 => charts.r2_ui(ui),
                            ChartCell::Cosine => charts.cosine_ui(ui),
                            ChartCell::NoSharedGradient => charts.no_shared_gradient_ui(ui),
                            ChartCell::Arch(view) => charts.arch_view_ui(ui, *view),
                        });
                        if (i + 1) % cols == 0 {
                            ui.end_row();
                        }
                    }
                });
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marks(lo: f64, hi: f64) -> Vec<f64> {
        log_axis_marks(egui_plot::GridInput {
            bounds: (lo, hi),
            base_step_size: 0.01,
        })
        .iter()
        .map(|m| (10f64.powf(m.value) * 1e6).round() / 1e6)
        .collect()
    }

    #[test]
    fn extents_grow_and_never_shrink() {
        let a = Some([0.0, 4.0, -1.0, 0.9]);
        let b = Some([0.0, 0.5, -2.0, 0.1]);
        assert_eq!(grow(a, b), Some([0.0, 4.0, -2.0, 0.9]));
        assert_eq!(grow(a, None), a);
        assert_eq!(grow(None, b), b);
    }

    #[test]
    fn narrow_windows_get_fewer_chart_columns() {
        assert_eq!(chart_columns(760.0, 8.0), 3, "1280 wide");
        assert_eq!(chart_columns(500.0, 8.0), 2, "1024 wide");
        assert_eq!(chart_columns(200.0, 8.0), 1);
        assert_eq!(chart_columns(3000.0, 8.0), 3);
    }

    #[test]
    fn log_axes_mark_round_values() {
        assert_eq!(
            marks(-2.1, 0.5),
            [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0],
            "1, 2 and 5 × 10ᵏ over a few decades"
        );
        assert_eq!(
            marks(-0.5, 0.2),
            [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
            "every digit within a decade"
        );
        let wide: Vec<f64> = log_axis_marks(egui_plot::GridInput {
            bounds: (-12.0, 6.0),
            base_step_size: 0.01,
        })
        .iter()
        .map(|m| m.value)
        .collect();
        assert!(
            wide.iter().all(|v| (v - v.round()).abs() < 1e-9),
            "decades only over many: {wide:?}"
        );
        assert!(wide.len() >= 2 && wide.len() <= 19, "{wide:?}");
    }
}
