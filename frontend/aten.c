/* aten.c: parses the schema strings of aten.def into argument names and defaults.
 * The table is immutable after its one-time construction, which happens on first use;
 * the text is ours, so a malformed row is a kiln bug (KILN_ASSERT), not user input. */
#include <stdlib.h>
#include <string.h>

#include "aten.h"

static const struct {
	const char *name;
	enum aten_result result;
	const char *schema;
} rows[ATEN_COUNT] = {
#define ATEN(id, nm, res, sch) [ATEN_##id] = {nm, res, sch},
#include "aten.def"
#undef ATEN
};

/* Parse one default literal: None, True, False, ints, floats, "str", [ints]. */
static void parse_default(const char *s, struct aten_default *d)
{
	char *end;
	if (strcmp(s, "None") == 0) {
		d->kind = CK_NONE;
	} else if (strcmp(s, "True") == 0 || strcmp(s, "False") == 0) {
		d->kind = CK_BOOL;
		d->i = s[0] == 'T';
	} else if (s[0] == '"') {
		d->kind = CK_STR;
		d->s = strndup(s + 1, strlen(s) - 2);
	} else if (s[0] == '[') {
		d->kind = CK_INTS;
		for (const char *p = s + 1; *p && *p != ']';) {
			KILN_ASSERT(d->n < 4);
			d->ints[d->n++] = strtoll(p, &end, 10);
			p = end;
			while (*p == ',' || *p == ' ')
				p++;
		}
	} else if (strpbrk(s, ".e")) {
		d->kind = CK_FLOAT;
		d->f = strtod(s, &end);
	} else {
		d->kind = CK_INT;
		d->i = strtoll(s, &end, 10);
	}
}

/* Split "a, b=1, c=[1, 1]" at top-level commas. */
static void parse_schema(const char *text, struct aten_schema *s)
{
	const char *p = text;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *start = p;
		int depth = 0;
		while (*p && (depth || *p != ',')) {
			depth += (*p == '[') - (*p == ']');
			p++;
		}
		char *arg = strndup(start, (size_t)(p - start));
		char *eq = strchr(arg, '=');
		KILN_ASSERT(s->nargs < ATEN_MAX_ARGS);
		if (eq) {
			*eq = 0;
			s->has_default[s->nargs] = 1;
			parse_default(eq + 1, &s->deflt[s->nargs]);
		}
		s->args[s->nargs++] = arg;
		if (*p == ',')
			p++;
	}
}

static struct aten_schema *table;

const struct aten_schema *aten_schema(enum aten_id id)
{
	if (!table) {
		/* Built once and kept for the process: immutable shared data, not state. */
		struct aten_schema *t = calloc(ATEN_COUNT, sizeof *t);
		if (!t)
			fatal("out of memory");
		for (int i = 0; i < ATEN_COUNT; i++) {
			t[i].name = rows[i].name;
			t[i].result = rows[i].result;
			parse_schema(rows[i].schema, &t[i]);
		}
		table = t;
	}
	return &table[id];
}

int aten_lookup(const char *name)
{
	for (int i = 0; i < ATEN_COUNT; i++)
		if (strcmp(rows[i].name, name) == 0)
			return i;
	return -1;
}
