// SPDX-License-Identifier: MIT
// libFuzzer harness: ElNivmfLoss forward and backward (float and double, with and
// without the ProxyAnchor guidance, both scorings, forward and forward_with_samples).
// Contract (docs/reliability.md):
//  - forward either returns a finite loss, or throws std::invalid_argument naming one
//    of its arguments, and then the Saved of the previous (successful) forward still
//    gives bit-identical gradients;
//  - backward either fills finite gradients, or throws std::invalid_argument naming
//    one of its arguments with no output written.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/core/eigen_map.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>

#include "fuzz_common.hpp"

namespace {

using pdml_fuzz::Matrix;
using pdml_fuzz::require;

template <class T>
struct Gradients {
  Matrix<T> e, v, k;
  T t = T(42);
  Gradients(int b, int c, int d)
      : e(Matrix<T>::Constant(b, d, T(42))), v(Matrix<T>::Constant(c, d, T(42))),
        k(Matrix<T>::Constant(c, d, T(42))) {}
  bool untouched() const {
    return (e.array() == T(42)).all() && (v.array() == T(42)).all() && (k.array() == T(42)).all() &&
           t == T(42);
  }
  bool finite() const {
    return pdml_fuzz::all_finite(e) && pdml_fuzz::all_finite(v) && pdml_fuzz::all_finite(k) &&
           std::isfinite(t);
  }
};

/// backward under the contract; returns whether it succeeded.
template <class T>
bool checked_backward(const pdml::ElNivmfLoss<T>& loss, const typename pdml::ElNivmfLoss<T>::Saved& saved,
                      T grad_loss, Gradients<T>& g) {
  try {
    loss.backward(saved, grad_loss, pdml::view_of(g.e), pdml::view_of(g.v), pdml::view_of(g.k), &g.t);
  } catch (const std::invalid_argument& e) {
    pdml_fuzz::require_names_one_of(e, {"saved", "grad_loss", "grad_embeddings", "grad_proxies",
                                        "grad_kappas", "grad_samples"});
    require(g.untouched(), "backward wrote before throwing");
    return false;
  }
  require(g.finite(), "backward: a gradient is not finite");
  return true;
}

template <class T>
void fuzz_one(pdml_fuzz::Input& in) {
  using Loss = pdml::ElNivmfLoss<T>;
  typename Loss::Options options;
  options.n_samples = in.integer(1, 3);
  options.guidance_weight = in.flag() ? T(in.integer(1, 4)) / T(4) : T(0);
  options.scoring = in.flag() ? pdml::NivmfScoring::exact_density : pdml::NivmfScoring::paper_rule;
  options.recompute_in_backward = in.flag();
  if (in.flag()) options.min_kappa = std::abs(in.value<T>());
  std::unique_ptr<Loss> loss_holder;
  try {
    loss_holder.reset(new Loss(options));
  } catch (const std::invalid_argument& e) {
    pdml_fuzz::require_names_one_of(e, {"options.min_kappa"});
    return;
  }
  const Loss& loss = *loss_holder;
  const int b = in.integer(1, 4), c = in.integer(1, 4), d = in.integer(2, 6);
  const int s = options.n_samples;
  std::vector<std::int64_t> labels(static_cast<std::size_t>(b));
  for (auto& label : labels) label = in.integer(0, c - 1);

  // A first, ordinary forward whose Saved must survive the fuzzed one.
  Matrix<T> e0(b, d), v0(c, d), k0(c, d);
  for (int i = 0; i < b; ++i) for (int j = 0; j < d; ++j) e0(i, j) = T(std::sin(1.0 + i + 3 * j)) * T(4);
  for (int i = 0; i < c; ++i) for (int j = 0; j < d; ++j) v0(i, j) = T(std::cos(2.0 + 5 * i + j));
  k0.setConstant(T(3));
  typename Loss::Saved saved;
  T first;
  try {
    first = loss.forward(pdml::view_of(static_cast<const Matrix<T>&>(e0)), labels.data(),
                         pdml::view_of(static_cast<const Matrix<T>&>(v0)),
                         pdml::view_of(static_cast<const Matrix<T>&>(k0)), T(0.5),
                         pdml::RngKey{1, 0}, saved);
  } catch (const std::invalid_argument& error) {
    // Only a fuzzed min_kappa (clamping every concentration up) can make this one fail.
    pdml_fuzz::require_names_one_of(error, {"temperature", "kappas"});
    return;
  }
  require(std::isfinite(first), "ordinary forward not finite");
  Gradients<T> reference(b, c, d);
  require(checked_backward(loss, saved, T(1), reference), "ordinary backward failed");

  // The fuzzed forward.
  const Matrix<T> e = in.matrix<T>(b, d);
  const Matrix<T> v = in.matrix<T>(c, d);
  Matrix<T> k = in.matrix<T>(c, d);
  if (in.flag()) k = k.cwiseAbs();
  const T temperature = in.flag() ? std::abs(in.value<T>()) : in.value<T>();
  const bool with_samples = in.flag();
  T value;
  Matrix<T> samples;
  try {
    if (with_samples) {
      samples = in.matrix<T>(s * b, d);
      value = loss.forward_with_samples(pdml::view_of(samples), pdml::view_of(e), labels.data(),
                                        pdml::view_of(v), pdml::view_of(static_cast<const Matrix<T>&>(k)),
                                        temperature, saved);
    } else {
      value = loss.forward(pdml::view_of(e), labels.data(), pdml::view_of(v),
                           pdml::view_of(static_cast<const Matrix<T>&>(k)), temperature,
                           pdml::RngKey{in.byte(), 1}, saved);
    }
  } catch (const std::invalid_argument& error) {
    pdml_fuzz::require_names_one_of(error, {"embeddings", "labels", "proxies", "kappas", "temperature",
                                            "samples"});
    Gradients<T> again(b, c, d);
    require(checked_backward(loss, saved, T(1), again), "backward after a rejected forward failed");
    require(pdml_fuzz::same_bits(again.e, reference.e) && pdml_fuzz::same_bits(again.v, reference.v) &&
                pdml_fuzz::same_bits(again.k, reference.k),
            "a rejected forward changed the previous Saved");
    return;
  }
  auto where = [&]() {
    return std::string(sizeof(T) == 4 ? "float" : "double") + " S " + std::to_string(s) +
           " guidance " + pdml_fuzz::hex(options.guidance_weight) +
           (options.scoring == pdml::NivmfScoring::exact_density ? " exact" : " paper") +
           " min_kappa " + pdml_fuzz::hex(options.min_kappa) + " with_samples " +
           std::to_string(with_samples) + " T " + pdml_fuzz::hex(temperature) + " e " +
           pdml_fuzz::hex(e) + " v " + pdml_fuzz::hex(v) + " k " + pdml_fuzz::hex(k) +
           " samples " + pdml_fuzz::hex(samples) + " labels " + std::to_string(labels[0]) +
           " loss " + pdml_fuzz::hex(value);
  };
  if (!std::isfinite(value)) pdml_fuzz::fail("forward: loss not finite", where());
  Gradients<T> g(b, c, d);
  checked_backward(loss, saved, in.flag() ? in.value<T>() : in.ordinary<T>(), g);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  pdml_fuzz::Input in(data, size);
  if (in.flag()) {
    fuzz_one<float>(in);
  } else {
    fuzz_one<double>(in);
  }
  return 0;
}
