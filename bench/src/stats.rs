//! Order statistics of a set of samples.

use std::time::Duration;

/// Samples of one figure, kept to compute medians and tails.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f64>,
}

impl Samples {
    pub fn push(&mut self, value: f64) {
        self.values.push(value);
    }

    pub fn push_duration(&mut self, value: Duration) {
        self.push(value.as_secs_f64() * 1000.0);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The `q` quantile (0..=1), nearest rank; `NaN` without samples.
    pub fn quantile(&self, q: f64) -> f64 {
        if self.values.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.values.clone();
        sorted.sort_by(f64::total_cmp);
        let rank = (q * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    pub fn median(&self) -> f64 {
        self.quantile(0.5)
    }

    pub fn p99(&self) -> f64 {
        self.quantile(0.99)
    }

    pub fn max(&self) -> f64 {
        self.quantile(1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let mut samples = Samples::default();
        assert!(samples.median().is_nan());
        for value in (1..=100).rev() {
            samples.push(f64::from(value));
        }
        assert_eq!(samples.median(), 50.0);
        assert_eq!(samples.p99(), 99.0);
        assert_eq!(samples.max(), 100.0);
        assert_eq!(samples.quantile(0.0), 1.0);
    }
}
