// SPDX-License-Identifier: MIT
#pragma once
// The shared kernel of the similarities between image vMFs (natural parameters e_i)
// and isotropic proxies (direction nu_c = v_c / |v_c|, one concentration kappa_c,
// clamped from below at min_kappa; location m_c = kappa_c nu_c):
//   sim(i, c) = sign * f(e_i, m_c) / T
// for a per-pair formula f given by a functor with
//   T value(const T* e, const T* m) const;
//   void backward(const T* e, const T* m, T grad, T* grad_e, T* grad_m) const;  // overwrite
// The formulas themselves live in one place each (distributions/vmf.hpp for the KL and
// the probability product kernel, similarities/l2.hpp for the squared distance).

#include <algorithm>
#include <limits>
#include <sstream>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/similarities/detail/batched.hpp"

namespace pdml {

/// State kept by the forward of an isotropic-proxy similarity for its backward.
template <class T>
struct IsotropicProxySaved {
  RowMajorMatrix<T> embeddings;         ///< B x D copy of e
  RowMajorMatrix<T> proxy_directions;   ///< C x D, nu_c
  detail::RowVector<T> proxy_norms;     ///< C, |v_c|
  RowMajorMatrix<T> kappas;             ///< C x 1, clamped
  RowMajorMatrix<T> kappa_passes;       ///< C x 1, 1 where not clamped
  RowMajorMatrix<T> locations;          ///< C x D, m_c = kappa_c nu_c
  RowMajorMatrix<T> similarities;       ///< B x C (for d/dT)
  T temperature = T(1);
  T sign = T(1);
  T order = T(1);  ///< rho of the probability product kernel (unused by the others)
  mutable RowMajorMatrix<T> scratch_rows;     ///< B x D
  mutable RowMajorMatrix<T> scratch_proxies;  ///< C x D
};

namespace detail {

template <class T>
void check_isotropic_inputs(const char* fn, ConstMatrixView<T> embeddings,
                            ConstMatrixView<T> proxies, ConstMatrixView<T> kappas, T min_kappa,
                            T temperature, MatrixView<T> similarities) {
  check_nonempty(fn, "embeddings", embeddings);
  check_input(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
  check_row_norms_fit(fn, "embeddings", embeddings);
  check_nonempty(fn, "proxies", proxies);
  check_same_cols(fn, "proxies", proxies, "embeddings", embeddings);
  check_proxy_vectors(fn, "proxies", proxies, proxies.rows, embeddings.cols);
  check_input(fn, "kappas", kappas, proxies.rows, Index(1));
  check_min_kappa(fn, min_kappa);
  check_temperature(fn, temperature);
  check_output(fn, "similarities", similarities, embeddings.rows, proxies.rows);
}

/// The vMF similarities (PPK, KL) take norms up to |e_i| + kappa_c (the product's
/// natural parameter e_i + kappa_c nu_c): max |e_i| + max kappa_c must be at most half
/// the largest T (the margin absorbs the rounding of the norms near the largest T).
/// Throws naming the larger contributor (`embeddings` or `kappas`).
template <class T>
void check_isotropic_reach(const char* fn, ConstMatrixView<T> embeddings, ConstMatrixView<T> kappas,
                           T min_kappa) {
  double e_max = 0.0, k_max = static_cast<double>(min_kappa);
  for (Index i = 0; i < embeddings.rows; ++i) {
    e_max = std::max(e_max, scaled_norm(embeddings.row(i), embeddings.cols).to_double());
  }
  for (Index c = 0; c < kappas.rows; ++c) k_max = std::max(k_max, static_cast<double>(kappas(c, 0)));
  if (e_max + k_max <= 0.5 * static_cast<double>(std::numeric_limits<T>::max())) return;
  std::ostringstream os;
  os << "gives |e_i| + kappa_c up to " << e_max << " + " << k_max
     << ", beyond half the largest value of its type";
  throw_invalid(fn, e_max >= k_max ? "embeddings" : "kappas", os.str());
}

template <class T>
void check_isotropic_backward(const char* fn, const IsotropicProxySaved<T>& saved,
                              ConstMatrixView<T> grad_similarities,
                              MatrixView<T> grad_embeddings, MatrixView<T> grad_proxies,
                              MatrixView<T> grad_kappas) {
  const Index b = saved.embeddings.rows(), c_count = saved.proxy_directions.rows(),
              d = saved.embeddings.cols();
  if (c_count == 0) throw_invalid(fn, "saved", "holds no forward pass");
  check_input(fn, "grad_similarities", grad_similarities, b, c_count);
  check_output(fn, "grad_embeddings", grad_embeddings, b, d);
  check_output(fn, "grad_proxies", grad_proxies, c_count, d);
  check_output(fn, "grad_kappas", grad_kappas, c_count, Index(1));
  check_no_overlap<T>(fn, {{"grad_embeddings", grad_embeddings},
                          {"grad_proxies", grad_proxies},
                          {"grad_kappas", grad_kappas}});
}

template <class T, class Pair>
void isotropic_forward(const Pair& pair, T sign, ConstMatrixView<T> embeddings,
                       ConstMatrixView<T> proxies, ConstMatrixView<T> kappas, T min_kappa,
                       T temperature, MatrixView<T> similarities,
                       IsotropicProxySaved<T>& saved) {
  const Index b = embeddings.rows, c_count = proxies.rows, d = embeddings.cols;
  saved.embeddings = as_eigen(embeddings);
  normalize_rows(proxies, saved.proxy_directions, saved.proxy_norms);
  clamp_below(kappas, min_kappa, saved.kappas, saved.kappa_passes);
  saved.locations = saved.proxy_directions.array().colwise() * saved.kappas.col(0).array();
  saved.temperature = temperature;
  saved.sign = sign;
  saved.similarities.resize(b, c_count);
  saved.scratch_rows.resize(b, d);
  saved.scratch_proxies.resize(c_count, d);
  const T scale = sign / temperature;
  parallel_rows(b, c_count * d, [&](Index i) {
    for (Index c = 0; c < c_count; ++c) {
      saved.similarities(i, c) =
          scale * pair.value(saved.embeddings.row(i).data(), saved.locations.row(c).data());
    }
  });
  as_eigen(similarities) = saved.similarities;
}

/// Overwrites grad_embeddings (B x D), grad_proxies (C x D), grad_kappas (C x 1) and
/// *grad_temperature (unless null).
template <class T, class Pair>
void isotropic_backward(const Pair& pair, const IsotropicProxySaved<T>& saved,
                        ConstMatrixView<T> grad_similarities, MatrixView<T> grad_embeddings,
                        MatrixView<T> grad_proxies, MatrixView<T> grad_kappas,
                        T* grad_temperature) {
  const Index b = saved.embeddings.rows(), c_count = saved.proxy_directions.rows(),
              d = saved.embeddings.cols();
  const auto g = as_eigen(grad_similarities);
  auto g_e = as_eigen(grad_embeddings);
  auto g_v = as_eigen(grad_proxies);
  auto g_k = as_eigen(grad_kappas);
  const T scale = saved.sign / saved.temperature;
  if (grad_temperature != nullptr) {
    *grad_temperature = -(g.cwiseProduct(saved.similarities)).sum() / saved.temperature;
  }
  // Two passes, each row owned by one thread: images, then proxies (no reductions across
  // threads, so the result does not depend on the thread count).
  parallel_rows(b, c_count * d, [&](Index i) {
    g_e.row(i).setZero();
    T* tmp = saved.scratch_rows.row(i).data();
    for (Index c = 0; c < c_count; ++c) {
      pair.backward(saved.embeddings.row(i).data(), saved.locations.row(c).data(),
                    scale * g(i, c), tmp, static_cast<T*>(nullptr));
      g_e.row(i) += saved.scratch_rows.row(i);
    }
  });
  parallel_rows(c_count, b * d, [&](Index c) {
    g_v.row(c).setZero();
    T* tmp = saved.scratch_proxies.row(c).data();
    for (Index i = 0; i < b; ++i) {
      pair.backward(saved.embeddings.row(i).data(), saved.locations.row(c).data(),
                    scale * g(i, c), static_cast<T*>(nullptr), tmp);
      g_v.row(c) += saved.scratch_proxies.row(c);
    }
    // m = kappa nu: d/dkappa = g_m . nu, d/dnu = kappa g_m.
    g_k(c, 0) = saved.kappa_passes(c, 0) * g_v.row(c).dot(saved.proxy_directions.row(c));
    g_v.row(c) *= saved.kappas(c, 0);
    normalize_row_backward_inplace(g_v.row(c), saved.proxy_directions.row(c),
                                   saved.proxy_norms[c]);
  });
}

}  // namespace detail
}  // namespace pdml
