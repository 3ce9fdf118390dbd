# SPDX-License-Identifier: MIT
# Runs COMMAND (a ;-list) and checks its exit status (EXPECT_RC) and that its
# standard error contains EXPECT_TEXT.
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL EXPECT_RC)
  message(FATAL_ERROR "exit status ${rc}, expected ${EXPECT_RC}\nstdout: ${out}\nstderr: ${err}")
endif()
string(FIND "${err}" "${EXPECT_TEXT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "stderr lacks '${EXPECT_TEXT}'\nstderr: ${err}")
endif()
message(STATUS "exit ${rc}: ${err}")
