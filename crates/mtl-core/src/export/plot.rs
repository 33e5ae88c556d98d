//! Loss curves as a PNG (plotters, drawn into memory, then written atomically).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{ExportError, write_atomic};
use crate::palette::task_colour_on_light as task_colour;

/// One line of a chart.
#[derive(Clone, Debug)]
pub struct Curve {
    /// Legend text.
    pub name: String,
    /// Index into the task palette.
    pub colour: usize,
    /// Dashed (validation) or solid (training).
    pub dashed: bool,
    /// `(x, y)` points; non-finite and non-positive values are skipped on a log axis.
    pub points: Vec<(f64, f64)>,
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // The font ships inside egui's crate; registering it cannot fail for a valid TTF.
        plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            epaint_default_fonts::UBUNTU_LIGHT,
        )
        .ok();
    });
}

/// A chart that draws on any plotters backend (PNG or SVG).
trait Chart {
    /// Draws onto a white `root`.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// Fills `root` white, draws `chart` and flushes it.
fn paint<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &impl Chart,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    chart.draw(root)?;
    root.present().map_err(|e| e.to_string())
}

/// Renders `chart` at `size` into `path`: SVG when the name ends in `.svg`, PNG otherwise;
/// written atomically.
fn render(path: &Path, (w, h): (u32, u32), chart: &impl Chart) -> Result<(), ExportError> {
    register_font();
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    if svg {
        let mut text = String::new();
        let drawn = paint(
            &SVGBackend::with_string(&mut text, (w, h)).into_drawing_area(),
            chart,
        );
        drawn.map_err(|message| ExportError::Format {
            path: path.to_owned(),
            message,
        })?;
        return write_atomic(path, text.as_bytes());
    }
    let mut buf = vec![255u8; (w * h * 3) as usize];
    let drawn = paint(
        &BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area(),
        chart,
    );
    write_png(path, w, h, buf, drawn)
}

/// Loss curves: x epoch, y loss on a log axis.
struct LossChart<'a> {
    title: &'a str,
    curves: &'a [Curve],
}

/// Draws `curves` (x: epoch, y: loss on a log axis) into `path`: PNG, or SVG for a `.svg`
/// name.
pub fn loss_chart(path: &Path, title: &str, curves: &[Curve]) -> Result<(), ExportError> {
    render(path, (960, 600), &LossChart { title, curves })
}

impl Chart for LossChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (title, curves) = (self.title, self.curves);
        let finite: Vec<(f64, f64)> = curves
            .iter()
            .flat_map(|c| c.points.iter().copied())
            .filter(|(x, y)| x.is_finite() && y.is_finite() && *y > 0.0)
            .collect();
        let x_max = finite.iter().map(|p| p.0).fold(1.0, f64::max);
        let y_min = finite.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let y_max = finite.iter().map(|p| p.1).fold(0.0, f64::max);
        let (y_min, y_max) = if finite.is_empty() {
            (0.01, 1.0)
        } else {
            (y_min * 0.8, y_max * 1.25)
        };

        let mut chart = ChartBuilder::on(root)
            .caption(title, ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..x_max, (y_min..y_max).log_scale())
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("loss (log scale)")
            .y_label_formatter(&|v| tick(*v))
            .x_label_formatter(&|v| tick(*v))
            .light_line_style(RGBColor(238, 238, 238))
            .label_style(("sans-serif", 16))
            .draw()
            .map_err(|e| e.to_string())?;
        for c in curves {
            let [r, g, b] = task_colour(c.colour);
            let colour = RGBColor(r, g, b);
            let pts: Vec<(f64, f64)> = c
                .points
                .iter()
                .copied()
                .filter(|(x, y)| x.is_finite() && y.is_finite() && *y > 0.0)
                .collect();
            let style = colour.stroke_width(3);
            let anno = if c.dashed {
                chart
                    .draw_series(DashedLineSeries::new(pts, 10, 6, style))
                    .map_err(|e| e.to_string())?
            } else {
                chart
                    .draw_series(LineSeries::new(pts, style))
                    .map_err(|e| e.to_string())?
            };
            let dashed = c.dashed;
            anno.label(c.name.clone()).legend(move |(x, y)| {
                let style = colour.stroke_width(3);
                let second = if dashed {
                    (x + 14, x + 24)
                } else {
                    (x + 10, x + 24)
                };
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (10, 0)], style)
                    + PathElement::new(vec![(second.0 - x, 0), (second.1 - x, 0)], style)
            });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 16))
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// Writes the part of an RGBA screenshot (`width × height` pixels, row-major) that lies in
/// `[x0, x1) × [y0, y1)` pixels as a PNG, atomically; the region is clamped to the image.
pub fn crop_png(
    path: &Path,
    (width, height): (usize, usize),
    rgba: &[u8],
    [x0, y0, x1, y1]: [usize; 4],
) -> Result<(), ExportError> {
    let (x1, y1) = (x1.min(width), y1.min(height));
    if x0 >= x1 || y0 >= y1 || rgba.len() < width * height * 4 {
        return Err(ExportError::Format {
            path: path.to_owned(),
            message: "the region to save is empty".to_owned(),
        });
    }
    let mut out = Vec::with_capacity((x1 - x0) * (y1 - y0) * 4);
    for row in y0..y1 {
        out.extend_from_slice(&rgba[(row * width + x0) * 4..(row * width + x1) * 4]);
    }
    let img = image::RgbaImage::from_raw((x1 - x0) as u32, (y1 - y0) as u32, out)
        .map(image::DynamicImage::from);
    save_png(path, img)
}

