//! Help > Lessons: short lessons, each a TOML file (see the README, "Writing a lesson"). Each
//! loads a ready experiment, opens the view to watch, sets the pace and the controls hidden
//! from students, and lists the steps to try, in the app's own words. The built-in lessons
//! are `assets/lessons/*.toml`, embedded in the binary; a lecturer's own are read from a
//! folder (see [`default_user_dir`]) on a background thread, or opened from anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, TryRecvError};

use egui::{RichText, Ui};
use serde::Deserialize;

use super::theme;
use crate::experiment::ExperimentSpec;
use crate::trainer::Pace;

/// The built-in lessons, in order: (file name, TOML text).
pub const BUILT_IN: [(&str, &str); 6] = [
    (
        "01-shared-or-separate.toml",
        include_str!("../../assets/lessons/01-shared-or-separate.toml"),
    ),
    (
        "02-negative-transfer.toml",
        include_str!("../../assets/lessons/02-negative-transfer.toml"),
    ),
    (
        "03-loss-scales.toml",
        include_str!("../../assets/lessons/03-loss-scales.toml"),
    ),
    (
        "04-gradient-conflict.toml",
        include_str!("../../assets/lessons/04-gradient-conflict.toml"),
    ),
    (
        "05-pareto-front.toml",
        include_str!("../../assets/lessons/05-pareto-front.toml"),
    ),
    (
        "06-inside-one-update.toml",
        include_str!("../../assets/lessons/06-inside-one-update.toml"),
    ),
];

/// The examples a lesson can name with `example = "<name>"`: (name, TOML text), the files of
/// `examples/` without `.toml`.
pub const EXAMPLES: [(&str, &str); 19] = [
    ("adult", include_str!("../../examples/adult.toml")),
    ("affinity", include_str!("../../examples/affinity.toml")),
    (
        "conv_shapes",
        include_str!("../../examples/conv_shapes.toml"),
    ),
    (
        "cross_stitch",
        include_str!("../../examples/cross_stitch.toml"),
    ),
    ("digits", include_str!("../../examples/digits.toml")),
    (
        "hard_sharing",
        include_str!("../../examples/hard_sharing.toml"),
    ),
    (
        "loss_scales",
        include_str!("../../examples/loss_scales.toml"),
    ),
    ("mmoe", include_str!("../../examples/mmoe.toml")),
    ("moe", include_str!("../../examples/moe.toml")),
    (
        "multidigits",
        include_str!("../../examples/multidigits.toml"),
    ),
    (
        "negative_transfer",
        include_str!("../../examples/negative_transfer.toml"),
    ),
    ("penguins", include_str!("../../examples/penguins.toml")),
    ("playground", include_str!("../../examples/playground.toml")),
    (
        "scarce_labels",
        include_str!("../../examples/scarce_labels.toml"),
    ),
    (
        "shapes_semantic",
        include_str!("../../examples/shapes_semantic.toml"),
    ),
    (
        "soft_sharing",
        include_str!("../../examples/soft_sharing.toml"),
    ),
    ("task_links", include_str!("../../examples/task_links.toml")),
    (
        "task_relationships",
        include_str!("../../examples/task_relationships.toml"),
    ),
    ("tradeoff", include_str!("../../examples/tradeoff.toml")),
];

/// The largest lesson file read (a lesson is a few kilobytes; an inline experiment adds a few
/// more).
pub const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The most lesson files read from the user folder.
pub const MAX_FILES: usize = 200;

/// One lesson, ready to load.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// Title.
    pub title: String,
    /// What it is about: paragraphs.
    pub text: Vec<String>,
    /// What to do, in order; each names the control and where it is.
    pub steps: Vec<String>,
    /// The experiment it loads (validated).
    pub spec: ExperimentSpec,
    /// The data files it reads outside the lesson file's folder, in full (the app asks
    /// before it reads them).
    pub outside: Vec<std::path::PathBuf>,
    /// The key of the centre tab it opens.
    pub tab: String,
    /// The pace it trains at.
    pub pace: Pace,
    /// The controls it hides from students (keys of `app::presentation::CONTROLS`, or
    /// `tab:<key>`).
    pub hidden: BTreeSet<String>,
    /// The presentation scale it sets, if any.
    pub scale: Option<f32>,
}

