// SPDX-License-Identifier: MIT
#pragma once
// The trainer's pictures: a grayscale PNG grid of images (libpng) and an SVG
// line plot of training curves.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <png.h>

namespace fmnist {

/// Writes an 8-bit grayscale PNG (pixels row-major, width * height bytes).
inline void write_png_gray(const std::string& path, const std::vector<std::uint8_t>& pixels,
                           int width, int height) {
  if (width <= 0 || height <= 0 ||
      pixels.size() != static_cast<std::size_t>(width) * static_cast<std::size_t>(height)) {
    throw std::invalid_argument("write_png_gray: pixel buffer does not match the size");
  }
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (!file) throw std::runtime_error("cannot write '" + path + "'");
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    throw std::runtime_error("libpng could not start writing '" + path + "'");
  }
  // libpng reports errors by longjmp; nothing with a destructor lives between
  // here and the end of the writing.
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    std::fclose(file);
    throw std::runtime_error("libpng failed while writing '" + path + "'");
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y) {
    png_write_row(png, const_cast<png_bytep>(pixels.data() + static_cast<std::size_t>(y) *
                                                                 static_cast<std::size_t>(width)));
  }
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  if (std::fclose(file) != 0) throw std::runtime_error("cannot finish writing '" + path + "'");
}

/// Lays out rows of small images (each image_rows x image_cols, values in [0, 1])
/// into one picture, with a 2-pixel gap between images, a 6-pixel gap between
/// rows, and white background. rows[r] lists the images of grid row r.
inline void write_image_grid(const std::string& path,
                             const std::vector<std::vector<const float*>>& rows, int image_rows,
                             int image_cols, int scale = 2) {
  std::size_t columns = 0;
  for (const auto& r : rows) columns = std::max(columns, r.size());
  if (rows.empty() || columns == 0) throw std::invalid_argument("write_image_grid: no images");
  const int gap = 2, row_gap = 6;
  const int cell_w = image_cols * scale, cell_h = image_rows * scale;
  const int width = static_cast<int>(columns) * (cell_w + gap) + gap;
  const int height = static_cast<int>(rows.size()) * (cell_h + row_gap) + row_gap;
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height), 255);
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const float* image = rows[r][c];
      const int x0 = gap + static_cast<int>(c) * (cell_w + gap);
      const int y0 = row_gap + static_cast<int>(r) * (cell_h + row_gap);
      for (int y = 0; y < cell_h; ++y) {
        for (int x = 0; x < cell_w; ++x) {
          // Fashion-MNIST is white-on-black; draw it dark-on-white for print.
          const float v = image[(y / scale) * image_cols + (x / scale)];
          const float clamped = std::min(1.0f, std::max(0.0f, v));
          pixels[static_cast<std::size_t>(y0 + y) * static_cast<std::size_t>(width) +
                 static_cast<std::size_t>(x0 + x)] =
              static_cast<std::uint8_t>(std::lround(255.0f * (1.0f - clamped)));
        }
      }
    }
  }
  write_png_gray(path, pixels, width, height);
}

/// A 3 x 5 pixel font for numbers: digits, '.', '-' (bit 2 = left column).
inline const std::uint8_t* glyph_3x5(char ch) {
  static const std::uint8_t digits[10][5] = {
      {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 3, 1, 7}, {5, 5, 7, 1, 1},
      {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 2, 2}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}};
  static const std::uint8_t dot[5] = {0, 0, 0, 0, 2};
  static const std::uint8_t minus[5] = {0, 0, 7, 0, 0};
  if (ch >= '0' && ch <= '9') return digits[ch - '0'];
  if (ch == '.') return dot;
  if (ch == '-') return minus;
  return nullptr;
}

/// Like write_image_grid, with a number (digits, '.', '-') written in black
/// under each image; labels[r][c] belongs to rows[r][c].
inline void write_labelled_image_grid(const std::string& path,
                                      const std::vector<std::vector<const float*>>& rows,
                                      const std::vector<std::vector<std::string>>& labels,
                                      int image_rows, int image_cols, int scale = 2) {
  std::size_t columns = 0;
  for (const auto& r : rows) columns = std::max(columns, r.size());
  if (rows.empty() || columns == 0) throw std::invalid_argument("write_labelled_image_grid: no images");
  if (labels.size() != rows.size()) throw std::invalid_argument("write_labelled_image_grid: one label row per image row");
  for (std::size_t r = 0; r < rows.size(); ++r) {
    if (labels[r].size() != rows[r].size()) {
      throw std::invalid_argument("write_labelled_image_grid: one label per image");
    }
  }
  const int gap = 4, text_h = 5 * scale, row_gap = text_h + 6;
  const int cell_w = image_cols * scale, cell_h = image_rows * scale;
  const int width = static_cast<int>(columns) * (cell_w + gap) + gap;
  const int height = static_cast<int>(rows.size()) * (cell_h + row_gap) + gap;
  std::vector<std::uint8_t> pixels(static_cast<std::size_t>(width) * static_cast<std::size_t>(height), 255);
  auto put = [&](int x, int y, std::uint8_t v) {
    if (x >= 0 && x < width && y >= 0 && y < height) {
      pixels[static_cast<std::size_t>(y) * static_cast<std::size_t>(width) + static_cast<std::size_t>(x)] = v;
    }
  };
  for (std::size_t r = 0; r < rows.size(); ++r) {
    for (std::size_t c = 0; c < rows[r].size(); ++c) {
      const float* image = rows[r][c];
      const int x0 = gap + static_cast<int>(c) * (cell_w + gap);
      const int y0 = gap + static_cast<int>(r) * (cell_h + row_gap);
      for (int y = 0; y < cell_h; ++y) {
        for (int x = 0; x < cell_w; ++x) {
          const float v = std::min(1.0f, std::max(0.0f, image[(y / scale) * image_cols + (x / scale)]));
          put(x0 + x, y0 + y, static_cast<std::uint8_t>(std::lround(255.0f * (1.0f - v))));
        }
      }
      // The label, centred under the image, 4 * scale pixels per character.
      const std::string& text = labels[r][c];
      const int text_w = static_cast<int>(text.size()) * 4 * scale - scale;
      int tx = x0 + (cell_w - text_w) / 2;
      const int ty = y0 + cell_h + 3;
      for (char ch : text) {
        if (const std::uint8_t* glyph = glyph_3x5(ch)) {
          for (int gy = 0; gy < 5 * scale; ++gy) {
            for (int gx = 0; gx < 3 * scale; ++gx) {
              if ((glyph[gy / scale] >> (2 - gx / scale)) & 1) put(tx + gx, ty + gy, 0);
            }
          }
        }
        tx += 4 * scale;
      }
    }
  }
  write_png_gray(path, pixels, width, height);
}

