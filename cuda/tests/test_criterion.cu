// SPDX-License-Identifier: MIT
// The CUDA samplers and criterion against the CPU API on identical inputs
// (the CPU side is in test_criterion_reference.cpp):
//  * vMF, nivMF and Power Spherical samples for the same key: equal up to the
//    last-bit differences of the math libraries (<= 1e-12 relative in double,
//    <= 1e-5 in float; exact equality is counted and reported), gradients too;
//  * the similarities (EL, B, KL, L2, cosine, nivMF-to-point with both
//    scoring rules) and the proxy losses vs the CPU ones;
//  * pdml::cuda::ElNivmfLoss vs pdml::ElNivmfLoss: loss and every gradient
//    within 1e-12 relative (double) / 1e-5 (float), both scoring rules, with
//    and without the ProxyAnchor term, caller-drawn and self-drawn samples;
//  * bitwise reproducibility of forward and backward, strided views, a
//    non-default stream, the workspace protocol and host-side validation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <cublas_v2.h>

#include <pdml/cuda/losses/el_nivmf_loss.hpp>
#include <pdml/cuda/distributions/sampling.hpp>
#include <pdml/cuda/losses/proxy_losses.hpp>
#include <pdml/cuda/similarities/similarities.hpp>

#include "cpu_reference.hpp"
#include "device_test_support.hpp"

