// oneDNN convolution wrapper: see include/CDNNL.h.
//
// libdnnl is loaded lazily with dlopen on first use (not linked): it pulls in libgomp, which reads its
// environment when loaded, so OMP_WAIT_POLICY=passive can be set first (unless the user set it).
// Spinning OpenMP workers fight OpenBLAS's own spinning pthreads (and other processes) for the cores.
// Without libdnnl at run time (or dnnl.h at build time) every bp_conv_create returns NULL and the caller
// falls back to im2col + GEMM.
#define _GNU_SOURCE
#include "CDNNL.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#define BP_HAVE_DNNL 1
#else
#define BP_HAVE_DNNL 0
#endif

static int g_threads = 0;   // requested OpenMP threads (0: library default)
static void (*g_omp_set_num_threads)(int);
static void (*g_gomp_parallel)(void (*)(void *), void *, unsigned, unsigned);
static int (*g_omp_get_thread_num)(void), (*g_omp_get_num_threads)(void);

#if BP_HAVE_DNNL

#define BP_DNNL_FUNCTIONS(X) \
    X(dnnl_engine_create) X(dnnl_stream_create) X(dnnl_stream_wait) X(dnnl_stream_destroy) \
    X(dnnl_memory_desc_init_by_tag) X(dnnl_memory_desc_equal) X(dnnl_memory_create) X(dnnl_memory_destroy) \
    X(dnnl_memory_set_data_handle) X(dnnl_convolution_forward_desc_init) \
    X(dnnl_convolution_backward_data_desc_init) X(dnnl_convolution_backward_weights_desc_init) \
    X(dnnl_primitive_desc_create) X(dnnl_primitive_desc_destroy) X(dnnl_primitive_desc_query_md) \
    X(dnnl_primitive_create) X(dnnl_primitive_destroy) X(dnnl_primitive_execute) \
    X(dnnl_reorder_primitive_desc_create) X(dnnl_version) X(dnnl_memory_desc_get_size)

#define BP_DECLARE(f) static __typeof__(&f) p_##f;
BP_DNNL_FUNCTIONS(BP_DECLARE)
#define F(f) p_##f

static dnnl_engine_t g_engine;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void init_engine(void) {
    setenv("OMP_WAIT_POLICY", "passive", 0);
    void *lib = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) lib = dlopen("libdnnl.so", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) return;
#define BP_LOAD(f) if (!(p_##f = (__typeof__(&f))dlsym(lib, #f))) return;
    BP_DNNL_FUNCTIONS(BP_LOAD)
    g_omp_set_num_threads = (void (*)(int))dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    g_gomp_parallel = (void (*)(void (*)(void *), void *, unsigned, unsigned))dlsym(RTLD_DEFAULT, "GOMP_parallel");
    g_omp_get_thread_num = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_thread_num");
    g_omp_get_num_threads = (int (*)(void))dlsym(RTLD_DEFAULT, "omp_get_num_threads");
    if (g_omp_set_num_threads && g_threads > 0) g_omp_set_num_threads(g_threads);
    if (F(dnnl_engine_create)(&g_engine, dnnl_cpu, 0) != dnnl_success) g_engine = NULL;
}

#define CHECK(x) do { if ((x) != dnnl_success) goto fail; } while (0)
#define RUN(x) do { if ((x) != dnnl_success) return -1; } while (0)


// A tensor as a primitive wants it: `mem` is either the user's memory (same format, handle swapped per
// call) or a buffer in the primitive's format, with reorders between the two. That buffer is either
// owned by the slot (`own`, for what must survive from forward to backward, and the small weights) or
// bound per call to the shared arena below (activation-sized temporaries), so memory does not grow with
// the number of layers and batch sizes.
typedef struct {
    dnnl_memory_desc_t md;
    dnnl_memory_t mem;       // primitive-side memory
    dnnl_memory_t user;      // user-side memory (handle set per call)
    dnnl_primitive_t to;     // user -> primitive (NULL if same format)
    dnnl_primitive_t from;   // primitive -> user (NULL if same format)
    int same;
    size_t bytes;            // size of the primitive-side buffer
    void *own;               // owned buffer (allocated on first use), or NULL
} slot;

// Process-wide arena for per-call temporaries; calls are serialised by g_lock (layers run one at a time).
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static char *g_arena;
static size_t g_arena_size, g_arena_used;

static size_t align_up(size_t n) { return (n + 4095) & ~(size_t)4095; }

