// SPDX-License-Identifier: MIT
// Consumer (a): pdml::pdml alone carries no OpenMP runtime.
#ifdef _OPENMP
#error "pdml::pdml must not turn on OpenMP (-fopenmp); link pdml::openmp for threads"
#endif
#include "criterion_check.hpp"

int main() { return consumer::check_criterion("cmake_cpu"); }
