//! Axes of the live charts: the log scale and its round ticks, value formatting, hover
//! labels.

pub(super) fn log_y(log: bool, y: f64) -> f64 {
    if log { y.max(1e-12).log10() } else { y }
}

/// Grid marks for a log10 axis at round values: 1, 2 and 5 × 10ᵏ; every value 1–9 × 10ᵏ when
/// less than about a decade shows, decades only when many do. `bounds` are log10 values.
pub fn log_axis_marks(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (lo, hi) = input.bounds;
    let fallback = |input: egui_plot::GridInput| egui_plot::log_grid_spacer(10)(input);
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        return fallback(input);
    }
    let span = hi - lo;
    let mantissas: &[f64] = if span > 6.0 {
        &[1.0]
    } else if span > 1.2 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    };
    // With very many decades, every n-th decade.
    let every = (span / 12.0).ceil().max(1.0) as i64;
    let (first, last) = (lo.floor() as i64, hi.ceil() as i64);
    let mut marks = Vec::new();
    for k in (first..=last).filter(|k| k.rem_euclid(every) == 0) {
        for &m in mantissas {
            let value = k as f64 + m.log10();
            if (lo..=hi).contains(&value) {
                // Decades are the strongest lines; 2 and 5 the next.
                let step_size = if m == 1.0 {
                    every as f64
                } else if m == 2.0 || m == 5.0 {
                    0.3
                } else {
                    0.1
                };
                marks.push(egui_plot::GridMark { value, step_size });
            }
        }
    }
    if marks.len() < 2 {
        // Less than a decade's tenth shows: egui_plot's own marks.
        return fallback(input);
    }
    marks
}

pub(super) fn y_formatter(
    log: bool,
) -> impl Fn(egui_plot::GridMark, &std::ops::RangeInclusive<f64>) -> String {
    move |mark, _| {
        if log {
            format_value(10f64.powf(mark.value))
        } else {
            format_value(mark.value)
        }
    }
}

/// A number for axes and labels: at most 4 decimals, scientific when very large or small.
pub fn format_value(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 1000.0 || v.abs() < 0.001 {
        format!("{v:.1e}")
    } else {
        format!("{}", (v * 1e4).round() / 1e4)
    }
}

pub(super) fn hover_label(
    log: bool,
    what: &'static str,
) -> impl Fn(&egui_plot::HoverPosition<'_>) -> Option<String> {
    move |pos| {
        let (name, p) = match pos {
            egui_plot::HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => (*plot_name, *position),
            egui_plot::HoverPosition::Elsewhere { position } => ("", *position),
        };
        let y = if log { 10f64.powf(p.y) } else { p.y };
        let head = if name.is_empty() {
            String::new()
        } else {
            format!("{name}\n")
        };
        Some(format!(
            "{head}epoch {:.2}\n{what} {}",
            p.x,
            format_value(y)
        ))
    }
}
