//! WASI preview1 for asyncified modules, with plain synchronous calls into wasm.
//!
//! The WASI functions that wait for the world outside the program are pausing imports: by
//! default [`BLOCKING`], what C's `sleep()`, `read()` and `write()` become. Such a call
//! unwinds the wasm stack at once; the host then runs wasmtime-wasi's implementation of it
//! with the module's memory and the WASI context (nothing else uses them while the stack is
//! unwound), awaiting it on the embedder's tokio runtime while other tasks run, rewinds, and
//! the import's re-entry returns the result. So the real work happens once, between the two
//! calls of Binaryen's protocol, with the arguments of the first.
//!
//! Every other WASI function runs when it is called and blocks the calling thread until it is
//! done: wasmtime-wasi's synchronous ones as they are, and those it implements as futures
//! (files, descriptors, paths) driven to completion by `block_on` below, inside or outside a
//! tokio runtime. A call that is not paused and waits, such as a `sleep()` or a read of an
//! empty pipe left out of the pausing list, blocks the thread for as long as it waits.
//!
//! The module must have been asyncified with the pausing functions among the imports that
//! may pause (the transform's default: every import; or `--imports
//! wasi_snapshot_preview1.poll_oneoff,...` with [`add_to_linker_pausing`] given the same
//! list).

use std::future::Future;

use wasmtime::{AsContextMut, Caller};
use wasmtime_wasi::p1::wasi_snapshot_preview1::{self as p1, WasiSnapshotPreview1};
use wasmtime_wasi::p1::WasiP1Ctx;
use wiggle::GuestMemory;

use crate::{Ctx, Linker, StoreOp};

const MODULE: &str = "wasi_snapshot_preview1";

/// For WASI preview1's functions (name and wasm parameters; those that wasmtime-wasi implements
/// synchronously, then those it implements as futures): `define_all`, which defines each as a
/// plain import that runs on the calling thread (driving a future to completion there), and
/// `define_pausing`, which makes the future ones in `pausing` pausing imports whose work the
/// host does while the stack is unwound.
macro_rules! wasi_functions {
    (
        sync { $($sname:ident($($sa:ident: $st:ty),* $(,)?) -> $sr:ty;)* }
        futures { $($name:ident($($a:ident: $t:ty),* $(,)?);)* }
    ) => {
        const CAN_PAUSE: &[&str] = &[$(stringify!($name)),*];

        fn define_all<U: Send + 'static>(
            linker: &mut wasmtime::Linker<U>,
            wasi: impl Fn(&mut U) -> &mut WasiP1Ctx + Copy + Send + Sync + 'static,
        ) -> wasmtime::Result<()> {
            $(
                linker.func_wrap(
                    MODULE,
                    stringify!($sname),
                    move |mut caller: Caller<'_, U>, $($sa: $st),*| -> wasmtime::Result<$sr> {
                        with_wasi(&mut caller, wasi, |ctx, memory| {
                            p1::$sname(ctx, memory, $($sa),*)
                        })?
                    },
                )?;
            )*
            $(
                linker.func_wrap(
                    MODULE,
                    stringify!($name),
                    move |mut caller: Caller<'_, U>, $($a: $t),*| -> wasmtime::Result<i32> {
                        with_wasi(&mut caller, wasi, |ctx, memory| {
                            block_on(p1::$name(ctx, memory, $($a),*))
                        })?
                    },
                )?;
            )*
            Ok(())
        }

        fn define_pausing<T: Send + 'static>(
            linker: &mut Linker<T>,
            wasi: impl Fn(&mut T) -> &mut WasiP1Ctx + Copy + Send + Sync + 'static,
            pausing: &[&str],
        ) -> wasmtime::Result<()> {
            $(
                if pausing.contains(&stringify!($name)) {
                    linker.func_wrap_store_op(
                        MODULE,
                        stringify!($name),
                        move |caller, ($($a,)*): ($($t,)*)| -> StoreOp<T> {
                            let fuel = caller.as_context_mut().hostcall_fuel();
                            Box::new(move |memory, data| {
                                Box::pin(async move {
                                    let ctx = wasi(&mut data.data);
                                    ctx.set_hostcall_fuel(fuel);
                                    let mut memory = GuestMemory::Unshared(memory);
                                    p1::$name(ctx, &mut memory, $($a),*).await
                                })
                            })
                        },
                    )?;
                }
            )*
            Ok(())
        }
    };
}

