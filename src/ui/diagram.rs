//! The composer's drawing of the model: input → body → heads → outputs, left to right.
//! Shared parts sit on a tinted "shared" band in the trunk colour, each task's own parts in
//! its colour. Soft sharing draws its towers with springs (λ) between them, cross-stitch its
//! units as crossing edges (α), mixtures their experts and gates; links between heads are
//! curved arrows, and relationship learning brackets the output layers with Ω.
//!
//! Two steps: [`layout`] is pure (a spec and a width in, positioned [`Item`]s out, with
//! colours as roles), so tests can check what is drawn where; [`diagram_ui`] paints them.

use egui::{Align2, FontId, Pos2, Rect, Sense, Shape, Stroke, StrokeKind, Ui, Vec2};

use super::theme;
use crate::experiment::{Architecture, ExperimentSpec, LayerSpec, Take, TaskKind};

/// Most expert rows drawn; more are summarised as "+ n more".
const EXPERT_ROWS: usize = 4;
/// A layer box's height.
const BOX_H: f32 = 20.0;
/// Space above the rows for the band's label.
const TOP_PAD: f32 = 16.0;

/// What colour a part takes (the painter maps roles to the theme).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The input.
    Input,
    /// Shared by every task.
    Shared,
    /// Task `t`'s own.
    Task(usize),
    /// Task `t`'s column of a shared structure (cross-stitch), paler.
    TaskFaint(usize),
    /// Plain edges.
    Edge,
    /// Faint edges (gates, cross-stitch mixing).
    Thin,
}

/// One thing to draw, in the diagram's own coordinates (origin at its top left).
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A tinted band behind shared parts, with a label on top.
    Band {
        /// Where.
        rect: Rect,
        /// Its label.
        label: String,
    },
    /// A layer's box with its short name.
    Box {
        /// Where.
        rect: Rect,
        /// What it says.
        text: String,
        /// Its fill.
        fill: Role,
    },
    /// A straight edge.
    Line {
        /// From, to.
        points: [Pos2; 2],
        /// Its colour.
        role: Role,
    },
    /// A dashed polyline (springs, the gates' input, detached links).
    Dashed {
        /// The points.
        points: Vec<Pos2>,
        /// Its colour.
        role: Role,
    },
    /// A gate of a mixture of experts.
    Gate {
        /// Its centre.
        centre: Pos2,
        /// Its fill.
        fill: Role,
    },
    /// A link between heads: a curve from `from` bending through `bend` to an arrow at `to`,
    /// labelled with its α.
    Link {
        /// Start, bend, end.
        points: [Pos2; 3],
        /// Dashed when the link does not train its source.
        detached: bool,
        /// The source task's colour.
        role: Role,
        /// The α label.
        label: String,
    },
    /// A label.
    Text {
        /// Where.
        pos: Pos2,
        /// How it sits on `pos`.
        align: Align2,
        /// What it says.
        text: String,
        /// Its colour.
        role: Role,
    },
    /// A frame around the output layers (relationship learning's Ω).
    Frame {
        /// Where.
        rect: Rect,
    },
}

/// The laid-out diagram.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagram {
    /// Its size.
    pub size: Vec2,
    /// What to draw, back to front.
    pub items: Vec<Item>,
}

/// The output width of a task: `size` is the label's classes (multiclass), pixels
/// (segmentation) or classes × pixels (semantic segmentation).
pub fn out_width(kind: TaskKind, size: usize) -> usize {
    match kind {
        TaskKind::Multiclass => size.max(2),
        TaskKind::Segmentation | TaskKind::SemanticSegmentation => size.max(1),
        TaskKind::Regression | TaskKind::Binary => 1,
    }
}

fn short(layer: &LayerSpec) -> String {
    match layer {
        LayerSpec::Linear { out } => format!("{out}"),
        LayerSpec::Dropout { p } => format!("drop {p}"),
        LayerSpec::LayerNorm { .. } => "norm".to_owned(),
        LayerSpec::Conv2d { out_channels, .. } => format!("conv{out_channels}"),
        LayerSpec::MaxPool2d { kernel } => format!("pool{kernel}"),
        LayerSpec::Flatten => "flat".to_owned(),
        other => other.kind_name().to_owned(),
    }
}

