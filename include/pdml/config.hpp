// SPDX-License-Identifier: MIT
#pragma once
// Compilation settings shared by every pdml header.
//
// PDML_HOST_DEVICE marks functions that are callable both from host code and
// from CUDA device code. It is the only host/device macro in the library.
// Functions carrying it follow the device rules: no exceptions, no iostream,
// no dynamic allocation, and every loop has a fixed upper bound.

#if defined(__CUDACC__) || defined(__HIPCC__)
#define PDML_HOST_DEVICE __host__ __device__
#define PDML_DEVICE_COMPILATION 1
#else
#define PDML_HOST_DEVICE
#define PDML_DEVICE_COMPILATION 0
#endif

// Forces inlining of small hot-path helpers on both compilers.
#if defined(__CUDACC__)
#define PDML_FORCE_INLINE __forceinline__
#elif defined(__GNUC__) || defined(__clang__)
#define PDML_FORCE_INLINE inline __attribute__((always_inline))
#else
#define PDML_FORCE_INLINE inline
#endif

#define PDML_VERSION_MAJOR 0
#define PDML_VERSION_MINOR 1
#define PDML_VERSION_PATCH 0
