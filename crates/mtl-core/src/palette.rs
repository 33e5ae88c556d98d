//! Task colours as plain RGB, shared by the GUI theme and the PNG plots so a task has the same
//! colour everywhere: eight hues for the dark screen (from Paul Tol's and Okabe–Ito's sets,
//! then tuned), and the same hue families deepened for the white report plots. In each set
//! any two stay apart for viewers with normal vision and with protanopia, deuteranopia or
//! tritanopia, and every one reads on its background; the tests below check both.

/// Colours for tasks 0, 1, 2, … (repeats after the last): sky, yellow, magenta, teal,
/// violet, salmon, olive, tan.
pub const TASK_COLOURS: [[u8; 3]; 8] = [
    [157, 240, 251],
    [255, 255, 96],
    [247, 41, 142],
    [7, 159, 164],
    [153, 98, 253],
    [252, 166, 160],
    [182, 182, 0],
    [155, 128, 67],
];

/// The colour of task `k`.
pub fn task_colour(k: usize) -> [u8; 3] {
    TASK_COLOURS[k % TASK_COLOURS.len()]
}

/// The same eight hue families, deep enough for white paper (the PNG and SVG report plots):
/// cyan, ochre, magenta, blue, violet, rose, olive, brown; apart under the same checks, and
/// each at least 3:1 against white.
pub const TASK_COLOURS_ON_LIGHT: [[u8; 3]; 8] = [
    [13, 166, 162],
    [166, 150, 0],
    [154, 0, 98],
    [24, 105, 164],
    [166, 120, 255],
    [199, 93, 106],
    [95, 109, 5],
    [78, 53, 39],
];

