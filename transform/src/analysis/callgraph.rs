//! The call-graph analysis: which functions can change the asyncify state.
//!
//! A function can change state if it calls an import that may pause, makes an indirect call
//! (unless indirect calls are ignored), calls the runtime's unwind-start/rewind-stop functions
//! (it is then the *top* of a pure-wasm runtime), or calls a function that can. The property is
//! propagated backward over the reverse call graph with one worklist pass, so the cost is
//! linear in the number of call edges. Functions that call `stop_unwind`/`start_rewind` are the
//! *bottom* of the runtime: never instrumented, and propagation stops there.

use std::collections::{HashMap, HashSet};

use walrus::ir::Instr;
use walrus::{FunctionId, FunctionKind, Module};

use super::for_each_instr;
use super::patterns::NameList;
use crate::Options;

/// The pure-wasm runtime's imports (`asyncify.*`), which the transform implements itself.
#[derive(Debug, Default)]
pub(crate) struct RuntimeImports {
    /// `start_unwind` and `stop_rewind`: their callers are the runtime's top.
    pub top: HashSet<FunctionId>,
    /// `stop_unwind` and `start_rewind`: their callers are the runtime's bottom.
    pub bottom: HashSet<FunctionId>,
    /// All of them, `get_state` included: never a pausing call.
    pub all: HashSet<FunctionId>,
    /// Each import's name (`start_unwind`, ...) and function.
    pub names: Vec<(String, FunctionId)>,
}

/// Why a function can change state: the first fact found, so a chain can be printed.
#[derive(Clone, Debug)]
pub(crate) enum Reason {
    Import(String),
    Indirect,
    RuntimeTop,
    Calls(FunctionId),
    Listed,
}

/// The analysis result the instrumentation works from.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Functions (imports included) whose calls may change the state.
    pub can_change: HashSet<FunctionId>,
    /// Local functions to instrument, in module order.
    pub instrument: Vec<FunctionId>,
    pub reasons: HashMap<FunctionId, Reason>,
    pub ignore_indirect: bool,
    pub warnings: Vec<String>,
}

impl Plan {
    /// Is this instruction a call that may unwind (a "pause site")? Tail calls and
    /// `call_ref` count too, so that instrumenting them is refused rather than done wrong.
    pub fn is_site(&self, instr: &Instr) -> bool {
        match instr {
            Instr::Call(c) => self.can_change.contains(&c.func),
            Instr::ReturnCall(c) => self.can_change.contains(&c.func),
            Instr::CallIndirect(_) | Instr::ReturnCallIndirect(_) => !self.ignore_indirect,
            Instr::CallRef(_) | Instr::ReturnCallRef(_) => !self.ignore_indirect,
            _ => false,
        }
    }
}

struct Facts {
    callees: Vec<FunctionId>,
    indirect: bool,
}

