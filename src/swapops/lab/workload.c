/* swapops-workload: the lab's workload program, run inside a real Linux guest.
 *
 * It fills an anonymous region page by page with contents from the shared
 * generator (content.h, the twin of swapops/content.py), runs the scenario's
 * phases over it and verifies every byte it reads back. After each phase it
 * dumps the kernel's counters and its own page-table swap entries to a raw
 * disk with O_DIRECT (so the dump does not go through the page cache and
 * does not disturb reclaim). swapops.lab.workload builds the same phases as
 * an event stream for the mm model; `trace=1` prints the events this program
 * performs (a store with the content key it wrote), so a test can check the
 * two streams, and the model's page contents, are the same.
 *
 * Phases (comma separated, run in order; each page access is one event):
 *   fill          store to every page, first to last (version 1 of a new page)
 *   read          load and verify every page, first to last
 *   read:rev      the same, last to first
 *   rewrite:T     store to every page i (first to last) with sel(r, i) < T:
 *                 r counts rewrite phases from 1, sel as in swapops.lab.workload
 *   fork          fork a child; the phases up to `exit` run in the child, the
 *                 parent waits (so the order of events is fixed)
 *   exit          the child exits (its memory is freed)
 *   munmap        unmap the whole region
 * A store writes the page's next content: a page the process shares with its
 * parent (not yet written since the fork) is copied (COW) and becomes a new
 * page, numbered after every page that existed; otherwise its version grows.
 *
 * Usage:
 *   swapops-workload run seed=S pages=N zero=Z same=M random=R corpus=FILE
 *                    phases=P [thp=0|1] [dump=DEV dump_offset=BYTES] [trace=1]
 *   swapops-workload gen SEED Z M R CORPUS CK...   (pages of content keys to stdout)
 * Z, M, R are the cumulative class thresholds of swapops.content.thresholds().
 * Exit status: 0 ok, 2 bad usage, 3 a page read back differs, 4 a system call failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "content.h"

#define PAGE SWAPOPS_PAGE_SIZE
#define REWRITE_SALT 0x8CB92BA72F3D8DD7ULL
#define MAX_PHASES 64
#define TEXT_SPACE (512 * 1024)
#define HEADER 8192 /* the record header: text lines, NUL padded */
#define HUGE_SIZE (2UL << 20)

static struct swapops_content content;
static uint64_t seed, npages;
static int trace, thp;
static const char *dump_path;
static uint64_t *dump_cursor; /* shared with a child: the next free byte of the dump disk */
static uint64_t *next_page;    /* shared: the number the next new page gets */
static unsigned *dump_seq;
static unsigned char *dumpbuf;
static size_t dumpbuf_size;
static unsigned char *region;
static uint32_t *page_id, *page_ver; /* this process's view of every page */
static unsigned char *own;           /* written since the last fork (not shared with the parent) */
static unsigned char *scratch;
static int logical_pid = 1, next_logical_pid = 2;
static int mapped;

static void die(const char *what)
{
	fprintf(stderr, "swapops-workload: %s: %s\n", what, strerror(errno));
	exit(4);
}

static void usage(const char *msg)
{
	fprintf(stderr, "swapops-workload: %s\n", msg);
	exit(2);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rewrite_sel(uint64_t round, uint64_t i)
{
	uint64_t s = swapops_mix64(content.salt ^ REWRITE_SALT);
	return swapops_mix64(s + ((round << 32) | (i + 1)) * SWAPOPS_GOLDEN) & 0xFFFFFFFFULL;
}

/* The program's own memory: shared (so a child uses it without COW copies)
 * and locked in the parent (a page stays unevictable while one mapping of it
 * is locked), so only the region is ever reclaimed. */
static void *locked_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	if (mlock(p, size))
		die("mlock");
	return p;
}

static unsigned char *load_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st))
		die(path);
	unsigned char *buf = locked_alloc(st.st_size ? st.st_size : 1);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);
		if (n <= 0)
			die(path);
		got += n;
	}
	close(fd);
	*len = got;
	return buf;
}

/* ------------------------------------------------------------------ dumps */

static size_t put_file(size_t at, const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	size_t got = 0;
	for (;;) {
		if (at + got + PAGE > HEADER + TEXT_SPACE)
			break;
		ssize_t n = read(fd, dumpbuf + at + got, PAGE);
		if (n <= 0)
			break;
		got += n;
	}
	close(fd);
	return got;
}

