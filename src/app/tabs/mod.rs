//! The centre tabs, one file each behind the small [`Tab`] trait, registered in [`TABS`].
//!
//! A tab draws from a [`TabCtx`]: the parts of the app it may read and edit, borrowed for
//! one frame. What needs the app itself (a file dialog) goes back as a [`TabRequest`].
//! Adding a tab: copy `metrics.rs`, give it a key, a label and a hint, and add one line to
//! [`TABS`].

use crate::app::state::AppState;
use crate::experiment::ExperimentSpec;
use crate::trainer::{TrainerHandle, Waker};
use crate::ui::boundary::BoundaryView;
use crate::ui::dataview::DataViewState;
use crate::ui::history::RunHistory;
use crate::ui::landscape::LandscapeState;
use crate::ui::settings::DataSummary;
use crate::ui::tradeoff::TradeoffState;

mod affinity;
mod boundaries;
mod charts;
mod dataset;
mod gradients;
pub mod keys;
mod landscape;
mod metrics;
mod network;
mod tradeoffs;

/// One view of the centre panel.
pub trait Tab: Sync {
    /// The key the app saves for the open tab (also used by lessons), e.g. `Charts`.
    fn key(&self) -> &'static str;
    /// The tab bar's label.
    fn label(&self) -> &'static str;
    /// What the tab shows, on hover.
    fn hint(&self) -> &'static str;
    /// Whether the tab is about the experiment, so the settings panel stays beside it.
    fn shows_experiment(&self) -> bool {
        true
    }
    /// Draws the tab.
    fn ui(&self, ui: &mut egui::Ui, ctx: &mut TabCtx<'_>);
}

/// Every centre tab, in the tab bar's order.
pub static TABS: [&dyn Tab; 9] = [
    &charts::Charts,
    &metrics::Metrics,
    &dataset::Dataset,
    &affinity::Affinity,
    &network::Network,
    &boundaries::Boundaries,
    &tradeoffs::Tradeoffs,
    &landscape::Landscape,
    &gradients::Gradients,
];

/// The tab saved under `key` (the first tab for an unknown key).
pub fn tab(key: &str) -> &'static dyn Tab {
    TABS.iter()
        .copied()
        .find(|t| t.key() == key)
        .unwrap_or(TABS[0])
}

/// What a tab asks the app to do after the frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TabRequest {
    /// Ask for a folder and write one spec per group of tasks into it.
    SaveGroups(Vec<Vec<String>>),
}

/// The parts of the app a tab draws from, for one frame.
pub struct TabCtx<'a> {
    /// Persisted state: the edited experiment and the chart preferences.
    pub state: &'a mut AppState,
    /// The current run.
    pub history: &'a RunHistory,
    /// Earlier runs, for comparison.
    pub past_runs: &'a mut Vec<RunHistory>,
    /// What is known of the current data.
    pub summary: &'a DataSummary,
    /// The current run's trainer, for its live snapshots.
    pub trainer: Option<&'a TrainerHandle>,
    /// Wakes the window (for background jobs a tab starts).
    pub waker: &'a Waker,
    /// The Trade-offs tab's sweeps and the single-task baselines.
    pub tradeoff: &'a mut TradeoffState,
    /// The Landscape tab's paths.
    pub landscape: &'a mut LandscapeState,
    /// The Gradients tab's playground.
    pub gradients: &'a mut crate::ui::gradients::GradientPlayground,
    /// The Dataset tab's view.
    pub dataview: &'a mut DataViewState,
    /// The Boundaries tab's view.
    pub boundary_view: &'a mut BoundaryView,
    /// The status bar's message: (is an error, text).
    pub status: &'a mut Option<(bool, String)>,
    /// Requests for the app.
    pub requests: &'a mut Vec<TabRequest>,
}

impl TabCtx<'_> {
    /// The spec of the run shown (or the one being edited before any run).
    pub fn shown_spec(&self) -> &ExperimentSpec {
        self.history
            .info
            .as_ref()
            .map_or(&self.state.spec, |i| &i.spec)
    }

    /// Repaints about ten times a second while a run trains (for the live snapshots).
    pub fn repaint_while_training(&self, ui: &egui::Ui) {
        if self.history.phase == crate::ui::history::Phase::Run(crate::trainer::RunState::Running) {
            ui.ctx()
                .request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_found() {
        for t in TABS {
            assert_eq!(
                tab(t.key()).key(),
                t.key(),
                "{} is found by its key",
                t.key()
            );
        }
        let mut keys: Vec<&str> = TABS.iter().map(|t| t.key()).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), TABS.len(), "unique keys");
        let in_order: Vec<&str> = TABS.iter().map(|t| t.key()).collect();
        assert_eq!(in_order, keys::TAB_KEYS, "the keys' list follows the tabs");
        assert_eq!(
            tab("no such tab").key(),
            "Charts",
            "unknown keys open the first tab"
        );
    }
}
