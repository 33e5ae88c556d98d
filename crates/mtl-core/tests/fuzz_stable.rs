//! A fuzz driver that runs on the stable toolchain (cargo-fuzz needs nightly): a seeded
//! mutation fuzzer over the CSV reader (and the import inspection, and gzip input), the spec
//! parser and validation, the `aggregate` cases reader and the model-file loader. Every
//! input runs under `catch_unwind`; any panic fails the run and names the input (saved under
//! `target/fuzz-found/`). Inputs start from the corpus in `fuzz/seeds/` (kept in the
//! repository), `tests/malformed/` and the examples, and are mutated by bit flips, byte
//! inserts and deletes, repeats, splices between corpus entries and tokens that tend to break
//! parsers (`nan`, `1e39`, quotes, huge counts).
//!
//! The quick run (`fuzz_smoke`, a few hundred inputs per target) is part of `cargo test`.
//! The long run is ignored by default:
//!
//! ```text
//! FUZZ_INPUTS=1000000 cargo test --release -p mtl-core --test fuzz_stable -- --ignored
//! ```
//!
//! `FUZZ_INPUTS` (default 1,000,000, shared by the four targets), `FUZZ_SECONDS` (default
//! 3600) and `FUZZ_SEED` (default 1) bound and fix it: the same seed gives the same inputs.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mtl_core::data::{csv, inspect};
use mtl_core::experiment::ExperimentSpec;
use rand::{Rng as _, SeedableRng as _};
use rand_chacha::ChaCha8Rng;

/// The repository root (two folders above this crate).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The files of `dir` (sorted, so the corpus order is fixed), at most `max_len` bytes each.
fn files(dir: &Path, ends: &[&str], max_len: usize) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            let name = p.to_string_lossy();
            p.is_file() && ends.iter().any(|e| name.ends_with(e))
        })
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|mut bytes| {
            bytes.truncate(max_len);
            bytes
        })
        .collect()
}

/// One fuzzed function: its name, its seed inputs and what it runs on an input.
struct Target {
    name: &'static str,
    corpus: Vec<Vec<u8>>,
    /// Runs an input; true when it got past parsing (a dataset, a spec, results, a model).
    run: fn(&[u8]) -> bool,
    /// A mutation that keeps the input's frame (the model file's header length) intact.
    mutate: Mutator,
}

/// Makes a new input from one of the pool and the corpus.
type Mutator = fn(&mut ChaCha8Rng, &[u8], &[Vec<u8>]) -> Vec<u8>;

fn run_csv(data: &[u8]) -> bool {
    let path = Path::new("fuzz.csv");
    let parsed = csv::parse(data, path, &[]);
    if let Ok(d) = &parsed {
        assert_eq!(d.x.len(), d.rows * d.features(), "x holds rows x features");
        for t in &d.targets {
            assert_eq!(t.present.len(), d.rows, "one label slot per row");
        }
    }
    let _ = inspect::inspect(data, path, &BTreeMap::new());
    if data.starts_with(&[0x1f, 0x8b]) {
        let _ = mtl_core::limits::read_capped(
            flate2::read::MultiGzDecoder::new(data),
            1 << 20,
            "the decompressed data",
            None,
        );
    }
    parsed.is_ok()
}

fn run_spec(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut parsed = false;
    for spec in [
        ExperimentSpec::from_toml(text),
        ExperimentSpec::from_json(text),
    ]
    .into_iter()
    .flatten()
    {
        parsed = true;
        let _ = spec.validate();
        let _ = spec.to_toml();
        let _ = spec.to_json();
    }
    parsed
}

fn run_aggregate(data: &[u8]) -> bool {
    std::str::from_utf8(data)
        .is_ok_and(|text| mtl_core::weighting::aggregate::run_file(text, 0).is_ok())
}

fn run_model(data: &[u8]) -> bool {
    let Ok(file) = mtl_core::export::model_from_bytes(data, Path::new("fuzz.safetensors")) else {
        return false;
    };
    if let Ok(session) = mtl_core::trainer::Session::from_model_file(&file) {
        let _ = session.predict(&vec![0.5; file.feature_names.len()]);
        return true;
    }
    false
}

