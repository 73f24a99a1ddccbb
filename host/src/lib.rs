//! Run asyncified WebAssembly modules in wasmtime with **async Rust imports**.
//!
//! A module transformed by Asyncify (ours or Binaryen's) can unwind its call stack into a
//! buffer and later rewind it. This crate is the runtime that drives that protocol from Rust,
//! the way Emscripten's `Asyncify.handleSleep` does from JavaScript:
//!
//! - [`Linker::func_async`] registers an import whose Rust implementation returns a future.
//!   When wasm calls it, the host starts the future, unwinds the wasm stack, awaits the future
//!   (other tasks run meanwhile), rewinds, and hands the future's result to the import's second
//!   call. [`Instance::call_async`] hides the double call completely.
//! - [`Linker::func_yield`] registers a *yield point* for schedulers and CPU budgets:
//!   [`Instance::resume`] runs a [`Coroutine`] until it yields and gives control back; several
//!   coroutines share one instance, each with its own unwind buffer.
//! - [`wasi::add_async_poll_oneoff`] makes WASI's `poll_oneoff` (what C's `sleep`, `usleep` and
//!   `nanosleep` become) such an async import, so an unmodified C program's `sleep(1)` yields to
//!   tokio instead of blocking a thread.
//! - [`check`] is a WASI host that pauses at every import call and checks that each rewind
//!   re-enters the same import with the same arguments (the rewind contract), for tests and
//!   for the `asyncify-run` command.
//!
//! ```no_run
//! # async fn demo(engine: &wasmtime::Engine, module: &wasmtime::Module) -> wasmtime::Result<()> {
//! use asyncify_host::{Buffer, Linker};
//! use wasmtime::{FuncType, Val, ValType};
//! let mut linker = Linker::<()>::new(engine);
//! linker.func_async("env", "sleep", FuncType::new(engine, [ValType::I32], []), |_caller, args| {
//!     let ms = args[0].unwrap_i32() as u64;
//!     Box::pin(async move {
//!         tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
//!         Ok(vec![])
//!     })
//! })?;
//! let mut instance = linker.instantiate(module, (), Buffer::Fixed { addr: 16, size: 1024 })?;
//! instance.call_async("main", &[]).await?;
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

pub mod check;
mod error;
pub mod wasi;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use error::Error;
use wasmtime::{Caller, Engine, FuncType, Module, Store, TypedFunc, Val};

/// A wasmtime configuration suited to this crate: every pause and resume is a wasmtime async
/// call, and the pooling allocator reuses their fiber stacks (about 3x faster round trips
/// than fresh stacks, measured by `examples/roundtrip.rs`).
pub fn recommended_config() -> wasmtime::Config {
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
        wasmtime::PoolingAllocationConfig::default(),
    ));
    config
}

/// What an async import returns: a future with the import's results.
pub type ImportFuture = Pin<Box<dyn Future<Output = wasmtime::Result<Vec<Val>>> + Send + 'static>>;

/// What an import registered with [`Linker::func_maybe_async`] decides on each call.
pub enum Reply {
    /// Return these results at once: no pause, nothing unwinds.
    Now(Vec<Val>),
    /// Pause: unwind, await this future, rewind, return its results.
    Later(ImportFuture),
}

/// Where an unwind buffer lives in the module's memory. The first 8 bytes hold Asyncify's data
/// structure (stack position and end); the rest is the stack.
#[derive(Clone, Debug)]
pub enum Buffer {
    /// A region the embedder knows to be unused.
    Fixed { addr: u32, size: u32 },
    /// Call an exported `() -> i32` function that returns the address of a static buffer.
    Export { func: String, size: u32 },
    /// Call an exported allocator `(size) -> i32` (for example `malloc`).
    Malloc { func: String, size: u32 },
    /// Grow the exported `memory` by enough pages at instantiation and use them. A C
    /// program's allocator takes memory with `memory.grow` too, so it never hands these out.
    Grow { size: u32 },
}

/// The store's data: the embedder's `T` plus this crate's runtime state.
pub struct Ctx<T> {
    pub data: T,
    rt: RuntimeState,
}

