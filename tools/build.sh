#!/usr/bin/env bash
# Builds one of etcd's own programs from the Go module proxy, in the tool's
# own module under tools/ (etcd's go.mod files carry replace directives, so
# they cannot be `go install`ed; the main go.mod stays lean).
# Usage from anywhere: tools/build.sh etcd|etcdctl|etcdutl OUT
set -euo pipefail
tool="${1:?usage: tools/build.sh etcd|etcdctl|etcdutl OUT}"
out="${2:?usage: tools/build.sh etcd|etcdctl|etcdutl OUT}"
here="$(cd "$(dirname "$0")" && pwd)"
[ -f "$here/$tool/go.mod" ] || { echo "tools/build.sh: no tool module $here/$tool" >&2; exit 2; }
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$out")"
cd "$here/$tool"
GOWORK=off GOFLAGS=-mod=mod go build -o "$out" .
