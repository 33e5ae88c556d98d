//! Running: starting and stopping the trainer, commands to it, its events, live edits.

use super::*;

impl MtlApp {
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
        let run_id = self.next_run_id;
        let options = RunOptions {
            pace: self.state.pace,
            ..options
        };
        match TrainerHandle::spawn(
            run_id,
            self.state.spec.clone(),
            options,
            Arc::clone(&self.waker),
        ) {
            Ok(handle) => self.attach(handle),
            Err(e) => self.status = Some((true, format!("Cannot start the trainer thread: {e}"))),
        }
    }

    /// Shows `handle`'s run from now on, for the spec being edited: the trainer thread
    /// [`Self::start_run`] spawns, or (in tests) a scripted trainer whose events the test
    /// writes. The previous run stops and becomes an earlier run of the charts.
    pub fn attach(&mut self, handle: TrainerHandle) {
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
        let run_id = handle.run_id();
        self.next_run_id = self.next_run_id.max(run_id + 1);
        self.trainer = Some(handle);
        self.live_spec = Some(self.state.spec.clone());
        let old = std::mem::replace(&mut self.history, RunHistory::new(run_id, Phase::Starting));
        if old.evals.len() > 1 {
            self.past_runs.push(old);
            if self.past_runs.len() > MAX_PAST_RUNS {
                self.past_runs.remove(0);
            }
        }
        self.status = None;
    }

    pub(super) fn send(&mut self, command: TrainerCommand) {
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

    /// Sends the edited live settings (task weights, learning rate, penalties) to the
    /// running trainer, as [`live_edit`] decides.
    pub(super) fn send_live_edits(&mut self) {
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
    pub(super) fn needs_restart(&self) -> bool {
        self.history
            .info
            .as_ref()
            .is_some_and(|info| live_edit(&info.spec, &self.state.spec).restart)
    }
}
