//! Text input: the standard WebAssembly text format, plus the spellings of Binaryen's text
//! dialect that `wasm-opt` accepts and the seed article's examples use.
//!
//! Text is always parsed by the standard parser (the `wast` crate behind `wat`). Only when
//! the standard reading fails does this front end look for Binaryen's spellings, and each
//! rewrite it makes turns one of them into the standard spelling of the same module:
//!
//! 1. **`if` arms without `then`/`else`.** Binaryen's old reader takes a folded `if` as
//!    `(if cond ifTrue ifFalse?)` with single expressions as arms, usually `(block ...)`:
//!    `(if (i32.eqz (local.get 0)) (block ...) (block ...))`. The arms become `(then ...)` and
//!    `(else ...)`; an unlabelled, untyped `(block ...)` arm is unwrapped (nothing can branch
//!    to it, so it adds nothing), any other arm is kept whole inside the `then`/`else`.
//!    As in the standard format, the `if`'s result type must be written on the `if`.
//! 2. **Imports after definitions.** Binaryen's older reader (the article's, still in version
//!    108) takes module fields in any order, and the article writes `(memory 1 1)` before its
//!    imports (newer Binaryen rejects that too); the standard format wants every import
//!    before the first function, table, memory, global or tag definition, which is where the
//!    binary format puts them. Imports are moved just before the first definition, keeping
//!    their order. References by name mean the same after the move; so do numeric ones unless
//!    an import follows a definition *of its own kind* (its index would change), in which
//!    case the fields are left alone and the standard error stands.
//! 3. **A typed-unreachable loop ending a function.** Binaryen types a `loop` whose body ends
//!    in an unconditional branch (`br`, `br_table`, `return`, `unreachable`, a tail call, a
//!    throw) as `unreachable`, so it accepts such a loop as the last instruction of a function
//!    that declares results; standard validation sees the loop's empty result instead. The
//!    loop's end cannot be reached, so an `unreachable` appended after it is dead code that
//!    makes the function validate without changing what it does. This is a typing question,
//!    not a syntax one: the standard parser reads such text fine, so this rewrite is made on
//!    its syntax tree, and only when the module does not validate as written.
//!
//! Rewrites 1 and 2 need a tree the standard parser cannot build, so they work on
//! s-expressions made of the standard lexer's tokens (comments and whitespace dropped, every
//! other token kept verbatim), which are then printed back and parsed by the standard parser.
//! Nothing here matches text with patterns. When the text is invalid in both dialects, the
//! error is the standard parser's, with the line and column of the original text (a position
//! in the rewritten text is mapped back through the tokens it was printed from).
//!
//! ```
//! // The seed article's `if` spelling, with an import after the memory.
//! let wasm = asyncify::text::parse(
//!     r#"(module
//!          (memory 1 1)
//!          (import "env" "log" (func $log (param i32)))
//!          (func (param $x i32)
//!            (if (local.get $x) (block (call $log (i32.const 1))) (block (nop)))))"#,
//! )
//! .unwrap();
//! assert!(wasmparser::validate(&wasm).is_ok());
//! ```

use std::borrow::Cow;

use wast::core::{Func, FuncKind, Instruction, ModuleField, ModuleKind};
use wast::lexer::{Lexer, TokenKind};
use wast::parser::{self, ParseBuffer};
use wast::token::Span;
use wast::Wat;

use crate::Error;

/// Reads a module given as binary (returned as is) or as text (see the module docs).
pub fn parse_bytes(input: &[u8]) -> Result<Cow<'_, [u8]>, Error> {
    if input.starts_with(b"\0asm") {
        return Ok(Cow::Borrowed(input));
    }
    let text = std::str::from_utf8(input)
        .map_err(|e| Error::InvalidInput(format!("neither a wasm binary nor UTF-8 text: {e}")))?;
    parse(text).map(Cow::Owned)
}

