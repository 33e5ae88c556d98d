//! Where the data of an experiment come from: [`DatasetSpec`] and each source's settings.
//! They are defined with their sources in [`crate::data::source`]; the spec names them here.

pub use crate::data::source::{
    CsvColumnRole, CsvSpec, DatasetSpec, IdxSpec, MmoeSpec, MultiDigitsSpec, PlaygroundSpec,
    ShapesSpec, ShippedSpec,
};
