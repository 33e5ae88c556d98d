//! GradDrop: gradient sign dropout on the shared representation (Chen et al., NeurIPS 2020).

use rand::Rng as _;
use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    dot,
};
use crate::weighting::common::{checked_grads, finite, hyper_in};

/// `leak`.
const LEAK: Hyper = Hyper {
    name: "leak",
    default: 0.0,
    min: 0.0,
    max: 1.0,
    integer: false,
    help: "fraction of a dropped gradient that still passes (0 drops it fully)",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "graddrop",
    label: "GradDrop",
    family: Family::Gradient,
    paper: "Chen, Ngiam, Huang, Luong, Kretzschmar, Chai, Anguelov, Just Pick a Sign: Optimizing Deep \
            Multitask Models with Gradient Sign Dropout, NeurIPS 2020",
    about: "GradDrop works on the gradient with respect to the shared representation. For every entry \
            it measures how much the tasks agree on the sign of the gradient, then randomly keeps \
            only the positive or only the negative contributions, picking the majority sign more \
            often. Conflicting pushes on the same feature are thus not averaged away; entries where \
            all tasks agree pass unchanged.",
    formula: "s_ik = g_ik · sign(r_k); P_k = (1 + Σ_i s_ik / (Σ_i |s_ik| + ε)) / 2; U_k uniform in [0, 1); \
              keep_ik = (P_k > U_k and s_ik > 0) or (P_k < U_k and s_ik < 0); d_k = Σ_i g_ik (leak + (1 - leak) keep_ik)",
    hypers: &[LEAK],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::Required,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    Ok(Box::new(GradDrop::new(params, k)?))
}

/// GradDrop (Chen et al., "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient
/// Sign Dropout", NeurIPS 2020), as LibMTL's `GradDrop.py`.
///
/// Works on the representation gradient: the input gradients (K × d) are ∂L_k/∂rep for one
/// representation of length d, and `rep_value` (d, required) is the representation itself.
/// Per entry f: s_kf = g_kf · sign(rep_f) (sign(0) = 0, as torch), P_f = ½(1 + Σ_k s_kf /
/// (Σ_k |s_kf| + 1e-7)), U_f uniform in [0, 1) from `rng` (one draw per entry, in index
/// order); task k's entry is kept when (P_f > U_f and s_kf > 0) or (P_f < U_f and s_kf < 0);
/// output_f = Σ_k g_kf (leak + (1 - leak) keep_kf). LibMTL returns no weights: `weights` are
/// ones. There is no exact effective vector (the mask is per entry): `effective_k` is the
/// least-squares coefficient ⟨masked g_k, g_k⟩ / ‖g_k‖², the share of task k's squared
/// gradient that passed (0 when g_k = 0). Heads get 1.
#[derive(Clone, Debug)]
pub struct GradDrop {
    k: usize,
    leak: f64,
    /// The last step's multipliers `leak + (1 − leak)·mask`, K × d.
    factors: Vec<Vec<f64>>,
}

impl GradDrop {
    fn new(params: &Params, k: usize) -> Result<Self, WeightingError> {
        INFO.check_setup(params, k)?;
        Ok(Self {
            k,
            leak: hyper_in(params, &LEAK, 0.0, 1.0)?,
            factors: Vec::new(),
        })
    }
}