static const char *const ZSWAP_FILES[] = {
	"pool_limit_hit", "reject_reclaim_fail", "reject_alloc_fail", "reject_kmemcache_fail",
	"reject_compress_fail", "reject_compress_poor", "written_back_pages", "pool_total_size",
	"stored_pages",
};

static void dump(const char *phase)
{
	if (!dump_path)
		return;
	char *hdr = (char *)dumpbuf;
	size_t at = HEADER, h = 0;
	memset(dumpbuf, 0, HEADER);
	h += snprintf(hdr + h, HEADER - h, "SWAPOPS-DUMP 1\nseq %u\nphase %s\npid %d\nos_pid %d\n",
		      (*dump_seq)++, phase, logical_pid, (int)getpid());
	static const struct { const char *name, *path; } files[] = {
		{"vmstat", "/proc/vmstat"},     {"meminfo", "/proc/meminfo"},
		{"zoneinfo", "/proc/zoneinfo"}, {"swaps", "/proc/swaps"},
		{"status", "/proc/self/status"},
	};
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		size_t n = put_file(at, files[f].path);
		h += snprintf(hdr + h, HEADER - h, "section %s %zu %zu\n", files[f].name, at, n);
		at += n;
	}
	for (size_t f = 0; f < sizeof(ZSWAP_FILES) / sizeof(ZSWAP_FILES[0]); f++) {
		char path[128];
		snprintf(path, sizeof(path), "/sys/kernel/debug/zswap/%s", ZSWAP_FILES[f]);
		size_t n = put_file(at, path);
		if (n)
			h += snprintf(hdr + h, HEADER - h, "section zswap/%s %zu %zu\n", ZSWAP_FILES[f], at, n);
		at += n;
	}
	static const char *const MTHP_SIZES[] = {"16kB", "32kB", "64kB", "128kB", "256kB", "512kB",
						 "1024kB", "2048kB"};
	static const char *const MTHP_STATS[] = {"anon_fault_alloc", "anon_fault_fallback", "swpout",
						 "swpout_fallback"};
	for (size_t s = 0; s < sizeof(MTHP_SIZES) / sizeof(MTHP_SIZES[0]); s++) {
		for (size_t f = 0; f < sizeof(MTHP_STATS) / sizeof(MTHP_STATS[0]); f++) {
			char path[160];
			snprintf(path, sizeof(path), "/sys/kernel/mm/transparent_hugepage/hugepages-%s/stats/%s",
				 MTHP_SIZES[s], MTHP_STATS[f]);
			size_t n = put_file(at, path);
			if (n)
				h += snprintf(hdr + h, HEADER - h, "section mthp/%s/%s %zu %zu\n", MTHP_SIZES[s],
					      MTHP_STATS[f], at, n);
			at += n;
		}
	}
	at = (at + 7) & ~(size_t)7;
	if (mapped) {
		int fd = open("/proc/self/pagemap", O_RDONLY);
		if (fd < 0)
			die("/proc/self/pagemap");
		size_t want = npages * 8, got = 0;
		off_t off = (off_t)((uintptr_t)region / PAGE) * 8;
		while (got < want) {
			ssize_t n = pread(fd, dumpbuf + at + got, want - got, off + got);
			if (n <= 0)
				die("pagemap");
			got += n;
		}
		close(fd);
		h += snprintf(hdr + h, HEADER - h, "section pagemap %zu %zu\n", at, want);
		at += want;
	}
	h += snprintf(hdr + h, HEADER - h, "end\n");
	if (h >= HEADER)
		usage("dump header overflow");
	size_t len = (at + 4095) & ~(size_t)4095;
	memset(dumpbuf + at, 0, len - at);
	int fd = open(dump_path, O_WRONLY | O_DIRECT);
	if (fd < 0)
		die(dump_path);
	ssize_t n = pwrite(fd, dumpbuf, len, (off_t)*dump_cursor);
	if (n != (ssize_t)len)
		die("dump write");
	close(fd);
	*dump_cursor += len;
}

/* ------------------------------------------------------------------ phases */

