// QuickJS (quickjs-ng, from rquickjs-sys) running a script of ours: binary-trees, JSON and
// regular-expression work and a numeric loop. The script calls the C function `pause` once
// per outer iteration, from inside the interpreter.
#include "../micro/bench.h"
#include "quickjs.h"
#include <string.h>

static const char script[] =
    "function make(d) { return d === 0 ? [null, null] : [make(d - 1), make(d - 1)]; }\n"
    "function check(t) { return t[0] === null ? 1 : 1 + check(t[0]) + check(t[1]); }\n"
    "let sum = 0;\n"
    "for (let iter = 1; iter <= N; iter++) {\n"
    "  pause();\n"
    "  const long = make(10);\n"
    "  for (let d = 4; d <= 10; d += 2)\n"
    "    for (let i = 0; i < (1 << (10 - d + 2)); i++) sum += check(make(d));\n"
    "  sum += check(long) * iter;\n"
    "  const items = [];\n"
    "  for (let i = 0; i < 300; i++)\n"
    "    items.push({ id: i, name: 'item-' + (i * 7919 % 1000), tags: ['a' + i % 7, 'b' + i % 3] });\n"
    "  const text = JSON.stringify(items);\n"
    "  const back = JSON.parse(text);\n"
    "  sum += text.length + back.length + text.match(/item-\\d+/g).length;\n"
    "  sum += text.replace(/[aeiou]/g, '').length;\n"
    "  let x = 0;\n"
    "  for (let i = 1; i < 20000; i++) x += Math.sqrt(i) * ((i * 2654435761) % 1000) / 1000;\n"
    "  sum += Math.floor(x);\n"
    "}\n"
    "sum;\n";

static JSValue js_pause(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv) {
    (void)ctx, (void)this_val, (void)argc, (void)argv;
    pause();
    return JS_UNDEFINED;
}

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    JSRuntime *rt = JS_NewRuntime();
    JSContext *ctx = JS_NewContext(rt);
    JSValue global = JS_GetGlobalObject(ctx);
    JS_SetPropertyStr(ctx, global, "pause", JS_NewCFunction(ctx, js_pause, "pause", 0));
    JS_SetPropertyStr(ctx, global, "N", JS_NewInt32(ctx, size));
    JS_FreeValue(ctx, global);
    JSValue result = JS_Eval(ctx, script, strlen(script), "bench.js", JS_EVAL_TYPE_GLOBAL);
    if (JS_IsException(result)) {
        JSValue e = JS_GetException(ctx);
        const char *msg = JS_ToCString(ctx, e);
        fprintf(stderr, "quickjs: %s\n", msg ? msg : "exception");
        return 1;
    }
    double value = 0;
    JS_ToFloat64(ctx, &value, result);
    JS_FreeValue(ctx, result);
    JS_FreeContext(ctx);
    JS_FreeRuntime(rt);
    bench_checksum((uint64_t)value);
    return 0;
}
