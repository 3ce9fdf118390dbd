#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The comparison of docs/results.md: trains the four criteria one after the
# other with the same seed and settings (and evaluates the untrained network),
# then prints a Markdown table of the held-out and seen-class figures.
# Usage: examples/fashion_mnist/run_comparison.sh [seed] [extra trainer options...]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
seed="${1:-0}"
shift || true
build="${PDML_DEMO_BUILD_DIR:-build/demo}"
scripts/demo --epochs 0 --quiet >/dev/null  # builds the trainer (and checks it runs)
trainer="$build/examples/fashion_mnist/fashion_mnist"
out="$build/comparison-seed$seed"
mkdir -p "$out/untrained"
"$trainer" --epochs 0 --seed "$seed" --quiet --out-dir "$out/untrained" "$@" >/dev/null
for loss in elnivmf proxyanchor proxynca elvmf; do
  echo "== $loss (seed $seed)" >&2
  "$trainer" --loss "$loss" --seed "$seed" --quiet --out-dir "$out" "$@" | grep -E "^epoch|^training [0-9]" >&2
done
table() {
  local split="$1"
  echo "| criterion | R@1 | R@2 | R@4 | R@8 | mAP@R | NMI | norm AUROC |"
  echo "|---|---|---|---|---|---|---|---|"
  for csv in "$out"/elnivmf_metrics.csv "$out"/proxyanchor_metrics.csv "$out"/proxynca_metrics.csv \
             "$out"/elvmf_metrics.csv "$out"/untrained/elnivmf_metrics.csv; do
    awk -F, -v want="$split" -v untrained="$([[ $csv == */untrained/* ]] && echo 1 || echo 0)" '
      NR > 1 && $2 == want {
        name = untrained ? "untrained network" : $1
        printf "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f |\n",
               name, 100*$4, 100*$5, 100*$6, 100*$7, 100*$8, 100*$9, $10 }' "$csv"
  done
}
echo "Held-out classes 5-9 (zero-shot), seed $seed:"
echo
table heldout
echo
echo "Seen classes 0-4 (test images), seed $seed:"
echo
table seen
