#!/usr/bin/env bash
# Proxy throughput and latency: wrk through warren's proxy vs through nginx
# (one worker, keep-alive upstream pool) vs straight to the backend, all in
# the same run against the same backend (nginx serving a small static file).
# Both proxies are pinned to core 1; wrk and the backend share core 0.
# Also: resident memory of an idle proxy with 100 routes.
#
# Prints one Markdown section to stdout, progress to stderr.
# Knobs: BENCH_SECONDS (per run, default 10), BENCH_CONNECTIONS (default 50),
# BENCH_ROUNDS (runs per target, best is kept, default 3).
set -euo pipefail

log() { printf '40-proxy: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed"; exit 1; }; }
need wrk; need nginx; need taskset; need python3; need curl
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
seconds=${BENCH_SECONDS:-10}
conns=${BENCH_CONNECTIONS:-50}
rounds=${BENCH_ROUNDS:-3}
cores=$(nproc)
if [ "$cores" -ge 2 ]; then proxy_cpu=1; load_cpu=0; else proxy_cpu=0; load_cpu=0; fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  log "nothing answers on port $1"; return 1
}

backend_port=$(free_port)
nginx_port=$(free_port)
warren_port=$(free_port)
mkdir -p "$tmp/www" "$tmp/backend" "$tmp/nginx" "$tmp/root"
printf 'hello, warren\n' >"$tmp/www/index.html"
# nginx workers started by root run as `nobody`: let them read the file.
chmod a+rx "$tmp" "$tmp/www"; chmod a+r "$tmp/www/index.html"

# nginx as a normal foreground process with everything under $tmp.
nginx_conf() { # prefix, server block
  cat <<CONF
daemon off;
master_process on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; multi_accept on; }
http {
  access_log off;
  client_body_temp_path $1/body;
  proxy_temp_path $1/proxy;
  fastcgi_temp_path $1/fastcgi;
  uwsgi_temp_path $1/uwsgi;
  scgi_temp_path $1/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  $2
}
CONF
}

log "backend: nginx static file on 127.0.0.1:$backend_port (core $load_cpu)"
nginx_conf "$tmp/backend" "server { listen 127.0.0.1:$backend_port; root $tmp/www; }" >"$tmp/backend/nginx.conf"
taskset -c "$load_cpu" nginx -p "$tmp/backend" -c "$tmp/backend/nginx.conf" -e "$tmp/backend/error.log" &
pids+=($!)

log "nginx reverse proxy on 127.0.0.1:$nginx_port (core $proxy_cpu)"
nginx_conf "$tmp/nginx" "
  upstream backend { server 127.0.0.1:$backend_port; keepalive 64; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection \"\";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_buffering off;
    }
  }" >"$tmp/nginx/nginx.conf"
taskset -c "$proxy_cpu" nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_master=$!
pids+=($nginx_master)

# Routes go straight into the state database (the store's `routes` table),
# as an environment would register them.
add_routes() { # root, count, backend port
  python3 - "$@" <<'PY'
import sqlite3, sys, time
root, count, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(f"{root}/state.db", timeout=30)
with db:
    for i in range(count):
        env = "bench" if i == 0 else f"env{i:03d}"
        db.execute("INSERT INTO routes (env, service, ord, target_host, target_port, inner_port, label, created_at) "
                   "VALUES (?, 'web', 0, '127.0.0.1', ?, NULL, NULL, ?)", (env, port, int(time.time())))
PY
}

log "warren proxy on 127.0.0.1:$warren_port (core $proxy_cpu)"
WARREN_ROOT="$tmp/root" WARREN_PROXY_PORT=$warren_port WARREN_PROXY_IDLE_SECONDS=0 \
  taskset -c "$proxy_cpu" "$WARREN_BIN" proxy serve 2>"$tmp/warren.log" &
warren_pid=$!
pids+=($warren_pid)
wait_port "$backend_port"; wait_port "$nginx_port"; wait_port "$warren_port"
nginx_worker=$(pgrep -P "$nginx_master" | head -1)
add_routes "$tmp/root" 1 "$backend_port"
host="bench.localhost:$warren_port"
for _ in $(seq 1 100); do
  [ "$(curl -s -H "Host: $host" "http://127.0.0.1:$warren_port/")" = "hello, warren" ] && break
  sleep 0.05
done
for url in "http://127.0.0.1:$backend_port/" "http://127.0.0.1:$nginx_port/" "http://127.0.0.1:$warren_port/"; do
  got=$(curl -s -H "Host: $host" "$url")
  [ "$got" = "hello, warren" ] || { log "$url answered '$got'"; cat "$tmp/warren.log" >&2; exit 1; }
done

# CPU time (ms, user + system) a process has used so far.
cpu_ms() {
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"
}
to_ms() { # wrk latency like 812.00us / 1.23ms / 1.01s -> ms
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
    printf "%.3f", n }'
}
run_wrk() { # url [pid of the proxy] -> "rps p50 p99 cpu-us-per-request"
  local out cpu0=0 cpu1=0
  [ -z "${2:-}" ] || cpu0=$(cpu_ms "$2")
  out=$(taskset -c "$load_cpu" wrk -t1 -c"$conns" -d"${seconds}s" --latency -H "Host: $host" "$1")
  [ -z "${2:-}" ] || cpu1=$(cpu_ms "$2")
  local rps p50 p99 errors total
  total=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/' <<<"$out")
  [ -z "$errors" ] || log "wrk reported: $errors"
  echo "$rps $(to_ms "$p50") $(to_ms "$p99") $(awk -v a="$cpu0" -v b="$cpu1" -v n="$total" 'BEGIN { printf "%.1f", (b - a) * 1000 / n }')"
}

