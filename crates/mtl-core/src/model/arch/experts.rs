//! Mixtures of experts: `experts` copies of the `model.shared` layers, mixed by softmax
//! gates on the input: one gate per task (MMoE, Ma et al. 2018) or one for all (the MMoE
//! paper's one-gate baseline, MoE).
//!
//! # Shapes
//! - input `[batch, input]`; each expert's output `[batch, width]` (flattened)
//! - gate weight `[experts, input]`, bias `[experts]`; gate weights `[batch, experts]`
//! - representation `[batch, width]`: one per task (MMoE) or one for all (MoE)
//!
//! # Parameter names
//! `experts.<e>.<i>.*` ([`Part::Shared`]), then `gates.<task>.*` (MMoE, each task's own) or
//! `gate.*` (MoE, shared).

use candle_core::{D, Tensor};

use super::{Body, BodySpec};
use crate::experiment::Shape;
use crate::export::onnx::{Graph, Value, attr_int};
use crate::model::layers::{self, Builder, Layer, flat};
use crate::model::onnx::{self, OnnxRep};
use crate::model::{ArchState, Mode, ModelError, Param, Part, Rep};

/// How many gates mix the experts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Gating {
    /// One gate per task (MMoE).
    PerTask,
    /// One gate for all tasks (MoE).
    One,
}

/// The experts and the gates `(weight, bias)`.
#[derive(Clone, Debug)]
pub(super) struct Experts {
    experts: Vec<Vec<Layer>>,
    gates: Vec<(usize, usize)>,
}

