#!/usr/bin/env bash
# Review at scale: a repository of 20,000 committed files (200 directories × 100
# small text files) and 50 real sandbox environments (`warren run -n eN
# --runtime sandbox -- sh -c EDITS`), each editing 1–5 files, some of them the
# same files (and the same lines) as others.
#
# (a) `warren diff --stat e1` (capture the environment's whole tree through the
#     project's shadow, then compare) vs `git diff --stat BASE` in a plain
#     `git worktree` of the same repository with the same edits.
# (b) `warren conflicts` over the 50 vs a shell loop running
#     `git merge-tree --write-tree` on every pair of 50 branches holding the
#     same edits (1,225 merges).
#
# Both sides of each row are timed by hyperfine in the same run. Prints one
# Markdown section to stdout, progress to stderr.
# Knobs: BENCH_ENVS (default 50), BENCH_RUNS (hyperfine runs for (a), default 30).
set -euo pipefail

log() { printf '80-review: %s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null 2>&1 || { log "$1 is not installed"; exit 1; }; }
need hyperfine; need python3; need git
: "${WARREN_BIN:?set WARREN_BIN to a release warren binary (bench/run does)}"
envs=${BENCH_ENVS:-50}
runs=${BENCH_RUNS:-30}

tmp=$(mktemp -d)
export WARREN_ROOT="$tmp/root"
repo="$tmp/repo"
cleanup() {
  for n in $(seq 1 "$envs"); do "$WARREN_BIN" rm --force "e$n" >/dev/null 2>&1 || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

log "a repository of 20,000 files"
mkdir -p "$repo"
git -C "$repo" init -q -b main
python3 - "$repo" <<'PY'
import os, sys
repo = sys.argv[1]
for d in range(200):
    p = os.path.join(repo, f"d{d:03}")
    os.mkdir(p)
    for f in range(100):
        with open(os.path.join(p, f"f{f:03}.txt"), "w") as fh:
            fh.write("".join(f"line {k} of d{d:03}/f{f:03}\n" for k in range(1, 21)))
PY
printf 'runtime: sandbox\nsandbox:\n  network: none\n' >"$repo/.warren.yaml"
git -C "$repo" add -A
git -C "$repo" -c user.name=b -c user.email=b@b commit -qm files
base=$(git -C "$repo" rev-parse HEAD)

# The edits of environment N (1–5 files): a file of its own; every third
# environment the same line of one of five hot files (conflicts among those that
# pick the same one); every fourth another line of a shared file (touches, no
# conflict unless two pick the same line); every fifth two more files of its own.
edits() {
  local n=$1 d
  d=$(printf 'd%03d' $((n % 190)))
  printf "sed -i 's/^line 3 of/env %s: line 3 of/' %s/f%03d.txt" "$n" "$d" $((n % 100))
  if [ $((n % 3)) = 0 ]; then
    printf " && sed -i 's/^line 1 of.*/env %s was here/' d199/f%03d.txt" "$n" $((n % 5))
  fi
  if [ $((n % 4)) = 0 ]; then
    printf " && sed -i 's/^line %s of/env %s: line %s of/' d198/f000.txt" \
      $((2 * (n % 10) + 1)) "$n" $((2 * (n % 10) + 1))
  fi
  if [ $((n % 5)) = 0 ]; then
    printf " && echo env %s >> %s/f050.txt && echo env %s >> %s/f051.txt" "$n" "$d" "$n" "$d"
  fi
}

log "creating $envs sandbox environments"
start=$(date +%s.%N)
for n in $(seq 1 "$envs"); do
  (cd "$repo" && "$WARREN_BIN" run -n "e$n" --runtime sandbox -- sh -c "$(edits "$n")") \
    >/dev/null 2>"$tmp/run.err" || { cat "$tmp/run.err" >&2; exit 1; }
done
create_s=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" \
  "$start" "$(date +%s.%N)")
log "created in ${create_s}s"

log "the peer: a git worktree with e1's edits, and $envs branches with each one's edits"
wt="$tmp/wt"
git -C "$repo" worktree add -q --detach "$wt" "$base"
(cd "$wt" && sh -c "$(edits 1)")
# Files written in the same second as the index are "racily clean": git would
# re-read them on every run. Let the second pass and refresh the index once, as
# a worktree in use has it.
sleep 1.1
git -C "$wt" update-index -q --refresh || true
# git doing what warren does (untracked files included), for context: stage
# everything in a copy of the worktree's index, then compare it with the base.
cp "$(git -C "$wt" rev-parse --absolute-git-dir)/index" "$tmp/index-all"
printf 'export GIT_INDEX_FILE=%s\ngit -C %s add -A && git -C %s diff --cached --stat %s\n' \
  "$tmp/index-all" "$wt" "$wt" "$base" >"$tmp/git-all.sh"
scratch="$tmp/scratch"
git -C "$repo" worktree add -q --detach "$scratch" "$base"
for n in $(seq 1 "$envs"); do
  git -C "$scratch" checkout -q -B "b$n" "$base"
  (cd "$scratch" && sh -c "$(edits "$n")")
  git -C "$scratch" -c user.name=b -c user.email=b@b commit -qam "b$n"
done
{
  echo "cd $repo"
  for i in $(seq 1 "$envs"); do
    for j in $(seq $((i + 1)) "$envs"); do
      echo "git merge-tree --write-tree b$i b$j >/dev/null || true"
    done
  done
} >"$tmp/pairs.sh"

log "checking both sides agree"
cd "$repo"
w=$("$WARREN_BIN" diff --stat e1 | tail -1)
g=$(git -C "$wt" diff --stat "$base" | tail -1)
[ "$w" = "$g" ] || { log "diff --stat differs: warren '$w', git '$g'"; exit 1; }
"$WARREN_BIN" conflicts --json >"$tmp/conflicts.json" || true
python3 - "$tmp/conflicts.json" >"$tmp/summary.txt" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
pairs = r["pairs"]
bad = [p for p in pairs if p["conflicts"]]
print(f"{len(pairs)} {len(bad)}")
PY
read -r touching conflicting <"$tmp/summary.txt"
peer_conflicting=0
for i in $(seq 1 "$envs"); do
  for j in $(seq $((i + 1)) "$envs"); do
    git merge-tree --write-tree "b$i" "b$j" >/dev/null || peer_conflicting=$((peer_conflicting + 1))
  done
done
[ "$conflicting" = "$peer_conflicting" ] || {
  log "conflicting pairs differ: warren $conflicting, git $peer_conflicting"; exit 1; }
log "$touching pairs touch common files, $conflicting conflict (git agrees)"

log "hyperfine (a): diff --stat, $runs runs each"
hyperfine -N --warmup 5 --runs "$runs" --export-json "$tmp/diff.json" \
  -n warren "$WARREN_BIN diff --stat e1" -n git "git -C $wt diff --stat $base" \
  -n git-all "sh $tmp/git-all.sh" >&2
log "hyperfine (b): conflicts over $envs environments vs merge-tree on every pair"
# The check above ran the first `warren conflicts`, which started the change
# feed's watcher; the two warm-up runs capture under its tokens. `warren-stat`
# is the same command with the feed turned off (every file's stat data).
hyperfine -N -i --warmup 2 --runs "${BENCH_CONFLICT_RUNS:-5}" --export-json "$tmp/conflicts-time.json" \
  -n warren "$WARREN_BIN conflicts" -n git "bash $tmp/pairs.sh" \
  -n warren-stat "env WARREN_CHANGE_FEED=0 $WARREN_BIN conflicts" >&2

python3 - "$tmp/diff.json" "$tmp/conflicts-time.json" "$envs" "$create_s" "$touching" "$conflicting" <<'PY'
import json, sys
def load(f):
    return {r["command"]: r for r in json.load(open(f))["results"]}
d, c = load(sys.argv[1]), load(sys.argv[2])
envs, create_s, touching, conflicting = sys.argv[3:7]
pairs = int(envs) * (int(envs) - 1) // 2
ms = lambda s: f"{s * 1000:.1f} ms"
rd = d["warren"]["median"] / d["git"]["median"]
rc = c["warren"]["median"] / c["git"]["median"]
print("## Review: `warren diff` and `warren conflicts` at scale\n")
print(f"A repository of 20,000 committed files (200 directories × 100 files of 20 lines) and {envs}")
print(f"real sandbox environments, each editing 1–5 files, some the same files and lines as others")
print(f"(creating them with `warren run -n eN --runtime sandbox -- sh -c EDITS`, one after the other,")
print(f"took {create_s} s). Timed by hyperfine (`-N`) in the same run, medians.")
print("(a) warren captures the environment's whole tree (commits, uncommitted, untracked) through")
print("the project's shadow, then compares; git compares a plain `git worktree` holding the same")
print("edits with the base commit (tracked files only).")
print(f"(b) warren captures all {envs} trees, compares the changed files and merges only the pairs")
print(f"that share one ({touching} pairs touch, {conflicting} conflict), in one `git merge-tree --stdin`;")
print(f"the peer runs `git merge-tree --write-tree` on every one of the {pairs} pairs of {envs}")
print("branches holding the same edits (the answer a script without warren would compute).\n")
print("| measurement | warren | peer | ratio | target |")
print("| --- | --- | --- | --- | --- |")
print(f"| (a) `warren diff --stat e1` vs `git diff --stat BASE` | {ms(d['warren']['median'])} | "
      f"{ms(d['git']['median'])} | **{rd:.2f}×** | ≤ 1.2× ({'met' if rd <= 1.2 else 'missed'}) |")
ra = d["warren"]["median"] / d["git-all"]["median"]
print(f"| (a′) the same vs `git add -A && git diff --cached --stat BASE` (untracked files too; context) | "
      f"{ms(d['warren']['median'])} | {ms(d['git-all']['median'])} | {ra:.2f}× | – |")
print(f"| (b) `warren conflicts` ({envs} environments) vs `merge-tree` on {pairs} pairs | "
      f"{ms(c['warren']['median'])} | {ms(c['git']['median'])} | **{rc:.2f}×** | "
      f"≤ 0.2× ({'met' if rc <= 0.2 else 'missed'}) |")
rs = c["warren-stat"]["median"] / c["git"]["median"]
print(f"| (b′) the same with the change feed off (`WARREN_CHANGE_FEED=0`; context) | "
      f"{ms(c['warren-stat']['median'])} | {ms(c['git']['median'])} | {rs:.2f}× | – |")
w, ws = c["warren"], c["warren-stat"]
print(f"\nWhere (b)'s time goes. No tree changed since its last capture. With the change feed")
print(f"(docs/review.md), warren asks its watcher one question per environment and reads no tree:")
print(f"{w['user']:.2f} s of user and {w['system']:.2f} s of system CPU time per run, mostly git's: one")
print("`git merge-tree --stdin` over the pairs that touch a common file, then one `cat-file")
print("--batch-check` and one `cat-file --batch` to read the hunks. Without the feed (b′), the")
print(f"same answer takes one `lstat` per file, {envs} × 20,000 in all ({ws['user']:.2f} s user,")
print(f"{ws['system']:.2f} s system per run). The first `warren conflicts` of a root starts the watcher")
print("and runs as (b′); so does any environment whose tree changed since its last capture.")
print("The peer reads no working tree at all, because its branches are already committed.")
PY
