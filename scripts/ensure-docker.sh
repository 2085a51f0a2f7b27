#!/usr/bin/env bash
# Make sure a Docker engine answers. When none does and we are allowed to (root, or DISCO_START_DOCKERD=1),
# install Debian's docker.io if needed and start dockerd in the background. Never starts a second engine.
set -euo pipefail

log() { printf '[ensure-docker] %s\n' "$*" >&2; }

if docker info >/dev/null 2>&1; then
  log "a Docker engine answers"
  exit 0
fi

if [ "$(id -u)" != 0 ] && [ "${DISCO_START_DOCKERD:-0}" != 1 ]; then
  log "no Docker engine answers and this user may not start one."
  log "Start Docker (e.g. 'sudo systemctl start docker') or run as root / with DISCO_START_DOCKERD=1."
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io iptables >/dev/null
fi

if pgrep -x dockerd >/dev/null 2>&1; then
  log "dockerd is already running but not answering yet; waiting for it"
else
  log "starting dockerd (log: /var/log/disco-dockerd.log)"
  nohup dockerd --storage-driver=overlay2 >/var/log/disco-dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "dockerd is up"
    exit 0
  fi
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/disco-dockerd.log"
tail -n 20 /var/log/disco-dockerd.log >&2 || true
exit 1
