// fannkuch-redux: flips of pancake stacks over all permutations of n elements. Built with
// -DPAUSE_INNER (the switch stage's experiment) the pause point moves into the innermost loop.
#include "bench.h"

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    int n = size;
    int perm[16], perm1[16], count[16];
    int maxflips = 0, checksum = 0, permcount = 0;
    for (int i = 0; i < n; i++) perm1[i] = i;
    int r = n;
    for (;;) {
#ifndef PAUSE_INNER
        pause();
#endif
        while (r != 1) { count[r - 1] = r; r--; }
        for (int i = 0; i < n; i++) perm[i] = perm1[i];
        int flips = 0, k;
        while ((k = perm[0]) != 0) {
#ifdef PAUSE_INNER
            pause();
#endif
            for (int i = 0, j = k; i < j; i++, j--) { int t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
            flips++;
        }
        if (flips > maxflips) maxflips = flips;
        checksum += (permcount % 2 == 0) ? flips : -flips;
        for (;;) {
            if (r == n) {
                bench_checksum((uint64_t)(uint32_t)checksum * 100 + maxflips);
                return 0;
            }
            int p0 = perm1[0];
            for (int i = 0; i < r; i++) perm1[i] = perm1[i + 1];
            perm1[r] = p0;
            if (--count[r] > 0) break;
            r++;
        }
        permcount++;
    }
}
