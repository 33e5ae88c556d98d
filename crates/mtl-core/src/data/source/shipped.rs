//! Real datasets embedded in the binary (`assets/datasets/`, MTL-CSV v1 files; see
//! `assets/DATA_LICENSES.md`).
//!
//! The files are parsed by the same reader as users' CSV files, so a shipped dataset behaves
//! exactly like the file would when opened.

use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{DatasetSpec, Source};
use crate::data::{DataError, Dataset};
use crate::task::{TaskKind, TaskSpec};

/// A dataset shipped inside the app.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShippedSpec {
    /// Which one: `digits`, `penguins`, `adult`, `iris`, `wine`, `breast_cancer`,
    /// `diabetes` or `linnerud`.
    pub name: Shipped,
}

/// A dataset shipped inside the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Shipped {
    /// 1,797 8 × 8 handwritten digits: digit, parity, ≥ 5, ink.
    Digits,
    /// 344 Palmer penguins: species, sex, body mass; real missing values.
    Penguins,
    /// 48,842 adults of the 1994 US census: income > 50K, never married, hours per week.
    Adult,
    /// 150 irises: species and petal width.
    Iris,
    /// 178 wines: cultivar and alcohol.
    Wine,
    /// 569 breast tumours: diagnosis and three auxiliary "worst" measurements.
    BreastCancer,
    /// 442 diabetes patients: disease progression and log triglycerides.
    Diabetes,
    /// 20 men: weight, waist and pulse from three exercises.
    Linnerud,
}

impl Shipped {
    /// Every shipped dataset, in the order the GUI lists them.
    pub const ALL: [Self; 8] = [
        Self::Digits,
        Self::Penguins,
        Self::Adult,
        Self::Iris,
        Self::Wine,
        Self::BreastCancer,
        Self::Diabetes,
        Self::Linnerud,
    ];

