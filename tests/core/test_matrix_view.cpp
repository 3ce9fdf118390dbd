// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <pdml/core/eigen_map.hpp>
#include <pdml/core/matrix_view.hpp>
#include <pdml/core/validate.hpp>

TEST_CASE("MatrixView addresses row-major elements through its stride", "[core]") {
  std::vector<double> storage(3 * 5);
  for (std::size_t i = 0; i < storage.size(); ++i) storage[i] = static_cast<double>(i);
  pdml::MatrixView<double> view{storage.data(), 3, 4, 5};
  CHECK(view(0, 0) == 0.0);
  CHECK(view(1, 2) == 7.0);
  CHECK(view(2, 3) == 13.0);
  CHECK(view.row(2)[1] == 11.0);
  pdml::ConstMatrixView<double> read_only = view;  // implicit conversion
  CHECK(read_only(2, 3) == 13.0);
  auto map = pdml::as_eigen(read_only);
  CHECK(map.rows() == 3);
  CHECK(map.cols() == 4);
  CHECK(map(1, 2) == 7.0);
}

TEST_CASE("validation names the function and the argument", "[core]") {
  std::vector<float> storage(6, 1.0f);
  pdml::ConstMatrixView<float> view{storage.data(), 2, 3, 3};
  CHECK_NOTHROW(pdml::detail::check_shape("f", "x", view, 2, 3));
  try {
    pdml::detail::check_shape("pdml::f", "embeddings", view, 3, 3);
    FAIL("no exception");
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    CHECK(what.find("pdml::f") != std::string::npos);
    CHECK(what.find("'embeddings'") != std::string::npos);
  }
  pdml::ConstMatrixView<float> bad_stride{storage.data(), 2, 3, 2};
  CHECK_THROWS_AS(pdml::detail::check_view("f", "x", bad_stride), std::invalid_argument);
  pdml::ConstMatrixView<float> null_view{nullptr, 2, 3, 3};
  CHECK_THROWS_AS(pdml::detail::check_view("f", "x", null_view), std::invalid_argument);
  storage[4] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_AS(pdml::detail::check_finite("f", "x", view), std::invalid_argument);
  const std::int64_t labels[3] = {0, 2, 3};
  CHECK_THROWS_AS(pdml::detail::check_labels("f", "labels", labels, 3, 3), std::invalid_argument);
  CHECK_NOTHROW(pdml::detail::check_labels("f", "labels", labels, 2, 3));
  CHECK_THROWS_AS(pdml::detail::check_scalar("f", "temperature", 0.0, true), std::invalid_argument);
}

TEST_CASE("view_of deduces the scalar type of an Eigen row-major matrix", "[core]") {
  pdml::RowMajorMatrix<float> m = pdml::RowMajorMatrix<float>::Zero(2, 3);
  m(1, 2) = 5.0f;
  pdml::MatrixView<float> view = pdml::view_of(m);
  CHECK(view.stride == 3);
  CHECK(view(1, 2) == 5.0f);
  const pdml::RowMajorMatrix<float>& read_only = m;
  pdml::ConstMatrixView<float> const_view = pdml::view_of(read_only);
  CHECK(const_view(1, 2) == 5.0f);
}
