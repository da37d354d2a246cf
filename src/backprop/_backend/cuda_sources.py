"""The CUDA C++ sources of the CUDA backend's fused kernels (launched by ``cuda_kernels.py``).

Kept apart from the launch code, which needs CuPy and a GPU, so the sources can be checked on
any machine with ``nvcc`` (tests/test_cuda_sources.py compiles each for the H100/H200's sm_90,
in float32, float64 and float16). ``ELEMENTWISE`` holds the arguments of each
``cupy.ElementwiseKernel`` (in-params, out-params, the per-element operation, name, preamble);
``ROWS`` is a module of row kernels (one thread block per row) for ``cupy.RawModule``.
"""

from __future__ import annotations

# Arithmetic in float32 for float32 and float16 data, float64 for float64.
ACC = """
template <typename T> struct Acc { typedef float type; };
template <> struct Acc<double> { typedef double type; };
"""

# Philox4x32-10 (Salmon et al., SC 2011): the counter's four words after ten rounds.
PHILOX_ROUNDS = """
__device__ __forceinline__ void philox4x32_10(unsigned long long ctr, unsigned long long seed, unsigned int out[4]) {
    unsigned int c0 = (unsigned int)ctr, c1 = (unsigned int)(ctr >> 32), c2 = 0u, c3 = 0u;
    unsigned int k0 = (unsigned int)seed, k1 = (unsigned int)(seed >> 32);
    for (int r = 0; r < 10; ++r) {
        unsigned long long p0 = 0xD2511F53ull * c0, p1 = 0xCD9E8D57ull * c2;
        unsigned int n0 = (unsigned int)(p1 >> 32) ^ c1 ^ k0;
        unsigned int n2 = (unsigned int)(p0 >> 32) ^ c3 ^ k1;
        c1 = (unsigned int)p1;
        c3 = (unsigned int)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}
"""

ELEMENTWISE = {
    "philox": (
        "uint64 seed, uint64 offset, int64 n",
        "raw uint32 out",
        """
    unsigned int w[4];
    philox4x32_10(offset + (unsigned long long)i, seed, w);
    long long base = 4 * (long long)i;
    for (int k = 0; k < 4; ++k) {
        if (base + k < n) out[base + k] = w[k];
    }
    """,
        "backprop_philox",
        PHILOX_ROUNDS,
    ),
    "dropout_mask": (
        "uint64 seed, uint64 offset, float32 p, T scale",
        "T mask",
        """
    unsigned int w[4];
    philox4x32_10(offset + (unsigned long long)(i >> 2), seed, w);
    float u = (float)(w[i & 3] >> 8) * 5.9604644775390625e-08f;
    mask = u >= p ? scale : (T)0.0f;
    """,
        "backprop_dropout_mask",
        PHILOX_ROUNDS,
    ),
    "gelu_forward": (
        "T x, int32 tanh_approx",
        "T y",
        """
    typedef Acc<T>::type A;
    A v = (A)x;
    if (tanh_approx) {
        A inner = (A)0.7978845608028654 * (v + (A)0.044715 * v * v * v);
        y = (T)((A)0.5 * v * ((A)1 + tanh(inner)));
    } else {
        y = (T)((A)0.5 * v * ((A)1 + erf(v * (A)0.7071067811865476)));
    }
    """,
        "backprop_gelu_forward",
        ACC,
    ),
    "gelu_backward": (
        "T x, T g, int32 tanh_approx",
        "T gx",
        """
    typedef Acc<T>::type A;
    A v = (A)x;
    A d;
    if (tanh_approx) {
        A t = tanh((A)0.7978845608028654 * (v + (A)0.044715 * v * v * v));
        d = (A)0.5 * ((A)1 + t) + (A)0.5 * v * ((A)1 - t * t) * (A)0.7978845608028654 * ((A)1 + (A)0.134145 * v * v);
    } else {
        d = (A)0.5 * ((A)1 + erf(v * (A)0.7071067811865476)) + v * exp((A)-0.5 * v * v) * (A)0.3989422804014327;
    }
    gx = (T)(d * (A)g);
    """,
        "backprop_gelu_backward",
        ACC,
    ),
    "adam": (
        "T g, float64 lr, float64 beta1, float64 beta2, float64 eps, float64 weight_decay, float64 bias_correction1, "
        "float64 bias_correction2_sqrt, int32 decoupled, int32 maximize",
        "T p, T m, T v",
        """
    typedef Acc<T>::type A;
    A grad = maximize ? -(A)g : (A)g;
    A param = (A)p;
    if (weight_decay != 0) {
        if (decoupled) param *= (A)(1 - lr * weight_decay);
        else grad += (A)weight_decay * param;
    }
    A mm = (A)m + (A)(1 - beta1) * (grad - (A)m);
    A vv = (A)beta2 * (A)v + (A)(1 - beta2) * grad * grad;
    A denom = sqrt(vv) / (A)bias_correction2_sqrt + (A)eps;
    p = (T)(param - (A)(lr / bias_correction1) * mm / denom);
    m = (T)mm;
    v = (T)vv;
    """,
        "backprop_adam_step",
        ACC,
    ),
    "sgd_momentum": (
        "T g, float64 lr, float64 momentum, float64 dampening, float64 weight_decay, int32 nesterov, int32 maximize, int32 first",
        "T p, T buf",
        """
    typedef Acc<T>::type A;
    A d = maximize ? -(A)g : (A)g;
    if (weight_decay != 0) d += (A)weight_decay * (A)p;
    A b = first ? d : (A)momentum * (A)buf + (A)(1 - dampening) * d;
    buf = (T)b;
    d = nesterov ? d + (A)momentum * b : b;
    p = (T)((A)p - (A)lr * d);
    """,
        "backprop_sgd_momentum_step",
        ACC,
    ),
    "sgd": (
        "T g, float64 lr, float64 weight_decay, int32 maximize",
        "T p",
        """
    typedef Acc<T>::type A;
    A d = maximize ? -(A)g : (A)g;
    if (weight_decay != 0) d += (A)weight_decay * (A)p;
    p = (T)((A)p - (A)lr * d);
    """,
        "backprop_sgd_step",
        ACC,
    ),
}


