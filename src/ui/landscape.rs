//! The Landscape tab: the two-task toy problem of CAGrad and Nash-MTL as contour panels,
//! one per strategy, each with that strategy's path from the same start, the two task
//! gradients and the combined update at the current step, and all paths in loss space
//! against the Pareto front.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2, pos2, vec2};
use egui_plot::{Line, Plot, PlotPoints, Points};

use super::theme;
use crate::toy::{self, Field, PathPoint, Surface, Toy, ToyOptimizer, ToyPath};
use crate::weighting::{self, Params};

/// Samples per side of the landscape image.
const FIELD_N: usize = 360;
/// Contour bands.
const BANDS: usize = 14;
/// Points drawn per path at most.
const MAX_DRAWN: usize = 700;

/// What the Landscape tab shows and where its paths are.
pub struct LandscapeState {
    /// The problem (its `f₁` scale).
    pub toy: Toy,
    /// The surface under the paths.
    pub surface: Surface,
    /// Strategy keys, one panel each.
    pub strategies: Vec<String>,
    /// Where every path starts.
    pub start: [f64; 2],
    /// Adam or plain gradient descent.
    pub optimizer: ToyOptimizer,
    /// Step size.
    pub lr: f64,
    /// Steps each path takes at most.
    pub max_steps: usize,
    /// Steps per frame while playing.
    pub speed: usize,
    /// Whether the paths advance every frame.
    pub playing: bool,
    /// Whether the gradient arrows are drawn.
    pub arrows: bool,
    /// The paths, in the order of `strategies`.
    pub paths: Vec<ToyPath>,
    /// Strategies that could not be built, with why.
    pub failed: Vec<(String, String)>,
    texture: Option<((u64, Surface), egui::TextureHandle)>,
}

impl Default for LandscapeState {
    fn default() -> Self {
        let mut s = Self {
            toy: Toy::default(),
            surface: Surface::Sum,
            strategies: crate::weighting::COMPARED_BY_DEFAULT
                .map(str::to_owned)
                .to_vec(),
            start: toy::STARTS[0],
            optimizer: ToyOptimizer::Adam,
            lr: 0.01,
            max_steps: 3000,
            speed: 15,
            playing: false,
            arrows: true,
            paths: Vec::new(),
            failed: Vec::new(),
            texture: None,
        };
        s.reset();
        s
    }
}

impl LandscapeState {
    /// Starts every path again from `start`.
    pub fn reset(&mut self) {
        self.paths.clear();
        self.failed.clear();
        for key in &self.strategies {
            match ToyPath::new(
                key,
                &Params::new(),
                self.toy,
                self.start,
                self.optimizer,
                self.lr,
                0,
            ) {
                Ok(p) => self.paths.push(p),
                Err(e) => self.failed.push((key.clone(), e.0)),
            }
        }
    }

    /// Steps taken by the path that went furthest.
    pub fn steps(&self) -> usize {
        self.paths.iter().map(|p| p.points.len()).max().unwrap_or(0)
    }

    /// Advances every path by `n` steps, up to the step limit.
    pub fn advance(&mut self, n: usize) {
        for p in &mut self.paths {
            let left = self.max_steps.saturating_sub(p.points.len());
            p.run(n.min(left));
        }
        let all_stopped = self
            .paths
            .iter()
            .all(|p| p.error.is_some() || p.points.len() >= self.max_steps);
        if all_stopped {
            self.playing = false;
        }
    }

    fn texture(&mut self, ctx: &egui::Context) -> egui::TextureId {
        let key = (self.toy.scale.to_bits(), self.surface);
        if let Some((k, t)) = &self.texture
            && *k == key
        {
            return t.id();
        }
        let field = Field::sample(&self.toy, self.surface, FIELD_N);
        let levels = field.levels(BANDS);
        let band = |v: f64| levels.partition_point(|l| *l < v);
        let n = field.n;
        let bands: Vec<usize> = field.values.iter().map(|v| band(*v)).collect();
        let mut pixels = Vec::with_capacity(n * n);
        // Image rows run top-down; the field's rows bottom-up.
        for img_row in 0..n {
            let row = n - 1 - img_row;
            for col in 0..n {
                let b = bands[row * n + col];
                let edge = (col + 1 < n && bands[row * n + col + 1] != b)
                    || (row + 1 < n && bands[(row + 1) * n + col] != b);
                pixels.push(theme::landscape(b as f64 / BANDS as f64, edge));
            }
        }
        let handle = ctx.load_texture(
            "toy-landscape",
            egui::ColorImage::new([n, n], pixels),
            egui::TextureOptions::LINEAR,
        );
        let id = handle.id();
        self.texture = Some((key, handle));
        id
    }
}

/// The colour of path `i` (the task colours after the two tasks').
fn path_colour(i: usize) -> Color32 {
    theme::task(2 + i)
}

