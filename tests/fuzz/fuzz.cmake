# tests/fuzz: fuzz targets of the readers (STYLE K15, issue 8). Each fuzz_<t>.c is built twice:
#   fuzz_replay_<t>  with replay.c, by any compiler: the ctest test fuzz_replay_<t> feeds it the
#                    committed corpus tests/fuzz/corpus/<t>/ (seeds and every input a fuzzer
#                    ever crashed on) and the test fixtures;
#   fuzz_<t>         with -DKILN_FUZZ=ON under clang: the libFuzzer program scripts/fuzz.sh runs.
set(KILN_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR})
set(KILN_FUZZ_TARGETS pt unpickle ts_parse irtext npy ts_graph caffe2 onnx)

# Seeds of each target besides its corpus: [-s SUFFIX] PATH... (replay.c's arguments).
set(KILN_FUZZ_SEEDS_pt -s .pt ${CMAKE_SOURCE_DIR}/tests/models/fixtures ${CMAKE_SOURCE_DIR}/tests/unit/fixtures)
set(KILN_FUZZ_SEEDS_unpickle)
set(KILN_FUZZ_SEEDS_ts_parse -s .py ${CMAKE_SOURCE_DIR}/tests/unit/ts)
set(KILN_FUZZ_SEEDS_irtext -s .kir ${CMAKE_SOURCE_DIR}/tests/ir ${CMAKE_SOURCE_DIR}/tests/errors)
set(KILN_FUZZ_SEEDS_ts_graph -s .txt ${CMAKE_SOURCE_DIR}/tests/tsir/fixtures ${CMAKE_SOURCE_DIR}/tests/tsir/errors)
set(KILN_FUZZ_SEEDS_caffe2)
set(KILN_FUZZ_SEEDS_onnx -s .onnx ${CMAKE_SOURCE_DIR}/tests/onnx/bad)
if(EXISTS /usr/include/onnx/backend/test/data/node)   # ONNX's node test models (libonnx-testdata)
  list(APPEND KILN_FUZZ_SEEDS_onnx /usr/include/onnx/backend/test/data/node)
endif()
set(KILN_FUZZ_SEEDS_npy -s .npy ${CMAKE_SOURCE_DIR}/tests/models/fixtures)

foreach(t ${KILN_FUZZ_TARGETS})
  add_executable(fuzz_replay_${t} ${KILN_FUZZ_DIR}/fuzz_${t}.c ${KILN_FUZZ_DIR}/replay.c)
  target_link_libraries(fuzz_replay_${t} kilncore)
  target_compile_definitions(fuzz_replay_${t} PRIVATE KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
  add_test(NAME fuzz_replay_${t}
           COMMAND fuzz_replay_${t} ${KILN_FUZZ_DIR}/corpus/${t} ${KILN_FUZZ_SEEDS_${t}})
  set_tests_properties(fuzz_replay_${t} PROPERTIES LABELS "fuzz" TIMEOUT 300)
  if(KILN_FUZZ)
    add_executable(fuzz_${t} ${KILN_FUZZ_DIR}/fuzz_${t}.c)
    target_link_libraries(fuzz_${t} kilncore)
    target_compile_definitions(fuzz_${t} PRIVATE KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
    target_link_options(fuzz_${t} PRIVATE -fsanitize=fuzzer)
  endif()
endforeach()
