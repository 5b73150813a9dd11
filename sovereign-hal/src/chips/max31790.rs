//! Maxim (Analog Devices) MAX31790 six-channel PWM fan controller.
//!
//! Pure decoders (tach count → RPM with the channel's speed range, duty-cycle word ↔ PWM
//! byte) and [`Max31790`], a driver that reads fan speeds and duty, sets the PWM target,
//! reads the fault latches and sets the chip's I2C watchdog.
//!
//! ## Register facts and where they come from
//!
//! - Fan configuration, dynamics, fault status, tach count, duty cycle and PWMOUT
//!   registers and the RPM/PWM arithmetic: HARDWARE.md §3b, restated from Linux
//!   `drivers/hwmon/max31790.c`.
//! - Global Configuration (0x00) bit layout: **not used by the kernel** (UNCONFIRMED in
//!   HARDWARE.md). Taken from Oxide Hubris's `drv/i2c-devices/src/max31790.rs` register
//!   definitions (bit 7 standby, bit 6 reset, bit 5 bus-timeout disable, bits 2:1 I2C
//!   watchdog period 00 off / 01 5 s / 10 10 s / 11 30 s, bit 0 watchdog status) and
//!   confirmed for the period field by TI's FAN31790 datasheet (a register-compatible
//!   part, "I2C watchdog timer", SLVSIZ2): bits 2:1 of register 00h select 5, 10 or 30
//!   seconds or off, and on expiry the chip drives every fan at 100 % duty until I2C
//!   traffic resumes.
//!
//! There are no identification registers: the chip cannot be probed and must be
//! configured explicitly (HARDWARE.md §3b).
//!
//! ## Byte order
//!
//! Tach count, duty cycle and PWMOUT are MSB/LSB register pairs, MSB first on the wire,
//! so SMBus words are swapped in both directions (HARDWARE.md §3b, §10).

use bitflags::bitflags;

use super::Error;
use crate::smbus::Smbus;
use crate::units::{Duty, Rpm};

/// Register addresses (HARDWARE.md §3b unless marked).
mod reg {
    /// Global Configuration (bit layout UNCONFIRMED by the kernel; see module docs).
    pub const GLOBAL_CONFIG: u8 = 0x00;
    /// Fan dynamics of channel ch: 0x08 + ch; bits 7:5 speed range.
    pub const FAN_DYNAMICS_BASE: u8 = 0x08;
    /// Fault status 2: bits 5:0 → tach inputs 7–12.
    pub const FAULT_STATUS_2: u8 = 0x10;
    /// Fault status 1: bits 5:0 → tach inputs 1–6.
    pub const FAULT_STATUS_1: u8 = 0x11;
    /// Tach count of channel ch: 0x18 + 2·ch.
    pub const TACH_COUNT_BASE: u8 = 0x18;
    /// Current PWM duty cycle of channel ch: 0x30 + 2·ch.
    pub const PWM_DUTY_BASE: u8 = 0x30;
    /// Target PWM duty cycle (PWMOUT) of channel ch: 0x40 + 2·ch.
    pub const PWMOUT_BASE: u8 = 0x40;
}

/// Global Configuration bits (Hubris register definitions; UNCONFIRMED by the kernel).
mod global {
    /// Writing 1 resets every register: never set by this driver.
    pub const RESET: u8 = 1 << 6;
    /// I2C watchdog period, bits 2:1.
    pub const WATCHDOG_MASK: u8 = 0b110;
    /// Shift of the watchdog period field.
    pub const WATCHDOG_SHIFT: u8 = 1;
    /// The watchdog expired (status, read-only).
    pub const WATCHDOG_STATUS: u8 = 1 << 0;
}

/// Number of PWM channels (and of primary tach inputs).
pub const CHANNELS: u8 = 6;

/// The tach reading the newer kernel treats as "no pulses": 0 RPM (HARDWARE.md §3b).
const TACH_NO_PULSES: u16 = 0xFFE0;
/// What the kernel reports for a count of zero (`FAN_RPM_MAX`, HARDWARE.md §3b). Not a
/// ceiling: a count of 1 at speed range 32 reads 15 728 640 RPM, as in the kernel.
pub const RPM_MAX: Rpm = Rpm(7_864_320);

