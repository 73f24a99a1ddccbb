// primes: counts primes by trial division.
#include "bench.h"

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    int limit = size * 20000, found = 0;
    uint64_t sum = 0;
    for (int n = 2; n < limit; n++) {
        if (n % 1000 == 0) pause();
        int prime = 1;
        for (int d = 2; d * d <= n; d++) if (n % d == 0) { prime = 0; break; }
        if (prime) { found++; sum += n; }
    }
    bench_checksum(sum * 1000 + found % 1000);
    return 0;
}
