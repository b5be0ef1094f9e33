//! Helpers shared by the unit tests: deterministic randomness.

/// xorshift64*: a tiny deterministic PRNG, so randomised tests repeat.
pub struct Rng(pub u64);

impl Rng {
    /// A generator for `seed` (any value; zero is mapped to a non-zero state).
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