static void store(uint64_t i)
{
	if (!page_id[i] || !own[i]) { /* first store ever, or since the fork (COW): a new page */
		page_id[i] = (uint32_t)(*next_page)++;
		page_ver[i] = 1;
		own[i] = 1;
	} else {
		page_ver[i]++;
	}
	swapops_page(&content, swapops_ck(page_id[i], page_ver[i]), region + i * PAGE);
	if (trace)
		printf("W %d %llu %llu\n", logical_pid, (unsigned long long)i,
		       (unsigned long long)swapops_ck(page_id[i], page_ver[i]));
}

static void load(uint64_t i)
{
	volatile unsigned char *p = region + i * PAGE;
	if (trace)
		printf("R %d %llu\n", logical_pid, (unsigned long long)i);
	if (!page_id[i]) { /* never stored: the zero page */
		for (int b = 0; b < PAGE; b++)
			if (p[b])
				goto bad;
		return;
	}
	swapops_page(&content, swapops_ck(page_id[i], page_ver[i]), scratch);
	if (memcmp((const void *)p, scratch, PAGE) == 0)
		return;
bad:
	fprintf(stderr, "swapops-workload: VERIFY FAILED: page %llu (id %u version %u) differs\n",
		(unsigned long long)i, page_id[i], page_ver[i]);
	exit(3);
}

