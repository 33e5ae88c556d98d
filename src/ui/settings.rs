//! The left panel's editors: dataset, tasks, weighting strategy, optimizer and training
//! settings. Each edits the [`ExperimentSpec`] in place and returns whether it changed; what
//! of a change reaches a running trainer live is decided in one place, `trainer::live_edit`.

use egui::Ui;

use super::theme;
use crate::data::shipped::Shipped;
use crate::experiment::{
    CsvSpec, DatasetSpec, ExperimentSpec, HeadSpec, IdxSpec, LayerSpec, MmoeSpec, MultiDigitsSpec,
    OptimizerSpec, PlaygroundSpec, ShapesSpec, TaskKind, TaskSpec, WeightingSpec,
};

/// What the panel knows about the current data (computed by the app, cached).
#[derive(Clone, Debug, Default)]
pub struct DataSummary {
    /// The data are being read in the background; the rest describes the previous data.
    pub loading: bool,
    /// Label columns: name and kind.
    pub targets: Vec<(String, TaskKind)>,
    /// Per label column, what sizes its output: the number of classes (multiclass), pixels
    /// (segmentation) or classes × pixels (semantic segmentation).
    pub classes: Vec<(String, usize)>,
    /// Measured Pearson correlation between consecutive task pairs' labels.
    pub correlations: Vec<(String, String, f64)>,
    /// Rows and input features.
    pub rows: usize,
    /// Input features.
    pub features: usize,
    /// Why the data could not be loaded, if so.
    pub error: Option<String>,
    /// The loaded data (generated data: the rows of the preview), for the Dataset tab.
    pub data: Option<std::sync::Arc<crate::data::Dataset>>,
    /// The experiment's tasks split as training will split them: labelled rows and classes.
    pub balance: Option<Vec<crate::data::TaskBalance>>,
}

/// Dataset source and generator parameters. Returns true on a change.
pub fn dataset_ui(
    ui: &mut Ui,
    spec: &mut ExperimentSpec,
    summary: &DataSummary,
    pick_csv: &mut bool,
) -> bool {
    let mut changed = source_ui(ui, spec, pick_csv);
    // Each source's editor; what they share (labels, sizes) is asked of the source.
    match &mut spec.dataset {
        DatasetSpec::Mmoe(m) => {
            changed |= mmoe_params_ui(ui, m, summary);
            if changed {
                follow_mmoe(spec);
            }
        }
        DatasetSpec::Playground(p) => changed |= playground_ui(ui, p, summary),
        DatasetSpec::Shapes(sh) => changed |= shapes_ui(ui, sh),
        DatasetSpec::Csv(c) => csv_ui(ui, c, pick_csv),
        DatasetSpec::Shipped(sh) => {
            ui.label(sh.name.description());
            ui.weak(sh.name.attribution());
        }
        DatasetSpec::MultiDigits(m) => changed |= multi_digits_ui(ui, m),
        DatasetSpec::Idx(i) => {
            if idx_ui(ui, i, pick_csv) {
                changed = true;
                // MultiMNIST pairs have other labels: the tasks follow.
                let targets = spec.dataset.source().targets().unwrap_or_default();
                spec.tasks = targets.iter().map(|(n, k)| task_for(n, *k)).collect();
                spec.sync_heads();
            }
        }
    }
    if summary.loading {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.weak("Reading the data…");
        });
    } else if let Some(err) = &summary.error {
        ui.colored_label(theme::error(), err);
    } else {
        ui.weak(format!(
            "{} rows × {} features",
            summary.rows, summary.features
        ));
    }
    changed
}

/// After an MMoE edit: the input size follows `dim`, and the tasks follow the generator's
/// labels when their number changed (keeping the weights in order).
fn follow_mmoe(spec: &mut ExperimentSpec) {
    let source = spec.dataset.source();
    let targets = source.targets().unwrap_or_default();
    if let Some(dim) = source.input_size() {
        spec.model.input = dim;
    }
    if spec.tasks.len() != targets.len() || spec.tasks.iter().any(|t| !t.target.starts_with('y')) {
        let mut tasks: Vec<TaskSpec> = targets
            .into_iter()
            .map(|(name, kind)| task_for(&name, kind))
            .collect();
        for (t, old) in tasks.iter_mut().zip(&spec.tasks) {
            t.weight = old.weight;
        }
        spec.tasks = tasks;
        spec.sync_heads();
    }
}

