//! Every file of the malformed corpus (`tests/malformed/`) gives an error that names the file,
//! the place (line, and column where one cell is meant) and the problem; none panics. The
//! command line (`inspect`, `init --data`) says the same and exits with 1.

use std::path::{Path, PathBuf};
use std::process::Command;

use mtl_studio::data::csv;

/// (file, line, column (0: the whole row), words the message must hold).
const EXPECTED: &[(&str, u64, usize, &str)] = &[
    (
        "ragged_row.csv",
        3,
        0,
        "row has 4 fields but the header has 3",
    ),
    (
        "short_row.csv",
        3,
        0,
        "row has 2 fields but the header has 3",
    ),
    (
        "unterminated_quote.csv",
        3,
        2,
        "quoted field is never closed",
    ),
    ("bad_utf8.csv", 3, 2, "not valid UTF-8"),
    ("empty.csv", 1, 0, "empty"),
    ("header_only.csv", 1, 0, "header but no data rows"),
    ("duplicate_names.csv", 1, 3, "'x1' appears twice"),
    ("unnamed_column.csv", 1, 2, "has no name"),
    ("task_without_labels.csv", 1, 2, "'y' has no labels"),
    (
        "text_in_regression_target.csv",
        4,
        2,
        "'lots' is not a number",
    ),
    ("text_in_numeric_input.csv", 41, 2, "'4O.5' is not a number"),
    // Line numbers count `\r\n` endings as lines too.
    (
        "crlf_text_in_numeric_input.csv",
        30,
        2,
        "'4O.5' is not a number",
    ),
    ("too_many_categories.csv", 1, 1, "at most 50"),
    ("too_many_classes.csv", 1, 2, "classes"),
    (
        "bad_split.csv",
        3,
        3,
        "split 'tset' must be train, val or test",
    ),
    ("no_inputs.csv", 1, 0, "no input columns"),
    ("infinite_value.csv", 3, 2, "'inf' is not a number"),
    ("no_rows_labelled.csv", 1, 0, "no row has a label"),
    // A short numeric column with one word is a typo too, not a category.
    (
        "short_text_in_numeric_input.csv",
        4,
        2,
        "'abc' is not a number, but 3 of the 4 values of input column 'x2' are",
    ),
    (
        "unknown_task_suffix.csv",
        1,
        2,
        "the task kind ':regression'",
    ),
    (
        "beyond_float32.csv",
        3,
        2,
        "'1e39' is beyond the float32 range",
    ),
    // A 200 KB field is cut in the message, with its length said.
    ("huge_field.csv", 4, 2, "… (200100 bytes)"),
    // Compressed files that are not gzip, or cut short: an I/O error naming the file.
    ("not_gzip.csv.gz", 0, 0, "invalid gzip header"),
    ("truncated.csv.gz", 0, 0, "cannot read data"),
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

fn place(line: u64, column: usize) -> String {
    match (line, column) {
        (0, _) => String::new(),
        (l, 0) => format!("line {l}"),
        (l, c) => format!("line {l}, column {c}"),
    }
}

#[test]
fn the_corpus_is_covered() {
    let mut files: Vec<String> = std::fs::read_dir(corpus())
        .expect("corpus folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut listed: Vec<String> = EXPECTED.iter().map(|e| e.0.to_owned()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every corpus file has an expectation and vice versa"
    );
}

#[test]
fn every_malformed_file_gives_a_clear_error() {
    for (file, line, column, words) in EXPECTED {
        let path = corpus().join(file);
        let err = match csv::load(&path, &[]) {
            Ok(d) => panic!("{file} loaded ({} rows) but is malformed", d.rows),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(file), "{file}: names the file: {err}");
        assert!(
            err.len() < 1000,
            "{file}: a short message: {} bytes",
            err.len()
        );
        assert!(err.contains(words), "{file}: says '{words}': {err}");
        let at = place(*line, *column);
        assert!(
            err.contains(&format!("({at})")) || at.is_empty(),
            "{file}: at {at}: {err}"
        );
    }
}

#[test]
fn inspect_and_init_report_the_error_and_exit_1() {
    for (file, _, _, words) in EXPECTED {
        let path = corpus().join(file);
        for args in [
            vec!["inspect", path.to_str().expect("utf8")],
            vec!["init", "--data", path.to_str().expect("utf8")],
        ] {
            let out = Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
                .args(&args)
                .output()
                .expect("runs");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{args:?}: exit 1, not a panic: {stderr}"
            );
            assert!(stderr.contains(words), "{args:?}: {stderr}");
            assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
        }
    }
}