impl Experts {
    /// Builds `experts` experts, then the gates.
    pub(super) fn new(
        spec: &BodySpec<'_>,
        b: &mut Builder<'_>,
        experts: usize,
        gating: Gating,
    ) -> Result<Self, ModelError> {
        let list = (0..experts)
            .map(|e| {
                b.layers(
                    spec.shared,
                    &format!("experts.{e}"),
                    Part::Shared,
                    spec.input_shape,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let gates = match gating {
            Gating::PerTask => spec
                .tasks
                .iter()
                .enumerate()
                .map(|(t, task)| {
                    b.linear(
                        &format!("gates.{}", task.name),
                        Part::Head(t),
                        spec.input,
                        experts,
                    )
                })
                .collect::<Result<Vec<_>, _>>()?,
            Gating::One => vec![b.linear("gate", Part::Shared, spec.input, experts)?],
        };
        Ok(Self {
            experts: list,
            gates,
        })
    }
}

/// Softmax gate weights `[batch, experts]` of gate `(w, b)` on the body's input `x`: the
/// standardised row, flat `[batch, input]` (image rows too).
fn gate(params: &[Param], x: &Tensor, w: usize, b: usize) -> candle_core::Result<Tensor> {
    let logits = layers::linear(params, x, w, b)?;
    candle_nn::ops::softmax(&logits, D::Minus1)
}

impl Body for Experts {
    fn forward(
        &self,
        params: &[Param],
        x: &Tensor,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Rep> {
        let outs = self
            .experts
            .iter()
            .map(|e| layers::run(params, e, x.clone(), mode).and_then(flat))
            .collect::<candle_core::Result<Vec<_>>>()?;
        let stacked = Tensor::stack(&outs, 1)?; // [batch, experts, width]
        let mut reps = Vec::with_capacity(self.gates.len());
        for &(w, b) in &self.gates {
            let g = gate(params, x, w, b)?.unsqueeze(1)?; // [batch, 1, experts]
            reps.push(g.matmul(&stacked)?.squeeze(1)?);
        }
        if reps.len() == 1 {
            Ok(Rep::One(reps.remove(0)))
        } else {
            Ok(Rep::PerTask(reps))
        }
    }

    fn onnx(&self, params: &[Param], g: &mut Graph, x: &Value) -> candle_core::Result<OnnxRep> {
        let axis1 = |g: &mut Graph, scope: &str| g.ints(scope, &[1], false);
        let mut outs = Vec::with_capacity(self.experts.len());
        let mut width = 0;
        for (e, layers) in self.experts.iter().enumerate() {
            let prefix = format!("experts.{e}");
            let h = onnx::run(g, params, layers, x.clone(), &prefix)?;
            let h = onnx::flatten(g, h, &prefix);
            width = h.shape.size();
            let axes = axis1(g, &prefix);
            outs.push(g.op(&prefix, "Unsqueeze", &[&h.name, &axes], vec![]));
        }
        let refs: Vec<&str> = outs.iter().map(String::as_str).collect();
        // [N, experts, width]
        let stacked = g.op("experts", "Concat", &refs, vec![attr_int("axis", 1)]);
        let mut reps = Vec::with_capacity(self.gates.len());
        for &(w, b) in &self.gates {
            let scope = onnx::scope_of(params, w);
            let logits = onnx::gemm(g, params, x, (w, b))?;
            let weights = onnx::softmax(g, &logits.name, -1, &scope);
            let axes = axis1(g, &scope);
            let weights = g.op(&scope, "Unsqueeze", &[&weights, &axes], vec![]);
            let mixed = g.op(&scope, "MatMul", &[&weights, &stacked], vec![]);
            let axes = axis1(g, &scope);
            reps.push(Value {
                name: g.op(&scope, "Squeeze", &[&mixed, &axes], vec![]),
                shape: Shape::Flat(width),
            });
        }
        if reps.len() == 1 {
            Ok(OnnxRep::One(reps.remove(0)))
        } else {
            Ok(OnnxRep::PerTask(reps))
        }
    }

    /// Per gate, the mean weight of each expert on the batch `x`.
    fn state(
        &self,
        params: &[Param],
        x: &Tensor,
        state: &mut ArchState,
    ) -> candle_core::Result<()> {
        for &(w, b) in &self.gates {
            let mean = gate(params, x, w, b)?.mean(0)?.to_vec1::<f32>()?;
            state.gates.push(mean.into_iter().map(f64::from).collect());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use crate::experiment::{Architecture, ExperimentSpec};
    use crate::model::tests::model;
    use crate::model::{Mode, Part, Rep};

    fn mixture(arch: Architecture) -> (crate::model::Model, Tensor) {
        let mut spec = ExperimentSpec::default();
        spec.model.architecture = arch;
        let x = Tensor::ones((4, 16), DType::F32, &Device::Cpu).expect("x");
        (model(&spec), x)
    }

    #[test]
    fn mmoe_has_a_gate_per_task_and_moe_one() {
        let (mmoe, x) = mixture(Architecture::Mmoe { experts: 3 });
        let gate = mmoe
            .params()
            .iter()
            .find(|p| p.name == "gates.y2.weight")
            .expect("task y2's gate");
        assert_eq!(gate.part, Part::Head(1), "a task's gate is its own");
        assert_eq!(gate.var.dims(), [3, 16], "[experts, input]");
        let rep = mmoe.forward_trunk(&x, &mut Mode::Eval).expect("forward");
        assert!(matches!(rep, Rep::PerTask(_)), "one mix per task");
        let state = mmoe.arch_state(&x).expect("state");
        assert_eq!(state.gates.len(), 2, "one gate per task");
        for g in &state.gates {
            assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-5, "softmax: {g:?}");
        }

        let (moe, x) = mixture(Architecture::Moe { experts: 3 });
        let names: Vec<&str> = moe.params().iter().map(|p| p.name.as_str()).collect();
        assert!(names.contains(&"gate.bias"), "one shared gate: {names:?}");
        let rep = moe.forward_trunk(&x, &mut Mode::Eval).expect("forward");
        assert!(matches!(rep, Rep::One(_)), "one mix for all");
        assert_eq!(
            moe.arch_state(&x).expect("state").gates.len(),
            1,
            "one gate"
        );
    }
}