static void map_region(void)
{
	size_t len = npages * PAGE + (thp ? HUGE_SIZE : 0);
	unsigned char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap region");
	if (thp) { /* align to 2 MiB so PMD-sized folios fit; unmap the slack */
		uintptr_t a = ((uintptr_t)p + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
		if (a > (uintptr_t)p)
			munmap(p, a - (uintptr_t)p);
		size_t tail = (uintptr_t)p + len - (a + npages * PAGE);
		if (tail)
			munmap((void *)(a + npages * PAGE), tail);
		p = (unsigned char *)a;
	}
	if (madvise(p, npages * PAGE, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise");
	region = p;
	mapped = 1;
}

static uint32_t *child_id, *child_ver; /* the child's view (allocated, locked, up front) */

static int run(char *phases)
{
	char *list[MAX_PHASES];
	int n = 0;
	for (char *tok = strtok(phases, ","); tok; tok = strtok(NULL, ",")) {
		if (n == MAX_PHASES)
			usage("too many phases");
		list[n++] = tok;
	}
	pid_t child = 0;
	dump("start");
	for (int ph = 0; ph < n; ph++) {
		const char *p = list[ph];
		double t0 = now();
		if (!strcmp(p, "fill")) {
			if (!mapped)
				map_region();
			for (uint64_t i = 0; i < npages; i++)
				store(i);
		} else if (!strcmp(p, "read")) {
			for (uint64_t i = 0; i < npages; i++)
				load(i);
		} else if (!strcmp(p, "read:rev")) {
			for (uint64_t i = npages; i-- > 0;)
				load(i);
		} else if (!strncmp(p, "rewrite:", 8)) {
			uint64_t thr = strtoull(p + 8, NULL, 10);
			uint64_t rewrite_round = 0; /* rewrite phases of the list up to this one */
			for (int q = 0; q <= ph; q++)
				rewrite_round += !strncmp(list[q], "rewrite:", 8);
			for (uint64_t i = 0; i < npages; i++)
				if (rewrite_sel(rewrite_round, i) < thr)
					store(i);
		} else if (!strcmp(p, "fork")) {
			int kid = next_logical_pid++;
			if (trace) {
				printf("F %d %d\n", logical_pid, kid);
				fflush(stdout);
			}
			child = fork();
			if (child < 0)
				die("fork");
			if (child == 0) {
				if (logical_pid != 1)
					usage("a child cannot fork");
				logical_pid = kid;
				memcpy(child_id, page_id, npages * 4);
				memcpy(child_ver, page_ver, npages * 4);
				page_id = child_id;
				page_ver = child_ver;
				memset(own, 0, npages); /* the parent's own[] is not needed again */
			} else {
				int status;
				if (waitpid(child, &status, 0) < 0)
					die("waitpid");
				if (!WIFEXITED(status) || WEXITSTATUS(status))
					exit(WIFEXITED(status) ? WEXITSTATUS(status) : 4);
				/* the child ran the phases up to its exit (and dumped them): the parent
				 * dumps "exit", then goes on; its pages are its own again */
				while (ph < n && strcmp(list[ph], "exit"))
					ph++;
				if (ph == n)
					usage("fork without exit");
				p = list[ph];
				memset(own, 1, npages);
			}
		} else if (!strcmp(p, "exit")) {
			if (logical_pid == 1)
				usage("exit without fork");
			if (trace)
				printf("X %d\n", logical_pid);
			/* the parent dumps "exit" once this process is gone */
			fflush(stdout);
			_exit(0);
		} else if (!strcmp(p, "munmap")) {
			if (trace)
				printf("U %d %llu\n", logical_pid, (unsigned long long)npages);
			if (munmap(region, npages * PAGE))
				die("munmap");
			mapped = 0;
		} else {
			fprintf(stderr, "swapops-workload: unknown phase %s\n", p);
			exit(2);
		}
		if (!trace)
			printf("swapops-workload: phase %d %s pid %d %.2f s\n", ph, p, logical_pid, now() - t0);
		fflush(stdout);
		dump(p);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "gen")) {
		if (argc < 7)
			usage("gen SEED ZERO SAME RANDOM CORPUS CK...");
		size_t clen;
		unsigned char *corpus = load_file(argv[6], &clen);
		swapops_content_init(&content, strtoull(argv[2], NULL, 10), strtoull(argv[3], NULL, 10),
				     strtoull(argv[4], NULL, 10), strtoull(argv[5], NULL, 10), corpus,
				     (unsigned)(clen / PAGE));
		unsigned char page[PAGE];
		for (int a = 7; a < argc; a++) {
			swapops_page(&content, strtoull(argv[a], NULL, 10), page);
			if (fwrite(page, 1, PAGE, stdout) != PAGE)
				die("stdout");
		}
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "run"))
		usage("usage: swapops-workload run KEY=VALUE... | gen ...");
	char *phases = NULL;
	const char *corpus_path = NULL;
	uint64_t zt = 0, st = 0, rt = 0, dump_offset = 1 << 20;
	for (int a = 2; a < argc; a++) {
		char *eq = strchr(argv[a], '=');
		if (!eq)
			usage("arguments are KEY=VALUE");
		*eq = 0;
		const char *k = argv[a], *v = eq + 1;
		if (!strcmp(k, "seed")) seed = strtoull(v, NULL, 10);
		else if (!strcmp(k, "pages")) npages = strtoull(v, NULL, 10);
		else if (!strcmp(k, "zero")) zt = strtoull(v, NULL, 10);
		else if (!strcmp(k, "same")) st = strtoull(v, NULL, 10);
		else if (!strcmp(k, "random")) rt = strtoull(v, NULL, 10);
		else if (!strcmp(k, "corpus")) corpus_path = v;
		else if (!strcmp(k, "phases")) phases = strdup(v);
		else if (!strcmp(k, "thp")) thp = atoi(v);
		else if (!strcmp(k, "trace")) trace = atoi(v);
		else if (!strcmp(k, "dump")) dump_path = v;
		else if (!strcmp(k, "dump_offset")) dump_offset = strtoull(v, NULL, 10);
		else usage("unknown key");
	}
	if (!npages || !phases || !corpus_path)
		usage("pages, phases and corpus are required");
	size_t clen;
	unsigned char *corpus = load_file(corpus_path, &clen);
	swapops_content_init(&content, seed, zt, st, rt, corpus, (unsigned)(clen / PAGE));
	unsigned char *shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shared == MAP_FAILED || mlock(shared, PAGE))
		die("shared page");
	dump_cursor = (uint64_t *)shared;
	next_page = (uint64_t *)(shared + 8);
	dump_seq = (unsigned *)(shared + 16);
	*dump_cursor = dump_offset;
	*next_page = 1;
	page_id = locked_alloc(npages * 4);
	page_ver = locked_alloc(npages * 4);
	child_id = locked_alloc(npages * 4);
	child_ver = locked_alloc(npages * 4);
	own = locked_alloc(npages);
	scratch = locked_alloc(PAGE);
	dumpbuf_size = HEADER + TEXT_SPACE + ((npages * 8 + 4095) & ~(size_t)4095);
	dumpbuf = locked_alloc(dumpbuf_size);
	return run(phases);
}
