//! Code-layout variants of a module, so that a timing does not hinge on where Cranelift's
//! machine code happens to land.
//!
//! Cranelift does not align loops (wasmtime issue #4883), so a hot loop's speed depends on its
//! address modulo the fetch and cache-line sizes, which any change earlier in the function or
//! the module moves. On this machine one store added at the entry of linpack's `main` (code
//! that runs once) took its list-mode module from 1.42x to 1.10x normal, and eight other
//! paddings gave 0.98x-1.06x: the same wasm, the same loop instructions, only moved
//! (`docs/suite.md`). A single compiled layout per module therefore measures luck as often as
//! the transform.
//!
//! [`shifted`] makes a variant of a module whose every defined function's machine code starts
//! later by an amount that depends on `pad`: a function nothing calls, with `pad` stores, is
//! placed before the first defined function (wasmtime lays out the compiled functions in index
//! order). The module's behaviour and the code of its own functions are unchanged. Timing each
//! repeat in a different variant makes the median one over layouts, as the suite's runtime
//! stage and `examples/time` do.

use anyhow::{Context, Result};
use wasm_encoder::reencode::{utils, Error, Reencode};
use wasm_encoder::{CodeSection, Function, FunctionSection, Instruction, MemArg, ValType};
use wasmparser::{Parser, Payload, TypeRef};

/// Layouts per module in the runtime stage (and `examples/time`'s default): with the quick
/// run's three repeats, each repeat runs another layout.
pub const LAYOUTS: u32 = 3;

/// The variant of `wasm` for layout `layout` (0: the module itself). Layouts 1, 2, ... place a
/// padding function of `4 * layout` stores before the module's functions. A module without a
/// 32-bit memory or without defined functions has one layout: every `layout` gives it back
/// unchanged.
pub fn shifted(wasm: &[u8], layout: u32) -> Result<Vec<u8>> {
    if layout == 0 {
        return Ok(wasm.to_vec());
    }
    let mut shift = Shift {
        imported: 0,
        types: 0,
        stores: 4 * layout,
    };
    let (mut memory32, mut functions) = (false, false);
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.context("reading the module to shift")? {
            Payload::ImportSection(s) => {
                for import in s.into_imports() {
                    match import?.ty {
                        TypeRef::Func(_) | TypeRef::FuncExact(_) => shift.imported += 1,
                        TypeRef::Memory(m) => memory32 |= !m.memory64,
                        _ => {}
                    }
                }
            }
            Payload::TypeSection(s) => {
                for group in s {
                    shift.types += group?.types().len() as u32;
                }
            }
            Payload::MemorySection(s) => {
                for m in s {
                    memory32 |= !m?.memory64;
                }
            }
            Payload::FunctionSection(s) => functions = s.count() > 0,
            _ => {}
        }
    }
    if !memory32 || !functions {
        return Ok(wasm.to_vec());
    }
    let mut module = wasm_encoder::Module::new();
    shift
        .parse_core_module(&mut module, Parser::new(0), wasm)
        .map_err(|e| anyhow::anyhow!("shifting the module's layout: {e:?}"))?;
    Ok(module.finish())
}

/// Renumbers the defined functions one up and adds the padding function (type `[i32] -> []`,
/// appended to the types) as the first of them.
struct Shift {
    imported: u32,
    types: u32,
    stores: u32,
}

impl Reencode for Shift {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, Error> {
        Ok(if func >= self.imported {
            func + 1
        } else {
            func
        })
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), Error> {
        utils::parse_type_section(self, types, section)?;
        types.ty().function([ValType::I32], []);
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), Error> {
        functions.function(self.types);
        utils::parse_function_section(self, functions, section)
    }

