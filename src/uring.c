/* SPDX-License-Identifier: MIT */
/*
 * uring.c - provided-buffer rings fed from a tier, registered arenas and
 * zero-copy sends (iobuf/uring.h), on liburing 2.3.
 *
 * A bufring keeps, by buffer id (the buffer's index in its pool), the
 * handle of every buffer it put in the kernel's ring; a completion that
 * names the id gives that handle to the caller and empties the place.  The
 * count of buffers in the ring is what was added less what completions
 * named, which is never below what the kernel still holds (a buffer it
 * consumed whose completion is not reaped yet still counts), so a refill
 * never writes over an entry the kernel may still read.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include <liburing.h>

#include <iobuf/slice.h>
#include <iobuf/uring.h>

#include "atomic.h"

/* Not in liburing 2.3's headers: the kernel's values (include/uapi/linux/io_uring.h). */
#ifndef IORING_FEAT_RECVSEND_BUNDLE
#define IORING_FEAT_RECVSEND_BUNDLE (1U << 14)
#endif
#ifndef IOU_PBUF_RING_INC
#define IOU_PBUF_RING_INC 2
#endif

#define ZC_SLOTS_DEFAULT 256u
#define ZC_TAG_DEFAULT 0x1b0fu
#define ZC_TAG_SHIFT 48

static const struct iobuf_pool_shape *shape_of(const struct iobuf_pool *pool)
{
	return (const struct iobuf_pool_shape *)(const void *)pool;
}

/* The index of @h in @pool, or the pool's capacity or more when @h is not one of its handles. */
static uint32_t index_in(const struct iobuf_pool *pool, iobuf_handle_t h)
{
	return iobuf__handle_index_for(h, shape_of(pool)->stamp);
}

static int put_handle(struct iobuf_pool *pool, struct iobuf_cache *cache, iobuf_handle_t h)
{
	return cache ? iobuf_cache_put(cache, h) : iobuf_pool_put(pool, h);
}

/* ---- features ------------------------------------------------------------------ */

/* Register and unregister a one-entry ring with @flags; true when the kernel took it. */
static bool try_buf_ring(struct io_uring *r, void *mem, uint16_t flags)
{
	struct io_uring_buf_reg reg;

	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = 1;
	reg.bgid = 0;
	reg.pad = flags; /* "flags" in kernels from 6.4 on; 2.3 calls the field pad */
	if (io_uring_register_buf_ring(r, &reg, 0) != 0)
		return false;
	io_uring_unregister_buf_ring(r, 0);
	return true;
}

int iobuf_uring_probe(struct iobuf_uring_features *f)
{
	struct io_uring r;
	struct io_uring_probe *probe;
	void *mem;
	int rc;

	if (!f)
		return -EINVAL;
	memset(f, 0, sizeof(*f));
	f->last_op = -1;
	rc = io_uring_queue_init(4, &r, 0);
	if (rc < 0)
		return rc;
	f->kernel_features = r.features;
	f->bundle = (r.features & IORING_FEAT_RECVSEND_BUNDLE) != 0;
	probe = io_uring_get_probe_ring(&r);
	if (probe) {
		f->last_op = probe->last_op;
		f->send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) != 0;
		f->fixed_buffers = io_uring_opcode_supported(probe, IORING_OP_READ_FIXED) &&
				   io_uring_opcode_supported(probe, IORING_OP_WRITE_FIXED);
		io_uring_free_probe(probe);
	}
	/* Multishot receive came in 6.0 with SEND_ZC; the kernel has no probe for an sqe flag. */
	f->recv_multishot = f->send_zc;
	mem = mmap(NULL, iobuf_page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem != MAP_FAILED) {
		f->buf_ring = try_buf_ring(&r, mem, 0);
		f->incremental = f->buf_ring && try_buf_ring(&r, mem, IOU_PBUF_RING_INC);
		munmap(mem, iobuf_page_size());
	}
	io_uring_queue_exit(&r);
	return 0;
}

