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
    /// Hyperparameters by LibMTL name; absent ones take LibMTL's defaults. A NaN or
    /// infinite number is refused when the spec is read (by name: `nan is not a number`).
    #[serde(flatten, deserialize_with = "finite::params")]
    pub params: crate::weighting::Params,
}

/// Reading hyperparameters as JSON values without losing a NaN: JSON has no NaN, so a TOML
/// `nan` would silently become `null`; it is an error that calls it what it is instead.
mod finite {
    use std::fmt;

    use serde::Deserializer;
    use serde::de::{self, MapAccess, SeqAccess, Visitor};
    use serde_json::Value;

    /// One value, any JSON shape, numbers finite.
    struct Finite(Value);

    impl<'de> de::Deserialize<'de> for Finite {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FiniteVisitor).map(Self)
        }
    }

    struct FiniteVisitor;

    impl<'de> Visitor<'de> for FiniteVisitor {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a hyperparameter value")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
            Ok(Value::from(v))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            serde_json::Number::from_f64(v)
                .map(Value::Number)
                .ok_or_else(|| {
                    E::custom(format!(
                        "{v} is not a number (a hyperparameter must be finite)"
                    ))
                })
        }
        fn visit_str<E>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_owned()))
        }
        fn visit_string<E>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }
        fn visit_unit<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_none<E>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Finite(v)) = seq.next_element()? {
                out.push(v);
            }
            Ok(Value::Array(out))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
            let mut out = serde_json::Map::new();
            while let Some((k, Finite(v))) = map.next_entry::<String, Finite>()? {
                out.insert(k, v);
            }
            Ok(Value::Object(out))
        }
    }

    /// The flattened hyperparameters of a `[weighting]` table.
    pub(super) fn params<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<crate::weighting::Params, D::Error> {
        match FiniteVisitor.visit_map_from(d)? {
            Value::Object(map) => Ok(map),
            _ => Err(de::Error::custom("the weighting table must be a table")),
        }
    }

    impl FiniteVisitor {
        fn visit_map_from<'de, D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_map(self)
        }
    }
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

    /// True for the strategies whose preference over the tasks is the tasks' weights unless
    /// the spec gives `preference` (EPO).
    pub fn takes_preference(&self) -> bool {
        self.key() == "epo"
    }

    /// True for the strategies the task-weight sliders drive: equal weighting, and manual
    /// weighting, which equal weighting becomes once a slider moves (live, without a restart).
    pub fn takes_task_weights(&self) -> bool {
        self.is_manual() || self.key() == "ew"
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
        if self.takes_preference() && !params.contains_key("preference") {
            params.insert(
                "preference".to_owned(),
                serde_json::Value::from(
                    tasks
                        .iter()
                        .map(|t| f64::from(t.weight))
                        .collect::<Vec<_>>(),
                ),
            );
        }
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
        use crate::weighting::{Family, RepGrad};
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
        for (name, value) in &self.params {
            param_problem(method, name, value, out);
        }
        match (method.rep_grad, self.rep_grad) {
            (RepGrad::Required, false) => out.push(
                "weighting.rep_grad",
                format!(
                    "{} works on representation gradients: set rep_grad = true",
                    method.label
                ),
            ),
            (RepGrad::No, true) if method.family == Family::Loss => out.push(
                "weighting.rep_grad",
                format!("{} uses only the losses; representation gradients would leave the trunk untrained", method.label),
            ),
            // LibMTL accepts representation gradients only for the strategies whose result is
            // a weighting of the task gradients.
            (RepGrad::No, true) => out.push(
                "weighting.rep_grad",
                format!(
                    "{} works on parameter gradients only (as in LibMTL); representation gradients suit {}",
                    method.label,
                    crate::weighting::methods()
                        .filter(|m| m.rep_grad != RepGrad::No)
                        .map(|m| m.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            _ => {}
        }
        let grouped = self
            .params
            .get(crate::weighting::per_layer::AGGREGATE_PER.name)
            .and_then(serde_json::Value::as_str)
            .is_some_and(|v| v != "model");
        if grouped && self.rep_grad {
            out.push(
                "weighting.aggregate_per",
                "per-layer aggregation splits the shared parameters' gradients; with \
                 rep_grad = true the strategy sees the representation's instead (use \
                 aggregate_per = \"model\" or rep_grad = false)"
                    .to_owned(),
            );
        }
    }
}

/// The problem with hyperparameter `name` = `value` of `method`, if any: it must be one the
/// method has, a finite number for a numeric one and one of the allowed strings for a choice.
/// Extra parameters are checked when the strategy is built.
fn param_problem(
    method: &crate::weighting::MethodInfo,
    name: &str,
    value: &serde_json::Value,
    out: &mut Problems,
) {
    let field = format!("weighting.{name}");
    if let Some(h) = method.all_hypers().find(|h| h.name == name) {
        match value.as_f64().filter(|v| v.is_finite()) {
            None => out.push(&field, format!("{value} must be a number")),
            Some(v) if h.integer && v.fract() != 0.0 => {
                out.push(&field, format!("{value} must be a whole number"));
            }
            Some(_) => {}
        }
    } else if let Some(choice) = method.all_choices().find(|c| c.name == name) {
        if !value.as_str().is_some_and(|v| choice.allowed.contains(&v)) {
            out.push(
                &field,
                format!("{value} must be {}", choice.describe_allowed()),
            );
        }
    } else if !method.extras.iter().any(|e| e.name == name) {
        let names = method.param_names();
        out.push(
            &field,
            format!(
                "{} has no parameter '{name}' (it has: {})",
                method.label,
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The weighting problems of `spec` as `path: message` lines.
    fn problems(spec: &WeightingSpec) -> Vec<String> {
        let mut out = Problems::default();
        spec.problems(&mut out);
        out.0
            .into_iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect()
    }

    #[test]
    fn integer_hyperparameters_take_whole_numbers_only() {
        let spec = with("nash_mtl", "update_weights_every", serde_json::json!(2.5));
        assert_eq!(
            problems(&spec),
            ["weighting.update_weights_every: 2.5 must be a whole number"],
            "a fraction is refused"
        );
        let spec = with("nash_mtl", "update_weights_every", serde_json::json!(3));
        assert!(problems(&spec).is_empty(), "{:?}", problems(&spec));
        let spec = with("nash_mtl", "update_weights_every", serde_json::json!(3.0));
        assert!(
            problems(&spec).is_empty(),
            "3.0 is whole: {:?}",
            problems(&spec)
        );
    }

    fn with(key: &str, name: &str, value: serde_json::Value) -> WeightingSpec {
        let mut spec = WeightingSpec::of(key);
        spec.params.insert(name.to_owned(), value);
        spec
    }

    #[test]
    fn parameters_are_checked_against_the_strategy_info() {
        assert!(problems(&with("cagrad", "calpha", 0.3.into())).is_empty());
        assert!(problems(&with("mgda", "mgda_gn", "loss+".into())).is_empty());
        assert!(problems(&with("pcgrad", "order", "identity".into())).is_empty());
        assert!(
            problems(&with(
                "gradnorm",
                "init_loss_scale",
                "linspace(0,1,K)".into()
            ))
            .is_empty()
        );
        let bad = problems(&with("mgda", "mgda_gn", "l1".into()));
        assert_eq!(
            bad,
            [r#"weighting.mgda_gn: "l1" must be one of "none", "l2", "loss", "loss+""#],
            "a choice outside the allowed ones"
        );
        let bad = problems(&with("cagrad", "calpha", "big".into()));
        assert_eq!(bad, [r#"weighting.calpha: "big" must be a number"#]);
        let bad = problems(&with("ew", "order", "identity".into()));
        assert_eq!(
            bad,
            ["weighting.order: EW (equal weighting) has no parameter 'order' (it has: none)"],
            "a choice of another strategy"
        );
    }

    #[test]
    fn representation_gradients_follow_the_strategy_info() {
        let mut spec = WeightingSpec::of("graddrop");
        assert_eq!(
            problems(&spec),
            ["weighting.rep_grad: GradDrop works on representation gradients: set rep_grad = true"]
        );
        spec.rep_grad = true;
        assert!(problems(&spec).is_empty(), "required and set");
        for key in ["mgda", "gradnorm", "imtl"] {
            let mut spec = WeightingSpec::of(key);
            spec.rep_grad = true;
            assert!(problems(&spec).is_empty(), "{key} allows them");
        }
        let mut spec = WeightingSpec::of("pcgrad");
        spec.rep_grad = true;
        let p = problems(&spec);
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].ends_with("representation gradients suit gradnorm, imtl, aligned_mtl, excess_mtl, graddrop, mgda, epo"),
            "{p:?}"
        );
        let mut spec = WeightingSpec::of("uw");
        spec.rep_grad = true;
        assert!(problems(&spec)[0].contains("uses only the losses"));
    }
}
