# SPDX-License-Identifier: MIT
# Installs pdml into a scratch prefix, then builds and runs a separate project
# that uses find_package(pdml CONFIG REQUIRED) and links pdml::pdml.
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
    -DPDML_BUILD_TESTS=OFF -DPDML_BUILD_BENCHMARKS=OFF -DPDML_BUILD_EXAMPLES=OFF -DPDML_BUILD_CUDA=OFF)
run(${CMAKE_COMMAND} --build ${WORK}/pdml-build --target install)
run(${CMAKE_COMMAND} -S ${ROOT}/tests/consumer -B ${WORK}/consumer-build -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX} -DCMAKE_PREFIX_PATH=${WORK}/prefix)
run(${CMAKE_COMMAND} --build ${WORK}/consumer-build)
run(${WORK}/consumer-build/consumer)
message(STATUS "installed pdml was found and used by a separate project")
