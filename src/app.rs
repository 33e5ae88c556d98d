//! The desktop app: owns the persisted settings, the trainer handle and the run history,
//! drains trainer events each frame and lays out the panels.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::data;
use crate::experiment::{DatasetSpec, ExperimentSpec};
use crate::export;
use crate::trainer::{
    RunOptions, RunState, TrainerCommand, TrainerHandle, Waker, apply_live, live_edit,
};
use crate::ui::history::{Phase, RunHistory};
use crate::ui::plots::{self, ViewPrefs};
use crate::ui::settings::{self, DataSummary, Edits};
use crate::ui::{composer, theme};

/// What is kept between launches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    /// The experiment being edited.
    pub spec: ExperimentSpec,
    /// Chart preferences.
    pub view: ViewPrefs,
    /// Folder of the last file dialog.
    pub last_dir: Option<PathBuf>,
    /// The view in the centre.
    pub tab: CentreTab,
}

/// The views of the centre panel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CentreTab {
    /// Live training charts.
    #[default]
    Charts,
    /// Every metric of the latest evaluation.
    Metrics,
    /// The data: rows, label histograms, scatter or images.
    Dataset,
    /// Task affinity and suggested groups.
    Affinity,
    /// The two-task toy problem: each strategy's path on the loss landscape.
    Landscape,
    /// Sweeps of task weights and strategies, their Pareto front, single-task baselines.
    Tradeoffs,
    /// Live decision boundaries of two-input data.
    Boundaries,
    /// The network's units and live weights.
    Network,
}

/// The centre tabs: the tab, its label, what it shows.
const CENTRE_TABS: [(CentreTab, &str, &str); 8] = [
    (
        CentreTab::Charts,
        "Charts",
        "Live loss, weight, gradient and metric charts",
    ),
    (
        CentreTab::Metrics,
        "Metrics",
        "Every metric of the latest evaluation, per task and split",
    ),
    (
        CentreTab::Dataset,
        "Dataset",
        "The rows, each task's labels, and the inputs as points or images",
    ),
    (
        CentreTab::Affinity,
        "Affinity",
        "Which tasks help which (TAG lookahead and gradient cosines), and groups to train together",
    ),
    (
        CentreTab::Network,
        "Network",
        "The trunk and heads as units and connections, each weight drawn live (size and sign)",
    ),
    (
        CentreTab::Boundaries,
        "Boundaries",
        "For data with two inputs: each task's prediction over the plane, live, with the points",
    ),
    (
        CentreTab::Tradeoffs,
        "Trade-offs",
        "Sweep task weights and strategies: where each lands between the tasks, the Pareto front, single-task baselines",
    ),
    (
        CentreTab::Landscape,
        "Landscape",
        "A two-task toy problem: watch each strategy's path to the Pareto set",
    ),
];

/// The application.
pub struct MtlApp {
    /// Persisted state.
    pub state: AppState,
    trainer: Option<TrainerHandle>,
    /// The current run's history.
    pub history: RunHistory,
    /// Earlier runs, oldest first, for comparison in the charts.
    pub past_runs: Vec<RunHistory>,
    next_run_id: u64,
    waker: Waker,
    /// The latest status message: (is an error, text).
    pub status: Option<(bool, String)>,
    summary: DataSummary,
    summary_key: String,
    about_open: bool,
    dataview: crate::ui::dataview::DataViewState,
    import: Option<crate::ui::import::Import>,
    /// The toy landscape's paths and settings.
    pub landscape: crate::ui::landscape::LandscapeState,
    /// The trade-off explorer's sweeps and baselines.
    pub tradeoff: crate::ui::tradeoff::TradeoffState,
    boundary_view: crate::ui::boundary::BoundaryView,
    /// The Lessons window.
    pub lessons: crate::ui::lessons::LessonsState,
    /// The centre view's area in the last frame (for "Save view as PNG").
    view_rect: Option<egui::Rect>,
    /// A message from a view being saved on the screenshot thread.
    saved_view: Arc<std::sync::Mutex<Option<(bool, String)>>>,
    /// The spec the trainer runs, with the live edits sent to it so far.
    live_spec: Option<ExperimentSpec>,
}

/// Earlier runs kept for comparison.
const MAX_PAST_RUNS: usize = 4;

/// Budget for draining trainer events in one frame.
const DRAIN_BUDGET: Duration = Duration::from_millis(5);