/// Encodes an image (`None`: the buffer had the wrong size) as PNG, written atomically.
fn save_png(path: &Path, img: Option<image::DynamicImage>) -> Result<(), ExportError> {
    let fail = |message: String| ExportError::Format {
        path: path.to_owned(),
        message,
    };
    let img = img.ok_or_else(|| fail("image buffer has the wrong size".to_owned()))?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| fail(e.to_string()))?;
    write_atomic(path, png.get_ref())
}

/// Encodes an RGB buffer as PNG and writes it atomically, unless drawing it failed.
fn write_png(
    path: &Path,
    w: u32,
    h: u32,
    buf: Vec<u8>,
    drawn: Result<(), String>,
) -> Result<(), ExportError> {
    drawn.map_err(|message| ExportError::Format {
        path: path.to_owned(),
        message,
    })?;
    save_png(
        path,
        image::RgbImage::from_raw(w, h, buf).map(image::DynamicImage::from),
    )
}

/// A value in [−1, 1] as a diverging colour: negative warm red, positive blue, 0 light grey.
fn diverging(v: f64) -> RGBColor {
    let t = if v.is_finite() {
        v.clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let grey = [235.0, 235.0, 235.0];
    let end = if t < 0.0 {
        [215.0, 70.0, 45.0]
    } else {
        [45.0, 115.0, 200.0]
    };
    let mix = |i: usize| (grey[i] + (end[i] - grey[i]) * t.abs()) as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// Two K × K heatmaps side by side (row i, column j: "i onto j"), each scaled to its largest
/// magnitude, with the values written in the cells. PNG, or SVG for a `.svg` name.
pub fn affinity_chart(
    path: &Path,
    names: &[String],
    panels: &[(&str, &[f64])],
) -> Result<(), ExportError> {
    let k = names.len() as u32;
    let panel_w = AFF_LEFT + AFF_CELL * k + 40;
    let w = panel_w * panels.len().max(1) as u32;
    let h = AFF_TOP + AFF_CELL * k + 30;
    render(path, (w, h), &AffinityChart { names, panels })
}

const AFF_CELL: u32 = 90;
const AFF_LEFT: u32 = 130;
const AFF_TOP: u32 = 120;

/// K × K heatmaps side by side.
struct AffinityChart<'a> {
    names: &'a [String],
    panels: &'a [(&'a str, &'a [f64])],
}

impl Chart for AffinityChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        const CELL: u32 = AFF_CELL;
        const LEFT: u32 = AFF_LEFT;
        const TOP: u32 = AFF_TOP;
        let (names, panels) = (self.names, self.panels);
        let k = names.len() as u32;
        let panel_w = LEFT + CELL * k + 40;
        let text = |size| ("sans-serif", size).into_font().color(&BLACK);
        for (p, (title, values)) in panels.iter().enumerate() {
            let x0 = p as u32 * panel_w;
            let scale = values
                .iter()
                .filter(|v| v.is_finite())
                .fold(0.0f64, |m, v| m.max(v.abs()))
                .max(1e-12);
            root.draw(&Text::new(
                title.to_string(),
                ((x0 + 20) as i32, 16),
                text(22),
            ))
            .map_err(|e| e.to_string())?;
            root.draw(&Text::new(
                "row: the task stepped on; column: the task measured".to_owned(),
                ((x0 + 20) as i32, 48),
                text(15),
            ))
            .map_err(|e| e.to_string())?;
            for (j, name) in names.iter().enumerate() {
                let x = x0 + LEFT + j as u32 * CELL + 8;
                root.draw(&Text::new(
                    name.clone(),
                    (x as i32, (TOP - 28) as i32),
                    text(16),
                ))
                .map_err(|e| e.to_string())?;
                let y = TOP + j as u32 * CELL + CELL / 2 - 8;
                root.draw(&Text::new(
                    name.clone(),
                    ((x0 + 20) as i32, y as i32),
                    text(16),
                ))
                .map_err(|e| e.to_string())?;
            }
            for i in 0..k as usize {
                for j in 0..k as usize {
                    let v = values.get(i * k as usize + j).copied().unwrap_or(f64::NAN);
                    let (cx, cy) = (x0 + LEFT + j as u32 * CELL, TOP + i as u32 * CELL);
                    root.draw(&Rectangle::new(
                        [
                            (cx as i32, cy as i32),
                            ((cx + CELL - 4) as i32, (cy + CELL - 4) as i32),
                        ],
                        diverging(v / scale).filled(),
                    ))
                    .map_err(|e| e.to_string())?;
                    let label = if v.is_finite() {
                        format!("{v:+.3}")
                    } else {
                        "n/a".to_owned()
                    };
                    root.draw(&Text::new(
                        label,
                        ((cx + 14) as i32, (cy + CELL / 2 - 10) as i32),
                        text(17),
                    ))
                    .map_err(|e| e.to_string())?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_keeps_exactly_the_region_and_clamps_it_to_the_image() {
        let dir = tempfile::tempdir().expect("tempdir");
        // 4 × 3 pixels; pixel (x, y) has red = 10·x + y.
        let rgba: Vec<u8> = (0..3)
            .flat_map(|y| (0..4).flat_map(move |x| [10 * x + y, 0, 0, 255]))
            .collect();
        let path = dir.path().join("c.png");
        crop_png(&path, (4, 3), &rgba, [1, 1, 9, 9]).expect("crop");
        let img = image::open(&path).expect("png").to_rgba8();
        assert_eq!(img.dimensions(), (3, 2));
        assert_eq!(img.get_pixel(0, 0)[0], 11);
        assert_eq!(img.get_pixel(2, 1)[0], 32);
        assert!(crop_png(&path, (4, 3), &rgba, [5, 0, 9, 9]).is_err());
    }

    #[test]
    fn charts_save_as_svg_by_extension() {
        let dir = tempfile::tempdir().expect("tempdir");
        let curves = vec![Curve {
            name: "y1 (train)".to_owned(),
            colour: 0,
            dashed: false,
            points: vec![(0.0, 1.0), (1.0, 0.5)],
        }];
        loss_chart(&dir.path().join("l.svg"), "title here", &curves).expect("svg");
        let svg = std::fs::read_to_string(dir.path().join("l.svg")).expect("read");
        assert!(
            svg.starts_with("<svg") && svg.contains("title here") && svg.contains("y1 (train)")
        );
        let points = vec![FrontPoint {
            label: "ew".to_owned(),
            losses: vec![0.5, 0.4],
            on_front: true,
            strategy: Some(0),
        }];
        front_chart(
            &dir.path().join("f.png"),
            "front",
            &["a".to_owned(), "b".to_owned()],
            &points,
        )
        .expect("png");
        assert!(image::open(dir.path().join("f.png")).is_ok());
    }
}

/// A tick label without floating-point noise: `0.6`, not `0.6000000001`.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".to_owned();
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// One run of a trade-off sweep, as the front plot draws it.
#[derive(Clone, Debug)]
pub struct FrontPoint {
    /// Shown next to strategy points.
    pub label: String,
    /// Final per-task losses.
    pub losses: Vec<f64>,
    /// Whether no other run is better on every task.
    pub on_front: bool,
    /// A strategy's run (coloured and labelled) rather than a static weighting (grey).
    pub strategy: Option<usize>,
}

/// The final per-task losses of every run of a sweep: one scatter for 2 tasks, the three
/// pairs side by side for 3. Static weightings are grey dots, strategies coloured and
/// labelled; runs on the non-dominated front are ringed and, per pair, joined by a line.
/// PNG, or SVG for a `.svg` name.
pub fn front_chart(
    path: &Path,
    title: &str,
    tasks: &[String],
    points: &[FrontPoint],
) -> Result<(), ExportError> {
    let pairs: Vec<(usize, usize)> = if tasks.len() >= 3 {
        vec![(0, 1), (0, 2), (1, 2)]
    } else {
        vec![(0, 1)]
    };
    let w = (620 * pairs.len() as u32).max(900);
    render(
        path,
        (w, 600),
        &FrontChart {
            title,
            tasks,
            points,
            pairs,
        },
    )
}

/// The runs of a sweep, one panel per pair of tasks.
struct FrontChart<'a> {
    title: &'a str,
    tasks: &'a [String],
    points: &'a [FrontPoint],
    pairs: Vec<(usize, usize)>,
}

impl Chart for FrontChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (top, body) = root.split_vertically(40);
        top.draw(&Text::new(
            self.title.to_owned(),
            (16, 10),
            ("sans-serif", 22).into_font().color(&BLACK),
        ))
        .map_err(|e| e.to_string())?;
        for (area, (a, b)) in body
            .split_evenly((1, self.pairs.len()))
            .iter()
            .zip(&self.pairs)
        {
            front_panel(area, self.tasks, self.points, *a, *b)?;
        }
        Ok(())
    }
}