/// The Playground generator's settings and the measured label correlations. True on a
/// change.
fn playground_ui(ui: &mut Ui, p: &mut PlaygroundSpec, summary: &DataSummary) -> bool {
    let mut changed = false;
    ui.weak("Points in [−6, 6]² with several labels each, as in TensorFlow Playground.");
    egui::Grid::new("pg-params").num_columns(2).show(ui, |ui| {
        changed |= super::grid_row(
            ui,
            "Samples",
            egui::DragValue::new(&mut p.samples)
                .range(10..=100_000)
                .speed(10),
        )
        .changed();
        changed |=
            super::grid_row(ui, "Noise", egui::Slider::new(&mut p.noise, 0.0..=0.5)).changed();
        changed |= super::grid_row(
            ui,
            "XOR rotation (°)",
            egui::Slider::new(&mut p.xor_angle_deg, 0.0..=90.0),
        )
        .on_hover_text(
            "Angle of the xor_rotated task: 0° is the same task as xor, 90° its exact opposite.",
        )
        .changed();
    });
    for (a, b, r) in &summary.correlations {
        ui.label(
            egui::RichText::new(format!("measured corr({a}, {b}) = {r:.2}")).color(theme::ok()),
        );
    }
    changed
}

/// The Shapes-32 generator's settings. True on a change.
fn shapes_ui(ui: &mut Ui, sh: &mut ShapesSpec) -> bool {
    let mut changed = false;
    ui.weak(if sh.max_shapes > 1 {
            "32 × 32 images of 1 to 3 circles, squares and triangles that do not overlap: count, semantic (every pixel's class), and the largest shape's class, size, centre and orientation; area and mask cover all shapes."
        } else {
            "32 × 32 images of one circle, square or triangle: class, size, area, centre and orientation (missing for circles), and its mask."
        });
    egui::Grid::new("shapes-params")
            .num_columns(2)
            .show(ui, |ui| {
                changed |= super::grid_row(
                    ui,
                    "Samples",
                    egui::DragValue::new(&mut sh.samples)
                        .range(10..=200_000)
                        .speed(10),
                )
                .changed();
                changed |= super::grid_row(
                    ui,
                    "Pixel noise σ",
                    egui::Slider::new(&mut sh.noise, 0.0..=0.5),
                )
                .changed();
                changed |= super::grid_row(
                    ui,
                    "Shapes per image (most)",
                    egui::Slider::new(&mut sh.max_shapes, 1..=3),
                )
                .on_hover_text("More than 1: 1 to this many shapes that do not overlap, with the labels count and semantic (a 4-class segmentation); the other labels describe the largest shape.")
                .changed();
            });
    changed
}

/// The CSV file and the button that opens another.
fn csv_ui(ui: &mut Ui, c: &CsvSpec, pick_csv: &mut bool) {
    ui.horizontal(|ui| {
        ui.label(format!("File: {}", c.path.display()));
        if ui.button("Open CSV…").clicked() {
            *pick_csv = true;
        }
    });
    ui.weak("MTL-CSV: task:NAME columns are tasks, a split column fixes the split, every other column is an input (text columns are one-hot encoded, missing numbers imputed).");
}

/// IDX image files: the file and the MultiMNIST switch (which changes the tasks). True on a
/// change.
fn idx_ui(ui: &mut Ui, i: &mut IdxSpec, pick_csv: &mut bool) -> bool {
    ui.horizontal(|ui| {
        ui.label(format!("Images: {}", i.images.display()));
        if ui.button("Open…").clicked() {
            *pick_csv = true;
        }
    });
    let changed = ui
        .checkbox(&mut i.pairs, "MultiMNIST pairs (left and right digit)")
        .on_hover_text("Sener & Koltun 2018: two images on a 36×36 canvas (offset 6), max where they overlap, resized to 28×28.")
        .changed();
    ui.weak("MNIST: LeCun & Cortes, CC BY-SA 3.0 (pairs made from it stay CC BY-SA). Fashion-MNIST: Xiao, Rasul & Vollgraf 2017, © Zalando SE, MIT.");
    changed
}

/// MultiDigits' settings. True on a change.
fn multi_digits_ui(ui: &mut Ui, m: &mut MultiDigitsSpec) -> bool {
    let mut changed = false;
    ui.weak("Two Digits images on an 11×11 canvas, the right one shifted down and right; overlapping pixels take the maximum (MultiMNIST at 8×8 cost). Validation pairs use held-out digits.");
    egui::Grid::new("multidigits-params")
        .num_columns(2)
        .show(ui, |ui| {
            changed |= super::grid_row(
                ui,
                "Pairs",
                egui::DragValue::new(&mut m.samples)
                    .range(10..=200_000)
                    .speed(10),
            )
            .changed();
            changed |= super::grid_row(ui, "Offset (px)", egui::Slider::new(&mut m.offset, 0..=3))
                .on_hover_text("How far the right digit is shifted; smaller overlaps more.")
                .changed();
        });
    changed
}

