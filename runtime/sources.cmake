# Runtime kernels: compiled and tested here, and embedded into kiln as text so the
# C backend can copy the ones a model uses into the generated file (STYLE K17).
# Listed in dependency order (each file's "needs:" names come before it).
set(KILN_RUNTIME_FILES
  runtime/k_base.c
  runtime/k_gemm.c
  runtime/k_conv.c
  runtime/k_eltwise.c
  runtime/k_pool.c
  runtime/k_norm.c
  runtime/k_softmax.c
  runtime/k_reduce.c
  runtime/k_copy.c
  runtime/k_cmp.c
  runtime/k_int.c
  runtime/k_rnn.c
  runtime/k_index.c
  runtime/k_npy.c
)
set(KILN_RUNTIME_EMBED_C ${CMAKE_BINARY_DIR}/runtime_embed.c)

set(_kiln_rt_abs)
foreach(_f ${KILN_RUNTIME_FILES})
  list(APPEND _kiln_rt_abs ${CMAKE_SOURCE_DIR}/${_f})
endforeach()
string(REPLACE ";" "," _kiln_rt_arg "${_kiln_rt_abs}")
add_custom_command(
  OUTPUT ${KILN_RUNTIME_EMBED_C}
  COMMAND ${CMAKE_COMMAND} -DFILES=${_kiln_rt_arg} -DOUT=${KILN_RUNTIME_EMBED_C}
          -P ${CMAKE_SOURCE_DIR}/runtime/embed.cmake
  DEPENDS ${_kiln_rt_abs} ${CMAKE_SOURCE_DIR}/runtime/embed.cmake
  COMMENT "Embedding runtime kernels"
  VERBATIM)