impl MtlApp {
    /// A new app with `state`; `ctx` is used to build the trainer's repaint waker.
    pub fn new(ctx: &egui::Context, state: AppState) -> Self {
        let ctx = ctx.clone();
        let waker: Waker = Arc::new(move || ctx.request_repaint_after(Duration::from_millis(33)));
        let mut app = Self {
            state,
            trainer: None,
            history: RunHistory::new(0, Phase::Idle),
            past_runs: Vec::new(),
            next_run_id: 1,
            waker,
            status: None,
            summary: DataSummary::default(),
            summary_key: String::new(),
            about_open: false,
            dataview: crate::ui::dataview::DataViewState::default(),
            import: None,
            landscape: crate::ui::landscape::LandscapeState::default(),
            tradeoff: crate::ui::tradeoff::TradeoffState::default(),
            boundary_view: crate::ui::boundary::BoundaryView::default(),
            lessons: crate::ui::lessons::LessonsState::default(),
            view_rect: None,
            saved_view: Arc::default(),
            live_spec: None,
        };
        app.refresh_summary();
        app
    }

    /// Steps done by the current run (0 without one).
    pub fn steps_done(&self) -> u64 {
        self.trainer.as_ref().map_or(0, TrainerHandle::steps_done)
    }

    /// Stops the current run after its step (the model can still be exported).
    pub fn stop_run(&self) {
        if let Some(t) = &self.trainer {
            t.stop();
        }
    }

    /// Starts a new run of the current spec (stopping any running one).
    pub fn start_run(&mut self, options: RunOptions) {
        let problems = self.state.spec.validate();
        if !problems.is_empty() {
            self.status = Some((true, format!("Cannot train: {}", problems[0])));
            return;
        }
        // Dropping the old handle stops its thread after the current step and joins it; do
        // that on a helper thread so a long step or data generation never freezes the window.
        if let Some(old) = self.trainer.take() {
            old.stop();
            let reaper = std::thread::Builder::new()
                .name("trainer-reaper".to_owned())
                .spawn(move || drop(old));
            if let Err(e) = reaper {
                log::warn!("could not stop the previous run in the background: {e}");
            }
        }
        let run_id = self.next_run_id;
        self.next_run_id += 1;
        match TrainerHandle::spawn(
            run_id,
            self.state.spec.clone(),
            options,
            Arc::clone(&self.waker),
        ) {
            Ok(handle) => {
                self.trainer = Some(handle);
                self.live_spec = Some(self.state.spec.clone());
                let old =
                    std::mem::replace(&mut self.history, RunHistory::new(run_id, Phase::Starting));
                if old.evals.len() > 1 {
                    self.past_runs.push(old);
                    if self.past_runs.len() > MAX_PAST_RUNS {
                        self.past_runs.remove(0);
                    }
                }
                self.status = None;
            }
            Err(e) => self.status = Some((true, format!("Cannot start the trainer thread: {e}"))),
        }
    }

    fn send(&mut self, command: TrainerCommand) {
        if let Some(t) = &self.trainer
            && !t.send(command)
        {
            self.status = Some((
                true,
                "The trainer has stopped; press Train to start a new run.".to_owned(),
            ));
        }
    }

    /// Play / pause: starts a run when there is none.
    pub fn toggle_play(&mut self) {
        match self.history.phase {
            Phase::Run(RunState::Running) => self.send(TrainerCommand::Pause),
            Phase::Run(RunState::Paused) => self.send(TrainerCommand::Resume),
            Phase::Starting => {}
            _ => self.start_run(RunOptions::default()),
        }
    }

