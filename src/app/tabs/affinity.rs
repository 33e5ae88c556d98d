//! The Affinity tab: which tasks help which, and groups of tasks to train together.

use super::{Tab, TabCtx};

/// Which tasks help which (TAG lookahead and gradient cosines), and groups to train together
pub struct Affinity;

impl Tab for Affinity {
    fn key(&self) -> &'static str {
        "Affinity"
    }

    fn label(&self) -> &'static str {
        "Affinity"
    }

    fn hint(&self) -> &'static str {
        "Which tasks help which (TAG lookahead and gradient cosines), and groups to train together"
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        use crate::ui::plots;
        let every = &mut ctx.state.spec.training.affinity_every;
        let mut on = *every > 0;
        ui.horizontal_wrapped(|ui| {
            if ui
                .checkbox(&mut on, "Measure task affinity while training")
                .on_hover_text("Every 10 steps, a lookahead step on each task's gradient alone measures how it changes every task's loss on the same batch (Fifty et al., NeurIPS 2021). Costs K + 1 forward and K backward passes per measurement. Takes effect on the next run.")
                .changed()
            {
                *every = if on { 10 } else { 0 };
            }
            ui.weak("Row: the task stepped on; column: the task measured. Positive (blue): the step helps.");
        });
        match plots::affinity_ui(ui, ctx.history, &ctx.state.view) {
            Some(plots::AffinityAction::KeepTasks(names)) => {
                ctx.state.spec = ctx.state.spec.restricted_to(&names);
                *ctx.status = Some((
                    false,
                    format!(
                        "The experiment now trains {}; press Restart",
                        names.join(", ")
                    ),
                ));
            }
            Some(plots::AffinityAction::SaveGroups(groups)) => {
                ctx.requests.push(super::TabRequest::SaveGroups(groups));
            }
            None => {}
        }
    }
}
