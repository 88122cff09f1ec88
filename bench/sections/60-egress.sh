#!/usr/bin/env bash
# Egress proxy: (a) HTTPS through warren's CONNECT tunnel vs straight to the
# same local TLS server (latency on fresh and on kept-alive connections,
# large-download throughput); (b) intercepted (granted) HTTPS requests per
# second through warren vs through mitmproxy doing the same interception.
# All measured in the same run by `egress_bench` (crates/warren-egress/
# examples/egress_bench.rs), a release build; WARREN_BIN is not needed.
# (a) runs unpinned: three processes on the machine's cores, so whatever CPU
# the proxy spends is taken from the client and the server. (b) pins both
# proxies to core 1 (mitmproxy is one Python process) and the client and the
# upstream to core 0.
#
# Prints one Markdown section to stdout, progress to stderr.
# Knobs: BENCH_SECONDS (per requests/s run, default 10), BENCH_CONNECTIONS
# (client connections for requests/s, default 8), BENCH_ROUNDS (requests/s
# runs per proxy, best is kept, default 3), BENCH_REQUESTS (latency samples
# per route on fresh connections; 5x that on a kept-alive one; default 2000).
set -euo pipefail

log() { printf '60-egress: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed"; exit 1; }; }
need taskset; need python3; need cargo
if ! command -v mitmdump >/dev/null 2>&1; then
  log "installing mitmproxy (apt-get install -y mitmproxy)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y mitmproxy >&2
fi
need mitmdump
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-8}
rounds=${BENCH_ROUNDS:-3}
requests=${BENCH_REQUESTS:-2000}
cores=$(nproc)
if [ "$cores" -ge 2 ]; then proxy_cpu=1; load_cpu=0; else proxy_cpu=0; load_cpu=0; fi

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
log "building egress_bench (release)"
cargo build --release --quiet --manifest-path "$top/Cargo.toml" -p warren-egress --example egress_bench
bin="${CARGO_TARGET_DIR:-$top/target}/release/examples/egress_bench"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_file() {
  for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done
  log "$1 did not appear"; return 1
}
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  log "nothing answers on port $1"; return 1
}
# CPU time (ms, user + system) a process has used so far.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"
}
val() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

start_upstream() { # taskset cpu list
  rm -f "$tmp/upstream.port"
  taskset -c "$1" "$bin" upstream "$tmp" &
  up_pid=$!
  pids+=($up_pid)
  wait_file "$tmp/upstream.port"
}
start_warren() { # taskset cpu list
  rm -f "$tmp/proxy.port"
  taskset -c "$1" "$bin" proxy "$tmp" 2>>"$tmp/warren.log" &
  warren_pid=$!
  pids+=($warren_pid)
  wait_file "$tmp/proxy.port"
  warren_port=$(cat "$tmp/proxy.port")
}
all_cpus="0-$((cores - 1))"

log "(a) upstream TLS server and warren egress proxy, unpinned"
start_upstream "$all_cpus"
start_warren "$all_cpus"
log "(a) tunnel vs direct: $requests fresh-connection requests, $((requests * 5)) kept-alive, 512 MiB downloads"
cpu0=$(cpu_ms "$warren_pid")
"$bin" tunnel "$tmp" "$requests" >"$tmp/tunnel.out"
cpu1=$(cpu_ms "$warren_pid")
cat "$tmp/tunnel.out" >&2
kill "$warren_pid" "$up_pid"; wait "$warren_pid" "$up_pid" 2>/dev/null || true

log "(b) upstream (core $load_cpu), warren egress proxy (core $proxy_cpu)"
start_upstream "$load_cpu"
start_warren "$proxy_cpu"

# mitmproxy in regular proxy mode, doing what the grant does: set x-api-key
# (replacing the placeholder) on requests to the granted host, verifying
# the upstream against its CA. Its own CA is made in its confdir.
mitm_port=$(free_port)
mkdir -p "$tmp/mitm"
cat >"$tmp/grant.py" <<'PY'
from mitmproxy import http

PLACEHOLDER = "warren-grant-placeholder-bench"
SECRET = "sk-bench-real-secret-0123456789"


def request(flow: http.HTTPFlow) -> None:
    if flow.request.pretty_host != "localhost":
        return
    have = flow.request.headers.get("x-api-key")
    if have is None:
        flow.request.headers["x-api-key"] = SECRET
    else:
        flow.request.headers["x-api-key"] = have.replace(PLACEHOLDER, SECRET)
PY
log "mitmproxy $(mitmdump --version 2>/dev/null | awk '/Mitmproxy/ {print $2}') on 127.0.0.1:$mitm_port (core $proxy_cpu)"
taskset -c "$proxy_cpu" mitmdump --listen-host 127.0.0.1 --listen-port "$mitm_port" \
  --set confdir="$tmp/mitm" --set ssl_insecure=false \
  --set ssl_verify_upstream_trusted_ca="$tmp/upstream.pem" \
  --set termlog_verbosity=error --set flow_detail=0 -q -s "$tmp/grant.py" >"$tmp/mitm.log" 2>&1 &
mitm_pid=$!
pids+=($mitm_pid)
wait_port "$mitm_port"
wait_file "$tmp/mitm/mitmproxy-ca-cert.pem"

