//! Loss weighting and gradient combination: every strategy of the MTL literature behind one
//! trait ([`Strategy`]), one file per strategy in [`methods`](mod@methods), listed once in the registry
//! below.
//!
//! - weights from the losses alone: EW, manual, UW, DWA, GLS, RLW, STCH, FAMO (and GradNorm,
//!   which also reads the gradient norms);
//! - per-task gradients projected or rescaled: PCGrad, GradVac, IMTL, Aligned-MTL, DB-MTL,
//!   MoCo, ExcessMTL, GradDrop;
//! - per-task gradients combined by solving a small optimisation problem ([`solvers`]): MGDA,
//!   CAGrad, Nash-MTL, FairGrad, UPGrad, DualProj, ConFIG (a pseudo-inverse), and EPO (a
//!   linear program that steers the run onto a preference ray of the Pareto front, [`lp`]);
//! - stochastic solvers on three independent gradient samples per step: MoDo, SDMGrad.
//!
//! Each method's [`MethodInfo`] carries everything the rest of the app needs (label, paper,
//! formula, hyperparameters with defaults and ranges, string choices, whether it takes
//! representation gradients), so the validator, the settings panel and `mtl-studio
//! strategies` name no strategy themselves. Adding a strategy is one new file in
//! [`methods`](mod@methods) and one line in the registry.
//!
//! Every gradient strategy whose update is a weighted sum of the task gradients also takes
//! the CR-MOGM option ([`crmogm`]): a moving average of its weights. Gradient strategies
//! also take per-layer aggregation ([`per_layer`]: `aggregate_per`) and a gradient
//! normaliser applied before they combine ([`normalize`]: `grad_normalize`).
//!
//! The conventions (sum or mean scale, which weights are reported) follow LibMTL so numbers
//! compare with the reference library; see `mtl-studio aggregate`.

/// The [`Strategy`] methods a wrapper (an option applied around a strategy: CR-MOGM, the
/// gradient normaliser) passes unchanged to the strategy it holds in its field `inner`.
macro_rules! forward_to_inner {
    () => {
        fn name(&self) -> &'static str {
            self.inner.name()
        }

        fn needs_grads(&self, epoch: usize) -> bool {
            self.inner.needs_grads(epoch)
        }

        fn after_step(&mut self, losses_after: &[f64]) {
            self.inner.after_step(losses_after);
        }

        fn needs_losses_after(&self) -> bool {
            self.inner.needs_losses_after()
        }

        fn masks_entries(&self) -> bool {
            self.inner.masks_entries()
        }

        fn feature_multipliers(&self) -> Option<&[Vec<f64>]> {
            self.inner.feature_multipliers()
        }

        fn gradient_samples(&self) -> usize {
            self.inner.gradient_samples()
        }

        fn notice(&self) -> Option<&str> {
            self.inner.notice()
        }

        fn learn(&mut self, lr: f64) {
            self.inner.learn(lr);
        }

        fn set_layout(
            &mut self,
            layout: &$crate::weighting::SharedLayout,
        ) -> Result<(), $crate::weighting::WeightingError> {
            self.inner.set_layout(layout)
        }
    };
}

pub mod aggregate;
pub mod api;
mod common;
pub mod crmogm;
pub mod lp;
pub mod methods;
pub mod normalize;
pub mod per_layer;
pub mod solvers;
pub mod state;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

pub use api::{
    Choice, Extra, Family, Hyper, MethodInfo, Params, RepGrad, SharedLayout, StateReader,
    StepInput, StepOutput, Strategy, StrategyState, WeightingError,
};

use methods::{
    aligned_mtl, cagrad, config, db_mtl, dualproj, dwa, epo, ew, excess_mtl, fairgrad, famo, gls,
    graddrop, gradnorm, gradvac, imtl, manual, mgda, moco, modo, nash_mtl, pcgrad, rlw, sdmgrad,
    stch, upgrad, uw,
};

/// The strategies the teaching views (the landscape, the trade-off sweep) compare unless the
/// user picks others: the baseline, the min-norm solver, a projection and the two
/// Pareto-seeking solvers of the CAGrad and Nash-MTL papers.
pub const COMPARED_BY_DEFAULT: [&str; 5] = ["ew", "mgda", "pcgrad", "cagrad", "nash_mtl"];

