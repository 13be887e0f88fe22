//! Pacing retries: exponential backoff with full jitter, capped, never sooner than the provider's
//! `Retry-After`. Pure: the random draw is a parameter, so tests and replays are exact.

use rand::Rng;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first retry's delay; doubles per attempt.
    pub base: Duration,
    /// Largest ceiling however many attempts were made.
    pub cap: Duration,
    /// Longest `Retry-After` honoured as given; longer values are clipped to this.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(300),
            max_retry_after: Duration::from_secs(3600),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0 = the first retry). `unit` is a uniform draw
    /// from `[0, 1)`; values outside are clamped, NaN counts as 0.
    ///
    /// Full jitter (`unit × min(cap, base × 2^attempt)`) spreads retries of many senders; a
    /// `Retry-After` is a floor on top of that.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.cap);
        let unit = if unit.is_nan() {
            0.0
        } else {
            unit.clamp(0.0, 1.0)
        };
        let jittered = Duration::try_from_secs_f64(ceiling.as_secs_f64() * unit).unwrap_or(ceiling);
        match retry_after {
            Some(floor) => jittered.max(floor.min(self.max_retry_after)),
            None => jittered,
        }
    }
}

/// [`Backoff::default`]'s delay for retry number `attempt`, drawing the jitter from `rng`.
pub fn backoff<R: Rng + ?Sized>(
    attempt: u32,
    retry_after: Option<Duration>,
    rng: &mut R,
) -> Duration {
    Backoff::default().delay(attempt, retry_after, rng.r#gen::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    #[test]
    fn doubles_until_capped() {
        let b = Backoff::default();
        assert_eq!(b.delay(0, None, 1.0), Duration::from_secs(1));
        assert_eq!(b.delay(3, None, 1.0), Duration::from_secs(8));
        assert_eq!(b.delay(3, None, 0.5), Duration::from_secs(4));
        assert_eq!(b.delay(30, None, 1.0), Duration::from_secs(300));
        assert_eq!(b.delay(u32::MAX, None, 1.0), Duration::from_secs(300));
        assert_eq!(b.delay(5, None, 0.0), Duration::ZERO);
        assert_eq!(b.delay(5, None, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn honours_retry_after() {
        let b = Backoff::default();
        let ra = Some(Duration::from_secs(45));
        assert_eq!(b.delay(0, ra, 0.9), Duration::from_secs(45));
        assert_eq!(
            b.delay(0, Some(Duration::from_secs(86_400)), 0.0),
            Duration::from_secs(3600)
        );
    }

    #[test]
    fn seeded_rng_is_reproducible() {
        let mut a = rand::rngs::StdRng::seed_from_u64(7);
        let mut b = rand::rngs::StdRng::seed_from_u64(7);
        for attempt in 0..8 {
            assert_eq!(
                backoff(attempt, None, &mut a),
                backoff(attempt, None, &mut b)
            );
        }
    }

    proptest! {
        #[test]
        fn bounded_and_floored(attempt in 0u32..64, unit in 0.0f64..1.0, ra in proptest::option::of(0u64..10_000)) {
            let b = Backoff::default();
            let ra = ra.map(Duration::from_secs);
            let d = b.delay(attempt, ra, unit);
            let floor = ra.map(|r| r.min(b.max_retry_after)).unwrap_or(Duration::ZERO);
            prop_assert!(d >= floor);
            prop_assert!(d <= b.cap.max(floor));
            // The ceiling never shrinks as attempts grow.
            prop_assert!(b.delay(attempt, None, 1.0) <= b.delay(attempt + 1, None, 1.0));
        }
    }
}