/// A lesson's pace in its file: steps per second, or `"full"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum PaceField {
    Rate(f64),
    Word(String),
}

/// A lesson file as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LessonFile {
    title: String,
    #[serde(default)]
    text: Vec<String>,
    #[serde(default)]
    steps: Vec<String>,
    #[serde(default)]
    example: Option<String>,
    #[serde(default)]
    experiment: Option<ExperimentSpec>,
    #[serde(default)]
    tab: Option<String>,
    #[serde(default)]
    pace: Option<PaceField>,
    #[serde(default)]
    hide: Vec<String>,
    #[serde(default)]
    scale: Option<f32>,
}

/// The 1-based line and column of byte `at` of `text`.
fn line_column(text: &str, at: usize) -> (usize, usize) {
    let before = text.get(..at.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Takes the relative data paths of a lesson's `spec` from the lesson file's folder `dir`;
/// returns the paths that lead outside it, in full (see [`Lesson::outside`]).
fn resolve_paths(spec: &mut ExperimentSpec, dir: Option<&Path>) -> Vec<std::path::PathBuf> {
    let outside = spec.dataset.paths_outside();
    let Some(dir) = dir else {
        return outside;
    };
    spec.dataset.source_mut().resolve_paths(dir);
    outside
        .iter()
        .map(|p| crate::handout::full_path(&dir.join(p)))
        .collect()
}

impl Lesson {
    /// Reads a lesson from its TOML text; `name` (a file name or path) starts every problem,
    /// and relative CSV paths of an inline experiment are resolved against `dir`. Returns
    /// every problem found, one line each: the parser's (with line and column), the
    /// experiment's, unknown controls, tabs or example names.
    pub fn parse(text: &str, name: &str, dir: Option<&Path>) -> Result<Self, Vec<String>> {
        let file: LessonFile = toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end().replace('\n', " ");
            vec![match e.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    format!("{name}:{line}:{column}: {message}")
                }
                None => format!("{name}: {message}"),
            }]
        })?;
        let mut problems = Vec::new();
        let mut outside = Vec::new();
        let spec = match (file.example, file.experiment) {
            (Some(example), None) => match EXAMPLES.iter().find(|(n, _)| *n == example) {
                Some((_, toml)) => ExperimentSpec::from_toml(toml)
                    .map_err(|e| problems.push(format!("{name}: example `{example}`: {e}")))
                    .ok(),
                None => {
                    problems.push(format!(
                        "{name}: no example is called `{example}`; the examples are: {}",
                        EXAMPLES.map(|(n, _)| n).join(", ")
                    ));
                    None
                }
            },
            (None, Some(mut spec)) => {
                outside = resolve_paths(&mut spec, dir);
                Some(spec)
            }
            (Some(_), Some(_)) => {
                problems.push(format!(
                    "{name}: give either `example = \"<name>\"` or an [experiment] table, not both"
                ));
                None
            }
            (None, None) => {
                problems.push(format!(
                    "{name}: no experiment: add `example = \"<name>\"` or an [experiment] table"
                ));
                None
            }
        };
        if let Some(spec) = &spec {
            problems.extend(
                spec.validate()
                    .iter()
                    .map(|p| format!("{name}: experiment: {p}")),
            );
        }
        if file.title.trim().is_empty() {
            problems.push(format!("{name}: the title is empty"));
        }
        let tab = file.tab.unwrap_or_else(|| "Charts".to_owned());
        if !crate::app::tabs::TABS.iter().any(|t| t.key() == tab) {
            problems.push(format!(
                "{name}: tab `{tab}` is not one of: {}",
                crate::app::tabs::TABS
                    .iter()
                    .map(|t| t.key())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let pace = match file.pace {
            None => Pace::TEACHING,
            Some(PaceField::Word(w)) if w == "full" => Pace::Full,
            Some(PaceField::Rate(r)) if (Pace::SLOWEST..=Pace::FASTEST).contains(&r) => {
                Pace::StepsPerSec(r)
            }
            Some(_) => {
                problems.push(format!(
                    "{name}: pace must be steps per second, from {} to {}, or \"full\"",
                    Pace::SLOWEST,
                    Pace::FASTEST
                ));
                Pace::TEACHING
            }
        };
        let check = crate::app::presentation::Presentation {
            hidden: file.hide.iter().cloned().collect(),
            scale: file
                .scale
                .unwrap_or(crate::app::presentation::Presentation::default().scale),
            ..crate::app::presentation::Presentation::default()
        };
        problems.extend(check.problems().iter().map(|p| format!("{name}: {p}")));
        match spec {
            Some(spec) if problems.is_empty() => Ok(Self {
                title: file.title,
                text: file.text,
                steps: file.steps,
                spec,
                outside,
                tab,
                pace,
                hidden: check.hidden,
                scale: file.scale,
            }),
            _ => Err(problems),
        }
    }
}

/// Where a lesson comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Built into the app (a file name of `assets/lessons/`).
    BuiltIn(&'static str),
    /// A file of the user folder, or one opened from anywhere.
    File(PathBuf),
}

impl Source {
    /// How the list names it when it does not load.
    pub fn name(&self) -> String {
        match self {
            Self::BuiltIn(name) => (*name).to_owned(),
            Self::File(path) => path.display().to_string(),
        }
    }
}

/// One lesson in the list, or the problems of a file that did not load.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Where it comes from.
    pub source: Source,
    /// The lesson, or every problem found in its file.
    pub lesson: Result<Lesson, Vec<String>>,
}

