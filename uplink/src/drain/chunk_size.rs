//! How many bytes the next tus PATCH carries, learnt from the link.
//!
//! A PATCH is the unit that a drop can cost (what was in flight when the connection broke is sent
//! again) and the unit whose time limit must fit the link: on a fast LAN a large chunk keeps the
//! request overhead negligible, on a 256 kbit/s 3G link the same 4 MiB chunk takes over two
//! minutes, long enough for a mobile network to drop it more often than not. So the sizer aims
//! each PATCH at [`TARGET`] of sending at the throughput measured on the previous ones, between
//! a floor ([`FLOOR`], or the configured chunk if smaller) and the configured chunk as ceiling.
//! It grows at most twofold per PATCH (one fast request on a quiet link is no proof of a fast
//! link) and shrinks fourfold after a failed one (a link that just dropped is likely to drop
//! again, and the next attempt should get some bytes through before it does).

use std::time::Duration;

/// The time one PATCH should take at the measured throughput: long enough that the per-request
/// cost (headers, the round trip for the answer, the gateway's segment write) stays a few
/// percent even at 300 ms of delay, short enough that a drop costs seconds of sending.
pub(crate) const TARGET: Duration = Duration::from_secs(15);
/// The smallest PATCH the sizer makes (unless the configured chunk is smaller): below it the
/// per-request cost dominates on a high-delay link.
pub(crate) const FLOOR: u64 = 64 * 1024;
/// The first PATCH of an uplink that has measured nothing yet: 8 s at 256 kbit/s, a blink on a
/// LAN (after which it doubles towards the ceiling).
const FIRST: u64 = 256 * 1024;
/// How much of the new measurement goes into the throughput estimate.
const WEIGHT: f64 = 0.5;

/// The chunk size controller; one per uplink, so what one upload learnt about the link serves
/// the next.
#[derive(Debug, Clone)]
pub(crate) struct ChunkSizer {
    floor: u64,
    ceiling: u64,
    next: u64,
    /// Bytes per second, smoothed over the recent PATCHes; `None` before the first.
    throughput: Option<f64>,
}

impl ChunkSizer {
    /// A sizer whose ceiling is `ceiling` bytes (the configured chunk, at least 1).
    pub(crate) fn new(ceiling: u64) -> Self {
        let ceiling = ceiling.max(1);
        let floor = FLOOR.min(ceiling);
        Self {
            floor,
            ceiling,
            next: FIRST.clamp(floor, ceiling),
            throughput: None,
        }
    }

    /// Bytes of the next PATCH.
    pub(crate) fn next(&self) -> u64 {
        self.next
    }

    /// The measured throughput in bytes per second, if any PATCH was measured.
    pub(crate) fn throughput(&self) -> Option<f64> {
        self.throughput
    }

    /// Records a PATCH that stored `bytes` in `took`, and sizes the next one for [`TARGET`].
    pub(crate) fn succeeded(&mut self, bytes: u64, took: Duration) {
        let secs = took.as_secs_f64().max(0.001);
        let measured = bytes as f64 / secs;
        let rate = match self.throughput {
            Some(old) => old * (1.0 - WEIGHT) + measured * WEIGHT,
            None => measured,
        };
        self.throughput = Some(rate);
        let wanted = (rate * TARGET.as_secs_f64()) as u64;
        // A short last chunk of a blob says little about the link: it may not grow the next.
        let grown = self.next.max(bytes).saturating_mul(2);
        self.next = wanted.min(grown).clamp(self.floor, self.ceiling);
    }

    /// Records a PATCH that failed (timed out, connection reset, gateway unreachable): the
    /// next is a quarter of this one, and the throughput estimate is halved so that growing
    /// back takes a few good PATCHes.
    pub(crate) fn failed(&mut self) {
        self.next = (self.next / 4).clamp(self.floor, self.ceiling);
        if let Some(rate) = &mut self.throughput {
            *rate /= 2.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;

    /// Feeds the sizer PATCHes at `rate` bytes/s (each taking its size / rate) `n` times.
    fn run_at(sizer: &mut ChunkSizer, rate: f64, n: usize) {
        for _ in 0..n {
            let bytes = sizer.next();
            sizer.succeeded(bytes, Duration::from_secs_f64(bytes as f64 / rate));
        }
    }

    #[test]
    fn settles_at_the_target_time_on_a_slow_link() {
        // 256 kbit/s = 32 000 bytes/s: 15 s is 480 000 bytes.
        let mut s = ChunkSizer::new(4 * MIB);
        assert_eq!(s.next(), 256 * KIB);
        run_at(&mut s, 32_000.0, 10);
        assert_eq!(s.next(), 480_000);
        let took = s.next() as f64 / 32_000.0;
        assert!((14.0..=16.0).contains(&took), "{took} s per PATCH");
    }

    #[test]
    fn reaches_the_ceiling_on_a_fast_link_doubling_at_most() {
        let mut s = ChunkSizer::new(4 * MIB);
        let mut sizes = vec![s.next()];
        for _ in 0..6 {
            run_at(&mut s, 100e6, 1);
            sizes.push(s.next());
        }
        assert_eq!(
            sizes,
            vec![
                256 * KIB,
                512 * KIB,
                MIB,
                2 * MIB,
                4 * MIB,
                4 * MIB,
                4 * MIB
            ]
        );
    }

    #[test]
    fn shrinks_fast_after_failures_down_to_the_floor() {
        let mut s = ChunkSizer::new(4 * MIB);
        run_at(&mut s, 100e6, 6);
        assert_eq!(s.next(), 4 * MIB);
        s.failed();
        assert_eq!(s.next(), MIB);
        s.failed();
        assert_eq!(s.next(), 256 * KIB);
        s.failed();
        s.failed();
        assert_eq!(s.next(), FLOOR);
        // Growing back is gradual (twofold per PATCH), not one jump to the ceiling.
        run_at(&mut s, 100e6, 1);
        assert_eq!(s.next(), 2 * FLOOR);
    }

    #[test]
    fn follows_a_link_that_slows_down() {
        let mut s = ChunkSizer::new(8 * MIB);
        run_at(&mut s, 1e6, 8);
        assert_eq!(s.next(), 8 * MIB);
        // The link falls to 32 kB/s: within a few PATCHes each takes about the target again.
        run_at(&mut s, 32_000.0, 8);
        let took = s.next() as f64 / 32_000.0;
        assert!(took < 20.0, "{took} s per PATCH after the slowdown");
    }

    #[test]
    fn a_small_configured_chunk_is_both_floor_and_ceiling() {
        let mut s = ChunkSizer::new(16 * KIB);
        assert_eq!(s.next(), 16 * KIB);
        run_at(&mut s, 100e6, 3);
        assert_eq!(s.next(), 16 * KIB);
        s.failed();
        assert_eq!(s.next(), 16 * KIB);
        assert_eq!(ChunkSizer::new(0).next(), 1);
    }

    #[test]
    fn a_short_last_chunk_does_not_shrink_the_estimate_to_nothing() {
        let mut s = ChunkSizer::new(4 * MIB);
        run_at(&mut s, 32_000.0, 10);
        let settled = s.next();
        // The last 10 KiB of a blob, sent at the same rate.
        s.succeeded(10 * KIB, Duration::from_secs_f64(10.0 * 1024.0 / 32_000.0));
        assert_eq!(s.next(), settled);
        assert!(s.throughput().is_some_and(|r| (r - 32_000.0).abs() < 1.0));
    }
}
