/* kiln runtime: LSTM and GRU, multi-layer, bidirectional, as PyTorch computes them. needs: k_base k_gemm */
/*
 * Weights come as an array of pointers in PyTorch's _flat_weights order: for each layer, for
 * each direction (forward, then reverse), w_ih [G*H, in], w_hh [G*H, H] and, with has_biases,
 * b_ih [G*H], b_hh [G*H]; G = 4 for LSTM (gates i, f, g, o), 3 for GRU (r, z, n).  Layer 0
 * reads `input` features, later layers dirs*H.
 *   LSTM: c' = f*c + i*g, h' = o*tanh(c'), with i, f, o = sigmoid(.) and g = tanh(.)
 *   GRU:  r, z = sigmoid(W_i x + b_i + W_h h + b_h), n = tanh(W_in x + b_in + r*(W_hn h + b_hn)),
 *         h' = (1 - z)*n + z*h
 * x and y are [T, B, F] or, with batch_first, [B, T, F]; y holds the last layer's outputs,
 * the directions side by side (F = dirs*H).  h0/c0 and hn/cn are [layers*dirs, B, H].
 * Intermediate layers' outputs live in scratch (k_rnn_scratch bytes); hn/cn double as the
 * running state.  Eval mode only (no dropout between layers).  The input half of the gates,
 * W_ih x + b_ih, is one GEMM over the whole sequence per layer and direction; each step then
 * adds W_hh h + b_hh (vectorized dot products) and applies the gates, the threads sharing out
 * the hidden units inside one parallel region (a barrier per step).
 */
struct k_rnn {
	k_idx seq, batch, input, hidden; /* T, B, features of layer 0's input, H */
	int layers, dirs;                /* num_layers; 1, or 2 when bidirectional */
	int batch_first;                 /* x and y are [B, T, F] instead of [T, B, F] */
	int has_biases;                  /* b_ih and b_hh follow each w_hh */
};

/* Scratch bytes: two layer buffers (when layers > 1), the input gates of every step, the
 * recurrent gates of one step, a second state buffer and the GEMM's packing space. */
static K_UNUSED size_t k_rnn_scratch(const struct k_rnn *p, int gates)
{
	k_idx G = gates * p->hidden, F = p->dirs * p->hidden, in = p->input > F ? p->input : F;
	size_t io = p->layers > 1 ? (size_t)(2 * p->seq * p->batch * F) : 0;
	size_t g = (size_t)((p->seq + 1) * p->batch * G + p->batch * p->hidden);
	return (io + g) * sizeof(float) + k_mm_scratch(p->seq * p->batch, G, in);
}

/* Offset of row (t, b) of a [T, B, f] or [B, T, f] sequence. */
static inline K_UNUSED k_idx k_rnn_row(const struct k_rnn *p, k_idx t, k_idx b, k_idx f)
{
	return (p->batch_first ? b * p->seq + t : t * p->batch + b) * f;
}

/* Rows r0..r1-1 of one batch row's recurrent gates: g[r] = h . w_hh[r] (+ b_hh[r]), four rows
 * at a time sharing the loads of h (as k_mm_small computes them). */
static K_UNUSED void k_rnn_gate_rows(const float *h, const float *whh, const float *bhh, k_idx H, k_idx r0,
				     k_idx r1, float *g)
{
	k_idx r;

	for (r = r0; r + 4 <= r1; r += 4)
		k_dot4(h, whh + r * H, H, H, g + r);
	for (; r < r1; r++)
		g[r] = k_dot(h, whh + r * H, H);
	if (bhh)
		for (r = r0; r < r1; r++) g[r] += bhh[r];
}

/*
 * One direction of one layer of an LSTM (lstm = 1) or a GRU over the whole sequence.
 * w: w_ih, w_hh, b_ih, b_hh; h (and c) hold the state, updated in place; y gets h at each
 * step at column offset col of rows of width yf.  xg: the input gates of every step
 * ([T*B, G], rows in x's order), gh: one step's recurrent gates ([B, G]), hb2: a second
 * state buffer ([B, H]), mm: GEMM scratch.
 *
 * The steps run in one parallel region: each thread owns a slice of the hidden units and
 * computes their gates (all G/H of them), cell and output from the whole previous h, writing
 * the new h into the other state buffer; one barrier per step, then the buffers swap.
 */
