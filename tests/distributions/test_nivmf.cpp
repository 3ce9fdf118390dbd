// SPDX-License-Identifier: MIT
// nivMF(nu, k): the density integrates to one (quadrature on S^1 and S^2,
// importance sampling on S^5 and S^15), the exact sampler matches it
// (chi-square on S^1 and S^2, moments on S^15), every backward matches finite
// differences, and the sampler's backward estimates the gradient of E[g(x)]
// computed by quadrature.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include <boost/math/constants/constants.hpp>
#include <boost/math/distributions/chi_squared.hpp>

#include <pdml/distributions/nivmf.hpp>
#include <pdml/distributions/nivmf_batch.hpp>
#include <pdml/distributions/nivmf_sampler.hpp>
#include <pdml/distributions/vmf.hpp>

namespace {

using Vec = std::vector<double>;
const double kPi = boost::math::constants::pi<double>();

Vec random_unit(int p, std::mt19937_64& gen) {
  std::normal_distribution<double> normal;
  Vec v(p);
  double s = 0;
  for (auto& x : v) {
    x = normal(gen);
    s += x * x;
  }
  for (auto& x : v) x /= std::sqrt(s);
  return v;
}

double rel_error(const Vec& a, const Vec& b, double floor = 1e-3) {
  double err = 0, scale = floor;
  for (std::size_t j = 0; j < a.size(); ++j) {
    err = std::max(err, std::abs(a[j] - b[j]));
    scale = std::max(scale, std::abs(b[j]));
  }
  return err / scale;
}

/// Richardson-extrapolated central differences (error O(h^4)).
Vec fd_gradient(const std::function<double(const Vec&)>& f, Vec v, double h) {
  Vec g(v.size());
  for (std::size_t j = 0; j < v.size(); ++j) {
    const double keep = v[j];
    const double step = h * std::max(1.0, std::abs(keep));
    auto central = [&](double e) {
      v[j] = keep + e;
      const double up = f(v);
      v[j] = keep - e;
      const double down = f(v);
      v[j] = keep;
      return (up - down) / (2 * e);
    };
    g[j] = (4 * central(step / 2) - central(step)) / 3;
  }
  return g;
}

/// Gauss-Legendre nodes and weights on [-1, 1] (Newton on P_n).
void gauss_legendre(int n, Vec& nodes, Vec& weights) {
  nodes.assign(n, 0);
  weights.assign(n, 0);
  for (int i = 0; i < n; ++i) {
    double z = std::cos(kPi * (i + 0.75) / (n + 0.5));
    double dp = 0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1, p1 = z;
      for (int m = 2; m <= n; ++m) {
        const double p2 = ((2 * m - 1) * z * p1 - (m - 1) * p0) / m;
        p0 = p1;
        p1 = p2;
      }
      dp = n * (z * p1 - p0) / (z * z - 1);
      const double step = p1 / dp;
      z -= step;
      if (std::abs(step) < 1e-16) break;
    }
    nodes[i] = z;
    weights[i] = 2 / ((1 - z * z) * dp * dp);
  }
}

/// int over S^{p-1} (p = 2: trapezoid in the angle; p = 3: Gauss-Legendre in
/// x_3 times the trapezoid in the azimuth) of g(x).
double sphere_integral(int p, const std::function<double(const Vec&)>& g, int n = 2000) {
  double total = 0;
  if (p == 2) {
    for (int i = 0; i < n; ++i) {
      const double t = 2 * kPi * i / n;
      total += g(Vec{std::cos(t), std::sin(t)});
    }
    return total * 2 * kPi / n;
  }
  Vec nodes, weights;
  gauss_legendre(n / 4, nodes, weights);
  const int n_phi = n / 4;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const double z = nodes[i], s = std::sqrt(1 - z * z);
    for (int j = 0; j < n_phi; ++j) {
      const double ph = 2 * kPi * j / n_phi;
      total += weights[i] * (2 * kPi / n_phi) * g(Vec{s * std::cos(ph), s * std::sin(ph), z});
    }
  }
  return total;
}

double log_sphere_area(int p) {
  return std::log(2.0) + 0.5 * p * std::log(kPi) - std::lgamma(0.5 * p);
}

