/* The embedded runtime (runtime_embed.c) matches runtime/ byte for byte, and lists every
 * file after the files its "needs:" names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "runtime/embed.h"

static void test_embed_matches_sources(void **state)
{
	(void)state;
	assert_true(kiln_runtime_nfiles > 0);
	assert_string_equal(kiln_runtime_files[0].name, "k_base");
	for (int i = 0; i < kiln_runtime_nfiles; i++) {
		const struct kiln_runtime_file *f = &kiln_runtime_files[i];
		char path[512], *buf;
		long n;
		FILE *fp;
		snprintf(path, sizeof path, "%s/runtime/%s.c", KILN_SOURCE_DIR, f->name);
		fp = fopen(path, "rb");
		assert_non_null(fp);
		fseek(fp, 0, SEEK_END);
		n = ftell(fp);
		rewind(fp);
		buf = calloc((size_t)n + 1, 1);
		assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
		fclose(fp);
		assert_string_equal(f->text, buf);
		free(buf);
	}
}

static void test_embed_order(void **state)
{
	(void)state;
	for (int i = 0; i < kiln_runtime_nfiles; i++) {
		char needs[256], *tok;
		snprintf(needs, sizeof needs, "%s", kiln_runtime_files[i].needs);
		for (tok = strtok(needs, " "); tok; tok = strtok(NULL, " ")) {
			int found = 0;
			for (int j = 0; j < i; j++)
				found |= !strcmp(kiln_runtime_files[j].name, tok);
			if (!found)
				fail_msg("%s needs %s, which is not listed before it", kiln_runtime_files[i].name, tok);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_embed_matches_sources),
		cmocka_unit_test(test_embed_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
