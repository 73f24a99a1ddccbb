// The seed article's JS driver, run against our transform's output: node is a second engine
// checking the same module. Usage: node sleep.cjs module.wasm
const fs = require("fs");

const DATA_ADDR = 16; // where the unwind/rewind data structure lives
let sleeping = false;
let wasm;

const imports = {
  env: {
    before() {
      console.log("before!");
      setTimeout(() => console.log("(an event that happens during the sleep)"), 100);
    },
    sleep(ms) {
      if (!sleeping) {
        console.log("sleep...");
        const view = new Int32Array(wasm.memory.buffer);
        view[DATA_ADDR >> 2] = DATA_ADDR + 8;
        view[(DATA_ADDR + 4) >> 2] = 1024;
        wasm.asyncify_start_unwind(DATA_ADDR);
        sleeping = true;
        setTimeout(() => {
          console.log("timeout ended, starting to rewind the stack");
          wasm.asyncify_start_rewind(DATA_ADDR);
          wasm.main();
        }, ms / 10);
      } else {
        console.log("...resume");
        wasm.asyncify_stop_rewind();
        sleeping = false;
      }
    },
    after() {
      console.log("after!");
    },
  },
};

const compiled = new WebAssembly.Module(fs.readFileSync(process.argv[2]));
wasm = new WebAssembly.Instance(compiled, imports).exports;
wasm.main();
console.log("stack unwound");
wasm.asyncify_stop_unwind();
