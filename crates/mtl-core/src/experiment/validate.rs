//! Validation: every problem of a spec with its place, before anything is built.

use super::*;

/// One problem found by [`ExperimentSpec::validate`]: where it is and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecProblem {
    /// Place in the spec, e.g. `model.shared[2]` or `tasks[1].name`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for SpecProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems while validating.
#[derive(Default)]
pub(crate) struct Problems(pub(crate) Vec<SpecProblem>);

impl Problems {
    pub(crate) fn push(&mut self, path: &str, message: String) {
        self.0.push(SpecProblem {
            path: path.to_owned(),
            message,
        });
    }
}

impl ExperimentSpec {
    /// Every problem of the spec, each with its place. Empty when the spec can be trained.
    pub fn validate(&self) -> Vec<SpecProblem> {
        let mut out = Problems::default();
        if self.version != SPEC_VERSION {
            out.push(
                "version",
                format!(
                    "version {} is not supported (this build reads version {SPEC_VERSION})",
                    self.version
                ),
            );
        }
        // Every later check looks tasks up by name: a spec with a million tasks is refused
        // first, alone.
        if self.tasks.len() > crate::limits::MAX_TASKS {
            out.push(
                "tasks",
                format!(
                    "{} tasks are more than the limit of {}",
                    crate::limits::count(self.tasks.len() as u64),
                    crate::limits::MAX_TASKS
                ),
            );
            return out.0;
        }
        let targets = self.validate_dataset(&mut out);
        self.validate_tasks(targets.as_deref(), &mut out);
        self.validate_model(&mut out);
        self.validate_sharing(&mut out);
        self.optimizer.problems(&mut out);
        self.weighting.problems(&mut out);
        let t = &self.training;
        if t.epochs == 0 {
            out.push("training.epochs", "epochs=0 must be >= 1".to_owned());
        }
        if t.batch_size == 0 {
            out.push(
                "training.batch_size",
                "batch_size=0 must be >= 1".to_owned(),
            );
        }
        if !(0.0..=0.9).contains(&t.validation_fraction) {
            out.push(
                "training.validation_fraction",
                format!("{} must be in [0, 0.9]", t.validation_fraction),
            );
        }
        for (name, share) in &t.keep_labels {
            if !self.tasks.iter().any(|task| task.name == *name) {
                out.push(
                    &format!("training.keep_labels.{name}"),
                    "not a task".to_owned(),
                );
            }
            if !(*share > 0.0 && *share <= 1.0) {
                out.push(
                    &format!("training.keep_labels.{name}"),
                    format!("{share} must be in (0, 1]"),
                );
            }
        }
        let stop = &t.stop;
        if stop.monitor != "mean" && !self.tasks.iter().any(|task| task.name == stop.monitor) {
            out.push(
                "training.stop.monitor",
                format!("'{}' is neither 'mean' nor a task", stop.monitor),
            );
        }
        if !(stop.min_delta.is_finite() && stop.min_delta >= 0.0) {
            out.push(
                "training.stop.min_delta",
                format!("{} must be >= 0", stop.min_delta),
            );
        }
        if stop.target_loss.is_some_and(|l| !l.is_finite()) {
            out.push("training.stop.target_loss", "must be a number".to_owned());
        }
        out.0
    }

    /// Checks the dataset settings; returns the source's targets when they are known.
    fn validate_dataset(&self, out: &mut Problems) -> Option<Vec<(String, TaskKind)>> {
        let source = self.dataset.source();
        for (field, message) in source.problems() {
            out.push(&format!("dataset.{field}"), message);
        }
        if let Some(rows) = source.rows() {
            let features = source.input_size().unwrap_or(self.model.input);
            if let Err(e) = crate::limits::check_data(rows as u64, features as u64) {
                out.push("dataset.samples", e);
            }
        }
        source.targets()
    }

    fn validate_tasks(&self, targets: Option<&[(String, TaskKind)]>, out: &mut Problems) {
        if self.tasks.is_empty() {
            out.push("tasks", "there must be at least one task".to_owned());
        }
        let mut seen = HashSet::new();
        for (i, task) in self.tasks.iter().enumerate() {
            let at = format!("tasks[{i}]");
            if task.name.is_empty()
                || !task
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                out.push(
                    &format!("{at}.name"),
                    format!(
                        "'{}' must be non-empty and use only letters, digits, '_' and '-'",
                        task.name
                    ),
                );
            }
            if !seen.insert(task.name.as_str()) {
                out.push(
                    &format!("{at}.name"),
                    format!("'{}' is used by an earlier task", task.name),
                );
            }
            if !task.kind.allowed_losses().contains(&task.loss()) {
                out.push(
                    &format!("{at}.loss"),
                    format!(
                        "{} does not fit a {} task (use {})",
                        task.loss(),
                        task.kind,
                        task.kind.default_loss()
                    ),
                );
            }
            if !(task.weight.is_finite() && task.weight >= 0.0) {
                out.push(
                    &format!("{at}.weight"),
                    format!("{} must be a number >= 0", task.weight),
                );
            }
            if let Some(targets) = targets {
                match targets.iter().find(|(name, _)| *name == task.target) {
                    None => out.push(
                        &format!("{at}.target"),
                        format!(
                            "'{}' is not a label of this dataset (it has: {})",
                            task.target,
                            targets
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    Some((_, kind)) if *kind != task.kind => out.push(
                        &format!("{at}.kind"),
                        format!("label '{}' is {kind}, not {}", task.target, task.kind),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    fn validate_model(&self, out: &mut Problems) {
        let m = &self.model;
        let data_dim = self.dataset.source().input_size();
        if m.input == 0 && data_dim.is_some() {
            out.push(
                "model.input",
                "input=0 must be >= 1 (0, meaning \"from the file\", is for CSV and shipped data)"
                    .to_owned(),
            );
        }
        if let Some(dim) = data_dim
            && dim != m.input
        {
            out.push(
                "model.input",
                format!("input={} but the dataset has {dim} features", m.input),
            );
        }
        for (i, layer) in m.shared.iter().enumerate() {
            if let Some(msg) = layer.problem() {
                out.push(&format!("model.shared[{i}]"), msg);
            }
        }
        let mut seen = HashSet::new();
        for (h, head) in m.heads.iter().enumerate() {
            if !self.tasks.iter().any(|t| t.name == head.task) {
                out.push(
                    &format!("model.heads[{h}].task"),
                    format!("'{}' is not one of the tasks", head.task),
                );
            }
            if !seen.insert(head.task.as_str()) {
                out.push(
                    &format!("model.heads[{h}].task"),
                    format!("task '{}' already has a head", head.task),
                );
            }
            for (i, layer) in head.layers.iter().enumerate() {
                if let Some(msg) = layer.problem() {
                    out.push(&format!("model.heads[{h}].layers[{i}]"), msg);
                }
            }
        }
        for task in &self.tasks {
            if !m.heads.iter().any(|h| h.task == task.name) {
                out.push("model.heads", format!("task '{}' has no head", task.name));
            }
        }
    }
}
