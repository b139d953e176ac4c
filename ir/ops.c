/* ops.c: the op table, generated from ops.def. */
#include <string.h>

#include "ir.h"

const struct op_info op_info[OP_COUNT] = {
#define OP(e, nm, mn, mx, no, at, fl) [OP_##e] = {nm, mn, mx, no, A_##at, fl},
#include "ops.def"
#undef OP
};

const char *const sop_names[SOP_COUNT] = {
	[SOP_ADD] = "add", [SOP_SUB] = "sub", [SOP_MUL] = "mul", [SOP_DIV] = "div",
	[SOP_FLOORDIV] = "floordiv", [SOP_MOD] = "mod", [SOP_POW] = "pow", [SOP_EQ] = "eq",
	[SOP_NE] = "ne", [SOP_LT] = "lt", [SOP_LE] = "le", [SOP_GT] = "gt", [SOP_GE] = "ge",
	[SOP_AND] = "and", [SOP_OR] = "or", [SOP_NOT] = "not", [SOP_NEG] = "neg", [SOP_INT] = "int",
	[SOP_FLOAT] = "float", [SOP_BOOL] = "bool",
};

const char *op_name(enum op op) { return op < OP_COUNT ? op_info[op].name : "?"; }

int op_from_name(const char *name)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strcmp(op_info[i].name, name) == 0)
			return i;
	return -1;
}
