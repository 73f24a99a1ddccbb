// Force-included into every Lua source (-include): Lua without setjmp. A Lua error prints its
// message and exits instead of unwinding to the nearest pcall; the benchmark scripts raise
// none. The string-hash seed is fixed so runs are deterministic.
#include <stdio.h>
#include <stdlib.h>
#define LUAI_THROW(L, c) \
    (fprintf(stderr, "lua: %s\n", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error"), exit(1))
#define LUAI_TRY(L, c, a) { a }
#define luai_jmpbuf int
#define luai_makeseed(L) 0u
// No <signal.h> without emulation: the hook flag only needs an int.
#define l_signalT int
