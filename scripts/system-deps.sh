#!/usr/bin/env bash
# Installs the system packages qdagents' sandboxes need, when run as root with apt-get.
# Without root, says what is missing and goes on (bubblewrap missing means sandbox=process or docker).
set -euo pipefail
need=()
command -v git >/dev/null || need+=(git)
command -v bwrap >/dev/null || need+=(bubblewrap)
if [ "${QDAGENTS_WITH_DOCKER:-auto}" != "no" ]; then
  command -v dockerd >/dev/null || need+=(docker.io)
  command -v debootstrap >/dev/null || need+=(debootstrap)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "[qdagents] installing system packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${need[@]}" >/dev/null
else
  echo "[qdagents] missing system packages (install them as root): ${need[*]}" >&2
fi
