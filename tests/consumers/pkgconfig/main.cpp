// SPDX-License-Identifier: MIT
// Consumer (c): built by plain Make with `pkg-config --cflags pdml`.
#include "criterion_check.hpp"

int main() { return consumer::check_criterion("pkgconfig"); }
