#!/usr/bin/env bash
# One session on a lent GPU machine (issue 17), in two steps:
#
#   bash benchmarks/gpu_session.sh prepare   # here: wheels the GPU machine lacks, into .whl/
#   bash benchmarks/gpu_session.sh run       # there, from the repository root, .whl carried
#
# `run` installs the wheels and the project without the network, then runs
# benchmarks/gpu.py and the whole test suite, writing gpu.json, gpu.log, pytest.log
# and device.txt under $OUT. Commit gpu.json as benchmarks/results/gpu.json.
set -u
case "${1:-}" in
prepare)
  grep -qx "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
  for package in array-api-compat array-api-strict rawpy exifread pypng colour-science colour-demosaicing; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
      --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "$package" || exit 1
  done
  ;;
run)
  OUT=${OUT:-/tmp/gpu_out}
  mkdir -p "$OUT"
  python3 -m pip install -q --no-index --no-deps --target .site .whl/*.whl || exit 1
  export PYTHONPATH=$PWD/.site
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . || exit 1
  python3 -m pip install -q --no-deps --no-build-isolation --no-index -e contrib/ispengine-vignette || exit 1
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/device.txt" 2>&1
  python3 -c "import cupy, numba, torch; print('cupy', cupy.__version__, 'numba', numba.__version__, 'torch', torch.__version__)" >> "$OUT/device.txt" 2>&1
  PYTHONUNBUFFERED=1 timeout "${BENCH_TIMEOUT:-240}" python3 benchmarks/gpu.py --json "$OUT/gpu.json" > "$OUT/gpu.log" 2>&1
  timeout "${TEST_TIMEOUT:-330}" python3 -m pytest -q -n 12 -p no:cacheprovider -k "not dask" -rs tests contrib > "$OUT/pytest.log" 2>&1
  echo "pytest exit $?" >> "$OUT/pytest.log"
  tail -8 "$OUT/gpu.log"
  tail -15 "$OUT/pytest.log"
  ;;
*)
  echo "usage: bash benchmarks/gpu_session.sh prepare|run" >&2
  exit 2
  ;;
esac
