# tests/onnx/onnxin.cmake: the ONNX reader (frontend/onnx_read.c).
#
#   ctest -L onnxin            all of it (node tests included: about 1 to 4 minutes on 2 cores)
#   ctest -L onnxin -E node    without ONNX's node tests (a few seconds)
#   ctest -L bad -R onnxin     the bad-input tests
#
# onnxin_NAME_OPSET: .pt -> kiln --emit=onnx -> kiln model.onnx --main -> cc -> run gives
#   PyTorch's reference outputs, and the same as .pt -> C (run_onnx_read.sh).
# onnxin_bad_NAME: bad/NAME.onnx is refused with exactly bad/NAME.err, exit status 1
#   (bad/ is made by make_bad_onnx.py).
# onnx_node_tests: ONNX's backend node tests (Debian libonnx-testdata) through kiln -> C
#   (run_node_tests.py); fails when a case of node_expected.txt fails or when fewer than
#   KILN_ONNX_NODE_MIN_RATE percent of all cases pass. Writes the per-op table to
#   ${CMAKE_BINARY_DIR}/onnxin/NODE_TESTS.md (tests/onnx/NODE_TESTS.md is a committed copy).
set(KILN_ONNXIN_DIR ${CMAKE_CURRENT_LIST_DIR})
set(KILN_ONNXIN_WORK ${CMAKE_BINARY_DIR}/onnxin)
set(KILN_ONNX_NODE_DATA /usr/include/onnx/backend/test/data/node)
set(KILN_ONNX_NODE_MIN_RATE 60)

function(kiln_onnxin_test name shapes opset)
  add_test(NAME onnxin_${name}_${opset}
           COMMAND ${KILN_ONNXIN_DIR}/run_onnx_read.sh $<TARGET_FILE:kiln>
                   ${CMAKE_SOURCE_DIR}/tests/models/fixtures/${name} ${shapes} ${opset}
                   ${KILN_ONNXIN_WORK}/${name}_${opset})
  set_tests_properties(onnxin_${name}_${opset} PROPERTIES LABELS "onnx;onnxin" TIMEOUT 300)
endfunction()

foreach(entry mlp=2x16 lenet=1x1x28x28 digits_cnn=1x1x8x8 micro_split_cat=1x12x5
              micro_shape=2x3x4x5 micro_reduce=2x3x4x5 micro_act=2x64 micro_pool=1x3x12x13
              micro_matmul=2x3x4,2x4x5 micro_binary=2x3x4x5,3x1x5 micro_conv=1x8x13x11
              micro_seq_ops=2x3x4,2x4x5 encoder_small=2x7x32 lstm=2x5x8 gru_bi=2x5x8)
  string(REPLACE "=" ";" entry ${entry})
  list(GET entry 0 name)
  list(GET entry 1 shape)
  kiln_onnxin_test(${name} ${shape} 13)
endforeach()
# The opset-dependent forms the emitter writes (Clip, ReduceSum/ReduceMean axes, HardSwish,
# LayerNormalization) read back.
foreach(opset 11 17 18)
  kiln_onnxin_test(micro_act 2x64 ${opset})
  kiln_onnxin_test(micro_reduce 2x3x4x5 ${opset})
endforeach()
kiln_onnxin_test(encoder_small 2x7x32 17)

foreach(name truncated cycle undefined-input unknown-op opset symbolic-dim)
  add_test(NAME onnxin_bad_${name}
           COMMAND sh ${KILN_ONNXIN_DIR}/run_onnx_bad.sh $<TARGET_FILE:kiln> ${name}
                   ${KILN_ONNXIN_WORK}/bad_${name})
  set_tests_properties(onnxin_bad_${name} PROPERTIES LABELS "onnx;onnxin;bad")
endforeach()
# A symbolic dimension is fine once --input-shape gives it.
add_test(NAME onnxin_input_shape
         COMMAND $<TARGET_FILE:kiln> ${KILN_ONNXIN_DIR}/bad/symbolic-dim.onnx --input-shape 3x2
                 -o ${KILN_ONNXIN_WORK}/input_shape.c)
set_tests_properties(onnxin_input_shape PROPERTIES LABELS "onnx;onnxin")

if(EXISTS ${KILN_ONNX_NODE_DATA})
  add_test(NAME onnx_node_tests
           COMMAND /usr/bin/python3 ${KILN_ONNXIN_DIR}/run_node_tests.py --kiln $<TARGET_FILE:kiln>
                   --work ${KILN_ONNXIN_WORK}/node --data ${KILN_ONNX_NODE_DATA} -j 2
                   --expected ${KILN_ONNXIN_DIR}/node_expected.txt
                   --min-rate ${KILN_ONNX_NODE_MIN_RATE}
                   --table ${KILN_ONNXIN_WORK}/NODE_TESTS.md)
  set_tests_properties(onnx_node_tests PROPERTIES LABELS "onnx;onnxin" TIMEOUT 900)
else()
  message(STATUS "libonnx-testdata not installed: no onnx_node_tests (scripts/setup.sh installs it)")
endif()
