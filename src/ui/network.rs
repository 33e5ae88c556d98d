//! The Network tab: the trunk and the heads as units and connections, each connection drawn
//! with its weight (thickness: magnitude, colour: sign), updated live from the trainer's
//! snapshots; the shared part sits on a band of its own, each head on its task's colour.

use egui::{Align2, FontId, Pos2, Rect, Sense, Stroke, pos2};

use super::theme;
use crate::experiment::{ExperimentSpec, LayerSpec};
use crate::model::NamedTensor;

/// Units drawn per column at most (the rest are summarised).
const MAX_UNITS: usize = 20;

/// One weight matrix to draw: `[out, in]`.
struct Matrix<'a> {
    out: usize,
    inp: usize,
    w: &'a [f32],
}

/// A column of units: its label and how many units it has.
struct Column<'a> {
    label: String,
    units: usize,
    /// The weights from the previous column into this one.
    incoming: Option<Matrix<'a>>,
}

/// The Linear layers (in order) of a stack named `prefix` (`shared`, `heads.y1`) with their
/// activation labels from `layers`.
fn stack<'a>(
    prefix: &str,
    layers: &[LayerSpec],
    extra_out: bool,
    tensors: &'a [NamedTensor],
) -> Option<Vec<Column<'a>>> {
    let mut cols = Vec::new();
    let count = layers.len() + usize::from(extra_out);
    for i in 0..count {
        let name = format!("{prefix}.{i}.weight");
        let Some(t) = tensors.iter().find(|t| t.name == name) else {
            // A non-linear layer: label the previous column.
            if let (Some(layer), Some(last)) = (layers.get(i), cols.last_mut()) {
                let last: &mut Column<'_> = last;
                last.label.push_str(&format!(" · {}", layer.kind_name()));
            }
            continue;
        };
        match t.shape.len() {
            2 => {}
            4 => return None, // Convolutions are not drawn as units.
            _ => continue,    // LayerNorm's scale: not a connection.
        }
        cols.push(Column {
            label: match (t.shape[0] > MAX_UNITS, extra_out && i + 1 == count) {
                (true, _) => format!("{} ({MAX_UNITS} shown)", t.shape[0]),
                (false, true) => format!("out {}", t.shape[0]),
                (false, false) => format!("{}", t.shape[0]),
            },
            units: t.shape[0],
            incoming: Some(Matrix {
                out: t.shape[0],
                inp: t.shape[1],
                w: &t.values,
            }),
        });
    }
    Some(cols)
}

/// The positions of a column's drawn units, evenly spread over `[top, bottom]` at `x`.
fn unit_positions(units: usize, x: f32, top: f32, bottom: f32) -> Vec<Pos2> {
    let n = units.clamp(1, MAX_UNITS);
    let gap = (bottom - top) / n as f32;
    (0..n)
        .map(|i| pos2(x, top + gap * (i as f32 + 0.5)))
        .collect()
}

/// The connections of one matrix between two drawn columns.
fn connections(painter: &egui::Painter, m: &Matrix<'_>, from: &[Pos2], to: &[Pos2], width: f32) {
    let scale =
        m.w.iter()
            .filter(|v| v.is_finite())
            .fold(0.0f32, |a, v| a.max(v.abs()))
            .max(1e-12);
    for (j, b) in to.iter().enumerate().take(m.out) {
        for (i, a) in from.iter().enumerate().take(m.inp) {
            let v = m.w.get(j * m.inp + i).copied().unwrap_or(0.0);
            let s = (v.abs() / scale).clamp(0.0, 1.0);
            if s < 0.03 {
                continue;
            }
            painter.line_segment([*a, *b], Stroke::new(0.4 + width * s, theme::weight(v, s)));
        }
    }
}

/// The tab.
pub fn network_ui(ui: &mut egui::Ui, spec: &ExperimentSpec, tensors: Option<&[NamedTensor]>) {
    let Some(tensors) = tensors else {
        ui.add_space(20.0);
        ui.label(
            "Press ▶ Train: the network's units and weights appear here and follow training \
             (models up to 100,000 parameters).",
        );
        return;
    };
    if spec.model.architecture != crate::experiment::Architecture::Hard {
        ui.add_space(20.0);
        ui.label(format!(
            "The weights view draws hard parameter sharing (one shared trunk, one head per \
             task); this experiment uses {}. Its shared and task-specific parts are in the \
             diagram under left panel › Model.",
            spec.model.architecture.label()
        ));
        return;
    }
    let Some(trunk) = stack("shared", &spec.model.shared, false, tensors) else {
        ui.label("The weights view draws fully connected layers; this trunk has convolutions.");
        return;
    };
    let heads: Vec<Option<Vec<Column<'_>>>> = spec
        .tasks
        .iter()
        .map(|t| {
            let layers = spec.head(&t.name).map_or(&[][..], |h| &h.layers[..]);
            stack(&format!("heads.{}", t.name), layers, true, tensors)
        })
        .collect();
    if trunk.is_empty() && heads.iter().all(|h| h.as_ref().is_none_or(Vec::is_empty)) {
        ui.label(
            "The weights view draws hard parameter sharing (a shared trunk and one head per \
             task); this architecture names its weights differently.",
        );
        return;
    }
    ui.weak(
        "Lines: weights, thicker for larger magnitude (per layer), blue positive, orange \
         negative; the faintest are left out. Grey band: the shared trunk every task trains; \
         coloured bands: each task's own head. Columns show at most 20 units.",
    );
    let (response, painter) = ui.allocate_painter(ui.available_size(), Sense::hover());
    let grid = Grid::new(response.rect.shrink(16.0), &trunk, &heads);
    draw_trunk(&painter, &grid, spec.model.input, &trunk);
    for (t, head) in heads.iter().enumerate() {
        if let Some(head) = head {
            draw_head(
                &painter,
                &grid,
                t,
                &spec.tasks[t].name,
                head,
                &trunk,
                spec.model.input,
            );
        }
    }
}

