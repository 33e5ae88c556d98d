//! Per-layer aggregation: a gradient strategy applied to each shared layer's (or each
//! parameter tensor's) gradient separately instead of to the whole trunk's, as LibMTL's
//! GradVac does with `GradVac_group_type` 1 and 2 and as TorchJD's per-layer mode does for
//! any aggregator. An option (`aggregate_per`) of every gradient strategy that works on
//! parameter gradients ([`supports`]).
//!
//! Each group gets its own instance of the strategy, so a strategy with state (Nash-MTL's
//! previous weights, DB-MTL's buffers, CR-MOGM's average) keeps one state per group. The
//! groups share the step's random stream, visited in layer order.

use std::ops::Range;

use rand_chacha::ChaCha8Rng;

use super::api::{
    Choice, Family, MethodInfo, Params, RepGrad, SharedLayout, StepInput, StepOutput, Strategy,
    WeightingError, weighted_sum,
};

/// `aggregate_per`: `model` keeps the strategy as it is.
pub const AGGREGATE_PER: Choice = Choice {
    name: "aggregate_per",
    default: "model",
    allowed: &["model", "layer", "tensor"],
    help: "Apply the strategy to the whole trunk's gradient (model), to each shared layer's \
           gradient separately (layer: a weight and its bias together), or to each parameter \
           tensor's (tensor). Each group keeps its own state.",
};

/// The gradient strategies that do not take the option: GradDrop already works entry by
/// entry, and GradVac has it as its own `GradVac_group_type` (LibMTL's semantics: one random
/// order of the tasks for all groups).
const UNSUPPORTED: [&str; 3] = ["graddrop", "gradvac", "gradnorm"];

/// Whether strategy `m` takes the `aggregate_per` option: a gradient strategy that can work
/// on parameter gradients (groups are slices of the parameter gradient).
pub fn supports(m: &MethodInfo) -> bool {
    m.family == Family::Gradient && m.rep_grad != RepGrad::Required && !UNSUPPORTED.contains(&m.key)
}

/// Builds one instance of the strategy (with its other options applied).
pub type Make = Box<dyn Fn() -> Result<Box<dyn Strategy>, WeightingError> + Send>;

/// The strategy `make` builds, applied per group when `params` set `aggregate_per` to
/// `layer` or `tensor` (`info` is the strategy's; unchanged for `model` or a strategy that
/// does not take the option).
pub fn wrap(
    info: &MethodInfo,
    make: Make,
    params: &Params,
) -> Result<Box<dyn Strategy>, WeightingError> {
    let first = make()?;
    if !supports(info) {
        return Ok(first);
    }
    let tensors = match AGGREGATE_PER.read(info.key, params)? {
        "layer" => false,
        "tensor" => true,
        _ => return Ok(first),
    };
    Ok(Box::new(PerLayer {
        make,
        tensors,
        groups: Vec::new(),
        inner: vec![first],
        notice: None,
    }))
}

/// One instance of the strategy per group of the shared gradient. The update is the
/// concatenation of each group's combined gradient. `weights`, `effective` and
/// `head_weights` are the means over the groups (with more than one group no single
/// coefficient vector reproduces the update).
struct PerLayer {
    make: Make,
    /// Groups are parameter tensors, not layers.
    tensors: bool,
    /// The groups' ranges in the shared gradient; empty until [`Strategy::set_layout`].
    groups: Vec<Range<usize>>,
    /// One instance per group (one before the layout is known).
    inner: Vec<Box<dyn Strategy>>,
    /// The first group's notice of the last step, with its group named.
    notice: Option<String>,
}

/// The entries `range` of every row of `rows`.
fn slice_rows(rows: &[Vec<f64>], range: &Range<usize>) -> Vec<Vec<f64>> {
    rows.iter().map(|r| r[range.clone()].to_vec()).collect()
}

