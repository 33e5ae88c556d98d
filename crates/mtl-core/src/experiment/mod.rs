//! The experiment specification: everything a run needs, as plain data.
//!
//! An [`ExperimentSpec`] is what the GUI edits, what `mtl-studio train` reads from a TOML
//! file, and what an export writes as JSON next to the weights. It is versioned
//! ([`SPEC_VERSION`]) and [`ExperimentSpec::validate`] reports every problem with the place it
//! sits at (for example `model.shared[2]: Linear out=0 must be >= 1`) before any training.

use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod arch;
mod change;
mod dataset;
mod model;
mod optimizer;
mod presets;
mod training;
mod validate;
mod weighting;

pub use arch::{
    Architecture, Coupling, LinkSpec, MAX_EXPERTS, Plan, RelationshipSpec, Take, block_ends,
};
pub use change::describe_change;
pub use dataset::*;
pub use model::*;
pub use optimizer::*;
pub use training::*;
use validate::Problems;
pub use validate::SpecProblem;
pub use weighting::*;

pub use crate::task::{LossKind, TaskKind, TaskSpec, task_name_from};

/// The current version of the spec file format.
pub const SPEC_VERSION: u32 = 1;

/// The top-level table of an experiment file that holds what the app's window showed (tab,
/// pace, chart and presentation settings); [`ExperimentSpec::from_toml`] skips it.
pub const WINDOW_TABLE: &str = "window";

pub use crate::data::source::MAX_LAYER_WIDTH;

/// Most channels a convolution may have.
pub const MAX_CHANNELS: usize = 512;

/// A whole experiment: data, tasks, model, weighting, optimizer and training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentSpec {
    /// File format version; must be [`SPEC_VERSION`].
    pub version: u32,
    /// A short human name for the experiment.
    #[serde(default)]
    pub name: String,
    /// The seed that fixes data, initial weights, batch order and dropout masks.
    pub seed: u64,
    /// Where the data come from.
    pub dataset: DatasetSpec,
    /// The tasks, in order; the order fixes colours, output columns and tensor names.
    pub tasks: Vec<TaskSpec>,
    /// The network: shared trunk and one head per task.
    pub model: ModelSpec,
    /// How the task losses are combined.
    #[serde(default)]
    pub weighting: WeightingSpec,
    /// The optimizer and its learning rate.
    pub optimizer: OptimizerSpec,
    /// Epochs, batch size and the validation split.
    pub training: TrainingSpec,
}

impl Default for ExperimentSpec {
    fn default() -> Self {
        let hidden = |out| vec![LayerSpec::Linear { out }, LayerSpec::Relu];
        let tasks: Vec<TaskSpec> = ["y1", "y2"]
            .iter()
            .map(|name| TaskSpec {
                name: (*name).to_owned(),
                kind: TaskKind::Regression,
                target: (*name).to_owned(),
                loss: None,
                weight: 1.0,
            })
            .collect();
        let mut shared = hidden(64);
        shared.extend(hidden(64));
        Self {
            version: SPEC_VERSION,
            name: "MMoE synthetic, two related tasks".to_owned(),
            seed: 42,
            dataset: DatasetSpec::Mmoe(MmoeSpec::default()),
            model: ModelSpec {
                input: MmoeSpec::default().dim,
                shared,
                heads: tasks
                    .iter()
                    .map(|t| HeadSpec {
                        task: t.name.clone(),
                        layers: hidden(32),
                        links: Vec::new(),
                    })
                    .collect(),
                architecture: Architecture::Hard,
                relationship: None,
                input_shape: None,
            },
            tasks,
            weighting: WeightingSpec::default(),
            optimizer: OptimizerSpec::defaults_with_lr(1e-3)[1].clone(),
            training: TrainingSpec::default(),
        }
    }
}

impl crate::data::DataSettings for ExperimentSpec {
    fn dataset(&self) -> &DatasetSpec {
        &self.dataset
    }

    fn seed(&self) -> u64 {
        self.seed
    }

    fn tasks(&self) -> &[TaskSpec] {
        &self.tasks
    }

    fn input(&self) -> usize {
        self.model.input
    }

    fn validation_fraction(&self) -> f64 {
        self.training.validation_fraction
    }

    fn keep_labels(&self, task: &str) -> Option<f64> {
        self.training.keep_labels.get(task).copied()
    }
}

/// Why a spec could not be read or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read spec: {source}: {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML or JSON did not parse, or has a wrong field.
    #[error("{message}: {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (with line and column).
        message: String,
    },
    /// The spec parsed but has problems.
    #[error("{} problem(s) in the spec: {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<SpecProblem>),
}

