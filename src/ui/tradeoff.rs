//! The Trade-offs tab: sweep static task weights over the simplex and run chosen strategies
//! on the current experiment, each for the same epochs and seeds, several at once; plot every
//! run's final per-task validation losses with the non-dominated front, open a run's curves
//! with a click, and score runs against single-task baselines (Δp).

use egui::{Color32, RichText, Ui, vec2};
use egui_plot::{Line, LineStyle, MarkerShape, Plot, PlotPoint, PlotPoints, Points};

use super::fronts::{self, FrontRun};
use super::theme;
use crate::experiment::{ExperimentSpec, TaskKind};
use crate::sweep::{self, RunResult, SweepJob, SweepPoint};
use crate::trainer::Waker;

/// Settings, the running job and the finished results of the tab.
pub struct TradeoffState {
    /// Weightings inside the simplex (see [`sweep::simplex_grid`]).
    pub grid: usize,
    /// Strategy keys to run besides the grid.
    pub strategies: Vec<String>,
    /// Also run EPO once per ray of the grid (the preference sweep).
    pub preferences: bool,
    /// Seeds per point (the spec's seed, then the next ones).
    pub seeds: usize,
    /// Trainings at the same time.
    pub threads: usize,
    /// The sweep in progress or last finished.
    pub job: Option<SweepJob>,
    /// The experiment the sweep ran on.
    pub swept: Option<ExperimentSpec>,
    /// Single-task baselines in progress or done.
    pub baselines: Option<Baselines>,
    /// The run whose curves are shown.
    pub selected: Option<usize>,
    /// The last problem starting a sweep.
    pub message: Option<String>,
    /// The sweep before the last one started, drawn faint behind it.
    pub earlier: Option<EarlierSweep>,
}

/// A finished sweep kept when the next one starts, so the two fronts compare by eye (e.g.
/// before and after raising the task correlation).
pub struct EarlierSweep {
    /// What changed in the experiment since, e.g. `correlation = -0.5` (empty: nothing but
    /// the sweep's own settings).
    pub changed: String,
    /// Its task names (it is drawn only behind a sweep of the same tasks).
    pub names: Vec<String>,
    /// Each finished run's final validation losses, and whether it was on the front.
    pub runs: Vec<(Vec<f64>, bool)>,
    /// Its fronts' hypervolumes.
    pub volumes: Option<sweep::Hypervolumes>,
}

