#!/usr/bin/env bash
# Runs one command as N JAX processes on this machine, each with D simulated CPU devices,
# joined by jax.distributed (CPU collectives over gloo). Tests multi-host code paths.
#
#   launch/multiprocess_cpu.sh 2 4 -- python -m projects.lamb.main --config=configs/lamb/default.py --workdir=runs/mp
#
# Process 0 prints to stdout; process i>0 writes to $TESSERA_LOG_DIR/process_<i>.log
# (default: a temporary folder, printed). Exits non-zero if any process fails.
set -euo pipefail
if [ $# -lt 3 ]; then echo "usage: $0 NUM_PROCESSES DEVICES_PER_PROCESS -- COMMAND..." >&2; exit 2; fi
n=$1; d=$2; shift 2
[ "${1:-}" = "--" ] && shift
logdir=${TESSERA_LOG_DIR:-$(mktemp -d -t tessera_mp.XXXXXX)}
mkdir -p "$logdir"
port=${JAX_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
# keep the caller's other XLA flags; only the device count is ours
xla_flags="$(echo "${XLA_FLAGS:-}" | sed -E 's/--xla_force_host_platform_device_count=[0-9]+//g') --xla_force_host_platform_device_count=$d"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup INT TERM
for ((i = 0; i < n; i++)); do
  env JAX_COORDINATOR_ADDRESS="127.0.0.1:$port" JAX_NUM_PROCESSES="$n" JAX_PROCESS_ID="$i" \
      JAX_PLATFORMS=cpu XLA_FLAGS="$xla_flags" \
      "$@" > >(if [ "$i" = 0 ]; then cat; else cat > "$logdir/process_$i.log"; fi) 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do
  if ! wait "$p"; then status=1; cleanup; fi
done
[ "$n" -gt 1 ] && echo "logs of processes 1..$((n - 1)): $logdir" >&2
exit $status
