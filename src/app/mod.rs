//! The desktop app: owns the persisted settings, the trainer handle and the run history,
//! drains trainer events each frame and lays out the panels.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::data;
use crate::experiment::{DatasetSpec, ExperimentSpec};
use crate::export;
use crate::trainer::{
    RunOptions, RunState, TrainerCommand, TrainerHandle, Waker, apply_live, live_edit,
};
use crate::ui::history::{Phase, RunHistory};
use crate::ui::settings::{self, DataSummary};
use crate::ui::{composer, theme};

pub mod dialogs;
mod files;
mod panels;
pub mod presentation;
mod run;
mod share;
pub mod state;
mod summary;
pub mod tabs;
mod view_menu;

pub use state::AppState;

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
    /// The summary being made in the background (data read from a file).
    summary_job: Option<summary::SummaryJob>,
    about_open: bool,
    dataview: crate::ui::dataview::DataViewState,
    import: Option<crate::ui::import::Import>,
    /// The toy landscape's paths and settings.
    pub landscape: crate::ui::landscape::LandscapeState,
    /// The Gradients tab's playground.
    pub gradients: crate::ui::gradients::GradientPlayground,
    /// The trade-off explorer's sweeps and baselines.
    pub tradeoff: crate::ui::tradeoff::TradeoffState,
    boundary_view: crate::ui::boundary::BoundaryView,
    /// The Lessons panel.
    pub lessons: crate::ui::lessons::LessonsState,
    /// The centre view's area in the last frame (for "Save view as PNG").
    view_rect: Option<egui::Rect>,
    /// A message from a view being saved on the screenshot thread.
    saved_view: Arc<std::sync::Mutex<Option<(bool, String)>>>,
    /// The spec the trainer runs, with the live edits sent to it so far.
    live_spec: Option<ExperimentSpec>,
    /// A problem to show in its own window until dismissed: (title, lines, whether it is a
    /// file that did not open, so the window says how to open it again).
    problem: Option<(String, Vec<String>, bool)>,
    /// The typed-path window, when no file dialog can open.
    pub path_prompt: Option<dialogs::PathPrompt>,
    /// Why paths are typed instead of picked, when the app was told to (see
    /// [`MtlApp::type_paths_instead`]).
    typed_paths: Option<String>,
    /// Whether the "What this step did" window is open.
    pub explain_open: bool,
    /// Whether the high-contrast theme is applied (None before the first frame).
    applied_contrast: Option<bool>,
    /// The Open share code window, while open.
    code_window: Option<share::CodeWindow>,
    /// An experiment or lesson that reads files outside its folder, until the user answers.
    pending_read: Option<share::PendingRead>,
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
            summary_job: None,
            about_open: false,
            dataview: crate::ui::dataview::DataViewState::default(),
            import: None,
            landscape: crate::ui::landscape::LandscapeState::default(),
            gradients: crate::ui::gradients::GradientPlayground::default(),
            tradeoff: crate::ui::tradeoff::TradeoffState::default(),
            boundary_view: crate::ui::boundary::BoundaryView::default(),
            lessons: crate::ui::lessons::LessonsState::default(),
            view_rect: None,
            saved_view: Arc::default(),
            live_spec: None,
            problem: None,
            applied_contrast: None,
            path_prompt: None,
            typed_paths: None,
            code_window: None,
            pending_read: None,
            explain_open: false,
        };
        app.refresh_summary();
        app
    }

    /// The whole window.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.apply_presentation(&ctx);
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
        if tabs::tab(&self.state.tab).shows_experiment()
            && self.state.presentation.shows("settings")
        {
            egui::Panel::left("settings")
                .resizable(true)
                .default_size(430.0)
                .min_size(340.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.settings_ui(ui));
                });
        }
        if self.lessons.open {
            // Beside the view, leaving it most of a small screen (1024 px wide and up).
            let width = (ctx.content_rect().width() * 0.26).clamp(260.0, 380.0);
            egui::Panel::right("lessons")
                .resizable(true)
                .default_size(width)
                .min_size(240.0)
                .show(ui, |ui| self.lessons_panel(ui));
        }
        egui::CentralPanel::default().show(ui, |ui| self.centre_ui(ui));
        self.import_ui(&ctx);
        self.problem_window(&ctx);
        self.pending_read_window(&ctx);
        self.path_prompt_ui(&ctx);
        self.explain_window(&ctx);
        self.code_window(&ctx);
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
}

/// The window's title and lines for a spec file that did not load: every problem of an
/// invalid spec on its own line, or the reading or parsing error (with its line and column).
pub fn spec_problem(path: &Path, error: &crate::experiment::SpecError) -> (String, Vec<String>) {
    let title = format!("Cannot open {}", path.display());
    let lines = match error {
        crate::experiment::SpecError::Invalid(problems) => {
            problems.iter().map(ToString::to_string).collect()
        }
        other => vec![other.to_string()],
    };
    (title, lines)
}

