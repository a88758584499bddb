#!/usr/bin/env bash
# Cloud TPU VM (all workers of a pod slice): the same command on every worker; JAX finds its
# peers from the TPU metadata. The repo must be at ~/tessera on every worker with `make setup`
# run there (e.g. via the first command below).
#
#   TPU=my-v4-32 ZONE=us-central2-b launch/tpu_vm.sh setup
#   TPU=my-v4-32 ZONE=us-central2-b launch/tpu_vm.sh lamb configs/lamb/mnist.py gs://bucket/runs/lamb
set -euo pipefail
: "${TPU:?set TPU to the TPU VM name}" "${ZONE:?set ZONE}"
ssh_all() { gcloud compute tpus tpu-vm ssh "$TPU" --zone "$ZONE" --worker=all --command "$1"; }
if [ "${1:-}" = "setup" ]; then
  ssh_all "cd ~/tessera && make setup EXTRAS=tpu"
  exit 0
fi
project=$1; config=$2; workdir=$3; shift 3
ssh_all "cd ~/tessera && TESSERA_DISTRIBUTED=1 .venv/bin/python -m projects.$project.main --config=$config --workdir=$workdir $*"
