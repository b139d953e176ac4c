/* schema_names.c: a user's program calling kiln's generated code through the header's
 * named structs, not by position: the adapter_instances fixture (List[Dict[str, Tensor]]
 * out, detectron2's ScriptableAdapter) and dict_in (Tuple[Dict[str, Tensor]] in).
 * Built by run_schema_names.sh with gen/adapter.{c,h} and gen/dictin.{c,h}; compares each
 * named output with PyTorch's reference, which make_fixtures.py writes in flattened order
 * (output_K.npy), so a name bound to the wrong tensor fails.
 *
 * usage: schema_names FIXTURES_DIR     exit 0 when every output matches */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter.h"
#include "dictin.h"

static const char *dir;
static int failures;

/* A float32 .npy file (format 1.0, little-endian, C order) of n elements, or exit 1. */
static float *load(const char *name, long n)
{
	char path[4096], header[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	unsigned char pre[10];
	if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY\x01", 7) != 0) {
		fprintf(stderr, "schema_names: %s: not a .npy 1.0 file\n", path);
		exit(1);
	}
	size_t hl = (size_t)pre[8] | (size_t)pre[9] << 8;
	if (hl >= sizeof header || fread(header, 1, hl, f) != hl) {
		fprintf(stderr, "schema_names: %s: bad header\n", path);
		exit(1);
	}
	header[hl] = 0;
	float *p = malloc(sizeof *p * (size_t)n);
	if (!strstr(header, "'<f4'") || !p || fread(p, sizeof *p, (size_t)n, f) != (size_t)n ||
	    fgetc(f) != EOF) {
		fprintf(stderr, "schema_names: %s: not %ld float32 values\n", path, n);
		exit(1);
	}
	fclose(f);
	return p;
}

/* got (named `what`) against reference file ref. */
static void check(const char *what, const float *got, const char *ref, long n)
{
	float *want = load(ref, n);
	double worst = 0;
	for (long i = 0; i < n; i++) {
		double err = fabs((double)got[i] - want[i]) - 1e-3 * fabs((double)want[i]);
		worst = err > worst ? err : worst;
	}
	int ok = worst <= 1e-4;
	printf("%s %s vs %s (excess error %.3g)\n", ok ? "ok  " : "FAIL", what, ref, worst);
	failures += !ok;
	free(want);
}

static _Alignas(64) unsigned char ws_adapter[KILN_ADAPTER_WORKSPACE_SIZE + 64];
static _Alignas(64) unsigned char ws_dictin[KILN_DICTIN_WORKSPACE_SIZE + 64];

static void run_adapter(void)
{
	static float b0[KILN_ADAPTER_OUTPUT_0_PRED_BOXES_NUMEL], l0[KILN_ADAPTER_OUTPUT_0_PRED_LOGITS_NUMEL],
	             s0[KILN_ADAPTER_OUTPUT_0_SCORES_NUMEL], b1[KILN_ADAPTER_OUTPUT_1_PRED_BOXES_NUMEL],
	             l1[KILN_ADAPTER_OUTPUT_1_PRED_LOGITS_NUMEL], s1[KILN_ADAPTER_OUTPUT_1_SCORES_NUMEL];
	float *x = load("adapter_instances.input_0.npy", KILN_ADAPTER_X_NUMEL);
	struct kiln_adapter_inputs in = {.x = x};
	struct kiln_adapter_outputs out = {
		.output_1_scores = s1, .output_0_pred_boxes = b0, .output_1_pred_logits = l1,
		.output_0_scores = s0, .output_1_pred_boxes = b1, .output_0_pred_logits = l0,
	};
	if (kiln_adapter_run(&in, &out, ws_adapter) != 0) {
		printf("FAIL kiln_adapter_run\n");
		failures++;
	}
	/* detectron2's order: image 0's fields sorted by name, then image 1's */
	check("out.output_0_pred_boxes", out.output_0_pred_boxes, "adapter_instances.output_0.npy",
	      KILN_ADAPTER_OUTPUT_0_PRED_BOXES_NUMEL);
	check("out.output_0_pred_logits", out.output_0_pred_logits, "adapter_instances.output_1.npy",
	      KILN_ADAPTER_OUTPUT_0_PRED_LOGITS_NUMEL);
	check("out.output_0_scores", out.output_0_scores, "adapter_instances.output_2.npy",
	      KILN_ADAPTER_OUTPUT_0_SCORES_NUMEL);
	check("out.output_1_pred_boxes", out.output_1_pred_boxes, "adapter_instances.output_3.npy",
	      KILN_ADAPTER_OUTPUT_1_PRED_BOXES_NUMEL);
	check("out.output_1_pred_logits", out.output_1_pred_logits, "adapter_instances.output_4.npy",
	      KILN_ADAPTER_OUTPUT_1_PRED_LOGITS_NUMEL);
	check("out.output_1_scores", out.output_1_scores, "adapter_instances.output_5.npy",
	      KILN_ADAPTER_OUTPUT_1_SCORES_NUMEL);
	free(x);
}

static void run_dictin(void)
{
	static float y[KILN_DICTIN_OUTPUT_0_NUMEL];
	/* inputs sorted by key: input_0 is 'bias', input_1 is 'image' */
	float *bias = load("dict_in.input_0.npy", KILN_DICTIN_INPUTS_0_BIAS_NUMEL);
	float *image = load("dict_in.input_1.npy", KILN_DICTIN_INPUTS_0_IMAGE_NUMEL);
	struct kiln_dictin_inputs in = {.inputs_0_image = image, .inputs_0_bias = bias};
	struct kiln_dictin_outputs out = {.output_0 = y};
	if (kiln_dictin_run(&in, &out, ws_dictin) != 0) {
		printf("FAIL kiln_dictin_run\n");
		failures++;
	}
	check("out.output_0", out.output_0, "dict_in.output_0.npy", KILN_DICTIN_OUTPUT_0_NUMEL);
	free(bias);
	free(image);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: schema_names FIXTURES_DIR\n");
		return 2;
	}
	dir = argv[1];
	run_adapter();
	run_dictin();
	printf("%s\n", failures ? "schema_names: FAIL" : "schema_names: PASS");
	return failures ? 1 : 0;
}
