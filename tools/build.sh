#!/usr/bin/env bash
# Builds one of etcd's own programs from the Go module proxy, in the tool's
# own module under tools/ (etcd's go.mod files carry replace directives, so
# they cannot be `go install`ed; the main go.mod stays lean). benchmark is
# etcd's tools/benchmark, from the root module go.etcd.io/etcd/v3 v3.6.8
# (v3.7.3's root module is not on the module proxy).
# Usage from anywhere: tools/build.sh etcd|etcdctl|etcdutl|benchmark OUT
set -euo pipefail
tool="${1:?usage: tools/build.sh etcd|etcdctl|etcdutl|benchmark OUT}"
out="${2:?usage: tools/build.sh etcd|etcdctl|etcdutl|benchmark OUT}"
here="$(cd "$(dirname "$0")" && pwd)"
[ -f "$here/$tool/go.mod" ] || { echo "tools/build.sh: no tool module $here/$tool" >&2; exit 2; }
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
mkdir -p "$(dirname "$out")"
cd "$here/$tool"
GOWORK=off GOFLAGS=-mod=mod go build -o "$out" .