/// Where the columns and bands go.
struct Grid {
    rect: Rect,
    dx: f32,
    trunk_len: usize,
    heads: usize,
    top: f32,
    bottom: f32,
}

impl Grid {
    fn new(rect: Rect, trunk: &[Column<'_>], heads: &[Option<Vec<Column<'_>>>]) -> Self {
        let head_cols = heads
            .iter()
            .map(|h| h.as_ref().map_or(0, Vec::len))
            .max()
            .unwrap_or(0);
        let columns = 1 + trunk.len() + head_cols;
        Self {
            rect,
            dx: rect.width() / columns.max(1) as f32,
            trunk_len: trunk.len(),
            heads: heads.len().max(1),
            top: rect.top() + 24.0,
            bottom: rect.bottom() - 24.0,
        }
    }

    fn x(&self, c: usize) -> f32 {
        self.rect.left() + self.dx * (c as f32 + 0.5)
    }

    fn trunk_right(&self) -> f32 {
        self.x(self.trunk_len) + self.dx * 0.35
    }

    /// Head `t`'s band, top and bottom.
    fn band(&self, t: usize) -> (f32, f32) {
        let band = (self.rect.height() - 8.0) / self.heads as f32;
        (
            self.rect.top() + band * t as f32 + 4.0,
            self.rect.top() + band * (t + 1) as f32 - 4.0,
        )
    }

    fn line_width(&self) -> f32 {
        self.dx.min(60.0) / 12.0
    }

    /// The trunk's last column's units (or the inputs without a trunk).
    fn trunk_out(&self, trunk: &[Column<'_>], inputs: usize) -> Vec<Pos2> {
        let units = trunk.last().map_or(inputs, |c| c.units);
        unit_positions(units, self.x(self.trunk_len), self.top, self.bottom)
    }
}

/// Units as rings.
fn draw_units(painter: &egui::Painter, points: &[Pos2], radius: f32) {
    for p in points {
        painter.circle(
            *p,
            radius,
            theme::outline(),
            Stroke::new(1.2, theme::pareto()),
        );
    }
}

/// The inputs and the shared trunk on their band.
fn draw_trunk(painter: &egui::Painter, g: &Grid, inputs: usize, trunk: &[Column<'_>]) {
    let rect = g.rect;
    painter.rect_filled(
        Rect::from_min_max(
            pos2(g.x(1) - g.dx * 0.35, rect.top()),
            pos2(g.trunk_right(), rect.bottom()),
        ),
        6.0,
        theme::faint(theme::shared(), 40),
    );
    if !trunk.is_empty() {
        painter.text(
            pos2((g.x(1) + g.x(trunk.len())) / 2.0, rect.top() + 4.0),
            Align2::CENTER_TOP,
            "shared trunk",
            FontId::proportional(14.0),
            theme::shared(),
        );
    }
    let radius = ((g.bottom - g.top) / MAX_UNITS as f32 / 3.0).clamp(2.5, 6.0);
    let mut prev = unit_positions(inputs, g.x(0), g.top, g.bottom);
    column_label(painter, g.x(0), g.bottom, &format!("in {inputs}"));
    let mut columns = vec![prev.clone()];
    for (c, col) in trunk.iter().enumerate() {
        let here = unit_positions(col.units, g.x(c + 1), g.top, g.bottom);
        if let Some(m) = &col.incoming {
            connections(painter, m, &prev, &here, g.line_width());
        }
        column_label(painter, g.x(c + 1), g.bottom, &col.label);
        columns.push(here.clone());
        prev = here;
    }
    for points in &columns {
        draw_units(painter, points, radius);
    }
}

/// Task `t`'s head on its band, fed by the trunk's last column.
fn draw_head(
    painter: &egui::Painter,
    g: &Grid,
    t: usize,
    name: &str,
    head: &[Column<'_>],
    trunk: &[Column<'_>],
    inputs: usize,
) {
    let (b_top, b_bottom) = g.band(t);
    painter.rect_filled(
        Rect::from_min_max(
            pos2(g.trunk_right() + g.dx * 0.15, b_top),
            pos2(g.rect.right(), b_bottom),
        ),
        6.0,
        theme::faint(theme::task(t), 28),
    );
    painter.text(
        pos2(g.rect.right() - 6.0, b_top + 4.0),
        Align2::RIGHT_TOP,
        name,
        FontId::proportional(14.0),
        theme::task(t),
    );
    let radius = ((g.bottom - g.top) / MAX_UNITS as f32 / 3.0).clamp(2.5, 6.0);
    let mut from = g.trunk_out(trunk, inputs);
    let mut columns = Vec::new();
    for (c, col) in head.iter().enumerate() {
        let x = g.x(1 + g.trunk_len + c);
        let here = unit_positions(col.units, x, b_top + 20.0, b_bottom - 20.0);
        if let Some(m) = &col.incoming {
            connections(painter, m, &from, &here, g.line_width());
        }
        column_label(painter, x, b_bottom - 18.0, &col.label);
        columns.push(here.clone());
        from = here;
    }
    for points in &columns {
        draw_units(painter, points, radius);
    }
    // The trunk's last units sit on top of the head's incoming lines.
    draw_units(painter, &g.trunk_out(trunk, inputs), radius);
}

/// A column's label under it.
fn column_label(painter: &egui::Painter, x: f32, y: f32, label: &str) {
    painter.text(
        pos2(x, y + 4.0),
        Align2::CENTER_TOP,
        label,
        FontId::proportional(12.0),
        theme::input(),
    );
}
