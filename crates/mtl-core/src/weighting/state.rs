//! A strategy's state between steps (UW's log-variances, FAMO's logits and Adam moments,
//! GradVac's target cosines, Nash-MTL's warm start, …) as named arrays of numbers, so a
//! checkpoint can save it and a resumed run continue exactly where it was
//! ([`super::Strategy::state`], [`super::Strategy::restore`]).
//!
//! Every number is an `f64`, saved bit for bit; counts are whole numbers below 2⁵³. A
//! matrix of K rows is saved flattened (row-major) and cut back into K rows on restore; an
//! absent `Option` is an absent entry.

use super::api::WeightingError;

/// A strategy's state: named arrays of numbers, in the strategy's order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrategyState {
    /// `(name, values)`, each name once.
    pub entries: Vec<(String, Vec<f64>)>,
}

impl StrategyState {
    /// Adds an array.
    pub fn push(&mut self, name: &str, values: &[f64]) {
        self.entries.push((name.to_owned(), values.to_vec()));
    }

    /// Adds an array when there is one.
    pub fn push_opt(&mut self, name: &str, values: Option<&[f64]>) {
        if let Some(v) = values {
            self.push(name, v);
        }
    }

    /// Adds a number (a count is saved as a number too).
    pub fn push_scalar(&mut self, name: &str, value: f64) {
        self.push(name, &[value]);
    }

    /// Adds a matrix of rows, flattened, when there is one.
    pub fn push_rows(&mut self, name: &str, rows: Option<&[Vec<f64>]>) {
        if let Some(rows) = rows {
            self.entries.push((name.to_owned(), rows.concat()));
        }
    }

    /// Whether there is nothing to save (a stateless strategy).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry called `name`.
    pub fn get(&self, name: &str) -> Option<&[f64]> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
    }
}

/// Reads a [`StrategyState`] back, checking every entry's length, and refuses entries the
/// strategy does not have ([`StateReader::finish`]). A strategy reads everything first and
/// changes itself only when every read succeeded, so a bad state changes nothing.
pub struct StateReader<'a> {
    method: &'a str,
    state: &'a StrategyState,
    read: Vec<&'a str>,
}

impl<'a> StateReader<'a> {
    /// A reader of `state` for strategy `method` (named in errors).
    pub fn new(method: &'a str, state: &'a StrategyState) -> Self {
        Self {
            method,
            state,
            read: Vec::new(),
        }
    }

    fn error(&self, message: &str) -> WeightingError {
        WeightingError(format!("{}: saved state: {message}", self.method))
    }

    fn take(&mut self, name: &'a str) -> Option<&'a [f64]> {
        self.read.push(name);
        self.state.get(name)
    }

    /// The array `name`, of `len` values (`None` when absent).
    pub fn opt(&mut self, name: &'a str, len: usize) -> Result<Option<Vec<f64>>, WeightingError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) if v.len() == len => Ok(Some(v.to_vec())),
            Some(v) => Err(self.error(&format!(
                "'{name}' has {} values, the strategy needs {len}",
                v.len()
            ))),
        }
    }

    /// The array `name`, of `len` values; it must be there.
    pub fn vec(&mut self, name: &'a str, len: usize) -> Result<Vec<f64>, WeightingError> {
        self.opt(name, len)?
            .ok_or_else(|| self.error(&format!("'{name}' is missing")))
    }

    /// The number `name`; it must be there.
    pub fn scalar(&mut self, name: &'a str) -> Result<f64, WeightingError> {
        Ok(self.vec(name, 1)?[0])
    }

    /// The count `name`: a whole number ≥ 0; it must be there.
    pub fn count(&mut self, name: &'a str) -> Result<u64, WeightingError> {
        let v = self.scalar(name)?;
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 9_007_199_254_740_992.0 {
            Ok(v as u64)
        } else {
            Err(self.error(&format!("'{name}' = {v} is not a count")))
        }
    }

    /// The matrix `name` of `k` rows of equal length (`None` when absent).
    pub fn rows(
        &mut self,
        name: &'a str,
        k: usize,
    ) -> Result<Option<Vec<Vec<f64>>>, WeightingError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) if k > 0 && v.len().is_multiple_of(k) => {
                Ok(Some(v.chunks(v.len() / k).map(<[f64]>::to_vec).collect()))
            }
            Some(v) => Err(self.error(&format!(
                "'{name}' has {} values, not {k} rows of equal length",
                v.len()
            ))),
        }
    }

    /// Refuses entries that were not read (a state of another strategy or version).
    pub fn finish(self) -> Result<(), WeightingError> {
        match self
            .state
            .entries
            .iter()
            .find(|(n, _)| !self.read.contains(&n.as_str()))
        {
            Some((n, _)) => Err(self.error(&format!("unknown entry '{n}'"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_reads_back_and_bad_entries_are_named() {
        let mut s = StrategyState::default();
        s.push("w", &[1.0, -0.5]);
        s.push_scalar("step", 3.0);
        s.push_rows("y", Some(&[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]));
        s.push_opt("none", None);
        let mut r = StateReader::new("x", &s);
        assert_eq!(r.vec("w", 2).expect("w"), [1.0, -0.5]);
        assert_eq!(r.count("step").expect("step"), 3);
        let y = r.rows("y", 2).expect("y").expect("present");
        assert_eq!(y, [vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
        assert_eq!(r.opt("none", 2).expect("none"), None);
        r.finish().expect("all read");

        let mut r = StateReader::new("x", &s);
        let e = r.vec("w", 3).expect_err("wrong length");
        assert!(e.0.contains("'w' has 2 values"), "{e}");
        let e = StateReader::new("x", &s).finish().expect_err("unread");
        assert!(e.0.contains("unknown entry 'w'"), "{e}");
        let mut r = StateReader::new("x", &s);
        assert!(r.count("w").is_err(), "two values are no count");
        assert!(r.vec("absent", 1).is_err(), "missing");
    }
}