struct Params {
  Vec nu;
  Vec k;
};

}  // namespace

TEST_CASE("nivMF density integrates to one on S^1 and S^2 (quadrature)", "[nivmf]") {
  std::mt19937_64 gen(31);
  const std::vector<Vec> k2 = {{3, 3}, {10, 1}, {0.5, 4}, {100, 200}, {1e-3, 2e-3}, {0.2, 0.1}};
  const std::vector<Vec> k3 = {{2, 2, 2}, {5, 1, 2}, {0.3, 0.6, 0.9}, {30, 20, 40}, {1e-2, 3e-2, 2e-2}};
  double worst = 0;
  for (const Vec& k : k2) {
    const Vec nu = random_unit(2, gen);
    const double mass = sphere_integral(
        2, [&](const Vec& x) { return std::exp(pdml::nivmf_log_prob(2, nu.data(), k.data(), x.data())); },
        40000);
    worst = std::max(worst, std::abs(mass - 1));
  }
  for (const Vec& k : k3) {
    const Vec nu = random_unit(3, gen);
    const double mass = sphere_integral(
        3, [&](const Vec& x) { return std::exp(pdml::nivmf_log_prob(3, nu.data(), k.data(), x.data())); },
        1600);
    worst = std::max(worst, std::abs(mass - 1));
  }
  INFO("worst |mass - 1| " << worst);
  CHECK(worst < 1e-9);
}

TEST_CASE("exp(l_ref) integrates to prod(k) / |K nu|: l_ref is not a normalized density", "[nivmf]") {
  std::mt19937_64 gen(38);
  for (int p : {2, 3}) {
    for (const Vec& base : {Vec{3, 3, 3}, Vec{10, 1, 2}, Vec{0.5, 4, 0.7}}) {
      const Vec nu = random_unit(p, gen);
      const Vec k(base.begin(), base.begin() + p);
      double prod = 1, u2 = 0;
      for (int j = 0; j < p; ++j) {
        prod *= k[j];
        u2 += k[j] * k[j] * nu[j] * nu[j];
      }
      const double mass = sphere_integral(
          p, [&](const Vec& x) { return std::exp(pdml::nivmf_score(p, nu.data(), k.data(), x.data())); },
          p == 2 ? 4000 : 1600);
      CHECK(mass == Approx(prod / std::sqrt(u2)).epsilon(1e-10));
    }
  }
}

TEST_CASE("nivMF density integrates to one on S^5 and S^15 (importance sampling)", "[nivmf]") {
  // Uniform proposal: mass = |S^{p-1}| E_U[f(x)]; parameters with |K nu| <= 3 and
  // k_max / k_min <= 2 keep the weights bounded. Two estimates, |z| < 3.9 each
  // (family-wise level 2e-4).
  std::mt19937_64 gen(32);
  for (int p : {6, 16}) {
    const Vec nu = random_unit(p, gen);
    Vec k(p);
    std::uniform_real_distribution<double> unif(1.0, 2.0);
    for (double& v : k) v = 1.5 * unif(gen);
    const int n = 200000;
    const double la = log_sphere_area(p);
    double mean = 0, m2 = 0;
    for (int i = 0; i < n; ++i) {
      const Vec x = random_unit(p, gen);
      const double w = std::exp(la + pdml::nivmf_log_prob(p, nu.data(), k.data(), x.data()));
      const double d = w - mean;
      mean += d / (i + 1);
      m2 += d * (w - mean);
    }
    const double se = std::sqrt(m2 / (n - 1) / n);
    INFO("p = " << p << ": mass " << mean << " +- " << se);
    CHECK(std::abs(mean - 1) < 3.9 * se);
    CHECK(se < 0.01);
  }
}

TEST_CASE("nivMF with isotropic K = c I is vMF(nu, c); l_ref differs from log f by (p-1) log c",
          "[nivmf]") {
  std::mt19937_64 gen(33);
  for (int p : {2, 3, 10, 128}) {
    for (double c : {0.01, 1.0, 7.0, 300.0}) {
      const Vec nu = random_unit(p, gen), x = random_unit(p, gen);
      const Vec k(p, c);
      Vec eta(nu);
      for (double& e : eta) e *= c;
      const double lf = pdml::nivmf_log_prob(p, nu.data(), k.data(), x.data());
      CHECK(lf == Approx(pdml::vmf_log_prob(p, eta.data(), x.data())).epsilon(1e-12).margin(1e-11));
      const double lref = pdml::nivmf_score(p, nu.data(), k.data(), x.data());
      CHECK(lref - lf == Approx((p - 1) * std::log(c)).epsilon(1e-11).margin(1e-10));
    }
  }
}

