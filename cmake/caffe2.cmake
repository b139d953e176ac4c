# cmake/caffe2.cmake: kiln's proto/caffe2.proto (wire-compatible with Caffe2's) compiled by
# protoc-c at build time, as cmake/onnx.cmake does for onnx.proto (STYLE K19).
#
# The generated caffe2.pb-c.c/.h go to ${CMAKE_BINARY_DIR}/proto and are never committed;
# sources include "proto/caffe2.pb-c.h". Include after cmake/onnx.cmake (which finds protoc-c
# and links libprotobuf-c).
#
# Appends to: KILN_PROTO_SOURCES
# Sets:       KILN_CAFFE2_PROTO   the schema's path (tests run protoc on it)

set(KILN_CAFFE2_PROTO ${CMAKE_SOURCE_DIR}/proto/caffe2.proto)
set(_kiln_proto_out ${CMAKE_BINARY_DIR}/proto)
file(MAKE_DIRECTORY ${_kiln_proto_out})
add_custom_command(
  OUTPUT ${_kiln_proto_out}/caffe2.pb-c.c ${_kiln_proto_out}/caffe2.pb-c.h
  COMMAND ${KILN_PROTOC_C} --c_out=${_kiln_proto_out} -I${CMAKE_SOURCE_DIR}/proto
          ${KILN_CAFFE2_PROTO}
  DEPENDS ${KILN_CAFFE2_PROTO}
  COMMENT "protoc-c caffe2.proto"
  VERBATIM)
set_source_files_properties(${_kiln_proto_out}/caffe2.pb-c.c PROPERTIES
                            GENERATED TRUE COMPILE_OPTIONS "-w")
list(APPEND KILN_PROTO_SOURCES ${_kiln_proto_out}/caffe2.pb-c.c)
unset(_kiln_proto_out)