/// The WASI functions [`add_to_linker`] makes pause: those that wait for time or for
/// input and output outside the program.
pub const BLOCKING: &[&str] = &[
    "poll_oneoff",
    "fd_read",
    "fd_write",
    "fd_pread",
    "fd_pwrite",
];

/// Adds WASI preview1 to `linker`, with [`BLOCKING`] pausing; `wasi` finds the WASI context in
/// the store's data.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    wasi: impl Fn(&mut T) -> &mut WasiP1Ctx + Copy + Send + Sync + 'static,
) -> wasmtime::Result<()> {
    add_to_linker_pausing(linker, wasi, BLOCKING)
}

/// [`add_to_linker`] with the WASI functions that pause named (`"poll_oneoff"`, ...): the ones
/// the module was asyncified to pause in. Only functions that wasmtime-wasi implements as
/// futures can pause; naming another is an error.
pub fn add_to_linker_pausing<T: Send + 'static>(
    linker: &mut Linker<T>,
    wasi: impl Fn(&mut T) -> &mut WasiP1Ctx + Copy + Send + Sync + 'static,
    pausing: &[&str],
) -> wasmtime::Result<()> {
    if let Some(name) = pausing.iter().find(|n| !CAN_PAUSE.contains(n)) {
        wasmtime::bail!(
            "{MODULE}.{name} cannot pause: the WASI functions that can are {}",
            CAN_PAUSE.join(", ")
        );
    }
    add_to_wasmtime_linker(linker.inner(), move |c: &mut Ctx<T>| wasi(&mut c.data))?;
    define_pausing(linker, wasi, pausing)
}

/// Adds WASI preview1 to a plain wasmtime linker, for modules that are not asyncified: every
/// function runs when it is called, on the calling thread (see the module's documentation),
/// with synchronous calls into wasm. It is the WASI of [`add_to_linker`] without the pauses,
/// so an uninstrumented module can be measured against an asyncified one on equal terms.
pub fn add_to_wasmtime_linker<U: Send + 'static>(
    linker: &mut wasmtime::Linker<U>,
    wasi: impl Fn(&mut U) -> &mut WasiP1Ctx + Copy + Send + Sync + 'static,
) -> wasmtime::Result<()> {
    define_all(linker, wasi)
}

