//! The Gradients tab: a gradient playground. Two or three task gradients as arrows, in the
//! plane or in space; drag a tip to change one, or pick a preset. Every chosen strategy's
//! update is drawn live, computed by the same strategy code that trains models (the
//! `aggregate` path), with its weights and each task's first-order change ⟨gₖ, d⟩. Overlays
//! show the geometry the strategies use: the convex hull and its minimum-norm point (MGDA),
//! the dual cone (UPGrad), PCGrad's projections and CAGrad's ball.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Ui, Vec2, vec2};

use super::theme;
use crate::weighting::{self, Params, aggregate};

/// A vector in the playground (the plane has z = 0).
pub type V3 = [f64; 3];

/// The strategies drawn at first.
pub const DEFAULT_STRATEGIES: [&str; 6] = ["ew", "mgda", "pcgrad", "cagrad", "nash_mtl", "upgrad"];

/// A preset set of gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// Pointing the same way.
    Aligned,
    /// At right angles.
    Orthogonal,
    /// More than 90° apart (negative cosine).
    Conflicting,
    /// Exactly opposite: no update helps every task.
    Opposite,
    /// One gradient a hundred times smaller than the other.
    Tiny,
    /// Norms 30 times apart, at an angle.
    DifferentNorms,
}

impl Preset {
    /// Every preset, in the menu's order.
    pub const ALL: [Self; 6] = [
        Self::Aligned,
        Self::Orthogonal,
        Self::Conflicting,
        Self::Opposite,
        Self::Tiny,
        Self::DifferentNorms,
    ];

    /// The button's label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Aligned => "aligned",
            Self::Orthogonal => "orthogonal",
            Self::Conflicting => "conflicting",
            Self::Opposite => "exactly opposite",
            Self::Tiny => "one tiny",
            Self::DifferentNorms => "very different norms",
        }
    }

    /// The preset's three gradients (the first two are used with two tasks; the plane drops
    /// their z).
    pub fn gradients(self) -> [V3; 3] {
        match self {
            Self::Aligned => [[2.0, 0.6, 0.3], [1.6, 1.1, 0.5], [1.8, 0.2, 0.9]],
            Self::Orthogonal => [[2.0, 0.0, 0.0], [0.0, 1.5, 0.0], [0.0, 0.0, 1.2]],
            Self::Conflicting => [[2.0, 0.4, 0.2], [-1.3, 1.3, 0.4], [0.3, -1.5, 1.0]],
            Self::Opposite => [[1.5, 0.5, 0.0], [-1.5, -0.5, 0.0], [0.4, -1.2, 0.8]],
            Self::Tiny => [[2.0, 1.0, 0.2], [0.015, -0.02, 0.01], [-0.5, 1.6, 0.6]],
            Self::DifferentNorms => [[3.0, 0.4, 0.3], [0.05, 0.1, 0.02], [-0.6, 1.2, 1.5]],
        }
    }

    /// What the preset shows, for the hover text.
    pub fn about(self) -> &'static str {
        match self {
            Self::Aligned => "The tasks agree: every strategy steps about the same way.",
            Self::Orthogonal => "No conflict and no help: the cosine is 0.",
            Self::Conflicting => {
                "Negative cosine: the plain sum hurts one task; PCGrad projects, MGDA takes the hull's shortest point."
            }
            Self::Opposite => {
                "g₂ = −g₁: no update improves both; MGDA's update is 0 (Pareto-stationary)."
            }
            Self::Tiny => {
                "One task is nearly converged: MGDA's update shrinks to the tiny gradient."
            }
            Self::DifferentNorms => {
                "One gradient dominates the sum; norm-balancing strategies (Nash-MTL, IMTL) do not let it."
            }
        }
    }
}

/// The overlays that can be switched on and off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overlays {
    /// The convex hull of the gradients and its minimum-norm point (MGDA's update).
    pub hull: bool,
    /// The dual cone: the updates that improve every task to first order (UPGrad projects
    /// into it).
    pub dual_cone: bool,
    /// PCGrad's projections of each gradient off the ones it conflicts with.
    pub projections: bool,
    /// CAGrad's ball: the updates within c·‖g₀‖ of the mean gradient g₀.
    pub ball: bool,
}

impl Default for Overlays {
    fn default() -> Self {
        Self {
            hull: true,
            dual_cone: true,
            projections: false,
            ball: false,
        }
    }
}

