// SPDX-License-Identifier: MIT
// libFuzzer harness: the batched samplers and their backward (vMF, nivMF, Power
// Spherical), float and double. Contract (docs/reliability.md): a call either throws
// std::invalid_argument naming one of its arguments with the output and the Saved
// untouched, or every sample is finite with unit norm and no draw failed; the
// backward of a successful draw, fed ordinary incoming gradients, is finite.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <pdml/core/eigen_map.hpp>
#include <pdml/core/scaled_norm.hpp>
#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf_sample.hpp>

#include "fuzz_common.hpp"

namespace {

using pdml_fuzz::Matrix;
using pdml_fuzz::require;

template <class T>
void check_unit_rows(const Matrix<T>& x, const std::string& where) {
  if (!pdml_fuzz::all_finite(x)) pdml_fuzz::fail("a sample is not finite", where);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    const double norm = x.row(r).template cast<double>().norm();
    if (!(std::abs(norm - 1.0) <= 64 * std::numeric_limits<T>::epsilon())) {
      pdml_fuzz::fail("a sample is not a unit vector", where);
    }
  }
}

/// Rows scaled to unit norm (where possible), so that the direction checks pass often.
template <class T>
Matrix<T> unit_rows(Matrix<T> m) {
  for (Eigen::Index r = 0; r < m.rows(); ++r) {
    if (!m.row(r).allFinite()) continue;
    const pdml::ScaledNorm norm = pdml::scaled_norm(m.row(r).data(), m.cols());
    if (norm.value > 0.0) pdml::divide_by_scaled_norm(m.row(r).data(), m.cols(), 1, norm, m.row(r).data());
  }
  return m;
}

template <class T>
void fuzz_vmf(pdml_fuzz::Input& in, int n, int p, int s) {
  const Matrix<T> eta = in.matrix<T>(n, p);
  Matrix<T> samples = Matrix<T>::Constant(s * n, p, T(42));
  const Matrix<T> before = samples;
  pdml::VmfSampleSaved<T> saved;
  try {
    pdml::vmf_sample(pdml::view_of(eta), s, pdml::RngKey{in.byte(), 0}, pdml::view_of(samples), &saved);
  } catch (const std::invalid_argument& e) {
    pdml_fuzz::require_names_one_of(e, {"eta", "n_samples", "samples"});
    require(pdml_fuzz::same_bits(samples, before), "vmf_sample wrote before throwing");
    require(saved.n_distributions == 0 && saved.directions.empty(), "vmf_sample touched the Saved before throwing");
    return;
  }
  const std::string where = "vmf_sample, eta = " + pdml_fuzz::hex(eta);
  if (saved.failed_draws != 0) pdml_fuzz::fail("vmf_sample: a draw failed for valid eta", where);
  check_unit_rows(samples, where);
  const Matrix<T> grad = in.ordinary_matrix<T>(s * n, p);
  Matrix<T> grad_eta(n, p);
  pdml::vmf_sample_backward(saved, pdml::view_of(grad), pdml::view_of(grad_eta));
  require(pdml_fuzz::all_finite(grad_eta), "vmf_sample_backward: gradient not finite");
}

template <class T>
void fuzz_nivmf(pdml_fuzz::Input& in, int n, int p, int s) {
  const bool normalize = in.flag();
  const Matrix<T> raw = in.matrix<T>(n, p);
  const Matrix<T> directions = normalize ? unit_rows(raw) : raw;
  Matrix<T> k = in.matrix<T>(n, p);
  if (in.flag()) k = k.cwiseAbs();
  Matrix<T> samples = Matrix<T>::Constant(s * n, p, T(42));
  const Matrix<T> before = samples;
  pdml::NivmfSampleSaved<T> saved;
  try {
    pdml::nivmf_sample(pdml::view_of(directions), pdml::view_of(static_cast<const Matrix<T>&>(k)), s,
                       pdml::RngKey{in.byte(), 1}, pdml::view_of(samples), &saved);
  } catch (const std::invalid_argument& e) {
    pdml_fuzz::require_names_one_of(e, {"directions", "concentrations", "n_samples", "samples"});
    require(pdml_fuzz::same_bits(samples, before), "nivmf_sample wrote before throwing");
    return;
  }
  const std::string where = "nivmf_sample, directions = " + pdml_fuzz::hex(directions) +
                            ", concentrations = " + pdml_fuzz::hex(k);
  if (saved.failed_draws != 0) pdml_fuzz::fail("nivmf_sample: a draw failed for valid input", where);
  check_unit_rows(samples, where);
  const Matrix<T> grad = in.ordinary_matrix<T>(s * n, p);
  Matrix<T> grad_directions(n, p), grad_k(n, p);
  pdml::nivmf_sample_backward(saved, pdml::view_of(grad), pdml::view_of(grad_directions),
                              pdml::view_of(grad_k));
  require(pdml_fuzz::all_finite(grad_directions) && pdml_fuzz::all_finite(grad_k),
          "nivmf_sample_backward: gradient not finite");
}

template <class T>
void fuzz_power_spherical(pdml_fuzz::Input& in, int n, int p, int s) {
  const Matrix<T> raw = in.matrix<T>(n, p);
  const Matrix<T> directions = in.flag() ? unit_rows(raw) : raw;
  Matrix<T> kappa = in.matrix<T>(n, 1);
  if (in.flag()) kappa = kappa.cwiseAbs();
  Matrix<T> samples = Matrix<T>::Constant(s * n, p, T(42));
  const Matrix<T> before = samples;
  pdml::PowerSphericalSampleSaved<T> saved;
  try {
    pdml::power_spherical_sample(pdml::view_of(directions), pdml::view_of(static_cast<const Matrix<T>&>(kappa)), s,
                                 pdml::RngKey{in.byte(), 2}, pdml::view_of(samples), &saved);
  } catch (const std::invalid_argument& e) {
    pdml_fuzz::require_names_one_of(e, {"directions", "concentrations", "n_samples", "samples"});
    require(pdml_fuzz::same_bits(samples, before), "power_spherical_sample wrote before throwing");
    return;
  }
  check_unit_rows(samples, "power_spherical_sample, directions = " + pdml_fuzz::hex(directions) +
                               ", concentrations = " + pdml_fuzz::hex(kappa));
  const Matrix<T> grad = in.ordinary_matrix<T>(s * n, p);
  Matrix<T> grad_directions(n, p), grad_kappa(n, 1);
  pdml::power_spherical_sample_backward(saved, pdml::view_of(grad), pdml::view_of(grad_directions),
                                        pdml::view_of(grad_kappa));
  require(pdml_fuzz::all_finite(grad_directions) && pdml_fuzz::all_finite(grad_kappa),
          "power_spherical_sample_backward: gradient not finite");
}

template <class T>
void fuzz_one(pdml_fuzz::Input& in) {
  const int which = in.integer(0, 2);
  const int n = in.integer(1, 3), p = in.integer(2, 6), s = in.integer(1, 3);
  if (which == 0) fuzz_vmf<T>(in, n, p, s);
  if (which == 1) fuzz_nivmf<T>(in, n, p, s);
  if (which == 2) fuzz_power_spherical<T>(in, n, p, s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pdml_fuzz::Input in(data, size);
  if (in.flag()) {
    fuzz_one<float>(in);
  } else {
    fuzz_one<double>(in);
  }
  return 0;
}
