// SPDX-License-Identifier: MIT
#pragma once
// Controlled corruptions and ambiguities of single images (row-major,
// rows x cols, intensities nominally in [0, 1], white garment on black), for
// asking whether the embedding norm responds to uncertainty that is not
// brightness:
//   blur       Gaussian blur of standard deviation sigma pixels (zero padding:
//              the background is black); the kernel sums to 1, so the mean
//              intensity is kept whenever the garment stays sigma * 3 pixels
//              inside the frame.
//   occlusion  a centred square whose side is a fraction of the image side,
//              filled with the image's own mean intensity.
//   noise      additive Gaussian noise of standard deviation s with its own
//              sample mean subtracted, so the mean intensity is kept exactly
//              (no clipping: the network sees standardized values anyway).
//   mix        two-class mixing x = (1 - l) a + l b, l in (0, 0.5].

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "mlp.hpp"

namespace fmnist {

enum class CorruptionKind { blur, occlusion, noise, mix };

inline const char* corruption_name(CorruptionKind kind) {
  switch (kind) {
    case CorruptionKind::blur: return "blur";
    case CorruptionKind::occlusion: return "occlusion";
    case CorruptionKind::noise: return "noise";
    case CorruptionKind::mix: return "mix";
  }
  return "?";
}

/// What the strength of a corruption means, for tables and plots.
inline const char* strength_meaning(CorruptionKind kind) {
  switch (kind) {
    case CorruptionKind::blur: return "sigma (pixels)";
    case CorruptionKind::occlusion: return "patch side / image side";
    case CorruptionKind::noise: return "noise sd";
    case CorruptionKind::mix: return "mixing weight l";
  }
  return "?";
}

/// The graded strengths of each corruption, weakest first.
inline std::vector<double> corruption_strengths(CorruptionKind kind) {
  switch (kind) {
    case CorruptionKind::blur: return {0.5, 1.0, 1.5, 2.0, 3.0};
    case CorruptionKind::occlusion: return {0.2, 0.3, 0.4, 0.5, 0.6};
    case CorruptionKind::noise: return {0.05, 0.1, 0.2, 0.3, 0.4};
    case CorruptionKind::mix: return {0.1, 0.2, 0.3, 0.4, 0.5};
  }
  return {};
}

inline const std::vector<CorruptionKind>& all_corruptions() {
  static const std::vector<CorruptionKind> kinds{CorruptionKind::blur, CorruptionKind::occlusion,
                                                 CorruptionKind::noise, CorruptionKind::mix};
  return kinds;
}

inline double mean_intensity(const float* image, int pixels) {
  double sum = 0.0;
  for (int p = 0; p < pixels; ++p) sum += image[p];
  return sum / static_cast<double>(pixels);
}

/// The normalized 1-D Gaussian kernel of standard deviation sigma (> 0),
/// radius ceil(3 sigma): 2 radius + 1 weights summing to 1.
inline std::vector<double> gaussian_kernel(double sigma) {
  if (!(sigma > 0.0) || !std::isfinite(sigma)) {
    throw std::invalid_argument("gaussian_kernel: sigma must be positive and finite");
  }
  const int radius = static_cast<int>(std::ceil(3.0 * sigma));
  std::vector<double> kernel(static_cast<std::size_t>(2 * radius + 1));
  double sum = 0.0;
  for (int i = -radius; i <= radius; ++i) {
    const double w = std::exp(-0.5 * (i * i) / (sigma * sigma));
    kernel[static_cast<std::size_t>(i + radius)] = w;
    sum += w;
  }
  for (double& w : kernel) w /= sum;
  return kernel;
}

/// Separable Gaussian blur with zero padding: out may not alias image.
inline void gaussian_blur(const float* image, int rows, int cols, double sigma, float* out) {
  const std::vector<double> kernel = gaussian_kernel(sigma);
  const int radius = static_cast<int>(kernel.size() / 2);
  std::vector<double> horizontal(static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols));
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      double sum = 0.0;
      for (int k = -radius; k <= radius; ++k) {
        const int xx = x + k;
        if (xx >= 0 && xx < cols) sum += kernel[static_cast<std::size_t>(k + radius)] * image[y * cols + xx];
      }
      horizontal[static_cast<std::size_t>(y * cols + x)] = sum;
    }
  }
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      double sum = 0.0;
      for (int k = -radius; k <= radius; ++k) {
        const int yy = y + k;
        if (yy >= 0 && yy < rows) {
          sum += kernel[static_cast<std::size_t>(k + radius)] * horizontal[static_cast<std::size_t>(yy * cols + x)];
        }
      }
      out[y * cols + x] = static_cast<float>(sum);
    }
  }
}