/// Speed range SR (tach pulses counted per measurement) from a fan dynamics register:
/// bits 7:5 index the table {1, 2, 4, 8, 16, 32, 32, 32} (HARDWARE.md §3b).
pub const fn speed_range(dynamics: u8) -> u32 {
    match dynamics >> 5 {
        0 => 1,
        1 => 2,
        2 => 4,
        3 => 8,
        4 => 16,
        _ => 32,
    }
}

/// Fan speed from a tach count word (already swapped, MSB in bits 15:8) and the
/// channel's fan dynamics register, exactly as newer Linux kernels compute it
/// (HARDWARE.md §3b): 0xFFE0 → 0 RPM; a count (word >> 4) of 0 → 7 864 320 RPM;
/// otherwise 60 · SR · 8192 / (word >> 4), truncated.
///
/// Never fails: every word has a defined result.
pub const fn rpm_from_tach(word: u16, dynamics: u8) -> Rpm {
    if word == TACH_NO_PULSES {
        return Rpm(0);
    }
    let count = (word >> 4) as u32;
    if count == 0 {
        return RPM_MAX;
    }
    // At most 60 · 32 · 8192 = 15 728 640: no overflow.
    Rpm(60 * speed_range(dynamics) * 8192 / count)
}

/// The PWM byte (0..=255) of a duty-cycle word (swapped, MSB in bits 15:8): word >> 8,
/// as hwmon `pwmN` reports it (HARDWARE.md §3b).
pub const fn pwm_from_duty_word(word: u16) -> u8 {
    (word >> 8) as u8
}

/// The PWMOUT word (MSB in bits 15:8) for a PWM byte: the 9-bit duty
/// round-to-nearest(pwm · 511 / 255) in bits 15:7 (HARDWARE.md §3b).
pub const fn pwmout_word_from_pwm(pwm: u8) -> u16 {
    // ≤ 255 · 511 + 127 = 130 432; the quotient is ≤ 511, so the shift fits in u16.
    let nine_bit = (pwm as u32 * 511 + 127) / 255;
    (nine_bit << 7) as u16
}

bitflags! {
    /// Fan faults from fault status 1 and 2 (0x11, 0x10): bit n = tach input n + 1
    /// (inputs 7–12 are the PWM pins used as second tach inputs), HARDWARE.md §3b.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FanFaults: u16 {
        /// Tach input 1 (channel 0).
        const TACH1 = 1 << 0;
        /// Tach input 2 (channel 1).
        const TACH2 = 1 << 1;
        /// Tach input 3 (channel 2).
        const TACH3 = 1 << 2;
        /// Tach input 4 (channel 3).
        const TACH4 = 1 << 3;
        /// Tach input 5 (channel 4).
        const TACH5 = 1 << 4;
        /// Tach input 6 (channel 5).
        const TACH6 = 1 << 5;
        /// Tach input 7 (PWM pin of channel 0 used as a tach input).
        const TACH7 = 1 << 6;
        /// Tach input 8.
        const TACH8 = 1 << 7;
        /// Tach input 9.
        const TACH9 = 1 << 8;
        /// Tach input 10.
        const TACH10 = 1 << 9;
        /// Tach input 11.
        const TACH11 = 1 << 10;
        /// Tach input 12.
        const TACH12 = 1 << 11;
    }
}

impl FanFaults {
    /// Combines fault status 1 (inputs 1–6) and fault status 2 (inputs 7–12); bits 7:6 of
    /// each are not fan faults and are dropped.
    pub const fn from_status(status1: u8, status2: u8) -> Self {
        Self::from_bits_truncate((status1 & 0x3F) as u16 | ((status2 & 0x3F) as u16) << 6)
    }

