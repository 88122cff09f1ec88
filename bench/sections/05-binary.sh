#!/usr/bin/env bash
# The binary users install: its size (release vs the stripped `dist` profile)
# and `warren --version` start-up time against `docker --version`, the CLI a
# user would otherwise type, measured by hyperfine in the same run.
#
# Prints one Markdown section to stdout, progress to stderr.
# Knobs: BENCH_RUNS (hyperfine runs per command, default 300).
set -euo pipefail

log() { printf '05-binary: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed"; exit 1; }; }
need hyperfine; need docker; need python3
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
top=$(cd "$(dirname "$0")/../.." && pwd)
runs=${BENCH_RUNS:-300}

log "building the dist profile (fat LTO, one codegen unit: takes minutes)"
cargo build --quiet --profile dist --manifest-path "$top/Cargo.toml" --bin warren
dist="${CARGO_TARGET_DIR:-$top/target}/dist/warren"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "hyperfine: warren --version vs docker --version ($runs runs each)"
hyperfine -N --warmup 30 --runs "$runs" --export-json "$tmp/v.json" \
  -n warren "$dist --version" -n docker "docker --version" >&2

mib() { python3 -c "import os,sys; print(f'{os.path.getsize(sys.argv[1])/1048576:.1f}')" "$1"; }
python3 - "$tmp/v.json" "$(mib "$WARREN_BIN")" "$(mib "$dist")" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
release, dist = sys.argv[2], sys.argv[3]
ms = lambda r, k: r[k] * 1000
w, d = res["warren"], res["docker"]
ratio = w["median"] / d["median"]
print("## The binary: size and `warren --version`\n")
print("`target/release/warren` is the day-to-day release build (line tables for warren's")
print("own crates only); `target/dist/warren` is what users install (`cargo build --profile")
print("dist`: fat LTO, one codegen unit, no debug info, stripped). Start-up: hyperfine `-N`,")
print("30 warm-ups, the dist binary against the Docker CLI in the same run.\n")
print("| measurement | warren | peer | ratio | target |")
print("| --- | --- | --- | --- | --- |")
print(f"| release binary size | {release} MiB | | | |")
print(f"| dist binary size (stripped) | **{dist} MiB** | | | ≤ 20 MiB {'✓' if float(dist) <= 20 else '✗'} |")
ok = ms(w, "median") <= 5
print(f"| `--version` median (vs `docker --version`) | {ms(w,'median'):.2f} ms ± {ms(w,'stddev'):.2f} | "
      f"{ms(d,'median'):.2f} ms ± {ms(d,'stddev'):.2f} | **{ratio:.2f}** | ≤ 5 ms {'✓' if ok else '✗'} |")
PY
