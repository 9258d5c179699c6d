#!/usr/bin/env bash
# The benchmark suite in one command: ./bench.sh [--quick] [--only SECTIONS] [--markdown FILE]
# Builds what it measures (build.sh's static zips, the floor binary with the same flags, the
# changes provider, the sandbox program), then runs the bench binary, which prints one table (see BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")"

./build.sh >/dev/null
# The floor: a static `fn main() {}` built exactly as build.sh builds the actions.
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --quiet --release --locked --target x86_64-unknown-linux-gnu -p bench-floor
# Separate builds, so that the provider is built with its own features, as it ships.
cargo build --quiet --release --locked -p changes-provider
cargo build --quiet --release --locked -p sandbox --bin sandbox
cargo build --quiet --release --locked -p bench
exec target/release/bench "$@"
