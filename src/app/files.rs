//! Files: the dialogs, opening specs and datasets, exporting weights, metrics, reports and
//! views.

use super::summary::summarise;
use super::*;

impl MtlApp {
    pub(super) fn dialog(&self) -> rfd::FileDialog {
        let d = rfd::FileDialog::new();
        match &self.state.last_dir {
            Some(dir) => d.set_directory(dir),
            None => d,
        }
    }

    pub(super) fn remember_dir(&mut self, path: &Path) {
        self.state.last_dir = path.parent().map(Path::to_owned);
    }

    /// Writes the spec to `path` (atomically).
    pub(super) fn save_spec_to(&mut self, path: &Path) {
        let result = self
            .state
            .spec
            .to_toml()
            .map_err(|e| e.to_string())
            .and_then(|text| {
                export::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
            });
        self.status = Some(match result {
            Ok(()) => (false, format!("Saved spec to {}", path.display())),
            Err(e) => (true, e),
        });
    }

    pub(super) fn export_weights(&mut self, ctx: &egui::Context) {
        if self.history.info.is_none() {
            self.status = Some((
                true,
                "Nothing to export yet: train or load a model first.".to_owned(),
            ));
            return;
        }
        self.ask_path(super::dialogs::FileAction::ExportWeights, ctx);
    }

    /// Asks the trainer to write the current weights to `path` (a `Saved` event or a warning
    /// reports the result in the status bar).
    pub fn save_weights_to(&mut self, path: PathBuf) {
        if self.trainer.is_none() {
            self.status = Some((
                true,
                "Nothing to export yet: train or load a model first.".to_owned(),
            ));
            return;
        }
        self.send(TrainerCommand::SaveWeights(path));
    }

    pub(super) fn export_onnx(&mut self, ctx: &egui::Context) {
        if self.history.info.is_none() {
            self.status = Some((
                true,
                "Nothing to export yet: train or load a model first.".to_owned(),
            ));
            return;
        }
        self.ask_path(super::dialogs::FileAction::ExportOnnx, ctx);
    }

    /// Asks the trainer to write the current model as ONNX to `path` (an `ExportedOnnx`
    /// event or a warning reports the result in the status bar).
    pub fn export_onnx_to(&mut self, path: PathBuf) {
        if self.trainer.is_none() {
            self.status = Some((
                true,
                "Nothing to export yet: train or load a model first.".to_owned(),
            ));
            return;
        }
        self.send(TrainerCommand::ExportOnnx(path));
    }

    /// Asks the trainer to write a checkpoint of the run to `path` (a `Saved` event or a
    /// warning reports the result).
    pub fn save_checkpoint_to(&mut self, path: PathBuf) {
        if self.trainer.is_none() {
            self.status = Some((
                true,
                "No run to save yet: train or load a model first.".to_owned(),
            ));
            return;
        }
        self.send(TrainerCommand::SaveCheckpoint(path));
    }

    /// Loads a weights file: its spec becomes the current one and a paused run starts from
    /// it. A checkpoint (`checkpoint.safetensors` of a run folder, or one saved here)
    /// continues its run instead: Resume trains on exactly as the run would have.
    pub fn load_weights(&mut self, path: &Path) {
        if crate::trainer::Checkpoint::is_checkpoint(path) {
            match crate::trainer::Checkpoint::load(path) {
                Ok(checkpoint) => {
                    self.state.spec = checkpoint.spec;
                    self.start_run(RunOptions {
                        start_paused: true,
                        checkpoint: Some(path.to_owned()),
                        ..RunOptions::default()
                    });
                }
                Err(e) => self.status = Some((true, e.to_string())),
            }
            return;
        }
        match export::load_model(path) {
            Ok(file) => {
                self.state.spec = file.spec;
                self.start_run(RunOptions {
                    start_paused: true,
                    initial_weights: Some(path.to_owned()),
                    ..RunOptions::default()
                });
            }
            Err(e) => self.status = Some((true, e.to_string())),
        }
    }

    pub(super) fn export_metrics(&mut self, ctx: &egui::Context) {
        if self.history.rows.is_empty() {
            self.status = Some((true, "No metrics yet: train first.".to_owned()));
            return;
        }
        self.ask_path(super::dialogs::FileAction::ExportMetrics, ctx);
    }

