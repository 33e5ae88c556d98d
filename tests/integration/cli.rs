//! The headless command line, end to end on a temporary folder.

use crate::common;

use std::path::Path;
use std::process::{Command, Output};

pub(crate) fn mtl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
        .args(args)
        .output()
        .expect("runs")
}

/// `mtl-studio train SPEC --out RUN EXTRA…`.
fn train(spec: &str, run: &str, extra: &[&str]) -> Output {
    let mut args = vec!["train", spec, "--out", run];
    args.extend_from_slice(extra);
    mtl(&args)
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn init_train_and_predict_end_to_end() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec_path = dir.path().join("exp.toml");
    let out = mtl(&["init", "-o", spec_path.to_str().expect("utf8")]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    // Make it small: fewer samples keeps the test quick.
    let spec_text = std::fs::read_to_string(&spec_path)
        .expect("read")
        .replace("samples = 12000", "samples = 1500");
    std::fs::write(&spec_path, spec_text).expect("write");

    let run = dir.path().join("run");
    let out = train(
        spec_path.to_str().expect("utf8"),
        run.to_str().expect("utf8"),
        &["--epochs", "3", "--quiet"],
    );
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    for f in ["metrics.csv", "model.safetensors", "spec.json", "loss.png"] {
        assert!(
            run.join(f).metadata().map(|m| m.len() > 0).unwrap_or(false),
            "{f} written"
        );
    }
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics");
    assert!(
        metrics.starts_with("epoch,step,split,task,loss"),
        "header: {metrics}"
    );
    let loss_rows = metrics.lines().filter(|l| l.contains(",r2,")).count();
    assert_eq!(loss_rows, 4 * 4, "epochs 0..=3 × (train, val) × 2 tasks");
    let weight_rows = metrics.lines().filter(|l| l.contains(",weight,")).count();
    assert_eq!(
        weight_rows,
        3 * 2,
        "a mean task weight per trained epoch and task"
    );
    assert!(
        metrics.lines().any(|l| l.contains(",y1|y2,,grad_cosine,")),
        "gradient cosines are logged"
    );
    let last_val_y1: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("3,") && l.contains(",val,y1,"))
        .collect();
    assert_eq!(
        last_val_y1.len(),
        3,
        "one row per metric (r2, mse, mae) per epoch, split and task: {last_val_y1:?}"
    );
    for (row, key) in last_val_y1.iter().zip(["r2", "mse", "mae"]) {
        assert!(row.contains(&format!(",{key},")), "{row}");
    }
    let png = std::fs::read(run.join("loss.png")).expect("png");
    assert_eq!(&png[..4], b"\x89PNG", "a PNG image");

    // Predict on rows with the model's input columns x1..x16 (and an extra column, ignored).
    let input = dir.path().join("in.csv");
    let header: Vec<String> = (1..=16)
        .map(|i| format!("x{i}"))
        .chain(["note".to_owned()])
        .collect();
    let row: Vec<String> = (0..16)
        .map(|i| format!("{}", i as f32 * 0.1))
        .chain(["hello".to_owned()])
        .collect();
    std::fs::write(
        &input,
        format!(
            "{}\n{}\n{}\n",
            header.join(","),
            row.join(","),
            row.join(",")
        ),
    )
    .expect("write");
    let out = mtl(&[
        "predict",
        run.to_str().expect("utf8"),
        input.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "predict: {}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "y1,y2", "one column per regression task");
    assert_eq!(lines.len(), 3, "one line per input row");
    assert_eq!(lines[1], lines[2], "same input, same prediction");
    assert!(
        lines[1]
            .split(',')
            .all(|v| v.parse::<f32>().is_ok_and(f32::is_finite)),
        "numbers: {}",
        lines[1]
    );
}

#[test]
fn same_seed_same_metrics_from_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec_path = dir.path().join("s.toml");
    let spec = common::small_spec(1000, 2);
    std::fs::write(&spec_path, spec.to_toml().expect("toml")).expect("write");
    let run = |name: &str| {
        let out_dir = dir.path().join(name);
        let out = train(
            spec_path.to_str().expect("utf8"),
            out_dir.to_str().expect("utf8"),
            &["-q"],
        );
        assert!(out.status.success(), "train: {}", text(&out.stderr));
        std::fs::read_to_string(out_dir.join("metrics.csv")).expect("metrics")
    };
    assert_eq!(run("a"), run("b"), "identical metrics for the same seed");
}

fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "must fail");
    let err = text(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "starts with error: {err}");
    assert!(err.contains(needle), "'{err}' mentions '{needle}'");
}

