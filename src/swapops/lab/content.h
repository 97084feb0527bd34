/* Page contents as a pure function of (seed, page, version): the C twin of
 * swapops/content.py (the definition and its documentation live there;
 * tests/test_content.py checks both give byte-identical pages).
 *
 * The class thresholds are integers computed by swapops (content.thresholds),
 * so no floating point is involved on this side. */
#ifndef SWAPOPS_CONTENT_H
#define SWAPOPS_CONTENT_H

#include <stdint.h>
#include <string.h>

#define SWAPOPS_PAGE_SIZE 4096
#define SWAPOPS_GOLDEN 0x9E3779B97F4A7C15ULL
#define SWAPOPS_SEED_SALT 0x632BE59BD9B4E019ULL
#define SWAPOPS_SAME_SALT 0xD1B54A32D192ED03ULL
#define SWAPOPS_POOL_SALT 0xA0761D6478BD642FULL
#define SWAPOPS_POOL_WORDS ((65536 + SWAPOPS_PAGE_SIZE) / 8)
#define SWAPOPS_TAG 16
#define SWAPOPS_BODY (SWAPOPS_PAGE_SIZE - SWAPOPS_TAG)

enum swapops_kind { SWAPOPS_ZERO, SWAPOPS_SAME, SWAPOPS_RANDOM, SWAPOPS_CORPUS };

struct swapops_content {
	uint64_t salt;
	uint32_t zero_thr, same_thr, rand_thr; /* cumulative, units of 2^-32 */
	int zero_all, same_all, rand_all;      /* a threshold of 2^32: every x is below */
	const unsigned char *corpus;           /* n_corpus pages back to back */
	unsigned n_corpus;
	unsigned char pool[SWAPOPS_POOL_WORDS * 8];
};

static inline uint64_t swapops_mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

static inline void swapops_put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* thresholds: as content.thresholds(); a value of 2^32 (every page) is passed as 4294967296 */
static inline void swapops_content_init(struct swapops_content *c, uint64_t seed, uint64_t zero_thr,
					uint64_t same_thr, uint64_t rand_thr,
					const unsigned char *corpus, unsigned n_corpus)
{
	c->salt = swapops_mix64(seed * SWAPOPS_GOLDEN + SWAPOPS_SEED_SALT);
	c->zero_all = zero_thr >= (1ULL << 32);
	c->same_all = same_thr >= (1ULL << 32);
	c->rand_all = rand_thr >= (1ULL << 32);
	c->zero_thr = (uint32_t)zero_thr;
	c->same_thr = (uint32_t)same_thr;
	c->rand_thr = (uint32_t)rand_thr;
	c->corpus = corpus;
	c->n_corpus = n_corpus;
	uint64_t s = swapops_mix64(c->salt ^ SWAPOPS_POOL_SALT);
	for (uint64_t i = 0; i < SWAPOPS_POOL_WORDS; i++)
		swapops_put64(c->pool + 8 * i, swapops_mix64(s + (i + 1) * SWAPOPS_GOLDEN));
}

static inline uint64_t swapops_ck(uint64_t page, uint64_t version)
{
	return (page << 32) | version;
}

static inline uint64_t swapops_hash(const struct swapops_content *c, uint64_t ck)
{
	return swapops_mix64(c->salt + ck * SWAPOPS_GOLDEN);
}

static inline enum swapops_kind swapops_kind_of(const struct swapops_content *c, uint64_t h)
{
	uint32_t x = (uint32_t)h;
	if (c->zero_all || x < c->zero_thr)
		return SWAPOPS_ZERO;
	if (c->same_all || x < c->same_thr)
		return SWAPOPS_SAME;
	if (c->rand_all || x < c->rand_thr)
		return SWAPOPS_RANDOM;
	return SWAPOPS_CORPUS;
}

/* The 4096 bytes of content key ck, written to out; returns the class. */
static inline enum swapops_kind swapops_page(const struct swapops_content *c, uint64_t ck, unsigned char *out)
{
	uint64_t h = swapops_hash(c, ck);
	enum swapops_kind kind = swapops_kind_of(c, h);
	uint64_t k = h >> 32;

	if (kind == SWAPOPS_ZERO) {
		memset(out, 0, SWAPOPS_PAGE_SIZE);
		return kind;
	}
	if (kind == SWAPOPS_SAME) {
		uint64_t w = swapops_mix64(h ^ SWAPOPS_SAME_SALT);
		unsigned char word[8];
		if (!w)
			w = 1;
		swapops_put64(word, w);
		for (int i = 0; i < SWAPOPS_PAGE_SIZE; i += 8)
			memcpy(out + i, word, 8);
		return kind;
	}
	swapops_put64(out, ck);
	swapops_put64(out + 8, h);
	if (kind == SWAPOPS_RANDOM) {
		memcpy(out + SWAPOPS_TAG, c->pool + (k & 0xFFFF), SWAPOPS_BODY);
		return kind;
	}
	const unsigned char *src = c->corpus + (size_t)((k & 0xFFFF) % c->n_corpus) * SWAPOPS_PAGE_SIZE;
	unsigned off = (unsigned)((k >> 16) & 0xFFF);
	unsigned first = SWAPOPS_PAGE_SIZE - off; /* bytes before the cyclic read wraps */
	if (first >= SWAPOPS_BODY) {
		memcpy(out + SWAPOPS_TAG, src + off, SWAPOPS_BODY);
	} else {
		memcpy(out + SWAPOPS_TAG, src + off, first);
		memcpy(out + SWAPOPS_TAG + first, src, SWAPOPS_BODY - first);
	}
	return kind;
}

#endif