namespace {

using pdml_test::count_equal;
using pdml_test::CublasHandle;
using pdml_test::CudaStream;
using pdml_test::DeviceBuffer;
using pdml_test::random_vector;
using pdml_test::relative_difference;
using pdml_test::StridedMatrix;
using pdml_test::tolerance;

// ------------------------------------------------------------------ samplers

template <class T>
void check_vmf_sampler(long p) {
  const std::vector<double> kappas = {0, 1e-6, 0.1, 1, 12, 100, 1e3, 1e5};
  const long n = static_cast<long>(kappas.size()) * 3;
  const int s = 3;
  std::vector<T> eta = random_vector<T>(static_cast<std::size_t>(n * p), 17u + unsigned(p));
  for (long i = 0; i < n; ++i) {
    double nn = 0;
    for (long j = 0; j < p; ++j) nn += double(eta[i * p + j]) * eta[i * p + j];
    const double kappa = kappas[static_cast<std::size_t>(i) % kappas.size()];
    for (long j = 0; j < p; ++j) {
      eta[i * p + j] = static_cast<T>(kappa * eta[i * p + j] / std::sqrt(nn));
    }
  }
  const std::vector<T> grad = random_vector<T>(static_cast<std::size_t>(n * s * p), 99u);
  std::vector<T> cpu_samples, cpu_grad;
  pdml_test::cpu_vmf_sample(eta, n, p, s, 2024u, 7u, grad, cpu_samples, cpu_grad);

  DeviceBuffer<T> d_eta(eta), d_samples(cpu_samples.size()), d_grad(grad),
      d_grad_eta(cpu_grad.size());
  std::size_t bytes = 0;
  pdml::cuda::VmfSampleSaved<T> saved;
  const pdml::ConstMatrixView<T> eta_view{d_eta.get(), n, p, p};
  const pdml::MatrixView<T> sample_view{d_samples.get(), n * s, p, p};
  REQUIRE(pdml::cuda::vmf_sample<T>(nullptr, bytes, eta_view, s, pdml::RngKey{2024u, 7u},
                                    sample_view, &saved) == cudaSuccess);
  REQUIRE(bytes > 0);
  CHECK_FALSE(saved.valid);
  DeviceBuffer<unsigned char> workspace(bytes);
  REQUIRE(pdml::cuda::vmf_sample<T>(workspace.get(), bytes, eta_view, s,
                                    pdml::RngKey{2024u, 7u}, sample_view, &saved) == cudaSuccess);
  REQUIRE(pdml::cuda::vmf_sample_backward<T>(saved, pdml::ConstMatrixView<T>{d_grad.get(), n * s, p, p},
                                             pdml::MatrixView<T>{d_grad_eta.get(), n, p, p}) ==
          cudaSuccess);
  const auto samples = d_samples.download();
  const auto grad_eta = d_grad_eta.download();
  const double sample_diff = relative_difference(samples, cpu_samples);
  const double grad_diff = relative_difference(grad_eta, cpu_grad);
  INFO("p " << p << ": samples rel diff " << sample_diff << " (" << count_equal(samples, cpu_samples)
            << " of " << samples.size() << " bitwise equal), grad rel diff " << grad_diff);
  CHECK(sample_diff <= tolerance<T>());
  CHECK(grad_diff <= 100 * tolerance<T>());  // dw/dkappa by quadrature: a few ulp x condition
}

template <class T>
void check_power_spherical_sampler(long p) {
  const std::vector<double> kappas = {0, 0.5, 5, 50, 500, 5e4};
  const long n = static_cast<long>(kappas.size()) * 2;
  const int s = 3;
  std::vector<T> directions = random_vector<T>(static_cast<std::size_t>(n * p), 5u + unsigned(p));
  std::vector<T> concentrations(static_cast<std::size_t>(n));
  for (long i = 0; i < n; ++i) {
    double nn = 0;
    for (long j = 0; j < p; ++j) nn += double(directions[i * p + j]) * directions[i * p + j];
    for (long j = 0; j < p; ++j) {
      directions[i * p + j] = static_cast<T>(directions[i * p + j] / std::sqrt(nn));
    }
    concentrations[static_cast<std::size_t>(i)] =
        static_cast<T>(kappas[static_cast<std::size_t>(i) % kappas.size()]);
  }
  const std::vector<T> grad = random_vector<T>(static_cast<std::size_t>(n * s * p), 3u);
  std::vector<T> cpu_samples, cpu_gd, cpu_gk;
  pdml_test::cpu_power_spherical_sample(directions, concentrations, n, p, s, 11u, 2u, grad,
                                        cpu_samples, cpu_gd, cpu_gk);
  DeviceBuffer<T> d_dir(directions), d_conc(concentrations), d_samples(cpu_samples.size()),
      d_grad(grad), d_gd(cpu_gd.size()), d_gk(cpu_gk.size());
  std::size_t bytes = 0;
  pdml::cuda::PowerSphericalSampleSaved<T> saved;
  const pdml::ConstMatrixView<T> dir{d_dir.get(), n, p, p}, conc{d_conc.get(), n, 1, 1};
  const pdml::MatrixView<T> out{d_samples.get(), n * s, p, p};
  REQUIRE(pdml::cuda::power_spherical_sample<T>(nullptr, bytes, dir, conc, s,
                                                pdml::RngKey{11u, 2u}, out, &saved) ==
          cudaSuccess);
  DeviceBuffer<unsigned char> workspace(bytes);
  REQUIRE(pdml::cuda::power_spherical_sample<T>(workspace.get(), bytes, dir, conc, s,
                                                pdml::RngKey{11u, 2u}, out, &saved) ==
          cudaSuccess);
  REQUIRE(pdml::cuda::power_spherical_sample_backward<T>(
              saved, pdml::ConstMatrixView<T>{d_grad.get(), n * s, p, p},
              pdml::MatrixView<T>{d_gd.get(), n, p, p}, pdml::MatrixView<T>{d_gk.get(), n, 1, 1}) ==
          cudaSuccess);
  const auto samples = d_samples.download();
  INFO("p " << p << ": " << count_equal(samples, cpu_samples) << " of " << samples.size()
            << " sample coordinates bitwise equal");
  CHECK(relative_difference(samples, cpu_samples) <= tolerance<T>());
  CHECK(relative_difference(d_gd.download(), cpu_gd) <= 100 * tolerance<T>());
  CHECK(relative_difference(d_gk.download(), cpu_gk) <= 100 * tolerance<T>());
}

template <class T>
void check_nivmf_sampler(long p) {
  const long n = 12;
  const int s = 3;
  const double scales[] = {0.05, 1.0, 20.0, 400.0};
  std::vector<T> directions = random_vector<T>(static_cast<std::size_t>(n * p), 61u + unsigned(p));
  std::vector<T> concentrations = random_vector<T>(static_cast<std::size_t>(n * p), 62u, 0.8);
  for (long i = 0; i < n; ++i) {
    double nn = 0;
    for (long j = 0; j < p; ++j) nn += double(directions[i * p + j]) * directions[i * p + j];
    for (long j = 0; j < p; ++j) {
      directions[i * p + j] = static_cast<T>(directions[i * p + j] / std::sqrt(nn));
      // Strongly anisotropic K, |K nu| over four orders of magnitude.
      concentrations[i * p + j] =
          static_cast<T>(scales[i % 4] * std::exp(double(concentrations[i * p + j])));
    }
  }
  const std::vector<T> grad = random_vector<T>(static_cast<std::size_t>(n * s * p), 63u);
  std::vector<T> cpu_samples, cpu_gd, cpu_gk;
  pdml_test::cpu_nivmf_sample(directions, concentrations, n, p, s, 555u, 9u, grad, cpu_samples,
                              cpu_gd, cpu_gk);
  DeviceBuffer<T> d_dir(directions), d_conc(concentrations), d_samples(cpu_samples.size()),
      d_grad(grad), d_gd(cpu_gd.size()), d_gk(cpu_gk.size());
  std::size_t bytes = 0;
  pdml::cuda::NivmfSampleSaved<T> saved;
  const pdml::ConstMatrixView<T> dir{d_dir.get(), n, p, p}, conc{d_conc.get(), n, p, p};
  const pdml::MatrixView<T> out{d_samples.get(), n * s, p, p};
  REQUIRE(pdml::cuda::nivmf_sample<T>(nullptr, bytes, dir, conc, s, pdml::RngKey{555u, 9u}, out,
                                      &saved) == cudaSuccess);
  REQUIRE(bytes > 0);
  CHECK_FALSE(saved.valid);
  DeviceBuffer<unsigned char> workspace(bytes);
  REQUIRE(pdml::cuda::nivmf_sample<T>(workspace.get(), bytes, dir, conc, s,
                                      pdml::RngKey{555u, 9u}, out, &saved) == cudaSuccess);
  REQUIRE(pdml::cuda::nivmf_sample_backward<T>(
              saved, pdml::ConstMatrixView<T>{d_grad.get(), n * s, p, p},
              pdml::MatrixView<T>{d_gd.get(), n, p, p}, pdml::MatrixView<T>{d_gk.get(), n, p, p}) ==
          cudaSuccess);
  const auto samples = d_samples.download();
  const auto gd = d_gd.download();
  const auto gk = d_gk.download();
  const double sample_diff = relative_difference(samples, cpu_samples);
  INFO("p " << p << ": samples rel diff " << sample_diff << " ("
            << count_equal(samples, cpu_samples) << " of " << samples.size()
            << " bitwise equal), grad rel diff " << relative_difference(gd, cpu_gd) << " / "
            << relative_difference(gk, cpu_gk));
  CHECK(sample_diff <= tolerance<T>());
  // dw/dkappa by quadrature: a few ulp times its condition, as for the vMF sampler.
  CHECK(relative_difference(gd, cpu_gd) <= 100 * tolerance<T>());
  CHECK(relative_difference(gk, cpu_gk) <= 100 * tolerance<T>());
}

// ----------------------------------------------------------------- criterion

template <class T>
pdml_test::CriterionCase<T> make_case(long b, long c, long d, long s, T guidance, bool exact) {
  pdml_test::CriterionCase<T> k;
  k.batch = b;
  k.classes = c;
  k.dims = d;
  k.samples = s;
  k.embeddings = random_vector<T>(static_cast<std::size_t>(b * d), 1u, 2.0);
  k.proxies = random_vector<T>(static_cast<std::size_t>(c * d), 2u);
  std::mt19937_64 gen(3u);
  std::uniform_real_distribution<double> uniform(0.02, 4.0);  // some below min_kappa
  k.kappas.resize(static_cast<std::size_t>(c * d));
  for (auto& x : k.kappas) x = static_cast<T>(uniform(gen));
  k.sample_rows = random_vector<T>(static_cast<std::size_t>(s * b * d), 4u);
  pdml_test::normalize_rows(k.sample_rows, s * b, d);
  k.labels.resize(static_cast<std::size_t>(b));
  for (long i = 0; i < b; ++i) k.labels[static_cast<std::size_t>(i)] = (i * 5) % (c - 1);
  k.guidance_weight = guidance;
  k.exact_density = exact;
  k.temperature = T(0.07);
  k.grad_loss = T(0.8);
  k.seed = 77u;
  k.offset = 3u;
  return k;
}

template <class T>
void check_criterion(T guidance, bool exact, bool sampled) {
  const auto k = make_case<T>(13, 9, 24, 4, guidance, exact);
  const auto want = pdml_test::cpu_criterion(k, sampled);
  CublasHandle cublas;
  const CudaStream stream;
  // pdml requires the handle bound to the call's stream (it never rebinds it).
  REQUIRE(cublasSetStream(cublas.handle, stream) == CUBLAS_STATUS_SUCCESS);
  const pdml::cuda::Context context{stream, cublas.handle};

  StridedMatrix<T> e(k.embeddings, k.batch, k.dims, 3), v(k.proxies, k.classes, k.dims, 0),
      kap(k.kappas, k.classes, k.dims, 5), x(k.sample_rows, k.samples * k.batch, k.dims, 1);
  DeviceBuffer<std::int64_t> labels(k.labels);
  DeviceBuffer<T> loss(1), grad_t(1);
  StridedMatrix<T> ge(k.batch, k.dims, 2), gv(k.classes, k.dims, 1), gk(k.classes, k.dims, 0),
      gx(k.samples * k.batch, k.dims, 3);

  typename pdml::cuda::ElNivmfLoss<T>::Options options;
  options.n_samples = static_cast<int>(k.samples);
  options.guidance_weight = guidance;
  options.scoring = exact ? pdml::cuda::NivmfScoring::exact_density
                          : pdml::cuda::NivmfScoring::paper_rule;
  const pdml::cuda::ElNivmfLoss<T> criterion(options);
  typename pdml::cuda::ElNivmfLoss<T>::Saved saved;
  const pdml::RngKey rng{k.seed, k.offset};
  auto run_forward = [&](void* workspace, std::size_t& bytes) {
    return sampled ? criterion.forward(workspace, bytes, e.view(), labels.get(), v.view(),
                                       kap.view(), k.temperature, rng, loss.get(), saved, context)
                   : criterion.forward_with_samples(workspace, bytes, x.view(), e.view(),
                                                    labels.get(), v.view(), kap.view(),
                                                    k.temperature, loss.get(), saved, context);
  };
  std::size_t bytes = 0;
  REQUIRE(run_forward(nullptr, bytes) == cudaSuccess);
  DeviceBuffer<unsigned char> workspace(bytes);
  std::size_t too_small = bytes - 1;
  CHECK_THROWS_AS(run_forward(workspace.get(), too_small), std::invalid_argument);
  REQUIRE(run_forward(workspace.get(), bytes) == cudaSuccess);
  pdml::MatrixView<T> gx_view = gx.view();
  auto run_backward = [&] {
    return criterion.backward(saved, k.grad_loss, ge.view(), gv.view(), gk.view(), grad_t.get(),
                              sampled ? nullptr : &gx_view, context);
  };
  REQUIRE(run_backward() == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);

  const T got_loss = loss.download()[0];
  const T got_t = grad_t.download()[0];
  const auto got_e = ge.dense(), got_v = gv.dense(), got_k = gk.dense();
  const double tol = tolerance<T>();
  INFO("guidance " << guidance << " exact " << exact << " sampled " << sampled << ": loss "
                   << got_loss << " vs CPU " << want.loss);
  CHECK(std::abs(double(got_loss) - double(want.loss)) <=
        tol * std::max(1.0, std::abs(double(want.loss))));
  CHECK(std::abs(double(got_t) - double(want.grad_temperature)) <=
        tol * std::max(1.0, std::abs(double(want.grad_temperature))));
  // Through the sampler the gradient carries dw/dkappa (quadrature), hence the margin.
  CHECK(relative_difference(got_e, want.grad_embeddings) <= (sampled ? 100 : 1) * tol);
  CHECK(relative_difference(got_v, want.grad_proxies) <= tol);
  CHECK(relative_difference(got_k, want.grad_kappas) <= tol);
  if (!sampled) CHECK(relative_difference(gx.dense(), want.grad_samples) <= tol);

  // Bitwise reproducible: forward and backward again on the same workspace.
  REQUIRE(run_forward(workspace.get(), bytes) == cudaSuccess);
  REQUIRE(run_backward() == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  CHECK(loss.download()[0] == got_loss);
  CHECK(grad_t.download()[0] == got_t);
  CHECK(ge.dense() == got_e);
  CHECK(gv.dense() == got_v);
  CHECK(gk.dense() == got_k);
}


template <class T>
void check_similarity(int kind) {
  const long b = 11, c = 7, d = 9;
  const auto e = random_vector<T>(static_cast<std::size_t>(b * d), 21u, 2.0);
  const auto v = random_vector<T>(static_cast<std::size_t>(c * d), 22u);
  std::vector<T> k = random_vector<T>(static_cast<std::size_t>(c), 23u, 1.0);
  for (auto& x : k) x = std::abs(x) * T(5);
  k[0] = T(0.01);  // clamped at min_kappa
  const auto g = random_vector<T>(static_cast<std::size_t>(b * c), 24u);
  const T min_kappa = T(0.1), temperature = T(0.4);
  const auto want =
      pdml_test::cpu_similarity<T>(kind, e, v, k, b, c, d, min_kappa, temperature, g);
  DeviceBuffer<T> de(e), dv(v), dk(k), dg(g), sim(want.similarities.size()),
      ge(want.grad_embeddings.size()), gv(want.grad_proxies.size()), gk(k.size()), gt(1);
  const pdml::ConstMatrixView<T> ev{de.get(), b, d, d}, vv{dv.get(), c, d, d},
      kv{dk.get(), c, 1, 1}, gvw{dg.get(), b, c, c};
  const pdml::MatrixView<T> simv{sim.get(), b, c, c}, gev{ge.get(), b, d, d},
      gvv{gv.get(), c, d, d}, gkv{gk.get(), c, 1, 1};
  std::size_t bytes = 0;
  if (kind < 4) {
    const auto which = static_cast<pdml::cuda::IsotropicSimilarity>(kind);
    pdml::cuda::IsotropicSimilaritySaved<T> saved;
    REQUIRE(pdml::cuda::isotropic_similarity_forward<T>(nullptr, bytes, which, ev, vv, kv,
                                                        min_kappa, temperature, simv, saved) ==
            cudaSuccess);
    DeviceBuffer<unsigned char> workspace(bytes);
    REQUIRE(pdml::cuda::isotropic_similarity_forward<T>(workspace.get(), bytes, which, ev, vv, kv,
                                                        min_kappa, temperature, simv, saved) ==
            cudaSuccess);
    REQUIRE(pdml::cuda::isotropic_similarity_backward<T>(saved, gvw, gev, gvv, gkv, gt.get()) ==
            cudaSuccess);
    CHECK(relative_difference(gk.download(), want.grad_kappas) <= tolerance<T>());
  } else {
    CublasHandle cublas;
    const pdml::cuda::Context context{nullptr, cublas.handle};
    pdml::cuda::CosineSimilaritySaved<T> saved;
    REQUIRE(pdml::cuda::cosine_similarity_forward<T>(nullptr, bytes, ev, vv, temperature, simv,
                                                     saved, context) == cudaSuccess);
    DeviceBuffer<unsigned char> workspace(bytes);
    REQUIRE(pdml::cuda::cosine_similarity_forward<T>(workspace.get(), bytes, ev, vv, temperature,
                                                     simv, saved, context) == cudaSuccess);
    REQUIRE(pdml::cuda::cosine_similarity_backward<T>(saved, gvw, gev, gvv, gt.get(), context) ==
            cudaSuccess);
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  }
  INFO("similarity kind " << kind);
  CHECK(relative_difference(sim.download(), want.similarities) <= tolerance<T>());
  CHECK(relative_difference(ge.download(), want.grad_embeddings) <= tolerance<T>());
  CHECK(relative_difference(gv.download(), want.grad_proxies) <= tolerance<T>());
  const double gt_diff = std::abs(double(gt.download()[0]) - double(want.grad_temperature));
  CHECK(gt_diff <= tolerance<T>() * std::max(1.0, std::abs(double(want.grad_temperature))));
}

template <class T>
void check_nivmf_point_similarity(bool exact) {
  const long b = 11, c = 7, d = 9;
  auto e = random_vector<T>(static_cast<std::size_t>(b * d), 71u, 2.0);
  if (!exact) {
    for (long j = 0; j < d; ++j) e[static_cast<std::size_t>(3 * d + j)] = T(0);  // mu = 0
  }
  const auto v = random_vector<T>(static_cast<std::size_t>(c * d), 72u);
  const auto k = pdml_test::clamped_concentrations<T>(static_cast<std::size_t>(c * d), 73u);
  const auto g = random_vector<T>(static_cast<std::size_t>(b * c), 74u);
  const T min_kappa = T(0.1), temperature = T(0.4);
  const auto want = pdml_test::cpu_nivmf_point_similarity<T>(exact, e, v, k, b, c, d, min_kappa,
                                                             temperature, g);
  CublasHandle cublas;
  const CudaStream stream;
  // pdml requires the handle bound to the call's stream (it never rebinds it).
  REQUIRE(cublasSetStream(cublas.handle, stream) == CUBLAS_STATUS_SUCCESS);
  const pdml::cuda::Context context{stream, cublas.handle};
  // Inputs and outputs as strided views.
  StridedMatrix<T> ev(e, b, d, 2), vv(v, c, d, 3), kv(k, c, d, 1), gvw(g, b, c, 2);
  StridedMatrix<T> sim(b, c, 1), ge(b, d, 2), gv(c, d, 1), gk(c, d, 4);
  DeviceBuffer<T> gt(1);
  const auto scoring =
      exact ? pdml::cuda::NivmfScoring::exact_density : pdml::cuda::NivmfScoring::paper_rule;
  pdml::cuda::NivmfPointSimilaritySaved<T> saved;
  std::size_t bytes = 0;
  REQUIRE(pdml::cuda::nivmf_point_similarity_forward<T>(nullptr, bytes, ev.view(), vv.view(),
                                                        kv.view(), min_kappa, temperature,
                                                        scoring, sim.view(), saved,
                                                        context) == cudaSuccess);
  DeviceBuffer<unsigned char> workspace(bytes);
  REQUIRE(pdml::cuda::nivmf_point_similarity_forward<T>(workspace.get(), bytes, ev.view(),
                                                        vv.view(), kv.view(), min_kappa,
                                                        temperature, scoring, sim.view(),
                                                        saved, context) == cudaSuccess);
  REQUIRE(pdml::cuda::nivmf_point_similarity_backward<T>(saved, gvw.view(), ge.view(),
                                                         gv.view(), gk.view(),
                                                         gt.get(), context) == cudaSuccess);
  REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
  const auto got_gk = gk.dense();
  INFO("nivMF-to-point, exact density " << exact);
  CHECK(relative_difference(sim.dense(), want.similarities) <= tolerance<T>());
  CHECK(relative_difference(ge.dense(), want.grad_embeddings) <= tolerance<T>());
  CHECK(relative_difference(gv.dense(), want.grad_proxies) <= tolerance<T>());
  CHECK(relative_difference(got_gk, want.grad_kappas) <= tolerance<T>());
  CHECK(got_gk[0] == T(0));
  CHECK(got_gk[5] == T(0));
  const double gt_diff = std::abs(double(gt.download()[0]) - double(want.grad_temperature));
  CHECK(gt_diff <= tolerance<T>() * std::max(1.0, std::abs(double(want.grad_temperature))));
}

template <class T>
void check_proxy_losses() {
  const long b = 16, c = 10;
  auto m = random_vector<T>(static_cast<std::size_t>(b * c), 31u, 0.4);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(b));
  for (long i = 0; i < b; ++i) labels[static_cast<std::size_t>(i)] = (i * 3) % (c - 2);
  const auto want = pdml_test::cpu_proxy_losses<T>(m, labels, b, c, T(0.9));
  DeviceBuffer<T> dm(m), loss(1), g(m.size());
  DeviceBuffer<std::int64_t> dl(labels);
  const pdml::ConstMatrixView<T> mv{dm.get(), b, c, c};
  const pdml::MatrixView<T> gvw{g.get(), b, c, c};
  std::size_t bytes = 0;
  pdml::cuda::ProxyNcaSaved<T> nca;
  REQUIRE(pdml::cuda::proxy_nca_forward<T>(nullptr, bytes, mv, dl.get(), loss.get(), nca) ==
          cudaSuccess);
  DeviceBuffer<unsigned char> nca_ws(bytes);
  REQUIRE(pdml::cuda::proxy_nca_forward<T>(nca_ws.get(), bytes, mv, dl.get(), loss.get(), nca) ==
          cudaSuccess);
  REQUIRE(pdml::cuda::proxy_nca_backward<T>(nca, T(0.9), gvw) == cudaSuccess);
  CHECK(std::abs(double(loss.download()[0]) - double(want.nca)) <=
        tolerance<T>() * std::max(1.0, std::abs(double(want.nca))));
  CHECK(relative_difference(g.download(), want.grad_nca) <= tolerance<T>());
  pdml::cuda::ProxyAnchorSaved<T> anchor;
  bytes = 0;
  REQUIRE(pdml::cuda::proxy_anchor_forward<T>(nullptr, bytes, mv, dl.get(), T(32), T(0.1),
                                              loss.get(), anchor) == cudaSuccess);
  DeviceBuffer<unsigned char> pa_ws(bytes);
  REQUIRE(pdml::cuda::proxy_anchor_forward<T>(pa_ws.get(), bytes, mv, dl.get(), T(32), T(0.1),
                                              loss.get(), anchor) == cudaSuccess);
  REQUIRE(pdml::cuda::proxy_anchor_backward<T>(anchor, T(0.9), gvw) == cudaSuccess);
  CHECK(std::abs(double(loss.download()[0]) - double(want.anchor)) <=
        tolerance<T>() * std::max(1.0, std::abs(double(want.anchor))));
  CHECK(relative_difference(g.download(), want.grad_anchor) <= tolerance<T>());
}

}  // namespace