/// One strategy's update on the playground's gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct Update {
    /// Strategy key.
    pub key: String,
    /// Its label.
    pub label: String,
    /// The update d and its weights, or why it could not be computed.
    pub result: Result<aggregate::Combined, String>,
}

impl Update {
    /// Each task's first-order change ⟨gₖ, d⟩ (positive: a step along −d lowers task k's loss).
    pub fn inner(&self, g: &[V3]) -> Option<Vec<f64>> {
        let d = self.result.as_ref().ok()?;
        Some(g.iter().map(|gk| dot_slice(gk, &d.shared_grad)).collect())
    }
}

/// The playground's state.
pub struct GradientPlayground {
    /// The task gradients (only the first `tasks` are used).
    pub g: [V3; 3],
    /// Two or three tasks.
    pub tasks: usize,
    /// In space (3-D) instead of the plane.
    pub space: bool,
    /// Strategy keys drawn, in order.
    pub strategies: Vec<String>,
    /// Overlays shown.
    pub overlays: Overlays,
    /// The view's rotation in space: (yaw, pitch) in radians.
    pub view: (f32, f32),
    /// Half the width of the drawn square, in gradient units.
    pub extent: f64,
    /// The task whose tip is being dragged.
    dragging: Option<usize>,
}

impl Default for GradientPlayground {
    fn default() -> Self {
        let mut p = Self {
            g: Preset::Conflicting.gradients(),
            tasks: 2,
            space: false,
            strategies: DEFAULT_STRATEGIES.map(str::to_owned).to_vec(),
            overlays: Overlays::default(),
            view: (0.6, 0.9),
            extent: 1.0,
            dragging: None,
        };
        p.apply_preset(Preset::Conflicting);
        p
    }
}

impl GradientPlayground {
    /// Loads a preset's gradients and fits the view to them.
    pub fn apply_preset(&mut self, preset: Preset) {
        self.g = preset.gradients();
        self.fit();
    }

    /// The gradients in use: K × d (d = 2 in the plane, 3 in space).
    pub fn gradients(&self) -> Vec<Vec<f64>> {
        let d = if self.space { 3 } else { 2 };
        self.g[..self.tasks]
            .iter()
            .map(|g| g[..d].to_vec())
            .collect()
    }

    /// The gradients in use as 3-vectors (z = 0 in the plane).
    fn points(&self) -> Vec<V3> {
        self.gradients()
            .iter()
            .map(|g| [g[0], g[1], g.get(2).copied().unwrap_or(0.0)])
            .collect()
    }

    /// Every chosen strategy's update, by the strategies' own code (fresh, at epoch 0, with
    /// every loss 1 and the default hyperparameters).
    pub fn updates(&self) -> Vec<Update> {
        let g = self.gradients();
        let losses = vec![1.0; g.len()];
        self.strategies
            .iter()
            .filter_map(|key| weighting::method(key))
            .map(|m| Update {
                key: m.key.to_owned(),
                label: short_label(m.label).to_owned(),
                result: aggregate::combine_once(m.key, &Params::new(), &g, &losses, 0),
            })
            .collect()
    }

    /// Sets the extent so every gradient and every update fits with a margin.
    fn fit(&mut self) {
        let updates = self.updates();
        let longest = self
            .points()
            .iter()
            .map(norm)
            .chain(
                updates
                    .iter()
                    .filter_map(|u| u.result.as_ref().ok())
                    .map(|c| norm(&to3(&c.shared_grad))),
            )
            .fold(0.0f64, f64::max);
        self.extent = (longest * 1.25).max(1e-9);
    }
}

/// `EW` of `EW (equal weighting)`.
fn short_label(label: &str) -> &str {
    label.split(" (").next().unwrap_or(label)
}

