//! The grid's charts, each drawn from the run history: losses, total, gradient norms,
//! weights, metrics, cosines and the architecture's own views.

use super::*;

/// What every chart of one frame shares.
pub(super) struct Charts<'a> {
    pub(super) history: &'a RunHistory,
    pub(super) past: &'a [RunHistory],
    pub(super) prefs: &'a ViewPrefs,
    pub(super) names: Vec<String>,
    pub(super) link: egui::Id,
    pub(super) size: egui::Vec2,
    /// What the earlier runs are called (as in the legend).
    pub(super) past_labels: Vec<String>,
    /// The extent of the data the chart being drawn has been given so far.
    pub(super) extent: Cell<Option<Extent>>,
    /// R² has a grid cell of its own (the metric cell too low to hold two charts).
    pub(super) r2_cell: bool,
}

impl Charts<'_> {
    /// A chart title that names the run's strategy (`title (UW)`), with its formula on hover,
    /// so charts of runs with different strategies say which is which.
    pub(super) fn strategy_title(&self, ui: &mut Ui, title: &str) {
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

    pub(super) fn plot(&self, id: &str, y_label: &str) -> Plot<'_> {
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
    pub(super) fn loss_axis<'p>(&self, plot: Plot<'p>, log: bool) -> Plot<'p> {
        if log {
            plot.y_grid_spacer(log_axis_marks)
        } else {
            plot
        }
    }

    /// A chart of values that are 0 or more: before any point, its axis shows 0 to 1 (not
    /// −0.5 to 0.5).
    pub(super) fn non_negative<'p>(plot: Plot<'p>, empty: bool) -> Plot<'p> {
        let plot = plot.include_y(0.0);
        if empty { plot.include_y(1.0) } else { plot }
    }

    /// Points for a series, their extent noted for fixed axes.
    pub(super) fn pts(&self, points: Vec<[f64; 2]>) -> PlotPoints<'static> {
        let extent = points
            .iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .fold(None, |e, p| grow(e, Some([p[0], p[0], p[1], p[1]])));
        self.extent.set(grow(self.extent.get(), extent));
        PlotPoints::from(points)
    }

    /// Shows chart `id`; with fixed axes, its axes hold every extent it has shown since the
    /// axes were reset.
    pub(super) fn show(
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

    pub(super) fn y(&self, points: impl IntoIterator<Item = [f64; 2]>) -> Vec<[f64; 2]> {
        let log = self.prefs.log_scale;
        points
            .into_iter()
            .map(|[x, y]| [x, log_y(log, y)])
            .collect()
    }

    /// Validation points of task `k` as a dashed line with markers.
    pub(super) fn val_series(
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

    pub(super) fn loss_ui(&self, ui: &mut Ui) {
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
    pub(super) fn stop_marks(&self, plot: &mut egui_plot::PlotUi<'_>) {
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
    pub(super) fn past_ui(
        &self,
        plot: &mut egui_plot::PlotUi<'_>,
        metric: bool,
        tasks: Option<&[usize]>,
    ) {
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

    pub(super) fn total_ui(&self, ui: &mut Ui) {
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

    pub(super) fn weights_ui(&self, ui: &mut Ui) {
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

    pub(super) fn grad_norms_ui(&self, ui: &mut Ui) {
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
    pub(super) fn cosine_ui(&self, ui: &mut Ui) {
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
    pub(super) fn cosine_pairs_ui(&self, ui: &mut Ui) {
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

    pub(super) fn task_labels(&self) -> Vec<(String, egui::Color32)> {
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
    pub(super) fn heatmap(
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
    pub(super) fn no_shared_gradient_ui(&self, ui: &mut Ui) {
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
    pub(super) fn tower_distance_ui(&self, ui: &mut Ui) {
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
    pub(super) fn omega_ui(&self, ui: &mut Ui, size: egui::Vec2) {
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
    pub(super) fn stitch_ui(&self, ui: &mut Ui, size: egui::Vec2) {
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
    pub(super) fn gates_ui(&self, ui: &mut Ui, size: egui::Vec2) {
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
    pub(super) fn arch_views(&self) -> Vec<ArchView> {
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

    pub(super) fn arch_view_ui(&self, ui: &mut Ui, view: ArchView) {
        match view {
            ArchView::Towers => self.tower_distance_ui(ui),
            ArchView::Omega => self.omega_ui(ui, self.size),
            ArchView::Stitch => self.stitch_ui(ui, self.size),
            ArchView::Gates => self.gates_ui(ui, self.size),
        }
    }

    /// The metric charts: R² (unbounded below) on its own axis, apart from the metrics in
    /// [0, 1] (accuracy, IoU), so a poor regression start does not squash the others.
    pub(super) fn metric_ui(&self, ui: &mut Ui) {
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
    pub(super) fn r2_ui(&self, ui: &mut Ui) {
        let (r2, _) = self.metric_groups();
        self.r2_title(ui);
        self.metric_plot(ui, "metric-r2", &r2, self.size.y, true);
    }

    pub(super) fn r2_title(&self, ui: &mut Ui) {
        ui.strong("R² per task (regression)")
            .on_hover_text("On its own axis: R² has no lower bound, and a poor start would squash the metrics in [0, 1].");
    }

    /// The tasks whose metric is R², and the others (in [0, 1]).
    pub(super) fn metric_groups(&self) -> (Vec<usize>, Vec<usize>) {
        let kinds = self.kinds();
        (0..self.names.len())
            .partition(|k| kinds.get(*k) == Some(&crate::experiment::TaskKind::Regression))
    }

    /// Both R² and metrics in [0, 1]: they get separate axes.
    pub(super) fn mixed_metrics(&self) -> bool {
        let (r2, bounded) = self.metric_groups();
        !r2.is_empty() && !bounded.is_empty()
    }

    pub(super) fn kinds(&self) -> Vec<crate::experiment::TaskKind> {
        self.history
            .info
            .as_ref()
            .map(|i| i.task_kinds.clone())
            .unwrap_or_default()
    }

    /// `accuracy / IoU`: the metrics of `tasks`.
    pub(super) fn metric_title(&self, tasks: &[usize]) -> String {
        let kinds = self.kinds();
        let mut metrics: Vec<&str> = Vec::new();
        for kind in tasks.iter().filter_map(|k| kinds.get(*k)) {
            if !metrics.contains(&kind.metric_name()) {
                metrics.push(kind.metric_name());
            }
        }
        metrics.join(" / ")
    }

    pub(super) fn metric_plot(
        &self,
        ui: &mut Ui,
        id: &str,
        tasks: &[usize],
        height: f32,
        unbounded: bool,
    ) {
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
