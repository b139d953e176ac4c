/* kiln runtime: .npy reading and writing for the generated main(). needs: k_base */
/*
 * Formats 1.0, 2.0 and 3.0 (the header is ASCII in practice); C order only; little-endian
 * hosts.  The reader checks magic, version, descr, fortran_order and shape against what
 * the model expects and the data length against the shape, and reports the first mismatch
 * as "path: message" in the caller's buffer.  Not on the run path: uses stdio and malloc.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define K_NPY_MAXRANK 32 /* numpy's own limit */

/* Formats "path: message" into err; returns -1 so callers can return it. */
static K_UNUSED int k_npy_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* The numpy descr of a dtype, and its element size. */
static K_UNUSED const char *k_npy_descr(enum k_dtype t)
{
	switch (t) {
	case K_F32: return "<f4";
	case K_F64: return "<f8";
	case K_I64: return "<i8";
	case K_I32: return "<i4";
	case K_U8: return "|u1";
	case K_BOOL: return "|b1";
	}
	return "?";
}

static K_UNUSED size_t k_dtype_size(enum k_dtype t)
{
	switch (t) {
	case K_F32: case K_I32: return 4;
	case K_F64: case K_I64: return 8;
	case K_U8: case K_BOOL: return 1;
	}
	return 0;
}

/* Writes a shape as Python prints a tuple: (1, 3), (5,), (). */
static K_UNUSED void k_npy_shape_str(char *buf, size_t len, int rank, const k_idx *shape)
{
	size_t o = 0;
	int d;

	o += (size_t)snprintf(buf, len, "(");
	for (d = 0; d < rank && o < len; d++)
		o += (size_t)snprintf(buf + o, len - o, "%s%lld", d ? ", " : "", (long long)shape[d]);
	if (o < len)
		snprintf(buf + o, len - o, "%s", rank == 1 ? ",)" : ")");
}

/* The parsed header dict. */
struct k_npy_header {
	char descr[16];               /* e.g. "<f4" */
	int fortran;                  /* fortran_order */
	int rank;                     /* len(shape) */
	k_idx shape[K_NPY_MAXRANK];   /* shape */
	int seen;                     /* bit 0 descr, 1 fortran_order, 2 shape */
};

static K_UNUSED const char *k_npy_ws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

/* Parses a quoted string into out; returns the position after it, or NULL. */
static K_UNUSED const char *k_npy_str(const char *s, char *out, size_t len)
{
	char q = *s;
	size_t n = 0;

	if (q != '\'' && q != '"')
		return NULL;
	for (s++; *s && *s != q; s++)
		if (n + 1 < len)
			out[n++] = *s;
	out[n] = 0;
	return *s == q ? s + 1 : NULL;
}

/* Parses a tuple of non-negative integers; returns the position after it, or NULL. */
static K_UNUSED const char *k_npy_tuple(const char *s, struct k_npy_header *h)
{
	if (*s != '(')
		return NULL;
	s = k_npy_ws(s + 1);
	h->rank = 0;
	while (*s != ')') {
		char *end;
		long long v = strtoll(s, &end, 10);
		if (end == s || v < 0 || h->rank == K_NPY_MAXRANK)
			return NULL;
		h->shape[h->rank++] = (k_idx)v;
		s = k_npy_ws(end);
		if (*s == ',')
			s = k_npy_ws(s + 1);
		else if (*s != ')')
			return NULL;
	}
	return s + 1;
}

/* Parses the header dict; returns 0 or -1 if it is malformed. */
static K_UNUSED int k_npy_parse(const char *s, struct k_npy_header *h)
{
	memset(h, 0, sizeof *h);
	s = k_npy_ws(s);
	if (*s++ != '{')
		return -1;
	for (;;) {
		char key[32];
		s = k_npy_ws(s);
		if (*s == '}')
			return 0;
		if (!(s = k_npy_str(s, key, sizeof key)))
			return -1;
		s = k_npy_ws(s);
		if (*s++ != ':')
			return -1;
		s = k_npy_ws(s);
		if (!strcmp(key, "descr")) {
			s = k_npy_str(s, h->descr, sizeof h->descr);
			h->seen |= 1;
		} else if (!strcmp(key, "fortran_order")) {
			h->fortran = !strncmp(s, "True", 4);
			if (!h->fortran && strncmp(s, "False", 5))
				return -1;
			s += h->fortran ? 4 : 5;
			h->seen |= 2;
		} else if (!strcmp(key, "shape")) {
			s = k_npy_tuple(s, h);
			h->seen |= 4;
		} else {
			return -1;
		}
		if (!s)
			return -1;
		s = k_npy_ws(s);
		if (*s == ',')
			s++;
		else if (*s != '}')
			return -1;
	}
}

