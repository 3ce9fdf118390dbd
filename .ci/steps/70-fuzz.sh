#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libFuzzer harnesses of fuzz/ (docs/reliability.md): built with clang
# (-fsanitize=fuzzer,address,undefined) and each run for PDML_FUZZ_SECONDS
# (default 36: five harnesses, 3 minutes in all) from its committed seed corpus. Any finding (a contract
# property failing, a crash, a sanitizer report, a hang) fails the step; the
# reproducer is left in build/fuzz/findings/. Prints each harness's executions.
set -euo pipefail
source scripts/env.sh
if ! command -v clang++ >/dev/null 2>&1; then
  echo "clang++ not found: fuzzing skipped"
  exit 0
fi
seconds="${PDML_FUZZ_SECONDS:-36}"
CXX=clang++ cmake -S fuzz -B build/fuzz -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/fuzz -j "$PDML_JOBS"
mkdir -p build/fuzz/findings
status=0
for harness in bessel samplers criterion evaluation similarities; do
  work="build/fuzz/corpus/$harness"  # grows during the run; the committed seeds stay as they are
  mkdir -p "$work"
  log="build/fuzz/$harness.log"
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build/fuzz/fuzz_$harness" "$work" "fuzz/corpus/$harness" -max_total_time="$seconds" \
      -timeout=10 -rss_limit_mb=2048 -max_len=1024 -print_final_stats=1 \
      -artifact_prefix="build/fuzz/findings/$harness-" >"$log" 2>&1; then
    result="ok"
  else
    result="FINDING (see $log and build/fuzz/findings/)"
    status=1
    tail -n 40 "$log"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz_$harness: $runs executions in ${seconds}s: $result"
done
exit "$status"
