// matrix: dense double-precision matrix multiplication.
#include "bench.h"
#include <math.h>

enum { N = 64 };
static double x[N][N], y[N][N], z[N][N];

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) { x[i][j] = (i + j) % 7 * 0.25; y[i][j] = (i * j) % 5 * 0.5; }
    double trace = 0;
    for (int rep = 0; rep < size * 20; rep++) {
        pause();
        for (int i = 0; i < N; i++)
            for (int j = 0; j < N; j++) {
                double s = 0;
                for (int k = 0; k < N; k++) s += x[i][k] * y[k][j];
                z[i][j] = s;
            }
        for (int i = 0; i < N; i++) { trace += z[i][i]; x[i][(i + rep) % N] += 0.125; }
    }
    bench_checksum((uint64_t)llround(trace));
    return 0;
}
