/* ops.c: the op table, generated from ops.def. */
#include <string.h>

#include "ir.h"

const struct op_info op_info[OP_COUNT] = {
#define OP(e, nm, mn, mx, no, at, fl) [OP_##e] = {nm, mn, mx, no, A_##at, fl},
#include "ops.def"
#undef OP
};

const char *op_name(enum op op) { return op < OP_COUNT ? op_info[op].name : "?"; }

int op_from_name(const char *name)
{
	for (int i = 0; i < OP_COUNT; i++)
		if (strcmp(op_info[i].name, name) == 0)
			return i;
	return -1;
}