TEST_CASE("nivMF log_prob, l_ref and offset backwards match finite differences",
          "[nivmf][gradient]") {
  std::mt19937_64 gen(34);
  double worst = 0;
  std::uniform_real_distribution<double> log_unif(-3.0, 3.0);
  for (int p : {2, 3, 16, 128}) {
    for (int trial = 0; trial < 3; ++trial) {
      const Vec nu = random_unit(p, gen), x = random_unit(p, gen);
      Vec k(p);
      for (double& v : k) v = std::exp(log_unif(gen));
      const double g = 0.6;
      Vec gnu(p), gk(p), gx(p);
      pdml::nivmf_log_prob_backward(p, nu.data(), k.data(), x.data(), g, gnu.data(), gk.data(), gx.data());
      worst = std::max(worst, rel_error(gnu, fd_gradient([&](const Vec& v) {
        return g * pdml::nivmf_log_prob(p, v.data(), k.data(), x.data()); }, nu, 1e-4)));
      worst = std::max(worst, rel_error(gk, fd_gradient([&](const Vec& v) {
        return g * pdml::nivmf_log_prob(p, nu.data(), v.data(), x.data()); }, k, 1e-4)));
      worst = std::max(worst, rel_error(gx, fd_gradient([&](const Vec& v) {
        return g * pdml::nivmf_log_prob(p, nu.data(), k.data(), v.data()); }, x, 1e-4)));

      pdml::nivmf_score_backward(p, nu.data(), k.data(), x.data(), g, gnu.data(), gk.data(), gx.data());
      worst = std::max(worst, rel_error(gnu, fd_gradient([&](const Vec& v) {
        return g * pdml::nivmf_score(p, v.data(), k.data(), x.data()); }, nu, 1e-4)));
      worst = std::max(worst, rel_error(gk, fd_gradient([&](const Vec& v) {
        return g * pdml::nivmf_score(p, nu.data(), v.data(), x.data()); }, k, 1e-4)));
      worst = std::max(worst, rel_error(gx, fd_gradient([&](const Vec& v) {
        return g * pdml::nivmf_score(p, nu.data(), k.data(), v.data()); }, x, 1e-4)));

      // The offsets' backwards ADD to their outputs: start from a known value.
      for (int which = 0; which < 2; ++which) {
        auto offset = [&](const Vec& v, const Vec& kk) {
          return which == 0 ? pdml::nivmf_score_offset(p, v.data(), kk.data())
                            : pdml::nivmf_log_density_offset(p, v.data(), kk.data());
        };
        Vec anu(p, 1.0), ak(p, -2.0);
        if (which == 0) {
          pdml::nivmf_score_offset_backward(p, nu.data(), k.data(), g, anu.data(), ak.data());
        } else {
          pdml::nivmf_log_density_offset_backward(p, nu.data(), k.data(), g, anu.data(), ak.data());
        }
        for (double& v : anu) v -= 1.0;
        for (double& v : ak) v += 2.0;
        worst = std::max(worst, rel_error(anu, fd_gradient([&](const Vec& v) { return g * offset(v, k); }, nu, 1e-4)));
        worst = std::max(worst, rel_error(ak, fd_gradient([&](const Vec& v) { return g * offset(nu, v); }, k, 1e-4)));
      }
      // l_ref = offset + (K nu)^T x, and the linear part is K nu.
      Vec lin(p);
      pdml::nivmf_score_linear(p, nu.data(), k.data(), lin.data());
      double dot = 0;
      for (int j = 0; j < p; ++j) dot += lin[j] * x[j];
      CHECK(pdml::nivmf_score(p, nu.data(), k.data(), x.data()) ==
            Approx(pdml::nivmf_score_offset(p, nu.data(), k.data()) + dot).epsilon(1e-14));
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-6);
}

namespace {

/// Draws n samples of nivMF(nu, k) through the batched API.
Vec draw_samples(const Vec& nu, const Vec& k, int n, pdml::RngKey key,
                 pdml::NivmfSampleSaved<double>* saved = nullptr) {
  const int p = static_cast<int>(nu.size());
  Vec out(static_cast<std::size_t>(n) * p);
  pdml::nivmf_sample(pdml::ConstMatrixView<double>{nu.data(), 1, p, p},
                     pdml::ConstMatrixView<double>{k.data(), 1, p, p}, n, key,
                     pdml::MatrixView<double>{out.data(), n, p, p}, saved);
  return out;
}

/// Upper quantile of the chi-square distribution.
double chi2_critical(int df, double level) {
  return boost::math::quantile(boost::math::complement(boost::math::chi_squared(df), level));
}

}  // namespace

TEST_CASE("nivMF sampler matches its density: chi-square on S^1 and S^2, moments on S^15",
          "[nivmf][sampler]") {
  std::mt19937_64 gen(35);
  // Family-wise level 1e-3 over 8 chi-square tests + 16 moment z-tests (Bonferroni).
  const double level = 1e-3 / 24;
  const int n = 20000;
  double worst_ratio = 0;
  // S^1: 60 angle bins; the bin probabilities by the trapezoid rule inside each bin.
  for (const Vec& k : {Vec{3, 3}, Vec{10, 1}, Vec{0.5, 4}, Vec{0.2, 0.1}}) {
    const Vec nu = random_unit(2, gen);
    const Vec xs = draw_samples(nu, k, n, pdml::RngKey{41, static_cast<std::uint64_t>(k[0] * 100)});
    const int bins = 60;
    std::vector<double> counts(bins, 0.0), probs(bins, 0.0);
    for (int i = 0; i < n; ++i) {
      double t = std::atan2(xs[2 * i + 1], xs[2 * i]);
      if (t < 0) t += 2 * kPi;
      counts[std::min(bins - 1, static_cast<int>(t / (2 * kPi) * bins))] += 1;
    }
    for (int b = 0; b < bins; ++b) {
      const int sub = 400;
      for (int q = 0; q < sub; ++q) {
        const double t = 2 * kPi * (b + (q + 0.5) / sub) / bins;
        const Vec x{std::cos(t), std::sin(t)};
        probs[b] += std::exp(pdml::nivmf_log_prob(2, nu.data(), k.data(), x.data())) * 2 * kPi / bins / sub;
      }
    }
    double chi2 = 0;
    for (int b = 0; b < bins; ++b) chi2 += std::pow(counts[b] - n * probs[b], 2) / (n * probs[b]);
    const double crit = chi2_critical(bins - 1, level);
    INFO("S^1, k = (" << k[0] << ", " << k[1] << "): chi2 = " << chi2 << " (critical " << crit << ")");
    CHECK(chi2 < crit);
    worst_ratio = std::max(worst_ratio, chi2 / crit);
  }
  // S^2: 8 bands in x_3 times 12 azimuth sectors; bin probabilities by 12 x 12 Gauss-Legendre.
  Vec gl_nodes, gl_weights;
  gauss_legendre(12, gl_nodes, gl_weights);
  for (const Vec& k : {Vec{2, 2, 2}, Vec{5, 1, 2}, Vec{0.3, 0.6, 0.9}, Vec{8, 4, 6}}) {
    const Vec nu = random_unit(3, gen);
    const Vec xs = draw_samples(nu, k, n, pdml::RngKey{42, static_cast<std::uint64_t>(k[1] * 100)});
    const int bz = 8, bp = 12, bins = bz * bp;
    std::vector<double> counts(bins, 0.0), probs(bins, 0.0);
    auto bin_of = [&](double z, double ph) {
      const int iz = std::min(bz - 1, static_cast<int>((z + 1) / 2 * bz));
      const int ip = std::min(bp - 1, static_cast<int>(ph / (2 * kPi) * bp));
      return iz * bp + ip;
    };
    for (int i = 0; i < n; ++i) {
      double ph = std::atan2(xs[3 * i + 1], xs[3 * i]);
      if (ph < 0) ph += 2 * kPi;
      counts[bin_of(xs[3 * i + 2], ph)] += 1;
    }
    for (int iz = 0; iz < bz; ++iz) {
      for (int ip = 0; ip < bp; ++ip) {
        const double z0 = -1 + 2.0 * iz / bz, z1 = -1 + 2.0 * (iz + 1) / bz;
        const double p0 = 2 * kPi * ip / bp, p1 = 2 * kPi * (ip + 1) / bp;
        double s = 0;
        for (int a = 0; a < 12; ++a) {
          const double z = 0.5 * (z0 + z1) + 0.5 * (z1 - z0) * gl_nodes[a];
          for (int b = 0; b < 12; ++b) {
            const double ph = 0.5 * (p0 + p1) + 0.5 * (p1 - p0) * gl_nodes[b];
            const double r = std::sqrt(1 - z * z);
            const Vec x{r * std::cos(ph), r * std::sin(ph), z};
            s += gl_weights[a] * gl_weights[b] *
                 std::exp(pdml::nivmf_log_prob(3, nu.data(), k.data(), x.data()));
          }
        }
        probs[iz * bp + ip] = s * 0.25 * (z1 - z0) * (p1 - p0);
      }
    }
    double chi2 = 0, total = 0;
    for (int b = 0; b < bins; ++b) {
      chi2 += std::pow(counts[b] - n * probs[b], 2) / (n * probs[b]);
      total += probs[b];
    }
    CHECK(total == Approx(1.0).epsilon(1e-8));
    const double crit = chi2_critical(bins - 1, level);
    INFO("S^2, k = (" << k[0] << ", " << k[1] << ", " << k[2] << "): chi2 = " << chi2 << " (critical "
                      << crit << ")");
    CHECK(chi2 < crit);
    worst_ratio = std::max(worst_ratio, chi2 / crit);
  }
  // S^15: E[x] from the sampler against E[x] = |S| E_U[f(x) x] by uniform importance sampling.
  {
    const int p = 16;
    const Vec nu = random_unit(p, gen);
    Vec k(p);
    std::uniform_real_distribution<double> unif(1.0, 2.0);
    for (double& v : k) v = 1.5 * unif(gen);
    const Vec xs = draw_samples(nu, k, n, pdml::RngKey{43, 0});
    const int n_is = 200000;
    const double la = log_sphere_area(p);
    Vec is_mean(p, 0.0), is_m2(p, 0.0), s_mean(p, 0.0), s_m2(p, 0.0);
    for (int i = 0; i < n_is; ++i) {
      const Vec x = random_unit(p, gen);
      const double w = std::exp(la + pdml::nivmf_log_prob(p, nu.data(), k.data(), x.data()));
      for (int j = 0; j < p; ++j) {
        const double v = w * x[j], d = v - is_mean[j];
        is_mean[j] += d / (i + 1);
        is_m2[j] += d * (v - is_mean[j]);
      }
    }
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < p; ++j) {
        const double v = xs[i * p + j], d = v - s_mean[j];
        s_mean[j] += d / (i + 1);
        s_m2[j] += d * (v - s_mean[j]);
      }
    }
    const double zcrit = 4.3;  // two-sided, level 1e-3 / 24 -> 4.3
    double worst_z = 0;
    for (int j = 0; j < p; ++j) {
      const double se = std::sqrt(is_m2[j] / (n_is - 1) / n_is + s_m2[j] / (n - 1) / n);
      worst_z = std::max(worst_z, std::abs(s_mean[j] - is_mean[j]) / se);
    }
    INFO("S^15 moments: worst |z| " << worst_z);
    CHECK(worst_z < zcrit);
  }
  INFO("worst chi2 / critical " << worst_ratio);
  CHECK(worst_ratio < 1);
}

