// ifs: a loop full of data-dependent branches.
#include "bench.h"

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    uint64_t sum = 0;
    for (int outer = 0; outer < size * 100; outer++) {
        pause();
        for (int i = 0; i < 100000; i++) {
            uint32_t x = bench_rand();
            if (x & 1) sum += 3;
            else if (x & 2) sum ^= x;
            else if (x & 4) sum += x >> 3;
            else if (x & 8) sum -= 1;
            else sum *= 3;
            if ((x & 0xff) > 200) sum += i;
        }
    }
    bench_checksum(sum);
    return 0;
}
