// Lua 5.4 (from lua-src) running two scripts of ours: binary-trees (allocation and GC) and a
// scimark-like numeric kernel (SOR, Monte Carlo, sparse matrix-vector, LU). The scripts call
// the C function `pause` once per outer iteration, from deep inside the interpreter.
#include "../micro/bench.h"
#include "lauxlib.h"
#include "lua.h"
#include "lualib.h"
#include <string.h>

static const char binary_trees[] =
    "local n = ...\n"
    "local function make(d)\n"
    "  if d == 0 then return {} end\n"
    "  d = d - 1\n"
    "  return { make(d), make(d) }\n"
    "end\n"
    "local function check(t)\n"
    "  if t[1] then return 1 + check(t[1]) + check(t[2]) end\n"
    "  return 1\n"
    "end\n"
    "local sum, maxd = 0, 10\n"
    "for iter = 1, n do\n"
    "  pause()\n"
    "  local long = make(maxd)\n"
    "  for d = 4, maxd, 2 do\n"
    "    for i = 1, 1 << (maxd - d + 2) do sum = sum + check(make(d)) end\n"
    "  end\n"
    "  sum = sum + check(long) * iter\n"
    "end\n"
    "return sum\n";

static const char scimark[] =
    "local n = ...\n"
    "local function sor(size, cycles)\n"
    "  local g = {}\n"
    "  for i = 1, size do local r = {}; for j = 1, size do r[j] = (i * j % 7) / 7 end; g[i] = r end\n"
    "  local omega = 1.25\n"
    "  for c = 1, cycles do\n"
    "    for i = 2, size - 1 do\n"
    "      local gi, gm, gp = g[i], g[i - 1], g[i + 1]\n"
    "      for j = 2, size - 1 do\n"
    "        gi[j] = omega * 0.25 * (gm[j] + gp[j] + gi[j - 1] + gi[j + 1]) + (1 - omega) * gi[j]\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "  local s = 0\n"
    "  for i = 1, size do for j = 1, size do s = s + g[i][j] end end\n"
    "  return s\n"
    "end\n"
    "local seed = 12345\n"
    "local function rand() seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 end\n"
    "local function montecarlo(samples)\n"
    "  local inside = 0\n"
    "  for i = 1, samples do local x, y = rand(), rand(); if x * x + y * y <= 1 then inside = inside + 1 end end\n"
    "  return inside * 4 / samples\n"
    "end\n"
    "local function sparse(size, nz, reps)\n"
    "  local val, col, row, x, y = {}, {}, {}, {}, {}\n"
    "  for i = 1, size do x[i] = rand() end\n"
    "  local k = 1\n"
    "  for r = 1, size do\n"
    "    row[r] = k\n"
    "    for j = 1, nz do col[k] = (r * 17 + j * 31) % size + 1; val[k] = rand(); k = k + 1 end\n"
    "  end\n"
    "  row[size + 1] = k\n"
    "  for rep = 1, reps do\n"
    "    for r = 1, size do\n"
    "      local s = 0\n"
    "      for i = row[r], row[r + 1] - 1 do s = s + x[col[i]] * val[i] end\n"
    "      y[r] = s\n"
    "    end\n"
    "  end\n"
    "  local s = 0\n"
    "  for i = 1, size do s = s + y[i] end\n"
    "  return s\n"
    "end\n"
    "local function lu(size)\n"
    "  local a = {}\n"
    "  for i = 1, size do local r = {}; for j = 1, size do r[j] = rand() + (i == j and size or 0) end; a[i] = r end\n"
    "  for k = 1, size do\n"
    "    local ak = a[k]\n"
    "    for i = k + 1, size do\n"
    "      local ai = a[i]\n"
    "      local f = ai[k] / ak[k]\n"
    "      ai[k] = f\n"
    "      for j = k + 1, size do ai[j] = ai[j] - f * ak[j] end\n"
    "    end\n"
    "  end\n"
    "  local d = 0\n"
    "  for i = 1, size do d = d + a[i][i] end\n"
    "  return d\n"
    "end\n"
    "local total = 0\n"
    "for iter = 1, n do\n"
    "  pause()\n"
    "  total = total + sor(60, 10) + montecarlo(20000) + sparse(500, 5, 20) + lu(40)\n"
    "end\n"
    "return math.floor(total * 1000)\n";

static int l_pause(lua_State *L) {
    (void)L;
    pause();
    return 0;
}

static uint64_t run(const char *name, const char *script, int size) {
    lua_State *L = luaL_newstate();
    static const luaL_Reg libs[] = {{LUA_GNAME, luaopen_base}, {LUA_STRLIBNAME, luaopen_string},
                                    {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math}};
    for (size_t i = 0; i < sizeof libs / sizeof *libs; i++) {
        luaL_requiref(L, libs[i].name, libs[i].func, 1);
        lua_pop(L, 1);
    }
    lua_register(L, "pause", l_pause);
    if (luaL_loadbufferx(L, script, strlen(script), name, "t") != LUA_OK) {
        fprintf(stderr, "lua: %s\n", lua_tostring(L, -1));
        exit(1);
    }
    lua_pushinteger(L, size);
    lua_call(L, 1, 1);
    uint64_t result = (uint64_t)lua_tointeger(L, -1);
    lua_close(L);
    return result;
}

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    uint64_t sum = run("binary-trees", binary_trees, size);
    sum = sum * 1000003 + run("scimark", scimark, size);
    bench_checksum(sum);
    return 0;
}
