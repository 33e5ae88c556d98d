//! A short label of what changed between two experiments, for chart legends: an earlier run
//! is named by what it did differently from the current one (`p = 0`, `MMoE`, `trunk 3-3`,
//! `UW`).

use serde_json::Value;

use super::{ExperimentSpec, LayerSpec};

/// What `earlier` does differently from `current`, in a few words: each change as the
/// earlier run's setting (`p = 0`, `MMoE`, `trunk 3-3`, `UW`, `lr = 0.01`, `20 epochs`,
/// `seed 3`), joined by ", ". Identical experiments give `same settings`. The spec's name is
/// not compared.
pub fn describe_change(current: &ExperimentSpec, earlier: &ExperimentSpec) -> String {
    let mut out = Vec::new();
    data_and_tasks(current, earlier, &mut out);
    model(current, earlier, &mut out);
    weighting_and_training(current, earlier, &mut out);
    if out.is_empty() {
        "same settings".to_owned()
    } else {
        out.join(", ")
    }
}

fn data_and_tasks(current: &ExperimentSpec, earlier: &ExperimentSpec, out: &mut Vec<String>) {
    let (cur_data, old_data) = (json(&current.dataset), json(&earlier.dataset));
    if cur_data.get("source") != old_data.get("source") {
        out.push(format!("data {}", text(old_data.get("source"))));
    } else {
        fields(&cur_data, &old_data, "", out);
    }
    // The tasks.
    let names = |s: &ExperimentSpec| s.tasks.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    if names(current) != names(earlier) {
        out.push(format!("tasks {}", names(earlier).join(", ")));
    } else if current.tasks != earlier.tasks {
        let weights = |s: &ExperimentSpec| s.tasks.iter().map(|t| t.weight).collect::<Vec<_>>();
        if weights(current) != weights(earlier) {
            let w: Vec<String> = weights(earlier)
                .iter()
                .map(|w| number(f64::from(*w)))
                .collect();
            out.push(format!("weights {}", w.join("/")));
        }
        for (c, e) in current.tasks.iter().zip(&earlier.tasks) {
            let (mut c, e) = (c.clone(), e);
            c.weight = e.weight;
            if c != *e {
                out.push(format!("task {} changed", e.name));
            }
        }
    }
}

fn model(current: &ExperimentSpec, earlier: &ExperimentSpec, out: &mut Vec<String>) {
    let (cm, em) = (&current.model, &earlier.model);
    if cm.shared != em.shared {
        let (cw, ew) = (widths(&cm.shared), widths(&em.shared));
        if cw == ew {
            out.push("trunk layers".to_owned());
        } else {
            out.push(format!("trunk {}", ew.join("-")));
        }
    }
    if cm.architecture.key() != em.architecture.key() {
        out.push(em.architecture.label().to_owned());
    } else if cm.architecture != em.architecture {
        fields(&json(&cm.architecture), &json(&em.architecture), "", out);
    }
    match (&cm.relationship, &em.relationship) {
        (Some(_), None) => out.push("no MRL".to_owned()),
        (None, Some(_)) => out.push("MRL".to_owned()),
        (Some(c), Some(e)) if c != e => fields(&json(c), &json(e), "MRL ", out),
        _ => {}
    }
    if cm.heads != em.heads {
        let (cw, ew): (Vec<_>, Vec<_>) = (
            cm.heads
                .iter()
                .map(|h| widths(&h.layers).join("-"))
                .collect(),
            em.heads
                .iter()
                .map(|h| widths(&h.layers).join("-"))
                .collect(),
        );
        let links = |h: &[super::HeadSpec]| h.iter().map(|h| h.links.clone()).collect::<Vec<_>>();
        if cw != ew {
            let ew: Vec<String> = ew
                .iter()
                .map(|w| {
                    if w.is_empty() {
                        "–".to_owned()
                    } else {
                        w.clone()
                    }
                })
                .collect();
            out.push(format!("heads {}", ew.join(" / ")));
        } else if links(&cm.heads) != links(&em.heads) {
            out.push("task links".to_owned());
        } else {
            out.push("head layers".to_owned());
        }
    }
    if cm.input != em.input || cm.input_shape != em.input_shape {
        out.push(format!("input {}", em.input));
    }
}