/// Mutates a safetensors file's JSON header (the spec, the tensor shapes) most of the time,
/// fixing the length in front so the file still frames; otherwise any bytes.
fn mutate_model(rng: &mut ChaCha8Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    let header_len = input
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| 8 + n <= input.len());
    match header_len {
        Some(n) if rng.random_bool(0.8) => {
            let header = mutate(rng, &input[8..8 + n], &[]);
            let mut out = (header.len() as u64).to_le_bytes().to_vec();
            out.extend_from_slice(&header);
            out.extend_from_slice(&input[8 + n..]);
            out
        }
        _ => mutate(rng, input, corpus),
    }
}

fn targets() -> Vec<Target> {
    let r = root();
    let corpus = |name: &str| r.join("fuzz/seeds").join(name);
    let mut csv_seeds = files(&corpus("csv"), &[""], 16 << 10);
    csv_seeds.extend(files(
        &r.join("tests/malformed"),
        &[".csv", ".gz"],
        16 << 10,
    ));
    let mut spec_seeds = files(&corpus("spec"), &[""], 64 << 10);
    spec_seeds.extend(files(&r.join("examples"), &[".toml"], 64 << 10));
    let mut aggregate_seeds = files(&corpus("aggregate"), &[""], 64 << 10);
    aggregate_seeds.extend(files(
        &r.join("tests/data"),
        &["torchjd-cases.json"],
        64 << 10,
    ));
    let model_seeds = files(&corpus("model"), &[""], 256 << 10);
    vec![
        Target {
            name: "csv",
            corpus: csv_seeds,
            run: run_csv,
            mutate,
        },
        Target {
            name: "spec",
            corpus: spec_seeds,
            run: run_spec,
            mutate,
        },
        Target {
            name: "aggregate",
            corpus: aggregate_seeds,
            run: run_aggregate,
            mutate,
        },
        Target {
            name: "model",
            corpus: model_seeds,
            run: run_model,
            mutate: mutate_model,
        },
    ]
}

/// Byte strings that tend to break parsers.
const TOKENS: &[&[u8]] = &[
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    b"1e39",
    b"-1",
    b"0",
    b"1e9",
    b"18446744073709551615",
    b"99999999999999999999",
    b"\"",
    b",",
    b"\n",
    b"\r\n",
    b"[",
    b"]",
    b"{",
    b"}",
    b"=",
    b":",
    b"task:",
    b":class",
    b"split",
    b"null",
    b"true",
    b"\xff\xfe",
    b"\x00",
];

/// A mutation of `input`: one to four edits, some taking bytes from `corpus`.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8], corpus: &[Vec<u8>]) -> Vec<u8> {
    const MAX_LEN: usize = 256 << 10;
    let mut out = input.to_vec();
    // Mostly one edit: small changes keep more inputs parsing, so they reach deeper.
    let edits = if rng.random_bool(0.6) {
        1
    } else {
        rng.random_range(2..=4)
    };
    for _ in 0..edits {
        let len = out.len();
        let at = if len == 0 {
            0
        } else {
            rng.random_range(0..len)
        };
        match rng.random_range(0..8) {
            0 if len > 0 => out[at] ^= 1 << rng.random_range(0..8),
            1 if len > 0 => out[at] = rng.random(),
            2 => {
                let n = rng.random_range(1..=8);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                out.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let end = (at + rng.random_range(1..=64)).min(len);
                out.drain(at..end);
            }
            4 if len > 0 => {
                let end = (at + rng.random_range(1..=256)).min(len);
                let piece = out[at..end].to_vec();
                // Mostly one edit: small changes keep more inputs parsing, so they reach deeper.
                let edits = if rng.random_bool(0.6) {
                    1
                } else {
                    rng.random_range(2..=4)
                };
                for _ in 0..edits {
                    out.splice(at..at, piece.iter().copied());
                }
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.random_range(0..corpus.len())];
                if !other.is_empty() {
                    let from = rng.random_range(0..other.len());
                    let end = (from + rng.random_range(1..=512)).min(other.len());
                    out.truncate(at);
                    out.extend_from_slice(&other[from..end]);
                }
            }
            _ => {
                let token = TOKENS[rng.random_range(0..TOKENS.len())];
                if len > 0 && rng.random_bool(0.5) {
                    // Replace a word-like run with the token.
                    let end = (at..len)
                        .find(|&i| !out[i].is_ascii_alphanumeric() && out[i] != b'.')
                        .unwrap_or(len);
                    out.splice(at..end.max(at), token.iter().copied());
                } else {
                    out.splice(at..at, token.iter().copied());
                }
            }
        }
    }
    out.truncate(MAX_LEN);
    out
}

