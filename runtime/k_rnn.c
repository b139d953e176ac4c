/* kiln runtime: LSTM and GRU, multi-layer, bidirectional, as PyTorch computes them. needs: k_base */
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
 * running state.  Eval mode only (no dropout between layers).
 */
struct k_rnn {
	k_idx seq, batch, input, hidden; /* T, B, features of layer 0's input, H */
	int layers, dirs;                /* num_layers; 1, or 2 when bidirectional */
	int batch_first;                 /* x and y are [B, T, F] instead of [T, B, F] */
	int has_biases;                  /* b_ih and b_hh follow each w_hh */
};

/* Scratch bytes: two layer buffers (when layers > 1) and per-batch gate rows. */
static K_UNUSED size_t k_rnn_scratch(const struct k_rnn *p, int gates)
{
	size_t io = p->layers > 1 ? (size_t)(2 * p->seq * p->batch * p->dirs * p->hidden) : 0;
	return (io + (size_t)(2 * p->batch * gates * p->hidden)) * sizeof(float);
}

/* Offset of row (t, b) of a [T, B, f] or [B, T, f] sequence. */
static inline K_UNUSED k_idx k_rnn_row(const struct k_rnn *p, k_idx t, k_idx b, k_idx f)
{
	return (p->batch_first ? b * p->seq + t : t * p->batch + b) * f;
}

/* g[r] = bias[r] + w[r, :] . x for the n rows of w ([n, k]); bias may be NULL. */
static K_UNUSED void k_rnn_matvec(const float *w, const float *bias, const float *x, k_idx n,
				  k_idx k, float *g)
{
	k_idx r, j;

	for (r = 0; r < n; r++) {
		const float *wr = w + r * k;
		float s = 0.0f;
		for (j = 0; j < k; j++)
			s += wr[j] * x[j];
		g[r] = (bias ? bias[r] : 0.0f) + s;
	}
}

/* One direction of one layer of an LSTM (lstm = 1) or a GRU over the whole sequence.
 * w: w_ih, w_hh, b_ih, b_hh; h (and c) hold the state, updated in place; y gets h at
 * each step at column offset col of rows of width yf. */
static K_UNUSED void k_rnn_dir(const struct k_rnn *p, int lstm, int rev, const float *const *w,
			       const float *x, k_idx in, float *h, float *c, float *y, k_idx yf,
			       k_idx col, float *gates)
{
	k_idx H = p->hidden, G = (lstm ? 4 : 3) * H, s;
	const float *bih = p->has_biases ? w[2] : NULL, *bhh = p->has_biases ? w[3] : NULL;

	for (s = 0; s < p->seq; s++) {
		k_idx t = rev ? p->seq - 1 - s : s, b;
		K_OMP(omp parallel for schedule(static) if (p->batch * G * (in + H) > K_PAR_MIN))
		for (b = 0; b < p->batch; b++) {
			float *gi = gates + b * 2 * G, *gh = gi + G, *hb = h + b * H;
			float *yr = y + k_rnn_row(p, t, b, yf) + col;
			k_idx j;
			k_rnn_matvec(w[0], bih, x + k_rnn_row(p, t, b, in), G, in, gi);
			k_rnn_matvec(w[1], bhh, hb, G, H, gh);
			if (lstm) {
				float *cb = c + b * H;
				for (j = 0; j < H; j++) {
					float ig = k_sigmoid(gi[j] + gh[j]);
					float fg = k_sigmoid(gi[H + j] + gh[H + j]);
					float gg = tanhf(gi[2 * H + j] + gh[2 * H + j]);
					float og = k_sigmoid(gi[3 * H + j] + gh[3 * H + j]);
					cb[j] = fg * cb[j] + ig * gg;
					hb[j] = og * tanhf(cb[j]);
				}
			} else {
				for (j = 0; j < H; j++) {
					float r = k_sigmoid(gi[j] + gh[j]);
					float z = k_sigmoid(gi[H + j] + gh[H + j]);
					float n = tanhf(gi[2 * H + j] + r * gh[2 * H + j]);
					hb[j] = (1.0f - z) * n + z * hb[j];
				}
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
	float *buf = (float *)scratch, *gates = buf + (p->layers > 1 ? 2 * io : 0);
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
				  lstm ? cn + k * state : NULL, out, F, d * H, gates);
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
