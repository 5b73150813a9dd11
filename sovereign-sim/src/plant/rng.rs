//! The plant's only source of randomness: a seeded PCG32 generator.
//!
//! Hand-rolled rather than taken from `rand_pcg`/`rand_chacha` because the simulator
//! promises byte-identical traces for a seed *forever*: a dozen lines whose output is
//! fixed by this file cannot change under a dependency upgrade (rand's `gen_range` and
//! float conversions have changed between major versions). The algorithm is O'Neill's
//! PCG-XSH-RR 64/32 (64-bit LCG state, xorshift-high + random rotation output).
//!
//! Noise values are built only from additions and multiplications of exact integers
//! converted to `f64`, so they are bit-identical on every IEEE-754 platform.

/// PCG-XSH-RR 64/32 with a fixed stream.
#[derive(Debug, Clone)]
pub(crate) struct Pcg32 {
    state: u64,
}

/// Knuth's MMIX LCG multiplier, the one PCG uses.
const MULTIPLIER: u64 = 6_364_136_223_846_793_005;
/// PCG's default stream increment (must be odd).
const INCREMENT: u64 = 1_442_695_040_888_963_407;

impl Pcg32 {
    /// A generator whose whole future is fixed by `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        // PCG's seeding: advance once, add the seed, advance again.
        let mut g = Self { state: 0 };
        g.next_u32();
        g.state = g.state.wrapping_add(seed);
        g.next_u32();
        g
    }

    /// The next 32 random bits.
    pub(crate) fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(MULTIPLIER).wrapping_add(INCREMENT);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// Uniform in [0, 1) with 32 bits of resolution (exact: k / 2^32).
    pub(crate) fn next_unit(&mut self) -> f64 {
        f64::from(self.next_u32()) * (1.0 / 4_294_967_296.0)
    }

    /// Triangular on (−1, 1), mean 0: the sum of two uniforms. Bounded (unlike a
    /// Gaussian), so a jitter amplitude is a hard limit a test can rely on.
    pub(crate) fn next_triangular(&mut self) -> f64 {
        self.next_unit() + self.next_unit() - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_different_seed_differs() {
        let mut a = Pcg32::new(42);
        let mut b = Pcg32::new(42);
        let mut c = Pcg32::new(43);
        let sa: Vec<u32> = (0..16).map(|_| a.next_u32()).collect();
        let sb: Vec<u32> = (0..16).map(|_| b.next_u32()).collect();
        let sc: Vec<u32> = (0..16).map(|_| c.next_u32()).collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
    }

    #[test]
    fn triangular_stays_in_range_and_centres_on_zero() {
        let mut g = Pcg32::new(7);
        let n = 20_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let v = g.next_triangular();
            assert!((-1.0..1.0).contains(&v));
            sum += v;
        }
        assert!(
            (sum / f64::from(n)).abs() < 0.02,
            "mean {}",
            sum / f64::from(n)
        );
    }
}