log "(b) intercepted requests/s, $conns connections, ${seconds}s, best of $rounds"
declare -A best=([warren]=0 [mitmproxy]=0)
declare -A port=([warren]=$warren_port [mitmproxy]=$mitm_port)
declare -A ca=([warren]="$tmp/ca/egress-ca.pem" [mitmproxy]="$tmp/mitm/mitmproxy-ca-cert.pem")
declare -A pid=([warren]=$warren_pid [mitmproxy]=$mitm_pid)
declare -A cpu=([warren]=0 [mitmproxy]=0)
for r in $(seq 1 "$rounds"); do
  for p in warren mitmproxy; do
    c0=$(cpu_ms "${pid[$p]}")
    taskset -c "$load_cpu" "$bin" rps "$tmp" "${port[$p]}" "${ca[$p]}" "$seconds" "$conns" >"$tmp/rps.out"
    c1=$(cpu_ms "${pid[$p]}")
    rps=$(val rps "$tmp/rps.out"); errors=$(val errors "$tmp/rps.out")
    log "round $r $p: $rps requests/s, $errors errors"
    [ "$errors" = 0 ] || { log "$p answered requests wrongly"; cat "$tmp/mitm.log" >&2; exit 1; }
    if awk -v a="$rps" -v b="${best[$p]}" 'BEGIN {exit !(a > b)}'; then
      best[$p]=$rps
      # Proxy CPU per request over the whole run (warm-up included).
      total=$(awk -v r="$rps" -v s="$seconds" 'BEGIN { print r * (s + 1) }')
      cpu[$p]=$(awk -v a="$c0" -v b="$c1" -v n="$total" 'BEGIN { printf "%.0f", (b - a) * 1000 / n }')
    fi
  done
done

t=$tmp/tunnel.out
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
added() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }
verdict() { awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? (v >= lim) : (v <= lim); print ok ? "met" : "**missed**" }'; }
fresh_added=$(added "$(val fresh_tunnel_p50_ms "$t")" "$(val fresh_direct_p50_ms "$t")")
kept_added=$(added "$(val keepalive_tunnel_p50_ms "$t")" "$(val keepalive_direct_p50_ms "$t")")
dl=$(ratio "$(val download_tunnel_mbps "$t")" "$(val download_direct_mbps "$t")")
rps_ratio=$(ratio "${best[warren]}" "${best[mitmproxy]}")
# Proxy CPU for all of (a); 4.5 GiB of it went through the tunnel.
dl_cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.0f", (b - a) }')

cat <<MD
## Egress proxy: tunnel vs direct, interception vs mitmproxy

\`egress_bench\` (crates/warren-egress/examples) against a local HTTPS server
(rustls, HTTP/1.1, TLS 1.3) that answers a 14-byte body or streams a large one.

**(a) CONNECT tunnel vs direct.** One client measures both routes, interleaved
request by request: $requests sequential requests each on a fresh connection
(TCP + \`CONNECT\` + TLS handshake, with session resumption like any client, +
one GET), $((requests * 5)) sequential requests on one kept-alive connection, and
the best of 9 downloads of 512 MiB each. Nothing is pinned: client, server and
proxy share the machine's $cores cores, so the proxy's CPU is taken from the
other two.

| route | fresh connection p50 | p99 | kept-alive p50 | p99 | 512 MiB download |
| --- | ---: | ---: | ---: | ---: | ---: |
| direct | $(val fresh_direct_p50_ms "$t") ms | $(val fresh_direct_p99_ms "$t") ms | $(val keepalive_direct_p50_ms "$t") ms | $(val keepalive_direct_p99_ms "$t") ms | $(val download_direct_mbps "$t") MB/s |
| through warren's tunnel | $(val fresh_tunnel_p50_ms "$t") ms | $(val fresh_tunnel_p99_ms "$t") ms | $(val keepalive_tunnel_p50_ms "$t") ms | $(val keepalive_tunnel_p99_ms "$t") ms | $(val download_tunnel_mbps "$t") MB/s |

| tunnel vs direct | value | target | |
| --- | ---: | ---: | --- |
| added p50 latency, fresh connection | $fresh_added ms | ≤ 0.3 ms | $(verdict "$fresh_added" 0.3 "<=") |
| added p50 latency, kept-alive connection | $kept_added ms | ≤ 0.3 ms | $(verdict "$kept_added" 0.3 "<=") |
| download throughput | $dl | ≥ 0.90 | $(verdict "$dl" 0.9 ">=") |
| proxy CPU for all of (a), 4.5 GiB tunnelled included | $dl_cpu ms | | |

**(b) Interception.** Both proxies pinned to core $proxy_cpu (warren on a
single-threaded runtime there), client and upstream to core $load_cpu.
$conns kept-alive connections, each \`CONNECT localhost:PORT\`, TLS
with the proxy's leaf (the client trusts only that proxy's CA), then GETs as
fast as answers come, sending \`x-api-key: PLACEHOLDER\`; the proxy swaps in the
real key, verifies the upstream against its CA and forwards; the upstream
answers 401 unless the real key arrived (no run had an error). Best of $rounds
interleaved ${seconds}-second runs after a 1-second warm-up each. mitmproxy
$(mitmdump --version 2>/dev/null | awk '/Mitmproxy/ {print $2}') runs \`mitmdump\` in regular mode with a small addon setting the
header, \`ssl_insecure=false\` and \`ssl_verify_upstream_trusted_ca\`. warren logs
through a counting no-op here (what a log writer costs is not the proxy's).

| proxy | requests/s | proxy CPU per request |
| --- | ---: | ---: |
| mitmproxy | $(printf '%.0f' "${best[mitmproxy]}") | ${cpu[mitmproxy]} µs |
| warren | $(printf '%.0f' "${best[warren]}") | ${cpu[warren]} µs |

| ratio (warren / mitmproxy) | value | target | |
| --- | ---: | ---: | --- |
| intercepted requests/s | $rps_ratio | ≥ 3.00 | $(verdict "$rps_ratio" 3 ">=") |
MD
