# tests/onnx: the ONNX backend. Every small fixture is emitted as ONNX (by the onnx_emit test
# driver: ts_load + pipeline + emit_onnx), checked by onnx.checker (full_check) and run by
# onnxruntime (npm onnxruntime-node, installed into the build dir by the onnx_setup test);
# every output must match PyTorch's (tests/models/compare.py with the fixture's tolerances).
#
#   ctest -L onnx -LE big    the small ones;  ctest -L onnx   with the torchvision models too
#   ctest -R onnx_lenet -V   one, with its output
#
# KILN_ONNX_VIA_KILN=ON emits through `kiln --emit=onnx` instead of the test driver (once
# driver/main.c has --emit=onnx and --opset).

add_executable(onnx_emit tests/onnx/onnx_emit.c)
target_link_libraries(onnx_emit kilncore)
option(KILN_ONNX_VIA_KILN "ONNX tests emit with kiln --emit=onnx, not tests/onnx/onnx_emit" OFF)
if(KILN_ONNX_VIA_KILN)
  set(KILN_ONNX_EMITTER $<TARGET_FILE:kiln>)
  set(KILN_ONNX_ENV "KILN_ONNX_EMIT_ARGS=--emit=onnx")
else()
  set(KILN_ONNX_EMITTER $<TARGET_FILE:onnx_emit>)
  set(KILN_ONNX_ENV "")
endif()

set(KILN_ONNX_DIR ${CMAKE_CURRENT_LIST_DIR})
set(KILN_ONNX_WORK ${CMAKE_BINARY_DIR}/onnx)
set(KILN_ONNX_FIXTURES ${CMAKE_SOURCE_DIR}/tests/models/fixtures)
set(KILN_ONNX_PYTHON /usr/bin/python3)

add_test(NAME onnx_table COMMAND onnx_emit --check-table)
set_tests_properties(onnx_table PROPERTIES LABELS "onnx")

# npm install --ignore-scripts onnxruntime-node into the build dir, then load its native binding.
add_test(NAME onnx_setup COMMAND sh ${KILN_ONNX_DIR}/setup_ort.sh ${KILN_ONNX_WORK}/node)
set_tests_properties(onnx_setup PROPERTIES FIXTURES_SETUP kiln_ort LABELS "onnx" TIMEOUT 900)

# kiln_onnx_test(DIR NAME SHAPES OPSET LEVEL [FIXTURE]): onnx_NAME_OPSET (_O0/_O1 at other levels)
# emits DIR/NAME.pt at OPSET and -O LEVEL, checks it and runs it; FIXTURE names a ctest fixture
# that makes DIR/NAME.*.
function(kiln_onnx_test dir name shapes opset level)
  set(tname onnx_${name}_${opset})
  if(NOT level EQUAL 2)
    set(tname ${tname}_O${level})
  endif()
  set(emitter ${KILN_ONNX_EMITTER})
  set(env ${KILN_ONNX_ENV})
  if(EXISTS ${dir}/${name}.kir)   # IR text: only the test driver reads it
    set(emitter $<TARGET_FILE:onnx_emit>)
    set(env "")
  endif()
  add_test(NAME ${tname}
           COMMAND ${KILN_ONNX_DIR}/run_onnx.sh ${emitter} ${dir}/${name} ${shapes}
                   ${opset} ${level} ${KILN_ONNX_WORK}/node ${KILN_ONNX_WORK}/${tname})
  set_tests_properties(${tname} PROPERTIES FIXTURES_REQUIRED "kiln_ort;${ARGN}" LABELS "onnx"
                       TIMEOUT 300 ENVIRONMENT "KILN_PYTHON=${KILN_ONNX_PYTHON};${env}")
endfunction()

# Every committed small fixture at the default opset.
set(KILN_ONNX_MODELS
    mlp=2x16 lenet=1x1x28x28 digits_cnn=1x1x8x8 micro_split_cat=1x12x5 micro_shape=2x3x4x5
    micro_reduce=2x3x4x5 micro_act=2x64 micro_pool=1x3x12x13 micro_matmul=2x3x4,2x4x5
    micro_binary=2x3x4x5,3x1x5 micro_conv=1x8x13x11)
foreach(entry ${KILN_ONNX_MODELS})
  string(REPLACE "=" ";" entry ${entry})
  list(GET entry 0 name)
  list(GET entry 1 shape)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} ${name} ${shape} 13 2)
