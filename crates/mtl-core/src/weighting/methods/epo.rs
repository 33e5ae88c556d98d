//! EPO: exact Pareto optimal search with a preference over the tasks (Mahapatra & Rajan,
//! ICML 2020).

use rand_chacha::ChaCha8Rng;

use crate::weighting::api::{
    Extra, Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy,
    WeightingError, finite_output, weighted_sum,
};
use crate::weighting::common::{checked_input, hyper_in};
use crate::weighting::lp::{AtLeast, simplex_lp};
use crate::weighting::solvers::mat_vec;

/// `EPO_eps`.
const EPO_EPS: Hyper = Hyper {
    name: "EPO_eps",
    default: 1e-4,
    min: 0.0,
    max: 0.1,
    integer: false,
    help: "How far from the preference ray (the non-uniformity mu of r*L) still counts as on \
           it: above it EPO balances, below it it descends along the front.",
};

/// `preference`.
const PREFERENCE: Extra = Extra {
    name: "preference",
    help: "One positive number per task, r_k: the run aims at r_k*L_k equal for every task, \
           so a larger r_k asks for a smaller loss of task k. Default: the tasks' weights.",
};

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "epo",
    label: "EPO (preference on the front)",
    family: Family::Gradient,
    paper: "Mahapatra & Rajan, Multi-Task Learning with User Preferences: Gradient Descent with \
            Controlled Ascent in Pareto Optimization, ICML 2020",
    about: "Lands the run on the Pareto front where you ask. You give each task a preference \
            r_k (the task weights in the task list); EPO steers until r_k·L_k is the same for \
            every task, that is onto the ray L proportional to 1/r, and then descends along \
            the front without leaving the ray. Each step solves a small linear program over \
            the task weights: while off the ray it raises the tasks that lag behind their \
            preference (allowing a controlled ascent of the others), once on it it takes the \
            steepest common descent. Sweeping r traces the front.",
    formula: "l = r*L / sum(r*L);  mu = sum_k l_k log(K l_k);  a = r*(log(K l) - mu);  C = G G^T;\n\
              mu > eps: alpha = argmax over the simplex of alpha^T C a  s.t. (C alpha)_j >= (C a)_j where (C a)_j <= 0, (C alpha)_j* >= 0 for j* = argmax r*L;\n\
              else:     alpha = argmax over the simplex of sum(C alpha)  s.t. C alpha >= 0, alpha^T C a >= min(max(C a), 0);\n\
              d = sum_k alpha_k g_k",
    hypers: &[EPO_EPS],
    choices: &[],
    extras: &[PREFERENCE],
    rep_grad: RepGrad::Allowed,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let eps = hyper_in(params, &EPO_EPS, 0.0, f64::INFINITY)?;
    let preference = match params.get(PREFERENCE.name) {
        None => vec![1.0; k],
        Some(v) => read_preference(v, k)?,
    };
    Ok(Box::new(Epo {
        k,
        eps,
        preference,
        notice: None,
    }))
}