/// The data source picker. True when the source changed (or a CSV file is to be picked).
fn source_ui(ui: &mut Ui, spec: &mut ExperimentSpec, pick_csv: &mut bool) -> bool {
    let current = Source::of(&spec.dataset);
    let mut choice = current;
    egui::ComboBox::from_label("Source")
        .selected_text(current.title())
        .height(520.0)
        .show_ui(ui, |ui| {
            ui.weak("Generated");
            for s in [
                Source::Mmoe,
                Source::Playground,
                Source::Shapes,
                Source::MultiDigits,
            ] {
                ui.selectable_value(&mut choice, s, s.title());
            }
            ui.separator();
            ui.weak("Shipped (real data)");
            for which in Shipped::ALL {
                ui.selectable_value(&mut choice, Source::Shipped(which), which.title())
                    .on_hover_text(which.description());
            }
            ui.separator();
            ui.weak("Your data");
            ui.selectable_value(&mut choice, Source::Csv, Source::Csv.title());
        });
    if choice == current {
        return false;
    }
    match choice {
        Source::Mmoe => set_builtin(spec, DatasetSpec::Mmoe(MmoeSpec::default())),
        Source::Playground => set_builtin(spec, DatasetSpec::Playground(PlaygroundSpec::default())),
        Source::Shapes => set_builtin(spec, DatasetSpec::Shapes(ShapesSpec::default())),
        Source::MultiDigits => keep_weighting(spec, ExperimentSpec::multi_digits()),
        Source::Shipped(which) => keep_weighting(spec, ExperimentSpec::shipped(which)),
        Source::Csv => *pick_csv = true,
    }
    true
}

/// Replaces the experiment with `ready`, keeping the seed and the weighting strategy.
fn keep_weighting(spec: &mut ExperimentSpec, mut ready: ExperimentSpec) {
    ready.seed = spec.seed;
    ready.weighting = spec.weighting.clone();
    *spec = ready;
}

/// The sources the picker offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Mmoe,
    Playground,
    Shapes,
    MultiDigits,
    Shipped(Shipped),
    Csv,
}

impl Source {
    fn of(d: &DatasetSpec) -> Self {
        match d {
            DatasetSpec::Mmoe(_) => Self::Mmoe,
            DatasetSpec::Playground(_) => Self::Playground,
            DatasetSpec::Shapes(_) => Self::Shapes,
            DatasetSpec::MultiDigits(_) => Self::MultiDigits,
            DatasetSpec::Shipped(s) => Self::Shipped(s.name),
            DatasetSpec::Csv(_) | DatasetSpec::Idx(_) => Self::Csv,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Self::Mmoe => "MMoE synthetic (regression)",
            Self::Playground => "Playground 2-D",
            Self::Shapes => "Shapes-32 images",
            Self::MultiDigits => "MultiDigits (two digits)",
            Self::Shipped(s) => s.title(),
            Self::Csv => "File (CSV or IDX)…",
        }
    }
}

/// The MMoE generator's settings and the measured label correlations. True on a change.
fn mmoe_params_ui(ui: &mut Ui, m: &mut MmoeSpec, summary: &DataSummary) -> bool {
    let mut changed = false;
    ui.weak("Ma et al., KDD 2018: y = w·x + Σ sin(α·w·x + β) + ε, with cos(w₁, w₂) = p.");
    egui::Grid::new("mmoe-params").num_columns(2).show(ui, |ui| {
        changed |= super::grid_row(ui, "Correlation p", egui::Slider::new(&mut m.correlation, -1.0..=1.0).fixed_decimals(2)).changed();
        ui.label("");
        for (a, b, r) in &summary.correlations {
            ui.label(egui::RichText::new(format!("measured corr({a}, {b}) = {r:.2}")).color(theme::ok()))
                .on_hover_text("Pearson correlation of the generated labels. It is lower than p because of the sine terms.");
        }
        ui.end_row();
        changed |= super::grid_row(ui, "Samples", egui::DragValue::new(&mut m.samples).range(10..=1_000_000).speed(100)).changed();
        changed |= super::grid_row(ui, "Input dimension d", egui::DragValue::new(&mut m.dim).range(1..=1024)).changed();
        changed |= super::grid_row(ui, "Tasks", egui::DragValue::new(&mut m.tasks).range(1..=8))
            .on_hover_text("Tasks come in pairs with cos(w₁, w₂) = p; different pairs are unrelated unless the pair correlation says otherwise.")
            .changed();
        if m.tasks >= 4 {
            changed |= super::grid_row(ui, "Pair correlation", egui::Slider::new(&mut m.pair_correlation, -1.0..=1.0).fixed_decimals(2))
                .on_hover_text("The cosine between each later pair's first weight vector and the first pair's: negative makes the pairs conflict.")
                .changed();
        }
        changed |= super::grid_row(ui, "Scale c", egui::DragValue::new(&mut m.scale).range(0.01..=10.0).speed(0.01)).changed();
        changed |= super::grid_row(ui, "Sine terms m", egui::DragValue::new(&mut m.sin_terms).range(0..=50)).changed();
        changed |= super::grid_row(ui, "Noise σ", egui::DragValue::new(&mut m.noise_std).range(0.0..=10.0).speed(0.01)).changed();
    });
    changed
}