/// Makes the arena at least `bytes` long and empties it (only between primitive executions).
static int arena_reset(size_t bytes) {
    g_arena_used = 0;
    if (bytes <= g_arena_size) return 0;
    free(g_arena);
    g_arena = aligned_alloc(4096, align_up(bytes));
    g_arena_size = g_arena ? align_up(bytes) : 0;
    return g_arena ? 0 : -1;
}

/// Binds a (non-same) slot's memory to a fresh arena block or to its owned buffer.
static int bind_temp(slot *sl) {
    if (sl->same) return 0;
    size_t n = align_up(sl->bytes);
    if (g_arena_used + n > g_arena_size) return -1;
    void *p = g_arena + g_arena_used;
    g_arena_used += n;
    return F(dnnl_memory_set_data_handle)(sl->mem, p) == dnnl_success ? 0 : -1;
}
static int bind_own(slot *sl) {
    if (sl->same) return 0;
    if (!sl->own && !(sl->own = aligned_alloc(4096, align_up(sl->bytes)))) return -1;
    return F(dnnl_memory_set_data_handle)(sl->mem, sl->own) == dnnl_success ? 0 : -1;
}

static dnnl_status_t make_reorder(dnnl_primitive_t *p, const dnnl_memory_desc_t *a, const dnnl_memory_desc_t *b) {
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = F(dnnl_reorder_primitive_desc_create)(&pd, a, g_engine, b, g_engine, NULL);
    if (s != dnnl_success) return s;
    s = F(dnnl_primitive_create)(p, pd);
    F(dnnl_primitive_desc_destroy)(pd);
    return s;
}

static dnnl_status_t slot_init(slot *sl, const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *prim_md,
                               int need_to, int need_from) {
    memset(sl, 0, sizeof *sl);
    sl->md = *prim_md;
    dnnl_status_t s = F(dnnl_memory_create)(&sl->user, user_md, g_engine, DNNL_MEMORY_NONE);
    if (s != dnnl_success) return s;
    if (F(dnnl_memory_desc_equal)(user_md, prim_md)) {
        sl->same = 1;
        sl->mem = sl->user;
        return dnnl_success;
    }
    sl->bytes = F(dnnl_memory_desc_get_size)(prim_md);
    s = F(dnnl_memory_create)(&sl->mem, prim_md, g_engine, DNNL_MEMORY_NONE);
    if (s != dnnl_success) return s;
    if (need_to && (s = make_reorder(&sl->to, user_md, prim_md)) != dnnl_success) return s;
    if (need_from && (s = make_reorder(&sl->from, prim_md, user_md)) != dnnl_success) return s;
    return dnnl_success;
}

static void slot_free(slot *sl) {
    if (sl->to) F(dnnl_primitive_destroy)(sl->to);
    if (sl->from) F(dnnl_primitive_destroy)(sl->from);
    if (sl->mem && !sl->same) F(dnnl_memory_destroy)(sl->mem);
    free(sl->own);
    if (sl->user) F(dnnl_memory_destroy)(sl->user);
}

static dnnl_status_t exec2(dnnl_primitive_t p, dnnl_stream_t st, int a0, dnnl_memory_t m0, int a1, dnnl_memory_t m1) {
    dnnl_exec_arg_t args[2] = {{a0, m0}, {a1, m1}};
    return F(dnnl_primitive_execute)(p, st, 2, args);
}

// Brings user data into the slot's primitive format; returns the memory to pass to the primitive.
static dnnl_memory_t slot_in(slot *sl, dnnl_stream_t st, const float *data, int *err) {
    if (F(dnnl_memory_set_data_handle)(sl->user, (void *)data) != dnnl_success) { *err = 1; return NULL; }
    if (!sl->same && exec2(sl->to, st, DNNL_ARG_FROM, sl->user, DNNL_ARG_TO, sl->mem) != dnnl_success) *err = 1;
    return sl->mem;
}

struct bp_conv {
    int N, C, H, W, O, k, OH, OW, has_bias;
    dnnl_stream_t stream;
    dnnl_primitive_t fwd, bwd_d, bwd_w;
    slot f_src, f_wei, f_dst;            // forward
    slot d_wei, d_ddst, d_dsrc;          // backward data
    slot w_src, w_ddst, w_dwei;          // backward weights
    int d_wei_shares_f, d_ddst_shares_w, w_src_shares_f;
    int src_kept;                        // f_src holds the last training forward's reordered x
    dnnl_memory_t bias, dbias;           // plain (O)
    float *dw_tmp, *db_tmp;
};