/// The `preference` parameter: K positive finite numbers.
fn read_preference(v: &serde_json::Value, k: usize) -> Result<Vec<f64>, WeightingError> {
    let items = v.as_array().ok_or_else(|| {
        WeightingError(format!(
            "epo: parameter 'preference' must be an array of {k} positive numbers, got {v}"
        ))
    })?;
    if items.len() != k {
        return Err(WeightingError(format!(
            "epo: parameter 'preference' has {} entries but there are {k} tasks",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, x)| match x.as_f64() {
            Some(r) if r.is_finite() && r > 0.0 => Ok(r),
            _ => Err(WeightingError(format!(
                "epo: preference[{i}] = {x} must be a positive number (a task with preference 0 \
                 would have no place on the ray)"
            ))),
        })
        .collect()
}

/// EPO (Mahapatra & Rajan, "Multi-Task Learning with User Preferences", ICML 2020), as the
/// authors' `EPO_LP.get_alpha`: the non-uniformity μ of r⊙L (the KL divergence of its
/// normalisation from uniform) decides between the balance LP (μ > `EPO_eps`) and the
/// restricted descent LP; both are solved exactly ([`simplex_lp`], where the authors call
/// GLPK). The loss is Σ αₖLₖ with α on the simplex, as the authors back-propagate it, so
/// `weights` = `effective` = `head_weights` = α and the shared gradient is Σ αₖgₖ (the
/// scale of MGDA's update, 1/K of EW's).
///
/// Degenerate inputs: a loss of 0 counts as 10⁻¹² of the total (its logarithm stays
/// finite); a negative loss is an error. When the balance LP has no solution the relaxed
/// descent LP is used, as the authors' `relax` option; when no LP has one (every convex
/// combination of the gradients conflicts with some task: a Pareto-stationary point) the
/// step is a zero shared update, the heads weighted by the preference, with a notice.
#[derive(Debug)]
pub struct Epo {
    k: usize,
    eps: f64,
    preference: Vec<f64>,
    notice: Option<String>,
}

/// The non-uniformity μ of r⊙L and the adjustments a (K) of the authors' `adjustments`.
fn adjustments(r: &[f64], losses: &[f64]) -> (Vec<f64>, f64, Vec<f64>) {
    let k = r.len() as f64;
    let rl: Vec<f64> = r.iter().zip(losses).map(|(r, l)| r * l).collect();
    let total: f64 = rl.iter().sum();
    let hat: Vec<f64> = rl.iter().map(|v| (v / total).max(1e-12)).collect();
    let mu: f64 = hat.iter().map(|h| h * (h * k).ln()).sum();
    let a = r
        .iter()
        .zip(&hat)
        .map(|(r, h)| r * ((h * k).ln() - mu))
        .collect();
    (rl, mu, a)
}

impl Epo {
    /// The task weights α of one step (on the simplex), and whether a fallback was used.
    fn alpha(&self, c: &[Vec<f64>], losses: &[f64]) -> Result<Vec<f64>, &'static str> {
        let k = self.k;
        let (rl, mu, a) = adjustments(&self.preference, losses);
        let ca = mat_vec(c, &a);
        let sum_c: Vec<f64> = (0..k).map(|j| c.iter().map(|row| row[j]).sum()).collect();
        let descent_rows = || -> Vec<AtLeast> {
            c.iter()
                .map(|row| AtLeast {
                    a: row.clone(),
                    b: 0.0,
                })
                .collect()
        };
        if mu > self.eps {
            let top = rl.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let any_positive = ca.iter().any(|v| *v > 0.0);
            let rows: Vec<AtLeast> = (0..k)
                .filter_map(|j| {
                    let b = if rl[j] == top || !any_positive {
                        0.0
                    } else if ca[j] > 0.0 {
                        return None;
                    } else {
                        ca[j]
                    };
                    Some(AtLeast { a: c[j].clone(), b })
                })
                .collect();
            if let Some(x) = simplex_lp(&ca, &rows) {
                return Ok(x);
            }
            return simplex_lp(&sum_c, &descent_rows())
                .ok_or("no weights balance the tasks or descend for all of them");
        }
        let max_ca = ca.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mut rows = descent_rows();
        rows.push(AtLeast {
            a: ca.clone(),
            b: max_ca.min(0.0),
        });
        if let Some(x) = simplex_lp(&sum_c, &rows) {
            return Ok(x);
        }
        simplex_lp(&sum_c, &descent_rows()).ok_or("no weights descend for every task")
    }
}

impl Strategy for Epo {
    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let (grads, c) = checked_input("epo", input, self.k)?;
        if let Some(i) = input.losses.iter().position(|l| *l < 0.0) {
            return Err(WeightingError(format!(
                "epo: the preference ray needs non-negative losses (task {i} has loss {})",
                input.losses[i]
            )));
        }
        self.notice = None;
        match self.alpha(&c, input.losses) {
            Ok(alpha) => finite_output(
                "epo",
                StepOutput {
                    shared_grad: Some(weighted_sum(grads, &alpha)),
                    weights: alpha.clone(),
                    effective: alpha.clone(),
                    head_weights: alpha,
                },
            ),
            Err(why) => {
                self.notice = Some(format!(
                    "{}: {why}, so the shared update is zero (a Pareto-stationary point); the \
                     heads still learn",
                    INFO.label
                ));
                let total: f64 = self.preference.iter().sum();
                let heads: Vec<f64> = self.preference.iter().map(|r| r / total).collect();
                Ok(StepOutput {
                    shared_grad: Some(vec![0.0; grads.first().map_or(0, Vec::len)]),
                    weights: heads.clone(),
                    effective: vec![0.0; self.k],
                    head_weights: heads,
                })
            }
        }
    }

    fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::api::dot;
    use crate::weighting::testing::{input, pairs, rng};

    fn epo(r: &[f64]) -> Box<dyn Strategy> {
        let p = pairs(&[("preference", serde_json::json!(r))]);
        build(&p, r.len()).unwrap()
    }

    /// Off the ray, the balance step lowers the task whose weighted loss r⊙L is largest
    /// (its directional derivative along d is positive, d being the descent direction)
    /// and never makes any task that lags less climb faster than the adjustment allows.
    #[test]
    fn the_lagging_task_descends_first() {
        let g = vec![vec![1.0, 0.0], vec![-0.8, 0.6]];
        // r = (1, 1): task 0's loss 3 is far above task 1's 1.
        let mut s = epo(&[1.0, 1.0]);
        let out = s
            .combine(&input(0, &[3.0, 1.0], Some(&g), &[]), &mut rng())
            .unwrap();
        let d = out.shared_grad.unwrap();
        assert!(dot(&d, &g[0]) > 0.0, "task 0 descends: {d:?}");
        assert!(out.weights[0] > out.weights[1], "{:?}", out.weights);
        assert!((out.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    /// On the ray (r⊙L uniform) EPO descends for every task when it can: with aligned-ish
    /// gradients both directional derivatives are positive.
    #[test]
    fn on_the_ray_every_task_descends() {
        let g = vec![vec![1.0, 0.2], vec![0.3, 1.0]];
        let mut s = epo(&[2.0, 1.0]);
        // r⊙L = (2·0.5, 1·1) is uniform: μ = 0.
        let out = s
            .combine(&input(0, &[0.5, 1.0], Some(&g), &[]), &mut rng())
            .unwrap();
        let d = out.shared_grad.unwrap();
        for gk in &g {
            assert!(dot(&d, gk) >= -1e-12, "{d:?}");
        }
        assert!(s.notice().is_none());
    }

    /// Exactly opposite gradients on the ray: no direction descends for both, so the step
    /// is a zero shared update with a notice, never an error.
    #[test]
    fn opposite_gradients_give_a_zero_update_with_a_notice() {
        let g = vec![vec![1.0, 0.0], vec![-1.0, 0.0]];
        let mut s = epo(&[1.0, 1.0]);
        let out = s
            .combine(&input(0, &[1.0, 1.0], Some(&g), &[]), &mut rng())
            .unwrap();
        let d = out.shared_grad.unwrap();
        // Either the zero update with a notice, or a direction that harms neither task.
        if s.notice().is_some() {
            assert!(d.iter().all(|v| *v == 0.0), "{d:?}");
        } else {
            assert!(
                dot(&d, &g[0]) >= -1e-12 && dot(&d, &g[1]) >= -1e-12,
                "{d:?}"
            );
        }
    }

    /// A preference that is not K positive numbers is refused by name.
    #[test]
    fn a_bad_preference_is_refused() {
        for bad in [
            serde_json::json!([1.0]),
            serde_json::json!([1.0, 0.0]),
            serde_json::json!("1,1"),
        ] {
            let err = build(&pairs(&[("preference", bad.clone())]), 2)
                .err()
                .unwrap();
            assert!(err.0.contains("preference"), "{bad}: {err}");
        }
    }

    /// Gradients 10⁸ apart in length are balanced as well as unit ones (the LP rows are
    /// scaled): the lagging task still descends.
    #[test]
    fn badly_scaled_gradients_are_balanced() {
        let g = vec![vec![1e-4, 0.0], vec![-0.8e4, 0.6e4]];
        let mut s = epo(&[1.0, 1.0]);
        let out = s
            .combine(&input(0, &[3.0, 1.0], Some(&g), &[]), &mut rng())
            .unwrap();
        let d = out.shared_grad.unwrap();
        assert!(dot(&d, &g[0]) > 0.0, "{d:?} {:?}", out.weights);
    }
}
