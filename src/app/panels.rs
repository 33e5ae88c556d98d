//! The panels around the centre: menu, controls, status bar, settings, the lessons panel,
//! and the centre's tab bar with its tabs.

use super::dialogs::FileAction;
use super::tabs;
use super::*;

impl MtlApp {
    /// The lessons, docked beside the centre view.
    pub(super) fn lessons_panel(&mut self, ui: &mut egui::Ui) {
        let mut action = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            action = crate::ui::lessons::lessons_ui(
                ui,
                &mut self.lessons,
                &self.state.presentation.hidden,
            );
        });
        match action {
            Some(crate::ui::lessons::LessonAction::Load(i)) => self.load_lesson(i),
            Some(crate::ui::lessons::LessonAction::OpenFile) => {
                self.ask_path(FileAction::OpenLesson, ui.ctx());
            }
            Some(crate::ui::lessons::LessonAction::ShowHidden) => {
                let shown = std::mem::take(&mut self.lessons.hidden_by_lesson);
                self.state
                    .presentation
                    .hidden
                    .retain(|k| !shown.contains(k));
            }
            Some(crate::ui::lessons::LessonAction::Close) => self.lessons.open = false,
            None => {}
        }
    }

    /// Loads lesson `i` of the list: its experiment, tab, pace, hidden controls and scale.
    /// What the previous lesson hid is shown again; what the user hid stays hidden.
    pub fn load_lesson(&mut self, i: usize) {
        let outside = match self.lessons.entries.get(i).map(|e| &e.lesson) {
            Some(Ok(lesson)) => lesson.outside.clone(),
            _ => Vec::new(),
        };
        self.offer(super::share::Pending::Lesson(i), outside);
    }

    /// [`Self::load_lesson`] once its files may be read.
    pub(super) fn load_lesson_now(&mut self, i: usize) {
        let lesson = match self.lessons.entries.get(i).map(|e| &e.lesson) {
            Some(Ok(lesson)) => lesson.clone(),
            Some(Err(problems)) => {
                self.status = Some((
                    true,
                    format!("The lesson does not load: {}", problems.join("; ")),
                ));
                return;
            }
            None => return,
        };
        self.state.spec = lesson.spec;
        lesson.tab.clone_into(&mut self.state.tab);
        if self.state.pace != lesson.pace {
            self.state.pace = lesson.pace;
            self.send(TrainerCommand::SetPace(lesson.pace));
        }
        let hidden = &mut self.state.presentation.hidden;
        let before = std::mem::take(&mut self.lessons.hidden_by_lesson);
        hidden.retain(|k| !before.contains(k));
        self.lessons.hidden_by_lesson = lesson.hidden.difference(hidden).cloned().collect();
        hidden.extend(lesson.hidden);
        if let Some(scale) = lesson.scale {
            self.state.presentation.scale = scale;
        }
        self.landscape = crate::ui::landscape::LandscapeState::default();
        self.status = Some((false, format!("Lesson loaded: {}", lesson.title)));
    }

    pub(super) fn menu_ui(&mut self, ui: &mut egui::Ui) {
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
                self.experiment_menu_items(ui);
                if ui
                    .button("Load weights…")
                    .on_hover_text(
                        "A model.safetensors starts a paused run from its weights; a \
                         checkpoint.safetensors continues its run where it was (Resume)",
                    )
                    .clicked()
                {
                    ui.close();
                    self.ask_path(FileAction::LoadWeights, ui.ctx());
                }
                if ui.button("Export weights…").clicked() {
                    ui.close();
                    self.export_weights(ui.ctx());
                }
                if ui
                    .button("Save checkpoint…")
                    .on_hover_text(
                        "Everything the run needs to go on exactly (weights, optimizer and \
                         strategy state, position, metrics): Load weights… or `train --resume` \
                         continue it",
                    )
                    .clicked()
                {
                    ui.close();
                    if self.trainer.is_none() {
                        self.status = Some((true, "No run to save yet: train first.".to_owned()));
                    } else {
                        self.ask_path(FileAction::SaveCheckpoint, ui.ctx());
                    }
                }
                if ui
                    .button("Export ONNX…")
                    .on_hover_text("The model as an ONNX graph (opset 17): input 'features' before standardisation, one output per task with what predict computes")
                    .clicked()
                {
                    ui.close();
                    self.export_onnx(ui.ctx());
                }
                if ui.button("Export metrics…").clicked() {
                    ui.close();
                    self.export_metrics(ui.ctx());
                }
                if ui
                    .button("Export run report…")
                    .on_hover_text("A folder with report.md, the loss chart (PNG and SVG), metrics.csv, spec.toml, and the trade-off sweep and single-task comparison when there are")
                    .clicked()
                {
                    ui.close();
                    self.ask_path(FileAction::ExportReport, ui.ctx());
                }
                ui.separator();
                if ui.button("Reset to the default experiment").clicked() {
                    ui.close();
                    self.state.spec = ExperimentSpec::default();
                }
            });
            // The View menu stays open while its boxes are ticked.
            egui::containers::menu::MenuButton::new("View")
                .config(
                    egui::containers::menu::MenuConfig::new()
                        .close_behavior(egui::PopupCloseBehavior::CloseOnClickOutside),
                )
                .ui(ui, |ui| self.view_menu_ui(ui));
            ui.menu_button("Help", |ui| {
                if ui
                    .button("Lessons…")
                    .on_hover_text("A guided tour: short lessons, each with a ready experiment; yours too, from a folder or a file")
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

    pub(super) fn controls_ui(&mut self, ui: &mut egui::Ui) {
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
            if self.state.presentation.shows("step") {
                self.step_stop_ui(ui);
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
            if self.state.presentation.shows("pace") {
                ui.separator();
                self.pace_ui(ui);
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

    /// Step (one batch while paused), Explain step, and Stop.
    fn step_stop_ui(&mut self, ui: &mut egui::Ui) {
        let paused = matches!(self.history.phase, Phase::Run(RunState::Paused));
        if ui
            .add_enabled(paused, egui::Button::new("⏭ Step"))
            .on_hover_text("Train one batch, then pause (explained while the explanation is open)")
            .clicked()
        {
            // While the explanation is open, each step explains itself.
            self.send(if self.explain_open {
                TrainerCommand::ExplainStep
            } else {
                TrainerCommand::Step(1)
            });
        }
        if ui
            .add_enabled(paused, egui::Button::new("🔍 Explain step"))
            .on_hover_text("Train one batch and show what the strategy saw and did: each task's gradient, the Gramian, the weights, the update, and each task's predicted against actual loss change")
            .clicked()
        {
            self.explain_open = true;
            self.send(TrainerCommand::ExplainStep);
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
    }

    /// The training pace: a slider from a few steps a second to thousands, and full speed.
    /// Applied live to a running trainer.
    pub(super) fn pace_ui(&mut self, ui: &mut egui::Ui) {
        use crate::trainer::Pace;
        let before = self.state.pace;
        let mut full = before == Pace::Full;
        let mut rate = match before {
            Pace::StepsPerSec(r) => r,
            Pace::Full => 60.0,
        };
        ui.label("Pace");
        let slider = ui
            .add_enabled(
                !full,
                egui::Slider::new(&mut rate, Pace::SLOWEST..=Pace::FASTEST)
                    .logarithmic(true)
                    .max_decimals(0)
                    .suffix(" steps/s"),
            )
            .on_hover_text("Optimizer steps per second: slow enough to narrate what the charts, boundaries and network show");
        let toggle = ui
            .toggle_value(&mut full, "⏩ Full speed")
            .on_hover_text("Train as fast as this machine can");
        if slider.changed() || toggle.changed() {
            self.state.pace = if full {
                Pace::Full
            } else {
                Pace::StepsPerSec(rate)
            };
        }
        if self.state.pace != before {
            self.send(TrainerCommand::SetPace(self.state.pace));
        }
    }

    pub(super) fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            self.presentation_status_ui(ui);
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

    pub(super) fn settings_ui(&mut self, ui: &mut egui::Ui) {
        self.refresh_summary();
        let mut pick_csv = false;
        let shows = self.state.presentation.shows("dataset");
        section(ui, shows, "Dataset", |ui| {
            settings::dataset_ui(ui, &mut self.state.spec, &self.summary, &mut pick_csv);
        });
        self.refresh_summary();
        // Sources whose input size comes from their file take it from the loaded data (never
        // from the previous data's summary while the new one is still being read).
        if self.state.spec.dataset.source().input_size().is_none()
            && self.summary.error.is_none()
            && !self.summary.loading
        {
            self.state.spec.model.input = self.summary.features;
        }
        let shows = self.state.presentation.shows("tasks");
        section(ui, shows, "Tasks", |ui| {
            settings::tasks_ui(ui, &mut self.state.spec, &self.summary);
        });
        let shows = self.state.presentation.shows("model");
        section(ui, shows, "Model", |ui| {
            let summary = &self.summary;
            let classes = |target: &str| {
                summary
                    .classes
                    .iter()
                    .find(|(n, _)| n == target)
                    .map_or(2, |(_, c)| *c)
            };
            composer::composer_ui(ui, &mut self.state.spec, &classes);
        });
        let shows = self.state.presentation.shows("weighting");
        section(ui, shows, "Loss weighting", |ui| {
            settings::weighting_ui(ui, &mut self.state.spec);
        });
        let shows = self.state.presentation.shows("optimizer");
        section(ui, shows, "Optimizer", |ui| {
            settings::optimizer_ui(ui, &mut self.state.spec);
        });
        let shows = self.state.presentation.shows("training");
        section(ui, shows, "Training", |ui| {
            settings::training_ui(ui, &mut self.state.spec);
        });
        if pick_csv {
            self.pick_csv(ui.ctx());
        }
        // The editors only edit the spec; what of it applies live is decided in one place.
        self.send_live_edits();
    }

    pub(super) fn centre_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal_wrapped(|ui| {
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
        // The button first, at the right; the tabs get the width that is left, and scroll
        // sideways when they do not fit (a narrow window or a large UI scale).
        ui.horizontal(|ui| {
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                save_view = ui
                    .button("Save view as PNG…")
                    .on_hover_text("Saves what this tab shows, as on screen, to a PNG file. F12 saves it at once into the last folder used, named after the tab.")
                    .clicked();
                // Every tab in a menu too, for when the bar is too narrow to show them all.
                let presentation = &self.state.presentation;
                let shown: Vec<&dyn tabs::Tab> = tabs::TABS
                    .iter()
                    .copied()
                    .filter(|t| presentation.shows_tab(t.key()))
                    .collect();
                ui.menu_button("☰", |ui| {
                    for tab in &shown {
                        if ui
                            .selectable_label(self.state.tab == tab.key(), tab.label())
                            .clicked()
                        {
                            tab.key().clone_into(&mut self.state.tab);
                            ui.close();
                        }
                    }
                })
                .response
                .on_hover_text("All tabs");
                ui.with_layout(egui::Layout::left_to_right(egui::Align::Center), |ui| {
                    // A solid bar below the tabs, not a floating one over them that would
                    // catch the clicks meant for a tab.
                    ui.spacing_mut().scroll = egui::style::ScrollStyle::solid();
                    egui::ScrollArea::horizontal()
                        .id_salt("centre-tabs")
                        .auto_shrink([false, true])
                        .show(ui, |ui| {
                            ui.horizontal(|ui| {
                                for tab in &shown {
                                    let selected = self.state.tab == tab.key();
                                    let response = ui
                                        .selectable_label(selected, tab.label())
                                        .on_hover_text(tab.hint());
                                    if response.clicked() {
                                        tab.key().clone_into(&mut self.state.tab);
                                        response.scroll_to_me(None);
                                    }
                                }
                            });
                        });
                });
            });
        });
        ui.separator();
        // What a saved view shows: everything under the tab bar.
        self.view_rect = Some(ui.available_rect_before_wrap());
        if save_view {
            self.save_view(ui.ctx());
        }
        self.refresh_summary();
        let mut requests = Vec::new();
        let mut ctx = tabs::TabCtx {
            state: &mut self.state,
            history: &self.history,
            past_runs: &mut self.past_runs,
            summary: &self.summary,
            trainer: self.trainer.as_ref(),
            waker: &self.waker,
            tradeoff: &mut self.tradeoff,
            landscape: &mut self.landscape,
            gradients: &mut self.gradients,
            dataview: &mut self.dataview,
            boundary_view: &mut self.boundary_view,
            status: &mut self.status,
            requests: &mut requests,
        };
        tabs::tab(&ctx.state.tab.clone()).ui(ui, &mut ctx);
        for request in requests {
            match request {
                tabs::TabRequest::SaveGroups(groups) => {
                    self.ask_path(FileAction::SaveGroups(groups), ui.ctx());
                }
            }
        }
    }
}

/// A settings section, open at first, unless the lecturer hid it.
fn section(ui: &mut egui::Ui, shows: bool, title: &str, add: impl FnOnce(&mut egui::Ui)) {
    if shows {
        egui::CollapsingHeader::new(title)
            .default_open(true)
            .show(ui, add);
    }
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