static const dnnl_memory_desc_t *q(dnnl_primitive_desc_t pd, dnnl_query_t what) {
    return F(dnnl_primitive_desc_query_md)(pd, what, 0);
}

static dnnl_format_tag_t act_tag(int block) {
    return block == 16 ? dnnl_aBcd16b : (block == 8 ? dnnl_aBcd8b : dnnl_bacd);
}

bp_conv *bp_conv_create(int N, int C, int H, int W, int O, int k, int stride, int pad, int has_bias, int src_block,
                        int dst_block) {
    pthread_once(&g_once, init_engine);
    if ((src_block && C % src_block) || (dst_block && O % dst_block)) return NULL;
    if (!g_engine) return NULL;
    int OH = (H + 2 * pad - k) / stride + 1, OW = (W + 2 * pad - k) / stride + 1;
    if (OH <= 0 || OW <= 0) return NULL;
    bp_conv *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->N = N; h->C = C; h->H = H; h->W = W; h->O = O; h->k = k; h->OH = OH; h->OW = OW; h->has_bias = has_bias;
    dnnl_primitive_desc_t fpd = NULL, dpd = NULL, wpd = NULL;

    dnnl_dims_t sdims = {N, C, H, W}, wdims = {O, C, k, k}, ddims = {N, O, OH, OW}, bdims = {O};
    dnnl_dims_t strides = {stride, stride}, pl = {pad, pad};
    // Right padding that reproduces OH/OW exactly (may be below `pad` when the stride skips the edge).
    dnnl_dims_t pr = {(OH - 1) * stride + k - H - pad, (OW - 1) * stride + k - W - pad};
    if (pr[0] < 0 || pr[1] < 0) { pr[0] = pad; pr[1] = pad; }
    dnnl_memory_desc_t u_src, u_wei, u_dst, u_bias, a_src, a_wei, a_dst;
    CHECK(F(dnnl_memory_desc_init_by_tag)(&u_src, 4, sdims, dnnl_f32, act_tag(src_block)));
    CHECK(F(dnnl_memory_desc_init_by_tag)(&u_wei, 4, wdims, dnnl_f32, dnnl_oihw));
    CHECK(F(dnnl_memory_desc_init_by_tag)(&u_dst, 4, ddims, dnnl_f32, act_tag(dst_block)));
    CHECK(F(dnnl_memory_desc_init_by_tag)(&u_bias, 1, bdims, dnnl_f32, dnnl_a));
    CHECK(F(dnnl_memory_desc_init_by_tag)(&a_src, 4, sdims, dnnl_f32, dnnl_format_tag_any));
    CHECK(F(dnnl_memory_desc_init_by_tag)(&a_wei, 4, wdims, dnnl_f32, dnnl_format_tag_any));
    CHECK(F(dnnl_memory_desc_init_by_tag)(&a_dst, 4, ddims, dnnl_f32, dnnl_format_tag_any));
    const dnnl_memory_desc_t *bmd = has_bias ? &u_bias : NULL;

    dnnl_convolution_desc_t fd, dd, wd;
    CHECK(F(dnnl_convolution_forward_desc_init)(&fd, dnnl_forward_training, dnnl_convolution_direct, &a_src, &a_wei,
                                             bmd, &a_dst, strides, pl, pr));
    CHECK(F(dnnl_primitive_desc_create)(&fpd, &fd, NULL, g_engine, NULL));
    CHECK(F(dnnl_convolution_backward_data_desc_init)(&dd, dnnl_convolution_direct, &a_src, &a_wei, &a_dst,
                                                   strides, pl, pr));
    CHECK(F(dnnl_primitive_desc_create)(&dpd, &dd, NULL, g_engine, fpd));
    CHECK(F(dnnl_convolution_backward_weights_desc_init)(&wd, dnnl_convolution_direct, &a_src, &a_wei, bmd, &a_dst,
                                                      strides, pl, pr));
    CHECK(F(dnnl_primitive_desc_create)(&wpd, &wd, NULL, g_engine, fpd));

    CHECK(slot_init(&h->f_src, &u_src, q(fpd, dnnl_query_src_md), 1, 0));
    CHECK(slot_init(&h->f_wei, &u_wei, q(fpd, dnnl_query_weights_md), 1, 0));
    CHECK(slot_init(&h->f_dst, &u_dst, q(fpd, dnnl_query_dst_md), 0, 1));
    CHECK(slot_init(&h->d_wei, &u_wei, q(dpd, dnnl_query_weights_md), 1, 0));
    CHECK(slot_init(&h->d_ddst, &u_dst, q(dpd, dnnl_query_diff_dst_md), 1, 0));
    CHECK(slot_init(&h->d_dsrc, &u_src, q(dpd, dnnl_query_diff_src_md), 0, 1));
    CHECK(slot_init(&h->w_src, &u_src, q(wpd, dnnl_query_src_md), 1, 0));
    CHECK(slot_init(&h->w_ddst, &u_dst, q(wpd, dnnl_query_diff_dst_md), 1, 0));
    CHECK(slot_init(&h->w_dwei, &u_wei, q(wpd, dnnl_query_diff_weights_md), 0, 1));
    h->d_wei_shares_f = F(dnnl_memory_desc_equal)(&h->d_wei.md, &h->f_wei.md);
    h->w_src_shares_f = F(dnnl_memory_desc_equal)(&h->w_src.md, &h->f_src.md);
    h->d_ddst_shares_w = F(dnnl_memory_desc_equal)(&h->d_ddst.md, &h->w_ddst.md);
    if (has_bias) {
        CHECK(F(dnnl_memory_create)(&h->bias, &u_bias, g_engine, DNNL_MEMORY_NONE));
        CHECK(F(dnnl_memory_create)(&h->dbias, &u_bias, g_engine, DNNL_MEMORY_NONE));
        h->db_tmp = malloc(sizeof(float) * (size_t)O);
        if (!h->db_tmp) goto fail;
    }
    h->dw_tmp = malloc(sizeof(float) * (size_t)O * C * k * k);
    if (!h->dw_tmp) goto fail;
    CHECK(F(dnnl_stream_create)(&h->stream, g_engine, dnnl_stream_default_flags));
    CHECK(F(dnnl_primitive_create)(&h->fwd, fpd));
    CHECK(F(dnnl_primitive_create)(&h->bwd_d, dpd));
    CHECK(F(dnnl_primitive_create)(&h->bwd_w, wpd));
    F(dnnl_primitive_desc_destroy)(fpd);
    F(dnnl_primitive_desc_destroy)(dpd);
    F(dnnl_primitive_desc_destroy)(wpd);
    return h;
fail:
    if (fpd) F(dnnl_primitive_desc_destroy)(fpd);
    if (dpd) F(dnnl_primitive_desc_destroy)(dpd);
    if (wpd) F(dnnl_primitive_desc_destroy)(wpd);
    bp_conv_destroy(h);
    return NULL;
}

