//! Every colour of the GUI lives here.

use egui::Color32;

use crate::palette;

/// The colour of task `k` (same as in the PNG plots).
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn task(k: usize) -> Color32 {
    let [r, g, b] = palette::task_colour(k);
    Color32::from_rgb(r, g, b)
}

/// A faint version of a task colour (raw curve under a smoothed one, head backgrounds).
pub fn faint(c: Color32, alpha: u8) -> Color32 {
    Color32::from_rgba_unmultiplied_const(c.r(), c.g(), c.b(), alpha)
}

/// The shared trunk in the diagram.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn shared() -> Color32 {
    Color32::from_rgb(120, 144, 170)
}

/// Inputs in the diagram.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn input() -> Color32 {
    Color32::from_gray(150)
}

/// The weighted total loss.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn total() -> Color32 {
    Color32::from_gray(220)
}

/// Errors and divergence.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn error() -> Color32 {
    Color32::from_rgb(255, 110, 100)
}

/// Warnings and "needs restart" hints.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn warning() -> Color32 {
    Color32::from_rgb(240, 200, 80)
}

/// Success messages.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn ok() -> Color32 {
    Color32::from_rgb(120, 210, 140)
}

/// Text drawn on a coloured box.
pub fn on_box() -> Color32 {
    Color32::BLACK
}

/// A cosine in [−1, 1] as a diverging colour: conflicts (negative) warm red, agreement blue,
/// zero grey.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn cosine(v: f64) -> Color32 {
    let t = v.clamp(-1.0, 1.0) as f32;
    let grey = [150.0f32, 150.0, 150.0];
    let end = if t < 0.0 {
        [235.0f32, 90.0, 60.0]
    } else {
        [70.0f32, 150.0, 235.0]
    };
    let a = t.abs();
    let mix = |i: usize| (grey[i] + (end[i] - grey[i]) * a) as u8;
    Color32::from_rgb(mix(0), mix(1), mix(2))
}

/// A pixel of a grey input image (`v` in [0, 1]); inside a true mask, tinted green so the
/// mask shows over the image.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn image_pixel(v: f32, in_mask: bool) -> Color32 {
    let g = (v.clamp(0.0, 1.0) * 255.0) as u8;
    if in_mask {
        let mix = |base: u8, tint: u8| ((u16::from(base) + u16::from(tint)) / 2) as u8;
        Color32::from_rgb(mix(g, 40), mix(g, 200), mix(g, 90))
    } else {
        Color32::from_gray(g)
    }
}

/// A pixel of a grey input image tinted by the colour of its class in a semantic
/// segmentation (`None` or class 0, the background: plain grey).
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn image_pixel_class(v: f32, class: Option<usize>) -> Color32 {
    match class {
        Some(c) if c > 0 => {
            let g = v.clamp(0.0, 1.0);
            let t = task(c - 1);
            let mix = |tint: u8| (f32::from(tint) * (0.35 + 0.65 * g)) as u8;
            Color32::from_rgb(mix(t.r()), mix(t.g()), mix(t.b()))
        }
        _ => image_pixel(v, false),
    }
}

/// A sequential colour for a value in [0, 1] (dark blue to yellow, after viridis).
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn ramp(t: f64) -> Color32 {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0) as f32
    } else {
        0.0
    };
    let x = t * 4.0;
    let i = (x.floor() as usize).min(3);
    let f = x - i as f32;
    let mix = |c: usize| (STOPS[i][c] + (STOPS[i + 1][c] - STOPS[i][c]) * f) as u8;
    Color32::from_rgb(mix(0), mix(1), mix(2))
}

/// Contour lines over a banded landscape.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn contour() -> Color32 {
    Color32::from_rgba_unmultiplied(20, 20, 30, 150)
}

/// The Pareto set or front.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn pareto() -> Color32 {
    Color32::from_rgb(235, 235, 240)
}

/// The runs of a preference sweep (EPO) and their rays in the Trade-offs tab.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn preference() -> Color32 {
    // Orange: apart from every task and strategy colour of the tab.
    Color32::from_rgb(245, 140, 20)
}

/// A path drawn over a landscape, and the combined update arrow.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn path() -> Color32 {
    Color32::from_rgb(255, 80, 80)
}

