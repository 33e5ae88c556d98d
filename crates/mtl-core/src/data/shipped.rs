//! The real datasets embedded in the binary and MultiDigits, under the path they had before
//! each source got its own file in [`super::source`].

pub use super::source::multi_digits::{MULTI_DIGITS_SIDE, multi_digits, multi_digits_targets};
pub use super::source::shipped::{DIGIT_SIDE, Shipped, load};