int iobuf_uring_features_print(const struct iobuf_uring_features *f, FILE *out)
{
	int n = 0;

	if (!f || !out)
		return -EINVAL;
	n |= fprintf(out, "io_uring: kernel features %#x, last opcode %d\n", f->kernel_features, f->last_op) < 0;
	n |= fprintf(out, "  provided-buffer rings: %s\n",
		     f->buf_ring ? "yes" : "no (bufrings cannot be made; read into pooled buffers instead)") < 0;
	n |= fprintf(out, "  multishot receive:     %s\n",
		     f->recv_multishot ? "yes" : "no (multishot receives end at once)") < 0;
	n |= fprintf(out, "  zero-copy send:        %s\n",
		     f->send_zc ? "yes" : "no (iobuf_uring_fixed_send_zc() says -EOPNOTSUPP; write instead)") < 0;
	n |= fprintf(out, "  fixed buffers:         %s\n", f->fixed_buffers ? "yes" : "no (run unregistered)") < 0;
	n |= fprintf(out, "  bundles:               %s\n", f->bundle ? "yes (not used)" : "no (not used)") < 0;
	n |= fprintf(out, "  incremental buffers:   %s\n", f->incremental ? "yes (not used)" : "no (not used)") < 0;
	return n || ferror(out) ? -EIO : 0;
}

/* ---- provided-buffer rings -------------------------------------------------------- */

struct iobuf_uring_bufring {
	struct io_uring *ring;
	struct iobuf_pool *pool;
	struct iobuf_cache *cache;
	const struct iobuf_pool_shape *shape;
	struct io_uring_buf_ring *br; /* shared with the kernel */
	size_t map_size;
	iobuf_handle_t *held; /* by buffer id: the handle of a buffer in the ring, or IOBUF_HANDLE_NONE */
	uint32_t entries, mask, low_water, in_ring;
	uint16_t tail; /* ours; the kernel's copy is br->tail */
	uint16_t bgid;
	bool foreign; /* the cache handed out a buffer of another pool */
	struct iobuf_uring_bufring_stats st;
};

/* Up to @n buffers of the ring's pool, from the cache or the pool; returns the count. */
static int get_some(struct iobuf_uring_bufring *b, iobuf_handle_t *hs, int n)
{
	int k = 0;

	if (!b->cache) {
		int got = iobuf_pool_get_burst(b->pool, hs, n);

		return got < 0 ? 0 : got;
	}
	while (k < n) {
		iobuf_handle_t h;

		if (iobuf_cache_get(b->cache, b->shape->buf_size, &h) < 0)
			break;
		if (index_in(b->pool, h) >= b->shape->capacity) {
			/* Another tier (a set's spill) or another owner: not for this ring. */
			iobuf_cache_put(b->cache, h);
			b->foreign = true;
			break;
		}
		hs[k++] = h;
	}
	return k;
}

/* Write @h into ring entry tail + @k; the tail store comes after the batch. */
static void ring_add(struct iobuf_uring_bufring *b, iobuf_handle_t h, uint32_t k)
{
	uint32_t idx = index_in(b->pool, h);
	struct io_uring_buf *e = &b->br->bufs[(uint16_t)(b->tail + k) & b->mask];

	e->addr = (uint64_t)(uintptr_t)(b->shape->base + (size_t)idx * b->shape->stride);
	e->len = (uint32_t)b->shape->buf_size;
	e->bid = (uint16_t)idx;
	b->held[idx] = h;
}

static int refill(struct iobuf_uring_bufring *b)
{
	uint32_t room = b->entries - b->in_ring, k = 0;

	while (k < room) {
		iobuf_handle_t hs[64];
		int want = (int)(room - k < 64 ? room - k : 64), got = get_some(b, hs, want);

		for (int i = 0; i < got; i++)
			ring_add(b, hs[i], k++);
		if (got < want) {
			if (!b->foreign)
				b->st.tier_empty++;
			break;
		}
	}
	if (k == 0)
		return 0;
	b->tail = (uint16_t)(b->tail + k);
	/* U1: pairs with the kernel's load-acquire of the tail (io_uring/kbuf.c): publishes the entries below it. */
	iobuf__store_16_rel(&b->br->tail, b->tail);
	b->in_ring += k;
	b->st.added += k;
	b->st.refills++;
	return (int)k;
}

static void bufring_free(struct iobuf_uring_bufring *b)
{
	if (b->held) {
		for (uint32_t i = 0; i < b->shape->capacity; i++)
			if (b->held[i] != IOBUF_HANDLE_NONE)
				put_handle(b->pool, b->cache, b->held[i]);
		free(b->held);
	}
	if (b->br)
		munmap(b->br, b->map_size);
	free(b);
}

