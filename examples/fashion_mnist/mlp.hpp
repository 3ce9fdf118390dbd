// SPDX-License-Identifier: MIT
#pragma once
// A small multilayer perceptron embedding network, forward and backward
// written out with Eigen: x -> [Linear -> ReLU] x (L - 1) -> Linear -> e.
// The output is the vMF natural parameter e (direction e/|e|, concentration |e|),
// so the last layer has no nonlinearity.

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include <Eigen/Core>

namespace fmnist {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<float, 1, Eigen::Dynamic>;

/// Portable normal deviates (std::normal_distribution is implementation-defined):
/// Box-Muller on 53-bit uniforms of std::mt19937_64, whose sequence is standard.
class NormalStream {
 public:
  explicit NormalStream(std::uint64_t seed) : engine_(seed) {}
  double operator()() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0.0;
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 6.283185307179586 * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }
  double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  std::mt19937_64& engine() { return engine_; }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

class Mlp {
 public:
  /// What backward needs: the input of every layer (post-activation of the previous one).
  struct Saved {
    std::vector<Matrix> inputs;
  };
  struct Gradients {
    std::vector<Matrix> weights;
    std::vector<RowVector> biases;
  };

  /// sizes = {input, hidden..., output}; He-normal weights (scaled for ReLU),
  /// zero biases; the last layer's weights are scaled by output_scale so the
  /// initial embedding norms can be chosen.
  Mlp(const std::vector<Eigen::Index>& sizes, std::uint64_t seed, float output_scale = 1.0f) {
    if (sizes.size() < 2) throw std::invalid_argument("Mlp: needs at least input and output sizes");
    NormalStream normal(seed);
    for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
      if (sizes[l] < 1 || sizes[l + 1] < 1) throw std::invalid_argument("Mlp: sizes must be >= 1");
      Matrix w(sizes[l], sizes[l + 1]);
      const double scale = std::sqrt(2.0 / static_cast<double>(sizes[l])) *
                           (l + 2 == sizes.size() ? static_cast<double>(output_scale) : 1.0);
      for (Eigen::Index i = 0; i < w.size(); ++i) w.data()[i] = static_cast<float>(scale * normal());
      weights_.push_back(std::move(w));
      biases_.push_back(RowVector::Zero(sizes[l + 1]));
    }
  }

  std::size_t layers() const { return weights_.size(); }
  std::vector<Matrix>& weights() { return weights_; }
  std::vector<RowVector>& biases() { return biases_; }
  const std::vector<Matrix>& weights() const { return weights_; }
  Eigen::Index input_size() const { return weights_.front().rows(); }
  Eigen::Index output_size() const { return weights_.back().cols(); }

  /// out = f(x); saved receives the layer inputs (pass nullptr for inference).
  void forward(const Matrix& x, Matrix& out, Saved* saved) const {
    Matrix current = x;
    if (saved) saved->inputs.resize(weights_.size());
    for (std::size_t l = 0; l < weights_.size(); ++l) {
      Matrix next(current.rows(), weights_[l].cols());
      next.noalias() = current * weights_[l];
      next.rowwise() += biases_[l];
      if (l + 1 < weights_.size()) next = next.cwiseMax(0.0f);
      if (saved) saved->inputs[l] = std::move(current);
      current = std::move(next);
    }
    out = std::move(current);
  }

  /// Gradients of the parameters and (optionally) of the input, given dL/d(out).
  void backward(const Saved& saved, const Matrix& grad_out, Gradients& grads,
                Matrix* grad_input = nullptr) const {
    grads.weights.resize(weights_.size());
    grads.biases.resize(weights_.size());
    Matrix grad = grad_out;
    for (std::size_t l = weights_.size(); l-- > 0;) {
      const Matrix& input = saved.inputs[l];
      grads.weights[l].noalias() = input.transpose() * grad;
      grads.biases[l] = grad.colwise().sum();
      if (l == 0 && grad_input == nullptr) break;
      Matrix grad_in(grad.rows(), weights_[l].rows());
      grad_in.noalias() = grad * weights_[l].transpose();
      // The input of layer l > 0 is a ReLU output: its gradient passes where it is positive.
      if (l > 0) grad_in = (input.array() > 0.0f).select(grad_in, 0.0f);
      grad = std::move(grad_in);
    }
    if (grad_input) *grad_input = std::move(grad);
  }

 private:
  std::vector<Matrix> weights_;
  std::vector<RowVector> biases_;
};

}  // namespace fmnist
