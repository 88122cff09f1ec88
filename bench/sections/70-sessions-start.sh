#!/usr/bin/env bash
# Sessions at scale (issue 13, item 10a): `warren start 1 2 … 20` on the sandbox
# runtime, each environment of type `issue` with 2 sessions, timed until every one
# of the 40 sessions runs (its tmux session exists and its pane shows its ready
# line), vs a shell script doing the same by hand: per issue `git worktree add -b`,
# then 2 × `tmux new-session -d … -- bwrap … sh -c CMD`. Target: ratio ≤ 1.0.
#
# Both sides start from nothing: a fresh WARREN_ROOT (so a fresh tmux server) for
# every warren run, a fresh tmux server for every script run, and the same poller
# (`tmux list-sessions`, then `capture-pane` of each session not yet ready, every
# 10 ms) started together with the command. A run ends when every pane is ready
# and the command has returned. Runs alternate between the variants over several
# rounds (one warm-up round first); teardown (`warren rm --all -f --delete-branch`
# and its tmux server; the script's tmux server, worktrees and branches) is not
# timed.
#
# Prints one Markdown section to stdout, progress to stderr.
# Knobs: BENCH_ISSUES (default 20), BENCH_ROUNDS (timed rounds, default 5),
#        BENCH_SETTLE (seconds between runs, default 2).
#
# Teardown happens once per round, for all its runs, and is followed by a wait on
# an ext4 file system without a journal: there, allocating an inode skips every
# inode freed in the last `dirty_expire_centisecs` (30 s), reading each one's
# inode-table block to check it (`recently_deleted` in fs/ext4/ialloc.c). A run
# started right after the previous run's teardown (about 1,000 files) spends a
# quarter of its CPU time in that scan, more for the side that creates more
# files; journaled ext4 never does it. Waiting the window out puts every run on
# the same footing.
set -euo pipefail
log() { printf '70-sessions-start: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed"; exit 1; }; }
need bwrap; need tmux; need git; need python3
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
n_issues=${BENCH_ISSUES:-20}
rounds=${BENCH_ROUNDS:-5}
settle_s=${BENCH_SETTLE:-2}

tmp=$(mktemp -d)
tmp=$(cd "$tmp" && pwd -P)
# Waits (never kills) for the detached `warren __fill-pool` processes of this
# bench's repositories, which empty the trash of a root about to be deleted.
wait_fillers() {
  local i
  for i in $(seq 1 200); do
    pgrep -f -- "__fill-pool $tmp/" >/dev/null 2>&1 || return 0
    sleep 0.05
  done
  log "a pool filler is still running"
}
teardown_warren() { # ROOT REPO
  local root=$1 repo=$2
  [ -d "$root" ] || return 0
  (cd "$repo" && WARREN_ROOT=$root "$WARREN_BIN" -q rm --all -f --delete-branch >/dev/null 2>&1) || true
  [ -S "$root/tmux.sock" ] && tmux -S "$root/tmux.sock" kill-server >/dev/null 2>&1 || true
  wait_fillers
  rm -rf "$root"
}
teardown_peer() { # SOCK REPO
  local sock=$1 repo=$2 b
  [ -S "$sock" ] && tmux -S "$sock" kill-server >/dev/null 2>&1 || true
  rm -f "$sock"
  git -C "$repo" worktree list --porcelain | sed -n 's/^worktree //p' | tail -n +2 |
    while read -r wt; do git -C "$repo" worktree remove --force "$wt" >/dev/null 2>&1 || true; done
  git -C "$repo" worktree prune
  for b in $(git -C "$repo" for-each-ref --format='%(refname:short)' 'refs/heads/issue-*'); do
    git -C "$repo" branch -q -D "$b"
  done
  rm -rf "$repo-worktrees"
}
cleanup() {
  local r v s
  for r in "$tmp"/roots/*; do
    [ -d "$r" ] || continue
    v=$(basename "$r"); v=${v%-*}
    teardown_warren "$r" "$tmp/repo-$v"
  done
  for v in unshare share; do
    for s in "$tmp"/peer-"$v"-*.sock; do
      [ -e "$s" ] && teardown_peer "$s" "$tmp/repo-peer-$v"
    done
  done
  wait_fillers
  rm -rf "$tmp"
}
trap cleanup EXIT

# One repository per variant (the network mode is a `.warren.yaml` setting), the
# same files and one commit each.
make_repo() { # DIR [NETWORK]
  local dir=$1 net=${2:-}
  mkdir -p "$dir/src"
  git -C "$dir" init -q -b main
  printf '# bench\n' >"$dir/README.md"
  printf 'fn main() {\n    println!("hi");\n}\n' >"$dir/src/main.rs"
  printf '[package]\nname = "bench"\nversion = "0.1.0"\nedition = "2021"\n' >"$dir/Cargo.toml"
  {
    echo "runtime: sandbox"
    echo "port_range: 9400-9499"
    [ -n "$net" ] && echo "network: $net"
    echo "sessions:"
    echo '  web: {command: "echo web $PORT; exec sleep 100000"}'
    echo '  agent: {command: "echo agent ready; exec sleep 100000"}'
    echo "types:"
    echo "  issue: {sessions: [web, agent]}"
  } >"$dir/.warren.yaml"
  git -C "$dir" add -A
  git -C "$dir" -c user.name=b -c user.email=b@b commit -qm bench
}
make_repo "$tmp/repo-isolated"
make_repo "$tmp/repo-none" none
make_repo "$tmp/repo-host" host
make_repo "$tmp/repo-peer-unshare"
make_repo "$tmp/repo-peer-share"
(cd "$tmp/repo-isolated" && WARREN_ROOT="$tmp/validate" "$WARREN_BIN" -q validate) >&2
rm -rf "$tmp/validate"

# The peer: what a person would script with git worktree, tmux and bwrap. bwrap
# runs each session's command with every namespace (user, pid, ipc, uts, cgroup,
# and the network unless PEER_NET=share), the host's file system read-only, the
# worktree and the main repository's .git read-write (git works inside), a fresh
# /dev, /proc and /tmp, and dies with its tmux pane.
cat >"$tmp/peer.sh" <<'PEER'
#!/usr/bin/env bash
# peer.sh SOCK REPO WORKTREES N [share]
set -euo pipefail
sock=$1 repo=$2 wts=$3 n=$4 net=${5:-}
mkdir -p "$wts"
for i in $(seq 1 "$n"); do
  wt="$wts/issue-$i"
  git -C "$repo" worktree add -q -b "issue-$i" "$wt" HEAD
  port=$((9400 + i))
  for s in web agent; do
    case $s in
      web) cmd='echo web $PORT; exec sleep 100000' ;;
      agent) cmd='echo agent ready; exec sleep 100000' ;;
    esac
    bw=(bwrap --unshare-all)
    [ "$net" = share ] && bw+=(--share-net)
    bw+=(--die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp
         --bind "$wt" "$wt" --bind "$repo/.git" "$repo/.git" --chdir "$wt"
         --setenv PORT "$port" --setenv WARREN_SESSION "$s" -- /bin/sh -c "$cmd")
    tmux -S "$sock" -f /dev/null new-session -d -s "issue-$i-$s" -x 200 -y 50 -c "$wt" -- "${bw[@]}"
  done
done
PEER
chmod +x "$tmp/peer.sh"

# The poller: starts the command, then polls the tmux server until every session
# shows its ready line; prints the times as JSON.
cat >"$tmp/poll.py" <<'PY'
import json, re, subprocess, sys, time
sock, n, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cmd = sys.argv[4:]
ready_re = {"web": re.compile(r"^web 9\d{3}$", re.M), "agent": re.compile(r"^agent ready$", re.M)}
pending = {f"issue-{i}-{s}": s for i in range(1, n + 1) for s in ("web", "agent")}
tmux = ["tmux", "-S", sock]
t0 = time.monotonic()
with open(log_path, "w") as logf:
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
cmd_done = None
first_ready = None
while True:
    if cmd_done is None and proc.poll() is not None:
        cmd_done = time.monotonic() - t0
        if proc.returncode != 0:
            print(json.dumps({"error": f"command exited {proc.returncode}"}))
            sys.exit(1)
    if pending:
        ls = subprocess.run(tmux + ["list-sessions", "-F", "#{session_name}"],
                            capture_output=True, text=True)
        live = set(ls.stdout.split()) if ls.returncode == 0 else set()
        for name in [p for p in pending if p in live]:
            pane = subprocess.run(tmux + ["capture-pane", "-p", "-t", f"={name}:"],
                                  capture_output=True, text=True).stdout
            if ready_re[pending[name]].search(pane):
                del pending[name]
                if first_ready is None:
                    first_ready = time.monotonic() - t0
    if not pending and cmd_done is not None:
        break
    if time.monotonic() - t0 > 300:
        print(json.dumps({"error": f"timeout; not ready: {sorted(pending)}"}))
        sys.exit(1)
    time.sleep(0.01)
total = time.monotonic() - t0
print(json.dumps({"total": total, "command": cmd_done, "first_ready": first_ready}))
PY

settle() { sleep "$settle_s"; }

# Seconds to wait after deleting files before the next timed run (see above).
no_journal_window() {
  local dev fs
  dev=$(findmnt -n -o SOURCE -T "$tmp" 2>/dev/null || true)
  fs=$(findmnt -n -o FSTYPE -T "$tmp" 2>/dev/null || true)
  dev=${dev##*/}
  # The journal thread's name, or `<none>`.
  if [ "$fs" = ext4 ] && [ -r "/sys/fs/ext4/$dev/journal_task" ] &&
     [ "$(cat "/sys/fs/ext4/$dev/journal_task")" = "<none>" ]; then
    echo $(( $(cat /proc/sys/vm/dirty_expire_centisecs) / 100 + 1 ))
  else
    echo 0
  fi
}
window_s=$(no_journal_window)
[ "$window_s" = 0 ] || log "ext4 without a journal under $tmp: waiting ${window_s}s after each round's teardown"

