//! Every reference case of LibMTL (`tests/data/aggregate-cases.json` and
//! `tests/data/aggregate-sampled-cases.json`, copies of the files in `shared/reference/`) and
//! of the newer aggregators' published implementations (`tests/data/torchjd-cases.json`)
//! through `mtl-studio aggregate`, with the tolerances of `aggregate-format.md`.

use std::process::Command;

use serde_json::Value;

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| match x {
                    Value::String(s) if s == "NaN" => f64::NAN,
                    Value::String(s) if s == "Infinity" => f64::INFINITY,
                    Value::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
                    other => other.as_f64().unwrap_or(f64::NAN),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    let diff: f64 = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
    if got.len() != want.len() {
        return f64::INFINITY;
    }
    // Relative, except for (numerically) zero expectations such as LibMTL's 1e-16 noise.
    diff / norm.max(1e-6)
}

fn gram(g: &[Vec<f64>]) -> Vec<Vec<f64>> {
    g.iter()
        .map(|a| {
            g.iter()
                .map(|b| a.iter().zip(b).map(|(x, y)| x * y).sum())
                .collect()
        })
        .collect()
}

fn combo(g: &[Vec<f64>], w: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; g[0].len()];
    for (row, wk) in g.iter().zip(w) {
        for (o, v) in out.iter_mut().zip(row) {
            *o += wk * v;
        }
    }
    out
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// CAGrad's objective and gradient (LibMTL) for inner weights `w`.
fn cagrad(g: &[Vec<f64>], w: &[f64], calpha: f64, rescale: i64) -> (f64, Vec<f64>) {
    let k = g.len() as f64;
    let gg = gram(g);
    let mean_gg = gg.iter().flatten().sum::<f64>() / (k * k);
    let c = calpha * (mean_gg + 1e-8).sqrt() + 1e-8;
    let gw_one: f64 = (0..g.len())
        .map(|i| w[i] * gg[i].iter().sum::<f64>() / k)
        .sum();
    let wgw: f64 = (0..g.len())
        .map(|i| (0..g.len()).map(|j| w[i] * gg[i][j] * w[j]).sum::<f64>())
        .sum();
    let objective = gw_one + c * (wgw + 1e-8).sqrt();
    let gw = combo(g, w);
    let lambda = c / (norm(&gw) + 1e-8);
    let mean = combo(g, &vec![1.0 / k; g.len()]);
    let mut d: Vec<f64> = mean.iter().zip(&gw).map(|(m, x)| m + lambda * x).collect();
    let scale = match rescale {
        1 => 1.0 + calpha * calpha,
        2 => 1.0 + calpha,
        _ => 1.0,
    };
    d.iter_mut().for_each(|x| *x /= scale);
    (objective, d)
}

