//! Presentation mode and hidden controls, driven through the View menu.

use egui_kittest::kittest::Queryable as _;

use crate::ui::harness;

/// Opens the View menu.
fn open_view_menu(h: &mut egui_kittest::Harness<'static, mtl_studio::app::MtlApp>) {
    h.get_by_label("View").click();
    h.run_steps(2);
}

#[test]
fn presentation_mode_from_the_view_menu_zooms_and_f5_leaves_it() {
    let mut h = harness();
    h.run_steps(2);
    assert!(
        (h.ctx.zoom_factor() - 1.0).abs() < f32::EPSILON,
        "no zoom at first"
    );
    open_view_menu(&mut h);
    h.get_by_label("Presentation mode (F5)").click();
    h.run_steps(3);
    assert!(h.state().state.presentation.on, "the box turned it on");
    let zoom = h.ctx.zoom_factor();
    assert!(
        (zoom - h.state().state.presentation.scale).abs() < f32::EPSILON,
        "the window is zoomed to the presentation scale: {zoom}"
    );
    assert!(
        h.query_by_label_contains("F5 to leave").is_some(),
        "the status bar says how to leave"
    );
    h.get_by_label("High contrast").click();
    h.run_steps(3);
    assert_eq!(
        h.ctx.style_of(egui::Theme::Dark).visuals.panel_fill,
        egui::Color32::BLACK,
        "high contrast paints the panels black"
    );
    h.key_press(egui::Key::F5);
    h.run_steps(3);
    assert!(
        !h.state().state.presentation.on,
        "F5 leaves presentation mode"
    );
    assert!(
        (h.ctx.zoom_factor() - 1.0).abs() < f32::EPSILON,
        "and the zoom is back to 1"
    );
    assert_ne!(
        h.ctx.style_of(egui::Theme::Dark).visuals.panel_fill,
        egui::Color32::BLACK,
        "the usual theme is back"
    );
}

#[test]
fn hidden_controls_leave_the_window_and_come_back() {
    let mut h = harness();
    h.run_steps(2);
    for shown in ["Loss weighting", "Pace", "⏭ Step", "Landscape"] {
        assert!(
            h.query_by_label(shown).is_some(),
            "{shown} is shown at first"
        );
    }
    open_view_menu(&mut h);
    h.get_by_label("Hide controls").click();
    h.run_steps(2);
    for hide in [
        "Settings › Loss weighting",
        "Top bar › Pace",
        "Top bar › Step and Stop",
        "Tab › Landscape",
    ] {
        h.get_by_label(hide).click();
        h.run_steps(2);
    }
    h.key_press(egui::Key::Escape);
    h.run_steps(3);
    let hidden = &h.state().state.presentation.hidden;
    assert_eq!(hidden.len(), 4, "four controls hidden: {hidden:?}");
    for gone in ["Loss weighting", "Pace", "⏭ Step", "⏹ Stop", "Landscape"] {
        assert!(h.query_by_label(gone).is_none(), "{gone} is hidden");
    }
    for kept in ["Dataset", "Optimizer", "Charts", "▶ Train"] {
        assert!(h.query_all_by_label(kept).next().is_some(), "{kept} stays");
    }
    assert!(
        h.query_by_label("4 controls hidden").is_some(),
        "the status bar counts what is hidden"
    );
    open_view_menu(&mut h);
    h.get_by_label("Hide controls").click();
    h.run_steps(2);
    h.get_by_label("Show every control").click();
    h.key_press(egui::Key::Escape);
    h.run_steps(3);
    assert!(
        h.state().state.presentation.hidden.is_empty(),
        "all shown again"
    );
    for back in ["Loss weighting", "Pace", "⏭ Step", "Landscape"] {
        assert!(h.query_by_label(back).is_some(), "{back} is back");
    }
}

