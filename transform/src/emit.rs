//! Final touches on the encoded module that walrus does not do.
//!
//! walrus encodes every `if` with an `else`, even an empty one (a `TODO` in its encoder). An
//! empty `else` is one wasted byte per `if`, in the original code as well as in ours; this pass
//! drops them by copying each function body without those bytes. It works on the section
//! framing directly, so everything else stays byte for byte as walrus wrote it.

use wasmparser::{BinaryReader, FunctionBody, Operator};

use crate::Error;

const CODE_SECTION: u8 = 10;
const CUSTOM_SECTION: u8 = 0;

fn read_uleb(bytes: &[u8], pos: &mut usize) -> Result<u64, Error> {
    let mut result = 0u64;
    let mut shift = 0;
    loop {
        let b = *bytes
            .get(*pos)
            .ok_or_else(|| Error::InvalidOutput("truncated LEB".into()))?;
        *pos += 1;
        result |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(result);
        }
        shift += 7;
    }
}

fn write_uleb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// Removes every `else` that is immediately followed by `end`. Modules with DWARF sections
/// (whose code offsets would move) are returned unchanged.
pub(crate) fn drop_empty_else(wasm: Vec<u8>) -> Result<Vec<u8>, Error> {
    let bad = |e: wasmparser::BinaryReaderError| Error::InvalidOutput(e.to_string());
    let mut sections: Vec<(u8, std::ops::Range<usize>)> = Vec::new();
    let mut pos = 8;
    while pos < wasm.len() {
        let id = wasm[pos];
        pos += 1;
        let size = read_uleb(&wasm, &mut pos)? as usize;
        sections.push((id, pos..pos + size));
        pos += size;
    }
    let has_dwarf = sections.iter().any(|(id, r)| {
        *id == CUSTOM_SECTION && {
            let mut p = r.start;
            read_uleb(&wasm, &mut p)
                .map(|n| wasm[p..p + n as usize].starts_with(b".debug"))
                .unwrap_or(false)
        }
    });
    if has_dwarf {
        return Ok(wasm);
    }
    let mut out = Vec::with_capacity(wasm.len());
    out.extend_from_slice(&wasm[..8]);
    for (id, range) in sections {
        let content = if id == CODE_SECTION {
            rewrite_code(&wasm[range.clone()]).map_err(bad)?
        } else {
            wasm[range].to_vec()
        };
        out.push(id);
        write_uleb(&mut out, content.len() as u64);
        out.extend_from_slice(&content);
    }
    Ok(out)
}

fn rewrite_code(section: &[u8]) -> Result<Vec<u8>, wasmparser::BinaryReaderError> {
    let mut reader = BinaryReader::new(section, 0);
    let count = reader.read_var_u32()?;
    let mut out = Vec::with_capacity(section.len());
    write_uleb(&mut out, u64::from(count));
    for _ in 0..count {
        let size = reader.read_var_u32()? as usize;
        let start = reader.original_position();
        let body_bytes = &section[start..start + size];
        reader.read_bytes(size)?;
        let body = FunctionBody::new(BinaryReader::new(body_bytes, 0));
        let mut ops = body.get_operators_reader()?;
        let mut skip = Vec::new();
        let mut pending_else: Option<usize> = None;
        while !ops.eof() {
            let (op, offset) = ops.read_with_offset()?;
            if let Some(e) = pending_else.take() {
                if matches!(op, Operator::End) {
                    skip.push(e);
                }
            }
            if matches!(op, Operator::Else) {
                pending_else = Some(offset);
            }
        }
        let mut new_body = Vec::with_capacity(size);
        let mut last = 0;
        for s in skip {
            new_body.extend_from_slice(&body_bytes[last..s]);
            last = s + 1; // `else` is a single byte
        }
        new_body.extend_from_slice(&body_bytes[last..]);
        write_uleb(&mut out, new_body.len() as u64);
        out.extend_from_slice(&new_body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_else_is_dropped_and_the_module_still_validates() {
        let wasm = wat::parse_str(
            r#"(module (func (param i32) (result i32)
                (if (local.get 0) (then (nop)) (else))
                (if (result i32) (local.get 0) (then (i32.const 1)) (else (i32.const 2)))))"#,
        )
        .unwrap();
        let mut m = walrus::Module::from_buffer(&wasm).unwrap();
        let emitted = m.emit_wasm();
        let slim = super::drop_empty_else(emitted.clone()).unwrap();
        assert_eq!(slim.len(), emitted.len() - 1, "one empty else removed");
        wasmparser::validate(&slim).unwrap();
        let text = wasmprinter::print_bytes(&slim).unwrap();
        assert_eq!(text.matches("else").count(), 1, "{text}");
    }
}
