//! How the task losses (or their gradients) are combined.

use super::*;

/// How the task losses (or their gradients) are combined: a strategy of
/// [`crate::weighting`] with its hyperparameters under their LibMTL names.
///
/// ```toml
/// [weighting]
/// strategy = "cagrad"
/// calpha = 0.5
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WeightingSpec {
    /// Strategy key (`ew`, `manual`, `uw`, `pcgrad`, `mgda`, …); `equal` means `ew`.
    pub strategy: String,
    /// Take per-task gradients with respect to the shared representation (the trunk's
    /// output) instead of the shared parameters: one backward pass through the trunk instead
    /// of K (LibMTL's `rep_grad`). Only for strategies that produce task weights.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rep_grad: bool,
    /// Hyperparameters by LibMTL name; absent ones take LibMTL's defaults.
    #[serde(flatten)]
    pub params: crate::weighting::Params,
}

impl Default for WeightingSpec {
    fn default() -> Self {
        Self::of("ew")
    }
}

impl WeightingSpec {
    /// Strategy `key` with default hyperparameters.
    pub fn of(key: &str) -> Self {
        Self {
            strategy: key.to_owned(),
            rep_grad: false,
            params: crate::weighting::Params::new(),
        }
    }

    /// The strategy key, with `equal` read as `ew`.
    pub fn key(&self) -> &str {
        match self.strategy.as_str() {
            "equal" => "ew",
            other => other,
        }
    }

    /// True for the manual strategy, whose weights are the tasks' `weight`s.
    pub fn is_manual(&self) -> bool {
        self.key() == "manual"
    }

    /// The task weights shown before the first step: the manual weights, or ones.
    pub fn initial_weights(&self, tasks: &[TaskSpec]) -> Vec<f32> {
        if self.is_manual() {
            tasks.iter().map(|t| t.weight).collect()
        } else {
            vec![1.0; tasks.len()]
        }
    }

    /// Display name.
    pub fn label(&self) -> &'static str {
        crate::weighting::method(self.key()).map_or("unknown strategy", |m| m.label)
    }

    /// Builds the strategy for `tasks` (manual weights come from the tasks).
    pub fn build(
        &self,
        tasks: &[TaskSpec],
    ) -> Result<Box<dyn crate::weighting::Strategy>, crate::weighting::WeightingError> {
        let mut params = self.params.clone();
        if self.is_manual() {
            params.insert(
                "weights".to_owned(),
                serde_json::Value::from(
                    tasks
                        .iter()
                        .map(|t| f64::from(t.weight))
                        .collect::<Vec<_>>(),
                ),
            );
        }
        crate::weighting::build(self.key(), &params, tasks.len())
    }

    pub(crate) fn problems(&self, out: &mut Problems) {
        let Some(method) = crate::weighting::method(self.key()) else {
            out.push(
                "weighting.strategy",
                format!(
                    "'{}' is not a strategy (known: {})",
                    self.strategy,
                    crate::weighting::methods()
                        .map(|m| m.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return;
        };
        const STRING_PARAMS: [&str; 3] = ["order", "mgda_gn", "init_loss_scale"];
        for (name, value) in &self.params {
            let known = method.hypers.iter().any(|h| h.name == name);
            if STRING_PARAMS.contains(&name.as_str()) {
                continue;
            }
            if !known {
                out.push(
                    &format!("weighting.{name}"),
                    format!(
                        "{} has no parameter '{name}' (it has: {})",
                        method.label,
                        if method.hypers.is_empty() {
                            "none".to_owned()
                        } else {
                            method
                                .hypers
                                .iter()
                                .map(|h| h.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                );
            } else if !value.as_f64().is_some_and(f64::is_finite) {
                out.push(
                    &format!("weighting.{name}"),
                    format!("{value} must be a number"),
                );
            }
        }
        if method.key == "graddrop" && !self.rep_grad {
            out.push(
                "weighting.rep_grad",
                "GradDrop works on representation gradients: set rep_grad = true".to_owned(),
            );
        }
        // LibMTL accepts representation gradients only for the strategies whose result is a
        // weighting of the task gradients.
        const REP_GRAD: [&str; 6] = [
            "gradnorm",
            "mgda",
            "imtl",
            "aligned_mtl",
            "excess_mtl",
            "graddrop",
        ];
        if self.rep_grad
            && method.family == crate::weighting::Family::Gradient
            && !REP_GRAD.contains(&method.key)
        {
            out.push(
                "weighting.rep_grad",
                format!(
                    "{} works on parameter gradients only (as in LibMTL); representation gradients suit {}",
                    method.label,
                    REP_GRAD.join(", ")
                ),
            );
        }
        if self.rep_grad && method.family == crate::weighting::Family::Loss {
            out.push(
                "weighting.rep_grad",
                format!("{} uses only the losses; representation gradients would leave the trunk untrained", method.label),
            );
        }
    }
}
