// SPDX-License-Identifier: MIT
#pragma once
// Reading IDX files (the MNIST container format), gzipped or plain, and the
// Fashion-MNIST splits built from them.
//
// IDX layout: bytes 0-1 zero, byte 2 the element type (0x08 = unsigned byte,
// the only type MNIST uses), byte 3 the number of dimensions n, then n
// big-endian uint32 sizes, then the elements in row-major order.

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <zlib.h>

#include <Eigen/Core>

namespace fmnist {

struct IdxArray {
  std::vector<std::uint32_t> dims;
  std::vector<std::uint8_t> data;
};

/// Reads an IDX file of unsigned bytes; gzip is detected and decompressed by
/// zlib, a plain file is read as is. Throws std::runtime_error naming the path.
inline IdxArray read_idx(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) throw std::runtime_error("cannot open '" + path + "'");
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{file};
  auto read_exact = [&](void* out, std::size_t bytes, const char* what) {
    std::size_t done = 0;
    auto* p = static_cast<unsigned char*>(out);
    while (done < bytes) {
      const std::size_t chunk = std::min<std::size_t>(bytes - done, 1u << 30);
      const int got = gzread(file, p + done, static_cast<unsigned>(chunk));
      if (got <= 0) {
        throw std::runtime_error("'" + path + "' is truncated or corrupt (while reading " +
                                 what + ")");
      }
      done += static_cast<std::size_t>(got);
    }
  };
  unsigned char header[4];
  read_exact(header, 4, "the header");
  if (header[0] != 0 || header[1] != 0) {
    throw std::runtime_error("'" + path + "' is not an IDX file (bad magic number)");
  }
  if (header[2] != 0x08) {
    throw std::runtime_error("'" + path + "' holds IDX element type " +
                             std::to_string(int(header[2])) + ", only unsigned bytes (8) are supported");
  }
  const int n_dims = header[3];
  if (n_dims < 1 || n_dims > 4) {
    throw std::runtime_error("'" + path + "' declares " + std::to_string(n_dims) +
                             " dimensions (1 to 4 expected)");
  }
  IdxArray array;
  std::uint64_t total = 1;
  for (int i = 0; i < n_dims; ++i) {
    unsigned char b[4];
    read_exact(b, 4, "the dimensions");
    const std::uint32_t size = (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) |
                               (std::uint32_t(b[2]) << 8) | std::uint32_t(b[3]);
    array.dims.push_back(size);
    total *= size;
    if (total > (std::uint64_t(1) << 34)) {
      throw std::runtime_error("'" + path + "' declares an implausibly large array");
    }
  }
  array.data.resize(static_cast<std::size_t>(total));
  if (total > 0) read_exact(array.data.data(), array.data.size(), "the elements");
  unsigned char extra;
  if (gzread(file, &extra, 1) > 0) {
    throw std::runtime_error("'" + path + "' has trailing bytes after its elements");
  }
  return array;
}

using ImageMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Images (N x rows*cols, pixel values / 255) and labels of one split.
struct Split {
  ImageMatrix images;
  std::vector<std::int64_t> labels;
  int image_rows = 0;
  int image_cols = 0;
};

/// Reads `<dir>/<prefix>-images-idx3-ubyte.gz` and `<dir>/<prefix>-labels-idx1-ubyte.gz`
/// (prefix "train" or "t10k"); the ".gz" suffix is optional on disk.
inline Split read_split(const std::string& images_path, const std::string& labels_path) {
  const IdxArray images = read_idx(images_path);
  const IdxArray labels = read_idx(labels_path);
  if (images.dims.size() != 3) {
    throw std::runtime_error("'" + images_path + "' is not a 3-dimensional image array");
  }
  if (labels.dims.size() != 1) {
    throw std::runtime_error("'" + labels_path + "' is not a 1-dimensional label array");
  }
  if (images.dims[0] != labels.dims[0]) {
    throw std::runtime_error("'" + images_path + "' holds " + std::to_string(images.dims[0]) +
                             " images but '" + labels_path + "' holds " +
                             std::to_string(labels.dims[0]) + " labels");
  }
  Split split;
  split.image_rows = static_cast<int>(images.dims[1]);
  split.image_cols = static_cast<int>(images.dims[2]);
  const Eigen::Index n = images.dims[0];
  const Eigen::Index pixels = Eigen::Index(images.dims[1]) * Eigen::Index(images.dims[2]);
  split.images.resize(n, pixels);
  for (Eigen::Index i = 0; i < n; ++i) {
    for (Eigen::Index p = 0; p < pixels; ++p) {
      split.images(i, p) = static_cast<float>(images.data[static_cast<std::size_t>(i * pixels + p)]) / 255.0f;
    }
  }
  split.labels.assign(labels.data.begin(), labels.data.end());
  return split;
}

/// The rows of `split` whose label lies in [first_class, last_class], labels kept.
inline Split select_classes(const Split& split, std::int64_t first_class, std::int64_t last_class,
                            Eigen::Index max_per_class = -1) {
  std::vector<Eigen::Index> rows;
  std::vector<Eigen::Index> taken(static_cast<std::size_t>(last_class - first_class + 1), 0);
  for (std::size_t i = 0; i < split.labels.size(); ++i) {
    const auto l = split.labels[i];
    if (l < first_class || l > last_class) continue;
    auto& count = taken[static_cast<std::size_t>(l - first_class)];
    if (max_per_class >= 0 && count >= max_per_class) continue;
    ++count;
    rows.push_back(static_cast<Eigen::Index>(i));
  }
  Split out;
  out.image_rows = split.image_rows;
  out.image_cols = split.image_cols;
  out.images.resize(static_cast<Eigen::Index>(rows.size()), split.images.cols());
  for (std::size_t r = 0; r < rows.size(); ++r) {
    out.images.row(static_cast<Eigen::Index>(r)) = split.images.row(rows[r]);
    out.labels.push_back(split.labels[static_cast<std::size_t>(rows[r])]);
  }
  return out;
}

}  // namespace fmnist