run_warren() { # VARIANT ROUND
  local variant=$1 round=$2 repo="$tmp/repo-$1" root="$tmp/roots/$1-$2"
  mkdir -p "$tmp/roots"
  settle
  (cd "$repo" && WARREN_ROOT=$root python3 "$tmp/poll.py" "$root/tmux.sock" "$n_issues" \
     "$tmp/log-warren-$variant-$round" "$WARREN_BIN" start $(seq 1 "$n_issues")) \
     >"$tmp/res-warren-$variant-$round.json" || {
    log "warren ($variant) run $round failed: $(cat "$tmp/res-warren-$variant-$round.json")"
    tail -n 20 "$tmp/log-warren-$variant-$round" >&2
    exit 1
  }
  # Its environments stay until the round's teardown, idle; its heartbeat
  # (`warren watch`, polling 40 sessions) would not be, so it goes now, and its
  # pool filler (worktrees for the next starts, in the background) finishes,
  # before the next run of the round.
  tmux -S "$root/tmux.sock" kill-session -t =warren-watch >/dev/null 2>&1 || true
  wait_fillers
}
run_peer() { # VARIANT ROUND
  local variant=$1 round=$2 sock="$tmp/peer-$1-$2.sock" share=""
  [ "$variant" = share ] && share=share
  settle
  python3 "$tmp/poll.py" "$sock" "$n_issues" "$tmp/log-peer-$variant-$round" \
    "$tmp/peer.sh" "$sock" "$tmp/repo-peer-$variant" "$tmp/repo-peer-$variant-worktrees" "$n_issues" $share \
    >"$tmp/res-peer-$variant-$round.json" || {
    log "script ($variant) run $round failed: $(cat "$tmp/res-peer-$variant-$round.json")"
    tail -n 20 "$tmp/log-peer-$variant-$round" >&2
    exit 1
  }
}
show() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("%.2f s (command %.2f s)" % (d["total"], d["command"]))' "$1"; }