/// One step of a reference case against LibMTL's output and the exact solutions; the
/// mismatches found.
fn check_step(
    method: &str,
    case: &Value,
    expected: &Value,
    got: &Value,
    g: &[Vec<f64>],
) -> Vec<String> {
    let grad = floats(&got["shared_grad"]);
    let weights = floats(&got["weights"]);
    let want_grad = floats(&expected["shared_grad"]);
    let diag = &expected["diagnostics"];
    let mut out = Vec::new();
    match method {
        "mgda" => {
            let ours = norm(&grad).powi(2);
            let exact = diag["exact_min_norm_sq"].as_f64().unwrap_or(f64::NAN);
            let libmtl = diag["min_norm_sq_libmtl"].as_f64().unwrap_or(f64::NAN);
            if ours > libmtl.max(exact) * (1.0 + 1e-6) + 1e-12
                || ours < exact * (1.0 - 1e-6) - 1e-12
            {
                out.push(format!(
                    "min-norm² {ours} vs exact {exact}, LibMTL {libmtl}"
                ));
            }
            let sum: f64 = weights.iter().sum();
            if (sum - 1.0).abs() > 1e-6 || weights.iter().any(|w| *w < -1e-9) {
                out.push(format!("weights {weights:?} not on the simplex"));
            }
        }
        "cagrad" => {
            let calpha = case["params"]["calpha"].as_f64().unwrap_or(0.5);
            let rescale = case["params"]["rescale"].as_i64().unwrap_or(1);
            let (ours, _) = cagrad(g, &weights, calpha, rescale);
            let exact = diag["exact_cagrad_objective"].as_f64().unwrap_or(f64::NAN);
            if ours > exact + 1e-7 * exact.abs().max(1.0) {
                out.push(format!("objective {ours} worse than exact {exact}"));
            }
            let exact_w = floats(&diag["exact_weights"]);
            let (_, want) = cagrad(g, &exact_w, calpha, rescale);
            if rel_err(&grad, &want) > 1e-4 {
                out.push(format!("shared_grad {grad:?} vs exact solution {want:?}"));
            }
        }
        "nash_mtl" | "fairgrad" => {
            let exact_w = floats(&diag["exact_weights"]);
            if rel_err(&weights, &exact_w) > 1e-5 {
                out.push(format!("weights {weights:?} vs exact {exact_w:?}"));
            }
            let mut want = combo(g, &exact_w);
            if method == "nash_mtl" {
                let max_norm = case["params"]["max_norm"].as_f64().unwrap_or(1.0);
                let n = norm(&want);
                let coef = (max_norm / (n + 1e-6)).min(1.0);
                want.iter_mut().for_each(|x| *x *= coef);
            }
            if rel_err(&grad, &want) > 1e-5 {
                out.push(format!("shared_grad {grad:?} vs exact {want:?}"));
            }
        }
        _ => {
            if rel_err(&grad, &want_grad) > 1e-6 {
                out.push(format!("shared_grad {grad:?} vs {want_grad:?}"));
            }
            let want_w = floats(&expected["weights"]);
            if !want_w.is_empty() && rel_err(&weights, &want_w) > 1e-6 {
                out.push(format!("weights {weights:?} vs {want_w:?}"));
            }
        }
    }
    out
}

#[test]
fn every_reference_case_matches_libmtl() {
    let cases_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/aggregate-cases.json"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
        .args(["aggregate", cases_path])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "aggregate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(cases_path).expect("read")).expect("JSON");
    let cases = cases["cases"].as_array().expect("cases");
    let results = results["results"].as_array().expect("results");
    assert_eq!(cases.len(), results.len(), "one result per case");

    let mut failures = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let id = case["id"].as_str().unwrap_or_default();
        let method = case["method"].as_str().unwrap_or_default();
        if let Some(err) = result.get("error") {
            failures.push(format!("{id}: error {err}"));
            continue;
        }
        for (s, (step, expected)) in case["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .zip(case["expected"].as_array().expect("expected"))
            .enumerate()
        {
            let got = &result["steps"][s];
            let grad = floats(&got["shared_grad"]);
            let weights = floats(&got["weights"]);
            let g: Vec<Vec<f64>> = step["G"]
                .as_array()
                .expect("G")
                .iter()
                .map(floats)
                .collect();
            if grad.iter().chain(&weights).any(|v| !v.is_finite()) {
                failures.push(format!("{id} step {s}: non-finite output"));
                continue;
            }
            let fail = |what: String| format!("{id} step {s}: {what}");
            if got.get("notice").is_some() {
                // Exactly opposite gradients put zero in their convex hull: Nash-MTL's and
                // FairGrad's balance equations have no positive solution (LibMTL returns null,
                // or huge arbitrary weights whose update is ~1e-11). The documented answer is
                // the Pareto-stationary zero update with a notice; LibMTL's update, where it
                // gives one, is zero to 1e-9 too.
                let want = floats(&expected["shared_grad"]);
                let documented = matches!(method, "nash_mtl" | "fairgrad")
                    && id.starts_with("conflict_")
                    && grad.iter().all(|v| *v == 0.0)
                    && norm(&want) <= 1e-9;
                if !documented {
                    failures.push(fail(format!("unexpected notice {}", got["notice"])));
                }
                continue;
            }
            for what in check_step(method, case, expected, got, &g) {
                failures.push(fail(what));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn a_bad_case_file_is_a_clear_error_and_bad_cases_do_not_stop_the_others() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cases.json");
    std::fs::write(
        &path,
        r#"{"format": "mtl-studio-aggregate-v1", "cases": [
            {"id": "unknown", "method": "nope", "K": 2, "d": 1, "steps": [{"G": [[1], [2]], "losses": [1, 1]}]},
            {"id": "ok", "method": "ew", "K": 2, "d": 1, "steps": [{"G": [[1], [2]], "losses": [1, 1]}]}
        ]}"#,
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
        .args(["aggregate", path.to_str().expect("utf8")])
        .output()
        .expect("runs");
    assert!(out.status.success(), "per-case errors are not fatal");
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        v["results"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("unknown strategy")),
        "{v}"
    );
    assert_eq!(
        floats(&v["results"][1]["steps"][0]["shared_grad"]),
        [3.0],
        "EW sums"
    );

    std::fs::write(&path, "{").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
        .args(["aggregate", path.to_str().expect("utf8")])
        .output()
        .expect("runs");
    assert!(!out.status.success(), "a broken file fails");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cases.json"),
        "names the file"
    );
}

