//! The import dialog: a CSV file is read and checked on a background thread, then shown as a
//! preview table with each column's detected role and kind, which the user can change before
//! loading. A file that cannot be read leaves the current dataset as it was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::Instant;

use egui::Ui;

use super::theme;
use crate::data::inspect::{Inspection, inspect_file_with_progress};
use crate::experiment::CsvColumnRole;

type Job = Receiver<Result<Inspection, String>>;

/// An import in progress: the file, the latest good inspection, a running re-check.
pub struct Import {
    path: PathBuf,
    size: u64,
    /// How far the running check is, in per mille.
    progress: std::sync::Arc<std::sync::atomic::AtomicU32>,
    job: Option<(Job, Instant)>,
    inspection: Option<Inspection>,
    /// Why the latest check failed (the previous good inspection is still shown).
    error: Option<String>,
}

/// What the dialog asks the app to do.
#[derive(Debug)]
pub enum ImportAction {
    /// Nothing yet.
    None,
    /// Load the file with these roles.
    Load(Box<Inspection>),
    /// Close without loading.
    Cancel,
    /// The file could not be read at all; the message says why.
    Failed(String),
}

impl Import {
    /// Starts reading `path` on a background thread.
    pub fn start(path: &Path, ctx: &egui::Context) -> Self {
        let mut import = Self {
            path: path.to_owned(),
            size: std::fs::metadata(path).map_or(0, |m| m.len()),
            progress: std::sync::Arc::default(),
            job: None,
            inspection: None,
            error: None,
        };
        import.check(BTreeMap::new(), ctx);
        import
    }

    /// Whether a background check is running.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// The latest good inspection.
    pub fn inspection(&self) -> Option<&Inspection> {
        self.inspection.as_ref()
    }

    fn check(&mut self, overrides: BTreeMap<String, CsvColumnRole>, ctx: &egui::Context) {
        let (tx, rx) = sync_channel(1);
        let path = self.path.clone();
        self.progress.store(0, std::sync::atomic::Ordering::Relaxed);
        let progress = self.progress.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("mtl-import".to_owned())
            .spawn(move || {
                let result = inspect_file_with_progress(&path, &overrides, Some(&progress))
                    .map_err(|e| e.to_string());
                // The dialog may have been closed; then nobody listens.
                let _ = tx.send(result);
                ctx.request_repaint();
            });
        match spawned {
            Ok(_) => self.job = Some((rx, Instant::now())),
            Err(e) => self.error = Some(format!("cannot start reading the file: {e}")),
        }
    }

    /// Takes a finished check's result.
    fn poll(&mut self) -> ImportAction {
        let Some((rx, _)) = &self.job else {
            return ImportAction::None;
        };
        match rx.try_recv() {
            Err(TryRecvError::Empty) => ImportAction::None,
            Err(TryRecvError::Disconnected) => {
                self.job = None;
                self.fail("the reading thread stopped without a result".to_owned())
            }
            Ok(Ok(inspection)) => {
                self.job = None;
                self.error = None;
                self.inspection = Some(inspection);
                ImportAction::None
            }
            Ok(Err(e)) => {
                self.job = None;
                self.fail(e)
            }
        }
    }

    fn fail(&mut self, message: String) -> ImportAction {
        if self.inspection.is_none() {
            ImportAction::Failed(message)
        } else {
            self.error = Some(message);
            ImportAction::None
        }
    }

    /// The dialog window. Returns what the user chose.
    pub fn window(&mut self, ctx: &egui::Context) -> ImportAction {
        let polled = self.poll();
        if !matches!(polled, ImportAction::None) {
            return polled;
        }
        let mut action = ImportAction::None;
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        egui::Window::new(format!("Import {name}"))
            .id(egui::Id::unique("import-dialog"))
            .collapsible(false)
            .resizable(true)
            .default_rect(ctx.content_rect().shrink2(egui::vec2(
                ctx.content_rect().width() * 0.06,
                ctx.content_rect().height() * 0.08,
            )))
            .show(ctx, |ui| action = self.body(ui, ctx));
        action
    }

