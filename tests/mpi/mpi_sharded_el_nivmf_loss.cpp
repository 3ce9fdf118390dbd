// SPDX-License-Identifier: MIT
// Run under mpirun -np R: every rank holds a shard of the classes, runs the sharded criterion
// through pdml::mpi::Communicator and compares its loss and gradients with the
// single-process criterion on all classes (computed on every rank): <= 1e-12 relative in
// double, with even and uneven class ranges, ranks that own no label of the batch, with and
// without guidance, both scoring rules, one block and several blocks per shard.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <mpi.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include <pdml/losses/sharded_el_nivmf_loss.hpp>
#include <pdml/mpi/communicator.hpp>

#include "sharded_case.hpp"

using namespace pdml_test;

namespace {

// Shard r of an uneven split: sizes 1, 2, 3, ... and the last rank takes the rest.
pdml::ClassShard uneven_shard(pdml::Index total, int rank, int ranks) {
  const pdml::Index r = rank;
  const pdml::Index first = r * (r + 1) / 2;
  const pdml::Index end = rank + 1 == ranks ? total : (r + 1) * (r + 2) / 2;
  return pdml::ClassShard{first, end, total};
}

}  // namespace

TEST_CASE("pdml::mpi::Communicator reduces float and double buffers in place", "[mpi]") {
  pdml::mpi::Communicator comm(MPI_COMM_WORLD);
  const int rank = comm.rank(), ranks = comm.size();
  std::vector<double> d = {double(rank), -double(rank), 0.5};
  comm.all_reduce_sum(d.data(), d.size());
  CHECK(d[0] == ranks * (ranks - 1) / 2.0);
  CHECK(d[1] == -ranks * (ranks - 1) / 2.0);
  CHECK(d[2] == 0.5 * ranks);
  std::vector<float> f = {float(rank), -float(rank)};
  comm.all_reduce_max(f.data(), f.size());
  CHECK(f[0] == float(ranks - 1));
  CHECK(f[1] == 0.0f);
  comm.all_reduce_sum(f.data(), 0);  // an empty buffer is a no-op
}

TEST_CASE("ShardedElNivmfLoss over MPI equals the single-process criterion", "[mpi]") {
  pdml::mpi::Communicator comm(MPI_COMM_WORLD);
  const int rank = comm.rank(), ranks = comm.size();
  const pdml::Index classes = 37, batch = 12, dim = 8;
  const pdml::ClassShard layouts[] = {pdml::even_class_shard(classes, rank, ranks),
                                      uneven_shard(classes, rank, ranks)};
  // All classes; only the first 4 (most ranks own no label); only the last 4.
  const std::int64_t label_ranges[][2] = {{0, 37}, {0, 4}, {33, 37}};
  double worst = 0;
  int runs = 0, ranks_without_labels = 0;
  for (const auto& labels : label_ranges) {
    const auto c = make_sharded_case<double>(21, batch, classes, dim, labels[0], labels[1]);
    for (const double guidance : {0.0, 0.3}) {
      for (const auto scoring :
           {pdml::NivmfScoring::paper_rule, pdml::NivmfScoring::exact_density}) {
        pdml::ShardedElNivmfLoss<double>::Options o;
        o.criterion.n_samples = 3;
        o.criterion.guidance_weight = guidance;
        o.criterion.scoring = scoring;
        const auto reference = single_process<double>(o.criterion, c);
        for (const pdml::Index block : {pdml::Index(3), pdml::Index(1000)}) {
          o.block_classes = block;
          for (const auto& shard : layouts) {
            const auto result = run_shard(o, c, shard, comm);
            const double diff = worst_shard_difference(result, reference, shard);
            const bool owns_label = std::any_of(c.labels.begin(), c.labels.end(), [&](auto y) {
              return y >= shard.first && y < shard.end;
            });
            ranks_without_labels += owns_label ? 0 : 1;
            INFO("rank " << rank << " of " << ranks << " [" << shard.first << ", " << shard.end
                         << ") labels [" << labels[0] << ", " << labels[1] << ") block " << block
                         << " guidance " << guidance << " exact "
                         << (scoring == pdml::NivmfScoring::exact_density) << ": " << diff);
            CHECK(diff <= 1e-12);
            worst = std::max(worst, diff);
            ++runs;
          }
        }
      }
    }
  }
  // How many (rank, case) pairs had a shard without any label of the batch: a property of
  // the layouts above at 2 and 4 ranks, checked so that the case is not silently lost.
  std::vector<double> totals = {worst, double(ranks_without_labels)};
  comm.all_reduce_max(totals.data(), 1);
  comm.all_reduce_sum(totals.data() + 1, 1);
  if (rank == 0) {
    std::printf("mpi ranks %d: %d runs per rank, worst relative difference %.3g, "
                "%d shard runs without a label of the batch\n",
                ranks, runs, totals[0], int(totals[1]));
  }
  CHECK(runs == 3 * 2 * 2 * 2 * 2);
  if (ranks > 1) CHECK(totals[1] > 0);
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int status = Catch::Session().run(argc, argv);
  MPI_Finalize();
  return status;
}