fn label_of(key: &str) -> &str {
    weighting::method(key).map_or(key, |m| m.label)
}

/// The whole tab.
pub fn landscape_ui(ui: &mut egui::Ui, state: &mut LandscapeState) {
    controls_ui(ui, state);
    if state.playing {
        state.advance(state.speed);
        ui.ctx().request_repaint();
    }
    let tex = state.texture(ui.ctx());
    egui::ScrollArea::vertical().show(ui, |ui| {
        // As many columns as make the panels largest while all of them fit the height.
        let (width, height) = (ui.available_width(), ui.available_height());
        let count = state.paths.len() + 1;
        let (columns, size) = (1..=count)
            .map(|c| {
                let rows = count.div_ceil(c);
                let fit_w = width / c as f32 - 10.0;
                let fit_h = height / rows as f32 - 34.0;
                (c, fit_w.min(fit_h))
            })
            .fold(
                (1, 0.0_f32),
                |best, cand| if cand.1 > best.1 { cand } else { best },
            );
        let size = size.clamp(180.0, 520.0);
        let mut clicked = None;
        egui::Grid::new("toy-panels")
            .spacing(vec2(8.0, 8.0))
            .show(ui, |ui| {
                for (i, path) in state.paths.iter().enumerate() {
                    if let Some(x) = panel_ui(ui, state, tex, path, i, size) {
                        clicked = Some(x);
                    }
                    if (i + 1) % columns == 0 {
                        ui.end_row();
                    }
                }
                ui.vertical(|ui| loss_space_ui(ui, state, size));
            });
        for (key, why) in &state.failed {
            ui.colored_label(theme::error(), format!("{}: {why}", label_of(key)));
        }
        if let Some(x) = clicked {
            state.start = x;
            state.reset();
            state.playing = true;
        }
    });
}

fn controls_ui(ui: &mut egui::Ui, state: &mut LandscapeState) {
    let mut reset = false;
    ui.horizontal_wrapped(|ui| {
        let play = if state.playing {
            "⏸ Pause"
        } else {
            "▶ Play"
        };
        if ui
            .button(play)
            .on_hover_text("Run every path a few steps per frame")
            .clicked()
        {
            if state.steps() >= state.max_steps {
                reset = true;
            }
            state.playing = !state.playing;
        }
        if ui
            .button("Step")
            .on_hover_text("One step of every path")
            .clicked()
        {
            state.playing = false;
            state.advance(1);
        }
        if ui
            .button("Reset")
            .on_hover_text("Back to the start point")
            .clicked()
        {
            state.playing = false;
            reset = true;
        }
        ui.label(format!("step {} / {}", state.steps(), state.max_steps));
        ui.separator();
        ui.label("Start");
        egui::ComboBox::from_id_salt("toy-start")
            .selected_text(format!("({:.1}, {:.1})", state.start[0], state.start[1]))
            .show_ui(ui, |ui| {
                for s in toy::STARTS {
                    if ui
                        .selectable_label(state.start == s, format!("({:.1}, {:.1})", s[0], s[1]))
                        .clicked()
                    {
                        state.start = s;
                        reset = true;
                    }
                }
            })
            .response
            .on_hover_text("The reference's five start points; or click a panel to start there");
        ui.separator();
        ui.menu_button("Strategies…", |ui| {
            for m in weighting::methods() {
                let mut on = state.strategies.iter().any(|k| k == m.key);
                if ui
                    .checkbox(&mut on, m.label)
                    .on_hover_text(m.paper)
                    .changed()
                {
                    if on {
                        state.strategies.push(m.key.to_owned());
                    } else {
                        state.strategies.retain(|k| k != m.key);
                    }
                    reset = true;
                }
            }
        })
        .response
        .on_hover_text("Which strategies get a panel");
        ui.label("Surface");
        egui::ComboBox::from_id_salt("toy-surface")
            .selected_text(state.surface.label())
            .show_ui(ui, |ui| {
                for s in Surface::ALL {
                    ui.selectable_value(&mut state.surface, s, s.label());
                }
            });
    });
    reset |= optimiser_row_ui(ui, state);
    ui.weak(
        "Bands: the chosen surface, dark is low. White line: the Pareto set. Arrows at the current \
         point: the descent directions of f₁ (orange) and f₂ (blue) and the strategy's update \
         (white), scaled to the longest. Click a panel to start every path there.",
    );
    if reset {
        state.reset();
    }
}

