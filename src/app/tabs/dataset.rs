//! The Dataset tab: the experiment's data as training splits them.

use super::{Tab, TabCtx};
use crate::experiment::ExperimentSpec;

/// The rows, each task's labels, and the inputs as points or images
pub struct Dataset;

impl Tab for Dataset {
    fn key(&self) -> &'static str {
        "Dataset"
    }

    fn label(&self) -> &'static str {
        "Dataset"
    }

    fn hint(&self) -> &'static str {
        "The rows, each task's labels, and the inputs as points or images"
    }

    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>) {
        let summary = ctx.summary;
        let note = match (&summary.data, summary.rows) {
            (Some(d), rows) if d.rows < rows => format!(
                "(showing the first {} of the {rows} generated rows)",
                d.rows
            ),
            _ => String::new(),
        };
        let spec = &ctx.state.spec;
        let targets: Vec<String> = spec.tasks.iter().map(|t| t.target.clone()).collect();
        crate::ui::dataview::dataset_view_ui(
            ui,
            summary,
            image_shape(spec),
            &note,
            &targets,
            ctx.dataview,
        );
    }
}

/// The inputs' (channels, height, width) when they are images.
fn image_shape(spec: &ExperimentSpec) -> Option<[usize; 3]> {
    spec.model
        .input_shape
        .or_else(|| spec.dataset.source().image_shape())
}
