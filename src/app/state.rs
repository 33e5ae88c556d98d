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

/// The app's own settings file in the app's data folder (`~/.local/share/mtl-studio/` on
/// Linux): [`AppState`] as JSON, replaced whole on every save ([`save_settings`]). eframe's
/// storage file (`app.ron`, window size and egui's memory) is rewritten in place by eframe,
/// so a crash while it is written can cut it short; the settings are kept out of it.
pub const SETTINGS_FILE: &str = "settings.json";

/// Where the settings live: [`SETTINGS_FILE`] in eframe's data folder for `app_id`.
pub fn settings_path(app_id: &str) -> Option<PathBuf> {
    eframe::storage_dir(app_id).map(|dir| dir.join(SETTINGS_FILE))
}

/// What [`load_settings`] found.
#[derive(Debug)]
pub enum Saved {
    /// No settings file (a first launch, or settings still in eframe's storage).
    Absent,
    /// The settings.
    Read(Box<AppState>),
    /// A file that does not read as settings (damaged, or from another version): why.
    Damaged(String),
}

/// Reads the settings file at `path` (bounded like every text file).
pub fn load_settings(path: &std::path::Path) -> Saved {
    match crate::fsguard::read_regular_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Saved::Absent,
        Err(e) => Saved::Damaged(format!("{e}: {}", path.display())),
        Ok(text) => match serde_json::from_str::<AppState>(&text) {
            Ok(state) => Saved::Read(Box::new(state)),
            Err(e) => Saved::Damaged(format!("{e}: {}", path.display())),
        },
    }
}

/// Writes the settings to `path` atomically (a temporary file beside it, then renamed over
/// it): a crash leaves the old settings or the new ones, never a mix. Creates the folder.
pub fn save_settings(path: &std::path::Path, state: &AppState) -> Result<(), String> {
    let text = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{e}: {}", dir.display()))?;
    }
    crate::export::write_atomic(path, text.as_bytes()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_and_damage_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join(SETTINGS_FILE);
        assert!(matches!(load_settings(&path), Saved::Absent), "no file yet");
        let mut state = AppState {
            tab: "Gradients".to_owned(),
            ..AppState::default()
        };
        state.spec.seed = 7;
        save_settings(&path, &state).expect("saved");
        match load_settings(&path) {
            Saved::Read(read) => assert_eq!(*read, state, "read back as saved"),
            other => panic!("expected the settings, got {other:?}"),
        }
        // Nothing is left beside the file (the temporary file was renamed over it).
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SETTINGS_FILE)]);
        // A file cut short (what an in-place rewrite leaves after a crash) is damaged.
        let text = std::fs::read_to_string(&path).expect("read");
        std::fs::write(&path, &text[..text.len() / 2]).expect("cut");
        assert!(
            matches!(load_settings(&path), Saved::Damaged(_)),
            "cut file"
        );
    }
}
