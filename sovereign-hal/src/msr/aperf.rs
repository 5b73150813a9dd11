//! Effective CPU frequency from APERF/MPERF (HARDWARE.md §8).
//!
//! MPERF counts at a fixed reference rate while the CPU is in C0, APERF at the actual
//! rate; the kernel's average frequency is `cpu_khz × ΔAPERF / ΔMPERF` (integer,
//! `arch/x86/kernel/cpu/aperfmperf.c`). Both MSRs exist on AMD and Intel.
//!
//! Read the two MSRs back to back on the same CPU: turbostat retries when the two reads
//! were far apart, because a delay between them skews the ratio.

use super::{MsrReader, ReadError, read};
use crate::decode::DecodeError;
use crate::units::MegaHertz;

/// `MSR_IA32_TSC` (msr-index.h): time-stamp counter.
pub const MSR_IA32_TSC: u32 = 0x10;
/// `MSR_IA32_MPERF` (msr-index.h): reference-rate cycles in C0.
pub const MSR_IA32_MPERF: u32 = 0xE7;
/// `MSR_IA32_APERF` (msr-index.h): actual cycles in C0.
pub const MSR_IA32_APERF: u32 = 0xE8;

/// Effective frequency in kHz over an interval: `base_khz × Δaperf / Δmperf`, floored,
/// computed in 128 bits.
///
/// `Δmperf == 0` (no C0 time, or the same sample twice) is [`DecodeError::Invalid`]; a
/// result above `u32::MAX` kHz (possible only with inconsistent counters) is
/// [`DecodeError::OutOfRange`].
pub fn effective_frequency_khz(
    base_khz: u32,
    delta_aperf: u64,
    delta_mperf: u64,
) -> Result<u32, DecodeError> {
    if delta_mperf == 0 {
        return Err(DecodeError::Invalid);
    }
    let khz = u128::from(base_khz) * u128::from(delta_aperf) / u128::from(delta_mperf);
    u32::try_from(khz).map_err(|_| DecodeError::OutOfRange)
}

/// [`effective_frequency_khz`] in whole MHz (floored).
pub fn effective_frequency(
    base_khz: u32,
    delta_aperf: u64,
    delta_mperf: u64,
) -> Result<MegaHertz, DecodeError> {
    effective_frequency_khz(base_khz, delta_aperf, delta_mperf).map(|k| MegaHertz(k / 1000))
}

/// Keeps the previous APERF/MPERF pair of one CPU and turns each new pair into an
/// effective frequency. Deltas are taken modulo 2⁶⁴, so a counter wrap is harmless.
///
/// Wrap or reset: a 64-bit counter at 10 GHz needs 58 years to wrap, so a counter that
/// goes back was reset (CPU offline/online, resume, firmware). Modulo 2⁶⁴ that would
/// read as the base frequency (both reset) or as garbage (one reset), so a delta of 2⁶³
/// or more in either counter is taken as a reset: no frequency, the pair becomes the new
/// baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AperfMperf {
    base_khz: u32,
    prev: Option<(u64, u64)>,
}

impl AperfMperf {
    /// A sampler for a CPU whose MPERF reference rate is `base_khz` (the kernel uses
    /// `cpu_khz`, the TSC/base frequency).
    pub const fn new(base_khz: u32) -> Self {
        Self {
            base_khz,
            prev: None,
        }
    }

    /// Feeds one (APERF, MPERF) pair. Returns `None` if the pair only sets the baseline
    /// (the first pair, or one after a counter reset: a delta ≥ 2⁶³), else the effective
    /// frequency in kHz since the previous pair, or the error of
    /// [`effective_frequency_khz`] (e.g. MPERF did not advance). The pair becomes the
    /// new baseline either way.
    pub fn update_khz(&mut self, aperf: u64, mperf: u64) -> Option<Result<u32, DecodeError>> {
        let prev = self.prev.replace((aperf, mperf))?;
        let delta_aperf = aperf.wrapping_sub(prev.0);
        let delta_mperf = mperf.wrapping_sub(prev.1);
        if delta_aperf >= 1 << 63 || delta_mperf >= 1 << 63 {
            return None;
        }
        Some(effective_frequency_khz(
            self.base_khz,
            delta_aperf,
            delta_mperf,
        ))
    }

