//! Run asyncified WebAssembly modules in wasmtime with **async Rust imports**.
//!
//! A module transformed by Asyncify (ours or Binaryen's) can unwind its call stack into a
//! buffer and later rewind it. This crate is the runtime that drives that protocol from Rust,
//! the way Emscripten's `Asyncify.handleSleep` does from JavaScript:
//!
//! - [`Linker::func_wrap_async`] registers a typed import whose Rust implementation returns a
//!   future, in the style of wasmtime's `func_wrap`. When wasm calls it, the host starts the
//!   future, unwinds the wasm stack, awaits the future (other tasks run meanwhile), rewinds,
//!   and hands the future's result to the import's second call.
//!   [`Instance::call_typed_async`] (or the untyped [`Instance::call_async`]) hides the double
//!   call completely. [`Linker::func_wrap_maybe_async`] decides per call whether to pause (CPU
//!   budgets); a call that does not pause allocates nothing. [`Linker::func_async`] and
//!   [`Linker::func_maybe_async`] are the untyped forms, for embedders that only know the
//!   types at run time.
//! - [`Linker::func_yield`] registers a *yield point* for schedulers and CPU budgets:
//!   [`Instance::resume`] runs a [`Coroutine`] until it yields and gives control back; several
//!   coroutines share one instance, each with its own unwind buffer.
//! - [`wasi::add_to_linker`] adds WASI preview1 whose waiting functions (`poll_oneoff`,
//!   `fd_read`, `fd_write`: what C's `sleep()`, `read()` and `write()` become) pause, so an
//!   unmodified C program's `sleep(1)` yields to tokio instead of blocking a thread.
//! - [`check`] is a WASI host that pauses at every import call and checks that each rewind
//!   re-enters the same import with the same arguments (the rewind contract), for tests and
//!   for the `asyncify-run` command.
//!
//! ```no_run
//! # async fn demo(engine: &wasmtime::Engine, module: &wasmtime::Module) -> Result<(), asyncify_host::Error> {
//! use asyncify_host::{Buffer, Linker};
//! let mut linker = Linker::<()>::new(engine);
//! linker
//!     .func_wrap_async("env", "sleep", |_caller, (ms,): (u32,)| async move {
//!         tokio::time::sleep(std::time::Duration::from_millis(ms.into())).await;
//!         Ok(())
//!     })
//!     .map_err(asyncify_host::Error::Instantiate)?;
//! let mut instance = linker.instantiate(module, (), Buffer::Fixed { addr: 16, size: 1024 })?;
//! let main = instance.typed_func::<(), ()>("main")?;
//! instance.call_typed_async(&main, ()).await?;
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

pub mod check;
mod error;
pub mod wasi;

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

pub use error::Error;
use wasmtime::{Caller, Engine, FuncType, Module, Store, TypedFunc, Val};

/// What an async import returns: a future with the import's results.
pub type ImportFuture = Pin<Box<dyn Future<Output = wasmtime::Result<Vec<Val>>> + Send + 'static>>;

