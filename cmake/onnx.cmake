# cmake/onnx.cmake: ONNX's protobuf schema compiled by protoc-c at build time (STYLE K19).
#
# The schema is the system's (Debian libonnx-dev: /usr/include/onnx/onnx.proto); the generated
# onnx.pb-c.c/.h go to ${CMAKE_BINARY_DIR}/proto and are never committed. Sources using them
# include "proto/onnx.pb-c.h" (the build dir is on kilncore's include path).
#
# Sets:  KILN_PROTO_SOURCES   generated .pb-c.c files, added to kilncore
# Links: libprotobuf-c into every target defined after this file (kilncore and its users).

pkg_check_modules(PROTOBUF_C REQUIRED IMPORTED_TARGET libprotobuf-c)
find_program(KILN_PROTOC_C protoc-c REQUIRED)
find_file(KILN_ONNX_PROTO onnx.proto PATHS /usr/include/onnx /usr/local/include/onnx NO_DEFAULT_PATH
          DOC "ONNX's onnx.proto (Debian libonnx-dev)")
if(NOT KILN_ONNX_PROTO)
  message(FATAL_ERROR "onnx.proto not found: install libonnx-dev (scripts/setup.sh) "
                      "or set KILN_ONNX_PROTO=/path/to/onnx.proto")
endif()

get_filename_component(_kiln_onnx_proto_dir ${KILN_ONNX_PROTO} DIRECTORY)
set(_kiln_proto_out ${CMAKE_BINARY_DIR}/proto)
file(MAKE_DIRECTORY ${_kiln_proto_out})
add_custom_command(
  OUTPUT ${_kiln_proto_out}/onnx.pb-c.c ${_kiln_proto_out}/onnx.pb-c.h
  COMMAND ${KILN_PROTOC_C} --c_out=${_kiln_proto_out} -I${_kiln_onnx_proto_dir} ${KILN_ONNX_PROTO}
  DEPENDS ${KILN_ONNX_PROTO}
  COMMENT "protoc-c onnx.proto"
  VERBATIM)
# Generated code is not ours to keep warning-free under kiln's flags.
set_source_files_properties(${_kiln_proto_out}/onnx.pb-c.c PROPERTIES
                            GENERATED TRUE COMPILE_OPTIONS "-w")
list(APPEND KILN_PROTO_SOURCES ${_kiln_proto_out}/onnx.pb-c.c)

# kilncore is defined after this file; link_libraries applies to it and to everything after.
link_libraries(PkgConfig::PROTOBUF_C)
unset(_kiln_proto_out)
unset(_kiln_onnx_proto_dir)