#[test]
fn bad_input_exits_non_zero_with_a_clear_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.toml");
    let p = |path: &Path| path.to_str().expect("utf8").to_owned();
    let out_dir = p(&dir.path().join("o"));

    let out = train(&p(&dir.path().join("missing.toml")), &out_dir, &[]);
    assert_one_line_error(&out, "missing.toml");

    std::fs::write(&bad, "version = 1\nseed = \n").expect("write");
    let out = mtl(&["train", &p(&bad), "--out", &out_dir]);
    assert_one_line_error(&out, "line 2");

    let mut spec = mtl_studio::experiment::ExperimentSpec::default();
    spec.model.shared[2] = mtl_studio::experiment::LayerSpec::Linear { out: 0 };
    std::fs::write(&bad, spec.to_toml().expect("toml")).expect("write");
    let out = mtl(&["train", &p(&bad), "--out", &out_dir]);
    assert_one_line_error(&out, "model.shared[2]: Linear out=0 must be >= 1");
    let out = mtl(&["validate", &p(&bad)]);
    assert_one_line_error(&out, "model.shared[2]");

    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "a,b\n1,2\n").expect("write");
    let out = mtl(&["predict", &p(&dir.path().join("nomodel")), &p(&csv)]);
    assert_one_line_error(&out, "nomodel");
}

