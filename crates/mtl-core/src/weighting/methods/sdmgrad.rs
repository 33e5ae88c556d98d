//! SDMGrad: stochastic direction-oriented multi-objective gradient descent (Xiao, Ban & Ji,
//! NeurIPS 2023).

use rand_chacha::ChaCha8Rng;

use crate::weighting::state::{StateReader, StrategyState};

use crate::weighting::api::{
    Family, Hyper, MethodInfo, Params, RepGrad, StepInput, StepOutput, Strategy, WeightingError,
    dot, weighted_sum,
};
use crate::weighting::common::{checked_grads, finite, hyper_in, positive_count};
use crate::weighting::methods::modo::three_samples;

/// `SDMGrad_lamda` (LibMTL's spelling).
const SDMGRAD_LAMDA: Hyper = Hyper {
    name: "SDMGrad_lamda",
    default: 0.3,
    min: 0.0,
    max: 10.0,
    integer: false,
    help: "Pull λ towards the mean gradient: 0 = a stochastic MGDA, large = the mean.",
};

/// `SDMGrad_niter`.
const SDMGRAD_NITER: Hyper = Hyper {
    name: "SDMGrad_niter",
    default: 20.0,
    min: 1.0,
    max: 100.0,
    integer: true,
    help: "SGD steps (lr 5, momentum 0.5) on the weights w per training step.",
};

/// Learning rate and momentum of the inner SGD (fixed in LibMTL).
const INNER_LR: f64 = 5.0;
const INNER_MOMENTUM: f64 = 0.5;

/// What the strategy is, its hyperparameters and their defaults.
pub const INFO: MethodInfo = MethodInfo {
    key: "sdmgrad",
    label: "SDMGrad (direction-oriented)",
    family: Family::Gradient,
    paper: "Xiao, Ban & Ji, NeurIPS 2023",
    about: "A stochastic MGDA kept near the mean gradient: the update's direction is \
            regularised towards the average of the task gradients by λ, and the weights w \
            are found by a few projected SGD steps on a Gramian estimated from two \
            independent batches (unbiased), while a third batch gives the gradients that \
            are combined. Each step therefore draws three batches. Mean scale, like CAGrad.",
    formula: "GG = G_ξ₁ G_ξ₂ᵀ / (mean_k √GG_kk)²;  w ← Π_Δ(SGD on ½wᵀGGw + λ·wᵀ mean_j GG_·j);  d = (G_ζᵀ w + λ·mean_k g_ζ,k) / (1 + λ)",
    hypers: &[SDMGRAD_LAMDA, SDMGRAD_NITER],
    choices: &[],
    extras: &[],
    rep_grad: RepGrad::No,
};

/// Builds the strategy for `k` tasks from `params` (absent ones take [`INFO`]'s defaults).
pub fn build(params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    INFO.check_setup(params, k)?;
    let lamda = hyper_in(params, &SDMGRAD_LAMDA, 0.0, f64::INFINITY)
        .map_err(|e| WeightingError(format!("sdmgrad: {e}")))?;
    let niter = positive_count(params, "sdmgrad", &SDMGRAD_NITER)?;
    Ok(Box::new(SdmGrad {
        k,
        lamda,
        niter,
        w: vec![1.0 / k as f64; k],
    }))
}

/// SDMGrad (Xiao, Ban & Ji, "Direction-oriented Multi-objective Learning: Simple and Provable
/// Stochastic Algorithms", NeurIPS 2023), as LibMTL `SDMGrad`: with three independent
/// gradient samples ζ, ξ₁, ξ₂ ([`StepInput::samples`]), GG = G_ξ₁G_ξ₂ᵀ divided by
/// s² + 1e-8 (s the mean of √max(GGₖₖ, 0)), Gg its row means; `SDMGrad_niter` steps of SGD
/// (lr 5, momentum 0.5, the momentum buffer new at every training step, as torch's SGD) on
/// w with the gradient GG·w + λ·Gg, each followed by LibMTL's Euclidean projection onto the
/// simplex; d = (G_ζᵀw + λ·mean_k g_ζ,k)/(1 + λ). State: w (init 1/K). `weights` = w (as
/// the reference file records; LibMTL itself returns none), `effective` = (w + λ/K)/(1+λ)
/// (the weights on ζ's gradients); heads get 1.
///
/// The inner SGD amplifies rounding (lr 5), so the reference matches to 1e-2 relative only.
/// Differences from LibMTL: its heads accumulate their gradients over the three batches;
/// here they get their gradient on the step's own batch (ζ). Without independent samples
/// (the gradient playground, an `aggregate` case without `G_samples`) the step's one
/// gradient matrix serves as all three: the noiseless limit.
#[derive(Debug)]
pub struct SdmGrad {
    /// Number of tasks K.
    k: usize,
    /// λ.
    lamda: f64,
    /// Inner SGD steps.
    niter: usize,
    /// The inner weights w on the simplex.
    w: Vec<f64>,
}

