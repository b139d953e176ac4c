# Runtime kernels: compiled and tested here, and embedded into kiln as text so the
# C backend can copy the ones a model uses into the generated file (STYLE K17).
set(KILN_RUNTIME_FILES
)
set(KILN_RUNTIME_EMBED_C)
