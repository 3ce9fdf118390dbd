// SPDX-License-Identifier: MIT
// The generic (Thrust) similarities, Proxy-NCA and ProxyAnchor of pdml::cuda,
// run on Thrust's CPP system with the host GEMM, against the CPU API on
// identical inputs (relative 1e-12 in double, 1e-5 in float); and the batched
// math functors against direct calls (bitwise: same code, same compiler).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/math/detail/math_functors.hpp>
#include <pdml/cuda/losses/detail/proxy_loss_algorithms.hpp>
#include <pdml/cuda/similarities/detail/similarity_algorithms.hpp>
#include <pdml/losses/proxy_anchor.hpp>
#include <pdml/losses/proxy_nca.hpp>
#include <pdml/similarities/cosine.hpp>
#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/l2.hpp>

#include "host_test_support.hpp"

namespace {

using pdml::ConstMatrixView;
using pdml::Index;
using pdml::MatrixView;
using pdml_test::random_vector;
using pdml_test::relative_difference;
using pdml_test::tolerance;
namespace pc = pdml::cuda;

template <class T>
void cpu_isotropic(pc::IsotropicSimilarity kind, ConstMatrixView<T> e, ConstMatrixView<T> v,
                   ConstMatrixView<T> k, T min_kappa, T temperature, MatrixView<T> sim,
                   ConstMatrixView<T> g, MatrixView<T> ge, MatrixView<T> gv, MatrixView<T> gk,
                   T* gt) {
  switch (kind) {
    case pc::IsotropicSimilarity::kl: {
      pdml::KlSimilaritySaved<T> saved;
      pdml::kl_similarity_forward(e, v, k, min_kappa, temperature, sim, saved);
      pdml::kl_similarity_backward(saved, g, ge, gv, gk, gt);
      return;
    }
    case pc::IsotropicSimilarity::l2: {
      pdml::L2SimilaritySaved<T> saved;
      pdml::l2_similarity_forward(e, v, k, min_kappa, temperature, sim, saved);
      pdml::l2_similarity_backward(saved, g, ge, gv, gk, gt);
      return;
    }
    default: {
      pdml::PpkSimilaritySaved<T> saved;
      const auto order = kind == pc::IsotropicSimilarity::bhattacharyya
                             ? pdml::PpkOrder::bhattacharyya
                             : pdml::PpkOrder::expected_likelihood;
      pdml::ppk_similarity_forward(e, v, k, min_kappa, temperature, order, sim, saved);
      pdml::ppk_similarity_backward(saved, g, ge, gv, gk, gt);
    }
  }
}

template <class T>
void check_isotropic(pc::IsotropicSimilarity kind) {
  const Index b = 7, c = 5, d = 6;
  const auto e = random_vector<T>(b * d, 1u, 3.0);
  const auto v = random_vector<T>(c * d, 2u, 1.0);
  auto k = random_vector<T>(c, 3u, 2.0, 4.0);
  k[1] = T(0.01);  // clamped at min_kappa = 0.1
  const auto g = random_vector<T>(b * c, 4u, 1.0);
  const T temperature = T(0.3), min_kappa = T(0.1);
  const ConstMatrixView<T> ev{e.data(), b, d, d}, vv{v.data(), c, d, d}, kv{k.data(), c, 1, 1},
      gvw{g.data(), b, c, c};
  std::vector<T> sim(b * c), ge(b * d), gv(c * d), gk(c);
  T gt = 0;
  cpu_isotropic<T>(kind, ev, vv, kv, min_kappa, temperature, MatrixView<T>{sim.data(), b, c, c},
                   gvw, MatrixView<T>{ge.data(), b, d, d}, MatrixView<T>{gv.data(), c, d, d},
                   MatrixView<T>{gk.data(), c, 1, 1}, &gt);

  pc::detail::IsotropicState<T> st;
  const auto workspace = pdml_test::carve_host_workspace(
      [&](pc::WorkspaceCarver& carver) { pc::detail::carve_isotropic(carver, st, b, c, d); });
  st.pair = pc::detail::IsotropicPair<T>{kind, static_cast<int>(d)};
  st.embeddings = ev;
  st.kappas = kv;
  st.min_kappa = min_kappa;
  st.temperature = temperature;
  const pc::detail::HostBackend be;
  std::vector<T> hsim(b * c), hge(b * d), hgv(c * d), hgk(c);
  T hgt = 0;
  REQUIRE(pc::detail::isotropic_forward(be, st, vv, MatrixView<T>{hsim.data(), b, c, c}) ==
          cudaSuccess);
  REQUIRE(pc::detail::isotropic_backward(be, st, c, gvw, MatrixView<T>{hge.data(), b, d, d},
                                         MatrixView<T>{hgv.data(), c, d, d},
                                         MatrixView<T>{hgk.data(), c, 1, 1}, &hgt) == cudaSuccess);
  INFO("kind " << static_cast<int>(kind));
  CHECK(relative_difference(hsim, sim) <= tolerance<T>());
  CHECK(relative_difference(hge, ge) <= tolerance<T>());
  CHECK(relative_difference(hgv, gv) <= tolerance<T>());
  CHECK(relative_difference(hgk, gk) <= tolerance<T>());
  CHECK(hgk[1] == T(0));
  CHECK(std::abs(double(hgt) - double(gt)) <= tolerance<T>() * std::max(1.0, std::abs(double(gt))));
}

template <class T>
void check_cosine_and_losses() {
  const Index b = 9, c = 6, d = 5;
  auto e = random_vector<T>(b * d, 5u, 1.0);
  for (Index j = 0; j < d; ++j) e[2 * d + j] = T(0);  // a zero embedding: mu = 0
  const auto v = random_vector<T>(c * d, 6u, 1.0);
  const auto g = random_vector<T>(b * c, 7u, 1.0);
  std::vector<std::int64_t> labels(b);
  for (Index i = 0; i < b; ++i) labels[i] = (i * 2) % (c - 1);  // class c-1 absent
  const T temperature = T(0.2);
  const ConstMatrixView<T> ev{e.data(), b, d, d}, vv{v.data(), c, d, d}, gvw{g.data(), b, c, c};

  // Cosine.
  std::vector<T> sim(b * c), ge(b * d), gv(c * d);
  T gt = 0;
  pdml::CosineSimilaritySaved<T> cpu_saved;
  pdml::cosine_similarity_forward(ev, vv, temperature, MatrixView<T>{sim.data(), b, c, c}, cpu_saved);
  pdml::cosine_similarity_backward(cpu_saved, gvw, MatrixView<T>{ge.data(), b, d, d},
                                   MatrixView<T>{gv.data(), c, d, d}, &gt);
  pc::detail::CosineState<T> st;
  st.rows = b;
  st.classes = c;
  st.dims = d;
  st.temperature = temperature;
  const auto workspace = pdml_test::carve_host_workspace(
      [&](pc::WorkspaceCarver& carver) { pc::detail::carve_cosine(carver, st); });
  const pc::detail::HostBackend be;
  std::vector<T> hsim(b * c), hge(b * d), hgv(c * d);
  T hgt = 0;
  REQUIRE(pc::detail::cosine_forward(be, st, ev, vv, MatrixView<T>{hsim.data(), b, c, c}) ==
          cudaSuccess);
  REQUIRE(pc::detail::cosine_backward(be, st, gvw, MatrixView<T>{hge.data(), b, d, d},
                                      MatrixView<T>{hgv.data(), c, d, d}, &hgt) == cudaSuccess);
  CHECK(relative_difference(hsim, sim) <= tolerance<T>());
  CHECK(relative_difference(hge, ge) <= tolerance<T>());
  CHECK(relative_difference(hgv, gv) <= tolerance<T>());
  CHECK(std::abs(double(hgt) - double(gt)) <= tolerance<T>() * std::max(1.0, std::abs(double(gt))));

  // Proxy-NCA on the similarities.
  const ConstMatrixView<T> simv{sim.data(), b, c, c};
  pdml::ProxyNcaSaved<T> nca_saved;
  const T nca = pdml::proxy_nca_forward(simv, labels.data(), nca_saved);
  std::vector<T> gnca(b * c), hgnca(b * c);
  pdml::proxy_nca_backward(nca_saved, T(0.7), MatrixView<T>{gnca.data(), b, c, c});
  pc::detail::ProxyNcaState<T> nst;
  nst.rows = b;
  nst.classes = c;
  nst.labels = labels.data();
  const auto nca_workspace = pdml_test::carve_host_workspace(
      [&](pc::WorkspaceCarver& carver) { pc::detail::carve_proxy_nca(carver, nst); });
  T hnca = 0;
  REQUIRE(pc::detail::proxy_nca_forward(be, nst, simv, &hnca) == cudaSuccess);
  REQUIRE(pc::detail::proxy_nca_backward(be, nst, T(0.7), MatrixView<T>{hgnca.data(), b, c, c}) ==
          cudaSuccess);
  CHECK(std::abs(double(hnca) - double(nca)) <= tolerance<T>() * std::max(1.0, std::abs(double(nca))));
  CHECK(relative_difference(hgnca, gnca) <= tolerance<T>());

  // ProxyAnchor on the cosines (temperature 1).
  std::vector<T> cosines(b * c);
  for (Index k = 0; k < b * c; ++k) cosines[k] = sim[k] * temperature;
  const ConstMatrixView<T> cv{cosines.data(), b, c, c};
  pdml::ProxyAnchorSaved<T> pa_saved;
  const T pa = pdml::proxy_anchor_forward(cv, labels.data(), T(32), T(0.1), pa_saved);
  std::vector<T> gpa(b * c), hgpa(b * c);
  pdml::proxy_anchor_backward(pa_saved, T(1.3), MatrixView<T>{gpa.data(), b, c, c});
  pc::detail::ProxyAnchorState<T> pst;
  pst.rows = b;
  pst.classes = c;
  pst.labels = labels.data();
  const auto anchor_workspace = pdml_test::carve_host_workspace(
      [&](pc::WorkspaceCarver& carver) { pc::detail::carve_proxy_anchor(carver, pst); });
  T hpa = 0;
  REQUIRE(pc::detail::proxy_anchor_forward(be, pst, cv, &hpa) == cudaSuccess);
  REQUIRE(pc::detail::proxy_anchor_backward(be, pst, T(1.3), MatrixView<T>{hgpa.data(), b, c, c}) ==
          cudaSuccess);
  CHECK(std::abs(double(hpa) - double(pa)) <= tolerance<T>() * std::max(1.0, std::abs(double(pa))));
  CHECK(relative_difference(hgpa, gpa) <= tolerance<T>());
}

}  // namespace

