// SPDX-License-Identifier: MIT
#pragma once
// The EL-nivMF criterion (losses/el_nivmf_loss.hpp) with the classes sharded across R
// processes (model parallelism over proxies, as partial-FC trainers do). Rank r holds a
// contiguous class range [first, end) of C classes: its proxies, concentrations and their
// gradients, plus the whole batch's embeddings and labels (the caller all-gathers them).
// The loss and every gradient equal the single-process criterion's up to rounding:
//   - Proxy-NCA is a logsumexp over classes: each rank reduces its classes to a per-row
//     logsumexp, and two all-reduces (max, then sum of rescaled exponentials) give the
//     global one; the positive similarity comes from the rank that owns the label.
//   - ProxyAnchor is a sum of per-class terms with global weights 1/|P+| and 1/C, which
//     every rank knows (labels and C are global); the local sums are all-reduced.
//   - Samples of image i are the same on every rank (same RngKey), so nothing else travels
//     in the forward; in the backward the embedding and temperature gradients are sums over
//     shards (one all-reduce of B D + 1 numbers).
// Memory per rank does not grow with C: the local classes are processed in blocks of
// Options::block_classes, and the backward recomputes each block's similarities (one more
// (S B) x D x block product) instead of keeping B x C matrices between the passes.
// Algorithm, communication volume and measurements: docs/scale.md.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Core>

#include "pdml/core/eigen_map.hpp"
#include "pdml/core/gradient_mode.hpp"
#include "pdml/core/labels.hpp"
#include "pdml/core/matrix_view.hpp"
#include "pdml/distributions/vmf_sample.hpp"
#include "pdml/losses/class_shard.hpp"
#include "pdml/losses/communicator.hpp"
#include "pdml/losses/el_nivmf_loss.hpp"
#include "pdml/losses/proxy_anchor.hpp"
#include "pdml/losses/proxy_nca.hpp"
#include "pdml/losses/reduction.hpp"
#include "pdml/random/philox.hpp"
#include "pdml/similarities/cosine.hpp"
#include "pdml/similarities/detail/batched.hpp"
#include "pdml/similarities/el_nivmf.hpp"

namespace pdml {

/// The sharded EL-nivMF criterion. Every rank constructs it with the same options and calls
/// forward and backward collectively (same batch, labels, temperature, key and grad_loss).
/// A const object is safe to share between threads; each concurrent call needs its own
/// Saved and communicator.
template <class T>
class ShardedElNivmfLoss {
 public:
  struct Options {
    /// The criterion's options, with the single-process meaning (recompute_in_backward is
    /// ignored: the blocks are always recomputed in the backward).
    typename ElNivmfLoss<T>::Options criterion;
    /// Local classes per block: bounds the per-rank working memory at about
    /// (2 S B + 6 B + 6 D) x block_classes numbers with the paper's scoring rule
    /// (4 S B more with the exact density), whatever C is.
    Index block_classes = 2048;
  };

  /// Scratch of one block shape. Full blocks and the (smaller) last block each keep their own,
  /// so that a reused Saved keeps every shape and allocates nothing after the first step.
  struct BlockScratch {
    ElNivmfSimilaritySaved<T> similarity;
    CosineSimilaritySaved<T> cosine;
    RowMajorMatrix<T> pairs;         ///< B x n: similarities, then dL/dsim
    RowMajorMatrix<T> cosines;       ///< B x n (guided)
    RowMajorMatrix<T> anchor_grads;  ///< B x n, dL_pa/dcos (guided)
    RowMajorMatrix<T> proxy_terms;   ///< n x D (guided)
    detail::RowVector<T> class_terms;  ///< n (guided)
  };

