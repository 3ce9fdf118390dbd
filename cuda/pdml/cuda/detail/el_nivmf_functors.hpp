// SPDX-License-Identifier: MIT
#pragma once
// The fused steps of the EL-nivMF criterion (see docs/math.md and
// include/pdml/losses for the formulas). Each functor is applied over an
// index range by detail::for_each_index and computes everything of one index
// in a fixed order, so every output is bitwise reproducible.
//
// Notation: B images, C classes, D dimensions, S samples per image,
// N = S B sample rows (sample s of image i at row n = s B + i).
//   kc_c   = max(k_c, k_min) (element-wise), nu_c = v_c / |v_c|,
//   a_c    = kc_c * nu_c, r_c = |a_c|,
//   bias_c = log C_D(r_c) + sum_j log kc_cj - log r_c        (paper's rule)
//   Z_nc   = (a_c^T x_n + bias_c) / T,
//   sim_ic = logsumexp_s Z_{sB+i,c} - log S,
//   L_nca  = mean_i [logsumexp_c sim_ic - sim_{i,y_i}],
//   L_pa   = ProxyAnchor on m_ic = mu_i^T nu_c,
//   L      = L_nca + w L_pa.

#include <cstdint>

#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/detail/scalar_math.hpp"
#include "pdml/cuda/detail/device_calls.hpp"
#include "pdml/cuda/detail/device_status.hpp"
#include "pdml/distributions/nivmf.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// True when label is a valid class index; invalid labels poison the loss
/// with NaN instead of reading out of bounds (the host cannot check device
/// labels without a copy).
PDML_HOST_DEVICE PDML_FORCE_INLINE bool label_ok(std::int64_t label, Index classes) {
  return label >= 0 && label < classes;
}

/// Per proxy c: nu_c, the clamped concentrations kc_c, |v_c|, the slope of
/// the score (paper's rule: a_c = kc o nu; exact density: a_c = kc^2 o nu,
/// and kc^2) and its offset, from the distributions layer's routines.
template <class T>
struct ProxyPrepare {
  ConstMatrixView<T> proxies;  // C x D
  ConstMatrixView<T> kappas;   // C x D
  T min_kappa;
  bool exact;
  T* nu;     // C x D dense
  T* kc;     // C x D dense
  T* a;      // C x D dense
  T* k2;     // C x D dense (exact density only)
  T* vnorm;  // C
  T* bias;   // C
  std::uint32_t* status = nullptr;  // DeviceStatus bits (criterion only)
  PDML_HOST_DEVICE void operator()(Index c) const {
    const Index dims = proxies.cols;
    const T* v = proxies.row(c);
    const T* k = kappas.row(c);
    T vv = T(0);
    for (Index j = 0; j < dims; ++j) vv += v[j] * v[j];
    const T norm = sqrt_(vv);
    T* nu_c = nu + c * dims;
    T* kc_c = kc + c * dims;
    bool kappas_finite = true;
    for (Index j = 0; j < dims; ++j) {
      kappas_finite = kappas_finite && finite_value(k[j]);
      const T kj = max_of(k[j], min_kappa);
      nu_c[j] = v[j] / norm;
      kc_c[j] = kj;
      if (exact) {
        a[c * dims + j] = kj * kj * nu_c[j];
        k2[c * dims + j] = kj * kj;
      }
    }
    if (!exact) nivmf_score_linear(static_cast<int>(dims), nu_c, kc_c, a + c * dims);
    vnorm[c] = norm;
    bias[c] = nivmf_offset(exact, static_cast<int>(dims), nu_c, kc_c);
    if (!finite_value(norm) || !kappas_finite) {
      report_status(status, DeviceStatus::non_finite_proxy);
    }
    if (norm == T(0)) report_status(status, DeviceStatus::zero_proxy);
  }
};

/// Exact density, per sample row n and column j: x_nj^2 (for |K_c x_n|^2).
template <class T>
struct SquareSamples {
  ConstMatrixView<T> samples;
  T* squares;  // N x D dense
  PDML_HOST_DEVICE void operator()(Index nj) const {
    const Index n = nj / samples.cols;
    const Index j = nj - n * samples.cols;
    const T x = samples(n, j);
    squares[nj] = x * x;
  }
};

