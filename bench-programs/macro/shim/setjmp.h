// Debian 12's wasi-libc has no <setjmp.h>. Lua's ldo.c includes it unconditionally; lua_wasi.h
// replaces the longjmp-based error handling, so nothing here is used.
#ifndef BENCH_SHIM_SETJMP_H
#define BENCH_SHIM_SETJMP_H
typedef int jmp_buf[1];
#endif
