//! The generator of the engine's randomized tests: xorshift64, seeded by
//! the test, so a failure replays from its seed. Tests only.
//!
//! What must stay true: the sequence for a seed never changes, or the
//! cases the tests have been checked on change with it. The seed must not
//! be 0 (xorshift stays at 0).

/// A deterministic generator: `Rng(seed)`.
pub(crate) struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// An index into a slice of `len` items (0 when `len` is 0).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}
