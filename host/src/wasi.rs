//! WASI preview1 alongside asyncify, with `poll_oneoff` as an async, pausing import.
//!
//! C's `sleep`, `usleep` and `nanosleep` become `poll_oneoff` with one clock subscription.
//! [`add_async_poll_oneoff`] replaces wasmtime-wasi's blocking version with one that writes
//! the events at once (the program cannot observe memory while it is paused) and then awaits
//! a tokio timer for the earliest clock timeout, so the thread stays free for other tasks.
//! The module must have been asyncified with `poll_oneoff` among the imports that may pause
//! (the default, or `--imports wasi_snapshot_preview1.poll_oneoff,...`).

use std::time::Duration;

use wasmtime::{Caller, FuncType, Val, ValType};

use crate::{Ctx, ImportFuture, Linker};

const SUBSCRIPTION_SIZE: usize = 48;
const EVENT_SIZE: usize = 32;
const EVENTTYPE_CLOCK: u8 = 0;
const SUBCLOCKFLAGS_ABSTIME: u16 = 1;
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_FAULT: i32 = 21;
const ERRNO_INVAL: i32 = 28;

/// Adds WASI preview1 (wasmtime-wasi's async version, which runs inside
/// [`crate::Instance::call_async`]) and the async `poll_oneoff` to `linker`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    wasi: impl Fn(&mut T) -> &mut wasmtime_wasi::p1::WasiP1Ctx + Copy + Send + Sync + 'static,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p1::add_to_linker_async(linker.inner(), move |c: &mut Ctx<T>| {
        wasi(&mut c.data)
    })?;
    linker.use_async_calls();
    add_async_poll_oneoff(linker)
}

/// Defines `wasi_snapshot_preview1.poll_oneoff` as an async import (shadowing a blocking one).
pub fn add_async_poll_oneoff<T: Send + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    let engine = linker.inner().engine().clone();
    let ty = FuncType::new(
        &engine,
        [ValType::I32, ValType::I32, ValType::I32, ValType::I32],
        [ValType::I32],
    );
    linker.func_async(
        "wasi_snapshot_preview1",
        "poll_oneoff",
        ty,
        |caller, args| {
            let (errno, wait) = match poll(caller, args) {
                Ok(wait) => (ERRNO_SUCCESS, wait),
                Err(errno) => (errno, Duration::ZERO),
            };
            Box::pin(async move {
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                Ok(vec![Val::I32(errno)])
            }) as ImportFuture
        },
    )?;
    Ok(())
}

/// Reads the subscriptions, writes the events that the earliest timeout fires (or that are
/// ready at once), and returns how long to wait.
fn poll<T>(caller: &mut Caller<'_, Ctx<T>>, args: &[Val]) -> Result<Duration, i32> {
    let (subs, events, n, nevents) = (
        args[0].unwrap_i32() as u32 as usize,
        args[1].unwrap_i32() as u32 as usize,
        args[2].unwrap_i32() as u32 as usize,
        args[3].unwrap_i32() as u32 as usize,
    );
    if n == 0 {
        return Err(ERRNO_INVAL);
    }
    let memory = caller
        .get_export("memory")
        .and_then(|e| e.into_memory())
        .ok_or(ERRNO_FAULT)?;
    let mut raw = vec![0u8; n * SUBSCRIPTION_SIZE];
    memory
        .read(&mut *caller, subs, &mut raw)
        .map_err(|_| ERRNO_FAULT)?;
    let u64_at = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    // (userdata, type, wait in ns); fd subscriptions are reported ready at once.
    let mut ready: Vec<(u64, u8, u64)> = Vec::with_capacity(n);
    for s in raw.chunks(SUBSCRIPTION_SIZE) {
        let userdata = u64_at(s, 0);
        let tag = s[8];
        let wait = if tag == EVENTTYPE_CLOCK {
            let timeout = u64_at(s, 24);
            let flags = u16::from_le_bytes([s[40], s[41]]);
            if flags & SUBCLOCKFLAGS_ABSTIME != 0 {
                timeout.saturating_sub(now)
            } else {
                timeout
            }
        } else {
            0
        };
        ready.push((userdata, tag, wait));
    }
    let min = ready.iter().map(|r| r.2).min().unwrap_or(0);
    let fired: Vec<&(u64, u8, u64)> = ready.iter().filter(|r| r.2 == min).collect();
    let mut out = vec![0u8; fired.len() * EVENT_SIZE];
    for (e, (userdata, tag, _)) in out.chunks_mut(EVENT_SIZE).zip(fired.iter().copied()) {
        e[0..8].copy_from_slice(&userdata.to_le_bytes());
        e[10] = *tag;
    }
    memory
        .write(&mut *caller, events, &out)
        .map_err(|_| ERRNO_FAULT)?;
    memory
        .write(&mut *caller, nevents, &(fired.len() as u32).to_le_bytes())
        .map_err(|_| ERRNO_FAULT)?;
    Ok(Duration::from_nanos(min))
}
