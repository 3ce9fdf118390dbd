// SPDX-License-Identifier: MIT
#pragma once
// Which nivMF score a proxy assigns to a point, on CUDA. Mirrors
// pdml::NivmfScoring (include/pdml/similarities/nivmf_scoring.hpp, which
// CUDA code cannot include: it pulls in Eigen); same enumerators, same order.

namespace pdml {
namespace cuda {

/// The nivMF score of the criterion and of the nivMF-to-point similarity.
enum class NivmfScoring {
  paper_rule,     ///< the paper's l_ref (default)
  exact_density,  ///< the exact nivMF log-density
};

}  // namespace cuda
}  // namespace pdml
