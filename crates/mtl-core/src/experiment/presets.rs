//! Ready-made experiments: the Shapes-32 conv example, a spec for given targets, the shipped
//! datasets.

use super::*;
use crate::data::inspect::Inspection;
use crate::data::source::Shipped;

impl ExperimentSpec {
    /// A convolutional experiment on Shapes-32: a conv trunk shared by a shape classifier, an
    /// area regressor and a mask segmenter.
    pub fn shapes_example() -> Self {
        let conv = |out_channels| LayerSpec::Conv2d {
            out_channels,
            kernel: 3,
            stride: 1,
            padding: 1,
        };
        let side = crate::data::source::shapes::SHAPES_SIDE;
        let tasks: Vec<TaskSpec> = [
            ("shape", TaskKind::Multiclass),
            ("area", TaskKind::Regression),
            ("mask", TaskKind::Segmentation),
        ]
        .iter()
        .map(|(name, kind)| TaskSpec {
            name: (*name).to_owned(),
            kind: *kind,
            target: (*name).to_owned(),
            loss: None,
            weight: 1.0,
        })
        .collect();
        let mut spec = Self {
            name: "Shapes-32: class, area and mask from one conv trunk".to_owned(),
            dataset: DatasetSpec::Shapes(ShapesSpec::default()),
            tasks,
            ..Self::default()
        };
        spec.model.input = side * side;
        spec.model.input_shape = Some([1, side, side]);
        spec.model.shared = vec![
            conv(8),
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { kernel: 2 },
            conv(16),
            LayerSpec::Relu,
            LayerSpec::MaxPool2d { kernel: 2 },
            LayerSpec::Flatten,
            LayerSpec::Linear { out: 128 },
            LayerSpec::Relu,
        ];
        spec.model.heads = Vec::new();
        spec.sync_heads();
        // The mask head decodes 1024 pixels: a wider hidden layer.
        if let Some(head) = spec.model.heads.iter_mut().find(|h| h.task == "mask") {
            head.layers = vec![LayerSpec::Linear { out: 256 }, LayerSpec::Relu];
        }
        spec.training = TrainingSpec {
            epochs: 8,
            batch_size: 32,
            validation_fraction: 0.2,
            ..TrainingSpec::default()
        };
        spec
    }

    /// A ready experiment on a file-like dataset (CSV, shipped, MultiDigits) with the given
    /// tasks: a hard-shared MLP trunk (64, 32) with a small head per task, Adam 1e-3, equal
    /// weights, `model.input = 0` (taken from the file) unless the input size is fixed.
    pub fn for_tasks(name: &str, dataset: DatasetSpec, targets: &[(String, TaskKind)]) -> Self {
        let hidden = |out| vec![LayerSpec::Linear { out }, LayerSpec::Relu];
        let tasks: Vec<TaskSpec> = targets
            .iter()
            .map(|(target, kind)| TaskSpec {
                name: task_name_from(target),
                kind: *kind,
                target: target.clone(),
                loss: None,
                weight: 1.0,
            })
            .collect();
        let mut spec = Self {
            name: name.to_owned(),
            dataset,
            tasks,
            ..Self::default()
        };
        spec.model.input = spec.dataset.source().input_size().unwrap_or(0);
        spec.model.shared = [hidden(64), hidden(32)].concat();
        spec.model.heads = spec
            .tasks
            .iter()
            .map(|t| HeadSpec {
                task: t.name.clone(),
                layers: hidden(16),
                links: Vec::new(),
            })
            .collect();
        spec.training = TrainingSpec {
            epochs: 30,
            batch_size: 32,
            validation_fraction: 0.2,
            ..TrainingSpec::default()
        };
        spec
    }

    /// A ready experiment on a shipped dataset with all of its tasks.
    pub fn shipped(which: Shipped) -> Self {
        let mut spec = Self::for_tasks(
            which.title(),
            DatasetSpec::Shipped(ShippedSpec { name: which }),
            &which.targets(),
        );
        if which == Shipped::Adult {
            // 32,561 training rows: fewer, larger steps.
            spec.training.epochs = 8;
            spec.training.batch_size = 256;
        }
        spec
    }

    /// A ready MultiDigits experiment (left and right digit).
    pub fn multi_digits() -> Self {
        let dataset = DatasetSpec::MultiDigits(MultiDigitsSpec::default());
        let targets = dataset.source().targets().unwrap_or_default();
        let mut spec = Self::for_tasks("MultiDigits: left and right digit", dataset, &targets);
        spec.model.shared = vec![
            LayerSpec::Linear { out: 128 },
            LayerSpec::Relu,
            LayerSpec::Linear { out: 64 },
            LayerSpec::Relu,
        ];
        spec.training.epochs = 20;
        spec
    }
}

// Defined here, not in `data::inspect`: the data side does not know the experiment spec.
impl Inspection {
    /// A ready experiment on this file with every task (the spec `init --data` prints).
    pub fn spec(&self) -> ExperimentSpec {
        let targets: Vec<(String, TaskKind)> = self
            .tasks
            .iter()
            .map(|t| (t.name.clone(), t.kind))
            .collect();
        let name = self
            .path
            .file_name()
            .map_or_else(|| "CSV".to_owned(), |n| n.to_string_lossy().into_owned());
        let mut spec = ExperimentSpec::for_tasks(
            &name,
            DatasetSpec::Csv(CsvSpec {
                path: self.path.clone(),
                columns: self.overrides.clone(),
            }),
            &targets,
        );
        if self.dataset.rows > 20_000 {
            spec.training.epochs = 8;
            spec.training.batch_size = 256;
        }
        spec
    }
}