/// What an import that may pause decides on each call: [`Linker::func_maybe_async`] (untyped,
/// the defaults) and [`Linker::func_wrap_maybe_async`] (typed results `R`, future `F`).
pub enum Reply<R = Vec<Val>, F = ImportFuture> {
    /// Return these results at once: no pause, nothing unwinds.
    Now(R),
    /// Pause: unwind, await this future, rewind, return its results.
    Later(F),
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

impl RuntimeState {
    /// The name of the import that paused, for errors.
    fn paused_import(&self) -> String {
        self.paused
            .map(|i| self.imports[i].clone())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct RuntimeState {
    /// Address and size of the buffer of the call or coroutine that is running.
    buffer: u32,
    buffer_size: u32,
    /// The import that paused (its index).
    paused: Option<usize>,
    /// The last paused async import's future and, once the host has awaited it, its
    /// results; kept for the next pause to reuse.
    pending: Option<Pin<Box<dyn Pending>>>,
    /// `pending` belongs to the pause under way.
    waiting: bool,
    /// The paused import's work with the store (a [`StoreOp`]), and once the host has done
    /// it, what the import returns at its re-entry.
    op: Slot,
    op_result: Option<wasmtime::Result<i32>>,
    /// Arguments of the yield import that paused (`Vec<Val>`, or a typed import's tuple).
    yielded: Slot,
    /// What the yield import returns when it is re-entered (given to `resume`).
    resumed: Slot,
    /// The host started a rewind that has not reached its import yet.
    rewinding: bool,
    /// A typed error raised inside an import, reported instead of wasmtime's generic one.
    error: Option<Error>,
    imports: Arc<Vec<String>>,
}

/// A paused import's future, with a place for its results once it is ready. Typed imports get
/// their results back without converting them to `Val`s, and the allocation is reused by the
/// next pause of an import with the same future type (so a loop of pauses allocates once).
trait Pending: Send {
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<wasmtime::Result<()>>;
    /// `&mut Option<R>` for the import's result type `R`.
    fn results(self: Pin<&mut Self>) -> &mut dyn Any;
    /// Takes the future out of `fut` (an `&mut Option<F>`) if it is of this one's type.
    fn refill(self: Pin<&mut Self>, fut: &mut dyn Any);
}

pin_project_lite::pin_project! {
    struct PendingImport<F, R> {
        #[pin]
        fut: Option<F>,
        results: Option<R>,
    }
}

impl<F, R> Pending for PendingImport<F, R>
where
    F: Future<Output = wasmtime::Result<R>> + Send + 'static,
    R: Send + 'static,
{
    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<wasmtime::Result<()>> {
        let mut this = self.project();
        let Some(fut) = this.fut.as_mut().as_pin_mut() else {
            return Poll::Ready(Ok(()));
        };
        let Poll::Ready(r) = fut.poll(cx) else {
            return Poll::Pending;
        };
        this.fut.set(None);
        Poll::Ready(r.map(|r| *this.results = Some(r)))
    }

    fn results(self: Pin<&mut Self>) -> &mut dyn Any {
        self.project().results
    }

    fn refill(self: Pin<&mut Self>, fut: &mut dyn Any) {
        if let Some(fut) = fut.downcast_mut::<Option<F>>() {
            let mut this = self.project();
            this.fut.set(fut.take());
            *this.results = None;
        }
    }
}

/// A value of any type, kept in an allocation that the next value of the same type reuses
/// (a coroutine's yields and resumes pass one of the same type at every switch).
#[derive(Default)]
struct Slot(Option<(Box<dyn Any + Send>, Empty)>);

/// Drops the value in a slot's allocation (it knows the value's type).
type Empty = fn(&mut dyn Any);

impl Slot {
    fn put<V: Send + 'static>(&mut self, v: V) {
        match self
            .0
            .as_mut()
            .and_then(|(b, _)| b.downcast_mut::<Option<V>>())
        {
            Some(place) => *place = Some(v),
            None => {
                let empty: Empty = |b| {
                    if let Some(place) = b.downcast_mut::<Option<V>>() {
                        *place = None;
                    }
                };
                self.0 = Some((Box::new(Some(v)), empty));
            }
        }
    }

    /// The value, if there is one of type `V`.
    fn take<V: 'static>(&mut self) -> Option<V> {
        self.0.as_mut()?.0.downcast_mut::<Option<V>>()?.take()
    }

    /// Drops the value, if any, and keeps the allocation.
    fn clear(&mut self) {
        if let Some((b, empty)) = &mut self.0 {
            empty(b.as_mut());
        }
    }
}

/// What an import that pauses with [`Linker::func_wrap_store_op`] leaves for the host: work
/// that needs the module's memory and the store's data, done while the wasm stack is
/// unwound (nothing else uses them then), awaited for as long as it takes.
pub(crate) type StoreOp<T> = Box<
    dyn for<'a> FnOnce(
            &'a mut [u8],
            &'a mut Ctx<T>,
        ) -> Pin<Box<dyn Future<Output = wasmtime::Result<i32>> + Send + 'a>>
        + Send,
>;

type AsyncFn<T> = dyn Fn(&mut Caller<'_, Ctx<T>>, &[Val]) -> Reply + Send + Sync + 'static;

/// What a pausing import calls in wasm, found once per instance after instantiation. The
/// import's closure holds it, so a call clones nothing.
struct ImportApi {
    start_unwind: TypedFunc<i32, ()>,
    stop_rewind: TypedFunc<(), ()>,
    memory: wasmtime::Memory,
}

type ApiCell = Arc<OnceLock<ImportApi>>;

/// Defines one pausing import in a wasmtime linker.
type Define<T> =
    Arc<dyn Fn(&mut wasmtime::Linker<Ctx<T>>, ApiCell) -> wasmtime::Result<()> + Send + Sync>;

/// A wasmtime linker for asyncified modules. Ordinary imports go through [`Linker::inner`],
/// WASI through [`wasi::add_to_linker`]; pausing imports through [`Linker::func_wrap_async`]
/// (typed), [`Linker::func_async`] (untyped) and [`Linker::func_yield`].
pub struct Linker<T: 'static> {
    inner: wasmtime::Linker<Ctx<T>>,
    imports: Vec<String>,
    pausing: Vec<Define<T>>,
}

