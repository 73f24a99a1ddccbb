// conditionals: selects and ternaries in a tight loop.
#include "bench.h"

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    int32_t a = 0, b = 1, c = 2;
    for (int outer = 0; outer < size * 100; outer++) {
        pause();
        for (int i = 0; i < 100000; i++) {
            a = (i & 1) ? a + b : a - c;
            b = (a > b) ? b + 1 : b - 1;
            c = (c < 1000) ? c * 2 + (i & 3) : c / 3;
            a = a > 100000 ? a % 977 : a;
        }
    }
    bench_checksum((uint64_t)(uint32_t)a * 1000003u + (uint32_t)b * 31u + (uint32_t)c);
    return 0;
}
