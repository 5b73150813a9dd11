//! AMD SB-TSI (Sideband Temperature Sensor Interface): the CPU temperature as a BMC sees
//! it, over the processor's sideband SMBus. Read-only.
//!
//! SB-TSI is not in HARDWARE.md; these facts are restated from the Linux driver
//! `drivers/hwmon/sbtsi_temp.c` (torvalds/linux @550d14e3, Kingxukai/linux @0291023e —
//! identical in what follows) and its documentation `Documentation/hwmon/sbtsi_temp.rst`:
//!
//! - every register is accessed with SMBus byte reads; a temperature is an integer byte
//!   and a "decimal" byte whose bits 7:5 count 0.125 °C, so the range is
//!   0 … 255.875 °C and m°C = (integer × 8 + decimal >> 5) × 125;
//! - CPU temperature: integer 0x01, decimal 0x10; high limit 0x07/0x13; low limit
//!   0x08/0x14; configuration 0x03 (status 0x02 is not used by the kernel);
//! - configuration bit 5 (ReadOrder) says which half latches the other: clear ⇒ reading
//!   the integer latches the decimal, so read integer first; set ⇒ decimal first;
//! - configuration bit 2 selects the extended range: set ⇒ the same encoding means
//!   −49 … 206.875 °C, i.e. 49 000 m°C is subtracted from every temperature and limit.
//!   This is newer than the two kernel copies above: the patch "hwmon: (sbtsi_temp) Add
//!   support for extended range" (`SBTSI_CONFIG_EXT_RANGE_SHIFT` 2,
//!   `SBTSI_TEMP_EXT_RANGE_ADJ` 49000, citing the AMD V3000 PPR), which later AMD SB-TSI
//!   patches carry as existing code; its exact merge release is UNCONFIRMED. Ignoring the
//!   bit would read a CPU 49 °C hotter than it is;
//! - limits written by the kernel are clamped to 0 … 255 875 m°C and truncated to
//!   0.125 °C;
//! - the address is normally 0x4C (98h in 8-bit form) for socket 0 and 0x48 (90h) for
//!   socket 1, but address-select pins can change it. The kernel does not scan for it.
//!
//! Reached from a BMC or another sideband master, not from the host's own SMBus.

use crate::chips::Error;
use crate::smbus::Smbus;
use crate::units::MilliCelsius;

/// The usual address of socket 0's SB-TSI (98h as an 8-bit address).
pub const ADDRESS_SOCKET_0: u8 = 0x4C;
/// The usual address of socket 1's SB-TSI (90h as an 8-bit address).
pub const ADDRESS_SOCKET_1: u8 = 0x48;

/// Register addresses (sbtsi_temp.c).
mod reg {
    pub const TEMP_INT: u8 = 0x01;
    pub const CONFIG: u8 = 0x03;
    pub const HIGH_INT: u8 = 0x07;
    pub const LOW_INT: u8 = 0x08;
    pub const TEMP_DEC: u8 = 0x10;
    pub const HIGH_DEC: u8 = 0x13;
    pub const LOW_DEC: u8 = 0x14;
}

/// Which temperature range the encoding covers (configuration bit 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Range {
    /// Bit 2 clear: 0 … 255.875 °C.
    Default,
    /// Bit 2 set: −49 … 206.875 °C (the encoded value minus 49 °C).
    Extended,
}

/// Which half of the CPU temperature must be read first (configuration bit 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadOrder {
    /// Bit 5 clear: reading the integer byte latches the decimal byte.
    IntegerFirst,
    /// Bit 5 set: reading the decimal byte latches the integer byte.
    DecimalFirst,
}

/// Pure register ↔ value maths, pinned against the kernel's arithmetic.
pub mod conversion {
    use super::{Range, ReadOrder};
    use crate::units::MilliCelsius;

    /// What the extended range subtracts from the encoded value (`SBTSI_TEMP_EXT_RANGE_ADJ`).
    pub const EXTENDED_RANGE_OFFSET: MilliCelsius = MilliCelsius(49_000);

    /// The lowest limit the kernel writes.
    pub const LIMIT_MIN: MilliCelsius = MilliCelsius(0);
    /// The highest value the format holds, 255.875 °C.
    pub const LIMIT_MAX: MilliCelsius = MilliCelsius(255_875);

    /// Temperature of an integer byte and a decimal byte: (integer × 8 + decimal >> 5)
    /// × 125 m°C; decimal bits 4:0 are ignored. Never negative.
    pub const fn temperature_from_registers(integer: u8, decimal: u8) -> MilliCelsius {
        let eighths = (integer as i32) * 8 + (decimal >> 5) as i32;
        MilliCelsius(eighths * 125)
    }