    fn parse_code_section(
        &mut self,
        code: &mut CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), Error> {
        // Stores to distinct offsets: Cranelift keeps every one (a `nop` or a dropped constant
        // would compile to nothing).
        let mut pad = Function::new([]);
        for i in 0..self.stores {
            pad.instruction(&Instruction::LocalGet(0));
            pad.instruction(&Instruction::LocalGet(0));
            pad.instruction(&Instruction::I32Store(MemArg {
                offset: 4 * u64::from(i),
                align: 2,
                memory_index: 0,
            }));
        }
        pad.instruction(&Instruction::End);
        code.function(&pad);
        utils::parse_code_section(self, code, section)
    }

    /// Custom sections are dropped: a name section would name the wrong functions now, and
    /// nothing that runs reads them.
    fn parse_custom_section(
        &mut self,
        _module: &mut wasm_encoder::Module,
        _section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), Error> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &str = r#"(module
        (import "env" "f" (func $f (param i32) (result i32)))
        (memory 1)
        (table 2 funcref)
        (elem (i32.const 0) $g $h)
        (func $g (export "g") (param i32) (result i32)
            local.get 0 call $h call $f)
        (func $h (param i32) (result i32)
            local.get 0 i32.const 1 i32.add)
        (func (export "indirect") (param i32) (result i32)
            i32.const 5 local.get 0 call_indirect (param i32) (result i32))
        (start $s)
        (global $started (mut i32) (i32.const 0))
        (func $s i32.const 1 global.set $started)
        (export "started" (global $started)))"#;

    /// Every layout validates, places the padding first, and behaves like the module itself.
    #[test]
    fn a_shifted_module_runs_as_the_original() -> Result<()> {
        let wasm = wat::parse_str(MODULE)?;
        let engine = wasmtime::Engine::default();
        let results = |bytes: &[u8]| -> Result<Vec<i32>> {
            let module = wasmtime::Module::new(&engine, bytes).map_err(anyhow::Error::msg)?;
            let mut store = wasmtime::Store::new(&engine, ());
            let f = wasmtime::Func::wrap(&mut store, |x: i32| x * 10);
            let instance = wasmtime::Instance::new(&mut store, &module, &[f.into()])
                .map_err(anyhow::Error::msg)?;
            let g = instance
                .get_typed_func::<i32, i32>(&mut store, "g")
                .map_err(anyhow::Error::msg)?;
            let indirect = instance
                .get_typed_func::<i32, i32>(&mut store, "indirect")
                .map_err(anyhow::Error::msg)?;
            let started = instance.get_global(&mut store, "started").unwrap();
            Ok(vec![
                g.call(&mut store, 4).map_err(anyhow::Error::msg)?,
                indirect.call(&mut store, 0).map_err(anyhow::Error::msg)?,
                indirect.call(&mut store, 1).map_err(anyhow::Error::msg)?,
                started.get(&mut store).unwrap_i32(),
            ])
        };
        let expected = results(&wasm)?;
        assert_eq!(expected, vec![50, 60, 6, 1]);
        assert_eq!(shifted(&wasm, 0)?, wasm);
        for layout in 1..4 {
            let variant = shifted(&wasm, layout)?;
            wasmparser::validate(&variant)?;
            assert_eq!(results(&variant)?, expected, "layout {layout}");
            let text = wasmprinter::print_bytes(&variant)?;
            // Function 1, right after the import, is the padding: every store is in it.
            let first = text.find("(func (;1;)").context("no function 1")?;
            let second = text.find("(func (;2;)").context("no function 2")?;
            assert_eq!(
                text[first..second].matches("i32.store").count(),
                4 * layout as usize
            );
            assert_eq!(text.matches("i32.store").count(), 4 * layout as usize);
        }
        Ok(())
    }

    /// Without a memory there is nothing for the padding to store to: one layout.
    #[test]
    fn a_module_without_memory_has_one_layout() -> Result<()> {
        let wasm = wat::parse_str("(module (func (export \"f\")))")?;
        assert_eq!(shifted(&wasm, 3)?, wasm);
        Ok(())
    }
}
