//! RAPL energy units and a wrap-safe energy accumulator, shared by AMD and Intel.
//!
//! The RAPL unit register ([`super::amd::MSR_AMD_RAPL_POWER_UNIT`],
//! [`super::intel::MSR_RAPL_POWER_UNIT`]) has the same layout on both vendors
//! (HARDWARE.md §7): power-unit exponent in bits 3:0, energy-status unit (ESU) in bits
//! 12:8, time-unit exponent in bits 19:16; each unit is 1/2^field (W, J, s).
//!
//! Energy-status MSRs count in units of 2^−ESU J, and **only their low 32 bits count**
//! (HARDWARE.md §7, "Where common write-ups are wrong" 7). [`EnergyAccumulator`] turns
//! successive raw readings into a monotonic total.
//!
//! ## Sampling requirement
//!
//! A counter wraps after 2³² counts: 65 536 J at ESU 16, which a package drawing 360 W
//! spends in ≈ 182 s. Two readings cannot tell apart "Δ counts" from "Δ + k·2³²
//! counts", nor a wrap from a counter that was reset (see below), so
//! [`EnergyAccumulator`] only trusts a step of **less than half a wrap** (2³¹ counts,
//! ≈ 91 s at 360 W and ESU 16). Read each counter at least every
//! [`RaplUnits::max_safe_sample_interval`] for the highest power the domain can draw
//! (≈ 60 s at 360 W and ESU 16).
//!
//! ## Wrap or reset?
//!
//! A counter that restarts (firmware or SMU reset, CPU hotplug, resume) goes *back* by
//! less than a wrap. Taken as a wrap, that would add up to 2³² counts (65 536 J at ESU
//! 16) of energy never spent — a phantom power spike. The choice here follows perf's
//! signed 32-bit delta (HARDWARE.md §7): a step of 2³¹ counts or more (which perf reads
//! as negative) is a **reset**: nothing is added and the reading becomes the new
//! baseline. A step below 2³¹, across the 2³² boundary or not, is a wrap and counts in
//! full. A reset that lands more than 2³¹ counts below the previous reading is
//! indistinguishable from a wrap and is counted as one.
//!
//! ## How this differs from what Linux shows
//!
//! The kernel has three consumers of these counters with three arithmetics
//! (HARDWARE.md §7); the functions [`perf_delta_counts`], [`powercap_energy`] and
//! [`amd_energy_legacy_delta`] restate them so tests (and users comparing numbers) can
//! see where they differ from the exact arithmetic used here:
//! - perf treats a delta as **signed 32-bit**: a jump of 2³¹ counts or more reads as
//!   negative. Here such a jump is a counter reset (nothing added, new baseline); the
//!   total never goes down.
//! - powercap multiplies by a **truncated** integer-nanojoule unit, so exactly 1 J
//!   (65 536 counts at ESU 16) reads 999 948 µJ. Here it reads 1 000 000 µJ.
//! - the old `amd_energy` hwmon driver added `u32::MAX − prev + new` on a wrap, losing
//!   one count per wrap. Here a wrap adds `2³² − prev + new`.

use crate::units::{MicroJoules, MilliSeconds, MilliWatts};

/// Decoded RAPL unit register (`MSR_AMD_RAPL_POWER_UNIT` / `MSR_RAPL_POWER_UNIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RaplUnits {
    power_exp: u8,
    energy_exp: u8,
    time_exp: u8,
}

/// Micro-units per unit, for the exact conversions.
const MICRO: u128 = 1_000_000;

impl RaplUnits {
    /// Decodes the unit register. Every value decodes: each field is an exponent.
    // HARDWARE.md §7: power bits 3:0, ESU bits 12:8 (`& 0x1F` as perf does), time bits 19:16.
    pub const fn from_raw(raw: u64) -> Self {
        Self {
            power_exp: (raw & 0xF) as u8,
            energy_exp: ((raw >> 8) & 0x1F) as u8,
            time_exp: ((raw >> 16) & 0xF) as u8,
        }
    }

    /// Units with the given energy-status unit (only the low 5 bits are used) and zero
    /// power and time exponents; for domains whose ESU is fixed rather than read, such
    /// as the Intel server DRAM quirk (see [`super::intel`]).
    pub const fn from_esu(esu: u8) -> Self {
        Self {
            power_exp: 0,
            energy_exp: esu & 0x1F,
            time_exp: 0,
        }
    }

