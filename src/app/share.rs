//! Experiments to hand out, in the window: saving and opening experiment files, copying a
//! share code and opening one (see [`crate::handout`]).

use super::*;
use crate::handout::Experiment;

/// What waits for the user's word because it reads files outside its folder.
#[derive(Debug)]
pub(super) enum Pending {
    /// An experiment to apply, and the status line to show then.
    Experiment(Box<Experiment>, String),
    /// Lesson `i` of the lessons panel.
    Lesson(usize),
}

/// [`Pending`] and the files it would read, in full.
#[derive(Debug)]
pub(super) struct PendingRead {
    what: Pending,
    paths: Vec<PathBuf>,
}

/// The Open share code window: the text pasted so far and why the last try failed.
#[derive(Debug, Default)]
pub(super) struct CodeWindow {
    text: String,
    error: Vec<String>,
    /// Whether the text field has had the keyboard focus given once.
    focused: bool,
}

impl MtlApp {
    /// The File menu's entries for experiment files and share codes (and the spec alone),
    /// ending with a separator.
    pub(super) fn experiment_menu_items(&mut self, ui: &mut egui::Ui) {
        if ui
            .button("Open experiment…")
            .on_hover_text("A spec or an experiment file (.toml, or a spec as .json); an experiment file also restores the tab, pace, charts and presentation settings")
            .clicked()
        {
            ui.close();
            self.ask_path(super::dialogs::FileAction::OpenSpec, ui.ctx());
        }
        if ui
            .button("Save experiment…")
            .on_hover_text("The spec and what the window shows (tab, pace, charts, presentation and hidden controls) in one TOML file; mtl-studio train reads its spec")
            .clicked()
        {
            ui.close();
            self.ask_path(super::dialogs::FileAction::SaveExperiment, ui.ctx());
        }
        if ui
            .button("Save spec…")
            .on_hover_text("The spec alone, as TOML")
            .clicked()
        {
            ui.close();
            self.ask_path(super::dialogs::FileAction::SaveSpec, ui.ctx());
        }
        ui.separator();
        if ui
            .button("Copy share code")
            .on_hover_text("Copies one short line of text that carries this experiment and the window's settings: paste it in a chat or on a slide; Open share code… (or mtl-studio gui --code) opens it")
            .clicked()
        {
            ui.close();
            self.copy_share_code(ui.ctx());
        }
        if ui.button("Open share code…").clicked() {
            ui.close();
            self.show_code_window();
        }
        ui.separator();
    }

    /// Shows `experiment`: its spec, and its window's settings when it has them (a pace
    /// applies to the run in progress at once).
    pub fn apply_experiment(&mut self, experiment: &Experiment) {
        let pace = self.state.pace;
        experiment.apply(&mut self.state);
        if self.state.pace != pace {
            self.send(TrainerCommand::SetPace(self.state.pace));
        }
    }

    /// Opens a spec or experiment file; one that does not load is shown in the problem window
    /// and the app keeps its experiment. One that reads data outside its folder waits for the
    /// user's word ([`Self::pending_read`]).
    pub fn open_experiment(&mut self, path: &Path) {
        match crate::handout::Experiment::load_with_outside(path) {
            Ok((experiment, outside)) => {
                let what = if experiment.window.is_some() {
                    "experiment"
                } else {
                    "spec"
                };
                let status = format!("Opened the {what} {}", path.display());
                self.offer(Pending::Experiment(Box::new(experiment), status), outside);
            }
            Err(e) => {
                let (title, lines) = spec_problem(path, &e);
                self.show_problem(&title, lines);
            }
        }
    }

    /// Writes the experiment and the window's settings to `path` (atomically), saying so in
    /// the status bar.
    pub fn save_experiment_to(&mut self, path: &Path) {
        let result = Experiment::of(&self.state).to_toml().and_then(|text| {
            export::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
        });
        self.status = Some(match result {
            Ok(()) => (false, format!("Saved the experiment to {}", path.display())),
            Err(e) => (true, format!("Not saved: {e}")),
        });
    }

    /// Copies the share code of the experiment and the window's settings to the clipboard.
    pub(super) fn copy_share_code(&mut self, ctx: &egui::Context) {
        let experiment = Experiment::of(&self.state);
        // A code must open where it is pasted, and one with problems would not.
        if let Some(first) = experiment.problems().first() {
            self.status = Some((
                true,
                format!("No share code: fix the experiment first ({first})"),
            ));
            return;
        }
        self.status = Some(match experiment.share_code() {
            Ok(code) => {
                let n = code.len();
                ctx.copy_text(code);
                let mut message = format!(
                    "Copied a share code of {n} characters: paste it anywhere; File › Open share code… (or mtl-studio gui --code) opens it"
                );
                if let Some(file) = experiment.local_files().first() {
                    message.push_str(&format!(
                        ". It reads {} on this machine: whoever opens it needs that file there",
                        file.display()
                    ));
                }
                (false, message)
            }
            Err(e) => (true, format!("No share code: {e}")),
        });
    }

    /// Opens a share code: its experiment and window's settings replace the current ones.
    /// A code that does not open, or whose experiment has problems, changes nothing and
    /// returns why, one line each.
    pub fn open_share_code(&mut self, code: &str) -> Result<(), Vec<String>> {
        let experiment = Experiment::from_share_code(code).map_err(|e| vec![e.to_string()])?;
        let problems = experiment.problems();
        if !problems.is_empty() {
            return Err(problems.iter().map(ToString::to_string).collect());
        }
        let status = format!("Opened a share code: {}", experiment.spec.name);
        let outside = experiment.outside_paths();
        self.offer(Pending::Experiment(Box::new(experiment), status), outside);
        Ok(())
    }

