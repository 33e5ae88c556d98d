//! The Metrics tab: every metric of the latest evaluation, and the run against single-task models.

use super::{Tab, TabCtx};

/// Every metric of the latest evaluation, per task and split
pub struct Metrics;

impl Tab for Metrics {
    fn key(&self) -> &'static str {
        "Metrics"
    }

    fn label(&self) -> &'static str {
        "Metrics"
    }

    fn hint(&self) -> &'static str {
        "Every metric of the latest evaluation, per task and split"
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        crate::ui::plots::metrics_table_ui(ui, ctx.history);
        crate::ui::tradeoff::delta_ui(ui, ctx.tradeoff, ctx.history, ctx.waker);
    }
}