impl PerLayer {
    /// Combines each group on its slice of the gradients.
    fn combine_groups(
        &mut self,
        input: &StepInput<'_>,
        grads: &[Vec<f64>],
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        let d = self.groups.last().map_or(0, |r| r.end);
        if let Some(row) = grads.iter().find(|g| g.len() != d) {
            return Err(WeightingError(format!(
                "aggregate_per: the gradients have {} entries but the shared layers {d}",
                row.len()
            )));
        }
        let k = grads.len();
        let mut shared = vec![0.0; d];
        let mut sums = [vec![0.0; k], vec![0.0; k], vec![0.0; k]];
        self.notice = None;
        let unit = if self.tensors { "tensor" } else { "layer" };
        for (g, (range, strategy)) in self.groups.iter().zip(&mut self.inner).enumerate() {
            let sliced = slice_rows(grads, range);
            let samples: Vec<Vec<Vec<f64>>> =
                input.samples.iter().map(|s| slice_rows(s, range)).collect();
            let sub = StepInput {
                grads: Some(&sliced),
                samples: &samples,
                ..*input
            };
            let out = strategy
                .combine(&sub, rng)
                .map_err(|e| WeightingError(format!("shared {unit} {g}: {e}")))?;
            let part = match out.shared_grad {
                Some(p) => p,
                None => weighted_sum(&sliced, &out.effective),
            };
            shared[range.clone()].copy_from_slice(&part);
            for (sum, v) in sums
                .iter_mut()
                .zip([&out.weights, &out.effective, &out.head_weights])
            {
                for (s, x) in sum.iter_mut().zip(v) {
                    *s += x;
                }
            }
            if self.notice.is_none()
                && let Some(n) = strategy.notice()
            {
                self.notice = Some(format!("shared {unit} {g}: {n}"));
            }
        }
        let groups = self.groups.len() as f64;
        let [weights, effective, head_weights] =
            sums.map(|v| v.iter().map(|x| x / groups).collect());
        Ok(StepOutput {
            shared_grad: Some(shared),
            weights,
            effective,
            head_weights,
        })
    }
}