    /// Forgets the baseline (e.g. after the CPU went offline).
    pub fn reset(&mut self) {
        self.prev = None;
    }
}

/// Reads (APERF, MPERF) of `cpu`, MPERF first, back to back.
pub fn read_aperf_mperf<R: MsrReader>(
    r: &mut R,
    cpu: u32,
) -> Result<(u64, u64), ReadError<R::Error>> {
    let mperf = read(r, cpu, MSR_IA32_MPERF)?;
    let aperf = read(r, cpu, MSR_IA32_APERF)?;
    Ok((aperf, mperf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ratio_scales_the_base_frequency() {
        // Base 2.4 GHz, APERF ran 1.5× MPERF: 3.6 GHz.
        assert_eq!(
            effective_frequency_khz(2_400_000, 3_000_000, 2_000_000),
            Ok(3_600_000)
        );
        assert_eq!(
            effective_frequency(2_400_000, 3_000_000, 2_000_000),
            Ok(MegaHertz(3600))
        );
        // Floors: 1 000 000 × 1 / 3 = 333 333.3… kHz.
        assert_eq!(effective_frequency_khz(1_000_000, 1, 3), Ok(333_333));
    }

    #[test]
    fn huge_deltas_do_not_overflow() {
        // u64 × u32 would overflow 64 bits; 128-bit intermediates keep it exact.
        assert_eq!(
            effective_frequency_khz(3_000_000, u64::MAX, u64::MAX),
            Ok(3_000_000)
        );
        assert_eq!(
            effective_frequency_khz(u32::MAX, u64::MAX, 1),
            Err(DecodeError::OutOfRange)
        );
    }

    #[test]
    fn no_mperf_progress_is_an_error() {
        assert_eq!(
            effective_frequency_khz(2_400_000, 5, 0),
            Err(DecodeError::Invalid)
        );
    }

    #[test]
    fn sampler_handles_wrap_and_keeps_the_previous_pair() {
        let mut s = AperfMperf::new(2_000_000);
        assert_eq!(s.update_khz(u64::MAX - 99, u64::MAX - 199), None);
        // APERF advanced 300 across the wrap, MPERF 200: 1.5×.
        assert_eq!(s.update_khz(200, 0), Some(Ok(3_000_000)));
        // Same pair again: MPERF did not move.
        assert_eq!(s.update_khz(200, 0), Some(Err(DecodeError::Invalid)));
        s.reset();
        assert_eq!(s.update_khz(1, 1), None);
    }

    #[test]
    fn counters_going_back_are_a_reset_not_a_frequency() {
        // After a CPU comes back online (or a resume) both counters restarted near 0.
        // Modulo 2^64 both deltas are ≈ 2^64 and their ratio ≈ 1: it would read as the
        // base frequency, a plausible number that is wrong. It is a new baseline.
        let mut s = AperfMperf::new(2_000_000);
        assert_eq!(s.update_khz(1_000_000_000_000, 900_000_000_000), None);
        assert_eq!(s.update_khz(3_000_000, 2_000_000), None);
        assert_eq!(s.update_khz(6_000_000, 4_000_000), Some(Ok(3_000_000)));
        // Only MPERF restarted: ratio near 0 otherwise (a CPU "at 0 MHz").
        assert_eq!(s.update_khz(9_000_000, 10), None);
        assert_eq!(s.update_khz(9_000_400, 210), Some(Ok(4_000_000)));
    }

    proptest! {
        #[test]
        fn nothing_panics(base in any::<u32>(), a in any::<u64>(), m in any::<u64>(), a2 in any::<u64>(), m2 in any::<u64>()) {
            let _ = effective_frequency(base, a, m);
            let mut s = AperfMperf::new(base);
            s.update_khz(a, m);
            let _ = s.update_khz(a2, m2);
        }
    }
}