/// Positions shared by every part of one layout.
struct Grid {
    items: Vec<Item>,
    left: f32,
    col_w: f32,
    box_w: f32,
    band_h: f32,
    k: usize,
}

impl Grid {
    fn x(&self, c: usize) -> f32 {
        self.left + self.col_w * (c as f32 + 0.5)
    }

    /// Row `i` of `n` spread over the full height.
    fn y(&self, i: usize, n: usize) -> f32 {
        TOP_PAD + self.band_h * (i as f32 + 0.5) / n.max(1) as f32
    }

    fn boxed(&mut self, col: usize, y: f32, text: &str, fill: Role) -> Rect {
        let rect = Rect::from_center_size(Pos2::new(self.x(col), y), Vec2::new(self.box_w, BOX_H));
        self.items.push(Item::Box {
            rect,
            text: text.to_owned(),
            fill,
        });
        rect
    }

    fn line(&mut self, a: Pos2, b: Pos2, role: Role) {
        self.items.push(Item::Line {
            points: [a, b],
            role,
        });
    }

    fn text(&mut self, pos: Pos2, align: Align2, text: String, role: Role) {
        self.items.push(Item::Text {
            pos,
            align,
            text,
            role,
        });
    }

    fn band(&mut self, from: usize, to: usize, label: &str) {
        let rect = Rect::from_min_max(
            Pos2::new(self.x(from) - self.box_w / 2.0 - 3.0, 1.0),
            Pos2::new(self.x(to) + self.box_w / 2.0 + 3.0, TOP_PAD + self.band_h),
        );
        self.items.push(Item::Band {
            rect,
            label: label.to_owned(),
        });
    }
}

/// The layers drawn: all of them, or with many layers for the width only those with weights
/// (and pooling).
struct Columns {
    /// Indices into `model.shared` of the trunk layers drawn.
    shown: Vec<usize>,
    /// Their labels.
    body: Vec<String>,
    /// Per task, its head's labels, the output last.
    heads: Vec<Vec<String>>,
}

impl Columns {
    fn new(spec: &ExperimentSpec, classes: &dyn Fn(&str) -> usize, width: f32) -> Self {
        let longest_head = spec
            .model
            .heads
            .iter()
            .map(|h| h.layers.len())
            .max()
            .unwrap_or(0);
        let full_cols = 2 + spec.model.shared.len() + longest_head + 2;
        let compact = width / full_cols as f32 <= 40.0;
        let keep = |l: &LayerSpec| {
            !compact
                || matches!(
                    l,
                    LayerSpec::Linear { .. }
                        | LayerSpec::Conv2d { .. }
                        | LayerSpec::MaxPool2d { .. }
                        | LayerSpec::LayerNorm { .. }
                )
        };
        let heads = spec
            .tasks
            .iter()
            .map(|t| {
                let mut boxes: Vec<String> = spec
                    .head(&t.name)
                    .map(|h| h.layers.iter().filter(|l| keep(l)).map(short).collect())
                    .unwrap_or_default();
                boxes.push(format!("out {}", out_width(t.kind, classes(&t.target))));
                boxes
            })
            .collect();
        let shown: Vec<usize> = (0..spec.model.shared.len())
            .filter(|&i| keep(&spec.model.shared[i]))
            .collect();
        let body = shown
            .iter()
            .map(|&i| short(&spec.model.shared[i]))
            .collect();
        Self { shown, body, heads }
    }

    /// The drawn box at or before layer `i`.
    fn drawn_at(&self, i: usize) -> Option<usize> {
        self.shown.iter().rposition(|&s| s <= i)
    }
}