    /// Whether the primary tach input of `channel` (0..6) reports a fault.
    pub const fn channel(self, channel: u8) -> bool {
        channel < CHANNELS && self.bits() & (1 << channel) != 0
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for FanFaults {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FanFaults({=u16:#b})", self.bits());
    }
}

/// The I2C watchdog period, Global Configuration bits 2:1 (see module docs for sources).
///
/// When it expires without I2C traffic the chip drives every fan at 100 % duty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Watchdog {
    /// No watchdog (00).
    Disabled,
    /// Five seconds (01).
    Seconds5,
    /// Ten seconds (10).
    Seconds10,
    /// Thirty seconds (11).
    Seconds30,
}

impl Watchdog {
    /// The period encoded in a Global Configuration value.
    pub const fn from_global_config(config: u8) -> Self {
        match (config & global::WATCHDOG_MASK) >> global::WATCHDOG_SHIFT {
            0 => Self::Disabled,
            1 => Self::Seconds5,
            2 => Self::Seconds10,
            _ => Self::Seconds30,
        }
    }

    /// The two-bit field value (already shifted into bits 2:1).
    pub const fn field(self) -> u8 {
        let code = match self {
            Self::Disabled => 0,
            Self::Seconds5 => 1,
            Self::Seconds10 => 2,
            Self::Seconds30 => 3,
        };
        code << global::WATCHDOG_SHIFT
    }
}

/// MAX31790 driver over SMBus. Channels are numbered 0..6.
///
/// Owns the bus handle; [`Max31790::release`] gives it back.
#[derive(Debug)]
pub struct Max31790<B> {
    bus: B,
    address: u8,
}

impl<B: Smbus> Max31790<B> {
    /// Wraps the bus for the chip at 7-bit `address`. The chip has no ID registers, so
    /// the address must come from the board description.
    pub const fn new(bus: B, address: u8) -> Self {
        Self { bus, address }
    }

    /// The 7-bit bus address.
    pub const fn address(&self) -> u8 {
        self.address
    }

    /// Gives the bus back.
    pub fn release(self) -> B {
        self.bus
    }

    /// Speed of the fan on `channel`'s tach input: reads the fan dynamics register for
    /// the speed range, then the tach count ([`rpm_from_tach`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a channel ≥ 6, or the bus error.
    pub fn read_rpm(&mut self, channel: u8) -> Result<Rpm, Error<B::Error>> {
        let ch = check_channel(channel)?;
        let dynamics = self.read_byte(reg::FAN_DYNAMICS_BASE + ch)?;
        let word = self.read_word_msb_first(reg::TACH_COUNT_BASE + 2 * ch)?;
        Ok(rpm_from_tach(word, dynamics))
    }

    /// The duty cycle the chip currently outputs on `channel` (it ramps towards the
    /// PWMOUT target), as hwmon `pwmN` reads it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a channel ≥ 6, or the bus error.
    pub fn read_duty(&mut self, channel: u8) -> Result<Duty, Error<B::Error>> {
        let ch = check_channel(channel)?;
        let word = self.read_word_msb_first(reg::PWM_DUTY_BASE + 2 * ch)?;
        Ok(Duty::from_pwm_u8(pwm_from_duty_word(word)))
    }

    /// Sets the PWM target (PWMOUT) of `channel`, through the 8-bit PWM byte the kernel
    /// uses ([`pwmout_word_from_pwm`]). The chip follows it in PWM mode; in RPM mode
    /// (fan configuration bit 7) it controls speed instead.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a channel ≥ 6, or the bus error.
    pub fn set_duty(&mut self, channel: u8, duty: Duty) -> Result<(), Error<B::Error>> {
        let ch = check_channel(channel)?;
        let word = pwmout_word_from_pwm(duty.to_pwm_u8());
        self.bus
            .write_word_data(self.address, reg::PWMOUT_BASE + 2 * ch, word.swap_bytes())
            .map_err(Error::Bus)
    }

    /// The fault latches of all twelve tach inputs (fault status 1 and 2). The kernel
    /// treats them as sticky and clears a fault by rewriting the target count
    /// (HARDWARE.md §3b); this read does not clear anything.
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn read_fan_faults(&mut self) -> Result<FanFaults, Error<B::Error>> {
        let status1 = self.read_byte(reg::FAULT_STATUS_1)?;
        let status2 = self.read_byte(reg::FAULT_STATUS_2)?;
        Ok(FanFaults::from_status(status1, status2))
    }

    /// Sets the I2C watchdog period in the Global Configuration register (bits 2:1; see
    /// module docs for the source). With a period set, a host that stops talking to the
    /// chip leaves every fan at 100 %. Read-modify-write; the reset bit is never written
    /// as 1.
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn set_watchdog(&mut self, watchdog: Watchdog) -> Result<(), Error<B::Error>> {
        let old = self.read_byte(reg::GLOBAL_CONFIG)?;
        let new = (old & !(global::WATCHDOG_MASK | global::RESET | global::WATCHDOG_STATUS))
            | watchdog.field();
        if new == old {
            return Ok(());
        }
        self.bus
            .write_byte_data(self.address, reg::GLOBAL_CONFIG, new)
            .map_err(Error::Bus)
    }

    /// The watchdog period currently set, and whether the watchdog has expired (Global
    /// Configuration bit 0, per Hubris's register definition; UNCONFIRMED by the kernel).
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn read_watchdog(&mut self) -> Result<(Watchdog, bool), Error<B::Error>> {
        let config = self.read_byte(reg::GLOBAL_CONFIG)?;
        Ok((
            Watchdog::from_global_config(config),
            config & global::WATCHDOG_STATUS != 0,
        ))
    }

    fn read_byte(&mut self, register: u8) -> Result<u8, Error<B::Error>> {
        self.bus
            .read_byte_data(self.address, register)
            .map_err(Error::Bus)
    }

    fn read_word_msb_first(&mut self, register: u8) -> Result<u16, Error<B::Error>> {
        let word = self
            .bus
            .read_word_data(self.address, register)
            .map_err(Error::Bus)?;
        Ok(word.swap_bytes())
    }
}

fn check_channel<E>(channel: u8) -> Result<u8, Error<E>> {
    if channel < CHANNELS {
        Ok(channel)
    } else {
        Err(Error::InvalidArgument)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;

    use super::*;
    use crate::chips::ErrorKind;
    use crate::smbus::{self, I2cSmbus};
    use embedded_hal::i2c::{ErrorKind as I2cErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use proptest::prelude::*;

    const ADDR: u8 = 0x20;
    /// Dynamics register default 0x4C: bits 7:5 = 010 → SR 4.
    const DYN_SR4: u8 = 0x4C;

    fn driver(expect: &[T]) -> (Max31790<I2cSmbus<Mock>>, Mock) {
        let mock = Mock::new(expect);
        (Max31790::new(I2cSmbus::new(mock.clone()), ADDR), mock)
    }

    #[test]
    fn speed_range_table() {
        let srs: std::vec::Vec<u32> = (0..8u8).map(|i| speed_range(i << 5)).collect();
        assert_eq!(srs, [1, 2, 4, 8, 16, 32, 32, 32]);
        // Low bits of the dynamics register do not matter.
        assert_eq!(speed_range(0b010_11111), 4);
    }

    #[test]
    fn rpm_follows_kernel_formula() {
        // 60 · 4 · 8192 / (0x3C00 >> 4 = 960) = 2048 RPM.
        assert_eq!(rpm_from_tach(0x3C00, DYN_SR4), Rpm(2048));
        // Truncating division: 60 · 1 · 8192 / 1000 = 491.52 → 491.
        assert_eq!(rpm_from_tach(1000 << 4, 0), Rpm(491));
        // SR indices 5..7 all mean 32.
        assert_eq!(rpm_from_tach(0x3C00, 0xE0), rpm_from_tach(0x3C00, 0xA0));
    }

    #[test]
    fn no_pulses_reads_zero_and_zero_count_reads_max() {
        // Newer kernels: 0xFFE0 → 0 (older ones reported 480 RPM with SR 4).
        assert_eq!(rpm_from_tach(0xFFE0, DYN_SR4), Rpm(0));
        assert_eq!(rpm_from_tach(0xFFF0, DYN_SR4), Rpm(480));
        for w in 0..16u16 {
            assert_eq!(rpm_from_tach(w, DYN_SR4), RPM_MAX);
        }
    }

    #[test]
    fn pwm_conversions_match_kernel() {
        assert_eq!(pwm_from_duty_word(0xFF80), 255);
        assert_eq!(pwm_from_duty_word(0x80FF), 128);
        assert_eq!(pwmout_word_from_pwm(255), 511 << 7);
        assert_eq!(pwmout_word_from_pwm(0), 0);
        // 128 · 511 / 255 = 256.502 → nearest is 257.
        assert_eq!(pwmout_word_from_pwm(128), 257 << 7);
        // 1 · 511 / 255 = 2.004 → 2.
        assert_eq!(pwmout_word_from_pwm(1), 2 << 7);
        // Every byte written reads back as itself (9-bit duty, top 8 bits).
        for p in 0..=255u8 {
            assert_eq!(pwm_from_duty_word(pwmout_word_from_pwm(p)), p, "pwm {p}");
        }
    }

    #[test]
    fn fault_bits_combine_both_registers() {
        let f = FanFaults::from_status(0b1100_0101, 0b0010_0001);
        assert_eq!(
            f,
            FanFaults::TACH1 | FanFaults::TACH3 | FanFaults::TACH7 | FanFaults::TACH12
        );
        assert!(f.channel(0) && f.channel(2) && !f.channel(1) && !f.channel(6));
    }

    #[test]
    fn watchdog_field_round_trips() {
        for w in [
            Watchdog::Disabled,
            Watchdog::Seconds5,
            Watchdog::Seconds10,
            Watchdog::Seconds30,
        ] {
            assert_eq!(Watchdog::from_global_config(w.field() | 0xF9), w);
        }
        assert_eq!(Watchdog::Seconds5.field(), 0b010);
    }

    proptest! {
        #[test]
        fn no_word_or_dynamics_panics(w in any::<u16>(), d in any::<u8>()) {
            // Largest result: SR 32, count 1 → 60 · 32 · 8192.
            prop_assert!(rpm_from_tach(w, d).0 <= 15_728_640);
            let _ = pwm_from_duty_word(w);
        }
    }

    #[test]
    fn read_rpm_reads_dynamics_then_swapped_tach() {
        // Channel 2: dynamics 0x0A, tach 0x1C. SR 8 (0x60); count word 0x3C00 → 4096 RPM.
        let (mut dev, mut mock) = driver(&[
            T::write_read(ADDR, vec![0x0A], vec![0x60]),
            T::write_read(ADDR, vec![0x1C], vec![0x3C, 0x00]),
        ]);
        assert_eq!(dev.read_rpm(2), Ok(Rpm(4096)));
        dev.release();
        mock.done();
    }

    #[test]
    fn duty_write_is_msb_first_and_reads_back() {
        // Channel 5: PWMOUT 0x4A, duty 0x3A. Full drive → 0xFF80, MSB first.
        let (mut dev, mut mock) = driver(&[
            T::write(ADDR, vec![0x4A, 0xFF, 0x80]),
            T::write_read(ADDR, vec![0x3A], vec![0xFF, 0x80]),
        ]);
        dev.set_duty(5, Duty::FULL).unwrap();
        assert_eq!(dev.read_duty(5), Ok(Duty::FULL));
        dev.release();
        mock.done();
    }

    #[test]
    fn channel_six_is_refused_without_bus_traffic() {
        let (mut dev, mut mock) = driver(&[]);
        assert_eq!(
            dev.read_rpm(6).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        assert_eq!(
            dev.read_duty(6).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        assert_eq!(
            dev.set_duty(200, Duty::ZERO).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        dev.release();
        mock.done();
    }

    #[test]
    fn faults_read_both_status_registers() {
        let (mut dev, mut mock) = driver(&[
            T::write_read(ADDR, vec![0x11], vec![0b10]),
            T::write_read(ADDR, vec![0x10], vec![0]),
        ]);
        assert_eq!(dev.read_fan_faults(), Ok(FanFaults::TACH2));
        dev.release();
        mock.done();
    }

    #[test]
    fn watchdog_is_set_without_touching_reset() {
        let (mut dev, mut mock) = driver(&[
            // Default 0x20 (bus timeout disabled) → 5 s watchdog: 0x22.
            T::write_read(ADDR, vec![0x00], vec![0x20]),
            T::write(ADDR, vec![0x00, 0x22]),
            // Reset and status bits read as set are written back as 0.
            T::write_read(ADDR, vec![0x00], vec![0x43]),
            T::write(ADDR, vec![0x00, 0x06]),
            T::write_read(ADDR, vec![0x00], vec![0x07]),
        ]);
        dev.set_watchdog(Watchdog::Seconds5).unwrap();
        dev.set_watchdog(Watchdog::Seconds30).unwrap();
        assert_eq!(dev.read_watchdog(), Ok((Watchdog::Seconds30, true)));
        dev.release();
        mock.done();
    }

    #[test]
    fn nak_surfaces_as_bus_no_acknowledge() {
        let (mut dev, mut mock) = driver(&[T::write_read(ADDR, vec![0x08], vec![0])
            .with_error(I2cErrorKind::NoAcknowledge(NoAcknowledgeSource::Data))]);
        assert_eq!(
            dev.read_rpm(0).map_err(|e| e.kind()),
            Err(ErrorKind::Bus(smbus::ErrorKind::NoAcknowledge))
        );
        dev.release();
        mock.done();
    }
}
