#!/usr/bin/env bash
# Agent task API: (a) the cost of running one prompt through `warren agent serve`
# (POST /task, follow its SSE stream to `done`) against running the same test
# tool (the recorded-output `claude` stand-in) directly, both from one Python
# process in the same run; (b) `GET /status` latency when one director polls
# 50 agent servers once a second over keep-alive connections.
#
# Prints one Markdown section to stdout, progress to stderr.
# Knobs: BENCH_TASKS (tasks per side, default 200), BENCH_AGENTS (default 50),
# BENCH_SECONDS (polling rounds, default 20).
set -euo pipefail

log() { printf '50-agent: %s\n' "$*" >&2; }
command -v python3 >/dev/null || { log "python3 is not installed"; exit 1; }
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
here=$(cd "$(dirname "$0")/../.." && pwd)
tool="$here/crates/warren-agent/tests/tools/claude"
tasks=${BENCH_TASKS:-200}
agents=${BENCH_AGENTS:-50}
seconds=${BENCH_SECONDS:-20}

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

serve() { # name -> url on stdout
  # The test tool needs no key, but the server refuses to start a tool with
  # no credentials at all (it would only fail), so it gets a dummy one.
  # A host agent works in the directory it was started in: a scratch one.
  mkdir -p "$tmp/work/$1"
  (cd "$tmp/work/$1" && WARREN_ROOT="$tmp/root" HOME="$tmp/root" WARREN_TOOL_CLAUDE_BIN="$tool" \
    ANTHROPIC_API_KEY=sk-ant-bench-dummy \
    exec "$WARREN_BIN" agent serve --runtime host --name "$1" --retries 0 \
    >"$tmp/$1.url" 2>"$tmp/$1.log") &
  pids+=($!)
}
wait_url() {
  for _ in $(seq 1 200); do [ -s "$tmp/$1.url" ] && { head -1 "$tmp/$1.url"; return; }; sleep 0.05; done
  log "agent $1 did not start"; cat "$tmp/$1.log" >&2; exit 1
}

mkdir -p "$tmp/root" "$tmp/direct"
log "task overhead: $tasks tasks through the API vs direct"
serve bench
url=$(wait_url bench)
token_file="$tmp/root/credentials/agent-api.token"

python3 - "$url" "$token_file" "$tool" "$tmp/direct" "$tasks" >"$tmp/a.txt" <<'PY'
import http.client, json, statistics, subprocess, sys, time, uuid, urllib.parse
url, token_file, tool, direct_dir, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
token = open(token_file).read().strip()
host = urllib.parse.urlparse(url)
hdr = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
conn = http.client.HTTPConnection(host.hostname, host.port)
def status():
    conn.request("GET", "/status", headers=hdr); r = conn.getresponse(); return json.loads(r.read())
while status()["state"] != "idle":
    time.sleep(0.05)
def api_task(i):
    t0 = time.perf_counter()
    conn.request("POST", "/task", body=json.dumps({"prompt": f"hello {i}"}), headers=hdr)
    r = conn.getresponse(); body = json.loads(r.read())
    assert r.status == 201, body
    ev = http.client.HTTPConnection(host.hostname, host.port)
    ev.request("GET", f"/task/{body['task_id']}/events", headers=hdr)
    resp = ev.getresponse()
    while True:
        line = resp.fp.readline()
        if not line or line.startswith(b"event: done"):
            break
    dt = time.perf_counter() - t0
    ev.close()
    conn.request("GET", f"/task/{body['task_id']}", headers=hdr)
    t = json.loads(conn.getresponse().read())
    assert t["state"] == "completed", t
    return dt
def direct_task(i):
    sid = str(uuid.uuid4())
    t0 = time.perf_counter()
    p = subprocess.run([tool, "-p", "--output-format", "stream-json", "--verbose", "--session-id", sid, "--", f"hello {i}"],
                       cwd=direct_dir, stdin=subprocess.DEVNULL, capture_output=True)
    dt = time.perf_counter() - t0
    assert p.returncode == 0 and b'"type":"result"' in p.stdout
    return dt