/// Lays out the diagram of `spec` for `width` points; `classes` gives each label's output size.
pub fn layout(spec: &ExperimentSpec, classes: &dyn Fn(&str) -> usize, width: f32) -> Diagram {
    let arch = &spec.model.architecture;
    let k = spec.tasks.len().max(1);
    let columns = Columns::new(spec, classes, width);
    let experts = arch.experts().unwrap_or(0);
    let expert_rows = experts.min(EXPERT_ROWS);
    let body_rows = match arch {
        Architecture::Hard => 1,
        Architecture::Soft { .. } | Architecture::CrossStitch { .. } => k,
        Architecture::Mmoe { .. } | Architecture::Moe { .. } => {
            expert_rows + usize::from(experts > EXPERT_ROWS)
        }
    };
    let gate_col = usize::from(experts > 0);
    let head_cols = columns.heads.iter().map(Vec::len).max().unwrap_or(1);
    let body_cols = columns.body.len().max(1);
    let cols = 1 + body_cols + gate_col + head_cols;
    // Links run between head rows: give them room.
    let links = spec.model.heads.iter().any(|h| !h.links.is_empty());
    let row_h = if links { 46.0 } else { 30.0 };
    let rows = k.max(body_rows);
    let width = width.max(200.0);
    let height = rows as f32 * row_h + TOP_PAD + 8.0;
    let label_w = 8.0 + 7.0 * spec.tasks.iter().map(|t| t.name.len()).max().unwrap_or(4) as f32;
    let col_w = (width - 8.0 - label_w) / cols as f32;
    let mut g = Grid {
        items: Vec::new(),
        left: 4.0,
        col_w,
        box_w: (col_w - 8.0).clamp(18.0, 70.0),
        band_h: rows as f32 * row_h,
        k,
    };
    let input_label = match spec.input_shape() {
        Ok(crate::experiment::Shape::Image(1, h, w)) => format!("{h}×{w}"),
        Ok(shape @ crate::experiment::Shape::Image(..)) => shape.to_string(),
        _ => format!("in {}", spec.model.input),
    };
    let centre_row = g.y(0, 1);
    let input = g.boxed(0, centre_row, &input_label, Role::Input);
    let (feeds, mix_into_heads) = match arch {
        Architecture::Hard => (hard_body(&mut g, &columns, input), false),
        Architecture::Soft { .. } | Architecture::CrossStitch { .. } => {
            tower_body(&mut g, spec, &columns, input)
        }
        Architecture::Mmoe { .. } | Architecture::Moe { .. } => {
            let gates = Gates {
                experts,
                rows: expert_rows,
                body_rows,
                col: 1 + body_cols,
                per_task: matches!(arch, Architecture::Mmoe { .. }),
                floor: height - 3.0,
            };
            (expert_body(&mut g, &columns, input, &gates), false)
        }
    };
    let head_boxes = heads(
        &mut g,
        spec,
        &columns,
        &feeds,
        mix_into_heads,
        1 + body_cols + gate_col,
    );
    head_links(&mut g, spec, &head_boxes);
    if spec.model.relationship.is_some() {
        let outs: Vec<Rect> = head_boxes
            .iter()
            .filter_map(|r| r.last().copied())
            .collect();
        if let Some(first) = outs.first() {
            let rect = outs.iter().fold(*first, |acc, r| acc.union(*r)).expand(3.0);
            g.items.push(Item::Frame { rect });
            g.text(
                Pos2::new(rect.center().x, rect.top() - 2.0),
                Align2::CENTER_BOTTOM,
                "Ω".to_owned(),
                Role::Shared,
            );
        }
    }
    Diagram {
        size: Vec2::new(width, height),
        items: g.items,
    }
}

/// Hard sharing: one row of shared layers; every head reads its end.
fn hard_body(g: &mut Grid, columns: &Columns, input: Rect) -> Vec<Rect> {
    if !columns.body.is_empty() {
        g.band(1, columns.body.len(), "shared");
    }
    let y = g.y(0, 1);
    let mut prev = input;
    for (i, text) in columns.body.iter().enumerate() {
        let r = g.boxed(1 + i, y, text, Role::Shared);
        g.line(prev.right_center(), r.left_center(), Role::Edge);
        prev = r;
    }
    vec![prev; g.k]
}

