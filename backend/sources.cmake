set(KILN_BACKEND_SOURCES
  backend/c/emit_c.c
)