# ---------------------------------------------------------------------------- row kernels
ROWS = (
    ACC
    + r"""
template <typename A> __device__ __forceinline__ A neg_inf();
template <> __device__ __forceinline__ float neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double neg_inf<double>() { return __longlong_as_double(0xfff0000000000000ULL); }

// Reduce over the block: a warp-shuffle tree, then the warps' results through shared memory.
template <typename A, bool IS_MAX>
__device__ __forceinline__ A block_reduce(A v, A* shm) {
    for (int o = 16; o > 0; o >>= 1) {
        A other = __shfl_xor_sync(0xffffffffu, v, o);
        v = IS_MAX ? fmax(v, other) : v + other;
    }
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    if (lane == 0) shm[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < warps ? shm[lane] : (IS_MAX ? neg_inf<A>() : (A)0);
        for (int o = 16; o > 0; o >>= 1) {
            A other = __shfl_xor_sync(0xffffffffu, v, o);
            v = IS_MAX ? fmax(v, other) : v + other;
        }
        if (lane == 0) shm[0] = v;
    }
    __syncthreads();
    A r = shm[0];
    __syncthreads();
    return r;
}

// One block per row of a (rows, cols) C-contiguous array. causal_cols > 0: the row's query
// index is (row % causal_rows) and columns after it (upper-left aligned) are masked.
// safe: a row with every entry masked gives zeros instead of NaN (attention).
template <typename T>
__device__ void softmax_rows(const T* x, T* y, long long cols, int log_mode, int safe, long long causal_rows) {
    typedef typename Acc<T>::type A;
    __shared__ A shm[32];
    long long row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    long long limit = causal_rows > 0 ? (row % causal_rows) + 1 : cols;
    if (limit > cols) limit = cols;
    A m = neg_inf<A>();
    for (long long j = threadIdx.x; j < limit; j += blockDim.x) m = fmax(m, (A)xr[j]);
    m = block_reduce<A, true>(m, shm);
    if (safe && m == neg_inf<A>()) m = (A)0;
    A s = (A)0;
    for (long long j = threadIdx.x; j < limit; j += blockDim.x) s += exp((A)xr[j] - m);
    s = block_reduce<A, false>(s, shm);
    if (log_mode) {
        A lse = m + log(s);
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = j < limit ? (T)((A)xr[j] - lse) : (T)neg_inf<A>();
    } else {
        A inv = (safe && s == (A)0) ? (A)0 : (A)1 / s;
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) yr[j] = j < limit ? (T)(exp((A)xr[j] - m) * inv) : (T)0;
    }
}

// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).
template <typename T>
__device__ void softmax_rows_backward(const T* y, const T* g, T* gx, long long cols, int log_mode) {
    typedef typename Acc<T>::type A;
    __shared__ A shm[32];
    long long row = blockIdx.x;
    const T* yr = y + row * cols;
    const T* gr = g + row * cols;
    T* out = gx + row * cols;
    A s = (A)0;
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) s += log_mode ? (A)gr[j] : (A)gr[j] * (A)yr[j];
    s = block_reduce<A, false>(s, shm);
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        out[j] = log_mode ? (T)((A)gr[j] - exp((A)yr[j]) * s) : (T)((A)yr[j] * ((A)gr[j] - s));
    }
}

// LayerNorm (rms = 0) or RMSNorm (rms = 1) of each row; writes mean and 1/std per row.
template <typename T>
__device__ void norm_rows(const T* x, const T* w, const T* b, T* y, T* mean_out, T* invstd_out,
                          long long cols, double eps, int rms) {
    typedef typename Acc<T>::type A;
    __shared__ A shm[32];
    long long row = blockIdx.x;
    const T* xr = x + row * cols;
    T* yr = y + row * cols;
    A mean = (A)0;
    if (!rms) {
        A s = (A)0;
        for (long long j = threadIdx.x; j < cols; j += blockDim.x) s += (A)xr[j];
        mean = block_reduce<A, false>(s, shm) / (A)cols;
    }
    A q = (A)0;
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) { A d = (A)xr[j] - mean; q += d * d; }
    A var = block_reduce<A, false>(q, shm) / (A)cols;
    A invstd = (A)1 / sqrt(var + (A)eps);
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        A v = ((A)xr[j] - mean) * invstd;
        if (w) v *= (A)w[j];
        if (b) v += (A)b[j];
        yr[j] = (T)v;
    }
    if (threadIdx.x == 0) { mean_out[row] = (T)mean; invstd_out[row] = (T)invstd; }
}

// Backward of norm_rows: gx per row; gxhat = g * xhat (for the weight's column sums) when given.
template <typename T>
__device__ void norm_rows_backward(const T* x, const T* w, const T* g, const T* mean_in, const T* invstd_in,
                                   T* gx, T* gxhat, long long cols, int rms) {
    typedef typename Acc<T>::type A;
    __shared__ A shm[32];
    long long row = blockIdx.x;
    const T* xr = x + row * cols;
    const T* gr = g + row * cols;
    A mean = (A)mean_in[row], invstd = (A)invstd_in[row];
    A s1 = (A)0, s2 = (A)0;
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        A xhat = ((A)xr[j] - mean) * invstd;
        A gy = w ? (A)gr[j] * (A)w[j] : (A)gr[j];
        s1 += gy;
        s2 += gy * xhat;
    }
    s1 = rms ? (A)0 : block_reduce<A, false>(s1, shm);
    s2 = block_reduce<A, false>(s2, shm);
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        A xhat = ((A)xr[j] - mean) * invstd;
        A gy = w ? (A)gr[j] * (A)w[j] : (A)gr[j];
        if (gx) gx[row * cols + j] = (T)(invstd * (gy - s1 / (A)cols - xhat * s2 / (A)cols));
        if (gxhat) gxhat[row * cols + j] = (T)((A)gr[j] * xhat);
    }
}

#define ROW_KERNELS(T, S)                                                                                      \
extern "C" __global__ void softmax_##S(const T* x, T* y, long long cols, int log_mode, int safe, long long causal_rows) { \
    softmax_rows<T>(x, y, cols, log_mode, safe, causal_rows); }                                                \
extern "C" __global__ void softmax_backward_##S(const T* y, const T* g, T* gx, long long cols, int log_mode) { \
    softmax_rows_backward<T>(y, g, gx, cols, log_mode); }                                                      \
extern "C" __global__ void norm_##S(const T* x, const T* w, const T* b, T* y, T* mean, T* invstd, long long cols, double eps, int rms) { \
    norm_rows<T>(x, w, b, y, mean, invstd, cols, eps, rms); }                                                  \
extern "C" __global__ void norm_backward_##S(const T* x, const T* w, const T* g, const T* mean, const T* invstd, T* gx, T* gxhat, long long cols, int rms) { \
    norm_rows_backward<T>(x, w, g, mean, invstd, gx, gxhat, cols, rms); }

ROW_KERNELS(float, f32)
ROW_KERNELS(double, f64)
"""
)
