//! The Dataset tab: what the data look like before (and while) a model learns them. A table
//! of rows, each label's distribution, and the inputs: a grid of images with their labels and
//! masks for image data, otherwise a scatter of two chosen inputs coloured by a task's label.

use egui::Ui;
use egui_plot::{Bar, BarChart, Legend, Plot, Points};

use super::theme;
use crate::data::{Dataset, SplitTag, TargetColumn, TaskBalance};
use crate::experiment::TaskKind;

/// Images shown in the grid.
const IMAGES: usize = 48;

/// Input columns shown in the table.
const TABLE_FEATURES: usize = 12;

/// The parts of the Dataset tab.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataTab {
    /// Labels' distributions per task.
    #[default]
    Labels,
    /// Images or a scatter of the inputs.
    Inputs,
    /// The rows.
    Table,
}

/// What the Dataset tab remembers between frames.
#[derive(Default)]
pub struct DataViewState {
    /// The part shown.
    pub tab: DataTab,
    /// The label that colours the scatter (index into the targets).
    pub colour_by: usize,
    /// Inputs on the scatter's axes.
    pub axes: (usize, usize),
    /// Hide the segmentation masks on the images.
    pub hide_masks: bool,
    /// Image textures, made once per dataset: (key, textures).
    textures: Option<(String, Vec<egui::TextureHandle>)>,
}

/// The whole tab, from what is known of the data (`summary`: its rows, which can be a
/// preview of more, and the tasks' split balance). `image` is the inputs' (channels, height, width) when they are images;
/// `note` says which rows are shown (generated data preview only part of their rows).
pub fn dataset_view_ui(
    ui: &mut Ui,
    summary: &super::settings::DataSummary,
    image: Option<[usize; 3]>,
    note: &str,
    tasks: &[String],
    state: &mut DataViewState,
) {
    let (data, balance, rows) = (
        summary.data.as_deref(),
        summary.balance.as_deref(),
        summary.rows,
    );
    let Some(data) = data else {
        ui.label("No data loaded: pick a source in the Dataset panel on the left (or fix the problem it shows).");
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.strong(&data.name);
        ui.label(format!(
            "{} rows × {} input features, {} label column(s)",
            data.rows,
            data.features(),
            data.targets.len()
        ));
        if let Some(tags) = &data.split {
            let count = |t: SplitTag| tags.iter().filter(|x| **x == t).count();
            ui.label(format!(
                "· split in the file: {} train, {} val, {} test",
                count(SplitTag::Train),
                count(SplitTag::Val),
                count(SplitTag::Test)
            ));
        }
        if !note.is_empty() {
            ui.weak(note);
        }
    });
    ui.horizontal(|ui| {
        ui.selectable_value(&mut state.tab, DataTab::Labels, "Labels");
        ui.selectable_value(
            &mut state.tab,
            DataTab::Inputs,
            if image.is_some() { "Images" } else { "Scatter" },
        );
        ui.selectable_value(&mut state.tab, DataTab::Table, "Table");
    });
    ui.separator();
    match state.tab {
        DataTab::Labels => {
            if let Some(b) = balance {
                balance_ui(ui, b, (data.rows, rows));
                ui.separator();
            }
            labels_ui(ui, data);
        }
        DataTab::Inputs => match image {
            Some(shape) => images_ui(ui, data, shape, tasks, state),
            None => scatter_ui(ui, data, state),
        },
        DataTab::Table => table_ui(ui, data),
    }
}

/// The experiment's tasks as training splits them: labelled rows per split, the share of an
/// average training batch that carries each task's label, and the class balance.
fn balance_ui(ui: &mut Ui, balance: &[TaskBalance], (shown, rows): (usize, usize)) {
    ui.horizontal_wrapped(|ui| {
        ui.strong("The experiment's tasks, split as training splits them");
        if shown < rows {
            ui.colored_label(
                theme::warning(),
                format!("· a preview: counted on the first {shown} of the {rows} rows; training splits all {rows}"),
            );
        }
    });
    egui::ScrollArea::horizontal()
        .id_salt("balance-scroll")
        .show(ui, |ui| balance_grid(ui, balance));
}

