//! The architectures: what the layers of `model.shared` become, one file each, behind the
//! [`Body`] trait. [`build`] is the one place that dispatches on the spec's
//! [`Architecture`]; the model only talks to the `Body` it returns.
//!
//! - [`hard`]: one trunk every head reads;
//! - [`soft`]: one tower per task, coupled by an L2 penalty;
//! - [`cross_stitch`]: one column per task, mixed after every block by a learned T × T unit;
//! - [`experts`]: MMoE and one-gate MoE, `experts` copies mixed by softmax gates.
//!
//! Relationship learning ([`relationship`]) couples the heads' output layers and combines
//! with any of them.
//!
//! # Shapes
//! - input `[batch, input]` (or `[batch, c, h, w]` rows of an image dataset)
//! - representation [`Rep`]: `[batch, rep_width]`, one for all heads or one per task
//!
//! # Adding an architecture
//! Copy the closest file (`hard.rs` is the smallest), give its struct a constructor that
//! builds its parameters with the [`Builder`] and implement [`Body`] for it; then add its
//! spec variant to `experiment/arch.rs` and one line to [`build`].

mod cross_stitch;
mod experts;
mod hard;
pub(super) mod relationship;
mod soft;

use std::fmt;

use candle_core::Tensor;

use super::layers::Builder;
use super::onnx::OnnxRep;
use super::{ArchState, Mode, ModelError, Param, Rep};
use crate::data::TaskInfo;
use crate::experiment::{Architecture, LayerSpec, Plan, Shape};
use crate::export::onnx::{Graph, Value};

/// What an architecture is built from: the spec's shared layers, the input, the tasks and
/// the plan.
pub(super) struct BodySpec<'a> {
    /// The layers of `model.shared`.
    pub(super) shared: &'a [LayerSpec],
    /// Width of an input row (what a gate reads).
    pub(super) input: usize,
    /// Shape of an input row (what the first shared layer reads).
    pub(super) input_shape: Shape,
    /// The tasks, in order.
    pub(super) tasks: &'a [TaskInfo],
    /// The spec's plan (widths, where cross-stitch units sit).
    pub(super) plan: &'a Plan,
}

/// A built architecture: its layers and its own parameters (indices into the model's
/// parameter list, which every method receives as `params`).
pub(super) trait Body: fmt::Debug + Send + Sync {
    /// Runs the body on `x`: the representation(s) the heads read.
    fn forward(
        &self,
        params: &[Param],
        x: &Tensor,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Rep>;

    /// Adds the evaluation forward to the ONNX graph `g`, reading the standardised input
    /// `x`: the same representation(s) as [`Self::forward`] in evaluation mode.
    fn onnx(&self, params: &[Param], g: &mut Graph, x: &Value) -> candle_core::Result<OnnxRep>;

    /// Whether [`Self::penalty`] can add a term (even one that is 0 at the current λ).
    fn has_penalty(&self) -> bool {
        false
    }

    /// Appends the architecture's penalty terms (scalars) to `terms`.
    fn penalty(&self, _params: &[Param], _terms: &mut Vec<Tensor>) -> candle_core::Result<()> {
        Ok(())
    }

    /// Fills in the architecture's part of the live state; `x` is a batch.
    fn state(
        &self,
        _params: &[Param],
        _x: &Tensor,
        _state: &mut ArchState,
    ) -> candle_core::Result<()> {
        Ok(())
    }

    /// Changes soft sharing's λ; false when the architecture has no towers.
    fn set_soft_lambda(&mut self, _lambda: f64) -> bool {
        false
    }
}

/// Builds the body of `arch` from `spec`, creating its parameters in `b` (they come first
/// in model order, before the heads').
pub(super) fn build(
    arch: &Architecture,
    spec: &BodySpec<'_>,
    b: &mut Builder<'_>,
) -> Result<Box<dyn Body>, ModelError> {
    Ok(match arch {
        Architecture::Hard => Box::new(hard::Hard::new(spec, b)?),
        Architecture::Soft { lambda, coupling } => {
            Box::new(soft::Soft::new(spec, b, *lambda, *coupling)?)
        }
        Architecture::CrossStitch {
            self_weight,
            lr_scale,
        } => Box::new(cross_stitch::CrossStitch::new(
            spec,
            b,
            *self_weight,
            *lr_scale,
        )?),
        Architecture::Mmoe { experts } => Box::new(experts::Experts::new(
            spec,
            b,
            *experts,
            experts::Gating::PerTask,
        )?),
        Architecture::Moe { experts } => Box::new(experts::Experts::new(
            spec,
            b,
            *experts,
            experts::Gating::One,
        )?),
    })
}
