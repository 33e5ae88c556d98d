//! Presentation mode and hidden controls: what a lecturer (or a lesson, or an experiment
//! file) sets so the window reads from the back row and students see only what an exercise
//! needs, the way TensorFlow Playground's `*_hide` flags do.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// One control that can be hidden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// The key saved in experiment files, lessons and share codes.
    pub key: &'static str,
    /// What the View menu calls it.
    pub label: &'static str,
}

/// Every control that can be hidden, besides the centre tabs (`tab:<key>`, see
/// [`tab_key`]).
pub const CONTROLS: &[Control] = &[
    Control {
        key: "settings",
        label: "The whole settings panel",
    },
    Control {
        key: "dataset",
        label: "Settings › Dataset",
    },
    Control {
        key: "tasks",
        label: "Settings › Tasks",
    },
    Control {
        key: "model",
        label: "Settings › Model",
    },
    Control {
        key: "weighting",
        label: "Settings › Loss weighting",
    },
    Control {
        key: "optimizer",
        label: "Settings › Optimizer",
    },
    Control {
        key: "training",
        label: "Settings › Training",
    },
    Control {
        key: "pace",
        label: "Top bar › Pace",
    },
    Control {
        key: "step",
        label: "Top bar › Step and Stop",
    },
];

/// The hidden-control key of the centre tab `tab` (e.g. `tab:Landscape`).
pub fn tab_key(tab: &str) -> String {
    format!("tab:{tab}")
}

/// Whether `key` names a control (or a centre tab) that can be hidden.
pub fn is_control(key: &str) -> bool {
    CONTROLS.iter().any(|c| c.key == key)
        || key
            .strip_prefix("tab:")
            .is_some_and(|t| super::tabs::keys::TAB_KEYS.contains(&t))
}

/// The smallest and largest presentation scale.
pub const SCALES: std::ops::RangeInclusive<f32> = 1.0..=2.5;

/// Presentation mode and the hidden controls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Presentation {
    /// Whether presentation mode is on (View menu, F5).
    pub on: bool,
    /// The UI scale in presentation mode (fonts and strokes), in [`SCALES`].
    pub scale: f32,
    /// A high-contrast theme in presentation mode.
    pub high_contrast: bool,
    /// Controls hidden from students (keys of [`CONTROLS`] and `tab:<key>`), whether or not
    /// presentation mode is on.
    pub hidden: BTreeSet<String>,
}

impl Default for Presentation {
    fn default() -> Self {
        Self {
            on: false,
            scale: 1.5,
            high_contrast: false,
            hidden: BTreeSet::new(),
        }
    }
}

impl Presentation {
    /// Whether the control `key` is shown.
    pub fn shows(&self, key: &str) -> bool {
        !self.hidden.contains(key)
    }

    /// Whether the centre tab `tab` is shown.
    pub fn shows_tab(&self, tab: &str) -> bool {
        self.shows(&tab_key(tab))
    }

    /// The UI zoom factor the window uses now.
    pub fn zoom(&self) -> f32 {
        if self.on {
            self.scale.clamp(*SCALES.start(), *SCALES.end())
        } else {
            1.0
        }
    }

    /// What is wrong with these settings (unknown control keys, a scale out of range), one
    /// line each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .hidden
            .iter()
            .filter(|k| !is_control(k))
            .map(|k| {
                format!(
                    "hidden control `{k}` is not one of: {}, or tab:<tab> for a centre tab",
                    CONTROLS
                        .iter()
                        .map(|c| c.key)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect();
        if !SCALES.contains(&self.scale) || !self.scale.is_finite() {
            problems.push(format!(
                "presentation scale {} is outside {}–{}",
                self.scale,
                SCALES.start(),
                SCALES.end()
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_tabs_are_known_and_others_are_not() {
        let mut p = Presentation::default();
        p.hidden.insert("model".to_owned());
        p.hidden.insert(tab_key("Landscape"));
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        assert!(!p.shows("model"), "hidden");
        assert!(p.shows("dataset"), "shown");
        assert!(!p.shows_tab("Landscape"), "tab hidden");
        p.hidden.insert("tab:Nope".to_owned());
        p.hidden.insert("modle".to_owned());
        assert_eq!(
            p.problems().len(),
            2,
            "two unknown keys: {:?}",
            p.problems()
        );
    }

    #[test]
    fn zoom_applies_only_in_presentation_mode() {
        let mut p = Presentation {
            scale: 2.0,
            ..Presentation::default()
        };
        assert!((p.zoom() - 1.0).abs() < f32::EPSILON, "off: no zoom");
        p.on = true;
        assert!((p.zoom() - 2.0).abs() < f32::EPSILON, "on: the scale");
        p.scale = 9.0;
        assert!((p.zoom() - 2.5).abs() < f32::EPSILON, "clamped");
        assert_eq!(p.problems().len(), 1, "out of range is a problem");
    }
}