    fn body(&mut self, ui: &mut Ui, ctx: &egui::Context) -> ImportAction {
        if let Some((_, since)) = &self.job {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(format!(
                    "Reading and checking {} ({:.1} MB)… {:.1} s",
                    self.path.display(),
                    self.size as f64 / 1e6,
                    since.elapsed().as_secs_f64()
                ));
            });
            let done = self.progress.load(std::sync::atomic::Ordering::Relaxed);
            ui.add(
                egui::ProgressBar::new(done as f32 / 1000.0)
                    .show_percentage()
                    .desired_width(360.0),
            );
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
        if let Some(e) = &self.error {
            ui.colored_label(theme::error(), format!("This choice does not load: {e}"));
        }
        let Some(inspection) = &self.inspection else {
            return if ui.button("Cancel").clicked() {
                ImportAction::Cancel
            } else {
                ImportAction::None
            };
        };
        let mut new_role: Option<(String, CsvColumnRole)> = None;
        summary_ui(ui, inspection);
        ui.separator();
        ui.strong("Columns: the role of each (change it with the menu above the column)");
        let table_height = (ui.available_height() - 150.0).max(160.0);
        egui::ScrollArea::both()
            .max_height(table_height)
            .auto_shrink([false, true])
            .show(ui, |ui| {
                preview_table(ui, inspection, &mut new_role);
            });
        ui.separator();
        tasks_ui(ui, inspection);
        ui.separator();
        let mut action = ImportAction::None;
        ui.horizontal(|ui| {
            let ready = self.job.is_none() && self.error.is_none() && !inspection.tasks.is_empty();
            if ui
                .add_enabled(ready, egui::Button::new("Load dataset"))
                .on_disabled_hover_text("Needs at least one task column and no problem above.")
                .clicked()
            {
                action = ImportAction::Load(Box::new(inspection.clone()));
            }
            if ui.button("Cancel").clicked() {
                action = ImportAction::Cancel;
            }
            ui.weak("Loading replaces the tasks; the model's trunk and the weighting stay.");
        });
        if let Some((column, role)) = new_role {
            let mut overrides = inspection.overrides.clone();
            overrides.insert(column, role);
            self.check(overrides, ctx);
        }
        action
    }
}

fn summary_ui(ui: &mut Ui, inspection: &Inspection) {
    let d = &inspection.dataset;
    ui.label(format!(
        "{} rows · {} columns, {} input features · {} task(s)",
        d.rows,
        inspection.header.len(),
        d.features(),
        inspection.tasks.len()
    ));
    match inspection.split_counts {
        Some([tr, va, te]) => {
            ui.label(format!("Split column: {tr} train, {va} val, {te} test."));
        }
        None => {
            ui.label("No split column: a seeded random split is made, stratified on the first class task.");
        }
    }
    for note in &inspection.notes {
        ui.colored_label(theme::warning(), note);
    }
}

fn preview_table(
    ui: &mut Ui,
    inspection: &Inspection,
    new_role: &mut Option<(String, CsvColumnRole)>,
) {
    egui::Grid::new("import-preview")
        .striped(true)
        .min_col_width(90.0)
        .show(ui, |ui| {
            for (i, c) in inspection.columns.iter().enumerate() {
                let mut role = c.role;
                egui::ComboBox::from_id_salt(("import-role", i))
                    .selected_text(role.label())
                    .width(130.0)
                    .show_ui(ui, |ui| {
                        for r in CsvColumnRole::ALL {
                            ui.selectable_value(&mut role, r, r.label());
                        }
                    });
                if role != c.role {
                    *new_role = Some((c.header.clone(), role));
                }
            }
            ui.end_row();
            for c in &inspection.columns {
                ui.strong(&c.header);
            }
            ui.end_row();
            for c in &inspection.columns {
                let missing = if c.missing > 0 {
                    format!(" · {} missing", c.missing)
                } else {
                    String::new()
                };
                ui.weak(format!("{}{missing}", c.detail));
            }
            ui.end_row();
            for row in &inspection.preview {
                for cell in row {
                    ui.monospace(cell);
                }
                ui.end_row();
            }
        });
}

fn tasks_ui(ui: &mut Ui, inspection: &Inspection) {
    ui.strong("Tasks: label coverage and classes");
    for (k, t) in inspection.tasks.iter().enumerate() {
        let mut text = format!(
            "{} ({}): {} of {} rows labelled",
            t.name, t.kind, t.labelled, t.rows
        );
        if let Some((min, mean, max)) = t.range {
            text.push_str(&format!(" · min {min:.3}, mean {mean:.3}, max {max:.3}"));
        }
        if !t.class_counts.is_empty() {
            let shown: Vec<String> = t
                .class_counts
                .iter()
                .take(8)
                .map(|(c, n)| format!("{c}: {n}"))
                .collect();
            let more = t.class_counts.len().saturating_sub(8);
            text.push_str(&format!(" · {}", shown.join(", ")));
            if more > 0 {
                text.push_str(&format!(" (+{more} more)"));
            }
        }
        ui.colored_label(theme::task(k), text);
    }
}
