/* LSTM and GRU against double-precision references written straight from PyTorch's
 * documented equations: layers, directions, batch_first, with and without biases. */
#include "runtime/k_base.c"
#include "runtime/k_gemm.c"
#include "runtime/k_rnn.c"
#include "tests/kernels/kt.h"

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One cell step for batch row b: h (and c) updated in place from input row xr (k features). */
static void ref_cell(int lstm, k_idx H, k_idx k, float *const *w, const double *xr, double *h,
		     double *c)
{
	k_idx G = (lstm ? 4 : 3) * H;
	double *gi = kt_dalloc((size_t)G), *gh = kt_dalloc((size_t)G);
	for (k_idx r = 0; r < G; r++) {
		gi[r] = w[2] ? w[2][r] : 0.0;
		gh[r] = w[3] ? w[3][r] : 0.0;
		for (k_idx j = 0; j < k; j++) gi[r] += (double)w[0][r * k + j] * xr[j];
		for (k_idx j = 0; j < H; j++) gh[r] += (double)w[1][r * H + j] * h[j];
	}
	for (k_idx j = 0; j < H; j++) {
		if (lstm) {
			double i = sig(gi[j] + gh[j]), f = sig(gi[H + j] + gh[H + j]);
			double g = tanh(gi[2 * H + j] + gh[2 * H + j]), o = sig(gi[3 * H + j] + gh[3 * H + j]);
			c[j] = f * c[j] + i * g;
			h[j] = o * tanh(c[j]);
		} else {
			double r = sig(gi[j] + gh[j]), z = sig(gi[H + j] + gh[H + j]);
			double n = tanh(gi[2 * H + j] + r * gh[2 * H + j]);
			h[j] = (1 - z) * n + z * h[j];
		}
	}
	free(gi), free(gh);
}

/* The reference on [T, B, F] sequences (layout handled by the caller's index function). */
static void ref_rnn(const struct k_rnn *p, int lstm, const float *x, const float *h0, const float *c0,
		    float *const *w, double *y, double *hn, double *cn)
{
	k_idx T = p->seq, B = p->batch, H = p->hidden, F = p->dirs * H;
	double *in = kt_dalloc((size_t)(T * B * (p->input > F ? p->input : F)));
	double *out = kt_dalloc((size_t)(T * B * F));
	k_idx inf = p->input;
	int nw = p->has_biases ? 4 : 2;
	for (k_idx t = 0; t < T; t++)
		for (k_idx b = 0; b < B; b++)
			for (k_idx j = 0; j < inf; j++)
				in[(t * B + b) * inf + j] = x[k_rnn_row(p, t, b, inf) + j];
	for (int l = 0; l < p->layers; l++) {
		for (int d = 0; d < p->dirs; d++) {
			k_idx s = (l * p->dirs + d) * B * H;
			float *wl[4] = { NULL, NULL, NULL, NULL };
			for (int q = 0; q < nw; q++) wl[q] = w[(l * p->dirs + d) * nw + q];
			for (k_idx j = 0; j < B * H; j++) {
				hn[s + j] = h0[s + j];
				if (lstm) cn[s + j] = c0[s + j];
			}
			for (k_idx step = 0; step < T; step++) {
				k_idx t = d ? T - 1 - step : step;
				for (k_idx b = 0; b < B; b++) {
					ref_cell(lstm, H, inf, wl, in + (t * B + b) * inf, hn + s + b * H,
						 lstm ? cn + s + b * H : NULL);
					for (k_idx j = 0; j < H; j++)
						out[(t * B + b) * F + d * H + j] = hn[s + b * H + j];
				}
			}
		}
		memcpy(in, out, sizeof(double) * (size_t)(T * B * F));
		inf = F;
	}
	for (k_idx t = 0; t < T; t++)
		for (k_idx b = 0; b < B; b++)
			for (k_idx j = 0; j < F; j++)
				y[k_rnn_row(p, t, b, F) + j] = out[(t * B + b) * F + j];
	free(in), free(out);
}

