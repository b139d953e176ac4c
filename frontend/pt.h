/* pt.h: reading TorchScript .pt archives (torch.jit.save) without libtorch.
 *
 * A .pt is a zip whose records sit under one top directory (reference/torchscript-format.md
 * §1). pt_open reads every record into ctx->arena; pt_unpickle turns data.pkl or
 * constants.pkl into a tree of struct pv through a restricted unpickler that knows a short
 * allowlist of globals (§2) and never executes anything.
 *
 * Lifetime: everything returned lives in ctx->arena. Errors go through diag_error
 * ("model.pt: error: ..." / "model.pt: data.pkl: error: offset N: ...").
 */
#ifndef KILN_PT_H
#define KILN_PT_H

#include "base.h"

/* pt_archive.c */

/* One record of the archive, read fully into the arena. */
struct pt_record {
	const char *name;          /* without the "<prefix>/" top directory: "data.pkl", "data/0" */
	const unsigned char *data; /* size bytes, 16-byte aligned, in ctx->arena */
	size_t size;               /* uncompressed size */
};

/* A TorchScript archive, read into memory. */
struct pt_archive {
	const char *path;        /* as given, for diagnostics */
	const char *prefix;      /* top directory of the first entry ("archive", "model") */
	struct pt_record *recs;  /* every record under the prefix, in zip order */
	size_t nrecs;            /* number of records */
	int version;             /* from .data/version, else version */
};

/* Open `path`, check it is a TorchScript archive, read every record into ctx->arena and close
 * the zip (a later diag_error then leaks nothing from libzip). Bad input -> diag_error. */
struct pt_archive *pt_open(struct kiln_ctx *ctx, const char *path);
/* The record called `name` (without prefix), NULL if absent. */
const struct pt_record *pt_find(const struct pt_archive *ar, const char *name);

/* unpickle.c */

/* Kinds of pickle values (the IValue tree of data.pkl / constants.pkl). */
enum pv_kind {
	PV_NONE, PV_BOOL, PV_INT, PV_FLOAT, PV_STR, PV_TUPLE, PV_LIST, PV_DICT,
	PV_OBJECT, PV_TENSOR, PV_DEVICE,
	PV_GLOBAL,  /* internal to the unpickler: an allowlisted global; never in a result */
	PV_STORAGE, /* internal to the unpickler: a persistent-id storage; never in a result */
};

/* A tensor storage: one record of the archive, shared by every view of it. */
struct pt_storage {
	const char *key;            /* record name, "data/0" (tensor dir + '/' + persid key) */
	enum dtype dtype;           /* element type */
	size_t numel;               /* elements, as declared in the persistent id */
	const unsigned char *data;  /* numel * dtype_size bytes, little-endian, in the record */
};

/* A tensor: a strided view of a storage (all counts in elements). */
struct pt_tensor {
	enum dtype dtype;                /* = storage->dtype */
	int rank;                        /* 0..KILN_MAX_RANK */
	int64_t sizes[KILN_MAX_RANK];    /* >= 0 */
	int64_t strides[KILN_MAX_RANK];  /* >= 0 */
	int64_t offset;                  /* first element, in elements */
	struct pt_storage *storage;      /* every element of the view lies inside it */
	int requires_grad;               /* saved flag (1 for parameters) */
};

/* A pickle value. Containers hold pointers; a value reached twice through the memo
 * (a tensor used twice) is the same struct pv. The graph is acyclic. */
struct pv {
	enum pv_kind kind;      /* selects the union member */
	const char *type_tag;   /* "List[str]", "Dict[str, Tensor]" from restore_type_tag,
	                           "List[int]" etc. from build_intlist...; or NULL */
	union {
		int b;                                        /* PV_BOOL */
		int64_t i;                                    /* PV_INT */
		double f;                                     /* PV_FLOAT */
		struct { const char *s; size_t len; } str;    /* PV_STR, PV_DEVICE ("cpu"); NUL-terminated */
		struct { struct pv **items; size_t n; } seq;  /* PV_TUPLE, PV_LIST */
		struct { struct pv **keys, **vals; size_t n; } dict; /* PV_DICT, insertion order */
		struct {
			const char *qualname;  /* "__torch__.torch.nn.modules.linear.Linear" (module '.' class) */
			const char **names;    /* attribute names, in pickle order */
			struct pv **vals;      /* their values */
			size_t n;              /* number of attributes */
		} obj;                         /* PV_OBJECT */
		struct pt_tensor *tensor;      /* PV_TENSOR */
		struct { const char *qualname; int fn; enum dtype dtype; } global; /* PV_GLOBAL */
		struct pt_storage *storage;    /* PV_STORAGE */
	} u;
	/* unpickler bookkeeping */
	uint32_t depth;  /* nesting depth: 0 for scalars, 1 + deepest child for containers */
	uint8_t sealed;  /* stored inside a container: no longer mutable (keeps the graph acyclic) */
	uint8_t raw;     /* is or contains a PV_GLOBAL/PV_STORAGE (allowed only inside call args) */
	size_t cap;      /* allocated slots of seq/dict arrays */
};

/* Unpickle record `name` ("data.pkl", "constants.pkl"); tensors' storages come from records
 * "<tensor_dir>/<key>" (tensor_dir "data" for data.pkl, "constants" for constants.pkl). */
struct pv *pt_unpickle(struct kiln_ctx *ctx, const struct pt_archive *ar, const char *name,
                       const char *tensor_dir);
/* Attribute `name` of object `obj` (the last one if repeated), NULL if absent or not an object. */
struct pv *pv_attr(const struct pv *obj, const char *name);
/* Human-readable kind name for diagnostics: "int", "tuple", "object", ... */
const char *pv_kind_name(enum pv_kind k);

#endif
