/* pt_archive.c: open a TorchScript .pt zip and read its records into the arena.
 *
 * Steps: sniff the first bytes (legacy pickle, PYTORCH1 preview, not a zip); open with
 * libzip; stat every entry and refuse absurd sizes before allocating anything; check the
 * layout (legacy model.json, torch.save state dict, missing data.pkl/constants.pkl/code/);
 * read every record under the prefix; close the zip; parse the version.
 *
 * libzip holds heap state, so nothing may longjmp past an open zip (STYLE K7): the work
 * runs under kiln_protect(), and on error the zip is discarded before the error is re-raised.
 * Cost: one pass over the central directory, one read of every record.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "pt.h"

/* Deflate cannot expand data more than ~1032:1; anything claiming more is corrupt. */
#define PT_MAX_DEFLATE_RATIO 1100

/* State of one pt_open, shared with the protected reader. */
struct pt_open_state {
	const char *path;       /* as given */
	struct loc loc;         /* loc.file = path */
	uint64_t file_size;     /* bytes on disk */
	zip_t *za;              /* open archive, or NULL */
	zip_file_t *zf;         /* open record, or NULL */
	struct pt_archive *ar;  /* result being filled */
	zip_uint64_t *index;    /* zip index of each record in ar->recs */
};

/* Classify the first bytes of the file, before libzip sees it. */
static void sniff(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	struct stat sb;
	unsigned char head[8] = {0};
	if (stat(st->path, &sb) != 0)
		diag_error(ctx, st->loc, "cannot open: %s", strerror(errno));
	if (!S_ISREG(sb.st_mode))
		diag_error(ctx, st->loc, "not a regular file");
	st->file_size = (uint64_t)sb.st_size;
	FILE *f = fopen(st->path, "rb");
	if (!f)
		diag_error(ctx, st->loc, "cannot open: %s", strerror(errno));
	size_t n = fread(head, 1, sizeof head, f);
	fclose(f);
	if (n >= 2 && head[0] == 0x80 && head[1] == 0x02)
		diag_error(ctx, st->loc, "a legacy torch.save pickle, not a TorchScript module; "
		           "save with torch.jit.save");
	if (n == 8 && memcmp(head, "PYTORCH1", 8) == 0)
		diag_error(ctx, st->loc, "unsupported preview TorchScript format (PYTORCH1 magic); "
		           "re-save the model with torch.jit.save from torch >= 1.3");
	if (n < 4 || memcmp(head, "PK", 2) != 0)
		diag_error(ctx, st->loc, "not a zip archive (TorchScript models are zip files "
		           "written by torch.jit.save)");
}

/* zip_open with consistency checks; libzip's error code becomes a diagnostic. */
static void open_zip(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	int err = 0;
	st->za = zip_open(st->path, ZIP_RDONLY | ZIP_CHECKCONS, &err);
	if (st->za)
		return;
	if (err == ZIP_ER_NOZIP || err == ZIP_ER_INCONS || err == ZIP_ER_EOF)
		diag_error(ctx, st->loc, "truncated or corrupt zip archive (no valid central "
		           "directory); the file may be incomplete");
	zip_error_t ze;
	zip_error_init_with_code(&ze, err);
	char *msg = arena_strdup(&ctx->arena, zip_error_strerror(&ze));
	zip_error_fini(&ze);
	diag_error(ctx, st->loc, "cannot read zip archive: %s", msg);
}

/* Copy name `s` without its top directory; NULL if it is outside `prefix/`. */
static const char *strip_prefix(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(s, prefix, n) != 0 || s[n] != '/')
		return NULL;
	return s + n + 1;
}

/* The top directory of the first entry. */
static const char *first_prefix(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	const char *name = zip_get_name(st->za, 0, ZIP_FL_ENC_RAW);
	const char *slash = name ? strchr(name, '/') : NULL;
	if (!slash || slash == name)
		diag_error(ctx, st->loc, "first zip entry '%s' is not inside a top directory; "
		           "not a TorchScript archive", name ? name : "?");
	return arena_strndup(&ctx->arena, name, (size_t)(slash - name));
}

