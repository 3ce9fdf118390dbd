// SPDX-License-Identifier: MIT
#pragma once
// A one-line progress bar on stderr with the running loss and the estimated
// time remaining; silent when stderr is not a terminal or when disabled.

#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace fmnist {

class ProgressBar {
 public:
  ProgressBar(long total, bool enabled)
      : total_(total), enabled_(enabled && isatty(fileno(stderr)) != 0),
        start_(std::chrono::steady_clock::now()) {}

  static std::string format_seconds(double seconds) {
    const long s = static_cast<long>(seconds + 0.5);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%ld:%02ld", s / 60, s % 60);
    return buffer;
  }

  double elapsed_seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

  /// Redraws at most ~10 times a second (and always on the last step).
  void update(long done, int epoch, int epochs, double loss) {
    if (!enabled_) return;
    const double elapsed = elapsed_seconds();
    if (done < total_ && elapsed - last_draw_ < 0.1) return;
    last_draw_ = elapsed;
    const double fraction = total_ > 0 ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
    const double remaining = done > 0 ? elapsed * (1.0 - fraction) / fraction : 0.0;
    constexpr int width = 30;
    const int filled = static_cast<int>(fraction * width);
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.append(static_cast<std::size_t>(width - filled), '-');
    std::fprintf(stderr, "\r[%s] %3d%%  epoch %d/%d  loss %.4f  elapsed %s  left %s ", bar.c_str(),
                 static_cast<int>(fraction * 100.0), epoch, epochs, loss,
                 format_seconds(elapsed).c_str(), format_seconds(remaining).c_str());
    if (done >= total_) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

  void finish() {
    if (enabled_ && last_draw_ >= 0.0) std::fflush(stderr);
  }

 private:
  long total_;
  bool enabled_;
  std::chrono::steady_clock::time_point start_;
  double last_draw_ = -1.0;
};

}  // namespace fmnist
