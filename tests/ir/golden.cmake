# Golden-file tests (STYLE K13): tests/ir/PASS/NAME.kir -> NAME.out after PASS, and
# tests/errors/NAME.kir -> NAME.err (diagnostics). Rewrite an expected file with
#   build/run_golden [--error] PASS in.kir expected --update
# and read the diff before committing it.
add_executable(run_golden tests/ir/run_golden.c)
target_link_libraries(run_golden kilncore)

function(kiln_golden pass)
  foreach(name ${ARGN})
    set(dir ${CMAKE_SOURCE_DIR}/tests/ir/${pass})
    add_test(NAME golden_${pass}_${name}
             COMMAND run_golden ${pass} ${dir}/${name}.kir ${dir}/${name}.out)
  endforeach()
endfunction()

# kiln_golden_error(PASS NAME...): tests/errors/NAME.kir must fail in PASS with NAME.err.
function(kiln_golden_error pass)
  foreach(name ${ARGN})
    set(dir ${CMAKE_SOURCE_DIR}/tests/errors)
    add_test(NAME error_${name}
             COMMAND run_golden --error ${pass} ${dir}/${name}.kir ${dir}/${name}.err)
  endforeach()
endfunction()

kiln_golden(fold arith dict shape_arith)
kiln_golden(canonicalize conv_bn_relu view_size control control_types)
kiln_golden(shapes convnet)
kiln_golden(dce unused records)
kiln_golden(fuse conv_bn residual_relu linear_clip control)
kiln_golden(flatten nested dict_object)
kiln_golden(flatten-insertion dict_object)
kiln_golden(staticize record if_object)
kiln_golden(cse common)
kiln_golden(inline method control)

kiln_golden_error(parse irtext-unknown-op irtext-undefined-value irtext-out-of-scope
                  irtext-redefinition irtext-bad-type irtext-bad-attribute irtext-arity
                  irtext-tensor-data irtext-trailing-garbage)
kiln_golden_error(staticize staticize-field-read-before-set staticize-field-length-mismatch)
kiln_golden_error(flatten flatten-nonconst-output)
kiln_golden_error(fold fold-int-overflow)
kiln_golden_error(shapes shapes-conv-channel-mismatch shapes-linear-in-features
                  shapes-add-broadcast)
