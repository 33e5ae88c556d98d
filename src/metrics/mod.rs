//! Per-task metrics and the bounded history that charts draw from.

pub mod history;

use crate::experiment::TaskKind;

/// The metric of a task kind, computed on CPU from model outputs.
///
/// - regression: R² = 1 − SSE/SST over labelled rows (1 is perfect, 0 is the mean predictor)
/// - binary: accuracy with the logit threshold 0
/// - multiclass: accuracy of the arg-max class
/// - segmentation: intersection over union of the predicted mask (logit > 0) and the true
///   mask, pooled over the pixels of all labelled rows (1 when both are empty)
///
/// `outputs` is row-major `[rows, out]`; `values` is `[rows]` (`[rows, out]` for
/// segmentation) and `mask` `[rows]`. Returns NaN when no row is labelled.
pub fn task_metric(
    kind: TaskKind,
    outputs: &[f32],
    out: usize,
    values: &[f32],
    mask: &[f32],
) -> f64 {
    if kind == TaskKind::Segmentation {
        return mask_iou(outputs, out, values, mask);
    }
    let labelled = || {
        values
            .iter()
            .zip(mask)
            .enumerate()
            .filter(|(_, (_, m))| **m > 0.0)
            .map(|(i, (v, _))| (i, f64::from(*v)))
    };
    let n = labelled().count();
    if n == 0 {
        return f64::NAN;
    }
    match kind {
        TaskKind::Regression => {
            let mean = labelled().map(|(_, v)| v).sum::<f64>() / n as f64;
            let (mut sse, mut sst) = (0.0, 0.0);
            for (i, v) in labelled() {
                sse += (f64::from(outputs[i * out]) - v).powi(2);
                sst += (v - mean).powi(2);
            }
            if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN }
        }
        TaskKind::Binary => {
            let hits = labelled()
                .filter(|(i, v)| (outputs[i * out] > 0.0) == (*v > 0.5))
                .count();
            hits as f64 / n as f64
        }
        TaskKind::Multiclass | TaskKind::Segmentation => {
            let hits = labelled()
                .filter(|(i, v)| argmax(&outputs[i * out..(i + 1) * out]) as f64 == *v)
                .count();
            hits as f64 / n as f64
        }
    }
}

/// Pooled IoU of predicted (logit > 0) and true masks over the labelled rows.
fn mask_iou(outputs: &[f32], out: usize, values: &[f32], mask: &[f32]) -> f64 {
    let (mut inter, mut union, mut rows) = (0usize, 0usize, 0usize);
    for (r, m) in mask.iter().enumerate() {
        if *m <= 0.0 {
            continue;
        }
        rows += 1;
        let pred = &outputs[r * out..(r + 1) * out];
        let truth = &values[r * out..(r + 1) * out];
        for (p, t) in pred.iter().zip(truth) {
            let (p, t) = (*p > 0.0, *t > 0.5);
            inter += usize::from(p && t);
            union += usize::from(p || t);
        }
    }
    match (rows, union) {
        (0, _) => f64::NAN,
        (_, 0) => 1.0,
        _ => inter as f64 / union as f64,
    }
}

/// Index of the largest value (the first one on ties).
pub fn argmax(row: &[f32]) -> usize {
    row.iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, v)| {
            if *v > bv { (i, *v) } else { (bi, bv) }
        })
        .0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_kind() {
        let mask = [1.0, 1.0, 1.0, 0.0];
        let r2 = task_metric(
            TaskKind::Regression,
            &[1.0, 2.0, 3.0, 99.0],
            1,
            &[1.0, 2.0, 3.0, 0.0],
            &mask,
        );
        assert!((r2 - 1.0).abs() < 1e-12, "perfect fit has R² 1, got {r2}");
        let r2 = task_metric(
            TaskKind::Regression,
            &[2.0, 2.0, 2.0, 0.0],
            1,
            &[1.0, 2.0, 3.0, 0.0],
            &mask,
        );
        assert!(r2.abs() < 1e-12, "mean predictor has R² 0, got {r2}");
        let acc = task_metric(
            TaskKind::Binary,
            &[0.3, -1.0, 2.0, 5.0],
            1,
            &[1.0, 1.0, 0.0, 0.0],
            &mask,
        );
        assert!(
            (acc - 1.0 / 3.0).abs() < 1e-12,
            "one of three right, got {acc}"
        );
        let acc = task_metric(
            TaskKind::Multiclass,
            &[0.0, 1.0, 5.0, 0.0],
            2,
            &[1.0, 0.0, 0.0, 0.0],
            &[1.0, 1.0, 0.0, 0.0],
        );
        assert!((acc - 1.0).abs() < 1e-12, "both right, got {acc}");
        assert!(
            task_metric(TaskKind::Binary, &[1.0], 1, &[1.0], &[0.0]).is_nan(),
            "no labels: NaN"
        );
        // Masks of 3 pixels, the second row unlabelled: predicted {0, 1}, true {1, 2} → 1/3.
        let iou = task_metric(
            TaskKind::Segmentation,
            &[2.0, 1.0, -1.0, 5.0, 5.0, 5.0],
            3,
            &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0],
            &[1.0, 0.0],
        );
        assert!((iou - 1.0 / 3.0).abs() < 1e-12, "pooled IoU, got {iou}");
    }
}
