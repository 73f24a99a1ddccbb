//! The call-graph analysis: which functions can change the asyncify state.
//!
//! A function can change state if it calls an import that may pause, makes an indirect call
//! that can reach a function that can (see below), calls the runtime's unwind-start/rewind-stop
//! functions (it is then the *top* of a pure-wasm runtime), or calls a function that can. The
//! property is propagated backward over the reverse call graph with one worklist pass, so the
//! cost is linear in the number of call edges. Functions that call `stop_unwind`/`start_rewind`
//! are the *bottom* of the runtime: never instrumented, and propagation stops there.
//!
//! **Indirect calls** are grouped by (table, type): a `call_indirect (type T)` on table X can
//! reach the functions of type T that can be in X, which are those placed by element segments
//! (active ones, and passive ones a `table.init` copies into X), and, when code writes X
//! (`table.set`, `table.fill`, `table.grow`, `table.copy`), every function whose reference
//! escapes (`ref.func`, element segments, global initialisers). Each group is one node of the
//! graph between its callers and its targets, so the propagation stays linear. A table that is
//! imported or exported can hold whatever the host puts there, so its indirect calls may
//! pause, unless `closed_world` is promised. A `call_ref` of type T is a group of its own
//! (no table): it can reach the functions of type T whose reference escapes, and anything
//! when a function reference can come from the host (an import or export that carries a
//! reference: a table, a global, a function's parameter or result), again unless
//! `closed_world`. `every_indirect_may_pause` restores Binaryen's assumption for all.

use std::collections::{HashMap, HashSet};

use walrus::ir::Instr;
use walrus::{
    ConstExpr, ElementItems, ElementKind, ExportItem, FunctionId, FunctionKind, GlobalKind, Module,
    TableId, TypeId,
};

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
    /// An indirect call that may reach anything: on an open table, a `call_ref` whose
    /// references can come from the host, or any one without the grouping
    /// (`every_indirect_may_pause`, an only-list).
    Indirect,
    /// An indirect call of this group (`call_ref` when there is no table) that can reach
    /// `target`, which can change state.
    CallsIndirect {
        table: Option<TableId>,
        ty: TypeId,
        target: FunctionId,
    },
    RuntimeTop,
    Calls(FunctionId),
    Listed,
}

/// A group of indirect calls: the table (none for `call_ref`) and the type.
pub(crate) type Group = (Option<TableId>, TypeId);

/// The analysis result the instrumentation works from.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Functions (imports included) whose calls may change the state.
    pub can_change: HashSet<FunctionId>,
    /// Local functions to instrument, in module order.
    pub instrument: Vec<FunctionId>,
    pub reasons: HashMap<FunctionId, Reason>,
    pub ignore_indirect: bool,
    /// Groups of indirect calls that may pause: `(Some(table), type)` for `call_indirect`,
    /// `(None, type)` for `call_ref`; `None`: all of them.
    pub pausing_indirect: Option<HashSet<Group>>,
    /// Instrumented functions that only instrumented functions call, directly: a rewind
    /// re-enters them with the arguments of their first entry (the rewind contract), so a
    /// parameter they never write need not be saved. A function the host can call (an export,
    /// the start function) or that can be called through a reference is not one of them:
    /// runtimes may rewind an export with other arguments (Emscripten's calls it with none).
    pub same_args: HashSet<FunctionId>,
    pub warnings: Vec<String>,
}

impl Plan {
    /// Is this instruction a call that may unwind (a "pause site")? Tail calls and
    /// `call_ref` count too, so that instrumenting them is refused rather than done wrong.
    pub fn is_site(&self, instr: &Instr) -> bool {
        match instr {
            Instr::Call(c) => self.can_change.contains(&c.func),
            Instr::ReturnCall(c) => self.can_change.contains(&c.func),
            Instr::CallIndirect(c) => self.indirect_may_pause((Some(c.table), c.ty)),
            Instr::ReturnCallIndirect(c) => self.indirect_may_pause((Some(c.table), c.ty)),
            Instr::CallRef(c) => self.indirect_may_pause((None, c.ty)),
            Instr::ReturnCallRef(c) => self.indirect_may_pause((None, c.ty)),
            _ => false,
        }
    }

