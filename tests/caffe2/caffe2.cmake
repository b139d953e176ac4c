# tests/caffe2: the Caffe2 backend and reader, and the graph pictures.
#
#   ctest -L caffe2 -LE big     the small fixtures, the hand-written net, svg, bad inputs
#   ctest -L caffe2             with the torchvision models too (tests/models gen_fixtures)
#   ctest -R caffe2_lenet -V    one, with its output
#
# Round trips (run_roundtrip.sh): kiln MODEL.pt --emit=caffe2, protoc parses both nets and
# its text of model.pb equals model.pbtxt, kiln reads the directory back, and the C it
# compiles matches PyTorch. The hand-written nets (make_nets.py, with the Python protobuf
# package and proto/caffe2.proto, not kiln) have answers computed by numpy.

set(KILN_C2_DIR ${CMAKE_CURRENT_LIST_DIR})
set(KILN_C2_WORK ${CMAKE_BINARY_DIR}/caffe2)
set(KILN_C2_ENV "CC=${CMAKE_C_COMPILER}" "KILN_PYTHON=${KILN_PYTHON}" "OMP_NUM_THREADS=2"
    "KILN_SKIP_DETERMINISM=1")

# kiln_c2_roundtrip(DIR NAME SHAPES LABELS...)
function(kiln_c2_roundtrip dir name shapes)
  add_test(NAME caffe2_${name}
           COMMAND ${KILN_C2_DIR}/run_roundtrip.sh $<TARGET_FILE:kiln> ${KILN_CAFFE2_PROTO}
                   ${dir}/${name} ${shapes} ${KILN_C2_WORK}/${name})
  set_tests_properties(caffe2_${name} PROPERTIES ENVIRONMENT "${KILN_C2_ENV}"
                       LABELS "caffe2;${ARGN}" TIMEOUT 600)
endfunction()

set(KILN_C2_MODELS
    mlp=2x16 lenet=1x1x28x28 digits_cnn=1x1x8x8 micro_split_cat=1x12x5 micro_shape=2x3x4x5
    micro_reduce=2x3x4x5 micro_act=2x64 micro_pool=1x3x12x13 micro_matmul=2x3x4,2x4x5
    micro_binary=2x3x4x5,3x1x5 micro_conv=1x8x13x11 micro_seq_ops=2x3x4,2x4x5 ctrl=2x8
    encoder_small=2x7x32 encoder_small_unfused=2x7x32)
foreach(entry ${KILN_C2_MODELS})
  string(REPLACE "=" ";" entry ${entry})
  list(GET entry 0 name)
  list(GET entry 1 shape)
  kiln_c2_roundtrip(${KILN_FIXTURES} ${name} ${shape} small)
endforeach()

# Unfused (-O0): batch norm as SpatialBN, activations as ops of their own.
add_test(NAME caffe2_micro_conv_O0
         COMMAND ${KILN_C2_DIR}/run_roundtrip.sh $<TARGET_FILE:kiln> ${KILN_CAFFE2_PROTO}
                 ${KILN_FIXTURES}/micro_conv 1x8x13x11 ${KILN_C2_WORK}/micro_conv_O0)
set_tests_properties(caffe2_micro_conv_O0 PROPERTIES LABELS "caffe2;small" TIMEOUT 600
                     ENVIRONMENT "${KILN_C2_ENV};KILN_C2_EMIT_ARGS=-O0")

# The torchvision models of tests/models (its gen_fixtures test makes them).
foreach(name resnet18 squeezenet1_1 mobilenet_v2 efficientnet_b0 densenet121 shufflenet_v2_x1_0)
  kiln_c2_roundtrip(${KILN_GEN_FIXTURES} ${name} 1x3x64x64 big)
  set_tests_properties(caffe2_${name} PROPERTIES FIXTURES_REQUIRED kiln_big_fixtures)
endforeach()
# alexnet and vgg11: their C (0.25 / 0.5 GB of weights as text) takes minutes to compile,
# and tests/models compiles it already; with -DKILN_TEST_HUGE_CAFFE2=ON they go round too.
option(KILN_TEST_HUGE_CAFFE2 "Caffe2 round trips of alexnet and vgg11 too" OFF)
if(KILN_TEST_HUGE_CAFFE2)
  foreach(entry alexnet=1x3x64x64 vgg11=1x3x32x32)
    string(REPLACE "=" ";" entry ${entry})
    list(GET entry 0 name)
    list(GET entry 1 shape)
    kiln_c2_roundtrip(${KILN_GEN_FIXTURES} ${name} ${shape} big huge)
    set_tests_properties(caffe2_${name} PROPERTIES FIXTURES_REQUIRED kiln_big_fixtures
                         RESOURCE_LOCK kiln_huge_model TIMEOUT 3600)
  endforeach()
endif()