impl ExperimentSpec {
    /// Reads a spec from a TOML (or, by extension, JSON) file. Relative CSV paths are resolved
    /// against the file's folder. The spec is validated.
    pub fn load(path: &Path) -> Result<Self, SpecError> {
        let text =
            crate::fsguard::read_regular_to_string(path).map_err(|source| SpecError::Io {
                path: path.to_owned(),
                source,
            })?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut spec = if is_json {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
        .map_err(|message| SpecError::Parse {
            path: path.to_owned(),
            message,
        })?;
        if let Some(dir) = path.parent() {
            spec.dataset.source_mut().resolve_paths(dir);
        }
        spec.check()?;
        Ok(spec)
    }

    /// Parses TOML text (not validated). A top-level [`WINDOW_TABLE`] table (what the app's
    /// window showed, in an experiment file) is not part of the spec and is skipped, so
    /// `train` and `validate` read an experiment file's spec; any other unknown field is an
    /// error.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let message = |mut e: toml::de::Error| {
            e.set_input(Some(text));
            e.to_string().trim_end().replace('\n', " ")
        };
        let mut root = toml::de::DeTable::parse(text).map_err(message)?;
        root.get_mut().remove(WINDOW_TABLE);
        Self::deserialize(toml::de::Deserializer::from(root)).map_err(message)
    }

    /// Parses JSON text (not validated).
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Writes the spec as TOML text.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string_pretty(self).map_err(|e| e.to_string())
    }

    /// Writes the spec as pretty JSON text.
    pub fn to_json(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Validates, turning problems into an error.
    pub fn check(&self) -> Result<(), SpecError> {
        let problems = self.validate();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SpecError::Invalid(problems))
        }
    }

    /// The head of task `name`, if it has one.
    pub fn head(&self, name: &str) -> Option<&HeadSpec> {
        self.model.heads.iter().find(|h| h.task == name)
    }

    /// The experiment with only the tasks in `names` (their heads, the same trunk); settings
    /// that name other tasks are dropped and the stop rules watch the mean.
    pub fn restricted_to(&self, names: &[String]) -> Self {
        let mut spec = self.clone();
        spec.tasks.retain(|t| names.contains(&t.name));
        spec.training.keep_labels.retain(|t, _| names.contains(t));
        spec.training.stop.monitor = "mean".to_owned();
        if spec.tasks.len() < 2 {
            // Relationship learning needs two tasks to relate.
            spec.model.relationship = None;
        }
        spec.sync_heads();
        spec
    }

    /// Keeps `model.heads` in step with `tasks`: adds an empty head for a new task, drops
    /// heads of removed tasks, and orders heads as the tasks are ordered. Training settings
    /// that name a task that is gone (`keep_labels`, the stop rules' monitor) are dropped.
    pub fn sync_heads(&mut self) {
        // Settings that name tasks follow the task list.
        let names: Vec<String> = self.tasks.iter().map(|t| t.name.clone()).collect();
        self.training.keep_labels.retain(|t, _| names.contains(t));
        if self.training.stop.monitor != "mean" && !names.contains(&self.training.stop.monitor) {
            self.training.stop.monitor = "mean".to_owned();
        }
        let mut heads = Vec::with_capacity(self.tasks.len());
        for task in &self.tasks {
            let head = self
                .model
                .heads
                .iter()
                .find(|h| h.task == task.name)
                .cloned()
                .unwrap_or_else(|| HeadSpec {
                    task: task.name.clone(),
                    layers: vec![LayerSpec::Linear { out: 32 }, LayerSpec::Relu],
                    links: Vec::new(),
                });
            heads.push(head);
        }
        for head in &mut heads {
            head.links
                .retain(|l| self.tasks.iter().any(|t| t.name == l.from));
        }
        self.model.heads = heads;
    }
}

