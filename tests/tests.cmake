# Test registration. Each area keeps its own fragment.
find_library(CMOCKA_LIB cmocka REQUIRED)
function(kiln_unit_test name)
  add_executable(${name} ${ARGN})
  target_link_libraries(${name} kilncore ${CMOCKA_LIB})
  add_test(NAME ${name} COMMAND ${name})
endfunction()

include(tests/unit/unit.cmake)
include(tests/kernels/kernels.cmake)
include(tests/models/models.cmake)
include(tests/ir/golden.cmake)