pub(crate) fn analyze(module: &Module, opts: &Options, rt: &RuntimeImports) -> Plan {
    let mut plan = Plan {
        ignore_indirect: opts.ignore_indirect,
        ..Plan::default()
    };
    let imports = NameList::new(opts.imports.as_deref().unwrap_or(&[]));
    let remove = NameList::new(&opts.remove_list);
    let add = NameList::new(&opts.add_list);
    let only = opts.only_list.as_deref().map(NameList::new);

    let mut facts: HashMap<FunctionId, Facts> = HashMap::new();
    let mut callers: HashMap<FunctionId, Vec<FunctionId>> = HashMap::new();
    let mut top = HashSet::new();
    let mut bottom = HashSet::new();
    for (id, func) in module.funcs.iter_local() {
        let mut f = Facts {
            callees: Vec::new(),
            indirect: false,
        };
        for_each_instr(func, |instr| match instr {
            Instr::Call(c) => f.callees.push(c.func),
            Instr::ReturnCall(c) => f.callees.push(c.func),
            Instr::CallIndirect(_) | Instr::ReturnCallIndirect(_) => f.indirect = true,
            Instr::CallRef(_) | Instr::ReturnCallRef(_) => f.indirect = true,
            _ => {}
        });
        f.callees.sort_unstable();
        f.callees.dedup();
        for &c in &f.callees {
            callers.entry(c).or_default().push(id);
            if rt.top.contains(&c) {
                top.insert(id);
            }
            if rt.bottom.contains(&c) {
                bottom.insert(id);
            }
        }
        facts.insert(id, f);
    }

    let name_of = |id: FunctionId| crate::instrument::func_name(module, id);
    let local_names: Vec<String> = module
        .funcs
        .iter_local()
        .map(|(id, _)| name_of(id))
        .collect();
    let local_refs: Vec<&str> = local_names.iter().map(|s| s.as_str()).collect();
    for (list, opt) in [(&remove, "removelist"), (&add, "addlist")] {
        for p in list.unmatched(&local_refs) {
            plan.warnings
                .push(format!("asyncify-{opt}: `{p}` matches no function"));
        }
    }

    let mut can_change: HashSet<FunctionId> = HashSet::new();
    let mut work: Vec<FunctionId> = Vec::new();
    let mut import_names = Vec::new();
    for func in module.funcs.iter() {
        let FunctionKind::Import(imp) = &func.kind else {
            continue;
        };
        if rt.all.contains(&func.id()) {
            continue;
        }
        let import = module.imports.get(imp.import);
        let full = format!("{}.{}", import.module, import.name);
        let pauses = !opts.ignore_imports && (opts.imports.is_none() || imports.matches(&full));
        if pauses {
            can_change.insert(func.id());
            plan.reasons.insert(func.id(), Reason::Import(full.clone()));
            work.push(func.id());
        }
        import_names.push(full);
    }
    if opts.imports.is_some() {
        let refs: Vec<&str> = import_names.iter().map(|s| s.as_str()).collect();
        for p in imports.unmatched(&refs) {
            plan.warnings
                .push(format!("asyncify-imports: `{p}` matches no import"));
        }
    }

    if let Some(only) = &only {
        for p in only.unmatched(&local_refs) {
            plan.warnings
                .push(format!("asyncify-onlylist: `{p}` matches no function"));
        }
        for (id, _) in module.funcs.iter_local() {
            if only.matches(&name_of(id)) {
                can_change.insert(id);
                plan.reasons.insert(id, Reason::Listed);
            }
        }
    } else {
        let blocked = |id: FunctionId| bottom.contains(&id) || remove.matches(&name_of(id));
        for (id, f) in &facts {
            if blocked(*id) || can_change.contains(id) {
                continue;
            }
            let reason = if top.contains(id) {
                Some(Reason::RuntimeTop)
            } else if f.indirect && !opts.ignore_indirect {
                Some(Reason::Indirect)
            } else {
                None
            };
            if let Some(r) = reason {
                can_change.insert(*id);
                plan.reasons.insert(*id, r);
                work.push(*id);
            }
        }
        propagate(
            &mut work,
            &mut can_change,
            &mut plan.reasons,
            &callers,
            &blocked,
        );
        for (id, _) in module.funcs.iter_local() {
            if add.matches(&name_of(id)) && can_change.insert(id) {
                plan.reasons.insert(id, Reason::Listed);
                if opts.propagate_add_list {
                    work.push(id);
                }
            }
        }
        propagate(
            &mut work,
            &mut can_change,
            &mut plan.reasons,
            &callers,
            &blocked,
        );
    }

    let mut instrument: Vec<FunctionId> = module
        .funcs
        .iter_local()
        .map(|(id, _)| id)
        .filter(|id| can_change.contains(id) && !top.contains(id) && !bottom.contains(id))
        .collect();
    instrument.sort_unstable();
    plan.instrument = instrument;
    plan.can_change = can_change;
    plan
}

fn propagate(
    work: &mut Vec<FunctionId>,
    can_change: &mut HashSet<FunctionId>,
    reasons: &mut HashMap<FunctionId, Reason>,
    callers: &HashMap<FunctionId, Vec<FunctionId>>,
    blocked: &dyn Fn(FunctionId) -> bool,
) {
    while let Some(callee) = work.pop() {
        for &caller in callers.get(&callee).map(|v| v.as_slice()).unwrap_or(&[]) {
            if !blocked(caller) && can_change.insert(caller) {
                reasons.insert(caller, Reason::Calls(callee));
                work.push(caller);
            }
        }
    }
}
