// The seed article's C example, for wasm32-wasi: an "infinite" loop polls a timer that only
// the host can fire, and sleeps through an imported function between polls. With asyncify,
// every sleep is a real return to the host.
#include <stdio.h>

__attribute__((import_module("env"), import_name("start_timer"))) void start_timer(int ms);
__attribute__((import_module("env"), import_name("check_timer"))) int check_timer(void);
__attribute__((import_module("env"), import_name("sleep_ms"))) void sleep_ms(int ms);

int main(void) {
    start_timer(500);
    int polls = 0;
    while (1) {
        if (check_timer()) {
            printf("timer happened after %d polls!\n", polls);
            return 0;
        }
        printf("sleeping...\n");
        polls++;
        sleep_ms(100);
    }
}

// The host keeps the asyncify data structure and its stack here, away from the heap.
static int unwind_buffer[4096];
__attribute__((export_name("asyncify_buffer"))) int *asyncify_buffer(void) { return unwind_buffer; }