fn balance_grid(ui: &mut Ui, balance: &[TaskBalance]) {
    egui::Grid::new("balance")
        .striped(true)
        .spacing([16.0, 3.0])
        .show(ui, |ui| {
            // Short headers (explained on hover) so the table fits a 1024-wide window.
            for (h, hint) in [
                ("task", "The task and its kind"),
                ("train labelled", "Training rows that carry the task's label"),
                ("val labelled", "Validation rows that carry the task's label"),
                ("batch share", "The share of an average training batch that carries the label"),
                ("classes", "The class balance of the training rows"),
            ] {
                ui.strong(h).on_hover_text(hint);
            }
            ui.end_row();
            for (k, b) in balance.iter().enumerate() {
                ui.colored_label(theme::task(k), format!("{} ({})", b.task, b.kind));
                for s in [&b.train, &b.val] {
                    ui.monospace(format!("{} of {} ({:.0}%)", s.labelled, s.rows, 100.0 * s.share()));
                }
                ui.monospace(format!("{:.0}%", 100.0 * b.train.share()))
                    .on_hover_text("With joint batches, this share of every training batch carries the task's label on average; its loss is averaged over those rows only.");
                if b.train.classes.is_empty() {
                    ui.label("");
                } else {
                    let total = b.train.classes.iter().sum::<usize>().max(1);
                    let parts: Vec<String> = b
                        .class_names
                        .iter()
                        .zip(&b.train.classes)
                        .take(6)
                        .map(|(c, n)| format!("{c} {:.0}%", 100.0 * *n as f64 / total as f64))
                        .collect();
                    let more = b.class_names.len().saturating_sub(6);
                    let min = b.train.classes.iter().copied().min().unwrap_or(0);
                    let max = b.train.classes.iter().copied().max().unwrap_or(0);
                    let ratio = if min > 0 {
                        format!("; largest/smallest {:.1}", max as f64 / min as f64)
                    } else {
                        String::new()
                    };
                    let tail = if more > 0 { format!(" (+{more})") } else { String::new() };
                    ui.monospace(format!("{}{tail}{ratio}", parts.join(", ")));
                }
                ui.end_row();
            }
        });
}

/// One line per label: coverage and a summary, then a chart of its distribution.
fn labels_ui(ui: &mut Ui, data: &Dataset) {
    // Three columns, fewer when the window is narrow.
    let columns = (((ui.available_width() + 16.0) / 216.0).floor() as usize).clamp(1, 3);
    let width = ((ui.available_width() - 16.0 * columns as f32) / columns as f32).max(200.0);
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("label-charts")
            .num_columns(columns)
            .spacing([16.0, 12.0])
            .show(ui, |ui| {
                for (k, t) in data.targets.iter().enumerate() {
                    ui.vertical(|ui| {
                        ui.set_width(width);
                        ui.colored_label(theme::task(k), format!("{} ({})", t.name, t.kind));
                        ui.weak(coverage(t));
                        label_chart(ui, k, t, width);
                    });
                    if k % columns == columns - 1 {
                        ui.end_row();
                    }
                }
            });
    });
}

fn coverage(t: &TargetColumn) -> String {
    let rows = t.present.len();
    let labelled = t.labelled();
    let missing = rows - labelled;
    let share = 100.0 * labelled as f64 / rows.max(1) as f64;
    if missing == 0 {
        format!("{labelled} rows, all labelled")
    } else {
        format!("{labelled} of {rows} rows labelled ({share:.1}%); {missing} missing")
    }
}

fn labelled_values(t: &TargetColumn) -> impl Iterator<Item = (usize, f32)> + '_ {
    t.present
        .iter()
        .enumerate()
        .filter(|(_, p)| **p)
        .map(|(r, _)| (r, t.values[r * t.width.max(1)]))
}