/// The colour of task `k` on a white background.
pub fn task_colour_on_light(k: usize) -> [u8; 3] {
    TASK_COLOURS_ON_LIGHT[k % TASK_COLOURS_ON_LIGHT.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Machado, Oliveira & Fernandes (2009), severity 1.0, on linear RGB.
    const PROTANOPIA: [[f64; 3]; 3] = [
        [0.152286, 1.052583, -0.204868],
        [0.114503, 0.786281, 0.099216],
        [-0.003882, -0.048116, 1.051998],
    ];
    const DEUTERANOPIA: [[f64; 3]; 3] = [
        [0.367322, 0.860646, -0.227968],
        [0.280085, 0.672501, 0.047413],
        [-0.011820, 0.042940, 0.968881],
    ];
    const TRITANOPIA: [[f64; 3]; 3] = [
        [1.255528, -0.076749, -0.178779],
        [-0.078411, 0.930809, 0.147602],
        [0.004733, 0.691367, 0.303900],
    ];
    const IDENTITY: [[f64; 3]; 3] = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

    fn linear(c: u8) -> f64 {
        let c = f64::from(c) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    }

    fn simulate(c: [u8; 3], m: &[[f64; 3]; 3]) -> [f64; 3] {
        let l = c.map(linear);
        m.map(|row| (row[0] * l[0] + row[1] * l[1] + row[2] * l[2]).clamp(0.0, 1.0))
    }

    /// CIE L*a*b* (D65) of a linear RGB colour.
    fn lab([r, g, b]: [f64; 3]) -> [f64; 3] {
        let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
        let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
        let f = |t: f64| {
            if t > 0.008856 {
                t.cbrt()
            } else {
                7.787 * t + 16.0 / 116.0
            }
        };
        let (fx, fy, fz) = (f(x), f(y), f(z));
        [116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)]
    }

    /// CIEDE2000 colour difference (Sharma, Wu & Dalal 2005).
    fn delta_e2000([l1, a1, b1]: [f64; 3], [l2, a2, b2]: [f64; 3]) -> f64 {
        let c_bar = (a1.hypot(b1) + a2.hypot(b2)) / 2.0;
        let g = 0.5 * (1.0 - (c_bar.powi(7) / (c_bar.powi(7) + 25f64.powi(7))).sqrt());
        let (a1p, a2p) = ((1.0 + g) * a1, (1.0 + g) * a2);
        let (c1, c2) = (a1p.hypot(b1), a2p.hypot(b2));
        let hue = |b: f64, a: f64| b.atan2(a).to_degrees().rem_euclid(360.0);
        let (h1, h2) = (hue(b1, a1p), hue(b2, a2p));
        let dh = if c1 * c2 == 0.0 {
            0.0
        } else if h2 - h1 > 180.0 {
            h2 - h1 - 360.0
        } else if h2 - h1 < -180.0 {
            h2 - h1 + 360.0
        } else {
            h2 - h1
        };
        let d_l = l2 - l1;
        let d_c = c2 - c1;
        let d_h = 2.0 * (c1 * c2).sqrt() * (dh.to_radians() / 2.0).sin();
        let l_bar = (l1 + l2) / 2.0;
        let cp_bar = (c1 + c2) / 2.0;
        let h_bar = if c1 * c2 == 0.0 {
            h1 + h2
        } else if (h1 - h2).abs() <= 180.0 {
            (h1 + h2) / 2.0
        } else if h1 + h2 < 360.0 {
            (h1 + h2 + 360.0) / 2.0
        } else {
            (h1 + h2 - 360.0) / 2.0
        };
        let cos = |deg: f64| deg.to_radians().cos();
        let t = 1.0 - 0.17 * cos(h_bar - 30.0)
            + 0.24 * cos(2.0 * h_bar)
            + 0.32 * cos(3.0 * h_bar + 6.0)
            - 0.20 * cos(4.0 * h_bar - 63.0);
        let d_theta = 30.0 * (-((h_bar - 275.0) / 25.0).powi(2)).exp();
        let r_c = 2.0 * (cp_bar.powi(7) / (cp_bar.powi(7) + 25f64.powi(7))).sqrt();
        let s_l = 1.0 + 0.015 * (l_bar - 50.0).powi(2) / (20.0 + (l_bar - 50.0).powi(2)).sqrt();
        let s_c = 1.0 + 0.045 * cp_bar;
        let s_h = 1.0 + 0.015 * cp_bar * t;
        let r_t = -(2.0 * d_theta).to_radians().sin() * r_c;
        ((d_l / s_l).powi(2)
            + (d_c / s_c).powi(2)
            + (d_h / s_h).powi(2)
            + r_t * (d_c / s_c) * (d_h / s_h))
            .sqrt()
    }

    /// The smallest CIEDE2000 difference between any two of `colours`, as seen with normal
    /// vision and each of the three dichromacies, and the pair and vision it is found for.
    fn closest_pair(colours: &[[u8; 3]]) -> (f64, usize, usize, &'static str) {
        let visions = [
            ("normal", IDENTITY),
            ("protanopia", PROTANOPIA),
            ("deuteranopia", DEUTERANOPIA),
            ("tritanopia", TRITANOPIA),
        ];
        let mut worst = (f64::INFINITY, 0, 0, "");
        for (vision, m) in &visions {
            let labs: Vec<[f64; 3]> = colours.iter().map(|c| lab(simulate(*c, m))).collect();
            for i in 0..labs.len() {
                for j in i + 1..labs.len() {
                    let d = delta_e2000(labs[i], labs[j]);
                    if d < worst.0 {
                        worst = (d, i, j, vision);
                    }
                }
            }
        }
        worst
    }

    #[test]
    fn delta_e2000_matches_sharmas_reference_pairs() {
        let d = delta_e2000([50.0, 2.6772, -79.7751], [50.0, 0.0, -82.7485]);
        assert!((d - 2.0425).abs() < 1e-3, "{d}");
        let d = delta_e2000([50.0, 2.5, 0.0], [73.0, 25.0, -18.0]);
        assert!((d - 27.1492).abs() < 1e-3, "{d}");
    }

    #[test]
    fn the_first_eight_task_colours_stay_apart_for_colour_blind_viewers() {
        let first8: Vec<[u8; 3]> = (0..8).map(task_colour).collect();
        let (d, i, j, vision) = closest_pair(&first8);
        assert!(
            d >= 15.0,
            "tasks {i} and {j} are only ΔE00 {d:.1} apart under {vision}"
        );
        // The palette this replaced (Okabe–Ito's seven, task 8 repeating task 1; amber and
        // orange close under deuteranopia) fails the same check.
        let okabe_ito = [
            [230, 159, 0],
            [86, 180, 233],
            [0, 158, 115],
            [213, 94, 0],
            [204, 121, 167],
            [0, 114, 178],
            [240, 228, 66],
            [230, 159, 0],
        ];
        assert!(closest_pair(&okabe_ito).0 < 15.0);
        assert!(closest_pair(&okabe_ito[..7]).0 < 15.0);
    }

    fn luminance(c: [u8; 3]) -> f64 {
        let [r, g, b] = c.map(linear);
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    #[test]
    fn every_task_colour_reads_on_the_dark_background() {
        // egui's dark panel fill.
        let background = luminance([27, 27, 27]);
        for (k, c) in TASK_COLOURS.iter().enumerate() {
            let contrast = (luminance(*c) + 0.05) / (background + 0.05);
            assert!(contrast >= 4.5, "task {k}: contrast {contrast:.2} < 4.5");
        }
    }

    #[test]
    fn the_report_colours_stay_apart_and_read_on_white() {
        let first8: Vec<[u8; 3]> = (0..8).map(task_colour_on_light).collect();
        let (d, i, j, vision) = closest_pair(&first8);
        assert!(
            d >= 15.0,
            "tasks {i} and {j} are only ΔE00 {d:.1} apart under {vision}"
        );
        for (k, c) in first8.iter().enumerate() {
            let contrast = 1.05 / (luminance(*c) + 0.05);
            assert!(
                contrast >= 3.0,
                "task {k}: contrast {contrast:.2} < 3 on white"
            );
        }
        // The screen's colours would not do on white: task 1's yellow is nearly invisible.
        assert!(1.05 / (luminance(task_colour(1)) + 0.05) < 1.2);
    }
}
