set(KILN_IR_SOURCES
  ir/arena.c
  ir/diag.c
  ir/dtype.c
)
