// SPDX-License-Identifier: MIT
#pragma once
// Umbrella header: every public CPU API of pdml, layer by layer.
// (CUDA specializations live under cuda/pdml/cuda and are included separately.)

// core: configuration, views, validation
#include <pdml/config.hpp>
#include <pdml/version.hpp>
#include <pdml/core/cpu_dispatch.hpp>
#include <pdml/core/eigen_map.hpp>
#include <pdml/core/gradient_mode.hpp>
#include <pdml/core/labels.hpp>
#include <pdml/core/matrix_view.hpp>
#include <pdml/core/scaled_norm.hpp>
#include <pdml/core/thread_scratch.hpp>
#include <pdml/core/validate.hpp>

// math: Bessel functions and vMF log-normalizers
#include <pdml/math/log_bessel.hpp>
#include <pdml/math/vmf_normalizer.hpp>
#include <pdml/math/vmf_normalizer_batch.hpp>

// random: counter-based random numbers
#include <pdml/random/philox.hpp>
#include <pdml/random/random_stream.hpp>

// distributions: vMF, nivMF, Power Spherical
#include <pdml/distributions/vmf_sample.hpp>
#include <pdml/distributions/vmf_sampler.hpp>
#include <pdml/distributions/nivmf.hpp>
#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/nivmf_sampler.hpp>
#include <pdml/distributions/power_spherical.hpp>
#include <pdml/distributions/power_spherical_batch.hpp>
#include <pdml/distributions/vmf.hpp>
#include <pdml/distributions/vmf_batch.hpp>

// similarities: proxy-to-image similarities
#include <pdml/similarities/cosine.hpp>
#include <pdml/similarities/el_nivmf.hpp>
#include <pdml/similarities/el_vmf.hpp>
#include <pdml/similarities/kl_vmf.hpp>
#include <pdml/similarities/l2.hpp>
#include <pdml/similarities/nivmf_point.hpp>
#include <pdml/similarities/nivmf_scoring.hpp>

// losses: Proxy-NCA, ProxyAnchor, EL-nivMF criterion
#include <pdml/losses/class_shard.hpp>
#include <pdml/losses/communicator.hpp>
#include <pdml/losses/el_nivmf_loss.hpp>
#include <pdml/losses/proxy_anchor.hpp>
#include <pdml/losses/proxy_nca.hpp>
#include <pdml/losses/reduction.hpp>
#include <pdml/losses/sharded_el_nivmf_loss.hpp>

// evaluation: retrieval metrics
#include <pdml/evaluation/clustering.hpp>
#include <pdml/evaluation/neighbors.hpp>
#include <pdml/evaluation/retrieval.hpp>
#include <pdml/evaluation/uncertainty.hpp>
