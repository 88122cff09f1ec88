#!/usr/bin/env bash
# Installs what warren and its tests need on a fresh Debian/Ubuntu machine and
# starts the Docker engine if it is not answering. Idempotent; run as root.
#
#   scripts/install-deps.sh          engine, compose, git, tmux, busybox (warren's needs)
#   scripts/install-deps.sh --bench  also wrk, nginx, hyperfine, bubblewrap (benchmarks)
set -euo pipefail

log() { printf 'install-deps: %s\n' "$*" >&2; }

pkgs=(docker.io docker-registry git tmux busybox-static bubblewrap curl python3)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(wrk nginx-light hyperfine)
fi

# Docker Compose environments need a compose CLI: the docker CLI's plugin if it
# has one, else Debian's `docker-compose`.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
  pkgs+=(docker-compose)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    log "need root to install: ${missing[*]}"; exit 1
  fi
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  if [ -S /var/run/docker.sock ] && pgrep -x dockerd >/dev/null; then
    log "dockerd runs but does not answer yet"
  else
    log "starting dockerd in the background (log: /var/log/warren-dockerd.log)"
    # --iptables=false: this kind of machine has no netfilter; published
    # ports still work through docker-proxy.
    nohup dockerd --iptables=false \
      --default-ulimit nofile=1024:1024 --default-ulimit nproc=4096:4096 \
      >/var/log/warren-dockerd.log 2>&1 &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! docker info >/dev/null 2>&1; then
    log "the Docker engine did not come up; see /var/log/warren-dockerd.log"
    tail -20 /var/log/warren-dockerd.log >&2 || true
    exit 1
  fi
fi
log "docker engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# Test-only extras (tests that need them skip with a printed reason when they
# are missing, and fail under CI): a WebSocket client for the proxy tests,
# a C compiler for the LD_PRELOAD test, npm for the real agent CLIs
# (schemathesis for the fuzz test is installed by crates/warren-agent/tests/fuzz.sh).
if [ "${WARREN_TEST_EXTRAS:-0}" = 1 ]; then
  command -v cc >/dev/null 2>&1 \
    || apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null 2>&1 \
    || log "could not install gcc (the LD_PRELOAD test will skip)"
  python3 -c 'import websockets.sync.client' 2>/dev/null \
    || python3 -m pip install -q websockets >/dev/null 2>&1 \
    || log "could not pip install websockets (the Python WebSocket test will skip, or fail under CI)"
  command -v npm >/dev/null 2>&1 \
    || apt-get install -y -qq --no-install-recommends npm >/dev/null 2>&1 \
    || log "could not install npm (the real-CLI flag test will skip, or fail under CI)"
fi
