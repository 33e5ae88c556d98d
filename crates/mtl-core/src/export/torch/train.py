#!/usr/bin/env python3
"""Trains the MTL Studio experiment "@NAME@" in PyTorch.

Written by `mtl-studio export torch`, next to model.py (the network) and data.csv (the
experiment's data as MTL-CSV v1, with the split MTL Studio makes). Same data and split,
optimizer, epochs, batch size, task losses and loss weighting as the app; batch order,
dropout masks and initial weights come from PyTorch's generators, so the numbers are
close to, not equal to, the app's.

    python train.py                                  # one process (CPU, or a GPU if any)
    torchrun --nproc_per_node 2 train.py             # DistributedDataParallel, 2 processes
    torchrun --nnodes 2 --nproc_per_node 8 ... train.py   # a cluster

The global batch is the spec's batch size, cut evenly over the processes (gloo on CPUs,
NCCL on GPUs). Rank 0 writes model.safetensors (and spec.json) with the tensor names and
metadata MTL Studio reads: open it with *Load weights...* in the app, or run
`mtl-studio predict model.safetensors data.csv`.

Weighting: EW, manual, UW, MGDA and PCGrad are written out below; the other strategies
run through LibMTL (`pip install LibMTL`) when it is installed. Needs torch and
safetensors (`pip install torch safetensors`).
"""

import argparse
import csv
import json
import math
import os
import random
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from model import FEATURE_NAMES, TASKS, MtlModel  # noqa: E402

# The experiment spec the run was trained with.
SPEC = @SPEC@

# How raw CSV columns became FEATURE_NAMES (written into the weights for `predict`).
INPUT_ENCODING = @INPUT_ENCODING@

# Strategies written out here; the others go through LibMTL.
BUILT_IN = ("ew", "manual", "uw", "mgda", "pcgrad")
LIBMTL_NAMES = {
    "dwa": "DWA", "gls": "GLS", "rlw": "RLW", "stch": "STCH", "famo": "FAMO",
    "gradnorm": "GradNorm", "gradvac": "GradVac", "imtl": "IMTL",
    "aligned_mtl": "Aligned_MTL", "db_mtl": "DB_MTL", "moco": "MoCo",
    "excess_mtl": "ExcessMTL", "graddrop": "GradDrop", "cagrad": "CAGrad",
    "nash_mtl": "Nash_MTL", "fairgrad": "FairGrad", "upgrad": "UPGrad",
    "dualproj": "DualProj", "config": "ConFIG", "modo": "MoDo", "sdmgrad": "SDMGrad",
}
# Parameters every task shares (the rest are one task's own: its head, tower or gate).
SHARED_PREFIXES = ("shared.", "columns.", "stitch.", "experts.", "gate.")


def fail(message):
    sys.exit(f"train.py: error: {message}")


def parse_args():
    training = SPEC["training"]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=HERE / "data.csv",
                   help="MTL-CSV v1 file with a split column (default: data.csv here)")
    p.add_argument("--out", type=Path, default=HERE / "model.safetensors",
                   help="weights file to write (default: model.safetensors here)")
    p.add_argument("--epochs", type=int, default=training["epochs"])
    p.add_argument("--batch-size", type=int, default=training["batch_size"],
                   help="global batch size (all processes together)")
    p.add_argument("--lr", type=float, default=SPEC["optimizer"]["lr"])
    p.add_argument("--seed", type=int, default=SPEC["seed"])
    p.add_argument("--strategy", default=strategy_key(), help="loss weighting strategy")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    return p.parse_args()


def strategy_key():
    key = SPEC.get("weighting", {}).get("strategy", "ew")
    return "ew" if key == "equal" else key


# ----------------------------------------------------------------------------------------
# Data: MTL-CSV v1 as `mtl-studio export data` writes it.

