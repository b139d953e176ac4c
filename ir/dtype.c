/* dtype.c: element types and their names in torch, the IR text and C. */
#include <string.h>

#include "base.h"

static const struct {
	const char *name;    /* IR text */
	const char *ctype;   /* C type in generated code */
	const char *storage; /* torch storage class */
	int torch;           /* torch ScalarType */
	size_t size;         /* bytes */
} dtypes[DT_COUNT] = {
	[DT_UNKNOWN] = {"?", "void", "", -1, 0},
	[DT_F32] = {"f32", "float", "FloatStorage", 6, 4},
	[DT_F64] = {"f64", "double", "DoubleStorage", 7, 8},
	[DT_F16] = {"f16", "uint16_t", "HalfStorage", 5, 2},
	[DT_BF16] = {"bf16", "uint16_t", "BFloat16Storage", 15, 2},
	[DT_I64] = {"i64", "int64_t", "LongStorage", 4, 8},
	[DT_I32] = {"i32", "int32_t", "IntStorage", 3, 4},
	[DT_I16] = {"i16", "int16_t", "ShortStorage", 2, 2},
	[DT_I8] = {"i8", "int8_t", "CharStorage", 1, 1},
	[DT_U8] = {"u8", "uint8_t", "ByteStorage", 0, 1},
	[DT_BOOL] = {"bool", "uint8_t", "BoolStorage", 11, 1},
};

enum dtype dtype_from_torch(int64_t t)
{
	for (int d = 1; d < DT_COUNT; d++)
		if (dtypes[d].torch == t)
			return (enum dtype)d;
	return DT_UNKNOWN;
}

int64_t dtype_to_torch(enum dtype dt) { return dtypes[dt].torch; }

enum dtype dtype_from_storage(const char *name)
{
	for (int d = 1; d < DT_COUNT; d++)
		if (strcmp(dtypes[d].storage, name) == 0)
			return (enum dtype)d;
	return DT_UNKNOWN;
}

size_t dtype_size(enum dtype dt) { return dtypes[dt].size; }
const char *dtype_name(enum dtype dt) { return dtypes[dt].name; }
const char *dtype_c_type(enum dtype dt) { return dtypes[dt].ctype; }
