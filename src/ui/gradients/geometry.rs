//! The geometry of the playground: small vector sums, PCGrad's projection, the dual cone
//! test, and the screen-space tests of hovering.

use super::*;

pub(super) fn dot_slice(a: &V3, b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(super) fn dot(a: &V3, b: &V3) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

pub(super) fn norm(a: &V3) -> f64 {
    dot(a, a).sqrt()
}

pub(super) fn scale(a: &V3, s: f64) -> V3 {
    [a[0] * s, a[1] * s, a[2] * s]
}

pub(super) fn sub(a: &V3, b: &V3) -> V3 {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

pub(super) fn to3(v: &[f64]) -> V3 {
    [
        v.first().copied().unwrap_or(0.0),
        v.get(1).copied().unwrap_or(0.0),
        v.get(2).copied().unwrap_or(0.0),
    ]
}

/// PCGrad's projection of `gi` off `gj` when they conflict (⟨gi, gj⟩ < 0), as in its paper.
pub fn pcgrad_projection(gi: &V3, gj: &V3) -> Option<V3> {
    let d = dot(gi, gj);
    let n2 = dot(gj, gj);
    (d < 0.0 && n2 > 0.0).then(|| sub(gi, &scale(gj, d / n2)))
}

/// Whether the direction `u` improves every task to first order (is in the dual cone).
pub fn in_dual_cone(g: &[V3], u: &V3) -> bool {
    g.iter().all(|gk| dot(gk, u) >= -1e-12)
}

pub(super) fn distance_to_segment(p: Pos2, a: Pos2, b: Pos2) -> f32 {
    let ab = b - a;
    let t = ((p - a).dot(ab) / ab.length_sq().max(1e-6)).clamp(0.0, 1.0);
    (a + ab * t).distance(p)
}

pub(super) fn in_triangle(p: Pos2, a: Pos2, b: Pos2, c: Pos2) -> bool {
    let side = |u: Pos2, v: Pos2| (v - u).x * (p - u).y - (v - u).y * (p - u).x;
    let (d1, d2, d3) = (side(a, b), side(b, c), side(c, a));
    let neg = d1 < 0.0 || d2 < 0.0 || d3 < 0.0;
    let pos = d1 > 0.0 || d2 > 0.0 || d3 > 0.0;
    !(neg && pos)
}

/// The three points in counter-clockwise order (for a convex fill).
pub(super) fn convex_order(pts: &[Pos2]) -> Vec<Pos2> {
    let c = pts.iter().fold(Vec2::ZERO, |a, p| a + p.to_vec2()) / pts.len() as f32;
    let mut v = pts.to_vec();
    v.sort_by(|a, b| {
        let aa = (a.y - c.y).atan2(a.x - c.x);
        let bb = (b.y - c.y).atan2(b.x - c.x);
        aa.total_cmp(&bb)
    });
    v
}
