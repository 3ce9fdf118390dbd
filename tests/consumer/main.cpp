// SPDX-License-Identifier: MIT
// Uses the installed umbrella header; exits non-zero if a value is off.
#include <cmath>
#include <cstdio>

#include <pdml/pdml.hpp>

int main() {
  // log C_3(1) = log(1 / (4 pi sinh 1) * 1): a closed form for p = 3.
  const double expected = -std::log(4.0 * M_PI * std::sinh(1.0));
  const double got = pdml::vmf_log_normalizer(3, 1.0);
  std::printf("log C_3(1) = %.17g (closed form %.17g)\n", got, expected);
  return std::abs(got - expected) < 1e-14 ? 0 : 1;
}
