//! Which edits apply to a running trainer: one pure rule. The app's editors only edit the
//! spec; [`live_edit`] compares what the trainer runs with what the user now has and says
//! which [`TrainerCommand`]s carry the difference live and whether the rest needs a restart.
//!
//! Live: the task weights (and switching between equal and manual weighting), the learning
//! rate, soft sharing's λ and relationship learning's λ₂. Everything else (the data, the
//! model, another strategy or its hyperparameters, the training settings) needs a restart.

use super::protocol::{Penalty, TrainerCommand};
use crate::experiment::{Architecture, ExperimentSpec, WeightingSpec};

/// What an edit means for a running trainer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveEdit {
    /// Commands that apply the edited live settings, in order.
    pub commands: Vec<TrainerCommand>,
    /// Something besides the live settings differs: it takes effect on the next run.
    pub restart: bool,
}

/// Compares the spec the trainer runs (`running`, with the live edits already sent) with the
/// `edited` one.
pub fn live_edit(running: &ExperimentSpec, edited: &ExperimentSpec) -> LiveEdit {
    let restart = without_live_settings(running) != without_live_settings(edited);
    let mut commands = Vec::new();
    let (weights_then, weights_now) = (
        running.weighting.initial_weights(&running.tasks),
        edited.weighting.initial_weights(&edited.tasks),
    );
    if weights_now != weights_then && weights_now.len() == weights_then.len() {
        commands.push(TrainerCommand::SetTaskWeights(weights_now));
    }
    let lr = edited.optimizer.lr();
    if lr != running.optimizer.lr() {
        commands.push(TrainerCommand::SetLearningRate(lr));
    }
    if let (Some(then), Some(now)) = (soft_lambda(running), soft_lambda(edited))
        && then != now
    {
        commands.push(TrainerCommand::SetPenalty(Penalty::Soft, now));
    }
    if let (Some(then), Some(now)) = (relationship_lambda(running), relationship_lambda(edited))
        && then != now
    {
        commands.push(TrainerCommand::SetPenalty(Penalty::Relationship, now));
    }
    LiveEdit { commands, restart }
}

/// `running` with `edited`'s live settings: what the trainer runs once [`live_edit`]'s
/// commands arrived.
pub fn apply_live(running: &mut ExperimentSpec, edited: &ExperimentSpec) {
    if running.tasks.len() == edited.tasks.len() {
        for (r, e) in running.tasks.iter_mut().zip(&edited.tasks) {
            r.weight = e.weight;
        }
        if running.weighting.takes_task_weights() && edited.weighting.takes_task_weights() {
            running.weighting = edited.weighting.clone();
        }
    }
    *running.optimizer.lr_mut() = edited.optimizer.lr();
    if let (Architecture::Soft { lambda, .. }, Some(now)) =
        (&mut running.model.architecture, soft_lambda(edited))
    {
        *lambda = now;
    }
    if let (Some(r), Some(now)) = (&mut running.model.relationship, relationship_lambda(edited)) {
        r.lambda = now;
    }
}

fn soft_lambda(spec: &ExperimentSpec) -> Option<f64> {
    match spec.model.architecture {
        Architecture::Soft { lambda, .. } => Some(lambda),
        _ => None,
    }
}

fn relationship_lambda(spec: &ExperimentSpec) -> Option<f64> {
    spec.model.relationship.as_ref().map(|r| r.lambda)
}

/// The spec with every live setting at a fixed value, so two specs that differ only in live
/// settings compare equal.
fn without_live_settings(spec: &ExperimentSpec) -> ExperimentSpec {
    let mut s = spec.clone();
    s.tasks.iter_mut().for_each(|t| t.weight = 1.0);
    *s.optimizer.lr_mut() = 1.0;
    if let Architecture::Soft { lambda, .. } = &mut s.model.architecture {
        *lambda = 1.0;
    }
    if let Some(r) = &mut s.model.relationship {
        r.lambda = 1.0;
    }
    if s.weighting.takes_task_weights() {
        s.weighting = WeightingSpec::default();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::RelationshipSpec;

    fn spec() -> ExperimentSpec {
        ExperimentSpec::default()
    }

    #[test]
    fn the_same_spec_needs_nothing() {
        assert_eq!(
            live_edit(&spec(), &spec()),
            LiveEdit::default(),
            "no change"
        );
    }

    #[test]
    fn a_task_weight_is_sent_live_without_a_restart() {
        let mut edited = spec();
        edited.weighting = WeightingSpec::of("manual");
        edited.tasks[1].weight = 0.25;
        let e = live_edit(&spec(), &edited);
        assert!(!e.restart, "equal to manual weighting is live");
        assert_eq!(
            e.commands,
            vec![TrainerCommand::SetTaskWeights(
                edited.weighting.initial_weights(&edited.tasks)
            )],
            "the weights go to the trainer"
        );
        let mut running = spec();
        apply_live(&mut running, &edited);
        assert_eq!(
            running, edited,
            "once applied, the trainer runs the edited spec"
        );
        assert_eq!(
            live_edit(&running, &edited),
            LiveEdit::default(),
            "sent once"
        );
    }

    #[test]
    fn the_learning_rate_and_penalties_are_live() {
        let mut running = spec();
        running.model.architecture = Architecture::Soft {
            lambda: 0.1,
            coupling: crate::experiment::Coupling::AllPairs,
        };
        running.model.relationship = Some(RelationshipSpec::default());
        let mut edited = running.clone();
        *edited.optimizer.lr_mut() = 0.5;
        if let Architecture::Soft { lambda, .. } = &mut edited.model.architecture {
            *lambda = 0.7;
        }
        if let Some(r) = &mut edited.model.relationship {
            r.lambda = 0.3;
        }
        let e = live_edit(&running, &edited);
        assert!(!e.restart, "live settings only");
        assert_eq!(
            e.commands,
            vec![
                TrainerCommand::SetLearningRate(0.5),
                TrainerCommand::SetPenalty(Penalty::Soft, 0.7),
                TrainerCommand::SetPenalty(Penalty::Relationship, 0.3),
            ],
            "one command per live setting"
        );
        apply_live(&mut running, &edited);
        assert_eq!(running, edited, "applied");
    }

    #[test]
    fn structure_strategy_and_training_changes_need_a_restart() {
        let mut other_strategy = spec();
        other_strategy.weighting = WeightingSpec::of("mgda");
        let mut other_epochs = spec();
        other_epochs.training.epochs += 1;
        let mut other_seed = spec();
        other_seed.seed += 1;
        let mut other_model = spec();
        other_model.model.shared.pop();
        for (what, edited) in [
            ("strategy", other_strategy),
            ("epochs", other_epochs),
            ("seed", other_seed),
            ("model", other_model),
        ] {
            let e = live_edit(&spec(), &edited);
            assert!(e.restart, "{what} needs a restart");
            let mut running = spec();
            apply_live(&mut running, &edited);
            assert!(
                live_edit(&running, &edited).restart,
                "{what}: applying the live settings does not apply the rest"
            );
        }
    }

    #[test]
    fn a_live_setting_changed_back_is_sent_back() {
        let mut running = spec();
        let mut edited = spec();
        *edited.optimizer.lr_mut() = 0.5;
        apply_live(&mut running, &edited);
        let original = spec();
        assert_eq!(
            live_edit(&running, &original).commands,
            vec![TrainerCommand::SetLearningRate(original.optimizer.lr())],
            "the trainer gets the old value again"
        );
    }
}
