//! Whether a reading can be trusted: plausibility and age checks per sensor, stall
//! detection per fan. Each check reports [`FailsafeCauses`]; the zone decides.
//!
//! A reading that is merely old is not thrown away: until its timeout, the control loop
//! runs on the *worst case* `last + age × max slew` (Oxide Hubris's rule, STYLE.md), so
//! a sensor that misses a poll can only make the fans faster, never slower.

use super::ControlError;
use super::failsafe::FailsafeCauses;
use crate::pid::{Period, clamp_i64};
use crate::units::{Duty, MilliSeconds, Rpm};

/// One period's outcome of reading a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Sample {
    /// A new reading, in the sensor's milli-units.
    Fresh(i32),
    /// The sensor was not polled this period (slow sensors: DIMMs every 10 s).
    NotPolled,
    /// The read failed (NAK, bus timeout, PEC error, decode error…).
    ReadFailed,
}

/// Which direction is dangerous for this sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WorstCase {
    /// Higher is worse (temperatures, powers).
    High,
    /// Lower is worse (margins to a limit).
    Low,
}

/// What is physically possible for one sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SensorLimits {
    /// Lowest plausible reading (milli-units).
    pub min: i32,
    /// Highest plausible reading (milli-units).
    pub max: i32,
    /// Fastest plausible change, milli-units per second (e.g. a die: tens of °C/s).
    pub max_slew_per_s: u32,
    /// A reading older than this is stale (a failsafe cause).
    pub timeout: MilliSeconds,
    /// Consecutive failed reads tolerated before [`FailsafeCauses::READ_ERROR`].
    pub retries: u8,
    /// Identical fresh readings in a row that mean "stuck"; 0 disables the check (for
    /// sensors whose readings can legitimately stay constant).
    pub stuck_after: u16,
    /// Which direction the worst-case estimate moves.
    pub worst: WorstCase,
}

impl SensorLimits {
    /// AMD Tctl read once per second: −40…150 °C, at most 50 °C/s (the die pole is
    /// ~2 s, THERMAL.md §8.3, so even a full load step moves far less), stale after 3 s,
    /// 2 retries, never stuck for 60 s in a row (Tctl dithers by 0.125 °C steps).
    pub const TCTL: Self = Self {
        min: -40_000,
        max: 150_000,
        max_slew_per_s: 50_000,
        timeout: MilliSeconds(3_000),
        retries: 2,
        stuck_after: 60,
        worst: WorstCase::High,
    };
}

impl SensorLimits {
    /// A DDR5 RDIMM hub sensor (SPD5118) polled every 10 s: −40…125 °C, at most
    /// 1.5 °C/s, stale after 30 s (three missed polls), 2 retries, no stuck check.
    ///
    /// The slew is the DIMM's physics, not the CPU's: THERMAL.md §4 gives 12–20 W per
    /// module under load and 15–40 J/K of heat capacity, so even a full power step
    /// heats it by at most 20 W / 15 J/K ≈ 1.3 °C/s (its time constant is ~75 s,
    /// THERMAL.md §8.3). A CPU-like 50 °C/s would make the worst case between two
    /// polls `last + 10 s × 50 °C/s`, i.e. full fans after every poll. The stuck check
    /// is off: at idle a 0.25 °C sensor may legitimately repeat one value for minutes.
    pub const DIMM: Self = Self {
        min: -40_000,
        max: 125_000,
        max_slew_per_s: 1_500,
        timeout: MilliSeconds(30_000),
        retries: 2,
        stuck_after: 0,
        worst: WorstCase::High,
    };
}

/// The state of the checks of one sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SensorCheck {
    limits: SensorLimits,
    last_good: Option<i32>,
    age_ms: u32,
    failed_reads: u16,
    last_raw: Option<i32>,
    repeats: u16,
}

/// The verdict on one sensor for one period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SensorStatus {
    /// The value to control on: the last good reading, or its worst case while it ages;
    /// `None` before the first good reading.
    pub value: Option<i32>,
    /// What is wrong, if anything.
    pub causes: FailsafeCauses,
}

impl SensorCheck {
    /// # Errors
    /// [`ControlError::InvertedRange`] when `min > max`, [`ControlError::ZeroSensorSlew`]
    /// when `max_slew_per_s` is 0.
    pub fn new(limits: SensorLimits) -> Result<Self, ControlError> {
        if limits.min > limits.max {
            return Err(ControlError::InvertedRange);
        }
        if limits.max_slew_per_s == 0 {
            return Err(ControlError::ZeroSensorSlew);
        }
        Ok(Self {
            limits,
            last_good: None,
            age_ms: 0,
            failed_reads: 0,
            last_raw: None,
            repeats: 0,
        })
    }

