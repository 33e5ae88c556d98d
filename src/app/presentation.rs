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
            .is_some_and(|t| super::tabs::TABS.iter().any(|tab| tab.key() == t))
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

impl super::MtlApp {
    /// The View menu: presentation mode, its scale and contrast, and the controls hidden
    /// from students.
    pub(super) fn view_menu_ui(&mut self, ui: &mut egui::Ui) {
        let p = &mut self.state.presentation;
        ui.checkbox(&mut p.on, "Presentation mode (F5)")
            .on_hover_text("Larger fonts and strokes for a projector; F5 turns it on and off");
        ui.horizontal(|ui| {
            ui.label("Scale");
            ui.add(
                egui::Slider::new(&mut p.scale, SCALES)
                    .step_by(0.25)
                    .suffix("×"),
            )
            .on_hover_text("The size of everything in presentation mode");
        });
        ui.checkbox(&mut p.high_contrast, "High contrast")
            .on_hover_text(
                "Black background, white text and stronger outlines in presentation mode",
            );
        ui.separator();
        ui.menu_button("Hide controls", |ui| {
            ui.set_max_width(280.0);
            ui.add(
                egui::Label::new(
                    egui::RichText::new(
                        "Hidden until shown here again; experiment files, share codes and \
                         lessons keep them.",
                    )
                    .weak(),
                )
                .wrap(),
            );
            for control in CONTROLS {
                let mut hidden = p.hidden.contains(control.key);
                if ui.checkbox(&mut hidden, control.label).changed() {
                    set_hidden(&mut p.hidden, control.key, hidden);
                }
            }
            ui.separator();
            for tab in super::tabs::TABS {
                let key = tab_key(tab.key());
                let mut hidden = p.hidden.contains(&key);
                if ui
                    .checkbox(&mut hidden, format!("Tab › {}", tab.label()))
                    .changed()
                {
                    set_hidden(&mut p.hidden, &key, hidden);
                }
            }
            ui.separator();
            if ui
                .add_enabled(
                    !p.hidden.is_empty(),
                    egui::Button::new("Show every control"),
                )
                .clicked()
            {
                p.hidden.clear();
            }
        });
    }

    /// The status bar's note of presentation mode and hidden controls (so a lecturer who
    /// hid something knows where to show it again).
    pub(super) fn presentation_status_ui(&self, ui: &mut egui::Ui) {
        let p = &self.state.presentation;
        if p.on {
            ui.weak("Presentation · F5 to leave");
            ui.separator();
        }
        match p.hidden.len() {
            0 => {}
            n => {
                ui.weak(if n == 1 {
                    "1 control hidden".to_owned()
                } else {
                    format!("{n} controls hidden")
                })
                .on_hover_text(format!(
                    "View › Hide controls shows them again: {}",
                    p.hidden.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
                ui.separator();
            }
        }
    }

    /// Applies presentation mode to the window (F5 toggles it): its zoom and, when asked,
    /// the high-contrast theme.
    pub(super) fn apply_presentation(&mut self, ctx: &egui::Context) {
        if ctx.input(|i| i.key_pressed(egui::Key::F5)) {
            self.state.presentation.on = !self.state.presentation.on;
        }
        let p = &self.state.presentation;
        let zoom = p.zoom();
        if (ctx.zoom_factor() - zoom).abs() > f32::EPSILON {
            ctx.set_zoom_factor(zoom);
        }
        let contrast = p.on && p.high_contrast;
        if self.applied_contrast != Some(contrast) {
            ctx.set_visuals_of(
                egui::Theme::Dark,
                if contrast {
                    crate::ui::theme::high_contrast()
                } else {
                    egui::Visuals::dark()
                },
            );
            self.applied_contrast = Some(contrast);
        }
    }
}

fn set_hidden(hidden: &mut BTreeSet<String>, key: &str, hide: bool) {
    if hide {
        hidden.insert(key.to_owned());
    } else {
        hidden.remove(key);
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