    /// Takes in trainer events for at most a few milliseconds.
    pub fn drain_events(&mut self, ctx: &egui::Context) {
        let Some(trainer) = &self.trainer else {
            return;
        };
        let started = Instant::now();
        loop {
            match trainer.try_recv() {
                Ok(Some(event)) => {
                    if event.run_id() == self.history.run_id
                        && let Some(msg) = self.history.apply(event)
                    {
                        self.status = Some(msg);
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    if !matches!(self.history.phase, Phase::Failed(_)) {
                        self.history.phase =
                            Phase::Failed("the trainer stopped unexpectedly".to_owned());
                        self.status = Some((true, "Trainer stopped unexpectedly".to_owned()));
                    }
                    self.trainer = None;
                    break;
                }
            }
            if started.elapsed() > DRAIN_BUDGET {
                ctx.request_repaint();
                break;
            }
        }
    }

    fn summary_key(spec: &ExperimentSpec) -> String {
        // Everything the summary depends on, the split's label balance included.
        format!(
            "{}|{}|{:?}|{}|{:?}",
            serde_json::to_string(&spec.dataset).unwrap_or_default(),
            spec.seed,
            spec.tasks
                .iter()
                .map(|t| (&t.name, &t.target, t.kind))
                .collect::<Vec<_>>(),
            spec.training.validation_fraction,
            spec.training.keep_labels
        )
    }

    fn refresh_summary(&mut self) {
        let key = Self::summary_key(&self.state.spec);
        if key == self.summary_key {
            return;
        }
        self.summary_key = key;
        self.summary = summarise(&self.state.spec, None);
    }

    /// Sends the edited live settings (task weights, learning rate, penalties) to the
    /// running trainer, as [`live_edit`] decides.
    fn send_live_edits(&mut self) {
        let Some(live) = &mut self.live_spec else {
            return;
        };
        let edit = live_edit(live, &self.state.spec);
        apply_live(live, &self.state.spec);
        for command in edit.commands {
            self.send(command);
        }
    }

    /// True when the edited spec differs from the running one in more than live settings.
    fn needs_restart(&self) -> bool {
        self.history
            .info
            .as_ref()
            .is_some_and(|info| live_edit(&info.spec, &self.state.spec).restart)
    }

    fn dialog(&self) -> rfd::FileDialog {
        let d = rfd::FileDialog::new();
        match &self.state.last_dir {
            Some(dir) => d.set_directory(dir),
            None => d,
        }
    }

    fn remember_dir(&mut self, path: &Path) {
        self.state.last_dir = path.parent().map(Path::to_owned);
    }

    fn open_spec(&mut self) {
        let Some(path) = self
            .dialog()
            .add_filter("Experiment spec", &["toml", "json"])
            .pick_file()
        else {
            return;
        };
        self.remember_dir(&path);
        match ExperimentSpec::load(&path) {
            Ok(spec) => {
                self.state.spec = spec;
                self.status = Some((false, format!("Opened {}", path.display())));
            }
            Err(e) => self.status = Some((true, e.to_string())),
        }
    }

    fn save_spec(&mut self) {
        let Some(path) = self
            .dialog()
            .add_filter("Experiment spec", &["toml"])
            .set_file_name("experiment.toml")
            .save_file()
        else {
            return;
        };
        self.remember_dir(&path);
        let result = self
            .state
            .spec
            .to_toml()
            .map_err(|e| e.to_string())
            .and_then(|text| {
                export::write_atomic(&path, text.as_bytes()).map_err(|e| e.to_string())
            });
        self.status = Some(match result {
            Ok(()) => (false, format!("Saved spec to {}", path.display())),
            Err(e) => (true, e),
        });
    }

    fn export_weights(&mut self) {
        if self.history.info.is_none() {
            self.status = Some((
                true,
                "Nothing to export yet: train or load a model first.".to_owned(),
            ));
            return;
        }
        let Some(path) = self
            .dialog()
            .add_filter("safetensors", &["safetensors"])
            .set_file_name("model.safetensors")
            .save_file()
        else {
            return;
        };
        self.remember_dir(&path);
        self.save_weights_to(path);
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

    /// Loads a weights file: its spec becomes the current one and a paused run starts from it.
    pub fn load_weights(&mut self, path: &Path) {
        match export::load_model(path) {
            Ok(file) => {
                self.state.spec = file.spec;
                self.start_run(RunOptions {
                    start_paused: true,
                    initial_weights: Some(path.to_owned()),
                });
            }
            Err(e) => self.status = Some((true, e.to_string())),
        }
    }

    fn export_metrics(&mut self) {
        let rows = self.history.metric_rows();
        if rows.is_empty() {
            self.status = Some((true, "No metrics yet: train first.".to_owned()));
            return;
        }
        let Some(path) = self
            .dialog()
            .add_filter("CSV", &["csv"])
            .set_file_name("metrics.csv")
            .save_file()
        else {
            return;
        };
        self.remember_dir(&path);
        self.status = Some(match export::write_metrics_csv(&path, &rows) {
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

    fn pick_csv(&mut self, ctx: &egui::Context) {
        let Some(path) = self
            .dialog()
            .add_filter("Datasets (CSV, IDX)", &["csv", "gz", "ubyte"])
            .pick_file()
        else {
            return;
        };
        self.remember_dir(&path);
        self.open_dataset(&path, ctx);
    }

    fn affinity_tab(&mut self, ui: &mut egui::Ui) {
        let every = &mut self.state.spec.training.affinity_every;
        let mut on = *every > 0;
        ui.horizontal(|ui| {
            if ui
                .checkbox(&mut on, "Measure task affinity while training")
                .on_hover_text("Every 10 steps, a lookahead step on each task's gradient alone measures how it changes every task's loss on the same batch (Fifty et al., NeurIPS 2021). Costs K + 1 forward and K backward passes per measurement. Takes effect on the next run.")
                .changed()
            {
                *every = if on { 10 } else { 0 };
            }
            ui.weak("Row: the task stepped on; column: the task measured. Positive (blue): the step helps.");
        });
        match plots::affinity_ui(ui, &self.history, &self.state.view) {
            Some(plots::AffinityAction::KeepTasks(names)) => {
                self.state.spec = self.state.spec.restricted_to(&names);
                self.status = Some((
                    false,
                    format!(
                        "The experiment now trains {}; press Restart",
                        names.join(", ")
                    ),
                ));
            }
            Some(plots::AffinityAction::SaveGroups(groups)) => self.save_groups(&groups),
            None => {}
        }
    }

    /// Writes one spec per group of tasks into a folder the user picks.
    fn save_groups(&mut self, groups: &[Vec<String>]) {
        let Some(dir) = self.dialog().pick_folder() else {
            return;
        };
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
    /// replace the spec's. A file that does not read leaves the spec as it was.
    fn open_idx(&mut self, path: &Path) {
        let idx = crate::experiment::IdxSpec {
            images: path.to_owned(),
            labels: None,
            pairs: false,
            limit: 0,
        };
        let loaded = match data::idx::load(&idx, self.state.spec.seed) {
            Ok(d) => d,
            Err(e) => {
                self.status = Some((true, format!("Not loaded: {e}")));
                return;
            }
        };
        let side = (loaded.features() as f64).sqrt() as usize;
        let spec = &mut self.state.spec;
        spec.name = loaded.name.clone();
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
        spec.model.input_shape = (side * side == loaded.features()).then_some([1, side, side]);
        spec.sync_heads();
        self.status = Some((
            false,
            format!("Loaded {}: {} images", path.display(), loaded.rows),
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

    fn import_ui(&mut self, ctx: &egui::Context) {
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

    /// The whole window.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.drain_events(&ctx);
        if let Some(message) = self.saved_view.lock().ok().and_then(|mut s| s.take()) {
            self.status = Some(message);
        }
        if !ctx.egui_wants_keyboard_input() && ctx.input(|i| i.key_pressed(egui::Key::Space)) {
            self.toggle_play();
        }
        if ctx.input(|i| i.key_pressed(egui::Key::F12)) {
            self.quick_save_view(&ctx);
        }
        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::top("controls").show(ui, |ui| self.controls_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        // The toy landscape does not use the experiment, so it gets the whole width.
        if self.state.tab != CentreTab::Landscape {
            egui::Panel::left("settings")
                .resizable(true)
                .default_size(430.0)
                .min_size(340.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.settings_ui(ui));
                });
        }
        egui::CentralPanel::default().show(ui, |ui| self.centre_ui(ui));
        self.import_ui(&ctx);
        self.lessons_window(&ctx);
        if self.about_open {
            egui::Window::new("About MTL Studio").open(&mut self.about_open).show(&ctx, |ui| {
                ui.label("MTL Studio: compose shared trunks and task heads, weight the task losses, train live, export the weights.");
                ui.label("Built with egui, egui_plot and candle.");
                ui.separator();
                ui.strong("Data");
                ui.label("MMoE synthetic data: generated after Ma et al., KDD 2018. 2-D data: generated after TensorFlow Playground (Apache-2.0). Shapes-32: our own generator.");
                for which in crate::data::shipped::Shipped::ALL {
                    ui.label(which.attribution());
                }
                ui.label("MultiDigits is made from the Digits images (CC BY 4.0).");
                ui.weak("The shipped files and their licences are listed in assets/DATA_LICENSES.md.");
            });
        }
    }

    /// Asks for a file, then a screenshot; the callback crops it to the centre view and
    /// writes the PNG.
    fn save_view(&mut self, ctx: &egui::Context) {
        let Some(path) = self
            .dialog()
            .add_filter("PNG image", &["png"])
            .set_file_name(format!("{}.png", self.view_name()))
            .save_file()
        else {
            return;
        };
        self.remember_dir(&path);
        self.save_view_to(ctx, path);
    }

    /// The current tab's name for a file: `trade-offs`, `landscape`, ….
    fn view_name(&self) -> String {
        CENTRE_TABS
            .iter()
            .find(|t| t.0 == self.state.tab)
            .map_or("view", |t| t.1)
            .to_lowercase()
            .replace(' ', "-")
    }

    /// F12: saves the view without asking, as `<tab>-<unix seconds>.png` in the last folder
    /// used (or the working folder).
    fn quick_save_view(&mut self, ctx: &egui::Context) {
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
    fn save_view_to(&mut self, ctx: &egui::Context, path: PathBuf) {
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

    fn lessons_window(&mut self, ctx: &egui::Context) {
        let mut open = self.lessons.open;
        let mut action = None;
        egui::Window::new("Lessons")
            .open(&mut open)
            .default_width(460.0)
            .default_height(620.0)
            .default_pos([900.0, 120.0])
            .resizable(true)
            .show(ctx, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    action = crate::ui::lessons::lessons_ui(ui, &mut self.lessons);
                });
            });
        self.lessons.open = open;
        if let Some(crate::ui::lessons::LessonAction::Load(i)) = action {
            self.load_lesson(i);
        }
    }

    /// Loads lesson `i`'s experiment and opens its view.
    pub fn load_lesson(&mut self, i: usize) {
        let Some(lesson) = crate::ui::lessons::LESSONS.get(i) else {
            return;
        };
        match ExperimentSpec::from_toml(lesson.spec) {
            Ok(spec) => {
                self.state.spec = spec;
                self.state.tab = lesson.tab;
                self.landscape = crate::ui::landscape::LandscapeState::default();
                self.status = Some((false, format!("Lesson loaded: {}", lesson.title)));
            }
            Err(e) => {
                self.status = Some((true, format!("The lesson's experiment does not load: {e}")));
            }
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui
                    .button("Open dataset…")
                    .on_hover_text(
                        "A CSV file (.csv or .csv.gz); you can also drop one on the window.",
                    )
                    .clicked()
                {
                    ui.close();
                    self.pick_csv(ui.ctx());
                }
                if ui.button("Open spec…").clicked() {
                    ui.close();
                    self.open_spec();
                }
                if ui.button("Save spec…").clicked() {
                    ui.close();
                    self.save_spec();
                }
                ui.separator();
                if ui.button("Load weights…").clicked() {
                    ui.close();
                    if let Some(path) = self
                        .dialog()
                        .add_filter("safetensors", &["safetensors"])
                        .pick_file()
                    {
                        self.remember_dir(&path);
                        self.load_weights(&path);
                    }
                }
                if ui.button("Export weights…").clicked() {
                    ui.close();
                    self.export_weights();
                }
                if ui.button("Export metrics…").clicked() {
                    ui.close();
                    self.export_metrics();
                }
                if ui
                    .button("Export run report…")
                    .on_hover_text("A folder with report.md, the loss chart (PNG and SVG), metrics.csv, spec.toml, and the trade-off sweep and single-task comparison when there are")
                    .clicked()
                {
                    ui.close();
                    if let Some(dir) = self.dialog().pick_folder() {
                        self.remember_dir(&dir);
                        self.export_report(&dir);
                    }
                }
                ui.separator();
                if ui.button("Reset to the default experiment").clicked() {
                    ui.close();
                    self.state.spec = ExperimentSpec::default();
                }
            });
            ui.menu_button("Help", |ui| {
                if ui
                    .button("Lessons…")
                    .on_hover_text("A guided tour: five short lessons, each with a ready experiment")
                    .clicked()
                {
                    ui.close();
                    self.lessons.open = true;
                }
                if ui.button("About").clicked() {
                    ui.close();
                    self.about_open = true;
                }
            });
        });
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        let problems = self.state.spec.validate();
        ui.horizontal(|ui| {
            ui.heading("MTL Studio");
            ui.separator();
            let phase = self.history.phase.clone();
            let can_start = problems.is_empty();
            match phase {
                Phase::Run(RunState::Running) => {
                    if ui
                        .button("⏸ Pause")
                        .on_hover_text("Pause (Space)")
                        .clicked()
                    {
                        self.send(TrainerCommand::Pause);
                    }
                }
                Phase::Run(RunState::Paused) => {
                    if ui
                        .button("▶ Resume")
                        .on_hover_text("Resume (Space)")
                        .clicked()
                    {
                        self.send(TrainerCommand::Resume);
                    }
                }
                Phase::Starting => {
                    ui.add_enabled(false, egui::Button::new("⏳ Starting"));
                }
                _ => {
                    let r = ui
                        .add_enabled(can_start, egui::Button::new("▶ Train"))
                        .on_hover_text("Start a new run (Space)");
                    let r = if problems.is_empty() {
                        r
                    } else {
                        r.on_disabled_hover_text(
                            problems
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join("\n"),
                        )
                    };
                    if r.clicked() {
                        self.start_run(RunOptions::default());
                    }
                }
            }
            let paused = matches!(self.history.phase, Phase::Run(RunState::Paused));
            if ui
                .add_enabled(paused, egui::Button::new("⏭ Step"))
                .on_hover_text("Train one batch, then pause")
                .clicked()
            {
                self.send(TrainerCommand::Step(1));
            }
            let active = matches!(
                self.history.phase,
                Phase::Run(RunState::Running | RunState::Paused)
            );
            if ui
                .add_enabled(active, egui::Button::new("⏹ Stop"))
                .on_hover_text("Stop after the current step; the model can still be exported")
                .clicked()
            {
                self.stop_run();
            }
            if matches!(self.history.phase, Phase::Run(RunState::Finished))
                && ui
                    .button("⏩ Train on")
                    .on_hover_text("Keep training past the planned epochs")
                    .clicked()
            {
                self.send(TrainerCommand::Resume);
            }
            if ui
                .add_enabled(
                    can_start && self.history.phase != Phase::Idle,
                    egui::Button::new("⟲ Restart"),
                )
                .on_hover_text("Start again from new initial weights with the current settings")
                .clicked()
            {
                self.start_run(RunOptions::default());
            }
            if self.needs_restart() {
                ui.colored_label(theme::warning(), "Settings changed: Restart to apply");
            }
        });
        if !problems.is_empty() {
            for p in problems.iter().take(4) {
                ui.colored_label(theme::error(), p.to_string());
            }
        }
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let phase = match &self.history.phase {
                Phase::Idle => "Ready".to_owned(),
                Phase::Starting => "Starting…".to_owned(),
                Phase::Run(RunState::Running) => "Training".to_owned(),
                Phase::Run(RunState::Paused) => "Paused".to_owned(),
                Phase::Run(RunState::Finished) => "Finished".to_owned(),
                Phase::Run(RunState::Stopped) => "Stopped".to_owned(),
                Phase::Failed(_) => "Failed".to_owned(),
            };
            ui.strong(phase);
            if let (Some(info), Some(m)) = (&self.history.info, &self.history.last_step) {
                ui.separator();
                ui.label(format!(
                    "epoch {:.2} / {}",
                    m.epoch, info.spec.training.epochs
                ));
                ui.separator();
                ui.label(format!("step {}", m.step));
                ui.separator();
                let threads = match m.shards {
                    1 => "1 thread".to_owned(),
                    n => format!("{n} threads"),
                };
                ui.label(format!(
                    "{} samples/s · {threads}",
                    group_digits(m.samples_per_sec)
                ))
                .on_hover_text(format!(
                    "Threads the latest step trained on, of {} for training. A batch with \
                     enough work is cut into one shard per thread, trained side by side; \
                     small ones stay on one. The app leaves one core to its window; set \
                     RAYON_NUM_THREADS to choose the count.",
                    info.threads
                ));
                ui.separator();
                let secs = m.elapsed_secs as u64;
                ui.label(format!("elapsed {:02}:{:02}", secs / 60, secs % 60));
                ui.separator();
                ui.label(format!("lr {:.1e}", m.lr));
            } else if let Some(info) = &self.history.info {
                ui.separator();
                ui.label(format!(
                    "{} train / {} val rows",
                    info.train_rows, info.val_rows
                ));
            }
            if let Some((is_error, msg)) = &self.status {
                ui.separator();
                ui.colored_label(
                    if *is_error {
                        theme::error()
                    } else {
                        theme::ok()
                    },
                    msg,
                );
            }
        });
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        self.refresh_summary();
        let mut pick_csv = false;
        let mut edits = Edits::default();
        egui::CollapsingHeader::new("Dataset")
            .default_open(true)
            .show(ui, |ui| {
                edits.structure |=
                    settings::dataset_ui(ui, &mut self.state.spec, &self.summary, &mut pick_csv);
            });
        self.refresh_summary();
        if matches!(
            self.state.spec.dataset,
            DatasetSpec::Csv(_) | DatasetSpec::Shipped(_) | DatasetSpec::Idx(_)
        ) && self.summary.error.is_none()
        {
            self.state.spec.model.input = self.summary.features;
        }
        egui::CollapsingHeader::new("Tasks")
            .default_open(true)
            .show(ui, |ui| {
                edits |= settings::tasks_ui(ui, &mut self.state.spec, &self.summary);
            });
        egui::CollapsingHeader::new("Model")
            .default_open(true)
            .show(ui, |ui| {
                let summary = &self.summary;
                let classes = |target: &str| {
                    summary
                        .classes
                        .iter()
                        .find(|(n, _)| n == target)
                        .map_or(2, |(_, c)| *c)
                };
                edits |= composer::composer_ui(ui, &mut self.state.spec, &classes);
            });
        egui::CollapsingHeader::new("Loss weighting")
            .default_open(true)
            .show(ui, |ui| {
                edits |= settings::weighting_ui(ui, &mut self.state.spec);
            });
        egui::CollapsingHeader::new("Optimizer")
            .default_open(true)
            .show(ui, |ui| {
                edits |= settings::optimizer_ui(ui, &mut self.state.spec);
            });
        egui::CollapsingHeader::new("Training")
            .default_open(true)
            .show(ui, |ui| {
                edits.structure |= settings::training_ui(ui, &mut self.state.spec);
            });
        if pick_csv {
            self.pick_csv(ui.ctx());
        }
        // The editors only edit the spec; what of it applies live is decided in one place.
        let _ = edits;
        self.send_live_edits();
    }

    /// The spec of the run shown (or the one being edited before any run).
    fn shown_spec(&self) -> &ExperimentSpec {
        self.history
            .info
            .as_ref()
            .map_or(&self.state.spec, |i| &i.spec)
    }

    /// Repaints about ten times a second while a run trains (for the live snapshots).
    fn repaint_while_training(&self, ui: &egui::Ui) {
        if self.history.phase == Phase::Run(crate::trainer::RunState::Running) {
            ui.ctx().request_repaint_after(Duration::from_millis(100));
        }
    }

    fn network_tab(&mut self, ui: &mut egui::Ui) {
        let weights = self.trainer.as_ref().and_then(TrainerHandle::weights);
        crate::ui::network::network_ui(
            ui,
            self.shown_spec(),
            weights.as_deref().map(Vec::as_slice),
        );
        self.repaint_while_training(ui);
    }

    fn boundaries_tab(&mut self, ui: &mut egui::Ui) {
        self.refresh_summary();
        let snapshot = self.trainer.as_ref().and_then(TrainerHandle::boundary);
        let spec = self.shown_spec().clone();
        // The points are the edited experiment's data: only draw them over the run's
        // boundary when that is still the run's data.
        let same_data =
            self.state.spec.dataset == spec.dataset && self.state.spec.seed == spec.seed;
        crate::ui::boundary::boundary_ui(
            ui,
            &mut self.boundary_view,
            &spec,
            snapshot.as_deref(),
            self.summary.data.as_deref().filter(|_| same_data),
        );
        self.repaint_while_training(ui);
    }

    fn centre_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            match &self.history.info {
                Some(info) => ui.strong(format!(
                    "Run {} · {} · {} train / {} val rows · {} steps per epoch",
                    self.history.run_id,
                    info.spec.name,
                    info.train_rows,
                    info.val_rows,
                    info.steps_per_epoch
                )),
                None => ui.strong("No run yet: press ▶ Train (or Space) to start"),
            };
        });
        if let Some(msg) = &self.history.diverged {
            ui.colored_label(theme::error(), msg);
        }
        if let Phase::Failed(msg) = &self.history.phase {
            ui.colored_label(theme::error(), format!("Training failed: {msg}"));
        }
        let mut save_view = false;
        ui.horizontal(|ui| {
            for (tab, label, hint) in CENTRE_TABS {
                ui.selectable_value(&mut self.state.tab, tab, label)
                    .on_hover_text(hint);
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                save_view = ui
                    .button("Save view as PNG…")
                    .on_hover_text("Saves what this tab shows, as on screen, to a PNG file. F12 saves it at once into the last folder used, named after the tab.")
                    .clicked();
            });
        });
        ui.separator();
        // What a saved view shows: everything under the tab bar.
        self.view_rect = Some(ui.available_rect_before_wrap());
        if save_view {
            self.save_view(ui.ctx());
        }
        match self.state.tab {
            CentreTab::Charts => {
                if plots::toolbar_ui(ui, &mut self.state.view, self.past_runs.len()) {
                    self.past_runs.clear();
                }
                plots::charts_ui(ui, &self.history, &self.past_runs, &self.state.view);
            }
            CentreTab::Metrics => {
                plots::metrics_table_ui(ui, &self.history);
                crate::ui::tradeoff::delta_ui(ui, &mut self.tradeoff, &self.history, &self.waker);
            }
            CentreTab::Affinity => self.affinity_tab(ui),
            CentreTab::Network => self.network_tab(ui),
            CentreTab::Boundaries => self.boundaries_tab(ui),
            CentreTab::Tradeoffs => {
                crate::ui::tradeoff::tradeoff_ui(
                    ui,
                    &mut self.tradeoff,
                    &self.state.spec,
                    &self.waker,
                );
            }
            CentreTab::Landscape => {
                crate::ui::landscape::landscape_ui(ui, &mut self.landscape);
            }
            CentreTab::Dataset => {
                self.refresh_summary();
                let note = match (&self.summary.data, self.summary.rows) {
                    (Some(d), rows) if d.rows < rows => format!(
                        "(showing the first {} of the {rows} generated rows)",
                        d.rows
                    ),
                    _ => String::new(),
                };
                crate::ui::dataview::dataset_view_ui(
                    ui,
                    self.summary.data.as_deref(),
                    self.summary.balance.as_deref(),
                    image_shape(&self.state.spec),
                    &note,
                    &self
                        .state
                        .spec
                        .tasks
                        .iter()
                        .map(|t| t.target.clone())
                        .collect::<Vec<_>>(),
                    &mut self.dataview,
                );
            }
        }
    }
}

