//! Hard parameter sharing (Caruana 1997): one trunk of the `model.shared` layers, read by
//! every head.
//!
//! # Shapes
//! input `[batch, input]` → one representation `[batch, rep_width]` for all heads.
//!
//! # Parameter names
//! `shared.<i>.*`, all [`Part::Shared`].

use candle_core::Tensor;

use super::{Body, BodySpec};
use crate::export::onnx::{Graph, Value};
use crate::model::layers::{self, Builder, Layer};
use crate::model::onnx::{self, OnnxRep};
use crate::model::{Mode, ModelError, Param, Part, Rep};

/// The trunk.
#[derive(Clone, Debug)]
pub(super) struct Hard {
    trunk: Vec<Layer>,
}

impl Hard {
    /// Builds the trunk `shared.<i>.*`.
    pub(super) fn new(spec: &BodySpec<'_>, b: &mut Builder<'_>) -> Result<Self, ModelError> {
        Ok(Self {
            trunk: b.layers(spec.shared, "shared", Part::Shared, spec.input_shape)?,
        })
    }
}

impl Body for Hard {
    fn forward(
        &self,
        params: &[Param],
        x: &Tensor,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Rep> {
        Ok(Rep::One(layers::run(params, &self.trunk, x.clone(), mode)?))
    }

    fn onnx(&self, params: &[Param], g: &mut Graph, x: &Value) -> candle_core::Result<OnnxRep> {
        Ok(OnnxRep::One(onnx::run(
            g,
            params,
            &self.trunk,
            x.clone(),
            "shared",
        )?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use crate::experiment::{Architecture, ExperimentSpec};
    use crate::model::tests::model;
    use crate::model::{Mode, Part, Rep};

    #[test]
    fn one_shared_trunk_feeds_every_head() {
        let mut spec = ExperimentSpec::default();
        spec.model.architecture = Architecture::Hard;
        let m = model(&spec);
        let trunk: Vec<&str> = m
            .params()
            .iter()
            .filter(|p| p.part == Part::Shared)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(
            trunk,
            [
                "shared.0.weight",
                "shared.0.bias",
                "shared.2.weight",
                "shared.2.bias"
            ],
            "trunk parameters, first in model order"
        );
        let x = Tensor::ones((3, 16), DType::F32, &Device::Cpu).expect("x");
        let rep = m.forward_trunk(&x, &mut Mode::Eval).expect("trunk");
        assert!(matches!(rep, Rep::One(_)), "one representation: {rep:?}");
        assert!(!m.has_penalty(), "no penalty");
    }
}