    /// Power-unit exponent (bits 3:0): one power count is 1/2^this W.
    pub const fn power_unit_exponent(self) -> u8 {
        self.power_exp
    }

    /// Energy-status unit ESU (bits 12:8): one energy count is 1/2^this J.
    pub const fn energy_status_unit(self) -> u8 {
        self.energy_exp
    }

    /// Time-unit exponent (bits 19:16): one time count is 1/2^this s.
    pub const fn time_unit_exponent(self) -> u8 {
        self.time_exp
    }

    /// Energy of `counts` energy counts, exactly: floor(counts × 10⁶ / 2^ESU) µJ
    /// (computed in 128 bits, so nothing overflows; saturates at `u64::MAX` µJ).
    pub fn counts_to_energy(self, counts: u64) -> MicroJoules {
        let uj = (u128::from(counts) * MICRO) >> self.energy_exp;
        MicroJoules(u64::try_from(uj).unwrap_or(u64::MAX))
    }

    /// Average power of `counts` energy counts spent over `elapsed`:
    /// floor(counts × 10⁶ / (2^ESU × ms)) mW, saturating at `i32::MAX`; `None` for a zero
    /// interval.
    pub fn counts_to_power(self, counts: u64, elapsed: MilliSeconds) -> Option<MilliWatts> {
        if elapsed.0 == 0 {
            return None;
        }
        // µJ per ms is mW.
        let den = (1u128 << self.energy_exp) * u128::from(elapsed.0);
        let mw = u128::from(counts) * MICRO / den;
        Some(MilliWatts(i32::try_from(mw).unwrap_or(i32::MAX)))
    }

    /// Power of a raw power field (e.g. a power limit or TDP) in power units:
    /// floor(raw × 1000 / 2^power-exponent) mW, saturating.
    pub fn power_field_to_power(self, raw: u64) -> MilliWatts {
        let mw = (u128::from(raw) * 1000) >> self.power_exp;
        MilliWatts(i32::try_from(mw).unwrap_or(i32::MAX))
    }

    /// How long a 32-bit energy counter takes to wrap at a constant `power`:
    /// 2³² × 10⁶ / (2^ESU × mW) ms, floored, saturating at `u32::MAX` ms (≈ 49 days).
    /// `None` if `power` is zero or negative (the counter never wraps).
    pub fn counter_wrap_period(self, power: MilliWatts) -> Option<MilliSeconds> {
        let mw = u128::try_from(power.0).ok().filter(|&p| p > 0)?;
        let ms = ((1u128 << 32) * MICRO) / ((1u128 << self.energy_exp) * mw);
        Some(MilliSeconds(u32::try_from(ms).unwrap_or(u32::MAX)))
    }

    /// The longest interval between two readings of an energy counter that is still
    /// safe when the domain draws up to `max_power`: a third of
    /// [`Self::counter_wrap_period`] (60.681 s at 360 W and ESU 16, whose wrap period is
    /// 182.044 s). [`EnergyAccumulator`] takes a step of half a wrap or more as a
    /// counter reset, so the margin (up to 1.5× this interval stays below half a wrap)
    /// covers a late reading (a busy daemon) and short bursts above `max_power`.
    /// `None` if `max_power` is zero or negative.
    pub fn max_safe_sample_interval(self, max_power: MilliWatts) -> Option<MilliSeconds> {
        self.counter_wrap_period(max_power)
            .map(|p| MilliSeconds(p.0 / 3))
    }
}

/// Counts between two raw 32-bit readings, modulo 2³² (correct across one wrap).
pub const fn wrapping_delta(prev: u32, now: u32) -> u32 {
    now.wrapping_sub(prev)
}

/// The delta the perf `power` PMU computes (HARDWARE.md §7, `arch/x86/events/rapl.c`):
/// both readings shifted into the top 32 bits, subtracted as signed 64-bit and shifted
/// back arithmetically — a **signed** 32-bit delta. A jump of 2³¹ counts or more between
/// two samples comes out negative; the kernel relies on its timer to sample often enough.
pub const fn perf_delta_counts(prev: u32, now: u32) -> i32 {
    now.wrapping_sub(prev) as i32
}

/// What powercap's `energy_uj` shows for a raw counter value (HARDWARE.md §7,
/// `intel_rapl_common.c`): raw × trunc(10⁹ / 2^ESU) / 1000, integer. At ESU 16 the
/// per-count unit is 15 258 nJ instead of 15 258.789… nJ, so 1 J reads 999 948 µJ.
pub fn powercap_energy(raw: u32, units: RaplUnits) -> MicroJoules {
    let unit_nj = 1_000_000_000u64 >> units.energy_exp;
    MicroJoules(u64::from(raw) * unit_nj / 1000)
}

