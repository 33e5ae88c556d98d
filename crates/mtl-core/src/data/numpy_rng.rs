//! NumPy's legacy `RandomState` (MT19937 with its polar Gaussian), so the benchmark can train
//! on exactly the data `shared/bench/torch_bench.py` draws with `np.random.RandomState(0)`.
//! With the same data, the final test MSE of the two programs can be compared directly: the
//! MMoE tasks' difficulty depends strongly on the drawn α and β.

/// NumPy's `RandomState(seed)` for an integer seed.
#[derive(Clone, Debug)]
pub struct RandomState {
    mt: [u32; 624],
    index: usize,
    cached_gauss: Option<f64>,
}

impl RandomState {
    /// `np.random.RandomState(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..624 {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Self {
            mt,
            index: 624,
            cached_gauss: None,
        }
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= 624 {
            for i in 0..624 {
                let y = (self.mt[i] & 0x8000_0000) | (self.mt[(i + 1) % 624] & 0x7fff_ffff);
                let mut v = self.mt[(i + 397) % 624] ^ (y >> 1);
                if y & 1 == 1 {
                    v ^= 0x9908_b0df;
                }
                self.mt[i] = v;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random_sample()`: a double in [0, 1) from 53 random bits.
    pub fn random_sample(&mut self) -> f64 {
        let a = f64::from(self.next_u32() >> 5);
        let b = f64::from(self.next_u32() >> 6);
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `standard_normal()`: the legacy polar (Marsaglia) method, which caches its second value.
    pub fn standard_normal(&mut self) -> f64 {
        if let Some(g) = self.cached_gauss.take() {
            return g;
        }
        loop {
            let x1 = 2.0 * self.random_sample() - 1.0;
            let x2 = 2.0 * self.random_sample() - 1.0;
            let r2 = x1 * x1 + x2 * x2;
            if r2 < 1.0 && r2 != 0.0 {
                let f = (-2.0 * r2.ln() / r2).sqrt();
                self.cached_gauss = Some(f * x1);
                return f * x2;
            }
        }
    }

    /// `normal(loc, scale)`.
    pub fn normal(&mut self, loc: f64, scale: f64) -> f64 {
        loc + scale * self.standard_normal()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_random_state_zero() {
        // Values printed by NumPy: RandomState(0).random_sample() twice, then
        // RandomState(0).standard_normal(3).
        let mut rs = RandomState::new(0);
        assert_eq!(rs.random_sample(), 0.548_813_503_927_324_8, "first uniform");
        assert_eq!(
            rs.random_sample(),
            0.715_189_366_372_419_5,
            "second uniform"
        );
        let mut rs = RandomState::new(0);
        let g: Vec<f64> = (0..3).map(|_| rs.standard_normal()).collect();
        assert_eq!(
            g,
            [
                1.764_052_345_967_664,
                0.400_157_208_367_223_3,
                0.978_737_984_105_739_2
            ],
            "Gaussians"
        );
    }
}