    /// Does `what` at once, or, when it reads files outside its folder (`outside`), keeps
    /// it until the user says Read or Cancel in the window that names them.
    pub(super) fn offer(&mut self, what: Pending, outside: Vec<PathBuf>) {
        if outside.is_empty() {
            self.do_pending(what);
        } else {
            self.pending_read = Some(PendingRead {
                what,
                paths: outside,
            });
        }
    }

    fn do_pending(&mut self, what: Pending) {
        match what {
            Pending::Experiment(experiment, status) => {
                self.apply_experiment(&experiment);
                self.status = Some((false, status));
            }
            Pending::Lesson(i) => self.load_lesson_now(i),
        }
    }

    /// The files waiting for the user's word before they are read, if any.
    pub fn pending_read(&self) -> Option<&[PathBuf]> {
        self.pending_read.as_ref().map(|p| p.paths.as_slice())
    }

    /// Answers the window of [`Self::pending_read`]: `read` opens the experiment (its data
    /// are read), otherwise nothing changes.
    pub fn answer_pending_read(&mut self, read: bool) {
        let Some(pending) = self.pending_read.take() else {
            return;
        };
        if read {
            self.do_pending(pending.what);
        } else {
            self.status = Some((
                false,
                "Not opened: the experiment's files outside its folder were not read".to_owned(),
            ));
        }
    }

    /// "This experiment reads /etc/passwd. Read it?", while an answer is awaited.
    pub(super) fn pending_read_window(&mut self, ctx: &egui::Context) {
        let Some(pending) = &self.pending_read else {
            return;
        };
        let mut answer = None;
        egui::Window::new("Read a file outside the experiment's folder?")
            .collapsible(false)
            .resizable(false)
            .default_width(560.0)
            .anchor(egui::Align2::CENTER_TOP, [0.0, 80.0])
            .show(ctx, |ui| {
                let what = match pending.what {
                    Pending::Experiment(..) => "This experiment",
                    Pending::Lesson(_) => "This lesson",
                };
                let files: Vec<String> = pending
                    .paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                let (it, them) = if files.len() == 1 { ("it", "") } else { ("them", "s") };
                ui.label(format!("{what} reads{}:", if them.is_empty() { "" } else { " these files" }));
                for f in &files {
                    ui.monospace(f);
                }
                ui.label(format!(
                    "The path{them} {} outside the folder of the file that names {it} (an absolute path, or '..'). Read {it}?",
                    if files.len() == 1 { "leads" } else { "lead" }
                ));
                ui.horizontal(|ui| {
                    if ui.button("Read").clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Cancel").clicked() {
                        answer = Some(false);
                    }
                });
            });
        if let Some(read) = answer {
            self.answer_pending_read(read);
        }
    }

    /// Opens the Open share code window.
    pub fn show_code_window(&mut self) {
        self.code_window = Some(CodeWindow::default());
    }

    pub(super) fn code_window(&mut self, ctx: &egui::Context) {
        let Some(window) = &mut self.code_window else {
            return;
        };
        let mut open = true;
        let mut submit = false;
        let mut cancel = false;
        egui::Window::new("Open share code")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .default_width(460.0)
            .anchor(egui::Align2::CENTER_TOP, [0.0, 80.0])
            .show(ctx, |ui| {
                ui.label("Paste a share code (it starts with mtl1.); line breaks and spaces in it do not matter. Its experiment and window settings replace the current ones.");
                ui.add_space(4.0);
                // A long code scrolls inside the field instead of growing the window.
                let edit = egui::ScrollArea::vertical()
                    .max_height(220.0)
                    .show(ui, |ui| {
                        ui.add(
                            egui::TextEdit::multiline(&mut window.text)
                                .hint_text("mtl1.…")
                                .desired_rows(4)
                                .desired_width(f32::INFINITY)
                                .font(egui::TextStyle::Monospace),
                        )
                    })
                    .inner;
                // Ctrl+Enter opens, Escape cancels (Enter alone is a line break in the field).
                submit = ui.input(|i| i.modifiers.command && i.key_pressed(egui::Key::Enter));
                cancel = ui.input(|i| i.key_pressed(egui::Key::Escape));
                if !window.focused {
                    window.focused = true;
                    edit.request_focus();
                }
                if edit.changed() {
                    window.error.clear();
                }
                for line in &window.error {
                    ui.colored_label(theme::error(), line);
                }
                ui.add_space(4.0);
                ui.horizontal(|ui| {
                    submit |= ui
                        .add_enabled(!window.text.trim().is_empty(), egui::Button::new("Open"))
                        .on_hover_text("Ctrl+Enter")
                        .clicked();
                    cancel |= ui.button("Cancel").on_hover_text("Escape").clicked();
                });
            });
        if !open || cancel {
            self.code_window = None;
        } else if submit {
            let text = window.text.clone();
            match self.open_share_code(&text) {
                Ok(()) => self.code_window = None,
                Err(lines) => {
                    if let Some(window) = &mut self.code_window {
                        window.error = lines;
                    }
                }
            }
        }
    }
}
