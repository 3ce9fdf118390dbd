#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The GPU half of scripts/gpu-check must fail loudly where there is no GPU (CI):
# run it on an empty --build folder and require exit status 1, a FAILED device
# row and a well-formed summary.json. No build; under a second.
set -euo pipefail
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin"
cp scripts/gpu-check-run "$dir/run"
echo "commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)" >"$dir/manifest.txt"
set +e
PATH="/usr/bin:/bin" "$dir/run" >"$dir/out.txt" 2>&1
rc=$?
set -e
cat "$dir/out.txt"
if (( rc != 1 )) || ! grep -q "gpu-check: FAILED" "$dir/out.txt" ||
   ! grep -q '"verdict": "FAILED"' "$dir/results/summary.json"; then
  echo "gpu-check --run did not fail loudly without a GPU (exit $rc)" >&2
  exit 1
fi
if command -v python3 >/dev/null 2>&1; then
  python3 -m json.tool "$dir/results/summary.json" >/dev/null
fi
echo "gpu-check --run fails loudly without a GPU, as it must"
