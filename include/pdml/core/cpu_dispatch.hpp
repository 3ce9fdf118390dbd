// SPDX-License-Identifier: MIT
#pragma once
// Run-time choice of the instruction set for the hot CPU loops that pdml
// writes itself (normal generation, the sampler's dot products, the batched
// log-normalizer, the dw/dkappa quadrature), so that a build for the x86-64
// baseline (the usual flags of distributable binaries) still runs them with
// AVX2 or AVX-512 where the CPU has them. Eigen's own kernels (GEMM, its
// vectorised exp/log) follow the compiler flags only: see docs/performance.md.
//
// Each dispatched loop is written once, as a force-inlined body; thin kernels
// with a `target` attribute (PDML_TARGET_AVX2 / PDML_TARGET_AVX512) give the
// compiler that body again for the wider instruction set, and the public
// function picks one by cpu_level(). The kernels have distinct names (no
// target_clones / ifunc, which misbehave on inline and template functions),
// so this is safe with COMDAT folding on g++ and clang++.
//
// Dispatch is compiled in (PDML_HAS_CPU_DISPATCH == 1) only on x86 hosts with
// GCC or Clang when the translation unit is not already compiled for
// AVX-512 (-mavx512f, -march=native on an AVX-512 machine): then the direct
// path is the fastest and no dispatch code exists. CUDA compilation (nvcc,
// host and device passes) never dispatches. Define PDML_NO_CPU_DISPATCH to
// switch it off.
//
// The level is chosen once per process: the best level the CPU (and OS)
// supports, lowered by the environment variable PDML_CPU_DISPATCH=baseline|
// avx2|avx512 when set. It lives in a function-local static; besides that
// one-time choice, only detail::set_cpu_level (for tests) changes it.
//
// What may differ between levels: see docs/performance.md, "Run-time
// dispatch". Random draws (uniforms, normals, the marginal's accept decisions)
// are bitwise identical at every level; floating sums (dot products, the
// log-normalizer, dw/dkappa) agree to a few ulp.

#include "pdml/config.hpp"

#if !defined(PDML_NO_CPU_DISPATCH) && !defined(__CUDACC__) && !defined(__HIPCC__) && \
    (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__)) && \
    !defined(__AVX512F__)
#define PDML_HAS_CPU_DISPATCH 1
#else
#define PDML_HAS_CPU_DISPATCH 0
#endif

#if PDML_HAS_CPU_DISPATCH
#include <atomic>
#include <cstdlib>
#include <cstring>
// The instruction sets of the two dispatched levels (FMA is part of both: it
// came with AVX2 on every x86 CPU).
#define PDML_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define PDML_TARGET_AVX512 \
  __attribute__((target("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")))
#endif

namespace pdml {
namespace detail {

/// Instruction-set levels of the dispatched loops, in increasing order.
/// `baseline` means the flags the translation unit was compiled with.
enum class CpuLevel : int { baseline = 0, avx2 = 1, avx512 = 2 };

/// Name of a level ("baseline", "avx2", "avx512").
inline const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::avx2: return "avx2";
    case CpuLevel::avx512: return "avx512";
    default: return "baseline";
  }
}

#if PDML_HAS_CPU_DISPATCH

/// The highest level this CPU and OS support (queried once).
inline CpuLevel cpu_level_supported() {
  static const CpuLevel level = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") &&
                        __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
    return avx512 ? CpuLevel::avx512 : (avx2 ? CpuLevel::avx2 : CpuLevel::baseline);
  }();
  return level;
}

/// The level in use: chosen on first use from cpu_level_supported() and the
/// environment variable PDML_CPU_DISPATCH (which can only lower it).
inline std::atomic<int>& cpu_level_slot() {
  static std::atomic<int> slot([] {
    int level = static_cast<int>(cpu_level_supported());
    if (const char* requested = std::getenv("PDML_CPU_DISPATCH")) {
      int wanted = level;
      if (std::strcmp(requested, "baseline") == 0) wanted = 0;
      if (std::strcmp(requested, "avx2") == 0) wanted = 1;
      if (std::strcmp(requested, "avx512") == 0) wanted = 2;
      level = wanted < level ? wanted : level;
    }
    return level;
  }());
  return slot;
}

inline CpuLevel cpu_level() {
  return static_cast<CpuLevel>(cpu_level_slot().load(std::memory_order_relaxed));
}

/// For tests: makes `level` the one in use. Returns false (and changes
/// nothing) when the CPU does not support it. Not meant for concurrent use
/// with running pdml calls (they may see either level).
inline bool set_cpu_level(CpuLevel level) {
  if (static_cast<int>(level) > static_cast<int>(cpu_level_supported())) return false;
  cpu_level_slot().store(static_cast<int>(level), std::memory_order_relaxed);
  return true;
}

#else

// Without dispatch there is one path: the one the flags give.
inline CpuLevel cpu_level_supported() { return CpuLevel::baseline; }
inline CpuLevel cpu_level() { return CpuLevel::baseline; }
inline bool set_cpu_level(CpuLevel level) { return level == CpuLevel::baseline; }

#endif

}  // namespace detail
}  // namespace pdml
