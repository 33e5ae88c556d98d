//! How much memory an input may make the program take: one place for every limit, each a
//! named constant, checked before anything is allocated. A file, a spec or a command-line
//! figure past a limit is refused with the figure it asked for and the limit, instead of
//! aborting on a failed allocation (or taking the machine's memory).
//!
//! | What | Limit |
//! |---|---|
//! | a text file read whole (spec, experiment, lesson, aggregate cases) | [`MAX_TEXT_BYTES`] |
//! | a data or model file read whole (CSV, `.gz`, IDX, weights) | [`MAX_FILE_BYTES`] |
//! | a `.gz` file once decompressed | [`MAX_INFLATED_BYTES`] |
//! | cells of a CSV file (rows × columns) | [`MAX_CSV_CELLS`] |
//! | rows of a dataset | [`MAX_ROWS`] |
//! | a dataset's inputs (rows × features × 4 bytes) | [`MAX_DATA_BYTES`] |
//! | trainable parameters of a network | [`MAX_PARAMS`] |
//! | activations of one batch (estimated) | [`MAX_ACTIVATION_BYTES`] |
//! | runs of one sweep | [`MAX_SWEEP_RUNS`] |
//! | steps of `affinity`, measured steps of `bench` | [`MAX_STEPS`] |
//! | tasks of `bench --tasks` | [`MAX_BENCH_TASKS`] |
//! | tasks of an experiment | [`MAX_TASKS`] |
//! | tasks (K) of an `aggregate` case | [`MAX_CASE_TASKS`] |

use std::io::{self, Read};

use crate::experiment::{Architecture, ExperimentSpec, Plan};

/// Most bytes of a text file read whole: a spec, an experiment, a lesson, aggregate cases.
pub const MAX_TEXT_BYTES: u64 = 16 << 20;

/// Most bytes of a data or model file read whole (as stored, compressed or not): CSV, IDX,
/// weights.
pub const MAX_FILE_BYTES: u64 = 256 << 20;

/// Most bytes a `.gz` file may decompress to; past it the file is refused (a small file can
/// inflate to gigabytes).
pub const MAX_INFLATED_BYTES: u64 = 256 << 20;

/// Most cells (rows × columns) of a CSV file; each cell is held as text while the file is
/// read.
pub const MAX_CSV_CELLS: u64 = 20_000_000;

/// Most rows of a dataset (generated or read).
pub const MAX_ROWS: u64 = 5_000_000;

/// Most bytes of a dataset's inputs as 32-bit floats (rows × features × 4).
pub const MAX_DATA_BYTES: u64 = 1 << 30;

/// Most trainable parameters of a network (4 bytes each, and about as much again for the
/// gradient and each optimizer state while training).
pub const MAX_PARAMS: u64 = 50_000_000;

/// Most bytes of activations one batch may need (estimated from the layer widths: the values
/// every layer passes on, for a training batch or an evaluation chunk, with their gradients).
pub const MAX_ACTIVATION_BYTES: u64 = 2 << 30;

/// Most runs of one sweep (grid points and strategies, times seeds, plus baselines).
pub const MAX_SWEEP_RUNS: u64 = 10_000;

/// Most training steps of `affinity`, and of each `bench` measurement.
pub const MAX_STEPS: u64 = 10_000_000;

/// Most tasks of an experiment (heads are looked up by task, relationships are K × K).
pub const MAX_TASKS: usize = 256;

/// Most tasks (K) of an `aggregate` case: the strategies form K × K matrices.
pub const MAX_CASE_TASKS: usize = 1024;

/// Most tasks of `bench --tasks`.
pub const MAX_BENCH_TASKS: usize = 64;

/// Rows evaluated at once (validation, predictions); see the trainer's evaluation.
const EVAL_ROWS: u64 = 4096;