/// The settings lines of `before` that `after` does not have (at most `max`, the name left
/// out): a short account of what changed, such as `correlation = -0.5`.
fn changed_lines(before: &ExperimentSpec, after: &ExperimentSpec, max: usize) -> String {
    let (Ok(b), Ok(a)) = (before.to_toml(), after.to_toml()) else {
        return String::new();
    };
    let now: std::collections::HashSet<&str> = a.lines().map(str::trim).collect();
    b.lines()
        .map(str::trim)
        .filter(|l| l.contains(" = ") && !l.starts_with("name = ") && !now.contains(l))
        .take(max)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Default for TradeoffState {
    fn default() -> Self {
        Self {
            grid: 7,
            strategies: crate::weighting::COMPARED_BY_DEFAULT
                .map(str::to_owned)
                .to_vec(),
            preferences: false,
            seeds: 1,
            threads: sweep::default_threads(),
            job: None,
            swept: None,
            baselines: None,
            selected: None,
            message: None,
            earlier: None,
        }
    }
}

/// Single-task models of one experiment, one per task and seed.
pub struct Baselines {
    /// What they were trained for (see [`baseline_key`]).
    key: ExperimentSpec,
    /// The experiment's name, for messages.
    pub name: String,
    /// Epochs each trained.
    pub epochs: usize,
    /// The seeds, in the job's order (seed-major, then task).
    seeds: Vec<u64>,
    /// The trainings.
    pub job: SweepJob,
}

impl Baselines {
    /// Whether every training has finished.
    pub fn finished(&self) -> bool {
        self.job.finished()
    }

    /// The errors of the trainings that failed.
    pub fn errors(&self) -> Vec<String> {
        self.job
            .points
            .iter()
            .zip(self.job.snapshot())
            .filter_map(|(p, r)| r.and_then(|r| r.error.map(|e| format!("{}: {e}", p.label))))
            .collect()
    }
}

/// What single-task baselines depend on: the experiment without its name, weighting, task
/// weights, seed (kept per set) and live measurements; epochs count.
pub fn baseline_key(spec: &ExperimentSpec) -> ExperimentSpec {
    let mut key = spec.clone();
    key.name = String::new();
    key.seed = 0;
    key.weighting = crate::experiment::WeightingSpec::default();
    key.training.affinity_every = 0;
    for t in &mut key.tasks {
        t.weight = 1.0;
    }
    key
}

/// One finished run as the tab shows it.
struct Row {
    /// Index into the sweep's points (stable while runs finish).
    index: usize,
    point: SweepPoint,
    result: RunResult,
    on_front: bool,
    delta: Option<sweep::DeltaSummary>,
}

impl TradeoffState {
    /// Starts a sweep of `spec`.
    pub fn start(&mut self, spec: &ExperimentSpec, wake: Waker) {
        self.message = None;
        // Every run trains for the experiment's own epochs, so the current run, the sweep's
        // runs and the single-task baselines all compare.
        let base = spec.clone();
        let seeds = self.seeds_of(spec);
        // A weight grid covers 2 or 3 tasks; with more the sweep runs the strategies.
        let grid = if base.tasks.len() > 3 { 0 } else { self.grid };
        let points = match sweep::plan(
            base.tasks.len(),
            grid,
            &self.strategies,
            &seeds,
            self.preferences,
        ) {
            Ok(p) => p,
            Err(e) => {
                self.message = Some(e);
                return;
            }
        };
        if let Err(e) = base.check() {
            self.message = Some(e.to_string());
            return;
        }
        let specs = points.iter().map(|p| sweep::spec_for(&base, p)).collect();
        let earlier = self.swept.as_ref().and_then(|before| {
            let rows = self.rows();
            let volumes = before_volumes(self, &rows);
            let runs: Vec<(Vec<f64>, bool)> = rows
                .iter()
                .filter(|r| r.result.error.is_none())
                .map(|r| (r.result.final_losses(), r.on_front))
                .collect();
            (!runs.is_empty()).then(|| EarlierSweep {
                changed: changed_lines(before, &base, 2),
                names: before.tasks.iter().map(|t| t.name.clone()).collect(),
                runs,
                volumes,
            })
        });
        match SweepJob::start(points, specs, self.threads, wake) {
            Ok(job) => {
                if earlier.is_some() {
                    self.earlier = earlier;
                }
                self.job = Some(job);
                self.swept = Some(base);
                self.selected = None;
            }
            Err(e) => self.message = Some(e),
        }
    }

    /// Starts training one single-task model per task of `spec` and seed, each for the
    /// experiment's epochs (so they score runs of that experiment wherever they started).
    pub fn start_baselines(&mut self, spec: &ExperimentSpec, seeds: &[u64], wake: Waker) {
        let mut base = spec.clone();
        let epochs = spec.training.epochs;
        let mut points = Vec::new();
        let mut specs = Vec::new();
        for &seed in seeds {
            base.seed = seed;
            for t in &base.tasks {
                points.push(SweepPoint {
                    label: format!("single-task {} seed {seed}", t.name),
                    strategy: "ew".to_owned(),
                    weights: None,
                    seed,
                });
                specs.push(sweep::single_task_spec(&base, &t.name));
            }
        }
        match SweepJob::start(points, specs, self.threads, wake) {
            Ok(job) => {
                self.baselines = Some(Baselines {
                    key: baseline_key(&base),
                    name: spec.name.clone(),
                    epochs,
                    seeds: seeds.to_vec(),
                    job,
                });
            }
            Err(e) => self.message = Some(e),
        }
    }

    /// The seeds a sweep of `spec` runs with.
    pub fn seeds_of(&self, spec: &ExperimentSpec) -> Vec<u64> {
        (0..self.seeds.max(1) as u64)
            .map(|i| spec.seed.wrapping_add(i))
            .collect()
    }

    /// The finished single-task baselines of `spec` (its data, model and epochs) for `seed`,
    /// one per task; `None` when there are none for exactly that experiment.
    pub fn finished_baselines(&self, spec: &ExperimentSpec, seed: u64) -> Option<Vec<RunResult>> {
        let b = self.baselines.as_ref()?;
        if !b.finished() || b.key != baseline_key(spec) {
            return None;
        }
        let k = spec.tasks.len();
        let at = b.seeds.iter().position(|s| *s == seed)?;
        let all = b.job.snapshot();
        all.get(at * k..(at + 1) * k)?
            .iter()
            .map(Clone::clone)
            .collect::<Option<Vec<RunResult>>>()
    }

    /// The latest evaluation of `history`'s run against finished single-task baselines of
    /// the same tasks, if there are both.
    pub fn delta_for(
        &self,
        history: &crate::ui::history::RunHistory,
    ) -> Option<sweep::DeltaSummary> {
        let info = history.info.as_ref()?;
        let names: Vec<String> = info.spec.tasks.iter().map(|t| t.name.clone()).collect();
        let kinds: Vec<TaskKind> = info.spec.tasks.iter().map(|t| t.kind).collect();
        let baselines = self.finished_baselines(&info.spec, info.spec.seed)?;
        let split = if info.val_rows > 0 {
            crate::trainer::Split::Val
        } else {
            crate::trainer::Split::Train
        };
        let latest = history.evals.iter().rev().find(|e| e.split == split)?;
        Some(sweep::delta_summary(
            &names,
            &kinds,
            &baselines,
            &latest.tasks,
        ))
    }

    /// The finished sweep's runs as the front chart draws them, with the experiment's name
    /// and task names.
    pub fn front_points(
        &self,
    ) -> Option<(String, Vec<String>, Vec<crate::export::plot::FrontPoint>)> {
        let spec = self.swept.as_ref()?;
        let rows = self.rows();
        if rows.is_empty() {
            return None;
        }
        let points = rows
            .iter()
            .map(|r| crate::export::plot::FrontPoint {
                label: r.point.label.clone(),
                losses: if r.result.error.is_none() {
                    r.result.final_losses()
                } else {
                    vec![f64::NAN; spec.tasks.len()]
                },
                on_front: r.on_front,
                strategy: self
                    .strategies
                    .iter()
                    .position(|k| r.point.weights.is_none() && *k == r.point.strategy),
            })
            .collect();
        let names = spec.tasks.iter().map(|t| t.name.clone()).collect();
        Some((spec.name.clone(), names, points))
    }

    fn rows(&self) -> Vec<Row> {
        let (Some(job), Some(spec)) = (&self.job, &self.swept) else {
            return Vec::new();
        };
        let names: Vec<String> = spec.tasks.iter().map(|t| t.name.clone()).collect();
        let kinds: Vec<TaskKind> = spec.tasks.iter().map(|t| t.kind).collect();
        let done: Vec<(usize, SweepPoint, RunResult)> = job
            .points
            .iter()
            .cloned()
            .zip(job.snapshot())
            .enumerate()
            .filter_map(|(i, (p, r))| r.map(|r| (i, p, r)))
            .collect();
        let losses: Vec<Vec<f64>> = done
            .iter()
            .map(|(_, _, r)| {
                if r.error.is_none() {
                    r.final_losses()
                } else {
                    vec![f64::NAN; names.len()]
                }
            })
            .collect();
        let front = sweep::pareto_mask(&losses);
        done.into_iter()
            .zip(front)
            .map(|((index, point, result), on_front)| {
                let delta = self
                    .finished_baselines(spec, point.seed)
                    .filter(|_| result.error.is_none())
                    .map(|b| sweep::delta_summary(&names, &kinds, &b, &result.last));
                Row {
                    index,
                    point,
                    result,
                    on_front,
                    delta,
                }
            })
            .collect()
    }
}

/// The colour of strategy `key` in the sweep (grey for static weights, one colour for the
/// preference runs).
fn point_colour(state: &TradeoffState, p: &SweepPoint) -> Color32 {
    if p.family() == sweep::Family::Preference {
        return theme::preference();
    }
    match state.strategies.iter().position(|s| *s == p.strategy) {
        Some(i) if p.weights.is_none() => theme::task(2 + i),
        _ => theme::input(),
    }
}

/// The finished rows as the front views take them.
fn front_runs<'a>(state: &TradeoffState, rows: &'a [Row]) -> Vec<FrontRun<'a>> {
    rows.iter()
        .map(|r| FrontRun {
            point: &r.point,
            losses: if r.result.error.is_none() {
                r.result.final_losses()
            } else {
                vec![f64::NAN; r.result.tasks.len()]
            },
            curves: &r.result.curves,
            on_front: r.on_front,
            colour: point_colour(state, &r.point),
        })
        .collect()
}

