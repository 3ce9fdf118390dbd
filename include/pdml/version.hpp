// SPDX-License-Identifier: MIT
#pragma once
// pdml's version (semantic versioning). Kept in the source tree, so that a plain
// `-I include` build sees it; CMake stops at configure time when these numbers
// disagree with project(VERSION) in CMakeLists.txt.

#define PDML_VERSION_MAJOR 0
#define PDML_VERSION_MINOR 1
#define PDML_VERSION_PATCH 0
#define PDML_VERSION_STRING "0.1.0"

/// One comparable number: MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 -> 100).
#define PDML_VERSION (PDML_VERSION_MAJOR * 10000 + PDML_VERSION_MINOR * 100 + PDML_VERSION_PATCH)
