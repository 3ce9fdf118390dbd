#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The libFuzzer harnesses of fuzz/ (docs/reliability.md): built with clang
# (-fsanitize=fuzzer,address,undefined) and run from their committed seed corpora.
# By default each harness runs a fixed number of executions from a fixed seed
# (PDML_FUZZ_SEED, default 1), about half a minute each, so a CI result does not depend
# on the machine's speed or on luck; PDML_FUZZ_SECONDS=N instead runs each for N
# seconds from a random seed (exploration, docs/reliability.md). Any finding (a
# contract property failing, a crash, a sanitizer report, a hang) fails the step;
# the reproducer is left in build/fuzz/findings/. Prints each harness's executions.
set -euo pipefail
source scripts/env.sh
if ! command -v clang++ >/dev/null 2>&1; then
  echo "clang++ not found: fuzzing skipped"
  exit 0
fi
# Executions per harness in the fixed-seed mode (about 30 s each on a 2-core CI machine).
declare -A fixed_runs=([bessel]=3000000 [samplers]=120000 [criterion]=60000 [evaluation]=100000
                       [similarities]=300000)
seconds="${PDML_FUZZ_SECONDS:-}"
CXX=clang++ cmake -S fuzz -B build/fuzz -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/fuzz -j "$PDML_JOBS"
mkdir -p build/fuzz/findings
status=0
for harness in bessel samplers criterion evaluation similarities; do
  work="build/fuzz/corpus/$harness"  # grows during the run; the committed seeds stay as they are
  mkdir -p "$work"
  log="build/fuzz/$harness.log"
  if [[ -n "$seconds" ]]; then
    budget=(-max_total_time="$seconds")
    what="${seconds}s"
  else
    # A generous time cap only guards against a pathological machine.
    budget=(-seed="${PDML_FUZZ_SEED:-1}" -runs="${fixed_runs[$harness]}" -max_total_time=300)
    what="seed ${PDML_FUZZ_SEED:-1}"
  fi
  if ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      "build/fuzz/fuzz_$harness" "$work" "fuzz/corpus/$harness" "${budget[@]}" \
      -timeout=10 -rss_limit_mb=2048 -max_len=1024 -print_final_stats=1 \
      -artifact_prefix="build/fuzz/findings/$harness-" >"$log" 2>&1; then
    result="ok"
  else
    result="FINDING (see $log and build/fuzz/findings/)"
    status=1
    tail -n 40 "$log"
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz_$harness: $runs executions ($what): $result"
done
exit "$status"
