//! Multi-task relationship learning (Zhang & Yeung 2010) over the heads' output layers, with
//! any architecture: the output weights W = [w₁ … w_T] are penalised by
//! (λ₁/2)·tr(WWᵀ) + (λ₂/2)·tr(WΩ⁻¹Wᵀ), and the task covariance Ω is updated in closed form
//! every few steps. Ω is not trained by the optimizer; it is exported as [`OMEGA_NAME`].
//!
//! # Shapes
//! - W `[d, T]`: head `t`'s output weight flattened into column `t`, zero-padded to the
//!   longest `d`
//! - Ω and Ω⁻¹ `[T, T]`, symmetric positive definite, tr(Ω) = 1

use candle_core::{DType, Device, Tensor};

use crate::experiment::RelationshipSpec;
use crate::linalg;
use crate::model::{ModelError, NamedTensor, OMEGA_NAME, Param};

/// Relationship learning state: the spec, the heads' output weights and Ω.
#[derive(Clone, Debug)]
pub(in crate::model) struct Relation {
    spec: RelationshipSpec,
    out_weights: Vec<usize>,
    omega: Vec<Vec<f64>>,
    omega_inv: Tensor,
}

/// A loaded Ω and its inverse, to set once every other tensor has been checked.
pub(in crate::model) struct StagedOmega(Vec<Vec<f64>>, Tensor);

impl Relation {
    /// Ω = I/T over the output weights `out_weights` (one parameter index per task).
    pub(in crate::model) fn new(
        spec: &RelationshipSpec,
        out_weights: Vec<usize>,
        device: &Device,
    ) -> candle_core::Result<Self> {
        let k = out_weights.len();
        let omega: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                (0..k)
                    // At the f32 precision Ω is held in (see `update`), so a saved and
                    // loaded Ω is the same number.
                    .map(|j| {
                        if i == j {
                            f64::from((1.0 / k as f64) as f32)
                        } else {
                            0.0
                        }
                    })
                    .collect()
            })
            .collect();
        let omega_inv = inverse_tensor(&omega, device)?;
        Ok(Self {
            spec: spec.clone(),
            out_weights,
            omega,
            omega_inv,
        })
    }

    /// Appends (λ₁/2)·tr(WWᵀ) and (λ₂/2)·tr(WΩ⁻¹Wᵀ) to `terms`, each when its λ > 0.
    pub(in crate::model) fn penalty(
        &self,
        params: &[Param],
        terms: &mut Vec<Tensor>,
    ) -> candle_core::Result<()> {
        let w = self.matrix(params)?; // [d, T]
        if self.spec.lambda_ridge > 0.0 {
            terms.push((w.sqr()?.sum_all()? * (self.spec.lambda_ridge / 2.0))?);
        }
        if self.spec.lambda > 0.0 {
            let tr = (w.matmul(&self.omega_inv)? * &w)?.sum_all()?;
            terms.push((tr * (self.spec.lambda / 2.0))?);
        }
        Ok(())
    }

    /// W = [w₁ … w_T]: each head's output weights flattened into a column, zero-padded to
    /// the longest.
    fn matrix(&self, params: &[Param]) -> candle_core::Result<Tensor> {
        let flat: Vec<Tensor> = self
            .out_weights
            .iter()
            .map(|&i| params[i].var.as_tensor().flatten_all())
            .collect::<candle_core::Result<_>>()?;
        let d = flat.iter().map(Tensor::elem_count).max().unwrap_or(0);
        let cols: Vec<Tensor> = flat
            .into_iter()
            .map(|t| {
                let n = t.elem_count();
                if n < d {
                    t.pad_with_zeros(0, 0, d - n)
                } else {
                    Ok(t)
                }
            })
            .collect::<candle_core::Result<_>>()?;
        Tensor::stack(&cols, 1)
    }

    /// Changes λ₂ from the next step on.
    pub(in crate::model) fn set_lambda(&mut self, lambda: f64) {
        self.spec.lambda = lambda;
    }

    /// Steps between Ω updates.
    pub(in crate::model) fn every(&self) -> u64 {
        self.spec.update_every
    }

    /// The closed-form step: Ω = (WᵀW + εI)^½ / tr((WᵀW + εI)^½), from the current output
    /// weights.
    pub(in crate::model) fn update(
        &mut self,
        params: &[Param],
        device: &Device,
    ) -> candle_core::Result<()> {
        let w = self.matrix(params)?.to_dtype(DType::F64)?;
        let gram: Vec<Vec<f64>> = w.t()?.matmul(&w)?.to_vec2()?;
        let eps = self.spec.epsilon;
        let a: Vec<Vec<f64>> = gram
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, v)| if i == j { v + eps } else { *v })
                    .collect()
            })
            .collect();
        let (root, _, _) = linalg::sym_sqrt(&a);
        let trace: f64 = (0..root.len()).map(|i| root[i][i]).sum();
        if !(trace.is_finite() && trace > 0.0) {
            return Err(candle_core::Error::Msg(format!(
                "relationship learning: tr((WᵀW + εI)^½) = {trace} (the output weights are not finite)"
            )));
        }
        // Exactly symmetric, and held at the f32 precision it is used and exported in.
        let k = root.len();
        let omega: Vec<Vec<f64>> = (0..k)
            .map(|i| {
                (0..k)
                    .map(|j| f64::from(((root[i][j] + root[j][i]) / (2.0 * trace)) as f32))
                    .collect()
            })
            .collect();
        self.omega_inv = inverse_tensor(&omega, device)?;
        self.omega = omega;
        Ok(())
    }

    /// Ω, T × T row-major.
    pub(in crate::model) fn omega(&self) -> Vec<f64> {
        self.omega.iter().flatten().copied().collect()
    }

    /// Ω as the named tensor [`OMEGA_NAME`].
    pub(in crate::model) fn export(&self) -> NamedTensor {
        let k = self.omega.len();
        NamedTensor {
            name: OMEGA_NAME.to_owned(),
            shape: vec![k, k],
            values: self.omega.iter().flatten().map(|v| *v as f32).collect(),
        }
    }

    /// Checks a loaded Ω `t` (named [`OMEGA_NAME`]) and inverts it, without setting it.
    pub(in crate::model) fn stage(
        &self,
        t: &NamedTensor,
        device: &Device,
    ) -> Result<StagedOmega, ModelError> {
        let k = self.omega.len();
        if t.shape != [k, k] {
            return Err(ModelError::Mismatch(format!(
                "tensor '{OMEGA_NAME}' has shape {:?} but this model has {k} tasks",
                t.shape
            )));
        }
        let m: Vec<Vec<f64>> = t
            .values
            .chunks(k)
            .map(|row| row.iter().map(|v| f64::from(*v)).collect())
            .collect();
        let inv = inverse_tensor(&m, device)?;
        Ok(StagedOmega(m, inv))
    }

    /// Sets a staged Ω.
    pub(in crate::model) fn set(&mut self, StagedOmega(m, inv): StagedOmega) {
        self.omega = m;
        self.omega_inv = inv;
    }
}