def read_data(path):
    """Features [N, F] (NaN where missing) and per task labels [N] (NaN where missing), per
    split ("train", "val")."""
    if not path.is_file():
        fail(f"no data file {path}; write it with `mtl-studio export data SPEC -o {path}`")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        fail(f"{path}: the file is empty")
    header = rows[0]
    where = {name: i for i, name in enumerate(header)}
    missing = [n for n in FEATURE_NAMES if n not in where]
    if missing:
        fail(f"{path}: no input column {missing[0]!r} (the model reads {len(FEATURE_NAMES)} features)")
    if "split" not in where:
        fail(f"{path}: no 'split' column")
    targets = []
    for spec_task, task in zip(SPEC["tasks"], TASKS):
        if task["kind"] not in ("regression", "binary", "multiclass"):
            fail(f"task {task['name']!r} is a {task['kind']} task: MTL-CSV v1 holds one value per task")
        suffix = "reg" if task["kind"] == "regression" else "class"
        names = [f"task:{spec_task['target']}:{suffix}", f"task:{spec_task['target']}", spec_task["target"]]
        col = next((where[n] for n in names if n in where), None)
        if col is None:
            fail(f"{path}: no column {names[0]!r} for task {task['name']!r}")
        targets.append(col)
    feature_cols = [where[n] for n in FEATURE_NAMES]
    split_col = where["split"]
    out = {"train": ([], [[] for _ in TASKS]), "val": ([], [[] for _ in TASKS])}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            fail(f"{path}, line {line}: {len(row)} fields, the header has {len(header)}")
        split = {"train": "train", "val": "val", "test": "val"}.get(row[split_col].strip())
        if split is None:
            fail(f"{path}, line {line}, column {split_col + 1}: split {row[split_col]!r} is not train or val")
        xs, labels = out[split]
        xs.append([number(row[c], path, line, c) for c in feature_cols])
        for k, (task, col) in enumerate(zip(TASKS, targets)):
            labels[k].append(label(task, row[col].strip(), path, line, col))
    data = {}
    for split, (xs, labels) in out.items():
        x = torch.tensor(xs, dtype=torch.float32).reshape(len(xs), len(FEATURE_NAMES))
        data[split] = (x, [torch.tensor(v, dtype=torch.float32) for v in labels])
    if len(data["train"][0]) == 0:
        fail(f"{path}: no training rows (split = train)")
    return data


def number(text, path, line, col):
    text = text.strip()
    if text == "":
        return math.nan
    try:
        return float(text)
    except ValueError:
        fail(f"{path}, line {line}, column {col + 1}: {text!r} is not a number")


def label(task, text, path, line, col):
    if text in ("", "NA", "N/A", "NaN", "nan", "null", "None", "?"):
        return math.nan
    if task["kind"] == "regression":
        return number(text, path, line, col)
    if text not in task["classes"]:
        fail(f"{path}, line {line}, column {col + 1}: class {text!r} of task {task['name']!r} "
             f"is not one of {task['classes']}")
    return float(task["classes"].index(text))


def column_stats(x):
    """Per-feature mean and population deviation over the rows, missing cells skipped; a
    constant feature gets deviation 1 (as MTL Studio)."""
    x = x.double()
    present = ~torch.isnan(x)
    count = present.sum(0).clamp(min=1)
    filled = torch.where(present, x, torch.zeros_like(x))
    mean = filled.sum(0) / count
    var = torch.where(present, (x - mean) ** 2, torch.zeros_like(x)).sum(0) / count
    std = var.sqrt()
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    return mean.float(), std.float()


def target_stats(data, tasks):
    """CSV data: regression targets are learned standardised with the training labels'
    mean and deviation (predictions are mapped back); other data: the identity."""
    tasks = [dict(t) for t in tasks]
    if SPEC["dataset"].get("source") != "csv":
        return tasks
    _, labels = data["train"]
    for k, task in enumerate(tasks):
        if task["kind"] != "regression":
            continue
        y = labels[k][~torch.isnan(labels[k])].double()
        mean = y.mean().item() if len(y) else 0.0
        std = y.std(unbiased=False).item() if len(y) else 1.0
        task["target_mean"], task["target_std"] = mean, (std if std > 1e-12 else 1.0)
    return tasks


# ----------------------------------------------------------------------------------------
# Losses: each task's mean over the batch's rows that carry its label.

def task_losses(logits, labels, tasks, per_batch_row):
    losses = []
    for task in tasks:
        out, y = logits[task["name"]], labels[task["name"]]
        mask = ~torch.isnan(y)
        y0 = torch.where(mask, y, torch.zeros_like(y))
        if task["loss"] == "mse":
            per_row = (out[:, 0] - y0) ** 2
        elif task["loss"] == "mae":
            per_row = (out[:, 0] - y0).abs()
        elif task["loss"] == "bce":
            per_row = F.binary_cross_entropy_with_logits(out[:, 0], y0, reduction="none")
        else:
            per_row = F.cross_entropy(out, y0.long(), reduction="none")
        denom = len(y) if per_batch_row else int(mask.sum())
        losses.append((per_row * mask).sum() / max(denom, 1))
    return losses