static K_UNUSED void k_rnn_dir(const struct k_rnn *p, int lstm, int rev, const float *const *w,
			       const float *x, k_idx in, float *h, float *c, float *y, k_idx yf,
			       k_idx col, float *xg, float *gh, float *hb2, void *mm)
{
	k_idx H = p->hidden, G = (lstm ? 4 : 3) * H, B = p->batch;
	const float *bih = p->has_biases ? w[2] : NULL, *bhh = p->has_biases ? w[3] : NULL;
	struct k_epi e = { 1.0f, 1.0f, bih, 0, 1, NULL, K_ACT_NONE, 0.0f, 0.0f, 0.0f };

	/* xg = x . w_ih^T + b_ih for all T*B rows at once */
	k_mm_epi(p->seq * B, G, in, x, in, 1, w[0], 1, in, xg, G, mm, bih ? &e : NULL);
	K_OMP(omp parallel if (G * H * B >= K_PAR_MIN_MM))
	{
#ifdef _OPENMP
		k_idx nt = omp_get_num_threads(), tid = omp_get_thread_num();
#else
		k_idx nt = 1, tid = 0;
#endif
		k_idx per = k_round_up((H + nt - 1) / nt, 8), j0 = k_min_idx(H, tid * per);
		k_idx j1 = k_min_idx(H, j0 + per), n = j1 - j0, s, b, j, q;
		float *cur = h, *nxt = hb2;
		for (s = 0; s < p->seq; s++) {
			k_idx t = rev ? p->seq - 1 - s : s;
			for (b = 0; b < B && n > 0; b++) {
				float *g = gh + b * G, *hc = cur + b * H, *hn = nxt + b * H;
				float *yr = y + k_rnn_row(p, t, b, yf) + col;
				const float *xr = xg + k_rnn_row(p, t, b, G);
				for (q = 0; q < G / H; q++) /* this slice's rows of every gate */
					k_rnn_gate_rows(hc, w[1], bhh, H, q * H + j0, q * H + j1, g);
				if (lstm) {
					float *cb = c + b * H;
					for (q = 0; q < 4; q++)
						for (j = q * H + j0; j < q * H + j1; j++)
							g[j] += xr[j];
					k_sigmoid_row(g + j0, n, 0);         /* i */
					k_sigmoid_row(g + H + j0, n, 0);     /* f */
					k_tanh_row(g + 2 * H + j0, n);       /* g */
					k_sigmoid_row(g + 3 * H + j0, n, 0); /* o */
					for (j = j0; j < j1; j++)
						cb[j] = g[H + j] * cb[j] + g[j] * g[2 * H + j];
					memcpy(hn + j0, cb + j0, (size_t)n * sizeof(float));
					k_tanh_row(hn + j0, n);
					for (j = j0; j < j1; j++)
						hn[j] *= g[3 * H + j];
				} else {
					for (q = 0; q < 2; q++)
						for (j = q * H + j0; j < q * H + j1; j++)
							g[j] += xr[j];
					k_sigmoid_row(g + j0, n, 0);     /* r */
					k_sigmoid_row(g + H + j0, n, 0); /* z */
					for (j = j0; j < j1; j++)
						g[2 * H + j] = xr[2 * H + j] + g[j] * g[2 * H + j];
					k_tanh_row(g + 2 * H + j0, n); /* n */
					for (j = j0; j < j1; j++)
						hn[j] = (1.0f - g[H + j]) * g[2 * H + j] + g[H + j] * hc[j];
				}
				memcpy(yr + j0, hn + j0, (size_t)n * sizeof(float));
			}
			cur = nxt, nxt = nxt == h ? hb2 : h;
			K_OMP(omp barrier)
		}
		if (cur != h && n > 0) /* an odd number of steps: the state is in hb2 */
			for (b = 0; b < B; b++)
				memcpy(h + b * H + j0, cur + b * H + j0, (size_t)n * sizeof(float));
	}
}

/* Both kinds: c0/cn are NULL for a GRU. */
static K_UNUSED void k_rnn_f32(const struct k_rnn *p, int lstm, const float *x, const float *h0,
			       const float *c0, const float *const *w, float *y, float *hn, float *cn,
			       void *scratch)
{
	k_idx H = p->hidden, F = p->dirs * H, io = p->seq * p->batch * F, state = p->batch * H;
	k_idx G = (lstm ? 4 : 3) * H;
	float *buf = (float *)scratch, *xg = buf + (p->layers > 1 ? 2 * io : 0);
	float *gh = xg + p->seq * p->batch * G, *hb2 = gh + p->batch * G;
	void *mm = hb2 + p->batch * H;
	const float *in = x;
	k_idx inf = p->input;
	int l, d, nw = p->has_biases ? 4 : 2;

	memcpy(hn, h0, (size_t)(p->layers * p->dirs * state) * sizeof(float));
	if (lstm)
		memcpy(cn, c0, (size_t)(p->layers * p->dirs * state) * sizeof(float));
	for (l = 0; l < p->layers; l++) {
		float *out = l == p->layers - 1 ? y : buf + (l % 2) * io;
		for (d = 0; d < p->dirs; d++) {
			k_idx k = l * p->dirs + d;
			k_rnn_dir(p, lstm, d, w + k * nw, in, inf, hn + k * state,
				  lstm ? cn + k * state : NULL, out, F, d * H, xg, gh, hb2, mm);
		}
		in = out;
		inf = F;
	}
}

static K_UNUSED void k_lstm_f32(const struct k_rnn *p, const float *x, const float *h0,
				const float *c0, const float *const *w, float *y, float *hn, float *cn,
				void *scratch)
{
	k_rnn_f32(p, 1, x, h0, c0, w, y, hn, cn, scratch);
}

static K_UNUSED void k_gru_f32(const struct k_rnn *p, const float *x, const float *h0,
			       const float *const *w, float *y, float *hn, void *scratch)
{
	k_rnn_f32(p, 0, x, h0, NULL, w, y, hn, NULL, scratch);
}