impl Entry {
    /// What the list calls it: its title, or its file name for one that does not load.
    pub fn label(&self) -> String {
        match (&self.lesson, &self.source) {
            (Ok(l), _) => l.title.clone(),
            (Err(_), Source::File(p)) => format!(
                "⚠ {}",
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
            (Err(_), Source::BuiltIn(n)) => format!("⚠ {n}"),
        }
    }
}

/// The built-in lessons, parsed.
pub fn built_in() -> Vec<Entry> {
    BUILT_IN
        .iter()
        .map(|(name, text)| Entry {
            source: Source::BuiltIn(name),
            lesson: Lesson::parse(text, name, None),
        })
        .collect()
}

/// The folder whose `*.toml` files are the user's lessons: `lessons` in the app's data folder
/// (on Linux `$XDG_DATA_HOME/mtl-studio/lessons`, by default `~/.local/share/mtl-studio/lessons`).
pub fn default_user_dir() -> Option<PathBuf> {
    eframe::storage_dir("mtl-studio").map(|d| d.join("lessons"))
}

/// Reads one lesson file, refusing what is not a regular file (a FIFO or a device would block
/// or never end) or is larger than [`MAX_FILE_BYTES`].
pub fn read_file(path: &Path) -> Entry {
    let source = Source::File(path.to_owned());
    let name = path.display().to_string();
    let lesson = read_text(path)
        .map_err(|e| vec![format!("{name}: {e}")])
        .and_then(|text| Lesson::parse(&text, &name, path.parent()));
    Entry { source, lesson }
}

fn read_text(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if !meta.is_file() {
        return Err("not a regular file".to_owned());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes is more than a lesson file can be ({} KiB)",
            meta.len(),
            MAX_FILE_BYTES / 1024
        ));
    }
    let file = crate::fsguard::open_regular(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "more than a lesson file can be ({} KiB)",
            MAX_FILE_BYTES / 1024
        ));
    }
    Ok(text)
}

/// Reads every `*.toml` file of `dir` (at most [`MAX_FILES`], in name order). A folder that
/// does not exist holds no lessons; one that cannot be read is an error.
pub fn read_dir(dir: &Path) -> Result<Vec<Entry>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{e}: {}", dir.display())),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("toml"))
        })
        .collect();
    paths.sort();
    paths.truncate(MAX_FILES);
    Ok(paths.iter().map(|p| read_file(p)).collect())
}

/// The Lessons panel's state.
pub struct LessonsState {
    /// Whether the panel is open.
    pub open: bool,
    /// The lesson shown: an index into [`Self::entries`].
    pub current: usize,
    /// Built-in lessons, then the user folder's, then those opened from elsewhere.
    pub entries: Vec<Entry>,
    /// The folder of the user's lessons (`None`: no data folder on this system).
    pub user_dir: Option<PathBuf>,
    /// Entries read from the user folder (the first `user_count` after the built-in ones).
    user_count: usize,
    /// The user folder's last problem (it could not be read).
    pub user_error: Option<String>,
    /// The user folder being read in the background.
    scan: Option<Receiver<Result<Vec<Entry>, String>>>,
    /// Whether the user folder was read (or is being read) since the panel opened.
    scanned: bool,
    /// Steps ticked, per lesson title.
    pub done: BTreeMap<String, Vec<bool>>,
    /// The controls the loaded lesson hid that were shown before (shown again when another
    /// lesson loads, or by "Show the controls this lesson hides").
    pub hidden_by_lesson: BTreeSet<String>,
}