// Not wasmtime-wasi's own synchronous linker functions: they run each future in a nested
// tokio runtime, which panics inside the embedder's.
wasi_functions! {
    sync {
        args_get(argv: i32, argv_buf: i32) -> i32;
        args_sizes_get(argc: i32, argv_buf_size: i32) -> i32;
        environ_get(environ: i32, environ_buf: i32) -> i32;
        environ_sizes_get(count: i32, buf_size: i32) -> i32;
        clock_res_get(id: i32, resolution: i32) -> i32;
        clock_time_get(id: i32, precision: i64, time: i32) -> i32;
        fd_allocate(fd: i32, offset: i64, len: i64) -> i32;
        fd_fdstat_set_flags(fd: i32, flags: i32) -> i32;
        fd_fdstat_set_rights(fd: i32, base: i64, inheriting: i64) -> i32;
        fd_prestat_get(fd: i32, prestat: i32) -> i32;
        fd_prestat_dir_name(fd: i32, path: i32, path_len: i32) -> i32;
        fd_tell(fd: i32, offset: i32) -> i32;
        proc_exit(rval: i32) -> ();
        proc_raise(sig: i32) -> i32;
        sched_yield() -> i32;
        random_get(buf: i32, buf_len: i32) -> i32;
        sock_accept(fd: i32, flags: i32, result_fd: i32) -> i32;
        sock_recv(
            fd: i32, ri_data: i32, ri_data_len: i32, ri_flags: i32, ro_datalen: i32, ro_flags: i32
        ) -> i32;
        sock_send(fd: i32, si_data: i32, si_data_len: i32, si_flags: i32, so_datalen: i32) -> i32;
        sock_shutdown(fd: i32, how: i32) -> i32;
    }
    futures {
        fd_advise(fd: i32, offset: i64, len: i64, advice: i32);
        fd_close(fd: i32);
        fd_datasync(fd: i32);
        fd_fdstat_get(fd: i32, stat: i32);
        fd_filestat_get(fd: i32, stat: i32);
        fd_filestat_set_size(fd: i32, size: i64);
        fd_filestat_set_times(fd: i32, atim: i64, mtim: i64, flags: i32);
        fd_read(fd: i32, iovs: i32, iovs_len: i32, nread: i32);
        fd_pread(fd: i32, iovs: i32, iovs_len: i32, offset: i64, nread: i32);
        fd_seek(fd: i32, offset: i64, whence: i32, newoffset: i32);
        fd_sync(fd: i32);
        fd_readdir(fd: i32, buf: i32, buf_len: i32, cookie: i64, bufused: i32);
        fd_write(fd: i32, iovs: i32, iovs_len: i32, nwritten: i32);
        fd_pwrite(fd: i32, iovs: i32, iovs_len: i32, offset: i64, nwritten: i32);
        fd_renumber(from: i32, to: i32);
        poll_oneoff(subs: i32, events: i32, nsubs: i32, nevents: i32);
        path_create_directory(fd: i32, path: i32, path_len: i32);
        path_filestat_get(fd: i32, flags: i32, path: i32, path_len: i32, stat: i32);
        path_filestat_set_times(
            fd: i32, flags: i32, path: i32, path_len: i32, atim: i64, mtim: i64, fst: i32
        );
        path_link(
            old_fd: i32, old_flags: i32, old_path: i32, old_len: i32,
            new_fd: i32, new_path: i32, new_len: i32
        );
        path_open(
            fd: i32, dirflags: i32, path: i32, path_len: i32, oflags: i32,
            rights_base: i64, rights_inheriting: i64, fdflags: i32, opened: i32
        );
        path_readlink(fd: i32, path: i32, path_len: i32, buf: i32, buf_len: i32, used: i32);
        path_remove_directory(fd: i32, path: i32, path_len: i32);
        path_rename(
            fd: i32, old_path: i32, old_len: i32, new_fd: i32, new_path: i32, new_len: i32
        );
        path_symlink(old_path: i32, old_len: i32, fd: i32, new_path: i32, new_len: i32);
        path_unlink_file(fd: i32, path: i32, path_len: i32);
    }
}

/// Runs `f` with the WASI context and the calling module's exported memory, the context's
/// hostcall fuel set from the store's (as wasmtime-wasi's own bindings do).
fn with_wasi<U, R>(
    caller: &mut Caller<'_, U>,
    wasi: impl Fn(&mut U) -> &mut WasiP1Ctx,
    f: impl FnOnce(&mut WasiP1Ctx, &mut GuestMemory<'_>) -> R,
) -> wasmtime::Result<R> {
    let fuel = caller.as_context_mut().hostcall_fuel();
    let Some(wasmtime::Extern::Memory(memory)) = caller.get_export("memory") else {
        wasmtime::bail!("WASI needs the module to export its memory as \"memory\"");
    };
    let (memory, data) = memory.data_and_store_mut(caller);
    let ctx = wasi(data);
    ctx.set_hostcall_fuel(fuel);
    Ok(f(ctx, &mut GuestMemory::Unshared(memory)))
}

/// Runs a future to completion, blocking the calling thread, wherever it is called from:
/// - outside any tokio runtime, on wasmtime-wasi's own (as its synchronous functions do);
/// - on a multi-threaded runtime's worker, in place (`block_in_place`), so the other workers
///   keep driving timers and I/O;
/// - on a current-thread runtime, which nothing else drives while this thread blocks, on a
///   helper thread with wasmtime-wasi's runtime (a thread per call: a function that waits
///   belongs in the pausing list anyway).
///
/// (wasmtime-wasi's own synchronous functions start a nested runtime, which panics inside
/// the embedder's.)
fn block_on<F>(fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Err(_) => wasmtime_wasi::runtime::in_tokio(fut),
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| h.block_on(fut))
        }
        Ok(_) => std::thread::scope(|s| {
            s.spawn(|| wasmtime_wasi::runtime::in_tokio(fut))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        }),
    }
}
