// SPDX-License-Identifier: MIT
#pragma once
// Similarities of image vMFs to isotropic proxies and the two proxy losses,
// as functors over index ranges (see parallel/launch.hpp). The per-pair
// formulas are the distributions layer's (vmf_log_ppk, vmf_kl); the layout
// and conventions are those of include/pdml/similarities/detail/
// isotropic_proxies.hpp: proxy c has direction nu_c = v_c / |v_c| and one
// concentration kappa_c, clamped at min_kappa; location m_c = kappa_c nu_c;
//   sim(i, c) = sign * f(e_i, m_c) / T.

#include <cstdint>
#include <limits>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/distributions/detail/device_calls.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/distributions/vmf.hpp"

namespace pdml {
namespace cuda {

/// The similarities between image vMFs and isotropic vMF proxies.
enum class IsotropicSimilarity {
  expected_likelihood,  ///< EL-vMF: log PPK with rho = 1
  bhattacharyya,        ///< B-vMF: log PPK with rho = 1/2
  kl,                   ///< -KL(vMF_i || vMF_c) (exact, with A_p)
  l2,                   ///< -|e_i - kappa_c nu_c|^2
};

namespace detail {

/// One pair formula, selected at run time (uniform across threads).
template <class T>
struct IsotropicPair {
  IsotropicSimilarity kind;
  int dim;
  PDML_HOST_DEVICE T sign() const { return kind == IsotropicSimilarity::kl || kind == IsotropicSimilarity::l2 ? T(-1) : T(1); }
  PDML_HOST_DEVICE T rho() const { return kind == IsotropicSimilarity::bhattacharyya ? T(0.5) : T(1); }
  PDML_HOST_DEVICE T value(const T* e, const T* m) const {
    switch (kind) {
      case IsotropicSimilarity::kl: return vmf_kl_call(dim, e, m);
      case IsotropicSimilarity::l2: {
        T s = T(0);
        for (int j = 0; j < dim; ++j) s += (e[j] - m[j]) * (e[j] - m[j]);
        return s;
      }
      default: return vmf_log_ppk_call(dim, e, m, rho());
    }
  }
  /// Overwrites grad_e / grad_m (null skipped) with grad * df/de, df/dm.
  PDML_HOST_DEVICE void backward(const T* e, const T* m, T grad, T* grad_e, T* grad_m) const {
    switch (kind) {
      case IsotropicSimilarity::kl: vmf_kl_backward_call(dim, e, m, grad, grad_e, grad_m); return;
      case IsotropicSimilarity::l2:
        for (int j = 0; j < dim; ++j) {
          const T g = T(2) * grad * (e[j] - m[j]);
          if (grad_e) grad_e[j] = g;
          if (grad_m) grad_m[j] = -g;
        }
        return;
      default: vmf_log_ppk_backward_call(dim, e, m, rho(), grad, grad_e, grad_m); return;
    }
  }
};

/// Per proxy c: nu_c, clamped kappa_c, m_c, |v_c|.
template <class T>
struct IsotropicProxyPrepare {
  ConstMatrixView<T> proxies;  // C x D
  ConstMatrixView<T> kappas;   // C x 1
  T min_kappa;
  T* nu;        // C x D
  T* kappa;     // C (clamped)
  T* location;  // C x D
  T* vnorm;     // C
  PDML_HOST_DEVICE void operator()(Index c) const {
    const Index d = proxies.cols;
    const T* v = proxies.row(c);
    T vv = T(0);
    for (Index j = 0; j < d; ++j) vv += v[j] * v[j];
    const T norm = sqrt_(vv);
    const T k = max_of(kappas(c, 0), min_kappa);
    for (Index j = 0; j < d; ++j) {
      nu[c * d + j] = v[j] / norm;
      location[c * d + j] = k * (v[j] / norm);
    }
    kappa[c] = k;
    vnorm[c] = norm;
  }
};

/// Per pair (i, c): sim = sign f(e_i, m_c) / T (also kept for d/dT).
template <class T>
struct IsotropicPairForward {
  IsotropicPair<T> pair;
  ConstMatrixView<T> embeddings;
  const T* location;
  Index classes;
  T inv_temperature;
  T* saved_similarities;  // B x C dense
  MatrixView<T> similarities;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / classes;
    const Index c = ic - i * classes;
    const T s = pair.sign() * pair.value(embeddings.row(i), location + c * pair.dim) *
                inv_temperature;
    saved_similarities[ic] = s;
    similarities(i, c) = s;
  }
};

/// Backward per image i: dL/de_i = sum_c (in order) of the pair gradients.
template <class T>
struct IsotropicImageBackward {
  IsotropicPair<T> pair;
  ConstMatrixView<T> embeddings;
  const T* location;
  Index classes;
  T scale;  // sign / T
  ConstMatrixView<T> grad_similarities;
  T* scratch;  // B x D
  MatrixView<T> grad_embeddings;
  PDML_HOST_DEVICE void operator()(Index i) const {
    const int d = pair.dim;
    T* out = grad_embeddings.row(i);
    T* tmp = scratch + i * d;
    for (int j = 0; j < d; ++j) out[j] = T(0);
    for (Index c = 0; c < classes; ++c) {
      pair.backward(embeddings.row(i), location + c * d, scale * grad_similarities(i, c), tmp,
                    static_cast<T*>(nullptr));
      for (int j = 0; j < d; ++j) out[j] += tmp[j];
    }
  }
};

/// Backward per proxy c: dL/dm_c summed over images in order, then through
/// m = kappa nu (clamp: zero gradient where clamped) and nu = v / |v|.
template <class T>
struct IsotropicProxyBackward {
  IsotropicPair<T> pair;
  ConstMatrixView<T> embeddings;
  ConstMatrixView<T> kappas;  // raw, C x 1
  T min_kappa;
  const T* nu;
  const T* kappa;
  const T* location;
  const T* vnorm;
  T scale;
  ConstMatrixView<T> grad_similarities;
  T* scratch;  // C x D
  MatrixView<T> grad_proxies;
  MatrixView<T> grad_kappas;  // C x 1
  PDML_HOST_DEVICE void operator()(Index c) const {
    const int d = pair.dim;
    T* out = grad_proxies.row(c);
    T* tmp = scratch + c * d;
    for (int j = 0; j < d; ++j) out[j] = T(0);
    for (Index i = 0; i < embeddings.rows; ++i) {
      pair.backward(embeddings.row(i), location + c * d, scale * grad_similarities(i, c),
                    static_cast<T*>(nullptr), tmp);
      for (int j = 0; j < d; ++j) out[j] += tmp[j];
    }
    const T* nu_c = nu + c * d;
    T along = T(0);
    for (int j = 0; j < d; ++j) along += out[j] * nu_c[j];
    grad_kappas(c, 0) = kappas(c, 0) < min_kappa ? T(0) : along;
    // d/dnu = kappa g_m; then the normalization: (g - (g.nu) nu) / |v|.
    const T k = kappa[c];
    const T inv = T(1) / vnorm[c];
    for (int j = 0; j < d; ++j) out[j] = (k * out[j] - k * along * nu_c[j]) * inv;
  }
};

/// dL/dT = -(1/T) sum_{i,c} g_ic sim_ic, summed per row then in order.
template <class T>
struct TemperatureTerms {
  ConstMatrixView<T> grad_similarities;
  const T* similarities;  // B x C dense
  PDML_HOST_DEVICE T operator()(Index ic) const {
    const Index c_count = grad_similarities.cols;
    const Index i = ic / c_count;
    const Index c = ic - i * c_count;
    return grad_similarities(i, c) * similarities[ic];
  }
};

// ---------------------------------------------------------------- Proxy-NCA

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