fn task_for(target: &str, kind: TaskKind) -> TaskSpec {
    TaskSpec {
        name: target.to_owned(),
        kind,
        target: target.to_owned(),
        loss: None,
        weight: 1.0,
    }
}

/// Switches to a built-in dataset with its default tasks and matching input size.
pub fn set_builtin(spec: &mut ExperimentSpec, dataset: DatasetSpec) {
    let source = dataset.source();
    let targets = source.targets().unwrap_or_default();
    let dim = source.input_size().unwrap_or(spec.model.input);
    // The generators' starting experiments: a name, the tasks picked (all when none) and
    // the settings that suit the data.
    let (name, pick, settings): (String, &[&str], fn(&mut ExperimentSpec)) = match &dataset {
        DatasetSpec::Mmoe(_) => ("MMoE synthetic, two related tasks".to_owned(), &[], |s| {
            copy_settings(s, ExperimentSpec::default());
        }),
        DatasetSpec::Playground(_) => (
            "Playground 2-D: circle and xor".to_owned(),
            &["circle", "xor"],
            playground_settings,
        ),
        DatasetSpec::Shapes(_) => (
            "Shapes-32: class, area and mask from one conv trunk".to_owned(),
            &["shape", "area", "mask"],
            |s| copy_settings(s, ExperimentSpec::shapes_example()),
        ),
        _ => (source.label(), &[], |_| {}),
    };
    spec.tasks = targets
        .iter()
        .filter(|(n, _)| pick.is_empty() || pick.contains(&n.as_str()))
        .map(|(n, k)| task_for(n, *k))
        .collect();
    spec.name = name;
    spec.model.input_shape = None;
    settings(spec);
    spec.model.input = dim;
    spec.dataset = dataset;
    spec.sync_heads();
}

/// Takes the model, optimizer and training settings of a ready experiment.
fn copy_settings(spec: &mut ExperimentSpec, ready: ExperimentSpec) {
    spec.model = ready.model;
    spec.optimizer = ready.optimizer;
    spec.training = ready.training;
}

/// The Playground's settings for `spec`'s tasks.
fn playground_settings(spec: &mut ExperimentSpec) {
    // Small data and a small tanh network: a larger step and more epochs, as the
    // Playground's defaults, so both tasks are learned within seconds.
    spec.optimizer = OptimizerSpec::defaults_with_lr(0.01)[1].clone();
    spec.training.batch_size = 16;
    spec.training.epochs = 60;
    spec.model.shared = vec![
        LayerSpec::Linear { out: 16 },
        LayerSpec::Tanh,
        LayerSpec::Linear { out: 16 },
        LayerSpec::Tanh,
    ];
    spec.model.heads = spec
        .tasks
        .iter()
        .map(|t| HeadSpec {
            task: t.name.clone(),
            layers: vec![LayerSpec::Linear { out: 8 }, LayerSpec::Tanh],
            links: Vec::new(),
        })
        .collect();
}

