//! The Metrics tab's table and the Affinity tab's views.

use super::*;

/// Every metric of the latest evaluation, per task and split, with the epoch it comes from.
pub fn metrics_table_ui(ui: &mut Ui, history: &RunHistory) {
    let Some(info) = &history.info else {
        ui.label("No run yet: the table fills after the first evaluation.");
        return;
    };
    // After early stopping with restored weights, the model is the best epoch's.
    let restored = history
        .stopped
        .as_ref()
        .filter(|s| s.restored)
        .map(|s| s.best_epoch);
    let latest = |split: Split| {
        history
            .evals
            .iter()
            .rev()
            .find(|e| e.split == split && restored.is_none_or(|b| e.epoch == b))
    };
    if let Some(s) = &history.stopped {
        ui.colored_label(theme::ok(), &s.message);
    }
    let (train, val) = (latest(Split::Train), latest(Split::Val));
    let Some(epoch) = train.or(val).map(|e| e.epoch) else {
        ui.label("Waiting for the first evaluation…");
        return;
    };
    ui.label(format!(
        "Evaluated on whole splits after epoch {epoch}. MSE and MAE are in each target's original units; F1 is the positive class's for binary tasks and the macro mean for multiclass; AUC is one-vs-rest macro for multiclass."
    ));
    ui.add_space(4.0);
    egui::ScrollArea::both().show(ui, |ui| {
        egui::Grid::new("metrics_table")
            .striped(true)
            .spacing([18.0, 4.0])
            .show(ui, |ui| {
                ui.strong("task");
                ui.strong("kind");
                ui.strong("split");
                ui.strong("loss");
                ui.strong("metrics");
                ui.end_row();
                for (k, (name, kind)) in info.task_names.iter().zip(&info.task_kinds).enumerate() {
                    for (split, eval) in [(Split::Train, train), (Split::Val, val)] {
                        let Some(t) = eval.and_then(|e| e.tasks.get(k)) else {
                            continue;
                        };
                        ui.colored_label(theme::task(k), name);
                        ui.label(kind.to_string());
                        ui.label(split.name());
                        ui.monospace(fmt_metric(t.loss));
                        let text: Vec<String> = crate::metrics::metric_keys(*kind)
                            .iter()
                            .zip(&t.all)
                            .map(|(key, v)| {
                                format!("{} {}", crate::metrics::metric_label(key), fmt_metric(*v))
                            })
                            .collect();
                        ui.monospace(text.join("   "));
                        ui.end_row();
                    }
                }
            });
    });
}

pub(super) fn fmt_metric(v: f64) -> String {
    if !v.is_finite() {
        "n/a".to_owned()
    } else if v != 0.0 && (v.abs() >= 1e4 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// What the Affinity tab asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum AffinityAction {
    /// Keep only these tasks (by name) in the experiment.
    KeepTasks(Vec<String>),
    /// Save one experiment per group (task names per group).
    SaveGroups(Vec<Vec<String>>),
}

/// The Affinity tab: TAG's mean lookahead affinity and the latest gradient cosines as
/// heatmaps, and the best groupings of the tasks with buttons to act on them.
pub fn affinity_ui(ui: &mut Ui, history: &RunHistory, prefs: &ViewPrefs) -> Option<AffinityAction> {
    let charts = Charts {
        history,
        past: &[],
        prefs,
        names: history.task_names(),
        link: ui.scope_id().with("mtl-affinity"),
        past_labels: Vec::new(),
        extent: Cell::new(None),
        r2_cell: false,
        size: egui::vec2(
            ((ui.available_width() - 30.0) / 2.0).clamp(220.0, 520.0),
            (ui.available_height() - 220.0).clamp(200.0, 460.0),
        ),
    };
    let k = charts.names.len();
    let tag = history
        .affinity_mean()
        .filter(|m| m.len() == k * k && k > 0);
    let labels = charts.task_labels();
    let scale = tag.as_ref().map_or(1.0, |m| {
        m.iter()
            .filter(|v| v.is_finite())
            .fold(1e-12f64, |a, v| a.max(v.abs()))
    });
    let measured = history.affinity_count();
    ui.horizontal(|ui| {
        ui.vertical(|ui| {
            // Titles wrap to the heatmap's width rather than widen the column.
            ui.set_max_width(charts.size.x);
            ui.strong(format!(
                "Lookahead affinity (TAG), mean of {measured} measurements"
            ));
            charts.heatmap(
                ui,
                charts.size,
                &labels,
                &labels,
                tag.as_deref(),
                &|v| v / scale,
                "tick \"Measure task affinity\" above, then Restart",
                &[
                    ("a step on the row task hurts the column task", -0.8),
                    ("it helps", 0.8),
                ],
            );
        });
        ui.vertical(|ui| {
            ui.set_max_width(charts.size.x);
            charts.cosine_ui(ui);
        });
    });
    charts.cosine_pairs_ui(ui);
    let tag = tag?;
    let mut action = None;
    ui.add_space(6.0);
    for n in 2..=3.min(k) {
        let Some(g) = crate::metrics::affinity::best_partition(&tag, k, n) else {
            continue;
        };
        let names: Vec<Vec<String>> = g
            .groups
            .iter()
            .map(|grp| grp.iter().map(|&t| charts.names[t].clone()).collect())
            .collect();
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("Best split into {n} groups (summed affinity {:.3}):", g.score));
            for group in &names {
                if ui
                    .button(format!("{{{}}}", group.join(", ")))
                    .on_hover_text("Keep only these tasks in the experiment (a grouped experiment to train next)")
                    .clicked()
                {
                    action = Some(AffinityAction::KeepTasks(group.clone()));
                }
            }
            if ui
                .button("Save the grouped experiments…")
                .on_hover_text("Write one spec per group into a folder")
                .clicked()
            {
                action = Some(AffinityAction::SaveGroups(names.clone()));
            }
        });
    }
    action
}
