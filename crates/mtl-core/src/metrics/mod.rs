//! Per-task metrics and the bounded history that charts draw from.

pub mod affinity;
pub mod history;

use crate::experiment::TaskKind;

/// Loss and metric of one task on one split.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskEval {
    /// Masked mean loss (NaN without labels).
    pub loss: f64,
    /// The kind's headline metric: R², accuracy or IoU (NaN without labels).
    pub metric: f64,
    /// Every metric of `metrics::metric_keys(kind)`, in that order (the first is `metric`).
    pub all: Vec<f64>,
}

/// The metric keys of a task kind, as written in metrics files; the first is the headline
/// metric that the charts draw.
///
/// - regression: `r2` (1 − SSE/SST), `mse` and `mae` in the target's original units
/// - binary and multiclass: `accuracy`, `balanced_accuracy` (mean recall over the classes
///   present), `f1` (of the positive class for binary; macro over the classes seen in labels
///   or predictions for multiclass) and `auc` (ROC AUC from the scores; one-vs-rest macro
///   over classes that have both positives and negatives for multiclass)
/// - segmentation: `iou` (pooled over all labelled pixels; 1 when both masks are empty) and
///   `pixel_accuracy`
pub fn metric_keys(kind: TaskKind) -> &'static [&'static str] {
    match kind {
        TaskKind::Regression => &["r2", "mse", "mae"],
        TaskKind::Binary | TaskKind::Multiclass => &["accuracy", "balanced_accuracy", "f1", "auc"],
        TaskKind::Segmentation => &["iou", "pixel_accuracy"],
        TaskKind::SemanticSegmentation => &["miou", "pixel_accuracy"],
    }
}

/// A metric key as people read it.
pub fn metric_label(key: &str) -> &'static str {
    match key {
        "r2" => "R²",
        "mse" => "MSE",
        "mae" => "MAE",
        "accuracy" => "accuracy",
        "balanced_accuracy" => "balanced acc.",
        "f1" => "F1",
        "auc" => "AUC",
        "iou" => "IoU",
        "miou" => "mIoU",
        "pixel_accuracy" => "pixel acc.",
        _ => "metric",
    }
}

/// The headline metric of a task kind (the first of [`task_metrics`]).
pub fn task_metric(
    kind: TaskKind,
    outputs: &[f32],
    out: usize,
    values: &[f32],
    mask: &[f32],
) -> f64 {
    task_metrics(kind, outputs, out, values, mask, 1.0)
        .first()
        .copied()
        .unwrap_or(f64::NAN)
}

/// Every metric of [`metric_keys`]`(kind)`, in that order, computed on CPU from model outputs.
///
/// `outputs` is row-major `[rows, out]` (logits for classification and segmentation);
/// `values` is `[rows]` (`[rows, out]` for segmentation) and `mask` `[rows]`. `scale` turns a
/// regression output back into original units (the target's standard deviation; errors are
/// multiplied by it, squared errors by its square). A metric without labelled rows, or one that
/// is undefined (R² of a constant target, AUC with one class), is NaN.
pub fn task_metrics(
    kind: TaskKind,
    outputs: &[f32],
    out: usize,
    values: &[f32],
    mask: &[f32],
    scale: f64,
) -> Vec<f64> {
    if kind == TaskKind::Segmentation {
        return mask_metrics(outputs, out, values, mask);
    }
    if kind == TaskKind::SemanticSegmentation {
        return semantic_metrics(outputs, out, values, mask);
    }
    let labelled: Vec<(usize, f64)> = values
        .iter()
        .zip(mask)
        .enumerate()
        .filter(|(_, (_, m))| **m > 0.0)
        .map(|(i, (v, _))| (i, f64::from(*v)))
        .collect();
    if labelled.is_empty() {
        return vec![f64::NAN; metric_keys(kind).len()];
    }
    match kind {
        TaskKind::Regression => regression_metrics(outputs, out, &labelled, scale),
        _ => classification_metrics(kind, outputs, out, &labelled),
    }
}

fn regression_metrics(
    outputs: &[f32],
    out: usize,
    labelled: &[(usize, f64)],
    scale: f64,
) -> Vec<f64> {
    let n = labelled.len() as f64;
    let mean = labelled.iter().map(|(_, v)| v).sum::<f64>() / n;
    let (mut sse, mut sae, mut sst) = (0.0, 0.0, 0.0);
    for &(i, v) in labelled {
        let e = f64::from(outputs[i * out]) - v;
        sse += e * e;
        sae += e.abs();
        sst += (v - mean).powi(2);
    }
    let r2 = if sst > 0.0 { 1.0 - sse / sst } else { f64::NAN };
    vec![r2, sse / n * scale * scale, sae / n * scale.abs()]
}