fn dot_slice(a: &V3, b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn dot(a: &V3, b: &V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: &V3) -> f64 {
    dot(a, a).sqrt()
}

fn scale(a: &V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

fn sub(a: &V3, b: &V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn to3(v: &[f64]) -> V3 {
    [
        v.first().copied().unwrap_or(0.0),
        v.get(1).copied().unwrap_or(0.0),
        v.get(2).copied().unwrap_or(0.0),
    ]
}

/// PCGrad's projection of `gi` off `gj` when they conflict (⟨gi, gj⟩ < 0), as in its paper.
pub fn pcgrad_projection(gi: &V3, gj: &V3) -> Option<V3> {
    let d = dot(gi, gj);
    let n2 = dot(gj, gj);
    (d < 0.0 && n2 > 0.0).then(|| sub(gi, &scale(gj, d / n2)))
}

/// Whether the direction `u` improves every task to first order (is in the dual cone).
pub fn in_dual_cone(g: &[V3], u: &V3) -> bool {
    g.iter().all(|gk| dot(gk, u) >= -1e-12)
}

/// Where world points land on the canvas.
struct View {
    centre: Pos2,
    /// Screen points per gradient unit.
    px: f32,
    /// Rotation rows (world → camera); identity in the plane.
    rot: [[f32; 3]; 3],
}

impl View {
    fn new(rect: Rect, extent: f64, space: bool, (yaw, pitch): (f32, f32)) -> Self {
        let rot = if space {
            let (sy, cy) = yaw.sin_cos();
            let (sp, cp) = pitch.sin_cos();
            // Yaw about z, then pitch about the camera's x axis.
            [
                [cy, -sy, 0.0],
                [sy * cp, cy * cp, sp],
                [-sy * sp, -cy * sp, cp],
            ]
        } else {
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
        };
        let px = 0.5 * rect.width().min(rect.height()) / extent as f32;
        Self {
            centre: rect.center(),
            px,
            rot,
        }
    }

    fn camera(&self, p: &V3) -> [f32; 3] {
        let p = [p[0] as f32, p[1] as f32, p[2] as f32];
        let r = &self.rot;
        [
            r[0][0] * p[0] + r[0][1] * p[1] + r[0][2] * p[2],
            r[1][0] * p[0] + r[1][1] * p[1] + r[1][2] * p[2],
            r[2][0] * p[0] + r[2][1] * p[1] + r[2][2] * p[2],
        ]
    }

    fn screen(&self, p: &V3) -> Pos2 {
        let c = self.camera(p);
        self.centre + vec2(c[0], -c[1]) * self.px
    }

    /// The world vector a screen drag `delta` moves a point by (in the view's plane).
    fn world_delta(&self, delta: Vec2) -> V3 {
        let (x, y) = (delta.x / self.px, -delta.y / self.px);
        let r = &self.rot;
        // The rotation is orthonormal: its transpose inverts it.
        [
            f64::from(r[0][0] * x + r[1][0] * y),
            f64::from(r[0][1] * x + r[1][1] * y),
            f64::from(r[0][2] * x + r[1][2] * y),
        ]
    }
}

/// The tab.
pub fn gradients_ui(ui: &mut Ui, state: &mut GradientPlayground) {
    toolbar_ui(ui, state);
    ui.separator();
    let updates = state.updates();
    let side = (ui.available_height() - 8.0)
        .min(ui.available_width() * 0.45)
        .max(200.0);
    ui.horizontal_top(|ui| {
        canvas_ui(ui, state, &updates, side);
        // The numbers scroll (both ways) in the width left, never past the window.
        ui.vertical(|ui| {
            egui::ScrollArea::both()
                .id_salt("gradients-table")
                .show(ui, |ui| table_ui(ui, state, &updates));
        });
    });
}

fn toolbar_ui(ui: &mut Ui, state: &mut GradientPlayground) {
    ui.horizontal_wrapped(|ui| {
        ui.label("Tasks");
        for k in [2, 3] {
            if ui
                .selectable_label(state.tasks == k, k.to_string())
                .clicked()
            {
                state.tasks = k;
                state.fit();
            }
        }
        ui.separator();
        if ui
            .selectable_label(!state.space, "Plane")
            .on_hover_text("Gradients in 2-D")
            .clicked()
        {
            state.space = false;
            state.fit();
        }
        if ui
            .selectable_label(state.space, "Space")
            .on_hover_text("Gradients in 3-D: drag the background to rotate")
            .clicked()
        {
            state.space = true;
            state.fit();
        }
        ui.separator();
        ui.label("Preset");
        for p in Preset::ALL {
            if ui.button(p.label()).on_hover_text(p.about()).clicked() {
                state.apply_preset(p);
            }
        }
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
                }
            }
        })
        .response
        .on_hover_text("Which strategies' updates are drawn");
        ui.separator();
        let o = &mut state.overlays;
        ui.checkbox(&mut o.hull, "Hull & min-norm point")
            .on_hover_text("The convex hull of the gradients; its shortest point is MGDA's update");
        ui.checkbox(&mut o.dual_cone, "Dual cone").on_hover_text(
            "The updates that improve every task to first order; UPGrad projects into it",
        );
        ui.checkbox(&mut o.projections, "PCGrad projections")
            .on_hover_text("Each gradient with its part along a conflicting one removed");
        ui.checkbox(&mut o.ball, "CAGrad ball")
            .on_hover_text("CAGrad searches within c·|g₀| (c = 0.5) of the mean gradient g₀");
    });
}

