//! LM75-family board temperature sensors (LM75, LM75A/B, TMP75/75B/75C, TMP1075, DS75,
//! PCT2075, MAX31725, G751, TCN75, STLM75), usually at 0x48–0x4F.
//!
//! Facts restated from HARDWARE.md §4 (Linux `drivers/hwmon/lm75.c`):
//!
//! - temperature (0x00), hysteresis (0x02) and over-temperature (0x03) registers are
//!   16 bits, **most significant byte first** (swap an SMBus read-word, as the kernel's
//!   `i2c_smbus_read_word_swapped`), left-justified two's complement;
//! - with `res` significant bits: t = (raw as i16) >> (16 − res), then
//!   m°C = (t × 1000) >> (res − 8), both shifts arithmetic, so a negative reading rounds
//!   toward −∞ (−0.0625 °C at 12 bits reads −63 m°C);
//! - configuration (0x01) is one byte; on the TMP75 bits 6:5 select 9…12 bits.
//!
//! Because the registers are left-justified, decoding at a variant's highest resolution
//! is exact whatever resolution the chip is currently set to: the bits it does not
//! convert read as zero, and the result equals the kernel's at the lower resolution. So
//! [`Variant::resolution`] is the part's highest resolution (the kernel's figure except
//! for the DS75, which the kernel sets to 11 of its 12 bits at probe — this driver never
//! writes it, so a BIOS may have left it at 12), and a TMP75 left at its power-on 9 bits
//! still decodes correctly — only coarser.
//!
//! The driver reads; the one write it offers, [`Lm75::set_resolution`], is opt-in and
//! touches only TMP75 configuration bits 6:5 (this is a board sensor, not a DIMM).

use crate::chips::Error;
use crate::smbus::Smbus;
use crate::units::MilliCelsius;

/// Register addresses (HARDWARE.md §4).
mod reg {
    pub const TEMP: u8 = 0x00;
    pub const CONFIG: u8 = 0x01;
    pub const HYSTERESIS: u8 = 0x02;
    pub const OVERTEMPERATURE: u8 = 0x03;
}

/// TMP75 configuration bits 6:5, the conversion resolution.
const CONFIG_RESOLUTION_MASK: u8 = 0b0110_0000;

/// A number of significant bits in a temperature register, 9..=16.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Resolution(u8);

impl Resolution {
    /// 9 bits, 0.5 °C per step (LM75, LM75A, G751, TCN75, STLM75).
    pub const BITS_9: Self = Self(9);
    /// 10 bits, 0.25 °C per step.
    pub const BITS_10: Self = Self(10);
    /// 11 bits, 0.125 °C per step (LM75B, PCT2075; the DS75 as the kernel sets it).
    pub const BITS_11: Self = Self(11);
    /// 12 bits, 0.0625 °C per step (TMP75, TMP75B/C, TMP1075, DS75 at most).
    pub const BITS_12: Self = Self(12);
    /// 16 bits, 1/256 °C per step (MAX31725).
    pub const BITS_16: Self = Self(16);

    /// `bits` significant bits; `None` outside 9..=16.
    pub const fn new(bits: u8) -> Option<Self> {
        if bits >= 9 && bits <= 16 {
            Some(Self(bits))
        } else {
            None
        }
    }

    /// The number of significant bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
}

/// Which LM75-compatible part, for its resolution (HARDWARE.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Variant {
    /// National/TI LM75, 9 bits.
    Lm75,
    /// LM75A, 9 bits.
    Lm75a,
    /// NXP LM75B, 11 bits.
    Lm75b,
    /// GMT G751, 9 bits.
    G751,
    /// Microchip TCN75, 9 bits.
    Tcn75,
    /// ST STLM75, 9 bits.
    Stlm75,
    /// Maxim DS75, up to 12 bits (the kernel sets 11 at probe; decoding at 12 reads either
    /// exactly).
    Ds75,
    /// NXP PCT2075, 11 bits.
    Pct2075,
    /// TI TMP75, 12 bits; resolution configurable with [`Lm75::set_resolution`].
    Tmp75,
    /// TI TMP75B, 12 bits.
    Tmp75b,
    /// TI TMP75C, 12 bits.
    Tmp75c,
    /// TI TMP1075, 12 bits.
    Tmp1075,
    /// Maxim MAX31725, 16 bits.
    Max31725,
}

