//! Round-trip statistics, computed as ping does (mdev = sqrt(E[x²] − E[x]²)).

use preflight_model::probe::RttStats;

/// Running RTT accumulator, in nanoseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct RttAcc {
    n: u32,
    sum: f64,
    sum2: f64,
    min: f64,
    max: f64,
}

impl RttAcc {
    /// Adds one sample (nanoseconds; negative values — clock steps — are clamped to zero).
    pub fn add(&mut self, ns: i64) {
        let v = ns.max(0) as f64;
        if self.n == 0 || v < self.min {
            self.min = v;
        }
        if self.n == 0 || v > self.max {
            self.max = v;
        }
        self.n += 1;
        self.sum += v;
        self.sum2 += v * v;
    }

    /// Number of samples.
    pub fn count(&self) -> u32 {
        self.n
    }

    /// The statistics in milliseconds, when there is at least one sample.
    pub fn stats(&self) -> Option<RttStats> {
        if self.n == 0 {
            return None;
        }
        let n = f64::from(self.n);
        let avg = self.sum / n;
        let var = (self.sum2 / n - avg * avg).max(0.0);
        Some(RttStats {
            min_ms: self.min / 1e6,
            avg_ms: avg / 1e6,
            max_ms: self.max / 1e6,
            mdev_ms: var.sqrt() / 1e6,
        })
    }
}

/// Loss in percent of `sent` requests of which `received` were answered.
pub fn loss_pct(sent: u32, received: u32) -> f64 {
    if sent == 0 {
        return 100.0;
    }
    let lost = sent.saturating_sub(received);
    f64::from(lost) * 100.0 / f64::from(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mdev_matches_ping_definition() {
        let mut acc = RttAcc::default();
        for ms in [1.0f64, 2.0, 3.0, 4.0] {
            acc.add((ms * 1e6) as i64);
        }
        let s = acc.stats().unwrap();
        assert_eq!(s.min_ms, 1.0);
        assert_eq!(s.max_ms, 4.0);
        assert!((s.avg_ms - 2.5).abs() < 1e-9);
        // population standard deviation of 1,2,3,4 = sqrt(1.25)
        assert!((s.mdev_ms - 1.25f64.sqrt()).abs() < 1e-9, "{}", s.mdev_ms);
    }

    #[test]
    fn single_sample_has_zero_mdev_and_empty_has_none() {
        assert!(RttAcc::default().stats().is_none());
        let mut acc = RttAcc::default();
        acc.add(500_000);
        let s = acc.stats().unwrap();
        assert_eq!(s.mdev_ms, 0.0);
        assert_eq!(s.avg_ms, 0.5);
        acc.add(-5);
        assert_eq!(acc.stats().unwrap().min_ms, 0.0);
    }

    #[test]
    fn loss_percent() {
        assert_eq!(loss_pct(0, 0), 100.0);
        assert_eq!(loss_pct(4, 3), 25.0);
        assert_eq!(loss_pct(3, 3), 0.0);
        assert_eq!(loss_pct(3, 5), 0.0);
    }
}
