# SPDX-License-Identifier: MIT
# Fails unless the text of SOURCE appears verbatim in DOC.
# The source's licence line is not part of the quote.
file(READ ${SOURCE} source)
string(REGEX REPLACE "^// SPDX-License-Identifier: [^\n]*\n" "" source "${source}")
file(READ ${DOC} doc)
string(FIND "${doc}" "${source}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${DOC} does not quote ${SOURCE} verbatim")
endif()
message(STATUS "${DOC} quotes ${SOURCE}")
