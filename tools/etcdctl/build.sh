#!/usr/bin/env bash
# Builds etcd's etcdctl v3.7.3 into $1 (default: ../../bin/etcdctl).
# Usage from the repository root: tools/etcdctl/build.sh bin/etcdctl
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../../bin/etcdctl}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$out")"
cd "$here"
GOWORK=off GOFLAGS=-mod=mod go build -o "$out" .