impl Default for LessonsState {
    fn default() -> Self {
        Self {
            open: false,
            current: 0,
            entries: built_in(),
            user_dir: default_user_dir(),
            user_count: 0,
            user_error: None,
            scan: None,
            scanned: false,
            done: BTreeMap::new(),
            hidden_by_lesson: BTreeSet::new(),
        }
    }
}

impl LessonsState {
    /// Starts reading the user folder again in the background; its lessons replace the ones
    /// read before.
    pub fn reload(&mut self) {
        self.scanned = true;
        let Some(dir) = self.user_dir.clone() else {
            return;
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name("lessons".to_owned())
            .spawn(move || {
                tx.send(read_dir(&dir)).ok();
            });
        match spawned {
            Ok(_) => self.scan = Some(rx),
            Err(e) => self.user_error = Some(format!("cannot read the lessons folder: {e}")),
        }
    }

    /// Whether the user folder is being read.
    pub fn loading(&self) -> bool {
        self.scan.is_some()
    }

    /// Takes the user folder's lessons once read; starts reading it when the panel first opens.
    pub fn poll(&mut self) {
        if self.open && !self.scanned {
            self.reload();
        }
        let Some(rx) = &self.scan else {
            return;
        };
        let result = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => return,
            Err(TryRecvError::Disconnected) => Err("reading the lessons folder failed".to_owned()),
        };
        self.scan = None;
        let shown = self.entries.get(self.current).map(|e| e.source.clone());
        let start = BUILT_IN.len();
        let end = (start + self.user_count).min(self.entries.len());
        let (read, error) = match result {
            Ok(read) => (read, None),
            Err(e) => (Vec::new(), Some(e)),
        };
        self.user_count = read.len();
        self.user_error = error;
        self.entries.splice(start..end, read);
        if let Some(i) = shown.and_then(|s| self.entries.iter().position(|e| e.source == s)) {
            self.current = i;
        }
        self.current = self.current.min(self.entries.len().saturating_sub(1));
    }

    /// Adds (or replaces) a lesson opened from a file and shows it.
    pub fn add_file(&mut self, path: &Path) {
        let entry = read_file(path);
        match self.entries.iter().position(|e| e.source == entry.source) {
            Some(i) => {
                self.entries[i] = entry;
                self.current = i;
            }
            None => {
                self.entries.push(entry);
                self.current = self.entries.len() - 1;
            }
        }
    }
}

/// What the user asked for.
pub enum LessonAction {
    /// Load lesson `i`'s experiment and open its view.
    Load(usize),
    /// Open a lesson file from anywhere.
    OpenFile,
    /// Show the controls the loaded lesson hid again.
    ShowHidden,
    /// Close the panel.
    Close,
}