/// Exact density, per (n, c): from U = x^T (K^2 nu) and Q^2 = |K x|^2 to the
/// x-dependent part U / Q - D log Q of the log-density (Q is kept).
template <class T>
struct ExactDensityTerms {
  const T* u;      // N x C
  T* q;            // N x C: |K x|^2 in, |K x| out
  T* out;          // N x C
  T dims;
  PDML_HOST_DEVICE void operator()(Index nc) const {
    const T norm = sqrt_(q[nc]);
    q[nc] = norm;
    out[nc] = u[nc] / norm - dims * log_(norm);
  }
};

/// Exact density backward, per (n, c): dL/dU = g / Q and
/// dL/d(Q^2) = -g (U / Q + D) / (2 Q^2), with g = dL/dl (overwritten by dL/dU).
template <class T>
struct ExactDensityBackward {
  const T* u;
  const T* q;
  T* grad;         // N x C: dL/dl in, dL/dU out
  T* grad_square;  // N x C
  T dims;
  PDML_HOST_DEVICE void operator()(Index nc) const {
    const T g = grad[nc];
    const T norm = q[nc];
    grad[nc] = g / norm;
    grad_square[nc] = -g * (u[nc] / norm + dims) / (T(2) * norm * norm);
  }
};

/// Exact density backward, per (n, j): adds d(Q^2)/dx = 2 x o (h K^2).
template <class T>
struct ExactDensitySampleGradient {
  ConstMatrixView<T> samples;
  const T* h_k2;  // N x D: (dL/dQ^2) K^2
  MatrixView<T> grad_samples;
  PDML_HOST_DEVICE void operator()(Index nj) const {
    const Index n = nj / samples.cols;
    const Index j = nj - n * samples.cols;
    grad_samples(n, j) += T(2) * samples(n, j) * h_k2[nj];
  }
};

/// Per image i: mu_i = e_i / |e_i| and |e_i|. A zero embedding (the uniform
/// vMF) gets mu = 0: it is equally similar to every proxy in ProxyAnchor.
template <class T>
struct EmbeddingPrepare {
  ConstMatrixView<T> embeddings;  // B x D
  T* mu;                          // B x D dense
  T* enorm;                       // B
  std::uint32_t* status = nullptr;  // DeviceStatus bits (criterion only)
  PDML_HOST_DEVICE void operator()(Index i) const {
    const Index dims = embeddings.cols;
    const T* e = embeddings.row(i);
    T ee = T(0);
    for (Index j = 0; j < dims; ++j) ee += e[j] * e[j];
    const T norm = sqrt_(ee);
    if (!finite_value(norm)) report_status(status, DeviceStatus::non_finite_embedding);
    const T inv = norm > T(0) ? T(1) / norm : T(0);
    for (Index j = 0; j < dims; ++j) mu[i * dims + j] = e[j] * inv;
    enorm[i] = norm;
  }
};

/// Per (i, c): sim_ic from the N x C matrix G = X A^T (Z is written back
/// in place of G for the backward pass).
template <class T>
struct SimilarityFromProducts {
  T* g_to_z;        // N x C dense: a_c^T x_n in, Z_nc out
  const T* bias;    // C
  T* sim;           // B x C dense
  Index batch, classes, samples;
  T inv_temperature, log_samples;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / classes;
    const Index c = ic - i * classes;
    T z_max = -pdml::detail::infinity_<T>();
    for (Index s = 0; s < samples; ++s) {
      T& slot = g_to_z[(s * batch + i) * classes + c];
      const T z = (slot + bias[c]) * inv_temperature;
      slot = z;
      z_max = max_of(z_max, z);
    }
    T sum = T(0);
    for (Index s = 0; s < samples; ++s) {
      sum += exp_(g_to_z[(s * batch + i) * classes + c] - z_max);
    }
    sim[ic] = z_max + log_(sum) - log_samples;
  }
};

/// Per (i, chunk of classes): the running (max, sum of exp(x - max)) of the
/// chunk, the first level of the row logsumexp over C classes.
template <class T>
struct RowLogsumexpPartial {
  const T* x;  // rows x cols dense
  Index cols, chunks;
  T* part_max;  // rows x chunks
  T* part_sum;
  PDML_HOST_DEVICE void operator()(Index task) const {
    const Index row = task / chunks;
    const Index chunk = task - row * chunks;
    const Index begin = chunk * kReductionChunkLse;
    const Index end = begin + kReductionChunkLse < cols ? begin + kReductionChunkLse : cols;
    const T* values = x + row * cols;
    T m = -pdml::detail::infinity_<T>();
    for (Index c = begin; c < end; ++c) m = max_of(m, values[c]);
    T sum = T(0);
    for (Index c = begin; c < end; ++c) sum += exp_(values[c] - m);
    part_max[task] = m;
    part_sum[task] = sum;
  }
  static constexpr Index kReductionChunkLse = 256;
};

