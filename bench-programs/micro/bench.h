// Shared by the micro-benchmarks: the pause point every program calls once per outer
// iteration (the import the *list* modes name), the size argument, and the checksum line.
#ifndef BENCH_H
#define BENCH_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

__attribute__((import_module("env"), import_name("pause"))) void pause(void);

// argv[1]: the size; 0 means start up and exit.
static int bench_size(int argc, char **argv) { return argc > 1 ? atoi(argv[1]) : 1; }

static void bench_checksum(uint64_t sum) { printf("checksum: %llu\n", (unsigned long long)sum); }

static uint32_t bench_rand_state = 42;
static uint32_t bench_rand(void) {
    bench_rand_state = bench_rand_state * 1664525u + 1013904223u;
    return bench_rand_state >> 8;
}
#endif
