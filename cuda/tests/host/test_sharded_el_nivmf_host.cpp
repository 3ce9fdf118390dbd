// SPDX-License-Identifier: MIT
// The sharded CUDA criterion (pdml::cuda::ShardedElNivmfLoss's algorithm and host-side
// setup) on Thrust's CPP system, R ranks emulated by R threads of this process, against
// the single-process CUDA criterion's algorithm on the same backend, batch and classes
// (itself checked against the CPU criterion in test_el_nivmf_host.cpp): loss and every
// gradient within 1e-12 relative in double, for R = 1 to 4, uneven class ranges and ranks
// that own no label of the batch.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <pdml/cuda/parallel/backend_host.hpp>
#include <pdml/cuda/losses/detail/el_nivmf_criterion.hpp>
#include <pdml/cuda/losses/detail/sharded_el_nivmf_setup.hpp>
#include <pdml/cuda/losses/device_communicator.hpp>
#include <pdml/losses/class_shard.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>

#include "host_test_support.hpp"
#include "thread_communicator.hpp"

namespace {

namespace pc = pdml::cuda;
using pdml::ClassShard;
using pdml::ConstMatrixView;
using pdml::Index;
using pdml::MatrixView;
using pdml_test::relative_difference;
using T = double;
using Options = pdml::ElNivmfLoss<T>::Options;

static_assert(pc::is_device_communicator_v<pc::SingleDeviceCommunicator, float>, "one rank");
static_assert(pc::is_device_communicator_v<pc::SingleDeviceCommunicator, double>, "one rank");
static_assert(!pc::is_device_communicator_v<pdml_test::ThreadCommunicator, double>,
              "a host communicator (void, no stream) is not a device communicator");

/// The algorithm's communicator form (cudaError_t all_reduce_*(T*, count)) over the
/// threads' ThreadGroup, recording how many numbers each call reduces.
struct RankCommunicator {
  pdml_test::ThreadCommunicator ranks;
  std::vector<std::size_t> max_counts, sum_counts;
  cudaError_t all_reduce_max(T* data, std::size_t count) {
    max_counts.push_back(count);
    ranks.all_reduce_max(data, count);
    return cudaSuccess;
  }
  cudaError_t all_reduce_sum(T* data, std::size_t count) {
    sum_counts.push_back(count);
    ranks.all_reduce_sum(data, count);
    return cudaSuccess;
  }
};

struct Problem {
  Index b, c, d, s;
  std::vector<T> samples, embeddings, proxies, kappas;
  std::vector<std::int64_t> labels;
};

/// Labels drawn from [0, label_end): shards above label_end own no label of the batch.
Problem make_problem(Index b, Index c, Index d, Index s, std::int64_t label_end, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> uniform(0.05, 3.0);
  std::uniform_int_distribution<std::int64_t> label(0, label_end - 1);
  Problem p{b, c, d, s, {}, {}, {}, {}, {}};
  pdml_test::append_unit_rows(p.samples, s * b, d, gen, normal);
  for (Index i = 0; i < b * d; ++i) p.embeddings.push_back(2 * normal(gen));
  for (Index i = 0; i < c * d; ++i) p.proxies.push_back(normal(gen));
  // Some concentrations below min_kappa = 0.1, to exercise the clamp's masked gradients.
  for (Index i = 0; i < c * d; ++i) p.kappas.push_back(uniform(gen));
  for (Index i = 0; i < b; ++i) p.labels.push_back(label(gen));
  return p;
}

struct Result {
  cudaError_t status = cudaErrorUnknown;
  T loss = 0;
  std::vector<T> drawn;  // the forward's samples (sampled forward)
  std::vector<T> grad_embeddings, grad_proxies, grad_kappas, grad_samples;
  T grad_temperature = 0;
  std::uint32_t device_status = 0;
  std::vector<std::size_t> max_counts, sum_counts;
  bool padding_intact = true;
  bool second_backward_identical = false;
  pc::detail::LaunchCounts forward_launches, backward_launches;
};

constexpr T kTemperature = 0.4;
constexpr T kGradLoss = 0.75;
const pdml::RngKey kRng{2022u, 13u};

/// The single-process CUDA criterion's algorithm on all classes (the reference).
Result single_process(const Problem& p, const Options& o, bool sampled) {
  const Index rows = p.s * p.b;
  pc::detail::ElNivmfState<T> st;
  pdml_test::set_el_nivmf_sizes_and_options(st, o, p.b, p.c, p.d, kTemperature);
  st.samples_view = ConstMatrixView<T>{p.samples.data(), rows, p.d, p.d};
  st.embeddings = ConstMatrixView<T>{p.embeddings.data(), p.b, p.d, p.d};
  st.proxies = ConstMatrixView<T>{p.proxies.data(), p.c, p.d, p.d};
  st.kappas = ConstMatrixView<T>{p.kappas.data(), p.c, p.d, p.d};
  st.labels = p.labels.data();
  T* drawn = nullptr;
  pc::detail::VmfSampleBuffers<T> sampler;
  auto workspace = pdml_test::carve_host_workspace([&](pc::WorkspaceCarver& carver) {
    pc::detail::carve_el_nivmf<T>(carver, st, sampled, &drawn);
    if (sampled) sampler = pc::detail::carve_vmf_sample_buffers<T>(carver, p.s, p.b, p.d);
  });
  const pc::detail::HostBackend backend;
  Result r;
  r.status = sampled ? pc::detail::el_nivmf_forward_sampled(backend, st, sampler, drawn, kRng,
                                                            &r.loss)
                     : pc::detail::el_nivmf_forward_given_samples(backend, st, &r.loss);
  if (r.status != cudaSuccess) return r;
  if (sampled) r.drawn.assign(drawn, drawn + rows * p.d);
  r.grad_embeddings.resize(static_cast<std::size_t>(p.b * p.d));
  r.grad_proxies.resize(static_cast<std::size_t>(p.c * p.d));
  r.grad_kappas.resize(static_cast<std::size_t>(p.c * p.d));
  r.grad_samples.resize(static_cast<std::size_t>(rows * p.d));
  MatrixView<T> grad_samples{r.grad_samples.data(), rows, p.d, p.d};
  r.status = pc::detail::el_nivmf_backward_step(
      backend, st, sampled ? &sampler : nullptr, kGradLoss,
      MatrixView<T>{r.grad_embeddings.data(), p.b, p.d, p.d},
      MatrixView<T>{r.grad_proxies.data(), p.c, p.d, p.d},
      MatrixView<T>{r.grad_kappas.data(), p.c, p.d, p.d}, &r.grad_temperature,
      sampled ? nullptr : &grad_samples);
  r.device_status = *st.status;
  return r;
}

/// One rank's forward and backward of the sharded algorithm, set up by the public entry
/// point's own setup (checks, sizes, carving); grad_embeddings and grad_samples strided.
Result one_rank(const Problem& p, const Options& o, bool sampled, const ClassShard& shard,
                RankCommunicator& communicator) {
  const Index rows = p.s * p.b, n = shard.size();
  const ConstMatrixView<T> samples{p.samples.data(), rows, p.d, p.d};
  const ConstMatrixView<T> embeddings{p.embeddings.data(), p.b, p.d, p.d};
  const ConstMatrixView<T> proxies{p.proxies.data() + shard.first * p.d, n, p.d, p.d};
  const ConstMatrixView<T> kappas{p.kappas.data() + shard.first * p.d, n, p.d, p.d};
  int handle_stand_in = 0;  // the setup only checks the handle for null
  const auto cublas = reinterpret_cast<cublasHandle_t>(&handle_stand_in);
  Result r;
  pc::detail::ShardedElNivmfState<T> st;
  std::size_t bytes = 0;
  const char* fn = "test";
  const ConstMatrixView<T>* given = sampled ? nullptr : &samples;
  if (!pc::detail::sharded_el_nivmf_setup(fn, nullptr, bytes, o, given, embeddings,
                                          p.labels.data(), proxies, kappas, kTemperature, shard,
                                          &r.loss, cublas, st)) {
    return r;  // a size query must answer true
  }
  pdml_test::HostWorkspace workspace(bytes);
  if (pc::detail::sharded_el_nivmf_setup(fn, workspace.data(), bytes, o, given, embeddings,
                                         p.labels.data(), proxies, kappas, kTemperature, shard,
                                         &r.loss, cublas, st)) {
    return r;
  }
  const pc::detail::HostBackend backend{&r.forward_launches};
  r.status = sampled ? pc::detail::sharded_el_nivmf_forward_sampled(backend, st, kRng,
                                                                    communicator, &r.loss)
                     : pc::detail::sharded_el_nivmf_forward_given_samples(backend, st,
                                                                          communicator, &r.loss);
  if (r.status != cudaSuccess) return r;
  if (sampled) r.drawn.assign(st.samples, st.samples + rows * p.d);
  pdml_test::Strided<T> grad_embeddings(p.b, p.d, 3, T(-7));
  pdml_test::Strided<T> grad_samples(rows, p.d, 2, T(-7));
  r.grad_proxies.assign(static_cast<std::size_t>(n * p.d), T(-7));
  r.grad_kappas.assign(static_cast<std::size_t>(n * p.d), T(-7));
  MatrixView<T> grad_samples_view = grad_samples.view();
  pc::detail::sharded_el_nivmf_backward_checks(fn, o.n_samples, st, kGradLoss,
                                               grad_embeddings.view(),
                                               MatrixView<T>{r.grad_proxies.data(), n, p.d, p.d},
                                               MatrixView<T>{r.grad_kappas.data(), n, p.d, p.d},
                                               &grad_samples_view, cublas);
  r.status = pc::detail::sharded_el_nivmf_backward(
      pc::detail::HostBackend{&r.backward_launches}, st, kGradLoss, grad_embeddings.view(),
      MatrixView<T>{r.grad_proxies.data(), n, p.d, p.d},
      MatrixView<T>{r.grad_kappas.data(), n, p.d, p.d}, &r.grad_temperature,
      sampled ? nullptr : &grad_samples_view, communicator);
  r.grad_embeddings = grad_embeddings.dense();
  r.grad_samples = grad_samples.dense();
  r.padding_intact = grad_embeddings.padding_intact() && grad_samples.padding_intact();
  if (r.status != cudaSuccess) return r;
  // A second backward of the same forward, without the sample and temperature outputs
  // (then only B D + 1 numbers travel): the same bits.
  std::vector<T> again_embeddings(r.grad_embeddings.size()), again_proxies(r.grad_proxies.size()),
      again_kappas(r.grad_kappas.size());
  r.status = pc::detail::sharded_el_nivmf_backward(
      pc::detail::HostBackend{}, st, kGradLoss,
      MatrixView<T>{again_embeddings.data(), p.b, p.d, p.d},
      MatrixView<T>{again_proxies.data(), n, p.d, p.d},
      MatrixView<T>{again_kappas.data(), n, p.d, p.d}, static_cast<T*>(nullptr),
      static_cast<MatrixView<T>*>(nullptr), communicator);
  r.second_backward_identical = again_embeddings == r.grad_embeddings &&
                                again_proxies == r.grad_proxies &&
                                again_kappas == r.grad_kappas;
  r.device_status = *st.local.status;
  r.max_counts = communicator.max_counts;
  r.sum_counts = communicator.sum_counts;
  return r;
}

std::vector<Result> run_ranks(const Problem& p, const Options& o, bool sampled,
                              const std::vector<ClassShard>& shards) {
  pdml_test::ThreadGroup group(static_cast<int>(shards.size()));
  std::vector<Result> results(shards.size());
  group.run([&](int rank) {
    RankCommunicator communicator{pdml_test::ThreadCommunicator{&group, rank}, {}, {}};
    const auto k = static_cast<std::size_t>(rank);
    results[k] = one_rank(p, o, sampled, shards[k], communicator);
  });
  return results;
}

std::vector<ClassShard> even_shards(Index total, int ranks) {
  std::vector<ClassShard> shards;
  for (int r = 0; r < ranks; ++r) shards.push_back(pdml::even_class_shard(total, r, ranks));
  return shards;
}

Options options_with(T guidance_weight, pdml::NivmfScoring scoring = pdml::NivmfScoring::paper_rule) {
  Options o;
  o.n_samples = 3;
  o.guidance_weight = guidance_weight;
  o.scoring = scoring;
  return o;
}

void compare(const Problem& p, const Options& o, bool sampled,
             const std::vector<ClassShard>& shards) {
  const Result want = single_process(p, o, sampled);
  REQUIRE(want.status == cudaSuccess);
  REQUIRE(want.device_status == 0);
  const std::vector<Result> got = run_ranks(p, o, sampled, shards);
  const double tol = pdml_test::tolerance<T>();
  const Index b = p.b, d = p.d, rows = p.s * p.b;
  std::vector<T> grad_proxies, grad_kappas;
  for (std::size_t r = 0; r < got.size(); ++r) {
    INFO("rank " << r << " of " << got.size() << ", classes [" << shards[r].first << ", "
                 << shards[r].end << ") of " << shards[r].total << ", guidance "
                 << o.guidance_weight << (sampled ? ", sampled" : ", given samples"));
    const Result& g = got[r];
    REQUIRE(g.status == cudaSuccess);
    CHECK(g.device_status == 0);
    CHECK(g.padding_intact);
    // The global loss and the summed gradients: the same bits on every rank.
    CHECK(g.loss == got[0].loss);
    CHECK(g.grad_embeddings == got[0].grad_embeddings);
    CHECK(g.grad_temperature == got[0].grad_temperature);
    // Against the single-process criterion.
    CHECK(std::abs(g.loss - want.loss) <= tol * std::max(T(1), std::abs(want.loss)));
    CHECK(relative_difference(g.grad_embeddings, want.grad_embeddings) <= tol);
    CHECK(std::abs(g.grad_temperature - want.grad_temperature) <=
          tol * std::max(T(1), std::abs(want.grad_temperature)));
    if (sampled) {
      CHECK(g.drawn == want.drawn);  // the same samples on every rank, bit for bit
    } else {
      CHECK(relative_difference(g.grad_samples, want.grad_samples) <= tol);
    }
    grad_proxies.insert(grad_proxies.end(), g.grad_proxies.begin(), g.grad_proxies.end());
    grad_kappas.insert(grad_kappas.end(), g.grad_kappas.begin(), g.grad_kappas.end());
    // What travels (docs/scale.md): B maxima, 2B + 3 sums, B D + 1 (+ (S B) D) gradients.
    CHECK(g.max_counts == std::vector<std::size_t>{static_cast<std::size_t>(b)});
    const std::size_t gradient_count =
        static_cast<std::size_t>(b * d + 1 + (sampled ? 0 : rows * d));
    CHECK(g.sum_counts == std::vector<std::size_t>{static_cast<std::size_t>(2 * b + 3),
                                                   gradient_count,
                                                   static_cast<std::size_t>(b * d + 1)});
    CHECK(g.second_backward_identical);
  }
  // The shards' proxy and concentration gradients, stacked, are the single process's.
  CHECK(relative_difference(grad_proxies, want.grad_proxies) <= tol);
  CHECK(relative_difference(grad_kappas, want.grad_kappas) <= tol);
}

}  // namespace

