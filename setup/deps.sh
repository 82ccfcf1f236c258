#!/usr/bin/env bash
# Install the Debian packages listed in setup/debian-packages.txt, once.
# Idempotent and quiet when everything is present; needs root only when something is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t wanted < <(sed -e 's/#.*//' -e '/^\s*$/d' "$here/debian-packages.txt")
missing=()
for p in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$p")
done
# The image builder reads package metadata with apt-cache: the lists must exist.
lists_present() { compgen -G '/var/lib/apt/lists/*_Packages' >/dev/null || compgen -G '/var/lib/apt/lists/*_Packages.lz4' >/dev/null; }
if [[ ${#missing[@]} -eq 0 ]] && lists_present; then
  echo "deps: all ${#wanted[@]} Debian packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "deps: missing Debian packages: ${missing[*]:-(apt lists)}" >&2
  echo "deps: run as root, e.g. 'sudo make boot' or 'sudo make deps'" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if ! lists_present; then
  echo "deps: apt-get update"
  apt-get update -q
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "deps: installing ${missing[*]}"
  if ! apt-get install -y -q --no-install-recommends "${missing[@]}"; then
    echo "deps: install failed; refreshing package lists and retrying"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
fi