    fn indirect_may_pause(&self, group: Group) -> bool {
        !self.ignore_indirect
            && self
                .pausing_indirect
                .as_ref()
                .is_none_or(|p| p.contains(&group))
    }
}

struct Facts {
    callees: Vec<FunctionId>,
    /// The groups of its indirect calls.
    groups: Vec<Group>,
}

/// What the module's tables can hold, for grouping indirect calls by what they reach.
struct Tables {
    /// Functions placed in each table by element segments (active, or through `table.init`).
    placed: HashMap<TableId, Vec<FunctionId>>,
    /// Tables that code writes, and so can hold any function in `escaped`.
    written: HashSet<TableId>,
    /// Functions whose reference escapes into values: `ref.func`, element segments, globals.
    escaped: Vec<FunctionId>,
    /// Tables the host can write: imported or exported.
    open: HashSet<TableId>,
    /// A function reference can come from the host, so `call_ref` may reach anything.
    foreign_refs: bool,
}

impl Tables {
    fn find(module: &Module) -> Tables {
        let mut t = Tables {
            placed: HashMap::new(),
            written: HashSet::new(),
            escaped: Vec::new(),
            open: HashSet::new(),
            foreign_refs: false,
        };
        let mut passive: HashMap<walrus::ElementId, Vec<FunctionId>> = HashMap::new();
        for elem in module.elements.iter() {
            let funcs: Vec<FunctionId> = match &elem.items {
                ElementItems::Functions(ids) => ids.clone(),
                ElementItems::Expressions(_, exprs) => exprs.iter().flat_map(ref_funcs).collect(),
            };
            t.escaped.extend(&funcs);
            match elem.kind {
                ElementKind::Active { table, .. } => {
                    t.placed.entry(table).or_default().extend(funcs)
                }
                ElementKind::Passive => {
                    passive.insert(elem.id(), funcs);
                }
                ElementKind::Declared => {}
            }
        }
        for g in module.globals.iter() {
            if let GlobalKind::Local(init) = &g.kind {
                t.escaped.extend(ref_funcs(init));
            }
        }
        for (_, func) in module.funcs.iter_local() {
            for_each_instr(func, |instr| match instr {
                Instr::RefFunc(r) => t.escaped.push(r.func),
                Instr::TableSet(i) => drop(t.written.insert(i.table)),
                Instr::TableFill(i) => drop(t.written.insert(i.table)),
                Instr::TableGrow(i) => drop(t.written.insert(i.table)),
                Instr::TableCopy(i) => drop(t.written.insert(i.dst)),
                Instr::TableInit(i) => {
                    let funcs = passive.get(&i.elem).cloned().unwrap_or_default();
                    t.placed.entry(i.table).or_default().extend(funcs);
                }
                _ => {}
            });
        }
        for table in module.tables.iter() {
            if table.import.is_some() {
                t.open.insert(table.id());
            }
        }
        for export in module.exports.iter() {
            if let ExportItem::Table(table) = export.item {
                t.open.insert(table);
            }
        }
        t.foreign_refs = refs_cross_the_boundary(module);
        t.escaped.sort_unstable();
        t.escaped.dedup();
        t
    }

    /// Can the host put functions where this group's calls find them?
    fn open(&self, (table, _): Group) -> bool {
        match table {
            Some(table) => self.open.contains(&table),
            None => self.foreign_refs,
        }
    }

