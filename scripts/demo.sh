#!/usr/bin/env bash
# warren's main job, end to end, on a fresh machine: installs what is needed,
# builds warren, and runs an environment for the bundled example project
# (examples/hello): creates it (worktree + image build + container + lifecycle
# commands + route), runs a command in it, shows it in `warren ls`, reaches its
# dev server through the proxy, and removes it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
say() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

say "installing dependencies (Docker engine, git, tmux, busybox)"
scripts/install-deps.sh
say "building the test images (FROM scratch, from the host's busybox and git)"
scripts/build-test-images.sh
say "building warren"
cargo build --quiet --bin warren
warren="$top/target/debug/warren"

work=$(mktemp -d)
export WARREN_ROOT="${WARREN_ROOT:-$work/warren-root}"
cleanup() {
  "$warren" rm --force "$name" >/dev/null 2>&1 || true
  "$warren" proxy stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "making a git repository of examples/hello"
cp -r examples/hello "$work/hello"
git -C "$work/hello" init --quiet -b main
git -C "$work/hello" add -A
git -C "$work/hello" -c user.name=demo -c user.email=demo@example.invalid commit --quiet -m "hello"

name="demo-$$"
say "warren run $work/hello --name $name -- <command>"
"$warren" run "$work/hello" --name "$name" -- sh -c '
  echo "inside $WARREN_NAME (project $WARREN_PROJECT, runtime $WARREN_RUNTIME)"
  echo "greeting: $(cat /etc/greeting)"
  echo "workspace: $(pwd), APP_HOME=$APP_HOME, WHERE=$WHERE"
  git log --oneline -1
  echo "the dev server is at $WARREN_URL"'

say "warren ls"
"$warren" ls

url=$("$warren" ls --json | python3 -c 'import json,sys; e=[e for e in json.load(sys.stdin) if e["name"]==sys.argv[1]][0]; print(e["services"][0]["url"] or "")' "$name")
if [ -n "$url" ]; then
  say "curl $url (through warren's proxy)"
  curl -sS --max-time 5 "$url" || true
fi

say "warren rm $name"
"$warren" rm "$name"
"$warren" ls