impl<T: Send + 'static> Linker<T> {
    pub fn new(engine: &Engine) -> Self {
        let mut inner = wasmtime::Linker::new(engine);
        inner.allow_shadowing(true);
        Linker {
            inner,
            imports: Vec::new(),
            pausing: Vec::new(),
        }
    }

    /// The wasmtime linker, for ordinary (non-pausing) imports.
    pub fn inner(&mut self) -> &mut wasmtime::Linker<Ctx<T>> {
        &mut self.inner
    }

    /// A typed import implemented by a future, like wasmtime's `func_wrap`:
    /// `|caller, (ms,): (u32,)| async move { sleep(ms).await; Ok(()) }`. `f` runs
    /// synchronously when wasm calls the import (it may use the caller's memory) and returns
    /// the future; the call unwinds, the host awaits the future, rewinds, and the import's
    /// re-entry returns the future's results.
    pub fn func_wrap_async<P, R, Fut>(
        &mut self,
        module: &str,
        name: &str,
        f: impl Fn(&mut Caller<'_, Ctx<T>>, P) -> Fut + Send + Sync + 'static,
    ) -> wasmtime::Result<&mut Self>
    where
        P: ImportParams,
        R: ImportResults,
        Fut: Future<Output = wasmtime::Result<R>> + Send + 'static,
    {
        self.func_wrap_maybe_async(module, name, move |caller, params| {
            Reply::Later(f(caller, params))
        })
    }

    /// A typed import that decides on each call whether to pause ([`Reply::Now`]: return at
    /// once, with no allocation and no `Val`; [`Reply::Later`]: pause and await). For CPU
    /// budgets: `|_, (): ()| if budget_spent() { Reply::Later(async { yield_now().await; Ok(()) })
    /// } else { Reply::Now(()) }`.
    pub fn func_wrap_maybe_async<P, R, Fut>(
        &mut self,
        module: &str,
        name: &str,
        f: impl Fn(&mut Caller<'_, Ctx<T>>, P) -> Reply<R, Fut> + Send + Sync + 'static,
    ) -> wasmtime::Result<&mut Self>
    where
        P: ImportParams,
        R: ImportResults,
        Fut: Future<Output = wasmtime::Result<R>> + Send + 'static,
    {
        self.define_typed(module, name, move |caller, index, api, params| {
            enter(caller, index, api, |c| f(c, params))
        })
    }

    /// A typed yield point: calling it pauses the running [`TypedCoroutine`], whose
    /// [`Instance::resume_typed`] returns [`Step::Yielded`] with the import's parameters `P`;
    /// the next `resume_typed` supplies its results `R`.
    pub fn func_wrap_yield<P: ImportParams, R: ImportResults>(
        &mut self,
        module: &str,
        name: &str,
    ) -> wasmtime::Result<&mut Self> {
        self.define_typed(module, name, |caller, index, api, params: P| {
            if caller.data().rt.rewinding {
                let rt = &mut caller.data_mut().rt;
                rewound_into(rt, index)?;
                return match rt.resumed.take::<R>() {
                    Some(r) => Ok((r, Nested::StopRewind)),
                    None => {
                        rt.error = Some(Error::Import {
                            import: rt.imports[index].clone(),
                            message: format!(
                                "resumed without results of type {}",
                                std::any::type_name::<R>()
                            ),
                        });
                        wasmtime::bail!("resumed with results of another type")
                    }
                };
            }
            caller.data_mut().rt.yielded.put(params);
            Ok((R::default(), begin_unwind(caller, index, api)?))
        })
    }

    /// Defines a typed pausing import whose calls `handle` serves (its index, what it calls in
    /// wasm, the parameters).
    fn define_typed<P: ImportParams, R: ImportResults>(
        &mut self,
        module: &str,
        name: &str,
        handle: impl Fn(&mut Caller<'_, Ctx<T>>, usize, &ApiCell, P) -> wasmtime::Result<(R, Nested)>
            + Send
            + Sync
            + 'static,
    ) -> wasmtime::Result<&mut Self> {
        let index = self.add_import(module, name);
        let handle = Arc::new(handle);
        let (module, name) = (module.to_string(), name.to_string());
        self.pausing.push(Arc::new(move |linker, api| {
            let handle = handle.clone();
            P::wrap(linker, &module, &name, move |mut caller, params| {
                let (r, nested) = handle(&mut caller, index, &api, params)?;
                nested.run(&mut caller, &api)?;
                Ok(r)
            })
        }));
        Ok(self)
    }

    /// An import that pauses at every call and leaves the host work that needs the store
    /// (`make` builds it from the parameters): the host does it between the unwind and the
    /// rewind, with the memory and the store's data borrowed across its awaits, and the
    /// import's re-entry returns its result. This is how WASI's blocking calls pause: their
    /// implementations hold the memory and the WASI context while they wait.
    pub(crate) fn func_wrap_store_op<P: ImportParams>(
        &mut self,
        module: &str,
        name: &str,
        make: impl Fn(&mut Caller<'_, Ctx<T>>, P) -> StoreOp<T> + Send + Sync + 'static,
    ) -> wasmtime::Result<&mut Self> {
        self.define_typed(module, name, move |caller, index, api, params: P| {
            if caller.data().rt.rewinding {
                let rt = &mut caller.data_mut().rt;
                rewound_into(rt, index)?;
                let result = rt.op_result.take();
                return Ok((
                    result.ok_or_else(|| wasmtime::format_err!("no result to rewind with"))??,
                    Nested::StopRewind,
                ));
            }
            let op = make(caller, params);
            caller.data_mut().rt.op.put(op);
            Ok((0, begin_unwind(caller, index, api)?))
        })
    }

    /// An untyped import implemented by a future (for embedders that only know the type at
    /// run time). `f` runs synchronously when wasm calls the import (it may read and write
    /// memory through the caller) and returns the future to await.
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

    /// An untyped import that decides on each call whether to pause: [`Reply::Now`] returns
    /// at once (nothing unwinds), [`Reply::Later`] pauses like [`Linker::func_async`].
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

    fn add_import(&mut self, module: &str, name: &str) -> usize {
        self.imports.push(format!("{module}.{name}"));
        self.imports.len() - 1
    }

    fn pausing(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: Option<Arc<AsyncFn<T>>>,
    ) -> wasmtime::Result<&mut Self> {
        let index = self.add_import(module, name);
        let results = ty
            .results()
            .map(|t| Val::default_for_ty(&t).unwrap_or(Val::I32(0)))
            .collect();
        let def = Arc::new(Pausing {
            index,
            full: format!("{module}.{name}").into(),
            results,
            f,
        });
        let (module, name) = (module.to_string(), name.to_string());
        self.pausing.push(Arc::new(move |linker, api| {
            let def = def.clone();
            linker.func_new(&module, &name, ty.clone(), move |mut caller, args, out| {
                def.enter(&mut caller, &api, args, out)?
                    .run(&mut caller, &api)
            })?;
            Ok(())
        }));
        Ok(self)
    }

    /// Instantiates `module` (which must be asyncified) with `buffer` for `call_async`.
    /// A start function must not pause.
    pub fn instantiate(
        &self,
        module: &Module,
        data: T,
        buffer: Buffer,
    ) -> Result<Instance<T>, Error> {
        // The pausing imports call into wasm (to start an unwind or stop a rewind); they find
        // what they call in `api`, filled once the instance exists.
        let mut linker = self.inner.clone();
        let api: ApiCell = Arc::default();
        for define in &self.pausing {
            define(&mut linker, api.clone()).map_err(Error::Instantiate)?;
        }
        let rt = RuntimeState {
            imports: Arc::new(self.imports.clone()),
            ..Default::default()
        };
        let mut store = Store::new(module.engine(), Ctx { data, rt });
        let instance = linker
            .instantiate(&mut store, module)
            .map_err(Error::Instantiate)?;
        let (host_api, import_api) = Api::find(&mut store, &instance)?;
        let _ = api.set(import_api);
        let mut inst = Instance {
            store,
            instance,
            api: host_api,
            buffer: (0, 0),
        };
        inst.buffer = inst.allocate(&buffer)?;
        Ok(inst)
    }
}

/// Parameter lists of typed imports: `()`, `(A,)`, `(A, B)`, ... of wasm value types (up to
/// 10), as in wasmtime's `func_wrap`.
pub trait ImportParams: wasmtime::WasmTyList + Send + Sized + 'static {
    /// Defines `f`, taking the parameters as one tuple, with wasmtime's typed `func_wrap`.
    #[doc(hidden)]
    fn wrap<T: 'static, R: wasmtime::WasmRet>(
        linker: &mut wasmtime::Linker<T>,
        module: &str,
        name: &str,
        f: impl Fn(Caller<'_, T>, Self) -> wasmtime::Result<R> + Send + Sync + 'static,
    ) -> wasmtime::Result<()>;
}

macro_rules! import_params {
    ($($a:ident)*) => {
        impl<$($a: wasmtime::WasmTy + 'static),*> ImportParams for ($($a,)*) {
            #[allow(non_snake_case)]
            fn wrap<T: 'static, R: wasmtime::WasmRet>(
                linker: &mut wasmtime::Linker<T>,
                module: &str,
                name: &str,
                f: impl Fn(Caller<'_, T>, Self) -> wasmtime::Result<R> + Send + Sync + 'static,
            ) -> wasmtime::Result<()> {
                linker.func_wrap(module, name, move |caller: Caller<'_, T>, $($a: $a),*| {
                    f(caller, ($($a,)*))
                })?;
                Ok(())
            }
        }
    };
}
import_params!();
import_params!(A1);
import_params!(A1 A2);
import_params!(A1 A2 A3);
import_params!(A1 A2 A3 A4);
import_params!(A1 A2 A3 A4 A5);
import_params!(A1 A2 A3 A4 A5 A6);
import_params!(A1 A2 A3 A4 A5 A6 A7);
import_params!(A1 A2 A3 A4 A5 A6 A7 A8);
import_params!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
import_params!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);