impl Variant {
    /// The resolution this driver decodes the part at: its highest, which reads every
    /// lower configured resolution exactly as the kernel does at that resolution.
    pub const fn resolution(self) -> Resolution {
        match self {
            Self::Lm75 | Self::Lm75a | Self::G751 | Self::Tcn75 | Self::Stlm75 => {
                Resolution::BITS_9
            }
            Self::Lm75b | Self::Pct2075 => Resolution::BITS_11,
            Self::Ds75 | Self::Tmp75 | Self::Tmp75b | Self::Tmp75c | Self::Tmp1075 => {
                Resolution::BITS_12
            }
            Self::Max31725 => Resolution::BITS_16,
        }
    }
}

/// Pure register ↔ value maths, pinned against the kernel's arithmetic.
pub mod conversion {
    use super::{CONFIG_RESOLUTION_MASK, Resolution};
    use crate::units::MilliCelsius;

    /// Temperature of a (byte-swapped) temperature or limit register at `resolution`.
    ///
    /// HARDWARE.md §4: t = (raw as i16) >> (16 − res); m°C = (t × 1000) >> (res − 8);
    /// both shifts arithmetic (round toward −∞).
    pub const fn temperature_from_register(raw: u16, resolution: Resolution) -> MilliCelsius {
        let res = resolution.bits() as u32;
        let t = (raw as i16 as i32) >> (16 - res);
        // |t| ≤ 32768, so × 1000 fits an i32.
        MilliCelsius((t * 1000) >> (res - 8))
    }

    /// Whether configuration bit 0 (shutdown, "SD") is set: the sensor has stopped
    /// converting and its temperature register holds a stale value. (LM75/TMP75
    /// datasheets, configuration register bit 0; the kernel's lm75 probe clears it.)
    pub const fn is_shutdown(config: u8) -> bool {
        config & 1 != 0
    }

    /// Resolution selected by TMP75 configuration bits 6:5 (0 → 9 bits … 3 → 12 bits).
    pub const fn resolution_from_tmp75_config(config: u8) -> Resolution {
        match (config & CONFIG_RESOLUTION_MASK) >> 5 {
            0 => Resolution::BITS_9,
            1 => Resolution::BITS_10,
            2 => Resolution::BITS_11,
            _ => Resolution::BITS_12,
        }
    }

    /// TMP75 configuration byte with bits 6:5 set for `resolution` and every other bit
    /// kept; `None` for a resolution the TMP75 does not have (above 12 bits).
    pub const fn tmp75_config_with_resolution(config: u8, resolution: Resolution) -> Option<u8> {
        let field = match resolution.bits() {
            9 => 0,
            10 => 1,
            11 => 2,
            12 => 3,
            _ => return None,
        };
        Some((config & !CONFIG_RESOLUTION_MASK) | (field << 5))
    }
}

/// The two limit registers, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Over-temperature shutdown limit, T_OS (register 0x03).
    pub overtemperature: MilliCelsius,
    /// Hysteresis: the OS output releases below this (register 0x02).
    pub hysteresis: MilliCelsius,
}

/// An LM75-family sensor on an SMBus.
#[derive(Debug)]
pub struct Lm75<B> {
    bus: B,
    address: u8,
    variant: Variant,
}

impl<B: Smbus> Lm75<B> {
    /// A `variant` sensor at 7-bit `address` (0x48–0x4F for most parts; PCT2075 and
    /// others have more); above 0x7F is [`Error::InvalidArgument`]. No bus traffic.
    pub fn new(bus: B, address: u8, variant: Variant) -> Result<Self, Error<B::Error>> {
        if address > 0x7F {
            return Err(Error::InvalidArgument);
        }
        Ok(Self {
            bus,
            address,
            variant,
        })
    }

    /// Gives the bus back.
    pub fn release(self) -> B {
        self.bus
    }

    /// The part this driver decodes for.
    pub const fn variant(&self) -> Variant {
        self.variant
    }

    /// The sensor's 7-bit address.
    pub const fn address(&self) -> u8 {
        self.address
    }

    fn read_register(&mut self, register: u8) -> Result<u16, Error<B::Error>> {
        self.bus
            .read_word_data(self.address, register)
            .map(u16::swap_bytes)
            .map_err(Error::Bus)
    }