/// The task list: name, target, kind, weight slider; add and remove.
pub fn tasks_ui(ui: &mut Ui, spec: &mut ExperimentSpec, summary: &DataSummary) -> bool {
    let mut changed = false;
    let mut weight_moved = false;
    let is_csv = matches!(spec.dataset, DatasetSpec::Csv(_));
    let manual = spec.weighting.is_manual();
    // EPO reads the weights as its preference over the tasks.
    let preference = spec.weighting.takes_preference();
    let mut remove = None;
    let mut renamed: Vec<(String, String)> = Vec::new();
    let task_count = spec.tasks.len();
    egui::Grid::new("tasks").num_columns(5).striped(true).show(ui, |ui| {
        // Room for the names comes from the sliders, so the panel keeps its width.
        ui.spacing_mut().slider_width = (ui.spacing().slider_width - 26.0).max(60.0);
        ui.label("");
        let name_header = ui.strong("Name").id;
        let target_header = ui.strong("Target · kind").id;
        ui.strong(if preference { "Preference" } else { "Weight" });
        ui.label("");
        ui.end_row();
        for (k, task) in spec.tasks.iter_mut().enumerate() {
            let (rect, _) = ui.allocate_exact_size(egui::Vec2::splat(12.0), egui::Sense::hover());
            ui.painter().rect_filled(rect, 3.0, theme::task(k));
            let old = task.name.clone();
            if ui
                // A fixed width: a grid cell would shrink the field to its first letters.
                .add_sized(
                    [64.0, ui.spacing().interact_size.y],
                    egui::TextEdit::singleline(&mut task.name),
                )
                .labelled_by(name_header)
                .changed()
            {
                renamed.push((old, task.name.clone()));
                changed = true;
            }
            ui.horizontal(|ui| {
                let before = task.target.clone();
                egui::ComboBox::from_id_salt(("target", k))
                    .selected_text(&task.target)
                    .width(80.0)
                    .show_ui(ui, |ui| {
                        for (name, _) in &summary.targets {
                            ui.selectable_value(&mut task.target, name.clone(), name);
                        }
                    })
                    .response
                    .labelled_by(target_header);
                if task.target != before {
                    if let Some((_, kind)) = summary.targets.iter().find(|(n, _)| *n == task.target)
                        && !is_csv
                    {
                        task.kind = *kind;
                    }
                    changed = true;
                }
                if is_csv {
                    let before = task.kind;
                    egui::ComboBox::from_id_salt(("kind", k)).selected_text(task.kind.to_string()).width(80.0).show_ui(ui, |ui| {
                        for kind in TaskKind::ALL {
                            ui.selectable_value(&mut task.kind, kind, kind.to_string());
                        }
                    });
                    if task.kind != before {
                        task.loss = None;
                        changed = true;
                    }
                } else {
                    ui.weak(task.kind.to_string());
                }
            });
            let (hover, what) = if preference {
                ("EPO's preference for this task: the run aims at preference x loss equal for every task, so a larger value asks for a smaller loss. Takes effect on Restart.", "Preference")
            } else {
                ("Weight of this task's loss. Takes effect on the next step while training (switches the strategy to Manual).", "Weight")
            };
            let slider = ui
                .add(egui::Slider::new(&mut task.weight, 0.0..=5.0).fixed_decimals(2))
                .on_hover_text(hover);
            let weight = f64::from(task.weight);
            let enabled = ui.is_enabled();
            let name = format!("{what} of {}", task.name);
            slider.widget_info(|| egui::WidgetInfo::slider(enabled, weight, &name));
            if slider.changed() {
                weight_moved = true;
                changed = true;
            }
            if ui.add_enabled(task_count > 1, egui::Button::new("✖").small()).on_hover_text("Remove this task").clicked() {
                remove = Some(k);
            }
            ui.end_row();
        }
    });
    if weight_moved && !manual && !preference {
        spec.weighting = WeightingSpec::of("manual");
    }
    rename_heads(spec, renamed);
    if let Some(k) = remove {
        spec.tasks.remove(k);
        spec.sync_heads();
        changed = true;
    }
    changed |= add_task_ui(ui, spec, summary, is_csv);
    changed
}

/// Heads and links follow renamed tasks (`(old, new)` names).
fn rename_heads(spec: &mut ExperimentSpec, renamed: Vec<(String, String)>) {
    for (old, new) in renamed {
        for head in &mut spec.model.heads {
            if head.task == old {
                head.task.clone_from(&new);
            }
            for link in head.links.iter_mut().filter(|l| l.from == old) {
                link.from.clone_from(&new);
            }
        }
    }
}

/// The button that adds a task on a label not used yet. True when a task was added.
fn add_task_ui(
    ui: &mut Ui,
    spec: &mut ExperimentSpec,
    summary: &DataSummary,
    is_csv: bool,
) -> bool {
    let unused = summary
        .targets
        .iter()
        .find(|(n, _)| !spec.tasks.iter().any(|t| t.target == *n));
    if ui
        .add_enabled(unused.is_some() || is_csv, egui::Button::new("➕ Add task"))
        .on_hover_text("Add a task on a label not used yet")
        .clicked()
        && let Some((target, kind)) = unused.or_else(|| summary.targets.first())
    {
        let mut name = target.clone();
        let mut n = 2;
        while spec.tasks.iter().any(|t| t.name == name) {
            name = format!("{target}_{n}");
            n += 1;
        }
        spec.tasks.push(TaskSpec {
            name,
            ..task_for(target, *kind)
        });
        spec.sync_heads();
        return true;
    }
    false
}