/// Result types of typed imports: what wasmtime's `func_wrap` returns (`()`, `i32`,
/// `(i32, i64)`, ...). `Default` gives the value an import returns while it unwinds (the
/// module ignores it).
pub trait ImportResults: wasmtime::WasmRet + Default + Send + 'static {}
impl<R: wasmtime::WasmRet + Default + Send + 'static> ImportResults for R {}

/// The call into wasm a pausing import makes before it returns.
enum Nested {
    None,
    StartUnwind(i32),
    StopRewind,
}

impl Nested {
    /// Nothing to call is the hot path: inline; the calls are not.
    #[inline(always)]
    fn run<T>(self, caller: &mut Caller<'_, Ctx<T>>, api: &ApiCell) -> wasmtime::Result<()> {
        match self {
            Nested::None => Ok(()),
            nested => nested.call(caller, api),
        }
    }

    #[inline(never)]
    fn call<T>(self, caller: &mut Caller<'_, Ctx<T>>, api: &ApiCell) -> wasmtime::Result<()> {
        let api = api.get().expect("set at instantiation");
        match self {
            Nested::None => Ok(()),
            Nested::StartUnwind(buffer) => api.start_unwind.call(caller, buffer),
            Nested::StopRewind => api.stop_rewind.call(caller, ()),
        }
    }
}