  /// Everything the backward needs besides the proxies and concentrations (which the caller
  /// passes again, unchanged); sizes grow with B, D, S and block_classes, never with C.
  struct Saved {
    Index batch = 0;
    Index dim = 0;
    ClassShard shard;
    T temperature = T(1);
    RowMajorMatrix<T> samples;         ///< (S B) x D, the same on every rank
    VmfSampleSaved<T> sampler;
    RowMajorMatrix<T> embeddings;      ///< B x D copy (guided: cosines recomputed per block)
    std::vector<std::int64_t> labels;  ///< B, global class indices
    detail::RowVector<T> row_lse;      ///< B: logsumexp of sim(i, .) over all C classes
    bool guided = false;
    T anchor_positive_weight = 0;      ///< 1 / |P+|
    T anchor_negative_weight = 0;      ///< 1 / C
    T nca_loss = 0;
    T anchor_loss = 0;
    // Scratch (sized by the forward, reused by the backward).
    mutable BlockScratch full_block;
    mutable BlockScratch last_block;
    mutable std::vector<std::int64_t> sorted_labels;  ///< B
    mutable detail::RowVector<T> local_lse;           ///< B
    mutable detail::RowVector<T> max_buffer;          ///< B, all-reduced (max)
    mutable detail::RowVector<T> sum_buffer;          ///< 2 B + 1, all-reduced (sum)
    mutable detail::RowVector<T> grad_buffer;         ///< B D + 1, all-reduced (sum)
    mutable RowMajorMatrix<T> grad_samples;           ///< (S B) x D, summed over blocks
    mutable RowMajorMatrix<T> grad_samples_block;     ///< (S B) x D
    mutable RowMajorMatrix<T> grad_directions;        ///< B x D, summed over blocks (guided)
    mutable RowMajorMatrix<T> grad_directions_block;  ///< B x D (guided)
  };

  explicit ShardedElNivmfLoss(Options options) : options_(options), criterion_(options.criterion) {
    const char* fn = "pdml::ShardedElNivmfLoss::ShardedElNivmfLoss";
    if (options.block_classes < 1) detail::throw_invalid(fn, "options.block_classes", "must be >= 1");
    // The sharded reduction implements the paper's criterion (mean over the batch, every row
    // kept, T itself, gradients overwritten); the other single-process options are refused
    // rather than silently ignored.
    if (options.criterion.reduction != Reduction::mean) {
      detail::throw_invalid(fn, "options.criterion.reduction", "must be Reduction::mean here");
    }
    if (options.criterion.ignore_label) {
      detail::throw_invalid(fn, "options.criterion.ignore_label", "is not supported here");
    }
    if (options.criterion.log_temperature) {
      detail::throw_invalid(fn, "options.criterion.log_temperature", "is not supported here");
    }
    if (options.criterion.gradients != GradientMode::overwrite) {
      detail::throw_invalid(fn, "options.criterion.gradients", "must be GradientMode::overwrite here");
    }
  }

  const Options& options() const { return options_; }

