//! The Boundaries tab: each task's prediction over the plane of two-input data, live.

use super::{Tab, TabCtx};

/// For data with two inputs: each task's prediction over the plane, live, with the points
pub struct Boundaries;

impl Tab for Boundaries {
    fn key(&self) -> &'static str {
        "Boundaries"
    }

    fn label(&self) -> &'static str {
        "Boundaries"
    }

    fn hint(&self) -> &'static str {
        "For data with two inputs: each task's prediction over the plane, live, with the points"
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        let snapshot = ctx
            .trainer
            .and_then(crate::trainer::TrainerHandle::boundary);
        let spec = ctx.shown_spec().clone();
        // The points are the edited experiment's data: only draw them over the run's
        // boundary when that is still the run's data.
        let same_data = ctx.state.spec.dataset == spec.dataset && ctx.state.spec.seed == spec.seed;
        crate::ui::boundary::boundary_ui(
            ui,
            ctx.boundary_view,
            &spec,
            snapshot.as_deref(),
            ctx.summary.data.as_deref().filter(|_| same_data),
        );
        ctx.repaint_while_training(ui);
    }
}
