//! The CSV reader and the import inspection on arbitrary bytes: any input gives a dataset or
//! an error, never a panic (see README, "Fuzzing").
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mtl_core::data::{csv, inspect};

fuzz_target!(|data: &[u8]| {
    let path = Path::new("fuzz.csv");
    if let Ok(d) = csv::parse(data, path, &[]) {
        // A parsed dataset is consistent.
        assert_eq!(d.x.len(), d.rows * d.features());
        for t in &d.targets {
            assert_eq!(t.present.len(), d.rows);
        }
    }
    let _ = inspect::inspect(data, path, &BTreeMap::new());
});
