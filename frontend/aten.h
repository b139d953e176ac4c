/* aten.h: the table of TorchScript operators (aten.def) with parsed schemas. */
#ifndef KILN_ATEN_H
#define KILN_ATEN_H

#include "ir/ir.h"

enum aten_id {
#define ATEN(id, name, res, schema) ATEN_##id,
#include "aten.def"
#undef ATEN
	ATEN_COUNT
};

/* What an operator call produces. */
enum aten_result {
	R_TENSOR,      /* one tensor */
	R_TENSOR2,     /* two tensors */
	R_TUPLE2,      /* a tuple of two tensors (the node's two outputs) */
	R_TUPLE3,      /* a tuple of three tensors */
	R_DEVICE,      /* a device (prim.device) */
	R_STR,         /* a string */
	R_TENSORLIST,  /* a list of tensors */
	R_ARITH,       /* a tensor if an operand is a tensor, else int or float by promotion */
	R_DIV,         /* like R_ARITH, but true division of scalars gives float */
	R_CMP,         /* a tensor if an operand is a tensor, else bool */
	R_INT, R_FLOAT, R_BOOL, R_NONE,
	R_SIZE,        /* int with a dim argument, else a list of ints */
	R_SAME,        /* the kind of the first argument */
};

#define ATEN_MAX_ARGS 20

/* A default argument value, parsed from the schema text. */
struct aten_default {
	enum ckind kind;   /* CK_NONE for "None"; kind of the literal otherwise */
	int64_t i;         /* CK_INT, CK_BOOL */
	double f;          /* CK_FLOAT */
	const char *s;     /* CK_STR */
	int n;             /* CK_INTS length */
	int64_t ints[4];   /* CK_INTS */
};

struct aten_schema {
	const char *name;                       /* as in code: "conv2d", "prim.NumToTensor" */
	enum aten_result result;
	int nargs;
	const char *args[ATEN_MAX_ARGS];        /* argument names */
	int has_default[ATEN_MAX_ARGS];         /* 1 when args[i] has a default */
	struct aten_default deflt[ATEN_MAX_ARGS];
};

/* aten.c */
/* The schema of id. The table is parsed once per call site from constant text; cheap. */
const struct aten_schema *aten_schema(enum aten_id id);
int aten_lookup(const char *name);    /* enum aten_id, or -1 */

#endif
