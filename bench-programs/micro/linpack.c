// linpack: LU factorisation with partial pivoting, then a solve (dgefa/dgesl).
#include "bench.h"
#include <math.h>

enum { N = 100 };
static double a[N][N], b[N];
static int ipvt[N];

static void dgefa(void) {
    for (int k = 0; k < N - 1; k++) {
        int l = k;
        double maxv = fabs(a[k][k]);
        for (int i = k + 1; i < N; i++) if (fabs(a[i][k]) > maxv) { maxv = fabs(a[i][k]); l = i; }
        ipvt[k] = l;
        if (a[l][k] == 0) continue;
        if (l != k) for (int j = 0; j < N; j++) { double t = a[l][j]; a[l][j] = a[k][j]; a[k][j] = t; }
        for (int i = k + 1; i < N; i++) {
            double f = a[i][k] / a[k][k];
            a[i][k] = f;
            for (int j = k + 1; j < N; j++) a[i][j] -= f * a[k][j];
        }
    }
    ipvt[N - 1] = N - 1;
}

static void dgesl(void) {
    for (int k = 0; k < N - 1; k++) {
        int l = ipvt[k];
        if (l != k) { double t = b[l]; b[l] = b[k]; b[k] = t; }
        for (int i = k + 1; i < N; i++) b[i] -= a[i][k] * b[k];
    }
    for (int k = N - 1; k >= 0; k--) {
        b[k] /= a[k][k];
        for (int i = 0; i < k; i++) b[i] -= a[i][k] * b[k];
    }
}

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    double total = 0;
    for (int rep = 0; rep < size * 10; rep++) {
        pause();
        for (int i = 0; i < N; i++) {
            b[i] = 0;
            for (int j = 0; j < N; j++) { a[i][j] = (double)(bench_rand() % 1000) / 500.0 - 1.0; }
            a[i][i] += N;
        }
        for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) b[i] += a[i][j];
        dgefa();
        dgesl();
        for (int i = 0; i < N; i++) total += b[i];
    }
    bench_checksum((uint64_t)llround(total * 1000));
    return 0;
}