/// A call of pausing import `index`, up to the call into wasm it needs. Only the host starts
/// rewinds, so it knows the state without asking wasm: on the re-entry during a rewind, the
/// results the host awaited; otherwise `call`'s reply, and for a pause, the unwind. The call
/// that does not pause is the hot path (every call of a CPU-budget import, say): one flag
/// read, the embedder's function, and nothing else inline (it halved the cost of such a call).
#[inline(always)]
fn enter<T, R, F>(
    caller: &mut Caller<'_, Ctx<T>>,
    index: usize,
    api: &ApiCell,
    call: impl FnOnce(&mut Caller<'_, Ctx<T>>) -> Reply<R, F>,
) -> wasmtime::Result<(R, Nested)>
where
    R: Default + Send + 'static,
    F: Future<Output = wasmtime::Result<R>> + Send + 'static,
{
    if caller.data().rt.rewinding {
        return rewound_with_results(&mut caller.data_mut().rt, index);
    }
    match call(caller) {
        Reply::Now(r) => Ok((r, Nested::None)),
        Reply::Later(fut) => pause_with(caller, index, api, fut),
    }
}

/// The re-entry of the import that paused: the results the host awaited.
#[cold]
#[inline(never)]
fn rewound_with_results<R: 'static>(
    rt: &mut RuntimeState,
    index: usize,
) -> wasmtime::Result<(R, Nested)> {
    rewound_into(rt, index)?;
    rt.waiting = false;
    let results = rt
        .pending
        .as_mut()
        .and_then(|p| p.as_mut().results().downcast_mut::<Option<R>>()?.take());
    let results = results.ok_or_else(|| wasmtime::format_err!("no results to rewind with"))?;
    Ok((results, Nested::StopRewind))
}

/// A pause: keeps the future (in the last pause's allocation when it has the same type) and
/// starts the unwind.
#[inline(never)]
fn pause_with<T, R, F>(
    caller: &mut Caller<'_, Ctx<T>>,
    index: usize,
    api: &ApiCell,
    fut: F,
) -> wasmtime::Result<(R, Nested)>
where
    R: Default + Send + 'static,
    F: Future<Output = wasmtime::Result<R>> + Send + 'static,
{
    let rt = &mut caller.data_mut().rt;
    let mut fut = Some(fut);
    if let Some(last) = &mut rt.pending {
        last.as_mut().refill(&mut fut);
    }
    if fut.is_some() {
        rt.pending = Some(Box::pin(PendingImport { fut, results: None }));
    }
    rt.waiting = true;
    Ok((R::default(), begin_unwind(caller, index, api)?))
}

/// Checks the rewind re-entered the import that paused, and ends the rewind's bookkeeping.
fn rewound_into(rt: &mut RuntimeState, index: usize) -> wasmtime::Result<()> {
    if rt.paused != Some(index) {
        let expected = rt.paused_import();
        rt.error = Some(Error::WrongRewind {
            expected,
            got: rt.imports[index].clone(),
        });
        wasmtime::bail!("rewound into the wrong import");
    }
    rt.paused = None;
    rt.rewinding = false;
    Ok(())
}

/// Records the pause and writes the buffer's header; the import then starts the unwind.
fn begin_unwind<T>(
    caller: &mut Caller<'_, Ctx<T>>,
    index: usize,
    api: &ApiCell,
) -> wasmtime::Result<Nested> {
    let rt = &mut caller.data_mut().rt;
    rt.paused = Some(index);
    let (buffer, size) = (rt.buffer, rt.buffer_size);
    let mut header = [0u8; 8];
    header[..4].copy_from_slice(&(buffer + 8).to_le_bytes());
    header[4..].copy_from_slice(&(buffer + size).to_le_bytes());
    let memory = api.get().expect("set at instantiation").memory;
    memory.write(&mut *caller, buffer as usize, &header)?;
    Ok(Nested::StartUnwind(buffer as i32))
}