/// Per row: combines the chunk partials in order into logsumexp of the row,
/// and the Proxy-NCA term of image i.
template <class T>
struct RowLogsumexpCombine {
  const T* part_max;
  const T* part_sum;
  Index chunks, classes;
  const T* sim;                 // B x C
  const std::int64_t* labels;   // B
  T* lse;                       // B
  T* nca;                       // B: lse_i - sim_{i,y_i}
  std::uint32_t* status = nullptr;  // DeviceStatus bits
  PDML_HOST_DEVICE void operator()(Index i) const {
    T m = -pdml::detail::infinity_<T>();
    for (Index k = 0; k < chunks; ++k) m = max_of(m, part_max[i * chunks + k]);
    T sum = T(0);
    for (Index k = 0; k < chunks; ++k) {
      sum += part_sum[i * chunks + k] * exp_(part_max[i * chunks + k] - m);
    }
    const T value = m + log_(sum);
    lse[i] = value;
    const std::int64_t y = labels[i];
    const bool ok = label_ok(y, classes);
    nca[i] = ok ? value - sim[i * classes + y] : quiet_nan<T>();
    if (!ok) report_status(status, DeviceStatus::label_out_of_range);
  }
};

/// log(1 + sum_k exp(t_k)) without overflow: shifts by max(0, max t).
template <class T>
PDML_HOST_DEVICE PDML_FORCE_INLINE T log1p_sum_exp(T shift, T shifted_sum) {
  return shift + log_(exp_(-shift) + shifted_sum);
}

/// Per class c: the ProxyAnchor terms from m_ic = mu_i^T nu_c.
///   pos_c = log(1 + sum_{i: y_i = c} exp(-alpha (m_ic - delta))), present_c = [any i with y_i = c]
///   neg_c = log(1 + sum_{i: y_i != c} exp(alpha (m_ic + delta)))
template <class T>
struct ProxyAnchorPerClass {
  const T* m;  // B x C
  const std::int64_t* labels;
  Index batch, classes;
  T alpha, delta;
  T* pos;      // C
  T* neg;      // C
  T* present;  // C: 1 or 0
  PDML_HOST_DEVICE void operator()(Index c) const {
    T pos_shift = T(0), neg_shift = T(0);
    bool any = false;
    for (Index i = 0; i < batch; ++i) {
      const T s = m[i * classes + c];
      if (labels[i] == c) {
        pos_shift = max_of(pos_shift, -alpha * (s - delta));
        any = true;
      } else {
        neg_shift = max_of(neg_shift, alpha * (s + delta));
      }
    }
    T pos_sum = T(0), neg_sum = T(0);
    for (Index i = 0; i < batch; ++i) {
      const T s = m[i * classes + c];
      if (labels[i] == c) {
        pos_sum += exp_(-alpha * (s - delta) - pos_shift);
      } else {
        neg_sum += exp_(alpha * (s + delta) - neg_shift);
      }
    }
    pos[c] = any ? log1p_sum_exp(pos_shift, pos_sum) : T(0);
    neg[c] = log1p_sum_exp(neg_shift, neg_sum);
    present[c] = any ? T(1) : T(0);
  }
};

/// The scalar loss from the per-image and per-class terms (one thread).
template <class T>
struct FinishLoss {
  const T* nca;      // B
  const T* pos;      // C
  const T* neg;      // C
  const T* present;  // C
  Index batch, classes;
  T guidance_weight;
  T* loss;           // 1, device
  T* n_present;      // 1, saved for the backward
  std::uint32_t* status = nullptr;  // DeviceStatus bits
  PDML_HOST_DEVICE void operator()(Index) const {
    T nca_sum = T(0);
    for (Index i = 0; i < batch; ++i) nca_sum += nca[i];
    T value = nca_sum / T(batch);
    if (guidance_weight != T(0)) {
      T pos_sum = T(0), neg_sum = T(0), count = T(0);
      for (Index c = 0; c < classes; ++c) {
        pos_sum += pos[c];
        neg_sum += neg[c];
        count += present[c];
      }
      const T pa = (count > T(0) ? pos_sum / count : T(0)) + neg_sum / T(classes);
      value += guidance_weight * pa;
      *n_present = count;
    } else {
      *n_present = T(0);
    }
    *loss = value;
    if (!finite_value(value)) report_status(status, DeviceStatus::non_finite_loss);
  }
};