/// Colours of the strategies' update arrows (the tasks keep theme::task).
fn strategy_colour(i: usize) -> Color32 {
    theme::strategy(i)
}

/// What a hover over the canvas names: (where, what).
type Hovers = Vec<(Rect, String)>;

/// The canvas: axes, overlays, gradients (draggable tips) and updates.
fn canvas_ui(ui: &mut Ui, state: &mut GradientPlayground, updates: &[Update], side: f32) {
    let (rect, response) = ui.allocate_exact_size(vec2(side, side), Sense::click_and_drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 4.0, ui.visuals().extreme_bg_color);
    let view = View::new(rect.shrink(10.0), state.extent, state.space, state.view);
    let g = state.points();
    axes_ui(&painter, &view, state);
    let mut hover: Hovers = Vec::new();
    let o = state.overlays;
    if o.dual_cone {
        dual_cone_ui(&painter, &view, state, &g);
    }
    if o.ball {
        ball_ui(&painter, &view, &g, &mut hover);
    }
    if o.hull && g.len() >= 2 {
        hull_ui(&painter, &view, &g, updates, &mut hover);
    }
    if o.projections {
        projections_ui(&painter, &view, &g, &mut hover);
    }
    gradient_arrows_ui(&painter, &view, state, &g, &mut hover);
    update_arrows_ui(&painter, &view, updates, &mut hover);
    drag(state, &response, &view, &g);
    if let Some(p) = response.hover_pos() {
        let named = hover
            .iter()
            .rev()
            .find(|(r, _)| r.contains(p))
            .map(|(_, t)| t.clone())
            .or_else(|| region_name(state, &view, &g, p));
        if let Some(text) = named {
            response.on_hover_text_at_pointer(text);
        }
    }
}

/// In the plane, what region the pointer is over: the hull of the gradients or the dual cone.
fn region_name(state: &GradientPlayground, view: &View, g: &[V3], p: Pos2) -> Option<String> {
    if state.space {
        return None;
    }
    let o = state.overlays;
    let pts: Vec<Pos2> = g.iter().map(|v| view.screen(v)).collect();
    let in_hull = match pts.as_slice() {
        [a, b] => distance_to_segment(p, *a, *b) < 5.0,
        [a, b, c] => in_triangle(p, *a, *b, *c),
        _ => false,
    };
    if o.hull && in_hull {
        return Some(
            "the convex hull of the gradients: every weighted average of them; MGDA's update is its shortest point"
                .to_owned(),
        );
    }
    let w = view.world_delta(p - view.screen(&[0.0; 3]));
    let r = norm(&w);
    if o.dual_cone && r > 0.0 && r <= state.extent * 0.9 && in_dual_cone(g, &scale(&w, 1.0 / r)) {
        return Some(
            "the dual cone: every update here lowers each task's loss to first order (g_k·d ≥ 0); UPGrad projects into it"
                .to_owned(),
        );
    }
    None
}

fn distance_to_segment(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
    (a + ab * t).distance(p)
}

fn in_triangle(p: Pos2, a: Pos2, b: Pos2, c: Pos2) -> bool {
    let side = |u: Pos2, v: Pos2| (v - u).x * (p - u).y - (v - u).y * (p - u).x;
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    let neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
    let pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
    !(neg && pos)
}

/// Handle radius of a gradient's tip.
const HANDLE: f32 = 7.0;