  /// Draws S samples per image from vMF(e_i) with rng (the same key on every rank) and
  /// returns the global loss L, identical on every rank. embeddings: B x D (whole batch);
  /// labels: B global classes in [0, shard.total); proxies, kappas: shard.size() x D, the rows
  /// of classes [shard.first, shard.end). Throws std::invalid_argument before writing
  /// anything (and before communicating: a rank that throws leaves the others waiting in
  /// the collective, so a trainer aborts the group on an exception).
  template <class Communicator>
  T forward(ConstMatrixView<T> embeddings, Labels labels,
            ConstMatrixView<T> proxies, ConstMatrixView<T> kappas, T temperature, RngKey rng,
            ClassShard shard, Communicator& communicator, Saved& saved) const {
    static_assert(is_communicator_v<Communicator, T>,
                  "Communicator needs all_reduce_max(T*, size_t) and all_reduce_sum(T*, size_t)");
    const char* fn = "pdml::ShardedElNivmfLoss::forward";
    validate_shard(fn, shard);
    detail::check_nonempty(fn, "embeddings", embeddings);
    if (embeddings.cols < 2) detail::throw_invalid(fn, "embeddings", "needs at least 2 columns");
    detail::check_input(fn, "embeddings", embeddings, embeddings.rows, embeddings.cols);
    detail::check_proxy_vectors(fn, "proxies", proxies, shard.size(), embeddings.cols);
    detail::check_input(fn, "kappas", kappas, shard.size(), embeddings.cols);
    detail::check_labels(fn, "labels", labels, embeddings.rows, shard.total);
    detail::check_scalar(fn, "temperature", temperature, true);

    const auto& o = criterion_.options();
    const Index b = embeddings.rows, d = embeddings.cols;
    saved.batch = b;
    saved.dim = d;
    saved.shard = shard;
    saved.temperature = temperature;
    saved.samples.resize(Index(o.n_samples) * b, d);
    vmf_sample(embeddings, o.n_samples, rng, detail::dense(saved.samples), &saved.sampler);
    saved.labels.resize(static_cast<std::size_t>(b));
    for (Index i = 0; i < b; ++i) saved.labels[static_cast<std::size_t>(i)] = labels[i];
    saved.guided = o.guidance_weight != T(0);
    saved.embeddings.resize(saved.guided ? b : 0, saved.guided ? d : 0);
    if (saved.guided) saved.embeddings = as_eigen(embeddings);
    saved.anchor_negative_weight = T(1) / static_cast<T>(shard.total);
    saved.anchor_positive_weight = T(1) / static_cast<T>(count_distinct_labels(saved));
    saved.row_lse.resize(b);
    saved.local_lse.resize(b);
    saved.max_buffer.resize(b);
    saved.sum_buffer.resize(2 * b + 1);
    saved.grad_buffer.resize(b * d + 1);
    saved.grad_samples.resize(Index(o.n_samples) * b, d);
    saved.grad_samples_block.resize(Index(o.n_samples) * b, d);
    saved.grad_directions.resize(saved.guided ? b : 0, saved.guided ? d : 0);
    saved.grad_directions_block.resize(saved.guided ? b : 0, saved.guided ? d : 0);

    // Per rank: each row's logsumexp over the local classes, the positive similarity of rows
    // whose label is local (0 elsewhere: the owner's value survives the sum), and the
    // ProxyAnchor terms of the local classes.
    auto local_lse = saved.local_lse.array();
    local_lse.setConstant(-std::numeric_limits<T>::infinity());
    auto positives = saved.sum_buffer.segment(b, b);
    positives.setZero();
    T anchor_local = 0;
    for_each_block(shard.size(), saved, [&](Index start, BlockScratch& block) {
      const Index n = block.pairs.cols();
      similarities_of_block(saved, proxies, kappas, temperature, start, block);
      detail::parallel_rows(b, n, [&](Index i) {
        const T* row = block.pairs.row(i).data();
        local_lse[i] = log_add_exp(local_lse[i], detail::logsumexp(row, n));
        const Index column = labels[i] - shard.first - start;
        if (column >= 0 && column < n) positives[i] = row[column];
      });
      if (saved.guided) {
        anchor_of_block(saved, proxies, start, block);
        for (Index c = 0; c < n; ++c) anchor_local += block.class_terms[c];
      }
    });

    // Global logsumexp: max over ranks, then the sum of exponentials rescaled to that max.
    saved.max_buffer = saved.local_lse;
    communicator.all_reduce_max(saved.max_buffer.data(), static_cast<std::size_t>(b));
    for (Index i = 0; i < b; ++i) {
      saved.sum_buffer[i] = std::exp(saved.local_lse[i] - saved.max_buffer[i]);
    }
    saved.sum_buffer[2 * b] = anchor_local;
    communicator.all_reduce_sum(saved.sum_buffer.data(), static_cast<std::size_t>(2 * b + 1));
    T nca_total = 0;
    for (Index i = 0; i < b; ++i) {
      saved.row_lse[i] = saved.max_buffer[i] + std::log(saved.sum_buffer[i]);
      nca_total += saved.row_lse[i] - saved.sum_buffer[b + i];
    }
    saved.nca_loss = nca_total / static_cast<T>(b);
    saved.anchor_loss = saved.guided ? saved.sum_buffer[2 * b] : T(0);
    return saved.nca_loss + o.guidance_weight * saved.anchor_loss;
  }

