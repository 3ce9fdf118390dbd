// SPDX-License-Identifier: MIT
#pragma once
// Which nivMF score a proxy assigns to a point, on CUDA. Mirrors
// pdml::NivmfScoring (include/pdml/similarities/nivmf_scoring.hpp, which
// CUDA code cannot include: it pulls in Eigen); same enumerators, same order.

#include "pdml/cuda/core/context.hpp"

namespace pdml {
namespace cuda {

/// The nivMF score of the criterion and of the nivMF-to-point similarity.
enum class NivmfScoring {
  paper_rule,     ///< the paper's l_ref (default)
  exact_density,  ///< the exact nivMF log-density
};

namespace detail {

/// A host enum value that is one of NivmfScoring's enumerators.
inline void check_scoring(const char* function, const char* argument, NivmfScoring scoring) {
  if (scoring != NivmfScoring::paper_rule && scoring != NivmfScoring::exact_density) {
    throw_cuda_argument(function, argument, "is not a NivmfScoring value");
  }
}

}  // namespace detail
}  // namespace cuda
}  // namespace pdml