TEST_CASE("nivMF sampler backward estimates d E[g(x)] / d(nu, k) (quadrature + finite differences)",
          "[nivmf][sampler][gradient]") {
  // g(x) = a^T x + (b^T x)^2 / 2. Reference: E_f[g] by quadrature (p = 2, 3), Richardson
  // finite differences in each of nu_j and k_j. Estimate: mean of per-sample backward
  // gradients; z-test per component, 2 * (2 + 3) * 2 components -> |z| < 4.4 (level 1e-3 / 20).
  std::mt19937_64 gen(36);
  const int n = 20000;
  for (int p : {2, 3}) {
    for (int trial = 0; trial < 2; ++trial) {
      const Vec nu = random_unit(p, gen), a = random_unit(p, gen), b = random_unit(p, gen);
      Vec k(p);
      std::uniform_real_distribution<double> unif(0.5, 6.0);
      for (double& v : k) v = unif(gen);
      auto g_of = [&](const Vec& x) {
        double s1 = 0, s2 = 0;
        for (int j = 0; j < p; ++j) {
          s1 += a[j] * x[j];
          s2 += b[j] * x[j];
        }
        return s1 + 0.5 * s2 * s2;
      };
      auto expectation = [&](const Vec& v, const Vec& kk) {
        return sphere_integral(
            p, [&](const Vec& x) { return g_of(x) * std::exp(pdml::nivmf_log_prob(p, v.data(), kk.data(), x.data())); },
            p == 2 ? 4000 : 800);
      };
      const Vec ref_nu = fd_gradient([&](const Vec& v) { return expectation(v, k); }, nu, 1e-3);
      const Vec ref_k = fd_gradient([&](const Vec& v) { return expectation(nu, v); }, k, 1e-3);

      pdml::NivmfSampleSaved<double> saved;
      const Vec xs = draw_samples(nu, k, n, pdml::RngKey{51, static_cast<std::uint64_t>(10 * p + trial)}, &saved);
      Vec mean_nu(p, 0.0), m2_nu(p, 0.0), mean_k(p, 0.0), m2_k(p, 0.0), gx(p), scratch(2 * p);
      Vec total_nu(p, 0.0), total_k(p, 0.0);
      std::vector<double> all_grads(static_cast<std::size_t>(n) * p);
      const double kappa = saved.kappas[0];
      const double one_minus_mean = pdml::vmf_mean_resultant_complement(p, kappa);
      const double one_plus_mean = 1 + pdml::vmf_mean_resultant(p, kappa);
      for (int i = 0; i < n; ++i) {
        const double* x = &xs[i * p];
        double s2 = 0;
        for (int j = 0; j < p; ++j) s2 += b[j] * x[j];
        for (int j = 0; j < p; ++j) gx[j] = all_grads[i * p + j] = a[j] + s2 * b[j];
        Vec gn(p, 0.0), gk(p, 0.0);
        const auto& draw = saved.draws[i];
        const double dw = pdml::vmf_marginal_dw_dkappa(p, kappa, draw.one_minus_w, draw.one_plus_w,
                                                       one_minus_mean, one_plus_mean);
        pdml::nivmf_sample_one_backward(p, nu.data(), k.data(), saved.mean_directions.data(), kappa, x,
                                        &saved.tangents[i * p], draw, dw, gx.data(), scratch.data(),
                                        gn.data(), gk.data());
        for (int j = 0; j < p; ++j) {
          total_nu[j] += gn[j];
          total_k[j] += gk[j];
          double d = gn[j] - mean_nu[j];
          mean_nu[j] += d / (i + 1);
          m2_nu[j] += d * (gn[j] - mean_nu[j]);
          d = gk[j] - mean_k[j];
          mean_k[j] += d / (i + 1);
          m2_k[j] += d * (gk[j] - mean_k[j]);
        }
      }
      // The batched backward sums the same per-sample gradients.
      Vec bnu(p), bk(p);
      pdml::nivmf_sample_backward(saved, pdml::ConstMatrixView<double>{all_grads.data(), n, p, p},
                                  pdml::MatrixView<double>{bnu.data(), 1, p, p},
                                  pdml::MatrixView<double>{bk.data(), 1, p, p});
      CHECK(rel_error(bnu, total_nu, 1.0) < 1e-12);
      CHECK(rel_error(bk, total_k, 1.0) < 1e-12);
      for (int j = 0; j < p; ++j) {
        const double z_nu = (mean_nu[j] - ref_nu[j]) / std::sqrt(m2_nu[j] / (n - 1) / n);
        const double z_k = (mean_k[j] - ref_k[j]) / std::sqrt(m2_k[j] / (n - 1) / n);
        INFO("p = " << p << ", j = " << j << ": d/dnu " << mean_nu[j] << " vs " << ref_nu[j] << " (z = " << z_nu
                    << "), d/dk " << mean_k[j] << " vs " << ref_k[j] << " (z = " << z_k << ")");
        CHECK(std::abs(z_nu) < 4.4);
        CHECK(std::abs(z_k) < 4.4);
      }
    }
  }
}

