//! The GUI's panels. Each file draws one part and edits plain data; only `theme.rs` makes
//! colours.

pub mod composer;
pub mod history;
pub mod plots;
pub mod settings;
pub mod theme;
