//! Image files in the IDX format of MNIST and Fashion-MNIST (`*-images-idx3-ubyte[.gz]` with a
//! `*-labels-idx1-ubyte[.gz]` beside it): a big-endian u32 magic number (`0x00000803` images,
//! `0x00000801` labels), one big-endian u32 per dimension, then u8 values row-major.
//!
//! Tasks: `label` (10 classes; Fashion-MNIST's names when the file is Fashion-MNIST) and, for
//! Fashion-MNIST, `coarse` (tops, trousers/dress, footwear, bag). With `pairs`, the images
//! become MultiMNIST after Sener & Koltun (2018): each image in turn is the left digit at the
//! top left of a 36 × 36 canvas, a random partner from the same split the right one at the
//! bottom right (offset 6), overlaps take the maximum, and the canvas is resized to 28 × 28 by
//! nearest neighbour; tasks `left` and `right`.

use std::path::{Path, PathBuf};

use rand::Rng as _;
use rand::seq::SliceRandom as _;

use serde::{Deserialize, Serialize};

use super::{DatasetSpec, Source};
use crate::data::{DataError, Dataset, SplitTag, TargetColumn};
use crate::rng;
use crate::task::{TaskKind, TaskSpec};

/// IDX image files (see `data::idx`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdxSpec {
    /// The `*-images-idx3-ubyte[.gz]` file; relative paths are taken from the spec's folder.
    pub images: PathBuf,
    /// The labels file; by default the images file's name with `images-idx3` replaced by
    /// `labels-idx1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// Make MultiMNIST pairs (tasks `left`, `right`) instead of single images.
    #[serde(default)]
    pub pairs: bool,
    /// Use only the first `limit` images (0: all).
    #[serde(default)]
    pub limit: usize,
}

const IMAGES_MAGIC: u32 = 0x0000_0803;
const LABELS_MAGIC: u32 = 0x0000_0801;

/// Fashion-MNIST's class names.
const FASHION: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Fashion-MNIST's coarse classes: tops {0, 2, 4, 6}, trousers/dress {1, 3}, footwear
/// {5, 7, 9}, bag {8}.
const COARSE: [usize; 10] = [0, 1, 0, 1, 0, 2, 0, 2, 3, 2];
const COARSE_NAMES: [&str; 4] = ["top", "trousers/dress", "footwear", "bag"];

/// The labels file that goes with an images file: `images-idx3` → `labels-idx1` in the name.
pub fn labels_path(images: &Path) -> Option<PathBuf> {
    let name = images.file_name()?.to_str()?;
    name.contains("images-idx3")
        .then(|| images.with_file_name(name.replace("images-idx3", "labels-idx1")))
}

/// Whether a path names an IDX images file.
pub fn is_idx_images(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("-idx3-ubyte"))
}

fn bad(path: &Path, message: String) -> DataError {
    DataError::File {
        path: path.to_owned(),
        message,
    }
}

/// The number of values per image of an IDX images file, from its header alone (the rest of
/// the file is not read, so this is quick on any size of file).
pub fn image_features(path: &Path) -> Result<usize, DataError> {
    use std::io::Read as _;
    let io = |source| DataError::Io {
        path: path.to_owned(),
        source,
    };
    let file = crate::fsguard::open_regular(path).map_err(io)?;
    let gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    let mut reader: Box<dyn std::io::Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut head = [0u8; 16];
    reader.read_exact(&mut head).map_err(|_| {
        bad(
            path,
            "the file is too short for an IDX images header".to_owned(),
        )
    })?;
    let word = |i: usize| {
        u32::from_be_bytes([
            head[4 * i],
            head[4 * i + 1],
            head[4 * i + 2],
            head[4 * i + 3],
        ])
    };
    if word(0) != IMAGES_MAGIC {
        return Err(bad(
            path,
            format!(
                "not an IDX images file: magic number {:#010x}, expected {IMAGES_MAGIC:#010x}",
                word(0)
            ),
        ));
    }
    (word(2) as usize)
        .checked_mul(word(3) as usize)
        .ok_or_else(|| bad(path, "the header's image size is too large".to_owned()))
}

