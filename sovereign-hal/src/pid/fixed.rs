//! The fixed-point formats of the PID: gains in Q16.16, state in Q47.16, and the control
//! period as a non-zero number of milliseconds.
//!
//! Units, once for the whole controller:
//! - *input*: an `i32` in milli-units of the measured quantity (m°C from
//!   [`MilliCelsius`](crate::units::MilliCelsius), mW from
//!   [`MilliWatts`](crate::units::MilliWatts), a margin in m°C…). One *input unit* is
//!   1000 of them (1 °C, 1 W).
//! - *output*: an `i32` in the loop's output unit, chosen by the caller and documented
//!   at the loop: per-mille of fan duty for a thermal loop (convert with
//!   [`output_to_duty`](super::output_to_duty)), RPM for an RPM target.
//! - *gains* ([`Gain`]): output units per input unit (Kp), per input unit and second
//!   (Ki), per input unit per second (Kd), stored as Q16.16 in an `i32`: the real gain
//!   is `raw / 65536`, range ±32768, resolution 1/65536 ≈ 1.5·10⁻⁵.
//! - *state* (integral, filtered derivative, last output): `i64` in Q47.16, i.e. output
//!   units × 65536, so a slow integral gains fractions of an output unit per step
//!   instead of losing them to truncation. All arithmetic on it saturates.

use core::fmt;
use core::num::NonZeroU32;

use crate::units::MilliSeconds;

use super::PidError;

/// Number of fractional bits of [`Gain`] and of the controller's internal state.
pub const FRAC_BITS: u32 = 16;
/// `1 << FRAC_BITS`: one output unit in the internal Q47.16 state.
pub const ONE: i64 = 1 << FRAC_BITS;

/// A controller gain in Q16.16 fixed point: output units per input unit (see the
/// [module docs](self) for which "per" each gain carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gain(i32);

impl Gain {
    /// A gain of zero: the term is off.
    pub const ZERO: Self = Self(0);
    /// The largest representable gain magnitude, in whole output units per input unit.
    pub const MAX_WHOLE: i32 = 32_767;

    /// `num / den`, rounded to the nearest 1/65536.
    ///
    /// # Errors
    /// [`PidError::GainOutOfRange`] for a zero denominator or a magnitude of 32768 or more
    /// (it would overflow Q16.16).
    pub const fn from_ratio(num: i32, den: i32) -> Result<Self, PidError> {
        if den == 0 {
            return Err(PidError::GainOutOfRange);
        }
        let scaled = (num as i64) * ONE;
        let den = den as i64;
        // Round half away from zero, in i64 (|num| * 2^16 < 2^47: no overflow).
        let half = den.abs() / 2;
        let q = if (scaled < 0) == (den < 0) {
            (scaled.abs() + half) / den.abs()
        } else {
            -((scaled.abs() + half) / den.abs())
        };
        if q > i32::MAX as i64 || q < -(i32::MAX as i64) {
            return Err(PidError::GainOutOfRange);
        }
        Ok(Self(q as i32))
    }

    /// From thousandths: `from_milli(1_750)` is 1.75 output units per input unit.
    ///
    /// # Errors
    /// [`PidError::GainOutOfRange`] if the gain does not fit Q16.16 (|gain| ≥ 32768).
    pub const fn from_milli(milli: i32) -> Result<Self, PidError> {
        Self::from_ratio(milli, 1000)
    }

    /// From the raw Q16.16 value (`raw / 65536`). Every `i32` except `i32::MIN` is
    /// accepted; `i32::MIN` is rejected so that a gain can always be negated.
    ///
    /// # Errors
    /// [`PidError::GainOutOfRange`] for `i32::MIN`.
    pub const fn from_raw(raw: i32) -> Result<Self, PidError> {
        if raw == i32::MIN {
            Err(PidError::GainOutOfRange)
        } else {
            Ok(Self(raw))
        }
    }

    /// A whole number of output units per input unit (always representable).
    pub const fn from_whole(whole: i16) -> Self {
        // i16 × 65536 fits i32; only −32768 would give i32::MIN, which `from_raw` refuses.
        let w = if whole == i16::MIN {
            i16::MIN + 1
        } else {
            whole
        };
        Self((w as i32) << FRAC_BITS)
    }

    /// The raw Q16.16 value.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The gain in thousandths, rounded toward zero (for logs and metrics).
    pub const fn to_milli(self) -> i64 {
        (self.0 as i64) * 1000 / ONE
    }
}

