//! What the app keeps between launches.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::presentation::Presentation;
use crate::experiment::ExperimentSpec;
use crate::trainer::Pace;
use crate::ui::plots::ViewPrefs;

/// What is kept between launches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AppState {
    /// The experiment being edited.
    pub spec: ExperimentSpec,
    /// Chart preferences.
    pub view: ViewPrefs,
    /// Folder of the last file dialog.
    pub last_dir: Option<PathBuf>,
    /// The key of the centre tab shown (see `app::tabs::TABS`).
    pub tab: String,
    /// How fast runs train (a teaching pace, or full speed).
    pub pace: Pace,
    /// Presentation mode and the controls hidden from students.
    pub presentation: Presentation,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            spec: ExperimentSpec::default(),
            view: ViewPrefs::default(),
            last_dir: None,
            tab: "Charts".to_owned(),
            pace: Pace::TEACHING,
            presentation: Presentation::default(),
        }
    }
}