  /// Gradients of grad_loss * L (grad_loss the same on every rank). proxies and kappas must
  /// be the ones passed to forward, unchanged (the blocks are recomputed from them).
  /// Overwrites grad_proxies and grad_kappas (shard.size() x D: this rank's classes only),
  /// grad_embeddings (B x D) and *grad_temperature (unless null) with the gradients summed
  /// over all shards: every rank receives the same full embedding and temperature gradients,
  /// as a replicated parameter's update needs (a data-parallel trainer keeps its own rows of
  /// grad_embeddings).
  template <class Communicator>
  void backward(const Saved& saved, T grad_loss, ConstMatrixView<T> proxies,
                ConstMatrixView<T> kappas, MatrixView<T> grad_embeddings,
                MatrixView<T> grad_proxies, MatrixView<T> grad_kappas, T* grad_temperature,
                Communicator& communicator) const {
    static_assert(is_communicator_v<Communicator, T>,
                  "Communicator needs all_reduce_max(T*, size_t) and all_reduce_sum(T*, size_t)");
    const char* fn = "pdml::ShardedElNivmfLoss::backward";
    if (saved.batch == 0) detail::throw_invalid(fn, "saved", "holds no forward pass");
    if (saved.sampler.n_samples != options_.criterion.n_samples) {
      detail::throw_invalid(fn, "saved", "comes from a loss with another n_samples");
    }
    const Index b = saved.batch, d = saved.dim, n_local = saved.shard.size();
    detail::check_scalar(fn, "grad_loss", grad_loss, false);
    detail::check_shape(fn, "proxies", proxies, n_local, d);
    detail::check_shape(fn, "kappas", kappas, n_local, d);
    detail::check_output(fn, "grad_embeddings", grad_embeddings, b, d);
    detail::check_output(fn, "grad_proxies", grad_proxies, n_local, d);
    detail::check_output(fn, "grad_kappas", grad_kappas, n_local, d);

    const auto& o = criterion_.options();
    const T scale = grad_loss / static_cast<T>(b);
    const T anchor_scale = grad_loss * o.guidance_weight;
    saved.grad_samples.setZero();
    if (saved.guided) saved.grad_directions.setZero();
    T grad_t = 0;
    for_each_block(n_local, saved, [&](Index start, BlockScratch& block) {
      const Index n = block.pairs.cols();
      similarities_of_block(saved, proxies, kappas, saved.temperature, start, block);
      detail::proxy_nca_block_gradient_inplace(detail::dense(block.pairs), saved.row_lse.data(),
                                               saved.labels.data(), saved.shard.first + start,
                                               scale);
      MatrixView<T> g_proxies = rows_of(grad_proxies, start, n);
      T grad_t_block = 0;
      detail::el_nivmf_similarity_backward_unchecked(
          block.similarity, detail::dense_const(block.pairs),
          detail::dense(saved.grad_samples_block), g_proxies, rows_of(grad_kappas, start, n),
          &grad_t_block);
      saved.grad_samples += saved.grad_samples_block;
      grad_t += grad_t_block;
      if (saved.guided) {
        anchor_of_block(saved, proxies, start, block);
        block.anchor_grads *= anchor_scale;
        detail::cosine_similarity_backward_unchecked(
            block.cosine, detail::dense_const(block.anchor_grads),
            detail::dense(saved.grad_directions_block), detail::dense(block.proxy_terms),
            static_cast<T*>(nullptr));
        saved.grad_directions += saved.grad_directions_block;
        as_eigen(g_proxies) += block.proxy_terms;
      }
    });

    // The embedding gradient is linear in the sample gradients, so each rank pushes its own
    // through the sampler's backward and the B x D results (not the (S B) x D sample
    // gradients) are summed: S times less to send.
    MatrixView<T> local_grad{saved.grad_buffer.data(), b, d, d};
    vmf_sample_backward(saved.sampler, detail::dense_const(saved.grad_samples), local_grad);
    if (saved.guided) as_eigen(local_grad) += saved.grad_directions;
    saved.grad_buffer[b * d] = grad_t;
    communicator.all_reduce_sum(saved.grad_buffer.data(), static_cast<std::size_t>(b * d + 1));
    as_eigen(grad_embeddings) = as_eigen(ConstMatrixView<T>(local_grad));
    if (grad_temperature != nullptr) *grad_temperature = saved.grad_buffer[b * d];
  }

