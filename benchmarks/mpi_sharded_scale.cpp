// SPDX-License-Identifier: MIT
// Scaling run of the sharded EL-nivMF criterion across MPI ranks (docs/scale.md): a few
// training steps (forward + backward) at C classes, D dimensions, batch B, S samples, with
// the classes split evenly across the ranks; or, with --single (one rank), the
// single-process ElNivmfLoss on all classes as the peer. Prints, from rank 0, the time per
// step (slowest rank), the CPU time per step summed over ranks (less sensitive than wall time
// to other load on a shared machine), the time spent inside the all-reduces, the bytes all-reduced per rank
// and step, and each rank's peak resident memory (getrusage ru_maxrss).
//
//   mpirun -np 4 build/bench/benchmarks/mpi_sharded_scale --classes 1000000 --steps 2
//
// Options: --classes C (1000000) --dim D (512) --batch B (256) --samples S (5)
// --steps N (2) --warmup N (1, untimed steps first) --block K (2048) --guidance W (0.3) --double --single

#include <mpi.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/sharded_el_nivmf_loss.hpp>
#include <pdml/mpi/communicator.hpp>

namespace {

struct Settings {
  pdml::Index classes = 1000000, dim = 512, batch = 256;
  int samples = 5, steps = 2, warmup = 1;
  pdml::Index block = 2048;
  double guidance = 0.3;
  bool use_double = false, single = false;
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "missing value after %s\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--classes") s.classes = std::atoll(next());
    else if (a == "--dim") s.dim = std::atoll(next());
    else if (a == "--batch") s.batch = std::atoll(next());
    else if (a == "--samples") s.samples = std::atoi(next());
    else if (a == "--steps") s.steps = std::atoi(next());
    else if (a == "--warmup") s.warmup = std::atoi(next());
    else if (a == "--block") s.block = std::atoll(next());
    else if (a == "--guidance") s.guidance = std::atof(next());
    else if (a == "--double") s.use_double = true;
    else if (a == "--single") s.single = true;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      std::exit(2);
    }
  }
  return s;
}

// Deterministic values addressed by (stream, index), independent of how classes are sharded.
double hashed_uniform(std::uint64_t stream, std::uint64_t index) {
  std::uint64_t z = stream * 0x9E3779B97F4A7C15ull + index + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53;
}

double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// Counts what travels through the all-reduces and the time spent in them (waiting included).
struct TimedCommunicator {
  pdml::mpi::Communicator inner;
  double seconds = 0;
  std::size_t bytes = 0;
  template <class T>
  void all_reduce_max(T* data, std::size_t count) {
    const auto t0 = std::chrono::steady_clock::now();
    inner.all_reduce_max(data, count);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bytes += count * sizeof(T);
  }
  template <class T>
  void all_reduce_sum(T* data, std::size_t count) {
    const auto t0 = std::chrono::steady_clock::now();
    inner.all_reduce_sum(data, count);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bytes += count * sizeof(T);
  }
};