impl MtlApp {
    /// Shows a problem in its own window (e.g. a spec given on the command line that does not
    /// load): the app goes on with the experiment it has.
    pub fn show_problem(&mut self, title: &str, lines: Vec<String>) {
        self.problem = Some((title.to_owned(), lines, true));
    }

    /// Shows something the user must know at start in the same window, without the advice
    /// about opening a file again (e.g. settings that could not be read).
    pub fn show_notice(&mut self, title: &str, lines: Vec<String>) {
        self.problem = Some((title.to_owned(), lines, false));
    }

    fn problem_window(&mut self, ctx: &egui::Context) {
        let Some((title, lines, file)) = &self.problem else {
            return;
        };
        let mut open = true;
        let mut dismissed = false;
        egui::Window::new(title.as_str())
            .open(&mut open)
            .collapsible(false)
            .default_width(520.0)
            .anchor(egui::Align2::CENTER_TOP, [0.0, 80.0])
            .show(ctx, |ui| {
                for line in lines {
                    ui.colored_label(theme::error(), line);
                }
                ui.add_space(6.0);
                if *file {
                    ui.label("The window keeps the experiment it had; open the fixed file or code again from the File menu.");
                }
                dismissed = ui.button("OK").clicked();
            });
        if !open || dismissed {
            self.problem = None;
        }
    }
}

impl MtlApp {
    /// "What this step did", while open: the last explained step of the current run.
    fn explain_window(&mut self, ctx: &egui::Context) {
        if !self.explain_open {
            return;
        }
        let mut open = true;
        let names = self.history.task_names();
        egui::Window::new("What this step did")
            .open(&mut open)
            .default_width(620.0)
            .default_pos([480.0, 140.0])
            .show(ctx, |ui| match &self.history.explanation {
                Some(e) => crate::ui::explain::explanation_ui(ui, e, &names),
                None => {
                    ui.label("Training the step…");
                }
            });
        self.explain_open = open;
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
        // The settings go to their own file, replaced whole; eframe's file (rewritten in
        // place) keeps only the window's own memory.
        match state::settings_path(APP_ID) {
            Some(path) => match state::save_settings(&path, &self.state) {
                Ok(()) => storage.remove_string(eframe::APP_KEY),
                Err(e) => {
                    log::warn!("cannot save the settings: {e}");
                    eframe::set_value(storage, eframe::APP_KEY, &self.state);
                }
            },
            None => eframe::set_value(storage, eframe::APP_KEY, &self.state),
        }
    }
}

/// The app's id: its data folder's name (eframe's storage and [`state::SETTINGS_FILE`]).
pub const APP_ID: &str = "mtl-studio";

/// The settings saved last time, and whether some were there but did not read (then the
/// defaults start and the window says so): the settings file, or (saved by an older
/// version) eframe's storage.
fn saved_state(storage: Option<&dyn eframe::Storage>) -> (Option<AppState>, bool) {
    if let Some(path) = state::settings_path(APP_ID) {
        match state::load_settings(&path) {
            state::Saved::Read(state) => return (Some(*state), false),
            state::Saved::Damaged(why) => {
                log::warn!("saved settings not read: {why}");
                return (None, true);
            }
            state::Saved::Absent => {}
        }
    }
    let saved: Option<AppState> = storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY));
    let damaged =
        saved.is_none() && storage.is_some_and(|s| s.get_string(eframe::APP_KEY).is_some());
    (saved, damaged)
}

/// Opens the desktop window (blocks until it is closed), on an experiment (a spec, with the
/// window's settings when it has them; the files it reads outside its folder, which the
/// window asks about before reading them) and/or importing a CSV file; `problem` (a spec or code
/// that did not load: its title and lines) is shown in a window over the last session's
/// experiment.
pub fn run_native(
    experiment: Option<(crate::handout::Experiment, Vec<PathBuf>)>,
    dataset: Option<PathBuf>,
    problem: Option<(String, Vec<String>)>,
) -> eframe::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("MTL Studio")
            .with_app_id(APP_ID)
            .with_inner_size([1400.0, 900.0])
            .with_min_inner_size([900.0, 600.0]),
        ..Default::default()
    };
    eframe::run_native(
        "MTL Studio",
        options,
        Box::new(move |cc| {
            let (saved, damaged) = saved_state(cc.storage);
            let state = saved.unwrap_or_default();
            let mut app = MtlApp::new(&cc.egui_ctx, state);
            if let Some((experiment, outside)) = experiment {
                // Data outside the experiment's folder are read once the user says so.
                let status = format!("Opened {}", experiment.spec.name);
                app.offer(
                    share::Pending::Experiment(Box::new(experiment), status),
                    outside,
                );
            }
            if let Some(path) = dataset {
                app.open_dataset(&path, &cc.egui_ctx);
            }
            if let Some((title, lines)) = problem {
                app.show_problem(&title, lines);
            } else if damaged {
                app.show_notice(
                    "Saved settings not read",
                    vec![
                        "The settings saved last time could not be read (the file is damaged or from another version).".to_owned(),
                        "MTL Studio started with the default settings; they are saved again on exit.".to_owned(),
                    ],
                );
            }
            Ok(Box::new(app))
        }),
    )
}
