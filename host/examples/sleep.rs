//! The seed article's JavaScript example, in Rust: a module calls `before`, sleeps through an
//! async import (a tokio timer), then calls `after`; a task logs an event while it sleeps.
//!
//! Run: `cargo run -p asyncify-host --example sleep`

use std::time::{Duration, Instant};

use asyncify_host::{Buffer, Ctx, Linker};
use wasmtime::{Caller, Engine, FuncType, Module, ValType};

const MODULE: &str = r#"(module
  (import "env" "before" (func $before))
  (import "env" "sleep" (func $sleep (param i32)))
  (import "env" "after" (func $after))
  (memory (export "memory") 1 1)
  (func (export "main")
    (call $before)
    (call $sleep (i32.const 500))
    (call $after)))"#;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let start = Instant::now();
    let stamp = move || format!("[{:>4} ms]", start.elapsed().as_millis());
    // The transform runs here so the example is self-contained; a build would run the
    // `asyncify` CLI instead.
    let wasm = asyncify::transform(MODULE.as_bytes(), &asyncify::Options::default())?.wasm;
    let engine = Engine::default();
    let module = Module::new(&engine, wasm)?;
    let mut linker = Linker::<()>::new(&engine);
    linker
        .inner()
        .func_wrap("env", "before", move |_: Caller<'_, Ctx<()>>| {
            println!("{} before!", stamp());
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(200)).await;
                println!("{} (an event that happens during the sleep)", stamp());
            });
        })?;
    linker
        .inner()
        .func_wrap("env", "after", move |_: Caller<'_, Ctx<()>>| {
            println!("{} after!", stamp())
        })?;
    linker.func_async(
        "env",
        "sleep",
        FuncType::new(&engine, [ValType::I32], []),
        move |_, args| {
            let ms = args[0].unwrap_i32() as u64;
            println!(
                "{} sleep {ms} ms (the wasm stack unwinds; tokio runs other tasks)",
                stamp()
            );
            Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                println!("{} ...resume (rewinding)", stamp());
                Ok(vec![])
            })
        },
    )?;
    let mut instance = linker.instantiate(
        &module,
        (),
        Buffer::Fixed {
            addr: 16,
            size: 1024,
        },
    )?;
    instance.call_async("main", &[]).await?;
    println!("{} main returned", stamp());
    Ok(())
}
