#!/usr/bin/env bash
# One process on this machine:  launch/local.sh PROJECT CONFIG WORKDIR [--config.key=value ...]
#   launch/local.sh lamb configs/lamb/mnist.py runs/lamb_mnist --config.batch_size=4096
set -euo pipefail
if [ $# -lt 3 ]; then echo "usage: $0 PROJECT CONFIG WORKDIR [overrides...]" >&2; exit 2; fi
project=$1; config=$2; workdir=$3; shift 3
cd "$(dirname "$0")/.."
py=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
exec "$py" -m "projects.$project.main" --config="$config" --workdir="$workdir" "$@"