impl fmt::Display for Gain {
    /// Thousandths, exact to the rounding of [`Gain::to_milli`], e.g. `1.750`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.to_milli();
        let sign = if m < 0 { "-" } else { "" };
        let a = m.unsigned_abs();
        write!(f, "{sign}{}.{:03}", a / 1000, a % 1000)
    }
}

/// The time since the previous step: a non-zero number of milliseconds.
///
/// A zero period would make the derivative infinite and the slew limits meaningless, so
/// it cannot be constructed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Period(NonZeroU32);

impl Period {
    /// One second, the default period of a thermal loop (THERMAL.md §7.2).
    pub const ONE_SECOND: Self = match NonZeroU32::new(1000) {
        Some(n) => Self(n),
        None => unreachable!(),
    };

    /// # Errors
    /// [`PidError::ZeroPeriod`] for zero milliseconds.
    pub const fn new(dt: MilliSeconds) -> Result<Self, PidError> {
        match NonZeroU32::new(dt.0) {
            Some(n) => Ok(Self(n)),
            None => Err(PidError::ZeroPeriod),
        }
    }

    /// The period in milliseconds (never zero).
    pub const fn millis(self) -> u32 {
        self.0.get()
    }

    /// The period as a [`MilliSeconds`].
    pub const fn as_millis(self) -> MilliSeconds {
        MilliSeconds(self.0.get())
    }
}

/// Q47.16 state → output units, rounded to nearest (halves upwards), saturating.
///
/// Branch-free on purpose: it runs seven times per step for [`PidTerms`](super::PidTerms).
pub(crate) const fn to_output(q: i64) -> i32 {
    // Arithmetic shift = floor division by 2^16; adding a half first rounds to nearest.
    let r = q.saturating_add(ONE / 2) >> FRAC_BITS;
    let r = if r > i32::MAX as i64 {
        i32::MAX as i64
    } else {
        r
    };
    let r = if r < i32::MIN as i64 {
        i32::MIN as i64
    } else {
        r
    };
    r as i32
}

/// Output units → Q47.16 (exact).
pub(crate) const fn from_output(v: i32) -> i64 {
    (v as i64) << FRAC_BITS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_from_milli_is_exact_for_representable_values() {
        assert_eq!(Gain::from_milli(1_000).unwrap().raw(), 65_536);
        assert_eq!(Gain::from_milli(-500).unwrap().raw(), -32_768);
        assert_eq!(Gain::from_milli(1_750).unwrap().to_milli(), 1_750);
    }

    #[test]
    fn gain_rounds_to_nearest_lsb() {
        // 0.135 * 65536 = 8847.36 → 8847; 1/3 * 65536 = 21845.33 → 21845.
        assert_eq!(Gain::from_milli(135).unwrap().raw(), 8847);
        assert_eq!(Gain::from_ratio(1, 3).unwrap().raw(), 21_845);
        assert_eq!(Gain::from_ratio(-1, 3).unwrap().raw(), -21_845);
        assert_eq!(Gain::from_ratio(1, -3).unwrap().raw(), -21_845);
    }

    #[test]
    fn gains_that_overflow_q16_16_are_rejected() {
        assert_eq!(Gain::from_ratio(1, 0), Err(PidError::GainOutOfRange));
        assert_eq!(Gain::from_ratio(32_768, 1), Err(PidError::GainOutOfRange));
        assert_eq!(Gain::from_ratio(i32::MIN, 1), Err(PidError::GainOutOfRange));
        assert_eq!(Gain::from_milli(32_768_000), Err(PidError::GainOutOfRange));
        assert!(Gain::from_ratio(32_767, 1).is_ok());
        assert_eq!(Gain::from_raw(i32::MIN), Err(PidError::GainOutOfRange));
    }

    #[test]
    fn zero_period_is_rejected() {
        assert_eq!(Period::new(MilliSeconds(0)), Err(PidError::ZeroPeriod));
        assert_eq!(Period::new(MilliSeconds(100)).unwrap().millis(), 100);
    }

    #[test]
    fn output_rounds_to_nearest_and_saturates() {
        assert_eq!(to_output(ONE / 2), 1);
        assert_eq!(to_output(ONE / 2 - 1), 0);
        assert_eq!(to_output(-ONE / 2), 0);
        assert_eq!(to_output(-ONE / 2 - 1), -1);
        assert_eq!(to_output(-ONE * 3 / 4), -1);
        assert_eq!(to_output(i64::MAX), i32::MAX);
        assert_eq!(to_output(i64::MIN), i32::MIN);
        assert_eq!(to_output(from_output(-7)), -7);
    }
}