/// Why strategy `m` cannot train this architecture, if it cannot (the validator's rules, so
/// the menu greys it out instead of offering a spec that will not validate).
fn unavailable(
    m: &crate::weighting::MethodInfo,
    arch: &crate::experiment::Architecture,
) -> Option<String> {
    use crate::weighting::{Family, RepGrad};
    if m.family == Family::Gradient && !arch.has_shared_params() {
        Some(format!(
            "{} combines gradients of shared parameters; {} has none (each task owns its tower)",
            m.label,
            arch.label()
        ))
    } else if m.rep_grad == RepGrad::Required && !arch.one_representation() {
        Some(format!(
            "{} works on the gradient of one representation shared by every task; {} gives each task its own",
            m.label,
            arch.label()
        ))
    } else {
        None
    }
}

/// The strategy picker, grouped by family, with what the chosen one does, its formula, its
/// paper and its hyperparameters (numbers in their range, string choices as a combo box),
/// all read from the strategy's [`crate::weighting::MethodInfo`].
pub fn weighting_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> bool {
    use crate::weighting::{self, Family, RepGrad};
    let before = spec.weighting.clone();
    let current = spec.weighting.key().to_owned();

    egui::ComboBox::from_label("Strategy")
        .selected_text(spec.weighting.label())
        .height(600.0)
        .show_ui(ui, |ui| {
            for (family, title) in [
                (Family::Loss, "Loss-based"),
                (Family::Gradient, "Gradient-based"),
            ] {
                ui.label(egui::RichText::new(title).strong());
                for m in weighting::methods().filter(|m| m.family == family) {
                    let why_not = unavailable(m, &spec.model.architecture);
                    let item = ui
                        .add_enabled(
                            why_not.is_none(),
                            egui::Button::selectable(current == m.key, format!("   {}", m.label)),
                        )
                        .on_hover_text(m.about)
                        .on_disabled_hover_text(why_not.unwrap_or_default());
                    if item.clicked() {
                        spec.weighting = WeightingSpec::of(m.key);
                        // A strategy that exists only on representation gradients starts on them.
                        spec.weighting.rep_grad = m.rep_grad == RepGrad::Required;
                    }
                }
            }
        });
    if let Some(m) = weighting::method(spec.weighting.key()) {
        // The proportional font has no ‖; the monospace formula below does.
        ui.label(m.about.replace('‖', "|"));
        ui.label(egui::RichText::new(m.formula).monospace());
        ui.weak(m.paper);
        if m.all_hypers().next().is_some() || m.all_choices().next().is_some() {
            egui::Grid::new("strategy-params")
                .num_columns(2)
                .show(ui, |ui| {
                    for h in m.all_hypers() {
                        hyper_row(ui, &mut spec.weighting.params, h);
                    }
                    for c in m.all_choices() {
                        choice_row(ui, &mut spec.weighting.params, c);
                    }
                });
        }
        if m.rep_grad != RepGrad::No {
            ui.checkbox(&mut spec.weighting.rep_grad, "Representation gradients (faster)")
                .on_hover_text("Take each task's gradient with respect to the trunk's output instead of the trunk's parameters: one backward pass through the trunk instead of K. Uses the strategy's task weights.");
        }
    }
    spec.weighting != before
}

/// One numeric hyperparameter as a drag value over the range its info gives. A value set
/// outside that range in the spec is shown as it is, not clamped.
fn hyper_row(ui: &mut Ui, params: &mut crate::weighting::Params, h: &crate::weighting::Hyper) {
    let mut v = params
        .get(h.name)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(h.default);
    let drag = egui::DragValue::new(&mut v)
        .range(h.min..=h.max)
        .clamp_existing_to_range(false);
    // Whole-number hyperparameters (counts, epochs, modes) step by one and show no decimals.
    let drag = if h.integer {
        drag.speed(0.05).fixed_decimals(0)
    } else {
        drag.speed((h.default.abs() * 0.01).max(1e-4))
    };
    let r = super::grid_row(ui, h.name, drag).on_hover_text(h.help);
    if r.changed() {
        let value = if h.integer {
            serde_json::Value::from(v.round() as i64)
        } else {
            serde_json::Value::from(v)
        };
        params.insert(h.name.to_owned(), value);
    }
}

