//! The playground's canvas: the gradients as arrows (dragged by their tips), every
//! strategy's update, and the overlays (hull and minimum-norm point, dual cone, projections,
//! CAGrad's ball), with a name for what the pointer is over.

use super::*;

/// Where world points land on the canvas.
pub(super) struct View {
    pub(super) centre: Pos2,
    /// Screen points per gradient unit.
    pub(super) px: f32,
    /// Rotation rows (world → camera); identity in the plane.
    pub(super) rot: [[f32; 3]; 3],
}

impl View {
    pub(super) fn new(rect: Rect, extent: f64, space: bool, (yaw, pitch): (f32, f32)) -> Self {
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

    pub(super) fn camera(&self, p: &V3) -> [f32; 3] {
        let p = [p[0] as f32, p[1] as f32, p[2] as f32];
        let r = &self.rot;
        [
            r[0][0] * p[0] + r[0][1] * p[1] + r[0][2] * p[2],
            r[1][0] * p[0] + r[1][1] * p[1] + r[1][2] * p[2],
            r[2][0] * p[0] + r[2][1] * p[1] + r[2][2] * p[2],
        ]
    }

    pub(super) fn screen(&self, p: &V3) -> Pos2 {
        let c = self.camera(p);
        self.centre + vec2(c[0], -c[1]) * self.px
    }

    /// The world vector a screen drag `delta` moves a point by (in the view's plane).
    pub(super) fn world_delta(&self, delta: Vec2) -> V3 {
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

/// What a hover over the canvas names: (where, what).
pub(super) type Hovers = Vec<(Rect, String)>;

/// The canvas: axes, overlays, gradients (draggable tips) and updates.
pub(super) fn canvas_ui(
    ui: &mut Ui,
    state: &mut GradientPlayground,
    updates: &[Update],
    side: f32,
) {
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
pub(super) fn region_name(
    state: &GradientPlayground,
    view: &View,
    g: &[V3],
    p: Pos2,
) -> Option<String> {
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

/// Handle radius of a gradient's tip.
pub(super) const HANDLE: f32 = 7.0;

pub(super) fn axes_ui(painter: &egui::Painter, view: &View, state: &GradientPlayground) {
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
pub(super) fn gradient_arrows_ui(
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
pub(super) fn update_arrows_ui(
    painter: &egui::Painter,
    view: &View,
    updates: &[Update],
    hover: &mut Hovers,
) {
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
pub(super) fn drag(
    state: &mut GradientPlayground,
    response: &egui::Response,
    view: &View,
    g: &[V3],
) {
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
pub(super) fn dual_cone_ui(
    painter: &egui::Painter,
    view: &View,
    state: &GradientPlayground,
    g: &[V3],
) {
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
pub(super) fn ball_ui(painter: &egui::Painter, view: &View, g: &[V3], hover: &mut Hovers) {
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
pub(super) fn hull_ui(
    painter: &egui::Painter,
    view: &View,
    g: &[V3],
    updates: &[Update],
    hover: &mut Hovers,
) {
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
pub(super) fn projections_ui(painter: &egui::Painter, view: &View, g: &[V3], hover: &mut Hovers) {
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

pub(super) fn arrow(painter: &egui::Painter, from: Pos2, to: Pos2, stroke: Stroke) {
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

pub(super) fn dashed(painter: &egui::Painter, from: Pos2, to: Pos2, stroke: Stroke) {
    painter.extend(egui::Shape::dashed_line(&[from, to], stroke, 6.0, 4.0));
}

pub(super) fn subscript(n: usize) -> &'static str {
    ["₀", "₁", "₂", "₃", "₄"].get(n).copied().unwrap_or("")
}
