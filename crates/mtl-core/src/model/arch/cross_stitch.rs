//! Cross-stitch networks (Misra et al. 2016): one column of the `model.shared` layers per
//! task, and after every block a learned T × T unit α that mixes the columns:
//! x̃ₜ = Σⱼ αₜⱼ xⱼ.
//!
//! A block starts at a `linear` or `conv2d` layer and runs up to the next one
//! ([`block_ends`](crate::experiment::block_ends)), so a conv trunk gets a unit after each
//! `conv2d, relu, max_pool2d` block, as in the paper (after pool1, pool2, … of AlexNet). One
//! scalar αₜⱼ per pair of tasks mixes every value of the block's output (every channel and
//! pixel alike); unit `u` sits after the `u`-th block.
//!
//! # Shapes
//! - input `[batch, input]` → one representation `[batch, rep_width]` per task
//! - each column's block output `[batch, …]` (`[batch, c, h, w]` after a conv block) is
//!   mixed as it is and keeps its shape
//! - unit α `[T, T]` (row t: what task t's column takes from each column), starting at the
//!   spec's convex start (αₜₜ = `self_weight`, the rest of each row sharing 1 − αₜₜ)
//!
//! # Parameter names
//! `columns.<task>.<i>.*` then `stitch.<u>`, all [`Part::Shared`]; the units train at
//! `lr_scale` times the learning rate.

use candle_core::{Tensor, Var};

use super::{Body, BodySpec};
use crate::experiment::Shape;
use crate::export::onnx::{Graph, Value, attr_int, dim};
use crate::model::layers::{self, Builder, Layer};
use crate::model::onnx::{self, OnnxRep};
use crate::model::{ArchState, Mode, ModelError, Param, Part, Rep};

/// The columns and the units `(after layer i, α param)`.
#[derive(Clone, Debug)]
pub(super) struct CrossStitch {
    columns: Vec<Vec<Layer>>,
    /// `columns.<task>`, per column.
    prefixes: Vec<String>,
    units: Vec<(usize, usize)>,
}

impl CrossStitch {
    /// Builds one column per task, then a unit after each layer the plan stitches after.
    pub(super) fn new(
        spec: &BodySpec<'_>,
        b: &mut Builder<'_>,
        self_weight: f64,
        lr_scale: f64,
    ) -> Result<Self, ModelError> {
        let k = spec.tasks.len();
        let prefixes: Vec<String> = spec
            .tasks
            .iter()
            .map(|task| format!("columns.{}", task.name))
            .collect();
        let columns = prefixes
            .iter()
            .map(|prefix| b.layers(spec.shared, prefix, Part::Shared, spec.input_shape))
            .collect::<Result<Vec<_>, _>>()?;
        let off = if k > 1 {
            (1.0 - self_weight) / (k - 1) as f64
        } else {
            0.0
        };
        let mut units = Vec::new();
        for (u, &after) in spec.plan.stitch_after.iter().enumerate() {
            let alpha: Vec<f32> = (0..k * k)
                .map(|i| {
                    if i / k == i % k {
                        self_weight as f32
                    } else {
                        off as f32
                    }
                })
                .collect();
            let var = Var::from_tensor(&Tensor::from_vec(alpha, (k, k), b.device)?)?;
            let idx = b.add(format!("stitch.{u}"), var, Part::Shared);
            b.params[idx].lr_scale = lr_scale;
            units.push((after, idx));
        }
        Ok(Self {
            columns,
            prefixes,
            units,
        })
    }
}