fn label_chart(ui: &mut Ui, k: usize, t: &TargetColumn, width: f32) {
    let (bars, names): (Vec<Bar>, Vec<String>) = match t.kind {
        TaskKind::Binary | TaskKind::Multiclass => {
            let mut counts = vec![0usize; t.classes.len().max(1)];
            for (_, v) in labelled_values(t) {
                if let Some(c) = counts.get_mut(v as usize) {
                    *c += 1;
                }
            }
            (class_bars(&counts, t, k), t.classes.clone())
        }
        TaskKind::Regression => (
            histogram(labelled_values(t).map(|(_, v)| f64::from(v)), k),
            Vec::new(),
        ),
        TaskKind::SemanticSegmentation => {
            // Pixels of each class over all labelled images.
            let w = t.width.max(1);
            let mut counts = vec![0usize; t.classes.len().max(1)];
            for (r, _) in t.present.iter().enumerate().filter(|(_, p)| **p) {
                for v in &t.values[r * w..(r + 1) * w] {
                    if let Some(c) = counts.get_mut(*v as usize) {
                        *c += 1;
                    }
                }
            }
            (class_bars(&counts, t, k), t.classes.clone())
        }
        TaskKind::Segmentation => {
            // Share of each mask's pixels that are on.
            let w = t.width.max(1);
            let shares = t
                .present
                .iter()
                .enumerate()
                .filter(|(_, p)| **p)
                .map(|(r, _)| {
                    t.values[r * w..(r + 1) * w]
                        .iter()
                        .filter(|v| **v > 0.5)
                        .count() as f64
                        / w as f64
                });
            (histogram(shares, k), Vec::new())
        }
    };
    let x_label = match t.kind {
        TaskKind::Segmentation => "share of pixels in the mask",
        TaskKind::SemanticSegmentation => "pixels of each class",
        TaskKind::Regression => "value",
        _ => "class",
    };
    Plot::new(("label-chart", k))
        .width(width)
        .height(170.0)
        .allow_scroll(false)
        .allow_drag(false)
        .allow_zoom(false)
        .x_axis_label(x_label)
        .y_axis_label("rows")
        .x_axis_formatter(move |mark, _| {
            if names.is_empty() {
                compact(mark.value)
            } else if mark.value.fract() == 0.0 && mark.value >= 0.0 {
                names
                    .get(mark.value as usize)
                    .map(|n| n.chars().take(12).collect())
                    .unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new(t.name.clone(), bars));
        });
}

