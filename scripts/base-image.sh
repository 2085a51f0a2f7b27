#!/usr/bin/env bash
# Build the local images the tests and the local cloud run on, only when missing:
#   debian:bookworm               pulled where a registry answers, else debootstrap --variant=minbase + docker import
#   disposable-disco/node:bookworm  debian:bookworm + python3, sshd, sudo, ca-certificates (images/node/Dockerfile),
#                                   rebuilt when images/node changes
# Set DISCO_DEBIAN_MIRROR to choose the mirror for debootstrap (default: the host's first apt source, else debootstrap's).
set -euo pipefail

BASE=debian:bookworm
NODE=${DISCO_NODE_IMAGE:-disposable-disco/node:bookworm}
here=$(cd "$(dirname "$0")/.." && pwd)

log() { printf '[base-image] %s\n' "$*" >&2; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

host_mirror() {
  # First "deb" URI of the host's apt sources (one-line or deb822 format), if any.
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk '/^deb[[:space:]]/ && $2 !~ /security/ {print $2; exit}
         /^URIs:/ && $2 !~ /security/ {print $2; exit}' "$f"
  done | head -n 1
}

build_base_by_debootstrap() {
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local root mirror
  root=$(mktemp -d /tmp/disco-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  mirror=${DISCO_DEBIAN_MIRROR:-$(host_mirror)}
  log "debootstrap --variant=minbase bookworm ${mirror:-(debootstrap default mirror)} (a few minutes)"
  debootstrap --variant=minbase bookworm "$root" ${mirror:+"$mirror"} >/tmp/disco-debootstrap.log 2>&1 || {
    tail -n 30 /tmp/disco-debootstrap.log >&2
    return 1
  }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$BASE" >/dev/null
  log "imported $BASE from debootstrap"
}

if have "$BASE"; then
  log "$BASE is present"
elif timeout 60 docker pull -q "$BASE" >/dev/null 2>&1; then
  log "pulled $BASE"
else
  log "no registry answers for $BASE; building it locally"
  build_base_by_debootstrap
fi

# The node image carries the hash of its build context as a label: a changed Dockerfile rebuilds it.
context_hash=$(cd "$here/images/node" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
built_hash=$(docker image inspect -f '{{ index .Config.Labels "disco.context-hash" }}' "$NODE" 2>/dev/null || true)
if [ "$built_hash" = "$context_hash" ]; then
  log "$NODE is present and current"
else
  log "building $NODE (context $context_hash)"
  docker build -q --label "disco.context-hash=$context_hash" -t "$NODE" "$here/images/node" >/dev/null
  log "built $NODE"
fi