fn classification_metrics(
    kind: TaskKind,
    outputs: &[f32],
    out: usize,
    labelled: &[(usize, f64)],
) -> Vec<f64> {
    let classes = if kind == TaskKind::Binary {
        2
    } else {
        out.max(1)
    };
    let row = |i: usize| &outputs[i * out..(i + 1) * out];
    let predict = |i: usize| {
        if kind == TaskKind::Binary {
            usize::from(outputs[i * out] > 0.0)
        } else {
            argmax(row(i))
        }
    };
    // Truth may name a class beyond the outputs only in a malformed call; clamp it.
    let truth = |v: f64| (v.max(0.0).round() as usize).min(classes - 1);
    let (mut tp, mut fp, mut fnn, mut support) = (
        vec![0usize; classes],
        vec![0usize; classes],
        vec![0usize; classes],
        vec![0usize; classes],
    );
    for &(i, v) in labelled {
        let (p, t) = (predict(i), truth(v));
        support[t] += 1;
        if p == t {
            tp[t] += 1;
        } else {
            fp[p] += 1;
            fnn[t] += 1;
        }
    }
    let n = labelled.len() as f64;
    let accuracy = tp.iter().sum::<usize>() as f64 / n;
    let recalls: Vec<f64> = (0..classes)
        .filter(|&c| support[c] > 0)
        .map(|c| tp[c] as f64 / support[c] as f64)
        .collect();
    let balanced = recalls.iter().sum::<f64>() / recalls.len() as f64;
    let f1_of = |c: usize| {
        let d = 2 * tp[c] + fp[c] + fnn[c];
        if d == 0 {
            0.0
        } else {
            2.0 * tp[c] as f64 / d as f64
        }
    };
    let f1 = if kind == TaskKind::Binary {
        f1_of(1)
    } else {
        let seen: Vec<usize> = (0..classes).filter(|&c| support[c] + fp[c] > 0).collect();
        seen.iter().map(|&c| f1_of(c)).sum::<f64>() / seen.len() as f64
    };
    let auc = if kind == TaskKind::Binary {
        let scored: Vec<(f64, bool)> = labelled
            .iter()
            .map(|&(i, v)| (f64::from(outputs[i * out]), truth(v) == 1))
            .collect();
        roc_auc(&scored)
    } else {
        let probs: Vec<Vec<f64>> = labelled.iter().map(|&(i, _)| softmax(row(i))).collect();
        let aucs: Vec<f64> = (0..classes)
            .map(|c| {
                let scored: Vec<(f64, bool)> = labelled
                    .iter()
                    .zip(&probs)
                    .map(|(&(_, v), p)| (p[c], truth(v) == c))
                    .collect();
                roc_auc(&scored)
            })
            .filter(|a| a.is_finite())
            .collect();
        if aucs.is_empty() {
            f64::NAN
        } else {
            aucs.iter().sum::<f64>() / aucs.len() as f64
        }
    };
    vec![accuracy, balanced, f1, auc]
}

fn softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v));
    let e: Vec<f64> = row.iter().map(|v| f64::from(*v - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

/// Area under the ROC curve of `(score, positive)` pairs: the Mann-Whitney statistic with
/// tied scores given their average rank. NaN without both positives and negatives.
pub fn roc_auc(scored: &[(f64, bool)]) -> f64 {
    let positives = scored.iter().filter(|(_, p)| *p).count();
    let negatives = scored.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    let mut sorted: Vec<(f64, bool)> = scored.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1].0 == sorted[i].0 {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their mean.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += rank * sorted[i..=j].iter().filter(|(_, p)| *p).count() as f64;
        i = j + 1;
    }
    let p = positives as f64;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64)
}

/// Mean IoU over classes (each pooled over all labelled pixels; classes absent from both
/// prediction and truth are left out) and pixel accuracy, for class-major logits
/// `[rows, classes × pixels]` and per-pixel class indices `[rows, pixels]`.
fn semantic_metrics(outputs: &[f32], out: usize, values: &[f32], mask: &[f32]) -> Vec<f64> {
    let rows = mask.len().max(1);
    let pixels = values.len() / rows;
    let classes = out / pixels.max(1);
    let (mut inter, mut union) = (vec![0usize; classes], vec![0usize; classes]);
    let (mut right, mut seen) = (0usize, 0usize);
    for (r, m) in mask.iter().enumerate() {
        if *m <= 0.0 {
            continue;
        }
        let logits = &outputs[r * out..(r + 1) * out];
        for p in 0..pixels {
            let pred = (0..classes)
                .max_by(|a, b| logits[a * pixels + p].total_cmp(&logits[b * pixels + p]))
                .unwrap_or(0);
            let truth = (values[r * pixels + p].max(0.0) as usize).min(classes.saturating_sub(1));
            seen += 1;
            if pred == truth {
                right += 1;
                inter[pred] += 1;
                union[pred] += 1;
            } else {
                union[pred] += 1;
                union[truth] += 1;
            }
        }
    }
    if seen == 0 {
        return vec![f64::NAN; 2];
    }
    let ious: Vec<f64> = (0..classes)
        .filter(|&c| union[c] > 0)
        .map(|c| inter[c] as f64 / union[c] as f64)
        .collect();
    let miou = ious.iter().sum::<f64>() / ious.len().max(1) as f64;
    vec![miou, right as f64 / seen as f64]
}