impl Strategy for PerLayer {
    fn name(&self) -> &'static str {
        self.inner[0].name()
    }

    fn needs_grads(&self, epoch: usize) -> bool {
        self.inner[0].needs_grads(epoch)
    }

    fn combine(
        &mut self,
        input: &StepInput<'_>,
        rng: &mut ChaCha8Rng,
    ) -> Result<StepOutput, WeightingError> {
        match input.grads {
            Some(grads) if self.groups.len() > 1 => self.combine_groups(input, grads, rng),
            _ => {
                let out = self.inner[0].combine(input, rng);
                self.notice = self.inner[0].notice().map(str::to_owned);
                out
            }
        }
    }

    fn after_step(&mut self, losses_after: &[f64]) {
        for s in &mut self.inner {
            s.after_step(losses_after);
        }
    }

    fn needs_losses_after(&self) -> bool {
        self.inner[0].needs_losses_after()
    }

    fn gradient_samples(&self) -> usize {
        self.inner[0].gradient_samples()
    }

    fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    fn learn(&mut self, lr: f64) {
        for s in &mut self.inner {
            s.learn(lr);
        }
    }

    /// Every group's state, its entries named `group <g>.<entry>`.
    fn state(&self) -> super::StrategyState {
        let mut out = super::StrategyState::default();
        for (g, s) in self.inner.iter().enumerate() {
            for (name, values) in s.state().entries {
                out.entries.push((format!("group {g}.{name}"), values));
            }
        }
        out
    }

    fn restore(&mut self, state: &super::StrategyState) -> Result<(), WeightingError> {
        let mut per_group = vec![super::StrategyState::default(); self.inner.len()];
        for (name, values) in &state.entries {
            let parsed = name
                .strip_prefix("group ")
                .and_then(|rest| rest.split_once('.'))
                .and_then(|(g, entry)| Some((g.parse::<usize>().ok()?, entry)));
            match parsed {
                Some((g, entry)) if g < per_group.len() => {
                    per_group[g]
                        .entries
                        .push((entry.to_owned(), values.clone()));
                }
                _ => {
                    return Err(WeightingError(format!(
                        "{}: state entry '{name}' belongs to no group of the {} shared groups",
                        self.name(),
                        self.inner.len()
                    )));
                }
            }
        }
        // A group that refuses puts the groups restored before it back as they were, so a
        // bad state changes nothing.
        let before: Vec<super::StrategyState> = self.inner.iter().map(|s| s.state()).collect();
        for (g, group_state) in per_group.iter().enumerate() {
            if let Err(e) = self.inner[g].restore(group_state) {
                for (s, old) in self.inner.iter_mut().zip(&before).take(g) {
                    // Their own state always fits them.
                    let _ = s.restore(old);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn set_layout(&mut self, layout: &SharedLayout) -> Result<(), WeightingError> {
        let groups = if self.tensors {
            &layout.tensors
        } else {
            &layout.layers
        };
        if groups.len() <= 1 {
            self.groups.clone_from(groups);
            return Ok(());
        }
        let mut inner = Vec::with_capacity(groups.len());
        for range in groups {
            let mut s = (self.make)()?;
            let one = SharedLayout::from_sizes(&[vec![range.len()]]);
            s.set_layout(&one)?;
            inner.push(s);
        }
        self.inner = inner;
        self.groups.clone_from(groups);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weighting::testing::{close_msg, input, pairs, rng};
    use crate::weighting::{build, methods};

    /// Two layers of 3 and 2 entries; per layer, MGDA solves each block on its own.
    #[test]
    fn each_layer_is_combined_on_its_own_slice() {
        let g = vec![
            vec![1.0, 0.0, 2.0, -1.0, 0.5],
            vec![0.0, 1.0, -1.0, 2.0, 0.5],
        ];
        let layout = SharedLayout::from_sizes(&[vec![2, 1], vec![2]]);
        let mut per = build("mgda", &pairs(&[("aggregate_per", "layer".into())]), 2).unwrap();
        per.set_layout(&layout).unwrap();
        let out = per
            .combine(&input(0, &[1.0, 1.0], Some(&g), &[]), &mut rng())
            .unwrap();
        let shared = out.shared_grad.unwrap();
        for range in &layout.layers {
            let block = slice_rows(&g, range);
            let mut one = build("mgda", &Params::new(), 2).unwrap();
            let want = one
                .combine(&input(0, &[1.0, 1.0], Some(&block), &[]), &mut rng())
                .unwrap()
                .shared_grad
                .unwrap();
            close_msg(&shared[range.clone()], &want, 1e-15, "block");
        }
        // Per tensor there are three groups: the first layer splits in two.
        let mut per = build("mgda", &pairs(&[("aggregate_per", "tensor".into())]), 2).unwrap();
        per.set_layout(&layout).unwrap();
        let tensor = per
            .combine(&input(0, &[1.0, 1.0], Some(&g), &[]), &mut rng())
            .unwrap()
            .shared_grad
            .unwrap();
        let mut one = build("mgda", &Params::new(), 2).unwrap();
        let third = one
            .combine(
                &input(0, &[1.0, 1.0], Some(&slice_rows(&g, &(2..3))), &[]),
                &mut rng(),
            )
            .unwrap()
            .shared_grad
            .unwrap();
        close_msg(&tensor[2..3], &third, 1e-15, "the 1-entry tensor");
        assert!(
            (tensor[2] - shared[2]).abs() > 1e-6,
            "per tensor differs from per layer on the split layer: {tensor:?} vs {shared:?}"
        );
    }

    /// With one group, or before a layout is given, the option changes nothing.
    #[test]
    fn one_group_is_the_whole_model() {
        let g = vec![vec![1.0, 0.3, -2.0], vec![-0.5, 1.0, 0.25]];
        for key in ["pcgrad", "cagrad", "nash_mtl", "upgrad"] {
            let mut plain = build(key, &Params::new(), 2).unwrap();
            let mut per = build(key, &pairs(&[("aggregate_per", "layer".into())]), 2).unwrap();
            per.set_layout(&SharedLayout::from_sizes(&[vec![2, 1]]))
                .unwrap();
            let i = input(0, &[1.0, 2.0], Some(&g), &[]);
            let a = plain.combine(&i, &mut rng()).unwrap();
            let b = per.combine(&i, &mut rng()).unwrap();
            close_msg(
                b.shared_grad.as_ref().unwrap(),
                a.shared_grad.as_ref().unwrap(),
                1e-12,
                key,
            );
        }
    }

    /// Every gradient strategy on parameter gradients takes the option but GradDrop and
    /// GradVac; the loss-based ones refuse it by name, and an unknown value is refused.
    #[test]
    fn the_option_is_offered_where_it_applies() {
        let p = pairs(&[("aggregate_per", "layer".into())]);
        for m in methods() {
            let built = build(m.key, &p, 2);
            assert_eq!(built.is_ok(), supports(m), "{}: {:?}", m.key, built.err());
        }
        let bad = pairs(&[("aggregate_per", "row".into())]);
        let err = build("pcgrad", &bad, 2).err().unwrap();
        assert!(err.0.contains("aggregate_per"), "{err}");
    }

    /// Gradients that do not match the layout are an error naming both lengths.
    #[test]
    fn a_layout_of_another_length_is_an_error() {
        let mut per = build("pcgrad", &pairs(&[("aggregate_per", "layer".into())]), 2).unwrap();
        per.set_layout(&SharedLayout::from_sizes(&[vec![2], vec![2]]))
            .unwrap();
        let g = vec![vec![1.0, 0.0, 1.0], vec![0.0, 1.0, 1.0]];
        let err = per
            .combine(&input(0, &[1.0, 1.0], Some(&g), &[]), &mut rng())
            .err()
            .unwrap();
        assert!(err.0.contains('3') && err.0.contains('4'), "{err}");
    }
}
