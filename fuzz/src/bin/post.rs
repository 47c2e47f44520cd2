//! AFL++ target `post`: see fuzz/targets.rs and docs/fuzzing.md.
#[path = "../../targets.rs"]
mod targets;

fn main() {
    afl::fuzz!(|data: &[u8]| {
        targets::post(data);
    });
}