/// Backward of sim_ic = logsumexp_s Z_{sB+i,c} - log S for one pair (i, c)
/// given dL/dsim_ic: dL/dZ for the S samples of image i (written as
/// dL/dG = dL/dZ / T), the pair's bias gradient and temperature term. Shared
/// by the criterion (dL/dsim from Proxy-NCA) and the standalone EL-nivMF
/// similarity (dL/dsim given). z may be grad_g itself (the standalone
/// similarity's recomputed scores): each entry is read before it is written.
template <class T>
struct ElPairBackward {
  const T* z;     // N x C
  const T* sim;   // B x C
  Index batch, classes, samples;
  T inv_temperature, log_samples;
  T* grad_g;       // N x C
  T* grad_bias_ic; // B x C: sum_s dL/dG
  T* grad_t_ic;    // B x C: sum_s dL/dZ * Z
  PDML_HOST_DEVICE void apply(Index ic, Index i, Index c, T grad_sim) const {
    const T shift = sim[ic] + log_samples;  // logsumexp_s Z
    T bias_sum = T(0), t_sum = T(0);
    for (Index s = 0; s < samples; ++s) {
      const Index n = (s * batch + i) * classes + c;
      const T zn = z[n];
      const T grad_z = grad_sim * exp_(zn - shift);
      grad_g[n] = grad_z * inv_temperature;
      bias_sum += grad_z * inv_temperature;
      t_sum += grad_z * zn;
    }
    grad_bias_ic[ic] = bias_sum;
    grad_t_ic[ic] = t_sum;
  }
};

/// Criterion backward per (i, c): dL/dsim_ic of Proxy-NCA, then ElPairBackward.
template <class T>
struct NcaBackwardPerPair {
  ElPairBackward<T> pair;
  const T* lse;   // B
  const std::int64_t* labels;
  T grad_loss;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / pair.classes;
    const Index c = ic - i * pair.classes;
    const T p = exp_(pair.sim[ic] - lse[i]);
    const T target = labels[i] == c ? T(1) : T(0);
    pair.apply(ic, i, c, grad_loss * (p - target) / T(pair.batch));
  }
};

/// Standalone EL-nivMF similarity backward per (i, c): dL/dsim_ic given.
template <class T>
struct SimilarityBackwardPerPair {
  ElPairBackward<T> pair;
  ConstMatrixView<T> grad_similarities;  // B x C
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / pair.classes;
    const Index c = ic - i * pair.classes;
    pair.apply(ic, i, c, grad_similarities(i, c));
  }
};

/// Copies a dense rows x cols matrix into a (possibly strided) view.
template <class T>
struct CopyIntoView {
  const T* source;
  MatrixView<T> target;
  PDML_HOST_DEVICE void operator()(Index k) const {
    const Index r = k / target.cols;
    target(r, k - r * target.cols) = source[k];
  }
};

/// Backward of ProxyAnchor per (i, c): dL/dm_ic.
template <class T>
struct ProxyAnchorBackwardPerPair {
  const T* m;  // B x C
  const std::int64_t* labels;
  const T* pos;
  const T* neg;
  const T* n_present;
  T grad_loss;
  Index classes;
  T alpha, delta, guidance_weight;
  T* grad_m;  // B x C
  // The C of the negatives' 1/C weight when these columns are one shard of
  // more classes (the sharded criterion); 0: classes.
  Index weight_classes = 0;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / classes;
    const Index c = ic - i * classes;
    const T s = m[ic];
    const T scale = grad_loss * guidance_weight;
    T g;
    if (labels[i] == c) {
      // d/ds log(1 + sum exp(-alpha (s - delta))) = -alpha exp(t - pos_c)
      g = -alpha * exp_(-alpha * (s - delta) - pos[c]) / *n_present;
    } else {
      g = alpha * exp_(alpha * (s + delta) - neg[c]) /
          T(weight_classes > 0 ? weight_classes : classes);
    }
    grad_m[ic] = scale * g;
  }
};