def standardised_labels(labels, tasks):
    out = {}
    for task, y in zip(tasks, labels):
        if task["kind"] == "regression":
            y = (y - task["target_mean"]) / task["target_std"]
        out[task["name"]] = y
    return out


# ----------------------------------------------------------------------------------------
# Architecture penalties: soft sharing's coupling and relationship learning.

class Penalties:
    def __init__(self, net):
        self.net = net
        arch = SPEC["model"].get("architecture", {"kind": "hard"})
        self.soft = arch if arch.get("kind") == "soft" else None
        self.rel = SPEC["model"].get("relationship")
        self.omega_inv = None
        if self.rel:
            self.omega_inv = torch.linalg.inv(net.relationship.omega.double()).float()

    def output_weights(self):
        """W [d, T]: each head's output weight flattened into a column, zero-padded."""
        cols = [self.net.heads[t["name"]][-1].weight.flatten() for t in TASKS]
        d = max(len(c) for c in cols)
        return torch.stack([F.pad(c, (0, d - len(c))) for c in cols], dim=1)

    def value(self):
        terms = []
        if self.soft and self.soft.get("lambda", 0.0) > 0:
            towers = [dict(self.net.towers[t["name"]].named_parameters()) for t in TASKS]
            coupling = self.soft.get("coupling", "all_pairs")
            for name in towers[0]:
                v = [tower[name] for tower in towers]
                if coupling == "consecutive":
                    s = sum(((v[a - 1] - v[a]) ** 2).sum() for a in range(1, len(v)))
                elif coupling == "mean":
                    stacked = torch.stack(v)
                    s = 2 * ((stacked - stacked.mean(0, keepdim=True)) ** 2).sum()
                else:
                    s = sum(((v[a] - v[b]) ** 2).sum()
                            for a in range(len(v)) for b in range(a + 1, len(v)))
                terms.append(s * (self.soft["lambda"] / 2))
        if self.rel:
            w = self.output_weights()
            if self.rel.get("lambda_ridge", 0.0) > 0:
                terms.append((w ** 2).sum() * (self.rel["lambda_ridge"] / 2))
            if self.rel.get("lambda", 0.0) > 0:
                terms.append(((w @ self.omega_inv) * w).sum() * (self.rel["lambda"] / 2))
        return sum(terms) if terms else None

    @torch.no_grad()
    def after_step(self, step):
        """Relationship learning's closed form every update_every steps:
        Omega = (W^T W + eps I)^(1/2) / tr(...)."""
        if not self.rel or step % max(int(self.rel.get("update_every", 20)), 1):
            return
        w = self.output_weights().double()
        a = w.T @ w + self.rel.get("epsilon", 1e-4) * torch.eye(w.shape[1], dtype=w.dtype)
        vals, vecs = torch.linalg.eigh(a)
        root = vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
        omega = ((root + root.T) / (2 * torch.trace(root))).float()
        self.net.relationship.omega.copy_(omega)
        self.omega_inv = torch.linalg.inv(omega.double()).float()


# ----------------------------------------------------------------------------------------
# Loss weighting.

def mgda_weights(grads, losses, norm):
    """Sener & Koltun's min-norm point of the (normalised) task gradients, as LibMTL
    (K = 2 in closed form with its 0.999 / 0.001 clipping; more tasks by Frank-Wolfe)."""
    if norm == "l2":
        n = grads.norm(dim=1)
    elif norm == "loss":
        n = losses
    elif norm == "loss+":
        n = losses * grads.norm(dim=1)
    else:
        n = torch.ones(len(grads), dtype=grads.dtype)
    n = torch.where(n > 0, n, torch.ones_like(n))
    g = grads / n[:, None]
    m = g @ g.T
    k = len(g)
    if k == 1:
        w = torch.ones(1, dtype=g.dtype)
    elif k == 2:
        if m[0, 1] >= m[0, 0]:
            gamma = 0.999
        elif m[0, 1] >= m[1, 1]:
            gamma = 0.001
        else:
            gamma = ((m[1, 1] - m[0, 1]) / (m[0, 0] + m[1, 1] - 2 * m[0, 1])).item()
        w = torch.tensor([gamma, 1 - gamma], dtype=g.dtype)
    else:
        w = torch.full((k,), 1.0 / k, dtype=g.dtype)
        for _ in range(250):
            t = int(torch.argmin(m @ w))
            v1v1, v1v2, v2v2 = w @ m @ w, w @ m[:, t], m[t, t]
            if v1v2 >= v1v1:
                break
            # The step towards vertex t: LibMTL's min-norm point of the pair (w, e_t).
            if v1v2 >= v2v2:
                gamma = 1.0
            else:
                gamma = float(((v1v1 - v1v2) / (v1v1 + v2v2 - 2 * v1v2)).clamp(0, 1))
            w = (1 - gamma) * w
            w[t] += gamma
    return (w[:, None] * g).sum(0)