impl eframe::App for MtlApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain_events(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.state);
    }
}

/// The inputs' (channels, height, width) when they are images.
fn image_shape(spec: &ExperimentSpec) -> Option<[usize; 3]> {
    use crate::data::shipped::MULTI_DIGITS_SIDE;
    let side = data::builtin::SHAPES_SIDE;
    spec.model.input_shape.or(match &spec.dataset {
        DatasetSpec::Shapes(_) => Some([1, side, side]),
        DatasetSpec::MultiDigits(_) => Some([1, MULTI_DIGITS_SIDE, MULTI_DIGITS_SIDE]),
        DatasetSpec::Idx(_) => Some([1, 28, 28]),
        DatasetSpec::Shipped(sh) => sh.name.image_shape(),
        _ => None,
    })
}

fn group_digits(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn read_header(path: &Path) -> Result<Vec<String>, String> {
    let mut reader =
        csv::Reader::from_path(path).map_err(|e| format!("{e}: {}", path.display()))?;
    let header = reader
        .headers()
        .map_err(|e| format!("{e}: {}", path.display()))?;
    Ok(header.iter().map(|h| h.trim().to_owned()).collect())
}

/// The spec's tasks split as training would split them (None when the tasks do not fit).
fn split_balance(spec: &ExperimentSpec, d: &data::Dataset) -> Option<Vec<data::TaskBalance>> {
    let mut prepared = spec.clone();
    prepared.model.input = d.features();
    data::PreparedData::new(&prepared, d)
        .ok()
        .map(|p| p.balance())
}

/// Label columns, class counts and measured label correlations of the spec's data (`loaded`
/// when it was just read, otherwise loaded here).
fn summarise(spec: &ExperimentSpec, loaded: Option<data::Dataset>) -> DataSummary {
    // Correlations need only a prefix of the rows: the generators draw rows in order.
    let mut preview = spec.clone();
    match &mut preview.dataset {
        DatasetSpec::Mmoe(m) => m.samples = m.samples.min(5000),
        DatasetSpec::Playground(p) => p.samples = p.samples.min(5000),
        DatasetSpec::Shapes(sh) => sh.samples = sh.samples.min(500),
        DatasetSpec::MultiDigits(m) => m.samples = m.samples.min(2000),
        DatasetSpec::Csv(_) | DatasetSpec::Shipped(_) | DatasetSpec::Idx(_) => {}
    }
    let full_rows = match &spec.dataset {
        DatasetSpec::Mmoe(m) => Some(m.samples),
        DatasetSpec::Playground(p) => Some(p.samples),
        DatasetSpec::Shapes(sh) => Some(sh.samples),
        DatasetSpec::MultiDigits(m) => Some(m.samples),
        DatasetSpec::Csv(_) | DatasetSpec::Shipped(_) | DatasetSpec::Idx(_) => None,
    };
    let result = match loaded {
        Some(d) => Ok(d),
        None => data::load(&preview),
    };
    match result {
        Ok(d) => {
            let mut targets: Vec<(String, crate::experiment::TaskKind)> =
                d.targets.iter().map(|t| (t.name.clone(), t.kind)).collect();
            if let DatasetSpec::Csv(c) = &spec.dataset
                && d.encoding.is_some()
                && !read_header(&c.path)
                    .unwrap_or_default()
                    .iter()
                    .any(|h| h.starts_with("task:"))
            {
                // A plain CSV: any column can become a target; offer them all.
                targets = read_header(&c.path)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| {
                        let kind = spec
                            .tasks
                            .iter()
                            .find(|t| t.target == n)
                            .map_or(crate::experiment::TaskKind::Regression, |t| t.kind);
                        (n, kind)
                    })
                    .collect();
            }
            let index = |name: &str| d.targets.iter().position(|t| t.name == name);
            let correlations = spec
                .tasks
                .chunks(2)
                .filter(|pair| pair.len() == 2)
                .filter_map(|pair| {
                    Some((
                        pair[0].target.clone(),
                        pair[1].target.clone(),
                        d.label_correlation(index(&pair[0].target)?, index(&pair[1].target)?),
                    ))
                })
                .collect();
            DataSummary {
                targets,
                classes: d
                    .targets
                    .iter()
                    .map(|t| {
                        let width = match t.kind {
                            crate::experiment::TaskKind::Segmentation => t.width,
                            crate::experiment::TaskKind::SemanticSegmentation => {
                                t.classes.len() * t.width
                            }
                            _ => t.classes.len(),
                        };
                        (t.name.clone(), width)
                    })
                    .collect(),
                correlations,
                rows: full_rows.unwrap_or(d.rows),
                features: d.features(),
                error: None,
                balance: split_balance(spec, &d),
                data: Some(Arc::new(d)),
            }
        }
        Err(e) => {
            let targets = match &spec.dataset {
                DatasetSpec::Csv(c) => read_header(&c.path)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|n| (n, crate::experiment::TaskKind::Regression))
                    .collect(),
                _ => Vec::new(),
            };
            DataSummary {
                targets,
                error: Some(e.to_string()),
                ..DataSummary::default()
            }
        }
    }
}

/// Opens the desktop window (blocks until it is closed), on a spec and/or importing a CSV
/// file.
pub fn run_native(spec: Option<ExperimentSpec>, dataset: Option<PathBuf>) -> eframe::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("MTL Studio")
            .with_app_id("mtl-studio")
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([900.0, 600.0]),
        ..Default::default()
    };
    eframe::run_native(
        "MTL Studio",
        options,
        Box::new(move |cc| {
            let mut state: AppState = cc
                .storage
                .and_then(|s| eframe::get_value(s, eframe::APP_KEY))
                .unwrap_or_default();
            if let Some(spec) = spec {
                state.spec = spec;
            }
            let mut app = MtlApp::new(&cc.egui_ctx, state);
            if let Some(path) = dataset {
                app.open_dataset(&path, &cc.egui_ctx);
            }
            Ok(Box::new(app))
        }),
    )
}
