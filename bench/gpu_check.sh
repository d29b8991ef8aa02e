#!/usr/bin/env bash
# The GPU check (issue 17, bench/gpu_check.py): every part in its own process, then the table.
#
#   bash bench/gpu_check.sh                                   # a lent GPU: paper preset, about 8 minutes
#   PYTHON=.venv/bin/python bash bench/gpu_check.sh --device cpu --preset small --steps 2 --curve-steps 5 \
#       --videos 400 --workers 0 --frame-batch 16 --video-batch 64   # the CPU dry run
#
# The device machines have torch but not pydantic or crc32c: fetch their wheels here once (pip download
# --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .whl pydantic pydantic-core
# annotated-types typing-inspection crc32c; .whl is ignored by git) and carry .whl; they are installed here.
set -u
cd "$(dirname "$0")/.."
OUT=${GPU_CHECK_OUT:-bench/results/gpu}
PY=${PYTHON:-python3}
if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl &&
        export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONUNBUFFERED=1
for part in precision throughput curves determinism nproc; do
    timeout "${PART_TIMEOUT:-240}" "$PY" bench/gpu_check.py --part "$part" --out "$OUT" "$@" || echo "$part: exit $?"
done
"$PY" bench/gpu_check.py --report --out "$OUT" "$@"
