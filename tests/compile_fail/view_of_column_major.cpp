// SPDX-License-Identifier: MIT
// Must NOT compile: pdml views are row-major, and view_of says so in a static_assert
// (checked by the ctest view_of_rejects_column_major, which expects the message).
#include <Eigen/Core>

#include <pdml/core/eigen_map.hpp>

int main() {
  Eigen::MatrixXf column_major(3, 4);
  auto view = pdml::view_of(column_major);
  return static_cast<int>(view.rows);
}