endforeach()
# The opset-dependent forms: Clip, HardSwish (14), softmax on an inner axis (13), ReduceSum
# axes (13), ReduceMean axes (18), LayerNormalization (17); unfused epilogues at -O0.
foreach(opset 11 14 17 18)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} micro_act 2x64 ${opset} 2)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} micro_reduce 2x3x4x5 ${opset} 2)
endforeach()
kiln_onnx_test(${KILN_ONNX_FIXTURES} lenet 1x1x28x28 11 2)
kiln_onnx_test(${KILN_ONNX_FIXTURES} lenet 1x1x28x28 17 2)
kiln_onnx_test(${KILN_ONNX_FIXTURES} mlp 2x16 11 2)
kiln_onnx_test(${KILN_ONNX_FIXTURES} micro_conv 1x8x13x11 13 0)
kiln_onnx_test(${KILN_ONNX_FIXTURES} micro_act 2x64 13 0)

# The scripted-issue fixtures of tests/models: control flow as If/Loop subgraphs with
# run-time numbers as 0-D tensors (ctrl, dynamic_pos/neg: their assert is left out, with a
# warning, as ONNX cannot raise; ctrl_break: break, its never-read values as zeros),
# user-class objects (cls_*), LSTM/GRU with the gates reordered (2 layers, batch_first,
# bidirectional), transformer encoders. ~0.6 s each.
set(KILN_ONNX_SCRIPTED
    ctrl=2x8 mlp_scripted=2x16 lenet_scripted=1x1x28x28 dynamic_pos=2x3 dynamic_neg=2x3
    lstm=2x5x8 lstm_scripted=2x5x8 gru_bi=2x5x8 gru_bi_scripted=2x5x8 encoder_small=2x7x32
    encoder_small_gelu_nf=2x7x32 encoder_small_scripted=2x7x16 encoder_small_unfused=2x7x32
    cls_acc=3x8 cls_instances=3x8
    micro_seq_ops=2x3x4,2x4x5 ctrl_break=3x8 ctrl_break_src=3x8 ctrl_conv=1x4x6x6
    # nested inputs/outputs: graph inputs/outputs named by the flatten schema, which is the
    # metadata "kiln.schema" (check_onnx.py matches its tensor leaves with the graph's)
    nested_out=3x8 dict_out=3x8 dict_in=3x5,2x5 adapter_instances=2x5x8)
foreach(entry ${KILN_ONNX_SCRIPTED})
  string(REPLACE "=" ";" entry ${entry})
  list(GET entry 0 name)
  list(GET entry 1 shape)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} ${name} ${shape} 13 2)
endforeach()
# At the ends of the opset range: If/Loop and LessOrEqual (12) on numbers, LSTM/GRU (14
# adds `layout`), LayerNormalization (17) and ReduceMean's axes input (18) in the encoder.
foreach(opset 11 18)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} dynamic_pos 2x3 ${opset} 2)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} cls_acc 3x8 ${opset} 2)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} lstm_scripted 2x5x8 ${opset} 2)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} gru_bi 2x5x8 ${opset} 2)
  kiln_onnx_test(${KILN_ONNX_FIXTURES} encoder_small_scripted 2x7x16 ${opset} 2)
endforeach()
kiln_onnx_test(${KILN_ONNX_FIXTURES} ctrl 2x8 13 0)
kiln_onnx_test(${KILN_ONNX_FIXTURES} encoder_small 2x7x32 13 0)

# Ops the committed fixtures lack (make_onnx_fixtures.py, generated by PyTorch at test time).
set(KILN_ONNX_GEN ${KILN_ONNX_WORK}/fixtures)
add_test(NAME onnx_gen_fixtures
         COMMAND ${KILN_ONNX_PYTHON} ${KILN_ONNX_DIR}/make_onnx_fixtures.py ${KILN_ONNX_GEN})
set_tests_properties(onnx_gen_fixtures PROPERTIES FIXTURES_SETUP kiln_onnx_gen LABELS "onnx"
                     TIMEOUT 300)
foreach(opset 11 13 17 18)
  kiln_onnx_test(${KILN_ONNX_GEN} onnx_conv 2x4x8x8 ${opset} 2 kiln_onnx_gen)
  kiln_onnx_test(${KILN_ONNX_GEN} onnx_seq 3x5x8 ${opset} 2 kiln_onnx_gen)
endforeach()
kiln_onnx_test(${KILN_ONNX_GEN} onnx_conv 2x4x8x8 13 0 kiln_onnx_gen)
kiln_onnx_test(${KILN_ONNX_GEN} onnx_seq 3x5x8 13 0 kiln_onnx_gen)
# onnx_rnn: LSTM without biases and with given h0/c0, one-layer GRU, sequence-first.
foreach(opset 11 13 14 18)
  kiln_onnx_test(${KILN_ONNX_GEN} onnx_rnn 7x3x6 ${opset} 2 kiln_onnx_gen)
