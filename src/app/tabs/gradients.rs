//! The Gradients tab: a gradient playground where task gradients are dragged by hand and
//! every strategy's update follows.

use super::{Tab, TabCtx};

/// Drag task gradients and see what each strategy makes of them
pub struct Gradients;

impl Tab for Gradients {
    fn key(&self) -> &'static str {
        "Gradients"
    }

    fn label(&self) -> &'static str {
        "Gradients"
    }

    fn hint(&self) -> &'static str {
        "A gradient playground: drag task gradients and see what each strategy makes of them"
    }

    /// The playground does not use the experiment: the tab gets the whole width.
    fn shows_experiment(&self) -> bool {
        false
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        crate::ui::gradients::gradients_ui(ui, ctx.gradients);
    }
}
