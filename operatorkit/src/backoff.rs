//! Per-object exponential backoff with jitter: each failing object waits
//! longer after every failure, independently of the others, and starts over
//! after a success (kube-runtime's `Controller` leaves this to the caller).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

/// Backoff settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackoffConfig {
    /// Delay after the first failure.
    pub initial: Duration,
    /// Upper bound of the delay.
    pub max: Duration,
    /// Growth per failure.
    pub factor: f64,
    /// Random spread: a delay is multiplied by a factor in `[1 - jitter, 1 + jitter]`.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(300),
            factor: 2.0,
            jitter: 0.1,
        }
    }
}

impl BackoffConfig {
    /// The delay after `failures` consecutive failures (at least 1), before jitter.
    pub fn base_delay(&self, failures: u32) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let secs = self.initial.as_secs_f64() * self.factor.max(1.0).powi(exponent);
        if secs.is_finite() && secs < self.max.as_secs_f64() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }

    /// The delay after `failures` consecutive failures, with jitter from `unit`
    /// (a number in `[0, 1)`).
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0);
        let spread = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        self.base_delay(failures).mul_f64(spread)
    }
}

/// Failure counts per object.
#[derive(Debug)]
pub struct Backoff<Key> {
    config: BackoffConfig,
    failures: Mutex<HashMap<Key, u32>>,
}

impl<Key: Eq + Hash> Backoff<Key> {
    /// Backoff with `config`.
    pub fn new(config: BackoffConfig) -> Self {
        Self {
            config,
            failures: Mutex::default(),
        }
    }

    /// Records a failure of `key`; returns how long to wait.
    pub fn failed(&self, key: Key) -> Duration {
        let mut failures = self.lock();
        let n = failures.entry(key).or_insert(0);
        *n = n.saturating_add(1);
        self.config.delay(*n, fastrand::f64())
    }

    /// Records a success of `key`: its next failure starts from the beginning.
    pub fn succeeded(&self, key: &Key) {
        self.lock().remove(key);
    }

    /// Consecutive failures of `key`.
    pub fn failures(&self, key: &Key) -> u32 {
        self.lock().get(key).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, u32>> {
        // The map is plain data; a panic elsewhere does not corrupt it.
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap() {
        let c = BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            factor: 2.0,
            jitter: 0.0,
        };
        let ms = |n| c.base_delay(n).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5)],
            [100, 200, 400, 800, 1000]
        );
        assert_eq!(c.base_delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn jitter_stays_in_its_band() {
        let c = BackoffConfig {
            jitter: 0.2,
            ..Default::default()
        };
        let base = c.base_delay(3).as_secs_f64();
        for unit in [0.0, 0.5, 0.999] {
            let d = c.delay(3, unit).as_secs_f64();
            assert!(
                d >= base * 0.8 - 1e-9 && d <= base * 1.2 + 1e-9,
                "{d} vs {base}"
            );
        }
    }

    #[test]
    fn success_resets_one_object_only() {
        let b = Backoff::new(BackoffConfig {
            jitter: 0.0,
            ..Default::default()
        });
        let first = b.failed("a");
        let second = b.failed("a");
        b.failed("b");
        assert!(second > first);
        b.succeeded(&"a");
        assert_eq!(b.failures(&"a"), 0);
        assert_eq!(b.failures(&"b"), 1);
        assert_eq!(b.failed("a"), first);
    }
}