for round in $(seq 0 "$rounds"); do
  label=$([ "$round" = 0 ] && echo "warm-up" || echo "round $round/$rounds")
  for v in isolated none host; do
    run_warren "$v" "$round"
    log "$label: warren ($v): $(show "$tmp/res-warren-$v-$round.json")"
  done
  for v in unshare share; do
    run_peer "$v" "$round"
    log "$label: script ($v): $(show "$tmp/res-peer-$v-$round.json")"
  done
  # Teardown, not timed: every environment of the round at once, then the
  # script's servers, worktrees and branches.
  for v in isolated none host; do
    teardown_warren "$tmp/roots/$v-$round" "$tmp/repo-$v" &
  done
  wait
  for v in unshare share; do
    teardown_peer "$tmp/peer-$v-$round.sock" "$tmp/repo-peer-$v"
  done
  sleep "$window_s"
done

python3 - "$tmp" "$rounds" "$n_issues" "$window_s" <<'PY'
import json, statistics, sys
tmp, rounds, n, window = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
def load(side, variant):
    rs = [json.load(open(f"{tmp}/res-{side}-{variant}-{r}.json")) for r in range(1, rounds + 1)]
    tot = [r["total"] for r in rs]
    cmd = [r["command"] for r in rs]
    return {"median": statistics.median(tot), "min": min(tot), "max": max(tot),
            "cmd": statistics.median(cmd)}