/// An untyped pausing import (or yield point), registered into the wasmtime linker at
/// instantiation.
struct Pausing<T: 'static> {
    index: usize,
    full: Arc<str>,
    /// What the import returns while it unwinds.
    results: Arc<[Val]>,
    /// `None`: a yield point.
    f: Option<Arc<AsyncFn<T>>>,
}

impl<T: 'static> Pausing<T> {
    fn enter(
        &self,
        caller: &mut Caller<'_, Ctx<T>>,
        api: &ApiCell,
        args: &[Val],
        out: &mut [Val],
    ) -> wasmtime::Result<Nested> {
        let (values, nested) = match &self.f {
            Some(f) => enter(caller, self.index, api, |c| f(c, args))?,
            None if caller.data().rt.rewinding => {
                let rt = &mut caller.data_mut().rt;
                rewound_into(rt, self.index)?;
                (rt.resumed.take().unwrap_or_default(), Nested::StopRewind)
            }
            None => {
                caller.data_mut().rt.yielded.put(args.to_vec());
                (Vec::new(), begin_unwind(caller, self.index, api)?)
            }
        };
        if let Nested::StartUnwind(_) = nested {
            out.clone_from_slice(&self.results);
        } else {
            check_arity(caller, &self.full, &values, out.len())?;
            out.clone_from_slice(&values);
        }
        Ok(nested)
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

/// The exports the host calls itself.
struct Api {
    stop_unwind: TypedFunc<(), ()>,
    start_rewind: TypedFunc<i32, ()>,
    memory: wasmtime::Memory,
}

impl Api {
    fn find<T>(
        store: &mut Store<Ctx<T>>,
        instance: &wasmtime::Instance,
    ) -> Result<(Api, ImportApi), Error> {
        instance
            .get_func(&mut *store, "asyncify_get_state")
            .ok_or_else(|| Error::NotAsyncified {
                missing: "asyncify_get_state".into(),
            })?;
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| Error::MissingExport("memory".into()))?;
        let api = Api {
            stop_unwind: export(store, instance, "asyncify_stop_unwind")?,
            start_rewind: export(store, instance, "asyncify_start_rewind")?,
            memory,
        };
        let imports = ImportApi {
            start_unwind: export(store, instance, "asyncify_start_unwind")?,
            stop_rewind: export(store, instance, "asyncify_stop_rewind")?,
            memory,
        };
        Ok((api, imports))
    }
}

/// The runtime export `name`, typed.
fn export<T, P, R>(
    store: &mut Store<Ctx<T>>,
    instance: &wasmtime::Instance,
    name: &str,
) -> Result<TypedFunc<P, R>, Error>
where
    P: wasmtime::WasmParams,
    R: wasmtime::WasmResults,
{
    let missing = || Error::NotAsyncified {
        missing: name.to_string(),
    };
    let f = instance.get_func(&mut *store, name).ok_or_else(missing)?;
    f.typed(&*store).map_err(|_| missing())
}

/// An instance of an asyncified module.
pub struct Instance<T: 'static> {
    store: Store<Ctx<T>>,
    instance: wasmtime::Instance,
    api: Api,
    /// The buffer `call_async` uses.
    buffer: (u32, u32),
}

/// What [`Instance::resume`] (untyped: the defaults) or [`Instance::resume_typed`] returned.
#[derive(Debug)]
pub enum Step<Y = Vec<Val>, D = Vec<Val>> {
    /// The coroutine called a yield import with these arguments and is paused.
    Yielded(Y),
    /// The coroutine's export returned these results.
    Done(D),
}

/// A call of an export that can be paused and resumed step by step (untyped).
pub struct Coroutine {
    func: wasmtime::Func,
    args: Vec<Val>,
    /// Slots for the export's results, found once (a function type lookup per resume costs
    /// more than the rest of the host's work on a switch).
    results: Vec<Val>,
    state: CoState,
}

/// A coroutine of a typed export: [`Instance::typed_coroutine`], [`Instance::resume_typed`].
pub struct TypedCoroutine<P, R> {
    func: TypedFunc<P, R>,
    params: P,
    state: CoState,
}

