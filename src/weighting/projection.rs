//! Placeholder until the projection family lands.
use super::api::{MethodInfo, Params, Strategy, WeightingError};
/// None yet.
pub const METHODS: &[MethodInfo] = &[];
/// None yet.
pub fn build(
    _key: &str,
    _params: &Params,
    _k: usize,
) -> Option<Result<Box<dyn Strategy>, WeightingError>> {
    None
}