struct iobuf_uring_bufring *iobuf_uring_bufring_create(struct io_uring *ring,
							 const struct iobuf_uring_bufring_config *cfg, int *err)
{
	struct iobuf_uring_bufring *b;
	struct io_uring_buf_reg reg;
	void *mem;
	int rc;

	if (err)
		*err = 0;
	if (!ring || !cfg || !cfg->pool || cfg->entries == 0 || cfg->entries > IOBUF_URING_BUFRING_MAX ||
	    (cfg->entries & (cfg->entries - 1)) != 0 || cfg->low_water > cfg->entries ||
	    shape_of(cfg->pool)->capacity > IOBUF_URING_BUFRING_MAX_CAPACITY ||
	    cfg->entries > shape_of(cfg->pool)->capacity || shape_of(cfg->pool)->buf_size > UINT32_MAX) {
		rc = -EINVAL;
		goto fail;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		rc = -ENOMEM;
		goto fail;
	}
	b->ring = ring;
	b->pool = cfg->pool;
	b->cache = cfg->cache;
	b->shape = shape_of(cfg->pool);
	b->entries = cfg->entries;
	b->mask = cfg->entries - 1;
	b->low_water = cfg->low_water ? cfg->low_water : (cfg->entries + 1) / 2;
	b->bgid = cfg->bgid;
	b->st.entries = cfg->entries;
	b->held = calloc(b->shape->capacity, sizeof(*b->held));
	b->map_size = (cfg->entries * sizeof(struct io_uring_buf) + iobuf_page_size() - 1) & ~(iobuf_page_size() - 1);
	mem = mmap(NULL, b->map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!b->held || mem == MAP_FAILED) {
		b->br = NULL;
		bufring_free(b);
		rc = -ENOMEM;
		goto fail;
	}
	b->br = mem;
	io_uring_buf_ring_init(b->br);
	memset(&reg, 0, sizeof(reg));
	reg.ring_addr = (uint64_t)(uintptr_t)mem;
	reg.ring_entries = cfg->entries;
	reg.bgid = cfg->bgid;
	rc = io_uring_register_buf_ring(ring, &reg, 0);
	if (rc < 0) {
		bufring_free(b);
		goto fail;
	}
	(void)iobuf_pool_ready_fd(b->pool); /* a set's pool: -EINVAL until iobuf_set_ready_fd() */
	refill(b);
	if (b->foreign) {
		io_uring_unregister_buf_ring(ring, b->bgid);
		bufring_free(b);
		rc = -EINVAL; /* the cache is not over this pool */
		goto fail;
	}
	return b;
fail:
	if (err)
		*err = rc;
	return NULL;
}

void iobuf_uring_bufring_destroy(struct iobuf_uring_bufring *b)
{
	if (!b)
		return;
	io_uring_unregister_buf_ring(b->ring, b->bgid);
	bufring_free(b);
}

int iobuf_uring_bufring_refill(struct iobuf_uring_bufring *b)
{
	if (!b)
		return -EINVAL;
	return refill(b);
}

int iobuf_uring_bufring_take(struct iobuf_uring_bufring *b, const struct io_uring_cqe *cqe, iobuf_handle_t *h)
{
	uint32_t bid;
	iobuf_handle_t got;

	if (h)
		*h = IOBUF_HANDLE_NONE;
	if (!b || !cqe || !h)
		return -EINVAL;
	if (!(cqe->flags & IORING_CQE_F_BUFFER)) {
		if (cqe->res == -ENOBUFS) {
			b->st.enobufs++;
			refill(b);
		}
		return cqe->res > 0 ? -EINVAL : cqe->res;
	}
	bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	if (bid >= b->shape->capacity || b->held[bid] == IOBUF_HANDLE_NONE)
		return -EINVAL;
	got = b->held[bid];
	b->held[bid] = IOBUF_HANDLE_NONE;
	b->in_ring--;
	if (cqe->res <= 0) {
		/* A buffer and no bytes: it goes back, and into the ring with the next refill. */
		put_handle(b->pool, b->cache, got);
	} else {
		*h = got;
		b->st.taken++;
	}
	if (b->in_ring < b->low_water)
		refill(b);
	return cqe->res;
}

