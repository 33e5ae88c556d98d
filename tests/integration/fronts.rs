//! Pareto preferences (issue 19, point 5): a preference sweep with EPO lands each run near its
//! ray, and `sweep.csv` reports every front's hypervolume.

use crate::cli::{mtl, text};

/// One row of `sweep.csv`: family, the weights (or preference), the final losses, and the
/// front's hypervolume with its reference point.
struct SweepRow {
    family: String,
    weights: Vec<f64>,
    losses: [f64; 2],
    hypervolume: f64,
    reference: Vec<f64>,
}

fn read_rows(csv_text: &str) -> Vec<SweepRow> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let header = reader.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (family, weights, y1, y2, hv, reference) = (
        col("family"),
        col("weights"),
        col("y1_loss"),
        col("y2_loss"),
        col("front_hypervolume"),
        col("hv_reference"),
    );
    let numbers = |s: &str| -> Vec<f64> {
        s.split(';')
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().expect("number"))
            .collect()
    };
    reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            SweepRow {
                family: r[family].to_owned(),
                weights: numbers(&r[weights]),
                losses: [r[y1].parse().expect("y1"), r[y2].parse().expect("y2")],
                hypervolume: r[hv].parse().expect("hypervolume"),
                reference: numbers(&r[reference]),
            }
        })
        .collect()
}

/// The angle in degrees between the losses and the ray of preference r (L ∝ 1/r, where
/// r_k·L_k is the same for every task).
fn angle_to_ray(losses: [f64; 2], r: &[f64]) -> f64 {
    let ray = [1.0 / r[0], 1.0 / r[1]];
    let cos = (losses[0] * ray[0] + losses[1] * ray[1])
        / (losses[0].hypot(losses[1]) * ray[0].hypot(ray[1]));
    cos.clamp(-1.0, 1.0).acos().to_degrees()
}

/// The area two-task losses dominate up to `reference`, computed here independently.
fn area(points: &[[f64; 2]], reference: &[f64]) -> f64 {
    let mut pts: Vec<[f64; 2]> = points
        .iter()
        .copied()
        .filter(|p| p[0] < reference[0] && p[1] < reference[1])
        .collect();
    pts.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (mut total, mut low) = (0.0, reference[1]);
    for p in pts {
        if p[1] < low {
            total += (reference[0] - p[0]) * (low - p[1]);
            low = p[1];
        }
    }
    total
}

/// On `examples/tradeoff.toml` (2 conflicting tasks, 10 epochs), EPO with each of the grid's
/// five preferences ends within 10° of its ray (measured: at most 7.7°), and on average
/// within half the angle the static weighting of the same grid point lands at; `sweep.csv`
/// gives each family's hypervolume w.r.t. the untrained model's losses, which equals the
/// area its runs dominate.
#[test]
fn a_preference_sweep_lands_on_its_rays_and_reports_hypervolumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("sweep");
    let out = mtl(&[
        "sweep",
        "examples/tradeoff.toml",
        "--grid",
        "5",
        "--preferences",
        "--strategies",
        "ew",
        "--threads",
        "2",
        "--quiet",
        "--out",
        out_dir.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "sweep: {}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("hypervolume"), "{summary}");
    let csv_text = std::fs::read_to_string(out_dir.join("sweep.csv")).expect("csv");
    let rows = read_rows(&csv_text);
    let of =
        |family: &str| -> Vec<&SweepRow> { rows.iter().filter(|r| r.family == family).collect() };
    let (preference, fixed) = (of("preference"), of("static"));
    assert_eq!(
        (preference.len(), fixed.len(), of("strategy").len()),
        (5, 5, 1)
    );
    let mut angles = (0.0, 0.0);
    for (p, s) in preference.iter().zip(&fixed) {
        assert_eq!(p.weights, s.weights, "the same grid point");
        let a = angle_to_ray(p.losses, &p.weights);
        assert!(
            a < 10.0,
            "EPO at r = {:?} ends {a:.1}° from its ray: {:?}",
            p.weights,
            p.losses
        );
        angles.0 += a / 5.0;
        angles.1 += angle_to_ray(s.losses, &s.weights) / 5.0;
    }
    assert!(
        angles.0 < 0.5 * angles.1,
        "EPO's mean angle {:.1}° is not under half the static weights' {:.1}°",
        angles.0,
        angles.1
    );
    for family in [preference, fixed] {
        let reference = &family[0].reference;
        assert_eq!(reference.len(), 2);
        let points: Vec<[f64; 2]> = family.iter().map(|r| r.losses).collect();
        let want = area(&points, reference);
        assert!(want > 0.0);
        for r in &family {
            assert!(
                (r.hypervolume - want).abs() < 1e-9 * want,
                "{} vs {want}",
                r.hypervolume
            );
        }
    }
}
