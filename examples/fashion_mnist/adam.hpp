// SPDX-License-Identifier: MIT
#pragma once
// Adam (Kingma and Ba, 2015) over parameter groups, each with its own
// learning-rate multiplier, as the paper trains proxies, concentrations and
// the temperature at rates different from the network's.

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace fmnist {

struct AdamOptions {
  float learning_rate = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-8f;
};

class Adam {
 public:
  struct Group {
    std::string name;
    float* values;
    const float* gradients;
    Eigen::Index size;
    float lr_multiplier;
    float weight_decay;  ///< decoupled (AdamW-style) decay, 0 for none
    std::vector<float> first_moment;
    std::vector<float> second_moment;
  };

  explicit Adam(AdamOptions options) : options_(options) {}

  /// Registers `size` values updated from `gradients`, both owned by the caller
  /// and alive for as long as the optimizer steps.
  void add_group(std::string name, float* values, const float* gradients, Eigen::Index size,
                 float lr_multiplier, float weight_decay = 0.0f) {
    if (size < 0 || (size > 0 && (values == nullptr || gradients == nullptr))) {
      throw std::invalid_argument("Adam::add_group: bad buffer for group '" + name + "'");
    }
    groups_.push_back(Group{std::move(name), values, gradients, size, lr_multiplier,
                            weight_decay, std::vector<float>(static_cast<std::size_t>(size), 0.0f),
                            std::vector<float>(static_cast<std::size_t>(size), 0.0f)});
  }

  /// One update of every group with the bias-corrected moments.
  void step() {
    ++steps_;
    const double correction1 = 1.0 - std::pow(double(options_.beta1), double(steps_));
    const double correction2 = 1.0 - std::pow(double(options_.beta2), double(steps_));
    for (Group& g : groups_) {
      const float lr = options_.learning_rate * g.lr_multiplier;
      const float step_size = static_cast<float>(lr / correction1);
      const float root_correction2 = static_cast<float>(std::sqrt(correction2));
      for (Eigen::Index i = 0; i < g.size; ++i) {
        const float grad = g.gradients[i];
        float& m = g.first_moment[static_cast<std::size_t>(i)];
        float& v = g.second_moment[static_cast<std::size_t>(i)];
        m = options_.beta1 * m + (1.0f - options_.beta1) * grad;
        v = options_.beta2 * v + (1.0f - options_.beta2) * grad * grad;
        if (g.weight_decay != 0.0f) g.values[i] -= lr * g.weight_decay * g.values[i];
        g.values[i] -= step_size * m / (std::sqrt(v) / root_correction2 + options_.epsilon);
      }
    }
  }

  /// Scales every learning rate (for a schedule); 1 restores the base rate.
  void set_learning_rate(float lr) { options_.learning_rate = lr; }
  float learning_rate() const { return options_.learning_rate; }
  long steps() const { return steps_; }
  const std::vector<Group>& groups() const { return groups_; }

 private:
  AdamOptions options_;
  std::vector<Group> groups_;
  long steps_ = 0;
};

}  // namespace fmnist