impl Body for CrossStitch {
    fn forward(
        &self,
        params: &[Param],
        x: &Tensor,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Rep> {
        let mut hs: Vec<Tensor> = vec![x.clone(); self.columns.len()];
        let mut next = self.units.iter().peekable();
        for i in 0..self.columns.first().map_or(0, Vec::len) {
            for (h, column) in hs.iter_mut().zip(&self.columns) {
                *h = layers::apply(params, &column[i], h.clone(), mode)?;
            }
            if let Some(&(_, alpha)) = next.next_if(|(after, _)| *after == i) {
                hs = stitch(&hs, layers::tensor(params, alpha))?;
            }
        }
        Ok(Rep::PerTask(hs))
    }

    fn onnx(&self, params: &[Param], g: &mut Graph, x: &Value) -> candle_core::Result<OnnxRep> {
        let mut hs: Vec<Value> = vec![x.clone(); self.columns.len()];
        let mut next = self.units.iter().peekable();
        for i in 0..self.columns.first().map_or(0, Vec::len) {
            for ((h, column), prefix) in hs.iter_mut().zip(&self.columns).zip(&self.prefixes) {
                *h = onnx::apply(g, params, &column[i], h.clone(), &format!("{prefix}.{i}"))?;
            }
            if let Some(&(_, alpha)) = next.next_if(|(after, _)| *after == i) {
                hs = onnx_stitch(g, params, &hs, alpha)?;
            }
        }
        Ok(OnnxRep::PerTask(hs))
    }

    /// Each unit's α, row-major.
    fn state(
        &self,
        params: &[Param],
        _x: &Tensor,
        state: &mut ArchState,
    ) -> candle_core::Result<()> {
        for &(_, i) in &self.units {
            state.stitch.push(
                params[i]
                    .var
                    .flatten_all()?
                    .to_vec1::<f32>()?
                    .into_iter()
                    .map(f64::from)
                    .collect(),
            );
        }
        Ok(())
    }
}

/// Cross-stitch: x̃ₜ = Σⱼ αₜⱼ xⱼ for columns `hs` (each `[batch, …]`, all alike).
fn stitch(hs: &[Tensor], alpha: &Tensor) -> candle_core::Result<Vec<Tensor>> {
    let shape = hs[0].shape().clone();
    let k = hs.len();
    let stacked = Tensor::stack(hs, 0)?.reshape((k, shape.elem_count()))?;
    let mixed = alpha.matmul(&stacked)?;
    (0..k)
        .map(|t| mixed.get(t)?.reshape(shape.clone()))
        .collect()
}

/// [`stitch`] as ONNX nodes: each column flattened whole to `[1, N·m]`, stacked to
/// `[T, N·m]`, mixed by `MatMul` with α, and row t reshaped back to column t's shape.
fn onnx_stitch(
    g: &mut Graph,
    params: &[Param],
    hs: &[Value],
    alpha: usize,
) -> candle_core::Result<Vec<Value>> {
    let scope = params[alpha].name.clone();
    let alpha = onnx::param(g, params, alpha)?;
    let whole = g.ints(&scope, &[1, -1], false);
    let rows: Vec<String> = hs
        .iter()
        .map(|h| g.op(&scope, "Reshape", &[&h.name, &whole], vec![]))
        .collect();
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    let stacked = g.op(&scope, "Concat", &refs, vec![attr_int("axis", 0)]);
    let mixed = g.op(&scope, "MatMul", &[&alpha, &stacked], vec![]);
    let shape = hs.first().map_or(Shape::Flat(0), |h| h.shape);
    let back = g.ints(&scope, &onnx::batch_shape(shape), false);
    Ok((0..hs.len())
        .map(|t| {
            let index = g.ints(&scope, &[dim(t)], true);
            let row = g.op(
                &scope,
                "Gather",
                &[&mixed, &index],
                vec![attr_int("axis", 0)],
            );
            Value {
                name: g.op(&scope, "Reshape", &[&row, &back], vec![]),
                shape,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::stitch;
    use crate::experiment::{Architecture, ExperimentSpec};
    use crate::model::tests::model;

    #[test]
    fn units_start_convex_and_learn_faster() {
        let mut spec = ExperimentSpec::default();
        spec.model.architecture = Architecture::CrossStitch {
            self_weight: 0.75,
            lr_scale: 10.0,
        };
        let m = model(&spec);
        let unit = m
            .params()
            .iter()
            .find(|p| p.name == "stitch.0")
            .expect("a unit after the first block");
        assert!((unit.lr_scale - 10.0).abs() < 1e-12, "unit learning rate");
        let x = Tensor::ones((2, 16), candle_core::DType::F32, &Device::Cpu).expect("x");
        let state = m.arch_state(&x).expect("state");
        assert_eq!(state.stitch[0], [0.75, 0.25, 0.25, 0.75], "convex start");
    }

    #[test]
    fn stitch_mixes_columns_by_rows_of_alpha() {
        let d = Device::Cpu;
        let a = Tensor::new(&[[1f32, 2.0]], &d).expect("a");
        let b = Tensor::new(&[[10f32, 20.0]], &d).expect("b");
        let alpha = Tensor::new(&[[0.5f32, 0.5], [0.0, 1.0]], &d).expect("alpha");
        let mixed = stitch(&[a, b], &alpha).expect("stitch");
        let rows: Vec<Vec<Vec<f32>>> = mixed.iter().map(|t| t.to_vec2().expect("values")).collect();
        assert_eq!(
            rows,
            [vec![vec![5.5, 11.0]], vec![vec![10.0, 20.0]]],
            "x̃ = αx"
        );
    }
}