void bp_conv_destroy(bp_conv *h) {
    if (!h) return;
    if (h->fwd) F(dnnl_primitive_destroy)(h->fwd);
    if (h->bwd_d) F(dnnl_primitive_destroy)(h->bwd_d);
    if (h->bwd_w) F(dnnl_primitive_destroy)(h->bwd_w);
    slot *all[] = {&h->f_src, &h->f_wei, &h->f_dst, &h->d_wei, &h->d_ddst, &h->d_dsrc, &h->w_src, &h->w_ddst,
                   &h->w_dwei};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) slot_free(all[i]);
    if (h->bias) F(dnnl_memory_destroy)(h->bias);
    if (h->dbias) F(dnnl_memory_destroy)(h->dbias);
    if (h->stream) F(dnnl_stream_destroy)(h->stream);
    free(h->dw_tmp);
    free(h->db_tmp);
    free(h);
}

static int conv_forward(bp_conv *h, const float *x, const float *w, const float *bias, float *y, int training) {
    int err = 0;
    // Weights are small and kept (backward data reuses them); the reordered x is kept only in training,
    // for backward weights.
    if (arena_reset(h->f_dst.bytes + h->f_src.bytes + 8192)) return -1;
    if (bind_own(&h->f_wei) || (training ? bind_own(&h->f_src) : bind_temp(&h->f_src)) || bind_temp(&h->f_dst))
        return -1;
    h->src_kept = 0;
    dnnl_memory_t src = slot_in(&h->f_src, h->stream, x, &err);
    dnnl_memory_t wei = slot_in(&h->f_wei, h->stream, w, &err);
    if (err) return -1;
    RUN(F(dnnl_memory_set_data_handle)(h->f_dst.user, y));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, h->f_dst.mem},
                               {DNNL_ARG_BIAS, h->bias}};
    if (h->has_bias) RUN(F(dnnl_memory_set_data_handle)(h->bias, (void *)bias));
    RUN(F(dnnl_primitive_execute)(h->fwd, h->stream, h->has_bias ? 4 : 3, args));
    if (!h->f_dst.same)
        RUN(exec2(h->f_dst.from, h->stream, DNNL_ARG_FROM, h->f_dst.mem, DNNL_ARG_TO, h->f_dst.user));
    RUN(F(dnnl_stream_wait)(h->stream));
    h->src_kept = training;
    return 0;
}