/// The optimiser, step size, step limit, speed and scale; true when the paths must restart.
fn optimiser_row_ui(ui: &mut egui::Ui, state: &mut LandscapeState) -> bool {
    let mut reset = false;
    ui.horizontal_wrapped(|ui| {
        ui.label("Optimiser");
        let before = state.optimizer;
        egui::ComboBox::from_id_salt("toy-optimizer")
            .selected_text(format!("{:?}", state.optimizer))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut state.optimizer, ToyOptimizer::Adam, "Adam")
                    .on_hover_text(
                        "As the CAGrad and Nash-MTL papers (lr 1e-3 for 35,000 steps there)",
                    );
                ui.selectable_value(&mut state.optimizer, ToyOptimizer::Sgd, "Sgd")
                    .on_hover_text(
                        "Plain gradient descent: the step is the combined update itself",
                    );
            });
        reset |= before != state.optimizer;
        ui.label("lr");
        reset |= ui
            .add(
                egui::DragValue::new(&mut state.lr)
                    .range(1e-4..=1.0)
                    .speed(0.001),
            )
            .changed();
        ui.label("steps");
        ui.add(egui::DragValue::new(&mut state.max_steps).range(10..=50_000));
        ui.label("speed");
        ui.add(egui::Slider::new(&mut state.speed, 1..=200).suffix(" steps/frame"));
        ui.label("f₁ scale");
        reset |= ui
            .add(
                egui::DragValue::new(&mut state.toy.scale)
                    .range(0.01..=10.0)
                    .speed(0.01),
            )
            .on_hover_text("The reference multiplies f₁ by 0.1, so the two losses differ in scale")
            .changed();
        ui.checkbox(&mut state.arrows, "arrows");
    });
    reset
}

/// Problem coordinates to screen and back, for a square `rect`.
struct Frame {
    rect: Rect,
}

impl Frame {
    fn to_screen(&self, x: [f64; 2]) -> Pos2 {
        let span = toy::DOMAIN[1] - toy::DOMAIN[0];
        let fx = ((x[0] - toy::DOMAIN[0]) / span) as f32;
        let fy = ((x[1] - toy::DOMAIN[0]) / span) as f32;
        pos2(
            self.rect.left() + fx * self.rect.width(),
            self.rect.bottom() - fy * self.rect.height(),
        )
    }

    fn to_problem(&self, p: Pos2) -> [f64; 2] {
        let span = toy::DOMAIN[1] - toy::DOMAIN[0];
        let fx = f64::from((p.x - self.rect.left()) / self.rect.width());
        let fy = f64::from((self.rect.bottom() - p.y) / self.rect.height());
        [toy::DOMAIN[0] + fx * span, toy::DOMAIN[0] + fy * span]
    }
}

/// Every `stride`-th point and the last, at most [`MAX_DRAWN`].
fn thinned(points: &[PathPoint]) -> impl Iterator<Item = &PathPoint> {
    let stride = points.len().div_ceil(MAX_DRAWN).max(1);
    points
        .iter()
        .enumerate()
        .filter(move |(i, _)| i % stride == 0 || *i + 1 == points.len())
        .map(|(_, p)| p)
}

/// One strategy's panel; returns a clicked start point.
fn panel_ui(
    ui: &mut egui::Ui,
    state: &LandscapeState,
    tex: egui::TextureId,
    path: &ToyPath,
    i: usize,
    size: f32,
) -> Option<[f64; 2]> {
    let mut clicked = None;
    ui.vertical(|ui| {
        ui.set_width(size);
        let last = path.points.last();
        ui.horizontal(|ui| {
            ui.colored_label(path_colour(i), "■");
            ui.strong(short_label(&path.key))
                .on_hover_text(label_of(&path.key));
            if let Some(p) = last {
                ui.label(format!(
                    "w = ({}, {})",
                    num(p.weights[0]),
                    num(p.weights[1])
                ))
                .on_hover_text(
                    "The strategy's effective weights on the two task gradients at the last step",
                );
                ui.label(format!("Pareto dist {:.2}", Toy::pareto_distance(path.x())))
                    .on_hover_text("Distance from the current point to the Pareto set");
            }
        });
        let (response, painter) = ui.allocate_painter(Vec2::splat(size), Sense::click());
        let frame = Frame {
            rect: response.rect,
        };
        painter.image(
            tex,
            frame.rect,
            Rect::from_min_max(pos2(0.0, 0.0), pos2(1.0, 1.0)),
            Color32::WHITE,
        );
        painter.line_segment(
            [
                frame.to_screen([toy::PARETO_X1[0], toy::PARETO_X2]),
                frame.to_screen([toy::PARETO_X1[1], toy::PARETO_X2]),
            ],
            Stroke::new(4.0, theme::pareto()),
        );
        let line: Vec<Pos2> = thinned(&path.points)
            .map(|p| frame.to_screen(p.x))
            .chain(std::iter::once(frame.to_screen(path.x())))
            .collect();
        painter.line(line, Stroke::new(2.5, path_colour(i)));
        painter.circle(
            frame.to_screen(state.start),
            5.0,
            theme::outline(),
            Stroke::new(1.5, theme::pareto()),
        );
        let here = frame.to_screen(path.x());
        painter.circle(
            here,
            5.0,
            path_colour(i),
            Stroke::new(1.5, theme::outline()),
        );
        if state.arrows
            && let Some(p) = last
        {
            arrows(&painter, here, p, size * 0.22);
        }
        if let Some(err) = &path.error {
            let galley = painter.layout(
                stop_note(err),
                egui::FontId::proportional(12.0),
                theme::pareto(),
                size - 12.0,
            );
            let at = frame.rect.left_top() + vec2(6.0, 6.0);
            painter.rect_filled(
                Rect::from_min_size(at, galley.size()).expand(3.0),
                3.0,
                theme::faint(theme::outline(), 200),
            );
            painter.galley(at, galley, theme::pareto());
        }
        if let Some(pos) = response.hover_pos() {
            let x = frame.to_problem(pos);
            let f = state.toy.losses(x);
            let why = path
                .error
                .as_ref()
                .map_or_else(String::new, |e| format!("\n\n{e}"));
            response.clone().on_hover_text(format!(
                "x = ({:.2}, {:.2})\nf₁ = {:.3}, f₂ = {:.3}\nclick: start every path here{why}",
                x[0], x[1], f[0], f[1]
            ));
        }
        if response.clicked()
            && let Some(pos) = response.interact_pointer_pos()
        {
            clicked = Some(frame.to_problem(pos));
        }
    });
    clicked
}