/// Sums of a B x C matrix over i per column c, in i order.
template <class T>
struct ColumnSum {
  const T* x;
  Index rows, cols;
  T* out;
  PDML_HOST_DEVICE void operator()(Index c) const {
    T sum = T(0);
    for (Index i = 0; i < rows; ++i) sum += x[i * cols + c];
    out[c] = sum;
  }
};

/// Backward per proxy c: from dL/da_c (pairwise term; for the exact density
/// also dL/d(kc^2)), dL/dbias_c and dL/dnu_c (ProxyAnchor term) to dL/dv_c and
/// dL/dk_c.
template <class T>
struct ProxyBackward {
  ConstMatrixView<T> kappas;
  T min_kappa;
  bool exact;
  const T* nu;      // C x D
  const T* kc;      // C x D
  const T* vnorm;   // C
  const T* grad_a;  // C x D (dL/da from the GEMM)
  const T* grad_k2; // C x D (exact density only)
  const T* grad_bias;      // C
  const T* grad_nu_anchor; // C x D or null (no ProxyAnchor term)
  Index dims;
  MatrixView<T> grad_proxies;
  MatrixView<T> grad_kappas;
  PDML_HOST_DEVICE void operator()(Index c) const {
    const T* nu_c = nu + c * dims;
    const T* kc_c = kc + c * dims;
    T* g_nu = grad_proxies.row(c);
    T* g_k = grad_kappas.row(c);
    for (Index j = 0; j < dims; ++j) {
      const T ga = grad_a[c * dims + j];
      const T kj = kc_c[j];
      if (exact) {  // a = kc^2 o nu, and the kc^2 of |K x|^2
        g_nu[j] = ga * kj * kj;
        g_k[j] = T(2) * kj * (ga * nu_c[j] + grad_k2[c * dims + j]);
      } else {      // a = kc o nu
        g_nu[j] = ga * kj;
        g_k[j] = ga * nu_c[j];
      }
    }
    // The offset's gradient is added by the distributions layer.
    nivmf_offset_backward(exact, static_cast<int>(dims), nu_c, kc_c, grad_bias[c], g_nu, g_k);
    const T* k = kappas.row(c);
    T dot = T(0);
    for (Index j = 0; j < dims; ++j) {
      if (grad_nu_anchor != nullptr) g_nu[j] += grad_nu_anchor[c * dims + j];
      // Clamped (k <= k_min, as on the CPU): max(k, k_min) passes no gradient.
      if (!(k[j] > min_kappa)) g_k[j] = T(0);
      dot += g_nu[j] * nu_c[j];
    }
    // nu = v / |v|: project onto the tangent space and scale.
    const T inv_norm = T(1) / vnorm[c];
    for (Index j = 0; j < dims; ++j) g_nu[j] = (g_nu[j] - dot * nu_c[j]) * inv_norm;
  }
};

/// Backward per image i of mu_i = e_i / |e_i|: dL/de_i from dL/dmu_i.
/// Adds to grad_embeddings when accumulate is set (after the sampler path).
template <class T>
struct EmbeddingBackward {
  const T* mu;       // B x D
  const T* enorm;    // B
  const T* grad_mu;  // B x D or null (no ProxyAnchor term)
  Index dims;
  bool accumulate;
  MatrixView<T> grad_embeddings;
  PDML_HOST_DEVICE void operator()(Index i) const {
    T* out = grad_embeddings.row(i);
    if (grad_mu == nullptr || !(enorm[i] > T(0))) {
      if (!accumulate) {
        for (Index j = 0; j < dims; ++j) out[j] = T(0);
      }
      return;
    }
    T dot = T(0);
    for (Index j = 0; j < dims; ++j) dot += grad_mu[i * dims + j] * mu[i * dims + j];
    const T inv = T(1) / enorm[i];
    for (Index j = 0; j < dims; ++j) {
      const T g = (grad_mu[i * dims + j] - dot * mu[i * dims + j]) * inv;
      out[j] = accumulate ? out[j] + g : g;
    }
  }
};

/// dL/dT = -(1/T) sum_{i,c} sum_s dL/dZ * Z, finished on the device.
template <class T>
struct FinishTemperature {
  T inv_temperature;
  T* grad_temperature;
  PDML_HOST_DEVICE void operator()(T sum) const { *grad_temperature = -sum * inv_temperature; }
};

template <class T>
struct ArrayValues {
  const T* x;
  PDML_HOST_DEVICE T operator()(Index k) const { return x[k]; }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