/// The range of `values` with a margin (a unit range when empty or flat).
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(hi.abs() * 1e-3).max(1e-9);
    (lo - pad, hi + pad)
}

fn front_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    tasks: &[String],
    points: &[FrontPoint],
    a: usize,
    b: usize,
) -> Result<(), String> {
    let get = |p: &FrontPoint, i: usize| p.losses.get(i).copied().unwrap_or(f64::NAN);
    let x_range = padded_range(points.iter().map(|p| get(p, a)));
    let y_range = padded_range(points.iter().map(|p| get(p, b)));
    let name = |i: usize| tasks.get(i).cloned().unwrap_or_default();
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(x_range.0..x_range.1, y_range.0..y_range.1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(format!("{} validation loss", name(a)))
        .y_desc(format!("{} validation loss", name(b)))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .light_line_style(RGBColor(238, 238, 238))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    // The front in this pair's projection, joined left to right.
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.on_front)
        .map(|p| (get(p, a), get(p, b)))
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .collect();
    front.sort_by(|p, q| p.0.total_cmp(&q.0));
    let grey = RGBColor(150, 150, 150);
    if tasks.len() == 2 {
        chart
            .draw_series(LineSeries::new(
                front.clone(),
                BLACK.mix(0.5).stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
    }
    for p in points {
        let (x, y) = (get(p, a), get(p, b));
        if !(x.is_finite() && y.is_finite()) {
            continue;
        }
        let colour = match p.strategy {
            Some(i) => {
                let [r, g, bl] = task_colour(2 + i);
                RGBColor(r, g, bl)
            }
            None => grey,
        };
        let size = if p.strategy.is_some() { 7 } else { 5 };
        chart
            .draw_series(std::iter::once(Circle::new((x, y), size, colour.filled())))
            .map_err(|e| e.to_string())?;
        if p.on_front {
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x, y),
                    size + 4,
                    BLACK.stroke_width(2),
                )))
                .map_err(|e| e.to_string())?;
        }
        if p.strategy.is_some() {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y))
                        + Text::new(
                            p.label.clone(),
                            (10, -18),
                            ("sans-serif", 15).into_font().color(&colour),
                        ),
                ))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