/// Parses a module in the standard text format or Binaryen's dialect of it; returns the
/// binary. A module that does not validate is returned as read (validation reports it).
///
/// Errors name the line and column in `text`, e.g. `line 3, column 5: unknown operator`.
pub fn parse(text: &str) -> Result<Vec<u8>, Error> {
    match encode(text, false) {
        Ok(wasm) => Ok(typed_loops(text, wasm)),
        Err(standard) => {
            let Some(rewritten) = rewrite_dialect(text) else {
                return Err(located(&standard, text, None));
            };
            match encode(&rewritten.text, false) {
                Ok(wasm) => Ok(typed_loops(&rewritten.text, wasm)),
                Err(e) => Err(located(&e, text, Some(&rewritten.origins))),
            }
        }
    }
}

/// The standard parser and encoder; with `end_loops`, rewrite 3 is applied to the tree first.
fn encode(text: &str, end_loops: bool) -> Result<Vec<u8>, wast::Error> {
    let buf = ParseBuffer::new(text)?;
    let mut wat = parser::parse::<Wat>(&buf)?;
    if let (true, Wat::Module(m)) = (end_loops, &mut wat) {
        if let ModuleKind::Text(fields) = &mut m.kind {
            for field in fields {
                if let ModuleField::Func(f) = field {
                    end_diverging_loop(f);
                }
            }
        }
    }
    wat.encode()
}

/// Rewrite 3, applied only to a module that does not validate, and kept only if it helps.
fn typed_loops(text: &str, wasm: Vec<u8>) -> Vec<u8> {
    let valid = |w: &[u8]| {
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(w)
            .is_ok()
    };
    if valid(&wasm) {
        return wasm;
    }
    match encode(text, true) {
        Ok(fixed) if valid(&fixed) => fixed,
        _ => wasm,
    }
}

/// The standard parser's error, at its line and column in the original text. `origins` maps
/// positions of rewritten text back to the original.
fn located(e: &wast::Error, original: &str, origins: Option<&Origins>) -> Error {
    let offset = origins.map_or(e.span().offset(), |o| o.original(e.span().offset()));
    let (line, col) = Span::from_offset(offset).linecol_in(original);
    Error::InvalidInput(format!(
        "line {}, column {}: {}",
        line + 1,
        col + 1,
        e.message()
    ))
}

// ---- Rewrite 3: on the standard parser's tree ----

/// Appends `unreachable` to `f` if its body ends in a loop that cannot fall through, unless
/// `f` is known to return nothing (there the loop already validates).
fn end_diverging_loop(f: &mut Func) -> bool {
    let FuncKind::Inline { expression, .. } = &mut f.kind else {
        return false;
    };
    let no_results =
        f.ty.index.is_none() && f.ty.inline.as_ref().is_none_or(|t| t.results.is_empty());
    if no_results || !ends_in_diverging_loop(&expression.instrs) {
        return false;
    }
    let mut instrs = std::mem::take(&mut expression.instrs).into_vec();
    instrs.push(Instruction::unreachable);
    expression.instrs = instrs.into();
    if let Some(spans) = &mut expression.instr_spans {
        let mut v = std::mem::take(spans).into_vec();
        v.push(v.last().copied().unwrap_or(f.span));
        *spans = v.into();
    }
    true
}

/// Whether `instrs` (flat, as the parser unfolds them) ends with a `loop` whose end cannot be
/// reached: the last instruction of its body branches unconditionally, or is such a loop.
fn ends_in_diverging_loop(instrs: &[Instruction]) -> bool {
    use Instruction as I;
    let Some((I::end(_), body)) = instrs.split_last() else {
        return false;
    };
    // Find the instruction this `end` closes (`delegate` closes a legacy `try` too).
    let mut depth = 0usize;
    for (i, ins) in body.iter().enumerate().rev() {
        match ins {
            I::end(_) | I::delegate(_) => depth += 1,
            I::block(_) | I::if_(_) | I::loop_(_) | I::try_(_) | I::try_table(_) => {
                if depth == 0 {
                    return matches!(ins, I::loop_(_)) && diverges(&body[i + 1..]);
                }
                depth -= 1;
            }
            _ => {}
        }
    }
    false
}

/// Whether control cannot leave the end of the instruction sequence `seq`.
fn diverges(seq: &[Instruction]) -> bool {
    use Instruction as I;
    match seq.last() {
        Some(
            I::br(_)
            | I::br_table(_)
            | I::return_
            | I::unreachable
            | I::return_call(_)
            | I::return_call_indirect(_)
            | I::return_call_ref(_)
            | I::throw(_)
            | I::throw_ref
            | I::rethrow(_),
        ) => true,
        Some(I::end(_)) => ends_in_diverging_loop(seq),
        _ => false,
    }
}