int iobuf_uring_bufring_recv_multishot(struct iobuf_uring_bufring *b, int fd, uint64_t user_data)
{
	struct io_uring_sqe *sqe;

	if (!b || fd < 0)
		return -EINVAL;
	if (b->in_ring < b->low_water)
		refill(b);
	if (b->in_ring == 0)
		return -ENOBUFS;
	sqe = io_uring_get_sqe(b->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = b->bgid;
	io_uring_sqe_set_data64(sqe, user_data);
	return 0;
}

int iobuf_uring_bufring_ready_fd(struct iobuf_uring_bufring *b)
{
	return b ? iobuf_pool_ready_fd(b->pool) : -EINVAL;
}

int iobuf_uring_bufring_count(const struct iobuf_uring_bufring *b)
{
	return b ? (int)b->in_ring : -EINVAL;
}

int iobuf_uring_bufring_stats(const struct iobuf_uring_bufring *b, struct iobuf_uring_bufring_stats *st)
{
	if (!b || !st)
		return -EINVAL;
	*st = b->st;
	st->in_ring = b->in_ring;
	return 0;
}

/* ---- registered arenas and zero-copy sends ---------------------------------------- */

struct zc_slot {
	iobuf_handle_t h;
	struct iobuf_pool *pool;
	uint64_t cookie;
	bool busy; /* the slot holds a send's buffer */
	bool sent; /* its send completion was reaped */
};

struct iobuf_uring_fixed {
	struct io_uring *ring;
	struct iobuf_cache *cache;
	struct iobuf_pool *pools[IOBUF_TIER_COUNT];
	int npools;
	bool registered;
	bool send_zc; /* the kernel has IORING_OP_SEND_ZC */
	uint64_t tag;
	uint32_t nslots, nfree;
	uint32_t *free_slots; /* a stack of free slot numbers */
	struct zc_slot *slots;
};

/* The pool of @h among @fx's, its buffer and index there; 0, -EINVAL (none of them) or -ESTALE. */
static int fixed_find(const struct iobuf_uring_fixed *fx, iobuf_handle_t h, int *which, uint8_t **addr)
{
	for (int i = 0; i < fx->npools; i++) {
		const struct iobuf_pool *p = fx->pools[i];

		if (index_in(p, h) < shape_of(p)->capacity) {
			*addr = iobuf_pool_buf(p, h);
			*which = i;
			return *addr ? 0 : -ESTALE;
		}
	}
	return -EINVAL;
}

struct iobuf_uring_fixed *iobuf_uring_fixed_create(struct io_uring *ring, const struct iobuf_uring_fixed_config *cfg,
						     struct iobuf_uring_fixed_report *report, int *err)
{
	struct iobuf_uring_fixed *fx = NULL;
	struct iobuf_uring_fixed_report rep;
	struct iovec iov[IOBUF_TIER_COUNT];
	struct io_uring_probe *probe;
	int rc;

	memset(&rep, 0, sizeof(rep));
	if (err)
		*err = 0;
	if (!ring || !cfg || !cfg->set == !cfg->pool || (cfg->flags & ~(unsigned)IOBUF_URING_FIXED_FALLBACK)) {
		rc = -EINVAL;
		goto fail;
	}
	fx = calloc(1, sizeof(*fx));
	if (!fx) {
		rc = -ENOMEM;
		goto fail;
	}
	fx->ring = ring;
	fx->cache = cfg->cache;
	fx->tag = cfg->user_data_tag ? cfg->user_data_tag : ZC_TAG_DEFAULT;
	if (cfg->pool) {
		fx->pools[fx->npools++] = cfg->pool;
	} else {
		for (int t = 0; t < IOBUF_TIER_COUNT; t++) {
			struct iobuf_pool *p = iobuf_set_pool(cfg->set, t);

			if (p)
				fx->pools[fx->npools++] = p;
		}
	}
	for (int i = 0; i < fx->npools; i++) {
		const struct iobuf_arena *a = iobuf_pool_arena(fx->pools[i]);

		iov[i].iov_base = a->base;
		iov[i].iov_len = a->size;
		rep.asked += a->size;
	}
	rep.iovecs = (uint32_t)fx->npools;
	fx->nslots = cfg->zc_slots ? cfg->zc_slots : ZC_SLOTS_DEFAULT;
	fx->slots = calloc(fx->nslots, sizeof(*fx->slots));
	fx->free_slots = calloc(fx->nslots, sizeof(*fx->free_slots));
	if (!fx->slots || !fx->free_slots) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint32_t i = 0; i < fx->nslots; i++)
		fx->free_slots[i] = fx->nslots - 1 - i;
	fx->nfree = fx->nslots;
	probe = io_uring_get_probe_ring(ring);
	if (probe) {
		fx->send_zc = io_uring_opcode_supported(probe, IORING_OP_SEND_ZC) != 0;
		io_uring_free_probe(probe);
	}
	rc = io_uring_register_buffers(ring, iov, (unsigned)fx->npools);
	if (rc < 0) {
		struct rlimit rl;

		rep.err = rc;
		if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
			rep.memlock_cur = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
			rep.memlock_max = rl.rlim_max == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_max;
		}
		if (!(cfg->flags & IOBUF_URING_FIXED_FALLBACK))
			goto fail;
		rc = 0;
	} else {
		fx->registered = true;
		rep.registered = true;
	}
	if (report)
		*report = rep;
	return fx;