    fn decode(&self, raw: u16) -> MilliCelsius {
        conversion::temperature_from_register(raw, self.variant.resolution())
    }

    /// The temperature (register 0x00).
    pub fn read_temperature(&mut self) -> Result<MilliCelsius, Error<B::Error>> {
        let raw = self.read_register(reg::TEMP)?;
        Ok(self.decode(raw))
    }

    /// The over-temperature and hysteresis limits (registers 0x03 and 0x02).
    pub fn read_limits(&mut self) -> Result<Limits, Error<B::Error>> {
        let os = self.read_register(reg::OVERTEMPERATURE)?;
        let hyst = self.read_register(reg::HYSTERESIS)?;
        Ok(Limits {
            overtemperature: self.decode(os),
            hysteresis: self.decode(hyst),
        })
    }

    /// The 8-bit configuration register (0x01), read with a byte read.
    pub fn read_config(&mut self) -> Result<u8, Error<B::Error>> {
        self.bus
            .read_byte_data(self.address, reg::CONFIG)
            .map_err(Error::Bus)
    }

    /// Checks that the sensor is converting: one in shutdown (configuration bit 0) keeps
    /// returning its last conversion. Call it when a reader starts; this driver writes the
    /// configuration register only through the opt-in [`Lm75::set_resolution`], so a
    /// shutdown sensor is [`Error::Unsupported`] with what to do.
    pub fn check_converting(&mut self) -> Result<(), Error<B::Error>> {
        if conversion::is_shutdown(self.read_config()?) {
            return Err(Error::Unsupported(
                "LM75-family sensor is in shutdown (configuration bit 0): its temperature \
                 register holds a stale value — enable it in firmware, or let the kernel's lm75 \
                 driver bind (its probe clears shutdown) and read hwmon",
            ));
        }
        Ok(())
    }