struct Curve {
  std::string name;
  std::string color;
  std::vector<double> x;
  std::vector<double> y;
};

inline std::string svg_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '&') out += "&amp;";
    else if (ch == '<') out += "&lt;";
    else if (ch == '>') out += "&gt;";
    else out += ch;
  }
  return out;
}

/// One SVG with a panel per curve group (stacked vertically), axes with tick
/// labels, a title per panel and a legend.
inline void write_svg_panels(const std::string& path, const std::string& title,
                             const std::vector<std::pair<std::string, std::vector<Curve>>>& panels,
                             const std::string& x_label) {
  const double panel_w = 640, panel_h = 240, left = 70, right = 20, top = 50, gap = 60;
  const double total_w = left + panel_w + right;
  const double total_h = top + static_cast<double>(panels.size()) * (panel_h + gap);
  std::ofstream out(path);
  if (!out) throw std::runtime_error("cannot write '" + path + "'");
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n",
                total_w, total_h);
  out << buf << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  out << "<text x=\"" << total_w / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">"
      << svg_escape(title) << "</text>\n";
  for (std::size_t p = 0; p < panels.size(); ++p) {
    const double y0 = top + static_cast<double>(p) * (panel_h + gap);
    double xmin = std::numeric_limits<double>::infinity(), xmax = -xmin;
    double ymin = xmin, ymax = -xmin;
    for (const Curve& c : panels[p].second) {
      for (std::size_t i = 0; i < c.x.size(); ++i) {
        if (!std::isfinite(c.y[i])) continue;
        xmin = std::min(xmin, c.x[i]);
        xmax = std::max(xmax, c.x[i]);
        ymin = std::min(ymin, c.y[i]);
        ymax = std::max(ymax, c.y[i]);
      }
    }
    if (!std::isfinite(xmin)) continue;
    if (xmax <= xmin) xmax = xmin + 1;
    if (ymax <= ymin) ymax = ymin + 1;
    const double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
    auto sx = [&](double x) { return left + (x - xmin) / (xmax - xmin) * panel_w; };
    auto sy = [&](double y) { return y0 + panel_h - (y - ymin) / (ymax - ymin) * panel_h; };
    out << "<text x=\"" << left << "\" y=\"" << y0 - 8 << "\" font-size=\"13\">"
        << svg_escape(panels[p].first) << "</text>\n";
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                  "stroke=\"#444\"/>\n",
                  left, y0, panel_w, panel_h);
    out << buf;
    for (int t = 0; t <= 4; ++t) {
      const double yv = ymin + (ymax - ymin) * t / 4.0;
      const double xv = xmin + (xmax - xmin) * t / 4.0;
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>"
                    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.3g</text>\n",
                    left, sy(yv), left + panel_w, sy(yv), left - 6, sy(yv) + 4, yv, sx(xv),
                    y0 + panel_h + 16, xv);
      out << buf;
    }
    out << "<text x=\"" << left + panel_w / 2 << "\" y=\"" << y0 + panel_h + 34
        << "\" text-anchor=\"middle\">" << svg_escape(x_label) << "</text>\n";
    double legend_y = y0 + 16;
    for (const Curve& c : panels[p].second) {
      out << "<polyline fill=\"none\" stroke=\"" << c.color << "\" stroke-width=\"1.8\" points=\"";
      for (std::size_t i = 0; i < c.x.size(); ++i) {
        if (!std::isfinite(c.y[i])) continue;
        std::snprintf(buf, sizeof buf, "%.1f,%.1f ", sx(c.x[i]), sy(c.y[i]));
        out << buf;
      }
      out << "\"/>\n";
      std::snprintf(buf, sizeof buf,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-width=\"3\"/><text x=\"%.1f\" y=\"%.1f\">",
                    left + panel_w - 170, legend_y - 4, left + panel_w - 150, legend_y - 4,
                    c.color.c_str(), left + panel_w - 144, legend_y);
      out << buf << svg_escape(c.name) << "</text>\n";
      legend_y += 16;
    }
  }
  out << "</svg>\n";
  if (!out) throw std::runtime_error("cannot finish writing '" + path + "'");
}

}  // namespace fmnist
