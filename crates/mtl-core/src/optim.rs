//! Optimizers: SGD with momentum, Adam, AdamW and RMSprop, with PyTorch's update rules.
//!
//! Each step reads a parameter's gradient, updates the parameter and the optimizer state in
//! one fused loop over plain `f32` buffers, and writes the parameter back, instead of a dozen
//! small tensor operations per parameter. The learning rate can change between steps.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};

use crate::experiment::OptimizerSpec;

/// Per-parameter state: first and second moment (or momentum buffer and square average).
#[derive(Clone, Debug, Default)]
struct State {
    a: Vec<f32>,
    b: Vec<f32>,
}

/// An optimizer's state between steps (see [`Optimizer::state`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptimizerState {
    /// The learning rate of the next step.
    pub lr: f64,
    /// Steps taken (Adam's bias correction counts them).
    pub step: u64,
    /// Per variable: first and second moment (Adam), momentum buffer (SGD) or momentum
    /// buffer and square average (RMSprop); empty before the variable's first update.
    pub moments: Vec<(Vec<f32>, Vec<f32>)>,
}

/// An optimizer over a fixed list of variables.
#[derive(Debug)]
pub struct Optimizer {
    spec: OptimizerSpec,
    lr: f64,
    step: u64,
    state: Vec<State>,
    lr_scales: Vec<f64>,
}

impl Optimizer {
    /// A new optimizer for `params` variables, with `spec`'s settings.
    pub fn new(spec: &OptimizerSpec, params: usize) -> Self {
        Self {
            spec: spec.clone(),
            lr: spec.lr(),
            step: 0,
            state: vec![State::default(); params],
            lr_scales: vec![1.0; params],
        }
    }

    /// The learning rate of the next step.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// Changes the learning rate from the next step on.
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// Multiplies variable `i`'s learning rate by `scale` (e.g. cross-stitch units).
    pub fn set_lr_scale(&mut self, i: usize, scale: f64) {
        if let Some(s) = self.lr_scales.get_mut(i) {
            *s = scale;
        }
    }

    /// Its state: the learning rate, the step count and each variable's moments, for a
    /// checkpoint.
    pub fn state(&self) -> OptimizerState {
        OptimizerState {
            lr: self.lr,
            step: self.step,
            moments: self
                .state
                .iter()
                .map(|s| (s.a.clone(), s.b.clone()))
                .collect(),
        }
    }

    /// Puts back a [`Self::state`] of an optimizer over the same variables (`sizes`: each
    /// variable's element count). A state that does not fit is an error naming the
    /// variable's index, and nothing changes.
    pub fn restore(&mut self, state: &OptimizerState, sizes: &[usize]) -> Result<(), String> {
        if state.moments.len() != self.state.len() || sizes.len() != self.state.len() {
            return Err(format!(
                "the optimizer state has {} parameters, the model {}",
                state.moments.len(),
                self.state.len()
            ));
        }
        for (i, ((a, b), n)) in state.moments.iter().zip(sizes).enumerate() {
            // Moments are made on a variable's first update: empty before it.
            let fits = |m: &Vec<f32>| m.is_empty() || m.len() == *n;
            if !(fits(a) && fits(b) && a.len() == b.len()) {
                return Err(format!(
                    "the optimizer state of parameter {i} has {} values, the parameter {n}",
                    a.len().max(b.len())
                ));
            }
        }
        if !(state.lr.is_finite() && state.lr > 0.0) {
            return Err(format!("learning rate {} in the optimizer state", state.lr));
        }
        self.lr = state.lr;
        self.step = state.step;
        for (slot, (a, b)) in self.state.iter_mut().zip(&state.moments) {
            slot.a.clone_from(a);
            slot.b.clone_from(b);
        }
        Ok(())
    }

    /// Applies one update to every variable that has a gradient in `grads`.
    pub fn step(&mut self, vars: &[&Var], grads: &GradStore) -> candle_core::Result<()> {
        self.begin_step();
        for (i, var) in vars.iter().enumerate() {
            let Some(grad) = grads.get(var.as_tensor()) else {
                continue;
            };
            let g = grad.flatten_all()?.to_vec1::<f32>()?;
            self.update(i, var, &g)?;
        }
        Ok(())
    }

    /// Starts a step whose updates are then applied one variable at a time with
    /// [`Self::update`] (for gradients built outside autograd, e.g. combined task gradients).
    pub fn begin_step(&mut self) {
        self.step += 1;
    }

