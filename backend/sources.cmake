set(KILN_BACKEND_SOURCES
  backend/c/emit_c.c
  backend/onnx/onnx_graph.c
  backend/onnx/emit_onnx.c
)