/// Runs `mtl-studio aggregate` on `tests/data/<name>`: the cases and the results.
fn aggregate_file(name: &str) -> (Vec<Value>, Vec<Value>) {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(env!("CARGO_BIN_EXE_mtl-studio"))
        .args(["aggregate", &path])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "aggregate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    let cases = cases["cases"].as_array().expect("cases").clone();
    let results = results["results"].as_array().expect("results").clone();
    assert_eq!(cases.len(), results.len(), "one result per case");
    (cases, results)
}

/// Every step of every case: `shared_grad` and `weights` within `tol(method)` relative of
/// `expected`; the mismatches.
fn compare_all(cases: &[Value], results: &[Value], tol: impl Fn(&str) -> f64) -> Vec<String> {
    let mut failures = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let id = case["id"].as_str().unwrap_or_default();
        let tol = tol(case["method"].as_str().unwrap_or_default());
        if let Some(err) = result.get("error") {
            failures.push(format!("{id}: error {err}"));
            continue;
        }
        let expected = case["expected"].as_array().expect("expected");
        for (s, want) in expected.iter().enumerate() {
            let got = &result["steps"][s];
            for field in ["shared_grad", "weights"] {
                let (g, w) = (floats(&got[field]), floats(&want[field]));
                if w.is_empty() {
                    continue;
                }
                let err = rel_err(&g, &w);
                if err.is_nan() || err > tol {
                    failures.push(format!("{id} step {s}: {field} {g:?} vs {w:?} ({err:e})"));
                }
            }
        }
    }
    failures
}

/// MoDo and SDMGrad on LibMTL's recorded three gradient samples per step, state carried
/// over the 7-step trajectories. The format allows SDMGrad 1e-2 relative (its inner SGD,
/// lr 5, amplifies rounding); the same float64 operations in the same order reproduce it to
/// ~1e-16, so both are held to 1e-9 here, loose enough for another platform's rounding.
#[test]
fn modo_and_sdmgrad_reproduce_libmtl_on_three_samples() {
    let (cases, results) = aggregate_file("aggregate-sampled-cases.json");
    assert!(cases.len() >= 8, "both methods on every input");
    let failures = compare_all(&cases, &results, |_| 1e-9);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every entry within `atol` of `expected`; the mismatches.
fn compare_abs(cases: &[Value], results: &[Value], atol: f64) -> Vec<String> {
    let mut failures = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        let id = case["id"].as_str().unwrap_or_default();
        if let Some(err) = result.get("error") {
            failures.push(format!("{id}: error {err}"));
            continue;
        }
        for (s, want) in case["expected"]
            .as_array()
            .expect("expected")
            .iter()
            .enumerate()
        {
            for field in ["shared_grad", "weights"] {
                let (g, w) = (floats(&result["steps"][s][field]), floats(&want[field]));
                let off = g.len() != w.len() || g.iter().zip(&w).any(|(a, b)| (a - b).abs() > atol);
                if !w.is_empty() && off {
                    failures.push(format!("{id} step {s}: {field} {g:?} vs {w:?}"));
                }
            }
        }
    }
    failures
}

/// ConFIG and DualProj (and UPGrad, MGDA, IMTL-G, PCGrad as cross-checks) against the values
/// in TorchJD's unit tests (`tests/data/torchjd-cases.json`), to TorchJD's own tolerance of
/// 1e-4 absolute: its values are float32, rounded to 4 decimals.
#[test]
fn the_newer_aggregators_match_torchjds_published_values() {
    let (cases, results) = aggregate_file("torchjd-cases.json");
    let methods: Vec<&str> = cases.iter().filter_map(|c| c["method"].as_str()).collect();
    assert!(methods.contains(&"config") && methods.contains(&"dualproj"));
    let failures = compare_abs(&cases, &results, 1e-4);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