// ---- Rewrites 1 and 2: on s-expressions of the standard lexer's tokens ----

/// An s-expression. `at` is the offset in the original text it was read from (for tokens the
/// rewrite adds, the offset of the construct they belong to).
#[derive(Clone, Debug)]
enum Sexp<'a> {
    Atom(Atom<'a>),
    List {
        at: usize,
        close: usize,
        items: Vec<Sexp<'a>>,
    },
}

#[derive(Clone, Debug)]
struct Atom<'a> {
    text: &'a str,
    kind: TokenKind,
    at: usize,
    /// Whether `text` is the original text at `at` (false for an added token).
    verbatim: bool,
}

impl<'a> Sexp<'a> {
    /// The keyword a list starts with (`module`, `func`, `if`, ...).
    fn head(&self) -> Option<&'a str> {
        match self {
            Sexp::List { items, .. } => match items.first() {
                Some(Sexp::Atom(a)) if a.kind == TokenKind::Keyword => Some(a.text),
                _ => None,
            },
            Sexp::Atom(_) => None,
        }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(self, Sexp::Atom(a) if a.kind == TokenKind::Keyword && a.text == keyword)
    }

    fn is_id(&self) -> bool {
        matches!(self, Sexp::Atom(a) if a.kind == TokenKind::Id)
    }

    fn items(&self) -> &[Sexp<'a>] {
        match self {
            Sexp::List { items, .. } => items,
            Sexp::Atom(_) => &[],
        }
    }
}

/// Reads `text` into top-level s-expressions; `None` if it does not lex or its parentheses
/// do not balance (the standard parser's error then stands).
fn read(text: &str) -> Option<Vec<Sexp<'_>>> {
    let mut stack: Vec<(usize, Vec<Sexp>)> = vec![(0, Vec::new())];
    for token in Lexer::new(text).iter(0) {
        let token = token.ok()?;
        match token.kind {
            TokenKind::Whitespace | TokenKind::LineComment | TokenKind::BlockComment => {}
            TokenKind::LParen => stack.push((token.offset, Vec::new())),
            TokenKind::RParen => {
                let (at, items) = stack.pop()?;
                let list = Sexp::List {
                    at,
                    close: token.offset,
                    items,
                };
                stack.last_mut()?.1.push(list);
            }
            kind => stack.last_mut()?.1.push(Sexp::Atom(Atom {
                text: token.src(text),
                kind,
                at: token.offset,
                verbatim: true,
            })),
        }
    }
    let (_, top) = stack.pop()?;
    stack.is_empty().then_some(top)
}

/// Text printed from rewritten s-expressions, and where each of its tokens came from.
struct Rewritten {
    text: String,
    origins: Origins,
}

/// `(offset in the rewritten text, offset in the original, length copied verbatim)` for
/// every printed token, in order.
struct Origins(Vec<(usize, usize, usize)>);

impl Origins {
    fn original(&self, offset: usize) -> usize {
        let i = self.0.partition_point(|&(out, _, _)| out <= offset);
        match i.checked_sub(1).map(|i| self.0[i]) {
            Some((out, orig, len)) => orig + (offset - out).min(len),
            None => 0,
        }
    }
}

/// Applies rewrites 1 and 2; `None` if neither applies.
fn rewrite_dialect(text: &str) -> Option<Rewritten> {
    let mut top = read(text)?;
    let mut changed = false;
    for s in &mut top {
        changed |= if_arms(s);
    }
    changed |= imports_first(&mut top);
    changed.then(|| print(&top))
}

fn print(top: &[Sexp]) -> Rewritten {
    fn go(s: &Sexp, out: &mut Rewritten) {
        if !out.text.is_empty() && !out.text.ends_with('(') {
            out.text.push(' ');
        }
        match s {
            Sexp::Atom(a) => {
                let len = if a.verbatim { a.text.len() } else { 0 };
                out.origins.0.push((out.text.len(), a.at, len));
                out.text.push_str(a.text);
            }
            Sexp::List { at, close, items } => {
                out.origins.0.push((out.text.len(), *at, 0));
                out.text.push('(');
                for item in items {
                    go(item, out);
                }
                out.origins.0.push((out.text.len(), *close, 0));
                out.text.push(')');
            }
        }
    }
    let mut out = Rewritten {
        text: String::new(),
        origins: Origins(Vec::new()),
    };
    for s in top {
        go(s, &mut out);
    }
    out
}

