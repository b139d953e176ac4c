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
 * adds W_hh h + b_hh (vectorized dot products) and applies the gates.
 */
struct k_rnn {
	k_idx seq, batch, input, hidden; /* T, B, features of layer 0's input, H */
	int layers, dirs;                /* num_layers; 1, or 2 when bidirectional */
	int batch_first;                 /* x and y are [B, T, F] instead of [T, B, F] */
	int has_biases;                  /* b_ih and b_hh follow each w_hh */
};

/* Scratch bytes: two layer buffers (when layers > 1), the input gates of every step, the
 * recurrent gates of one step, and the GEMM's packing space. */
static K_UNUSED size_t k_rnn_scratch(const struct k_rnn *p, int gates)
{
	k_idx G = gates * p->hidden, F = p->dirs * p->hidden, in = p->input > F ? p->input : F;
	size_t io = p->layers > 1 ? (size_t)(2 * p->seq * p->batch * F) : 0;
	size_t g = (size_t)((p->seq + 1) * p->batch * G);
	return (io + g) * sizeof(float) + k_mm_scratch(p->seq * p->batch, G, in);
}

/* Offset of row (t, b) of a [T, B, f] or [B, T, f] sequence. */
static inline K_UNUSED k_idx k_rnn_row(const struct k_rnn *p, k_idx t, k_idx b, k_idx f)
{
	return (p->batch_first ? b * p->seq + t : t * p->batch + b) * f;
}

/* One direction of one layer of an LSTM (lstm = 1) or a GRU over the whole sequence.
 * w: w_ih, w_hh, b_ih, b_hh; h (and c) hold the state, updated in place; y gets h at
 * each step at column offset col of rows of width yf.  xg: the input gates of every step
 * ([T*B, G], rows in x's order), gh: one step's recurrent gates ([B, G]), mm: GEMM scratch. */
static K_UNUSED void k_rnn_dir(const struct k_rnn *p, int lstm, int rev, const float *const *w,
			       const float *x, k_idx in, float *h, float *c, float *y, k_idx yf,
			       k_idx col, float *xg, float *gh, void *mm)
{
	k_idx H = p->hidden, G = (lstm ? 4 : 3) * H, B = p->batch, s, b, j;
	const float *bih = p->has_biases ? w[2] : NULL, *bhh = p->has_biases ? w[3] : NULL;
	struct k_epi e = { 1.0f, 1.0f, bih, 0, 1, NULL, K_ACT_NONE, 0.0f, 0.0f, 0.0f };

	/* xg = x . w_ih^T + b_ih for all T*B rows at once */
	k_mm_epi(p->seq * B, G, in, x, in, 1, w[0], 1, in, xg, G, mm, bih ? &e : NULL);
	for (s = 0; s < p->seq; s++) {
		k_idx t = rev ? p->seq - 1 - s : s;
		/* gh = h . w_hh^T (+ b_hh) for the B rows */
		k_mm_small(B, G, H, h, H, 1, w[1], 1, H, gh, G);
		for (b = 0; b < B; b++) {
			float *g = gh + b * G, *hb = h + b * H, *yr = y + k_rnn_row(p, t, b, yf) + col;
			const float *xr = xg + k_rnn_row(p, t, b, G);
			if (bhh)
				for (j = 0; j < G; j++) g[j] += bhh[j];
			if (lstm) {
				float *cb = c + b * H;
				for (j = 0; j < G; j++)
					g[j] += xr[j];
				k_sigmoid_row(g, 2 * H, 0);     /* i, f */
				k_tanh_row(g + 2 * H, H);       /* g */
				k_sigmoid_row(g + 3 * H, H, 0); /* o */
				for (j = 0; j < H; j++)
					cb[j] = g[H + j] * cb[j] + g[j] * g[2 * H + j];
				memcpy(hb, cb, (size_t)H * sizeof(float));
				k_tanh_row(hb, H);
				for (j = 0; j < H; j++)
					hb[j] *= g[3 * H + j];
			} else {
				for (j = 0; j < 2 * H; j++)
					g[j] += xr[j];
				k_sigmoid_row(g, 2 * H, 0); /* r, z */
				for (j = 0; j < H; j++)
					g[2 * H + j] = xr[2 * H + j] + g[j] * g[2 * H + j];
				k_tanh_row(g + 2 * H, H); /* n */
				for (j = 0; j < H; j++)
					hb[j] = (1.0f - g[H + j]) * g[2 * H + j] + g[H + j] * hb[j];
			}
			memcpy(yr, hb, (size_t)H * sizeof(float));
		}
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
	float *gh = xg + p->seq * p->batch * G;
	void *mm = gh + p->batch * G;
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
				  lstm ? cn + k * state : NULL, out, F, d * H, xg, gh, mm);
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