    /// The limits in use.
    pub const fn limits(&self) -> &SensorLimits {
        &self.limits
    }

    /// Age of the last good reading.
    pub const fn age(&self) -> MilliSeconds {
        MilliSeconds(self.age_ms)
    }

    /// Takes one period's sample, `dt` after the previous one.
    pub fn observe(&mut self, sample: Sample, dt: Period) -> SensorStatus {
        let l = self.limits;
        let mut causes = FailsafeCauses::empty();
        let age = self.age_ms.saturating_add(dt.millis());
        let mut accepted = false;
        match sample {
            Sample::Fresh(v) => {
                self.failed_reads = 0;
                self.repeats = if self.last_raw == Some(v) {
                    self.repeats.saturating_add(1)
                } else {
                    1
                };
                self.last_raw = Some(v);
                if v < l.min || v > l.max {
                    causes |= FailsafeCauses::OUT_OF_RANGE;
                } else if self.last_good.is_some_and(|last| {
                    (i64::from(v) - i64::from(last)).unsigned_abs()
                        > max_change(l.max_slew_per_s, age)
                }) {
                    // Rejected, but the allowed change grows with age, so a real jump is
                    // accepted once physics could have produced it.
                    causes |= FailsafeCauses::TOO_FAST;
                } else {
                    if l.stuck_after > 0 && self.repeats >= l.stuck_after {
                        causes |= FailsafeCauses::STUCK;
                    }
                    self.last_good = Some(v);
                    accepted = true;
                }
            }
            Sample::ReadFailed => {
                self.failed_reads = self.failed_reads.saturating_add(1);
                if self.failed_reads > u16::from(l.retries) {
                    causes |= FailsafeCauses::READ_ERROR;
                }
            }
            Sample::NotPolled => {}
        }
        self.age_ms = if accepted { 0 } else { age };
        let Some(last) = self.last_good else {
            return SensorStatus {
                value: None,
                causes: causes | FailsafeCauses::NO_READING_YET,
            };
        };
        if self.age_ms > l.timeout.0 {
            causes |= FailsafeCauses::STALE;
        }
        let drift = i64::try_from(max_change(l.max_slew_per_s, self.age_ms)).unwrap_or(i64::MAX);
        let worst = match l.worst {
            WorstCase::High => i64::from(last).saturating_add(drift),
            WorstCase::Low => i64::from(last).saturating_sub(drift),
        };
        let worst = clamp_i64(worst, i64::from(l.min), i64::from(l.max));
        // Inside [min, max], which are i32.
        let value = i32::try_from(worst).unwrap_or(last);
        SensorStatus {
            value: Some(value),
            causes,
        }
    }
}

/// Largest plausible change in milli-units over `age_ms` at `slew` milli-units/s.
fn max_change(slew: u32, age_ms: u32) -> u64 {
    u64::from(slew) * u64::from(age_ms) / 1000
}

/// When a fan counts as stalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StallLimits {
    /// Below this tach reading the fan is not turning as it should.
    pub min_rpm: Rpm,
    /// Only at or above this duty is a low tach a stall (fans may stop at low duty).
    pub above_duty: Duty,
    /// Consecutive low periods tolerated first (spin-up takes 0.25–2 s, THERMAL.md §3.3).
    pub grace_periods: u8,
}

/// Stall detection for one fan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StallCheck {
    limits: StallLimits,
    low_periods: u8,
    stalled: bool,
}

/// A change of a fan's stall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StallChange {
    /// The fan has just been found stalled.
    Failed,
    /// A stalled fan turns again.
    Recovered,
}

impl StallCheck {
    /// A fan assumed to turn.
    pub const fn new(limits: StallLimits) -> Self {
        Self {
            limits,
            low_periods: 0,
            stalled: false,
        }
    }

    /// Whether the fan is stalled now.
    pub const fn is_stalled(&self) -> bool {
        self.stalled
    }