/// One string hyperparameter as a combo box of its allowed values.
fn choice_row(ui: &mut Ui, params: &mut crate::weighting::Params, c: &crate::weighting::Choice) {
    let current = params
        .get(c.name)
        .and_then(serde_json::Value::as_str)
        .unwrap_or(c.default)
        .to_owned();
    let mut chosen = current.clone();
    let name = ui.label(c.name).on_hover_text(c.help);
    egui::ComboBox::from_id_salt(("strategy-choice", c.name))
        .selected_text(&chosen)
        .show_ui(ui, |ui| {
            for option in c.allowed {
                ui.selectable_value(&mut chosen, (*option).to_owned(), *option);
            }
        })
        .response
        .labelled_by(name.id)
        .on_hover_text(c.help);
    ui.end_row();
    if chosen != current {
        params.insert(c.name.to_owned(), serde_json::Value::from(chosen));
    }
}

/// Optimizer kind, learning rate and hyperparameters.
pub fn optimizer_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> bool {
    let mut changed = false;
    let lr = spec.optimizer.lr();
    let current = spec.optimizer.label();
    egui::ComboBox::from_label("Optimizer")
        .selected_text(current)
        .show_ui(ui, |ui| {
            for option in OptimizerSpec::defaults_with_lr(lr) {
                let label = option.label();
                if ui.selectable_label(label == current, label).clicked() && label != current {
                    spec.optimizer = option;
                    changed = true;
                }
            }
        });
    egui::Grid::new("opt-params").num_columns(2).show(ui, |ui| {
        changed |= super::grid_row(
            ui,
            "Learning rate",
            egui::Slider::new(spec.optimizer.lr_mut(), 1e-5..=1.0)
                .logarithmic(true)
                .custom_formatter(|v, _| format!("{v:.1e}")),
        )
        .on_hover_text("Takes effect on the next step while training")
        .changed();
        let mut drag = |ui: &mut Ui, name: &str, v: &mut f64, max: f64, speed: f64| {
            changed |= super::grid_row(
                ui,
                name,
                egui::DragValue::new(v)
                    .range(0.0..=max)
                    .speed(speed)
                    .custom_formatter(|v, _| {
                        if v != 0.0 && v.abs() < 1e-3 {
                            format!("{v:.1e}")
                        } else {
                            format!("{v}")
                        }
                    }),
            )
            .changed();
        };
        match &mut spec.optimizer {
            OptimizerSpec::Sgd {
                momentum,
                nesterov,
                weight_decay,
                ..
            } => {
                drag(ui, "Momentum", momentum, 0.999, 0.01);
                drag(ui, "Weight decay", weight_decay, 1.0, 1e-4);
                ui.label("");
                changed |= ui.checkbox(nesterov, "Nesterov").changed();
                ui.end_row();
            }
            OptimizerSpec::Adam {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            }
            | OptimizerSpec::AdamW {
                beta1,
                beta2,
                eps,
                weight_decay,
                ..
            } => {
                drag(ui, "β₁", beta1, 0.999, 0.001);
                drag(ui, "β₂", beta2, 0.99999, 0.0001);
                drag(ui, "ε", eps, 1e-2, 1e-9);
                drag(ui, "Weight decay", weight_decay, 1.0, 1e-4);
            }
            OptimizerSpec::Rmsprop {
                alpha,
                eps,
                momentum,
                weight_decay,
                ..
            } => {
                drag(ui, "α", alpha, 0.9999, 0.001);
                drag(ui, "ε", eps, 1e-2, 1e-9);
                drag(ui, "Momentum", momentum, 0.999, 0.01);
                drag(ui, "Weight decay", weight_decay, 1.0, 1e-4);
            }
        }
    });
    changed
}

