//! MultiDigits: pairs of the shipped Digits images overlaid on one 11 × 11 canvas (after
//! Sener & Koltun 2018's MultiMNIST, at 8 × 8 cost); tasks `left` and `right`.

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::shipped::{DIGIT_SIDE, Shipped, load};
use super::{DatasetSpec, Source};
use crate::data::{DataError, Dataset, SplitTag, TargetColumn};
use crate::rng;
use crate::task::{TaskKind, TaskSpec};

/// Parameters of MultiDigits (see `data::shipped::multi_digits`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MultiDigitsSpec {
    /// Number of pairs (about a fifth are validation pairs made of held-out digits).
    pub samples: usize,
    /// How far the right digit is shifted right and down, in pixels (0..=3; smaller overlaps
    /// more).
    pub offset: usize,
}

impl Default for MultiDigitsSpec {
    fn default() -> Self {
        Self {
            samples: 9000,
            offset: 3,
        }
    }
}

/// Side of a MultiDigits canvas.
pub const MULTI_DIGITS_SIDE: usize = 11;
/// MultiDigits: two Digits images on one 11 × 11 canvas, the left one at the top left and
/// the right one shifted by `offset` pixels right and down, overlapping pixels taking the
/// maximum (after Sener & Koltun 2018's MultiMNIST, at 8 × 8 cost). Tasks `left` and `right`
/// (10 classes each).
///
/// The digits are split first (seeded, 80/20) and pairs are made within each part, so no
/// digit image of the validation pairs is seen in training. Each digit is a left digit in
/// turn; its partner is drawn at random from the same part.
pub fn multi_digits(spec: &MultiDigitsSpec, seed: u64) -> Result<Dataset, DataError> {
    let digits = load(Shipped::Digits, &[])?;
    let label = digits
        .target("digit")
        .ok_or_else(|| DataError::Mismatch("the Digits file has no digit column".to_owned()))?;
    let n = digits.rows;
    let d = digits.features();
    let side = MULTI_DIGITS_SIDE;
    let offset = spec.offset.min(side - DIGIT_SIDE);
    let mut order: Vec<usize> = (0..n).collect();
    rand::seq::SliceRandom::shuffle(
        order.as_mut_slice(),
        &mut rng::stream(seed, "multidigits.split"),
    );
    let n_val = n / 5;
    let (val_digits, train_digits) = order.split_at(n_val);
    let n_pairs_val = (spec.samples as f64 * n_val as f64 / n as f64).round() as usize;
    let parts = [
        (train_digits, spec.samples - n_pairs_val, SplitTag::Train),
        (val_digits, n_pairs_val, SplitTag::Val),
    ];
    let mut rng = rng::stream(seed, "multidigits.pairs");
    let mut x = Vec::with_capacity(spec.samples * side * side);
    let (mut left, mut right, mut split) = (Vec::new(), Vec::new(), Vec::new());
    for (pool, count, tag) in parts {
        for p in 0..count {
            let a = pool[p % pool.len()];
            let b = pool[rng.random_range(0..pool.len())];
            let mut canvas = vec![0.0f32; side * side];
            for (img, shift) in [(a, 0), (b, offset)] {
                for r in 0..DIGIT_SIDE {
                    for c in 0..DIGIT_SIDE {
                        let v = digits.x[img * d + r * DIGIT_SIDE + c];
                        let cell = &mut canvas[(r + shift) * side + c + shift];
                        *cell = cell.max(v);
                    }
                }
            }
            x.extend(canvas);
            left.push(label.values[a]);
            right.push(label.values[b]);
            split.push(tag);
        }
    }
    let column = |name: &str, values: Vec<f32>| TargetColumn {
        name: name.to_owned(),
        kind: TaskKind::Multiclass,
        present: vec![true; values.len()],
        values,
        classes: label.classes.clone(),
        width: 1,
    };
    Ok(Dataset {
        name: "MultiDigits".to_owned(),
        feature_names: (0..side * side).map(|i| format!("p{i}")).collect(),
        rows: left.len(),
        x,
        targets: vec![column("left", left), column("right", right)],
        split: Some(split),
        encoding: None,
    })
}

/// MultiDigits' targets.
pub fn multi_digits_targets() -> Vec<(String, TaskKind)> {
    vec![
        ("left".to_owned(), TaskKind::Multiclass),
        ("right".to_owned(), TaskKind::Multiclass),
    ]
}
impl Source for MultiDigitsSpec {
    fn label(&self) -> String {
        "MultiDigits".to_owned()
    }

    fn targets(&self) -> Option<Vec<(String, TaskKind)>> {
        Some(multi_digits_targets())
    }

    fn input_size(&self) -> Option<usize> {
        Some(MULTI_DIGITS_SIDE * MULTI_DIGITS_SIDE)
    }

    fn image_shape(&self) -> Option<[usize; 3]> {
        Some([1, MULTI_DIGITS_SIDE, MULTI_DIGITS_SIDE])
    }

    fn rows(&self) -> Option<usize> {
        Some(self.samples)
    }

    fn preview(&self) -> DatasetSpec {
        DatasetSpec::MultiDigits(Self {
            samples: self.samples.min(2000),
            ..self.clone()
        })
    }

    fn load(&self, seed: u64, _tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
        multi_digits(self, seed)
    }

    fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if self.samples < 10 || self.samples > 200_000 {
            out.push((
                "samples",
                format!("{} must be in 10..=200000", self.samples),
            ));
        }
        if self.offset > 3 {
            out.push(("offset", format!("{} must be in 0..=3", self.offset)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_digits_overlays_two_digits_and_keeps_splits_apart() {
        let spec = MultiDigitsSpec {
            samples: 500,
            offset: 3,
        };
        let data = multi_digits(&spec, 7).expect("multidigits");
        assert_eq!(data.rows, 500);
        assert_eq!(data.features(), 121);
        let tags = data.split.as_ref().expect("split");
        let val = tags.iter().filter(|t| **t == SplitTag::Val).count();
        assert!(
            (90..=110).contains(&val),
            "about a fifth are validation pairs: {val}"
        );
        // The bottom-right corner holds only the right digit's pixels, the top-left only
        // the left digit's.
        assert!(data.x.iter().any(|v| *v > 0.0));
        let again = multi_digits(&spec, 7).expect("again");
        assert_eq!(data.x, again.x, "same seed, same pairs");
    }
}
