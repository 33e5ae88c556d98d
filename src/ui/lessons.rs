//! Help > Lessons: a guided tour of short lessons. Each loads a ready experiment, opens the
//! view to watch and lists the controls to try, in the app's own words.

use egui::{RichText, Ui};

use super::theme;

/// One lesson.
pub struct Lesson {
    /// Title.
    pub title: &'static str,
    /// The experiment it loads (TOML, one of the examples).
    pub spec: &'static str,
    /// The key of the centre tab it opens.
    pub tab: &'static str,
    /// The pace it trains at.
    pub pace: crate::trainer::Pace,
    /// What it is about, in a few sentences.
    pub text: &'static [&'static str],
    /// What to do, in order; each names the control and where it is.
    pub steps: &'static [&'static str],
}

/// The tour, in order.
pub const LESSONS: [Lesson; 5] = [
    Lesson {
        title: "1. Shared or separate models?",
        spec: include_str!("../../examples/playground.toml"),
        tab: "Boundaries",
        pace: crate::trainer::Pace::TEACHING,
        text: &[
            "Hard parameter sharing (Caruana 1997) trains one trunk for every task and a small \
             head per task. The tasks must agree on what the trunk computes: when they need \
             similar features this is free extra data; when they do not, they compete.",
            "This experiment learns two shapes on the same 2-D points: inside a circle, and \
             the XOR quadrants. Both heads read the same 8 trunk units.",
        ],
        steps: &[
            "Press ▶ Train (top bar) and watch both decision boundaries form in the Boundaries tab.",
            "Open the Network tab: the grey band is what both tasks share; each coloured band is one task's own head. Blue lines are positive weights, orange negative.",
            "Open the Trade-offs tab and press \"Train single-task baselines\": one separate model per task.",
            "Back in the Metrics tab, \"Against single-task models\" shows each task's change and Δp. Positive means sharing helped.",
            "Make the trunk smaller (left panel › Model › Shared trunk: set the Linear layers to out 3) and press Restart: watch which task suffers first.",
        ],
    },
    Lesson {
        title: "2. Negative transfer: the task-correlation knob",
        spec: include_str!("../../examples/negative_transfer.toml"),
        tab: "Charts",
        pace: crate::trainer::Pace::TEACHING,
        text: &[
            "Ma et al. (KDD 2018) built two regression tasks whose relatedness you can set: \
             p, the cosine between their weight vectors (left panel › Dataset › Correlation \
             p). This experiment makes them share a trunk of a single unit, so they must \
             agree on one feature.",
            "When the tasks want different features, sharing makes one of them worse than it \
             would be alone: negative transfer.",
        ],
        steps: &[
            "Press ▶ Train (p = 0.95) and note both validation losses in the Charts tab (dashed lines): both end low.",
            "Set left panel › Dataset › Correlation p to 0 and press Restart: the tasks now want unrelated features, and y1 ends about three times higher. The earlier run stays on the charts, faint, for comparison.",
            "Set p to -0.95 and Restart: both are fine again. A negative correlation is still one shared direction; each head just flips its sign.",
            "Set p back to 0, then left panel › Model › Architecture to MMoE and Restart: each task's gate can pick its own expert, and the loss that suffered falls.",
            "Open the Affinity tab and tick \"Measure task affinity while training\" to see how much each task's step helps the other at each p.",
        ],
    },
    Lesson {
        title: "3. Loss scales and uncertainty weighting",
        spec: include_str!("../../examples/loss_scales.toml"),
        tab: "Charts",
        pace: crate::trainer::Pace::TEACHING,
        text: &[
            "Summing losses weights each task by the size of its loss. Here the species loss \
             falls to about 0.01 while sex and body mass stay near 0.2: with equal weights, \
             the sum hardly notices species any more.",
            "Uncertainty weighting (Kendall et al., CVPR 2018) learns one noise scale σ per \
             task and weights its loss by 1/(2σ²) (plus log σ): a task whose loss is small \
             gets a larger weight.",
        ],
        steps: &[
            "Press ▶ Train with EW. In Charts, turn on Log scale (toolbar) to see how far apart the three losses end.",
            "Set left panel › Loss weighting › Strategy to UW (uncertainty weighting) and press Restart.",
            "Watch the \"Effective task weights\" chart: the species weight climbs as its loss shrinks.",
            "Try DWA and GLS the same way, and compare the final metrics in the Metrics tab.",
        ],
    },
    Lesson {
        title: "4. Gradient conflict: PCGrad and MGDA",
        spec: include_str!("../../examples/tradeoff.toml"),
        tab: "Landscape",
        pace: crate::trainer::Pace::TEACHING,
        text: &[
            "When two tasks' gradients point in opposing directions (negative cosine), the \
             summed step helps one task at the other's expense. PCGrad (Yu et al., NeurIPS \
             2020) projects each gradient off the other's when they conflict; MGDA (Sener & \
             Koltun, NeurIPS 2018) takes the smallest combination of the gradients, a step \
             that does not increase any task's loss.",
            "The Landscape tab shows this on a two-parameter toy problem: each panel is one \
             strategy, the arrows are the two tasks' descent directions and the step taken.",
        ],
        steps: &[
            "Press ▶ Play in the Landscape tab. From this start only Nash-MTL reaches the white Pareto set in 3,000 steps; EW, PCGrad, CAGrad and MGDA end in the valley above it (see each panel's Pareto distance).",
            "Press Step a few times and watch the arrows: where orange and blue point apart, PCGrad's white step differs from EW's.",
            "Pick the start (-7.5, -0.5) from the Start menu: now MGDA reaches the Pareto set too. Click anywhere on a panel to start every path there.",
            "Now train a real model: press ▶ Train (top bar) and open Charts › \"Gradient cosine between tasks\": below zero means conflict.",
            "Set left panel › Loss weighting › Strategy to PCGrad, then MGDA, and Restart each time; compare in the charts.",
        ],
    },
    Lesson {
        title: "5. The Pareto front",
        spec: include_str!("../../examples/tradeoff.toml"),
        tab: "Tradeoffs",
        pace: crate::trainer::Pace::TEACHING,
        text: &[
            "A run is Pareto-optimal when no other run is better on every task at once. \
             Sweeping static task weights traces the trade-off the model can reach; each \
             strategy then lands somewhere on or behind that front.",
            "This experiment makes the tasks compete: their trunk has a single unit.",
        ],
        steps: &[
            "Press ▶ Run sweep (Trade-offs tab). Each grey dot is one static weighting; coloured dots are strategies; ringed dots are on the front.",
            "Click a dot to see that run's curves; click a row of the table to find it.",
            "Press \"Train single-task baselines\": the green star marks what each task reaches alone, and Δp scores every run.",
            "Set left panel › Dataset › Correlation p to 0.95 and run the sweep again: the runs bunch up near the ideal point; the trade-off shrinks.",
            "The same sweep runs headless: mtl-studio sweep examples/tradeoff.toml --grid 7 --strategies ew,mgda,pcgrad --out sweep",
        ],
    },
];

