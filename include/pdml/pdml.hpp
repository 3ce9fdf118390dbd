#pragma once
// Umbrella header: every public CPU API of pdml, layer by layer.
// (CUDA specializations live under cuda/pdml/cuda and are included separately.)

// core: configuration, views, validation
#include <pdml/config.hpp>
#include <pdml/core/eigen_map.hpp>
#include <pdml/core/matrix_view.hpp>
#include <pdml/core/validate.hpp>

// math: Bessel functions and vMF log-normalizers
#include <pdml/math/log_bessel.hpp>
#include <pdml/math/vmf_normalizer.hpp>

// random: counter-based random numbers
#include <pdml/random/philox.hpp>
#include <pdml/random/random_stream.hpp>

// distributions: vMF, nivMF, Power Spherical
#include <pdml/distributions/power_spherical.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>

// similarities: proxy-to-image similarities

// losses: Proxy-NCA, ProxyAnchor, EL-nivMF criterion

// evaluation: retrieval metrics
#include <pdml/evaluation/clustering.hpp>
#include <pdml/evaluation/neighbors.hpp>
#include <pdml/evaluation/retrieval.hpp>
#include <pdml/evaluation/uncertainty.hpp>
