#!/usr/bin/env bash
# Kill -9 loop for the run-folder guarantee (issue 21, point 2): a rerun into an existing run
# folder is killed at a random moment, again and again; after each kill the folder must hold
# exactly one run (spec.toml and the model's spec.json carry the same seed), and the next run
# must clean up what the killed one left (no `.run.tmp-*` folder stays after a finished run).
# Usage: scripts/kill9-rerun.sh [TRIES] (default 60); needs target/debug/mtl-studio.
set -euo pipefail
tries=${1:-60}
bin=${MTL:-target/debug/mtl-studio}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" init -o "$dir/exp.toml" >/dev/null
sed -i 's/samples = 12000/samples = 600/' "$dir/exp.toml"
"$bin" train "$dir/exp.toml" --out "$dir/run" --epochs 2 --seed 1 --quiet >/dev/null
seed_of() { grep -oE '"seed": *[0-9]+' "$1" | head -1 | grep -oE '[0-9]+$'; }
mixed=0
kept=0
for i in $(seq 2 "$tries"); do
    "$bin" train "$dir/exp.toml" --out "$dir/run" --epochs 30 --seed "$i" --quiet >/dev/null 2>&1 &
    pid=$!
    sleep "0.$((RANDOM % 10))$((RANDOM % 10))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    toml=$(grep -E '^seed = ' "$dir/run/spec.toml" | head -1 | cut -d' ' -f3)
    json=$(seed_of "$dir/run/spec.json")
    if [[ "$toml" != "$json" ]]; then
        mixed=$((mixed + 1))
        echo "try $i: mixed run (spec.toml seed $toml, model seed $json)"
    fi
    [[ "$json" != "$i" ]] && kept=$((kept + 1))
done
"$bin" train "$dir/exp.toml" --out "$dir/run" --epochs 1 --quiet >/dev/null
left=$(find "$dir" -maxdepth 1 -name '.run.*' | wc -l)
echo "$((tries - 1)) reruns killed with -9 ($kept before they finished, the previous run kept): $mixed mixed folders; $left leftovers after the next run"
[[ $mixed -eq 0 && $left -eq 0 ]]