TEST_CASE("nivMF sample backward through K^{-1}: finite differences at fixed K nu", "[nivmf][gradient]") {
  // Moving (k_j, nu_j) -> (k_j e^e, nu_j e^-e) keeps u = K nu, hence the preimage vMF draw y,
  // fixed, and changes x = K^{-1} y / |K^{-1} y| only through K^{-1}. Along this direction the
  // backward's vMF part cancels (k_j dL/dk_j - nu_j dL/dnu_j = k_j x_j-terms only), so the
  // finite difference checks the map's gradient exactly and deterministically.
  std::mt19937_64 gen(39);
  double worst = 0;
  std::uniform_real_distribution<double> log_unif(-1.5, 1.5);
  for (int p : {2, 3, 16}) {
    for (int trial = 0; trial < 3; ++trial) {
      const Vec nu = random_unit(p, gen), g = random_unit(p, gen);
      Vec k(p);
      for (double& v : k) v = std::exp(log_unif(gen));
      auto sample = [&](const Vec& nn, const Vec& kk, Vec& x, Vec& m, Vec& t, double& kappa) {
        pdml::RandomStream stream(pdml::RngKey{61, 2}, static_cast<std::uint64_t>(7 * p + trial));
        kappa = pdml::nivmf_preimage_parameters(p, nn.data(), kk.data(), m.data());
        return pdml::nivmf_sample_one(stream, p, kk.data(), m.data(), kappa, x.data(), t.data());
      };
      Vec x(p), m(p), t(p), scratch(2 * p), gnu(p, 0.0), gk(p, 0.0);
      double kappa = 0;
      const auto draw = sample(nu, k, x, m, t, kappa);
      REQUIRE(draw.ok);
      pdml::nivmf_sample_one_backward(p, nu.data(), k.data(), m.data(), kappa, x.data(), t.data(), draw,
                                      0.37, g.data(), scratch.data(), gnu.data(), gk.data());
      Vec analytic(p), numeric(p);
      for (int j = 0; j < p; ++j) {
        analytic[j] = k[j] * gk[j] - nu[j] * gnu[j];
        auto loss = [&](double e) {
          Vec nn(nu), kk(k), xx(p), mm(p), tt(p);
          kk[j] *= std::exp(e);
          nn[j] *= std::exp(-e);
          double kap = 0;
          sample(nn, kk, xx, mm, tt, kap);
          double l = 0;
          for (int i = 0; i < p; ++i) l += g[i] * xx[i];
          return l;
        };
        const double h = 1e-3;
        auto central = [&](double step) { return (loss(step) - loss(-step)) / (2 * step); };
        numeric[j] = (4 * central(h / 2) - central(h)) / 3;
      }
      worst = std::max(worst, rel_error(analytic, numeric));
    }
  }
  INFO("worst relative error " << worst);
  CHECK(worst < 1e-6);
}

