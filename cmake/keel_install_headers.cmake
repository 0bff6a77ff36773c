# Installs the public headers so that <prefix>/include alone is enough to compile against keel
# (run by `cmake --install` with KEEL_SOURCE_DIR, KEEL_STAGING_DIR and KEEL_INCLUDEDIR set).
#
# include/keel/{keel.h,keel.hpp,version.hpp} go to <include>/keel/. The internal headers that
# keel.hpp reaches (core/status.hpp, core/tensor.hpp, passes/pass.hpp, ...) are found by
# following its quoted #includes and go to <include>/keel/detail/, with every
# `#include "core/x.hpp"` rewritten to `#include "keel/detail/core/x.hpp"`. The set follows the
# sources, so a new include in keel.hpp is installed without editing this list.
set(queue keel/keel.h keel/keel.hpp keel/version.hpp)
set(seen)
file(REMOVE_RECURSE "${KEEL_STAGING_DIR}")
while(queue)
  list(POP_FRONT queue rel)
  list(FIND seen "${rel}" index)  # not if(IN_LIST): install scripts run with old policies
  if(index GREATER -1)
    continue()
  endif()
  list(APPEND seen ${rel})
  if(rel MATCHES "^keel/")
    set(src "${KEEL_SOURCE_DIR}/include/${rel}")
    set(out "${KEEL_STAGING_DIR}/${rel}")
  else()
    set(src "${KEEL_SOURCE_DIR}/runtime/${rel}")
    set(out "${KEEL_STAGING_DIR}/keel/detail/${rel}")
  endif()
  if(NOT EXISTS "${src}")
    message(FATAL_ERROR "keel headers: ${rel} (included by an installed header) not found")
  endif()
  file(READ "${src}" text)
  string(REGEX MATCHALL "#include \"[^\"]+\"" includes "${text}")
  foreach(line ${includes})
    string(REGEX REPLACE "#include \"([^\"]+)\"" "\\1" inc "${line}")
    list(APPEND queue ${inc})
    if(NOT inc MATCHES "^keel/")
      string(REPLACE "#include \"${inc}\"" "#include \"keel/detail/${inc}\"" text "${text}")
    endif()
  endforeach()
  file(WRITE "${out}" "${text}")
endwhile()
file(INSTALL "${KEEL_STAGING_DIR}/keel" DESTINATION "${CMAKE_INSTALL_PREFIX}/${KEEL_INCLUDEDIR}")
