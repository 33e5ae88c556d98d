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

/// How earlier run `i` (0 = the oldest kept) is drawn: dotted or dashed, each run its own.
fn past_style(i: usize) -> LineStyle {
    match i % 4 {
        0 => LineStyle::Dotted { spacing: 5.0 },
        1 => LineStyle::Dashed { length: 3.0 },
        2 => LineStyle::Dotted { spacing: 11.0 },
        _ => LineStyle::Dashed { length: 18.0 },
    }
}

/// A short sample of a line style, as egui_plot draws it.
fn style_sample(ui: &mut Ui, style: LineStyle, colour: egui::Color32, width: f32, marker: bool) {
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

fn log_y(log: bool, y: f64) -> f64 {
    if log { y.max(1e-12).log10() } else { y }
}

/// Grid marks for a log10 axis at round values: 1, 2 and 5 × 10ᵏ; every value 1–9 × 10ᵏ when
/// less than about a decade shows, decades only when many do. `bounds` are log10 values.
pub fn log_axis_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (lo, hi) = input.bounds;
    let fallback = |input: egui_plot::GridInput| egui_plot::log_grid_spacer(10)(input);
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return fallback(input);
    }
    let span = hi - lo;
    let mantissas: &[f64] = if span > 6.0 {
        &[1.0]
    } else if span > 1.2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    // With very many decades, every n-th decade.
    let every = (span / 12.0).ceil().max(1.0) as i64;
    let (first, last) = (lo.floor() as i64, hi.ceil() as i64);
    let mut marks = Vec::new();
    for k in (first..=last).filter(|k| k.rem_euclid(every) == 0) {
        for &m in mantissas {
            let value = k as f64 + m.log10();
            if (lo..=hi).contains(&value) {
                // Decades are the strongest lines; 2 and 5 the next.
                let step_size = if m == 1.0 {
                    every as f64
                } else if m == 2.0 || m == 5.0 {
                    0.3
                } else {
                    0.1
                };
                marks.push(egui_plot::GridMark { value, step_size });
            }
        }
    }
    if marks.len() < 2 {
        // Less than a decade's tenth shows: egui_plot's own marks.
        return fallback(input);
    }
    marks
}

fn y_formatter(
    log: bool,
) -> impl Fn(egui_plot::GridMark, &std::ops::RangeInclusive<f64>) -> String {
    move |mark, _| {
        if log {
            format_value(10f64.powf(mark.value))
        } else {
            format_value(mark.value)
        }
    }
}

