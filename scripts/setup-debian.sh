#!/bin/sh
# Installs what Anvil needs on Debian 12, skipping what is already there. Run as root or with sudo.
set -eu

PACKAGES="g++ cmake make git ca-certificates
nlohmann-json3-dev libcli11-dev libtomlplusplus-dev libfmt-dev libgtest-dev libgmock-dev
python3 python3-torch python3-numpy python3-pytest
clang libclang-rt-14-dev libbenchmark-dev
libcurl4-openssl-dev libsqlite3-dev libcpp-httplib-dev pkg-config
bubblewrap"

missing=""
for package in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $package"
  fi
done

if [ -z "$missing" ]; then
  echo "setup: all packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  as_root=""
elif command -v sudo >/dev/null 2>&1; then
  as_root="sudo"
else
  echo "setup: missing packages:$missing" >&2
  echo "setup: run this script as root (or install sudo) to install them" >&2
  exit 2
fi

echo "setup: installing$missing"
$as_root apt-get update -q
# shellcheck disable=SC2086  # the package list is meant to split into words
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -q --no-install-recommends $missing