TEST_CASE("sharded CUDA criterion equals the single-process one, 1 to 4 ranks (host backend)",
          "[thrust-host]") {
  // C = 10 classes, labels in [0, 4): with 3 ranks ([0,4), [4,7), [7,10)) and 4 ranks
  // ([0,3), [3,6), [6,8), [8,10)) the last ranks own no label of the batch.
  const Problem p = make_problem(9, 10, 6, 3, 4, 97u);
  for (const bool sampled : {false, true}) {
    for (const T w : {T(0), T(0.5)}) {
      const Options o = options_with(w);
      for (int ranks = 1; ranks <= 4; ++ranks) compare(p, o, sampled, even_shards(p.c, ranks));
      // Very uneven ranges: one class, seven, two.
      compare(p, o, sampled, {{0, 1, 10}, {1, 8, 10}, {8, 10, 10}});
    }
  }
}

TEST_CASE("sharded CUDA criterion with the exact nivMF density and more classes than a chunk",
          "[thrust-host]") {
  // 600 classes over 3 ranks: the row logsumexp runs over several 256-class chunks per rank.
  const Problem p = make_problem(5, 600, 4, 2, 600, 5u);
  Options o = options_with(T(0.25), pdml::NivmfScoring::exact_density);
  o.n_samples = 2;
  compare(p, o, false, even_shards(p.c, 3));
  o.scoring = pdml::NivmfScoring::paper_rule;
  compare(p, o, true, {{0, 300, 600}, {300, 301, 600}, {301, 600, 600}});
}