/// The side in pixels of the occluding square for a fraction of the image side.
inline int occlusion_side(int rows, int cols, double fraction) {
  return std::max(1, static_cast<int>(std::lround(fraction * static_cast<double>(std::min(rows, cols)))));
}

/// A centred square of `side` pixels filled with the image's mean intensity.
inline void occlude(const float* image, int rows, int cols, int side, float* out) {
  const float fill = static_cast<float>(mean_intensity(image, rows * cols));
  std::copy(image, image + rows * cols, out);
  const int y0 = (rows - side) / 2, x0 = (cols - side) / 2;
  for (int y = std::max(0, y0); y < std::min(rows, y0 + side); ++y) {
    for (int x = std::max(0, x0); x < std::min(cols, x0 + side); ++x) out[y * cols + x] = fill;
  }
}

/// image + sd (n - mean(n)) with n standard normal from `normal`: the mean is kept.
inline void add_mean_preserving_noise(const float* image, int pixels, double sd,
                                      NormalStream& normal, float* out) {
  std::vector<double> noise(static_cast<std::size_t>(pixels));
  double mean = 0.0;
  for (double& n : noise) {
    n = normal();
    mean += n;
  }
  mean /= static_cast<double>(pixels);
  for (int p = 0; p < pixels; ++p) {
    out[p] = static_cast<float>(image[p] + sd * (noise[static_cast<std::size_t>(p)] - mean));
  }
}

/// (1 - l) a + l b.
inline void mix_images(const float* a, const float* b, int pixels, double l, float* out) {
  for (int p = 0; p < pixels; ++p) {
    out[p] = static_cast<float>((1.0 - l) * static_cast<double>(a[p]) + l * static_cast<double>(b[p]));
  }
}

/// For each image, the index of a partner of a different class (seeded, uniform
/// over the other classes' images). Needs at least two classes.
inline std::vector<Eigen::Index> mixing_partners(const std::vector<std::int64_t>& labels,
                                                 std::uint64_t seed) {
  const auto n = static_cast<Eigen::Index>(labels.size());
  std::vector<Eigen::Index> partners(labels.size());
  NormalStream random(seed);
  for (Eigen::Index i = 0; i < n; ++i) {
    Eigen::Index j = i;
    for (int tries = 0; labels[static_cast<std::size_t>(j)] == labels[static_cast<std::size_t>(i)]; ++tries) {
      if (tries > 10000) throw std::invalid_argument("mixing_partners: needs two classes");
      j = static_cast<Eigen::Index>(random.engine()() % static_cast<std::uint64_t>(n));
    }
    partners[static_cast<std::size_t>(i)] = j;
  }
  return partners;
}

/// The rows of `images` (N x rows*cols, raw intensities) corrupted by `kind` at
/// `strength`; `partners` (for mix) from mixing_partners; noise seeded per image
/// by (seed, row).
inline Matrix corrupt(const Matrix& images, int rows, int cols, CorruptionKind kind,
                      double strength, const std::vector<Eigen::Index>& partners,
                      std::uint64_t seed) {
  const int pixels = rows * cols;
  if (images.cols() != pixels) throw std::invalid_argument("corrupt: images must have rows * cols columns");
  if (kind == CorruptionKind::mix &&
      (static_cast<Eigen::Index>(partners.size()) != images.rows() || !(strength > 0.0 && strength <= 0.5))) {
    throw std::invalid_argument("corrupt: mix needs one partner per image and 0 < l <= 0.5");
  }
  Matrix out(images.rows(), images.cols());
  for (Eigen::Index i = 0; i < images.rows(); ++i) {
    const float* in = images.row(i).data();
    float* o = out.row(i).data();
    switch (kind) {
      case CorruptionKind::blur: gaussian_blur(in, rows, cols, strength, o); break;
      case CorruptionKind::occlusion: occlude(in, rows, cols, occlusion_side(rows, cols, strength), o); break;
      case CorruptionKind::noise: {
        NormalStream normal(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(i) + 1);
        add_mean_preserving_noise(in, pixels, strength, normal, o);
        break;
      }
      case CorruptionKind::mix:
        mix_images(in, images.row(partners[static_cast<std::size_t>(i)]).data(), pixels, strength, o);
        break;
    }
  }
  return out;
}

/// Pearson correlation of two equally long series (NaN when one is constant).
inline double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size() || a.size() < 2) throw std::invalid_argument("pearson: needs two equal series");
  const double n = static_cast<double>(a.size());
  double ma = 0, mb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  return sab / std::sqrt(saa * sbb);
}

}  // namespace fmnist
