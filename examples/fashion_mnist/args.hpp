// SPDX-License-Identifier: MIT
#pragma once
// Command-line options of the Fashion-MNIST trainer.

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace fmnist {

/// A bad command line: the message says which option and why.
struct ArgumentError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class LossKind { el_nivmf, proxy_anchor, proxy_nca, el_vmf };

/// zero_shot: train on classes 0-4, evaluate on the held-out classes 5-9 and on
/// the test images of 0-4. seen: train on all 10 classes, evaluate on the test
/// images of all 10.
enum class Protocol { zero_shot, seen };

inline const char* protocol_name(Protocol protocol) {
  return protocol == Protocol::zero_shot ? "zeroshot" : "seen";
}

inline const char* loss_name(LossKind kind) {
  switch (kind) {
    case LossKind::el_nivmf: return "elnivmf";
    case LossKind::proxy_anchor: return "proxyanchor";
    case LossKind::proxy_nca: return "proxynca";
    case LossKind::el_vmf: return "elvmf";
  }
  return "?";
}

struct Config {
  LossKind loss = LossKind::el_nivmf;
  Protocol protocol = Protocol::zero_shot;
  long suite_images = 2000;     ///< images per split in the corruption suite (0 = no suite)
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::string out_dir = "fashion_mnist_out";
  int epochs = 5;
  int per_class = 32;           ///< images per class in a batch (5 classes per batch)
  long train_per_class = 6000;  ///< training images per seen class (6000 = all)
  std::vector<long> hidden{512};
  int dim = 64;
  float learning_rate = 1e-3f;
  float lr_decay = 0.3f;        ///< final learning rate as a fraction of the first (cosine schedule)
  float weight_decay = 1e-4f;
  float proxy_lr_multiplier = 100.0f;
  float kappa_lr_multiplier = 100.0f;
  float temperature_lr_multiplier = 10.0f;
  float init_norm = 16.0f;      ///< mean embedding norm after initialization
  int samples = 5;              ///< vMF samples per image (EL-nivMF)
  float guidance = 1.0f;        ///< ProxyAnchor guidance weight (EL-nivMF)
  float alpha = 32.0f;
  float delta = 0.1f;
  float temperature = 0.05f;    ///< initial temperature (EL-nivMF, EL-vMF, Proxy-NCA)
  float kappa_init = 16.0f;     ///< initial proxy concentration (warm start)
  float min_kappa = 0.1f;
  std::uint64_t seed = 0;
  int eval_every = 1;           ///< epochs between held-out Recall@1 checks (0: only at the end)
  bool quiet = false;
  bool help = false;
};

inline std::string usage() {
  return R"(Usage: fashion_mnist [options]
Trains an MLP embedding on Fashion-MNIST classes 0-4 and evaluates retrieval on
the held-out classes 5-9 (zero-shot) and on the test images of classes 0-4
(or, with --protocol seen, trains on all 10 classes and evaluates on their test
images), then runs the corruption and ambiguity suite on each evaluated split.

  --loss NAME            elnivmf (default) | proxyanchor | proxynca | elvmf
  --protocol NAME        zeroshot (default: train on classes 0-4, evaluate on
                         5-9 and on the test images of 0-4) | seen (train on
                         all 10 classes, evaluate on their test images)
  --suite-images N       test images per split in the corruption and ambiguity
                         suite, 0 = no suite (default 2000)
  --data-dir DIR         IDX files (default /usr/share/datasets/fashion-mnist,
                         from Debian's dataset-fashion-mnist package)
  --out-dir DIR          results, curves and pictures (default fashion_mnist_out)
  --epochs N             passes over the training images, 0 = evaluate the
                         untrained network (default 5)
  --per-class N          images per class in a batch, >= 2 (default 32; 5 classes per batch)
  --train-per-class N    training images per class, <= 6000 (default 6000)
  --hidden A,B,...       hidden layer widths (default 512)
  --dim N                embedding dimension (default 64)
  --lr X                 Adam learning rate of the network (default 1e-3)
  --lr-decay X           final/initial learning rate, cosine schedule (default 0.3)
  --weight-decay X       decoupled weight decay of the network (default 1e-4)
  --proxy-lr-mult X      learning-rate multiplier of the proxies (default 100)
  --kappa-lr-mult X      learning-rate multiplier of the proxy concentrations (default 100)
  --temperature-lr-mult X  learning-rate multiplier of log T (default 10)
  --init-norm X          mean embedding norm at initialization (default 16)
  --samples N            vMF samples per image for EL-nivMF (default 5)
  --guidance X           ProxyAnchor guidance weight for EL-nivMF (default 1)
  --alpha X, --delta X   ProxyAnchor scale and margin (default 32, 0.1)
  --temperature X        initial temperature (default 0.05)
  --kappa-init X         initial proxy concentration (default 16)
  --min-kappa X          lower clamp of concentrations (default 0.1)
  --seed N               seed of initialization, batches and samples (default 0)
  --eval-every N         epochs between held-out Recall@1 checks, 0 = end only (default 1)
  --quiet                no progress bar
  --help                 this text
)";
}

namespace detail {

inline double parse_number(const std::string& option, const std::string& text) {
  if (text.empty()) throw ArgumentError("option " + option + " needs a number, got ''");
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(value)) {
    throw ArgumentError("option " + option + " needs a finite number, got '" + text + "'");
  }
  return value;
}

inline long parse_integer(const std::string& option, const std::string& text, long min, long max) {
  const double value = parse_number(option, text);
  if (value != std::floor(value) || value < double(min) || value > double(max)) {
    throw ArgumentError("option " + option + " needs an integer in [" + std::to_string(min) +
                        ", " + std::to_string(max) + "], got '" + text + "'");
  }
  return static_cast<long>(value);
}

inline float parse_real(const std::string& option, const std::string& text, double min,
                        double max, bool min_exclusive) {
  const double value = parse_number(option, text);
  if ((min_exclusive ? value <= min : value < min) || value > max) {
    throw ArgumentError("option " + option + " needs a number in " + (min_exclusive ? "(" : "[") +
                        std::to_string(min) + ", " + std::to_string(max) + "], got '" + text + "'");
  }
  return static_cast<float>(value);
}

}  // namespace detail

