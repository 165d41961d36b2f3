#!/usr/bin/env bash
# What the tests need beyond npm: Debian packages (OpenSSH client and server for the FluffyCloud
# emulator's hosts and the SSH runner, rsync for file sync, util-linux for namespaces; docker.io, the
# Docker Engine the `image_id: docker:` tests start privately, busybox-static for their tiny image and
# docker-registry for the image FluffyCloud nodes pull from a loopback port, rclone and fuse3 for
# buckets mounted and copied on nodes, postgresql for the PostgreSQL store's tests, chromium for the
# dashboard's) and moto
# (`moto_server`, the AWS emulator the AWS suites run against, from Python's package index).
# Idempotent and fast: a no-op when everything is there (no apt, no pip, no Python started).
# Needs root (or sudo) only when a Debian package is missing. Under CI=true a moto that cannot be
# installed fails this script (a green CI must mean the AWS suites ran); elsewhere it is a warning
# and those suites skip, saying why.
set -euo pipefail
need=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || need+=(docker.io)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v docker-registry >/dev/null 2>&1 || need+=(docker-registry)
command -v rclone >/dev/null 2>&1 || need+=(rclone)
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
# PostgreSQL 15 for the PostgreSQL store's tests (test/helpers/postgres.ts starts its own server in a
# temp dir; Debian's service is never started) and Chromium for the dashboard's tests.
[ -x /usr/lib/postgresql/15/bin/postgres ] || need+=(postgresql)
[ -x /usr/bin/chromium ] || need+=(chromium)

# moto: installed with the pip of the first python3 on PATH (pyenv's shim, a venv's, or Debian's
# /usr/bin/python3). Debian's python3 has no pip until python3-pip is installed.
moto_missing=
if ! command -v moto_server >/dev/null 2>&1; then
  moto_missing=1
  if ! command -v python3 >/dev/null 2>&1; then
    need+=(python3 python3-pip)
  elif ! python3 -m pip --version >/dev/null 2>&1 && [ "$(command -v python3)" = /usr/bin/python3 ]; then
    need+=(python3-pip)
  fi
fi

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "install-deps: installing ${need[*]}"
  $sudo apt-get update -qq
  # policy-rc.d 101: a package's service is not started by its installation (the tests start their own).
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 0755 "$policy" && made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  [ -z "$made_policy" ] || $sudo rm -f "$policy"
fi
# sshd refuses to start without its privilege-separation directory.
[ -d /run/sshd ] || { [ "$(id -u)" -eq 0 ] && mkdir -m 0755 /run/sshd; } || true

install_moto() {
  local spec='moto[server]>=5,<6' log
  log=$(mktemp)
  echo "install-deps: installing $spec with $(command -v python3) -m pip"
  if ! python3 -m pip install --quiet --disable-pip-version-check "$spec" >"$log" 2>&1; then
    # PEP 668: Debian's own python3 refuses pip installs outside a venv unless told.
    if grep -q externally-managed-environment "$log"; then
      python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "$spec" >"$log" 2>&1 ||
        { cat "$log" >&2; rm -f "$log"; return 1; }
    else
      cat "$log" >&2
      rm -f "$log"
      return 1
    fi
  fi
  rm -f "$log"
  # pyenv finds new scripts only through shims made by a rehash.
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash >/dev/null 2>&1 || true; fi
  hash -r
  if ! command -v moto_server >/dev/null 2>&1; then
    echo "install-deps: moto is installed but moto_server is not on PATH; add the scripts directory of $(command -v python3) to PATH" >&2
    return 1
  fi
}

if [ -n "$moto_missing" ] && ! install_moto; then
  if [ "${CI:-}" = true ]; then
    echo "install-deps: cannot install moto (pip install 'moto[server]'); under CI=true the AWS suites must run" >&2
    exit 1
  fi
  echo "install-deps: warning: moto is not installed; the AWS test suites will be skipped" >&2
fi
