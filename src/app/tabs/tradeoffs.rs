//! The Trade-offs tab: sweeps of task weights and strategies, their Pareto front and single-task baselines.

use super::{Tab, TabCtx};

/// Sweep task weights and strategies: where each lands between the tasks, the Pareto front, single-task baselines
pub struct Tradeoffs;

impl Tab for Tradeoffs {
    fn key(&self) -> &'static str {
        "Tradeoffs"
    }

    fn label(&self) -> &'static str {
        "Trade-offs"
    }

    fn hint(&self) -> &'static str {
        "Sweep task weights and strategies: where each lands between the tasks, the Pareto front, single-task baselines"
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        crate::ui::tradeoff::tradeoff_ui(ui, ctx.tradeoff, &ctx.state.spec, ctx.waker);
    }
}
