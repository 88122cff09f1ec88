#!/usr/bin/env bash
# Watching 50 live sessions (issue 13, item 10b): warren's heartbeat against a
# claude-squad-style poller (per session, every 500 ms: `tmux capture-pane`, hash,
# compare; look for the prompt in what changed), on the same 50 sessions.
#
# 25 sandbox environments with 2 sessions each. Every session replays an agent's
# turn over and over: it works (a status line redrawn in place every 0.5 s) for
# 3–8 s, then prints a question ending in `(y/n)` and sits silent for 4 s, as an agent
# waiting for a human does. It notes the time (ns) just before printing the question.
#
# Three phases of BENCH_WATCH_SECS each (default 40) over the same sessions:
#   warren   the root's own watcher (`warren watch`, started by `warren new` in the
#            root's tmux server): CPU of it and its tmux control client; latency =
#            the `waiting` event's time in the store − the question's time.
#   baseline no watcher: the tmux server's own CPU for the 50 sessions.
#   peer     the poller (python, one tmux client per capture, as claude-squad runs
#            one per instance tick): its CPU and its children's; latency = when it
#            first saw the question − the question's time.
# The tmux server's extra CPU over the baseline is shown next to each.
#
# Prints one Markdown section to stdout, progress to stderr.
set -euo pipefail
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
command -v tmux >/dev/null || { echo "75-sessions-watch: tmux is not installed" >&2; exit 1; }
exec python3 - <<'PY'
import hashlib, json, os, shutil, signal, statistics, subprocess, sys, tempfile, threading, time

W = os.environ["WARREN_BIN"]
ENVS = int(os.environ.get("BENCH_WATCH_ENVS", "25"))
SECS = float(os.environ.get("BENCH_WATCH_SECS", "40"))
TICK = os.sysconf("SC_CLK_TCK")

def log(*a):
    print("75-sessions-watch:", *a, file=sys.stderr, flush=True)

tmp = tempfile.mkdtemp(prefix="warren-bench-watch-")
root, repo, marks = f"{tmp}/root", f"{tmp}/repo", f"{tmp}/marks"
os.makedirs(repo); os.makedirs(marks)
env = dict(os.environ, WARREN_ROOT=root, NO_COLOR="1", WARREN_PROXY_IDLE_SECONDS="2")
sock = f"{root}/tmux.sock"
TMUX = ["tmux", "-S", sock, "-f", "/dev/null"]

def sh(*args, **kw):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kw).stdout