/// The hypervolumes of the sweep about to be replaced, if it has any.
fn before_volumes(state: &TradeoffState, rows: &[Row]) -> Option<sweep::Hypervolumes> {
    let v = fronts::volumes(&front_runs(state, rows));
    v.reference.is_some().then_some(v)
}

/// The whole tab. `spec` is the experiment being edited; `wake` asks for a repaint.
pub fn tradeoff_ui(ui: &mut Ui, state: &mut TradeoffState, spec: &ExperimentSpec, wake: &Waker) {
    controls_ui(ui, state, spec, wake);
    let rows = state.rows();
    let Some(swept) = state.swept.clone() else {
        ui.add_space(20.0);
        ui.label(
            "Press ▶ Run sweep: the experiment is trained once per static weighting on a grid \
             inside the simplex and once per chosen strategy, each for the same epochs and seeds. \
             Every run lands as one point at its final validation losses; the runs no other run \
             beats on every task form the Pareto front.",
        );
        return;
    };
    let names: Vec<String> = swept.tasks.iter().map(|t| t.name.clone()).collect();
    // The star: the single-task models of the experiment's own seed.
    let baselines = state.finished_baselines(&swept, swept.seed);
    ui.separator();
    if let Some(e) = state.earlier.as_ref().filter(|e| e.names == names) {
        let mut hide = false;
        ui.horizontal_wrapped(|ui| {
            let what = if e.changed.is_empty() {
                "the earlier sweep".to_owned()
            } else {
                format!("the earlier sweep, at {}", e.changed)
            };
            ui.label(
                RichText::new(format!(
                    "Faint dots and {}: {what}",
                    if names.len() == 2 {
                        "dashed line"
                    } else {
                        "rings"
                    }
                ))
                .color(theme::faint(theme::pareto(), 200)),
            );
            hide = ui
                .small_button("Hide")
                .on_hover_text("Stop drawing the earlier sweep")
                .clicked();
        });
        if hide {
            state.earlier = None;
        }
    }
    let runs = front_runs(state, &rows);
    let volumes = fronts::volumes(&runs);
    fronts::key_ui(ui, &runs);
    fronts::hypervolume_ui(
        ui,
        Some(&volumes),
        state
            .earlier
            .as_ref()
            .filter(|e| e.names == names)
            .and_then(|e| e.volumes.as_ref()),
    );
    let height = (ui.available_height() * 0.55).max(260.0);
    ui.horizontal_top(|ui| {
        let pairs: Vec<(usize, usize)> = match names.len() {
            2 => vec![(0, 1)],
            3 => vec![(0, 1), (0, 2), (1, 2)],
            _ => Vec::new(),
        };
        let width = (ui.available_width() * if pairs.len() == 1 { 0.5 } else { 0.62 })
            / pairs.len().max(1) as f32;
        if pairs.is_empty() {
            // More than three tasks: every run as a line over the tasks.
            fronts::parallel_ui(ui, &runs, &names, [width, height]);
        }
        for (a, b) in pairs {
            if let Some(i) = scatter_ui(
                ui,
                state,
                (&rows, &runs),
                &names,
                baselines.as_deref(),
                (a, b),
                [width, height],
            ) {
                state.selected = rows.get(i).map(|r| r.index);
            }
        }
        ui.vertical(|ui| curves_ui(ui, state, &rows, &names, height));
    });
    ui.separator();
    let with_delta = rows.iter().any(|r| r.delta.is_some());
    table_ui(ui, state, &rows, &names, with_delta);
}

