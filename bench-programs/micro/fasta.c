// fasta: random DNA sequences from weighted alphabets, hashed instead of printed.
#include "bench.h"
#include <string.h>

struct amino { char c; double p; };

static uint64_t hash = 1469598103934665603ull;
static void emit(char c) { hash = (hash ^ (unsigned char)c) * 1099511628211ull; }

static double last = 42;
static double gen_random(double max) {
    last = (last * 3877.0 + 29573.0);
    last = last - (double)(long)(last / 139968.0) * 139968.0;
    return max * last / 139968.0;
}

static void random_fasta(struct amino *genes, int count, int n) {
    double cp = 0;
    for (int i = 0; i < count; i++) { cp += genes[i].p; genes[i].p = cp; }
    for (int i = 0; i < n; i++) {
        if (i % 60 == 0) pause();
        double r = gen_random(1.0);
        int j = 0;
        while (j < count - 1 && r >= genes[j].p) j++;
        emit(genes[j].c);
    }
}

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    static const char alu[] = "GGCCGGGCGCGGTGGCTCACGCCTGTAATCCCAGCACTTTGGGAGGCCGAGGCGGGCGGATCACCTGAGGTCAGGAGTTCGAGACCAGCCTGGCCAACATGGTGAAACCCCGTCTCTACTAAAAATACAAAAATTAGCCGGG";
    int n = size * 10000;
    size_t len = strlen(alu);
    for (int i = 0; i < n * 2; i++) { if (i % 60 == 0) pause(); emit(alu[i % len]); }
    struct amino iub[] = {{'a', 0.27}, {'c', 0.12}, {'g', 0.12}, {'t', 0.27}, {'B', 0.02}, {'D', 0.02},
                          {'H', 0.02}, {'K', 0.02}, {'M', 0.02}, {'N', 0.02}, {'R', 0.02}, {'S', 0.02},
                          {'V', 0.02}, {'W', 0.02}, {'Y', 0.02}};
    random_fasta(iub, 15, n * 3);
    struct amino homo[] = {{'a', 0.3029549426680}, {'c', 0.1979883004921}, {'g', 0.1975473066391}, {'t', 0.3015094502008}};
    random_fasta(homo, 4, n * 5);
    bench_checksum(hash);
    return 0;
}