int bp_conv_forward(bp_conv *h, const float *x, const float *w, const float *bias, float *y, int training) {
    pthread_mutex_lock(&g_lock);
    int r = conv_forward(h, x, w, bias, y, training);
    pthread_mutex_unlock(&g_lock);
    return r;
}

static int conv_backward(bp_conv *h, const float *x, const float *dy, const float *w,
                         float *dx, float *dw, float *db) {
    int err = 0;
    int reuse_src = h->w_src_shares_f && !h->f_src.same && h->src_kept;
    int reuse_wei = h->d_wei_shares_f && !h->f_wei.same;
    if (arena_reset(h->w_src.bytes + h->w_ddst.bytes + h->d_ddst.bytes + h->d_dsrc.bytes + 16384)) return -1;
    if ((!reuse_src && bind_temp(&h->w_src)) || bind_temp(&h->w_ddst) || bind_own(&h->w_dwei)) return -1;
    // Backward weights.
    dnnl_memory_t src;
    if (reuse_src) src = h->f_src.mem;       // reordered in forward
    else src = slot_in(&h->w_src, h->stream, x, &err);
    dnnl_memory_t ddst_w = slot_in(&h->w_ddst, h->stream, dy, &err);
    if (err) return -1;
    RUN(F(dnnl_memory_set_data_handle)(h->w_dwei.user, h->dw_tmp));
    dnnl_exec_arg_t wargs[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst_w},
                                {DNNL_ARG_DIFF_WEIGHTS, h->w_dwei.mem}, {DNNL_ARG_DIFF_BIAS, h->dbias}};
    if (h->has_bias) RUN(F(dnnl_memory_set_data_handle)(h->dbias, h->db_tmp));
    RUN(F(dnnl_primitive_execute)(h->bwd_w, h->stream, h->has_bias ? 4 : 3, wargs));
    if (!h->w_dwei.same)
        RUN(exec2(h->w_dwei.from, h->stream, DNNL_ARG_FROM, h->w_dwei.mem, DNNL_ARG_TO, h->w_dwei.user));
    // Backward data.
    if (dx) {
        if ((!reuse_wei && bind_own(&h->d_wei)) || (!h->d_ddst_shares_w && bind_temp(&h->d_ddst)) ||
            bind_temp(&h->d_dsrc))
            return -1;
        dnnl_memory_t wei;
        if (reuse_wei) wei = h->f_wei.mem;
        else wei = slot_in(&h->d_wei, h->stream, w, &err);
        dnnl_memory_t ddst;
        if (h->d_ddst_shares_w) ddst = ddst_w;
        else ddst = slot_in(&h->d_ddst, h->stream, dy, &err);
        if (err) return -1;
        RUN(F(dnnl_memory_set_data_handle)(h->d_dsrc.user, dx));
        dnnl_exec_arg_t dargs[3] = {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei},
                                    {DNNL_ARG_DIFF_SRC, h->d_dsrc.mem}};
        RUN(F(dnnl_primitive_execute)(h->bwd_d, h->stream, 3, dargs));
        if (!h->d_dsrc.same)
            RUN(exec2(h->d_dsrc.from, h->stream, DNNL_ARG_FROM, h->d_dsrc.mem, DNNL_ARG_TO, h->d_dsrc.user));
    }
    RUN(F(dnnl_stream_wait)(h->stream));
    size_t nw = (size_t)h->O * h->C * h->k * h->k;
    for (size_t i = 0; i < nw; i++) dw[i] += h->dw_tmp[i];
    if (h->has_bias && db)
        for (int o = 0; o < h->O; o++) db[o] += h->db_tmp[o];
    return 0;
}

int bp_conv_backward(bp_conv *h, const float *x, const float *dy, const float *w,
                     float *dx, float *dw, float *db) {
    pthread_mutex_lock(&g_lock);
    int r = conv_backward(h, x, dy, w, dx, dw, db);
    pthread_mutex_unlock(&g_lock);
    return r;
}

