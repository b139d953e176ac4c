# tests/kernels: runtime kernels against naive references (STYLE K14), one executable per
# kernel family, each including the runtime .c files it tests; plus a check that every
# runtime file compiles standalone, warning-free, after its "needs:".
foreach(_t conv gemm eltwise pool norm softmax reduce copy npy)
  kiln_unit_test(test_kernel_${_t} tests/kernels/test_kernel_${_t}.c)
  if(OpenMP_C_FOUND)
    target_link_libraries(test_kernel_${_t} OpenMP::OpenMP_C)
  endif()
endforeach()

kiln_unit_test(test_kernel_embed tests/kernels/test_kernel_embed.c)
target_compile_definitions(test_kernel_embed PRIVATE KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")

add_test(NAME test_kernel_standalone
         COMMAND sh ${CMAKE_SOURCE_DIR}/tests/kernels/standalone.sh ${CMAKE_C_COMPILER}
                 ${CMAKE_SOURCE_DIR}/runtime ${CMAKE_CURRENT_BINARY_DIR}/kernel_standalone)