#[derive(Default)]
struct RuntimeState {
    /// Address and size of the buffer of the call or coroutine that is running.
    buffer: u32,
    buffer_size: u32,
    /// The import that paused (its index) and, for async imports, its future.
    paused: Option<usize>,
    future: Option<ImportFuture>,
    /// Arguments of the yield import that paused, for the step-wise API.
    yielded: Option<Vec<Val>>,
    /// The results the paused import returns when it is re-entered during the rewind.
    results: Option<Vec<Val>>,
    /// A typed error raised inside an import, reported instead of wasmtime's generic one.
    error: Option<Error>,
    imports: Arc<Vec<String>>,
    /// The module's `asyncify_start_unwind`, `asyncify_stop_rewind` and memory.
    start_unwind: Option<TypedFunc<i32, ()>>,
    stop_rewind: Option<TypedFunc<(), ()>>,
    memory: Option<wasmtime::Memory>,
    /// Every call into wasm is an async wasmtime call ([`Linker::use_async_calls`]).
    async_calls: bool,
}

type AsyncFn<T> = dyn Fn(&mut Caller<'_, Ctx<T>>, &[Val]) -> Reply + Send + Sync + 'static;

/// A wasmtime linker for asyncified modules. Sync imports and WASI go through
/// [`Linker::inner`]; pausing imports through [`Linker::func_async`] and
/// [`Linker::func_yield`].
pub struct Linker<T: 'static> {
    inner: wasmtime::Linker<Ctx<T>>,
    imports: Vec<String>,
    pausing: Vec<Pausing<T>>,
    async_calls: bool,
}

impl<T: Send + 'static> Linker<T> {
    pub fn new(engine: &Engine) -> Self {
        let mut inner = wasmtime::Linker::new(engine);
        inner.allow_shadowing(true);
        Linker {
            inner,
            imports: Vec::new(),
            pausing: Vec::new(),
            async_calls: false,
        }
    }

    /// The wasmtime linker, for ordinary (non-pausing) imports and WASI.
    pub fn inner(&mut self) -> &mut wasmtime::Linker<Ctx<T>> {
        &mut self.inner
    }

    /// An import implemented by a future. `f` runs synchronously when wasm calls the import
    /// (it may read and write memory through the caller) and returns the future to await.
    pub fn func_async(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_, Ctx<T>>, &[Val]) -> ImportFuture + Send + Sync + 'static,
    ) -> wasmtime::Result<&mut Self> {
        self.func_maybe_async(module, name, ty, move |caller, args| {
            Reply::Later(f(caller, args))
        })
    }

    /// An import that decides on each call whether to pause: [`Reply::Now`] returns at once
    /// (as cheap as an ordinary import: nothing unwinds), [`Reply::Later`] pauses like
    /// [`Linker::func_async`]. For example a CPU budget that pauses every millionth call, or a
    /// sleep of zero that need not pause.
    pub fn func_maybe_async(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(&mut Caller<'_, Ctx<T>>, &[Val]) -> Reply + Send + Sync + 'static,
    ) -> wasmtime::Result<&mut Self> {
        let f: Arc<AsyncFn<T>> = Arc::new(f);
        self.pausing(module, name, ty, Some(f))
    }

    /// A yield point: calling it pauses the running [`Coroutine`], whose [`Instance::resume`]
    /// returns [`Step::Yielded`] with the import's arguments; the next `resume` supplies the
    /// import's results.
    pub fn func_yield(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
    ) -> wasmtime::Result<&mut Self> {
        self.pausing(module, name, ty, None)
    }

    fn pausing(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: Option<Arc<AsyncFn<T>>>,
    ) -> wasmtime::Result<&mut Self> {
        let index = self.imports.len();
        self.imports.push(format!("{module}.{name}"));
        let results = ty
            .results()
            .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
            .collect();
        self.pausing.push(Pausing {
            module: module.to_string(),
            name: name.to_string(),
            ty,
            index,
            full: format!("{module}.{name}").into(),
            results,
            f,
        });
        Ok(self)
    }

    /// Makes every call into wasm an async wasmtime call (on a fiber), which async wasmtime
    /// host functions (such as wasmtime-wasi's async WASI, which [`wasi::add_to_linker`]
    /// adds) require. Without them, calls are plain synchronous calls: a pause costs several
    /// times less.
    pub fn use_async_calls(&mut self) -> &mut Self {
        self.async_calls = true;
        self
    }

    /// Instantiates `module` (which must be asyncified) with `buffer` for `call_async`.
    /// A start function must not pause.
    pub fn instantiate(
        &self,
        module: &Module,
        data: T,
        buffer: Buffer,
    ) -> Result<Instance<T>, Error> {
        // The pausing imports call into wasm (to start an unwind or stop a rewind): as async
        // host functions when calls are async, as plain ones otherwise.
        let mut linker = self.inner.clone();
        for p in &self.pausing {
            let def = Arc::new(p.clone());
            if self.async_calls {
                linker.func_new_async(
                    &p.module,
                    &p.name,
                    p.ty.clone(),
                    move |mut caller, args, out| {
                        let def = def.clone();
                        Box::new(async move {
                            match def.enter(&mut caller, args, out)? {
                                Nested::None => {}
                                Nested::StartUnwind(buffer) => {
                                    let f = caller.data().rt.start_unwind.clone();
                                    f.expect("found at instantiation")
                                        .call_async(&mut caller, buffer)
                                        .await?
                                }
                                Nested::StopRewind => {
                                    let f = caller.data().rt.stop_rewind.clone();
                                    f.expect("found at instantiation")
                                        .call_async(&mut caller, ())
                                        .await?
                                }
                            }
                            Ok(())
                        })
                    },
                )
            } else {
                linker.func_new(
                    &p.module,
                    &p.name,
                    p.ty.clone(),
                    move |mut caller, args, out| {
                        match def.enter(&mut caller, args, out)? {
                            Nested::None => {}
                            Nested::StartUnwind(buffer) => {
                                let f = caller.data().rt.start_unwind.clone();
                                f.expect("found at instantiation")
                                    .call(&mut caller, buffer)?
                            }
                            Nested::StopRewind => {
                                let f = caller.data().rt.stop_rewind.clone();
                                f.expect("found at instantiation").call(&mut caller, ())?
                            }
                        }
                        Ok(())
                    },
                )
            }
            .map_err(Error::Instantiate)?;
        }
        let rt = RuntimeState {
            imports: Arc::new(self.imports.clone()),
            async_calls: self.async_calls,
            ..Default::default()
        };
        let mut store = Store::new(module.engine(), Ctx { data, rt });
        let instance = if self.async_calls {
            block_on(linker.instantiate_async(&mut store, module))
        } else {
            linker.instantiate(&mut store, module)
        }
        .map_err(Error::Instantiate)?;
        let api = Api::find(&mut store, &instance)?;
        let mut inst = Instance {
            store,
            instance,
            api,
            buffer: (0, 0),
        };
        inst.buffer = inst.allocate(&buffer)?;
        Ok(inst)
    }
}

