// Shared by the codec macro-benchmarks: deterministic, text-like input (words, numbers and
// line breaks), so every codec sees the same compressible data.
#ifndef DATA_H
#define DATA_H
#include "../micro/bench.h"
#include <string.h>

static const char *const data_words[] = {
    "asyncify", "unwind", "rewind", "stack", "frame", "local", "call", "pause", "resume",
    "the", "a", "of", "and", "to", "in", "is", "module", "function", "memory", "import",
    "export", "global", "table", "loop", "block", "branch", "value", "result",
};

// Fills buf with n bytes of pseudo-text.
static void data_fill(unsigned char *buf, size_t n) {
    size_t i = 0, nwords = sizeof data_words / sizeof *data_words;
    while (i < n) {
        uint32_t r = bench_rand();
        if (r % 11 == 0) {
            int len = snprintf((char *)buf + i, n - i, "%u", r % 100000);
            i += len < 0 ? n - i : (size_t)len > n - i ? n - i : (size_t)len;
        } else {
            for (const char *w = data_words[r % nwords]; *w && i < n; w++) buf[i++] = *w;
        }
        if (i < n) buf[i++] = r % 17 == 0 ? '\n' : ' ';
    }
}

// Folds a block's compressed size and bytes into the running checksum.
static uint64_t data_fold(uint64_t sum, const unsigned char *p, size_t n) {
    sum = sum * 1000003 + n;
    for (size_t i = 0; i < n; i++) sum = sum * 31 + p[i];
    return sum;
}

// Aborts with a message when a round trip did not give the input back.
static void data_check(const char *codec, const unsigned char *a, const unsigned char *b,
                       size_t n, size_t got) {
    if (got != n || memcmp(a, b, n) != 0) {
        fprintf(stderr, "%s: round trip lost data (%zu of %zu bytes back)\n", codec, got, n);
        exit(1);
    }
}

enum { DATA_BLOCK = 64 * 1024 };
#endif
