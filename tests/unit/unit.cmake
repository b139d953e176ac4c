# tests/unit tests
kiln_unit_test(test_pt tests/unit/test_pt.c)
target_compile_definitions(test_pt PRIVATE KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
kiln_unit_test(test_ts_parse tests/unit/test_ts_parse.c)
target_compile_definitions(test_ts_parse PRIVATE KILN_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
kiln_unit_test(test_plan tests/unit/test_plan.c)
kiln_unit_test(test_emit_c tests/unit/test_emit_c.c)
kiln_unit_test(test_verify tests/unit/test_verify.c)
