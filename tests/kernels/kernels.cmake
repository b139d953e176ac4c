# tests/kernels: runtime kernels against naive references (STYLE K14), one executable per
# kernel family, each including the runtime .c files it tests; plus a check that every
# runtime file compiles standalone, warning-free, after its "needs:".
foreach(_t conv gemm eltwise pool norm softmax reduce copy npy rnn index int)
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

# The hot kernels again, built with -mavx2 -mfma, so the intrinsic paths (K_AVX2: GEMM
# micro-kernel, tile epilogue, vector exp/sigmoid, masked im2col copies) are tested as well
# as the portable ones; only where this machine runs AVX2/FMA code.
include(CheckCSourceRuns)
set(CMAKE_REQUIRED_FLAGS "-mavx2 -mfma")
check_c_source_runs("#include <immintrin.h>
int main(void) { __m256 a = _mm256_set1_ps(1.0f); a = _mm256_fmadd_ps(a, a, a); return _mm256_cvtss_f32(a) == 2.0f ? 0 : 1; }"
  KILN_CPU_AVX2_FMA)
unset(CMAKE_REQUIRED_FLAGS)
if(KILN_CPU_AVX2_FMA)
  foreach(_t conv gemm eltwise pool)
    kiln_unit_test(test_kernel_${_t}_avx2 tests/kernels/test_kernel_${_t}.c)
    target_compile_options(test_kernel_${_t}_avx2 PRIVATE -mavx2 -mfma)
    if(OpenMP_C_FOUND)
      target_link_libraries(test_kernel_${_t}_avx2 OpenMP::OpenMP_C)
    endif()
  endforeach()
endif()

# No OpenMP loop in the runtime writes a counter declared outside it (a data race ASan found).
add_test(NAME kernel_omp_private COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/kernels/check_omp.py
         ${CMAKE_SOURCE_DIR})
set_tests_properties(kernel_omp_private PROPERTIES LABELS "small")
