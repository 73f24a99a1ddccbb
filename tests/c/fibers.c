// Coroutines in C on Asyncify's in-module API (the `asyncify.*` imports): three fibers pass
// values around. Every switch goes through fiber_switch(to, value, &from), the runtime's *top*
// (it calls start_unwind and stop_rewind): when the scheduler rewinds a fiber, the rewind
// re-enters fiber_switch, which then reads its pointer arguments and writes *from. That only
// works if the transform re-enters the paused call with the arguments of the pause (the rewind
// contract); fiber_switch checks them too. The scheduler is the runtime's *bottom* (it calls
// stop_unwind and start_rewind) and runs the fibers through a function pointer.
#include <stdio.h>
#include <stdlib.h>

#define ASYNCIFY(name) __attribute__((import_module("asyncify"), import_name(#name)))
ASYNCIFY(start_unwind) void asyncify_start_unwind(void *data);
ASYNCIFY(stop_unwind) void asyncify_stop_unwind(void);
ASYNCIFY(start_rewind) void asyncify_start_rewind(void *data);
ASYNCIFY(stop_rewind) void asyncify_stop_rewind(void);

enum { NEW, RUNNING, PAUSED, DONE };
#define NFIB 3
#define STACK_WORDS 2048

typedef struct fiber {
    void *pos, *end; // Asyncify's data structure: stack position and end (must come first)
    int id, status, rounds;
    long long (*body)(struct fiber *self, int rounds);
    struct fiber *to; // the switch that paused: target and value
    int value;
    int inbox; // what the last switch to this fiber handed over, and from whom
    int from;
    long long result;
    long long stack[STACK_WORDS];
} fiber;

static fiber fibers[NFIB];
static fiber *current;
static int rewinding;
static int senders[NFIB];
static int switches;
// Fibers log here and main prints: a call with varargs would give a fiber a frame on the one
// C shadow stack, which fibers that unwind do not give back.
static struct { int fiber, round, got, from; } trace[1024];
static int traced;

__attribute__((noinline)) int fiber_switch(fiber *to, int value, int *from) {
    if (!rewinding) {
        current->to = to;
        current->value = value;
        current->status = PAUSED;
        current->pos = current->stack;
        current->end = current->stack + STACK_WORDS;
        asyncify_start_unwind(current);
        return 0;
    }
    asyncify_stop_rewind();
    rewinding = 0;
    current->status = RUNNING;
    if (to != current->to || value != current->value) {
        printf("fiber %d: fiber_switch re-entered with (%p, %d) but paused with (%p, %d)\n",
               current->id, (void *)to, value, (void *)current->to, current->value);
        exit(3);
    }
    *from = current->from;
    return current->inbox * 4 + to->id;
}

// One step of a fiber, called through a function pointer: pauses below an indirect call.
typedef int (*step_fn)(fiber *self, int i);

static int step_next(fiber *self, int i) {
    fiber *to = &fibers[(self->id + 1) % NFIB];
    return fiber_switch(to, self->id * 1000 + i, &senders[self->id]);
}

static int step_skip(fiber *self, int i) {
    fiber *to = &fibers[(self->id + 2) % NFIB];
    int got = fiber_switch(to, -(self->id * 1000 + i), &senders[self->id]);
    return got ^ 0x55;
}

static step_fn steps[2] = {step_next, step_skip};

static long long ring(fiber *self, int rounds) {
    long long acc = self->id + 1;
    for (int i = 0; i < rounds; i++) {
        int got = steps[(i + self->id) % 2](self, i);
        acc = acc * 31 + got + senders[self->id] * 7;
        if (i % 4 == 0 && traced < 1024) {
            trace[traced].fiber = self->id;
            trace[traced].round = i;
            trace[traced].got = got;
            trace[traced].from = senders[self->id];
            traced++;
        }
    }
    return acc;
}

// The next fiber that can run after `f` (itself if no other one can), or NULL.
static fiber *next_runnable(fiber *f) {
    for (int k = 0; k <= NFIB; k++) {
        fiber *g = &fibers[(f->id + k) % NFIB];
        if (g->status != DONE)
            return g;
    }
    return NULL;
}

static void schedule(void) {
    fiber *f = &fibers[0];
    int value = 0, from = 0;
    while (f) {
        current = f;
        f->inbox = value;
        f->from = from;
        if (f->status == PAUSED) {
            rewinding = 1;
            asyncify_start_rewind(f);
        }
        f->status = RUNNING;
        long long r = f->body(f, f->rounds);
        if (f->status == PAUSED) {
            asyncify_stop_unwind();
            switches++;
            value = f->value;
            from = f->id;
            f = next_runnable(f->to);
        } else {
            f->status = DONE;
            f->result = r;
            value = -1;
            from = f->id;
            f = next_runnable(f);
        }
    }
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 20;
    for (int i = 0; i < NFIB; i++) {
        fibers[i].id = i;
        fibers[i].status = NEW;
        fibers[i].rounds = rounds + i * 3;
        fibers[i].body = ring;
    }
    schedule();
    for (int k = 0; k < traced; k++)
        printf("fiber %d round %d: got %d from %d\n", trace[k].fiber, trace[k].round, trace[k].got,
               trace[k].from);
    long long sum = 0;
    for (int i = 0; i < NFIB; i++) {
        printf("fiber %d: %lld\n", i, fibers[i].result);
        sum = sum * 1000003 + fibers[i].result;
    }
    printf("switches: %d\nchecksum: %lld\n", switches, sum);
    return 0;
}