/// A number for axes and labels: at most 4 decimals, scientific when very large or small.
pub fn format_value(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 1000.0 || v.abs() < 0.001 {
        format!("{v:.1e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

fn hover_label(
    log: bool,
    what: &'static str,
) -> impl Fn(&egui_plot::HoverPosition<'_>) -> Option<String> {
    move |pos| {
        let (name, p) = match pos {
            egui_plot::HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => (*plot_name, *position),
            egui_plot::HoverPosition::Elsewhere { position } => ("", *position),
        };
        let y = if log { 10f64.powf(p.y) } else { p.y };
        let head = if name.is_empty() {
            String::new()
        } else {
            format!("{name}\n")
        };
        Some(format!(
            "{head}epoch {:.2}\n{what} {}",
            p.x,
            format_value(y)
        ))
    }
}

/// What every chart of one frame shares.
struct Charts<'a> {
    history: &'a RunHistory,
    past: &'a [RunHistory],
    prefs: &'a ViewPrefs,
    names: Vec<String>,
    link: egui::Id,
    size: egui::Vec2,
    /// What the earlier runs are called (as in the legend).
    past_labels: Vec<String>,
    /// The extent of the data the chart being drawn has been given so far.
    extent: Cell<Option<Extent>>,
    /// R² has a grid cell of its own (the metric cell too low to hold two charts).
    r2_cell: bool,
}

impl Charts<'_> {
    /// A chart title that names the run's strategy (`title (UW)`), with its formula on hover,
    /// so charts of runs with different strategies say which is which.
    fn strategy_title(&self, ui: &mut Ui, title: &str) {
        let method = self
            .history
            .info
            .as_ref()
            .and_then(|i| crate::weighting::method(i.spec.weighting.key()));
        match method {
            Some(m) => {
                let short = m.label.split(" (").next().unwrap_or(m.label);
                // The formula in the monospace font, which has its symbols (‖, ₖ, …).
                ui.strong(format!("{title} ({short})")).on_hover_ui(|ui| {
                    ui.label(m.label);
                    ui.label(egui::RichText::new(m.formula).monospace());
                });
            }
            None => {
                ui.strong(title);
            }
        }
    }

    fn plot(&self, id: &str, y_label: &str) -> Plot<'_> {
        Plot::new(id.to_owned())
            .height(self.size.y)
            .width(self.size.x)
            .link_axis(self.link, [true, false])
            .link_cursor(self.link, [true, false])
            // Epoch labels are short: allow them closer than egui_plot's default of 60 points,
            // so narrow charts of short runs still get numbers on their x axis.
            .custom_x_axes(vec![
                egui_plot::AxisHints::new_x()
                    .label("epoch")
                    .label_spacing(28.0..=48.0),
            ])
            .y_axis_label(y_label.to_owned())
    }

    /// A loss axis: on a log scale, marks at 1, 2 and 5 × 10ᵏ.
    fn loss_axis<'p>(&self, plot: Plot<'p>, log: bool) -> Plot<'p> {
        if log {
            plot.y_grid_spacer(log_axis_marks)
        } else {
            plot
        }
    }

    /// A chart of values that are 0 or more: before any point, its axis shows 0 to 1 (not
    /// −0.5 to 0.5).
    fn non_negative<'p>(plot: Plot<'p>, empty: bool) -> Plot<'p> {
        let plot = plot.include_y(0.0);
        if empty { plot.include_y(1.0) } else { plot }
    }

    /// Points for a series, their extent noted for fixed axes.
    fn pts(&self, points: Vec<[f64; 2]>) -> PlotPoints<'static> {
        let extent = points
            .iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .fold(None, |e, p| grow(e, Some([p[0], p[0], p[1], p[1]])));
        self.extent.set(grow(self.extent.get(), extent));
        PlotPoints::from(points)
    }

    /// Shows chart `id`; with fixed axes, its axes hold every extent it has shown since the
    /// axes were reset.
    fn show(
        &self,
        ui: &mut Ui,
        id: &str,
        plot: Plot<'_>,
        body: impl FnOnce(&mut egui_plot::PlotUi<'_>),
    ) {
        self.extent.set(None);
        let key = if self.prefs.log_scale {
            format!("{id} log")
        } else {
            id.to_owned()
        };
        let kept = if self.prefs.fixed_axes {
            fixed_extent(ui.ctx(), &key)
        } else {
            None
        };
        let plot = match kept {
            Some([x0, x1, y0, y1]) => plot.include_x(x0).include_x(x1).include_y(y0).include_y(y1),
            None => plot,
        };
        plot.show(ui, body);
        if self.prefs.fixed_axes
            && let Some(extent) = grow(kept, self.extent.get())
        {
            keep_extent(ui.ctx(), key, extent);
        }
    }

    fn y(&self, points: impl IntoIterator<Item = [f64; 2]>) -> Vec<[f64; 2]> {
        let log = self.prefs.log_scale;
        points
            .into_iter()
            .map(|[x, y]| [x, log_y(log, y)])
            .collect()
    }

    /// Validation points of task `k` as a dashed line with markers.
    fn val_series(
        &self,
        plot: &mut egui_plot::PlotUi<'_>,
        name: String,
        colour: egui::Color32,
        points: Vec<[f64; 2]>,
    ) {
        plot.line(
            Line::new(name.clone(), self.pts(points.clone()))
                .color(colour)
                .style(LineStyle::dashed_loose())
                .width(1.5),
        );
        plot.points(
            Points::new(name, PlotPoints::from(points))
                .color(colour)
                .radius(2.5),
        );
    }

    fn loss_ui(&self, ui: &mut Ui) {
        let log = self.prefs.log_scale;
        let alpha = self.prefs.smoothing;
        ui.strong("Loss per task");
        let plot = self
            .loss_axis(self.plot("loss", "loss"), log)
            .y_axis_formatter(y_formatter(log))
            .label_formatter(hover_label(log, "loss"));
        self.show(ui, "loss", plot, |plot| {
            for (k, name) in self.names.iter().enumerate() {
                let colour = theme::task(k);
                if let Some(series) = self.history.task_loss.get(k) {
                    let raw = self.y(series.points());
                    if alpha > 0.0 {
                        // Unnamed: the raw curve stays out of the legend.
                        plot.line(
                            Line::new("", self.pts(raw))
                                .color(theme::faint(colour, 60))
                                .width(1.0),
                        );
                        let smooth = self.y(ema(series.points(), alpha));
                        plot.line(
                            Line::new(format!("{name} train"), self.pts(smooth))
                                .color(colour)
                                .width(2.0),
                        );
                    } else {
                        plot.line(
                            Line::new(format!("{name} train"), self.pts(raw))
                                .color(colour)
                                .width(2.0),
                        );
                    }
                }
                if self.prefs.show_val {
                    let val = self.y(self.history.eval_series(Split::Val, k, false));
                    self.val_series(plot, format!("{name} val"), colour, val);
                }
            }
            self.past_ui(plot, false, None);
            self.stop_marks(plot);
        });
    }

    /// Where a stop rule fired (dashed) and the best epoch whose weights it kept (dotted).
    fn stop_marks(&self, plot: &mut egui_plot::PlotUi<'_>) {
        let Some(s) = &self.history.stopped else {
            return;
        };
        plot.vline(
            egui_plot::VLine::new(format!("stopped (epoch {})", s.epoch), s.epoch as f64)
                .color(theme::warning())
                .style(LineStyle::dashed_loose()),
        );
        plot.vline(
            egui_plot::VLine::new(
                if s.restored {
                    format!("best epoch {} (weights restored)", s.best_epoch)
                } else {
                    format!("best epoch {}", s.best_epoch)
                },
                s.best_epoch as f64,
            )
            .color(theme::ok())
            .style(LineStyle::dotted_loose()),
        );
    }

    /// Earlier runs' validation curves, dotted or dashed, one style per run (as in the
    /// legend).
    fn past_ui(&self, plot: &mut egui_plot::PlotUi<'_>, metric: bool, tasks: Option<&[usize]>) {
        for (i, past) in self.past.iter().enumerate() {
            let names = past.task_names();
            let label = self
                .past_labels
                .get(i)
                .cloned()
                .unwrap_or_else(|| past.label());
            for (k, name) in names.iter().enumerate() {
                if tasks.is_some_and(|t| !t.contains(&k)) {
                    continue;
                }
                let points = past.eval_series(Split::Val, k, metric);
                let points = if metric { points } else { self.y(points) };
                plot.line(
                    Line::new(format!("{label}: {name} val"), self.pts(points))
                        .color(theme::faint(theme::task(k), 190))
                        .style(past_style(i))
                        .width(2.0),
                );
            }
        }
    }

    fn total_ui(&self, ui: &mut Ui) {
        let log = self.prefs.log_scale;
        self.strategy_title(ui, "Total weighted loss  Σ w·L");
        let plot = self
            .loss_axis(self.plot("total", "loss"), log)
            .y_axis_formatter(y_formatter(log))
            .label_formatter(hover_label(log, "total"));
        self.show(ui, "total", plot, |plot| {
            let pts = if self.prefs.smoothing > 0.0 {
                ema(self.history.total_loss.points(), self.prefs.smoothing)
            } else {
                self.history.total_loss.points().collect()
            };
            plot.line(
                Line::new("total", self.pts(self.y(pts)))
                    .color(theme::total())
                    .width(2.0),
            );
        });
    }

    fn weights_ui(&self, ui: &mut Ui) {
        self.strategy_title(ui, "Effective task weights");
        let empty = self.history.weights.iter().all(|s| s.is_empty());
        let plot = Self::non_negative(self.plot("weights", "weight"), empty)
            .label_formatter(hover_label(false, "weight"));
        self.show(ui, "weights", plot, |plot| {
            for (k, name) in self.names.iter().enumerate() {
                if let Some(series) = self.history.weights.get(k) {
                    let pts: Vec<[f64; 2]> = series.points().collect();
                    plot.line(
                        Line::new(name.clone(), self.pts(pts))
                            .color(theme::task(k))
                            .width(2.0),
                    );
                }
            }
        });
    }

    fn grad_norms_ui(&self, ui: &mut Ui) {
        ui.strong("Gradient norm per task (trunk)");
        let empty = self.history.grad_norms.iter().all(|s| s.is_empty());
        let plot = Self::non_negative(self.plot("gradnorms", "norm"), empty)
            .label_formatter(hover_label(false, "|g|"));
        self.show(ui, "gradnorms", plot, |plot| {
            for (k, name) in self.names.iter().enumerate() {
                if let Some(series) = self.history.grad_norms.get(k) {
                    let pts: Vec<[f64; 2]> = if self.prefs.smoothing > 0.0 {
                        ema(series.points(), self.prefs.smoothing)
                    } else {
                        series.points().collect()
                    };
                    plot.line(
                        Line::new(name.clone(), self.pts(pts))
                            .color(theme::task(k))
                            .width(2.0),
                    );
                }
            }
        });
    }

    /// The K × K matrix of cosines between task gradients, conflicts (cos < 0) in the
    /// contrasting colour.
    fn cosine_ui(&self, ui: &mut Ui) {
        let k = self.names.len();
        let measured = self.history.cosines();
        let hint = "Each cell is the mean cosine over the steps of the last epoch that measured it, not one batch's. The Affinity tab shows each pair over time.";
        ui.horizontal(|ui| {
            ui.strong("Gradient cosine, last-epoch mean")
                .on_hover_text(hint);
            // The count where there is room for it (always in the Affinity tab).
            if let Some((_, n)) = &measured
                && self.size.x > 400.0
            {
                ui.weak(format!("({n} measured steps)")).on_hover_text(hint);
            }
        });
        let cos = measured
            .as_ref()
            .map(|(c, _)| c)
            .filter(|c| c.len() == k * k && k > 0);
        let labels = self.task_labels();
        self.heatmap(
            ui,
            self.size,
            &labels,
            &labels,
            cos.map(Vec::as_slice),
            &|v| v,
            "measured while training",
            &[
                ("■ conflict (cos < 0)", -0.8),
                ("■ agreement (cos > 0)", 0.8),
            ],
        );
    }

    /// Each pair of tasks' gradient cosine over the run (the mean of each reported
    /// interval): the line of pair (a, b) has task a's colour and a dash pattern per b.
    fn cosine_pairs_ui(&self, ui: &mut Ui) {
        let k = self.names.len();
        let pairs: Vec<(usize, usize)> = (0..k)
            .flat_map(|a| (a + 1..k).map(move |b| (a, b)))
            .collect();
        let marks = ["——", "– –", "···", "--", ".."];
        // The legend sits above the chart, never over the data.
        ui.horizontal_wrapped(|ui| {
            ui.strong("Gradient cosine over time, per task pair");
            ui.weak("(below 0: the tasks' gradients conflict)");
            for (a, b) in &pairs {
                ui.colored_label(
                    theme::task(*a),
                    format!(
                        "{} {} × {}",
                        marks[(b - a - 1) % marks.len()],
                        self.names[*a],
                        self.names[*b]
                    ),
                );
            }
        });
        let empty = self.history.cosine_pairs.iter().all(|s| s.is_empty());
        let styles = [
            LineStyle::Solid,
            LineStyle::dashed_loose(),
            LineStyle::dotted_loose(),
            LineStyle::dashed_dense(),
            LineStyle::dotted_dense(),
        ];
        let height = (ui.available_height() - 110.0).clamp(120.0, 260.0);
        let mut plot = Plot::new("cosine-pairs")
            .height(height)
            .x_axis_label("epoch")
            .y_axis_label("cosine")
            .include_y(-1.0)
            .include_y(1.0)
            .label_formatter(hover_label(false, "cos"));
        if empty {
            plot = plot.include_x(0.0).include_x(1.0);
        }
        plot.show(ui, |plot| {
            plot.hline(egui_plot::HLine::new("", 0.0).color(theme::input()));
            for ((a, b), series) in pairs.into_iter().zip(&self.history.cosine_pairs) {
                let pts: Vec<[f64; 2]> = if self.prefs.smoothing > 0.0 {
                    ema(series.points(), self.prefs.smoothing)
                } else {
                    series.points().collect()
                };
                plot.line(
                    Line::new(
                        format!("{} × {}", self.names[a], self.names[b]),
                        PlotPoints::from(pts),
                    )
                    .color(theme::task(a))
                    .style(styles[(b - a - 1) % styles.len()])
                    .width(2.0),
                );
            }
        });
    }

    fn task_labels(&self) -> Vec<(String, egui::Color32)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), theme::task(i)))
            .collect()
    }

    /// A matrix of values in [−1, 1] as coloured cells (with the values when they fit), row
    /// and column labels, and a legend of (text, value) swatches.
    #[expect(
        clippy::too_many_arguments,
        reason = "one painter, its labels and legend"
    )]
    fn heatmap(
        &self,
        ui: &mut Ui,
        size: egui::Vec2,
        rows: &[(String, egui::Color32)],
        cols: &[(String, egui::Color32)],
        values: Option<&[f64]>,
        shade: &dyn Fn(f64) -> f64,
        empty: &str,
        legend: &[(&str, f64)],
    ) {
        let (rect, _) = ui.allocate_exact_size(size, egui::Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        let (nr, nc) = (rows.len(), cols.len());
        let Some(values) = values.filter(|v| v.len() == nr * nc && nr * nc > 0) else {
            // Wrapped to the box, so a narrow one does not cut the words off.
            let galley = painter.layout(
                empty.to_owned(),
                egui::FontId::proportional(14.0),
                ui.visuals().weak_text_color(),
                rect.width() - 16.0,
            );
            let at = rect.center() - galley.size() / 2.0;
            painter.galley(at, galley, ui.visuals().weak_text_color());
            return;
        };
        let longest = rows.iter().map(|r| r.0.len()).max().unwrap_or(4) as f32;
        let label_w = (12.0 + 8.0 * longest).clamp(40.0, 140.0);
        let legend_h = 18.0 * legend.len() as f32 + 10.0;
        let cell = ((rect.width() - label_w - 10.0) / nc as f32)
            .min((rect.height() - 28.0 - legend_h) / nr as f32)
            .max(8.0);
        let origin = rect.left_top() + egui::vec2(label_w, 24.0);
        let font = egui::FontId::proportional(if cell > 40.0 { 15.0 } else { 11.0 });
        let signed = values.iter().any(|v| *v < 0.0);
        // Names that do not fit their cell (or the label margin) are cut short with "…".
        let fit = |name: &str, width: f32| -> String {
            let max = (width / (font.size * 0.55)).floor().max(2.0) as usize;
            if name.chars().count() <= max {
                name.to_owned()
            } else {
                let mut short: String = name.chars().take(max - 1).collect();
                short.push('…');
                short
            }
        };
        for (i, (name, colour)) in rows.iter().enumerate() {
            painter.text(
                egui::pos2(origin.x - 6.0, origin.y + cell * (i as f32 + 0.5)),
                egui::Align2::RIGHT_CENTER,
                fit(name, label_w - 8.0),
                font.clone(),
                *colour,
            );
        }
        for (j, (name, colour)) in cols.iter().enumerate() {
            painter.text(
                egui::pos2(origin.x + cell * (j as f32 + 0.5), origin.y - 4.0),
                egui::Align2::CENTER_BOTTOM,
                fit(name, cell - 4.0),
                font.clone(),
                *colour,
            );
        }
        for i in 0..nr {
            for j in 0..nc {
                let v = values[i * nc + j];
                let r = egui::Rect::from_min_size(
                    origin + egui::vec2(cell * j as f32, cell * i as f32),
                    egui::vec2(cell, cell),
                )
                .shrink(1.0);
                painter.rect_filled(r, 2.0, theme::cosine(shade(v).clamp(-1.0, 1.0)));
                if cell > 24.0 {
                    painter.text(
                        r.center(),
                        egui::Align2::CENTER_CENTER,
                        if signed {
                            format!("{v:+.2}")
                        } else {
                            format!("{v:.2}")
                        },
                        font.clone(),
                        theme::on_box(),
                    );
                }
            }
        }
        let mut y = origin.y + cell * nr as f32 + 14.0;
        for (text, v) in legend {
            painter.text(
                egui::pos2(rect.left() + 8.0, y),
                egui::Align2::LEFT_CENTER,
                *text,
                font.clone(),
                theme::cosine(*v),
            );
            y += 18.0;
        }
    }

    /// In place of the gradient cosines, for soft sharing.
    fn no_shared_gradient_ui(&self, ui: &mut Ui) {
        ui.strong("Gradient cosine between tasks");
        let (rect, _) = ui.allocate_exact_size(self.size, egui::Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            "Soft sharing: every task owns its tower,\nso no gradient is shared to compare.\nThe towers meet only through λ.",
            egui::FontId::proportional(14.0),
            ui.visuals().weak_text_color(),
        );
    }

    /// Soft sharing: the distance ‖θₐ − θ_b‖ between each pair of towers.
    fn tower_distance_ui(&self, ui: &mut Ui) {
        ui.strong("Distance between towers |θa − θb|");
        let plot = self
            .plot("towers", "distance")
            .label_formatter(hover_label(false, "distance"))
            .include_y(0.0);
        self.show(ui, "towers", plot, |plot| {
            let k = self.names.len();
            let pairs = (0..k).flat_map(|a| (a + 1..k).map(move |b| (a, b)));
            for (series, (a, b)) in self.history.tower_distance.iter().zip(pairs) {
                let pts: Vec<[f64; 2]> = series.points().collect();
                plot.line(
                    Line::new(
                        format!("{} – {}", self.names[a], self.names[b]),
                        self.pts(pts),
                    )
                    .color(theme::task(a))
                    .style(if b == a + 1 {
                        LineStyle::Solid
                    } else {
                        LineStyle::dashed_loose()
                    })
                    .width(2.0),
                );
            }
        });
    }

    /// Relationship learning: the task correlations ρᵢⱼ = Ωᵢⱼ / √(Ωᵢᵢ Ωⱼⱼ).
    fn omega_ui(&self, ui: &mut Ui, size: egui::Vec2) {
        ui.strong("Learned task relationship (correlation from Ω)");
        let k = self.names.len();
        let rho = self
            .history
            .arch
            .as_ref()
            .and_then(|a| a.omega.as_ref())
            .filter(|o| o.len() == k * k)
            .map(|o| {
                (0..k * k)
                    .map(|ij| {
                        let (i, j) = (ij / k, ij % k);
                        o[ij] / (o[i * k + i] * o[j * k + j]).sqrt().max(f64::MIN_POSITIVE)
                    })
                    .collect::<Vec<f64>>()
            });
        let labels = self.task_labels();
        self.heatmap(
            ui,
            size,
            &labels,
            &labels,
            rho.as_deref(),
            &|v| v,
            "updated while training",
            &[
                ("■ negatively related", -0.8),
                ("■ positively related", 0.8),
            ],
        );
    }

    /// Cross-stitch: each unit's α (row: the column it feeds; column: the column read).
    fn stitch_ui(&self, ui: &mut Ui, size: egui::Vec2) {
        let units = self
            .history
            .arch
            .as_ref()
            .map(|a| a.stitch.clone())
            .unwrap_or_default();
        ui.strong("Cross-stitch units α (row reads column)");
        let labels = self.task_labels();
        if units.is_empty() {
            self.heatmap(
                ui,
                size,
                &labels,
                &labels,
                None,
                &|v| v,
                "learned while training",
                &[],
            );
            return;
        }
        let n = units.len() as f32;
        let gap = ui.spacing().item_spacing.x;
        let each = egui::vec2(((size.x - gap * (n - 1.0)) / n).max(60.0), size.y - 18.0);
        ui.horizontal(|ui| {
            for (u, alpha) in units.iter().enumerate() {
                ui.vertical(|ui| {
                    ui.label(format!("unit {}", u + 1));
                    self.heatmap(ui, each, &labels, &labels, Some(alpha), &|v| v, "", &[]);
                });
            }
        });
    }

    /// Mixtures: each gate's mean weight on each expert over a batch.
    fn gates_ui(&self, ui: &mut Ui, size: egui::Vec2) {
        ui.strong("Gate weights per task (mean over a batch)");
        let gates = self
            .history
            .arch
            .as_ref()
            .map(|a| a.gates.clone())
            .unwrap_or_default();
        let experts = gates.first().map_or(0, Vec::len);
        let rows: Vec<(String, egui::Color32)> = if gates.len() == 1 {
            vec![("all tasks".to_owned(), theme::shared())]
        } else {
            self.task_labels()
        };
        let cols: Vec<(String, egui::Color32)> = (0..experts)
            .map(|e| (format!("e{}", e + 1), theme::shared()))
            .collect();
        let flat: Vec<f64> = gates.iter().flatten().copied().collect();
        self.heatmap(
            ui,
            size,
            &rows,
            &cols,
            (!flat.is_empty()).then_some(flat.as_slice()),
            // Against an even share 1/n: more in blue, less in red.
            &|v| v * experts as f64 - 1.0,
            "measured while training",
            &[
                ("■ more than an even share", 0.8),
                ("■ less than an even share", -0.8),
            ],
        );
    }

    /// The architecture's live views, if it has any.
    fn arch_views(&self) -> Vec<ArchView> {
        let Some(info) = &self.history.info else {
            return Vec::new();
        };
        let mut views = Vec::new();
        match info.spec.model.architecture {
            crate::experiment::Architecture::Soft { .. } => views.push(ArchView::Towers),
            crate::experiment::Architecture::CrossStitch { .. } => views.push(ArchView::Stitch),
            crate::experiment::Architecture::Mmoe { .. }
            | crate::experiment::Architecture::Moe { .. } => views.push(ArchView::Gates),
            crate::experiment::Architecture::Hard => {}
        }
        if info.spec.model.relationship.is_some() {
            views.push(ArchView::Omega);
        }
        views
    }

    fn arch_view_ui(&self, ui: &mut Ui, view: ArchView) {
        match view {
            ArchView::Towers => self.tower_distance_ui(ui),
            ArchView::Omega => self.omega_ui(ui, self.size),
            ArchView::Stitch => self.stitch_ui(ui, self.size),
            ArchView::Gates => self.gates_ui(ui, self.size),
        }
    }

    /// The metric charts: R² (unbounded below) on its own axis, apart from the metrics in
    /// [0, 1] (accuracy, IoU), so a poor regression start does not squash the others.
    fn metric_ui(&self, ui: &mut Ui) {
        let (r2, bounded) = self.metric_groups();
        if r2.is_empty() || bounded.is_empty() {
            let all: Vec<usize> = (0..self.names.len()).collect();
            let what = if all.is_empty() {
                "R², accuracy or IoU".to_owned()
            } else {
                self.metric_title(&all)
            };
            ui.strong(format!("Metric per task ({what})"));
            self.metric_plot(ui, "metric", &all, self.size.y, !r2.is_empty());
        } else if self.r2_cell {
            ui.strong(format!("Metric per task ({})", self.metric_title(&bounded)));
            self.metric_plot(ui, "metric", &bounded, self.size.y, false);
        } else {
            // Two charts, one above the other, in the one cell.
            let h = (self.size.y - 22.0 - ui.spacing().item_spacing.y) / 2.0;
            ui.strong(format!("Metric per task ({})", self.metric_title(&bounded)));
            self.metric_plot(ui, "metric", &bounded, h, false);
            self.r2_title(ui);
            self.metric_plot(ui, "metric-r2", &r2, h, true);
        }
    }

    /// R² in a cell of its own.
    fn r2_ui(&self, ui: &mut Ui) {
        let (r2, _) = self.metric_groups();
        self.r2_title(ui);
        self.metric_plot(ui, "metric-r2", &r2, self.size.y, true);
    }

    fn r2_title(&self, ui: &mut Ui) {
        ui.strong("R² per task (regression)")
            .on_hover_text("On its own axis: R² has no lower bound, and a poor start would squash the metrics in [0, 1].");
    }

    /// The tasks whose metric is R², and the others (in [0, 1]).
    fn metric_groups(&self) -> (Vec<usize>, Vec<usize>) {
        let kinds = self.kinds();
        (0..self.names.len())
            .partition(|k| kinds.get(*k) == Some(&crate::experiment::TaskKind::Regression))
    }

    /// Both R² and metrics in [0, 1]: they get separate axes.
    fn mixed_metrics(&self) -> bool {
        let (r2, bounded) = self.metric_groups();
        !r2.is_empty() && !bounded.is_empty()
    }

    fn kinds(&self) -> Vec<crate::experiment::TaskKind> {
        self.history
            .info
            .as_ref()
            .map(|i| i.task_kinds.clone())
            .unwrap_or_default()
    }

    /// `accuracy / IoU`: the metrics of `tasks`.
    fn metric_title(&self, tasks: &[usize]) -> String {
        let kinds = self.kinds();
        let mut metrics: Vec<&str> = Vec::new();
        for kind in tasks.iter().filter_map(|k| kinds.get(*k)) {
            if !metrics.contains(&kind.metric_name()) {
                metrics.push(kind.metric_name());
            }
        }
        metrics.join(" / ")
    }

    fn metric_plot(&self, ui: &mut Ui, id: &str, tasks: &[usize], height: f32, unbounded: bool) {
        let kinds = self.kinds();
        let plot = self
            .plot(id, "metric")
            .height(height)
            .label_formatter(hover_label(false, "metric"));
        // Metrics in [0, 1] show the whole range, so runs compare at a glance.
        let plot = if unbounded {
            plot
        } else {
            plot.include_y(0.0).include_y(1.0)
        };
        self.show(ui, id, plot, |plot| {
            for &k in tasks {
                let Some(name) = self.names.get(k) else {
                    continue;
                };
                let metric = kinds.get(k).map_or("", |kind| kind.metric_name());
                let colour = theme::task(k);
                let train = self.history.eval_series(Split::Train, k, true);
                plot.line(
                    Line::new(format!("{name} train {metric}"), self.pts(train))
                        .color(colour)
                        .width(2.0),
                );
                if self.prefs.show_val {
                    let val = self.history.eval_series(Split::Val, k, true);
                    self.val_series(plot, format!("{name} val {metric}"), colour, val);
                }
            }
            self.past_ui(plot, true, Some(tasks));
            self.stop_marks(plot);
        });
    }
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

/// Every metric of the latest evaluation, per task and split, with the epoch it comes from.
pub fn metrics_table_ui(ui: &mut Ui, history: &RunHistory) {
    let Some(info) = &history.info else {
        ui.label("No run yet: the table fills after the first evaluation.");
        return;
    };
    // After early stopping with restored weights, the model is the best epoch's.
    let restored = history
        .stopped
        .as_ref()
        .filter(|s| s.restored)
        .map(|s| s.best_epoch);
    let latest = |split: Split| {
        history
            .evals
            .iter()
            .rev()
            .find(|e| e.split == split && restored.is_none_or(|b| e.epoch == b))
    };
    if let Some(s) = &history.stopped {
        ui.colored_label(theme::ok(), &s.message);
    }
    let (train, val) = (latest(Split::Train), latest(Split::Val));
    let Some(epoch) = train.or(val).map(|e| e.epoch) else {
        ui.label("Waiting for the first evaluation…");
        return;
    };
    ui.label(format!(
        "Evaluated on whole splits after epoch {epoch}. MSE and MAE are in each target's original units; F1 is the positive class's for binary tasks and the macro mean for multiclass; AUC is one-vs-rest macro for multiclass."
    ));
    ui.add_space(4.0);
    egui::ScrollArea::both().show(ui, |ui| {
        egui::Grid::new("metrics_table")
            .striped(true)
            .spacing([18.0, 4.0])
            .show(ui, |ui| {
                ui.strong("task");
                ui.strong("kind");
                ui.strong("split");
                ui.strong("loss");
                ui.strong("metrics");
                ui.end_row();
                for (k, (name, kind)) in info.task_names.iter().zip(&info.task_kinds).enumerate() {
                    for (split, eval) in [(Split::Train, train), (Split::Val, val)] {
                        let Some(t) = eval.and_then(|e| e.tasks.get(k)) else {
                            continue;
                        };
                        ui.colored_label(theme::task(k), name);
                        ui.label(kind.to_string());
                        ui.label(split.name());
                        ui.monospace(fmt_metric(t.loss));
                        let text: Vec<String> = crate::metrics::metric_keys(*kind)
                            .iter()
                            .zip(&t.all)
                            .map(|(key, v)| {
                                format!("{} {}", crate::metrics::metric_label(key), fmt_metric(*v))
                            })
                            .collect();
                        ui.monospace(text.join("   "));
                        ui.end_row();
                    }
                }
            });
    });
}

fn fmt_metric(v: f64) -> String {
    if !v.is_finite() {
        "n/a".to_owned()
    } else if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// What the Affinity tab asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum AffinityAction {
    /// Keep only these tasks (by name) in the experiment.
    KeepTasks(Vec<String>),
    /// Save one experiment per group (task names per group).
    SaveGroups(Vec<Vec<String>>),
}

/// The Affinity tab: TAG's mean lookahead affinity and the latest gradient cosines as
/// heatmaps, and the best groupings of the tasks with buttons to act on them.
pub fn affinity_ui(ui: &mut Ui, history: &RunHistory, prefs: &ViewPrefs) -> Option<AffinityAction> {
    let charts = Charts {
        history,
        past: &[],
        prefs,
        names: history.task_names(),
        link: ui.scope_id().with("mtl-affinity"),
        past_labels: Vec::new(),
        extent: Cell::new(None),
        r2_cell: false,
        size: egui::vec2(
            ((ui.available_width() - 30.0) / 2.0).clamp(220.0, 520.0),
            (ui.available_height() - 220.0).clamp(200.0, 460.0),
        ),
    };
    let k = charts.names.len();
    let tag = history
        .affinity_mean()
        .filter(|m| m.len() == k * k && k > 0);
    let labels = charts.task_labels();
    let scale = tag.as_ref().map_or(1.0, |m| {
        m.iter()
            .filter(|v| v.is_finite())
            .fold(1e-12f64, |a, v| a.max(v.abs()))
    });
    let measured = history.affinity_count();
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            // Titles wrap to the heatmap's width rather than widen the column.
            ui.set_max_width(charts.size.x);
            ui.strong(format!(
                "Lookahead affinity (TAG), mean of {measured} measurements"
            ));
            charts.heatmap(
                ui,
                charts.size,
                &labels,
                &labels,
                tag.as_deref(),
                &|v| v / scale,
                "tick \"Measure task affinity\" above, then Restart",
                &[
                    ("a step on the row task hurts the column task", -0.8),
                    ("it helps", 0.8),
                ],
            );
        });
        ui.vertical(|ui| {
            ui.set_max_width(charts.size.x);
            charts.cosine_ui(ui);
        });
    });
    charts.cosine_pairs_ui(ui);
    let tag = tag?;
    let mut action = None;
    ui.add_space(6.0);
    for n in 2..=3.min(k) {
        let Some(g) = crate::metrics::affinity::best_partition(&tag, k, n) else {
            continue;
        };
        let names: Vec<Vec<String>> = g
            .groups
            .iter()
            .map(|grp| grp.iter().map(|&t| charts.names[t].clone()).collect())
            .collect();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("Best split into {n} groups (summed affinity {:.3}):", g.score));
            for group in &names {
                if ui
                    .button(format!("{{{}}}", group.join(", ")))
                    .on_hover_text("Keep only these tasks in the experiment (a grouped experiment to train next)")
                    .clicked()
                {
                    action = Some(AffinityAction::KeepTasks(group.clone()));
                }
            }
            if ui
                .button("Save the grouped experiments…")
                .on_hover_text("Write one spec per group into a folder")
                .clicked()
            {
                action = Some(AffinityAction::SaveGroups(names.clone()));
            }
        });
    }
    action
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
