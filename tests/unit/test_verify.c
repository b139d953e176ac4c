/* test_verify.c: the IR verifier accepts well-formed graphs and names what is wrong
 * in broken ones (single definition, def before use, scope, arity, dangling ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ir/ir.h"

struct fixture {
	struct kiln_ctx ctx;
	struct ir_module *m;
	struct ir_block *b;
	uint32_t x;              /* the function's tensor parameter */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	kiln_ctx_init(&f->ctx);
	f->ctx.diag_out = NULL;
	f->m = ir_module_new(&f->ctx, "test");
	struct ir_func *fn = ir_new_func(f->m, "forward");
	f->b = fn->body;
	struct ir_shape s = {.rank = 2, .dims = {2, 3}};
	f->x = ir_add_param(f->m, f->b, VK_TENSOR);
	ir_val(f->m, f->x)->dtype = DT_F32;
	ir_val(f->m, f->x)->shape = s;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	kiln_ctx_free(&f->ctx);
	free(f);
	return 0;
}

static uint32_t relu(struct fixture *f, uint32_t in)
{
	uint32_t n = ir_add_node(f->m, f->b, OP_RELU, &in, 1, 1);
	return ir_node(f->m, n)->out[0];
}

static void accepts_a_chain(void **state)
{
	struct fixture *f = *state;
	uint32_t y = relu(f, relu(f, f->x));
	ir_set_rets(f->m, f->b, &y, 1);
	assert_null(ir_check(f->m, NULL));
}

static void rejects_use_before_definition(void **state)
{
	struct fixture *f = *state;
	uint32_t a = relu(f, f->x);
	uint32_t b = relu(f, a);
	/* swap the two nodes: b now reads a before a is defined */
	uint32_t *ids = f->b->nodes.data;
	uint32_t t = ids[0];
	ids[0] = ids[1];
	ids[1] = t;
	ir_set_rets(f->m, f->b, &b, 1);
	uint32_t node = IR_NONE;
	const char *what = ir_check(f->m, &node);
	assert_non_null(what);
	assert_non_null(strstr(what, "before its definition"));
	assert_int_equal(node, ir_val(f->m, b)->def);
}

static void rejects_double_definition(void **state)
{
	struct fixture *f = *state;
	uint32_t a = relu(f, f->x);
	uint32_t id = ir_val(f->m, a)->def;
	VEC_PUSH(&f->ctx.arena, &f->b->nodes, uint32_t, id); /* the same node listed twice */
	ir_set_rets(f->m, f->b, &a, 1);
	const char *what = ir_check(f->m, NULL);
	assert_non_null(what);
	assert_non_null(strstr(what, "defined twice"));
}

static void rejects_wrong_arity(void **state)
{
	struct fixture *f = *state;
	uint32_t in[2] = {f->x, f->x};
	uint32_t n = ir_add_node(f->m, f->b, OP_RELU, in, 2, 1);
	ir_set_rets(f->m, f->b, &ir_node(f->m, n)->out[0], 1);
	const char *what = ir_check(f->m, NULL);
	assert_non_null(what);
	assert_non_null(strstr(what, "input count"));
}

static void rejects_dangling_id(void **state)
{
	struct fixture *f = *state;
	uint32_t bogus = 12345;
	uint32_t n = ir_add_node(f->m, f->b, OP_RELU, &bogus, 1, 1);
	ir_set_rets(f->m, f->b, &ir_node(f->m, n)->out[0], 1);
	const char *what = ir_check(f->m, NULL);
	assert_non_null(what);
	assert_non_null(strstr(what, "out of range"));
}

static void rejects_value_escaping_its_block(void **state)
{
	struct fixture *f = *state;
	uint32_t cond = ir_const_bool(f->m, f->b, 1);
	uint32_t n = ir_add_node(f->m, f->b, OP_IF, &cond, 1, 0);
	struct ir_block *then = ir_new_block(f->m), *els = ir_new_block(f->m);
	struct ir_block **bl = arena_alloc(&f->ctx.arena, 2 * sizeof *bl);
	bl[0] = then;
	bl[1] = els;
	ir_node(f->m, n)->blocks = bl;
	ir_node(f->m, n)->nblocks = 2;
	uint32_t in = f->x;
	uint32_t inner = ir_add_node(f->m, then, OP_RELU, &in, 1, 1);
	uint32_t v = ir_node(f->m, inner)->out[0];
	ir_set_rets(f->m, f->b, &v, 1); /* used outside the block that defines it */
	const char *what = ir_check(f->m, NULL);
	assert_non_null(what);
	assert_non_null(strstr(what, "outside its scope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(accepts_a_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(rejects_use_before_definition, setup, teardown),
		cmocka_unit_test_setup_teardown(rejects_double_definition, setup, teardown),
		cmocka_unit_test_setup_teardown(rejects_wrong_arity, setup, teardown),
		cmocka_unit_test_setup_teardown(rejects_dangling_id, setup, teardown),
		cmocka_unit_test_setup_teardown(rejects_value_escaping_its_block, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