/// A row-major `f64` matrix as an `f32` tensor.
fn matrix_tensor(m: &[Vec<f64>], device: &Device) -> candle_core::Result<Tensor> {
    let k = m.len();
    let values: Vec<f32> = m.iter().flatten().map(|v| *v as f32).collect();
    Tensor::from_vec(values, (k, k), device)
}

/// Ω⁻¹ of a symmetric positive definite Ω, as a tensor (eigenvalues floored at 10⁻¹²).
fn inverse_tensor(omega: &[Vec<f64>], device: &Device) -> candle_core::Result<Tensor> {
    let (lam, v) = linalg::sym_eigen(omega);
    let inv: Vec<f64> = lam.iter().map(|l| 1.0 / l.max(1e-12)).collect();
    matrix_tensor(&linalg::compose(&inv, &v), device)
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::inverse_tensor;
    use crate::experiment::{ExperimentSpec, RelationshipSpec};
    use crate::model::OMEGA_NAME;
    use crate::model::tests::model;

    #[test]
    fn omega_starts_at_identity_over_t_and_updates_to_trace_one() {
        let mut spec = ExperimentSpec::default();
        spec.model.relationship = Some(RelationshipSpec::default());
        let mut m = model(&spec);
        assert_eq!(m.omega(), Some(vec![0.5, 0.0, 0.0, 0.5]), "I/T");
        assert!(m.has_penalty(), "the ridge and relationship terms");
        m.update_relationship().expect("update");
        let omega = m.omega().expect("omega");
        assert!(
            (omega[0] + omega[3] - 1.0).abs() < 1e-6,
            "trace 1: {omega:?}"
        );
        assert_eq!(omega[1].to_bits(), omega[2].to_bits(), "symmetric");
        let last = m.export().expect("export").pop().expect("tensors");
        assert_eq!(last.name, OMEGA_NAME, "Ω exported last");
        assert_eq!(m.relationship_every(), Some(20), "the spec's period");
    }

    #[test]
    fn inverse_of_a_diagonal_is_its_reciprocal() {
        let inv = inverse_tensor(&[vec![0.25, 0.0], vec![0.0, 0.5]], &Device::Cpu)
            .expect("inverse")
            .to_vec2::<f32>()
            .expect("values");
        for (row, want) in inv.iter().zip([[4.0f32, 0.0], [0.0, 2.0]]) {
            for (v, w) in row.iter().zip(want) {
                assert!((v - w).abs() < 1e-5, "{inv:?}");
            }
        }
    }
}
