#!/usr/bin/env bash
# Build the local images the tests and the local cloud run on, only when missing:
#   debian:<release>                     for bookworm (Debian 12) and trixie (Debian 13): pulled where a registry
#                                        answers, else debootstrap --variant=minbase + docker import
#   disposable-disco/ec2-node:<release>  debian:<release> + systemd (PID 1), cloud-init (NoCloud), openssh-server,
#                                        sudo, python3, unattended-upgrades (images/ec2-node/Dockerfile): what EC2
#                                        boots from Debian's AMIs; rebuilt when images/ec2-node changes
#   disposable-disco/node:bookworm       the older plain image (sshd as PID 1, images/node/Dockerfile), kept as is
# DISCO_RELEASES chooses the releases (default: "bookworm trixie").
# Set DISCO_DEBIAN_MIRROR to choose the mirror for debootstrap (default: the host's first apt source, else debootstrap's).
set -euo pipefail

RELEASES=${DISCO_RELEASES:-bookworm trixie}
NODE=${DISCO_NODE_IMAGE:-disposable-disco/node:bookworm}
EC2_NODE=${DISCO_EC2_NODE_IMAGE:-disposable-disco/ec2-node}
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
  local release=$1 base=debian:$1
  command -v debootstrap >/dev/null 2>&1 || {
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  }
  local root mirror
  root=$(mktemp -d "/tmp/disco-rootfs-$release.XXXXXX")
  mirror=${DISCO_DEBIAN_MIRROR:-$(host_mirror)}
  log "debootstrap --variant=minbase $release ${mirror:-(debootstrap default mirror)} (a few minutes)"
  debootstrap --variant=minbase "$release" "$root" ${mirror:+"$mirror"} >"/tmp/disco-debootstrap-$release.log" 2>&1 || {
    tail -n 30 "/tmp/disco-debootstrap-$release.log" >&2
    rm -rf "$root"
    return 1
  }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$root"
  log "imported $base from debootstrap"
}

ensure_base() {
  local release=$1 base=debian:$1
  if have "$base"; then
    log "$base is present"
  elif timeout 60 docker pull -q "$base" >/dev/null 2>&1; then
    log "pulled $base"
  else
    log "no registry answers for $base; building it locally"
    build_base_by_debootstrap "$release"
  fi
}

# An image carries the hash of its build context (and build arguments) as a label: a changed context rebuilds it.
ensure_built() {
  local image=$1 context=$2 extra=$3 context_hash built_hash
  shift 3
  context_hash=$( (cd "$context" && find . -type f -print0 | sort -z | xargs -0 sha256sum
                   [ -z "$extra" ] || echo "$extra") | sha256sum | cut -c1-16)
  built_hash=$(docker image inspect -f '{{ index .Config.Labels "disco.context-hash" }}' "$image" 2>/dev/null || true)
  if [ "$built_hash" = "$context_hash" ]; then
    log "$image is present and current"
  else
    log "building $image (context $context_hash)"
    local start=$SECONDS
    docker build -q --label "disco.context-hash=$context_hash" "$@" -t "$image" "$context" >/dev/null
    log "built $image in $((SECONDS - start)) s"
  fi
}

ensure_base bookworm
ensure_built "$NODE" "$here/images/node" ""
for release in $RELEASES; do
  case "$release" in
    bookworm|trixie) ;;
    *) log "unsupported release $release (supported: bookworm trixie)"; exit 2 ;;
  esac
  ensure_base "$release"
  ensure_built "$EC2_NODE:$release" "$here/images/ec2-node" "RELEASE=$release" --build-arg "RELEASE=$release"
done
