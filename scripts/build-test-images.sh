#!/usr/bin/env bash
# Builds the small images warren's demo and tests use. There is no image
# registry on these machines, so images are assembled FROM scratch out of the
# host's own binaries:
#   warren-test/busybox:latest  busybox (sh, httpd, nc, wget, …)
#   warren-test/git:latest      busybox + git (and the libraries ldd lists)
#   warren-test/node:latest     busybox with the user `node` (uid/gid 1000,
#                               home /home/node) in place of `dev`: the user the
#                               reference's `*-node` images have, for the
#                               conformance test's fixtures that name it
# Skips an image that already exists unless --force.
set -euo pipefail

force=0
[ "${1:-}" = "--force" ] && force=1
log() { printf 'build-test-images: %s\n' "$*" >&2; }

busybox=$(command -v busybox || true)
[ -n "$busybox" ] || { log "busybox not found; run scripts/install-deps.sh"; exit 1; }
git_bin=/usr/bin/git
[ -x "$git_bin" ] || git_bin=$(command -v git)

stage_common() {
  local dir=$1
  mkdir -p "$dir/rootfs/bin" "$dir/rootfs/etc" "$dir/rootfs/tmp" "$dir/rootfs/root" "$dir/rootfs/home/dev"
  cp "$busybox" "$dir/rootfs/bin/busybox"
  printf 'root:x:0:0:root:/root:/bin/sh\ndev:x:1000:1000:dev:/home/dev:/bin/sh\n' >"$dir/rootfs/etc/passwd"
  printf 'root:x:0:\ndev:x:1000:\n' >"$dir/rootfs/etc/group"
  cat >"$dir/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN chmod 1777 /tmp && chown 1000:1000 /home/dev
ENV PATH=/usr/local/bin:/usr/bin:/bin
DOCKERFILE
}

# Bump when what an image holds changes: an image built by an older version of
# this script is built again.
version=2

build() {
  local tag=$1 dir=$2
  if [ "$force" = 0 ] && [ "$(docker image inspect -f '{{index .Config.Labels "warren.test-image"}}' "$tag" 2>/dev/null)" = "$version" ]; then
    log "$tag exists"
    return
  fi
  log "building $tag"
  printf 'LABEL warren.test-image=%s\n' "$version" >>"$dir/Dockerfile"
  docker build -q -t "$tag" "$dir" >/dev/null
}

# Copies binary $2 to $1/rootfs at the same path, with the libraries it links.
copy_with_libs() {
  local dir=$1 bin=$2 dest=${3:-$2}
  mkdir -p "$dir/rootfs$(dirname "$dest")"
  cp -L "$bin" "$dir/rootfs$dest"
  for lib in $(ldd "$bin" | awk '/=>/ {print $3} /^\s*\// {print $1}'); do
    [ -f "$lib" ] || continue
    mkdir -p "$dir/rootfs$(dirname "$lib")"
    cp -L "$lib" "$dir/rootfs$lib"
  done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

stage_common "$tmp/busybox"
build warren-test/busybox:latest "$tmp/busybox"

stage_common "$tmp/node"
printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n' >"$tmp/node/rootfs/etc/passwd"
printf 'root:x:0:\nnode:x:1000:\n' >"$tmp/node/rootfs/etc/group"
mv "$tmp/node/rootfs/home/dev" "$tmp/node/rootfs/home/node"
sed -i 's|/home/dev|/home/node|' "$tmp/node/Dockerfile"
build warren-test/node:latest "$tmp/node"

stage_common "$tmp/git"
copy_with_libs "$tmp/git" "$git_bin" /usr/bin/git
# git over HTTPS (the grant tests clone through the egress proxy).
exec_path=$("$git_bin" --exec-path)
if [ -x "$exec_path/git-remote-http" ]; then
  copy_with_libs "$tmp/git" "$exec_path/git-remote-http"
  cp -L "$exec_path/git-remote-http" "$tmp/git/rootfs$exec_path/git-remote-https"
fi
# The dynamic loader is referenced by its canonical path.
interp=$(readelf -l "$git_bin" 2>/dev/null | sed -n 's/.*interpreter: \(.*\)]/\1/p')
if [ -n "$interp" ]; then
  mkdir -p "$tmp/git/rootfs$(dirname "$interp")"
  cp -L "$interp" "$tmp/git/rootfs$interp"
fi
build warren-test/git:latest "$tmp/git"