fn axes_ui(painter: &egui::Painter, view: &View, state: &GradientPlayground) {
    let axis = Stroke::new(1.0, theme::faint(theme::input(), 110));
    let e = state.extent;
    let axes: &[V3] = if state.space {
        &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    } else {
        &[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    };
    for (a, name) in axes.iter().zip(["x", "y", "z"]) {
        let end = view.screen(&scale(a, e));
        painter.line_segment([view.screen(&scale(a, -e)), end], axis);
        painter.text(
            end,
            egui::Align2::LEFT_BOTTOM,
            name,
            egui::FontId::proportional(12.0),
            theme::input(),
        );
    }
}

/// The task gradients, with a handle at each tip.
fn gradient_arrows_ui(
    painter: &egui::Painter,
    view: &View,
    state: &GradientPlayground,
    g: &[V3],
    hover: &mut Hovers,
) {
    let origin = view.screen(&[0.0; 3]);
    let shown = state.gradients();
    for (k, gk) in g.iter().enumerate() {
        let tip = view.screen(gk);
        arrow(painter, origin, tip, Stroke::new(3.0, theme::task(k)));
        painter.circle_stroke(tip, HANDLE, Stroke::new(1.5, theme::task(k)));
        painter.text(
            tip + vec2(8.0, -8.0),
            egui::Align2::LEFT_BOTTOM,
            format!("g{}", subscript(k + 1)),
            egui::FontId::proportional(15.0),
            theme::task(k),
        );
        hover.push((
            Rect::from_center_size(tip, Vec2::splat(2.0 * HANDLE + 4.0)),
            format!(
                "task {}'s gradient g{} = {}, |g| = {:.3}: drag to change it",
                k + 1,
                subscript(k + 1),
                format_vec(&shown[k]),
                norm(gk)
            ),
        ));
    }
}

/// The updates, labelled at their tips (stacked where they meet).
fn update_arrows_ui(painter: &egui::Painter, view: &View, updates: &[Update], hover: &mut Hovers) {
    let origin = view.screen(&[0.0; 3]);
    let mut labels: Vec<Pos2> = Vec::new();
    for (i, u) in updates.iter().enumerate() {
        let Ok(c) = &u.result else {
            continue;
        };
        let d = to3(&c.shared_grad);
        let tip = view.screen(&d);
        let colour = strategy_colour(i);
        arrow(painter, origin, tip, Stroke::new(2.0, colour));
        let mut at = tip + vec2(6.0, 4.0);
        while labels.iter().any(|p| p.distance(at) < 14.0) {
            at.y += 14.0;
        }
        labels.push(at);
        painter.text(
            at,
            egui::Align2::LEFT_TOP,
            &u.label,
            egui::FontId::proportional(13.0),
            colour,
        );
        hover.push((
            Rect::from_center_size(tip, Vec2::splat(14.0)),
            format!("{}'s update d, |d| = {:.3}", u.label, norm(&d)),
        ));
    }
}

/// Dragging a tip moves that gradient; dragging elsewhere rotates the space.
fn drag(state: &mut GradientPlayground, response: &egui::Response, view: &View, g: &[V3]) {
    if response.drag_started()
        && let Some(p) = response.interact_pointer_pos()
    {
        state.dragging = g
            .iter()
            .enumerate()
            .map(|(k, gk)| (k, view.screen(gk).distance(p)))
            .filter(|(_, dist)| *dist <= HANDLE + 6.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(k, _)| k);
    }
    if response.dragged() {
        let delta = response.drag_delta();
        match state.dragging {
            Some(k) => {
                // In the plane the view has no depth: z stays as it is.
                for (x, dx) in state.g[k].iter_mut().zip(view.world_delta(delta)) {
                    *x += dx;
                }
            }
            None if state.space => {
                state.view.0 += delta.x * 0.01;
                state.view.1 = (state.view.1 + delta.y * 0.01).clamp(-1.5, 1.5);
            }
            None => {}
        }
    }
    if response.drag_stopped() {
        state.dragging = None;
        // Keep every arrow in view after a drag, without jumping during it.
        let longest = state.points().iter().map(norm).fold(0.0f64, f64::max);
        if longest * 1.05 > state.extent || longest * 3.0 < state.extent {
            state.fit();
        }
    }
}

/// The dual cone: sampled directions that improve every task, a shaded wedge in the plane
/// and dots on a sphere in space.
fn dual_cone_ui(painter: &egui::Painter, view: &View, state: &GradientPlayground, g: &[V3]) {
    let r = state.extent * 0.9;
    let origin = view.screen(&[0.0; 3]);
    if state.space {
        // Evenly spread directions (a Fibonacci sphere), a dot where each improves every task.
        let n = 2400u32;
        let golden = std::f64::consts::PI * (3.0 - 5f64.sqrt());
        for i in 0..n {
            let z = 1.0 - 2.0 * (f64::from(i) + 0.5) / f64::from(n);
            let ring = (1.0 - z * z).sqrt();
            let phi = golden * f64::from(i);
            let u = [ring * phi.cos(), ring * phi.sin(), z];
            if in_dual_cone(g, &u) {
                painter.circle_filled(
                    view.screen(&scale(&u, r)),
                    1.5,
                    theme::faint(theme::ok(), 120),
                );
            }
        }
        return;
    }
    let n = 360;
    for i in 0..n {
        let a0 = std::f64::consts::TAU * f64::from(i) / f64::from(n);
        let a1 = std::f64::consts::TAU * f64::from(i + 1) / f64::from(n);
        let (u0, u1) = ([a0.cos(), a0.sin(), 0.0], [a1.cos(), a1.sin(), 0.0]);
        if in_dual_cone(g, &u0) && in_dual_cone(g, &u1) {
            painter.add(egui::Shape::convex_polygon(
                vec![
                    origin,
                    view.screen(&scale(&u0, r)),
                    view.screen(&scale(&u1, r)),
                ],
                theme::faint(theme::ok(), 40),
                Stroke::NONE,
            ));
        }
    }
}

/// CAGrad's ball around the mean gradient.
fn ball_ui(painter: &egui::Painter, view: &View, g: &[V3], hover: &mut Hovers) {
    let sum = g
        .iter()
        .fold([0.0; 3], |a, b| [a[0] + b[0], a[1] + b[1], a[2] + b[2]]);
    let g0 = scale(&sum, 1.0 / g.len().max(1) as f64);
    let radius = 0.5 * norm(&g0);
    let centre = view.screen(&g0);
    // A circle in the plane; the ball's silhouette in space.
    painter.circle_stroke(
        centre,
        radius as f32 * view.px,
        Stroke::new(1.5, theme::faint(theme::strategy(3), 200)),
    );
    painter.circle_filled(centre, 3.0, theme::strategy(3));
    hover.push((
        Rect::from_center_size(centre, Vec2::splat(10.0)),
        format!("CAGrad's ball: centre g₀ (the mean gradient), radius 0.5·|g₀| = {radius:.3}"),
    ));
}

/// The convex hull of the gradients and its minimum-norm point, found by MGDA's own solver.
fn hull_ui(painter: &egui::Painter, view: &View, g: &[V3], updates: &[Update], hover: &mut Hovers) {
    let pts: Vec<Pos2> = g.iter().map(|p| view.screen(p)).collect();
    let stroke = Stroke::new(1.5, theme::faint(theme::total(), 170));
    let edges = if pts.len() == 2 { 1 } else { pts.len() };
    for i in 0..edges {
        dashed(painter, pts[i], pts[(i + 1) % pts.len()], stroke);
    }
    if pts.len() == 3 {
        painter.add(egui::Shape::convex_polygon(
            convex_order(&pts),
            theme::faint(theme::total(), 22),
            Stroke::NONE,
        ));
    }
    let drawn = updates
        .iter()
        .find(|u| u.key == "mgda")
        .and_then(|u| u.result.clone().ok());
    let min_norm = drawn.or_else(|| {
        let grads: Vec<Vec<f64>> = g.iter().map(|v| v.to_vec()).collect();
        aggregate::combine_once("mgda", &Params::new(), &grads, &vec![1.0; g.len()], 0).ok()
    });
    if let Some(c) = min_norm {
        let d = to3(&c.shared_grad);
        let p = view.screen(&d);
        painter.circle_filled(p, 5.0, theme::total());
        hover.push((
            Rect::from_center_size(p, Vec2::splat(12.0)),
            format!(
                "the convex hull's minimum-norm point (MGDA), |d| = {:.3}",
                norm(&d)
            ),
        ));
    }
}

/// PCGrad's projections of each gradient off those it conflicts with.
fn projections_ui(painter: &egui::Painter, view: &View, g: &[V3], hover: &mut Hovers) {
    let origin = view.screen(&[0.0; 3]);
    for (i, gi) in g.iter().enumerate() {
        for (j, gj) in g.iter().enumerate() {
            let Some(p) = pcgrad_projection(gi, gj).filter(|_| i != j) else {
                continue;
            };
            let tip = view.screen(&p);
            dashed(painter, origin, tip, Stroke::new(1.5, theme::task(i)));
            dashed(
                painter,
                view.screen(gi),
                tip,
                Stroke::new(1.0, theme::faint(theme::task(i), 120)),
            );
            hover.push((
                Rect::from_center_size(tip, Vec2::splat(12.0)),
                format!(
                    "g{} projected off g{} (they conflict: g{}·g{} < 0)",
                    subscript(i + 1),
                    subscript(j + 1),
                    subscript(i + 1),
                    subscript(j + 1)
                ),
            ));
        }
    }
}

/// The three points in counter-clockwise order (for a convex fill).
fn convex_order(pts: &[Pos2]) -> Vec<Pos2> {
    let c = pts.iter().fold(Vec2::ZERO, |a, p| a + p.to_vec2()) / pts.len() as f32;
    let mut v = pts.to_vec();
    v.sort_by(|a, b| {
        let aa = (a.y - c.y).atan2(a.x - c.x);
        let bb = (b.y - c.y).atan2(b.x - c.x);
        aa.total_cmp(&bb)
    });
    v
}

fn arrow(painter: &egui::Painter, from: Pos2, to: Pos2, stroke: Stroke) {
    let v = to - from;
    if v.length() < 1.0 {
        painter.circle_filled(from, stroke.width + 1.0, stroke.color);
        return;
    }
    painter.line_segment([from, to], stroke);
    let dir = v.normalized();
    let head = (v.length() * 0.25).min(10.0);
    let side = vec2(-dir.y, dir.x) * head * 0.5;
    painter.add(egui::Shape::convex_polygon(
        vec![to, to - dir * head + side, to - dir * head - side],
        stroke.color,
        Stroke::NONE,
    ));
}

fn dashed(painter: &egui::Painter, from: Pos2, to: Pos2, stroke: Stroke) {
    painter.extend(egui::Shape::dashed_line(&[from, to], stroke, 6.0, 4.0));
}

fn subscript(n: usize) -> &'static str {
    ["₀", "₁", "₂", "₃", "₄"].get(n).copied().unwrap_or("")
}