    /// One period: the duty the fan was driven at and its tach (`None`: tach unreadable,
    /// which changes nothing — an unreadable tach is a sensor problem, not a stall).
    pub fn observe(&mut self, duty: Duty, rpm: Option<Rpm>) -> Option<StallChange> {
        let rpm = rpm?;
        if rpm >= self.limits.min_rpm {
            self.low_periods = 0;
            if self.stalled {
                self.stalled = false;
                return Some(StallChange::Recovered);
            }
        } else if duty >= self.limits.above_duty && !self.stalled {
            self.low_periods = self.low_periods.saturating_add(1);
            if self.low_periods > self.limits.grace_periods {
                self.stalled = true;
                return Some(StallChange::Failed);
            }
        }
        None
    }
}

/// Failed tach reads a fan tolerates before it counts as unreadable, by default (as
/// [`SensorLimits::TCTL`]'s `retries`).
pub const DEFAULT_TACH_RETRIES: u8 = 2;

/// Whether a fan's tach can still be read. A fan controller that no longer answers
/// (hung, or its bus dead) raises [`FailsafeCauses::FAN_UNREADABLE`] once more
/// consecutive reads failed than `retries` allows; one good read clears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TachCheck {
    retries: u8,
    failed_reads: u16,
    unreadable: bool,
}

/// A change of a fan's tach readability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TachChange {
    /// The tach has just failed more reads in a row than the retries allow.
    Unreadable {
        /// Consecutive failed reads so far.
        failed_reads: u16,
    },
    /// An unreadable tach was read again.
    Readable,
}

impl TachCheck {
    /// A tach assumed readable, tolerating `retries` consecutive failed reads.
    pub const fn new(retries: u8) -> Self {
        Self {
            retries,
            failed_reads: 0,
            unreadable: false,
        }
    }

    /// Whether the tach is unreadable now.
    pub const fn is_unreadable(&self) -> bool {
        self.unreadable
    }

