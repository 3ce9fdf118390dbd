// SPDX-License-Identifier: MIT
// Consumer (b): pdml::openmp compiles with OpenMP, more than one thread can run,
// and the criterion gives the same bits on one thread and on several
// (docs/api.md: results do not depend on the number of threads).
#ifndef _OPENMP
#error "pdml::openmp must compile with OpenMP"
#endif
#include <omp.h>

#include "criterion_check.hpp"

int main() {
  int team = 0;
#pragma omp parallel num_threads(2)
  {
#pragma omp single
    team = omp_get_num_threads();
  }
  std::printf("cmake_openmp: a parallel region of 2 threads ran %d\n", team);
  if (team < 2) return 1;

  omp_set_num_threads(1);
  const consumer::CriterionResult one = consumer::run_criterion(64, 8, 256);
  omp_set_num_threads(4);
  const consumer::CriterionResult four = consumer::run_criterion(64, 8, 256);
  const bool same = one.loss == four.loss && one.grad_temperature == four.grad_temperature &&
                    consumer::bitwise_equal(one.grad_embeddings, four.grad_embeddings) &&
                    consumer::bitwise_equal(one.grad_proxies, four.grad_proxies) &&
                    consumer::bitwise_equal(one.grad_kappas, four.grad_kappas);
  std::printf("cmake_openmp: 1 thread and 4 threads agree bitwise: %s\n", same ? "yes" : "NO");
  if (!same || !consumer::all_finite(one)) return 1;
  return consumer::check_criterion("cmake_openmp");
}
