// life: Conway's game of life on a torus, one generation per outer iteration.
#include "bench.h"
#include <string.h>

enum { W = 128, H = 128 };
static unsigned char grid[H][W], next[H][W];

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) grid[y][x] = bench_rand() % 3 == 0;
    for (int gen = 0; gen < size * 50; gen++) {
        pause();
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int n = 0;
                for (int dy = -1; dy <= 1; dy++)
                    for (int dx = -1; dx <= 1; dx++)
                        if (dx || dy) n += grid[(y + dy + H) % H][(x + dx + W) % W];
                next[y][x] = n == 3 || (n == 2 && grid[y][x]);
            }
        memcpy(grid, next, sizeof grid);
    }
    uint64_t alive = 0, hash = 0;
    for (int y = 0; y < H; y++) for (int x = 0; x < W; x++) { alive += grid[y][x]; hash = hash * 31 + grid[y][x]; }
    bench_checksum(alive * 1000003 + hash % 1000003);
    return 0;
}