def warren(*args):
    r = subprocess.run([W, *args], cwd=repo, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"warren {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout

# The replayed agent. Marks go to a directory outside the environment's tree, given
# as an absolute path the sandbox can write: the environment's /tmp is private, so
# the mark directory is the worktree's `.marks` (ignored by git), read afterwards.
agent = r'''#!/bin/sh
# A replayed agent turn, forever: work, then ask and wait.
s=$1; round=0
k=$(printf '%s' "$WARREN_NAME-$s" | cksum | cut -d' ' -f1)
mkdir -p .marks
while :; do
  work=$(( 3 + (k * 7 + round * 3) % 6 ))
  i=0
  while [ $i -lt $((work * 2)) ]; do
    printf '\r* Working... (%ds - esc to interrupt)  ' $((i / 2))
    sleep 0.5
    i=$((i + 1))
  done
  printf '\n'
  echo "$round $(date +%s%N)" >> ".marks/$s"
  printf 'Allow the agent to run `npm test`? (y/n) '
  sleep 4
  printf 'y\n'
  round=$((round + 1))
done
'''
with open(f"{repo}/agent.sh", "w") as f:
    f.write(agent)
with open(f"{repo}/.gitignore", "w") as f:
    f.write(".marks/\n")
with open(f"{repo}/.warren.yaml", "w") as f:
    f.write("""runtime: sandbox
network: none
sessions:
  a: {command: "sh agent.sh a"}
  b: {command: "sh agent.sh b"}
types:
  bench: {sessions: [a, b]}
""")
sh("git", "init", "-q", "-b", "main", repo)
sh("git", "-C", repo, "add", "-A")
sh("git", "-C", repo, "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "bench")

names = [f"w{i}" for i in range(ENVS)]

def cleanup():
    subprocess.run([W, "rm", "--all", "-f"], cwd=repo, env=env, capture_output=True)
    subprocess.run([*TMUX, "kill-server"], capture_output=True)
    shutil.rmtree(tmp, ignore_errors=True)

def cpu(pid):
    """utime+stime of a live process, in seconds (0 when gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        v = s[s.rfind(")") + 2:].split()
        return (int(v[11]) + int(v[12])) / TICK
    except OSError:
        return 0.0

def tmux_pid(pattern):
    out = sh("ps", "-eo", "pid=,args=")
    return [int(l.split()[0]) for l in out.splitlines() if pattern(l.split(None, 1)[1] if len(l.split(None, 1)) > 1 else "")]

def ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        return int(s[s.rfind(")") + 2:].split()[1])
    except OSError:
        return 0

def read_marks():
    """(session key, ns) of every question printed so far."""
    out = []
    for n in names:
        d = f"{root}/worktrees/repo/{n}/.marks"
        for s in ("a", "b"):
            try:
                with open(f"{d}/{s}") as f:
                    for line in f:
                        p = line.split()
                        if len(p) == 2:
                            out.append(((n, s), int(p[1])))
            except OSError:
                pass
    return out

def latencies(marks, seen, t0, t1):
    """For each question printed in [t0, t1 - 5 s]: first sighting after it, minus it (ms)."""
    lat, missed = [], 0
    for key, ns in marks:
        if not (t0 <= ns <= t1 - 5e9):
            continue
        after = [t for t in seen.get(key, []) if t >= ns - 1e6]
        # A sighting counts only before the question is answered (4 s later).
        after = [t for t in after if t <= ns + 4e9]
        if after:
            lat.append((min(after) - ns) / 1e6)
        else:
            missed += 1
    return lat, missed

try:
    log(f"creating {ENVS} sandbox environments with 2 sessions each")
    for n in names:
        warren("new", "bench", n)
    server = tmux_pid(lambda a: a.startswith("tmux") and sock in a and " -C " not in a and "start-server" in a)
    if not server:
        raise SystemExit("no tmux server found")
    server = server[0]
    # The watcher of this root: a child of its tmux server.
    watcher = [p for p in tmux_pid(lambda a: "watch --exit-when-idle" in a) if ppid(p) == server]
    if not watcher:
        raise SystemExit("warren's watcher is not running")
    watcher = watcher[0]
    log(f"tmux server {server}, watcher {watcher}; settling 5 s")
    time.sleep(5)

    # Phase 1: warren's watcher.
    def ctl_children():
        return tmux_pid(lambda a: " -C " in a and sock in a)
    ctl = ctl_children()
    log(f"phase warren ({SECS:.0f} s); control clients: {ctl}")
    c0 = cpu(watcher) + sum(cpu(p) for p in ctl)
    s0 = cpu(server)
    t0 = time.time_ns()
    time.sleep(SECS)
    t1 = time.time_ns()
    w_cpu = cpu(watcher) + sum(cpu(p) for p in ctl_children()) - c0
    w_server = cpu(server) - s0
    ev = warren("events", "--json", "-n", "1000000")
    seen_w = {}
    for line in ev.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            e = json.loads(line)
        except ValueError:
            continue
        items = e if isinstance(e, list) else [e]
        for x in items:
            if x.get("to") == "waiting" and x.get("session"):
                seen_w.setdefault((x.get("env"), x.get("session")), []).append(x["time_ms"] * 1e6)
    marks_all = read_marks()
    w_lat, w_missed = latencies(marks_all, seen_w, t0, t1)

    # Phase 2: no watcher (the baseline of the tmux server).
    log("phase baseline: the watcher ends")
    subprocess.run([*TMUX, "kill-session", "-t", "=warren-watch"], capture_output=True)
    time.sleep(2)
    s0 = cpu(server)
    time.sleep(SECS)
    b_server = cpu(server) - s0

    # Phase 3: the claude-squad-style poller.
    log(f"phase peer ({SECS:.0f} s)")
    sessions = [(n, s) for n in names for s in ("a", "b")]
    poller = r'''
import hashlib, json, os, resource, subprocess, sys, threading, time
sock, secs, sessions = sys.argv[1], float(sys.argv[2]), json.loads(sys.argv[3])
seen = {}
lock = threading.Lock()
stop = time.time() + secs
def watch(n, s):
    last = None
    while time.time() < stop:
        out = subprocess.run(["tmux", "-S", sock, "-f", "/dev/null", "capture-pane", "-p", "-t", f"={n}-{s}:"],
                             capture_output=True).stdout
        h = hashlib.sha256(out).hexdigest()
        if h != last:
            last = h
            tail = out.rstrip().splitlines()[-1:] if out.strip() else []
            if tail and tail[0].rstrip().endswith(b"(y/n)"):
                with lock:
                    seen.setdefault(f"{n}|{s}", []).append(time.time_ns())
        time.sleep(0.5)
ts = [threading.Thread(target=watch, args=p) for p in sessions]
for t in ts: t.start()
for t in ts: t.join()
ru, rc = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"cpu": ru.ru_utime + ru.ru_stime + rc.ru_utime + rc.ru_stime, "seen": seen}))
'''
    s0 = cpu(server)
    t0 = time.time_ns()
    r = subprocess.run([sys.executable, "-c", poller, sock, str(SECS), json.dumps(sessions)],
                       capture_output=True, text=True, check=True)
    t1 = time.time_ns()
    p_server = cpu(server) - s0
    out = json.loads(r.stdout)
    p_cpu = out["cpu"]
    seen_p = {tuple(k.split("|")): v for k, v in out["seen"].items()}
    p_lat, p_missed = latencies(read_marks(), seen_p, t0, t1)
finally:
    cleanup()

def pct(x):
    return 100.0 * x / SECS

def p95(v):
    return statistics.quantiles(v, n=20)[18] if len(v) >= 2 else float("nan")

log(f"warren cpu {pct(w_cpu):.2f}% server +{pct(w_server - b_server):.2f}%, latency n={len(w_lat)} missed={w_missed}")
log(f"peer   cpu {pct(p_cpu):.2f}% server +{pct(p_server - b_server):.2f}%, latency n={len(p_lat)} missed={p_missed}")
ratio_cpu = w_cpu / p_cpu if p_cpu else float("nan")
ratio_lat = p95(w_lat) / p95(p_lat) if p_lat else float("nan")
print("## Watching 50 live sessions\n")
print(f"{ENVS} sandbox environments × 2 sessions, each replaying an agent: a status line redrawn")
print("in place every 0.5 s for 3–8 s, then a `(y/n)` question and 4 s of silence. warren is its")
print("root's own watcher (`warren watch`, one tmux control-mode connection, screens read only")
print("when a pane's layout changed or at most once a second while it prints); the peer polls")
print("like claude-squad (per session every 500 ms: `tmux capture-pane`, hash, look for the")
print(f"prompt when it changed). {SECS:.0f} s per phase, same sessions; CPU is % of one core;")
print("latency is from the question's print (noted by the session) to warren's `waiting` event in")
print("the store, or to the peer seeing it. The tmux server's extra CPU is over a phase with no")
print("watcher.\n")
print("| measurement | warren | peer | ratio | target |")
print("|---|---|---|---|---|")
print(f"| CPU, watcher and its tmux clients | {pct(w_cpu):.2f} % | {pct(p_cpu):.2f} % | {ratio_cpu:.3f}× | ≤ 1 % of a core |")
print(f"| tmux server's extra CPU | {pct(w_server - b_server):+.2f} % | {pct(p_server - b_server):+.2f} % | | |")
print(f"| question → seen, p50 | {statistics.median(w_lat):.0f} ms | {statistics.median(p_lat):.0f} ms | | |")
print(f"| question → seen, p95 | {p95(w_lat):.0f} ms | {p95(p_lat):.0f} ms | {ratio_lat:.2f}× | ≤ 500 ms |")
print(f"| questions seen / missed | {len(w_lat)} / {w_missed} | {len(p_lat)} / {p_missed} | | |")
PY
