#!/usr/bin/env bash
# Builds etcd v3.7.3 into $1 (default: ../../bin/etcd).
# Usage from the repository root: tools/etcd/build.sh bin/etcd
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../bin/etcd}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$out")"
cd "$here"
GOWORK=off GOFLAGS=-mod=mod go build -o "$out" .
