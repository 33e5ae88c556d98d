//! Helpers shared by the integration tests.

use mtl_studio::experiment::{DatasetSpec, ExperimentSpec};

/// The default experiment, made smaller so tests run quickly.
pub fn small_spec(samples: usize, epochs: usize) -> ExperimentSpec {
    let mut spec = ExperimentSpec::default();
    if let DatasetSpec::Mmoe(m) = &mut spec.dataset {
        m.samples = samples;
    }
    spec.training.epochs = epochs;
    spec
}
