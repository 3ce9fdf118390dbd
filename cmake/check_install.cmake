# SPDX-License-Identifier: MIT
# Installs pdml into a scratch prefix, then builds and runs a separate project
# (tests/consumers/cmake_cpu) that uses find_package(pdml CONFIG REQUIRED) and
# links pdml::pdml, with the CUDA toolkit and OpenMP made unfindable.
# (.ci/steps/50-consumers.sh runs all four consumer builds and the .deb.)
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()
run(${CMAKE_COMMAND} -S ${ROOT} -B ${WORK}/pdml-build -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_INSTALL_PREFIX=${WORK}/prefix
    -DPDML_BUILD_TESTS=OFF -DPDML_BUILD_BENCHMARKS=OFF -DPDML_BUILD_EXAMPLES=OFF -DPDML_BUILD_TOOLS=OFF
    -DPDML_BUILD_CUDA=OFF)
run(${CMAKE_COMMAND} --build ${WORK}/pdml-build --target install)
run(${CMAKE_COMMAND} -S ${ROOT}/tests/consumers/cmake_cpu -B ${WORK}/consumer-build -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK}/prefix
    -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=ON -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON)
run(${CMAKE_COMMAND} --build ${WORK}/consumer-build)
run(${WORK}/consumer-build/consumer_cpu)
message(STATUS "installed pdml was found and used by a separate project")