/// The panel's contents; returns what the user asked for. `hidden` are the controls hidden
/// now.
pub fn lessons_ui(
    ui: &mut Ui,
    state: &mut LessonsState,
    hidden: &BTreeSet<String>,
) -> Option<LessonAction> {
    state.poll();
    if state.loading() {
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(100));
    }
    let mut action = None;
    ui.horizontal(|ui| {
        ui.heading("Lessons");
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .button("✖")
                .on_hover_text("Close the lessons (Help › Lessons… opens them again)")
                .clicked()
            {
                action = Some(LessonAction::Close);
            }
        });
    });
    if state.entries.is_empty() {
        return action;
    }
    let i = state.current.min(state.entries.len() - 1);
    ui.horizontal(|ui| {
        egui::ComboBox::from_id_salt("lesson")
            .selected_text(state.entries[i].label())
            .width(ui.available_width() - 8.0)
            .truncate()
            .show_ui(ui, |ui| {
                for (k, e) in state.entries.iter().enumerate() {
                    if k == BUILT_IN.len() && k < state.entries.len() {
                        ui.separator();
                    }
                    ui.selectable_value(&mut state.current, k, e.label());
                }
            });
    });
    ui.separator();
    let i = state.current.min(state.entries.len() - 1);
    let entry = &state.entries[i];
    match &entry.lesson {
        Ok(lesson) => {
            if let Some(a) = lesson_ui(ui, lesson, &mut state.done, i) {
                action = Some(a);
            }
        }
        Err(problems) => {
            ui.strong(format!(
                "This lesson does not load: {}",
                entry.source.name()
            ));
            for p in problems {
                ui.colored_label(theme::error(), p);
            }
            ui.label("Fix the file and press Reload.");
        }
    }
    ui.add_space(6.0);
    ui.horizontal(|ui| {
        if i > 0 && ui.button("Previous").clicked() {
            state.current = i - 1;
        }
        if i + 1 < state.entries.len() && ui.button("Next lesson").clicked() {
            state.current = i + 1;
        }
    });
    if state.hidden_by_lesson.iter().any(|k| hidden.contains(k))
        && ui
            .button("Show the controls the lesson hid")
            .on_hover_text(
                "Shows again what the loaded lesson hid; the controls you hid yourself stay hidden",
            )
            .clicked()
    {
        action = Some(LessonAction::ShowHidden);
    }
    ui.separator();
    if let Some(a) = folder_ui(ui, state) {
        action = Some(a);
    }
    action
}

