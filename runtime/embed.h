/* The runtime kernels embedded as text (generated into runtime_embed.c by runtime/embed.cmake). */
#ifndef KILN_RUNTIME_EMBED_H
#define KILN_RUNTIME_EMBED_H

/* One runtime/k_*.c file; the array lists them in dependency order, k_base first. */
struct kiln_runtime_file {
	const char *name;  /* "k_conv": the file name without .c */
	const char *needs; /* space-separated names it depends on ("k_base k_gemm"), "" for none */
	const char *text;  /* the whole file */
};

extern const struct kiln_runtime_file kiln_runtime_files[];
extern const int kiln_runtime_nfiles;

#endif