    /// Applies one update to variable `i` with gradient `g` (flattened). Used by [`Self::step`]
    /// and by strategies that build gradients themselves.
    pub fn update(&mut self, i: usize, var: &Var, g: &[f32]) -> candle_core::Result<()> {
        if g.len() != var.elem_count() {
            candle_core::bail!(
                "optimizer: a gradient of {} for a parameter of {}",
                g.len(),
                var.elem_count()
            );
        }
        let state = &mut self.state[i];
        if state.a.len() != g.len() {
            state.a = vec![0.0; g.len()];
            state.b = vec![0.0; g.len()];
        }
        let rule = Rule {
            spec: &self.spec,
            lr: (self.lr * self.lr_scales.get(i).copied().unwrap_or(1.0)) as f32,
            t: self.step.max(1) as i32,
        };
        let fast =
            var.device().is_cpu() && var.dtype() == candle_core::DType::F32 && var.is_contiguous();
        if fast {
            // In place on the parameter's own buffer: no copy out and back.
            var.as_tensor().inplace_op1(&InPlace {
                rule,
                g,
                state: std::sync::Mutex::new(state),
            })
        } else {
            let mut w = var.flatten_all()?.to_vec1::<f32>()?;
            rule.apply(&mut w, g, state);
            var.set(&Tensor::from_vec(w, var.shape(), var.device())?)
        }
    }
}

/// One step of the update rule for one parameter.
struct Rule<'a> {
    spec: &'a OptimizerSpec,
    /// This parameter's learning rate.
    lr: f32,
    /// The step number (from 1).
    t: i32,
}

impl Rule<'_> {
    /// Updates `w` and its optimizer state in one loop, with PyTorch's formulas.
    fn apply(&self, w: &mut [f32], g: &[f32], state: &mut State) {
        let (lr, t) = (self.lr, self.t);
        match *self.spec {
            OptimizerSpec::Sgd {
                momentum,
                nesterov,
                weight_decay,
                ..
            } => {
                let (mu, wd) = (momentum as f32, weight_decay as f32);
                let first = t == 1;
                for ((w, g), buf) in w.iter_mut().zip(g).zip(&mut state.a) {
                    let mut d = g + wd * *w;
                    if mu > 0.0 {
                        *buf = if first { d } else { mu * *buf + d };
                        d = if nesterov { d + mu * *buf } else { *buf };
                    }
                    *w -= lr * d;
                }
            }
            OptimizerSpec::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            }
            | OptimizerSpec::AdamW {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                let decoupled = matches!(self.spec, OptimizerSpec::AdamW { .. });
                let (b1, b2, eps, wd) =
                    (beta1 as f32, beta2 as f32, eps as f32, weight_decay as f32);
                let bc1 = 1.0 - b1.powi(t);
                let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
                let step_size = lr / bc1;
                for (((w, g), m), v) in w.iter_mut().zip(g).zip(&mut state.a).zip(&mut state.b) {
                    let mut g = *g;
                    if decoupled {
                        *w *= 1.0 - lr * wd;
                    } else {
                        g += wd * *w;
                    }
                    *m = b1 * *m + (1.0 - b1) * g;
                    *v = b2 * *v + (1.0 - b2) * g * g;
                    *w -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
                }
            }
            OptimizerSpec::Rmsprop {
                alpha,
                eps,
                momentum,
                weight_decay,
                ..
            } => {
                let (alpha, eps, mu, wd) = (
                    alpha as f32,
                    eps as f32,
                    momentum as f32,
                    weight_decay as f32,
                );
                for (((w, g), sq), buf) in w.iter_mut().zip(g).zip(&mut state.b).zip(&mut state.a) {
                    let g = g + wd * *w;
                    *sq = alpha * *sq + (1.0 - alpha) * g * g;
                    let d = g / (sq.sqrt() + eps);
                    if mu > 0.0 {
                        *buf = mu * *buf + d;
                        *w -= lr * *buf;
                    } else {
                        *w -= lr * d;
                    }
                }
            }
        }
    }
}

/// [`Rule::apply`] on a parameter's CPU buffer, in place.
struct InPlace<'a> {
    rule: Rule<'a>,
    g: &'a [f32],
    state: std::sync::Mutex<&'a mut State>,
}