fn controls_ui(ui: &mut Ui, state: &mut TradeoffState, spec: &ExperimentSpec, wake: &Waker) {
    let running = state.job.as_ref().is_some_and(|j| !j.finished());
    ui.horizontal_wrapped(|ui| {
        if running {
            if ui.button("■ Cancel").on_hover_text("Stop every run after its current step").clicked()
                && let Some(j) = &state.job
            {
                j.cancel();
            }
        } else if ui
            .button("▶ Run sweep")
            .on_hover_text("Train the current experiment once per weighting and strategy")
            .clicked()
        {
            state.start(spec, wake.clone());
        }
        let gridded = spec.tasks.len() <= 3;
        ui.add_enabled_ui(gridded, |ui| {
            ui.label("grid");
            ui.add(egui::DragValue::new(&mut state.grid).range(0..=15))
                .on_hover_text("Static weightings inside the simplex: 2 tasks get N, 3 tasks N(N+1)/2")
                .on_disabled_hover_text("A weight grid covers 2 or 3 tasks: with more, the sweep runs the chosen strategies");
            ui.checkbox(&mut state.preferences, "preferences (EPO)")
                .on_hover_text("Also train EPO once per ray of the grid: each grid point is a preference over the tasks, and EPO steers its run onto the front where r_k x L_k is equal for every task. The dashed lines are the rays.")
                .on_disabled_hover_text("Preferences come from the weight grid, which covers 2 or 3 tasks");
        });
        ui.menu_button(format!("strategies ({})", state.strategies.len()), |ui| {
            for m in crate::weighting::methods() {
                let mut on = state.strategies.iter().any(|k| k == m.key);
                if ui.checkbox(&mut on, m.label).on_hover_text(m.paper).changed() {
                    if on {
                        state.strategies.push(m.key.to_owned());
                    } else {
                        state.strategies.retain(|k| k != m.key);
                    }
                }
            }
        });
        ui.label("seeds");
        ui.add(egui::DragValue::new(&mut state.seeds).range(1..=10))
            .on_hover_text("Each point runs with the experiment's seed and the next ones (the seed also draws the data)");
        ui.label(format!("epochs {}", spec.training.epochs))
            .on_hover_text("Every run trains for the experiment's epochs (set them under Training), as the single-task baselines do, so all of them compare");
        ui.label("threads");
        ui.add(egui::DragValue::new(&mut state.threads).range(1..=64))
            .on_hover_text(format!(
                "Trainings at the same time (this machine has {} cores)",
                sweep::default_threads()
            ));
        ui.separator();
        let stl_running = state.baselines.as_ref().is_some_and(|b| !b.finished());
        if ui
            .add_enabled(!stl_running, egui::Button::new("Train single-task baselines"))
            .on_hover_text("One model per task: the same trunk and that task's head, trained alone for the same epochs. Runs are then scored by Δp.")
            .clicked()
        {
            let seeds = state.seeds_of(spec);
            state.start_baselines(spec, &seeds, wake.clone());
        }
    });
    if let Some(job) = &state.job {
        let (done, total) = job.progress();
        ui.add(
            egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                .text(format!("{done} / {total} runs"))
                .desired_width(320.0),
        );
    }
    if let Some(b) = &state.baselines {
        let (done, total) = b.job.progress();
        let text = if done < total {
            format!("single-task baselines: {done} / {total} trained")
        } else {
            format!(
                "single-task baselines of '{}' ready ({} epochs); they score runs of exactly that experiment",
                b.name, b.epochs
            )
        };
        ui.weak(text);
        for e in b.errors() {
            ui.colored_label(theme::error(), e);
        }
    }
    ui.weak(
        "Δp (LibMTL): each task's relative change against its single-task model, averaged over \
         the task's metrics (MSE and MAE, lower is better; accuracy, F1, AUC, IoU, higher is \
         better), then over tasks. Positive means the multi-task run is better.",
    );
    if let Some(m) = &state.message {
        ui.colored_label(theme::error(), m);
    }
}