    /// (integer, decimal) bytes for a limit, as the kernel computes them: clamp to
    /// 0 … 255 875 m°C, divide by 125 (truncating), integer = eighths / 8, decimal =
    /// (eighths mod 8) << 5. For comparing only: the driver never writes a limit.
    pub const fn limit_to_registers(limit: MilliCelsius) -> (u8, u8) {
        let mut t = limit.0;
        if t < LIMIT_MIN.0 {
            t = LIMIT_MIN.0;
        }
        if t > LIMIT_MAX.0 {
            t = LIMIT_MAX.0;
        }
        let eighths = t / 125;
        ((eighths >> 3) as u8, ((eighths & 0x7) << 5) as u8)
    }

    /// Temperature of an integer and a decimal byte in `range`: the encoded value
    /// ([`temperature_from_registers`]), minus 49 000 m°C in the extended range.
    pub const fn temperature_in_range(integer: u8, decimal: u8, range: Range) -> MilliCelsius {
        let t = temperature_from_registers(integer, decimal);
        match range {
            Range::Default => t,
            // ≤ 255 875 − 49 000: no overflow.
            Range::Extended => MilliCelsius(t.0 - EXTENDED_RANGE_OFFSET.0),
        }
    }

    /// (integer, decimal) bytes for a limit in `range`, as the kernel computes them: in the
    /// extended range add 49 000 m°C first (saturating), then [`limit_to_registers`].
    pub const fn limit_to_registers_in_range(limit: MilliCelsius, range: Range) -> (u8, u8) {
        match range {
            Range::Default => limit_to_registers(limit),
            Range::Extended => limit_to_registers(MilliCelsius(
                limit.0.saturating_add(EXTENDED_RANGE_OFFSET.0),
            )),
        }
    }

    /// The range selected by configuration bit 2.
    pub const fn range_from_config(config: u8) -> Range {
        if config & (1 << 2) != 0 {
            Range::Extended
        } else {
            Range::Default
        }
    }

    /// The read order selected by configuration bit 5.
    pub const fn read_order_from_config(config: u8) -> ReadOrder {
        if config & (1 << 5) != 0 {
            ReadOrder::DecimalFirst
        } else {
            ReadOrder::IntegerFirst
        }
    }
}

/// The high and low limits, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// High limit (0x07 integer, 0x13 decimal).
    pub high: MilliCelsius,
    /// Low limit (0x08 integer, 0x14 decimal).
    pub low: MilliCelsius,
}

/// An SB-TSI temperature sensor, read-only.
#[derive(Debug)]
pub struct SbTsi<B> {
    bus: B,
    address: u8,
}

impl<B: Smbus> SbTsi<B> {
    /// The SB-TSI at 7-bit `address` (usually [`ADDRESS_SOCKET_0`] or
    /// [`ADDRESS_SOCKET_1`]); above 0x7F is [`Error::InvalidArgument`]. No bus traffic.
    pub fn new(bus: B, address: u8) -> Result<Self, Error<B::Error>> {
        if address > 0x7F {
            return Err(Error::InvalidArgument);
        }
        Ok(Self { bus, address })
    }

    /// Gives the bus back.
    pub fn release(self) -> B {
        self.bus
    }

    /// The SB-TSI's 7-bit address.
    pub const fn address(&self) -> u8 {
        self.address
    }

    fn read(&mut self, register: u8) -> Result<u8, Error<B::Error>> {
        self.bus
            .read_byte_data(self.address, register)
            .map_err(Error::Bus)
    }

    /// Which half of the temperature latches the other (configuration 0x03, bit 5).
    pub fn read_read_order(&mut self) -> Result<ReadOrder, Error<B::Error>> {
        self.read(reg::CONFIG)
            .map(conversion::read_order_from_config)
    }

    /// The temperature range the encoding covers (configuration 0x03, bit 2).
    pub fn read_range(&mut self) -> Result<Range, Error<B::Error>> {
        self.read(reg::CONFIG).map(conversion::range_from_config)
    }