#[test]
fn bench_prints_one_json_line_per_thread_count() {
    let out = mtl(&["bench", "--threads", "1", "--epochs", "1"]);
    assert!(out.status.success(), "bench: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let line = stdout.lines().next().expect("a line");
    let v: serde_json::Value = serde_json::from_str(line).expect("JSON");
    assert_eq!(v["threads"], 1, "thread count: {line}");
    assert!(
        v["samples_per_sec"].as_f64().is_some_and(|s| s > 0.0),
        "throughput: {line}"
    );
    assert_eq!(
        v["final_test_mse"].as_array().map(Vec::len),
        Some(2),
        "two task MSEs: {line}"
    );
}

#[test]
fn bench_spec_measures_an_experiment_as_train_runs_it_per_thread_count() {
    let out = mtl(&[
        "bench",
        "--spec",
        "examples/playground.toml",
        "--threads",
        "1,2",
        "--epochs",
        "2",
    ]);
    assert!(out.status.success(), "bench --spec: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "one line per thread count: {stdout}");
    for (v, threads) in lines.iter().zip([1, 2]) {
        assert_eq!(v["threads"], threads, "{v}");
        assert_eq!(v["epochs"], 2, "the epochs asked for: {v}");
        assert_eq!(v["rows"], 1400, "700 training rows an epoch: {v}");
        let loop_rate = v["train_samples_per_sec"].as_f64().unwrap_or(0.0);
        let epoch_rate = v["epoch_samples_per_sec"].as_f64().unwrap_or(0.0);
        assert!(
            loop_rate > 0.0 && epoch_rate > 0.0 && epoch_rate <= loop_rate,
            "whole epochs (with their evaluation) are slower than the loop alone: {v}"
        );
    }
    let bad = mtl(&["bench", "--spec", "examples/no-such-spec.toml"]);
    assert_one_line_error(&bad, "no-such-spec.toml");
}

/// A user's path with a fresh file: `init --data f.csv > s.toml && train s.toml` just works,
/// for every dataset file the app ships (the same MTL-CSV files a user would open).
#[test]
fn init_data_then_train_works_for_every_shipped_file() {
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/datasets");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files: Vec<_> = std::fs::read_dir(&assets)
        .expect("assets")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 8, "the shipped files: {files:?}");
    for file in files {
        let name = file
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let out = mtl(&["inspect", file.to_str().expect("utf8")]);
        assert!(
            out.status.success(),
            "inspect {name}: {}",
            text(&out.stderr)
        );
        let report = text(&out.stdout);
        assert!(
            report.contains("tasks:") && report.contains("labelled"),
            "{report}"
        );

        let out = mtl(&["init", "--data", file.to_str().expect("utf8")]);
        assert!(out.status.success(), "init {name}: {}", text(&out.stderr));
        let spec = dir.path().join(format!("{name}.toml"));
        std::fs::write(&spec, &out.stdout).expect("write spec");
        let run = dir.path().join(format!("{name}-run"));
        let out = train(
            spec.to_str().expect("utf8"),
            run.to_str().expect("utf8"),
            &["--epochs", "1", "--quiet"],
        );
        assert!(out.status.success(), "train {name}: {}", text(&out.stderr));
        let metrics = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics");
        assert!(
            metrics.contains(",val,"),
            "{name}: validation rows: {metrics}"
        );
    }
}

#[test]
fn a_plain_csv_gets_its_last_column_as_the_task() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("plain.csv");
    let mut text_rows = String::from("a,b,label\n");
    for i in 0..60 {
        text_rows.push_str(&format!(
            "{i},{},{}\n",
            i % 7,
            if i % 3 == 0 { "yes" } else { "no" }
        ));
    }
    std::fs::write(&csv, text_rows).expect("write");
    let out = mtl(&["inspect", csv.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("last column 'label' is the task"),
        "{report}"
    );
    assert!(
        report.contains("label (binary): 60 of 60 rows labelled"),
        "{report}"
    );
    let out = mtl(&["init", "--data", csv.to_str().expect("utf8")]);
    let spec = text(&out.stdout);
    assert!(
        spec.contains("label = \"class\""),
        "the role is kept in the spec: {spec}"
    );
}

/// IDX image files (MNIST's format): `inspect` counts the classes, `init --data` makes a spec
/// that trains.
#[test]
fn idx_files_inspect_and_train() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 200u32;
    let header = |magic: u32, dims: &[u32]| {
        let mut b = magic.to_be_bytes().to_vec();
        for d in dims {
            b.extend(d.to_be_bytes());
        }
        b
    };
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    let mut images = header(0x803, &[n, 6, 6]);
    for l in &labels {
        // Each class lights its own pixel: learnable.
        images.extend((0..36u8).map(|p| if p == *l * 3 { 255 } else { 0 }));
    }
    let mut label_bytes = header(0x801, &[n]);
    label_bytes.extend(&labels);
    let img_path = dir.path().join("toy-images-idx3-ubyte");
    std::fs::write(&img_path, images).expect("write");
    std::fs::write(dir.path().join("toy-labels-idx1-ubyte"), label_bytes).expect("write");
    let out = mtl(&["inspect", img_path.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("0: 20, 1: 20"),
        "{}",
        text(&out.stdout)
    );
    let out = mtl(&["init", "--data", img_path.to_str().expect("utf8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let spec = dir.path().join("idx.toml");
    std::fs::write(&spec, &out.stdout).expect("write");
    let run = dir.path().join("run");
    let out = train(
        spec.to_str().expect("utf8"),
        run.to_str().expect("utf8"),
        &["--epochs", "3", "--quiet"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("label: loss"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn early_stopping_from_the_spec_reports_and_logs_the_best_epoch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/penguins.toml");
    let text_spec = std::fs::read_to_string(example)
        .expect("example")
        .replace("epochs = 60", "epochs = 400")
        + "\n[training.stop]\npatience = 3\nmin_delta = 0.01\n";
    let spec = dir.path().join("stop.toml");
    std::fs::write(&spec, text_spec).expect("write");
    let run = dir.path().join("run");
    let out = train(
        spec.to_str().expect("utf8"),
        run.to_str().expect("utf8"),
        &["--quiet"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(summary.contains("Stopped after epoch"), "{summary}");
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).expect("metrics");
    let best = metrics
        .lines()
        .find(|l| l.contains(",best_epoch,"))
        .expect("a best_epoch row");
    let last_epoch: usize = metrics
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next()?.parse().ok())
        .max()
        .expect("epochs");
    assert!(last_epoch < 400, "stopped early, at {last_epoch}");
    assert!(best.starts_with(&format!("{last_epoch},")), "{best}");
    // Label coverage is logged before training: 11 penguins have no sex label.
    let labelled = |split: &str| -> usize {
        metrics
            .lines()
            .find(|l| l.starts_with(&format!("0,0,{split},sex,,labelled,")))
            .and_then(|l| l.rsplit(',').next()?.parse().ok())
            .expect("a labelled row")
    };
    assert_eq!(labelled("train") + labelled("val"), 333);
    assert!(
        metrics.contains(",species|Adelie,,class_count,"),
        "class counts"
    );
}

/// Issue 8's check: on four tasks built as two related pairs (documented in
/// examples/affinity.toml), the affinity matrix shows the two blocks and the suggested split
/// into two groups recovers the pairs.
#[test]
fn affinity_recovers_two_related_pairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/affinity.toml");
    let out = mtl(&[
        "affinity",
        spec.to_str().expect("utf8"),
        "--out",
        dir.path().to_str().expect("utf8"),
        "--steps",
        "200",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains("best split into 2 groups: {y1, y2} {y3, y4}"),
        "{report}"
    );
    let csv = std::fs::read_to_string(dir.path().join("affinity.csv")).expect("csv");
    let value = |from: &str, to: &str| -> f64 {
        csv.lines()
            .find(|l| l.starts_with(&format!("{from},{to},")))
            .and_then(|l| l.split(',').nth(2)?.parse().ok())
            .expect("a row")
    };
    for (a, b, c) in [("y1", "y2", "y3"), ("y3", "y4", "y1"), ("y2", "y1", "y4")] {
        assert!(
            value(a, b) > value(a, c),
            "{a} helps its pair {b} more than {c}"
        );
    }
    let png = std::fs::read(dir.path().join("affinity.png")).expect("png");
    assert_eq!(&png[..4], b"\x89PNG");
}

/// Per seed, how far the best compromise of a sweep is from its ideal point (the best loss
/// of each task over all runs): min over runs of max over tasks of loss / best − 1.
fn compromise_gaps(sweep_csv: &str) -> Vec<f64> {
    let mut reader = csv::Reader::from_reader(sweep_csv.as_bytes());
    let header = reader.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (seed, y1, y2) = (col("seed"), col("y1_loss"), col("y2_loss"));
    let rows: Vec<(String, f64, f64)> = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (
                r[seed].to_owned(),
                r[y1].parse().expect("y1"),
                r[y2].parse().expect("y2"),
            )
        })
        .collect();
    let mut seeds: Vec<&String> = rows.iter().map(|r| &r.0).collect();
    seeds.sort();
    seeds.dedup();
    seeds
        .iter()
        .map(|s| {
            let runs: Vec<&(String, f64, f64)> = rows.iter().filter(|r| &r.0 == *s).collect();
            let best1 = runs.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
            let best2 = runs.iter().map(|r| r.2).fold(f64::INFINITY, f64::min);
            runs.iter()
                .map(|r| (r.1 / best1).max(r.2 / best2) - 1.0)
                .fold(f64::INFINITY, f64::min)
        })
        .collect()
}

#[test]
fn a_sweep_shows_a_wider_trade_off_for_weakly_correlated_tasks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = std::fs::read_to_string("examples/tradeoff.toml").expect("example");
    let mut mean_gap = Vec::new();
    for correlation in ["-0.5", "0.95"] {
        let spec = dir.path().join(format!("c{correlation}.toml"));
        std::fs::write(
            &spec,
            base.replace(
                "correlation = -0.5",
                &format!("correlation = {correlation}"),
            ),
        )
        .expect("write");
        let out_dir = dir.path().join(format!("sweep{correlation}"));
        let out = mtl(&[
            "sweep",
            spec.to_str().expect("utf8"),
            "--grid",
            "7",
            "--strategies",
            "ew,mgda",
            "--seeds",
            "2,3,7",
            "--threads",
            "2",
            "--quiet",
            "--out",
            out_dir.to_str().expect("utf8"),
        ]);
        assert!(out.status.success(), "sweep: {}", text(&out.stderr));
        let summary = text(&out.stdout);
        assert!(summary.contains("27 runs"), "{summary}");
        for f in ["sweep.csv", "curves.csv", "front.png"] {
            assert!(out_dir.join(f).exists(), "{f} written");
        }
        let csv_text = std::fs::read_to_string(out_dir.join("sweep.csv")).expect("csv");
        assert!(
            csv_text.lines().count() == 28,
            "a header and one row per run"
        );
        // Every run is either on the front or dominated by one that is.
        assert!(csv_text.lines().skip(1).any(|l| l.contains(",1,")));
        let gaps = compromise_gaps(&csv_text);
        assert_eq!(gaps.len(), 3);
        mean_gap.push(gaps.iter().sum::<f64>() / 3.0);
    }
    assert!(
        mean_gap[0] > 2.0 * mean_gap[1],
        "the best compromise is further from the ideal point with conflicting tasks: {mean_gap:?}"
    );
}

#[test]
fn a_sweep_with_baselines_scores_every_run_by_delta_p() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("sweep");
    let out = mtl(&[
        "sweep",
        "examples/tradeoff.toml",
        "--grid",
        "1",
        "--strategies",
        "pcgrad",
        "--baselines",
        "--epochs",
        "2",
        "--quiet",
        "--out",
        out_dir.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "sweep: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Δp %"));
    let baselines = std::fs::read_to_string(out_dir.join("baselines.csv")).expect("baselines");
    assert!(baselines.starts_with("seed,task,loss,metric,value,error"));
    assert_eq!(
        baselines.lines().filter(|l| l.starts_with("7,y1,")).count(),
        3
    );
    let sweep = std::fs::read_to_string(out_dir.join("sweep.csv")).expect("sweep");
    let mut reader = csv::Reader::from_reader(sweep.as_bytes());
    let at = reader
        .headers()
        .expect("header")
        .iter()
        .position(|h| h == "delta_p")
        .expect("delta_p column");
    for r in reader.records() {
        let v: f64 = r.expect("row")[at].parse().expect("a number");
        assert!(v.is_finite());
    }
    // A bad strategy name is a one-line error, nothing written.
    let bad = mtl(&[
        "sweep",
        "examples/tradeoff.toml",
        "--strategies",
        "nope",
        "--out",
        dir.path().join("bad").to_str().expect("utf8"),
    ]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("unknown strategy 'nope'"));
    assert!(!dir.path().join("bad").exists());
}

#[test]
fn export_data_writes_mtl_csv_with_its_split_and_refuses_masks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("playground.csv");
    let out = mtl(&[
        "export",
        "data",
        "examples/playground.toml",
        "-o",
        out_path.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "export data: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1000 rows (700 train, 300 val)"),
        "says what it wrote: {}",
        text(&out.stderr)
    );
    let csv = std::fs::read_to_string(&out_path).expect("written");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("x1,x2,task:circle:class,task:xor:class,split"),
        "an MTL-CSV v1 header"
    );
    assert_eq!(lines.count(), 1000, "one line per row");
    // The file opens as a dataset: `init --data` makes a spec of it, which validates.
    let spec_path = dir.path().join("from-export.toml");
    let out = mtl(&[
        "init",
        "--data",
        out_path.to_str().expect("utf8"),
        "-o",
        spec_path.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "init --data: {}", text(&out.stderr));
    let out = mtl(&["validate", spec_path.to_str().expect("utf8")]);
    assert!(out.status.success(), "validate: {}", text(&out.stderr));

    let masks = dir.path().join("masks.csv");
    let out = mtl(&[
        "export",
        "data",
        "examples/shapes_semantic.toml",
        "-o",
        masks.to_str().expect("utf8"),
    ]);
    assert_one_line_error(&out, "segmentation mask");
    assert!(!masks.exists(), "nothing is written");
}

/// A binary task's `<task>_p` is P(`classes[1]`) (classes sorted: `a`, `b`), whatever the
/// names suggest; the class column is `classes[1]` exactly when `_p` ≥ 0.5.
#[test]
fn a_binary_tasks_p_column_is_the_probability_of_its_second_class() {
    let dir = tempfile::tempdir().expect("tempdir");
    let csv = dir.path().join("bin.csv");
    let mut rows = String::from("x,task:c:class\n");
    for i in 0..300 {
        let x = -3.0 + 6.0 * f64::from(i) / 299.0;
        rows.push_str(&format!("{x:.4},{}\n", if x > 0.0 { "a" } else { "b" }));
    }
    std::fs::write(&csv, rows).expect("write");
    let out = mtl(&["init", "--data", csv.to_str().expect("utf8")]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let spec = dir.path().join("bin.toml");
    std::fs::write(&spec, &out.stdout).expect("write spec");
    let run = dir.path().join("run");
    let out = train(
        spec.to_str().expect("utf8"),
        run.to_str().expect("utf8"),
        &["--epochs", "10", "--quiet"],
    );
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    let input = dir.path().join("in.csv");
    std::fs::write(&input, "x\n3\n-3\n").expect("write");
    let out = mtl(&[
        "predict",
        run.to_str().expect("utf8"),
        input.to_str().expect("utf8"),
    ]);
    assert!(out.status.success(), "predict: {}", text(&out.stderr));
    let csv = text(&out.stdout);
    let lines: Vec<Vec<&str>> = csv.lines().map(|l| l.split(',').collect()).collect();
    assert_eq!(lines[0], ["c", "c_p"], "{csv}");
    let p = |row: usize| lines[row][1].parse::<f32>().expect("a probability");
    assert_eq!(lines[1][0], "a", "x = 3 is class a: {csv}");
    assert!(p(1) < 0.1, "P(b) is low where the class is a: {csv}");
    assert_eq!(lines[2][0], "b", "x = −3 is class b: {csv}");
    assert!(p(2) > 0.9, "P(b) is high where the class is b: {csv}");
}

/// Makes a FIFO with the system's `mkfifo`; `false` (and a note) where there is none.
#[expect(clippy::print_stderr, reason = "a skipped case is said")]
fn mkfifo(path: &Path) -> bool {
    match Command::new("mkfifo").arg(path).status() {
        Ok(s) if s.success() => true,
        _ => {
            eprintln!("mkfifo not available: FIFO cases skipped");
            false
        }
    }
}

#[test]
fn special_files_are_refused_at_once_and_never_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |path: &Path| path.to_str().expect("utf8").to_owned();
    let spec_path = dir.path().join("exp.toml");
    let out = mtl(&["init", "-o", &p(&spec_path)]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let spec_text = std::fs::read_to_string(&spec_path)
        .expect("read")
        .replace("samples = 12000", "samples = 300");
    std::fs::write(&spec_path, spec_text).expect("write");
    let run = dir.path().join("run");
    let out = train(&p(&spec_path), &p(&run), &["--epochs", "1", "--quiet"]);
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    let input = dir.path().join("in.csv");
    let header: Vec<String> = (1..=16).map(|i| format!("x{i}")).collect();
    std::fs::write(
        &input,
        format!("{}\n{}\n", header.join(","), ["0"; 16].join(",")),
    )
    .expect("w");

    // A symbolic link is written through: the link stays, its target gets the predictions.
    #[cfg(unix)]
    {
        let target = dir.path().join("target.csv");
        std::fs::write(&target, "old").expect("write");
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        let out = mtl(&["predict", &p(&run), &p(&input), "-o", &p(&link)]);
        assert!(out.status.success(), "predict: {}", text(&out.stderr));
        let meta = std::fs::symlink_metadata(&link).expect("link");
        assert!(meta.file_type().is_symlink(), "the link is still a link");
        let written = std::fs::read_to_string(&target).expect("target");
        assert!(written.starts_with("y1,y2"), "written through: {written}");
    }

    let fifo = dir.path().join("pipe.csv");
    if mkfifo(&fifo) {
        // Written to: refused, and the FIFO stays a FIFO.
        let out = mtl(&["predict", &p(&run), &p(&input), "-o", &p(&fifo)]);
        assert_one_line_error(&out, "FIFO");
        assert_one_line_error(&out, "pipe.csv");
        use std::os::unix::fs::FileTypeExt as _;
        let ft = std::fs::symlink_metadata(&fifo).expect("fifo").file_type();
        assert!(ft.is_fifo(), "the FIFO was not replaced");
        // Read from: refused at once (no writer ever opens it, so a read would hang).
        for args in [
            vec!["train", &p(&fifo) as &str, "--out", &p(&run)],
            vec!["validate", &p(&fifo)],
            vec!["inspect", &p(&fifo)],
            vec!["predict", &p(&fifo), &p(&input)],
            vec!["predict", &p(&run), &p(&fifo)],
        ] {
            let out = mtl(&args);
            assert_one_line_error(&out, "FIFO");
        }
    }
    // A folder or a device as an input, and as an output.
    let out = mtl(&["inspect", &p(dir.path())]);
    assert_one_line_error(&out, "folder");
    #[cfg(unix)]
    {
        let out = mtl(&["inspect", "/dev/zero"]);
        assert_one_line_error(&out, "device");
        let out = mtl(&["predict", &p(&run), &p(&input), "-o", "/dev/null"]);
        assert_one_line_error(&out, "device");
        let meta = std::fs::metadata("/dev/null").expect("/dev/null");
        assert!(!meta.is_file(), "/dev/null is still a device");
    }
}

/// The folder's entries beside `run`: nothing but the run itself once a run has ended.
fn siblings(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[cfg(unix)]
#[test]
fn sigterm_during_train_writes_the_run_so_far_and_exits_non_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |path: &Path| path.to_str().expect("utf8").to_owned();
    let spec_path = dir.path().join("exp.toml");
    let out = mtl(&["init", "-o", &p(&spec_path)]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let spec_text = std::fs::read_to_string(&spec_path)
        .expect("read")
        .replace("samples = 12000", "samples = 300");
    std::fs::write(&spec_path, spec_text).expect("write");
    let runs = dir.path().join("runs");
    std::fs::create_dir(&runs).expect("mkdir");
    let run = runs.join("run");
    let child = Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
        .args(["train", &p(&spec_path), "--out", &p(&run), "--quiet"])
        .args(["--epochs", "1000000"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // The lock appears once the handler is set and the run has begun.
    let lock = runs.join(".run.lock");
    while !lock.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("wait");
    assert!(!out.status.success(), "an interrupted run exits non-zero");
    let err = text(&out.stderr);
    assert!(err.contains("interrupted"), "{err}");
    let report = std::fs::read_to_string(run.join("report.md")).expect("report");
    assert!(report.contains("Interrupted"), "{report}");
    assert!(run.join("model.safetensors").exists(), "the weights so far");
    assert!(run.join("metrics.csv").exists(), "the metrics so far");
    assert_eq!(
        siblings(&runs),
        vec!["run"],
        "no lock or temporary folder left"
    );
}

#[test]
fn a_file_too_small_for_a_validation_split_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |path: &Path| path.to_str().expect("utf8").to_owned();
    let csv = dir.path().join("tiny.csv");
    std::fs::write(&csv, "x,task:y:reg\n1,2\n2,3\n").expect("write");
    let spec = dir.path().join("tiny.toml");
    let out = mtl(&["init", "--data", &p(&csv), "-o", &p(&spec)]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let out = train(&p(&spec), &p(&dir.path().join("run")), &["--quiet"]);
    assert_one_line_error(&out, "too few for a training and a validation split");
}

#[test]
fn a_diverged_rerun_never_leaves_the_old_model_under_its_failed_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |path: &Path| path.to_str().expect("utf8").to_owned();
    let spec_path = dir.path().join("exp.toml");
    let out = mtl(&["init", "-o", &p(&spec_path)]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let spec_text = std::fs::read_to_string(&spec_path)
        .expect("read")
        .replace("samples = 12000", "samples = 300");
    std::fs::write(&spec_path, &spec_text).expect("write");
    let run = dir.path().join("run");
    let out = train(&p(&spec_path), &p(&run), &["--epochs", "1", "--quiet"]);
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    assert!(run.join("model.safetensors").exists());
    // The same run with a learning rate that makes the loss overflow.
    let diverging = dir.path().join("div.toml");
    std::fs::write(&diverging, spec_text.replace("lr = 0.001", "lr = 1e30")).expect("write");
    let out = train(&p(&diverging), &p(&run), &["--epochs", "3", "--quiet"]);
    assert!(!out.status.success(), "a diverged run fails");
    let report = std::fs::read_to_string(run.join("report.md")).expect("report");
    assert!(report.contains("Training failed"), "{report}");
    assert!(
        !run.join("model.safetensors").exists() && !run.join("spec.json").exists(),
        "the old model is gone with the old run"
    );
    assert_eq!(
        siblings(dir.path())
            .iter()
            .filter(|n| n.starts_with(".run"))
            .count(),
        0
    );
}

/// `predict` never guesses silently: a level the model was not trained on (or one that
/// differs from a trained level in case only) is a warning per (column, level) with its
/// count, encoded as all zeros, or with `--strict` an error naming the line, column and
/// value; an input column given twice is refused with both column numbers; `id:` columns
/// come first in the output; line numbers are right in a file with `\r\n` endings.
#[test]
fn predict_reports_unseen_levels_refuses_duplicates_and_passes_ids_through() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |path: &Path| path.to_str().expect("utf8").to_owned();
    let data = dir.path().join("colours.csv");
    let mut rows = String::from("id:name,x,colour,task:y:reg\n");
    for i in 0..200 {
        let colour = ["red", "blue"][i % 2];
        let x = f64::from(i as u32 % 20) / 10.0;
        let y = x + if colour == "red" { 1.0 } else { 0.0 };
        rows.push_str(&format!("r{i},{x},{colour},{y}\n"));
    }
    std::fs::write(&data, rows).expect("write");
    let out = mtl(&["init", "--data", &p(&data)]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let spec = dir.path().join("colours.toml");
    std::fs::write(&spec, &out.stdout).expect("write spec");
    let run = dir.path().join("run");
    let out = train(&p(&spec), &p(&run), &["--epochs", "2", "--quiet"]);
    assert!(out.status.success(), "train: {}", text(&out.stderr));

    let input = dir.path().join("new.csv");
    let crlf = |lines: &[&str]| lines.join("\r\n") + "\r\n";
    std::fs::write(
        &input,
        crlf(&[
            "colour,id:name,x",
            "red,a,0.5",
            "green,b,0.5",
            "Red,c,0.5",
            "green,d,0.5",
        ]),
    )
    .expect("write");
    let out = mtl(&["predict", &p(&run), &p(&input)]);
    assert!(out.status.success(), "predict: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("level 'green' was not seen in training")
            && stderr.contains("2 row(s), the first on line 3")
            && stderr.contains("all zeros"),
        "{stderr}"
    );
    assert!(
        stderr.contains("level 'Red'") && stderr.contains("'red' in case only"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "once per level: {stderr}");
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id:name,y", "{csv}");
    let ids: Vec<&str> = lines[1..].iter().map(|l| &l[..1]).collect();
    assert_eq!(ids, ["a", "b", "c", "d"], "{csv}");

    let out = mtl(&["predict", &p(&run), &p(&input), "--strict"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("line 3, column 1") && stderr.contains("'green'"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "nothing on stdout");

    std::fs::write(&input, crlf(&["x,colour,x", "0.5,red,0.5"])).expect("write");
    let out = mtl(&["predict", &p(&run), &p(&input)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("columns 1 and 3 are both the input 'x'"),
        "{}",
        text(&out.stderr)
    );

    std::fs::write(
        &input,
        crlf(&["x,colour", "0.5,red", "0.25,blue", "abc,red"]),
    )
    .expect("write");
    let out = mtl(&["predict", &p(&run), &p(&input)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("(line 4, column 1)"),
        "the CRLF file's line 4: {}",
        text(&out.stderr)
    );
}

/// `train --resume`, `--init` and `--epochs 0` from the command line: the resumed run's
/// weights and metrics are the uninterrupted run's bytes; a checkpoint of another spec is
/// refused with exit 1 naming the field; `--resume` and `--init` do not go together.
#[test]
fn train_resume_init_and_zero_epochs_on_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = |path: &Path| path.to_str().expect("utf8").to_owned();
    let spec = dir.path().join("exp.toml");
    let out = mtl(&["init", "-o", &p(&spec)]);
    assert!(out.status.success(), "init: {}", text(&out.stderr));
    let spec_text = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("samples = 12000", "samples = 600");
    std::fs::write(&spec, spec_text).expect("write");
    let run = |name: &str, extra: &[&str]| {
        let folder = dir.path().join(name);
        let mut args = vec!["--quiet"];
        args.extend_from_slice(extra);
        (train(&p(&spec), &p(&folder), &args), folder)
    };
    let (out, first) = run("first", &["--epochs", "2"]);
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    let checkpoint = first.join("checkpoint.safetensors");
    let (out, resumed) = run("resumed", &["--epochs", "3", "--resume", &p(&checkpoint)]);
    assert!(out.status.success(), "resume: {}", text(&out.stderr));
    let (out, whole) = run("whole", &["--epochs", "3"]);
    assert!(out.status.success(), "train: {}", text(&out.stderr));
    for f in ["model.safetensors", "metrics.csv", "checkpoint.safetensors"] {
        assert!(
            std::fs::read(resumed.join(f)).expect("read")
                == std::fs::read(whole.join(f)).expect("read"),
            "{f}: 2 epochs + 1 resumed = 3 epochs"
        );
    }
    let report = std::fs::read_to_string(resumed.join("report.md")).expect("report");
    assert!(report.contains("Resumed after epoch 2"), "{report}");

    let (out, _) = run("other", &["--seed", "7", "--resume", &p(&first)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("in 'seed'"),
        "{}",
        text(&out.stderr)
    );

    let (out, zero) = run(
        "zero",
        &[
            "--epochs",
            "0",
            "--init",
            &p(&first.join("model.safetensors")),
        ],
    );
    assert!(out.status.success(), "--epochs 0: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("trained 0 epochs"),
        "{}",
        text(&out.stdout)
    );
    let metrics = std::fs::read_to_string(zero.join("metrics.csv")).expect("metrics");
    assert!(
        metrics.lines().skip(1).all(|l| l.starts_with("0,0,")),
        "only the initial evaluation: {metrics}"
    );

    let (out, _) = run(
        "both",
        &[
            "--resume",
            &p(&first),
            "--init",
            &p(&first.join("model.safetensors")),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "clap refuses the pair");
    assert!(
        text(&out.stderr).contains("cannot be used with"),
        "{}",
        text(&out.stderr)
    );
}