/// What a fuzz run did.
struct Outcome {
    /// Per target: inputs run, and how many got past parsing.
    counts: Vec<(&'static str, u64, u64)>,
    /// Inputs that panicked: target, saved file, message.
    found: Vec<(String, PathBuf, String)>,
    elapsed: Duration,
}

/// Runs every target for `inputs` inputs in all (shared equally) or until `budget` ends.
fn fuzz(inputs: u64, budget: Duration, seed: u64) -> Outcome {
    let targets = targets();
    let per_target = inputs.div_ceil(targets.len() as u64);
    let start = Instant::now();
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut counts = Vec::new();
    let mut found = Vec::new();
    let found_dir = root().join("target/fuzz-found");
    for (t, target) in targets.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed.wrapping_add(t as u64));
        let deadline = start + budget.mul_f64((t + 1) as f64 / targets.len() as f64);
        // Inputs that ran without a panic join the pool mutations start from.
        let mut pool: Vec<Vec<u8>> = target.corpus.clone();
        if pool.is_empty() {
            pool.push(Vec::new());
        }
        let (mut n, mut deep) = (0u64, 0u64);
        while n < per_target && Instant::now() < deadline {
            let base = &pool[rng.random_range(0..pool.len())];
            let input = if n < target.corpus.len() as u64 {
                target.corpus[n as usize].clone()
            } else {
                (target.mutate)(&mut rng, base, &target.corpus)
            };
            n += 1;
            if n.is_multiple_of(50_000) {
                progress(target.name, n, deep, &start);
            }
            match catch_unwind(AssertUnwindSafe(|| (target.run)(&input))) {
                Ok(parsed) => {
                    deep += u64::from(parsed);
                    // Inputs that parsed are likelier to lead deeper when mutated again.
                    let keep = if parsed { 0.05 } else { 0.002 };
                    if pool.len() < 4096 && rng.random_bool(keep) {
                        pool.push(input);
                    }
                }
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_default();
                    let file = found_dir.join(format!("{}-{n}", target.name));
                    let _ = std::fs::create_dir_all(&found_dir);
                    let _ = std::fs::write(&file, &input);
                    found.push((target.name.to_owned(), file, message));
                }
            }
        }
        counts.push((target.name, n, deep));
    }
    std::panic::set_hook(previous_hook);
    Outcome {
        counts,
        found,
        elapsed: start.elapsed(),
    }
}

#[expect(clippy::print_stderr, reason = "a long run says how far it has come")]
fn progress(name: &str, n: u64, deep: u64, start: &Instant) {
    eprintln!(
        "  {name}: {n} inputs ({deep} parsed) at {:.0} s",
        start.elapsed().as_secs_f64()
    );
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[expect(
    clippy::print_stderr,
    reason = "the figures of a fuzz run are its report"
)]
fn report(outcome: &Outcome) {
    let total: u64 = outcome.counts.iter().map(|(_, n, _)| n).sum();
    eprintln!(
        "fuzzed {total} inputs in {:.1} s: {}",
        outcome.elapsed.as_secs_f64(),
        outcome
            .counts
            .iter()
            .map(|(name, n, deep)| format!("{name} {n} ({deep} parsed)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (target, file, message) in &outcome.found {
        eprintln!(
            "PANIC in {target}: {message} (input saved to {})",
            file.display()
        );
    }
}

#[test]
fn fuzz_smoke() {
    let outcome = fuzz(1200, Duration::from_secs(600), 7);
    report(&outcome);
    assert!(
        outcome.counts.iter().all(|(_, n, _)| *n > 0),
        "every target ran: {:?}",
        outcome.counts
    );
    assert!(
        outcome.found.is_empty(),
        "{} input(s) panicked",
        outcome.found.len()
    );
}

#[test]
#[ignore = "long: run with --release -- --ignored (FUZZ_INPUTS, FUZZ_SECONDS, FUZZ_SEED)"]
fn fuzz_long() {
    let outcome = fuzz(
        env_u64("FUZZ_INPUTS", 1_000_000),
        Duration::from_secs(env_u64("FUZZ_SECONDS", 3600)),
        env_u64("FUZZ_SEED", 1),
    );
    report(&outcome);
    assert!(
        outcome.found.is_empty(),
        "{} input(s) panicked",
        outcome.found.len()
    );
}