/// Builds a strategy for `k` tasks from its hyperparameters (LibMTL names; absent ones take
/// the defaults of its [`MethodInfo`]).
pub type BuildFn = fn(&Params, usize) -> Result<Box<dyn Strategy>, WeightingError>;

/// Every strategy, one line each: its info and its builder. The order is the one of the
/// picker, `mtl-studio strategies` and the README's table: loss-based first.
const REGISTRY: &[(&MethodInfo, BuildFn)] = &[
    (&ew::INFO, ew::build),
    (&manual::INFO, manual::build),
    (&uw::INFO, uw::build),
    (&dwa::INFO, dwa::build),
    (&gls::INFO, gls::build),
    (&rlw::INFO, rlw::build),
    (&stch::INFO, stch::build),
    (&famo::INFO, famo::build),
    (&gradnorm::INFO, gradnorm::build),
    (&pcgrad::INFO, pcgrad::build),
    (&gradvac::INFO, gradvac::build),
    (&imtl::INFO, imtl::build),
    (&aligned_mtl::INFO, aligned_mtl::build),
    (&db_mtl::INFO, db_mtl::build),
    (&moco::INFO, moco::build),
    (&excess_mtl::INFO, excess_mtl::build),
    (&graddrop::INFO, graddrop::build),
    (&mgda::INFO, mgda::build),
    (&cagrad::INFO, cagrad::build),
    (&nash_mtl::INFO, nash_mtl::build),
    (&fairgrad::INFO, fairgrad::build),
    (&upgrad::INFO, upgrad::build),
    (&dualproj::INFO, dualproj::build),
    (&config::INFO, config::build),
    (&epo::INFO, epo::build),
    (&modo::INFO, modo::build),
    (&sdmgrad::INFO, sdmgrad::build),
];

/// Every strategy, loss-based first.
pub fn methods() -> impl Iterator<Item = &'static MethodInfo> {
    REGISTRY.iter().map(|(info, _)| *info)
}

/// The strategy called `key`, if there is one.
pub fn method(key: &str) -> Option<&'static MethodInfo> {
    methods().find(|m| m.key == key)
}

/// Builds strategy `key` for `k` tasks with `params` (LibMTL names; absent ones take their
/// defaults).
pub fn build(key: &str, params: &Params, k: usize) -> Result<Box<dyn Strategy>, WeightingError> {
    let key = key.to_ascii_lowercase();
    match REGISTRY.iter().find(|(info, _)| info.key == key) {
        Some((info, build)) => {
            let (info, build): (&'static MethodInfo, BuildFn) = (info, *build);
            let own = params.clone();
            // One instance with CR-MOGM applied; per layer, one per group; the gradient
            // normaliser outside, on the whole gradient.
            let make: per_layer::Make = Box::new(move || {
                let s = build(&own, k)?;
                if crmogm::supports(info) {
                    crmogm::wrap(s, &own)
                } else {
                    Ok(s)
                }
            });
            let grouped = per_layer::wrap(info, make, params)?;
            normalize::wrap(info, grouped, params)
        }
        None => Err(WeightingError(format!(
            "unknown strategy '{key}' (known: {})",
            methods().map(|m| m.key).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Cosine similarity of every pair of task gradients (K × K, row-major); 0 where a gradient
/// is zero.
pub fn cosines(grads: &[Vec<f64>]) -> Vec<f64> {
    cosines_from_gram(&api::gramian(grads))
}

/// [`cosines`] from the Gramian of the gradients.
pub fn cosines_from_gram(gram: &[Vec<f64>]) -> Vec<f64> {
    let norms: Vec<f64> = (0..gram.len())
        .map(|i| gram[i][i].max(0.0).sqrt())
        .collect();
    let mut out = Vec::with_capacity(gram.len() * gram.len());
    for (row, na) in gram.iter().zip(&norms) {
        for (g, nb) in row.iter().zip(&norms) {
            out.push(if *na > 0.0 && *nb > 0.0 {
                g / (na * nb)
            } else {
                0.0
            });
        }
    }
    out
}