/// powercap's `max_energy_range_uj` (HARDWARE.md §7): 0xFFFF_FFFF × trunc(10⁹ / 2^ESU) /
/// 1000. Userspace reading `energy_uj` must wrap at this value, not at 2³² counts.
pub fn powercap_max_energy_range(units: RaplUnits) -> MicroJoules {
    powercap_energy(u32::MAX, units)
}

/// The wrap rule of the old `amd_energy` hwmon driver (HARDWARE.md §7): `now − prev` if
/// `now ≥ prev`, else `u32::MAX − prev + now` — one count short per wrap. Restated only
/// to show the difference; [`EnergyAccumulator`] does not use it.
pub const fn amd_energy_legacy_delta(prev: u32, now: u32) -> u64 {
    if now >= prev {
        (now - prev) as u64
    } else {
        (u32::MAX - prev) as u64 + now as u64
    }
}

/// A monotonic energy total built from successive raw readings of one 32-bit RAPL
/// energy counter.
///
/// The total is kept in counts (`u64`, saturating; at ESU 16 that is 2⁴⁸ J), so no
/// rounding is ever accumulated; conversions to µJ and mW are exact floors. The first
/// reading only sets the baseline. Each later reading adds `(new − prev) mod 2³²` if
/// that is below 2³¹ (a step forward, across a wrap or not); a step of 2³¹ or more is
/// taken as a counter reset: nothing is added and the reading is the new baseline (see
/// the module's "Wrap or reset?").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EnergyAccumulator {
    units: RaplUnits,
    last_raw: Option<u32>,
    total_counts: u64,
}

impl EnergyAccumulator {
    /// An empty accumulator for a counter with these units.
    pub const fn new(units: RaplUnits) -> Self {
        Self {
            units,
            last_raw: None,
            total_counts: 0,
        }
    }

    /// The units given at construction.
    pub const fn units(&self) -> RaplUnits {
        self.units
    }

    /// Feeds one raw reading (the low 32 bits of the MSR). Returns the counts added since
    /// the previous reading, or `None` if the reading only sets the baseline: the first
    /// reading, or one after a counter reset (a step of 2³¹ counts or more).
    pub fn update(&mut self, raw: u32) -> Option<u32> {
        let delta = self
            .last_raw
            .map(|prev| wrapping_delta(prev, raw))
            // HARDWARE.md §7: perf reads a step ≥ 2³¹ as negative; here it is a reset.
            .filter(|&d| d < 1 << 31);
        self.last_raw = Some(raw);
        if let Some(d) = delta {
            self.total_counts = self.total_counts.saturating_add(u64::from(d));
        }
        delta
    }

    /// Feeds one raw reading taken `elapsed` after the previous one and returns the
    /// average power over that interval; `None` for a baseline-only reading (first, or
    /// after a counter reset) or a zero interval (the reading is still accumulated).
    pub fn update_power(&mut self, raw: u32, elapsed: MilliSeconds) -> Option<MilliWatts> {
        let delta = self.update(raw)?;
        self.units.counts_to_power(u64::from(delta), elapsed)
    }

    /// Counts accumulated since the first reading.
    pub const fn total_counts(&self) -> u64 {
        self.total_counts
    }

    /// Energy accumulated since the first reading, exactly floored to µJ.
    pub fn total_energy(&self) -> MicroJoules {
        self.units.counts_to_energy(self.total_counts)
    }

