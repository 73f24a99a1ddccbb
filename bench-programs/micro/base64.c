// base64: encode and decode a buffer repeatedly.
#include "bench.h"
#include <string.h>

static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t encode(const unsigned char *in, size_t n, char *out) {
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = table[v >> 18 & 63];
        out[o++] = table[v >> 12 & 63];
        out[o++] = i + 1 < n ? table[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? table[v & 63] : '=';
    }
    return o;
}

static size_t decode(const char *in, size_t n, unsigned char *out) {
    static signed char rev[256];
    if (!rev['B']) { memset(rev, -1, sizeof rev); for (int i = 0; i < 64; i++) rev[(unsigned char)table[i]] = (signed char)i; }
    size_t o = 0;
    for (size_t i = 0; i + 3 < n; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char c = in[i + k];
            if (c == '=') { pad++; v <<= 6; } else v = v << 6 | (uint32_t)rev[(unsigned char)c];
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2) out[o++] = (unsigned char)(v >> 8);
        if (pad < 1) out[o++] = (unsigned char)v;
    }
    return o;
}

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    enum { N = 100000 };
    static unsigned char data[N], back[N];
    static char text[N * 4 / 3 + 8];
    for (int i = 0; i < N; i++) data[i] = (unsigned char)bench_rand();
    uint64_t sum = 0;
    for (int rep = 0; rep < size * 10; rep++) {
        pause();
        data[rep % N] ^= (unsigned char)rep;
        size_t t = encode(data, N - (rep % 3), text);
        size_t d = decode(text, t, back);
        sum += t + d + back[(rep * 101) % d] + (unsigned char)text[rep % t];
    }
    bench_checksum(sum);
    return 0;
}
