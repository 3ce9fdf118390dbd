// SPDX-License-Identifier: MIT
#pragma once
// The corruption and ambiguity suite: does the embedding norm |e| (the vMF
// concentration) fall when an image is made uncertain, and does it do better
// than two controls that know nothing of the training -- the mean pixel
// intensity and the norm of the untrained network?
//
// On a fixed subset of an evaluation split, for each corruption of
// corruptions.hpp at each strength:
//   - mean |e| of the corrupted images relative to the clean ones;
//   - AUROC of "clean (positive) vs corrupted", ranked by each score
//     (higher = more certain): |e|, mean intensity, untrained |e|;
//   - Recall@1 of the corrupted images as queries against the clean split
//     (the source image excluded; a 50/50 mixture counts either label).
// Then a rejection curve per corruption: the pool of clean + all corrupted
// queries, Recall@1 of the most certain fraction q (pdml::rejection_curve)
// for each score, with the pool's overall Recall@1 as the random floor.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include <pdml/evaluation/uncertainty.hpp>

#include "corruptions.hpp"
#include "mlp.hpp"

namespace fmnist {

/// The scores compared, each oriented so that higher = more certain.
enum class CertaintyScore { norm, intensity, untrained_norm };
inline const char* score_name(CertaintyScore s) {
  switch (s) {
    case CertaintyScore::norm: return "norm";
    case CertaintyScore::intensity: return "intensity";
    case CertaintyScore::untrained_norm: return "untrained_norm";
  }
  return "?";
}
inline const std::vector<CertaintyScore>& all_scores() {
  static const std::vector<CertaintyScore> scores{CertaintyScore::norm, CertaintyScore::intensity,
                                                  CertaintyScore::untrained_norm};
  return scores;
}

/// The kept fractions of the rejection curves: 10%, 20%, ..., 100%.
inline std::vector<double> rejection_fractions() {
  std::vector<double> q;
  for (int t = 1; t <= 10; ++t) q.push_back(t / 10.0);
  return q;
}

struct SuiteRow {
  CorruptionKind kind;
  double strength;
  double relative_norm;            ///< mean |e| corrupted / mean |e| clean
  double relative_untrained_norm;  ///< the same for the untrained network
  double relative_intensity;       ///< mean intensity corrupted / clean
  double auroc[3];                 ///< per CertaintyScore: clean vs corrupted
  double recall_at_1;              ///< corrupted queries against the clean split
};

struct RejectionCurve {
  std::string pool;                        ///< "clean" or a corruption name
  std::vector<double> recall[3];           ///< per CertaintyScore, one per fraction
  double random_floor;                     ///< the pool's overall Recall@1
};

struct SuiteResult {
  std::string split;
  long images = 0;
  double clean_recall_at_1 = 0;
  double norm_intensity_correlation = 0;            ///< Pearson, clean images
  double untrained_norm_intensity_correlation = 0;  ///< Pearson, clean images
  std::vector<SuiteRow> rows;
  std::vector<RejectionCurve> curves;
};

/// Nearest clean neighbour (cosine) of each query, skipping gallery row
/// exclude[i]; 1 when its label is label_a[i] or label_b[i].
inline std::vector<std::uint8_t> nearest_is_correct(const Matrix& queries, const Matrix& gallery,
                                                    const std::vector<std::int64_t>& gallery_labels,
                                                    const std::vector<Eigen::Index>& exclude,
                                                    const std::vector<std::int64_t>& label_a,
                                                    const std::vector<std::int64_t>& label_b) {
  auto normalized = [](const Matrix& m) {
    Matrix out = m;
    for (Eigen::Index r = 0; r < out.rows(); ++r) {
      const float norm = out.row(r).norm();
      if (norm > 0) out.row(r) /= norm;
    }
    return out;
  };
  const Matrix q = normalized(queries), g = normalized(gallery);
  std::vector<std::uint8_t> correct(static_cast<std::size_t>(q.rows()));
  const Eigen::Index chunk = 1024;
  Matrix sims;
  for (Eigen::Index r0 = 0; r0 < q.rows(); r0 += chunk) {
    const Eigen::Index n = std::min(chunk, q.rows() - r0);
    sims.noalias() = q.middleRows(r0, n) * g.transpose();
    for (Eigen::Index i = 0; i < n; ++i) {
      const auto qi = static_cast<std::size_t>(r0 + i);
      Eigen::Index best = -1;
      float best_sim = -2.0f;
      for (Eigen::Index j = 0; j < g.rows(); ++j) {
        if (j == exclude[qi]) continue;
        if (sims(i, j) > best_sim) {
          best_sim = sims(i, j);
          best = j;
        }
      }
      const std::int64_t found = gallery_labels[static_cast<std::size_t>(best)];
      correct[qi] = static_cast<std::uint8_t>(found == label_a[qi] || found == label_b[qi]);
    }
  }
  return correct;
}

/// Runs the suite on up to `max_images` images of a split (raw intensities
/// `images`, `labels`); `embed` and `embed_untrained` map raw images to
/// embeddings (standardizing inside). The subset and the mixing partners
/// depend only on `subset_seed`, so every criterion and seed sees the same images.
inline SuiteResult run_corruption_suite(
    const std::string& split, const Matrix& images, const std::vector<std::int64_t>& labels,
    int image_rows, int image_cols, Eigen::Index max_images, std::uint64_t subset_seed,
    const std::function<Matrix(const Matrix&)>& embed,
    const std::function<Matrix(const Matrix&)>& embed_untrained) {
  SuiteResult result;
  result.split = split;
  const Eigen::Index total = images.rows();
  // Fixed subset: a seeded Fisher-Yates permutation, first max_images rows.
  std::vector<Eigen::Index> order(static_cast<std::size_t>(total));
  std::iota(order.begin(), order.end(), Eigen::Index(0));
  NormalStream random(subset_seed);
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[static_cast<std::size_t>(random.engine()() % i)]);
  }
  const Eigen::Index n = std::min(max_images, total);
  order.resize(static_cast<std::size_t>(n));
  Matrix subset(n, images.cols());
  std::vector<std::int64_t> subset_labels(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    subset.row(i) = images.row(order[static_cast<std::size_t>(i)]);
    subset_labels[static_cast<std::size_t>(i)] = labels[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
  }
  result.images = static_cast<long>(n);
  const std::vector<Eigen::Index> partners = mixing_partners(subset_labels, subset_seed + 1);
  const int pixels = image_rows * image_cols;

  const Matrix gallery = embed(images);
  struct Scored {
    std::vector<double> score[3];
    std::vector<std::uint8_t> correct;
  };
  auto score_images = [&](const Matrix& x, const std::vector<std::int64_t>& label_b) {
    Scored s;
    const Matrix e = embed(x), u = embed_untrained(x);
    for (auto& v : s.score) v.resize(static_cast<std::size_t>(x.rows()));
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      const auto k = static_cast<std::size_t>(i);
      s.score[0][k] = e.row(i).norm();
      s.score[1][k] = mean_intensity(x.row(i).data(), pixels);
      s.score[2][k] = u.row(i).norm();
    }
    s.correct = nearest_is_correct(e, gallery, labels, order, subset_labels, label_b);
    return s;
  };
  auto mean = [](const std::vector<double>& v) {
    return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  };
  auto share = [](const std::vector<std::uint8_t>& v) {
    return static_cast<double>(std::count(v.begin(), v.end(), std::uint8_t(1))) / static_cast<double>(v.size());
  };
  const Scored clean = score_images(subset, subset_labels);
  result.clean_recall_at_1 = share(clean.correct);
  result.norm_intensity_correlation = pearson(clean.score[0], clean.score[1]);
  result.untrained_norm_intensity_correlation = pearson(clean.score[2], clean.score[1]);
  const std::vector<double> fractions = rejection_fractions();
  auto add_curve = [&](const std::string& pool, const std::vector<const Scored*>& parts) {
    RejectionCurve curve;
    curve.pool = pool;
    std::vector<std::uint8_t> correct;
    for (const Scored* p : parts) correct.insert(correct.end(), p->correct.begin(), p->correct.end());
    for (int s = 0; s < 3; ++s) {
      std::vector<double> scores;
      for (const Scored* p : parts) scores.insert(scores.end(), p->score[s].begin(), p->score[s].end());
      curve.recall[s] = pdml::rejection_curve(scores.data(), correct.data(),
                                              static_cast<pdml::Index>(scores.size()), fractions);
    }
    curve.random_floor = share(correct);
    result.curves.push_back(std::move(curve));
  };
  add_curve("clean", {&clean});

  std::vector<std::int64_t> partner_labels(static_cast<std::size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    partner_labels[static_cast<std::size_t>(i)] = subset_labels[static_cast<std::size_t>(partners[static_cast<std::size_t>(i)])];
  }
  for (CorruptionKind kind : all_corruptions()) {
    std::vector<Scored> corrupted;
    for (double strength : corruption_strengths(kind)) {
      const Matrix x = corrupt(subset, image_rows, image_cols, kind, strength, partners, subset_seed + 2);
      // A 50/50 mixture is as much the partner's class as its own.
      const bool either = kind == CorruptionKind::mix && strength >= 0.5;
      corrupted.push_back(score_images(x, either ? partner_labels : subset_labels));
      const Scored& c = corrupted.back();
      SuiteRow row{kind, strength, mean(c.score[0]) / mean(clean.score[0]),
                   mean(c.score[2]) / mean(clean.score[2]), mean(c.score[1]) / mean(clean.score[1]),
                   {0, 0, 0}, share(c.correct)};
      std::vector<std::uint8_t> is_clean(static_cast<std::size_t>(2 * n), 0);
      std::fill(is_clean.begin(), is_clean.begin() + n, std::uint8_t(1));
      for (int s = 0; s < 3; ++s) {
        std::vector<double> both = clean.score[s];
        both.insert(both.end(), c.score[s].begin(), c.score[s].end());
        row.auroc[s] = pdml::auroc(both.data(), is_clean.data(), static_cast<pdml::Index>(both.size()));
      }
      result.rows.push_back(row);
    }
    std::vector<const Scored*> parts{&clean};
    for (const Scored& c : corrupted) parts.push_back(&c);
    add_curve(corruption_name(kind), parts);
  }
  return result;
}

}  // namespace fmnist