/// The commented default spec printed by `mtl-studio init`. A test checks that it parses to
/// [`ExperimentSpec::default`].
pub const DEFAULT_SPEC_TOML: &str = include_str!("default.toml");

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(spec: &ExperimentSpec) -> Vec<String> {
        spec.validate().into_iter().map(|p| p.path).collect()
    }

    #[test]
    fn default_template_parses_to_default_spec() {
        let spec = ExperimentSpec::from_toml(DEFAULT_SPEC_TOML).expect("template parses");
        assert_eq!(
            spec,
            ExperimentSpec::default(),
            "template and Default agree"
        );
        assert!(
            spec.validate().is_empty(),
            "default spec is valid: {:?}",
            spec.validate()
        );
    }

    #[test]
    fn toml_and_json_round_trip() {
        let spec = ExperimentSpec::default();
        let toml = spec.to_toml().expect("serialises");
        assert_eq!(
            ExperimentSpec::from_toml(&toml),
            Ok(spec.clone()),
            "TOML round trip"
        );
        assert_eq!(
            ExperimentSpec::from_json(&spec.to_json()),
            Ok(spec),
            "JSON round trip"
        );
    }

    #[test]
    fn zero_width_layer_is_named() {
        let mut spec = ExperimentSpec::default();
        spec.model.shared[2] = LayerSpec::Linear { out: 0 };
        let problems = spec.validate();
        assert_eq!(problems.len(), 1, "exactly one problem: {problems:?}");
        assert_eq!(
            problems[0].to_string(),
            "model.shared[2]: Linear out=0 must be >= 1",
            "message names the layer"
        );
    }

    #[test]
    fn each_bad_field_is_reported_with_its_place() {
        type Mutation = Box<dyn Fn(&mut ExperimentSpec)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("version", Box::new(|s| s.version = 9)),
            ("training.epochs", Box::new(|s| s.training.epochs = 0)),
            (
                "training.batch_size",
                Box::new(|s| s.training.batch_size = 0),
            ),
            (
                "training.validation_fraction",
                Box::new(|s| s.training.validation_fraction = 1.5),
            ),
            ("optimizer.lr", Box::new(|s| *s.optimizer.lr_mut() = -1.0)),
            (
                "optimizer.lr",
                Box::new(|s| *s.optimizer.lr_mut() = f64::NAN),
            ),
            ("tasks[1].name", Box::new(|s| s.tasks[1].name = "y1".into())),
            (
                "tasks[0].name",
                Box::new(|s| s.tasks[0].name = "a b".into()),
            ),
            (
                "tasks[0].target",
                Box::new(|s| s.tasks[0].target = "nope".into()),
            ),
            (
                "tasks[0].kind",
                Box::new(|s| s.tasks[0].kind = TaskKind::Binary),
            ),
            (
                "tasks[0].loss",
                Box::new(|s| s.tasks[0].loss = Some(LossKind::Bce)),
            ),
            (
                "tasks[1].weight",
                Box::new(|s| s.tasks[1].weight = f32::INFINITY),
            ),
            ("tasks", Box::new(|s| s.tasks.clear())),
            ("model.input", Box::new(|s| s.model.input = 3)),
            (
                "model.heads[0].layers[0]",
                Box::new(|s| s.model.heads[0].layers[0] = LayerSpec::Dropout { p: 1.0 }),
            ),
            ("model.heads", Box::new(|s| drop(s.model.heads.pop()))),
            (
                "model.heads[1].task",
                Box::new(|s| s.model.heads[1].task = "zz".into()),
            ),
            (
                "dataset.correlation",
                Box::new(|s| {
                    if let DatasetSpec::Mmoe(m) = &mut s.dataset {
                        m.correlation = 2.0;
                    }
                }),
            ),
            (
                "dataset.dim",
                Box::new(|s| {
                    if let DatasetSpec::Mmoe(m) = &mut s.dataset {
                        m.dim = 0;
                    }
                }),
            ),
        ];
        for (expected, mutate) in cases {
            let mut spec = ExperimentSpec::default();
            mutate(&mut spec);
            let found = paths(&spec);
            assert!(
                found.iter().any(|p| p == expected),
                "expected a problem at {expected}, got {found:?}"
            );
        }
    }

    #[test]
    fn unknown_fields_and_bad_toml_are_errors_with_position() {
        let err = ExperimentSpec::from_toml("version = 1\nseeed = 3\n").expect_err("typo");
        assert!(err.contains("seeed"), "names the unknown field: {err}");
        let err = ExperimentSpec::from_toml("version = = 1").expect_err("syntax");
        assert!(err.contains("line 1"), "gives the line: {err}");
        // A wrong field deep in the file still names its line.
        let text = DEFAULT_SPEC_TOML.replace("[training]", "[training]\nepochz = 3");
        let err = ExperimentSpec::from_toml(&text).expect_err("typo");
        let line = text.lines().position(|l| l == "epochz = 3").map(|i| i + 1);
        assert!(
            line.is_some_and(|l| err.contains(&format!("line {l}"))),
            "gives the line {line:?}: {err}"
        );
    }

    #[test]
    fn a_window_table_is_skipped_but_other_tables_are_not() {
        let spec = ExperimentSpec::default();
        let text = spec.to_toml().expect("toml");
        let with_window =
            format!("{text}\n[window]\ntab = \"Network\"\n[window.view]\nlog_scale = false\n");
        assert_eq!(
            ExperimentSpec::from_toml(&with_window).expect("parses"),
            spec,
            "the window table is not part of the spec"
        );
        let other = format!("{text}\n[windows]\ntab = \"Network\"\n");
        let err = ExperimentSpec::from_toml(&other).expect_err("unknown table");
        assert!(err.contains("windows"), "names it: {err}");
    }

    #[test]
    fn sync_heads_follows_tasks() {
        let mut spec = ExperimentSpec::default();
        spec.tasks.swap(0, 1);
        spec.tasks.push(TaskSpec {
            name: "extra".into(),
            kind: TaskKind::Regression,
            target: "y1".into(),
            loss: None,
            weight: 1.0,
        });
        spec.sync_heads();
        let names: Vec<_> = spec.model.heads.iter().map(|h| h.task.as_str()).collect();
        assert_eq!(names, ["y2", "y1", "extra"], "heads follow task order");
    }
}
