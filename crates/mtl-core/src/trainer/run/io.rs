//! Saving and loading a session's model (weights with their spec).

use super::*;

impl Session {
    /// Everything an export file holds.
    pub fn model_file(&self) -> Result<ModelFile, TrainError> {
        Ok(ModelFile {
            spec: self.spec.clone(),
            tensors: self.model.export()?,
            input_mean: self.data.input_mean.clone(),
            input_std: self.data.input_std.clone(),
            feature_names: self.data.feature_names.clone(),
            tasks: self.data.tasks.clone(),
            input_encoding: self.data.encoding.clone(),
        })
    }

    /// Writes the weights to `path` (safetensors, atomically) and the spec as JSON beside it.
    pub fn save(&self, path: &Path) -> Result<(), TrainError> {
        export::save_model(path, &self.model_file()?)?;
        Ok(())
    }

    /// Writes the model as an ONNX graph to `path` (atomically): the input standardised and
    /// every task's predictions, as [`Self::predict`] computes them (see
    /// [`crate::export::onnx`]).
    pub fn export_onnx(&self, path: &Path) -> Result<(), TrainError> {
        crate::export::onnx::write_onnx(path, &self.model_file()?)?;
        Ok(())
    }

    /// Loads weights saved from a model of the same architecture. Nothing changes on error.
    pub fn load_weights(&mut self, path: &Path) -> Result<(), TrainError> {
        let file = export::load_model(path)?;
        self.model.load(&file.tensors)?;
        Ok(())
    }

    /// A session rebuilt from an export file: its spec, its data statistics and its weights.
    /// The spec's dataset is not loaded; the session can predict but has no rows to train on.
    pub fn from_model_file(file: &ModelFile) -> Result<Self, TrainError> {
        // The file's spec is checked like any spec (layer widths, the memory limits) before
        // anything is built from it.
        file.spec.check()?;
        let d = file.feature_names.len();
        let empty = SplitData {
            rows: 0,
            features: d,
            x: Vec::new(),
            labels: vec![data::Labels::default(); file.tasks.len()],
        };
        let prepared = PreparedData {
            name: file.spec.name.clone(),
            feature_names: file.feature_names.clone(),
            tasks: file.tasks.clone(),
            train: empty.clone(),
            val: empty,
            input_mean: file.input_mean.clone(),
            input_std: file.input_std.clone(),
            encoding: file.input_encoding.clone(),
        };
        let mut session = Self::with_data(&file.spec, prepared)?;
        session.model.load(&file.tensors)?;
        Ok(session)
    }
}
