#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compares Google Benchmark JSON outputs of a baseline-flags and a -march=native build.

Usage: bench_compare.py DIR   (DIR holds baseline_*.json and native_*.json, any number of
rounds each). Prints, per benchmark, the median CPU time of every repetition over all
rounds in both builds and the baseline's speed as a percentage of the native one's.
"""
import collections
import glob
import json
import os
import statistics
import sys


def collect(pattern):
    times = collections.defaultdict(list)
    units = {}
    for path in sorted(glob.glob(pattern)):
        with open(path) as handle:
            data = json.load(handle)
        for run in data.get("benchmarks", []):
            if run.get("run_type") == "aggregate":
                continue
            name = run["name"]
            times[name].append(float(run["cpu_time"]))
            units[name] = run.get("time_unit", "ns")
    return times, units


def main():
    directory = sys.argv[1]
    base, units = collect(os.path.join(directory, "baseline_*.json"))
    native, _ = collect(os.path.join(directory, "native_*.json"))
    width = max([len(n) for n in base] + [9])
    print(f"{'benchmark':<{width}}  {'baseline cpu':>14}  {'native cpu':>14}  "
          f"{'baseline/native speed':>21}  runs")
    for name in base:
        if name not in native:
            continue
        b = statistics.median(base[name])
        n = statistics.median(native[name])
        unit = units[name]
        print(f"{name:<{width}}  {b:>11.4g} {unit:<2}  {n:>11.4g} {unit:<2}  "
              f"{100.0 * n / b:>20.0f}%  {len(base[name])}+{len(native[name])}")


if __name__ == "__main__":
    main()