    /// The embedded file's name (as in `assets/datasets/`).
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Digits => "digits_mtl.csv.gz",
            Self::Penguins => "penguins_mtl.csv",
            Self::Adult => "adult_mtl.csv.gz",
            Self::Iris => "iris_mtl.csv",
            Self::Wine => "wine_mtl.csv",
            Self::BreastCancer => "breast_cancer_mtl.csv",
            Self::Diabetes => "diabetes_mtl.csv",
            Self::Linnerud => "linnerud_mtl.csv",
        }
    }

    fn bytes(self) -> &'static [u8] {
        match self {
            Self::Digits => include_bytes!("../../../../../assets/datasets/digits_mtl.csv.gz"),
            Self::Penguins => include_bytes!("../../../../../assets/datasets/penguins_mtl.csv"),
            Self::Adult => include_bytes!("../../../../../assets/datasets/adult_mtl.csv.gz"),
            Self::Iris => include_bytes!("../../../../../assets/datasets/iris_mtl.csv"),
            Self::Wine => include_bytes!("../../../../../assets/datasets/wine_mtl.csv"),
            Self::BreastCancer => {
                include_bytes!("../../../../../assets/datasets/breast_cancer_mtl.csv")
            }
            Self::Diabetes => include_bytes!("../../../../../assets/datasets/diabetes_mtl.csv"),
            Self::Linnerud => include_bytes!("../../../../../assets/datasets/linnerud_mtl.csv"),
        }
    }

    /// The file's text (decompressed when gzipped).
    pub fn csv_bytes(self) -> Result<Vec<u8>, DataError> {
        let raw = self.bytes();
        if self.file_name().ends_with(".gz") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(raw)
                .read_to_end(&mut out)
                .map_err(|source| DataError::Io {
                    path: self.file_name().into(),
                    source,
                })?;
            Ok(out)
        } else {
            Ok(raw.to_vec())
        }
    }

    /// A short title for menus.
    pub fn title(self) -> &'static str {
        match self {
            Self::Digits => "Digits (8×8 images)",
            Self::Penguins => "Palmer penguins",
            Self::Adult => "Adult census",
            Self::Iris => "Iris",
            Self::Wine => "Wine",
            Self::BreastCancer => "Breast cancer (Wisconsin)",
            Self::Diabetes => "Diabetes",
            Self::Linnerud => "Linnerud",
        }
    }

    /// What the tasks are and what the dataset teaches.
    pub fn description(self) -> &'static str {
        match self {
            Self::Digits => {
                "1,797 handwritten digits as 8×8 images (64 inputs, 0..16). Tasks: digit (10 classes), parity, ≥ 5, ink (mean brightness, a deliberately easy regression). Related tasks on real data."
            }
            Self::Penguins => {
                "344 penguins from three islands. Inputs: island (categorical) and three measurements (two rows have none). Tasks: species (3 classes), sex (11 missing), body mass (2 missing). Mixed kinds and real missing labels."
            }
            Self::Adult => {
                "48,842 adults of the 1994 US census with the official train/test split. Tasks: income > 50K (24% positive), never married (33%), hours per week. The MMoE paper's task pair on real data; class imbalance; missing inputs."
            }
            Self::Iris => {
                "150 irises. Inputs: sepal length and width, petal length. Tasks: species (3 classes) and petal width."
            }
            Self::Wine => {
                "178 wines of three cultivars. Tasks: cultivar (3 classes) and alcohol (removed from the inputs)."
            }
            Self::BreastCancer => {
                "569 tumours, inputs the 10 mean measurements. Tasks: diagnosis, plus three auxiliary regressions (worst radius, texture, concave points)."
            }
            Self::Diabetes => {
                "442 patients. Tasks: disease progression after a year, and s5 (log triglycerides), an input used as an extra output (Caruana)."
            }
            Self::Linnerud => {
                "20 men: chins, sit-ups and jumps predict weight, waist and pulse. Too small to generalise; shows the mechanics of multi-output regression."
            }
        }
    }

    /// The task targets and their kinds (checked against the file by a test).
    pub fn targets(self) -> Vec<(String, TaskKind)> {
        use TaskKind::{Binary as B, Multiclass as M, Regression as R};
        let list: &[(&str, TaskKind)] = match self {
            Self::Digits => &[("digit", M), ("parity", B), ("ge5", B), ("ink", R)],
            Self::Penguins => &[("species", M), ("sex", B), ("body_mass_g", R)],
            Self::Adult => &[
                ("income_gt50k", B),
                ("never_married", B),
                ("hours_per_week", R),
            ],
            Self::Iris => &[("species", M), ("petal_width_cm", R)],
            Self::Wine => &[("cultivar", M), ("alcohol", R)],
            Self::BreastCancer => &[
                ("diagnosis", B),
                ("worst_radius", R),
                ("worst_texture", R),
                ("worst_concave_points", R),
            ],
            Self::Diabetes => &[("progression", R), ("s5_ltg", R)],
            Self::Linnerud => &[("weight", R), ("waist", R), ("pulse", R)],
        };
        list.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect()
    }

    /// The inputs as an image (channels, height, width), for the image datasets.
    pub fn image_shape(self) -> Option<[usize; 3]> {
        (self == Self::Digits).then_some([1, DIGIT_SIDE, DIGIT_SIDE])
    }

    /// Where the data come from, and its licence.
    pub fn attribution(self) -> &'static str {
        match self {
            Self::Digits => {
                "Optical Recognition of Handwritten Digits: Alpaydin & Kaynak, UCI Machine Learning Repository, CC BY 4.0 (via scikit-learn)."
            }
            Self::Penguins => {
                "Palmer penguins: Horst AM, Hill AP, Gorman KB (2020), palmerpenguins; Palmer Station LTER. CC0."
            }
            Self::Adult => {
                "Adult: Becker & Kohavi (1996), UCI Machine Learning Repository, CC BY 4.0."
            }
            Self::Iris => {
                "Iris: Fisher (1936), UCI Machine Learning Repository, CC BY 4.0 (via scikit-learn)."
            }
            Self::Wine => {
                "Wine: Aeberhard & Forina, UCI Machine Learning Repository, CC BY 4.0 (via scikit-learn)."
            }
            Self::BreastCancer => {
                "Breast Cancer Wisconsin (Diagnostic): Wolberg, Street & Mangasarian, UCI Machine Learning Repository, CC BY 4.0 (via scikit-learn)."
            }
            Self::Diabetes => {
                "Diabetes: Efron, Hastie, Johnstone & Tibshirani (2004), Least Angle Regression (via scikit-learn, BSD-3)."
            }
            Self::Linnerud => {
                "Linnerud: Tenenhaus (1998), La régression PLS (via scikit-learn, BSD-3)."
            }
        }
    }
}
/// Side of a Digits image.
pub const DIGIT_SIDE: usize = 8;
/// Loads a shipped dataset for `tasks` (as [`super::csv::parse`] would load its file).
pub fn load(which: Shipped, tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
    let bytes = which.csv_bytes()?;
    let mut data = super::csv::parse(&bytes, Path::new(which.file_name()), tasks)?;
    data.name = which.title().to_owned();
    Ok(data)
}
impl Source for ShippedSpec {
    fn label(&self) -> String {
        self.name.title().to_owned()
    }

    fn targets(&self) -> Option<Vec<(String, TaskKind)>> {
        Some(self.name.targets())
    }

    fn image_shape(&self) -> Option<[usize; 3]> {
        self.name.image_shape()
    }

    fn preview(&self) -> DatasetSpec {
        DatasetSpec::Shipped(self.clone())
    }

    fn load(&self, _seed: u64, tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
        load(self.name, tasks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SplitTag;

    #[test]
    fn every_shipped_file_parses_with_its_listed_targets() {
        for which in Shipped::ALL {
            let data = load(which, &[]).unwrap_or_else(|e| panic!("{which:?}: {e}"));
            let found: Vec<(String, TaskKind)> = data
                .targets
                .iter()
                .map(|t| (t.name.clone(), t.kind))
                .collect();
            assert_eq!(found, which.targets(), "{which:?}");
            assert!(data.rows >= 20, "{which:?} has {} rows", data.rows);
        }
        let digits = load(Shipped::Digits, &[]).expect("digits");
        assert_eq!(digits.features(), 64);
        let adult = load(Shipped::Adult, &[]).expect("adult");
        assert_eq!(adult.rows, 48_842, "the official split keeps every row");
        let tags = adult.split.as_ref().expect("adult has a split column");
        assert_eq!(
            tags.iter().filter(|t| **t == SplitTag::Train).count(),
            32_561
        );
        let penguins = load(Shipped::Penguins, &[]).expect("penguins");
        let sex = penguins.target("sex").expect("sex");
        assert_eq!(sex.labelled(), 333, "11 penguins have no sex label");
    }
}
