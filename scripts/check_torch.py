#!/usr/bin/env python3
"""The real check of `mtl-studio export torch`, where torch is installed.

For every example spec: train one epoch, export it to PyTorch, load model.py with the run's
model.safetensors (strict), run it on rows of the experiment's data (random rows for image
data, which MTL-CSV cannot hold) and compare with `mtl-studio predict` on the same rows
(1e-5 relative: to the value, or for a value near 0 to the mean magnitude of the task's
outputs; a probability, also on the logit scale). Then train examples/hard_sharing.toml with the exported train.py under
`torchrun --nproc_per_node 2` and check that predict and the module accept its weights and
agree. Run it through scripts/check_torch.sh (which builds the binary first).

    scripts/check_torch.sh [--only hard_sharing,mmoe] [--skip-torchrun]
"""

import argparse
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parent.parent
MTL = os.environ.get("MTL_STUDIO", str(ROOT / "target" / "debug" / "mtl-studio"))
RTOL = 1e-5
ROWS = 200


def run(args, **kw):
    out = subprocess.run(args, capture_output=True, text=True, **kw)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(map(str, args))}\n{out.stdout}\n{out.stderr}")
    return out


def load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def raw_rows(header, rows, encoding):
    """Encoded MTL-CSV rows back into the raw columns `predict` reads (input_encoding)."""
    where = {n: i for i, n in enumerate(header)}
    names, out = [], [[] for _ in rows]
    for col in encoding["columns"]:
        name, kind = col["name"], col["kind"]
        names.append(name)
        for r, row in enumerate(rows):
            if kind["type"] == "numeric":
                missing = kind.get("indicator") and row[where[f"{name}_missing"]] in ("1", "1.0")
                out[r].append("" if missing else row[where[name]])
            else:
                level = next((lv for lv in kind["levels"]
                              if row[where[f"{name}={lv}"]] in ("1", "1.0")), "")
                out[r].append("" if level == "(missing)" else level)
    return names, out


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def inputs(torch_dir, weights, work):
    """(features [N, F] for the module, CSV file for predict)."""
    model = load_module(torch_dir / "model.py", f"model_{torch_dir.parent.name}")
    data = torch_dir / "data.csv"
    with safe_open(str(weights), "pt") as f:
        meta = f.metadata()
    encoding = json.loads(meta["input_encoding"]) if "input_encoding" in meta else None
    if data.exists():
        header, rows = read_csv(data)
        rows = rows[:ROWS]
        where = {n: i for i, n in enumerate(header)}
        x = torch.tensor([[float(r[where[n]]) if r[where[n]] != "" else math.nan
                           for n in model.FEATURE_NAMES] for r in rows], dtype=torch.float32)
        if encoding is None:
            return model, x, data_subset(work, header, rows)
        names, raw = raw_rows(header, rows, encoding)
        path = work / "raw.csv"
        write_csv(path, names, raw)
        return model, x, path
    # Image data: random rows around the training statistics.
    tensors = load_file(str(weights))
    g = torch.Generator().manual_seed(0)
    n = len(model.FEATURE_NAMES)
    x = tensors["normalizer.mean"] + tensors["normalizer.std"] * torch.randn(64, n, generator=g)
    path = work / "random.csv"
    write_csv(path, model.FEATURE_NAMES, [[repr(float(v)) for v in row] for row in x])
    return model, x, path


def data_subset(work, header, rows):
    path = work / "subset.csv"
    write_csv(path, header, rows)
    return path