#[test]
fn without_a_file_dialog_a_typed_path_saves_and_opens_the_experiment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("typed.toml");
    let mut h = harness();
    h.state_mut()
        .type_paths_instead("No file dialog can open here (a test).");
    h.run_steps(2);
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Save spec…").click();
    h.run_steps(2);
    assert!(
        h.query_by_label_contains("No file dialog can open here")
            .is_some(),
        "the window says why it asks for a typed path"
    );
    let prompt = h
        .state_mut()
        .path_prompt
        .as_mut()
        .expect("the typed-path window");
    prompt.text = path.display().to_string();
    h.run_steps(1);
    h.get_by_label("Save").click();
    h.run_steps(2);
    assert!(h.state().path_prompt.is_none(), "the window closes");
    let saved = mtl_studio::experiment::ExperimentSpec::load(&path).expect("saved spec");
    assert_eq!(saved, h.state().state.spec, "the spec was written there");

    // Change the experiment, then open the saved one by its typed path.
    h.state_mut().state.spec.training.epochs += 7;
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open experiment…").click();
    h.run_steps(2);
    h.state_mut()
        .path_prompt
        .as_mut()
        .expect("asked again")
        .text = path.display().to_string();
    h.run_steps(1);
    h.get_by_label("Open").click();
    h.run_steps(2);
    assert_eq!(
        h.state().state.spec,
        saved,
        "the typed path opened the spec"
    );

    // A path that does not exist is reported; the experiment stays.
    h.get_by_label("File").click();
    h.run_steps(2);
    h.get_by_label("Open experiment…").click();
    h.run_steps(2);
    h.state_mut().path_prompt.as_mut().expect("asked").text =
        dir.path().join("missing.toml").display().to_string();
    h.run_steps(1);
    h.get_by_label("Open").click();
    h.run_steps(2);
    h.run_steps(3);
    assert_eq!(h.state().state.spec, saved, "nothing changed");
    assert!(
        h.query_all_by(|n| {
            n.label().is_some_and(|l| l.contains("missing.toml"))
                || n.value().is_some_and(|v| v.contains("missing.toml"))
        })
        .next()
        .is_some(),
        "the problem window names the missing file"
    );
}

#[test]
fn the_gradient_playground_draws_every_default_strategy_and_follows_a_preset() {
    let mut h = harness();
    h.run_steps(2);
    h.get_by_label("Gradients").click();
    h.run_steps(2);
    for label in ["EW", "MGDA", "PCGrad", "CAGrad", "Nash-MTL", "UPGrad"] {
        assert!(
            h.query_all_by_label(label).next().is_some(),
            "{label} has a row"
        );
    }
    h.get_by_label("exactly opposite").click();
    h.run_steps(2);
    let g = h.state().gradients.gradients();
    assert!(
        (g[0][0] + g[1][0]).abs() < 1e-12 && (g[0][1] + g[1][1]).abs() < 1e-12,
        "the preset's gradients are opposite: {g:?}"
    );
    let mgda = h
        .state()
        .gradients
        .updates()
        .into_iter()
        .find(|u| u.key == "mgda")
        .expect("MGDA is drawn");
    let d = mgda.result.expect("MGDA solves it");
    assert!(
        d.shared_grad.iter().all(|v| v.abs() < 1e-9),
        "MGDA's update is zero: {:?}",
        d.shared_grad
    );
    assert!(
        !crate::ui::texts_containing(&h, "cancel out").is_empty(),
        "Nash-MTL says why its update is zero"
    );
    let nash = h
        .state()
        .gradients
        .updates()
        .into_iter()
        .find(|u| u.key == "nash_mtl")
        .expect("Nash-MTL is drawn");
    let d = nash.result.expect("a zero update, not a refusal");
    assert!(d.shared_grad.iter().all(|v| *v == 0.0), "{d:?}");
}

#[test]
fn explain_step_shows_what_a_paused_steps_strategy_did_and_step_updates_it() {
    use mtl_studio::trainer::RunState;
    use mtl_studio::ui::history::Phase;
    let mut h = harness();
    h.run_steps(2);
    h.get_by_label("▶ Train").click();
    crate::ui::step_until(&mut h, "running", |app| {
        app.history.phase == Phase::Run(RunState::Running)
    });
    h.get_by_label("⏸ Pause").click();
    crate::ui::step_until(&mut h, "paused", |app| {
        app.history.phase == Phase::Run(RunState::Paused)
    });
    h.get_by_label("🔍 Explain step").click();
    crate::ui::step_until(&mut h, "an explained step", |app| {
        app.history.explanation.is_some() && app.history.phase == Phase::Run(RunState::Paused)
    });
    let first = h.state().history.explanation.clone().expect("explained");
    let step = h.state().history.last_step.as_ref().map_or(0, |m| m.step);
    assert_eq!(first.step, step, "it explains the step just taken");
    assert_eq!(first.grad_norms.len(), 2, "one gradient per task");
    assert!(
        h.query_by_label("What this step did").is_some(),
        "the window is open"
    );
    assert!(
        !crate::ui::texts_containing(&h, &format!("Step {} · ", first.step)).is_empty(),
        "it names the step"
    );
    // Stepping with the window open explains the next step.
    h.get_by_label("⏭ Step").click();
    crate::ui::step_until(&mut h, "the next step explained", |app| {
        app.history
            .explanation
            .as_ref()
            .is_some_and(|e| e.step == first.step + 1)
    });
}