declare -A best
targets=(direct nginx warren)
declare -A cpu_pid=([direct]="" [nginx]="$nginx_worker" [warren]="$warren_pid")
declare -A urls=(
  [direct]="http://127.0.0.1:$backend_port/"
  [nginx]="http://127.0.0.1:$nginx_port/"
  [warren]="http://127.0.0.1:$warren_port/"
)
log "warm-up"
for t in "${targets[@]}"; do taskset -c "$load_cpu" wrk -t1 -c"$conns" -d2s -H "Host: $host" "${urls[$t]}" >/dev/null; done
# Interleave the targets so drift on the machine hits all of them alike;
# keep each target's best round (highest requests/s).
for r in $(seq 1 "$rounds"); do
  for t in "${targets[@]}"; do
    res=$(run_wrk "${urls[$t]}" "${cpu_pid[$t]}")
    log "round $r $t: $res (req/s, p50 ms, p99 ms, proxy CPU us/request)"
    prev=${best[$t]:-"0 0 0 0"}
    if awk -v a="${res%% *}" -v b="${prev%% *}" 'BEGIN {exit !(a > b)}'; then best[$t]=$res; fi
  done
done
busy_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$warren_pid/status")

log "idle RSS: fresh proxy with 100 routes"
kill "$warren_pid"; wait "$warren_pid" 2>/dev/null || true
rm -rf "$tmp/root2"; mkdir -p "$tmp/root2"
idle_port=$(free_port)
WARREN_ROOT="$tmp/root2" WARREN_PROXY_PORT=$idle_port WARREN_PROXY_IDLE_SECONDS=0 \
  taskset -c "$proxy_cpu" "$WARREN_BIN" proxy serve 2>"$tmp/warren2.log" &
idle_pid=$!
pids+=($idle_pid)
wait_port "$idle_port"
add_routes "$tmp/root2" 100 "$backend_port"
for _ in $(seq 1 100); do
  curl -s "http://127.0.0.1:$idle_port/__warren/status" | grep -q '"routes": 100' && break
  sleep 0.05
done
curl -s -o /dev/null -H "Host: env099.localhost:$idle_port" "http://127.0.0.1:$idle_port/"
curl -s -o /dev/null "http://127.0.0.1:$idle_port/"
sleep 1
idle_rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$idle_pid/status")

read -r d_rps d_p50 d_p99 _ <<<"${best[direct]}"
read -r n_rps n_p50 n_p99 n_cpu <<<"${best[nginx]}"
read -r w_rps w_p50 w_p99 w_cpu <<<"${best[warren]}"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
verdict() { awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? (v >= lim) : (v <= lim); print ok ? "met" : "**missed**" }'; }
thr=$(ratio "$w_rps" "$n_rps")
p99r=$(ratio "$w_p99" "$n_p99")
p50r=$(ratio "$w_p50" "$n_p50")

cat <<MD
## Proxy: warren vs nginx vs direct

\`wrk -t1 -c$conns -d${seconds}s --latency\` against a 14-byte static file served by nginx
(one worker), best of $rounds interleaved rounds per target after a warm-up.
Both proxies run pinned to one core (\`taskset -c $proxy_cpu\`; warren picks its
single-threaded runtime there); wrk and the backend share core $load_cpu. nginx
$(nginx -v 2>&1 | sed 's/.*nginx\///') runs one worker with a keep-alive upstream pool (\`keepalive 64\`,
HTTP/1.1, \`proxy_buffering off\`, X-Forwarded-* set like warren's). Requests
carry \`Host: bench.localhost\`, which warren routes by.

| path | requests/s | p50 latency | p99 latency | proxy CPU per request |
| --- | ---: | ---: | ---: | ---: |
| direct to the backend | $(printf '%.0f' "$d_rps") | ${d_p50} ms | ${d_p99} ms | |
| through nginx | $(printf '%.0f' "$n_rps") | ${n_p50} ms | ${n_p99} ms | ${n_cpu} µs |
| through warren | $(printf '%.0f' "$w_rps") | ${w_p50} ms | ${w_p99} ms | ${w_cpu} µs |

| ratio (warren / nginx) | value | target | |
| --- | ---: | ---: | --- |
| throughput | $thr | ≥ 1.00 | $(verdict "$thr" 1 ">=") |
| p50 latency | $p50r | | |
| p99 latency | $p99r | ≤ 1.20 | $(verdict "$p99r" 1.2 "<=") |
| proxy CPU per request | $(ratio "$w_cpu" "$n_cpu") | | |
| throughput vs direct | $(ratio "$w_rps" "$d_rps") | | |

| warren proxy memory (RSS) | value | target | |
| --- | ---: | ---: | --- |
| idle, 100 routes | $(mib "$idle_rss") MiB | < 20 MiB | $(verdict "$(mib "$idle_rss")" 20 "<=") |
| right after the load runs ($conns connections) | $(mib "$busy_rss") MiB | | |
MD