endforeach()

# IR text cases (tests/onnx/kir: NAME.kir with hand-computed NAME.output_K.npy).
kiln_onnx_test(${KILN_ONNX_DIR}/kir alias 2x3 13 2)
kiln_onnx_test(${KILN_ONNX_DIR}/kir select 2x3,3,i64:4 11 2)
kiln_onnx_test(${KILN_ONNX_DIR}/kir select 2x3,3,i64:4 13 2)
# Run-time numbers (Python's // and % on negative ints and floats, casts, comparisons of
# ints with floats, and/or/not), an if on a number, an early-exit while loop.
foreach(opset 11 13 18)
  kiln_onnx_test(${KILN_ONNX_DIR}/kir scalars i64:1,i64:1,1,1 ${opset} 2)
endforeach()

# The torchvision models of tests/models (its gen_fixtures test makes them).
foreach(entry ${KILN_BIG_MODELS})
  string(REPLACE "=" ";" entry ${entry})
  list(GET entry 0 name)
  list(GET entry 1 shape)
  kiln_onnx_test(${KILN_GEN_FIXTURES} ${name} ${shape} 13 2 kiln_big_fixtures)
  set_tests_properties(onnx_${name}_13 PROPERTIES LABELS "onnx;big")
endforeach()
# alexnet and vgg11 (0.25 / 0.5 GB of initializers; onnxruntime takes ~3 GB for vgg11):
# one at a time, with the huge models' lock.
foreach(entry ${KILN_HUGE_MODELS})
  string(REPLACE "=" ";" entry ${entry})
  list(GET entry 0 name)
  list(GET entry 1 shape)
  kiln_onnx_test(${KILN_GEN_FIXTURES} ${name} ${shape} 13 2 kiln_big_fixtures)
  set_tests_properties(onnx_${name}_13 PROPERTIES LABELS "onnx;big;huge"
                       RESOURCE_LOCK kiln_huge_model TIMEOUT 900)
endforeach()

# Errors (tests/onnx/errors/NAME.kir -> NAME.err): an op ONNX cannot express is reported with
# its location and name, every one at once, and nothing is written.
function(kiln_onnx_error name)
  add_test(NAME onnx_error_${name}
           COMMAND sh ${KILN_ONNX_DIR}/run_error.sh $<TARGET_FILE:onnx_emit> ${name}
                   ${KILN_ONNX_WORK}/error_${name} ${ARGN})
  set_tests_properties(onnx_error_${name} PROPERTIES LABELS "onnx")
endfunction()
kiln_onnx_error(onnx-adaptive-pool-indivisible)
kiln_onnx_error(onnx-avgpool-divisor)
kiln_onnx_error(onnx-opset-range --opset 10)
kiln_onnx_error(onnx-raise)

# --onnx-custom-domain NAME (non-standard ONNX): without it an op with no standard form is
# an error naming it (a raise in a branch: a warning that the check is left out); with it,
# the op is a node of domain NAME, which onnx.checker full_check still accepts.
# kiln_onnx_custom(NAME EMIT MODEL WITHOUT EMIT_ARGS -- OP_TYPE[:ATTR=TEXT]...)
function(kiln_onnx_custom name emit model without)
  add_test(NAME onnx_custom_${name}
           COMMAND sh ${KILN_ONNX_DIR}/run_custom.sh ${emit} ${model}
                   ${KILN_ONNX_WORK}/custom_${name} kiln.ext ${without} -- ${ARGN})
  set_tests_properties(onnx_custom_${name} PROPERTIES LABELS "onnx"
                       ENVIRONMENT "KILN_PYTHON=${KILN_ONNX_PYTHON}")
endfunction()
kiln_onnx_custom(avgpool $<TARGET_FILE:onnx_emit> ${KILN_ONNX_DIR}/errors/onnx-avgpool-divisor.kir
                 "error:cannot emit 'avgpool2d' as ONNX" -- "avgpool2d:kiln_ir=divisor=5")
kiln_onnx_custom(raise $<TARGET_FILE:onnx_emit> ${KILN_ONNX_DIR}/errors/onnx-raise.kir
                 "error:cannot emit 'raise' as ONNX" -- "Raise:message=both ways"
                 "Raise:message=both ways" "Raise:message=unconditional")
kiln_onnx_custom(assert $<TARGET_FILE:kiln> ${KILN_ONNX_FIXTURES}/dynamic_pos.pt
                 "warning:the check that raises 'AssertionError: the input must not be all zeros' is left out of the ONNX model"
                 --emit=onnx --input-shape 2x3 -- "Raise:message=the input must not be all zeros")