/// The numbers: the gradients and their cosines, then per strategy its weights, its update
/// and each task's ⟨gₖ, d⟩.
fn table_ui(ui: &mut Ui, state: &GradientPlayground, updates: &[Update]) {
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
fn messages_ui(ui: &mut Ui, updates: &[Update]) {
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

fn format_vec(v: &[f64]) -> String {
    format!(
        "({})",
        v.iter()
            .map(|x| format!("{x:+.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drawn_updates_are_what_aggregate_returns_for_every_preset() {
        let mut p = GradientPlayground::default();
        for space in [false, true] {
            for tasks in [2, 3] {
                for preset in Preset::ALL {
                    p.space = space;
                    p.tasks = tasks;
                    p.apply_preset(preset);
                    let g = p.gradients();
                    let case = serde_json::json!({
                        "id": "playground", "method": "", "K": g.len(), "d": g[0].len(),
                        "steps": [{"epoch": 0, "G": g, "losses": vec![1.0; g.len()]}]
                    });
                    for u in p.updates() {
                        let mut case = case.clone();
                        case["method"] = serde_json::json!(u.key);
                        // The same random stream (PCGrad shuffles the task order).
                        case["id"] = serde_json::json!(u.key);
                        let case: aggregate::Case =
                            serde_json::from_value(case).expect("a valid case");
                        let expected = aggregate::run_case(&case, 0);
                        match (&u.result, expected) {
                            (Ok(c), Ok(steps)) => {
                                let shared: Vec<f64> = steps[0]["shared_grad"]
                                    .as_array()
                                    .expect("numbers")
                                    .iter()
                                    .filter_map(serde_json::Value::as_f64)
                                    .collect();
                                assert_eq!(shared.len(), c.shared_grad.len(), "{}", u.key);
                                for (a, b) in shared.iter().zip(&c.shared_grad) {
                                    assert!(
                                        (a - b).abs() <= 1e-12 * (1.0 + a.abs()),
                                        "{} on {preset:?} (K={tasks}, space {space}): drawn {:?}, aggregate {shared:?}",
                                        u.key,
                                        c.shared_grad
                                    );
                                }
                            }
                            (Err(_), Err(_)) => {}
                            (a, b) => {
                                panic!("{} on {preset:?}: drawn {a:?}, aggregate {b:?}", u.key)
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_default_strategy_draws_an_update_for_every_preset() {
        let mut p = GradientPlayground::default();
        for preset in Preset::ALL {
            p.apply_preset(preset);
            let updates = p.updates();
            assert_eq!(updates.len(), DEFAULT_STRATEGIES.len(), "one per strategy");
            for u in &updates {
                if let Err(e) = &u.result {
                    panic!("{} has no update on {preset:?}: {e}", u.key);
                }
            }
        }
    }

    #[test]
    fn the_presets_example_file_holds_the_playgrounds_presets() {
        let file: serde_json::Value =
            serde_json::from_str(include_str!("../../examples/gradient_presets.json"))
                .expect("JSON");
        let cases = file["cases"].as_array().expect("cases");
        assert_eq!(
            cases.len(),
            Preset::ALL.len() * 2 * DEFAULT_STRATEGIES.len(),
            "every preset, in the plane (2 tasks) and in space (3), for every default strategy"
        );
        for preset in Preset::ALL {
            for (space, tasks) in [(false, 2), (true, 3)] {
                let mut p = GradientPlayground {
                    space,
                    tasks,
                    ..GradientPlayground::default()
                };
                p.apply_preset(preset);
                let g = serde_json::json!(p.gradients());
                for key in DEFAULT_STRATEGIES {
                    let id = format!("{} K={tasks} d={tasks}/{key}", preset.label());
                    let case = cases
                        .iter()
                        .find(|c| c["id"] == serde_json::json!(id))
                        .unwrap_or_else(|| panic!("{id} is in the file"));
                    assert_eq!(case["steps"][0]["G"], g, "{id}: the preset's gradients");
                    assert_eq!(case["method"], serde_json::json!(key), "{id}");
                }
            }
        }
        let results = aggregate::run_file(include_str!("../../examples/gradient_presets.json"), 0)
            .expect("the file runs");
        for r in results["results"].as_array().expect("results") {
            let id = r["id"].as_str().unwrap_or_default();
            assert!(
                r.get("error").is_none(),
                "{id}: every preset has an update: {r}"
            );
        }
    }

    #[test]
    fn geometry_matches_the_papers() {
        let g: Vec<V3> = vec![[2.0, 0.4, 0.0], [-1.3, 1.3, 0.0]];
        // PCGrad removes g1's component along g2 only when they conflict.
        let p = pcgrad_projection(&g[0], &g[1]).expect("they conflict");
        assert!(
            dot(&p, &g[1]).abs() < 1e-12,
            "the projection is orthogonal to g2"
        );
        assert!(
            pcgrad_projection(&g[0], &[1.0, 0.0, 0.0]).is_none(),
            "no conflict"
        );
        // The dual cone holds the directions that improve both.
        assert!(in_dual_cone(&g, &[0.3, 1.0, 0.0]), "between their normals");
        assert!(!in_dual_cone(&g, &[1.0, 0.0, 0.0]), "hurts g2");
        // Exactly opposite gradients: MGDA's update is the zero vector.
        let mut pg = GradientPlayground::default();
        pg.apply_preset(Preset::Opposite);
        let mgda = pg
            .updates()
            .into_iter()
            .find(|u| u.key == "mgda")
            .expect("mgda is drawn");
        let d = mgda.result.expect("MGDA solves it");
        assert!(
            norm(&to3(&d.shared_grad)) < 1e-9,
            "Pareto-stationary: {:?}",
            d.shared_grad
        );
    }

    #[test]
    fn hovering_names_the_hull_and_the_dual_cone() {
        let p = GradientPlayground::default();
        let rect = Rect::from_min_size(Pos2::ZERO, vec2(400.0, 400.0));
        let view = View::new(rect, p.extent, false, p.view);
        let g = p.points();
        let mid = scale(&[g[0][0] + g[1][0], g[0][1] + g[1][1], 0.0], 0.5);
        let on_hull = region_name(&p, &view, &g, view.screen(&mid)).unwrap_or_default();
        assert!(on_hull.contains("convex hull"), "{on_hull}");
        // A short update between the two gradients' normals helps both.
        let helpful = scale(&[0.3, 1.0, 0.0], 0.3);
        let in_cone = region_name(&p, &view, &g, view.screen(&helpful)).unwrap_or_default();
        assert!(in_cone.contains("dual cone"), "{in_cone}");
        let harmful = scale(&[1.0, -1.0, 0.0], 0.3);
        assert!(
            region_name(&p, &view, &g, view.screen(&harmful)).is_none(),
            "a direction that hurts a task is neither"
        );
    }

    #[test]
    fn a_drag_in_space_moves_a_point_in_the_view_plane() {
        let rect = Rect::from_min_size(Pos2::ZERO, vec2(200.0, 200.0));
        let view = View::new(rect, 2.0, true, (0.7, 0.4));
        let w = view.world_delta(vec2(10.0, 0.0));
        let before = view.screen(&[0.0; 3]);
        let after = view.screen(&w);
        assert!(
            (after.x - before.x - 10.0).abs() < 1e-3,
            "{before:?} → {after:?}"
        );
        assert!((after.y - before.y).abs() < 1e-3, "{before:?} → {after:?}");
    }
}