/// Rewrite 1 on every `if` in `s`: `(if label? type* cond A B?)` with arms that are neither
/// `then` nor `else` becomes `(if label? type* cond (then ..A) (else ..B))`.
fn if_arms(s: &mut Sexp) -> bool {
    let Sexp::List { items, .. } = s else {
        return false;
    };
    let mut changed = false;
    for item in items.iter_mut() {
        changed |= if_arms(item);
    }
    if s.head() != Some("if") {
        return changed;
    }
    let Sexp::List { items, .. } = s else {
        unreachable!()
    };
    let mut first = 1;
    if items.get(first).is_some_and(Sexp::is_id) {
        first += 1;
    }
    while items
        .get(first)
        .is_some_and(|s| matches!(s.head(), Some("type" | "param" | "result")))
    {
        first += 1;
    }
    let exprs = &items[first..];
    let bare = (2..=3).contains(&exprs.len())
        && exprs
            .iter()
            .all(|e| matches!(e, Sexp::List { .. }) && !matches!(e.head(), Some("then" | "else")));
    if !bare {
        return changed;
    }
    let arms = items.split_off(first + 1);
    for (arm, keyword) in arms.into_iter().zip(["then", "else"]) {
        items.push(arm_as(keyword, arm));
    }
    true
}

/// `(block ..)` (no label, no type) as `(keyword ..)`; any other arm as `(keyword arm)`.
fn arm_as<'a>(keyword: &'static str, arm: Sexp<'a>) -> Sexp<'a> {
    let Sexp::List { at, close, .. } = arm else {
        unreachable!("arms are lists")
    };
    let keyword = Sexp::Atom(Atom {
        text: keyword,
        kind: TokenKind::Keyword,
        at,
        verbatim: false,
    });
    let plain_block = arm.head() == Some("block")
        && !arm
            .items()
            .get(1)
            .is_some_and(|s| s.is_id() || matches!(s.head(), Some("type" | "param" | "result")));
    match arm {
        Sexp::List { mut items, .. } if plain_block => {
            items[0] = keyword;
            Sexp::List { at, close, items }
        }
        arm => Sexp::List {
            at,
            close,
            items: vec![keyword, arm],
        },
    }
}

/// Kinds of definitions that imports must precede.
const DEFINITIONS: [&str; 5] = ["func", "table", "memory", "global", "tag"];

