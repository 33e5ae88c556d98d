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

    /// Checks the dataset settings; returns the built-in targets when they are known.
    fn validate_dataset(&self, out: &mut Problems) -> Option<Vec<(String, TaskKind)>> {
        match &self.dataset {
            DatasetSpec::Mmoe(m) => {
                if m.samples < 10 {
                    out.push("dataset.samples", format!("{} must be >= 10", m.samples));
                }
                if m.dim == 0 || m.dim > MAX_LAYER_WIDTH {
                    out.push(
                        "dataset.dim",
                        format!("{} must be in 1..={MAX_LAYER_WIDTH}", m.dim),
                    );
                }
                if m.tasks == 0 || m.tasks > m.dim.max(1) {
                    out.push(
                        "dataset.tasks",
                        format!("{} must be in 1..=dim ({})", m.tasks, m.dim),
                    );
                }
                if !(-1.0..=1.0).contains(&m.correlation) {
                    out.push(
                        "dataset.correlation",
                        format!("p={} must be in [-1, 1]", m.correlation),
                    );
                }
                if !(-1.0..=1.0).contains(&m.pair_correlation) {
                    out.push(
                        "dataset.pair_correlation",
                        format!("{} must be in [-1, 1]", m.pair_correlation),
                    );
                }
                if !(m.scale.is_finite() && m.scale > 0.0) {
                    out.push("dataset.scale", format!("c={} must be > 0", m.scale));
                }
                if !(m.noise_std.is_finite() && m.noise_std >= 0.0) {
                    out.push("dataset.noise_std", format!("{} must be >= 0", m.noise_std));
                }
                Some(builtin::mmoe_targets(m))
            }
            DatasetSpec::Playground(p) => {
                if p.samples < 10 {
                    out.push("dataset.samples", format!("{} must be >= 10", p.samples));
                }
                if !(0.0..=0.5).contains(&p.noise) {
                    out.push("dataset.noise", format!("{} must be in [0, 0.5]", p.noise));
                }
                if !p.xor_angle_deg.is_finite() {
                    out.push("dataset.xor_angle_deg", "must be a number".to_owned());
                }
                Some(builtin::playground_targets())
            }
            DatasetSpec::Shapes(sh) => {
                if sh.samples < 10 || sh.samples > 200_000 {
                    out.push(
                        "dataset.samples",
                        format!("{} must be in 10..=200000", sh.samples),
                    );
                }
                if !(0.0..=1.0).contains(&sh.noise) {
                    out.push("dataset.noise", format!("{} must be in [0, 1]", sh.noise));
                }
                if sh.max_shapes == 0 || sh.max_shapes > 3 {
                    out.push(
                        "dataset.max_shapes",
                        format!("{} must be in 1..=3", sh.max_shapes),
                    );
                }
                Some(builtin::shapes_targets(sh))
            }
            DatasetSpec::Csv(c) => {
                if c.path.as_os_str().is_empty() {
                    out.push("dataset.path", "no file given".to_owned());
                }
                None
            }
            DatasetSpec::Shipped(sh) => Some(sh.name.targets()),
            DatasetSpec::Idx(i) => {
                if i.images.as_os_str().is_empty() {
                    out.push("dataset.images", "no file given".to_owned());
                }
                Some(crate::data::idx::targets(i))
            }
            DatasetSpec::MultiDigits(m) => {
                if m.samples < 10 || m.samples > 200_000 {
                    out.push(
                        "dataset.samples",
                        format!("{} must be in 10..=200000", m.samples),
                    );
                }
                if m.offset > 3 {
                    out.push("dataset.offset", format!("{} must be in 0..=3", m.offset));
                }
                Some(crate::data::shipped::multi_digits_targets())
            }
        }
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
        if m.input == 0
            && !matches!(
                self.dataset,
                DatasetSpec::Csv(_) | DatasetSpec::Shipped(_) | DatasetSpec::Idx(_)
            )
        {
            out.push(
                "model.input",
                "input=0 must be >= 1 (0, meaning \"from the file\", is for CSV and shipped data)"
                    .to_owned(),
            );
        }
        let data_dim = match &self.dataset {
            DatasetSpec::Mmoe(d) => Some(d.dim),
            DatasetSpec::Playground(_) => Some(builtin::PLAYGROUND_DIM),
            DatasetSpec::Shapes(_) => Some(builtin::SHAPES_SIDE * builtin::SHAPES_SIDE),
            DatasetSpec::MultiDigits(_) => Some(
                crate::data::shipped::MULTI_DIGITS_SIDE * crate::data::shipped::MULTI_DIGITS_SIDE,
            ),
            DatasetSpec::Csv(_) | DatasetSpec::Shipped(_) | DatasetSpec::Idx(_) => None,
        };
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
