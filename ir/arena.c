/* arena.c: the bump allocator every kiln object lives in (STYLE K5).
 * Chunks grow geometrically; arena_reset frees them all. An allocation failure
 * is reported as "error: out of memory" through the context, never as a crash. */
#include <stdlib.h>
#include <string.h>

#include "base.h"

struct arena_chunk {
	struct arena_chunk *prev; /* older chunk */
	size_t size, used;        /* bytes of data[] and bytes handed out */
	_Alignas(16) unsigned char data[];
};

static long fail_countdown; /* test hook: fail when it reaches 0 */

void arena_fail_after(long n) { fail_countdown = n; }

static void *chunk_malloc(size_t n)
{
	if (fail_countdown > 0 && --fail_countdown == 0)
		return NULL;
	return malloc(n);
}

static _Noreturn void out_of_memory(struct arena *a)
{
	if (a->ctx)
		diag_error(a->ctx, (struct loc){0}, "out of memory");
	fatal("out of memory");
}

void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	struct arena_chunk *c = a->head;
	if (!c || c->size - c->used < size) {
		size_t want = c ? c->size * 2 : 64 * 1024;
		if (want > (size_t)256 << 20)
			want = (size_t)256 << 20;
		if (want < size)
			want = size;
		if (size > ((size_t)1 << 40))
			out_of_memory(a);
		c = chunk_malloc(sizeof *c + want);
		if (!c)
			out_of_memory(a);
		c->prev = a->head;
		c->size = want;
		c->used = 0;
		a->head = c;
		a->total += want;
	}
	void *p = c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

void *arena_grow(struct arena *a, void *old, size_t oldsize, size_t newsize)
{
	if (newsize <= oldsize)
		return old;
	void *p = arena_alloc(a, newsize);
	if (old && oldsize)
		memcpy(p, old, oldsize);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *arena_strdup(struct arena *a, const char *s) { return arena_strndup(a, s, strlen(s)); }

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void arena_reset(struct arena *a)
{
	struct arena_chunk *c = a->head;
	while (c) {
		struct arena_chunk *prev = c->prev;
		free(c);
		c = prev;
	}
	a->head = NULL;
	a->total = 0;
}

void vec_reserve(struct arena *a, struct vec *v, size_t elem, size_t n)
{
	if (n <= v->cap)
		return;
	size_t cap = v->cap ? v->cap * 2 : 8;
	while (cap < n)
		cap *= 2;
	v->data = arena_grow(a, v->data, v->cap * elem, cap * elem);
	v->cap = cap;
}

static size_t strmap_hash(const char *s)
{
	size_t h = 1469598103934665603u;   /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211u;
	return h;
}

uint32_t *strmap_slot(struct arena *a, struct strmap *m, const char *name, int create)
{
	if (create && (m->len + 1) * 2 > m->cap) {
		size_t oc = m->cap, nc = oc ? oc * 2 : 256;
		const char **ok = m->keys;
		uint32_t *ov = m->vals;
		m->keys = arena_alloc(a, sizeof *m->keys * nc);
		m->vals = arena_alloc(a, sizeof *m->vals * nc);
		m->cap = nc;
		for (size_t i = 0; i < oc; i++) {
			if (!ok[i])
				continue;
			size_t h = strmap_hash(ok[i]) & (nc - 1);
			while (m->keys[h])
				h = (h + 1) & (nc - 1);
			m->keys[h] = ok[i];
			m->vals[h] = ov[i];
		}
	}
	if (!m->cap)
		return NULL;
	size_t h = strmap_hash(name) & (m->cap - 1);
	while (m->keys[h]) {
		if (strcmp(m->keys[h], name) == 0)
			return &m->vals[h];
		h = (h + 1) & (m->cap - 1);
	}
	if (!create)
		return NULL;
	m->keys[h] = name;
	m->len++;
	return &m->vals[h];
}