fn lesson_ui(
    ui: &mut Ui,
    lesson: &Lesson,
    done: &mut BTreeMap<String, Vec<bool>>,
    i: usize,
) -> Option<LessonAction> {
    let mut action = None;
    ui.heading(&lesson.title);
    for p in &lesson.text {
        ui.label(p);
        ui.add_space(4.0);
    }
    if ui
        .button(RichText::new("Load this lesson's experiment").strong())
        .on_hover_text("Replaces the experiment being edited and opens the view to watch")
        .clicked()
    {
        action = Some(LessonAction::Load(i));
    }
    if !lesson.hidden.is_empty() {
        ui.weak(format!(
            "It hides from students: {}",
            lesson
                .hidden
                .iter()
                .map(|k| crate::app::presentation::CONTROLS
                    .iter()
                    .find(|c| c.key == k)
                    .map_or_else(|| k.replace("tab:", "the tab "), |c| c.label.to_owned()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    ui.add_space(6.0);
    if !lesson.steps.is_empty() {
        ui.strong("Try:");
    }
    let ticks = done
        .entry(lesson.title.clone())
        .or_insert_with(|| vec![false; lesson.steps.len()]);
    ticks.resize(lesson.steps.len(), false);
    for (step, done) in lesson.steps.iter().zip(ticks.iter_mut()) {
        ui.horizontal_wrapped(|ui| {
            ui.checkbox(done, "");
            let text = RichText::new(step);
            if *done {
                ui.label(text.color(theme::input()));
            } else {
                ui.label(text);
            }
        });
    }
    action
}

/// The user folder: where it is, Reload, Open lesson file…, and the files that do not load.
fn folder_ui(ui: &mut Ui, state: &mut LessonsState) -> Option<LessonAction> {
    let mut action = None;
    let broken: Vec<String> = state
        .entries
        .iter()
        .filter(|e| matches!(e.source, Source::File(_)))
        .filter_map(|e| e.lesson.as_ref().err())
        .flatten()
        .cloned()
        .collect();
    egui::CollapsingHeader::new(format!("Your lessons ({})", state.user_count))
        .id_salt("your lessons")
        .default_open(true)
        .show(ui, |ui| {
            match &state.user_dir {
                Some(dir) => {
                    ui.label(
                        "Lesson files (*.toml) in this folder are listed after the built-in ones:",
                    );
                    ui.add(
                        egui::Label::new(RichText::new(dir.display().to_string()).monospace())
                            .selectable(true),
                    );
                }
                None => {
                    ui.label(
                        "This system has no data folder for the app; open lesson files one by one.",
                    );
                }
            }
            ui.horizontal(|ui| {
                if state.user_dir.is_some()
                    && ui
                        .add_enabled(!state.loading(), egui::Button::new("⟲ Reload"))
                        .on_hover_text("Read the folder's lesson files again")
                        .clicked()
                {
                    state.reload();
                }
                if ui
                    .button("Open lesson file…")
                    .on_hover_text("A lesson file from anywhere; it is added to the list")
                    .clicked()
                {
                    action = Some(LessonAction::OpenFile);
                }
                if state.loading() {
                    ui.spinner();
                }
            });
            if let Some(e) = &state.user_error {
                ui.colored_label(theme::error(), e);
            }
            for p in &broken {
                ui.colored_label(theme::error(), p);
            }
            ui.weak("How to write one: README, \"Writing a lesson\".");
        });
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_lesson_loads_with_a_valid_experiment_and_known_controls() {
        for entry in built_in() {
            let lesson = match &entry.lesson {
                Ok(l) => l,
                Err(problems) => panic!("{}: {problems:?}", entry.source.name()),
            };
            assert!(lesson.spec.validate().is_empty(), "{}", lesson.title);
            assert!(
                lesson
                    .hidden
                    .iter()
                    .all(|k| crate::app::presentation::is_control(k)),
                "{}",
                lesson.title
            );
            assert!(!lesson.steps.is_empty(), "{}: steps", lesson.title);
        }
    }

    #[test]
    fn pace_is_steps_per_second_or_full_and_out_of_range_is_a_problem() {
        let lesson = |pace: &str| {
            Lesson::parse(
                &format!("title = \"t\"\nexample = \"tradeoff\"\npace = {pace}\n"),
                "x.toml",
                None,
            )
        };
        assert_eq!(lesson("\"full\"").map(|l| l.pace), Ok(Pace::Full), "full");
        assert_eq!(
            lesson("12").map(|l| l.pace),
            Ok(Pace::StepsPerSec(12.0)),
            "an integer rate"
        );
        assert!(lesson("0.5").is_err(), "too slow");
        assert!(lesson("\"fast\"").is_err(), "an unknown word");
    }

    #[test]
    fn a_parse_error_names_the_file_line_and_column() {
        let e = Lesson::parse("title = \"t\"\n\nexample = tradeoff\n", "mine.toml", None)
            .expect_err("a bare word");
        assert!(e[0].starts_with("mine.toml:3:11:"), "{e:?}");
        let e = Lesson::parse("title = \"t\"\ntabs = \"Charts\"\n", "mine.toml", None)
            .expect_err("an unknown field");
        assert!(e[0].starts_with("mine.toml:2:1:"), "{e:?}");
    }

    #[test]
    fn an_experiment_is_required_once_and_examples_are_known() {
        let e = Lesson::parse("title = \"t\"\n", "a.toml", None).expect_err("none");
        assert!(e[0].contains("no experiment"), "{e:?}");
        let e = Lesson::parse(
            "title = \"t\"\nexample = \"nope\"\ntab = \"Nope\"\nhide = [\"x\"]\n",
            "a.toml",
            None,
        )
        .expect_err("unknown names");
        assert_eq!(e.len(), 3, "the example, the tab and the control: {e:?}");
        let spec = ExperimentSpec::from_toml(EXAMPLES[0].1).expect("an example");
        let mut doc = toml::Table::new();
        doc.insert("title".into(), "t".into());
        doc.insert("example".into(), "tradeoff".into());
        doc.insert(
            "experiment".into(),
            toml::Value::try_from(&spec).expect("TOML"),
        );
        let text = toml::to_string(&doc).expect("TOML");
        let e = Lesson::parse(&text, "a.toml", None).expect_err("both");
        assert!(e[0].contains("not both"), "{e:?}");
    }

    #[test]
    fn the_readme_example_lesson_loads() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Writing a lesson")
            .nth(1)
            .expect("the README has a \"Writing a lesson\" section");
        let block = section
            .split("```toml\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("a TOML block");
        let lesson = Lesson::parse(block, "README", None);
        assert!(lesson.is_ok(), "{:?}", lesson.err());
    }

    #[test]
    fn large_files_and_folders_are_refused_and_a_missing_folder_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        let big = dir.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).expect("write");
        std::fs::create_dir(dir.path().join("folder.toml")).expect("mkdir");
        let entries = read_dir(dir.path()).expect("read");
        assert_eq!(entries.len(), 2, "both listed");
        assert!(
            entries.iter().all(|e| e.lesson.is_err()),
            "neither loads: {entries:?}"
        );
        assert!(
            read_dir(&dir.path().join("missing")).is_ok_and(|e| e.is_empty()),
            "no folder, no lessons"
        );
    }
}