template <class T>
int run(const Settings& s, int rank, int ranks) {
  using Matrix = pdml::RowMajorMatrix<T>;
  const pdml::ClassShard shard = s.single ? pdml::ClassShard{0, s.classes, s.classes}
                                          : pdml::even_class_shard(s.classes, rank, ranks);
  const pdml::Index n = shard.size(), d = s.dim, b = s.batch;
  Matrix embeddings(b, d), proxies(n, d), kappas(n, d);
  for (pdml::Index i = 0; i < b; ++i) {
    for (pdml::Index j = 0; j < d; ++j) {
      embeddings(i, j) = T(2.0 * (hashed_uniform(1, std::uint64_t(i * d + j)) - 0.5));
    }
  }
  for (pdml::Index c = 0; c < n; ++c) {
    const std::uint64_t row = std::uint64_t(shard.first + c) * std::uint64_t(d);
    for (pdml::Index j = 0; j < d; ++j) {
      proxies(c, j) = T(hashed_uniform(2, row + j) - 0.5);
      kappas(c, j) = T(0.5 + 3.5 * hashed_uniform(3, row + j));
    }
  }
  std::vector<std::int64_t> labels(static_cast<std::size_t>(b));
  for (pdml::Index i = 0; i < b; ++i) {
    labels[i] = std::int64_t(hashed_uniform(4, std::uint64_t(i)) * double(s.classes));
  }
  Matrix grad_embeddings(b, d), grad_proxies(n, d), grad_kappas(n, d);
  T grad_temperature = 0;
  const T temperature = T(0.1);

  typename pdml::ElNivmfLoss<T>::Options criterion;
  criterion.n_samples = s.samples;
  criterion.guidance_weight = T(s.guidance);
  typename pdml::ShardedElNivmfLoss<T>::Options sharded_options;
  sharded_options.criterion = criterion;
  sharded_options.block_classes = s.block;
  const pdml::ShardedElNivmfLoss<T> sharded(sharded_options);
  typename pdml::ShardedElNivmfLoss<T>::Saved sharded_saved;
  const pdml::ElNivmfLoss<T> single(criterion);
  typename pdml::ElNivmfLoss<T>::Saved single_saved;
  TimedCommunicator comm{pdml::mpi::Communicator(MPI_COMM_WORLD)};

  std::vector<double> step_seconds, comm_seconds, cpu_seconds;
  std::size_t step_bytes = 0;
  T loss = 0;
  for (int step = 0; step < s.warmup + s.steps; ++step) {  // the first `warmup` steps warm up
    const pdml::RngKey key{2022, std::uint64_t(step)};
    MPI_Barrier(MPI_COMM_WORLD);
    comm.seconds = 0;
    comm.bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    const double cpu0 = process_cpu_seconds();
    if (s.single) {
      loss = single.forward(pdml::view_of<T>(embeddings), labels.data(),
                            pdml::view_of<T>(proxies), pdml::view_of<T>(kappas), temperature,
                            key, single_saved);
      single.backward(single_saved, T(1), pdml::view_of<T>(grad_embeddings),
                      pdml::view_of<T>(grad_proxies), pdml::view_of<T>(grad_kappas),
                      &grad_temperature);
    } else {
      loss = sharded.forward(pdml::view_of<T>(embeddings), labels.data(),
                             pdml::view_of<T>(proxies), pdml::view_of<T>(kappas), temperature,
                             key, shard, comm, sharded_saved);
      sharded.backward(sharded_saved, T(1), pdml::view_of<T>(proxies), pdml::view_of<T>(kappas),
                       pdml::view_of<T>(grad_embeddings), pdml::view_of<T>(grad_proxies),
                       pdml::view_of<T>(grad_kappas), &grad_temperature, comm);
    }
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double cpu = process_cpu_seconds() - cpu0;
    double in_comm = comm.seconds;
    MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &in_comm, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &cpu, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
      std::printf("  step %d: %.3f s (all-reduce %.3f s), CPU %.3f s over all ranks, loss %.6f\n",
                  step, elapsed, in_comm, cpu, double(loss));
      std::fflush(stdout);
    }
    if (step >= s.warmup) {
      step_seconds.push_back(elapsed);
      comm_seconds.push_back(in_comm);
      cpu_seconds.push_back(cpu);
    }
    step_bytes = comm.bytes;
  }

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  long peak_kib = usage.ru_maxrss;
  std::vector<long> peaks(static_cast<std::size_t>(ranks));
  MPI_Gather(&peak_kib, 1, MPI_LONG, peaks.data(), 1, MPI_LONG, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    double mean = 0, mean_comm = 0, mean_cpu = 0;
    for (std::size_t i = 0; i < step_seconds.size(); ++i) {
      mean += step_seconds[i];
      mean_comm += comm_seconds[i];
      mean_cpu += cpu_seconds[i];
    }
    mean /= double(step_seconds.size());
    mean_comm /= double(step_seconds.size());
    mean_cpu /= double(step_seconds.size());
    std::printf("RESULT mode=%s ranks=%d C=%lld D=%lld B=%lld S=%d type=%s block=%lld "
                "guidance=%g steps=%d mean_step_s=%.3f mean_cpu_s_all_ranks=%.3f mean_allreduce_s=%.3f "
                "allreduce_bytes_per_rank_step=%zu peak_rss_mib_per_rank=",
                s.single ? "single" : "sharded", ranks, (long long)s.classes, (long long)d,
                (long long)b, s.samples, s.use_double ? "double" : "float", (long long)s.block,
                s.guidance, s.steps, mean, mean_cpu, mean_comm, step_bytes);
    for (int r = 0; r < ranks; ++r) {
      std::printf("%s%.0f", r ? "," : "", double(peaks[static_cast<std::size_t>(r)]) / 1024.0);
    }
    std::printf("\n");
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const Settings s = parse(argc, argv);
  int status = 0;
  if (s.single && ranks != 1) {
    if (rank == 0) std::fprintf(stderr, "--single runs on one rank\n");
    status = 2;
  } else if (s.classes < ranks || s.steps < 1 || s.warmup < 0) {
    if (rank == 0) std::fprintf(stderr, "need classes >= ranks, steps >= 1, warmup >= 0\n");
    status = 2;
  } else {
    status = s.use_double ? run<double>(s, rank, ranks) : run<float>(s, rank, ranks);
  }
  MPI_Finalize();
  return status;
}