def pcgrad(grads, generator, identity):
    """Yu et al.'s gradient surgery, as LibMTL: each task's gradient projected off every
    task gradient it conflicts with, in a random order; the projections summed."""
    k = len(grads)
    pc = grads.clone()
    for i in range(k):
        order = list(range(k)) if identity else torch.randperm(k, generator=generator).tolist()
        for j in order:
            d = pc[i] @ grads[j]
            if d < 0:
                pc[i] -= d / (grads[j] @ grads[j] + 1e-8) * grads[j]
    return pc.sum(0)


class LibMtlWeighting:
    """Another strategy through LibMTL's implementation (its hyperparameters by name)."""

    def __init__(self, key, shared, device, epochs):
        try:
            import numpy as np
            import LibMTL.weighting as weighting
        except ImportError:
            fail(f"strategy {key!r} runs through LibMTL, which is not installed here "
                 f"(`pip install LibMTL`); train.py writes out {', '.join(BUILT_IN)}: "
                 f"try --strategy ew")
        name = LIBMTL_NAMES.get(key)
        cls = getattr(weighting, name, None) if name else None
        if cls is None:
            fail(f"strategy {key!r} is not in the installed LibMTL")

        class Adapter(cls):
            def get_share_params(self):
                return shared

            def zero_grad_share_params(self):
                for p in shared:
                    p.grad = None

        self.method = Adapter()
        self.method.task_num = len(TASKS)
        self.method.device = torch.device(device)
        self.method.rep_grad = False
        self.method.epoch = 0
        self.method.epochs = epochs
        self.method.train_loss_buffer = np.zeros([len(TASKS), epochs])
        self.method.init_param()
        self.kwargs = {k: v for k, v in SPEC.get("weighting", {}).items()
                       if k not in ("strategy", "rep_grad")}

    def parameters(self):
        return list(self.method.parameters())

    def backward(self, losses, epoch):
        self.method.epoch = epoch
        self.method.backward(losses, **self.kwargs)


def all_reduce_mean(tensors, world):
    if world > 1:
        for t in tensors:
            if t is not None:
                dist.all_reduce(t)
                t /= world


def flat_grads(loss, params):
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                      for g, p in zip(grads, params)])