fn weighting_and_training(
    current: &ExperimentSpec,
    earlier: &ExperimentSpec,
    out: &mut Vec<String>,
) {
    let (cw, ew) = (&current.weighting, &earlier.weighting);
    if cw.key() != ew.key() {
        out.push(short_label(ew.label()));
    } else if cw.params != ew.params {
        for (k, v) in &ew.params {
            if cw.params.get(k) != Some(v) {
                out.push(format!("{k} = {}", text(Some(v))));
            }
        }
        for k in cw.params.keys().filter(|k| !ew.params.contains_key(*k)) {
            out.push(format!("{k} default"));
        }
    }
    if cw.rep_grad != ew.rep_grad {
        out.push(
            if ew.rep_grad {
                "rep-grad"
            } else {
                "param-grad"
            }
            .to_owned(),
        );
    }
    // Optimizer and training.
    let (co, eo) = (json(&current.optimizer), json(&earlier.optimizer));
    if co.get("kind") != eo.get("kind") {
        out.push(text(eo.get("kind")).to_uppercase());
    } else {
        fields(&co, &eo, "", out);
    }
    let (ct, et) = (&current.training, &earlier.training);
    if ct.epochs != et.epochs {
        out.push(format!("{} epochs", et.epochs));
    }
    if ct.batch_size != et.batch_size {
        out.push(format!("batch {}", et.batch_size));
    }
    let (mut ct, et) = (json(ct), json(et));
    for key in ["epochs", "batch_size"] {
        if let (Some(c), Some(e)) = (ct.as_object_mut(), et.get(key)) {
            c.insert(key.to_owned(), e.clone());
        }
    }
    fields(&ct, &et, "", out);
    if current.seed != earlier.seed {
        out.push(format!("seed {}", earlier.seed));
    }
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// `UW (uncertainty weighting)` → `UW`.
fn short_label(label: &str) -> String {
    label.split(" (").next().unwrap_or(label).to_owned()
}

/// The widths of a stack's linear (and convolution) layers, e.g. `["3", "3"]`.
fn widths(layers: &[LayerSpec]) -> Vec<String> {
    layers
        .iter()
        .filter_map(|l| match json(l) {
            Value::Object(m) => m
                .get("out")
                .or_else(|| m.get("channels"))
                .map(|v| text(Some(v))),
            _ => None,
        })
        .collect()
}

/// Short names for dataset and training fields.
fn field_name(key: &str) -> &str {
    match key {
        "correlation" => "p",
        "noise_std" => "σ",
        "validation_fraction" => "val",
        "lr" => "lr",
        other => other,
    }
}

/// Every field of `earlier` that differs from `current`'s, as `name = value`, nested
/// objects by their inner names.
fn fields(current: &Value, earlier: &Value, prefix: &str, out: &mut Vec<String>) {
    let (Value::Object(c), Value::Object(e)) = (current, earlier) else {
        if current != earlier {
            out.push(format!("{prefix}{}", text(Some(earlier))).trim().to_owned());
        }
        return;
    };
    for (key, old) in e {
        let new = c.get(key);
        if new == Some(old) {
            continue;
        }
        match (new, old) {
            (Some(n @ Value::Object(_)), Value::Object(_)) => fields(n, old, prefix, out),
            _ => out.push(format!("{prefix}{} = {}", field_name(key), text(Some(old)))),
        }
    }
    for key in c.keys().filter(|k| !e.contains_key(*k)) {
        out.push(format!("{prefix}no {}", field_name(key)));
    }
}

fn number(v: f64) -> String {
    if v == v.round() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 1e6).round() / 1e6)
    }
}

fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "none".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.as_f64().map_or_else(|| n.to_string(), number),
        Some(Value::Bool(b)) => if *b { "on" } else { "off" }.to_owned(),
        Some(other) => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mmoe() -> ExperimentSpec {
        let text = include_str!("../../../../examples/mmoe.toml");
        ExperimentSpec::from_toml(text).expect("the MMoE example parses")
    }

    #[test]
    fn identical_experiments_say_so_and_the_name_is_ignored() {
        let a = mmoe();
        let mut b = a.clone();
        b.name = "another name".to_owned();
        assert_eq!(describe_change(&a, &b), "same settings");
    }

    #[test]
    fn a_dataset_parameter_reads_as_its_symbol() {
        let a = mmoe();
        let mut b = a.clone();
        b.dataset = ExperimentSpec::from_toml(
            &include_str!("../../../../examples/mmoe.toml")
                .replace("correlation = 0.1", "correlation = 0.0"),
        )
        .expect("parses")
        .dataset;
        assert_eq!(describe_change(&a, &b), "p = 0");
        assert_eq!(describe_change(&b, &a), "p = 0.1");
    }

    #[test]
    fn architecture_trunk_strategy_and_training_changes() {
        let a = mmoe();
        let mut b = a.clone();
        b.model.architecture = crate::experiment::Architecture::Hard;
        assert_eq!(describe_change(&b, &a), "MMoE");
        assert_eq!(describe_change(&a, &b), "Hard sharing");

        let mut c = a.clone();
        c.model.shared = vec![
            LayerSpec::Linear { out: 3 },
            LayerSpec::Relu,
            LayerSpec::Linear { out: 3 },
            LayerSpec::Relu,
        ];
        assert_eq!(describe_change(&a, &c), "trunk 3-3");

        let mut d = a.clone();
        d.weighting = crate::experiment::WeightingSpec::of("uw");
        assert_eq!(describe_change(&a, &d), "UW");

        let mut e = a.clone();
        e.training.epochs = 30;
        e.seed = 3;
        let lr = serde_json::json!(0.01);
        let mut opt = json(&e.optimizer);
        if let Some(o) = opt.as_object_mut() {
            o.insert("lr".to_owned(), lr);
        }
        e.optimizer = serde_json::from_value(opt).expect("an optimizer");
        assert_eq!(describe_change(&a, &e), "lr = 0.01, 30 epochs, seed 3");
    }

    #[test]
    fn several_changes_are_joined_in_order() {
        let a = mmoe();
        let mut b = a.clone();
        b.model.architecture = crate::experiment::Architecture::Hard;
        b.weighting = crate::experiment::WeightingSpec::of("pcgrad");
        b.training.batch_size = 32;
        assert_eq!(describe_change(&a, &b), "Hard sharing, PCGrad, batch 32");
    }
}