impl Strategy for GradDrop {
    fn name(&self) -> &'static str {
        INFO.key
    }

    fn masks_entries(&self) -> bool {
        true
    }

    fn feature_multipliers(&self) -> Option<&[Vec<f64>]> {
        (!self.factors.is_empty()).then_some(self.factors.as_slice())
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "graddrop")?;
        let d = grads.first().map_or(0, Vec::len);
        let rep = input.rep_value.ok_or_else(|| {
            WeightingError(
                "graddrop needs the shared representation's value (rep_value)".to_owned(),
            )
        })?;
        if rep.len() != d {
            return Err(WeightingError(format!(
                "graddrop: rep_value has length {} but the gradients have length {d}",
                rep.len()
            )));
        }
        if rep.iter().any(|v| !v.is_finite()) {
            return Err(WeightingError(
                "graddrop: rep_value has a non-finite entry".to_owned(),
            ));
        }
        let mut out = vec![0.0; d];
        let mut kept_sq = vec![0.0; self.k];
        let mut factors = vec![vec![0.0; d]; self.k];
        for (f, (o, r)) in out.iter_mut().zip(rep).enumerate() {
            let sign = if *r > 0.0 {
                1.0
            } else if *r < 0.0 {
                -1.0
            } else {
                0.0
            };
            let s: Vec<f64> = grads.iter().map(|g| g[f] * sign).collect();
            let sum: f64 = s.iter().sum();
            let abs: f64 = s.iter().map(|v| v.abs()).sum();
            let p = 0.5 * (1.0 + sum / (abs + 1e-7));
            let u: f64 = rng.random::<f64>();
            for (((g, sk), kept), row) in grads
                .iter()
                .zip(&s)
                .zip(kept_sq.iter_mut())
                .zip(factors.iter_mut())
            {
                let keep = (p > u && *sk > 0.0) || (p < u && *sk < 0.0);
                let factor = self.leak + (1.0 - self.leak) * if keep { 1.0 } else { 0.0 };
                row[f] = factor;
                *o += g[f] * factor;
                *kept += g[f] * g[f] * factor;
            }
        }
        let effective: Vec<f64> = grads
            .iter()
            .zip(&kept_sq)
            .map(|(g, kept)| {
                let gg = dot(g, g);
                if gg > 0.0 { kept / gg } else { 0.0 }
            })
            .collect();
        self.factors = factors;
        finite(
            StepOutput {
                shared_grad: Some(out),
                weights: vec![1.0; self.k],
                effective,
                head_weights: vec![1.0; self.k],
            },
            "graddrop",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::weighted_sum;
    use crate::weighting::testing::{close, j2, params, rng};

    #[test]
    fn graddrop_keeps_everything_when_signs_agree() {
        let g = vec![vec![1.0, -2.0, 0.5, 3.0], vec![0.5, -1.0, 2.0, 0.1]];
        let rep = vec![0.3, 1.0, -2.0, 0.7];
        let sum = weighted_sum(&g, &[1.0, 1.0]);
        let mut s = build(&Params::new(), 2).unwrap();
        let mut r = rng();
        for _ in 0..50 {
            let input = StepInput {
                epoch: 0,
                losses: &[1.0, 1.0],
                grads: Some(&g),
                loss_history: &[],
                rep_value: Some(&rep),
                samples: &[],
            };
            let out = s.combine(&input, &mut r).unwrap();
            close(out.shared_grad.as_ref().unwrap(), &sum, 0.0);
            close(&out.effective, &[1.0, 1.0], 1e-12);
            close(&out.weights, &[1.0, 1.0], 0.0);
        }
    }

    #[test]
    fn graddrop_picks_one_sign_with_probability_p() {
        // Feature 0: s = [3, -1] so P = 0.5 (1 + 2 / 4) = 0.75: keep +3 with probability 0.75.
        let g = vec![vec![3.0], vec![-1.0]];
        let rep = vec![2.0];
        let mut s = build(&Params::new(), 2).unwrap();
        let mut r = rng();
        let (mut pos, n) = (0, 20_000);
        for _ in 0..n {
            let input = StepInput {
                epoch: 0,
                losses: &[1.0, 1.0],
                grads: Some(&g),
                loss_history: &[],
                rep_value: Some(&rep),
                samples: &[],
            };
            let d = s.combine(&input, &mut r).unwrap().shared_grad.unwrap()[0];
            if d == 3.0 {
                pos += 1;
            } else {
                assert_eq!(d, -1.0);
            }
        }
        let frac = f64::from(pos) / f64::from(n);
        assert!((frac - 0.75).abs() < 0.02, "{frac}");
        // leak = 1 keeps everything.
        let mut s = build(&params(r#"{"leak": 1.0}"#), 2).unwrap();
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: Some(&rep),
            samples: &[],
        };
        close(
            s.combine(&input, &mut r)
                .unwrap()
                .shared_grad
                .as_ref()
                .unwrap(),
            &[2.0],
            0.0,
        );
    }

    #[test]
    fn graddrop_needs_rep_value() {
        let mut s = build(&Params::new(), 2).unwrap();
        let g = j2();
        let input = StepInput {
            epoch: 0,
            losses: &[1.0, 1.0],
            grads: Some(&g),
            loss_history: &[],
            rep_value: None,
            samples: &[],
        };
        assert!(
            s.combine(&input, &mut rng())
                .unwrap_err()
                .0
                .contains("rep_value")
        );
    }
}
