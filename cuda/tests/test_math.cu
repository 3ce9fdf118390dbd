// SPDX-License-Identifier: MIT
// The math layer evaluated in kernels (through pdml::cuda::vmf_function and
// bessel_function) against the same functions evaluated on the host:
// <= 2 ulp in double; in float |device - host| <= 4 eps_f max(1, |host|)
// (the float accuracy bound of the math layer). Invalid input gives NaN on
// both sides.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <pdml/cuda/math/functions.hpp>

namespace {

template <class T>
struct DeviceArray {
  T* data = nullptr;
  explicit DeviceArray(std::size_t n) { REQUIRE(cudaMalloc(&data, n * sizeof(T) + 1) == cudaSuccess); }
  ~DeviceArray() { cudaFree(data); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
};

template <class T>
std::vector<T> to_host(const T* device, std::size_t n) {
  std::vector<T> host(n);
  REQUIRE(cudaMemcpy(host.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return host;
}

template <class T>
T* to_device(DeviceArray<T>& array, const std::vector<T>& host) {
  REQUIRE(cudaMemcpy(array.data, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) ==
          cudaSuccess);
  return array.data;
}

/// Distance in units in the last place (representations as ordered integers).
std::int64_t ulp_distance(double a, double b) {
  if (a == b) return 0;
  std::int64_t ia, ib;
  std::memcpy(&ia, &a, sizeof a);
  std::memcpy(&ib, &b, sizeof b);
  if (ia < 0) ia = std::numeric_limits<std::int64_t>::min() - ia;
  if (ib < 0) ib = std::numeric_limits<std::int64_t>::min() - ib;
  return ia > ib ? ia - ib : ib - ia;
}

struct Agreement {
  double worst = 0;  // ulp (double) or eps-scaled error (float)
  std::size_t mismatched_nan = 0;
};

/// scale_of_arguments: v + x for log I_v(x), kappa + p/2 for log C_p; where
/// |value| < 0.1 of it the value is a small difference of large terms and the
/// math layer's absolute bound 4 eps (1 + |value| + scale) applies instead of
/// the relative one (see issue 2, section 5).
template <class T>
void accumulate(Agreement& agreement, T device, T host, double scale_of_arguments = -1) {
  if (std::isnan(host) || std::isnan(device)) {
    if (std::isnan(host) != std::isnan(device)) ++agreement.mismatched_nan;
    return;
  }
  if (std::isinf(host) || std::isinf(device)) {
    if (host != device) ++agreement.mismatched_nan;
    return;
  }
  double error;
  const double eps = std::numeric_limits<T>::epsilon();
  const double magnitude = std::abs(static_cast<double>(host));
  if (scale_of_arguments >= 0 && magnitude < 0.1 * scale_of_arguments) {
    // Absolute bound, expressed in the same units as the relative one.
    const double diff = std::abs(static_cast<double>(device) - static_cast<double>(host));
    error = diff / (eps * (1 + magnitude + scale_of_arguments)) *
            (std::is_same<T, double>::value ? 2.0 / 4.0 : 1.0);
  } else if (std::is_same<T, double>::value) {
    error = static_cast<double>(ulp_distance(static_cast<double>(device), static_cast<double>(host)));
  } else {
    const double scale = std::max(1.0, std::abs(static_cast<double>(host)));
    error = std::abs(static_cast<double>(device) - static_cast<double>(host)) / scale /
            std::numeric_limits<float>::epsilon();
  }
  agreement.worst = std::max(agreement.worst, error);
}

template <class T>
std::vector<T> x_grid() {
  std::vector<T> xs;
  for (int e = -12; e <= 7; ++e) {
    for (double m : {1.0, 1.7, 3.1, 5.5}) xs.push_back(static_cast<T>(m * std::pow(10.0, e)));
  }
  xs.push_back(T(0));
  return xs;
}

template <class T>
void check_bessel(pdml::cuda::BesselFunction function, double bound) {
  std::vector<T> vs, xs;
  std::vector<double> orders = {0, 0.5, 1, 1.5, 2, 2.5, 3, 7.5, 15, 31, 63, 255, 1023, 2047, 4095};
  for (double v : orders) {
    for (T x : x_grid<T>()) {
      vs.push_back(static_cast<T>(v));
      xs.push_back(x);
    }
  }
  std::mt19937_64 gen(20260101u);
  std::uniform_real_distribution<double> log_x(-12.0, 7.0), order(0.0, 4095.0);
  for (int k = 0; k < 4000; ++k) {
    vs.push_back(static_cast<T>(k % 2 == 0 ? order(gen) : std::floor(order(gen)) * 0.5));
    xs.push_back(static_cast<T>(std::pow(10.0, log_x(gen))));
  }
  // Invalid input: NaN on both sides.
  vs.push_back(T(-1));
  xs.push_back(T(1));
  vs.push_back(T(1));
  xs.push_back(T(-1));
  vs.push_back(std::numeric_limits<T>::quiet_NaN());
  xs.push_back(T(1));
  const std::size_t n = vs.size();
  DeviceArray<T> dv(n), dx(n), dout(n);
  REQUIRE(pdml::cuda::bessel_function(function, to_device(dv, vs), to_device(dx, xs), dout.data,
                                      static_cast<pdml::Index>(n)) == cudaSuccess);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  const auto device = to_host(dout.data, n);
  Agreement agreement;
  for (std::size_t k = 0; k < n; ++k) {
    const bool log_value = function == pdml::cuda::BesselFunction::log_i;
    accumulate(agreement, device[k], pdml::cuda::detail::evaluate(function, vs[k], xs[k]),
               log_value ? static_cast<double>(vs[k]) + static_cast<double>(xs[k]) : -1.0);
  }
  INFO("function " << static_cast<int>(function) << " worst " << agreement.worst);
  CHECK(agreement.mismatched_nan == 0);
  CHECK(agreement.worst <= bound);
}

template <class T>
void check_vmf(pdml::cuda::VmfFunction function, double bound) {
  std::vector<int> ps = {2, 3, 4, 5, 8, 16, 64, 128, 512, 1024, 4096, 8192};
  std::vector<T> kappas = x_grid<T>();
  kappas.push_back(T(-1));  // invalid: NaN
  kappas.push_back(std::numeric_limits<T>::quiet_NaN());
  Agreement agreement;
  const std::size_t n = kappas.size();
  DeviceArray<T> dk(n), dout(n);
  to_device(dk, kappas);
  for (int p : ps) {
    REQUIRE(pdml::cuda::vmf_function(function, p, dk.data, dout.data,
                                     static_cast<pdml::Index>(n)) == cudaSuccess);
    const auto device = to_host(dout.data, n);
    for (std::size_t k = 0; k < n; ++k) {
      const bool log_value = function == pdml::cuda::VmfFunction::log_normalizer;
      accumulate(agreement, device[k], pdml::cuda::detail::evaluate(function, p, kappas[k]),
                 log_value ? static_cast<double>(kappas[k]) + 0.5 * p : -1.0);
    }
  }
  INFO("function " << static_cast<int>(function) << " worst " << agreement.worst);
  CHECK(agreement.mismatched_nan == 0);
  CHECK(agreement.worst <= bound);
}

}  // namespace

TEST_CASE("log I_v, I_{v+1}/I_v and its complement: device equals host", "[cuda][math]") {
  using pdml::cuda::BesselFunction;
  for (auto f : {BesselFunction::log_i, BesselFunction::ratio, BesselFunction::ratio_complement}) {
    check_bessel<double>(f, 2.0);  // ulp
    check_bessel<float>(f, 4.0);   // float eps, scaled by max(1, |value|)
  }
}

TEST_CASE("vMF log-normalizer and mean resultant: device equals host", "[cuda][math]") {
  using pdml::cuda::VmfFunction;
  for (auto f : {VmfFunction::log_normalizer, VmfFunction::mean_resultant,
                 VmfFunction::mean_resultant_derivative, VmfFunction::mean_resultant_complement}) {
    check_vmf<double>(f, 2.0);
    check_vmf<float>(f, 4.0);
  }
}

TEST_CASE("vmf_function rejects bad host arguments before launching", "[cuda][math]") {
  CHECK_THROWS_AS(pdml::cuda::vmf_log_normalizer<double>(8, nullptr, nullptr, 3),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::vmf_log_normalizer<double>(8, nullptr, nullptr, -1),
                  std::invalid_argument);
  CHECK(pdml::cuda::vmf_log_normalizer<double>(8, nullptr, nullptr, 0) == cudaSuccess);
}
