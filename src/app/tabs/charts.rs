//! The Charts tab: the live training charts and earlier runs overlaid.

use super::{Tab, TabCtx};

/// Live loss, weight, gradient and metric charts
pub struct Charts;

impl Tab for Charts {
    fn key(&self) -> &'static str {
        "Charts"
    }

    fn label(&self) -> &'static str {
        "Charts"
    }

    fn hint(&self) -> &'static str {
        "Live loss, weight, gradient and metric charts"
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        use crate::ui::plots;
        if plots::toolbar_ui(ui, &mut ctx.state.view, ctx.past_runs.len()) {
            ctx.past_runs.clear();
        }
        plots::legend_ui(ui, ctx.history, ctx.past_runs, &ctx.state.view);
        plots::charts_ui(ui, ctx.history, ctx.past_runs, &ctx.state.view);
    }
}