    /// Opt-in: sets a TMP75's conversion resolution (9…12 bits) by rewriting only
    /// configuration bits 6:5; every other bit is written back as read. Higher resolution
    /// means a longer conversion (28, 55, 110, 220 ms for 9…12 bits, HARDWARE.md §4).
    ///
    /// Readings decode correctly before and after (module docs). Any other variant, or a
    /// resolution above 12 bits, is [`Error::InvalidArgument`] with no bus traffic.
    pub fn set_resolution(&mut self, resolution: Resolution) -> Result<(), Error<B::Error>> {
        if self.variant != Variant::Tmp75 {
            return Err(Error::InvalidArgument);
        }
        // Validate before touching the bus.
        if conversion::tmp75_config_with_resolution(0, resolution).is_none() {
            return Err(Error::InvalidArgument);
        }
        let config = self.read_config()?;
        let wanted = conversion::tmp75_config_with_resolution(config, resolution)
            .ok_or(Error::InvalidArgument)?;
        if wanted == config {
            return Ok(());
        }
        self.bus
            .write_byte_data(self.address, reg::CONFIG, wanted)
            .map_err(Error::Bus)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::conversion::*;
    use super::*;
    use crate::chips::ErrorKind as ChipErrorKind;
    use crate::smbus::{ErrorKind as BusErrorKind, I2cSmbus, ReadOnly};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use proptest::prelude::*;
    use std::vec;

    const R9: Resolution = Resolution::BITS_9;
    const R11: Resolution = Resolution::BITS_11;
    const R12: Resolution = Resolution::BITS_12;
    const R16: Resolution = Resolution::BITS_16;

    #[test]
    fn negative_readings_round_toward_minus_infinity() {
        // −0.0625 °C at 12 bits: −1000 >> 4 = −63 (JC-42 would give −62).
        assert_eq!(temperature_from_register(0xFFF0, R12), MilliCelsius(-63));
        // −0.125 °C at 11 bits: exactly −125.
        assert_eq!(temperature_from_register(0xFFE0, R11), MilliCelsius(-125));
        // −0.5 °C at 9 bits.
        assert_eq!(temperature_from_register(0xFF80, R9), MilliCelsius(-500));
        // −1/256 °C at 16 bits: −1000 >> 8 = −4 (floor of −3.9).
        assert_eq!(temperature_from_register(0xFFFF, R16), MilliCelsius(-4));
    }

    #[test]
    fn positive_readings_truncate() {
        // +0.0625 °C at 12 bits: 1000 >> 4 = 62.
        assert_eq!(temperature_from_register(0x0010, R12), MilliCelsius(62));
        assert_eq!(temperature_from_register(0x1900, R12), MilliCelsius(25_000));
        assert_eq!(temperature_from_register(0x1910, R12), MilliCelsius(25_062));
        assert_eq!(temperature_from_register(0x0001, R16), MilliCelsius(3));
    }

    #[test]
    fn datasheet_extremes() {
        // +125 °C and −55 °C at 9 bits.
        assert_eq!(temperature_from_register(0x7D00, R9), MilliCelsius(125_000));
        assert_eq!(temperature_from_register(0xC900, R9), MilliCelsius(-55_000));
        // Full-scale register values.
        assert_eq!(
            temperature_from_register(0x7FFF, R16),
            MilliCelsius(127_996)
        );
        assert_eq!(
            temperature_from_register(0x8000, R16),
            MilliCelsius(-128_000)
        );
        assert_eq!(
            temperature_from_register(0x8000, R9),
            MilliCelsius(-128_000)
        );
        assert_eq!(temperature_from_register(0x7FFF, R9), MilliCelsius(127_500));
    }

    #[test]
    fn bits_below_the_resolution_are_ignored() {
        // 25.5 °C at 9 bits with junk in the low 7 bits.
        assert_eq!(temperature_from_register(0x19FF, R9), MilliCelsius(25_500));
        assert_eq!(temperature_from_register(0xFFFF, R12), MilliCelsius(-63));
    }

    #[test]
    fn a_nine_bit_reading_decodes_the_same_at_twelve_bits() {
        for steps in i16::MIN / 128..=i16::MAX / 128 {
            let raw = (steps << 7) as u16;
            assert_eq!(
                temperature_from_register(raw, R9),
                temperature_from_register(raw, R12)
            );
        }
    }

    #[test]
    fn a_ds75_left_at_12_bits_keeps_its_last_bit() {
        // The DS75 converts at 9…12 bits (kernel `ds75` resolutions {9, 10, 11, 12}); the
        // kernel sets it to 11 bits at probe, this driver never writes it, so a BIOS may
        // have left it at 12. +0.0625 °C and −0.0625 °C must not read 0 and −125.
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x48, vec![0x00], vec![0x00, 0x10]),
            Transaction::write_read(0x48, vec![0x00], vec![0xFF, 0xF0]),
            // An 11-bit reading still decodes exactly as the kernel does at 11 bits.
            Transaction::write_read(0x48, vec![0x00], vec![0xFF, 0xE0]),
        ]);
        let mut s = Lm75::new(I2cSmbus::new(&mut i2c), 0x48, Variant::Ds75).unwrap();
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(62));
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(-63));
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(-125));
        i2c.done();
    }

    #[test]
    fn decoding_at_12_bits_equals_the_kernel_at_any_lower_resolution() {
        for res in [R9, Resolution::BITS_10, R11] {
            let unused = 16 - res.bits();
            for steps in i16::MIN >> unused..=i16::MAX >> unused {
                let raw = (steps << unused) as u16;
                assert_eq!(
                    temperature_from_register(raw, R12),
                    temperature_from_register(raw, res),
                    "raw {raw:#06x} at {} bits",
                    res.bits()
                );
            }
        }
    }

    #[test]
    fn resolution_bounds() {
        assert_eq!(Resolution::new(8), None);
        assert_eq!(Resolution::new(17), None);
        assert_eq!(Resolution::new(12), Some(R12));
        assert_eq!(Variant::Tmp75.resolution(), R12);
        assert_eq!(Variant::Lm75.resolution(), R9);
        assert_eq!(Variant::Pct2075.resolution(), R11);
        assert_eq!(Variant::Max31725.resolution(), R16);
    }

    #[test]
    fn tmp75_resolution_field() {
        assert_eq!(resolution_from_tmp75_config(0x00), R9);
        assert_eq!(resolution_from_tmp75_config(0x60), R12);
        assert_eq!(resolution_from_tmp75_config(0x9F), R9);
        assert_eq!(tmp75_config_with_resolution(0x81, R12), Some(0xE1));
        assert_eq!(tmp75_config_with_resolution(0xFF, R9), Some(0x9F));
        assert_eq!(tmp75_config_with_resolution(0x00, R16), None);
    }

    proptest! {
        #[test]
        fn no_register_value_panics_at_any_resolution(raw: u16, bits in 9u8..=16, config: u8) {
            let res = Resolution::new(bits).unwrap();
            let t = temperature_from_register(raw, res);
            prop_assert!((-128_000..128_000).contains(&t.0));
            let _ = resolution_from_tmp75_config(config);
            let _ = tmp75_config_with_resolution(config, res);
        }
    }

    #[test]
    fn driver_reads_msb_first_words() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x48, vec![0x00], vec![0xFF, 0xF0]),
            Transaction::write_read(0x48, vec![0x03], vec![0x50, 0x00]),
            Transaction::write_read(0x48, vec![0x02], vec![0x4B, 0x00]),
        ]);
        let mut s = Lm75::new(I2cSmbus::new(&mut i2c), 0x48, Variant::Tmp75).unwrap();
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(-63));
        assert_eq!(
            s.read_limits().unwrap(),
            Limits {
                overtemperature: MilliCelsius(80_000),
                hysteresis: MilliCelsius(75_000)
            }
        );
        i2c.done();
    }

    #[test]
    fn a_sensor_in_shutdown_is_reported_not_read_stale() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x48, vec![0x01], vec![0x61]),
            Transaction::write_read(0x48, vec![0x01], vec![0x60]),
        ]);
        let mut s =
            Lm75::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x48, Variant::Tmp75).unwrap();
        assert_eq!(
            s.check_converting().unwrap_err().kind(),
            crate::chips::ErrorKind::Unsupported
        );
        assert!(s.check_converting().is_ok());
        i2c.done();
    }

    #[test]
    fn reading_never_writes_the_config_register() {
        // Only write_read transactions: a write would fail the mock.
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x49, vec![0x00], vec![0x19, 0x80]),
            Transaction::write_read(0x49, vec![0x01], vec![0x00]),
        ]);
        let mut s = Lm75::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x49, Variant::Lm75).unwrap();
        assert_eq!(s.address(), 0x49);
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(25_500));
        assert_eq!(s.read_config().unwrap(), 0x00);
        i2c.done();
    }

    #[test]
    fn set_resolution_rewrites_only_bits_6_and_5() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x4A, vec![0x01], vec![0x86]),
            Transaction::write(0x4A, vec![0x01, 0xE6]),
        ]);
        let mut s = Lm75::new(I2cSmbus::new(&mut i2c), 0x4A, Variant::Tmp75).unwrap();
        s.set_resolution(R12).unwrap();
        i2c.done();
    }

    #[test]
    fn set_resolution_skips_the_write_when_already_set() {
        let mut i2c = Mock::new(&[Transaction::write_read(0x4A, vec![0x01], vec![0x60])]);
        let mut s = Lm75::new(I2cSmbus::new(&mut i2c), 0x4A, Variant::Tmp75).unwrap();
        s.set_resolution(R12).unwrap();
        i2c.done();
    }

    #[test]
    fn set_resolution_is_refused_for_other_parts_and_resolutions() {
        let mut i2c = Mock::new(&[]);
        let mut s = Lm75::new(I2cSmbus::new(&mut i2c), 0x48, Variant::Lm75).unwrap();
        assert_eq!(
            s.set_resolution(R12).unwrap_err().kind(),
            ChipErrorKind::InvalidArgument
        );
        let mut s = Lm75::new(s.release(), 0x48, Variant::Tmp75).unwrap();
        assert_eq!(
            s.set_resolution(R16).unwrap_err().kind(),
            ChipErrorKind::InvalidArgument
        );
        i2c.done();
    }

    #[test]
    fn set_resolution_on_a_read_only_bus_is_refused_by_the_bus() {
        let mut i2c = Mock::new(&[Transaction::write_read(0x4A, vec![0x01], vec![0x00])]);
        let mut s =
            Lm75::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x4A, Variant::Tmp75).unwrap();
        let e = s.set_resolution(R12).unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Bus(BusErrorKind::WriteRefused));
        i2c.done();
    }
}
