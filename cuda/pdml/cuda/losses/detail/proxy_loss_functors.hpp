// SPDX-License-Identifier: MIT
#pragma once
// The fused steps of Proxy-NCA and ProxyAnchor over a B x C similarity matrix on the GPU
// (the losses behind losses/proxy_losses.hpp), each applied over an index range by
// detail::for_each_index. Formulas: include/pdml/losses/proxy_nca.hpp, proxy_anchor.hpp.

#include <cstdint>
#include <limits>
#include "pdml/config.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/cuda/distributions/detail/device_calls.hpp"
#include "pdml/cuda/math/detail/scalar_math.hpp"
#include "pdml/distributions/vmf.hpp"

namespace pdml {
namespace cuda {
namespace detail {

/// Per row i: logsumexp of the similarity row, softmax saved, row loss.
template <class T>
struct ProxyNcaRow {
  ConstMatrixView<T> similarities;
  const std::int64_t* labels;
  T* probabilities;  // B x C
  T* row_losses;     // B
  PDML_HOST_DEVICE void operator()(Index i) const {
    const Index c_count = similarities.cols;
    const T* row = similarities.row(i);
    T top = -pdml::detail::infinity_<T>();
    for (Index c = 0; c < c_count; ++c) top = max_of(top, row[c]);
    T sum = T(0);
    for (Index c = 0; c < c_count; ++c) sum += exp_(row[c] - top);
    const T lse = top + log_(sum);
    for (Index c = 0; c < c_count; ++c) probabilities[i * c_count + c] = exp_(row[c] - lse);
    const std::int64_t y = labels[i];
    row_losses[i] = (y >= 0 && y < c_count) ? lse - row[y] : quiet_nan<T>();
  }
};

/// *loss = mean of the row losses, summed in order (one thread).
template <class T>
struct MeanOfRows {
  const T* row_losses;
  Index rows;
  T* loss;
  PDML_HOST_DEVICE void operator()(Index) const {
    T total = T(0);
    for (Index i = 0; i < rows; ++i) total += row_losses[i];
    *loss = total / T(rows);
  }
};

/// grad = grad_loss (softmax - onehot(y)) / B, per pair.
template <class T>
struct ProxyNcaBackwardPair {
  const T* probabilities;
  const std::int64_t* labels;
  Index classes, rows;
  T grad_loss;
  MatrixView<T> grad_similarities;
  PDML_HOST_DEVICE void operator()(Index ic) const {
    const Index i = ic / classes;
    const Index c = ic - i * classes;
    const T scale = grad_loss / T(rows);
    grad_similarities(i, c) = scale * (probabilities[ic] - (labels[i] == c ? T(1) : T(0)));
  }
};

// -------------------------------------------------------------- ProxyAnchor

/// Per class c: the two log(1 + sum exp) terms of ProxyAnchor and dL/ds of
/// every pair in that column (for grad_loss = 1), as the CPU loss computes them.
template <class T>
struct ProxyAnchorColumn {
  ConstMatrixView<T> cosines;  // B x C
  const std::int64_t* labels;
  T alpha, delta;
  const T* n_present;   // 1: |P+|
  T* grad_cosines;      // B x C dense, dL/ds
  T* class_terms;       // C
  PDML_HOST_DEVICE void operator()(Index c) const {
    const Index b = cosines.rows, c_count = cosines.cols;
    T pos_top = T(0), neg_top = T(0);
    bool present = false;
    for (Index i = 0; i < b; ++i) {
      const T s = cosines(i, c);
      if (labels[i] == c) {
        pos_top = max_of(pos_top, -alpha * (s - delta));
        present = true;
      } else {
        neg_top = max_of(neg_top, alpha * (s + delta));
      }
    }
    T pos_sum = exp_(-pos_top), neg_sum = exp_(-neg_top);
    for (Index i = 0; i < b; ++i) {
      const T s = cosines(i, c);
      if (labels[i] == c) {
        pos_sum += exp_(-alpha * (s - delta) - pos_top);
      } else {
        neg_sum += exp_(alpha * (s + delta) - neg_top);
      }
    }
    const T pos_lse = pos_top + log_(pos_sum), neg_lse = neg_top + log_(neg_sum);
    const T pos_weight = T(1) / *n_present, neg_weight = T(1) / T(c_count);
    for (Index i = 0; i < b; ++i) {
      const T s = cosines(i, c);
      grad_cosines[i * c_count + c] =
          labels[i] == c ? -alpha * pos_weight * exp_(-alpha * (s - delta) - pos_lse)
                         : alpha * neg_weight * exp_(alpha * (s + delta) - neg_lse);
    }
    class_terms[c] = (present ? pos_weight * pos_lse : T(0)) + neg_weight * neg_lse;
  }
};

/// |P+|: the number of distinct labels (one thread; marks in `seen`, C entries).
template <class T>
struct CountPresent {
  const std::int64_t* labels;
  Index rows, classes;
  unsigned char* seen;
  T* n_present;
  PDML_HOST_DEVICE void operator()(Index) const {
    for (Index c = 0; c < classes; ++c) seen[c] = 0;
    Index count = 0;
    for (Index i = 0; i < rows; ++i) {
      const std::int64_t y = labels[i];
      if (y >= 0 && y < classes && seen[y] == 0) {
        seen[y] = 1;
        ++count;
      }
    }
    *n_present = count > 0 ? T(count) : quiet_nan<T>();
  }
};

/// *loss = sum_c class_terms[c] in order (one thread).
template <class T>
struct SumOfClasses {
  const T* class_terms;
  Index classes;
  T* loss;
  PDML_HOST_DEVICE void operator()(Index) const {
    T total = T(0);
    for (Index c = 0; c < classes; ++c) total += class_terms[c];
    *loss = total;
  }
};

/// grad_cosines = grad_loss * saved dL/ds.
template <class T>
struct ScaleInto {
  const T* source;  // rows x cols dense
  Index cols;
  T scale;
  MatrixView<T> out;
  PDML_HOST_DEVICE void operator()(Index k) const {
    const Index i = k / cols;
    out(i, k - i * cols) = scale * source[k];
  }
};

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