/// Rewrite 2 on the module's fields: imports that follow a definition are moved just before
/// the first definition, unless one follows a definition of its own kind.
fn imports_first(top: &mut Vec<Sexp>) -> bool {
    // `(module $id? field*)`, or the fields alone (the standard format allows both).
    let (fields, start) = match top.as_mut_slice() {
        [Sexp::List { items, .. }] if items.first().is_some_and(|h| h.is_keyword("module")) => {
            let start = if items.get(1).is_some_and(Sexp::is_id) {
                2
            } else {
                1
            };
            if matches!(items.get(start), Some(Sexp::Atom(_))) {
                return false; // `(module binary ...)`, `(module quote ...)`
            }
            (items, start)
        }
        _ => (top, 0),
    };
    // For each field: `Some(kind)` for an import, `None` for anything else.
    let import_kind = |f: &Sexp<'_>| -> Option<Option<String>> {
        match f.head()? {
            "import" => Some(f.items().get(3).and_then(Sexp::head).map(str::to_string)),
            h if DEFINITIONS.contains(&h)
                && f.items().iter().any(|i| i.head() == Some("import")) =>
            {
                Some(Some(h.to_string()))
            }
            _ => None,
        }
    };
    let Some(first_def) = fields[start..]
        .iter()
        .position(|f| {
            f.head().is_some_and(|h| DEFINITIONS.contains(&h)) && import_kind(f).is_none()
        })
        .map(|p| p + start)
    else {
        return false;
    };
    let mut defined: Vec<&str> = Vec::new();
    let mut moved = false;
    for f in &fields[first_def..] {
        match import_kind(f) {
            Some(kind) => {
                if kind.is_some_and(|k| defined.contains(&k.as_str())) {
                    return false;
                }
                moved = true;
            }
            None => defined.extend(f.head().filter(|h| DEFINITIONS.contains(h))),
        }
    }
    if !moved {
        return false;
    }
    let rest = fields.split_off(first_def);
    let (imports, others): (Vec<_>, Vec<_>) =
        rest.into_iter().partition(|f| import_kind(f).is_some());
    fields.extend(imports);
    fields.extend(others);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text rewrites 1 and 2 print, or `None`.
    fn rewritten(text: &str) -> Option<String> {
        rewrite_dialect(text).map(|r| r.text)
    }

    fn validates(text: &str) -> Vec<u8> {
        let wasm = parse(text).unwrap();
        wasmparser::validate(&wasm).unwrap();
        wasm
    }

    #[test]
    fn bare_block_arms_become_then_and_else() {
        let text = r#"(module (func $f (param $x i32)
            (if (local.get $x)
              (block ;; a comment
                (drop (i32.const 1)) (nop))
              (block (nop)))))"#;
        assert!(wat::parse_str(text).is_err(), "not standard text");
        assert_eq!(
            rewritten(text).unwrap(),
            "(module (func $f (param $x i32) (if (local.get $x) \
             (then (drop (i32.const 1)) (nop)) (else (nop)))))"
        );
        validates(text);
    }

    #[test]
    fn other_arms_are_kept_whole() {
        // A labelled or typed block, or any other single expression, goes inside the arm.
        let text = r#"(if $l (result i32) (local.get 0)
            (block $b (result i32) (br $b (i32.const 1))) (i32.const 2))"#;
        assert_eq!(
            rewritten(text).unwrap(),
            "(if $l (result i32) (local.get 0) \
             (then (block $b (result i32) (br $b (i32.const 1)))) (else (i32.const 2)))"
        );
        // Without an else arm, nested in another rewritten if.
        let text = "(if (local.get 0) (if (local.get 1) (call $f)))";
        assert_eq!(
            rewritten(text).unwrap(),
            "(if (local.get 0) (then (if (local.get 1) (then (call $f)))))"
        );
        validates(
            r#"(module (func $f (param i32) (result i32)
                 (if (result i32) (local.get 0)
                   (block $b (result i32) (br $b (i32.const 1))) (i32.const 2))))"#,
        );
    }

    #[test]
    fn standard_ifs_and_ambiguous_ones_are_left_alone() {
        assert!(rewritten("(if (local.get 0) (then (nop)) (else (nop)))").is_none());
        // One expression (no arm) or four: not Binaryen's `if` either.
        assert!(rewritten("(if (local.get 0))").is_none());
        assert!(rewritten("(if (a) (b) (c) (d))").is_none());
    }

    #[test]
    fn imports_move_before_the_first_definition() {
        let text = r#"(module
            (type $t (func))
            (memory 1 1)
            (global $g i32 (i32.const 0))
            (import "env" "sleep" (func $sleep (param i32)))
            (export "memory" (memory 0))
            (import "env" "t" (table 1 funcref))
            (func $main (call $sleep (global.get $g))))"#;
        assert!(wat::parse_str(text).is_err(), "not standard text");
        assert_eq!(
            rewritten(text).unwrap(),
            r#"(module (type $t (func)) (import "env" "sleep" (func $sleep (param i32))) (import "env" "t" (table 1 funcref)) (memory 1 1) (global $g i32 (i32.const 0)) (export "memory" (memory 0)) (func $main (call $sleep (global.get $g))))"#
        );
        validates(text);
        // Inline imports count as imports, and bare fields (no `(module`) work too.
        let text = r#"(memory 1) (func $f (import "env" "f") (param i32))"#;
        assert_eq!(
            rewritten(text).unwrap(),
            r#"(func $f (import "env" "f") (param i32)) (memory 1)"#
        );
        validates(text);
    }

    #[test]
    fn an_import_after_a_definition_of_its_kind_stays() {
        // Moving it would renumber `(memory 0)`; the standard error stands.
        let text = r#"(module (memory 1) (import "env" "m" (memory 1)) (export "m" (memory 0)))"#;
        assert!(rewritten(text).is_none());
        let err = parse(text).unwrap_err().to_string();
        assert!(
            err.contains("line 1, column 21: import after memory"),
            "{err}"
        );
    }

    #[test]
    fn a_final_loop_that_cannot_fall_through_gets_unreachable() {
        // Folded, flat, nested in another loop, ending in `return`: all typed unreachable.
        for body in [
            "(loop $l (br_if 1 (i32.const 7) (i32.const 1)) (br $l))",
            "loop $l i32.const 7 i32.const 1 br_if 1 br $l end",
            "(loop $a (loop $b (br $a)))",
            "(loop (return (i32.const 7)))",
        ] {
            let text = format!("(module (func (export \"f\") (result i32) {body}))");
            let standard = wat::parse_str(&text).unwrap();
            assert!(wasmparser::validate(&standard).is_err(), "{body}");
            let wasm = validates(&text);
            assert_ne!(wasm, standard);
        }
    }

    #[test]
    fn loops_that_can_fall_through_are_not_touched() {
        // `br_if` may fall through: appending `unreachable` would change the program, so the
        // module stays invalid (and is returned as read for validation to report).
        let text = "(module (func (result i32) (loop $l (br_if $l (i32.const 0)))))";
        let wasm = parse(text).unwrap();
        assert_eq!(wasm, wat::parse_str(text).unwrap());
        assert!(wasmparser::validate(&wasm).is_err());
        // A loop that is not the last instruction, and a function without results.
        let f = |text: &str| {
            // `Func` parses what follows the `(` of a `(func ...)` field.
            let buf = ParseBuffer::new(text).unwrap();
            let mut func = parser::parse::<Func>(&buf).unwrap();
            end_diverging_loop(&mut func)
        };
        assert!(!f("func (result i32) (loop (br 0)) (i32.const 1)"));
        assert!(!f("func (loop (br 0))"));
        assert!(!f("func (result i32) (block (br 0))"));
        assert!(f("func (type 0) (loop (br 0))"));
    }

    #[test]
    fn all_three_together() {
        let text = r#"(module
            (memory 1 1)
            (import "env" "sleep" (func $sleep (param i32)))
            (func $sum (param $n i32) (result i32) (local $i i32)
              (loop $next
                (if (i32.ge_u (local.get $i) (local.get $n))
                  (block (return (local.get $i))))
                (call $sleep (local.get $i))
                (local.set $i (i32.add (local.get $i) (i32.const 1)))
                (br $next))))"#;
        validates(text);
    }

    #[test]
    fn errors_name_the_line_in_the_original_text() {
        // Invalid in both dialects: the standard parser's message, at the original position
        // even though the text that failed was the rewritten one.
        let text = "(module\n  (memory 1)\n  (import \"a\" \"b\" (func))\n  (func\n    (if (i32.const 1) (block (i32.frob)))))";
        let err = parse(text).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid input module: line 5, column 31: unknown operator or unexpected token"
        );
        // No dialect at all: the standard error as is.
        let err = parse("(module\n (func (i32.frob)))")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2, column 9: unknown operator"), "{err}");
        // Text that does not even lex.
        let err = parse("(module\n \"open").unwrap_err().to_string();
        assert!(err.contains("line 2, column"), "{err}");
    }

    #[test]
    fn tokens_are_kept_verbatim() {
        let text = r#"(module (memory 1) (import "a\u{62}" "\00" (func $x.y (param f64)))
            (data (i32.const 0) "\ff;; not a comment") (global f64 (f64.const -0x1.8p+3_0)))"#;
        let out = rewritten(text).unwrap();
        assert!(out.contains(r#"(import "a\u{62}" "\00" (func $x.y (param f64)))"#));
        assert!(out.contains(r#""\ff;; not a comment""#));
        assert!(out.contains("-0x1.8p+3_0"));
        validates(text);
    }

    #[test]
    fn binary_passes_through() {
        let wasm = wat::parse_str("(module)").unwrap();
        assert!(matches!(parse_bytes(&wasm).unwrap(), Cow::Borrowed(_)));
        assert!(parse_bytes(&[0xff, 0xfe]).is_err());
    }
}