fail:
	if (fx) {
		free(fx->slots);
		free(fx->free_slots);
		free(fx);
	}
	if (report)
		*report = rep;
	if (err)
		*err = rc;
	return NULL;
}

static void zc_release(struct iobuf_uring_fixed *fx, uint32_t slot)
{
	struct zc_slot *s = &fx->slots[slot];

	put_handle(s->pool, fx->cache, s->h);
	memset(s, 0, sizeof(*s));
	fx->free_slots[fx->nfree++] = slot;
}

void iobuf_uring_fixed_destroy(struct iobuf_uring_fixed *fx)
{
	if (!fx)
		return;
	for (uint32_t i = 0; i < fx->nslots; i++)
		if (fx->slots[i].busy)
			zc_release(fx, i);
	if (fx->registered)
		io_uring_unregister_buffers(fx->ring);
	free(fx->slots);
	free(fx->free_slots);
	free(fx);
}

bool iobuf_uring_fixed_registered(const struct iobuf_uring_fixed *fx)
{
	return fx && fx->registered;
}

int iobuf_uring_fixed_report_print(const struct iobuf_uring_fixed_report *r, FILE *out)
{
	char cur[32], max[32];
	int n;

	if (!r || !out)
		return -EINVAL;
	if (r->registered || r->err == 0) {
		n = fprintf(out, "io_uring: %" PRIu32 " arenas registered as fixed buffers (%" PRIu64 " bytes pinned)\n",
			    r->iovecs, r->asked);
	} else {
		if (r->memlock_cur == UINT64_MAX)
			snprintf(cur, sizeof(cur), "unlimited");
		else
			snprintf(cur, sizeof(cur), "%" PRIu64 " bytes", r->memlock_cur);
		if (r->memlock_max == UINT64_MAX)
			snprintf(max, sizeof(max), "unlimited");
		else
			snprintf(max, sizeof(max), "%" PRIu64, r->memlock_max);
		n = fprintf(out,
			    "io_uring: registering %" PRIu32 " arenas as fixed buffers refused: %s: asked to pin %" PRIu64
			    " bytes, RLIMIT_MEMLOCK is %s (hard %s); raise it (ulimit -l, LimitMEMLOCK=) or grant "
			    "CAP_IPC_LOCK, or run unregistered (IOBUF_URING_FIXED_FALLBACK)\n",
			    r->iovecs, strerror(-r->err), r->asked, cur, max);
	}
	return n < 0 || ferror(out) ? -EIO : 0;
}

int iobuf_uring_fixed_buf(const struct iobuf_uring_fixed *fx, iobuf_handle_t h, struct iobuf_uring_buf *out)
{
	uint8_t *addr;
	int which, rc;

	if (!fx || !out)
		return -EINVAL;
	rc = fixed_find(fx, h, &which, &addr);
	if (rc < 0)
		return rc;
	out->addr = addr;
	out->len = shape_of(fx->pools[which])->buf_size;
	out->index = fx->registered ? which : -1;
	return 0;
}

/* Check @h and the range [@off, @off + @len) of its buffer; the buffer's address and fixed index. */
static int fixed_range(const struct iobuf_uring_fixed *fx, iobuf_handle_t h, size_t off, size_t len,
		       struct iobuf_uring_buf *b, int *which)
{
	uint8_t *addr;
	int rc = fixed_find(fx, h, which, &addr);

	if (rc < 0)
		return rc;
	b->len = shape_of(fx->pools[*which])->buf_size;
	if (off > b->len || len > b->len - off || len > UINT32_MAX)
		return -EINVAL;
	b->addr = addr + off;
	b->index = fx->registered ? *which : -1;
	return 0;
}

