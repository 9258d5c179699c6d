#!/usr/bin/env bash
# Builds every action in actions/ as a static binary and packs each into dist/<action>.zip with
# the executable named `exec` at the zip's root, as the native runtime (openwhisk/dockerskeleton)
# expects. Refuses to finish if any binary is dynamically linked.
set -euo pipefail
cd "$(dirname "$0")"

target=x86_64-unknown-linux-gnu
out="target/$target/release"

# The action binaries: every bin target of every package under actions/.
mapfile -t actions < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, os, sys
root = os.getcwd()
for package in json.load(sys.stdin)["packages"]:
    if os.path.relpath(package["manifest_path"], root).startswith("actions/"):
        for target in package["targets"]:
            if "bin" in target["kind"]:
                print(target["name"])
')
if [ "${#actions[@]}" -eq 0 ]; then
    echo "build.sh: no actions found under actions/" >&2
    exit 1
fi

# Static glibc: the only target here is x86_64-unknown-linux-gnu, and the dockerskeleton image is
# Alpine (musl), so the binary must carry its libc. Not position-independent
# (relocation-model=static): a static-pie binary carries ~100 KB of relocations it applies to
# itself at start-up (about 23 KB of every zip); the cost is that the executable's own image is
# not address-randomised (its stack, heap and mappings still are). With an explicit --target,
# RUSTFLAGS reaches only the target artifacts, not build scripts.
bins=()
for action in "${actions[@]}"; do bins+=(--bin "$action"); done
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static -C relocation-model=static" \
    cargo build --release --locked --target "$target" "${bins[@]}"

mkdir -p dist
# Zips of actions that no longer exist go; the others are replaced one by one, atomically, so a
# reader (a running sandbox, the benchmarks) never sees a half-written zip.
for stale in dist/*.zip; do
    [ -e "$stale" ] || continue
    name=$(basename "$stale" .zip)
    [[ " ${actions[*]} " == *" $name "* ]] || rm -f "$stale"
done
binaries=()
for action in "${actions[@]}"; do
    binary="$out/$action"
    # A static binary has no program interpreter and no shared-library dependencies.
    if readelf -l "$binary" | grep -q 'program interpreter' || readelf -d "$binary" | grep -q '(NEEDED)'; then
        echo "build.sh: $binary is dynamically linked; refusing to pack it" >&2
        exit 1
    fi
    binaries+=("$binary")
done
# The packer (pack/, built for this machine): `exec` at each zip's root, deflated with Zopfli,
# which keeps every zip under 1.5 MB where zlib's best would not.
cargo build --release --locked --quiet -p pack
target/release/pack dist "${binaries[@]}"

echo "built (static, $target):"
for action in "${actions[@]}"; do
    printf '  dist/%-24s %8d bytes zipped, %8d bytes unpacked\n' "$action.zip" \
        "$(stat -c %s "dist/$action.zip")" "$(stat -c %s "$out/$action")"
done
