#!/usr/bin/env bash
# Installs what building Strata needs beyond the Rust toolchain: the RocksDB cold tier is C++
# compiled from source (g++, present on the machines we target) and its bindings are
# generated with libclang. Does nothing when libclang-dev is already installed.
# Usage: bash scripts/deps.sh (as root, or with sudo available)
set -euo pipefail
if dpkg -s libclang-dev >/dev/null 2>&1; then
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq libclang-dev >/dev/null