    /// The last raw reading, if any.
    pub const fn last_raw(&self) -> Option<u32> {
        self.last_raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A unit register with power exponent 3, ESU 16, time exponent 10.
    const ESU16: RaplUnits = RaplUnits::from_raw(0x000A_1003);

    #[test]
    fn unit_register_fields_decode() {
        assert_eq!(ESU16.power_unit_exponent(), 3);
        assert_eq!(ESU16.energy_status_unit(), 16);
        assert_eq!(ESU16.time_unit_exponent(), 10);
        // Bits outside the three fields are ignored; ESU is 5 bits wide.
        let u = RaplUnits::from_raw(0xFFFF_FFFF_FFFF_FFFF);
        assert_eq!(
            (
                u.power_unit_exponent(),
                u.energy_status_unit(),
                u.time_unit_exponent()
            ),
            (15, 31, 15)
        );
    }

    #[test]
    fn one_joule_is_exact_here_but_999_948_uj_in_powercap() {
        assert_eq!(ESU16.counts_to_energy(65_536), MicroJoules(1_000_000));
        assert_eq!(powercap_energy(65_536, ESU16), MicroJoules(999_948));
        // ESU 14 (powercap unit 61 035 nJ): 16 384 counts = 1 J, powercap 999 997 µJ.
        let esu14 = RaplUnits::from_esu(14);
        assert_eq!(esu14.counts_to_energy(16_384), MicroJoules(1_000_000));
        assert_eq!(powercap_energy(16_384, esu14), MicroJoules(999_997));
    }

    #[test]
    fn a_full_wrap_at_esu_16_is_65536_joules() {
        assert_eq!(ESU16.counts_to_energy(1 << 32), MicroJoules(65_536_000_000));
        // powercap's wrap point is one count short and truncated.
        assert_eq!(
            powercap_max_energy_range(ESU16),
            MicroJoules(65_532_610_987)
        );
    }

    #[test]
    fn conversion_floors_sub_microjoule_counts() {
        // One count at ESU 16 is 15.258789… µJ.
        assert_eq!(ESU16.counts_to_energy(1), MicroJoules(15));
        // u64::MAX counts is beyond u64 µJ at ESU 16: saturates instead of wrapping.
        assert_eq!(ESU16.counts_to_energy(u64::MAX), MicroJoules(u64::MAX));
        assert_eq!(
            RaplUnits::from_esu(31).counts_to_energy(u64::MAX),
            MicroJoules(8_589_934_591_999_999)
        );
    }

    #[test]
    fn wrap_adds_two_pow_32_minus_prev_plus_new_not_the_amd_energy_rule() {
        let mut acc = EnergyAccumulator::new(ESU16);
        assert_eq!(acc.update(0xFFFF_FFF0), None);
        assert_eq!(acc.update(0x0000_0010), Some(0x20));
        assert_eq!(acc.total_counts(), 32);
        // The old amd_energy driver would have added 31.
        assert_eq!(amd_energy_legacy_delta(0xFFFF_FFF0, 0x0000_0010), 31);
    }

    #[test]
    fn many_wraps_lose_nothing() {
        // 10 wraps' worth of energy in steps of 2^30 counts (4 readings per wrap).
        let mut acc = EnergyAccumulator::new(ESU16);
        let mut raw: u32 = 123;
        acc.update(raw);
        for _ in 0..40 {
            raw = raw.wrapping_add(1 << 30);
            acc.update(raw);
        }
        assert_eq!(acc.total_counts(), 10 << 32);
        assert_eq!(acc.total_energy(), MicroJoules(655_360_000_000));
        // The legacy rule would be 10 counts short.
        let mut legacy = 0u64;
        let mut prev: u32 = 123;
        for _ in 0..40 {
            let now = prev.wrapping_add(1 << 30);
            legacy += amd_energy_legacy_delta(prev, now);
            prev = now;
        }
        assert_eq!((10u64 << 32) - legacy, 10);
    }

    #[test]
    fn a_counter_that_goes_back_is_a_reset_not_a_wrap() {
        // A firmware reset or CPU hotplug restarts the counter: it goes back by far less
        // than a wrap. Read as a wrap it would add 2^32 − 0x1F_FF00 counts, ≈ 65 504 J
        // of energy that was never spent; instead the reading becomes the new baseline.
        let mut acc = EnergyAccumulator::new(ESU16);
        assert_eq!(acc.update(0x0010_0000), None);
        assert_eq!(acc.update(0x0020_0000), Some(0x0010_0000));
        assert_eq!(acc.update(0x0000_0100), None);
        assert_eq!(acc.total_counts(), 0x0010_0000);
        assert_eq!(acc.last_raw(), Some(0x100));
        // Counting resumes from the new baseline.
        assert_eq!(acc.update(0x0000_0300), Some(0x200));
        assert_eq!(acc.total_counts(), 0x0010_0200);
        // No power either: the interval's energy is unknown.
        assert_eq!(acc.update_power(0x10, MilliSeconds(1000)), None);
        // A real wrap is a small step forward modulo 2^32 and still counts; the
        // boundary is perf's: a delta perf reads as negative (≥ 2^31) is a reset.
        assert_eq!(acc.update(0x7FFF_FFFF + 0x10), Some(0x7FFF_FFFF));
        assert_eq!(acc.update(0x8000_000Fu32.wrapping_add(0x8000_0000)), None);
    }

    #[test]
    fn perf_reads_a_jump_of_two_pow_31_as_negative() {
        assert_eq!(perf_delta_counts(0, 0x8000_0000), i32::MIN);
        assert_eq!(perf_delta_counts(0, 0x7FFF_FFFF), i32::MAX);
        assert_eq!(perf_delta_counts(0xFFFF_FFF0, 0x10), 32);
        // Here the same jump is a counter reset; one count less is 32 768 J at ESU 16.
        let mut acc = EnergyAccumulator::new(ESU16);
        acc.update(0);
        assert_eq!(acc.update(0x8000_0000), None);
        assert_eq!(acc.total_counts(), 0);
        assert_eq!(acc.update(0xFFFF_FFFF), Some(0x7FFF_FFFF));
        assert_eq!(acc.total_energy(), MicroJoules(32_767_999_984));
    }

    #[test]
    fn average_power_over_an_interval() {
        let mut acc = EnergyAccumulator::new(ESU16);
        assert_eq!(acc.update_power(1000, MilliSeconds(1000)), None);
        // 360 J in 1 s.
        let raw = 1000u32.wrapping_add(360 * 65_536);
        assert_eq!(
            acc.update_power(raw, MilliSeconds(1000)),
            Some(MilliWatts(360_000))
        );
        // Zero interval: no power, but the reading counts.
        assert_eq!(
            acc.update_power(raw.wrapping_add(65_536), MilliSeconds(0)),
            None
        );
        assert_eq!(acc.total_counts(), 361 * 65_536);
        // 1 J over 3 s is 333.333 mW, floored.
        assert_eq!(
            ESU16.counts_to_power(65_536, MilliSeconds(3000)),
            Some(MilliWatts(333))
        );
    }

    #[test]
    fn wrap_period_and_safe_interval_at_360_w() {
        let p = MilliWatts(360_000);
        assert_eq!(ESU16.counter_wrap_period(p), Some(MilliSeconds(182_044)));
        assert_eq!(
            ESU16.max_safe_sample_interval(p),
            Some(MilliSeconds(60_681))
        );
        assert_eq!(ESU16.counter_wrap_period(MilliWatts(0)), None);
        assert_eq!(ESU16.counter_wrap_period(MilliWatts(-5)), None);
        // ESU 0 at 1 mW: 2^32 J takes far longer than u32 ms; saturates.
        assert_eq!(
            RaplUnits::from_esu(0).counter_wrap_period(MilliWatts(1)),
            Some(MilliSeconds(u32::MAX))
        );
    }

    #[test]
    fn power_field_in_power_units() {
        // Power unit exponent 3: 1/8 W per count; 0x8C0 = 2240 counts = 280 W.
        assert_eq!(ESU16.power_field_to_power(0x8C0), MilliWatts(280_000));
    }

    proptest! {
        #[test]
        fn nothing_panics_on_any_value(raw in any::<u64>(), a in any::<u32>(), b in any::<u32>(),
                                       counts in any::<u64>(), ms in any::<u32>(), mw in any::<i32>()) {
            let u = RaplUnits::from_raw(raw);
            let _ = u.counts_to_energy(counts);
            let _ = u.counts_to_power(counts, MilliSeconds(ms));
            let _ = u.power_field_to_power(raw);
            let _ = u.counter_wrap_period(MilliWatts(mw));
            let _ = u.max_safe_sample_interval(MilliWatts(mw));
            let _ = powercap_energy(a, u);
            let _ = amd_energy_legacy_delta(a, b);
            let mut acc = EnergyAccumulator::new(u);
            acc.update(a);
            let _ = acc.update_power(b, MilliSeconds(ms));
            let _ = acc.total_energy();
        }

        #[test]
        fn accumulator_total_is_the_sum_of_true_deltas(start in any::<u32>(),
                                                       steps in proptest::collection::vec(0u32..(1 << 31), 0..50)) {
            let mut acc = EnergyAccumulator::new(ESU16);
            let mut raw = start;
            acc.update(raw);
            let mut expected = 0u64;
            for s in steps {
                raw = raw.wrapping_add(s);
                expected += u64::from(s);
                acc.update(raw);
            }
            prop_assert_eq!(acc.total_counts(), expected);
            prop_assert_eq!(acc.total_energy(), MicroJoules(u64::try_from(u128::from(expected) * 1_000_000 / 65_536).unwrap()));
        }
    }
}
