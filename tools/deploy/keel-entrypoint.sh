#!/bin/sh
# The container's entrypoint: `keel serve` with the arguments KServe renders from the
# ServingRuntime (tools/deploy/kserve/servingruntime.yaml):
#   keel-entrypoint serve /mnt/models --name mobilenet --http-port 8080 ...
# A leading `serve` is optional (it lets the runtime's args read as the full keel command line),
# so `keel-entrypoint /mnt/models --name mobilenet ...` is the same.
# KEEL_BIN picks the binary (default: `keel` on PATH), so CI runs exactly this script against a
# build tree (tools/deploy/run_entrypoint_like_kserve.sh). exec: keel becomes the process that
# receives SIGTERM from the kubelet (it drains and exits 0), with no shell in between.
set -eu
if [ "${1:-}" = serve ]; then
  shift
fi
exec "${KEEL_BIN:-keel}" serve "$@"
