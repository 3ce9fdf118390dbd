// SPDX-License-Identifier: MIT
// Consumer (d): no build system at all, `g++ -std=c++17 -I<include> -I<eigen>`,
// no OpenMP flag: the headers must compile warning-free (-Wall -Werror) and work.
#include "criterion_check.hpp"

static_assert(PDML_VERSION == PDML_VERSION_MAJOR * 10000 + PDML_VERSION_MINOR * 100 + PDML_VERSION_PATCH,
              "pdml/version.hpp is inconsistent");

int main() { return consumer::check_criterion("header_only"); }