TEST_CASE("launches of one sharded step (host backend count)", "[thrust-host]") {
  // What docs/scale.md ("CUDA / NCCL") states: the single-process forward's prepare, draw
  // and scores launches (4 kernels with the finisher) with the finisher replaced by the
  // row maxima, the row sums and the loss: 6 kernels with the drawn samples, 5 on given
  // ones, 1 GEMM (ProxyAnchor's product batched with the samples'); the single-process
  // backward (pair pass, rows: 2 kernels; 3 GEMMs, 2 without guidance) and the copy of
  // the summed gradients: 3 kernels.
  const Problem p = make_problem(5, 9, 4, 3, 9, 23u);
  struct Expected {
    T guidance;
    bool sampled;
    long forward_kernels, forward_gemms, backward_kernels, backward_gemms;
  };
  for (const Expected e : {Expected{T(0.5), true, 6, 1, 3, 3}, Expected{T(0.5), false, 5, 1, 3, 3},
                           Expected{T(0), true, 6, 1, 3, 2}, Expected{T(0), false, 5, 1, 3, 2}}) {
    INFO("guidance " << e.guidance << (e.sampled ? ", sampled" : ", given samples"));
    for (const Result& g : run_ranks(p, options_with(e.guidance), e.sampled, even_shards(p.c, 2))) {
      REQUIRE(g.status == cudaSuccess);
      CHECK(g.forward_launches.kernels == e.forward_kernels);
      CHECK(g.forward_launches.gemms == e.forward_gemms);
      CHECK(g.forward_launches.memsets == 0);  // the status word is written whole
      CHECK(g.backward_launches.kernels == e.backward_kernels);
      CHECK(g.backward_launches.gemms == e.backward_gemms);
      CHECK(g.backward_launches.memsets == 0);
    }
  }
}

