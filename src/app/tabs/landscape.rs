//! The Landscape tab: the two-task toy problem with each strategy's path on the loss landscape.

use super::{Tab, TabCtx};

/// A two-task toy problem: watch each strategy's path to the Pareto set
pub struct Landscape;

impl Tab for Landscape {
    fn key(&self) -> &'static str {
        "Landscape"
    }

    fn label(&self) -> &'static str {
        "Landscape"
    }

    fn hint(&self) -> &'static str {
        "A two-task toy problem: watch each strategy's path to the Pareto set"
    }

    /// The toy problem does not use the experiment: the tab gets the whole width.
    fn shows_experiment(&self) -> bool {
        false
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        crate::ui::landscape::landscape_ui(ui, ctx.landscape);
    }
}