    /// The functions of type `ty` a `call_indirect` on `table` (a `call_ref` when there is
    /// none) can reach.
    fn targets(&self, module: &Module, (table, ty): Group) -> Vec<FunctionId> {
        let want = module.types.get(ty);
        let same = |f: &FunctionId| {
            let have = module.types.get(module.funcs.get(*f).ty());
            have.params() == want.params() && have.results() == want.results()
        };
        let Some(table) = table else {
            return self.escaped.iter().copied().filter(same).collect();
        };
        let placed = self.placed.get(&table).map(Vec::as_slice).unwrap_or(&[]);
        let written = self.written.contains(&table);
        let mut out: Vec<FunctionId> = placed
            .iter()
            .chain(if written { &self.escaped[..] } else { &[] })
            .copied()
            .filter(same)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Does a reference value cross between the module and the host: an imported or exported
/// table, a global of reference type, an imported function returning a reference or an
/// exported one taking one?
fn refs_cross_the_boundary(module: &Module) -> bool {
    let is_ref = |t: &walrus::ValType| matches!(t, walrus::ValType::Ref(_));
    let sig = |f: FunctionId| module.types.get(module.funcs.get(f).ty());
    let global_is_ref = |g: walrus::GlobalId| is_ref(&module.globals.get(g).ty);
    module.imports.iter().any(|i| match i.kind {
        walrus::ImportKind::Table(_) => true,
        walrus::ImportKind::Global(g) => global_is_ref(g),
        walrus::ImportKind::Function(f) => sig(f).results().iter().any(is_ref),
        _ => false,
    }) || module.exports.iter().any(|e| match e.item {
        ExportItem::Table(_) => true,
        ExportItem::Global(g) => global_is_ref(g),
        ExportItem::Function(f) => sig(f).params().iter().any(is_ref),
        _ => false,
    })
}

/// The functions a constant expression references.
fn ref_funcs(e: &ConstExpr) -> Vec<FunctionId> {
    match e {
        ConstExpr::RefFunc(f) => vec![*f],
        ConstExpr::Extended(ops) => ops
            .iter()
            .filter_map(|op| match op {
                walrus::ConstOp::RefFunc(f) => Some(*f),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
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
            groups: Vec::new(),
        };
        for_each_instr(func, |instr| match instr {
            Instr::Call(c) => f.callees.push(c.func),
            Instr::ReturnCall(c) => f.callees.push(c.func),
            Instr::CallIndirect(c) => f.groups.push((Some(c.table), c.ty)),
            Instr::ReturnCallIndirect(c) => f.groups.push((Some(c.table), c.ty)),
            Instr::CallRef(c) => f.groups.push((None, c.ty)),
            Instr::ReturnCallRef(c) => f.groups.push((None, c.ty)),
            _ => {}
        });
        f.callees.sort_unstable();
        f.callees.dedup();
        f.groups.sort_unstable();
        f.groups.dedup();
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

    // Indirect calls grouped by (table, type): each group's callers, and for each function
    // the groups that can reach it. A group on an open table may pause from the start.
    let by_type = !opts.every_indirect_may_pause && !opts.ignore_indirect && only.is_none();
    let mut graph = Graph {
        callers,
        groups: Vec::new(),
        group_callers: Vec::new(),
        reaches: HashMap::new(),
        pausing: Vec::new(),
    };
    let mut group_of: HashMap<Group, usize> = HashMap::new();
    if by_type {
        let tables = Tables::find(module);
        let mut ids: Vec<&FunctionId> = facts.keys().collect();
        ids.sort_unstable();
        for id in ids {
            for &g in &facts[id].groups {
                let k = *group_of.entry(g).or_insert_with(|| {
                    graph.groups.push(g);
                    graph.group_callers.push(Vec::new());
                    let open = tables.open(g) && !opts.closed_world;
                    graph.pausing.push(open);
                    if !open {
                        for t in tables.targets(module, g) {
                            graph
                                .reaches
                                .entry(t)
                                .or_default()
                                .push(graph.groups.len() - 1);
                        }
                    }
                    graph.groups.len() - 1
                });
                graph.group_callers[k].push(*id);
            }
        }
    }
    // An indirect call that may reach anything: all of them without the grouping, else those
    // the host can supply functions to.
    let anywhere = |f: &Facts| match by_type {
        true => f.groups.iter().any(|g| graph.pausing[group_of[g]]),
        false => !f.groups.is_empty(),
    };

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
            } else if !opts.ignore_indirect && anywhere(f) {
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
        graph.propagate(&mut work, &mut can_change, &mut plan.reasons, &blocked);
        for (id, _) in module.funcs.iter_local() {
            if add.matches(&name_of(id)) && can_change.insert(id) {
                plan.reasons.insert(id, Reason::Listed);
                if opts.propagate_add_list {
                    work.push(id);
                }
            }
        }
        graph.propagate(&mut work, &mut can_change, &mut plan.reasons, &blocked);
    }
    plan.pausing_indirect = by_type.then(|| {
        let groups = graph.groups.iter().zip(&graph.pausing);
        groups.filter(|(_, p)| **p).map(|(g, _)| *g).collect()
    });

    let mut instrument: Vec<FunctionId> = module
        .funcs
        .iter_local()
        .map(|(id, _)| id)
        .filter(|id| can_change.contains(id) && !top.contains(id) && !bottom.contains(id))
        .collect();
    instrument.sort_unstable();
    let instrumented: HashSet<FunctionId> = instrument.iter().copied().collect();
    let outside = entered_from_outside(module);
    plan.same_args = (instrument.iter().copied())
        .filter(|f| !outside.contains(f))
        .filter(|f| {
            let callers = graph.callers.get(f).map(Vec::as_slice).unwrap_or(&[]);
            !callers.is_empty() && callers.iter().all(|c| instrumented.contains(c))
        })
        .collect();
    plan.instrument = instrument;
    plan.can_change = can_change;
    plan
}

/// Functions that can be entered other than by a direct call: exported, the start function,
/// or referenced (element segments, `ref.func`, global initialisers).
fn entered_from_outside(module: &Module) -> HashSet<FunctionId> {
    let mut out: HashSet<FunctionId> = module.start.into_iter().collect();
    for export in module.exports.iter() {
        if let ExportItem::Function(f) = export.item {
            out.insert(f);
        }
    }
    for elem in module.elements.iter() {
        match &elem.items {
            ElementItems::Functions(ids) => out.extend(ids),
            ElementItems::Expressions(_, exprs) => out.extend(exprs.iter().flat_map(ref_funcs)),
        }
    }
    for g in module.globals.iter() {
        if let GlobalKind::Local(init) = &g.kind {
            out.extend(ref_funcs(init));
        }
    }
    for (_, func) in module.funcs.iter_local() {
        for_each_instr(func, |instr| {
            if let Instr::RefFunc(r) = instr {
                out.insert(r.func);
            }
        });
    }
    out
}

/// The reverse call graph, with a node per group of indirect calls between its targets and
/// its callers.
struct Graph {
    callers: HashMap<FunctionId, Vec<FunctionId>>,
    groups: Vec<Group>,
    group_callers: Vec<Vec<FunctionId>>,
    /// For each function, the groups that can call it.
    reaches: HashMap<FunctionId, Vec<usize>>,
    /// Groups that may pause.
    pausing: Vec<bool>,
}

impl Graph {
    fn propagate(
        &mut self,
        work: &mut Vec<FunctionId>,
        can_change: &mut HashSet<FunctionId>,
        reasons: &mut HashMap<FunctionId, Reason>,
        blocked: &dyn Fn(FunctionId) -> bool,
    ) {
        while let Some(callee) = work.pop() {
            let direct = self.callers.get(&callee).map(Vec::as_slice).unwrap_or(&[]);
            for &caller in direct {
                if !blocked(caller) && can_change.insert(caller) {
                    reasons.insert(caller, Reason::Calls(callee));
                    work.push(caller);
                }
            }
            for &k in self.reaches.get(&callee).map(Vec::as_slice).unwrap_or(&[]) {
                if std::mem::replace(&mut self.pausing[k], true) {
                    continue;
                }
                let (table, ty) = self.groups[k];
                for &caller in &self.group_callers[k] {
                    if !blocked(caller) && can_change.insert(caller) {
                        let target = callee;
                        reasons.insert(caller, Reason::CallsIndirect { table, ty, target });
                        work.push(caller);
                    }
                }
            }
        }
    }
}
