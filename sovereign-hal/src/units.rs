//! Physical units as integer newtypes, with the unit in the name.
//!
//! No floats: the core runs on microcontrollers without an FPU, and integer units make
//! every reading exact and every comparison deterministic. Arithmetic helpers saturate
//! instead of wrapping or panicking.

use core::fmt;

macro_rules! unit {
    ($(#[$m:meta])* $name:ident($inner:ty), $suffix:literal, $scale:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// Zero of this unit.
            pub const ZERO: Self = Self(0);
            /// The raw integer.
            #[inline]
            pub const fn get(self) -> $inner {
                self.0
            }
            /// Sum, saturating at the type's bounds.
            #[inline]
            #[must_use]
            pub const fn saturating_add(self, rhs: Self) -> Self {
                Self(self.0.saturating_add(rhs.0))
            }
            /// Difference, saturating at the type's bounds.
            #[inline]
            #[must_use]
            pub const fn saturating_sub(self, rhs: Self) -> Self {
                Self(self.0.saturating_sub(rhs.0))
            }
        }

        impl From<$inner> for $name {
            #[inline]
            fn from(v: $inner) -> Self {
                Self(v)
            }
        }

        impl fmt::Display for $name {
            /// Writes the value in the base unit with all its decimals, e.g. `25.125 °C`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_scaled(f, i128::from(self.0), $scale)?;
                f.write_str($suffix)
            }
        }
    };
}

/// Writes `v / scale` exactly, with as many decimals as `scale` has zeros.
fn write_scaled(f: &mut fmt::Formatter<'_>, v: i128, scale: i128) -> fmt::Result {
    if scale == 1 {
        return write!(f, "{v}");
    }
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    let s = scale.unsigned_abs();
    let digits = match scale {
        1_000 => 3,
        1_000_000 => 6,
        _ => 0,
    };
    write!(f, "{sign}{}.{:0w$}", a / s, a % s, w = digits)
}

unit!(
    /// Temperature in thousandths of a degree Celsius (the unit of Linux hwmon `temp*_input`).
    MilliCelsius(i32), " °C", 1_000
);
unit!(
    /// Voltage in millivolts (hwmon `in*_input`).
    MilliVolts(i32), " V", 1_000
);
unit!(
    /// Current in milliamperes (hwmon `curr*_input`).
    MilliAmps(i32), " A", 1_000
);
unit!(
    /// Power in milliwatts.
    MilliWatts(i32), " W", 1_000
);
unit!(
    /// Power in microwatts (hwmon `power*_input`, PMBus READ_POUT/READ_PIN as the kernel reports them).
    MicroWatts(i64), " W", 1_000_000
);
unit!(
    /// Energy in microjoules (hwmon `energy*_input`, powercap `energy_uj`).
    MicroJoules(u64), " J", 1_000_000
);
unit!(
    /// Fan speed in revolutions per minute.
    Rpm(u32), " RPM", 1
);
unit!(
    /// Frequency in megahertz.
    MegaHertz(u32), " MHz", 1
);
unit!(
    /// A duration in milliseconds (control periods, timeouts, sensor ages).
    MilliSeconds(u32), " s", 1_000
);

impl MilliCelsius {
    /// From whole degrees, saturating.
    #[inline]
    pub const fn from_celsius(deg: i32) -> Self {
        Self(deg.saturating_mul(1000))
    }
}

impl MilliSeconds {
    /// From whole seconds, saturating.
    #[inline]
    pub const fn from_secs(secs: u32) -> Self {
        Self(secs.saturating_mul(1000))
    }
}

impl MilliWatts {
    /// Average power of `energy` spent over `interval`, saturating; `None` for a zero interval.
    pub fn from_energy_over(energy: MicroJoules, interval: MilliSeconds) -> Option<Self> {
        if interval.0 == 0 {
            return None;
        }
        // µJ / ms = mW.
        let mw = energy.0 / u64::from(interval.0);
        Some(Self(i32::try_from(mw).unwrap_or(i32::MAX)))
    }
}

/// A fan drive level in per-mille of full drive (0 = off, 1000 = 100 %).
///
/// Fan controllers take an 8-bit PWM byte; [`Duty::from_pwm_u8`] and [`Duty::to_pwm_u8`]
/// convert with round-to-nearest so that every byte survives a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duty(u16);

impl Duty {
    /// Fans stopped (or at their hardware minimum).
    pub const ZERO: Self = Self(0);
    /// Full drive.
    pub const FULL: Self = Self(1000);

    /// From per-mille; `None` above 1000.
    #[inline]
    pub const fn from_per_mille(pm: u16) -> Option<Self> {
        if pm <= 1000 { Some(Self(pm)) } else { None }
    }

    /// From per-mille, clamping anything above 1000 to full drive.
    #[inline]
    pub const fn from_per_mille_clamped(pm: u32) -> Self {
        if pm >= 1000 {
            Self(1000)
        } else {
            Self(pm as u16)
        }
    }

    /// From whole percent, clamping above 100 %.
    #[inline]
    pub const fn from_percent(pct: u8) -> Self {
        Self::from_per_mille_clamped(pct as u32 * 10)
    }

    /// Per-mille of full drive, 0..=1000.
    #[inline]
    pub const fn per_mille(self) -> u16 {
        self.0
    }

    /// From a PWM byte (0..=255), rounded to the nearest per-mille.
    #[inline]
    pub const fn from_pwm_u8(pwm: u8) -> Self {
        Self(((pwm as u32 * 1000 + 127) / 255) as u16)
    }

    /// To a PWM byte (0..=255), rounded to nearest.
    #[inline]
    pub const fn to_pwm_u8(self) -> u8 {
        ((self.0 as u32 * 255 + 500) / 1000) as u8
    }
}

impl fmt::Display for Duty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{} %", self.0 / 10, self.0 % 10)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn display_keeps_every_decimal_and_sign() {
        assert_eq!(MilliCelsius(25_125).to_string(), "25.125 °C");
        assert_eq!(MilliCelsius(-62).to_string(), "-0.062 °C");
        assert_eq!(MicroWatts(-1_500_000).to_string(), "-1.500000 W");
        assert_eq!(Rpm(4200).to_string(), "4200 RPM");
        assert_eq!(Duty::from_per_mille(625).unwrap().to_string(), "62.5 %");
    }

    #[test]
    fn every_pwm_byte_survives_a_round_trip() {
        for b in 0..=255u8 {
            assert_eq!(Duty::from_pwm_u8(b).to_pwm_u8(), b);
        }
        assert_eq!(Duty::from_pwm_u8(255), Duty::FULL);
    }

    #[test]
    fn duty_rejects_above_full() {
        assert_eq!(Duty::from_per_mille(1001), None);
        assert_eq!(Duty::from_per_mille_clamped(5000), Duty::FULL);
        assert_eq!(Duty::from_percent(250), Duty::FULL);
    }

    #[test]
    fn average_power_from_energy() {
        // 360 J over 1 s is 360 W.
        let p = MilliWatts::from_energy_over(MicroJoules(360_000_000), MilliSeconds(1000));
        assert_eq!(p, Some(MilliWatts(360_000)));
        assert_eq!(
            MilliWatts::from_energy_over(MicroJoules(1), MilliSeconds(0)),
            None
        );
    }

    #[test]
    fn saturating_arithmetic() {
        assert_eq!(
            MilliCelsius(i32::MAX).saturating_add(MilliCelsius(1)),
            MilliCelsius(i32::MAX)
        );
        assert_eq!(MilliCelsius::from_celsius(i32::MAX), MilliCelsius(i32::MAX));
    }
}
