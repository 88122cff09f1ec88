#!/usr/bin/env bash
# Environments on Docker (issue 2), each measured against its peer in the same run:
#  (a) `warren exec NAME -- true` vs `docker exec CTR true`            target ≤ 1.15
#  (b) `warren run --rm -- true` vs a shell script doing the same steps
#      (git worktree add -b, docker run --rm with the same mounts, labels and
#      env, git worktree remove, branch delete)                         target ≤ 1.10
#  (c) `warren ls` with 50 environments vs `docker ps` (same 50)        target ≤ 1.0
# Prints one Markdown section to stdout, progress to stderr.
# Knobs: BENCH_RUNS (default 40), BENCH_RUN_RUNS (default 15), BENCH_ENVS (default 50).
set -euo pipefail
log() { printf '10-env: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed"; exit 1; }; }
need hyperfine; need docker; need git; need python3
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
runs=${BENCH_RUNS:-40}
run_runs=${BENCH_RUN_RUNS:-15}
n_envs=${BENCH_ENVS:-50}
image=warren-test/busybox:latest
docker image inspect "$image" >/dev/null 2>&1 || { log "missing $image (scripts/build-test-images.sh)"; exit 1; }

tmp=$(mktemp -d)
export WARREN_ROOT="$tmp/root"
export WARREN_PROXY_AUTOSTART=0
repo="$tmp/repo"
mkdir -p "$repo/.devcontainer"
git -C "$repo" init -q -b main
printf '{"image": "%s"}\n' "$image" >"$repo/.devcontainer/devcontainer.json"
git -C "$repo" add -A && git -C "$repo" -c user.name=b -c user.email=b@b commit -qm bench
cleanup() {
  "$WARREN_BIN" ls -q 2>/dev/null | xargs -r "$WARREN_BIN" rm --force >/dev/null 2>&1 || true
  docker rm -f bench-peer >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$repo"

log "(a) exec: creating one environment and a plain container"
"$WARREN_BIN" run --runtime docker --name bexec -- true 2>/dev/null
docker run -d --name bench-peer "$image" sh -c 'trap "exit 0" TERM; while :; do sleep 3600 & wait; done' >/dev/null
hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/exec.json" \
  -n "warren exec" "$WARREN_BIN exec bexec -- true" \
  -n "docker exec" "docker exec bench-peer true" >&2

log "(b) run --rm vs a script doing the same steps"
cat >"$tmp/peer.sh" <<PEER
#!/usr/bin/env bash
set -e
name=peer-\$\$-\$RANDOM
wt="$tmp/peer-worktrees/\$name"
git -C "$repo" worktree add -q -b "warren/\$name" "\$wt"
docker run --rm --name "\$name" -l warren.managed=true -l warren.name="\$name" \
  -v "\$wt:/workspace" -v "$repo/.git:$repo/.git" -w /workspace \
  -e WARREN=1 -e WARREN_NAME="\$name" $image true
git -C "$repo" worktree remove --force "\$wt"
git -C "$repo" branch -q -D "warren/\$name"
PEER
chmod +x "$tmp/peer.sh"
"$tmp/peer.sh"
hyperfine -N --warmup 2 --runs "$run_runs" --export-json "$tmp/run.json" \
  -n "warren run --rm" "$WARREN_BIN run --runtime docker --rm -- true" \
  -n "script" "$tmp/peer.sh" >&2

log "(c) ls with $n_envs environments"
for i in $(seq 2 "$n_envs"); do
  "$WARREN_BIN" run --runtime docker --name "b$i" -- true 2>/dev/null
done
count=$("$WARREN_BIN" ls -q | wc -l)
log "$count environments"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/ls.json" \
  -n "warren ls" "$WARREN_BIN ls" \
  -n "docker ps" "docker ps" >&2

python3 - "$tmp" "$count" <<'PY'
import json, sys
tmp, count = sys.argv[1], sys.argv[2]
def load(name):
    return [r for r in json.load(open(f"{tmp}/{name}.json"))["results"]]
ms = lambda s: f"{s * 1000:.1f} ms"
print("## Environments on Docker: exec, run --rm, ls\n")
print("hyperfine (`-N`) in one run against the peer named in the issue; ratio = warren / peer")
print("on medians. Engine: Docker 20.10 (Debian `docker.io`), busybox image present locally.")
print("The bench project has no lifecycle commands or services, so `run --rm -- CMD` takes the")
print("one-shot path (CMD is the container's own process, as with `docker run --rm`); a project")
print("with lifecycle commands starts the environment first and execs CMD (one more engine")
print("round trip, about 60 ms here).\n")
print("| measurement | warren | peer | ratio | target |")
print("| --- | --- | --- | --- | --- |")
rows = [("exec", "(a) `warren exec NAME -- true` vs `docker exec CTR true`", 1.15),
        ("run", "(b) `warren run --rm -- true` vs script (git worktree + docker run --rm)", 1.10),
        ("ls", f"(c) `warren ls` vs `docker ps`, {count} environments", 1.0)]
verdicts = []
for name, label, target in rows:
    w, p = load(name)
    r = w["median"] / p["median"]
    ok = r <= target
    verdicts.append(ok)
    print(f"| {label} | {ms(w['median'])} ± {ms(w['stddev'])} | {ms(p['median'])} ± {ms(p['stddev'])} | **{r:.2f}** | ≤ {target} {'✓' if ok else '✗'} |")
print(f"\n{sum(verdicts)} of {len(verdicts)} targets met.")
PY