TEST_CASE("nivMF batched API: layout, streams, log_prob, float, validation", "[nivmf][batch]") {
  const int p = 4, n_dist = 3, n_samples = 5;
  std::mt19937_64 gen(37);
  Vec nus(n_dist * p), ks(n_dist * p);
  for (int n = 0; n < n_dist; ++n) {
    const Vec v = random_unit(p, gen);
    for (int j = 0; j < p; ++j) {
      nus[n * p + j] = v[j];
      ks[n * p + j] = 0.5 + n + j;
    }
  }
  const pdml::ConstMatrixView<double> dv{nus.data(), n_dist, p, p}, kv{ks.data(), n_dist, p, p};
  Vec out(n_samples * n_dist * p);
  const pdml::RngKey key{9, 3};
  pdml::nivmf_sample(dv, kv, n_samples, key, pdml::MatrixView<double>{out.data(), n_samples * n_dist, p, p});
  for (int s = 0; s < n_samples; ++s) {
    for (int n = 0; n < n_dist; ++n) {
      pdml::RandomStream stream(key, static_cast<std::uint64_t>(s * n_dist + n));
      Vec m(p), x(p);
      const double kappa = pdml::nivmf_preimage_parameters(p, &nus[n * p], &ks[n * p], m.data());
      pdml::nivmf_sample_one(stream, p, &ks[n * p], m.data(), kappa, x.data(), static_cast<double*>(nullptr));
      double norm = 0;
      for (int j = 0; j < p; ++j) {
        CHECK(out[(s * n_dist + n) * p + j] == x[j]);
        norm += x[j] * x[j];
      }
      CHECK(std::abs(std::sqrt(norm) - 1) <= 8 * std::numeric_limits<double>::epsilon());
    }
  }
  Vec lp(n_samples * n_dist), glp(n_samples * n_dist, 0.5), gd(n_dist * p), gk(n_dist * p), gx(out.size());
  const pdml::ConstMatrixView<double> pts{out.data(), n_samples * n_dist, p, p};
  pdml::nivmf_log_prob(dv, kv, pts, pdml::MatrixView<double>{lp.data(), n_samples * n_dist, 1, 1});
  CHECK(lp[7] == pdml::nivmf_log_prob(p, &nus[1 * p], &ks[1 * p], &out[7 * p]));
  pdml::nivmf_log_prob_backward(dv, kv, pts, pdml::ConstMatrixView<double>{glp.data(), n_samples * n_dist, 1, 1},
                                pdml::MatrixView<double>{gd.data(), n_dist, p, p},
                                pdml::MatrixView<double>{gk.data(), n_dist, p, p},
                                pdml::MatrixView<double>{gx.data(), n_samples * n_dist, p, p});
  Vec expect_d(p, 0.0), one_d(p), one_k(p), one_x(p);
  for (int s = 0; s < n_samples; ++s) {
    const int i = s * n_dist + 2;
    pdml::nivmf_log_prob_backward(p, &nus[2 * p], &ks[2 * p], &out[i * p], 0.5, one_d.data(), one_k.data(),
                                  one_x.data());
    for (int j = 0; j < p; ++j) expect_d[j] += one_d[j];
  }
  CHECK(rel_error(Vec(gd.begin() + 2 * p, gd.end()), expect_d) < 1e-14);
  // float
  std::vector<float> fn(nus.begin(), nus.end()), fk(ks.begin(), ks.end()), fout(out.size());
  pdml::nivmf_sample(pdml::ConstMatrixView<float>{fn.data(), n_dist, p, p},
                     pdml::ConstMatrixView<float>{fk.data(), n_dist, p, p}, n_samples, key,
                     pdml::MatrixView<float>{fout.data(), n_samples * n_dist, p, p});
  for (int i = 0; i < n_samples * n_dist; ++i) {
    float s = 0;
    for (int j = 0; j < p; ++j) s += fout[i * p + j] * fout[i * p + j];
    CHECK(std::abs(std::sqrt(s) - 1.0f) <= 8 * std::numeric_limits<float>::epsilon());
  }
  // Validation before writing.
  Vec sentinel(out.size(), -5.0);
  const pdml::MatrixView<double> target{sentinel.data(), n_samples * n_dist, p, p};
  Vec bad_k(ks);
  bad_k[5] = 0.0;
  CHECK_THROWS_WITH(pdml::nivmf_sample(dv, pdml::ConstMatrixView<double>{bad_k.data(), n_dist, p, p}, n_samples,
                                       key, target),
                    Catch::Contains("concentrations"));
  Vec bad_nu(nus);
  bad_nu[0] *= 2;
  CHECK_THROWS_WITH(pdml::nivmf_sample(pdml::ConstMatrixView<double>{bad_nu.data(), n_dist, p, p}, kv, n_samples,
                                       key, target),
                    Catch::Contains("directions"));
  CHECK_THROWS_WITH(pdml::nivmf_sample(dv, kv, n_samples - 1, key, target), Catch::Contains("samples"));
  for (double v : sentinel) CHECK(v == -5.0);
}
