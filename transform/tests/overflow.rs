//! A too-small unwind buffer must trap before anything is written past its end (Binaryen
//! only notices in the next API call, after the damage is done).

mod common;

use common::Runner;

const WAT: &str = r#"(module
  (import "env" "pause" (func $pause))
  (memory (export "memory") 1)
  (func $deep (export "deep") (param $n i32) (result i32)
    (local $keep i64)
    (local.set $keep (i64.extend_i32_u (local.get $n)))
    (if (result i32) (local.get $n)
      (then (i32.add (call $deep (i32.sub (local.get $n) (i32.const 1)))
                     (i32.wrap_i64 (local.get $keep))))
      (else (call $pause) (i32.const 0)))))"#;

const SENTINEL: u8 = 0xA5;

fn run_with_stack(bytes: u32, depth: i32) -> (Result<Vec<u128>, String>, Vec<u8>) {
    let out = asyncify::transform(WAT.as_bytes(), &asyncify::Options::default()).unwrap();
    let data = 0x8000;
    let end = data + 8 + bytes;
    let mut r = Runner::with_data(&out.wasm, true, 10_000_000, "memory", data, end).unwrap();
    let memory = r.instance.get_memory(&mut r.store, "memory").unwrap();
    memory.data_mut(&mut r.store)[end as usize..end as usize + 256].fill(SENTINEL);
    let outcome = r.call("deep", &[wasmtime::Val::I32(depth)]);
    let after = memory.data(&r.store)[end as usize..end as usize + 256].to_vec();
    (outcome.result, after)
}

#[test]
fn a_small_buffer_traps_without_writing_past_its_end() {
    // 20 frames of at least 12 bytes (an i64, the index) do not fit in 64 bytes.
    let (result, after) = run_with_stack(64, 20);
    let err = result.expect_err("the unwind must trap");
    assert!(err.contains("unreachable"), "{err}");
    assert!(
        after.iter().all(|&b| b == SENTINEL),
        "memory past the end was overwritten"
    );
}

#[test]
fn a_large_enough_buffer_works() {
    let (result, after) = run_with_stack(4096, 20);
    assert_eq!(result, Ok(vec![(1..=20).sum::<u128>()]));
    assert!(after.iter().all(|&b| b == SENTINEL));
}