/// A pausing import, registered into the wasmtime linker at instantiation.
struct Pausing<T: 'static> {
    module: String,
    name: String,
    ty: FuncType,
    index: usize,
    full: Arc<str>,
    results: Arc<[Val]>,
    /// `None`: a yield point.
    f: Option<Arc<AsyncFn<T>>>,
}

impl<T: 'static> Clone for Pausing<T> {
    fn clone(&self) -> Self {
        Pausing {
            module: self.module.clone(),
            name: self.name.clone(),
            ty: self.ty.clone(),
            index: self.index,
            full: self.full.clone(),
            results: self.results.clone(),
            f: self.f.clone(),
        }
    }
}

/// The call into wasm a pausing import makes before it returns.
enum Nested {
    None,
    StartUnwind(i32),
    StopRewind,
}

impl<T: 'static> Pausing<T> {
    /// A call of the import, up to the call into wasm it needs.
    fn enter(
        &self,
        caller: &mut Caller<'_, Ctx<T>>,
        args: &[Val],
        out: &mut [Val],
    ) -> wasmtime::Result<Nested> {
        // Only the host starts rewinds (and hands over the results for the re-entered import
        // then), so it knows the state without asking wasm.
        if caller.data().rt.results.is_none() {
            match &self.f {
                Some(f) => match f(caller, args) {
                    Reply::Now(values) => {
                        check_arity(caller, &self.full, &values, out.len())?;
                        out.clone_from_slice(&values);
                        return Ok(Nested::None);
                    }
                    Reply::Later(fut) => caller.data_mut().rt.future = Some(fut),
                },
                None => caller.data_mut().rt.yielded = Some(args.to_vec()),
            }
            caller.data_mut().rt.paused = Some(self.index);
            let (buffer, size) = (caller.data().rt.buffer, caller.data().rt.buffer_size);
            let memory = caller.data().rt.memory.expect("found at instantiation");
            let mut header = [0u8; 8];
            header[..4].copy_from_slice(&(buffer + 8).to_le_bytes());
            header[4..].copy_from_slice(&(buffer + size).to_le_bytes());
            memory.write(&mut *caller, buffer as usize, &header)?;
            out.clone_from_slice(&self.results);
            Ok(Nested::StartUnwind(buffer as i32))
        } else {
            let rt = &mut caller.data_mut().rt;
            if rt.paused != Some(self.index) {
                let expected = rt.paused.map(|i| rt.imports[i].clone()).unwrap_or_default();
                rt.error = Some(Error::WrongRewind {
                    expected,
                    got: self.full.to_string(),
                });
                wasmtime::bail!("rewound into the wrong import");
            }
            rt.paused = None;
            let values = rt.results.take().unwrap_or_default();
            check_arity(caller, &self.full, &values, out.len())?;
            out.clone_from_slice(&values);
            Ok(Nested::StopRewind)
        }
    }
}