/// Epochs, batch size, seed and validation split.
pub fn training_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> bool {
    let mut changed = false;
    egui::Grid::new("training").num_columns(2).show(ui, |ui| {
        changed |= super::grid_row(
            ui,
            "Epochs",
            egui::DragValue::new(&mut spec.training.epochs).range(1..=100_000),
        )
        .changed();
        changed |= super::grid_row(
            ui,
            "Batch size",
            egui::DragValue::new(&mut spec.training.batch_size).range(1..=65_536),
        )
        .changed();
        let batches = ui.label("Batches").id;
        egui::ComboBox::from_id_salt("sampling")
            .selected_text(spec.training.sampling.label())
            .show_ui(ui, |ui| {
                for s in crate::experiment::Sampling::ALL {
                    changed |= ui
                        .selectable_value(&mut spec.training.sampling, s, s.label())
                        .changed();
                }
            })
            .response
            .labelled_by(batches)
            .on_hover_text("Joint: every batch from all rows. Per task: each step draws a task (uniformly, in proportion to its labelled rows, or annealed from proportional to uniform) and a batch from that task's labelled rows; every task labelled in the batch learns from it.");
        ui.end_row();
        let norm = ui.label("Task loss over").id;
        egui::ComboBox::from_id_salt("loss-normalisation")
            .selected_text(match spec.training.loss_normalisation {
                crate::experiment::LossNormalisation::Labelled => "its labelled rows",
                crate::experiment::LossNormalisation::Batch => "all rows of the batch",
            })
            .show_ui(ui, |ui| {
                for (n, label) in [
                    (crate::experiment::LossNormalisation::Labelled, "its labelled rows"),
                    (crate::experiment::LossNormalisation::Batch, "all rows of the batch"),
                ] {
                    changed |= ui
                        .selectable_value(&mut spec.training.loss_normalisation, n, label)
                        .changed();
                }
            })
            .response
            .labelled_by(norm)
            .on_hover_text("A task's loss is the sum over the batch's labelled rows divided by their number (each task counts fully, however few labels it has), or by the batch size (a task with few labels counts less).");
        ui.end_row();
        changed |= super::grid_row(
            ui,
            "Validation share",
            egui::Slider::new(&mut spec.training.validation_fraction, 0.0..=0.9).fixed_decimals(2),
        )
        .changed();
        let seed_label = ui.label("Seed").id;
        ui.horizontal(|ui| {
            changed |= ui
                .add(egui::DragValue::new(&mut spec.seed))
                .labelled_by(seed_label)
                .on_hover_text("Fixes data, initial weights, batch order and dropout")
                .changed();
            if ui.button("🎲").on_hover_text("New seed").clicked() {
                spec.seed = spec
                    .seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407)
                    % 100_000;
                changed = true;
            }
        });
        ui.end_row();
    });
    changed |= stop_ui(ui, spec);
    changed
}

/// The stop rules: early stopping on a monitored loss, a target loss, restoring the best
/// epoch. True on a change.
fn stop_ui(ui: &mut Ui, spec: &mut ExperimentSpec) -> bool {
    let mut changed = false;
    let tasks: Vec<String> = spec.tasks.iter().map(|t| t.name.clone()).collect();
    let stop = &mut spec.training.stop;
    let mut early = stop.patience > 0;
    if ui
        .checkbox(&mut early, "Early stopping")
        .on_hover_text(
            "Stop when the monitored validation loss has not improved for a number of epochs.",
        )
        .changed()
    {
        stop.patience = if early { 5 } else { 0 };
        changed = true;
    }
    let mut target = stop.target_loss.is_some();
    if ui.checkbox(&mut target, "Stop at a target loss").changed() {
        stop.target_loss = target.then_some(0.1);
        changed = true;
    }
    if !early && !target {
        return changed;
    }
    egui::Grid::new("stop-rules").num_columns(2).show(ui, |ui| {
        let label = ui.label("Monitor").id;
        egui::ComboBox::from_id_salt("stop-monitor")
            .selected_text(if stop.monitor == "mean" {
                "mean of the tasks".to_owned()
            } else {
                stop.monitor.clone()
            })
            .show_ui(ui, |ui| {
                changed |= ui
                    .selectable_value(&mut stop.monitor, "mean".to_owned(), "mean of the tasks")
                    .changed();
                for t in &tasks {
                    changed |= ui
                        .selectable_value(&mut stop.monitor, t.clone(), t)
                        .changed();
                }
            })
            .response
            .labelled_by(label);
        ui.end_row();
        if early {
            changed |= super::grid_row(
                ui,
                "Patience (epochs)",
                egui::DragValue::new(&mut stop.patience).range(1..=10_000),
            )
            .changed();
            changed |= super::grid_row(
                ui,
                "Min improvement",
                egui::DragValue::new(&mut stop.min_delta)
                    .range(0.0..=10.0)
                    .speed(0.0005)
                    .max_decimals(4),
            )
            .changed();
        }
        if let Some(t) = &mut stop.target_loss {
            changed |= super::grid_row(
                ui,
                "Target loss",
                egui::DragValue::new(t)
                    .range(0.0..=1e6)
                    .speed(0.001)
                    .max_decimals(4),
            )
            .changed();
        }
        changed |= super::grid_row(
            ui,
            "Restore best epoch",
            egui::Checkbox::without_text(&mut stop.restore_best),
        )
        .on_hover_text(
            "When a rule fires, put back the weights of the epoch with the lowest monitored loss.",
        )
        .changed();
    });
    changed
}
