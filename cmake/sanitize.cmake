# sanitize.cmake: instrumentation for hostile-input testing (STYLE K15, issue 8).
#
#   -DKILN_SANITIZE=ON   ASan + UBSan (flags set in the top-level CMakeLists.txt); here every
#                        report is made fatal, so a test cannot pass over a sanitizer finding.
#   -DKILN_FUZZ=ON       clang only: instrument everything for libFuzzer coverage (with ASan +
#                        UBSan) and build the fuzz_<target> programs of tests/fuzz/fuzz.cmake.
#                        Run them with scripts/fuzz.sh.
option(KILN_FUZZ "Build the libFuzzer targets in tests/fuzz (needs clang)" OFF)

if(KILN_SANITIZE OR KILN_FUZZ)
  add_compile_options(-fno-sanitize-recover=all)
endif()
if(KILN_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "KILN_FUZZ needs clang: configure with CC=clang")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