/// Soft sharing's towers (with springs) or cross-stitch's columns (mixed by α units). Returns
/// what each head reads and whether the last unit mixes what the heads read.
fn tower_body(
    g: &mut Grid,
    spec: &ExperimentSpec,
    columns: &Columns,
    input: Rect,
) -> (Vec<Rect>, bool) {
    let arch = &spec.model.architecture;
    let k = g.k;
    let stitched = matches!(arch, Architecture::CrossStitch { .. });
    if stitched && !columns.body.is_empty() {
        g.band(1, columns.body.len(), "shared: columns mixed by α");
    }
    // Units sit after the drawn box at or before each block's end.
    let ends: Vec<usize> = crate::experiment::block_ends(&spec.model.shared)
        .into_iter()
        .filter_map(|i| columns.drawn_at(i))
        .collect();
    let mut grid: Vec<Vec<Rect>> = vec![Vec::new(); k];
    let mut feeds = vec![input; k];
    for (t, row) in grid.iter_mut().enumerate() {
        let y = g.y(t, k);
        let fill = if stitched {
            Role::TaskFaint(t)
        } else {
            Role::Task(t)
        };
        let mut prev = input;
        for (i, text) in columns.body.iter().enumerate() {
            let r = g.boxed(1 + i, y, text, fill);
            if !stitched || i == 0 || !ends.contains(&(i - 1)) {
                g.line(prev.right_center(), r.left_center(), Role::Edge);
            }
            prev = r;
            row.push(r);
        }
        feeds[t] = prev;
    }
    if stitched {
        return (feeds, stitch_units(g, &grid, &ends));
    }
    // Springs between corresponding parametric layers of neighbouring towers.
    for (i, layer) in spec.model.shared.iter().enumerate() {
        let Some(i) = columns.shown.iter().position(|&s| s == i) else {
            continue;
        };
        if layer.param_count(1) == 0 {
            continue;
        }
        for t in 1..k {
            g.items.push(Item::Dashed {
                points: vec![grid[t - 1][i].center_bottom(), grid[t][i].center_top()],
                role: Role::Shared,
            });
        }
    }
    if let Architecture::Soft { lambda, .. } = arch {
        let label = format!(
            "towers coupled by λ = {}",
            super::plots::format_value(*lambda)
        );
        g.text(
            Pos2::new(g.x(1), 7.0),
            Align2::LEFT_CENTER,
            label,
            Role::Shared,
        );
    }
    (feeds, false)
}

/// Cross-stitch units: after each, every column feeds every column of the next block.
/// Returns whether the last unit mixes what the heads read.
fn stitch_units(g: &mut Grid, grid: &[Vec<Rect>], ends: &[usize]) -> bool {
    let mut mix_into_heads = false;
    for &after in ends {
        let targets: Vec<Option<Rect>> =
            grid.iter().map(|row| row.get(after + 1).copied()).collect();
        for (a, row) in grid.iter().enumerate() {
            let from = row[after].right_center();
            for (b, target) in targets.iter().enumerate() {
                match target {
                    Some(r) => {
                        let role = if a == b { Role::Edge } else { Role::Thin };
                        g.line(from, r.left_center(), role);
                    }
                    None => mix_into_heads = true,
                }
            }
        }
        let x = grid[0][after].right() + 4.0;
        g.text(
            Pos2::new(x, TOP_PAD - 2.0),
            Align2::LEFT_BOTTOM,
            "α".to_owned(),
            Role::Shared,
        );
    }
    mix_into_heads
}

/// How a mixture's experts and gates are placed.
struct Gates {
    experts: usize,
    /// Expert rows drawn.
    rows: usize,
    /// Rows of the body (the drawn experts and the "more" line).
    body_rows: usize,
    /// The gates' column.
    col: usize,
    /// One gate per task (MMoE) or one for all (MoE).
    per_task: bool,
    /// Where the gates' input runs, under everything.
    floor: f32,
}

