//! Asking for a path: the desktop's file dialog when it can open, otherwise (no file-chooser
//! portal and no zenity, as on a bare X server or in a container) a window where the path is
//! typed, which says why.

use std::sync::OnceLock;

use super::*;

/// What a chosen path is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FileAction {
    /// Open an experiment file or a spec.
    OpenSpec,
    /// Save the experiment spec alone.
    SaveSpec,
    /// Save the experiment with the window's settings.
    SaveExperiment,
    /// Open a dataset (CSV or IDX).
    OpenDataset,
    /// Load a weights file.
    LoadWeights,
    /// Export the current weights.
    ExportWeights,
    /// Save a checkpoint of the run (to continue it exactly).
    SaveCheckpoint,
    /// Export the current model as an ONNX graph.
    ExportOnnx,
    /// Export the run's metrics.
    ExportMetrics,
    /// Write a run report into a folder.
    ExportReport,
    /// Write one spec per group of tasks into a folder.
    SaveGroups(Vec<Vec<String>>),
    /// Save the centre view as a PNG file.
    SaveView,
    /// Add a lesson file to the lessons panel.
    OpenLesson,
}

/// The kind of dialog an action needs.
enum Kind {
    Open(&'static str, &'static [&'static str]),
    Save(&'static str, &'static [&'static str], String),
    Folder,
}

impl FileAction {
    fn kind(&self, view_name: &str) -> Kind {
        match self {
            Self::OpenSpec => Kind::Open("Experiment or spec", &["toml", "json"]),
            Self::SaveSpec => Kind::Save("Experiment spec", &["toml"], "spec.toml".into()),
            Self::SaveExperiment => Kind::Save("Experiment", &["toml"], "experiment.toml".into()),
            Self::OpenDataset => Kind::Open("Datasets (CSV, IDX)", &["csv", "gz", "ubyte"]),
            Self::LoadWeights => Kind::Open("safetensors", &["safetensors"]),
            Self::OpenLesson => Kind::Open("Lesson", &["toml"]),
            Self::ExportWeights => {
                Kind::Save("safetensors", &["safetensors"], "model.safetensors".into())
            }
            Self::SaveCheckpoint => Kind::Save(
                "safetensors",
                &["safetensors"],
                "checkpoint.safetensors".into(),
            ),
            Self::ExportOnnx => Kind::Save("ONNX", &["onnx"], "model.onnx".into()),
            Self::ExportMetrics => Kind::Save("CSV", &["csv"], "metrics.csv".into()),
            Self::SaveView => Kind::Save("PNG image", &["png"], format!("{view_name}.png")),
            Self::ExportReport | Self::SaveGroups(_) => Kind::Folder,
        }
    }

    /// The typed-path window's title.
    fn title(&self) -> &'static str {
        match self {
            Self::OpenSpec => "Open experiment: type its path",
            Self::SaveSpec => "Save spec as: type a path",
            Self::SaveExperiment => "Save experiment as: type a path",
            Self::OpenDataset => "Open dataset: type its path",
            Self::LoadWeights => "Load weights or a checkpoint: type the file's path",
            Self::SaveCheckpoint => "Save a checkpoint to: type a path",
            Self::ExportWeights => "Export weights to: type a path",
            Self::ExportOnnx => "Export ONNX to: type a path",
            Self::ExportMetrics => "Export metrics to: type a path",
            Self::ExportReport => "Export the run report into: type a folder",
            Self::SaveGroups(_) => "Save the grouped experiments into: type a folder",
            Self::SaveView => "Save the view as: type a PNG path",
            Self::OpenLesson => "Open lesson file: type its path",
        }
    }

    /// The typed-path window's button.
    fn verb(&self) -> &'static str {
        match self {
            Self::OpenSpec | Self::OpenDataset | Self::OpenLesson => "Open",
            Self::LoadWeights => "Load",
            _ => "Save",
        }
    }
}

/// The window where a path is typed, while it is open.
pub struct PathPrompt {
    /// What the path is for.
    pub action: FileAction,
    /// The path typed so far.
    pub text: String,
    /// Why no file dialog opened.
    pub reason: String,
}

/// Why the desktop's file dialog cannot open, if it cannot (checked once per launch).
pub fn dialog_unavailable() -> Option<String> {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    PROBE.get_or_init(probe).clone()
}

fn probe() -> Option<String> {
    if std::env::var_os("MTL_STUDIO_TYPED_PATHS").is_some() {
        return Some("MTL_STUDIO_TYPED_PATHS is set, so paths are typed here.".to_owned());
    }
    if !cfg!(any(
        target_os = "linux",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "netbsd",
        target_os = "dragonfly"
    )) {
        return None;
    }
    // The file dialog asks the desktop portal over the session bus, then falls back to zenity.
    if portal_reachable() || on_path("zenity") {
        return None;
    }
    Some(
        "No file dialog can open on this desktop: it has no file-chooser portal \
         (xdg-desktop-portal on a D-Bus session bus) and no zenity. Type the path instead, \
         or install one of them."
            .to_owned(),
    )
}

/// Whether a session bus is there and the portal service is installed on it.
fn portal_reachable() -> bool {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let bus = env("DBUS_SESSION_BUS_ADDRESS").is_some()
        || env("XDG_RUNTIME_DIR").is_some_and(|d| Path::new(&d).join("bus").exists());
    if !bus {
        return false;
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    match env("XDG_DATA_HOME") {
        Some(d) => dirs.push(PathBuf::from(d)),
        None => {
            if let Some(home) = env("HOME") {
                dirs.push(PathBuf::from(home).join(".local/share"));
            }
        }
    }
    let data_dirs = env("XDG_DATA_DIRS").map_or_else(
        || "/usr/local/share:/usr/share".to_owned(),
        |d| d.to_string_lossy().into_owned(),
    );
    dirs.extend(
        data_dirs
            .split(':')
            .filter(|d| !d.is_empty())
            .map(PathBuf::from),
    );
    dirs.iter().any(|d| {
        d.join("dbus-1/services/org.freedesktop.portal.Desktop.service")
            .is_file()
    })
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

impl MtlApp {
    /// Asks for the path `action` needs (a file dialog, or the typed-path window when none
    /// can open), then does the action.
    pub(super) fn ask_path(&mut self, action: FileAction, ctx: &egui::Context) {
        let kind = action.kind(&self.view_name());
        if let Some(reason) = self.typed_paths.clone().or_else(dialog_unavailable) {
            let dir = self
                .state
                .last_dir
                .clone()
                .or_else(|| std::env::current_dir().ok())
                .unwrap_or_default();
            let text = match &kind {
                Kind::Save(_, _, name) => dir.join(name),
                Kind::Open(..) | Kind::Folder => dir,
            };
            let text = text.display().to_string();
            self.path_prompt = Some(PathPrompt {
                action,
                text,
                reason,
            });
            return;
        }
        let d = self.dialog();
        let picked = match kind {
            Kind::Open(name, exts) => d.add_filter(name, exts).pick_file(),
            Kind::Save(name, exts, file) => {
                d.add_filter(name, exts).set_file_name(file).save_file()
            }
            Kind::Folder => d.pick_folder(),
        };
        if let Some(path) = picked {
            self.path_chosen(action, path, ctx);
        }
    }

    /// Asks for paths in the typed-path window from now on, saying `reason` (where the file
    /// dialog cannot be used, e.g. in a kiosk or a test).
    pub fn type_paths_instead(&mut self, reason: &str) {
        self.typed_paths = Some(reason.to_owned());
    }

    /// Does `action` with the path the user chose.
    fn path_chosen(&mut self, action: FileAction, path: PathBuf, ctx: &egui::Context) {
        self.remember_dir(&path);
        match action {
            FileAction::OpenSpec => self.open_experiment(&path),
            FileAction::SaveSpec => self.save_spec_to(&path),
            FileAction::SaveExperiment => self.save_experiment_to(&path),
            FileAction::OpenDataset => self.open_dataset(&path, ctx),
            FileAction::LoadWeights => self.load_weights(&path),
            FileAction::ExportWeights => self.save_weights_to(path),
            FileAction::SaveCheckpoint => self.save_checkpoint_to(path),
            FileAction::ExportOnnx => self.export_onnx_to(path),
            FileAction::ExportMetrics => self.write_metrics_to(&path),
            FileAction::ExportReport => self.export_report(&path),
            FileAction::SaveGroups(groups) => self.save_groups_into(&path, &groups),
            FileAction::SaveView => self.save_view_to(ctx, path),
            FileAction::OpenLesson => self.lessons.add_file(&path),
        }
    }

    /// The typed-path window, while one is asked for.
    pub(super) fn path_prompt_ui(&mut self, ctx: &egui::Context) {
        let Some(prompt) = &mut self.path_prompt else {
            return;
        };
        let mut open = true;
        let mut submit = false;
        let mut cancel = false;
        egui::Window::new(prompt.action.title())
            .open(&mut open)
            .collapsible(false)
            .default_width(560.0)
            .anchor(egui::Align2::CENTER_TOP, [0.0, 100.0])
            .show(ctx, |ui| {
                ui.add(egui::Label::new(egui::RichText::new(&prompt.reason).weak()).wrap());
                ui.add_space(4.0);
                let edit = ui.add(
                    egui::TextEdit::singleline(&mut prompt.text)
                        .desired_width(f32::INFINITY)
                        .hint_text("/path/to/file"),
                );
                submit = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
                ui.horizontal(|ui| {
                    let ready = !prompt.text.trim().is_empty();
                    submit |= ui
                        .add_enabled(ready, egui::Button::new(prompt.action.verb()))
                        .clicked();
                    cancel = ui.button("Cancel").clicked();
                });
            });
        if submit && !prompt.text.trim().is_empty() {
            let path = PathBuf::from(prompt.text.trim());
            let action = prompt.action.clone();
            self.path_prompt = None;
            self.path_chosen(action, path, ctx);
        } else if cancel || !open {
            self.path_prompt = None;
        }
    }
}