/// `n` bytes as people read them: `512 B`, `3.0 KiB`, `24.0 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A count with thousands separators: `50,000,000`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The error of a read past `max` bytes of `what`.
fn too_large(size: Option<u64>, max: u64, what: &str) -> io::Error {
    let what = match size {
        Some(size) => format!("{what} of {} is over", bytes(size)),
        None => format!("{what} is larger than"),
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{what} the limit of {} (MTL Studio's memory limits, see the README)",
            bytes(max)
        ),
    )
}

/// Reads everything `reader` gives, refusing (with an error naming `what` and the limit)
/// more than `max` bytes. Memory grows with what was read, never past `max`: a reader that
/// says nothing of its length (a decompressor) cannot make it allocate more. `hint` is the
/// expected length, reserved at once when it is within the limit.
pub fn read_capped(
    mut reader: impl Read,
    max: u64,
    what: &str,
    hint: Option<u64>,
) -> io::Result<Vec<u8>> {
    if let Some(len) = hint
        && len > max
    {
        return Err(too_large(Some(len), max, what));
    }
    let max = usize::try_from(max).unwrap_or(usize::MAX);
    let mut out: Vec<u8> = Vec::new();
    let oom = |_| {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!("no memory to read {what}"),
        )
    };
    if let Some(len) = hint.and_then(|h| usize::try_from(h).ok()) {
        out.try_reserve_exact(len).map_err(oom)?;
    }
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n > max - out.len() {
            return Err(too_large(None, max as u64, what));
        }
        if out.capacity() - out.len() < n {
            // Double, but never past the limit.
            let grow = out.capacity().max(n).min(max - out.len());
            out.try_reserve_exact(grow).map_err(oom)?;
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Rows and input bytes of a dataset of `rows` rows of `features` values: an error with the
/// figures when past [`MAX_ROWS`] or [`MAX_DATA_BYTES`].
pub fn check_data(rows: u64, features: u64) -> Result<(), String> {
    if rows > MAX_ROWS {
        return Err(format!(
            "{} rows are more than the limit of {}",
            count(rows),
            count(MAX_ROWS)
        ));
    }
    let need = rows.saturating_mul(features).saturating_mul(4);
    if need > MAX_DATA_BYTES {
        return Err(format!(
            "{} rows of {} features need {} of memory, over the limit of {}",
            count(rows),
            count(features),
            bytes(need),
            bytes(MAX_DATA_BYTES)
        ));
    }
    Ok(())
}

/// How many copies of the trunk's layers run per row: one for hard sharing, one per task for
/// soft sharing and cross-stitch, one per expert for mixtures.
fn trunk_copies(spec: &ExperimentSpec) -> u64 {
    let k = spec.tasks.len() as u64;
    match &spec.model.architecture {
        Architecture::Hard => 1,
        Architecture::Soft { .. } | Architecture::CrossStitch { .. } => k.max(1),
        Architecture::Mmoe { experts } | Architecture::Moe { experts } => *experts as u64,
    }
}

/// The estimated activation bytes of the largest batch of `spec`'s network (`plan`): the
/// values each layer passes on per row, times 8 bytes per row of a training batch (values
/// and gradients) or 4 bytes per row of an evaluation chunk (values only), whichever is
/// larger.
/// `rows` caps the batch at the dataset's size when it is known.
pub fn activation_bytes(spec: &ExperimentSpec, plan: &Plan, rows: Option<u64>) -> u64 {
    let trunk: u64 = plan
        .shapes
        .iter()
        .fold(0u64, |sum, s| sum.saturating_add(s.size() as u64))
        .saturating_mul(trunk_copies(spec));
    let mut heads = 0u64;
    for (t, task) in spec.tasks.iter().enumerate() {
        let mut w = plan.head_in.get(t).copied().unwrap_or(0) as u64;
        heads = heads.saturating_add(w);
        for layer in spec.head(&task.name).map_or(&[][..], |h| &h.layers) {
            w = layer.out_width(w as usize) as u64;
            heads = heads.saturating_add(w);
        }
        heads = heads.saturating_add(plan.out.get(t).copied().unwrap_or(0) as u64);
    }
    let cap = |n: u64| rows.map_or(n, |r| n.min(r.max(1)));
    // A training batch keeps each value and its gradient (8 bytes); an evaluation chunk
    // only the values (4 bytes, no graph).
    let train = cap(spec.training.batch_size as u64).saturating_mul(8);
    let eval = cap(EVAL_ROWS).saturating_mul(4);
    trunk.saturating_add(heads).saturating_mul(train.max(eval))
}

/// The parameters and batch activations of `spec`'s network (`plan`) against
/// [`MAX_PARAMS`] and [`MAX_ACTIVATION_BYTES`]: an error with the figures when past either.
pub fn check_network(spec: &ExperimentSpec, plan: &Plan, rows: Option<u64>) -> Result<(), String> {
    let params = plan
        .task_params
        .iter()
        .fold(plan.shared_params as u64, |sum, p| {
            sum.saturating_add(*p as u64)
        });
    if params > MAX_PARAMS {
        return Err(format!(
            "the network has {} parameters ({} of weights, several times that while \
             training), over the limit of {}",
            count(params),
            bytes(params.saturating_mul(4)),
            count(MAX_PARAMS)
        ));
    }
    let act = activation_bytes(spec, plan, rows);
    if act > MAX_ACTIVATION_BYTES {
        return Err(format!(
            "one batch of this network needs about {} of activations, over the limit of {} \
             (use narrower layers or a smaller batch_size)",
            bytes(act),
            bytes(MAX_ACTIVATION_BYTES)
        ));
    }
    Ok(())
}

/// The number of runs a sweep asks for, against [`MAX_SWEEP_RUNS`].
pub fn check_sweep_runs(runs: u64) -> Result<(), String> {
    if runs > MAX_SWEEP_RUNS {
        Err(format!(
            "the sweep asks for {} runs, over the limit of {} (use a smaller --grid, fewer \
             strategies or seeds)",
            count(runs),
            count(MAX_SWEEP_RUNS)
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_plainly() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 << 10), "3.0 KiB");
        assert_eq!(bytes(24 << 30), "24.0 GiB");
        assert_eq!(count(50_000_000), "50,000,000");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
    }

    #[test]
    fn capped_reads_stop_at_the_limit() {
        let data = vec![7u8; 300_000];
        let read = read_capped(data.as_slice(), 300_000, "a file", None).expect("at the limit");
        assert_eq!(read, data);
        assert!(read.capacity() <= 300_000, "never past the limit");
        let e = read_capped(data.as_slice(), 299_999, "a file", None).expect_err("over");
        assert!(
            e.to_string()
                .contains("a file is larger than the limit of 293.0 KiB"),
            "{e}"
        );
        let e = read_capped(&b""[..], 10, "a file", Some(11)).expect_err("hint over");
        assert!(e.to_string().contains("a file of 11 B"), "{e}");
    }

    #[test]
    fn huge_counts_in_a_spec_are_problems_not_allocations() {
        use crate::experiment::{DatasetSpec, TaskSpec};
        // Found by the fuzzer: `tasks = 18446744073709551615` listed that many labels.
        let mut spec = ExperimentSpec::default();
        if let DatasetSpec::Mmoe(m) = &mut spec.dataset {
            m.tasks = usize::MAX;
        }
        let problems = spec.validate();
        assert!(
            problems.iter().any(|p| p.path == "dataset.tasks"),
            "{problems:?}"
        );
        let mut spec = ExperimentSpec::default();
        let task = spec.tasks[0].clone();
        spec.tasks = (0..300)
            .map(|i| TaskSpec {
                name: format!("t{i}"),
                ..task.clone()
            })
            .collect();
        let problems = spec.validate();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].to_string(),
            "tasks: 300 tasks are more than the limit of 256"
        );
    }

    #[test]
    fn data_limits_name_the_figures() {
        assert!(check_data(1000, 10).is_ok());
        let e = check_data(1_000_000_000, 10).expect_err("rows");
        assert!(e.contains("1,000,000,000 rows"), "{e}");
        let e = check_data(1_000_000, 1000).expect_err("bytes");
        assert!(e.contains("3.7 GiB"), "{e}");
    }
}