/// Pooled IoU and pixel accuracy of predicted (logit > 0) and true masks over the labelled
/// rows.
fn mask_metrics(outputs: &[f32], out: usize, values: &[f32], mask: &[f32]) -> Vec<f64> {
    let (mut inter, mut union, mut right, mut rows) = (0usize, 0usize, 0usize, 0usize);
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
            right += usize::from(p == t);
        }
    }
    if rows == 0 {
        return vec![f64::NAN; 2];
    }
    let iou = if union == 0 {
        1.0
    } else {
        inter as f64 / union as f64
    };
    vec![iou, right as f64 / (rows * out) as f64]
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

    #[test]
    fn regression_errors_in_original_units() {
        // Standardised outputs off by 0.5 and -1.0 with a target std of 2.
        let m = task_metrics(
            TaskKind::Regression,
            &[1.5, 1.0],
            1,
            &[1.0, 2.0],
            &[1.0, 1.0],
            2.0,
        );
        assert!((m[1] - (0.25 + 1.0) / 2.0 * 4.0).abs() < 1e-9, "mse {m:?}");
        assert!((m[2] - 1.5 / 2.0 * 2.0).abs() < 1e-9, "mae {m:?}");
    }

    #[test]
    fn classification_metrics_match_hand_counts() {
        // Truth 1,1,1,0,0 ; logits predict 1,1,0,0,1.
        let logits = [2.0, 0.5, -0.2, -3.0, 0.1];
        let truth = [1.0, 1.0, 1.0, 0.0, 0.0];
        let m = task_metrics(TaskKind::Binary, &logits, 1, &truth, &[1.0; 5], 1.0);
        assert!((m[0] - 0.6).abs() < 1e-12, "accuracy {m:?}");
        // Recall of 1: 2/3, of 0: 1/2.
        assert!(
            (m[1] - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12,
            "balanced {m:?}"
        );
        // Positive class: tp 2, fp 1, fn 1.
        assert!((m[2] - 4.0 / 6.0).abs() < 1e-12, "f1 {m:?}");
        // Pairs (pos, neg) ranked right: 2.0>all, 0.5>both, -0.2>-3.0 only → 5 of 6.
        assert!((m[3] - 5.0 / 6.0).abs() < 1e-12, "auc {m:?}");
        // Multiclass: 3 rows, classes 0,1,2, one wrong.
        let logits = [5.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 5.0, 0.0];
        let m = task_metrics(
            TaskKind::Multiclass,
            &logits,
            3,
            &[0.0, 1.0, 2.0],
            &[1.0; 3],
            1.0,
        );
        assert!((m[0] - 2.0 / 3.0).abs() < 1e-12, "accuracy {m:?}");
        assert!((m[1] - 2.0 / 3.0).abs() < 1e-12, "balanced {m:?}");
        // F1: class 0 → 1, class 1 → 2/3 (tp 1, fp 1), class 2 → 0.
        assert!(
            (m[2] - (1.0 + 2.0 / 3.0) / 3.0).abs() < 1e-12,
            "macro f1 {m:?}"
        );
    }

    #[test]
    fn auc_handles_ties_and_one_class() {
        assert!((roc_auc(&[(0.5, true), (0.5, false)]) - 0.5).abs() < 1e-12);
        assert!((roc_auc(&[(0.9, true), (0.1, false), (0.2, false)]) - 1.0).abs() < 1e-12);
        assert!(roc_auc(&[(0.9, true), (0.1, true)]).is_nan());
    }

    #[test]
    fn semantic_miou_pools_each_class() {
        // 2 pixels, 3 classes, class-major: pixel 0 predicts class 2, pixel 1 class 0.
        let logits = [0.0, 1.0, 2.0, 0.0, 3.0, -1.0];
        let m = task_metrics(
            TaskKind::SemanticSegmentation,
            &logits,
            6,
            &[2.0, 1.0],
            &[1.0],
            1.0,
        );
        // Class 2: hit (IoU 1); class 0: predicted, not true (0); class 1: true, missed (0).
        assert!((m[0] - 1.0 / 3.0).abs() < 1e-12, "miou {m:?}");
        assert!((m[1] - 0.5).abs() < 1e-12, "pixel accuracy {m:?}");
    }

    #[test]
    fn pixel_accuracy_counts_labelled_pixels() {
        let m = task_metrics(
            TaskKind::Segmentation,
            &[2.0, 1.0, -1.0, 5.0, 5.0, 5.0],
            3,
            &[0.0, 1.0, 1.0, 0.0, 0.0, 0.0],
            &[1.0, 0.0],
            1.0,
        );
        assert!(
            (m[1] - 1.0 / 3.0).abs() < 1e-12,
            "one of three pixels right: {m:?}"
        );
    }
}