/// Fails (with a typed error for the caller) when an import produced the wrong number of results.
fn check_arity<T>(
    caller: &mut Caller<'_, Ctx<T>>,
    import: &str,
    values: &[Val],
    expected: usize,
) -> wasmtime::Result<()> {
    if values.len() != expected {
        caller.data_mut().rt.error = Some(Error::Import {
            import: import.to_string(),
            message: format!("returned {} values, expected {expected}", values.len()),
        });
        wasmtime::bail!("wrong number of results");
    }
    Ok(())
}

struct Api {
    stop_unwind: TypedFunc<(), ()>,
    start_rewind: TypedFunc<i32, ()>,
}

impl Api {
    fn find<T>(store: &mut Store<Ctx<T>>, instance: &wasmtime::Instance) -> Result<Api, Error> {
        let missing = |name: &str| Error::NotAsyncified {
            missing: name.to_string(),
        };
        let stop_unwind = instance
            .get_typed_func(&mut *store, "asyncify_stop_unwind")
            .map_err(|_| missing("asyncify_stop_unwind"))?;
        let start_rewind = instance
            .get_typed_func(&mut *store, "asyncify_start_rewind")
            .map_err(|_| missing("asyncify_start_rewind"))?;
        instance
            .get_func(&mut *store, "asyncify_get_state")
            .ok_or_else(|| missing("asyncify_get_state"))?;
        // What the pausing imports call, found once.
        store.data_mut().rt.start_unwind = Some(
            instance
                .get_typed_func(&mut *store, "asyncify_start_unwind")
                .map_err(|_| missing("asyncify_start_unwind"))?,
        );
        store.data_mut().rt.stop_rewind = Some(
            instance
                .get_typed_func(&mut *store, "asyncify_stop_rewind")
                .map_err(|_| missing("asyncify_stop_rewind"))?,
        );
        store.data_mut().rt.memory = Some(
            instance
                .get_memory(&mut *store, "memory")
                .ok_or_else(|| Error::MissingExport("memory".into()))?,
        );
        Ok(Api {
            stop_unwind,
            start_rewind,
        })
    }
}

/// An instance of an asyncified module.
pub struct Instance<T: 'static> {
    store: Store<Ctx<T>>,
    instance: wasmtime::Instance,
    api: Api,
    /// The buffer `call_async` uses.
    buffer: (u32, u32),
}

/// What [`Instance::resume`] returned.
#[derive(Debug)]
pub enum Step {
    /// The coroutine called a yield import with these arguments and is paused.
    Yielded(Vec<Val>),
    /// The coroutine's export returned these results.
    Done(Vec<Val>),
}

/// A call of an export that can be paused and resumed step by step.
pub struct Coroutine {
    func: wasmtime::Func,
    args: Vec<Val>,
    /// Slots for the export's results, found once (a function type lookup per resume costs
    /// more than the rest of the host's work on a switch).
    results: Vec<Val>,
    buffer: (u32, u32),
    started: bool,
    done: bool,
    /// The yield import it paused in.
    paused: Option<usize>,
}