 private:
  static void validate_shard(const char* fn, const ClassShard& shard) {
    detail::check_class_shard(fn, "shard", shard);
  }

  static T log_add_exp(T a, T b) {
    const T top = std::max(a, b);
    if (top == -std::numeric_limits<T>::infinity()) return top;
    return top + std::log(std::exp(a - top) + std::exp(b - top));
  }

  // |P+|, the classes present in the batch, from the labels every rank holds.
  static Index count_distinct_labels(const Saved& saved) {
    auto& sorted = saved.sorted_labels;
    sorted.assign(saved.labels.begin(), saved.labels.end());
    std::sort(sorted.begin(), sorted.end());
    return static_cast<Index>(std::unique(sorted.begin(), sorted.end()) - sorted.begin());
  }

  static MatrixView<T> rows_of(MatrixView<T> m, Index start, Index n) {
    return MatrixView<T>{m.row(start), n, m.cols, m.stride};
  }
  static ConstMatrixView<T> rows_of(ConstMatrixView<T> m, Index start, Index n) {
    return ConstMatrixView<T>{m.row(start), n, m.cols, m.stride};
  }

  // Calls body(start, scratch) for the blocks [start, start + n) of the n_local local classes,
  // with the scratch's pair matrices sized B x n.
  template <class Body>
  void for_each_block(Index n_local, const Saved& saved, Body&& body) const {
    const Index block_size = std::min(options_.block_classes, n_local);
    for (Index start = 0; start < n_local; start += block_size) {
      const Index n = std::min(block_size, n_local - start);
      BlockScratch& block = n == block_size ? saved.full_block : saved.last_block;
      block.pairs.resize(saved.batch, n);
      body(start, block);
    }
  }

  // EL-nivMF similarities of the block's classes into block.pairs (the single-process
  // similarity on a block of proxies: the (S B) x n weights stay for the backward).
  void similarities_of_block(const Saved& saved, ConstMatrixView<T> proxies,
                             ConstMatrixView<T> kappas, T temperature, Index start,
                             BlockScratch& block) const {
    const auto& o = criterion_.options();
    const Index n = block.pairs.cols();
    detail::el_nivmf_similarity_forward_unchecked(
        detail::dense_const(saved.samples), Index(o.n_samples), rows_of(proxies, start, n),
        rows_of(kappas, start, n), o.min_kappa, temperature, o.scoring,
        detail::dense(block.pairs), block.similarity, false);
  }

  // Cosines of the block's classes, their ProxyAnchor terms (global weights) into
  // block.class_terms and dL_pa/dcos into block.anchor_grads.
  void anchor_of_block(const Saved& saved, ConstMatrixView<T> proxies, Index start,
                       BlockScratch& block) const {
    const auto& o = criterion_.options();
    const Index b = saved.batch, n = block.pairs.cols(), d = saved.dim;
    block.cosines.resize(b, n);
    block.anchor_grads.resize(b, n);
    block.proxy_terms.resize(n, d);
    block.class_terms.resize(n);
    detail::cosine_similarity_forward_unchecked(detail::dense_const(saved.embeddings),
                                                rows_of(proxies, start, n), T(1),
                                                detail::dense(block.cosines), block.cosine);
    const std::int64_t first = saved.shard.first + start;
    detail::parallel_rows(n, 2 * b, [&](Index c) {
      block.class_terms[c] = detail::proxy_anchor_class_term(
          detail::dense_const(block.cosines), saved.labels.data(), c, first + c,
          o.proxy_anchor_alpha, o.proxy_anchor_delta, saved.anchor_positive_weight,
          saved.anchor_negative_weight, detail::dense(block.anchor_grads));
    });
  }

  Options options_;
  ElNivmfLoss<T> criterion_;  // validates options.criterion (the same rules as single-process)
};

}  // namespace pdml