for i in range(10):  # warm-up
    api_task(i); direct_task(i)
api, direct = [], []
for i in range(n):  # interleaved, so drift hits both sides alike
    api.append(api_task(i)); direct.append(direct_task(i))
ms = lambda xs: statistics.median(xs) * 1000
p90 = lambda xs: sorted(xs)[int(len(xs) * 0.9)] * 1000
print(f"{ms(api):.2f} {p90(api):.2f} {ms(direct):.2f} {p90(direct):.2f}")
PY
read -r api_med api_p90 dir_med dir_p90 <"$tmp/a.txt"
added=$(python3 -c "print(f'{$api_med - $dir_med:.2f}')")
ratio=$(python3 -c "print(f'{$api_med / $dir_med:.2f}')")
log "api median $api_med ms, direct median $dir_med ms, added $added ms"

log "status latency: $agents agents, polled once a second for $seconds s"
for i in $(seq 1 "$agents"); do serve "a$i"; done
urls=()
for i in $(seq 1 "$agents"); do urls+=("$(wait_url "a$i")"); done
printf '%s\n' "${urls[@]}" >"$tmp/urls"
python3 - "$tmp/urls" "$token_file" "$seconds" >"$tmp/b.txt" <<'PY'
import http.client, json, statistics, sys, time, urllib.parse
urls = [u.strip() for u in open(sys.argv[1]) if u.strip()]
token = open(sys.argv[2]).read().strip(); rounds = int(sys.argv[3])
hdr = {"Authorization": f"Bearer {token}"}
conns = []
for u in urls:
    p = urllib.parse.urlparse(u); conns.append(http.client.HTTPConnection(p.hostname, p.port))
def poll(c):
    t0 = time.perf_counter()
    c.request("GET", "/status", headers=hdr); r = c.getresponse(); body = r.read()
    dt = time.perf_counter() - t0
    assert r.status == 200 and json.loads(body)["state"] in ("idle", "starting"), body
    return dt
for c in conns: poll(c)  # connect + warm-up
lat = []
start = time.monotonic()
for k in range(rounds):
    for c in conns:
        lat.append(poll(c))
    time.sleep(max(0.0, start + k + 1 - time.monotonic()))
lat.sort()
q = lambda f: lat[min(len(lat) - 1, int(len(lat) * f))] * 1000
print(f"{len(lat)} {q(0.5):.3f} {q(0.99):.3f} {lat[-1]*1000:.3f}")
PY
read -r n_polls p50 p99 pmax <"$tmp/b.txt"
rss=$(ps -o rss= -p "${pids[1]}" | awk '{printf "%.1f", $1/1024}')
log "status p50 $p50 ms, p99 $p99 ms over $n_polls polls"

verdict_a=$(python3 -c "print('meets' if $added <= 20 else 'misses')")
verdict_b=$(python3 -c "print('meets' if $p99 < 5 else 'misses')")
cat <<MD
## Agent task API

One prompt through \`warren agent serve --runtime host\` (\`POST /task\`, then its
\`/task/:id/events\` SSE stream to \`done\`) against running the same test tool
(\`crates/warren-agent/tests/tools/claude\`, which prints Claude Code's stream-json
shapes) directly, $tasks times each, interleaved, from one Python client. The API
side includes spawning the tool in its per-session directory, parsing its stream,
storing the task twice in SQLite and the HTTP round trips.

| path | median ms | p90 ms |
| --- | ---: | ---: |
| direct (\`subprocess.run\`) | $dir_med | $dir_p90 |
| through the task API | $api_med | $api_p90 |
| **added per task** | **$added** | |

Ratio API / direct: $ratio. Target: at most 20 ms added per task — $verdict_a.

\`GET /status\` latency with $agents agent servers polled once a second by one
director over keep-alive connections (with the token, so the full status), for
$seconds rounds: $n_polls requests.

| p50 ms | p99 ms | max ms |
| ---: | ---: | ---: |
| $p50 | $p99 | $pmax |

Target: p99 under 5 ms — $verdict_b. Resident memory of one idle agent server: $rss MiB.
MD
