//! The generated datasets under the path they had before each source got its own file in
//! [`super::source`]: [`mmoe`], [`playground`] and [`shapes`], fully determined by their
//! parameters and a seed.

pub use super::source::mmoe::{mmoe, mmoe_targets};
pub use super::source::playground::{PLAYGROUND_DIM, playground, playground_targets};
pub use super::source::shapes::{SHAPES_SIDE, shapes, shapes_targets};