int bp_dnnl_preferred_block(void) {
    static int block = -1;
    pthread_mutex_lock(&g_lock);
    if (block < 0) {
        block = 0;
        pthread_once(&g_once, init_engine);
        dnnl_primitive_desc_t pd = NULL;
        dnnl_memory_desc_t a_src, a_wei, a_dst, t;
        dnnl_dims_t sd = {2, 16, 8, 8}, wd = {16, 16, 3, 3}, st = {1, 1}, pad = {1, 1};
        dnnl_convolution_desc_t cd;
        if (g_engine && F(dnnl_memory_desc_init_by_tag)(&a_src, 4, sd, dnnl_f32, dnnl_format_tag_any) == dnnl_success
            && F(dnnl_memory_desc_init_by_tag)(&a_wei, 4, wd, dnnl_f32, dnnl_format_tag_any) == dnnl_success
            && F(dnnl_memory_desc_init_by_tag)(&a_dst, 4, sd, dnnl_f32, dnnl_format_tag_any) == dnnl_success
            && F(dnnl_convolution_forward_desc_init)(&cd, dnnl_forward_training, dnnl_convolution_direct, &a_src,
                                                     &a_wei, NULL, &a_dst, st, pad, pad) == dnnl_success
            && F(dnnl_primitive_desc_create)(&pd, &cd, NULL, g_engine, NULL) == dnnl_success) {
            const dnnl_memory_desc_t *src = q(pd, dnnl_query_src_md), *dst = q(pd, dnnl_query_dst_md);
            int blocks[2] = {16, 8};
            for (int i = 0; i < 2 && !block; i++) {
                if (F(dnnl_memory_desc_init_by_tag)(&t, 4, sd, dnnl_f32, act_tag(blocks[i])) == dnnl_success
                    && F(dnnl_memory_desc_equal)(&t, src) && F(dnnl_memory_desc_equal)(&t, dst))
                    block = blocks[i];
            }
            F(dnnl_primitive_desc_destroy)(pd);
        }
    }
    int r = block;
    pthread_mutex_unlock(&g_lock);
    return r;
}

int bp_dnnl_version(void) {
    pthread_once(&g_once, init_engine);
    if (!p_dnnl_version) return 0;
    const dnnl_version_t *v = F(dnnl_version)();
    return v ? v->major * 10000 + v->minor * 100 + v->patch : 0;
}

#else  // no dnnl.h at build time: always fall back.

bp_conv *bp_conv_create(int N, int C, int H, int W, int O, int k, int stride, int pad, int has_bias, int src_block,
                        int dst_block) {
    (void)N; (void)C; (void)H; (void)W; (void)O; (void)k; (void)stride; (void)pad; (void)has_bias;
    (void)src_block; (void)dst_block;
    return NULL;
}
int bp_dnnl_preferred_block(void) { return 0; }
void bp_conv_destroy(bp_conv *h) { (void)h; }
int bp_conv_forward(bp_conv *h, const float *x, const float *w, const float *bias, float *y, int training) {
    (void)h; (void)x; (void)w; (void)bias; (void)y; (void)training;
    return -1;
}
int bp_conv_backward(bp_conv *h, const float *x, const float *dy, const float *w, float *dx, float *dw, float *db) {
    (void)h; (void)x; (void)dy; (void)w; (void)dx; (void)dw; (void)db;
    return -1;
}
int bp_dnnl_version(void) { return 0; }

#endif

#if BP_HAVE_DNNL
typedef struct { void (*fn)(void *, int); void *ctx; int n; } omp_job;
static void omp_job_body(void *data) {
    omp_job *j = data;
    // Parts i = thread, thread + team size, ...: every part runs once even if the team is smaller.
    for (int i = g_omp_get_thread_num(); i < j->n; i += g_omp_get_num_threads()) j->fn(j->ctx, i);
}
#endif

int bp_omp_run(int n, void (*fn)(void *ctx, int part), void *ctx) {
#if BP_HAVE_DNNL
    pthread_once(&g_once, init_engine);
    if (!g_gomp_parallel || !g_omp_get_thread_num || !g_omp_get_num_threads || !g_engine) return 0;
    omp_job j = {fn, ctx, n};
    g_gomp_parallel(omp_job_body, &j, (unsigned)n, 0);
    return 1;
#else
    (void)n; (void)fn; (void)ctx;
    return 0;
#endif
}

void bp_dnnl_set_threads(int n) {
    if (n <= 0) return;
    g_threads = n;
    if (g_omp_set_num_threads) g_omp_set_num_threads(n);
}