/// The Euclidean projection onto the simplex as LibMTL SDMGrad's `euclidean_proj_simplex`:
/// points already on it are returned unchanged.
fn euclidean_proj_simplex(v: &[f64]) -> Vec<f64> {
    if v.iter().sum::<f64>() == 1.0 && v.iter().all(|x| *x >= 0.0) {
        return v.to_vec();
    }
    let mut u = v.to_vec();
    u.sort_by(|a, b| b.total_cmp(a));
    let mut cssv = 0.0;
    let mut theta = 0.0;
    for (i, ui) in u.iter().enumerate() {
        cssv += ui;
        if ui * (i + 1) as f64 > cssv - 1.0 {
            theta = (cssv - 1.0) / (i + 1) as f64;
        }
    }
    v.iter().map(|x| (x - theta).max(0.0)).collect()
}

impl Strategy for SdmGrad {
    fn state(&self) -> StrategyState {
        let mut s = StrategyState::default();
        s.push("w", &self.w);
        s
    }

    fn restore(&mut self, state: &StrategyState) -> Result<(), WeightingError> {
        let mut r = StateReader::new(INFO.key, state);
        let w = r.vec("w", self.k)?;
        r.finish()?;
        self.w = w;
        Ok(())
    }

    fn name(&self) -> &'static str {
        INFO.key
    }

    fn needs_grads(&self, _epoch: usize) -> bool {
        true
    }

    fn gradient_samples(&self) -> usize {
        3
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        _rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let grads = checked_grads(input, self.k, "sdmgrad")?;
        let [zeta, xi1, xi2] = three_samples("sdmgrad", input, grads)?;
        let k = self.k;
        let mut gg: Vec<Vec<f64>> = xi1
            .iter()
            .map(|a| xi2.iter().map(|b| dot(a, b)).collect())
            .collect();
        let scale = (0..k).map(|i| gg[i][i].max(0.0).sqrt()).sum::<f64>() / k as f64;
        let denom = scale * scale + 1e-8;
        for row in &mut gg {
            for v in row.iter_mut() {
                *v /= denom;
            }
        }
        let gg_mean: Vec<f64> = gg
            .iter()
            .map(|r| r.iter().sum::<f64>() / k as f64)
            .collect();
        let mut w = self.w.clone();
        let mut buf: Option<Vec<f64>> = None;
        for _ in 0..self.niter {
            let grad: Vec<f64> = gg
                .iter()
                .zip(&gg_mean)
                .map(|(row, m)| dot(row, &w) + self.lamda * m)
                .collect();
            let b = match buf {
                None => grad,
                Some(b) => b
                    .iter()
                    .zip(&grad)
                    .map(|(bv, g)| INNER_MOMENTUM * bv + g)
                    .collect(),
            };
            for (wi, bi) in w.iter_mut().zip(&b) {
                *wi -= INNER_LR * bi;
            }
            w = euclidean_proj_simplex(&w);
            buf = Some(b);
        }
        let effective: Vec<f64> = w
            .iter()
            .map(|wi| (wi + self.lamda / k as f64) / (1.0 + self.lamda))
            .collect();
        let out = finite(
            StepOutput {
                shared_grad: Some(weighted_sum(zeta, &effective)),
                weights: w.clone(),
                effective,
                head_weights: vec![1.0; k],
            },
            "sdmgrad",
        )?;
        self.w = w;
        Ok(out)
    }
}
