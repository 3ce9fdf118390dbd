// SPDX-License-Identifier: MIT
// CPU side of test_densities.cu: the CPU batched log-densities.
#include "cpu_reference.hpp"

#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf_batch.hpp>

namespace pdml_test {

template <class T>
DensityResult<T> cpu_log_prob(int kind, const std::vector<T>& first, const std::vector<T>& second,
                              const std::vector<T>& points, long n, long p, long m,
                              const std::vector<T>& grad_log_prob) {
  using pdml::ConstMatrixView;
  using pdml::MatrixView;
  const long cols = kind == 1 ? p : 1;
  DensityResult<T> r;
  r.log_prob.resize(static_cast<std::size_t>(m));
  r.grad_first.resize(static_cast<std::size_t>(n * p));
  r.grad_second.resize(kind == 0 ? 0 : static_cast<std::size_t>(n * cols));
  r.grad_points.resize(static_cast<std::size_t>(m * p));
  const ConstMatrixView<T> f{first.data(), n, p, p}, s{second.data(), n, cols, cols},
      x{points.data(), m, p, p}, g{grad_log_prob.data(), m, 1, 1};
  const MatrixView<T> lp{r.log_prob.data(), m, 1, 1}, gf{r.grad_first.data(), n, p, p},
      gs{r.grad_second.data(), n, cols, cols}, gx{r.grad_points.data(), m, p, p};
  if (kind == 0) {
    pdml::vmf_log_prob(f, x, lp);
    pdml::vmf_log_prob_backward(f, x, g, gf, gx);
  } else if (kind == 1) {
    pdml::nivmf_log_prob(f, s, x, lp);
    pdml::nivmf_log_prob_backward(f, s, x, g, gf, gs, gx);
  } else {
    pdml::power_spherical_log_prob(f, s, x, lp);
    pdml::power_spherical_log_prob_backward(f, s, x, g, gf, gs, gx);
  }
  return r;
}

template DensityResult<float> cpu_log_prob<float>(int, const std::vector<float>&,
                                                  const std::vector<float>&,
                                                  const std::vector<float>&, long, long, long,
                                                  const std::vector<float>&);
template DensityResult<double> cpu_log_prob<double>(int, const std::vector<double>&,
                                                    const std::vector<double>&,
                                                    const std::vector<double>&, long, long, long,
                                                    const std::vector<double>&);

}  // namespace pdml_test