impl<T: Send + 'static> Instance<T> {
    pub fn store(&self) -> &Store<Ctx<T>> {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut Store<Ctx<T>> {
        &mut self.store
    }

    pub fn data(&self) -> &T {
        &self.store.data().data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.store.data_mut().data
    }

    pub fn instance(&self) -> wasmtime::Instance {
        self.instance
    }

    fn allocate(&mut self, buffer: &Buffer) -> Result<(u32, u32), Error> {
        let (addr, size) = match buffer {
            Buffer::Fixed { addr, size } => (*addr, *size),
            Buffer::Grow { size } => {
                let memory = self
                    .instance
                    .get_memory(&mut self.store, "memory")
                    .ok_or_else(|| Error::MissingExport("memory".into()))?;
                let pages = u64::from(*size).div_ceil(65536);
                let old = memory.grow(&mut self.store, pages).map_err(Error::Trap)?;
                let addr = u32::try_from(old * 65536)
                    .map_err(|_| Error::BufferTooSmall { size: *size })?;
                (addr, *size)
            }
            Buffer::Export { func, size } => {
                let f = self
                    .instance
                    .get_typed_func::<(), i32>(&mut self.store, func)
                    .map_err(|_| Error::MissingExport(func.clone()))?;
                (self.typed_call(&f, ()).map_err(Error::Trap)? as u32, *size)
            }
            Buffer::Malloc { func, size } => {
                let f = self
                    .instance
                    .get_typed_func::<i32, i32>(&mut self.store, func)
                    .map_err(|_| Error::MissingExport(func.clone()))?;
                let addr = self.typed_call(&f, *size as i32).map_err(Error::Trap)? as u32;
                if addr == 0 {
                    return Err(Error::BufferTooSmall { size: *size });
                }
                (addr, *size)
            }
        };
        if size < 16 {
            return Err(Error::BufferTooSmall { size });
        }
        Ok((addr, size - 8))
    }

    /// Calls `f` synchronously, or on wasmtime's async path when calls are async.
    fn typed_call<P, R>(&mut self, f: &TypedFunc<P, R>, params: P) -> wasmtime::Result<R>
    where
        P: wasmtime::WasmParams + Send + Sync,
        R: wasmtime::WasmResults + Send + Sync,
    {
        if self.store.data().rt.async_calls {
            block_on(f.call_async(&mut self.store, params))
        } else {
            f.call(&mut self.store, params)
        }
    }

    fn func(&mut self, name: &str) -> Result<wasmtime::Func, Error> {
        self.instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| Error::MissingExport(name.to_string()))
    }

    fn result_slots(&self, func: wasmtime::Func) -> Vec<Val> {
        func.ty(&self.store)
            .results()
            .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
            .collect()
    }

    /// Runs `func` once (on wasmtime's async call path, where the pausing imports and async
    /// WASI run); returns its results, or `None` when it returned because it unwound.
    async fn run_once(
        &mut self,
        func: wasmtime::Func,
        args: &[Val],
        mut out: Vec<Val>,
        rewinding: bool,
    ) -> Result<Option<Vec<Val>>, Error> {
        let result = if self.store.data().rt.async_calls {
            func.call_async(&mut self.store, args, &mut out).await
        } else {
            func.call(&mut self.store, args, &mut out)
        };
        self.after_run(result, out, rewinding)
    }

    fn after_run(
        &mut self,
        result: wasmtime::Result<()>,
        out: Vec<Val>,
        rewinding: bool,
    ) -> Result<Option<Vec<Val>>, Error> {
        // The host tracks the state itself (no call into wasm): an import that paused left
        // its index in `paused`; a rewind that has not reached its import yet still holds the
        // results it will return.
        let rt = &self.store.data().rt;
        let rewind_pending = rt.results.is_some();
        let unwinding = rt.paused.is_some() && !rewind_pending;
        if let Err(e) = result {
            if let Some(err) = self.store.data_mut().rt.error.take() {
                return Err(err);
            }
            return Err(if unwinding {
                Error::UnwindOverflow {
                    size: self.store.data().rt.buffer_size + 8,
                }
            } else if rewinding && rewind_pending {
                Error::TrapDuringRewind(e)
            } else {
                Error::Trap(e)
            });
        }
        if unwinding {
            let f = self.api.stop_unwind.clone();
            self.typed_call(&f, ()).map_err(Error::Trap)?;
            return Ok(None);
        }
        Ok(Some(out))
    }

    fn use_buffer(&mut self, (addr, size): (u32, u32)) {
        let rt = &mut self.store.data_mut().rt;
        rt.buffer = addr;
        rt.buffer_size = size;
    }

    fn rewind(&mut self, results: Vec<Val>) -> Result<(), Error> {
        self.store.data_mut().rt.results = Some(results);
        let buffer = self.store.data().rt.buffer as i32;
        let f = self.api.start_rewind.clone();
        self.typed_call(&f, buffer).map_err(Error::Trap)
    }

    /// Calls export `name`, awaiting every async import it calls (each one unwinds the wasm
    /// stack, awaits, and rewinds): to the caller it is an ordinary async call.
    pub async fn call_async(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let func = self.func(name)?;
        self.use_buffer(self.buffer);
        // A call that trapped during a rewind may have left its results behind.
        self.store.data_mut().rt.results = None;
        let slots = self.result_slots(func);
        let mut rewinding = false;
        loop {
            if let Some(out) = self.run_once(func, args, slots.clone(), rewinding).await? {
                return Ok(out);
            }
            let rt = &mut self.store.data_mut().rt;
            let import = rt.paused.map(|i| rt.imports[i].clone()).unwrap_or_default();
            let Some(fut) = rt.future.take() else {
                return Err(Error::Import {
                    import,
                    message: "a yield import paused a call_async; use a Coroutine".into(),
                });
            };
            let results = fut.await.map_err(|e| Error::Import {
                import,
                message: format!("{e:#}"),
            })?;
            self.rewind(results)?;
            rewinding = true;
        }
    }

    /// Calls an export that must not pause (for example an accessor), blocking the thread.
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let func = self.func(name)?;
        let mut out = self.result_slots(func);
        if self.store.data().rt.async_calls {
            block_on(func.call_async(&mut self.store, args, &mut out))
        } else {
            func.call(&mut self.store, args, &mut out)
        }
        .map_err(Error::Trap)?;
        Ok(out)
    }

    /// A coroutine running export `name` with its own unwind buffer. Nothing runs until the
    /// first [`Instance::resume`].
    pub fn coroutine(
        &mut self,
        name: &str,
        args: &[Val],
        buffer: Buffer,
    ) -> Result<Coroutine, Error> {
        let func = self.func(name)?;
        let buffer = self.allocate(&buffer)?;
        Ok(Coroutine {
            func,
            args: args.to_vec(),
            results: self.result_slots(func),
            buffer,
            started: false,
            done: false,
            paused: None,
        })
    }

    /// Runs `co` until it yields or finishes, blocking the thread: a synchronous scheduler's
    /// step. `results` are what the yield import returns (ignored on the first resume).
    /// (From async code, use [`Instance::resume_async`].)
    pub fn resume(&mut self, co: &mut Coroutine, results: Vec<Val>) -> Result<Step, Error> {
        block_on(self.resume_async(co, results))
    }

    /// [`Instance::resume`] for async code.
    pub async fn resume_async(
        &mut self,
        co: &mut Coroutine,
        results: Vec<Val>,
    ) -> Result<Step, Error> {
        if co.done {
            return Err(Error::Finished);
        }
        self.use_buffer(co.buffer);
        self.store.data_mut().rt.paused = co.paused.take();
        if co.started {
            self.rewind(results)?;
        } else {
            self.store.data_mut().rt.results = None;
        }
        let rewinding = co.started;
        co.started = true;
        match self
            .run_once(co.func, &co.args, co.results.clone(), rewinding)
            .await
        {
            Ok(Some(out)) => {
                co.done = true;
                Ok(Step::Done(out))
            }
            Ok(None) => {
                let rt = &mut self.store.data_mut().rt;
                match rt.yielded.take() {
                    Some(args) => {
                        co.paused = rt.paused.take();
                        Ok(Step::Yielded(args))
                    }
                    None => {
                        let import = rt.paused.map(|i| rt.imports[i].clone()).unwrap_or_default();
                        rt.future = None;
                        co.done = true;
                        Err(Error::Import {
                            import,
                            message: "an async import paused a coroutine; use call_async".into(),
                        })
                    }
                }
            }
            Err(e) => {
                co.done = true;
                Err(e)
            }
        }
    }
}

/// Drives a future to completion on this thread. The calls it is used for finish without
/// waiting on anything (the wasm runs on wasmtime's fiber, and yield imports never await), so
/// this only spins when an async import really waits, which `resume` documents.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