/// Reads one IDX file: its dimensions and values.
fn read(path: &Path, magic: u32) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let bytes = super::csv::read_bytes(path)?;
    let word = |i: usize| -> Option<u32> {
        let b = bytes.get(4 * i..4 * i + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let found =
        word(0).ok_or_else(|| bad(path, "the file is too short for an IDX header".to_owned()))?;
    if found != magic {
        return Err(bad(
            path,
            format!(
                "not an IDX {} file: magic number {found:#010x}, expected {magic:#010x}",
                if magic == IMAGES_MAGIC {
                    "images"
                } else {
                    "labels"
                }
            ),
        ));
    }
    let ndim = (found & 0xff) as usize;
    let dims: Vec<usize> = (1..=ndim)
        .map(|i| word(i).map(|d| d as usize))
        .collect::<Option<_>>()
        .ok_or_else(|| bad(path, "the IDX header is cut short".to_owned()))?;
    let start = 4 * (1 + ndim);
    let count = dims
        .iter()
        .try_fold(1usize, |acc, d| acc.checked_mul(*d))
        .filter(|c| c.checked_add(start).is_some())
        .ok_or_else(|| {
            bad(
                path,
                format!("the header's dimensions {dims:?} are too large"),
            )
        })?;
    let data = bytes.get(start..start + count).ok_or_else(|| {
        bad(
            path,
            format!(
                "the file holds {} values but its header promises {count} ({dims:?})",
                bytes.len().saturating_sub(start)
            ),
        )
    })?;
    Ok((dims, data.to_vec()))
}

/// Loads an IDX images file with its labels as a dataset (see the module documentation).
pub fn load(spec: &IdxSpec, seed: u64) -> Result<Dataset, DataError> {
    let (dims, pixels) = read(&spec.images, IMAGES_MAGIC)?;
    let [n, h, w] = dims[..] else {
        return Err(bad(
            &spec.images,
            format!("images must be n × height × width, not {dims:?}"),
        ));
    };
    let labels_file = match &spec.labels {
        Some(p) => p.clone(),
        None => labels_path(&spec.images).ok_or_else(|| {
            bad(
                &spec.images,
                "no labels file given, and the name has no 'images-idx3' to find one".to_owned(),
            )
        })?,
    };
    let (ldims, labels) = read(&labels_file, LABELS_MAGIC)?;
    if ldims != [n] {
        return Err(bad(
            &labels_file,
            format!("{ldims:?} labels for {n} images"),
        ));
    }
    if let Some(l) = labels.iter().find(|l| **l > 9) {
        return Err(bad(
            &labels_file,
            format!("label {l} is not a digit class 0..9"),
        ));
    }
    let fashion = spec
        .images
        .file_name()
        .is_some_and(|f| f.to_string_lossy().to_ascii_lowercase().contains("fashion"));
    let names: Vec<String> = if fashion {
        FASHION.iter().map(|s| (*s).to_owned()).collect()
    } else {
        (0..10).map(|d| d.to_string()).collect()
    };
    let n = n.min(if spec.limit > 0 { spec.limit } else { n });
    let title = spec
        .images
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let class = |name: &str, values: Vec<f32>, classes: Vec<String>| TargetColumn {
        name: name.to_owned(),
        kind: TaskKind::Multiclass,
        present: vec![true; values.len()],
        values,
        classes,
        width: 1,
    };
    if spec.pairs && h != w {
        return Err(bad(
            &spec.images,
            format!("MultiMNIST pairs need square images, not {h} × {w}"),
        ));
    }
    if !spec.pairs {
        let x = pixels[..n * h * w]
            .iter()
            .map(|p| f32::from(*p) / 255.0)
            .collect();
        let label: Vec<f32> = labels[..n].iter().map(|l| f32::from(*l)).collect();
        let mut targets = vec![class("label", label, names)];
        if fashion {
            let coarse = labels[..n]
                .iter()
                .map(|l| COARSE[*l as usize] as f32)
                .collect();
            targets.push(class(
                "coarse",
                coarse,
                COARSE_NAMES.iter().map(|s| (*s).to_owned()).collect(),
            ));
        }
        return Ok(Dataset {
            name: title,
            feature_names: (0..h * w).map(|i| format!("p{i}")).collect(),
            rows: n,
            x,
            targets,
            split: None,
            encoding: None,
        });
    }
    let (x, left, right, split) = pairs(&pixels[..n * h * w], &labels[..n], [h, w], seed);
    Ok(Dataset {
        name: format!("Multi-{title}"),
        feature_names: (0..h * w).map(|i| format!("p{i}")).collect(),
        rows: left.len(),
        x,
        targets: vec![
            class("left", left, names.clone()),
            class("right", right, names),
        ],
        split: Some(split),
        encoding: None,
    })
}

/// MultiMNIST pairs of `n` images `[h, w]`: inputs, left labels, right labels, split tags.
fn pairs(
    pixels: &[u8],
    labels: &[u8],
    [h, w]: [usize; 2],
    seed: u64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>, Vec<SplitTag>) {
    let n = labels.len();
    let image = |i: usize| &pixels[i * h * w..(i + 1) * h * w];
    // Split the images first so validation pairs use unseen images.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng::stream(seed, "idx.split"));
    let (val, train) = order.split_at(n / 6);
    let mut rng = rng::stream(seed, "idx.pairs");
    let canvas_side = h + 8;
    let shift = 6;
    let mut x = Vec::with_capacity(n * h * w);
    let (mut left, mut right, mut split) = (Vec::new(), Vec::new(), Vec::new());
    for (pool, tag) in [(train, SplitTag::Train), (val, SplitTag::Val)] {
        for &a in pool {
            let b = pool[rng.random_range(0..pool.len())];
            let mut canvas = vec![0u8; canvas_side * canvas_side];
            for (img, off) in [(a, 0), (b, shift)] {
                for r in 0..h {
                    for c in 0..w {
                        let cell = &mut canvas[(r + off) * canvas_side + c + off];
                        *cell = (*cell).max(image(img)[r * w + c]);
                    }
                }
            }
            // Nearest-neighbour resize back to h × w.
            for r in 0..h {
                for c in 0..w {
                    let (sr, sc) = (r * canvas_side / h, c * canvas_side / w);
                    x.push(f32::from(canvas[sr * canvas_side + sc]) / 255.0);
                }
            }
            left.push(f32::from(labels[a]));
            right.push(f32::from(labels[b]));
            split.push(tag);
        }
    }
    (x, left, right, split)
}

/// The targets an IDX dataset will have.
pub fn targets(spec: &IdxSpec) -> Vec<(String, TaskKind)> {
    let fashion = spec
        .images
        .file_name()
        .is_some_and(|f| f.to_string_lossy().to_ascii_lowercase().contains("fashion"));
    let names: &[&str] = match (spec.pairs, fashion) {
        (true, _) => &["left", "right"],
        (false, true) => &["label", "coarse"],
        (false, false) => &["label"],
    };
    names
        .iter()
        .map(|n| ((*n).to_owned(), TaskKind::Multiclass))
        .collect()
}

impl Source for IdxSpec {
    fn label(&self) -> String {
        self.images.display().to_string()
    }

    fn targets(&self) -> Option<Vec<(String, TaskKind)>> {
        Some(targets(self))
    }

    fn image_shape(&self) -> Option<[usize; 3]> {
        // MNIST and Fashion-MNIST images, and MultiMNIST pairs once resized, are 28 × 28.
        Some([1, 28, 28])
    }

    fn preview(&self) -> DatasetSpec {
        DatasetSpec::Idx(self.clone())
    }

    fn load(&self, seed: u64, _tasks: &[TaskSpec]) -> Result<Dataset, DataError> {
        load(self, seed)
    }

    fn problems(&self) -> Vec<(&'static str, String)> {
        if self.images.as_os_str().is_empty() {
            vec![("images", "no file given".to_owned())]
        } else {
            Vec::new()
        }
    }

    fn paths_mut(&mut self) -> Vec<&mut PathBuf> {
        let mut out = vec![&mut self.images];
        out.extend(self.labels.as_mut());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_idx(path: &Path, magic: u32, dims: &[u32], data: &[u8]) {
        let mut bytes = magic.to_be_bytes().to_vec();
        for d in dims {
            bytes.extend(d.to_be_bytes());
        }
        bytes.extend(data);
        std::fs::write(path, bytes).expect("write");
    }

    #[test]
    fn reads_images_and_labels_and_builds_pairs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let images = dir.path().join("toy-images-idx3-ubyte");
        let n = 12u32;
        let pixels: Vec<u8> = (0..n * 4 * 4).map(|i| (i % 256) as u8).collect();
        write_idx(&images, IMAGES_MAGIC, &[n, 4, 4], &pixels);
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        write_idx(
            &dir.path().join("toy-labels-idx1-ubyte"),
            LABELS_MAGIC,
            &[n],
            &labels,
        );
        let spec = IdxSpec {
            images: images.clone(),
            labels: None,
            pairs: false,
            limit: 0,
        };
        let d = load(&spec, 1).expect("loads");
        assert_eq!((d.rows, d.features()), (12, 16));
        assert!(
            (d.x[17] - 17.0 / 255.0).abs() < 1e-6,
            "bytes scaled to [0, 1]"
        );
        assert_eq!(d.targets[0].values[3], 3.0);
        let pairs = load(
            &IdxSpec {
                pairs: true,
                ..spec.clone()
            },
            1,
        )
        .expect("pairs");
        assert_eq!(pairs.rows, 12, "one pair per image");
        assert_eq!(pairs.targets.len(), 2);
        // A labels file of the wrong length is named.
        write_idx(
            &dir.path().join("toy-labels-idx1-ubyte"),
            LABELS_MAGIC,
            &[n - 1],
            &labels[..11],
        );
        let err = load(&spec, 1).expect_err("mismatch").to_string();
        assert!(
            err.contains("labels for 12 images") && err.contains("toy-labels"),
            "{err}"
        );
        // Not an IDX file at all.
        std::fs::write(&images, b"a,b\n1,2\n").expect("write");
        let err = load(&spec, 1).expect_err("not idx").to_string();
        assert!(err.contains("not an IDX images file"), "{err}");
    }
}
