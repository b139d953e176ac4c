# tests/tsir: the TorchScript IR text frontend (frontend/ts_graph.c) and writer
# (frontend/ts_graph_print.c). run_tsir.sh compiles PyTorch's graph dumps of the committed
# models (fixtures/, made by make_tsir_fixtures.py) with their archives as weights and
# compares the outputs with PyTorch's; it also round-trips kiln's own dumps and checks the
# diagnostics for malformed text (errors/NAME.txt + NAME.err).
add_executable(tsir_compile tests/tsir/tsir_compile.c)
target_link_libraries(tsir_compile kilncore)

set(KILN_TSIR_DIR ${CMAKE_CURRENT_LIST_DIR})
foreach(model mlp=2x16 lenet=1x1x28x28 ctrl=2x8 mlp_scripted=2x16 lenet_scripted=1x1x28x28
              lstm=2x5x8 gru_bi=2x5x8 encoder_small=2x7x32 lstm_scripted=2x5x8
              gru_bi_scripted=2x5x8 encoder_small_scripted=2x7x16 dynamic_pos=2x3)
  string(REPLACE "=" ";" entry ${model})
  list(GET entry 0 name)
  list(GET entry 1 shape)
  add_test(NAME tsir_${name}
           COMMAND ${KILN_TSIR_DIR}/run_tsir.sh model $<TARGET_FILE:tsir_compile> ${name} ${shape}
                   ${CMAKE_BINARY_DIR}/tsir/${name})
  set_tests_properties(tsir_${name} PROPERTIES LABELS "small;tsir" TIMEOUT 300
                       ENVIRONMENT "CC=${CMAKE_C_COMPILER};KILN_PYTHON=${KILN_PYTHON}")
endforeach()
add_test(NAME tsir_errors
         COMMAND ${KILN_TSIR_DIR}/run_tsir.sh errors $<TARGET_FILE:tsir_compile>
                 ${CMAKE_BINARY_DIR}/tsir/errors)
set_tests_properties(tsir_errors PROPERTIES LABELS "small;tsir" TIMEOUT 120)
