#!/usr/bin/env bash
# Schema-based fuzzing of the agent task API: schemathesis (PyPI) generates
# requests from /openapi.json against a live `warren agent serve --runtime host`
# running the recorded-output test tool, and every check must pass (no 5xx,
# responses match the document, schema-valid requests accepted). The server
# must still answer afterwards and must not have panicked.
#
#   crates/warren-agent/tests/fuzz.sh            (WARREN_BIN or target/debug/warren)
#   FUZZ_EXAMPLES=100 crates/warren-agent/tests/fuzz.sh
# Exit 77 (printed reason) when schemathesis cannot be installed.
# POST /shutdown is left out of the generated calls (it would end the run);
# it is called once at the end instead.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${WARREN_BIN:-$here/../../../target/debug/warren}
examples=${FUZZ_EXAMPLES:-30}
log() { printf 'fuzz: %s\n' "$*" >&2; }

if ! command -v st >/dev/null 2>&1; then
  log "installing schemathesis (pip)"
  if ! pip install --quiet schemathesis >/dev/null 2>&1 || ! command -v st >/dev/null 2>&1; then
    echo "SKIPPED: schemathesis cannot be installed from PyPI here"
    exit 77
  fi
fi

root=$(mktemp -d)
pid=""
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$root"
}
trap cleanup EXIT

# A host agent works in its current directory: the root, not this checkout
# (the test tool writes its session files there).
cd "$root"
# A dummy key: the server refuses to run a tool that has no credentials.
ANTHROPIC_API_KEY=sk-ant-fuzz-dummy \
WARREN_ROOT=$root HOME=$root WARREN_TOOL_CLAUDE_BIN="$here/tools/claude" \
  "$bin" agent serve --runtime host --name fuzz --retries 0 >"$root/url" 2>"$root/server.log" &
pid=$!
for _ in $(seq 1 100); do [ -s "$root/url" ] && break; sleep 0.05; done
url=$(head -1 "$root/url")
token=$(cat "$root/credentials/agent-api.token")
log "server $url (pid $pid), $examples examples per operation"

status=0
# positive_data_acceptance is left out: a schema-valid POST /task is rightly
# refused with 409 agent_busy while an earlier fuzz task still runs, state
# the fuzzer cannot see. Every other check (5xx, schema and status-code
# conformance, content type, ...) runs.
st run "$url/openapi.json" -H "Authorization: Bearer $token" --checks all \
  --exclude-checks positive_data_acceptance \
  -n "$examples" --exclude-path /shutdown --request-timeout 20 \
  --generation-deterministic >"$root/st.out" 2>&1 || status=$?
tail -25 "$root/st.out"
if [ "$status" != 0 ]; then log "schemathesis found failures (exit $status)"; exit 1; fi

curl -fsS "$url/status" >/dev/null || { log "the server no longer answers"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' -d '{"timeout_seconds": "soon"}' "$url/shutdown")
[ "$code" = 400 ] || { log "POST /shutdown with a bad body answered $code"; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "Authorization: Bearer $token" "$url/shutdown")
[ "$code" = 202 ] || { log "POST /shutdown answered $code"; exit 1; }
wait "$pid"; pid=""
if grep -q panicked "$root/server.log"; then log "the server panicked"; cat "$root/server.log" >&2; exit 1; fi
echo "fuzz: ok (no 5xx, no schema mismatch, no crash)"