TEST_CASE("vMF samples and sampler gradients: device equals host for the same key",
          "[cuda][sampler]") {
  for (long p : {3L, 16L, 128L}) {
    check_vmf_sampler<double>(p);
    check_vmf_sampler<float>(p);
  }
}

TEST_CASE("nivMF samples and sampler gradients: device equals host for the same key",
          "[cuda][sampler]") {
  for (long p : {2L, 3L, 10L, 64L}) {
    check_nivmf_sampler<double>(p);
    check_nivmf_sampler<float>(p);
  }
}

TEST_CASE("nivMF sampler and nivMF-to-point similarity validate host-side arguments",
          "[cuda][sampler][similarity]") {
  double dummy = 0;
  std::size_t bytes = 0;
  const pdml::ConstMatrixView<double> dir{&dummy, 2, 4, 4}, conc{&dummy, 2, 4, 4};
  pdml::cuda::NivmfSampleSaved<double> saved;
  CHECK_THROWS_AS(pdml::cuda::nivmf_sample<double>(nullptr, bytes, dir,
                                                   pdml::ConstMatrixView<double>{&dummy, 2, 3, 3},
                                                   1, pdml::RngKey{1, 0},
                                                   pdml::MatrixView<double>{&dummy, 2, 4, 4},
                                                   &saved),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::nivmf_sample<double>(nullptr, bytes, dir, conc, 2,
                                                   pdml::RngKey{1, 0},
                                                   pdml::MatrixView<double>{&dummy, 2, 4, 4},
                                                   &saved),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::nivmf_sample_backward<double>(
                      saved, pdml::ConstMatrixView<double>{&dummy, 2, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4}),
                  std::invalid_argument);
  CublasHandle cublas;
  const pdml::cuda::Context context{nullptr, cublas.handle};
  pdml::cuda::NivmfPointSimilaritySaved<double> point;
  const pdml::MatrixView<double> sim{&dummy, 2, 2, 2};
  const auto forward = [&](double min_kappa, double temperature, pdml::cuda::NivmfScoring scoring,
                           pdml::ConstMatrixView<double> kappas, pdml::cuda::Context ctx) {
    return pdml::cuda::nivmf_point_similarity_forward<double>(
        nullptr, bytes, dir, dir, kappas, min_kappa, temperature, scoring, sim, point, ctx);
  };
  const auto paper = pdml::cuda::NivmfScoring::paper_rule;
  CHECK(forward(0.1, 1.0, paper, conc, context) == cudaSuccess);
  CHECK_THROWS_AS(forward(0.0, 1.0, paper, conc, context), std::invalid_argument);
  CHECK_THROWS_AS(forward(0.1, -1.0, paper, conc, context), std::invalid_argument);
  CHECK_THROWS_AS(forward(0.1, 1.0, static_cast<pdml::cuda::NivmfScoring>(7), conc, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(forward(0.1, 1.0, paper, pdml::ConstMatrixView<double>{&dummy, 2, 1, 1}, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(forward(0.1, 1.0, paper, conc, pdml::cuda::Context{nullptr, nullptr}),
                  std::invalid_argument);
  CHECK_THROWS_AS(pdml::cuda::nivmf_point_similarity_backward<double>(
                      point, pdml::ConstMatrixView<double>{&dummy, 2, 2, 2},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4},
                      pdml::MatrixView<double>{&dummy, 2, 4, 4}, nullptr, context),
                  std::invalid_argument);
}

TEST_CASE("Power Spherical samples and gradients: device equals host", "[cuda][sampler]") {
  for (long p : {3L, 64L}) {
    check_power_spherical_sampler<double>(p);
    check_power_spherical_sampler<float>(p);
  }
}

TEST_CASE("CUDA EL-nivMF criterion equals the CPU criterion (double)", "[cuda][criterion]") {
  for (bool sampled : {false, true}) {
    check_criterion<double>(0.0, false, sampled);
    check_criterion<double>(0.5, false, sampled);
  }
  check_criterion<double>(0.5, true, false);
}

TEST_CASE("CUDA EL-nivMF criterion equals the CPU criterion (float)", "[cuda][criterion]") {
  for (bool sampled : {false, true}) {
    check_criterion<float>(0.0f, false, sampled);
    check_criterion<float>(0.5f, false, sampled);
  }
  check_criterion<float>(0.5f, true, false);
}

TEST_CASE("CUDA criterion validates host-side arguments before enqueuing", "[cuda][criterion]") {
  using Loss = pdml::cuda::ElNivmfLoss<double>;
  Loss::Options bad;
  bad.n_samples = 0;
  CHECK_THROWS_AS(Loss(bad), std::invalid_argument);
  const Loss loss(Loss::Options{});
  Loss::Saved saved;
  std::size_t bytes = 0;
  double dummy = 0;
  std::int64_t label = 0;
  const pdml::ConstMatrixView<double> e{&dummy, 1, 4, 4}, v{&dummy, 2, 4, 4}, k{&dummy, 2, 4, 4};
  CublasHandle cublas;
  const pdml::cuda::Context context{nullptr, cublas.handle};
  // Temperature must be positive; shapes must agree; the handle must exist.
  CHECK_THROWS_AS(loss.forward(nullptr, bytes, e, &label, v, k, 0.0, pdml::RngKey{1, 0}, &dummy,
                               saved, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(loss.forward(nullptr, bytes, e, &label, pdml::ConstMatrixView<double>{&dummy, 2, 3, 3},
                               k, 1.0, pdml::RngKey{1, 0}, &dummy, saved, context),
                  std::invalid_argument);
  CHECK_THROWS_AS(loss.forward(nullptr, bytes, e, &label, v, k, 1.0, pdml::RngKey{1, 0}, &dummy,
                               saved, pdml::cuda::Context{nullptr, nullptr}),
                  std::invalid_argument);
  double* none = nullptr;
  CHECK_THROWS_AS(loss.backward(saved, 1.0, pdml::MatrixView<double>{none, 1, 4, 4},
                                pdml::MatrixView<double>{none, 2, 4, 4},
                                pdml::MatrixView<double>{none, 2, 4, 4}, nullptr, nullptr, context),
                  std::invalid_argument);
}

TEST_CASE("CUDA similarities equal the CPU ones (EL, B, KL, L2, cosine)", "[cuda][similarity]") {
  for (int kind = 0; kind <= 4; ++kind) {
    check_similarity<double>(kind);
    check_similarity<float>(kind);
  }
}

TEST_CASE("CUDA nivMF-to-point similarity equals the CPU one (both scoring rules)",
          "[cuda][similarity]") {
  for (bool exact : {false, true}) {
    check_nivmf_point_similarity<double>(exact);
    check_nivmf_point_similarity<float>(exact);
  }
}

TEST_CASE("CUDA Proxy-NCA and ProxyAnchor equal the CPU losses", "[cuda][similarity]") {
  check_proxy_losses<double>();
  check_proxy_losses<float>();
}
