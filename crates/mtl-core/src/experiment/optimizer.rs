//! The optimizer and its hyperparameters.

use super::*;

/// The optimizer, with its hyperparameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum OptimizerSpec {
    /// Stochastic gradient descent with (optionally Nesterov) momentum, as PyTorch's `SGD`.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum factor in [0, 1).
        #[serde(default)]
        momentum: f64,
        /// Use Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
    /// Adam (Kingma & Ba 2015), weight decay as an L2 term in the gradient.
    Adam {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        #[serde(default = "beta1")]
        beta1: f64,
        /// Second-moment decay.
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator.
        #[serde(default = "adam_eps")]
        eps: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
    /// AdamW (Loshchilov & Hutter 2019): Adam with decoupled weight decay.
    #[serde(rename = "adamw")]
    AdamW {
        /// Learning rate.
        lr: f64,
        /// First-moment decay.
        #[serde(default = "beta1")]
        beta1: f64,
        /// Second-moment decay.
        #[serde(default = "beta2")]
        beta2: f64,
        /// Added to the denominator.
        #[serde(default = "adam_eps")]
        eps: f64,
        /// Decoupled weight decay.
        #[serde(default = "adamw_decay")]
        weight_decay: f64,
    },
    /// RMSprop (Hinton's lecture 6e), as PyTorch's `RMSprop`.
    Rmsprop {
        /// Learning rate.
        lr: f64,
        /// Smoothing constant of the squared-gradient average.
        #[serde(default = "rms_alpha")]
        alpha: f64,
        /// Added to the denominator.
        #[serde(default = "rms_eps")]
        eps: f64,
        /// Momentum factor in [0, 1).
        #[serde(default)]
        momentum: f64,
        /// L2 penalty added to the gradient.
        #[serde(default)]
        weight_decay: f64,
    },
}

fn beta1() -> f64 {
    0.9
}
fn beta2() -> f64 {
    0.999
}
fn adam_eps() -> f64 {
    1e-8
}
fn adamw_decay() -> f64 {
    0.01
}
fn rms_alpha() -> f64 {
    0.99
}
fn rms_eps() -> f64 {
    1e-8
}

impl OptimizerSpec {
    /// The four optimizers with default settings and learning rate `lr`.
    pub fn defaults_with_lr(lr: f64) -> [Self; 4] {
        [
            Self::Sgd {
                lr,
                momentum: 0.9,
                nesterov: false,
                weight_decay: 0.0,
            },
            Self::Adam {
                lr,
                beta1: beta1(),
                beta2: beta2(),
                eps: adam_eps(),
                weight_decay: 0.0,
            },
            Self::AdamW {
                lr,
                beta1: beta1(),
                beta2: beta2(),
                eps: adam_eps(),
                weight_decay: adamw_decay(),
            },
            Self::Rmsprop {
                lr,
                alpha: rms_alpha(),
                eps: rms_eps(),
                momentum: 0.0,
                weight_decay: 0.0,
            },
        ]
    }

    /// Display name.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Sgd { .. } => "SGD (momentum)",
            Self::Adam { .. } => "Adam",
            Self::AdamW { .. } => "AdamW",
            Self::Rmsprop { .. } => "RMSprop",
        }
    }

    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match self {
            Self::Sgd { lr, .. }
            | Self::Adam { lr, .. }
            | Self::AdamW { lr, .. }
            | Self::Rmsprop { lr, .. } => *lr,
        }
    }

    /// Mutable access to the learning rate.
    pub fn lr_mut(&mut self) -> &mut f64 {
        match self {
            Self::Sgd { lr, .. }
            | Self::Adam { lr, .. }
            | Self::AdamW { lr, .. }
            | Self::Rmsprop { lr, .. } => lr,
        }
    }

    pub(crate) fn problems(&self, out: &mut Problems) {
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            out.push(
                "optimizer.lr",
                format!("learning rate {lr} must be a number > 0"),
            );
        }
        let mut unit = |name: &str, value: f64| {
            if !(0.0..1.0).contains(&value) {
                out.push(
                    &format!("optimizer.{name}"),
                    format!("{value} must be in [0, 1)"),
                );
            }
        };
        match self {
            Self::Sgd { momentum, .. } => unit("momentum", *momentum),
            Self::Adam { beta1, beta2, .. } | Self::AdamW { beta1, beta2, .. } => {
                unit("beta1", *beta1);
                unit("beta2", *beta2);
            }
            Self::Rmsprop {
                alpha, momentum, ..
            } => {
                unit("alpha", *alpha);
                unit("momentum", *momentum);
            }
        }
        let (eps, decay) = match self {
            Self::Sgd { weight_decay, .. } => (None, *weight_decay),
            Self::Adam {
                eps, weight_decay, ..
            }
            | Self::AdamW {
                eps, weight_decay, ..
            }
            | Self::Rmsprop {
                eps, weight_decay, ..
            } => (Some(*eps), *weight_decay),
        };
        if let Some(eps) = eps
            && !(eps.is_finite() && eps > 0.0)
        {
            out.push("optimizer.eps", format!("{eps} must be > 0"));
        }
        if !(decay.is_finite() && decay >= 0.0) {
            out.push("optimizer.weight_decay", format!("{decay} must be >= 0"));
        }
    }
}
