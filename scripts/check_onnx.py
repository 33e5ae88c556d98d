#!/usr/bin/env python3
"""Check an MTL Studio ONNX export with onnxruntime (for those who have it; CI does not).

    scripts/check_onnx.py RUN INPUT.csv [--bin target/debug/mtl-studio] [--keep DIR]
        Exports RUN (a run folder or a model.safetensors file) with `mtl-studio export onnx`,
        checks the graph with onnx.checker (full check, shape inference included), runs it
        with onnxruntime on the rows of INPUT.csv and compares every task's output with what
        `mtl-studio predict RUN INPUT.csv` writes: within 1e-5 relative (an absolute floor
        of 0.1 under the magnitude, for values near 0); semantic segmentation by each pixel's
        most probable class, the one value predict writes.

    scripts/check_onnx.py --check MODEL.onnx [MODEL.onnx ...]
        Only onnx.checker on each file (what Netron and runtimes need: a valid model).

INPUT.csv holds the raw input columns, as `predict` reads them: the graph's input is the
encoded features, so this script encodes the rows as MTL Studio does (the `input_encoding`
in the graph's metadata: numeric columns with their imputation value and missing-value
indicator, categorical columns one-hot) and, without an encoding, reads the columns named in
`feature_names`. Needs `pip install onnx onnxruntime numpy`. Exit code 0 when everything
agrees, 1 otherwise.
"""

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile

REL = 1e-5
FLOOR = 0.1
MISSING = {"", "na", "n/a", "nan", "null", "none", "?"}
MISSING_LEVEL = "(missing)"


def metadata(model):
    return {p.key: p.value for p in model.metadata_props}


def encode(rows, header, meta):
    """The feature matrix of raw CSV rows, as `predict` encodes them."""
    import numpy as np

    header = [h[:-4] if h.endswith(":cat") else h for h in header]
    names = json.loads(meta["feature_names"])
    if "input_encoding" in meta:
        columns = json.loads(meta["input_encoding"])["columns"]
    else:
        columns = [
            {"name": n, "kind": {"type": "numeric", "impute": None, "indicator": False}}
            for n in names
        ]
    index = {}
    for c in columns:
        if c["name"] not in header:
            sys.exit(f"the input CSV has no column '{c['name']}'")
        index[c["name"]] = header.index(c["name"])
    x = []
    for line, row in enumerate(rows, start=2):
        features = []
        for c in columns:
            cell = row[index[c["name"]]].strip()
            missing = cell.lower() in MISSING
            kind = c["kind"]
            if kind["type"] == "numeric":
                impute = kind.get("impute")
                if missing and (impute is None or (isinstance(impute, float) and math.isnan(impute))):
                    sys.exit(f"line {line}: column '{c['name']}' has a missing value")
                features.append(float(impute) if missing else float(cell))
                if kind.get("indicator"):
                    features.append(1.0 if missing else 0.0)
            else:
                level = MISSING_LEVEL if missing else cell
                features.extend(1.0 if level == lv else 0.0 for lv in kind["levels"])
        x.append(features)
    x = np.asarray(x, dtype=np.float32).reshape(len(x), len(names))
    return x


def expected_columns(task, pred_header):
    """The predict columns holding task's probabilities or value, in output order."""
    name, kind = task["name"], task["kind"]
    if kind == "regression":
        return [name]
    if kind == "binary":
        return [f"{name}_p"]
    if kind == "multiclass":
        return [f"{name}_p_{c}" for c in task["classes"]]
    if kind == "segmentation":
        return [f"{name}_p_{i}" for i in range(task["out_dim"])]
    return None


def compare(outputs, tasks, pred_header, pred_rows):
    import numpy as np

    col = {h: i for i, h in enumerate(pred_header)}
    worst, bad = 0.0, 0
    for task, out in zip(tasks, outputs):
        cols = expected_columns(task, pred_header)
        if cols is None:
            # Semantic segmentation: predict writes each pixel's most probable class.
            classes = task["classes"]
            pixels = task["out_dim"] // max(len(classes), 1)
            for r, row in enumerate(pred_rows):
                probs = out[r].reshape(len(classes), pixels)
                got = [classes[i] for i in probs.argmax(axis=0)]
                want = [row[col[f"{task['name']}_{p}"]] for p in range(pixels)]
                bad += sum(g != w for g, w in zip(got, want))
            continue
        want = np.asarray(
            [[float(row[col[c]]) for c in cols] for row in pred_rows], dtype=np.float64
        )
        got = out.astype(np.float64)
        rel = np.abs(got - want) / np.maximum(np.abs(want), FLOOR)
        worst = max(worst, float(rel.max(initial=0.0)))
        bad += int((rel > REL).sum())
        if (rel > REL).any():
            i = np.unravel_index(rel.argmax(), rel.shape)
            print(f"  {task['name']}: row {i[0]} value {i[1]}: ONNX {got[i]} vs predict {want[i]}")
    return worst, bad


def check_file(path):
    import onnx

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", help="a run folder or a model.safetensors file")
    ap.add_argument("input", nargs="?", help="CSV with the raw input columns")
    ap.add_argument("--bin", default=os.environ.get("MTL_STUDIO", "target/debug/mtl-studio"))
    ap.add_argument("--keep", help="write model.onnx and predictions.csv into this folder")
    ap.add_argument("--check", nargs="+", metavar="MODEL.onnx", help="only run onnx.checker")
    args = ap.parse_args()
    if args.check:
        for path in args.check:
            check_file(path)
            print(f"ok: {path} is a valid ONNX model")
        return 0
    if not (args.run and args.input):
        ap.error("give RUN and INPUT.csv, or --check MODEL.onnx")

    import numpy as np
    import onnxruntime as ort

    out_dir = args.keep or tempfile.mkdtemp(prefix="check_onnx_")
    os.makedirs(out_dir, exist_ok=True)
    onnx_path = os.path.join(out_dir, "model.onnx")
    pred_path = os.path.join(out_dir, "predictions.csv")
    subprocess.run([args.bin, "export", "onnx", args.run, "-o", onnx_path], check=True)
    subprocess.run([args.bin, "predict", args.run, args.input, "-o", pred_path], check=True)
    model = check_file(onnx_path)
    meta = metadata(model)
    tasks = json.loads(meta["tasks"])
    with open(args.input, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [r for r in reader if r]
    x = encode(rows, header, meta)
    session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    if names != [t["name"] for t in tasks]:
        print(f"outputs {names} are not the tasks {[t['name'] for t in tasks]}")
        return 1
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    with open(pred_path, newline="") as f:
        reader = csv.reader(f)
        pred_header = next(reader)
        pred_rows = [r for r in reader if r]
    worst, bad = compare(outputs, tasks, pred_header, pred_rows)
    print(
        f"{args.run}: {len(rows)} rows, {len(tasks)} tasks, onnxruntime {ort.__version__}: "
        f"largest relative difference {worst:.2e}, {bad} values off"
    )
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