int iobuf_uring_fixed_prep_write(const struct iobuf_uring_fixed *fx, struct io_uring_sqe *sqe, int fd,
				 iobuf_handle_t h, size_t off, size_t len)
{
	struct iobuf_uring_buf b;
	int which, rc;

	if (!fx || !sqe || fd < 0)
		return -EINVAL;
	rc = fixed_range(fx, h, off, len, &b, &which);
	if (rc < 0)
		return rc;
	/* File offset 0: a socket refuses any other (-ESPIPE), a pipe ignores it. */
	if (b.index >= 0)
		io_uring_prep_write_fixed(sqe, fd, b.addr, (unsigned)len, 0, b.index);
	else
		io_uring_prep_write(sqe, fd, b.addr, (unsigned)len, 0);
	return 0;
}

int iobuf_uring_fixed_send_zc(struct iobuf_uring_fixed *fx, int fd, iobuf_handle_t h, size_t off, size_t len,
			      int msg_flags, uint64_t cookie)
{
	struct iobuf_uring_buf b;
	struct io_uring_sqe *sqe;
	struct zc_slot *s;
	uint32_t slot;
	int which, rc;

	if (!fx || fd < 0)
		return -EINVAL;
	rc = fixed_range(fx, h, off, len, &b, &which);
	if (rc < 0)
		return rc;
	if (!fx->send_zc)
		return -EOPNOTSUPP;
	if (fx->nfree == 0)
		return -EBUSY;
	/* The send's own holder, put at the notification; the caller keeps its own. */
	rc = iobuf_pool_hold(fx->pools[which], h, 1);
	if (rc < 0)
		return rc;
	sqe = io_uring_get_sqe(fx->ring);
	if (!sqe) {
		/* Drops the holder just added: the caller's remains, so the buffer goes nowhere. */
		iobuf_pool_put(fx->pools[which], h);
		return -EBUSY;
	}
	slot = fx->free_slots[--fx->nfree];
	s = &fx->slots[slot];
	s->h = h;
	s->pool = fx->pools[which];
	s->cookie = cookie;
	s->busy = true;
	s->sent = false;
	if (b.index >= 0)
		io_uring_prep_send_zc_fixed(sqe, fd, b.addr, len, msg_flags, 0, (unsigned)b.index);
	else
		io_uring_prep_send_zc(sqe, fd, b.addr, len, msg_flags, 0);
	io_uring_sqe_set_data64(sqe, (fx->tag << ZC_TAG_SHIFT) | slot);
	return 0;
}

bool iobuf_uring_fixed_owns(const struct iobuf_uring_fixed *fx, const struct io_uring_cqe *cqe)
{
	return fx && cqe && (cqe->user_data >> ZC_TAG_SHIFT) == fx->tag;
}

int iobuf_uring_fixed_complete(struct iobuf_uring_fixed *fx, const struct io_uring_cqe *cqe,
			       struct iobuf_uring_zc_event *ev)
{
	struct zc_slot *s;
	uint64_t slot;

	if (!fx || !cqe || !ev || !iobuf_uring_fixed_owns(fx, cqe))
		return -EINVAL;
	slot = cqe->user_data & ((UINT64_C(1) << ZC_TAG_SHIFT) - 1);
	if (slot >= fx->nslots || !fx->slots[slot].busy)
		return -EINVAL;
	s = &fx->slots[slot];
	memset(ev, 0, sizeof(*ev));
	ev->cookie = s->cookie;
	if (cqe->flags & IORING_CQE_F_NOTIF) {
		if (!s->sent)
			return -EINVAL; /* the kernel posts the send's completion first */
		ev->notif = true;
		ev->released = true;
		zc_release(fx, (uint32_t)slot);
		return 0;
	}
	if (s->sent)
		return -EINVAL;
	s->sent = true;
	ev->res = cqe->res;
	if (!(cqe->flags & IORING_CQE_F_MORE)) {
		/* No notification follows (the send failed before taking the buffer). */
		ev->released = true;
		zc_release(fx, (uint32_t)slot);
	}
	return 0;
}

int iobuf_uring_fixed_inflight(const struct iobuf_uring_fixed *fx)
{
	return fx ? (int)(fx->nslots - fx->nfree) : -EINVAL;
}