TEST_CASE("sharded CUDA criterion: an invalid label poisons the loss on every rank",
          "[thrust-host]") {
  Problem p = make_problem(6, 8, 5, 3, 8, 11u);
  p.labels[2] = 8;  // == C: out of range
  const std::vector<Result> got = run_ranks(p, options_with(T(0.5)), false, even_shards(p.c, 2));
  for (const Result& g : got) {
    REQUIRE(g.status == cudaSuccess);
    CHECK(std::isnan(g.loss));
    CHECK((g.device_status & pc::DeviceStatus::label_out_of_range) != 0);
    CHECK((g.device_status & pc::DeviceStatus::non_finite_loss) != 0);
  }
}

TEST_CASE("sharded CUDA criterion rejects bad host-side arguments", "[thrust-host]") {
  const Problem p = make_problem(4, 6, 5, 3, 6, 3u);
  const Options o = options_with(T(0.5));
  const Index rows = p.s * p.b;
  const ConstMatrixView<T> samples{p.samples.data(), rows, p.d, p.d};
  const ConstMatrixView<T> embeddings{p.embeddings.data(), p.b, p.d, p.d};
  const ClassShard shard{2, 5, 6};
  const ConstMatrixView<T> proxies{p.proxies.data() + 2 * p.d, 3, p.d, p.d};
  const ConstMatrixView<T> kappas{p.kappas.data() + 2 * p.d, 3, p.d, p.d};
  int handle_stand_in = 0;
  const auto cublas = reinterpret_cast<cublasHandle_t>(&handle_stand_in);
  T loss = 0;
  std::size_t bytes = 0;
  pc::detail::ShardedElNivmfState<T> st;
  const auto setup = [&](const ConstMatrixView<T>* given, ConstMatrixView<T> e,
                         const std::int64_t* labels, ConstMatrixView<T> v, ConstMatrixView<T> k,
                         T temperature, ClassShard s, T* out, cublasHandle_t handle) {
    return pc::detail::sharded_el_nivmf_setup("fn", nullptr, bytes, o, given, e, labels, v, k,
                                              temperature, s, out, handle, st);
  };
  const auto message_of = [&](auto&& call) -> std::string {
    try {
      call();
    } catch (const std::invalid_argument& error) {
      return error.what();
    }
    return "";
  };
  const std::int64_t* labels = p.labels.data();
  CHECK(setup(nullptr, embeddings, labels, proxies, kappas, T(0.5), shard, &loss, cublas));
  CHECK(bytes > 0);
  CHECK(setup(&samples, embeddings, labels, proxies, kappas, T(0.5), shard, &loss, cublas));
  const auto names = [&](const char* argument, auto&& call) {
    const std::string what = message_of(call);
    INFO(what);
    CHECK(what.find(std::string("argument '") + argument + "'") != std::string::npos);
  };
  names("shard", [&] { setup(nullptr, embeddings, labels, proxies, kappas, T(0.5), {3, 3, 6}, &loss, cublas); });
  names("shard", [&] { setup(nullptr, embeddings, labels, proxies, kappas, T(0.5), {4, 7, 6}, &loss, cublas); });
  names("proxies", [&] { setup(nullptr, embeddings, labels, proxies, kappas, T(0.5), {2, 6, 6}, &loss, cublas); });
  names("embeddings", [&] {
    setup(nullptr, ConstMatrixView<T>{p.embeddings.data(), p.b, 1, 1}, labels, proxies, kappas,
          T(0.5), shard, &loss, cublas);
  });
  names("kappas", [&] {
    setup(nullptr, embeddings, labels, proxies, ConstMatrixView<T>{p.kappas.data(), 3, p.d - 1, p.d},
          T(0.5), shard, &loss, cublas);
  });
  names("labels", [&] { setup(nullptr, embeddings, nullptr, proxies, kappas, T(0.5), shard, &loss, cublas); });
  names("temperature", [&] { setup(nullptr, embeddings, labels, proxies, kappas, T(0), shard, &loss, cublas); });
  names("temperature", [&] {
    setup(nullptr, embeddings, labels, proxies, kappas, std::nan(""), shard, &loss, cublas);
  });
  names("loss", [&] { setup(nullptr, embeddings, labels, proxies, kappas, T(0.5), shard, nullptr, cublas); });
  names("context.cublas", [&] { setup(nullptr, embeddings, labels, proxies, kappas, T(0.5), shard, &loss, nullptr); });
  names("samples", [&] {
    const ConstMatrixView<T> short_samples{p.samples.data(), rows - 1, p.d, p.d};
    setup(&short_samples, embeddings, labels, proxies, kappas, T(0.5), shard, &loss, cublas);
  });
  // The backward's checks, against a state that holds a forward.
  pc::detail::ShardedElNivmfState<T> saved;
  std::vector<T> out(static_cast<std::size_t>(rows * p.d));
  const MatrixView<T> ge{out.data(), p.b, p.d, p.d}, gv{out.data(), 3, p.d, p.d};
  const auto backward_checks = [&](const pc::detail::ShardedElNivmfState<T>& s, T grad_loss,
                                   MatrixView<T> e, MatrixView<T> v) {
    pc::detail::sharded_el_nivmf_backward_checks("fn", o.n_samples, s, grad_loss, e, v, gv,
                                                 static_cast<const MatrixView<T>*>(nullptr),
                                                 cublas);
  };
  names("saved", [&] { backward_checks(saved, T(1), ge, gv); });
  setup(nullptr, embeddings, labels, proxies, kappas, T(0.5), shard, &loss, cublas);
  saved = st;
  saved.local.valid = true;
  CHECK_NOTHROW(backward_checks(saved, T(1), ge, gv));
  names("grad_loss", [&] { backward_checks(saved, std::nan(""), ge, gv); });
  names("grad_embeddings", [&] { backward_checks(saved, T(1), gv, gv); });
  names("grad_proxies", [&] { backward_checks(saved, T(1), ge, ge); });
}