    /// Writes the run's metrics CSV to `path` (atomically).
    pub(super) fn write_metrics_to(&mut self, path: &Path) {
        let rows = self.history.metric_rows();
        self.status = Some(match export::write_metrics_csv(path, &rows) {
            Ok(()) => (
                false,
                format!("Wrote {} rows to {}", rows.len(), path.display()),
            ),
            Err(e) => (true, e.to_string()),
        });
    }

    /// Writes the current run's report into `dir` (see `export::report`), with the
    /// comparison against single-task models and the last sweep's front when there are.
    pub fn export_report(&mut self, dir: &Path) {
        let rows = self.history.metric_rows();
        let Some(info) = &self.history.info else {
            self.status = Some((true, "No run yet: train first.".to_owned()));
            return;
        };
        let mut notes = export::report::ReportNotes {
            seconds: self.history.last_step.as_ref().map(|s| s.elapsed_secs),
            threads: Some(info.threads),
            stopped: self.history.stopped.as_ref().map(|s| s.message.clone()),
            extra: Vec::new(),
        };
        if let Some(d) = self.tradeoff.delta_for(&self.history) {
            notes.extra.push(d.markdown());
        }
        let mut written = 0;
        if let Some((name, tasks, points)) = self.tradeoff.front_points() {
            for file in ["front.png", "front.svg"] {
                let title = format!("{name}: final per-task loss of every run");
                if let Err(e) = export::plot::front_chart(&dir.join(file), &title, &tasks, &points)
                {
                    self.status = Some((true, e.to_string()));
                    return;
                }
                written += 1;
            }
            notes.extra.push(format!(
                "## Trade-off sweep of '{name}'\n\nEvery run's final validation losses; ringed runs are on the non-dominated front.\n\n![Trade-off sweep](front.png)"
            ));
        }
        self.status = Some(
            match export::report::write_report(dir, &info.spec, &rows, &notes) {
                Ok(files) => (
                    false,
                    format!(
                        "Wrote a report of {} files to {}",
                        files.len() + written,
                        dir.display()
                    ),
                ),
                Err(e) => (true, e.to_string()),
            },
        );
    }

    pub(super) fn pick_csv(&mut self, ctx: &egui::Context) {
        self.ask_path(super::dialogs::FileAction::OpenDataset, ctx);
    }

    /// Writes one spec per group of tasks into the folder `dir`.
    pub(super) fn save_groups_into(&mut self, dir: &Path, groups: &[Vec<String>]) {
        let mut written = Vec::new();
        for group in groups {
            let mut spec = self.state.spec.restricted_to(group);
            spec.training.affinity_every = 0;
            spec.name = format!("{} [{}]", spec.name, group.join(", "));
            let path = dir.join(format!("group-{}.toml", group.join("-")));
            let result = spec
                .to_toml()
                .map_err(|e| e.to_string())
                .and_then(|t| export::write_atomic(&path, t.as_bytes()).map_err(|e| e.to_string()));
            match result {
                Ok(()) => written.push(path.display().to_string()),
                Err(e) => {
                    self.status = Some((true, format!("Not saved: {e}")));
                    return;
                }
            }
        }
        self.status = Some((false, format!("Saved {}", written.join(", "))));
    }

    /// Starts importing a CSV file (`.csv` or `.csv.gz`): it is read and checked on a
    /// background thread, then the import dialog shows it. The current dataset stays until the
    /// user presses "Load dataset".
    pub fn open_dataset(&mut self, path: &Path, ctx: &egui::Context) {
        if data::idx::is_idx_images(path) {
            self.open_idx(path);
        } else {
            self.import = Some(crate::ui::import::Import::start(path, ctx));
        }
    }

    /// Switches to an IDX images file (MNIST, Fashion-MNIST) with its labels file; its tasks
    /// replace the spec's. Only the header is read here (the image size); the images are read
    /// off the window's thread by the data summary. A file whose header does not read leaves
    /// the spec as it was.
    pub(super) fn open_idx(&mut self, path: &Path) {
        let idx = crate::experiment::IdxSpec {
            images: path.to_owned(),
            labels: None,
            pairs: false,
            limit: 0,
        };
        let features = match data::idx::image_features(path) {
            Ok(f) => f,
            Err(e) => {
                self.status = Some((true, format!("Not loaded: {e}")));
                return;
            }
        };
        let side = (features as f64).sqrt() as usize;
        let spec = &mut self.state.spec;
        spec.name = path.file_name().map_or_else(
            || "IDX images".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        );
        spec.tasks = data::idx::targets(&idx)
            .iter()
            .map(|(n, k)| crate::experiment::TaskSpec {
                name: n.clone(),
                kind: *k,
                target: n.clone(),
                loss: None,
                weight: 1.0,
            })
            .collect();
        spec.dataset = DatasetSpec::Idx(idx);
        spec.model.input = 0;
        spec.model.input_shape = (side * side == features).then_some([1, side, side]);
        spec.sync_heads();
        self.status = Some((
            false,
            format!(
                "Opened {}: the images are being read (the settings panel shows their number)",
                path.display()
            ),
        ));
    }

