// memops: memset, memcpy and memcmp over a buffer, many times.
#include "bench.h"
#include <string.h>

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    enum { N = 1 << 16 };
    static unsigned char a[N], b[N];
    uint64_t sum = 0;
    for (int iter = 0; iter < size * 200; iter++) {
        pause();
        memset(a, iter & 0xff, N);
        memcpy(b + (iter & 63), a, N - 64);
        b[iter % N] ^= 0x5a;
        sum += (unsigned)memcmp(a, b, N) + b[(iter * 7919) % N];
    }
    bench_checksum(sum);
    return 0;
}