/// The Lessons window's state.
#[derive(Default)]
pub struct LessonsState {
    /// Whether the window is open.
    pub open: bool,
    /// The lesson shown.
    pub current: usize,
    /// Steps ticked, per lesson.
    pub done: Vec<Vec<bool>>,
}

/// What the user asked for.
pub enum LessonAction {
    /// Load lesson `i`'s experiment and open its view.
    Load(usize),
}

/// The window's contents; returns a request to load a lesson.
pub fn lessons_ui(ui: &mut Ui, state: &mut LessonsState) -> Option<LessonAction> {
    if state.done.len() != LESSONS.len() {
        state.done = LESSONS.iter().map(|l| vec![false; l.steps.len()]).collect();
    }
    let mut action = None;
    ui.horizontal_wrapped(|ui| {
        for (i, l) in LESSONS.iter().enumerate() {
            ui.selectable_value(
                &mut state.current,
                i,
                l.title.split(". ").next().unwrap_or(""),
            )
            .on_hover_text(l.title);
        }
    });
    ui.separator();
    let i = state.current.min(LESSONS.len() - 1);
    let lesson = &LESSONS[i];
    ui.heading(lesson.title);
    for p in lesson.text {
        ui.label(*p);
        ui.add_space(4.0);
    }
    if ui
        .button(RichText::new("Load this lesson's experiment").strong())
        .on_hover_text("Replaces the experiment being edited and opens the view to watch")
        .clicked()
    {
        action = Some(LessonAction::Load(i));
    }
    ui.add_space(6.0);
    ui.strong("Try:");
    for (step, done) in lesson.steps.iter().zip(&mut state.done[i]) {
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(done, "");
            let text = RichText::new(*step);
            if *done {
                ui.label(text.color(theme::input()));
            } else {
                ui.label(text);
            }
        });
    }
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        if i > 0 && ui.button("Previous").clicked() {
            state.current = i - 1;
        }
        if i + 1 < LESSONS.len() && ui.button("Next lesson").clicked() {
            state.current = i + 1;
        }
    });
    action
}