/// Parses argv (argv[0] is the program). Throws ArgumentError on any bad option.
inline Config parse_arguments(int argc, const char* const* argv) {
  Config config;
  for (int i = 1; i < argc; ++i) {
    const std::string option = argv[i];
    if (option == "--help" || option == "-h") {
      config.help = true;
      continue;
    }
    if (option == "--quiet") {
      config.quiet = true;
      continue;
    }
    if (option.rfind("--", 0) != 0) throw ArgumentError("unexpected argument '" + option + "'");
    if (i + 1 >= argc) throw ArgumentError("option " + option + " needs a value");
    const std::string value = argv[++i];
    using detail::parse_integer;
    using detail::parse_real;
    const double big = 1e9;
    if (option == "--loss") {
      if (value == "elnivmf") config.loss = LossKind::el_nivmf;
      else if (value == "proxyanchor") config.loss = LossKind::proxy_anchor;
      else if (value == "proxynca") config.loss = LossKind::proxy_nca;
      else if (value == "elvmf") config.loss = LossKind::el_vmf;
      else throw ArgumentError("option --loss: unknown loss '" + value +
                               "' (elnivmf, proxyanchor, proxynca or elvmf)");
    } else if (option == "--protocol") {
      if (value == "zeroshot") config.protocol = Protocol::zero_shot;
      else if (value == "seen") config.protocol = Protocol::seen;
      else throw ArgumentError("option --protocol: unknown protocol '" + value + "' (zeroshot or seen)");
    } else if (option == "--suite-images") {
      config.suite_images = parse_integer(option, value, 0, 100000);
    } else if (option == "--data-dir") {
      config.data_dir = value;
    } else if (option == "--out-dir") {
      if (value.empty()) throw ArgumentError("option --out-dir needs a directory");
      config.out_dir = value;
    } else if (option == "--epochs") {
      config.epochs = static_cast<int>(parse_integer(option, value, 0, 10000));
    } else if (option == "--per-class") {
      config.per_class = static_cast<int>(parse_integer(option, value, 2, 6000));
    } else if (option == "--train-per-class") {
      config.train_per_class = parse_integer(option, value, 2, 6000);
    } else if (option == "--hidden") {
      config.hidden.clear();
      std::size_t start = 0;
      while (start <= value.size()) {
        const std::size_t comma = value.find(',', start);
        const std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        config.hidden.push_back(parse_integer(option, item, 1, 1 << 16));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (option == "--dim") {
      config.dim = static_cast<int>(parse_integer(option, value, 2, 4096));
    } else if (option == "--lr") {
      config.learning_rate = parse_real(option, value, 0, 10, true);
    } else if (option == "--lr-decay") {
      config.lr_decay = parse_real(option, value, 0, 1, false);
    } else if (option == "--weight-decay") {
      config.weight_decay = parse_real(option, value, 0, 1, false);
    } else if (option == "--proxy-lr-mult") {
      config.proxy_lr_multiplier = parse_real(option, value, 0, big, false);
    } else if (option == "--kappa-lr-mult") {
      config.kappa_lr_multiplier = parse_real(option, value, 0, big, false);
    } else if (option == "--temperature-lr-mult") {
      config.temperature_lr_multiplier = parse_real(option, value, 0, big, false);
    } else if (option == "--init-norm") {
      config.init_norm = parse_real(option, value, 0, big, true);
    } else if (option == "--samples") {
      config.samples = static_cast<int>(parse_integer(option, value, 1, 10000));
    } else if (option == "--guidance") {
      config.guidance = parse_real(option, value, 0, big, false);
    } else if (option == "--alpha") {
      config.alpha = parse_real(option, value, 0, big, true);
    } else if (option == "--delta") {
      config.delta = parse_real(option, value, -1, 1, false);
    } else if (option == "--temperature") {
      config.temperature = parse_real(option, value, 0, big, true);
    } else if (option == "--kappa-init") {
      config.kappa_init = parse_real(option, value, 0, big, true);
    } else if (option == "--min-kappa") {
      config.min_kappa = parse_real(option, value, 0, big, true);
    } else if (option == "--seed") {
      config.seed = static_cast<std::uint64_t>(parse_integer(option, value, 0, 2147483647L));
    } else if (option == "--eval-every") {
      config.eval_every = static_cast<int>(parse_integer(option, value, 0, 10000));
    } else {
      throw ArgumentError("unknown option '" + option + "' (see --help)");
    }
  }
  return config;
}

}  // namespace fmnist
