#!/usr/bin/env bash
# The project's checks, identical locally and on CI (.ci/run calls this).
set -euxo pipefail
cd "$(dirname "$0")/.."
# Warnings fail clippy (-D warnings) and rustdoc; RUSTFLAGS stays untouched so the build
# cache is shared with plain `cargo build` and `cargo test`.
export RUSTDOCFLAGS="-D warnings"

# Layering guard: the core never imports the GUI. (`! grep` would not fail under `set -e`.)
core="src/data src/model src/trainer src/metrics src/export src/experiment src/experiment.rs src/linalg.rs src/optim.rs src/rng.rs src/palette.rs src/bench.rs src/cli.rs"
if grep -rnE '^\s*use (egui|eframe|egui_plot|rfd)\b|\b(egui|eframe|egui_plot|rfd)::' $core; then
  echo "core modules must not depend on the GUI"; exit 1
fi

cargo fmt --all -- --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
cargo doc --locked --no-deps
