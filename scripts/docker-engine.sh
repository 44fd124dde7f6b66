#!/usr/bin/env bash
# Makes a docker engine available for the docker sandbox and its tests:
# starts `dockerd --bridge=none --iptables=false` if none answers (root only; sandboxes use
# network_mode=none, so no bridge is needed), then builds the sandbox image offline if missing.
set -uo pipefail
qdagents=${1:-qdagents}
command -v docker >/dev/null || { echo "[qdagents] no docker client: docker tests will not run" >&2; exit 0; }
if ! docker info >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null; then
    echo "[qdagents] starting dockerd --bridge=none --iptables=false (log: /tmp/qdagents-dockerd.log)"
    nohup dockerd --bridge=none --iptables=false >/tmp/qdagents-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  fi
fi
if ! docker info >/dev/null 2>&1; then
  echo "[qdagents] no docker engine answers: docker tests will not run" >&2
  exit 0
fi
if ! docker image inspect qdagents-sandbox:latest >/dev/null 2>&1; then
  echo "[qdagents] building the sandbox image offline (debootstrap, about a minute)"
  "$qdagents" sandbox build-image --offline || echo "[qdagents] image build failed" >&2
fi