/// One pairwise scatter of the finished rows (and the same runs as the front views take
/// them); returns the run clicked.
fn scatter_ui(
    ui: &mut Ui,
    state: &TradeoffState,
    (rows, runs): (&[Row], &[FrontRun<'_>]),
    names: &[String],
    baselines: Option<&[RunResult]>,
    (a, b): (usize, usize),
    [width, height]: [f32; 2],
) -> Option<usize> {
    let loss = |r: &Row, k: usize| r.result.final_losses().get(k).copied().unwrap_or(f64::NAN);
    // Room on the right for the labels of the rightmost points.
    let xs = rows.iter().map(|r| loss(r, a)).filter(|v| v.is_finite());
    let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    let mut plot = Plot::new(format!("sweep-{a}-{b}"));
    if hi.is_finite() && lo.is_finite() {
        plot = plot.include_x(hi + 0.18 * (hi - lo).max(1e-6));
    }
    let response = plot
        .width(width)
        .height(height)
        .x_axis_label(format!("{} validation loss", names[a]))
        .y_axis_label(format!("{} validation loss", names[b]))
        .show(ui, |plot| {
            if let Some(e) = state.earlier.as_ref().filter(|e| e.names == names) {
                earlier_ui(plot, e, (a, b));
            }
            fronts::rays_ui(plot, runs, (a, b));
            let mut front: Vec<[f64; 2]> = rows
                .iter()
                .filter(|r| r.on_front)
                .map(|r| [loss(r, a), loss(r, b)])
                .collect();
            front.sort_by(|p, q| p[0].total_cmp(&q[0]));
            if names.len() == 2 {
                plot.line(
                    Line::new("front", PlotPoints::from(front))
                        .color(theme::pareto())
                        .width(1.5),
                );
            }
            if let Some(stl) = baselines {
                let stl_loss = |k: usize| {
                    stl.get(k).map_or(f64::NAN, |r| {
                        r.final_losses().first().copied().unwrap_or(f64::NAN)
                    })
                };
                let at = [stl_loss(a), stl_loss(b)];
                plot.points(
                    Points::new("single-task", PlotPoints::from(vec![at]))
                        .shape(MarkerShape::Asterisk)
                        .radius(8.0)
                        .color(theme::ok()),
                );
                plot.text(
                    egui_plot::Text::new(
                        "single-task",
                        PlotPoint::new(at[0], at[1]),
                        RichText::new("  single-task models")
                            .color(theme::ok())
                            .size(14.0),
                    )
                    .anchor(egui::Align2::LEFT_CENTER),
                );
            }
            for r in rows {
                let i = r.index;
                let p = [loss(r, a), loss(r, b)];
                if !(p[0].is_finite() && p[1].is_finite()) {
                    continue;
                }
                let colour = point_colour(state, &r.point);
                let strategy = r.point.weights.is_none();
                plot.points(
                    Points::new(r.point.label.clone(), PlotPoints::from(vec![p]))
                        .radius(if strategy { 6.0 } else { 4.0 })
                        .color(colour),
                );
                if r.on_front || state.selected == Some(i) {
                    plot.points(
                        Points::new(r.point.label.clone(), PlotPoints::from(vec![p]))
                            .radius(if state.selected == Some(i) { 11.0 } else { 9.0 })
                            .filled(false)
                            .color(if state.selected == Some(i) {
                                theme::path()
                            } else {
                                theme::pareto()
                            }),
                    );
                }
                if strategy {
                    plot.text(
                        egui_plot::Text::new(
                            r.point.label.clone(),
                            PlotPoint::new(p[0], p[1]),
                            RichText::new(format!("  {}", r.point.label))
                                .color(colour)
                                .size(14.0),
                        )
                        .anchor(egui::Align2::LEFT_BOTTOM),
                    );
                }
            }
            nearest_click(plot, rows.iter().map(|r| [loss(r, a), loss(r, b)]))
        });
    response.inner
}

/// The earlier sweep, faint: its runs as small grey dots and its front dashed (2 tasks) or
/// ringed (3).
fn earlier_ui(plot: &mut egui_plot::PlotUi<'_>, e: &EarlierSweep, (a, b): (usize, usize)) {
    let at = |l: &[f64]| {
        [
            l.get(a).copied().unwrap_or(f64::NAN),
            l.get(b).copied().unwrap_or(f64::NAN),
        ]
    };
    let finite = |p: &[f64; 2]| p[0].is_finite() && p[1].is_finite();
    let all: Vec<[f64; 2]> = e.runs.iter().map(|(l, _)| at(l)).filter(finite).collect();
    let mut front: Vec<[f64; 2]> = e
        .runs
        .iter()
        .filter(|(_, f)| *f)
        .map(|(l, _)| at(l))
        .filter(finite)
        .collect();
    front.sort_by(|p, q| p[0].total_cmp(&q[0]));
    let colour = theme::faint(theme::pareto(), 110);
    plot.points(
        Points::new("earlier sweep", PlotPoints::from(all))
            .radius(3.0)
            .color(theme::faint(theme::input(), 110)),
    );
    if e.names.len() == 2 {
        plot.line(
            Line::new("earlier front", PlotPoints::from(front))
                .color(colour)
                .style(LineStyle::dashed_loose())
                .width(1.5),
        );
    } else {
        plot.points(
            Points::new("earlier front", PlotPoints::from(front))
                .radius(7.0)
                .filled(false)
                .color(colour),
        );
    }
}

/// The index of the point nearest a click on the plot, within 12 pixels.
fn nearest_click(
    plot: &egui_plot::PlotUi<'_>,
    points: impl Iterator<Item = [f64; 2]>,
) -> Option<usize> {
    if !plot.response().clicked() {
        return None;
    }
    let pointer = plot.response().interact_pointer_pos()?;
    points
        .enumerate()
        .map(|(i, p)| {
            (
                i,
                plot.screen_from_plot(PlotPoint::new(p[0], p[1]))
                    .distance(pointer),
            )
        })
        .filter(|(_, d)| d.is_finite() && *d < 12.0)
        .min_by(|x, y| x.1.total_cmp(&y.1))
        .map(|(i, _)| i)
}

/// The selected run's validation loss per epoch, per task.
fn curves_ui(ui: &mut Ui, state: &TradeoffState, rows: &[Row], names: &[String], height: f32) {
    let Some(r) = rows.iter().find(|r| Some(r.index) == state.selected) else {
        ui.weak("Click a point (or a row below) to see that run's curves.");
        return;
    };
    ui.strong(format!(
        "{}: {} loss per epoch",
        r.point.label, r.result.split
    ));
    Plot::new("sweep-curves")
        .height(height - 24.0)
        .width(ui.available_width().max(200.0))
        .legend(egui_plot::Legend::default())
        .x_axis_label("epoch")
        .y_axis_label("loss")
        .show(ui, |plot| {
            for (k, name) in names.iter().enumerate() {
                let pts: Vec<[f64; 2]> = r
                    .result
                    .curves
                    .iter()
                    .enumerate()
                    .map(|(e, l)| [e as f64, l.get(k).copied().unwrap_or(f64::NAN)])
                    .collect();
                plot.line(
                    Line::new(name.clone(), PlotPoints::from(pts))
                        .color(theme::task(k))
                        .style(LineStyle::Solid)
                        .width(2.0),
                );
            }
        });
    if let Some(e) = &r.result.error {
        ui.colored_label(theme::error(), e);
    }
}

/// Every run: its losses, whether it is on the front, Δp.
fn table_ui(
    ui: &mut Ui,
    state: &mut TradeoffState,
    rows: &[Row],
    names: &[String],
    with_delta: bool,
) {
    egui::ScrollArea::vertical()
        .id_salt("sweep-table")
        .show(ui, |ui| {
            egui::Grid::new("sweep-runs")
                .striped(true)
                .spacing(vec2(16.0, 3.0))
                .show(ui, |ui| {
                    ui.strong("run");
                    for n in names {
                        ui.strong(format!("{n} loss"));
                    }
                    ui.strong("front");
                    if with_delta {
                        for n in names {
                            ui.strong(format!("{n} vs single %"))
                                .on_hover_text("This task's relative change against its single-task model (positive: better)");
                        }
                        ui.strong("Δp %").on_hover_text("LibMTL: mean over tasks; positive is better");
                        ui.strong("Δm %").on_hover_text("Nash-MTL / CAGrad: mean over all metrics pooled; negative is better");
                    }
                    ui.strong("seconds");
                    ui.end_row();
                    for r in rows {
                        let i = r.index;
                        let label =
                            RichText::new(&r.point.label).color(point_colour(state, &r.point));
                        if ui
                            .selectable_label(state.selected == Some(i), label)
                            .clicked()
                        {
                            state.selected = Some(i);
                        }
                        match &r.result.error {
                            Some(e) => {
                                ui.colored_label(theme::error(), e);
                                for _ in 1..names.len() {
                                    ui.label("");
                                }
                            }
                            None => {
                                for l in r.result.final_losses() {
                                    ui.label(format!("{l:.4}"));
                                }
                            }
                        }
                        ui.label(if r.on_front { "yes" } else { "" });
                        if with_delta {
                            let pct = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{:+.2}", 100.0 * v));
                            for k in 0..names.len() {
                                ui.label(pct(r.delta.as_ref().and_then(|d| d.tasks.get(k)).and_then(|t| t.3)));
                            }
                            ui.label(pct(r.delta.as_ref().and_then(|d| d.delta_p)));
                            ui.label(
                                r.delta
                                    .as_ref()
                                    .and_then(|d| d.delta_m_percent)
                                    .map_or_else(String::new, |v| format!("{v:+.2}")),
                            );
                        }
                        ui.label(format!("{:.1}", r.result.seconds));
                        ui.end_row();
                    }
                });
        });
}

/// Under the Metrics tab: the current run against single-task baselines, per task and as Δp
/// and Δm%, with both conventions stated; or a button that trains the baselines.
pub fn delta_ui(
    ui: &mut Ui,
    state: &mut TradeoffState,
    history: &crate::ui::history::RunHistory,
    wake: &Waker,
) {
    ui.add_space(10.0);
    ui.heading("Against single-task models");
    let Some(info) = &history.info else {
        return;
    };
    let Some(d) = state.delta_for(history) else {
        let running = state.baselines.as_ref().is_some_and(|b| !b.finished());
        ui.horizontal(|ui| {
            if ui
                .add_enabled(!running, egui::Button::new("Train single-task baselines"))
                .on_hover_text("One model per task: the same data, trunk and that task's head, trained alone for as many epochs as this run")
                .clicked()
            {
                state.start_baselines(&info.spec, &[info.spec.seed], wake.clone());
            }
            ui.weak(if running {
                "training…"
            } else {
                "then this run is compared with them, task by task (they must match its data, model and epochs)"
            });
        });
        if let Some(b) = &state.baselines {
            for e in b.errors() {
                ui.colored_label(theme::error(), e);
            }
        }
        return;
    };
    let split = if info.val_rows > 0 {
        crate::trainer::Split::Val
    } else {
        crate::trainer::Split::Train
    };
    ui.weak(format!(
        "Single-task models of the same data, trunk and seed, each trained alone for {} epochs, as this run.",
        info.spec.training.epochs
    ));
    let kinds: Vec<crate::experiment::TaskKind> = info.spec.tasks.iter().map(|t| t.kind).collect();
    delta_table_ui(ui, &d, &kinds, split);
}

/// The metrics a task's relative change averages, e.g. `mse, mae`.
fn compared_metrics(kind: crate::experiment::TaskKind) -> String {
    crate::metrics::metric_keys(kind)
        .iter()
        .filter(|k| sweep::higher_is_better(k).is_some())
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Per task, the single-task and this run's loss and the relative change; then Δp and Δm%.
fn delta_table_ui(
    ui: &mut Ui,
    d: &sweep::DeltaSummary,
    kinds: &[crate::experiment::TaskKind],
    split: crate::trainer::Split,
) {
    egui::Grid::new("delta-table")
        .striped(true)
        .spacing(vec2(18.0, 4.0))
        .show(ui, |ui| {
            ui.strong("task");
            ui.strong("single-task loss");
            ui.strong("this run's loss");
            ui.strong("relative change of its metrics")
                .on_hover_text("The mean over the metrics named in the last column of each one's relative change against the single-task model, signed so that positive is better (LibMTL's per-task term of Δp). The losses are shown for reference; they are not what is compared.");
            ui.strong("metrics compared");
            ui.end_row();
            for (k, (name, b, n, change)) in d.tasks.iter().enumerate() {
                ui.label(name);
                ui.label(format!("{b:.4}"));
                ui.label(format!("{n:.4}"));
                match change {
                    Some(c) => ui.colored_label(
                        if *c >= 0.0 {
                            theme::ok()
                        } else {
                            theme::warning()
                        },
                        format!("{:+.2} %", 100.0 * c),
                    ),
                    None => ui.label("n/a"),
                };
                ui.weak(kinds.get(k).map_or_else(String::new, |kind| compared_metrics(*kind)));
                ui.end_row();
            }
        });
    ui.horizontal(|ui| {
        ui.strong(d.delta_p.map_or_else(
            || "Δp: n/a".to_owned(),
            |v| format!("Δp = {:+.2} %", 100.0 * v),
        ));
        ui.weak("(LibMTL: per task, the mean over its metrics of the relative change, signed so that positive is better; then the mean over tasks)");
    });
    ui.horizontal(|ui| {
        ui.strong(d.delta_m_percent.map_or_else(
            || "Δm: n/a".to_owned(),
            |v| format!("Δm = {v:+.2} %"),
        ));
        ui.weak("(Nash-MTL / CAGrad papers: the mean over all metrics pooled, signed so that negative is better)");
    });
    ui.weak(format!(
        "Metrics: MSE and MAE (lower is better) for regression; accuracy, balanced accuracy, F1 and AUC for classification; IoU and pixel accuracy for segmentation (higher is better). R² is left out. Figures from the latest {} evaluation.",
        split.name()
    ));
}
