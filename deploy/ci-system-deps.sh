#!/usr/bin/env bash
# System packages the deployment tests need on a fresh Debian machine, installed only when missing
# (idempotent; a second run installs nothing and makes no network call):
#
#   PostgreSQL server binaries (initdb, pg_ctl, postgres)  tests/deploy/test_postgres_instance.py
#   Chromium                                               tests/deploy/test_ui_browser.py
#
# Debian's `postgresql` package keeps the server binaries in /usr/lib/postgresql/<major>/bin, off
# PATH: this script links them into /usr/local/bin when it can write there (root), and when SOURCED
# (`. deploy/ci-system-deps.sh`) also puts that directory on the caller's PATH. The tests look in
# /usr/lib/postgresql/*/bin themselves too, and run the server as the `postgres` user the package
# creates when they run as root. No cluster is created or started: the tests start their own.
#
# Ubuntu ships chromium only as a snap, which does not run in CI containers: use a Debian image
# (or install Google Chrome; the test also looks for `google-chrome`).
# Usage from .ci/run:   bash deploy/ci-system-deps.sh     (or: . deploy/ci-system-deps.sh)

mm_ci_system_deps() {
  local sudo="" missing=() pgbin=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "ci-system-deps: not root and no sudo; install postgresql and chromium by hand" >&2; return 1
    fi
  fi

  mm_pg_bindir() {  # newest /usr/lib/postgresql/<major>/bin holding initdb
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
  }

  if ! command -v initdb >/dev/null 2>&1 && [ -z "$(mm_pg_bindir)" ]; then
    missing+=(postgresql)
  fi
  if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
      && ! command -v google-chrome >/dev/null 2>&1; then
    missing+=(chromium)
  fi

  if [ "${#missing[@]}" -gt 0 ]; then
    if ! command -v apt-get >/dev/null 2>&1; then
      echo "ci-system-deps: apt-get not found; install ${missing[*]} by hand" >&2; return 1
    fi
    # the package would otherwise create and start a "main" cluster the tests do not use
    if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
      $sudo mkdir -p /etc/postgresql-common
      echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
    fi
    echo "ci-system-deps: installing ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq || return 1
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
      || return 1
  fi

  if ! command -v initdb >/dev/null 2>&1; then
    pgbin=$(mm_pg_bindir)
    if [ -n "$pgbin" ]; then
      if [ -w /usr/local/bin ] || [ -n "$sudo" ]; then
        for tool in initdb pg_ctl postgres; do
          [ -e "/usr/local/bin/$tool" ] || $sudo ln -s "$pgbin/$tool" "/usr/local/bin/$tool"
        done
      fi
      case ":$PATH:" in *":$pgbin:"*) ;; *) export PATH="$pgbin:$PATH" ;; esac
    fi
  fi

  command -v initdb >/dev/null 2>&1 && echo "ci-system-deps: initdb $(command -v initdb)"
  for browser in chromium chromium-browser google-chrome; do
    if command -v "$browser" >/dev/null 2>&1; then echo "ci-system-deps: $browser $(command -v "$browser")"; break; fi
  done
  return 0
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  mm_ci_system_deps
else
  mm_ci_system_deps
fi