# Hand-written nets and bad inputs, made by make_nets.py.
set(KILN_C2_GEN ${KILN_C2_WORK}/nets)
add_test(NAME caffe2_gen_nets
         COMMAND ${KILN_PYTHON} ${KILN_C2_DIR}/make_nets.py ${KILN_C2_GEN} ${KILN_CAFFE2_PROTO})
set_tests_properties(caffe2_gen_nets PROPERTIES FIXTURES_SETUP kiln_c2_nets LABELS "caffe2")
add_test(NAME caffe2_hand
         COMMAND ${KILN_MODELS_DIR}/run_model.sh $<TARGET_FILE:kiln> ${KILN_C2_GEN}/hand/model.pb
                 1x2x5x5 ${KILN_C2_GEN}/hand.output_ ${KILN_C2_GEN}/hand.input_
                 ${KILN_C2_WORK}/hand)
add_test(NAME caffe2_hand2
         COMMAND ${KILN_MODELS_DIR}/run_model.sh $<TARGET_FILE:kiln> ${KILN_C2_GEN}/hand2/model.pb
                 2x3x4,2x3x4 ${KILN_C2_GEN}/hand2.output_ ${KILN_C2_GEN}/hand2.input_
                 ${KILN_C2_WORK}/hand2)
set_tests_properties(caffe2_hand caffe2_hand2 PROPERTIES FIXTURES_REQUIRED kiln_c2_nets
                     LABELS "caffe2" ENVIRONMENT "${KILN_C2_ENV}")

# kiln_c2_bad(NAME SUBSTRING): the directory NAME made by make_nets.py is refused with exit
# status 1 and a diagnostic containing SUBSTRING.
function(kiln_c2_bad name substring)
  add_test(NAME caffe2_bad_${name}
           COMMAND ${KILN_MODELS_DIR}/run_bad.sh $<TARGET_FILE:kiln> ${KILN_C2_GEN}/${name}
                   ${substring} --input-shape 1x2x5x5)
  set_tests_properties(caffe2_bad_${name} PROPERTIES FIXTURES_REQUIRED kiln_c2_nets
                       LABELS "caffe2;bad")
endfunction()
kiln_c2_bad(undefined_blob "model.pb: op #1 'relu_nope' (Relu): error: input 'nope' is not produced")
kiln_c2_bad(unknown_op "model.pb: op #1 'fancy' (FancyOp): error: unsupported Caffe2 operator 'FancyOp'")
kiln_c2_bad(truncated "model.pb: error: not a valid Caffe2 NetDef")
kiln_c2_bad(truncated_init "model_init.pb: error: not a valid Caffe2 NetDef")
kiln_c2_bad(init_not_fill "model_init.pb: op #0 (Relu): error: the init net may only fill")
kiln_c2_bad(fill_count "model_init.pb: op #0 (GivenTensorFill): error: 'values' has 5 floats")
# An IR op with no Caffe2 form is an error naming it and its place (and nothing is written).
add_test(NAME caffe2_bad_unsupported_op
         COMMAND ${KILN_MODELS_DIR}/run_bad.sh $<TARGET_FILE:kiln> ${KILN_FIXTURES}/lstm.pt
                 "error: cannot emit 'lstm' as Caffe2" --input-shape 2x5x8 --emit=caffe2
                 -o ${KILN_C2_WORK}/bad_lstm)
set_tests_properties(caffe2_bad_unsupported_op PROPERTIES LABELS "caffe2;bad")

# The graph as SVG: it parses as XML/SVG and names every op of the IR.
add_test(NAME caffe2_svg
         COMMAND sh ${KILN_C2_DIR}/run_svg.sh $<TARGET_FILE:kiln> ${KILN_FIXTURES}/lenet.pt
                 1x1x28x28 ${KILN_C2_WORK}/svg)
set_tests_properties(caffe2_svg PROPERTIES LABELS "caffe2" ENVIRONMENT "KILN_PYTHON=${KILN_PYTHON}")

# The emitter table covers every op Caffe2 can express (cmocka), and the protobuf text
# printer agrees with protoc on a NetDef of awkward strings and floats.
kiln_unit_test(test_caffe2 ${KILN_C2_DIR}/test_caffe2.c)
set_tests_properties(test_caffe2 PROPERTIES LABELS "caffe2")
add_test(NAME caffe2_pbtext
         COMMAND sh -c "mkdir -p \"$2\" && \"$0\" --sample \"$2/s.pb\" \"$2/s.pbtxt\" && protoc --decode=caffe2.NetDef -I\"$(dirname \"$1\")\" \"$1\" <\"$2/s.pb\" >\"$2/protoc.pbtxt\" && diff \"$2/protoc.pbtxt\" \"$2/s.pbtxt\" && echo 'caffe2_pbtext: PASS'"
                 $<TARGET_FILE:test_caffe2> ${KILN_CAFFE2_PROTO} ${KILN_C2_WORK}/pbtext)
set_tests_properties(caffe2_pbtext PROPERTIES LABELS "caffe2")