    /// The import in progress, if any.
    pub fn import(&self) -> Option<&crate::ui::import::Import> {
        self.import.as_ref()
    }

    /// Switches to an inspected CSV file: its tasks replace the spec's, with the roles the user
    /// chose; the input size comes from the file.
    pub fn load_inspected(&mut self, inspection: &crate::data::inspect::Inspection) {
        let ready = inspection.spec();
        let spec = &mut self.state.spec;
        spec.name = ready.name;
        spec.dataset = ready.dataset;
        spec.tasks = ready.tasks;
        spec.model.input = 0;
        spec.model.input_shape = None;
        spec.sync_heads();
        // The file was just read on the background thread: no need to read it again here.
        self.summary_key = Self::summary_key(&self.state.spec);
        self.summary = summarise(&self.state.spec, Some(inspection.dataset.clone()));
        self.status = Some((
            false,
            format!(
                "Loaded {}: {} rows, {} tasks",
                inspection.path.display(),
                inspection.dataset.rows,
                inspection.tasks.len()
            ),
        ));
    }

    pub(super) fn import_ui(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        });
        if let Some(path) = dropped.first() {
            self.open_dataset(path, ctx);
        }
        let Some(import) = &mut self.import else {
            return;
        };
        match import.window(ctx) {
            crate::ui::import::ImportAction::None => {}
            crate::ui::import::ImportAction::Cancel => self.import = None,
            crate::ui::import::ImportAction::Failed(message) => {
                self.import = None;
                self.status = Some((true, format!("Not loaded: {message}")));
            }
            crate::ui::import::ImportAction::Load(inspection) => {
                self.import = None;
                self.load_inspected(&inspection);
            }
        }
    }

    /// Asks for a file, then a screenshot; the callback crops it to the centre view and
    /// writes the PNG.
    pub(super) fn save_view(&mut self, ctx: &egui::Context) {
        self.ask_path(super::dialogs::FileAction::SaveView, ctx);
    }

    /// The current tab's name for a file: `trade-offs`, `landscape`, ….
    pub(super) fn view_name(&self) -> String {
        super::tabs::tab(&self.state.tab)
            .label()
            .to_lowercase()
            .replace(' ', "-")
    }

    /// F12: saves the view without asking, as `<tab>-<unix seconds>.png` in the last folder
    /// used (or the working folder).
    pub(super) fn quick_save_view(&mut self, ctx: &egui::Context) {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let dir = self
            .state
            .last_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("."));
        let path = dir.join(format!("{}-{secs}.png", self.view_name()));
        self.save_view_to(ctx, path);
    }

    /// Takes a screenshot; the callback crops it to the centre view and writes `path`.
    pub(super) fn save_view_to(&mut self, ctx: &egui::Context, path: PathBuf) {
        let Some(rect) = self.view_rect else {
            return;
        };
        let ppp = ctx.pixels_per_point();
        log::info!("saving the view to {}", path.display());
        let slot = Arc::clone(&self.saved_view);
        let repaint = ctx.clone();
        ctx.request_screenshot(move |image| {
            let px = |v: f32| (v * ppp).round().max(0.0) as usize;
            let region = [
                px(rect.min.x),
                px(rect.min.y),
                px(rect.max.x),
                px(rect.max.y),
            ];
            let rgba: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
            let message =
                match export::plot::crop_png(&path, (image.width(), image.height()), &rgba, region)
                {
                    Ok(()) => (false, format!("Saved the view to {}", path.display())),
                    Err(e) => (true, e.to_string()),
                };
            if let Ok(mut s) = slot.lock() {
                *s = Some(message);
            }
            repaint.request_repaint();
        });
    }
}