/* Checks a parsed header against the expected dtype and shape; fills err on mismatch. */
static K_UNUSED int k_npy_check(const char *path, const struct k_npy_header *h, enum k_dtype dt, int rank,
				const k_idx *shape, char *err, size_t errlen)
{
	char got[256], want[256];
	int d, same = h->rank == rank;

	if ((h->seen & 7) != 7)
		return k_npy_fail(err, errlen, "%s: header lacks '%s'", path,
			 !(h->seen & 1) ? "descr" : !(h->seen & 2) ? "fortran_order" : "shape");
	if (strcmp(h->descr, k_npy_descr(dt)))
		return k_npy_fail(err, errlen, "%s: dtype '%s' but the model expects '%s'", path, h->descr, k_npy_descr(dt));
	if (h->fortran)
		return k_npy_fail(err, errlen, "%s: fortran_order is True; save a C-order array", path);
	for (d = 0; same && d < rank; d++)
		same = h->shape[d] == shape[d];
	if (!same) {
		k_npy_shape_str(got, sizeof got, h->rank, h->shape);
		k_npy_shape_str(want, sizeof want, rank, shape);
		return k_npy_fail(err, errlen, "%s: shape %s but the model expects %s", path, got, want);
	}
	return 0;
}

/* Reads the header of an open file; returns 0 or -1 with err filled. */
static K_UNUSED int k_npy_read_header(FILE *f, const char *path, struct k_npy_header *h, char *err, size_t errlen)
{
	unsigned char pre[12];
	size_t hlen, lenbytes;
	char *txt;
	int rc;

	if (fread(pre, 1, 8, f) != 8 || memcmp(pre, "\x93NUMPY", 6))
		return k_npy_fail(err, errlen, "%s: not a .npy file (bad magic)", path);
	if (pre[6] < 1 || pre[6] > 3)
		return k_npy_fail(err, errlen, "%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
	lenbytes = pre[6] == 1 ? 2 : 4;
	if (fread(pre + 8, 1, lenbytes, f) != lenbytes)
		return k_npy_fail(err, errlen, "%s: truncated header", path);
	hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
	if (lenbytes == 4)
		hlen |= (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
	if (hlen > ((size_t)1 << 24) || !(txt = malloc(hlen + 1)))
		return k_npy_fail(err, errlen, "%s: header of %zu bytes is too long", path, hlen);
	rc = 0;
	if (fread(txt, 1, hlen, f) != hlen) {
		rc = k_npy_fail(err, errlen, "%s: truncated header", path);
	} else {
		txt[hlen] = 0;
		if (k_npy_parse(txt, h)) {
			while (hlen > 0 && (txt[hlen - 1] == ' ' || txt[hlen - 1] == '\n'))
				txt[--hlen] = 0;
			rc = k_npy_fail(err, errlen, "%s: malformed header: %s", path, txt);
		}
	}
	free(txt);
	return rc;
}

/*
 * Reads path into data (prod(shape) elements of dt) after checking the header.
 * Returns 0, or -1 with a "path: ..." message in err.
 */
static K_UNUSED int k_npy_read(const char *path, enum k_dtype dt, int rank, const k_idx *shape, void *data,
			       char *err, size_t errlen)
{
	struct k_npy_header h;
	size_t want = k_dtype_size(dt), got;
	FILE *f = fopen(path, "rb");
	int d;

	if (!f)
		return k_npy_fail(err, errlen, "%s: %s", path, strerror(errno));
	if (k_npy_read_header(f, path, &h, err, errlen) || k_npy_check(path, &h, dt, rank, shape, err, errlen)) {
		fclose(f);
		return -1;
	}
	for (d = 0; d < rank; d++)
		want *= (size_t)shape[d];
	got = fread(data, 1, want, f);
	fclose(f);
	if (got != want)
		return k_npy_fail(err, errlen, "%s: truncated data: %zu of %zu bytes", path, got, want);
	return 0;
}

/* Writes data as a version 1.0 .npy file. Returns 0, or -1 with err filled. */
static K_UNUSED int k_npy_write(const char *path, enum k_dtype dt, int rank, const k_idx *shape,
				const void *data, char *err, size_t errlen)
{
	char hdr[1024], sh[700];
	size_t n = k_dtype_size(dt), len;
	FILE *f;
	int d, ok;

	for (d = 0; d < rank; d++)
		n *= (size_t)shape[d];
	k_npy_shape_str(sh, sizeof sh, rank, shape);
	len = (size_t)snprintf(hdr, sizeof hdr - 64, "\x93NUMPY\x01%c__{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
			       0, k_npy_descr(dt), sh);
	while ((len + 1) % 64)
		hdr[len++] = ' ';
	hdr[len++] = '\n';
	hdr[8] = (char)((len - 10) & 0xff);
	hdr[9] = (char)((len - 10) >> 8);
	if (!(f = fopen(path, "wb")))
		return k_npy_fail(err, errlen, "%s: %s", path, strerror(errno));
	ok = fwrite(hdr, 1, len, f) == len && fwrite(data, 1, n, f) == n;
	ok = (fclose(f) == 0) && ok;
	if (!ok)
		return k_npy_fail(err, errlen, "%s: write failed: %s", path, strerror(errno));
	return 0;
}