struct CoState {
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
                (
                    f.call(&mut self.store, ()).map_err(Error::Trap)? as u32,
                    *size,
                )
            }
            Buffer::Malloc { func, size } => {
                let f = self
                    .instance
                    .get_typed_func::<i32, i32>(&mut self.store, func)
                    .map_err(|_| Error::MissingExport(func.clone()))?;
                let addr = f.call(&mut self.store, *size as i32).map_err(Error::Trap)? as u32;
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

    /// Runs `func` once; returns its results, or `None` when it returned because it unwound.
    fn run_once(
        &mut self,
        func: wasmtime::Func,
        args: &[Val],
        mut out: Vec<Val>,
    ) -> Result<Option<Vec<Val>>, Error> {
        let result = func.call(&mut self.store, args, &mut out);
        self.after_run(result.map(|()| out))
    }

    /// What a call into wasm came to: its results, `None` when it unwound (the unwind is
    /// stopped), or the error, typed.
    fn after_run<R>(&mut self, result: wasmtime::Result<R>) -> Result<Option<R>, Error> {
        // The host tracks the state itself (no call into wasm): an import that paused left
        // its index in `paused`; a rewind that has not reached its import yet is `rewinding`.
        let rt = &mut self.store.data_mut().rt;
        let unwinding = rt.paused.is_some() && !rt.rewinding;
        let out = match result {
            Ok(out) => out,
            Err(e) => {
                return Err(if let Some(err) = rt.error.take() {
                    err
                } else if unwinding {
                    Error::UnwindOverflow {
                        size: rt.buffer_size + 8,
                    }
                } else if rt.rewinding {
                    Error::TrapDuringRewind(e)
                } else {
                    Error::Trap(e)
                });
            }
        };
        if unwinding {
            self.api
                .stop_unwind
                .call(&mut self.store, ())
                .map_err(Error::Trap)?;
            return Ok(None);
        }
        Ok(Some(out))
    }

    fn use_buffer(&mut self, (addr, size): (u32, u32)) {
        let rt = &mut self.store.data_mut().rt;
        rt.buffer = addr;
        rt.buffer_size = size;
        // A call that trapped during a rewind may have left its state behind.
        rt.rewinding = false;
        rt.waiting = false;
        rt.op.clear();
        rt.op_result = None;
    }

    fn rewind(&mut self) -> Result<(), Error> {
        let rt = &mut self.store.data_mut().rt;
        rt.rewinding = true;
        let buffer = rt.buffer as i32;
        self.api
            .start_rewind
            .call(&mut self.store, buffer)
            .map_err(Error::Trap)
    }

    /// Awaits the future (or does the store work) of the import that paused a `call_async`.
    async fn await_import(&mut self) -> Result<(), Error> {
        let rt = &mut self.store.data_mut().rt;
        if let Some(op) = rt.op.take::<StoreOp<T>>() {
            let (memory, ctx) = self.api.memory.data_and_store_mut(&mut self.store);
            let result = op(memory, ctx).await;
            self.store.data_mut().rt.op_result = Some(result);
            return Ok(());
        }
        let pending = match &mut rt.pending {
            Some(pending) if rt.waiting => pending,
            _ => {
                return Err(Error::Import {
                    import: rt.paused_import(),
                    message: "a yield import paused a call_async; use a Coroutine".into(),
                })
            }
        };
        let ready = std::future::poll_fn(|cx| pending.as_mut().poll_ready(cx)).await;
        ready.map_err(|e| Error::Import {
            import: self.store.data().rt.paused_import(),
            message: format!("{e:#}"),
        })
    }

    /// Calls export `name`, awaiting every async import it calls (each one unwinds the wasm
    /// stack, awaits, and rewinds): to the caller it is an ordinary async call.
    pub async fn call_async(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let func = self.func(name)?;
        self.use_buffer(self.buffer);
        let slots = self.result_slots(func);
        loop {
            if let Some(out) = self.run_once(func, args, slots.clone())? {
                return Ok(out);
            }
            self.await_import().await?;
            self.rewind()?;
        }
    }

    /// Export `name` as a wasmtime `TypedFunc`, for [`Instance::call_typed_async`].
    pub fn typed_func<P, R>(&mut self, name: &str) -> Result<TypedFunc<P, R>, Error>
    where
        P: wasmtime::WasmParams,
        R: wasmtime::WasmResults,
    {
        self.func(name)?
            .typed(&self.store)
            .map_err(|e| Error::ExportType {
                name: name.to_string(),
                message: format!("{e:#}"),
            })
    }

    /// [`Instance::call_async`] for a typed export: no `Val`s, no allocation on a call that
    /// does not pause.
    pub async fn call_typed_async<P, R>(
        &mut self,
        f: &TypedFunc<P, R>,
        params: P,
    ) -> Result<R, Error>
    where
        P: wasmtime::WasmParams + Clone + Send + Sync,
        R: wasmtime::WasmResults + Send + Sync,
    {
        self.use_buffer(self.buffer);
        loop {
            let result = f.call(&mut self.store, params.clone());
            if let Some(out) = self.after_run(result)? {
                return Ok(out);
            }
            self.await_import().await?;
            self.rewind()?;
        }
    }

    /// Calls an export that must not pause (for example an accessor), blocking the thread.
    pub fn call(&mut self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let func = self.func(name)?;
        let mut out = self.result_slots(func);
        func.call(&mut self.store, args, &mut out)
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
        Ok(Coroutine {
            func,
            args: args.to_vec(),
            results: self.result_slots(func),
            state: self.co_state(&buffer)?,
        })
    }

    /// A coroutine running the typed export `func` with `params`, with its own unwind buffer.
    /// Nothing runs until the first [`Instance::resume_typed`].
    pub fn typed_coroutine<P, R>(
        &mut self,
        func: &TypedFunc<P, R>,
        params: P,
        buffer: Buffer,
    ) -> Result<TypedCoroutine<P, R>, Error> {
        Ok(TypedCoroutine {
            func: func.clone(),
            params,
            state: self.co_state(&buffer)?,
        })
    }

    fn co_state(&mut self, buffer: &Buffer) -> Result<CoState, Error> {
        Ok(CoState {
            buffer: self.allocate(buffer)?,
            started: false,
            done: false,
            paused: None,
        })
    }

    /// Runs `co` until it yields or finishes: a scheduler's step. `results` are what the yield
    /// import returns (ignored on the first resume).
    pub fn resume(&mut self, co: &mut Coroutine, results: Vec<Val>) -> Result<Step, Error> {
        self.before_step(&mut co.state, results)?;
        let result = self.run_once(co.func, &co.args, co.results.clone());
        self.after_step(&mut co.state, result)
    }

    /// [`Instance::resume`] for a [`TypedCoroutine`] whose yield import was registered with
    /// [`Linker::func_wrap_yield`]: `Y` is that import's parameter tuple, `YR` its results.
    /// A call into wasm per step and nothing converted to `Val`s.
    pub fn resume_typed<Y, YR, P, R>(
        &mut self,
        co: &mut TypedCoroutine<P, R>,
        results: YR,
    ) -> Result<Step<Y, R>, Error>
    where
        Y: Send + 'static,
        YR: Send + 'static,
        P: wasmtime::WasmParams + Clone + Send + Sync,
        R: wasmtime::WasmResults + Send + Sync,
    {
        self.before_step(&mut co.state, results)?;
        let result = co.func.call(&mut self.store, co.params.clone());
        let result = self.after_run(result);
        self.after_step(&mut co.state, result)
    }

    /// Makes `co` the running coroutine, rewinding it with `results` if it has started.
    fn before_step<YR: Send + 'static>(
        &mut self,
        co: &mut CoState,
        results: YR,
    ) -> Result<(), Error> {
        if co.done {
            return Err(Error::Finished);
        }
        self.use_buffer(co.buffer);
        let rt = &mut self.store.data_mut().rt;
        rt.paused = co.paused.take();
        rt.yielded.clear();
        if co.started {
            rt.resumed.put(results);
            self.rewind()?;
        }
        co.started = true;
        Ok(())
    }

    /// What a step came to: the export's results, or the yield import's arguments.
    fn after_step<Y: 'static, D>(
        &mut self,
        co: &mut CoState,
        result: Result<Option<D>, Error>,
    ) -> Result<Step<Y, D>, Error> {
        let rt = &mut self.store.data_mut().rt;
        match result {
            Ok(Some(out)) => {
                co.done = true;
                Ok(Step::Done(out))
            }
            Ok(None) if rt.waiting || rt.op.take::<StoreOp<T>>().is_some() => {
                rt.waiting = false;
                co.done = true;
                Err(Error::Import {
                    import: rt.paused_import(),
                    message: "an async import paused a coroutine; use call_async".into(),
                })
            }
            Ok(None) => match rt.yielded.take::<Y>() {
                Some(args) => {
                    co.paused = rt.paused.take();
                    Ok(Step::Yielded(args))
                }
                None => {
                    co.done = true;
                    Err(Error::Import {
                        import: rt.paused_import(),
                        message: format!(
                            "the yield import's arguments are not a {}: resume a coroutine with \
                             the API its yield import was registered with (typed or not)",
                            std::any::type_name::<Y>()
                        ),
                    })
                }
            },
            Err(e) => {
                co.done = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Slot;

    /// A slot hands back only a value of the type put, and clearing it drops the value but
    /// keeps the allocation, which the next value of that type reuses (a coroutine's switch
    /// then allocates nothing).
    #[test]
    fn a_cleared_slot_is_empty_and_keeps_its_allocation() {
        let mut slot = Slot::default();
        slot.put((1i32, 2i64));
        assert_eq!(slot.take::<(i32, i64)>(), Some((1, 2)));
        assert_eq!(slot.take::<(i32, i64)>(), None);
        slot.put((3i32, 4i64));
        let place = |s: &Slot| {
            s.0.as_ref()
                .map(|(b, _)| &**b as *const dyn std::any::Any as *const u8)
        };
        let before = place(&slot);
        slot.clear();
        assert!(slot.0.is_some(), "the allocation is kept");
        assert_eq!(slot.take::<(i32, i64)>(), None);
        slot.put((5i32, 6i64));
        assert_eq!(place(&slot), before);
        assert_eq!(slot.take::<u8>(), None);
        assert_eq!(slot.take::<(i32, i64)>(), Some((5, 6)));
    }
}