/// Mixtures: expert rows, then the gates that mix them for the heads.
fn expert_body(g: &mut Grid, columns: &Columns, input: Rect, gates: &Gates) -> Vec<Rect> {
    let k = g.k;
    if !columns.body.is_empty() {
        g.band(1, columns.body.len(), "shared experts");
    }
    let mut ends = Vec::new();
    for e in 0..gates.rows {
        let y = g.y(e, gates.body_rows);
        let mut prev = input;
        for (i, text) in columns.body.iter().enumerate() {
            let r = g.boxed(1 + i, y, text, Role::Shared);
            let role = if i == 0 { Role::Thin } else { Role::Edge };
            g.line(prev.right_center(), r.left_center(), role);
            prev = r;
        }
        ends.push(prev);
    }
    if gates.experts > EXPERT_ROWS {
        let pos = Pos2::new(g.x(1), g.y(gates.rows, gates.body_rows));
        let text = format!("+ {} more experts", gates.experts - EXPERT_ROWS);
        g.text(pos, Align2::LEFT_CENTER, text, Role::Shared);
    }
    let centres: Vec<(Pos2, Role)> = if gates.per_task {
        (0..k)
            .map(|t| (Pos2::new(g.x(gates.col), g.y(t, k)), Role::Task(t)))
            .collect()
    } else {
        vec![(Pos2::new(g.x(gates.col), g.y(0, 1)), Role::Shared)]
    };
    // Every gate reads the raw input: a dashed line under the experts.
    if let Some(lowest) = centres
        .iter()
        .map(|(c, _)| *c)
        .max_by(|a, b| a.y.total_cmp(&b.y))
    {
        g.items.push(Item::Dashed {
            points: vec![
                input.center_bottom(),
                Pos2::new(input.center().x, gates.floor),
                Pos2::new(lowest.x, gates.floor),
                lowest + Vec2::new(0.0, 8.0),
            ],
            role: Role::Thin,
        });
    }
    let mut feeds = vec![input; k];
    for (i, (centre, fill)) in centres.iter().enumerate() {
        for end in &ends {
            g.line(end.right_center(), *centre, Role::Thin);
        }
        g.items.push(Item::Gate {
            centre: *centre,
            fill: *fill,
        });
        let node = Rect::from_center_size(*centre, Vec2::splat(16.0));
        if gates.per_task {
            feeds[i] = node;
        } else {
            feeds = vec![node; k];
        }
    }
    feeds
}

/// Each task's head from what it reads to its output, with the task's name; returns the
/// boxes per task.
fn heads(
    g: &mut Grid,
    spec: &ExperimentSpec,
    columns: &Columns,
    feeds: &[Rect],
    mix_into_heads: bool,
    first_col: usize,
) -> Vec<Vec<Rect>> {
    let k = g.k;
    let mut head_boxes = Vec::with_capacity(k);
    for (t, boxes) in columns.heads.iter().enumerate() {
        let y = g.y(t, k);
        let mut last = feeds[t];
        if mix_into_heads && !boxes.is_empty() {
            let first = Pos2::new(g.x(first_col) - g.box_w / 2.0, y);
            for (s, feed) in feeds.iter().enumerate() {
                if s != t {
                    g.line(feed.right_center(), first, Role::Thin);
                }
            }
        }
        let mut row = Vec::new();
        for (j, text) in boxes.iter().enumerate() {
            let r = g.boxed(first_col + j, y, text, Role::Task(t));
            g.line(last.right_center(), r.left_center(), Role::Task(t));
            last = r;
            row.push(r);
        }
        let name = spec
            .tasks
            .get(t)
            .map(|x| x.name.clone())
            .unwrap_or_default();
        g.text(
            last.right_center() + Vec2::new(3.0, 0.0),
            Align2::LEFT_CENTER,
            name,
            Role::Task(t),
        );
        head_boxes.push(row);
    }
    head_boxes
}

/// Links: a curved arrow from the source's output (or hidden) box to the target's first box.
fn head_links(g: &mut Grid, spec: &ExperimentSpec, head_boxes: &[Vec<Rect>]) {
    for (t, task) in spec.tasks.iter().enumerate() {
        for link in spec.head(&task.name).map_or(&[][..], |h| &h.links) {
            let Some(s) = spec.tasks.iter().position(|x| x.name == link.from) else {
                continue;
            };
            let (Some(src_row), Some(dst)) = (
                head_boxes.get(s),
                head_boxes.get(t).and_then(|row| row.first()),
            ) else {
                continue;
            };
            let src = match link.take {
                Take::Output => src_row.last(),
                Take::Hidden => src_row.len().checked_sub(2).and_then(|i| src_row.get(i)),
            }
            .or(src_row.first());
            let Some(src) = src else { continue };
            let down = dst.center().y > src.center().y;
            let (a, b) = if down {
                (src.center_bottom(), dst.center_top())
            } else {
                (src.center_top(), dst.center_bottom())
            };
            let bend = Pos2::new(
                (a.x + b.x) / 2.0 + 0.6 * (a.x - b.x).abs().min(40.0),
                (a.y + b.y) / 2.0,
            );
            g.items.push(Item::Link {
                points: [a, bend, b],
                detached: link.detach,
                role: Role::Task(s),
                label: format!("α {}", super::plots::format_value(f64::from(link.alpha))),
            });
        }
    }
}

