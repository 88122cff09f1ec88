#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this). Installs what the
# tests need, starts the Docker engine if needed, then runs every test.
# Integration tests that need the engine fail (not skip) when CI is set.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export CI="${CI:-1}"

WARREN_TEST_EXTRAS=1 scripts/install-deps.sh
scripts/build-test-images.sh

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check
echo "==> cargo clippy" >&2
cargo clippy --quiet --workspace --all-targets -- -D warnings
echo "==> tests" >&2
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast --failure-output final
else
  cargo test --workspace --no-fail-fast
fi
