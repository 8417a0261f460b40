#!/usr/bin/env bash
# Prepare what the GPU check carries to the device (see benchmarks/gpu/README.md):
#   data/interim/gpu/xgb/xgb.tar.xz        xgboost for the device's Python 3.12, unpacked, xz'd
#   data/interim/gpu/rest/duckdb.tar.xz    duckdb likewise (segml.explain imports segml.features)
#   data/interim/gpu/rest/inputs/          the model, population and training tables
# Versions are the lock's for Python >= 3.12. Needs `make demo`'s 20k bank and one
# `python benchmarks/bench_explain.py` run (its model and population) here first.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
G=data/interim/gpu
pin() { sed -n "s/^$1==\([^ ;]*\) *; *python_full_version >= '3.12'.*/\1/p; s/^$1==\([^ ;]*\)$/\1/p" requirements.lock | head -1; }
XGB=$(pin xgboost); DUCK=$(pin duckdb)
echo "xgboost $XGB, duckdb $DUCK (Python 3.12, manylinux x86_64)"
mkdir -p "$G/xgb" "$G/rest"
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$W" "xgboost==$XGB" "duckdb==$DUCK"
for name in xgboost duckdb; do
  "$PY" -m zipfile -e "$W"/$name-*.whl "$W/$name"
done
tar -C "$W/xgboost" -cf - . | xz -9 -T0 > "$G/xgb/xgb.tar.xz"
tar -C "$W/duckdb" -cf - . | xz -9 -T0 > "$G/rest/duckdb.tar.xz"
"$PY" benchmarks/gpu/device_explain.py prepare --out "$G/rest/inputs"
du -sh "$G/xgb" "$G/rest"
