//! Simulated chips with their real register maps (HARDWARE.md), one file per chip.
//!
//! Each chip takes its physical inputs through setters (`set_temperature_c`,
//! `set_rpm`, ...) and exposes what the host wrote through getters (`duty`), so the board
//! glue can copy plant values in and fan drive out. On the wire each chip behaves like
//! the part: word byte order (JC-42.4, LM75, EMC230x, MAX31790 send the MSB first, so the
//! SMBus read-word value is byte-swapped; PMBus and SPD5118 send the LSB first), register
//! pointers, auto-increment, read latches and quantisation to the chip's resolution.
//!
//! | chip | file | bus behaviour |
//! |---|---|---|
//! | JC-42.4 (TSE2004av) | [`jc42`] | 16-bit registers behind a pointer |
//! | SPD5118 hub | [`spd5118`] | byte registers MR0..MR127, NVM pages at 0x80..0xFF |
//! | LM75 / TMP75 | [`lm75`] | 16-bit registers behind a pointer, 8-bit config |
//! | SB-TSI | [`sbtsi`] | byte registers, integer/decimal read latch |
//! | EMC2305 | [`emc2305`] | byte registers, auto-increment, watchdog |
//! | MAX31790 | [`max31790`] | byte registers, auto-increment |
//! | PMBus VRM | [`pmbus`] | command codes, LINEAR11/LINEAR16, block reads, PEC |

pub mod emc2305;
pub mod jc42;
pub mod lm75;
pub mod max31790;
pub mod pmbus;
pub mod sbtsi;
pub mod spd5118;

pub use emc2305::Emc2305;
pub use jc42::Jc42;
pub use lm75::Lm75;
pub use max31790::Max31790;
pub use pmbus::{PmbusVrm, RailTelemetry};
pub use sbtsi::SbTsi;
pub use spd5118::Spd5118;

/// `value / step` rounded to the nearest integer and clamped to `[min, max]`; NaN maps
/// to 0. How a converter with resolution `step` reports a physical value.
pub(crate) fn quantize(value: f64, step: f64, min: i64, max: i64) -> i64 {
    let q = (value / step).round();
    if q.is_nan() {
        0
    } else if q <= min as f64 {
        min
    } else if q >= max as f64 {
        max
    } else {
        q as i64
    }
}

#[cfg(test)]
mod tests {
    use super::quantize;

    #[test]
    fn quantize_rounds_to_nearest_step_and_clamps() {
        assert_eq!(quantize(25.06, 0.0625, -4096, 4095), 401);
        assert_eq!(quantize(-0.03, 0.0625, -4096, 4095), 0);
        assert_eq!(quantize(-0.04, 0.0625, -4096, 4095), -1);
        assert_eq!(quantize(1e9, 0.25, -1024, 1023), 1023);
        assert_eq!(quantize(f64::NAN, 0.25, -1024, 1023), 0);
    }
}

#[cfg(test)]
mod driver_tests;
