//! Seeded random streams.
//!
//! Candle's CPU random number generator cannot be seeded, so everything random in MTL Studio
//! (data generation, weight initialisation, batch order, dropout masks) draws from a
//! [`ChaCha8Rng`] derived from the experiment seed and a stream name. Two streams with
//! different names never share numbers, and changing one part of an experiment (say, a head)
//! does not shift the random numbers another part (say, batch order) sees.

use rand::SeedableRng as _;
use rand_chacha::ChaCha8Rng;

/// The random stream `name` of experiment seed `seed`.
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(name));
    rng
}

/// 64-bit FNV-1a hash of a stream name (stable across platforms and versions).
fn fnv1a(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use rand::Rng as _;

    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u32> = (0..4).map(|_| stream(7, "init").random()).collect();
        let mut r1 = stream(7, "init");
        let mut r2 = stream(7, "init");
        let mut r3 = stream(7, "batches");
        let mut r4 = stream(8, "init");
        let x1: u64 = r1.random();
        assert_eq!(x1, r2.random::<u64>(), "same seed and name must repeat");
        assert_ne!(x1, r3.random::<u64>(), "different names must differ");
        assert_ne!(x1, r4.random::<u64>(), "different seeds must differ");
        assert_eq!(a.len(), 4, "four draws");
    }
}
