// copy: element-wise copies between arrays of structs.
#include "bench.h"

struct item { int32_t a; int16_t b; uint8_t c; double d; };

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    enum { N = 10000 };
    static struct item src[N], dst[N];
    for (int i = 0; i < N; i++) { src[i].a = i; src[i].b = (int16_t)(i * 3); src[i].c = (uint8_t)i; src[i].d = i * 0.5; }
    uint64_t sum = 0;
    for (int iter = 0; iter < size * 100; iter++) {
        pause();
        for (int i = 0; i < N; i++) {
            int j = (i + iter) % N;
            dst[j].a = src[i].a + iter;
            dst[j].b = src[i].b;
            dst[j].c = src[i].c;
            dst[j].d = src[i].d * 1.0001;
        }
        sum += (uint64_t)dst[iter % N].a + dst[(iter * 31) % N].b + (uint64_t)dst[7].d;
    }
    bench_checksum(sum);
    return 0;
}
