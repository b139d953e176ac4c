set(KILN_FRONTEND_SOURCES
  frontend/pt_archive.c
  frontend/unpickle.c
  frontend/ts_lex.c
  frontend/ts_parse.c
  frontend/aten.c
  frontend/ts_lower.c
)
