//! Soft parameter sharing (Duong et al. 2015): one tower of the `model.shared` layers per
//! task, pulled together by an L2 penalty on the differences of corresponding parameters.
//!
//! # Shapes
//! input `[batch, input]` → one representation `[batch, rep_width]` per task.
//!
//! # Parameter names
//! `towers.<task>.<i>.*`, each task's own ([`Part::Head`]).

use candle_core::Tensor;

use super::{Body, BodySpec};
use crate::experiment::Coupling;
use crate::export::onnx::{Graph, Value};
use crate::model::layers::{self, Builder, Layer};
use crate::model::onnx::{self, OnnxRep};
use crate::model::{ArchState, Mode, ModelError, Param, Part, Rep};

/// The towers and their penalty: λ, the coupling, and for each coupled tensor its index in
/// every tower.
#[derive(Clone, Debug)]
pub(super) struct Soft {
    towers: Vec<Vec<Layer>>,
    /// `towers.<task>`, per tower.
    prefixes: Vec<String>,
    lambda: f64,
    coupling: Coupling,
    groups: Vec<Vec<usize>>,
}

impl Soft {
    /// Builds one tower `towers.<task>.<i>.*` per task, in task order.
    pub(super) fn new(
        spec: &BodySpec<'_>,
        b: &mut Builder<'_>,
        lambda: f64,
        coupling: Coupling,
    ) -> Result<Self, ModelError> {
        let prefixes: Vec<String> = spec
            .tasks
            .iter()
            .map(|task| format!("towers.{}", task.name))
            .collect();
        let towers = prefixes
            .iter()
            .enumerate()
            .map(|(t, prefix)| b.layers(spec.shared, prefix, Part::Head(t), spec.input_shape))
            .collect::<Result<Vec<_>, _>>()?;
        let per_tower: Vec<Vec<usize>> = towers
            .iter()
            .map(|layers| layers.iter().flat_map(Layer::params).collect())
            .collect();
        let groups = (0..per_tower.first().map_or(0, Vec::len))
            .map(|j| per_tower.iter().map(|p| p[j]).collect())
            .collect();
        Ok(Self {
            towers,
            prefixes,
            lambda,
            coupling,
            groups,
        })
    }

    /// The coupling penalty of one group of corresponding tensors, before the λ/2 scale.
    fn group_sum(&self, v: &[&Tensor]) -> candle_core::Result<Option<Tensor>> {
        let mut sum: Option<Tensor> = None;
        let mut add = |t: Tensor| -> candle_core::Result<()> {
            sum = Some(match sum.take() {
                None => t,
                Some(s) => (s + t)?,
            });
            Ok(())
        };
        match self.coupling {
            Coupling::AllPairs => {
                for a in 0..v.len() {
                    for b in a + 1..v.len() {
                        add((v[a] - v[b])?.sqr()?.sum_all()?)?;
                    }
                }
            }
            Coupling::Consecutive => {
                for a in 1..v.len() {
                    add((v[a - 1] - v[a])?.sqr()?.sum_all()?)?;
                }
            }
            Coupling::Mean => {
                let stacked = Tensor::stack(v, 0)?;
                let mean = stacked.mean_keepdim(0)?;
                // λ·Σ‖θₜ − θ̄‖², written as 2·(λ/2)·… to share the scale below.
                add((stacked.broadcast_sub(&mean)?.sqr()?.sum_all()? * 2.0)?)?;
            }
        }
        Ok(sum)
    }
}

impl Body for Soft {
    fn forward(
        &self,
        params: &[Param],
        x: &Tensor,
        mode: &mut Mode<'_>,
    ) -> candle_core::Result<Rep> {
        Ok(Rep::PerTask(
            self.towers
                .iter()
                .map(|t| layers::run(params, t, x.clone(), mode))
                .collect::<candle_core::Result<_>>()?,
        ))
    }

    fn onnx(&self, params: &[Param], g: &mut Graph, x: &Value) -> candle_core::Result<OnnxRep> {
        Ok(OnnxRep::PerTask(
            self.towers
                .iter()
                .zip(&self.prefixes)
                .map(|(t, prefix)| onnx::run(g, params, t, x.clone(), prefix))
                .collect::<candle_core::Result<_>>()?,
        ))
    }

    fn has_penalty(&self) -> bool {
        true
    }

    /// One term per group of corresponding tensors: (λ/2)·Σ over the coupled pairs of
    /// ‖θₜ − θₜ′‖² (for [`Coupling::Mean`], λ·Σₜ‖θₜ − θ̄‖²); none unless λ > 0.
    fn penalty(&self, params: &[Param], terms: &mut Vec<Tensor>) -> candle_core::Result<()> {
        if self.lambda > 0.0 {
            for group in &self.groups {
                let v: Vec<&Tensor> = group.iter().map(|&i| layers::tensor(params, i)).collect();
                if let Some(s) = self.group_sum(&v)? {
                    terms.push((s * (self.lambda / 2.0))?);
                }
            }
        }
        Ok(())
    }

    /// The K × K distances ‖θₜ − θₜ′‖ between the towers' parameters.
    fn state(
        &self,
        params: &[Param],
        _x: &Tensor,
        state: &mut ArchState,
    ) -> candle_core::Result<()> {
        let towers = self.groups.first().map_or(0, Vec::len);
        let mut flat: Vec<Vec<f32>> = vec![Vec::new(); towers];
        for group in &self.groups {
            for (t, &i) in group.iter().enumerate() {
                flat[t].extend(params[i].var.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        let mut d = vec![0.0; towers * towers];
        for a in 0..towers {
            for b in 0..towers {
                d[a * towers + b] = flat[a]
                    .iter()
                    .zip(&flat[b])
                    .map(|(x, y)| f64::from(x - y).powi(2))
                    .sum::<f64>()
                    .sqrt();
            }
        }
        state.tower_distances = Some(d);
        Ok(())
    }

    fn set_soft_lambda(&mut self, lambda: f64) -> bool {
        self.lambda = lambda;
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::experiment::{Architecture, Coupling, ExperimentSpec};
    use crate::model::tests::model;
    use crate::model::{Part, Rep};

    #[test]
    fn one_tower_per_task_and_no_penalty_at_lambda_zero() {
        let mut spec = ExperimentSpec::default();
        spec.model.architecture = Architecture::Soft {
            lambda: 0.5,
            coupling: Coupling::AllPairs,
        };
        let mut m = model(&spec);
        assert_eq!(
            m.params()[0].name,
            "towers.y1.0.weight",
            "first tower first"
        );
        assert_eq!(
            m.params()[0].part,
            Part::Head(0),
            "a tower is its task's own"
        );
        assert!(!m.has_shared(), "nothing shared");
        let x = candle_core::Tensor::ones((2, 16), candle_core::DType::F32, m.device()).expect("x");
        let rep = m
            .forward_trunk(&x, &mut crate::model::Mode::Eval)
            .expect("towers");
        assert!(
            matches!(&rep, Rep::PerTask(v) if v.len() == 2),
            "one representation per task: {rep:?}"
        );
        assert!(m.penalty().expect("penalty").is_some(), "towers differ");
        assert!(m.set_soft_lambda(0.0), "λ can change");
        assert!(m.penalty().expect("penalty").is_none(), "λ = 0: no term");
        assert!(m.has_penalty(), "still a penalised architecture");
    }
}
