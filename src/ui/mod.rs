//! The GUI's panels. Each file draws one part and edits plain data; only `theme.rs` makes
//! colours.

pub mod boundary;
pub mod composer;
pub mod dataview;
pub mod diagram;
pub mod explain;
pub mod fronts;
pub mod gradients;
pub mod history;
pub mod import;
pub mod landscape;
pub mod lessons;
pub mod network;
pub mod plots;
pub mod settings;
pub mod theme;
pub mod tradeoff;

/// One grid row: a label and the widget it names (for screen readers and UI tests), then
/// the end of the row.
pub fn grid_row(ui: &mut egui::Ui, label: &str, widget: impl egui::Widget) -> egui::Response {
    let name = ui.label(label);
    let response = ui.add(widget).labelled_by(name.id);
    ui.end_row();
    response
}
