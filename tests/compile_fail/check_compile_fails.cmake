# SPDX-License-Identifier: MIT
# Compiles SOURCE with CXX (include directories INCLUDES, a ;-list) and succeeds only
# when the compile fails with an output containing MESSAGE.
set(args -std=c++17 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND args -I${dir})
endforeach()
execute_process(COMMAND ${CXX} ${args} ${SOURCE}
                RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(result EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(FIND "${out}${err}" "${MESSAGE}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${SOURCE} failed to compile without the expected message "
                      "'${MESSAGE}':\n${out}${err}")
endif()
message(STATUS "${SOURCE} fails to compile with: ${MESSAGE}")