/* seq batch input hidden layers dirs batch_first has_biases */
static const int rnn_cases[][8] = {
	{ 1, 1, 1, 1, 1, 1, 0, 1 }, { 5, 2, 8, 16, 2, 1, 1, 1 }, { 5, 2, 8, 16, 2, 2, 1, 1 },
	{ 7, 3, 5, 11, 3, 2, 0, 1 }, { 4, 1, 6, 7, 1, 2, 1, 0 }, { 3, 4, 13, 9, 2, 1, 0, 0 },
	/* long enough that the input gates are a packed GEMM (T*B > 4 rows, tails of 6 and 16) */
	{ 23, 1, 40, 37, 2, 1, 0, 1 }, { 9, 2, 19, 20, 2, 2, 1, 1 }, { 13, 5, 70, 64, 1, 1, 0, 1 },
	/* enough recurrent work for the steps to run in parallel (hidden units split unevenly;
	 * an odd number of steps leaves the state in the second buffer) */
	{ 5, 1, 7, 300, 2, 2, 0, 1 }, { 4, 2, 9, 203, 1, 1, 1, 1 },
};

static void run_case(int lstm, const int *cs)
{
	struct k_rnn p = { .seq = cs[0], .batch = cs[1], .input = cs[2], .hidden = cs[3], .layers = cs[4],
			   .dirs = cs[5], .batch_first = cs[6], .has_biases = cs[7] };
	k_idx H = p.hidden, G = (lstm ? 4 : 3) * H, F = p.dirs * H, st = p.layers * p.dirs * p.batch * H;
	int nw = p.has_biases ? 4 : 2, nmat = p.layers * p.dirs * nw;
	float **w = calloc((size_t)nmat, sizeof *w);
	for (int l = 0; l < p.layers; l++)
		for (int d = 0; d < p.dirs; d++) {
			float **wl = w + (l * p.dirs + d) * nw;
			k_idx in = l ? F : p.input;
			wl[0] = kt_randv((size_t)(G * in), -0.5f, 0.5f);
			wl[1] = kt_randv((size_t)(G * H), -0.5f, 0.5f);
			if (p.has_biases) {
				wl[2] = kt_randv((size_t)G, -0.5f, 0.5f);
				wl[3] = kt_randv((size_t)G, -0.5f, 0.5f);
			}
		}
	size_t ny = (size_t)(p.seq * p.batch * F);
	float *x = kt_randv((size_t)(p.seq * p.batch * p.input), -2, 2);
	float *h0 = kt_randv((size_t)st, -1, 1), *c0 = kt_randv((size_t)st, -1, 1);
	float *y = kt_falloc(ny), *hn = kt_falloc((size_t)st), *cn = kt_falloc((size_t)st);
	double *ry = kt_dalloc(ny), *rh = kt_dalloc((size_t)st), *rc = kt_dalloc((size_t)st);
	void *scratch = malloc(k_rnn_scratch(&p, lstm ? 4 : 3));
	char what[96];
	ref_rnn(&p, lstm, x, h0, c0, w, ry, rh, rc);
	for (int th = 0; th < KT_NTHREADS; th++) {
		kt_set_threads(kt_threads[th]);
		if (lstm)
			k_lstm_f32(&p, x, h0, c0, (const float *const *)w, y, hn, cn, scratch);
		else
			k_gru_f32(&p, x, h0, (const float *const *)w, y, hn, scratch);
		snprintf(what, sizeof what, "%s T%d B%d I%d H%d L%d D%d bf%d bias%d, %d threads",
			 lstm ? "lstm" : "gru", cs[0], cs[1], cs[2], cs[3], cs[4], cs[5], cs[6], cs[7],
			 kt_threads[th]);
		kt_check(what, y, ry, ny, 1e-5, 1e-4);
		kt_check(what, hn, rh, (size_t)st, 1e-5, 1e-4);
		if (lstm)
			kt_check(what, cn, rc, (size_t)st, 1e-5, 1e-4);
	}
	for (int i = 0; i < nmat; i++) free(w[i]);
	free(w), free(x), free(h0), free(c0), free(y), free(hn), free(cn), free(ry), free(rh), free(rc);
	free(scratch);
}

static void test_lstm(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof rnn_cases / sizeof rnn_cases[0]; t++)
		run_case(1, rnn_cases[t]);
}

static void test_gru(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof rnn_cases / sizeof rnn_cases[0]; t++)
		run_case(0, rnn_cases[t]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lstm),
		cmocka_unit_test(test_gru),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