impl candle_core::InplaceOp1 for InPlace<'_> {
    fn name(&self) -> &'static str {
        "optimizer-update"
    }

    fn cpu_fwd(
        &self,
        storage: &mut candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<()> {
        let candle_core::CpuStorage::F32(values) = storage else {
            candle_core::bail!("optimizer-update: expects f32 parameters");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("optimizer-update: expects a contiguous parameter");
        };
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.rule.apply(&mut values[start..end], self.g, &mut state);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;

    /// Minimises ½‖w − 3‖² from w = 0 and returns the final distance.
    fn minimise(spec: &OptimizerSpec, steps: usize) -> f32 {
        let var = Var::zeros(4, candle_core::DType::F32, &Device::Cpu).expect("var");
        let mut opt = Optimizer::new(spec, 1);
        for _ in 0..steps {
            let loss = ((var.as_tensor() - 3.0)
                .expect("sub")
                .sqr()
                .expect("sqr")
                .sum_all()
                .expect("sum")
                * 0.5)
                .expect("scale");
            let grads = loss.backward().expect("backward");
            opt.step(&[&var], &grads).expect("step");
        }
        let w: Vec<f32> = var.to_vec1().expect("vec");
        w.iter().map(|v| (v - 3.0).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn the_in_place_update_equals_the_update_of_a_copy() {
        for spec in OptimizerSpec::defaults_with_lr(0.01) {
            let w0: Vec<f32> = (0..7).map(|i| (i as f32 * 0.7).sin()).collect();
            let var = Var::from_vec(w0.clone(), 7, &Device::Cpu).expect("var");
            let mut opt = Optimizer::new(&spec, 1);
            let (mut w, mut state) = (
                w0,
                State {
                    a: vec![0.0; 7],
                    b: vec![0.0; 7],
                },
            );
            for t in 1..=3 {
                let g: Vec<f32> = (0..7).map(|i| ((i * t) as f32 * 0.3).cos()).collect();
                opt.begin_step();
                opt.update(0, &var, &g).expect("update");
                let rule = Rule {
                    spec: &spec,
                    lr: 0.01,
                    t,
                };
                rule.apply(&mut w, &g, &mut state);
            }
            let fast: Vec<f32> = var.to_vec1().expect("vec");
            assert_eq!(fast, w, "{}: in place and on a copy agree", spec.label());
            assert!(
                opt.update(0, &var, &[0.0; 3]).is_err(),
                "a gradient of the wrong size is refused"
            );
        }
    }

    #[test]
    fn every_optimizer_converges_on_a_quadratic() {
        for spec in OptimizerSpec::defaults_with_lr(0.05) {
            let dist = minimise(&spec, 600);
            assert!(dist < 0.05, "{} ends {dist} from the minimum", spec.label());
        }
    }

    #[test]
    fn adam_first_step_is_lr_times_sign() {
        // With bias correction Adam's first step is −lr·g/(|g| + eps) ≈ −lr·sign(g).
        let spec = OptimizerSpec::defaults_with_lr(0.1)[1].clone();
        let var = Var::new(&[1.0f32, -2.0], &Device::Cpu).expect("var");
        let loss = var.as_tensor().sqr().expect("sqr").sum_all().expect("sum");
        let grads = loss.backward().expect("backward");
        Optimizer::new(&spec, 1)
            .step(&[&var], &grads)
            .expect("step");
        let w: Vec<f32> = var.to_vec1().expect("vec");
        assert!(
            (w[0] - 0.9).abs() < 1e-6 && (w[1] + 1.9).abs() < 1e-6,
            "got {w:?}"
        );
    }

    #[test]
    fn sgd_momentum_matches_pytorch_by_hand() {
        // PyTorch: buf₁ = g₁, buf₂ = μ·buf₁ + g₂; with g = w (loss ½w²), w₀ = 1, lr 0.1, μ 0.9:
        // w₁ = 0.9, buf₂ = 0.9·1 + 0.9 = 1.8, w₂ = 0.9 − 0.18 = 0.72.
        let spec = OptimizerSpec::defaults_with_lr(0.1)[0].clone();
        let var = Var::new(&[1.0f32], &Device::Cpu).expect("var");
        let mut opt = Optimizer::new(&spec, 1);
        for _ in 0..2 {
            let loss =
                (var.as_tensor().sqr().expect("sqr").sum_all().expect("sum") * 0.5).expect("half");
            let grads = loss.backward().expect("backward");
            opt.step(&[&var], &grads).expect("step");
        }
        let w: Vec<f32> = var.to_vec1().expect("vec");
        assert!((w[0] - 0.72).abs() < 1e-6, "got {w:?}");
    }
}
