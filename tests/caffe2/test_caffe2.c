/* test_caffe2.c: cmocka tests of the Caffe2 backend's tables, and the sample NetDef whose
 * protobuf text the pbtext test compares with protoc's.
 *
 *   test_caffe2                    the cmocka tests
 *   test_caffe2 --sample PB TXT    write the sample NetDef to PB and its text (pb_print_text)
 *                                  to TXT, for run_pbtext.sh to check against protoc --decode
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backend/caffe2/c2_net.h"

/* Every op that computes tensors has a Caffe2 emitter, but for those Caffe2 cannot express
 * as one net of operators (run-time scalars; LSTM/GRU, which are step nets in Caffe2). */
static void test_table(void **state)
{
	(void)state;
	for (int op = 0; op < OP_COUNT; op++) {
		int none = (op_info[op].flags & F_STRUCT) || op == OP_CONST || op == OP_SCALAR ||
		           op == OP_ITEM || op == OP_FROM_SCALAR || op == OP_LSTM || op == OP_GRU;
		if (emit_caffe2_has_op(op) == none)
			fail_msg("op '%s': emitter %s", op_name(op), none ? "unexpected" : "missing");
	}
}

/* A NetDef with what the text printer must get right: escapes, non-ASCII bytes, floats
 * that need 9 digits, tiny and huge ones, negative zero, infinities, NaN, 64-bit ints,
 * empty strings, nested messages, enums inside args' tensors. */
static void sample(const char *pb_path, const char *txt_path)
{
	static char *in[] = {"a\"b", "tab\there", "nl\nx", "quote'", "back\\slash", "\x01\x7f\xc3\xa9"};
	static char *outs[] = {""};
	static float floats[] = {0.1f, 1.0f / 3.0f, 1e-10f, -0.0f, 3.4028235e38f, 100.0f, 1.5f,
	                         INFINITY, -INFINITY, NAN, 16777216.0f, 1e7f, 123456789.0f};
	static int64_t ints[] = {0, -1, INT64_MAX, INT64_MIN, 42};
	static int64_t dims[] = {2, 3};
	static double dbl[] = {0.1, 1e300, -2.5};
	Caffe2__TensorProto t = CAFFE2__TENSOR_PROTO__INIT;
	t.n_dims = 2;
	t.dims = dims;
	t.has_data_type = 1;
	t.data_type = CAFFE2__TENSOR_PROTO__DATA_TYPE__DOUBLE;
	t.n_double_data = 3;
	t.double_data = dbl;
	t.name = "tensor \"t\"";
	Caffe2__Argument a1 = CAFFE2__ARGUMENT__INIT, a2 = CAFFE2__ARGUMENT__INIT;
	a1.name = "floats";
	a1.n_floats = sizeof floats / sizeof *floats;
	a1.floats = floats;
	a1.has_f = 1;
	a1.f = 0.3f;
	a1.t = &t;
	a2.name = "ints";
	a2.n_ints = 5;
	a2.ints = ints;
	a2.has_s = 1;
	a2.s.data = (uint8_t *)"\0bin\xff";
	a2.s.len = 5;
	a2.has_i = 1;
	a2.i = -7;
	Caffe2__Argument *args[] = {&a1, &a2};
	Caffe2__DeviceOption dev = CAFFE2__DEVICE_OPTION__INIT;
	dev.has_device_type = 1;
	dev.device_type = 1;
	dev.has_device_id = 1;
	dev.device_id = 0;
	Caffe2__OperatorDef op = CAFFE2__OPERATOR_DEF__INIT;
	op.n_input = sizeof in / sizeof *in;
	op.input = in;
	op.n_output = 1;
	op.output = outs;
	op.type = "Weird";
	op.n_arg = 2;
	op.arg = args;
	op.device_option = &dev;
	op.has_is_gradient_op = 1;
	op.is_gradient_op = 0;
	op.has_op_version = 1;
	op.op_version = -3;
	Caffe2__OperatorDef *ops[] = {&op, &op};
	Caffe2__NetDef net = CAFFE2__NET_DEF__INIT;
	net.name = "sample";
	net.n_op = 2;
	net.op = ops;
	net.type = "dag";
	FILE *f = fopen(pb_path, "wb");
	size_t len = caffe2__net_def__get_packed_size(&net);
	uint8_t buf[4096];
	assert_true(f && len <= sizeof buf);
	caffe2__net_def__pack(&net, buf);
	assert_true(fwrite(buf, 1, len, f) == len && fclose(f) == 0);
	f = fopen(txt_path, "w");
	assert_non_null(f);
	pb_print_text(f, &net.base);
	assert_int_equal(fclose(f), 0);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--sample") == 0) {
		sample(argv[2], argv[3]);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