def compare(model_mod, weights, x, predict_csv, work):
    """Max relative difference between the module and `predict`; class mismatches."""
    net = model_mod.MtlModel()
    state = load_file(str(weights))
    declared = set(model_mod.PARAMETER_NAMES)
    assert declared == set(state), f"PARAMETER_NAMES {sorted(declared ^ set(state))}"
    assert declared == set(net.state_dict()), "state_dict names"
    net.load_state_dict(state, strict=True)
    net.eval()
    with torch.no_grad():
        out = net(x)
    pred = work / "pred.csv"
    run([MTL, "predict", str(weights), str(predict_csv), "-o", str(pred)])
    header, rows = read_csv(pred)
    where = {n: i for i, n in enumerate(header)}
    worst, mismatched = 0.0, 0
    for task in model_mod.TASKS:
        name, kind, y = task["name"], task["kind"], out[task["name"]]
        if kind == "regression":
            cols = [name]
        elif kind == "binary":
            cols = [f"{name}_p"]
        elif kind == "multiclass":
            cols = [f"{name}_p_{c}" for c in task["classes"]]
        elif kind == "segmentation":
            cols = [f"{name}_p_{i}" for i in range(task["out_dim"])]
        else:
            classes = task["classes"]
            pixels = task["out_dim"] // len(classes)
            best = y.reshape(len(y), len(classes), pixels).argmax(1)
            for r, row in enumerate(rows):
                mismatched += sum(row[where[f"{name}_{p}"]] != classes[int(best[r, p])]
                                  for p in range(pixels))
            continue
        want = torch.tensor([[float(row[where[c]]) for c in cols] for row in rows])
        # Relative to the value, or to the task's mean magnitude for values near 0 (they
        # cancel from larger terms and carry those terms' float32 rounding).
        scale = want.abs().mean(0, keepdim=True).clamp(min=1e-6)
        rel = (y - want).abs() / torch.maximum(want.abs(), scale)
        if kind != "regression":
            # A probability near 0 is a saturated sigmoid or softmax: compared on the logit
            # scale, log(p / (1 - p)), where float32 rounding of the logit shows as it is.
            yl, wl = [torch.logit(v.double(), eps=1e-12) for v in (y, want)]
            rel = torch.minimum(rel, ((yl - wl).abs() / wl.abs().clamp(min=1.0)).float())
        if os.environ.get("CHECK_TORCH_DEBUG") and float(rel.max()) > RTOL:
            i = int(rel.argmax())
            print(f"  {name}: module {float(y.flatten()[i])!r} predict {float(want.flatten()[i])!r}"
                  f" column max {float(want.abs().max()):.3g}")
        worst = max(worst, float(rel.max()))
    return worst, mismatched


def check_example(spec, work):
    name = spec.stem
    run_dir, torch_dir = work / "run", work / "torch"
    run([MTL, "train", str(spec), "--out", str(run_dir), "--epochs", "1", "--quiet"])
    run([MTL, "export", "torch", str(run_dir), "-o", str(torch_dir)])
    run([sys.executable, "-m", "py_compile", str(torch_dir / "model.py"), str(torch_dir / "train.py")])
    weights = run_dir / "model.safetensors"
    model_mod, x, predict_csv = inputs(torch_dir, weights, work)
    worst, mismatched = compare(model_mod, weights, x, predict_csv, work)
    ok = worst <= RTOL and mismatched == 0
    print(f"{'ok  ' if ok else 'FAIL'} {name:22} rows {len(x):4}  max rel diff {worst:.2e}"
          f"{f'  pixel classes differing {mismatched}' if mismatched else ''}", flush=True)
    return ok


def check_torchrun(work, nproc):
    spec = ROOT / "examples" / "hard_sharing.toml"
    run_dir, torch_dir = work / "run", work / "torch"
    app = run([MTL, "train", str(spec), "--out", str(run_dir), "--quiet"])
    print(f"app: {app.stdout.strip()}")
    run([MTL, "export", "torch", str(run_dir), "-o", str(torch_dir)])
    trained = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={nproc}", str(torch_dir / "train.py")],
        capture_output=True, text=True, cwd=work)
    print(trained.stdout.strip())
    if trained.returncode != 0:
        sys.exit(f"torchrun failed:\n{trained.stderr}")
    weights = torch_dir / "model.safetensors"
    model_mod, x, predict_csv = inputs(torch_dir, weights, work)
    worst, mismatched = compare(model_mod, weights, x, predict_csv, work)
    ok = worst <= RTOL and mismatched == 0
    print(f"{'ok  ' if ok else 'FAIL'} torchrun-trained weights: predict and the module agree "
          f"(max rel diff {worst:.2e})")
    return ok


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--only", default="", help="comma-separated example names")
    p.add_argument("--skip-torchrun", action="store_true")
    p.add_argument("--nproc", type=int, default=2)
    args = p.parse_args()
    only = [s for s in args.only.split(",") if s]
    specs = sorted(s for s in (ROOT / "examples").glob("*.toml") if not only or s.stem in only)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="check-torch-") as tmp:
        for spec in specs:
            work = Path(tmp) / spec.stem
            work.mkdir()
            failed += not check_example(spec, work)
        if not args.skip_torchrun:
            work = Path(tmp) / "torchrun"
            work.mkdir()
            failed += not check_torchrun(work, args.nproc)
    total = len(specs) + (0 if args.skip_torchrun else 1)
    print(f"{total - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