/// Why a path stopped, for the panel: solver failures where the gradients cancel are
/// explained as what they are (the path reached a Pareto-stationary point).
fn stop_note(err: &str) -> String {
    let (step, why) = err.split_once(": ").unwrap_or(("", err));
    if ["cancel", "opposite", "zero"]
        .iter()
        .any(|w| why.contains(w))
    {
        format!(
            "stopped at {step}: the task gradients cancel here (a Pareto-stationary point), so \
             its weights have no finite solution"
        )
    } else {
        format!("stopped at {step}: {why}")
    }
}

/// A strategy's name without its gloss: "MGDA (multiple gradient descent)" → "MGDA".
fn short_label(key: &str) -> &str {
    let label = label_of(key);
    label.split(" (").next().unwrap_or(label)
}

/// A weight, short: two decimals, or scientific when large.
fn num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        format!("{v:.1e}")
    } else {
        format!("{v:.2}")
    }
}

/// The descent directions of f₁ and f₂ and the update at `at`, the longest `len` pixels long.
fn arrows(painter: &egui::Painter, at: Pos2, p: &PathPoint, len: f32) {
    let vecs = [
        // Orange and blue, as the text (and lessons) name them.
        (p.grads[0], theme::class_shade(0, 1.0)),
        (p.grads[1], theme::class_shade(1, 1.0)),
        (p.direction, theme::pareto()),
    ];
    let longest = vecs
        .iter()
        .map(|(v, _)| v[0].hypot(v[1]))
        .fold(0.0_f64, f64::max);
    if longest <= 0.0 || !longest.is_finite() {
        return;
    }
    for (v, colour) in vecs {
        // Descent directions: minus the gradient; screen y grows downwards.
        let s = len / longest as f32;
        let screen = vec2(-v[0] as f32 * s, v[1] as f32 * s);
        painter.arrow(at, screen, Stroke::new(4.0, theme::outline()));
        painter.arrow(at, screen, Stroke::new(2.0, colour));
    }
}

/// Every path in loss space with the Pareto front.
fn loss_space_ui(ui: &mut egui::Ui, state: &LandscapeState, size: f32) {
    ui.set_width(size);
    ui.strong("Loss space: (f₁, f₂) along each path")
        .on_hover_text("White: the Pareto front. Each colour: a strategy's path, as in its panel");
    let front: Vec<[f64; 2]> = state.toy.pareto_front(200);
    Plot::new("toy-loss-space")
        .width(size)
        .height(size)
        .x_axis_label("f₁")
        .y_axis_label("f₂")
        .show(ui, |plot| {
            plot.line(
                Line::new("Pareto front", PlotPoints::from(front))
                    .color(theme::pareto())
                    .width(4.0),
            );
            for (i, path) in state.paths.iter().enumerate() {
                let pts: Vec<[f64; 2]> = thinned(&path.points)
                    .map(|p| p.losses)
                    .chain(std::iter::once(state.toy.losses(path.x())))
                    .collect();
                plot.line(
                    Line::new(label_of(&path.key), PlotPoints::from(pts))
                        .color(path_colour(i))
                        .width(2.0),
                );
                plot.points(
                    Points::new(
                        label_of(&path.key),
                        PlotPoints::from(vec![state.toy.losses(path.x())]),
                    )
                    .color(path_colour(i))
                    .radius(4.0),
                );
            }
        });
}