w = {v: load("warren", v) for v in ("isolated", "none", "host")}
p = {v: load("peer", v) for v in ("unshare", "share")}
s = lambda x: f"{x:.2f} s"
def cell(r):
    return f"{s(r['median'])} ({s(r['min'])}–{s(r['max'])}); {r['median'] / n * 1000:.0f} ms/env"
print(f"## Sessions: `warren start` of {n} sandbox environments × 2 sessions vs git worktree + tmux + bwrap\n")
print(f"`warren start 1 2 … {n}` in a project whose `issue` type has two sessions (`web`: `echo web")
print("$PORT; exec sleep …`, `agent`: `echo agent ready; exec sleep …`) on the sandbox runtime, from a")
print("fresh WARREN_ROOT (no environments, no tmux server), timed until all")
print(f"{2 * n} sessions run: each tmux session exists and its pane shows its ready line (one poller for")
print("both sides: `tmux list-sessions`, then `capture-pane` of each session not yet ready, every 10 ms,")
print("started with the command) and the command has returned. warren starts the issues two per core")
print("at a time (each: its worktree, the sandbox keeper with its namespaces and cgroup, then a")
print("tmux session per session running `warren exec NAME -- CMD`; once, the `warren watch` heartbeat).")
print(f"The script: per issue `git worktree add -b issue-N`, then two `tmux new-session -d -s")
print("issue-N-S -c WT -- bwrap --unshare-all [--share-net] --die-with-parent --ro-bind / / --dev /dev")
print("--proc /proc --tmpfs /tmp --bind WT WT --bind REPO/.git REPO/.git --chdir WT --setenv PORT P")
print("-- sh -c CMD` (no cgroup, Landlock, seccomp, egress proxy or state store).")
print(f"{rounds} alternating rounds after one warm-up round; median (min–max) of the wall time; per")
print(f"environment = median / {n}. Teardown is not timed: it happens once per round, after its runs")
print("(in between, each warren run's `warren watch` heartbeat is stopped and its background pool")
print("filler waited for, so that no run shares the machine with an earlier run's work).")
if window > 0:
    print(f"This machine's root file system is ext4 without a journal, which skips inodes freed in the")
    print(f"last 30 s when it allocates one, reading each one's inode-table block; so after each")
    print(f"round's teardown the next round waits {window} s (otherwise a run pays for the ~1,000 files")
    print(f"the previous teardown deleted, about a quarter of its CPU time).")
print("warren's default network mode is `isolated` (a network namespace per environment plus its")
print("egress-proxy daemon); `bwrap --unshare-all` gives a network namespace with only loopback,")
print("like warren's `network: none`, which is the like-for-like pair; `network: host` is compared")
print("with `--share-net`. Target: ratio ≤ 1.0 (issue 13, item 10a).\n")
print("| measurement | warren | peer | ratio | target |")
print("| --- | --- | --- | --- | --- |")
rows = [("isolated", "unshare", f"{n} × 2 sessions, warren default (`network: isolated`) vs `--unshare-all`"),
        ("none", "unshare", f"{n} × 2 sessions, `network: none` vs `--unshare-all` (like for like)"),
        ("host", "share", f"{n} × 2 sessions, `network: host` vs `--unshare-all --share-net`")]
met = 0
for wv, pv, label in rows:
    r = w[wv]["median"] / p[pv]["median"]
    ok = r <= 1.0
    met += ok
    print(f"| {label} | {cell(w[wv])} | {cell(p[pv])} | **{r:.2f}×** | ≤ 1.0 {'✓' if ok else '✗'} |")
print(f"\n`warren start` itself returned after {s(w['isolated']['cmd'])} (isolated), "
      f"{s(w['none']['cmd'])} (none), {s(w['host']['cmd'])} (host) median; the script after "
      f"{s(p['unshare']['cmd'])} / {s(p['share']['cmd'])}.")
print(f"\n{met} of {len(rows)} comparisons meet the target.")
PY
