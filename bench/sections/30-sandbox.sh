#!/usr/bin/env bash
# Native sandbox start-up: warren's sandbox running `true` vs bwrap running `true`
# with an equivalent policy (same read-only system trees and /etc files, private /tmp
# and HOME, the worktree read-write, fresh /proc and /dev, every namespace including
# the network, a new session, die-with-parent), measured by hyperfine in the same run.
# warren additionally sets up Landlock, seccomp, capability dropping and the
# always-read-only mounts, which bwrap does not do here.
#
# warren's side is `warren exec NAME -- true` on a real sandbox environment
# (created by `warren run --runtime sandbox`), so the store lookup, policy load
# and the in-place sandbox setup are all timed. A second table compares a whole
# `warren run --rm -- true` on the sandbox and docker runtimes.
#
# Prints one Markdown section to stdout, progress to stderr.
# Knobs: BENCH_RUNS (hyperfine runs per command, default 300).
set -euo pipefail

log() { printf '30-sandbox: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed"; exit 1; }; }
need hyperfine; need bwrap; need python3; need git
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
runs=${BENCH_RUNS:-300}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wt="$tmp/worktrees/proj/bench"
env_dir="$tmp/sandboxes/bench"
mkdir -p "$wt" "$env_dir/tmp" "$env_dir/home"
home=${HOME:-/root}

python3 - "$wt" "$env_dir" "$home" >"$tmp/policy.json" <<'PY'
import json, sys
wt, env_dir, home = sys.argv[1:]
print(json.dumps({
    "name": "bench", "worktree": wt, "tmp_dir": env_dir + "/tmp", "home_dir": env_dir + "/home",
    "home": home, "cwd": wt, "network": "none", "state_dir": env_dir,
    "env": [["PATH", "/usr/bin:/bin"], ["HOME", home]],
}))
PY

# The same view for bwrap: system trees (symlinks stay symlinks), the /etc files warren
# shows, private /tmp and HOME, the worktree.
bw=(bwrap --unshare-all --die-with-parent --new-session --hostname bench --clearenv
    --setenv PATH /usr/bin:/bin --setenv HOME "$home")
for d in /usr /bin /sbin /lib /lib32 /lib64 /libx32; do
  if [ -L "$d" ]; then bw+=(--symlink "$(readlink "$d")" "$d")
  elif [ -d "$d" ]; then bw+=(--ro-bind "$d" "$d"); fi
done
for f in resolv.conf hosts host.conf gai.conf nsswitch.conf passwd group ld.so.cache ld.so.conf \
         ld.so.conf.d ssl ca-certificates ca-certificates.conf pki crypto-policies alternatives \
         localtime timezone os-release mime.types gitconfig inputrc profile bash.bashrc shells \
         terminfo locale.alias locale.conf; do
  [ -e "/etc/$f" ] && bw+=(--ro-bind "/etc/$f" "/etc/$f")
done
bw+=(--proc /proc --dev /dev --bind "$env_dir/tmp" /tmp --bind "$env_dir/home" "$home"
     --bind "$wt" "$wt" --chdir "$wt" true)

export WARREN_ROOT="$tmp/root"
repo="$tmp/repo"
mkdir -p "$repo" && git -C "$repo" init -q -b main
printf 'name: benchproj\nsandbox:\n  network: none\n' >"$repo/.warren.yaml"
printf '{"image": "warren-test/busybox:latest"}\n' >"$repo/devcontainer.json.tmp"
mkdir -p "$repo/.devcontainer" && mv "$repo/devcontainer.json.tmp" "$repo/.devcontainer/devcontainer.json"
git -C "$repo" add -A && git -C "$repo" -c user.name=b -c user.email=b@b commit -qm bench
# For `run --rm`: a project with the defaults (`network: isolated`: a network
# namespace and an egress proxy per environment), the same image.
proj="$tmp/proj"
mkdir -p "$proj/.devcontainer" && git -C "$proj" init -q -b main
printf 'name: runproj\n' >"$proj/.warren.yaml"
cp "$repo/.devcontainer/devcontainer.json" "$proj/.devcontainer/"
git -C "$proj" add -A && git -C "$proj" -c user.name=b -c user.email=b@b commit -qm bench
cleanup_envs() { "$WARREN_BIN" rm --force sbx >/dev/null 2>&1 || true; }
trap 'cleanup_envs; rm -rf "$tmp"' EXIT
(cd "$repo" && "$WARREN_BIN" run --runtime sandbox --name sbx -- true) 2>/dev/null
warren_cmd="$WARREN_BIN exec sbx -- true"
bwrap_cmd=$(printf '%q ' "${bw[@]}")

log "checking both commands run"
$warren_cmd
eval "$bwrap_cmd"

# Namespaces are torn down by kernel workers after their processes exit (network
# namespaces especially); let that finish so no batch pays for the one before.
settle() { sleep "${BENCH_SETTLE:-3}"; }

# The machine's speed drifts (a VM with neighbours): one sandbox batch takes half
# a second, one docker batch ten, so batches alternate over several rounds and
# every sample of a command is pooled, so both see the same conditions.
rounds=${BENCH_ROUNDS:-5}
log "hyperfine: warren run --rm -- true, sandbox vs docker ($rounds alternating rounds)"
batch() { # NAME JSON RUNS WARMUP CMD [hyperfine options...]
  local name=$1 json=$2 n=$3 warm=$4 cmd=$5
  shift 5
  settle
  hyperfine -N --warmup "$warm" --runs "$n" --export-json "$json" "$@" -n "$name" "$cmd" >&2
}
for r in $(seq 1 "$rounds"); do
  batch sandbox "$tmp/run-sandbox-$r.json" 20 5 "$WARREN_BIN run $proj --rm --runtime sandbox -- true"
  batch docker "$tmp/run-docker-$r.json" 6 1 "$WARREN_BIN run $proj --rm --runtime docker -- true"
  batch sandbox-host "$tmp/run-sandboxhost-$r.json" 20 5 "$WARREN_BIN run $proj --rm --network host --runtime sandbox -- true"
  batch docker-host "$tmp/run-dockerhost-$r.json" 6 1 "$WARREN_BIN run $proj --rm --network host --runtime docker -- true"
  batch sandbox-offline "$tmp/run-offline-$r.json" 20 5 "$WARREN_BIN run $repo --rm --runtime sandbox -- true"
done
# The same sandbox run with no ready repository in the project's pool (as on
# a first run, or right after HEAD moved): `read-tree` into a new repository.
# The pause lets the previous run's background filler finish first.
batch sandbox-cold "$tmp/cold.json" 30 3 "$WARREN_BIN run $proj --rm --runtime sandbox -- true" \
  --prepare "sh -c 'sleep 0.5; rm -rf $WARREN_ROOT/pool'"
python3 - "$tmp" "$rounds" >"$tmp/run.json" <<'PY'
import json, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
def pooled(name, files):
    times = [t for f in files for t in json.load(open(f))["results"][0]["times"]]
    return {"command": name, "median": statistics.median(times), "mean": statistics.mean(times),
            "stddev": statistics.stdev(times), "runs": len(times)}
out = [pooled(n, [f"{tmp}/run-{f}-{r}.json" for r in range(1, rounds + 1)])
       for n, f in (("sandbox", "sandbox"), ("docker", "docker"), ("sandbox-host", "sandboxhost"),
                    ("docker-host", "dockerhost"), ("sandbox-offline", "offline"))]
out.append(pooled("sandbox-cold", [f"{tmp}/cold.json"]))
print(json.dumps({"results": out}))
PY

log "hyperfine: $runs runs each"
settle
hyperfine -N --warmup 30 --runs "$runs" --export-json "$tmp/result.json" \
  -n warren "$warren_cmd" -n bwrap "$bwrap_cmd" >&2

python3 - "$tmp/result.json" "$tmp/run.json" "$rounds" <<'PY'
import json, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
w, b = res["warren"], res["bwrap"]
ms = lambda s: f"{s * 1000:.2f} ms"
ratio = w["median"] / b["median"]
print("## Sandbox: `warren exec` vs bwrap, and `run --rm` sandbox vs docker\n")
print("`true` in a fresh sandbox, timed by hyperfine (`-N`, 30 warm-up runs) in the same run.")
print("warren: `warren exec NAME -- true` on a sandbox environment (store lookup, policy, joining")
print("the environment's keeper: its user, mount, pid, ipc, uts, cgroup and network namespaces; then")
print("its own Landlock rules, seccomp, capabilities).")
print("bwrap: the equivalent mounts and `--unshare-all --die-with-parent")
print("--new-session` (no Landlock or seccomp). Target: ratio ≤ 2.0 and warren < 15 ms median.\n")
print("| command | median | mean ± σ | min | ratio (median, warren / bwrap) |")
print("| --- | --- | --- | --- | --- |")
for name, r in (("warren", w), ("bwrap", b)):
    rr = f"**{ratio:.2f}×**" if name == "warren" else "1.00×"
    print(f"| {name} | {ms(r['median'])} | {ms(r['mean'])} ± {ms(r['stddev'])} | {ms(r['min'])} | {rr} |")
verdict = "meets" if ratio <= 2.0 and w["median"] < 0.015 else "misses"
print(f"\nwarren {verdict} the target ({ratio:.2f}× bwrap, {ms(w['median'])} median).")
run = {r["command"]: r for r in json.load(open(sys.argv[2]))["results"]}
rounds = int(sys.argv[3])
cold = run["sandbox-cold"]
sb, dk = run["sandbox"], run["docker"]
speed = dk["median"] / sb["median"]
cold_speed = dk["median"] / cold["median"]
off = run["sandbox-offline"]
off_speed = dk["median"] / off["median"]
sh, dh = run["sandbox-host"], run["docker-host"]
host_speed = dh["median"] / sh["median"]
print("\n`warren run --rm --runtime sandbox -- true` vs the same with `--runtime docker`")
print("(the environment's own repository, environment, command, removal; busybox image present")
print(f"locally), in {rounds} alternating rounds (per round: 20 sandbox runs, 6 docker runs per mode,")
print(f"after warm-ups; {sb['runs']} and {dk['runs']} timed runs in all, pooled).")
print("Default settings are `network: isolated`: each environment gets a network namespace with")
print("only loopback and its network daemon (the egress proxy's listener inside; for docker,")
print("`--network none`, the daemon entering the container once it runs, and CMD by exec).")
print("`--network host` rows: the sandbox on the host's network, docker on its bridge with CMD as")
print("the container's own process. Both runtimes take the repository the project's pool prepared")
print("in the background (a rename). Two more sandbox rows for context: `network: none`, and no")
print("ready repository (first run, or HEAD moved: `read-tree` into a new repository; the pool")
print("emptied before every run).")
print("Targets: sandbox ≥ 15× faster in `isolated` mode (network issue), ≥ 20× with the host network")
print("(trust-boundary issue).\n")
print("| runtime | network | median | mean ± σ | speed-up |")
print("| --- | --- | --- | --- | --- |")
print(f"| sandbox | isolated | {ms(sb['median'])} | {ms(sb['mean'])} ± {ms(sb['stddev'])} | **{speed:.1f}×** |")
print(f"| docker | isolated | {ms(dk['median'])} | {ms(dk['mean'])} ± {ms(dk['stddev'])} | 1.0× |")
print(f"| sandbox | host | {ms(sh['median'])} | {ms(sh['mean'])} ± {ms(sh['stddev'])} | **{host_speed:.1f}×** |")
print(f"| docker | host (bridge) | {ms(dh['median'])} | {ms(dh['mean'])} ± {ms(dh['stddev'])} | 1.0× |")
print(f"| sandbox | none | {ms(off['median'])} | {ms(off['mean'])} ± {ms(off['stddev'])} | {off_speed:.1f}× (vs docker isolated) |")
print(f"| sandbox, no ready repository | isolated | {ms(cold['median'])} | {ms(cold['mean'])} ± {ms(cold['stddev'])} | {cold_speed:.1f}× |")
print(f"\nIsolated: the sandbox {'meets' if speed >= 15 else 'misses'} the target ({speed:.1f}× faster). "
      f"Host network: it {'meets' if host_speed >= 20 else 'misses'} the target ({host_speed:.1f}×).")
PY
