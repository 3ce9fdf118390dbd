// SPDX-License-Identifier: MIT
// libFuzzer harness: the similarities to isotropic proxies (EL-vMF and B-vMF
// probability product kernels, KL-vMF, L2), forward and backward, float and
// double, plus the per-pair polar PPK and Cartesian KL of distributions/vmf.hpp.
// Contract (docs/reliability.md): a forward either throws std::invalid_argument
// naming one of its arguments with the similarities and the Saved untouched, or
// returns similarities without NaN (an overflow of |f| / temperature to +-inf is
// the one documented exception, see reliability.md); the backward of a
// successful forward, fed ordinary incoming gradients, is finite wherever the
// gradients' size (estimated below) is representable.
#include <algorithm>
#include <cmath>
#include <limits>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include <pdml/core/eigen_map.hpp>
#include <pdml/distributions/vmf.hpp>
#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/l2.hpp>

#include "fuzz_common.hpp"

namespace {

using pdml_fuzz::Matrix;
using pdml_fuzz::require;

template <class T>
bool has_nan(const Matrix<T>& m) {
  return m.array().isNaN().any();
}

/// Runs forward(similarities, saved) and the contract checks; backward(saved, grad, ...).
template <class T, class Forward, class Backward>
void check_similarity(pdml_fuzz::Input& in, const char* name, int b, int c, int d,
                      const Forward& forward, const Backward& backward,
                      const std::string& inputs) {
  Matrix<T> similarities = Matrix<T>::Constant(b, c, T(42));
  const Matrix<T> before = similarities;
  pdml::IsotropicProxySaved<T> saved;
  try {
    forward(similarities, saved);
  } catch (const std::invalid_argument& e) {
    pdml_fuzz::require_names_one_of(
        e, {"embeddings", "proxies", "kappas", "min_kappa", "temperature", "similarities", "order"});
    require(pdml_fuzz::same_bits(similarities, before), "similarity forward wrote before throwing");
    require(saved.proxy_directions.size() == 0 && saved.similarities.size() == 0,
            "similarity forward touched the Saved before throwing");
    return;
  }
  const std::string where = std::string(name) + ", " + inputs;
  if (has_nan(similarities)) pdml_fuzz::fail("similarity forward: NaN for valid input", where);
  const Matrix<T> grad = in.ordinary_matrix<T>(b, c);
  Matrix<T> grad_e(b, d), grad_v(c, d), grad_k(c, 1);
  T grad_t = 0;
  backward(saved, grad, grad_e, grad_v, grad_k, &grad_t);
  // The gradients are of size |g| b c max(1, |e|, kappa, |f|)^2 max(1, 1 / |v|) / T,
  // d/dT of |g| b c |f| / T^2 (f the per-pair value); where that exceeds the largest T they overflow (the documented
  // exception of reliability.md), and an overflow may meet a zero (inf * 0). Below it:
  // no NaN, and finite.
  double scale = 1.0;
  for (Eigen::Index r = 0; r < saved.embeddings.rows(); ++r) {
    scale = std::max(scale, pdml::scaled_norm(saved.embeddings.row(r).data(), d).to_double());
  }
  for (Eigen::Index r = 0; r < saved.kappas.rows(); ++r) {
    scale = std::max(scale, static_cast<double>(saved.kappas(r, 0)));
    scale = std::max(scale, 1.0 / static_cast<double>(saved.proxy_norms[r]));
  }
  for (Eigen::Index r = 0; r < similarities.size(); ++r) {
    scale = std::max(scale, std::abs(static_cast<double>(similarities.data()[r])) *
                                static_cast<double>(saved.temperature));
  }
  const double t = static_cast<double>(saved.temperature);
  const double size = 128.0 * b * c * scale * scale * scale / t * std::max(1.0, 1.0 / t);
  if (size * 1024 <= static_cast<double>(std::numeric_limits<T>::max())) {
    if (!pdml_fuzz::all_finite(grad_e) || !pdml_fuzz::all_finite(grad_v) ||
        !pdml_fuzz::all_finite(grad_k) || !std::isfinite(grad_t)) {
      pdml_fuzz::fail("similarity backward: gradient not finite at moderate scale", where);
    }
  }
}

template <class T>
void fuzz_batched(pdml_fuzz::Input& in) {
  const int which = in.integer(0, 3);
  const int b = in.integer(1, 3), c = in.integer(1, 3), d = in.integer(2, 5);
  const Matrix<T> e = in.matrix<T>(b, d);
  const Matrix<T> v = in.matrix<T>(c, d);
  Matrix<T> k = in.matrix<T>(c, 1);
  if (in.flag()) k = k.cwiseAbs();
  const T min_kappa = in.flag() ? T(1e-3) : in.value<T>();
  const T temperature = in.flag() ? T(in.integer(1, 16)) / T(16) : in.value<T>();
  const std::string inputs = "embeddings = " + pdml_fuzz::hex(e) + ", proxies = " +
                             pdml_fuzz::hex(v) + ", kappas = " + pdml_fuzz::hex(k) +
                             ", min_kappa = " + pdml_fuzz::hex(min_kappa) +
                             ", temperature = " + pdml_fuzz::hex(temperature);
  const auto ev = pdml::view_of(e);
  const auto vv = pdml::view_of(v);
  const auto kv = pdml::view_of(static_cast<const Matrix<T>&>(k));
  const auto backward_of = [](auto function) {
    return [function](const pdml::IsotropicProxySaved<T>& saved, const Matrix<T>& grad,
                      Matrix<T>& ge, Matrix<T>& gv, Matrix<T>& gk, T* gt) {
      function(saved, pdml::view_of(grad), pdml::view_of(ge), pdml::view_of(gv),
               pdml::view_of(gk), gt);
    };
  };
  if (which <= 1) {
    const pdml::PpkOrder order =
        which == 0 ? pdml::PpkOrder::expected_likelihood : pdml::PpkOrder::bhattacharyya;
    check_similarity<T>(
        in, "ppk_similarity", b, c, d,
        [&](Matrix<T>& s, pdml::IsotropicProxySaved<T>& saved) {
          pdml::ppk_similarity_forward(ev, vv, kv, min_kappa, temperature, order,
                                       pdml::view_of(s), saved);
        },
        backward_of([](const auto& saved, auto g, auto ge, auto gv, auto gk, T* gt) {
          pdml::ppk_similarity_backward<T>(saved, g, ge, gv, gk, gt);
        }),
        inputs);
  } else if (which == 2) {
    check_similarity<T>(
        in, "kl_similarity", b, c, d,
        [&](Matrix<T>& s, pdml::IsotropicProxySaved<T>& saved) {
          pdml::kl_similarity_forward(ev, vv, kv, min_kappa, temperature, pdml::view_of(s), saved);
        },
        backward_of([](const auto& saved, auto g, auto ge, auto gv, auto gk, T* gt) {
          pdml::kl_similarity_backward<T>(saved, g, ge, gv, gk, gt);
        }),
        inputs);
  } else {
    check_similarity<T>(
        in, "l2_similarity", b, c, d,
        [&](Matrix<T>& s, pdml::IsotropicProxySaved<T>& saved) {
          pdml::l2_similarity_forward(ev, vv, kv, min_kappa, temperature, pdml::view_of(s), saved);
        },
        backward_of([](const auto& saved, auto g, auto ge, auto gv, auto gk, T* gt) {
          pdml::l2_similarity_backward<T>(saved, g, ge, gv, gk, gt);
        }),
        inputs);
  }
}

/// The per-pair polar PPK (unit directions, kappas up to the largest T whose
/// sum is at most half the largest T) and the Cartesian KL (rows of norm up to a
/// quarter of the largest T): finite, and no NaN in their gradients.
template <class T>
void fuzz_pair(pdml_fuzz::Input& in) {
  const int d = in.integer(2, 5);
  Matrix<T> a = in.matrix<T>(1, d), bm = in.matrix<T>(1, d);
  if (!a.allFinite() || !bm.allFinite()) return;
  const pdml::ScaledNorm na = pdml::scaled_norm(a.data(), d), nb = pdml::scaled_norm(bm.data(), d);
  if (!(na.value > 0.0) || !(nb.value > 0.0)) return;
  // KL needs finite norms |eta| (the divergence itself is of their size).
  const double largest = static_cast<double>(std::numeric_limits<T>::max());
  if (na.to_double() <= largest / 4 && nb.to_double() <= largest / 4) {
    const T kl = pdml::vmf_kl(d, a.data(), bm.data());
    const std::string where = "vmf_kl, eta1 = " + pdml_fuzz::hex(a) + ", eta2 = " + pdml_fuzz::hex(bm);
    if (!std::isfinite(kl)) pdml_fuzz::fail("vmf_kl: not finite", where);
    // (Not checked: KL >= 0. Beyond kappa ~ 1e15 the terms log C(k1) and A(k1) k1
    // cancel to about eps k1 absolutely, see reliability.md.)
    Matrix<T> g1(1, d), g2(1, d);
    pdml::vmf_kl_backward(d, a.data(), bm.data(), in.ordinary<T>(), g1.data(), g2.data());
    if (has_nan(g1) || has_nan(g2)) pdml_fuzz::fail("vmf_kl_backward: NaN", where);
  }
  pdml::divide_by_scaled_norm(a.data(), d, 1, na, a.data());
  pdml::divide_by_scaled_norm(bm.data(), d, 1, nb, bm.data());
  const T k1 = std::abs(in.value<T>()), k2 = std::abs(in.value<T>());
  if (!std::isfinite(k1) || !std::isfinite(k2) || !(static_cast<double>(k1) + k2 <= largest / 2)) return;
  const T rho = in.flag() ? T(1) : T(0.5);
  const T ppk = pdml::vmf_log_ppk(d, a.data(), k1, bm.data(), k2, rho);
  const std::string where = "polar vmf_log_ppk, mu1 = " + pdml_fuzz::hex(a) + ", kappa1 = " +
                            pdml_fuzz::hex(k1) + ", mu2 = " + pdml_fuzz::hex(bm) +
                            ", kappa2 = " + pdml_fuzz::hex(k2);
  if (!std::isfinite(ppk)) pdml_fuzz::fail("polar vmf_log_ppk: not finite", where);
  Matrix<T> g1(1, d), g2(1, d);
  T gk1 = 0, gk2 = 0;
  pdml::vmf_log_ppk_backward(d, a.data(), k1, bm.data(), k2, rho, in.ordinary<T>(), g1.data(),
                             &gk1, g2.data(), &gk2);
  if (has_nan(g1) || has_nan(g2) || std::isnan(gk1) || std::isnan(gk2)) {
    pdml_fuzz::fail("polar vmf_log_ppk_backward: NaN", where);
  }
}

template <class T>
void fuzz_one(pdml_fuzz::Input& in) {
  if (in.integer(0, 3) == 0) {
    fuzz_pair<T>(in);
  } else {
    fuzz_batched<T>(in);
  }
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