/// The outline that keeps a marker or arrow visible on any background.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn outline() -> Color32 {
    Color32::from_rgb(15, 15, 20)
}

/// A quiet background shade for a landscape band (`t` in [0, 1], low dark, high light), so
/// coloured paths stand out on top.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn landscape(t: f64, edge: bool) -> Color32 {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } as f32;
    let mix = |a: f32, b: f32| (a + (b - a) * t) as u8;
    let (r, g, b) = (mix(38.0, 150.0), mix(44.0, 158.0), mix(62.0, 172.0));
    if edge {
        Color32::from_rgb(r / 2, g / 2, b / 2)
    } else {
        Color32::from_rgb(r, g, b)
    }
}

/// A class's colour, from pale (`strength` 0: the model is unsure) to full (1). Two classes
/// use TensorFlow Playground's orange (0) and blue (1); more use the task palette.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn class_shade(class: usize, strength: f32) -> Color32 {
    let base: [u8; 3] = match class {
        0 => [245, 147, 34],
        1 => [8, 119, 189],
        c => palette::task_colour(c),
    };
    let t = strength.clamp(0.0, 1.0) * 0.9 + 0.1;
    let pale = 232.0f32;
    let mix = |c: u8| (pale + (f32::from(c) - pale) * t) as u8;
    Color32::from_rgb(mix(base[0]), mix(base[1]), mix(base[2]))
}

/// A weight's line: blue when positive, orange when negative (as TensorFlow Playground),
/// more opaque the larger its magnitude (`strength` in [0, 1]).
pub fn weight(value: f32, strength: f32) -> Color32 {
    let c = class_shade(usize::from(value > 0.0), 1.0);
    faint(c, (60.0 + 195.0 * strength.clamp(0.0, 1.0)) as u8)
}

/// The high-contrast theme of presentation mode: a black background, white text, and
/// outlines strong enough to read on a washed-out projector.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn high_contrast() -> egui::Visuals {
    let mut v = egui::Visuals::dark();
    let black = Color32::BLACK;
    let white = Color32::WHITE;
    v.panel_fill = black;
    v.window_fill = black;
    v.extreme_bg_color = black;
    v.faint_bg_color = Color32::from_gray(20);
    v.window_stroke = egui::Stroke::new(2.0, white);
    v.override_text_color = Some(white);
    v.weak_text_alpha = 0.85;
    let w = &mut v.widgets;
    w.noninteractive.bg_fill = black;
    w.noninteractive.weak_bg_fill = black;
    w.noninteractive.bg_stroke = egui::Stroke::new(1.5, Color32::from_gray(200));
    w.noninteractive.fg_stroke = egui::Stroke::new(1.5, white);
    for state in [&mut w.inactive, &mut w.hovered, &mut w.active, &mut w.open] {
        state.bg_stroke = egui::Stroke::new(2.0, white);
        state.fg_stroke = egui::Stroke::new(1.5, white);
    }
    w.inactive.weak_bg_fill = Color32::from_gray(30);
    w.inactive.bg_fill = Color32::from_gray(40);
    w.hovered.weak_bg_fill = Color32::from_gray(60);
    w.active.weak_bg_fill = Color32::from_gray(80);
    v.selection.bg_fill = Color32::from_rgb(0, 90, 200);
    v.selection.stroke = egui::Stroke::new(2.0, white);
    v
}

/// The colour of the `i`-th strategy's update arrow in the gradient playground: light
/// colours apart from the first task colours, so an update never reads as a task gradient.
#[expect(
    clippy::disallowed_methods,
    reason = "this is the one place colours are made"
)]
pub fn strategy(i: usize) -> Color32 {
    // Apart from the first three task colours (light cyan, yellow, pink), which the
    // playground's gradients wear.
    const COLOURS: [[u8; 3]; 8] = [
        [235, 235, 235],
        [255, 150, 40],
        [140, 220, 90],
        [200, 160, 255],
        [255, 90, 70],
        [150, 150, 255],
        [200, 200, 120],
        [120, 230, 180],
    ];
    let [r, g, b] = COLOURS[i % COLOURS.len()];
    Color32::from_rgb(r, g, b)
}