class Logits(nn.Module):
    """The network's raw outputs as its forward, for DistributedDataParallel."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.logits(x)


def make_optimizer(params_groups, lr):
    o = SPEC["optimizer"]
    kind = o["kind"]
    if kind == "sgd":
        return torch.optim.SGD(params_groups, lr=lr, momentum=o.get("momentum", 0.0),
                               nesterov=o.get("nesterov", False),
                               weight_decay=o.get("weight_decay", 0.0))
    if kind in ("adam", "adamw"):
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        return cls(params_groups, lr=lr, betas=(o.get("beta1", 0.9), o.get("beta2", 0.999)),
                   eps=o.get("eps", 1e-8),
                   weight_decay=o.get("weight_decay", 0.0 if kind == "adam" else 0.01))
    if kind == "rmsprop":
        return torch.optim.RMSprop(params_groups, lr=lr, alpha=o.get("alpha", 0.99),
                                   eps=o.get("eps", 1e-8), momentum=o.get("momentum", 0.0),
                                   weight_decay=o.get("weight_decay", 0.0))
    fail(f"optimizer {kind!r} is not known")


# ----------------------------------------------------------------------------------------
# Training.

class Trainer:
    def __init__(self, args, data, tasks, rank, world, device):
        self.args, self.tasks, self.rank, self.world = args, tasks, rank, world
        self.device = device
        self.key = args.strategy
        torch.manual_seed(args.seed)
        random.seed(args.seed)
        self.net = MtlModel().to(device)
        mean, std = column_stats(data["train"][0])
        self.net.normalizer.mean.copy_(mean)
        self.net.normalizer.std.copy_(std)
        self.model = Logits(self.net)
        if world > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(self.model)
        named = list(self.net.named_parameters())
        self.shared = [p for n, p in named if n.startswith(SHARED_PREFIXES)]
        self.own = [p for n, p in named if not n.startswith(SHARED_PREFIXES)]
        arch = SPEC["model"].get("architecture", {})
        stitch = [p for n, p in named if n.startswith("stitch.")]
        rest = [p for n, p in named if not n.startswith("stitch.")]
        groups = [{"params": rest}]
        if stitch:
            groups.append({"params": stitch, "lr": args.lr * arch.get("lr_scale", 10.0)})
        self.log_var = None
        self.libmtl = None
        if self.key == "uw":
            # Kendall et al.: one log-variance s per task, stepped by gradient descent.
            self.log_var = torch.full((len(TASKS),), -0.5, device=device, requires_grad=True)
            self.uw_opt = torch.optim.SGD([self.log_var], lr=args.lr)
        elif self.key not in BUILT_IN:
            self.libmtl = LibMtlWeighting(self.key, self.shared, device, args.epochs)
            if self.libmtl.parameters():
                groups.append({"params": self.libmtl.parameters()})
        self.optimizer = make_optimizer(groups, args.lr)
        self.penalties = Penalties(self.net)
        self.manual = [float(t.get("weight", 1.0)) for t in SPEC["tasks"]]
        self.pc_generator = torch.Generator().manual_seed(args.seed)
        self.per_batch_row = SPEC["training"].get("loss_normalisation") == "batch"
        self.step = 0

    def train_step(self, x, labels, epoch):
        self.optimizer.zero_grad(set_to_none=True)
        if self.key in ("ew", "manual", "uw"):
            logits = self.model(x)
            losses = task_losses(logits, labels, self.tasks, self.per_batch_row)
            if self.key == "uw":
                self.uw_opt.zero_grad(set_to_none=True)
                total = sum(l / (2 * self.log_var[k].exp()) + self.log_var[k] / 2
                            for k, l in enumerate(losses))
            else:
                w = self.manual if self.key == "manual" else [1.0] * len(losses)
                total = sum(wk * l for wk, l in zip(w, losses))
            penalty = self.penalties.value()
            if penalty is not None:
                total = total + penalty
            total.backward()
            if self.key == "uw":
                all_reduce_mean([self.log_var.grad], self.world)
                self.uw_opt.step()
                with torch.no_grad():
                    self.log_var.clamp_(-700, 700)
        else:
            losses = self.gradient_step(x, labels, epoch)
        self.optimizer.step()
        self.step += 1
        self.penalties.after_step(self.step)
        return [l.item() for l in losses]

    def gradient_step(self, x, labels, epoch):
        """Per-task gradients on the shared parameters, combined; each head its own loss's
        gradient. Across processes the gradients are averaged before they are combined."""
        logits = self.net.logits(x)
        losses = task_losses(logits, labels, self.tasks, self.per_batch_row)
        if self.libmtl is not None:
            penalty = self.penalties.value()
            if penalty is not None:
                penalty.backward(retain_graph=True)
            self.libmtl.backward(losses, epoch)
            all_reduce_mean([p.grad for p in self.net.parameters()], self.world)
            return losses
        grads = torch.stack([flat_grads(l, self.shared) for l in losses])
        loss_values = torch.stack([l.detach() for l in losses]).to(grads.dtype)
        all_reduce_mean([grads, loss_values], self.world)
        if self.key == "mgda":
            norm = SPEC.get("weighting", {}).get("mgda_gn", "none")
            combined = mgda_weights(grads.double(), loss_values.double(), norm).float()
        else:
            identity = SPEC.get("weighting", {}).get("order", "random") == "identity"
            combined = pcgrad(grads.double(), self.pc_generator, identity).float()
        total = sum(losses)
        penalty = self.penalties.value()
        if penalty is not None:
            total = total + penalty
        own = torch.autograd.grad(total, self.own, allow_unused=True)
        for p, g in zip(self.own, own):
            p.grad = g if g is not None else torch.zeros_like(p)
        offset = 0
        for p in self.shared:
            n = p.numel()
            p.grad = combined[offset:offset + n].reshape(p.shape).clone()
            offset += n
        all_reduce_mean([p.grad for p in self.own], self.world)
        return losses

    @torch.no_grad()
    def evaluate(self, x, labels):
        """Per task: the loss and the headline metric (R^2 or accuracy) on a split."""
        self.net.eval()
        logits = self.net.logits(x)
        self.net.train()
        y = standardised_labels(labels, self.tasks)
        losses = task_losses(logits, y, self.tasks, False)
        out = []
        for task, loss in zip(self.tasks, losses):
            t, z = y[task["name"]], logits[task["name"]]
            mask = ~torch.isnan(t)
            if task["kind"] == "regression":
                res = ((z[:, 0] - t) ** 2)[mask].sum()
                tot = ((t[mask] - t[mask].mean()) ** 2).sum()
                metric = ("r2", (1 - res / tot).item() if tot > 0 else float("nan"))
            else:
                pred = (z[:, 0] > 0).float() if task["kind"] == "binary" else z.argmax(1).float()
                metric = ("accuracy", (pred[mask] == t[mask]).float().mean().item())
            out.append((task["name"], loss.item(), metric))
        return out


def main():
    args = parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda":
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    if world > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    for key, default in (("sampling", "joint"), ("stop", None), ("keep_labels", None)):
        if SPEC["training"].get(key, default) not in (default, {}, None) and rank == 0:
            print(f"note: train.py ignores training.{key} (joint batches, all epochs, all labels)")
    data = read_data(args.data)
    tasks = target_stats(data, TASKS)
    trainer = Trainer(args, data, tasks, rank, world, device)
    x, labels = data["train"]
    y = standardised_labels(labels, tasks)
    names = [t["name"] for t in tasks]
    dataset = torch.utils.data.TensorDataset(x, *[y[n] for n in names])
    sampler = None
    if world > 1:
        sampler = torch.utils.data.distributed.DistributedSampler(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    per_process = max(1, args.batch_size // world)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=per_process, shuffle=sampler is None, sampler=sampler,
        generator=torch.Generator().manual_seed(args.seed))
    if rank == 0:
        print(f"{len(x)} training rows, {len(data['val'][0])} validation rows; "
              f"{args.epochs} epochs of batches of {per_process} x {world} process(es); "
              f"strategy {args.strategy}; {SPEC['optimizer']['kind']} lr {args.lr}")
    val_x, val_labels = data["val"] if len(data["val"][0]) else data["train"]
    for epoch in range(args.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        sums = [0.0] * len(names)
        batches = 0
        for batch in loader:
            bx = batch[0].to(device)
            by = {n: v.to(device) for n, v in zip(names, batch[1:])}
            for k, l in enumerate(trainer.train_step(bx, by, epoch)):
                sums[k] += l
            batches += 1
        if trainer.libmtl is not None:
            trainer.libmtl.method.train_loss_buffer[:, epoch] = [s / max(batches, 1) for s in sums]
        if rank == 0:
            evals = trainer.evaluate(val_x.to(device), [v.to(device) for v in val_labels])
            text = "  ".join(f"{n}: loss {l:.4f} {m[0]} {m[1]:.4f}" for n, l, m in evals)
            print(f"epoch {epoch + 1}/{args.epochs}  val  {text}", flush=True)
    if rank == 0:
        save(trainer.net, tasks, args.out)
        print(f"wrote {args.out}")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()


def save(net, tasks, path):
    """model.safetensors with MTL Studio's tensor names and metadata, and spec.json."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().float().cpu().contiguous() for k, v in net.state_dict().items()}
    spec = json.dumps(SPEC)
    metadata = {
        "format": "pt",
        "mtl_studio_format": "mtl-studio/1",
        "spec": spec,
        "tasks": json.dumps(tasks),
        "feature_names": json.dumps(FEATURE_NAMES),
    }
    if INPUT_ENCODING is not None:
        metadata["input_encoding"] = json.dumps(INPUT_ENCODING)
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    spec_path = path.with_name("spec.json" if path.stem == "model" else f"{path.stem}.spec.json")
    tmp = spec_path.with_name(f".{spec_path.name}.tmp")
    tmp.write_text(spec, encoding="utf-8")
    os.replace(tmp, spec_path)


if __name__ == "__main__":
    main()