TEST_CASE("generic isotropic similarities equal the CPU ones", "[thrust-host]") {
  for (auto kind : {pc::IsotropicSimilarity::expected_likelihood,
                    pc::IsotropicSimilarity::bhattacharyya, pc::IsotropicSimilarity::kl,
                    pc::IsotropicSimilarity::l2}) {
    check_isotropic<double>(kind);
    check_isotropic<float>(kind);
  }
}

TEST_CASE("generic cosine, Proxy-NCA and ProxyAnchor equal the CPU ones", "[thrust-host]") {
  check_cosine_and_losses<double>();
  check_cosine_and_losses<float>();
}

TEST_CASE("batched math functors on the host backend equal direct calls", "[thrust-host]") {
  const pc::detail::HostBackend be;
  std::vector<double> kappa = {0.0, 1e-9, 0.5, 3.0, 40.0, 1e3, 1e6, -1.0};
  std::vector<double> out(kappa.size());
  for (int p : {2, 3, 128, 4096}) {
    for (auto f : {pc::VmfFunction::log_normalizer, pc::VmfFunction::mean_resultant,
                   pc::VmfFunction::mean_resultant_derivative,
                   pc::VmfFunction::mean_resultant_complement}) {
      REQUIRE(pc::detail::for_each_index(
                  be, static_cast<Index>(kappa.size()),
                  pc::detail::VmfFunctionApply<double>{f, p, kappa.data(), out.data()}) ==
              cudaSuccess);
      for (std::size_t i = 0; i < kappa.size(); ++i) {
        const double want = pc::detail::evaluate(f, p, kappa[i]);
        CHECK(((std::isnan(want) && std::isnan(out[i])) || want == out[i]));
      }
    }
  }
  std::vector<float> v = {0.f, 0.5f, 10.f, 4095.f}, x = {1e-6f, 2.f, 50.f, 1e7f}, fout(4);
  for (auto f : {pc::BesselFunction::log_i, pc::BesselFunction::ratio,
                 pc::BesselFunction::ratio_complement}) {
    REQUIRE(pc::detail::for_each_index(
                be, 4, pc::detail::BesselFunctionApply<float>{f, v.data(), x.data(), fout.data()}) ==
            cudaSuccess);
    for (std::size_t i = 0; i < 4; ++i) CHECK(fout[i] == pc::detail::evaluate(f, v[i], x[i]));
  }
}