/// Draws the diagram of `spec` at the full width of `ui`.
pub fn diagram_ui(ui: &mut Ui, spec: &ExperimentSpec, classes: &dyn Fn(&str) -> usize) {
    let diagram = layout(spec, classes, ui.available_width());
    let (rect, _) = ui.allocate_exact_size(diagram.size, Sense::hover());
    let painter = ui.painter_at(rect);
    let offset = rect.min.to_vec2();
    let text_colour = ui.visuals().text_color();
    let colour = |role: Role| match role {
        Role::Input => theme::input(),
        Role::Shared => theme::shared(),
        Role::Task(t) => theme::task(t),
        Role::TaskFaint(t) => theme::faint(theme::task(t), 170),
        Role::Edge => text_colour,
        Role::Thin => theme::faint(text_colour, 140),
    };
    let stroke = |role: Role| match role {
        Role::Thin => Stroke::new(1.0, colour(role)),
        _ => Stroke::new(1.5, colour(role)),
    };
    let font = FontId::proportional(11.0);
    for item in diagram.items {
        match item {
            Item::Band { rect: r, label } => {
                let r = r.translate(offset);
                painter.rect_filled(r, 6.0, theme::faint(theme::shared(), 40));
                let top = Pos2::new(r.center().x, rect.top() + 7.0);
                painter.text(
                    top,
                    Align2::CENTER_CENTER,
                    label,
                    font.clone(),
                    theme::shared(),
                );
            }
            Item::Box {
                rect: r,
                text,
                fill,
            } => {
                let r = r.translate(offset);
                painter.rect_filled(r, 4.0, colour(fill));
                let edge = Stroke::new(1.0, theme::on_box());
                painter.rect_stroke(r, 4.0, edge, StrokeKind::Inside);
                painter.text(
                    r.center(),
                    Align2::CENTER_CENTER,
                    text,
                    font.clone(),
                    theme::on_box(),
                );
            }
            Item::Line { points, role } => {
                painter.line_segment(points.map(|p| p + offset), stroke(role));
            }
            Item::Dashed { points, role } => {
                let points: Vec<Pos2> = points.iter().map(|p| *p + offset).collect();
                // Springs (shared) are tighter than the gates' input.
                let (stroke, gap) = match role {
                    Role::Shared => (Stroke::new(1.2, colour(role)), 2.0),
                    _ => (stroke(role), 3.0),
                };
                painter.add(Shape::dashed_line(&points, stroke, 3.0, gap));
            }
            Item::Gate { centre, fill } => {
                let centre = centre + offset;
                painter.circle_filled(centre, 8.0, colour(fill));
                painter.circle_stroke(centre, 8.0, Stroke::new(1.0, theme::on_box()));
                painter.text(
                    centre,
                    Align2::CENTER_CENTER,
                    "g",
                    font.clone(),
                    theme::on_box(),
                );
            }
            Item::Link {
                points,
                detached,
                role,
                label,
            } => paint_link(
                &painter,
                points.map(|p| p + offset),
                detached,
                colour(role),
                label,
                &font,
            ),
            Item::Text {
                pos,
                align,
                text,
                role,
            } => {
                painter.text(pos + offset, align, text, font.clone(), colour(role));
            }
            Item::Frame { rect: r } => {
                let edge = Stroke::new(1.5, theme::shared());
                painter.rect_stroke(r.translate(offset), 5.0, edge, StrokeKind::Outside);
            }
        }
    }
}

