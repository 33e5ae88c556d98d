//! The Gradients tab: a gradient playground. Two or three task gradients as arrows, in the
//! plane or in space; drag a tip to change one, or pick a preset. Every chosen strategy's
//! update is drawn live, computed by the same strategy code that trains models (the
//! `aggregate` path), with its weights and each task's first-order change ⟨gₖ, d⟩. Overlays
//! show the geometry the strategies use: the convex hull and its minimum-norm point (MGDA),
//! the dual cone (UPGrad), PCGrad's projections and CAGrad's ball.

use egui::{Color32, Pos2, Rect, Sense, Stroke, Ui, Vec2, vec2};

use super::theme;
use crate::weighting::{self, Params, aggregate};

mod canvas;
mod geometry;
mod table;

use canvas::*;
pub use geometry::*;
use table::*;

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
            serde_json::from_str(include_str!("../../../examples/gradient_presets.json"))
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
        let results =
            aggregate::run_file(include_str!("../../../examples/gradient_presets.json"), 0)
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
