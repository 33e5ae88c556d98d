#!/usr/bin/env bash
# The project's checks, identical locally and on CI (.ci/run calls this).
set -euxo pipefail
cd "$(dirname "$0")/.."
# Warnings fail clippy (-D warnings) and rustdoc; RUSTFLAGS stays untouched so the build
# cache is shared with plain `cargo build` and `cargo test`.
export RUSTDOCFLAGS="-D warnings"

# Layering: the core library is its own crate, so the compiler keeps it from the GUI. Its
# normal dependencies must stay free of the GUI and CLI crates.
if cargo tree --locked -p mtl-core -e normal --prefix none | grep -E '^(egui|eframe|egui_plot|rfd|winit|clap|indicatif) '; then
  echo "mtl-core must not depend on GUI or CLI crates"; exit 1
fi

cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
cargo test --locked --workspace
cargo doc --locked --workspace --no-deps
