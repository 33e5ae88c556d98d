//! The View menu and presentation mode applied to the window (see [`super::presentation`]
//! for the settings themselves).

use std::collections::BTreeSet;

use super::presentation::{CONTROLS, SCALES, tab_key};

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