    /// One period's tach reading (`None`: the read failed or was not made).
    pub fn observe(&mut self, rpm: Option<Rpm>) -> Option<TachChange> {
        if rpm.is_some() {
            self.failed_reads = 0;
            if self.unreadable {
                self.unreadable = false;
                return Some(TachChange::Readable);
            }
            return None;
        }
        self.failed_reads = self.failed_reads.saturating_add(1);
        if self.failed_reads > u16::from(self.retries) && !self.unreadable {
            self.unreadable = true;
            return Some(TachChange::Unreadable {
                failed_reads: self.failed_reads,
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SEC: Period = Period::ONE_SECOND;

    fn tctl() -> SensorCheck {
        SensorCheck::new(SensorLimits::TCTL).unwrap()
    }

    #[test]
    fn no_reading_yet_until_the_first_good_one() {
        let mut s = tctl();
        let st = s.observe(Sample::NotPolled, SEC);
        assert_eq!(
            st,
            SensorStatus {
                value: None,
                causes: FailsafeCauses::NO_READING_YET
            }
        );
        let st = s.observe(Sample::Fresh(200_000), SEC);
        assert_eq!(
            st.causes,
            FailsafeCauses::NO_READING_YET | FailsafeCauses::OUT_OF_RANGE
        );
        let st = s.observe(Sample::Fresh(60_000), SEC);
        assert_eq!(
            st,
            SensorStatus {
                value: Some(60_000),
                causes: FailsafeCauses::empty()
            }
        );
    }

    #[test]
    fn read_errors_count_only_after_the_retries() {
        let mut s = tctl();
        s.observe(Sample::Fresh(60_000), SEC);
        // Retries = 2: the first two failures are tolerated (worst case used meanwhile).
        let st = s.observe(Sample::ReadFailed, SEC);
        assert_eq!(st.causes, FailsafeCauses::empty());
        assert_eq!(st.value, Some(110_000)); // 60 °C + 1 s × 50 °C/s
        assert_eq!(
            s.observe(Sample::ReadFailed, SEC).causes,
            FailsafeCauses::empty()
        );
        assert!(
            s.observe(Sample::ReadFailed, SEC)
                .causes
                .contains(FailsafeCauses::READ_ERROR)
        );
        // One good read clears the count.
        assert_eq!(
            s.observe(Sample::Fresh(61_000), SEC).causes,
            FailsafeCauses::empty()
        );
    }

    #[test]
    fn stale_reading_uses_the_worst_case_then_times_out() {
        let mut limits = SensorLimits::TCTL;
        limits.max_slew_per_s = 2_000; // 2 °C/s
        let mut s = SensorCheck::new(limits).unwrap();
        s.observe(Sample::Fresh(70_000), SEC);
        let st = s.observe(Sample::NotPolled, SEC);
        assert_eq!(
            st,
            SensorStatus {
                value: Some(72_000),
                causes: FailsafeCauses::empty()
            }
        );
        s.observe(Sample::NotPolled, SEC);
        let st = s.observe(Sample::NotPolled, SEC);
        assert_eq!(
            st,
            SensorStatus {
                value: Some(76_000),
                causes: FailsafeCauses::empty()
            }
        );
        let st = s.observe(Sample::NotPolled, SEC);
        assert_eq!(
            st,
            SensorStatus {
                value: Some(78_000),
                causes: FailsafeCauses::STALE
            }
        );
        // The worst case never leaves the physical range.
        for _ in 0..100 {
            s.observe(Sample::NotPolled, SEC);
        }
        assert_eq!(s.observe(Sample::NotPolled, SEC).value, Some(150_000));
    }

    #[test]
    fn margin_sensors_age_downwards() {
        let limits = SensorLimits {
            worst: WorstCase::Low,
            min: -50_000,
            ..SensorLimits::TCTL
        };
        let mut s = SensorCheck::new(limits).unwrap();
        s.observe(Sample::Fresh(10_000), SEC);
        assert_eq!(s.observe(Sample::NotPolled, SEC).value, Some(-40_000));
    }

    #[test]
    fn out_of_range_readings_are_rejected() {
        let mut s = tctl();
        s.observe(Sample::Fresh(60_000), SEC);
        // An all-ones register decoded as 255.875 °C.
        let st = s.observe(Sample::Fresh(255_875), SEC);
        assert_eq!(st.causes, FailsafeCauses::OUT_OF_RANGE);
        assert_eq!(
            st.value,
            Some(110_000),
            "keeps the worst case of the last good value"
        );
    }

    #[test]
    fn changes_faster_than_physics_are_rejected_until_plausible() {
        let mut limits = SensorLimits::TCTL;
        limits.max_slew_per_s = 5_000;
        let mut s = SensorCheck::new(limits).unwrap();
        s.observe(Sample::Fresh(40_000), SEC);
        assert_eq!(
            s.observe(Sample::Fresh(45_000), SEC).causes,
            FailsafeCauses::empty()
        );
        // −20 °C in one second: impossible for this sensor.
        let st = s.observe(Sample::Fresh(25_000), SEC);
        assert_eq!(st.causes, FailsafeCauses::TOO_FAST);
        assert_eq!(st.value, Some(50_000), "worst case of 45 °C after 1 s");
        s.observe(Sample::Fresh(25_000), SEC);
        s.observe(Sample::Fresh(25_000), SEC);
        // After 4 s, 20 °C is within 4 × 5 °C/s: accepted.
        assert_eq!(
            s.observe(Sample::Fresh(25_000), SEC),
            SensorStatus {
                value: Some(25_000),
                causes: FailsafeCauses::empty()
            }
        );
    }

    #[test]
    fn identical_readings_mean_stuck() {
        let limits = SensorLimits {
            stuck_after: 3,
            ..SensorLimits::TCTL
        };
        let mut s = SensorCheck::new(limits).unwrap();
        assert_eq!(
            s.observe(Sample::Fresh(50_000), SEC).causes,
            FailsafeCauses::empty()
        );
        assert_eq!(
            s.observe(Sample::Fresh(50_000), SEC).causes,
            FailsafeCauses::empty()
        );
        assert_eq!(
            s.observe(Sample::Fresh(50_000), SEC).causes,
            FailsafeCauses::STUCK
        );
        assert_eq!(
            s.observe(Sample::Fresh(50_125), SEC).causes,
            FailsafeCauses::empty()
        );
    }

    #[test]
    fn zero_slew_rate_is_rejected() {
        // With 0 m°C/s every later change would count as faster than physics, forever:
        // permanent failsafe on a healthy sensor, and a stale value that never looks worse.
        let limits = SensorLimits {
            max_slew_per_s: 0,
            ..SensorLimits::TCTL
        };
        assert_eq!(SensorCheck::new(limits), Err(ControlError::ZeroSensorSlew));
    }

    #[test]
    fn inverted_range_is_rejected() {
        let limits = SensorLimits {
            min: 10,
            max: 0,
            ..SensorLimits::TCTL
        };
        assert_eq!(SensorCheck::new(limits), Err(ControlError::InvertedRange));
    }

    #[test]
    fn fan_stall_needs_high_duty_and_the_grace_periods() {
        let mut f = StallCheck::new(StallLimits {
            min_rpm: Rpm(500),
            above_duty: Duty::from_percent(30),
            grace_periods: 1,
        });
        // Low duty and 0 RPM: a fan allowed to stop.
        assert_eq!(f.observe(Duty::from_percent(10), Some(Rpm(0))), None);
        assert_eq!(f.observe(Duty::from_percent(80), Some(Rpm(0))), None);
        assert_eq!(
            f.observe(Duty::from_percent(80), None),
            None,
            "unreadable tach changes nothing"
        );
        assert_eq!(
            f.observe(Duty::from_percent(80), Some(Rpm(0))),
            Some(StallChange::Failed)
        );
        assert!(f.is_stalled());
        assert_eq!(f.observe(Duty::from_percent(80), Some(Rpm(0))), None);
        assert_eq!(
            f.observe(Duty::from_percent(80), Some(Rpm(6_000))),
            Some(StallChange::Recovered)
        );
    }

    #[test]
    fn a_tach_is_unreadable_after_its_retries_and_reported_once() {
        let mut t = TachCheck::new(2);
        assert_eq!(t.observe(Some(Rpm(6000))), None);
        assert_eq!(t.observe(None), None);
        assert_eq!(t.observe(None), None, "two failures are the retries");
        assert_eq!(
            t.observe(None),
            Some(TachChange::Unreadable { failed_reads: 3 })
        );
        assert!(t.is_unreadable());
        for _ in 0..100 {
            assert_eq!(t.observe(None), None, "reported once");
        }
        assert_eq!(t.observe(Some(Rpm(0))), Some(TachChange::Readable));
        assert!(!t.is_unreadable());
        // The count restarts after a good read.
        assert_eq!(t.observe(None), None);
        assert_eq!(t.observe(None), None);
        assert_eq!(t.observe(Some(Rpm(6000))), None);
        assert_eq!(t.observe(None), None);
    }

    #[test]
    fn a_dimm_between_polls_is_estimated_with_dimm_physics() {
        // DIMM at 60 °C, polled every 10 s, control period 1 s.
        let mut s = SensorCheck::new(SensorLimits::DIMM).unwrap();
        s.observe(Sample::Fresh(60_000), SEC);
        let mut worst = 0;
        for _ in 0..9 {
            worst = s.observe(Sample::NotPolled, SEC).value.unwrap();
        }
        // 9 s × 1.5 °C/s: still below any DIMM alarm (80 °C, THERMAL.md §4).
        assert_eq!(worst, 73_500);
        // A real DIMM rise of 10 °C over those 10 s is accepted.
        assert_eq!(
            s.observe(Sample::Fresh(70_000), SEC),
            SensorStatus {
                value: Some(70_000),
                causes: FailsafeCauses::empty()
            }
        );
        // 20 °C in 1 s is not a DIMM.
        assert_eq!(
            s.observe(Sample::Fresh(90_000), SEC).causes,
            FailsafeCauses::TOO_FAST
        );
        // Constant readings at idle are fine.
        for _ in 0..1000 {
            assert!(s.observe(Sample::Fresh(70_000), SEC).causes.is_empty());
        }
    }

    proptest! {
        #[test]
        fn any_samples_keep_the_value_in_range(
            min in any::<i32>(), span in any::<u32>(), slew in 1..=u32::MAX, timeout in any::<u32>(),
            samples in proptest::collection::vec((0u8..3, any::<i32>(), 1..=u32::MAX), 0..50),
        ) {
            let max = i32::try_from(i64::from(min) + i64::from(span)).unwrap_or(i32::MAX);
            let limits = SensorLimits { min, max, max_slew_per_s: slew, timeout: MilliSeconds(timeout), retries: 1, stuck_after: 2, worst: WorstCase::High };
            let mut s = SensorCheck::new(limits).unwrap();
            for (kind, v, dt) in samples {
                let sample = match kind { 0 => Sample::Fresh(v), 1 => Sample::NotPolled, _ => Sample::ReadFailed };
                let st = s.observe(sample, Period::new(MilliSeconds(dt)).unwrap());
                if let Some(v) = st.value {
                    prop_assert!(v >= min && v <= max);
                }
            }
        }
    }
}