/* Refuse an entry whose declared sizes cannot be right, before allocating for it. */
static void check_entry(struct kiln_ctx *ctx, struct pt_open_state *st, const zip_stat_t *zs)
{
	const char *name = zs->name;
	zip_uint64_t need = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD;
	if ((zs->valid & need) != need)
		diag_error(ctx, st->loc, "record '%s': sizes missing from the zip directory", name);
	if ((zs->valid & ZIP_STAT_ENCRYPTION_METHOD) && zs->encryption_method != ZIP_EM_NONE)
		diag_error(ctx, st->loc, "record '%s' is encrypted", name);
	if (zs->comp_size > st->file_size)
		diag_error(ctx, st->loc, "record '%s' declares %llu compressed bytes in a file of "
		           "%llu bytes (truncated or corrupt archive)", name,
		           (unsigned long long)zs->comp_size, (unsigned long long)st->file_size);
	if (zs->comp_method == ZIP_CM_STORE) {
		if (zs->size != zs->comp_size)
			diag_error(ctx, st->loc, "stored record '%s' declares %llu bytes but occupies "
			           "%llu (corrupt archive)", name, (unsigned long long)zs->size,
			           (unsigned long long)zs->comp_size);
	} else if (zs->comp_method == ZIP_CM_DEFLATE) {
		if (zs->size / PT_MAX_DEFLATE_RATIO > zs->comp_size)
			diag_error(ctx, st->loc, "deflated record '%s' declares %llu bytes from %llu "
			           "compressed bytes, an impossible ratio (corrupt archive)", name,
			           (unsigned long long)zs->size, (unsigned long long)zs->comp_size);
	} else {
		diag_error(ctx, st->loc, "record '%s' uses unsupported compression method %d "
		           "(TorchScript writes stored or deflated records)", name,
		           (int)zs->comp_method);
	}
	if (zs->size > SIZE_MAX / 2)
		diag_error(ctx, st->loc, "record '%s' is too large for this machine", name);
}

/* Stat every entry; keep those under the prefix (not directories) as records. */
static void list_records(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	zip_int64_t n = zip_get_num_entries(st->za, 0);
	if (n <= 0)
		diag_error(ctx, st->loc, "empty zip archive; not a TorchScript model");
	struct pt_archive *ar = st->ar;
	ar->prefix = first_prefix(ctx, st);
	ar->recs = arena_alloc(&ctx->arena, (size_t)n * sizeof *ar->recs);
	st->index = arena_alloc(&ctx->arena, (size_t)n * sizeof *st->index);
	for (zip_int64_t i = 0; i < n; i++) {
		zip_stat_t zs;
		if (zip_stat_index(st->za, (zip_uint64_t)i, ZIP_FL_ENC_RAW, &zs) != 0)
			diag_error(ctx, st->loc, "cannot read zip entry %lld: %s", (long long)i,
			           zip_strerror(st->za));
		const char *rest = (zs.valid & ZIP_STAT_NAME) ? strip_prefix(zs.name, ar->prefix) : NULL;
		if (!rest || !*rest || rest[strlen(rest) - 1] == '/')
			continue;
		check_entry(ctx, st, &zs);
		struct pt_record *r = &ar->recs[ar->nrecs];
		r->name = arena_strdup(&ctx->arena, rest);
		r->size = (size_t)zs.size;
		st->index[ar->nrecs++] = (zip_uint64_t)i;
	}
}

/* Does any record name start with `dir`? */
static int has_dir(const struct pt_archive *ar, const char *dir)
{
	size_t n = strlen(dir);
	for (size_t i = 0; i < ar->nrecs; i++)
		if (strncmp(ar->recs[i].name, dir, n) == 0)
			return 1;
	return 0;
}

/* Recognize what kind of file this is from its record names (§1.5). */
static void check_layout(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	const struct pt_archive *ar = st->ar;
	int code = has_dir(ar, "code/");
	if (pt_find(ar, "model.json"))
		diag_error(ctx, st->loc, "legacy TorchScript format (model.json, torch 1.0-1.2) is "
		           "not supported; re-save the model with a newer torch");
	if (!code && pt_find(ar, "data.pkl") && !pt_find(ar, "constants.pkl"))
		diag_error(ctx, st->loc, "a state dict saved with torch.save, not a TorchScript "
		           "module; save with torch.jit.save");
	if (!pt_find(ar, "data.pkl"))
		diag_error(ctx, st->loc, "missing record '%s/data.pkl'; not a TorchScript module",
		           ar->prefix);
	if (!pt_find(ar, "constants.pkl"))
		diag_error(ctx, st->loc, "missing record '%s/constants.pkl'; not a TorchScript "
		           "module", ar->prefix);
	if (!code)
		diag_error(ctx, st->loc, "missing directory '%s/code/'; not a TorchScript module",
		           ar->prefix);
}

/* Read the open record zf into a buffer of its declared size. For deflated records the
 * buffer grows as data arrives, so a lying size costs only the data actually there. */
