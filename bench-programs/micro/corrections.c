// corrections: integer arithmetic that relies on 32-bit wrap-around and sign conversions.
#include "bench.h"

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    uint32_t u = 0;
    int32_t s = 0;
    int8_t small = 0;
    for (int outer = 0; outer < size * 100; outer++) {
        pause();
        for (int i = 0; i < 100000; i++) {
            u = u * 2654435761u + (uint32_t)i;
            s = (int32_t)(u >> 1) - s;
            small = (int8_t)(small + (int8_t)u);
            u ^= (uint32_t)(int32_t)small;
        }
    }
    bench_checksum(((uint64_t)u << 16) ^ (uint32_t)s ^ (uint8_t)small);
    return 0;
}
