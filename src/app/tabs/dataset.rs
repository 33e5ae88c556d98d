//! The Dataset tab: the experiment's data as training splits them.

use super::{Tab, TabCtx};
use crate::experiment::{DatasetSpec, ExperimentSpec};

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
            summary.data.as_deref(),
            summary.balance.as_deref(),
            image_shape(spec),
            &note,
            &targets,
            ctx.dataview,
        );
    }
}

/// The inputs' (channels, height, width) when they are images.
fn image_shape(spec: &ExperimentSpec) -> Option<[usize; 3]> {
    use crate::data::shipped::MULTI_DIGITS_SIDE;
    let side = crate::data::builtin::SHAPES_SIDE;
    spec.model.input_shape.or(match &spec.dataset {
        DatasetSpec::Shapes(_) => Some([1, side, side]),
        DatasetSpec::MultiDigits(_) => Some([1, MULTI_DIGITS_SIDE, MULTI_DIGITS_SIDE]),
        DatasetSpec::Idx(_) => Some([1, 28, 28]),
        DatasetSpec::Shipped(sh) => sh.name.image_shape(),
        _ => None,
    })
}
