//! Loss curves as a PNG (plotters, drawn into memory, then written atomically).

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{ExportError, write_atomic};
use crate::palette::task_colour;

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

/// Draws `curves` (x: epoch, y: loss on a log axis) into a PNG at `path`.
pub fn loss_png(path: &Path, title: &str, curves: &[Curve]) -> Result<(), ExportError> {
    const W: u32 = 960;
    const H: u32 = 600;
    register_font();
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

    let mut buf = vec![255u8; (W * H * 3) as usize];
    let drawn: Result<(), String> = (|| {
        let root = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
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
        root.present().map_err(|e| e.to_string())?;
        Ok(())
    })();
    drawn.map_err(|message| ExportError::Format {
        path: path.to_owned(),
        message,
    })?;
    let img = image::RgbImage::from_raw(W, H, buf).ok_or_else(|| ExportError::Format {
        path: path.to_owned(),
        message: "image buffer has the wrong size".to_owned(),
    })?;
    let mut png = std::io::Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| ExportError::Format {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    write_atomic(path, png.get_ref())
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