    /// The CPU temperature: reads the configuration, then both halves in the order it
    /// asks for, so that they come from the same conversion, in the range it selects.
    pub fn read_temperature(&mut self) -> Result<MilliCelsius, Error<B::Error>> {
        let config = self.read(reg::CONFIG)?;
        let (integer, decimal) = match conversion::read_order_from_config(config) {
            ReadOrder::IntegerFirst => {
                let i = self.read(reg::TEMP_INT)?;
                (i, self.read(reg::TEMP_DEC)?)
            }
            ReadOrder::DecimalFirst => {
                let d = self.read(reg::TEMP_DEC)?;
                (self.read(reg::TEMP_INT)?, d)
            }
        };
        Ok(conversion::temperature_in_range(
            integer,
            decimal,
            conversion::range_from_config(config),
        ))
    }

    /// The high and low limits (integer byte, then decimal byte, as the kernel reads them),
    /// in the range the configuration selects.
    pub fn read_limits(&mut self) -> Result<Limits, Error<B::Error>> {
        let range = self.read_range()?;
        let hi = self.read(reg::HIGH_INT)?;
        let hd = self.read(reg::HIGH_DEC)?;
        let li = self.read(reg::LOW_INT)?;
        let ld = self.read(reg::LOW_DEC)?;
        Ok(Limits {
            high: conversion::temperature_in_range(hi, hd, range),
            low: conversion::temperature_in_range(li, ld, range),
        })
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::conversion::*;
    use super::*;
    use crate::chips::ErrorKind as ChipErrorKind;
    use crate::smbus::{ErrorKind as BusErrorKind, I2cSmbus, ReadOnly};
    use embedded_hal::i2c::{ErrorKind as I2cErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use proptest::prelude::*;
    use std::vec;

    fn rd(a: u8, r: u8, v: u8) -> Transaction {
        Transaction::write_read(a, vec![r], vec![v])
    }

    #[test]
    fn integer_and_eighths() {
        // The driver's own example: INT 0x19, DEC 0x20 = 25.125 °C.
        assert_eq!(temperature_from_registers(0x19, 0x20), MilliCelsius(25_125));
        assert_eq!(temperature_from_registers(0x00, 0x00), MilliCelsius(0));
        assert_eq!(
            temperature_from_registers(0xFF, 0xE0),
            MilliCelsius(255_875)
        );
        assert_eq!(temperature_from_registers(0x48, 0xA0), MilliCelsius(72_625));
    }

    #[test]
    fn decimal_bits_4_to_0_are_ignored() {
        assert_eq!(temperature_from_registers(0x19, 0x3F), MilliCelsius(25_125));
        assert_eq!(temperature_from_registers(0x19, 0x1F), MilliCelsius(25_000));
    }

    #[test]
    fn limits_clamp_and_truncate() {
        assert_eq!(limit_to_registers(MilliCelsius(25_125)), (0x19, 0x20));
        assert_eq!(limit_to_registers(MilliCelsius(25_249)), (0x19, 0x20));
        assert_eq!(limit_to_registers(MilliCelsius(-1)), (0x00, 0x00));
        assert_eq!(limit_to_registers(MilliCelsius(i32::MIN)), (0x00, 0x00));
        assert_eq!(limit_to_registers(MilliCelsius(300_000)), (0xFF, 0xE0));
        for i in 0..=255u8 {
            for d in 0..8u8 {
                let t = temperature_from_registers(i, d << 5);
                assert_eq!(limit_to_registers(t), (i, d << 5));
            }
        }
    }

    #[test]
    fn extended_range_conversions() {
        assert_eq!(range_from_config(0x04), Range::Extended);
        assert_eq!(range_from_config(0xFB), Range::Default);
        assert_eq!(
            temperature_in_range(0x00, 0x00, Range::Extended),
            MilliCelsius(-49_000)
        );
        assert_eq!(
            temperature_in_range(0xFF, 0xE0, Range::Extended),
            MilliCelsius(206_875)
        );
        assert_eq!(
            temperature_in_range(0x19, 0x20, Range::Default),
            MilliCelsius(25_125)
        );
        // Limits: 70 °C in the extended range is encoded as 119 °C.
        assert_eq!(
            limit_to_registers_in_range(MilliCelsius(70_000), Range::Extended),
            (0x77, 0x00)
        );
        assert_eq!(
            limit_to_registers_in_range(MilliCelsius(-60_000), Range::Extended),
            (0x00, 0x00)
        );
        assert_eq!(
            limit_to_registers_in_range(MilliCelsius(i32::MAX), Range::Extended),
            (0xFF, 0xE0)
        );
    }

    #[test]
    fn read_order_bit() {
        assert_eq!(read_order_from_config(0x00), ReadOrder::IntegerFirst);
        assert_eq!(read_order_from_config(0xDF), ReadOrder::IntegerFirst);
        assert_eq!(read_order_from_config(0x20), ReadOrder::DecimalFirst);
    }

    proptest! {
        #[test]
        fn no_register_value_panics(i: u8, d: u8, limit: i32) {
            let t = temperature_from_registers(i, d);
            prop_assert!((0..=255_875).contains(&t.0));
            let e = temperature_in_range(i, d, Range::Extended);
            prop_assert_eq!(e.0, t.0 - 49_000);
            let _ = limit_to_registers(MilliCelsius(limit));
            let _ = limit_to_registers_in_range(MilliCelsius(limit), Range::Extended);
            let _ = read_order_from_config(d);
        }
    }

    #[test]
    fn integer_first_when_the_read_order_bit_is_clear() {
        let a = ADDRESS_SOCKET_0;
        let mut i2c = Mock::new(&[rd(a, 0x03, 0x00), rd(a, 0x01, 0x2D), rd(a, 0x10, 0x60)]);
        let mut s = SbTsi::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), a).unwrap();
        assert_eq!(s.address(), ADDRESS_SOCKET_0);
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(45_375));
        i2c.done();
    }

    #[test]
    fn decimal_first_when_the_read_order_bit_is_set() {
        let a = ADDRESS_SOCKET_1;
        let mut i2c = Mock::new(&[rd(a, 0x03, 0x20), rd(a, 0x10, 0xE0), rd(a, 0x01, 0x50)]);
        let mut s = SbTsi::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), a).unwrap();
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(80_875));
        i2c.done();
    }

    #[test]
    fn extended_range_subtracts_49_degrees_from_the_reading() {
        // Configuration bit 2 set (extended range, −49 … 206.875 °C): INT 0x5A, DEC 0x20
        // is 90.125 °C on the wire, 41.125 °C in fact.
        let a = ADDRESS_SOCKET_0;
        let mut i2c = Mock::new(&[rd(a, 0x03, 0x04), rd(a, 0x01, 0x5A), rd(a, 0x10, 0x20)]);
        let mut s = SbTsi::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), a).unwrap();
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(41_125));
        i2c.done();
    }

    #[test]
    fn extended_range_with_decimal_first_read_order() {
        // Both bits: ReadOrder (5) and range (2). A cold CPU reads below zero.
        let a = ADDRESS_SOCKET_1;
        let mut i2c = Mock::new(&[rd(a, 0x03, 0x24), rd(a, 0x10, 0x00), rd(a, 0x01, 0x00)]);
        let mut s = SbTsi::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), a).unwrap();
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(-49_000));
        i2c.done();
    }

    #[test]
    fn extended_range_applies_to_the_limits_too() {
        let a = ADDRESS_SOCKET_0;
        let mut i2c = Mock::new(&[
            rd(a, 0x03, 0x04),
            rd(a, 0x07, 0x77),
            rd(a, 0x13, 0x00),
            rd(a, 0x08, 0x00),
            rd(a, 0x14, 0x00),
        ]);
        let mut s = SbTsi::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), a).unwrap();
        assert_eq!(
            s.read_limits().unwrap(),
            Limits {
                high: MilliCelsius(70_000),
                low: MilliCelsius(-49_000)
            }
        );
        i2c.done();
    }

    #[test]
    fn limits_read_integer_then_decimal() {
        let a = ADDRESS_SOCKET_0;
        let mut i2c = Mock::new(&[
            rd(a, 0x03, 0x00),
            rd(a, 0x07, 0x46),
            rd(a, 0x13, 0x80),
            rd(a, 0x08, 0x00),
            rd(a, 0x14, 0x00),
        ]);
        let mut s = SbTsi::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), a).unwrap();
        let l = s.read_limits().unwrap();
        assert_eq!(
            l,
            Limits {
                high: MilliCelsius(70_500),
                low: MilliCelsius(0)
            }
        );
        i2c.done();
    }

    #[test]
    fn a_nak_is_reported_as_no_acknowledge() {
        let nak = I2cErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut i2c = Mock::new(&[rd(0x4C, 0x03, 0).with_error(nak)]);
        let mut s = SbTsi::new(I2cSmbus::new(&mut i2c), 0x4C).unwrap();
        let e = s.read_temperature().unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Bus(BusErrorKind::NoAcknowledge));
        i2c.done();
    }

    #[test]
    fn an_eight_bit_address_is_refused() {
        let mut i2c = Mock::new(&[]);
        let e = SbTsi::new(I2cSmbus::new(&mut i2c), 0x98).unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::InvalidArgument);
        i2c.done();
    }
}