static void read_record(struct kiln_ctx *ctx, struct pt_open_state *st, struct pt_record *r)
{
	size_t cap = r->size < ((size_t)1 << 20) ? r->size : (size_t)1 << 20, got = 0;
	unsigned char *buf = arena_alloc(&ctx->arena, cap + 1);
	for (;;) {
		if (got == cap && cap < r->size) {
			size_t ncap = cap * 2 < r->size ? cap * 2 : r->size;
			buf = arena_grow(&ctx->arena, buf, cap + 1, ncap + 1);
			cap = ncap;
		}
		/* Ask for one byte past the end: libzip checks the CRC at end of data. */
		zip_int64_t k = zip_fread(st->zf, buf + got, cap - got + (cap == r->size));
		if (k < 0)
			diag_error(ctx, st->loc, "record '%s' is corrupt: %s", r->name,
			           zip_file_strerror(st->zf));
		if (k == 0)
			break;
		got += (size_t)k;
		if (got > r->size)
			diag_error(ctx, st->loc, "record '%s' holds more than its declared %zu bytes",
			           r->name, r->size);
	}
	if (got != r->size)
		diag_error(ctx, st->loc, "record '%s' is truncated: %zu of %zu bytes", r->name, got,
		           r->size);
	r->data = buf;
}

/* Read every listed record into the arena. */
static void read_records(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	for (size_t i = 0; i < st->ar->nrecs; i++) {
		struct pt_record *r = &st->ar->recs[i];
		st->zf = zip_fopen_index(st->za, st->index[i], 0);
		if (!st->zf)
			diag_error(ctx, st->loc, "cannot read record '%s': %s", r->name,
			           zip_strerror(st->za));
		read_record(ctx, st, r);
		zip_fclose(st->zf);
		st->zf = NULL;
	}
}

/* The part of pt_open that runs with libzip state open (under kiln_protect). */
static void open_protected(struct kiln_ctx *ctx, void *arg)
{
	struct pt_open_state *st = arg;
	open_zip(ctx, st);
	list_records(ctx, st);
	check_layout(ctx, st);
	read_records(ctx, st);
}

/* Parse "3\n" from the version record (.data/version wins over version). */
static int parse_version(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	const struct pt_record *r = pt_find(st->ar, ".data/version");
	if (!r)
		r = pt_find(st->ar, "version");
	if (!r)
		diag_error(ctx, st->loc, "missing record '%s/version'", st->ar->prefix);
	long v = 0;
	size_t i = 0;
	while (i < r->size && r->data[i] >= '0' && r->data[i] <= '9' && v < 1000000)
		v = v * 10 + (r->data[i++] - '0');
	while (i < r->size && (r->data[i] == '\n' || r->data[i] == '\r' || r->data[i] == ' '))
		i++;
	if (i == 0 || i != r->size || v < 1 || v >= 1000000)
		diag_error(ctx, st->loc, "malformed record '%s' (expected a decimal file format "
		           "version)", r->name);
	return (int)v;
}

/* Refuse big-endian archives: tensor bytes are read as little-endian. */
static void check_byteorder(struct kiln_ctx *ctx, struct pt_open_state *st)
{
	const struct pt_record *r = pt_find(st->ar, "byteorder");
	if (r && !(r->size == 6 && memcmp(r->data, "little", 6) == 0))
		diag_error(ctx, st->loc, "unsupported byte order '%.*s' (only little-endian "
		           "archives are supported)", (int)(r->size < 16 ? r->size : 16),
		           (const char *)r->data);
}

struct pt_archive *pt_open(struct kiln_ctx *ctx, const char *path)
{
	struct pt_open_state st = {.path = path, .loc = {.file = path}};
	st.ar = arena_alloc(&ctx->arena, sizeof *st.ar);
	st.ar->path = arena_strdup(&ctx->arena, path);
	sniff(ctx, &st);
	if (kiln_protect(ctx, open_protected, &st)) {
		if (st.zf)
			zip_fclose(st.zf);
		if (st.za)
			zip_discard(st.za);
		diag_check(ctx); /* re-raise to the caller's boundary */
		unreachable();
	}
	zip_discard(st.za);
	st.ar->version = parse_version(ctx, &st);
	check_byteorder(ctx, &st);
	return st.ar;
}

const struct pt_record *pt_find(const struct pt_archive *ar, const char *name)
{
	for (size_t i = 0; i < ar->nrecs; i++)
		if (strcmp(ar->recs[i].name, name) == 0)
			return &ar->recs[i];
	return NULL;
}