/// A link's curve, arrow head and α label.
fn paint_link(
    painter: &egui::Painter,
    [a, bend, b]: [Pos2; 3],
    detached: bool,
    colour: egui::Color32,
    label: String,
    font: &FontId,
) {
    let stroke = Stroke::new(1.5, colour);
    let curve = egui::epaint::QuadraticBezierShape::from_points_stroke(
        [a, bend, b],
        false,
        egui::Color32::TRANSPARENT,
        stroke,
    );
    if detached {
        let points = curve.flatten(Some(0.5));
        painter.add(Shape::dashed_line(&points, stroke, 4.0, 3.0));
    } else {
        painter.add(curve);
    }
    let dir = if b.y > a.y { -1.0 } else { 1.0 };
    painter.add(Shape::convex_polygon(
        vec![
            b,
            b + Vec2::new(-4.0, 6.0 * dir),
            b + Vec2::new(4.0, 6.0 * dir),
        ],
        colour,
        Stroke::NONE,
    ));
    let middle = Pos2::new(
        0.25 * a.x + 0.5 * bend.x + 0.25 * b.x,
        0.25 * a.y + 0.5 * bend.y + 0.25 * b.y,
    );
    painter.text(
        middle + Vec2::new(6.0, 0.0),
        Align2::LEFT_CENTER,
        label,
        font.clone(),
        colour,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxes(d: &Diagram) -> Vec<(String, Role)> {
        d.items
            .iter()
            .filter_map(|i| match i {
                Item::Box { text, fill, .. } => Some((text.clone(), *fill)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn hard_sharing_draws_one_shared_trunk_and_a_head_per_task() {
        let spec = ExperimentSpec::default();
        let d = layout(&spec, &|_| 1, 800.0);
        let b = boxes(&d);
        assert_eq!(b[0], ("in 16".to_owned(), Role::Input), "the input first");
        let shared: Vec<&str> = b
            .iter()
            .filter(|(_, r)| *r == Role::Shared)
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(shared, ["64", "ReLU", "64", "ReLU"], "the trunk, once");
        for t in 0..2 {
            let own: Vec<&str> = b
                .iter()
                .filter(|(_, r)| *r == Role::Task(t))
                .map(|(x, _)| x.as_str())
                .collect();
            assert_eq!(own, ["32", "ReLU", "out 1"], "task {t}'s head");
        }
        assert!(
            d.items
                .iter()
                .any(|i| matches!(i, Item::Band { label, .. } if label == "shared")),
            "the shared band"
        );
        for item in &d.items {
            if let Item::Box { rect, .. } = item {
                assert!(
                    rect.min.x >= 0.0 && rect.max.x <= d.size.x && rect.max.y <= d.size.y,
                    "every box inside the diagram: {rect:?} in {:?}",
                    d.size
                );
            }
        }
    }

    #[test]
    fn soft_sharing_draws_a_tower_per_task_and_mixtures_their_gates() {
        let mut spec = ExperimentSpec::default();
        spec.model.architecture = Architecture::Soft {
            lambda: 0.1,
            coupling: crate::experiment::Coupling::AllPairs,
        };
        let d = layout(&spec, &|_| 1, 800.0);
        let towers = boxes(&d)
            .iter()
            .filter(|(t, r)| t == "64" && matches!(r, Role::Task(_)))
            .count();
        assert_eq!(towers, 4, "two 64-unit layers in each of two towers");
        assert!(
            d.items.iter().any(|i| matches!(
                i,
                Item::Dashed {
                    role: Role::Shared,
                    ..
                }
            )),
            "springs between the towers"
        );
        spec.model.architecture = Architecture::Mmoe { experts: 6 };
        let d = layout(&spec, &|_| 1, 800.0);
        let gates = d
            .items
            .iter()
            .filter(|i| matches!(i, Item::Gate { .. }))
            .count();
        assert_eq!(gates, 2, "a gate per task");
        assert!(
            d.items
                .iter()
                .any(|i| matches!(i, Item::Text { text, .. } if text == "+ 2 more experts")),
            "experts beyond four are summarised"
        );
    }

    #[test]
    fn a_narrow_diagram_keeps_only_the_layers_with_weights() {
        let spec = ExperimentSpec::default();
        let d = layout(&spec, &|_| 1, 200.0);
        assert!(
            !boxes(&d).iter().any(|(t, _)| t == "ReLU"),
            "activations are left out when the boxes would be too small"
        );
    }
}
