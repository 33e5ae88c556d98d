//! The Network tab: the network's units and connections with every weight drawn live.

use super::{Tab, TabCtx};

/// The trunk and heads as units and connections, each weight drawn live (size and sign)
pub struct Network;

impl Tab for Network {
    fn key(&self) -> &'static str {
        "Network"
    }

    fn label(&self) -> &'static str {
        "Network"
    }

    fn hint(&self) -> &'static str {
        "The trunk and heads as units and connections, each weight drawn live (size and sign)"
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        let weights = ctx.trainer.and_then(crate::trainer::TrainerHandle::weights);
        crate::ui::network::network_ui(ui, ctx.shown_spec(), weights.as_deref().map(Vec::as_slice));
        ctx.repaint_while_training(ui);
    }
}