/// A tick label: few digits, as many as the value's size needs.
fn compact(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// One bar per class, named by the class.
fn class_bars(counts: &[usize], t: &TargetColumn, k: usize) -> Vec<Bar> {
    counts
        .iter()
        .enumerate()
        .map(|(c, n)| {
            Bar::new(c as f64, *n as f64)
                .name(t.classes.get(c).cloned().unwrap_or_default())
                .width(0.7)
                .fill(theme::task(k))
        })
        .collect()
}

/// A 30-bin histogram as bars.
fn histogram(values: impl Iterator<Item = f64>, k: usize) -> Vec<Bar> {
    let values: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return Vec::new();
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let bins = 30usize;
    let step = if hi > lo {
        (hi - lo) / bins as f64
    } else {
        1.0
    };
    let mut counts = vec![0usize; bins];
    for v in &values {
        let b = (((v - lo) / step) as usize).min(bins - 1);
        counts[b] += 1;
    }
    counts
        .iter()
        .enumerate()
        .map(|(b, n)| {
            Bar::new(lo + (b as f64 + 0.5) * step, *n as f64)
                .width(step * 0.95)
                .fill(theme::task(k))
        })
        .collect()
}

/// A scatter of two inputs, coloured by one label.
fn scatter_ui(ui: &mut Ui, data: &Dataset, state: &mut DataViewState) {
    let d = data.features();
    if d == 0 || data.targets.is_empty() {
        ui.label("Nothing to draw.");
        return;
    }
    if d >= 2 && state.axes == (0, 0) {
        state.axes = default_axes(data);
    }
    state.colour_by = state.colour_by.min(data.targets.len() - 1);
    state.axes.0 = state.axes.0.min(d - 1);
    state.axes.1 = state.axes.1.min(d - 1);
    let name = |i: usize| data.feature_names.get(i).cloned().unwrap_or_default();
    ui.horizontal(|ui| {
        for (label, axis) in [("x", &mut state.axes.0), ("y", &mut state.axes.1)] {
            ui.label(label);
            egui::ComboBox::from_id_salt(("scatter-axis", label))
                .selected_text(name(*axis))
                .height(400.0)
                .show_ui(ui, |ui| {
                    for i in 0..d {
                        ui.selectable_value(axis, i, name(i));
                    }
                });
        }
        ui.label("colour by");
        egui::ComboBox::from_id_salt("scatter-colour")
            .selected_text(&data.targets[state.colour_by].name)
            .show_ui(ui, |ui| {
                for (k, t) in data.targets.iter().enumerate() {
                    ui.selectable_value(&mut state.colour_by, k, &t.name);
                }
            });
    });
    let t = &data.targets[state.colour_by];
    let (ax, ay) = state.axes;
    let point = |r: usize| [f64::from(data.x[r * d + ax]), f64::from(data.x[r * d + ay])];
    let finite = |p: &[f64; 2]| p[0].is_finite() && p[1].is_finite();
    let rows = data.rows.min(20_000);
    Plot::new("data-scatter")
        .legend(Legend::default())
        .data_aspect(if d == 2 { 1.0 } else { 0.0 })
        .x_axis_label(name(ax))
        .y_axis_label(name(ay))
        .show(ui, |plot| {
            let unlabelled: Vec<[f64; 2]> = (0..rows)
                .filter(|r| !t.present[*r])
                .map(point)
                .filter(finite)
                .collect();
            if !unlabelled.is_empty() {
                plot.points(
                    Points::new("no label", unlabelled)
                        .radius(2.0)
                        .color(theme::faint(theme::input(), 120)),
                );
            }
            match t.kind {
                TaskKind::Binary | TaskKind::Multiclass => {
                    for (c, class) in t.classes.iter().enumerate() {
                        let pts: Vec<[f64; 2]> = (0..rows)
                            .filter(|r| t.present[*r] && t.values[*r] as usize == c)
                            .map(point)
                            .filter(finite)
                            .collect();
                        plot.points(
                            Points::new(class.clone(), pts)
                                .radius(2.5)
                                .color(theme::task(c)),
                        );
                    }
                }
                _ => value_bands(plot, t, rows, &point),
            }
        });
}

/// The first two inputs that take more than two values (not one-hot levels or missing
/// indicators), or the first two inputs.
fn default_axes(data: &Dataset) -> (usize, usize) {
    let d = data.features();
    let rows = data.rows.min(500);
    let varied: Vec<usize> = (0..d)
        .filter(|&f| {
            let mut seen: Vec<f32> = Vec::new();
            for r in 0..rows {
                let v = data.x[r * d + f];
                if !v.is_nan() && !seen.contains(&v) {
                    seen.push(v);
                    if seen.len() > 2 {
                        return true;
                    }
                }
            }
            false
        })
        .take(2)
        .collect();
    match varied[..] {
        [a, b] => (a, b),
        [a] => (a, usize::from(a == 0)),
        _ => (0, 1.min(d - 1)),
    }
}

/// Points coloured in ten bands of a regression (or mask-coverage) label, low dark to high
/// yellow.
fn value_bands(
    plot: &mut egui_plot::PlotUi<'_>,
    t: &TargetColumn,
    rows: usize,
    point: &dyn Fn(usize) -> [f64; 2],
) {
    let finite = |p: &[f64; 2]| p[0].is_finite() && p[1].is_finite();
    let w = t.width.max(1);
    let value = |r: usize| {
        if w == 1 {
            f64::from(t.values[r])
        } else {
            t.values[r * w..(r + 1) * w]
                .iter()
                .map(|v| f64::from(*v))
                .sum::<f64>()
                / w as f64
        }
    };
    let vals: Vec<f64> = (0..rows).filter(|r| t.present[*r]).map(value).collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    for band in 0..10 {
        let pts: Vec<[f64; 2]> = (0..rows)
            .filter(|r| t.present[*r])
            .filter(|r| {
                let s = if hi > lo {
                    (value(*r) - lo) / (hi - lo)
                } else {
                    0.5
                };
                ((s * 10.0) as usize).min(9) == band
            })
            .map(point)
            .filter(finite)
            .collect();
        let from = lo + (hi - lo) * band as f64 / 10.0;
        plot.points(
            Points::new(format!("{} ≥ {from:.3}", t.name), pts)
                .radius(2.5)
                .color(theme::ramp((band as f64 + 0.5) / 10.0)),
        );
    }
}

/// A grid of the first images with each label under it and masks tinted on top.
fn images_ui(
    ui: &mut Ui,
    data: &Dataset,
    shape: [usize; 3],
    tasks: &[String],
    state: &mut DataViewState,
) {
    let [channels, h, w] = shape;
    let d = data.features();
    if channels * h * w != d {
        ui.label(format!(
            "The inputs ({d} features) are not {channels}×{h}×{w} images."
        ));
        return;
    }
    let is_mask = |t: &&TargetColumn| {
        matches!(
            t.kind,
            TaskKind::Segmentation | TaskKind::SemanticSegmentation
        ) && t.width == h * w
    };
    // A semantic segmentation, when there is one, says more than a binary mask.
    let mask = data
        .targets
        .iter()
        .filter(is_mask)
        .max_by_key(|t| usize::from(t.kind == TaskKind::SemanticSegmentation));
    let mask = mask.filter(|_| !state.hide_masks);
    let count = data.rows.min(IMAGES);
    // The dataset's address tells a reloaded dataset (another seed, noise or file) apart.
    let key = format!(
        "{:p}|{}|{}|{d}|{count}|{}",
        data,
        data.name,
        data.rows,
        mask.is_some()
    );
    if state.textures.as_ref().is_none_or(|(k, _)| *k != key) {
        let textures = image_textures(ui.ctx(), data, shape, mask, count);
        state.textures = Some((key, textures));
    }
    if data.targets.iter().any(|t| is_mask(&t)) {
        ui.horizontal(|ui| {
            let mut show = !state.hide_masks;
            ui.checkbox(
                &mut show,
                "Show the segmentation (a mask in green; classes in their colours)",
            );
            state.hide_masks = !show;
            if let Some(m) = mask.filter(|m| m.kind == TaskKind::SemanticSegmentation) {
                for (c, name) in m.classes.iter().enumerate().skip(1) {
                    ui.colored_label(theme::task(c - 1), name);
                }
            }
        });
    }
    let Some((_, textures)) = &state.textures else {
        return;
    };
    // Captions: the experiment's tasks first, then the other labels; masks have none.
    let mut captions: Vec<&TargetColumn> = data
        .targets
        .iter()
        .filter(|t| {
            !matches!(
                t.kind,
                TaskKind::Segmentation | TaskKind::SemanticSegmentation
            )
        })
        .collect();
    captions.sort_by_key(|t| usize::from(!tasks.contains(&t.name)));
    let size = 96.0;
    let per_row = ((ui.available_width() / (size + 18.0)) as usize).max(1);
    egui::ScrollArea::vertical().show(ui, |ui| {
        egui::Grid::new("image-grid")
            .spacing([16.0, 10.0])
            .show(ui, |ui| {
                for (r, tex) in textures.iter().enumerate() {
                    ui.vertical(|ui| {
                        ui.add(egui::Image::new((tex.id(), egui::vec2(size, size))));
                        for t in captions.iter().take(3) {
                            ui.small(format!("{}: {}", t.name, cell_text(t, r)));
                        }
                    });
                    if r % per_row == per_row - 1 {
                        ui.end_row();
                    }
                }
            });
    });
}

/// The first `count` images as textures, scaled by the data's range, with `mask` drawn on.
fn image_textures(
    ctx: &egui::Context,
    data: &Dataset,
    [channels, h, w]: [usize; 3],
    mask: Option<&TargetColumn>,
    count: usize,
) -> Vec<egui::TextureHandle> {
    let d = data.features();
    // Scale every image by the data's range, so brightness compares across images.
    let plane = h * w;
    let (lo, hi) = data.x[..count * d]
        .iter()
        .filter(|v| v.is_finite())
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    let span = if hi > lo { hi - lo } else { 1.0 };
    (0..count)
        .map(|r| {
            let pixels = (0..plane)
                .map(|p| {
                    // Channels averaged into one grey value.
                    let v = (0..channels)
                        .map(|c| data.x[r * d + c * plane + p])
                        .sum::<f32>()
                        / channels as f32;
                    let v = (v - lo) / span;
                    match mask.filter(|m| m.present[r]) {
                        Some(m) if m.kind == TaskKind::SemanticSegmentation => {
                            theme::image_pixel_class(v, Some(m.values[r * plane + p] as usize))
                        }
                        Some(m) => theme::image_pixel(v, m.values[r * plane + p] > 0.5),
                        None => theme::image_pixel(v, false),
                    }
                })
                .collect();
            ctx.load_texture(
                format!("data-image-{r}"),
                egui::ColorImage::new([w, h], pixels),
                egui::TextureOptions::NEAREST,
            )
        })
        .collect()
}

/// A label as text: the class name, the value, or "–" when missing.
fn cell_text(t: &TargetColumn, r: usize) -> String {
    if !t.present[r] {
        return "–".to_owned();
    }
    let w = t.width.max(1);
    match t.kind {
        TaskKind::Binary | TaskKind::Multiclass => t
            .classes
            .get(t.values[r] as usize)
            .cloned()
            .unwrap_or_default(),
        TaskKind::Regression => format!("{:.3}", t.values[r]),
        TaskKind::Segmentation | TaskKind::SemanticSegmentation => {
            let on = t.values[r * w..(r + 1) * w]
                .iter()
                .filter(|v| **v > 0.5)
                .count();
            format!("{on} px")
        }
    }
}

/// The rows: labels first, then the first input features.
fn table_ui(ui: &mut Ui, data: &Dataset) {
    let d = data.features();
    let shown = d.min(TABLE_FEATURES);
    if d > shown {
        ui.weak(format!(
            "Showing the first {shown} of {d} input features (after encoding: categories one-hot, missing numbers marked NaN until imputed with the training mean)."
        ));
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::both()
        .auto_shrink([false, false])
        .show_rows(ui, row_height, data.rows, |ui, range| {
            egui::Grid::new("data-table")
                .striped(true)
                .min_col_width(60.0)
                .show(ui, |ui| {
                    ui.strong("row");
                    for (k, t) in data.targets.iter().enumerate() {
                        ui.colored_label(theme::task(k), &t.name);
                    }
                    for name in data.feature_names.iter().take(shown) {
                        ui.strong(name);
                    }
                    ui.end_row();
                    for r in range {
                        ui.monospace(r.to_string());
                        for t in &data.targets {
                            ui.monospace(cell_text(t, r));
                        }
                        for v in &data.x[r * d..r * d + shown] {
                            ui.monospace(if v.is_nan() {
                                "NaN".to_owned()
                            } else {
                                format!("{v:.4}")
                            });
                        }
                        ui.end_row();
                    }
                });
        });
}
