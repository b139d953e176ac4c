/* replay.c: run a fuzz target's entry point on files, without libFuzzer (any compiler).
 *
 *   fuzz_replay_<target> [-s SUFFIX] PATH...
 *
 * Each PATH is a file or a directory, walked recursively (names starting with '.' and, with
 * -s, names not ending in SUFFIX are skipped; -s applies to the paths after it). Every file is
 * passed to LLVMFuzzerTestOneInput once; a finding aborts the program. Prints the number of
 * inputs and fails when there were none (a misconfigured test would pass silently otherwise).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static long ninputs;

/* Read all of path; NULL if it cannot be read. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, got;
	do {
		cap = cap * 2 + 4096;
		uint8_t *nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = nb;
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (n == cap);
	fclose(f);
	*len = n;
	return buf;
}

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = suffix ? strlen(suffix) : 0;
	return n >= k && strcmp(s + n - k, suffix ? suffix : "") == 0;
}

static void run_file(const char *path)
{
	size_t len = 0;
	uint8_t *data = slurp(path, &len);
	if (!data) {
		fprintf(stderr, "replay: cannot read %s\n", path);
		exit(1);
	}
	/* Exactly len bytes, as libFuzzer passes them, so over-reads are caught by ASan. */
	uint8_t *exact = malloc(len ? len : 1);
	memcpy(exact, data, len);
	free(data);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	ninputs++;
}

static void run_path(const char *path, const char *suffix)
{
	struct stat sb;
	if (stat(path, &sb) != 0) {
		fprintf(stderr, "replay: cannot stat %s\n", path);
		exit(1);
	}
	if (!S_ISDIR(sb.st_mode)) {
		run_file(path);
		return;
	}
	struct dirent **names;
	int n = scandir(path, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "replay: cannot read directory %s\n", path);
		exit(1);
	}
	for (int i = 0; i < n; i++) {
		const char *e = names[i]->d_name;
		char sub[4096];
		snprintf(sub, sizeof sub, "%s/%s", path, e);
		struct stat st;
		if (e[0] != '.' && stat(sub, &st) == 0 &&
		    (S_ISDIR(st.st_mode) || has_suffix(e, suffix)))
			run_path(sub, suffix);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	const char *suffix = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			suffix = argv[++i];
		else
			run_path(argv[i], suffix);
	}
	printf("replay: %ld inputs, no finding\n", ninputs);
	return ninputs > 0 ? 0 : 1;
}
