//! JEDEC JC-42.4 DIMM temperature sensors (DDR4 TSE2004av and older SO-DIMM/RDIMM
//! sensors: MCP9808/98242/98243, SE97/SE98, STTS424/2002/3000, TS3000, AT30TS00,
//! CAT6095, MAX6604, ADT7408 …), at SMBus addresses 0x18–0x1F.
//!
//! Facts restated from HARDWARE.md §1 (Linux `drivers/hwmon/jc42.c`):
//!
//! - every register is 16 bits wide and sent **most significant byte first**, so an SMBus
//!   read-word result is byte-swapped, as the kernel's `i2c_smbus_read_word_swapped` does;
//! - the temperature register holds three alarm flags (bits 15/14/13) and a 13-bit two's
//!   complement temperature in 1/16 °C;
//! - the kernel converts with C integer division, which truncates toward zero.
//!
//! The driver only reads. DIMM sensors sit on the same bus as SPD EEPROMs, and a reading
//! daemon has no reason to change their configuration; [`conversion::limit_to_register`]
//! exists so that a caller can compute (and compare) limit values without writing them.
//!
//! ```
//! # use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
//! use sovereign_hal::chips::jc42::Jc42;
//! use sovereign_hal::smbus::I2cSmbus;
//! use sovereign_hal::units::MilliCelsius;
//! # let mut i2c = Mock::new(&[Transaction::write_read(0x18, vec![0x05], vec![0x01, 0x94])]);
//! let mut sensor = Jc42::new(I2cSmbus::new(&mut i2c), 0x18)?;
//! // 0x0194 = 404/16 °C
//! assert_eq!(sensor.read_temperature()?, MilliCelsius(25_250));
//! # i2c.done();
//! # Ok::<(), sovereign_hal::chips::Error<sovereign_hal::smbus::I2cSmbusError<embedded_hal::i2c::ErrorKind>>>(())
//! ```

use crate::chips::Error;
use crate::smbus::{Capabilities, Smbus};
use crate::units::MilliCelsius;

/// The SMBus addresses a JC-42.4 sensor can answer at (HARDWARE.md §1, `normal_i2c`).
pub const ADDRESSES: core::ops::RangeInclusive<u8> = 0x18..=0x1F;

/// Register addresses (HARDWARE.md §1, register table).
mod reg {
    pub const CAPABILITY: u8 = 0x00;
    pub const CONFIG: u8 = 0x01;
    pub const TEMP_UPPER: u8 = 0x02;
    pub const TEMP_LOWER: u8 = 0x03;
    pub const TEMP_CRITICAL: u8 = 0x04;
    pub const TEMP: u8 = 0x05;
    pub const MANUFACTURER_ID: u8 = 0x06;
    pub const DEVICE_ID: u8 = 0x07;
}

bitflags::bitflags! {
    /// Alarm flags carried in bits 15:13 of the temperature register (HARDWARE.md §1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Alarms: u16 {
        /// Temperature at or above the critical limit (bit 15).
        const CRITICAL = 1 << 15;
        /// Temperature above the upper limit (bit 14).
        const HIGH = 1 << 14;
        /// Temperature below the lower limit (bit 13).
        const LOW = 1 << 13;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Alarms {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Alarms({=u16:#x})", self.bits());
    }
}

/// Pure register ↔ value maths, pinned against the kernel's arithmetic.
pub mod conversion {
    use super::Alarms;
    use crate::units::MilliCelsius;

    /// The lowest limit a sensor with the extended-range capability accepts, m°C.
    pub const LIMIT_MIN_EXTENDED: MilliCelsius = MilliCelsius(-40_000);
    /// The lowest limit a sensor without the extended-range capability accepts, m°C.
    pub const LIMIT_MIN: MilliCelsius = MilliCelsius(0);
    /// The highest limit the kernel writes, m°C.
    pub const LIMIT_MAX: MilliCelsius = MilliCelsius(125_000);

    /// Temperature of a (byte-swapped) temperature or limit register value.
    ///
    /// HARDWARE.md §1: bits 12:0 are two's complement with the sign in bit 12, 1/16 °C per
    /// step; alarm bits are discarded; m°C = value × 125 / 2 with division truncating
    /// toward zero (so −1 step is −62, not −63).
    pub const fn temperature_from_register(raw: u16) -> MilliCelsius {
        // Move bit 12 into the i16 sign bit, then shift back arithmetically.
        let steps = ((raw << 3) as i16 >> 3) as i32;
        // |steps| ≤ 4096, so ×125 cannot overflow; `/` truncates toward zero like C.
        MilliCelsius(steps * 125 / 2)
    }

    /// Alarm flags of a (byte-swapped) temperature register value (bits 15/14/13).
    pub const fn alarms_from_register(raw: u16) -> Alarms {
        Alarms::from_bits_truncate(raw)
    }

    /// Register value for a limit, as the kernel computes it (HARDWARE.md §1, write
    /// direction): clamp to [0 m°C or −40 000 m°C with the extended range, 125 000 m°C],
    /// then × 2 / 125 truncating toward zero, masked to 13 bits.
    pub const fn limit_to_register(limit: MilliCelsius, extended_range: bool) -> u16 {
        let min = if extended_range {
            LIMIT_MIN_EXTENDED.0
        } else {
            LIMIT_MIN.0
        };
        let mut t = limit.0;
        if t < min {
            t = min;
        }
        if t > LIMIT_MAX.0 {
            t = LIMIT_MAX.0;
        }
        ((t * 2 / 125) as u16) & 0x1FFF
    }

    /// Whether the capability register announces the extended range (bit 2,
    /// `JC42_CAP_RANGE`): limits may then go down to −40 °C.
    pub const fn has_extended_range(capability: u16) -> bool {
        capability & (1 << 2) != 0
    }

    /// Whether configuration bit 8 (shutdown) is set: the sensor has stopped converting
    /// and its temperature register holds a stale value. (HARDWARE.md §1: CONFIG bit 8 is
    /// shutdown; the kernel's jc42 probe clears it, and its suspend path sets it.)
    pub const fn is_shutdown(config: u16) -> bool {
        config & (1 << 8) != 0
    }

    /// Hysteresis selected by configuration bits 10:9: 0, 1.5, 3 or 6 °C (HARDWARE.md §1).
    pub const fn hysteresis_from_config(config: u16) -> MilliCelsius {
        match (config >> 9) & 0b11 {
            0 => MilliCelsius(0),
            1 => MilliCelsius(1_500),
            2 => MilliCelsius(3_000),
            _ => MilliCelsius(6_000),
        }
    }
}

/// Manufacturer and device IDs (registers 0x06 and 0x07, byte-swapped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Ids {
    /// Manufacturer ID (PCI-SIG style, e.g. 0x0054 Microchip).
    pub manufacturer: u16,
    /// Device ID and revision (e.g. 0x22xx for TSE2004-class parts).
    pub device: u16,
}

/// The three limit registers, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Lower limit (register 0x03); below it [`Alarms::LOW`] is set.
    pub lower: MilliCelsius,
    /// Upper limit (register 0x02); above it [`Alarms::HIGH`] is set.
    pub upper: MilliCelsius,
    /// Critical limit (register 0x04); at or above it [`Alarms::CRITICAL`] is set.
    pub critical: MilliCelsius,
}

/// A temperature and the alarm flags that came with it, from one register read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reading {
    /// The temperature.
    pub temperature: MilliCelsius,
    /// The alarm flags latched in the same register.
    pub alarms: Alarms,
}

/// One row of the kernel's table of known parts: a manufacturer ID and a device ID
/// under a mask.
struct KnownPart {
    manufacturer: u16,
    device: u16,
    mask: u16,
}

const fn part(manufacturer: u16, device: u16, mask: u16) -> KnownPart {
    KnownPart {
        manufacturer,
        device,
        mask,
    }
}

// Manufacturer IDs (HARDWARE.md §1 and jc42.c's table).
const ADT: u16 = 0x11D4;
const ATMEL: u16 = 0x001F;
const ATMEL_2: u16 = 0x1114;
const MAXIM: u16 = 0x004D;
const IDT: u16 = 0x00B3;
const MICROCHIP: u16 = 0x0054;
const NXP: u16 = 0x1131;
const ONSEMI: u16 = 0x1B09;
const ST: u16 = 0x104A;
const GIANTEC: u16 = 0x1C68;
const GIANTEC_2: u16 = 0x132D;
const SEIKO: u16 = 0x1C85;

/// Device ID of TSE2004-class (DDR4) sensors, under mask 0xFF00.
const TSE2004: u16 = 0x2200;
const TSE2004_MASK: u16 = 0xFF00;

/// The parts `jc42_detect` accepts, as (manufacturer, device ID, mask) — restated from
/// the kernel's table (linux `drivers/hwmon/jc42.c`, [KX] @9b44fff6).
const KNOWN_PARTS: &[KnownPart] = &[
    part(ADT, 0x0801, 0xFFFF),            // ADT7408
    part(ATMEL, 0x8201, 0xFFFF),          // AT30TS00
    part(ATMEL_2, TSE2004, TSE2004_MASK), // Atmel TSE2004
    part(GIANTEC, TSE2004, TSE2004_MASK), // Giantec TSE2004
    part(GIANTEC_2, 0x3300, 0xFF00),      // GT34TS02
    part(IDT, TSE2004, TSE2004_MASK),     // IDT TSE2004
    part(IDT, 0x2900, 0xFF00),            // TS3000 (also TSE2002)
    part(IDT, 0x3000, 0xFF00),            // TS3001
    part(MAXIM, 0x3E00, 0xFFFF),          // MAX6604
    part(MICROCHIP, 0x0200, 0xFFFC),      // MCP9804
    part(MICROCHIP, 0x0400, 0xFFFC),      // MCP9808
    part(MICROCHIP, 0x2000, 0xFFFC),      // MCP98242
    part(MICROCHIP, 0x2100, 0xFFFC),      // MCP98243
    part(MICROCHIP, TSE2004, TSE2004_MASK),
    part(MICROCHIP, 0x0000, 0xFFFE), // MCP9843 (also MCP9805)
    part(NXP, 0xA200, 0xFFFC),       // SE97
    part(NXP, 0xA100, 0xFFFC),       // SE98
    part(ONSEMI, 0x0800, 0xFFE0),    // CAT6095 (also CAT34TS02)
    part(ONSEMI, 0x0A00, 0xFFF0),    // CAT34TS02C
    part(ONSEMI, TSE2004, TSE2004_MASK),
    part(SEIKO, TSE2004, TSE2004_MASK),
    part(ST, 0x0101, 0xFFFF), // STTS424
    part(ST, 0x0000, 0xFFFE), // STTS424E
    part(ST, 0x0300, 0xFFFF), // STTS2002
    part(ST, TSE2004, TSE2004_MASK),
    part(ST, 0x0200, 0xFFFF), // STTS3000
];

/// What [`Error::Unsupported`] says for a sensor in shutdown.
const SHUTDOWN: &str = "JC-42.4 sensor is in shutdown (CONFIG bit 8): its temperature \
register holds a stale value; this read-only driver does not clear it — enable the sensor in \
firmware, or let the kernel's jc42 driver bind (its probe clears shutdown) and read hwmon";

/// Whether four identification registers (all byte-swapped) look like a JC-42.4 sensor,
/// by the rules of the kernel's `jc42_detect` (HARDWARE.md §1, Detection):
///
/// 1. no capability bit in 0xFF00 and no configuration bit in 0xF820 may be set;
/// 2. a TSE2004-class device (ID 0x22xx) must have capability bits 0x0062 all set;
/// 3. (manufacturer, device ID under its mask) must be one of the known parts.
///
/// The meaning of capability bits 1, 5 and 6 is not described in the kernel
/// (UNCONFIRMED beyond "TSE2004 parts have them set").
pub fn is_jc42(capability: u16, config: u16, manufacturer: u16, device: u16) -> bool {
    if capability & 0xFF00 != 0 || config & 0xF820 != 0 {
        return false;
    }
    if device & TSE2004_MASK == TSE2004 && capability & 0x0062 != 0x0062 {
        return false;
    }
    KNOWN_PARTS
        .iter()
        .any(|p| p.manufacturer == manufacturer && device & p.mask == p.device)
}

/// A JC-42.4 temperature sensor on an SMBus, read-only.
#[derive(Debug)]
pub struct Jc42<B> {
    bus: B,
    address: u8,
}

impl<B: Smbus> Jc42<B> {
    /// A sensor at `address`, which must be in 0x18..=0x1F ([`ADDRESSES`]); anything
    /// else is [`Error::InvalidArgument`]. No bus traffic. To keep the bus on failure,
    /// pass `&mut bus`.
    pub fn new(bus: B, address: u8) -> Result<Self, Error<B::Error>> {
        if !ADDRESSES.contains(&address) {
            return Err(Error::InvalidArgument);
        }
        Ok(Self { bus, address })
    }

    /// Gives the bus back.
    pub fn release(self) -> B {
        self.bus
    }

    /// The sensor's address.
    pub const fn address(&self) -> u8 {
        self.address
    }

    /// Reads a register, undoing the MSB-first byte order (HARDWARE.md §1, Byte order).
    fn read_register(&mut self, register: u8) -> Result<u16, Error<B::Error>> {
        self.bus
            .read_word_data(self.address, register)
            .map(u16::swap_bytes)
            .map_err(Error::Bus)
    }

    /// The temperature and the alarm flags, from one read of register 0x05.
    pub fn read(&mut self) -> Result<Reading, Error<B::Error>> {
        let raw = self.read_register(reg::TEMP)?;
        Ok(Reading {
            temperature: conversion::temperature_from_register(raw),
            alarms: conversion::alarms_from_register(raw),
        })
    }

    /// The temperature (register 0x05).
    pub fn read_temperature(&mut self) -> Result<MilliCelsius, Error<B::Error>> {
        self.read().map(|r| r.temperature)
    }

    /// The alarm flags (register 0x05, bits 15:13). Reading them clears nothing.
    pub fn read_alarms(&mut self) -> Result<Alarms, Error<B::Error>> {
        self.read().map(|r| r.alarms)
    }

    /// The lower, upper and critical limits (registers 0x03, 0x02, 0x04).
    pub fn read_limits(&mut self) -> Result<Limits, Error<B::Error>> {
        let lower = self.read_register(reg::TEMP_LOWER)?;
        let upper = self.read_register(reg::TEMP_UPPER)?;
        let critical = self.read_register(reg::TEMP_CRITICAL)?;
        Ok(Limits {
            lower: conversion::temperature_from_register(lower),
            upper: conversion::temperature_from_register(upper),
            critical: conversion::temperature_from_register(critical),
        })
    }

    /// The capability register (0x00), raw; see [`conversion::has_extended_range`].
    pub fn read_capability(&mut self) -> Result<u16, Error<B::Error>> {
        self.read_register(reg::CAPABILITY)
    }

    /// The configuration register (0x01), raw; see [`conversion::hysteresis_from_config`].
    pub fn read_config(&mut self) -> Result<u16, Error<B::Error>> {
        self.read_register(reg::CONFIG)
    }

    /// Checks that the sensor is converting: a sensor in shutdown (CONFIG bit 8) keeps
    /// returning its last conversion, which must not be mistaken for a live reading.
    /// Call it when a reader starts (and after a resume); this read-only driver never
    /// clears the bit itself, so a shutdown sensor is [`Error::Unsupported`] with what to do.
    pub fn check_converting(&mut self) -> Result<(), Error<B::Error>> {
        if conversion::is_shutdown(self.read_config()?) {
            return Err(Error::Unsupported(SHUTDOWN));
        }
        Ok(())
    }

    /// Manufacturer and device IDs (registers 0x06 and 0x07).
    pub fn read_ids(&mut self) -> Result<Ids, Error<B::Error>> {
        let manufacturer = self.read_register(reg::MANUFACTURER_ID)?;
        let device = self.read_register(reg::DEVICE_ID)?;
        Ok(Ids {
            manufacturer,
            device,
        })
    }

    /// Read-only probe: whether the device at this address is a JC-42.4 sensor, by
    /// [`is_jc42`] over registers 0x00, 0x01, 0x06, 0x07.
    ///
    /// Like the kernel, it needs byte-data and word-data reads: on a bus without them it
    /// answers `false` without touching the bus. A bus error (e.g. no acknowledge, i.e.
    /// nothing at the address) is returned as an error, so that a caller can tell "absent"
    /// from "something else".
    pub fn detect(&mut self) -> Result<bool, Error<B::Error>> {
        let needed = Capabilities::READ_BYTE_DATA | Capabilities::READ_WORD_DATA;
        if !self.bus.capabilities().contains(needed) {
            return Ok(false);
        }
        let capability = self.read_register(reg::CAPABILITY)?;
        let config = self.read_register(reg::CONFIG)?;
        let ids = self.read_ids()?;
        Ok(is_jc42(capability, config, ids.manufacturer, ids.device))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::conversion::*;
    use super::*;
    use crate::chips::ErrorKind as ChipErrorKind;
    use crate::smbus::{ErrorKind as BusErrorKind, I2cSmbus};
    use embedded_hal::i2c::{ErrorKind as I2cErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use proptest::prelude::*;
    use std::vec;

    #[test]
    fn a_sensor_in_shutdown_is_reported_not_read_stale() {
        // CONFIG 0x0100 (bit 8) arrives MSB first: 0x01, 0x00.
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x18, vec![0x01], vec![0x01, 0x00]),
            Transaction::write_read(0x18, vec![0x01], vec![0x00, 0x00]),
        ]);
        let mut s = Jc42::new(crate::smbus::ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x18).unwrap();
        let e = s.check_converting().unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Unsupported);
        assert!(matches!(e, Error::Unsupported(why) if why.contains("shutdown")));
        assert!(s.check_converting().is_ok());
        i2c.done();
    }

    #[test]
    fn one_step_either_side_of_zero_truncates_toward_zero() {
        assert_eq!(temperature_from_register(0x0001), MilliCelsius(62));
        assert_eq!(temperature_from_register(0x1FFF), MilliCelsius(-62));
        assert_eq!(temperature_from_register(0x0000), MilliCelsius(0));
    }

    #[test]
    fn extremes_of_the_13_bit_range() {
        assert_eq!(temperature_from_register(0x0FFF), MilliCelsius(255_937));
        // Sign bit alone: −4096 steps = −256 °C.
        assert_eq!(temperature_from_register(0x1000), MilliCelsius(-256_000));
        // −2 steps: −250/2 = −125 exactly.
        assert_eq!(temperature_from_register(0x1FFE), MilliCelsius(-125));
    }

    #[test]
    fn typical_readings() {
        // 25.25 °C = 404 steps = 0x194; −40 °C = −640 steps = 0x1D80.
        assert_eq!(temperature_from_register(0x0194), MilliCelsius(25_250));
        assert_eq!(temperature_from_register(0x1D80), MilliCelsius(-40_000));
        // 85.0625 °C = 1361 steps: 1361 × 125 / 2 = 85062 (truncated from 85062.5).
        assert_eq!(temperature_from_register(0x0551), MilliCelsius(85_062));
    }

    #[test]
    fn alarm_bits_do_not_change_the_temperature() {
        for alarms in [0x8000u16, 0x4000, 0x2000, 0xE000] {
            assert_eq!(
                temperature_from_register(alarms | 0x0194),
                MilliCelsius(25_250)
            );
            assert_eq!(
                temperature_from_register(alarms | 0x1FFF),
                MilliCelsius(-62)
            );
        }
    }

    #[test]
    fn each_alarm_bit_is_its_own_flag() {
        assert_eq!(alarms_from_register(0x8194), Alarms::CRITICAL);
        assert_eq!(alarms_from_register(0x4194), Alarms::HIGH);
        assert_eq!(alarms_from_register(0x2194), Alarms::LOW);
        assert_eq!(alarms_from_register(0xE000), Alarms::all());
        // The temperature's sign bit (12) is not an alarm.
        assert_eq!(alarms_from_register(0x1FFF), Alarms::empty());
    }

    #[test]
    fn limits_clamp_to_the_range_the_sensor_supports() {
        assert_eq!(limit_to_register(MilliCelsius(-50_000), false), 0x0000);
        assert_eq!(limit_to_register(MilliCelsius(-50_000), true), 0x1D80);
        assert_eq!(limit_to_register(MilliCelsius(200_000), true), 0x07D0);
        assert_eq!(limit_to_register(MilliCelsius(i32::MIN), true), 0x1D80);
        assert_eq!(limit_to_register(MilliCelsius(i32::MAX), false), 0x07D0);
    }

    #[test]
    fn limits_truncate_toward_zero() {
        // 85 °C = 1360 steps.
        assert_eq!(limit_to_register(MilliCelsius(85_000), false), 0x0550);
        // 62 m°C × 2 / 125 = 0.99 → 0; −62 → 0 as well (truncation, not floor).
        assert_eq!(limit_to_register(MilliCelsius(62), true), 0x0000);
        assert_eq!(limit_to_register(MilliCelsius(-62), true), 0x0000);
        assert_eq!(limit_to_register(MilliCelsius(-63), true), 0x1FFF);
    }

    #[test]
    fn reading_then_writing_a_limit_keeps_even_steps_and_loses_half_a_step_on_odd_ones() {
        // Both directions truncate toward zero, so an odd number of 1/16 °C steps comes
        // back one step closer to zero — what writing a read value through the kernel does.
        for steps in -640i32..=2000 {
            let raw = (steps as u16) & 0x1FFF;
            let t = temperature_from_register(raw);
            let expected = if steps % 2 == 0 {
                steps
            } else {
                steps - steps.signum()
            };
            let back = limit_to_register(t, true);
            assert_eq!(back, (expected as u16) & 0x1FFF, "steps {steps}");
        }
    }

    #[test]
    fn hysteresis_table() {
        assert_eq!(hysteresis_from_config(0x0000), MilliCelsius(0));
        assert_eq!(hysteresis_from_config(0x0200), MilliCelsius(1_500));
        assert_eq!(hysteresis_from_config(0x0400), MilliCelsius(3_000));
        assert_eq!(hysteresis_from_config(0x0600), MilliCelsius(6_000));
        assert_eq!(hysteresis_from_config(0xF9FF), MilliCelsius(0));
        assert!(has_extended_range(0x0004));
        assert!(!has_extended_range(0x00FB));
    }

    #[test]
    fn detection_accepts_known_parts() {
        // MCP9808 revision 3 (ID 0x0400 under mask 0xFFFC: bits 1:0 are the revision).
        assert!(is_jc42(0x001F, 0x0000, 0x0054, 0x0403));
        // A DDR4 TSE2004 part from ST with the 0x0062 capability bits.
        assert!(is_jc42(0x006F, 0x0000, 0x104A, 0x2201));
        // SE97 (NXP).
        assert!(is_jc42(0x0000, 0x0000, 0x1131, 0xA203));
        // CAT6095 matches under 0xFFE0.
        assert!(is_jc42(0x0000, 0x0000, 0x1B09, 0x081F));
    }

    #[test]
    fn detection_rejects_reserved_bits() {
        assert!(!is_jc42(0x011F, 0x0000, 0x0054, 0x0400), "capability bit 8");
        assert!(!is_jc42(0x001F, 0x0020, 0x0054, 0x0400), "config bit 5");
        assert!(!is_jc42(0x001F, 0x0800, 0x0054, 0x0400), "config bit 11");
        assert!(!is_jc42(0x001F, 0x8000, 0x0054, 0x0400), "config bit 15");
        // Config bits the kernel allows (shutdown, hysteresis, locks) do not reject.
        assert!(is_jc42(0x001F, 0x07DF, 0x0054, 0x0400));
    }

    #[test]
    fn detection_requires_tse2004_capabilities() {
        assert!(!is_jc42(0x0060, 0x0000, 0x00B3, 0x2200), "bit 1 missing");
        assert!(!is_jc42(0x0042, 0x0000, 0x00B3, 0x2200), "bit 5 missing");
        assert!(!is_jc42(0x0022, 0x0000, 0x00B3, 0x2200), "bit 6 missing");
        assert!(is_jc42(0x0062, 0x0000, 0x00B3, 0x2200));
    }

    #[test]
    fn detection_rejects_unknown_ids() {
        // Right device ID, unknown manufacturer.
        assert!(!is_jc42(0x0000, 0x0000, 0x1234, 0x0400));
        // Known manufacturer, device ID outside its mask (MCP9808 mask 0xFFFC).
        assert!(!is_jc42(0x0000, 0x0000, 0x0054, 0x0408));
        // An SPD EEPROM's all-ones answer.
        assert!(!is_jc42(0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF));
    }

    proptest! {
        #[test]
        fn no_register_value_panics(raw: u16, limit: i32, ext: bool, a: u16, b: u16, c: u16) {
            let t = temperature_from_register(raw);
            prop_assert!((-256_000..=255_937).contains(&t.0));
            let _ = alarms_from_register(raw);
            let _ = hysteresis_from_config(raw);
            prop_assert!(limit_to_register(MilliCelsius(limit), ext) <= 0x1FFF);
            let _ = is_jc42(raw, a, b, c);
        }
    }

    #[test]
    fn driver_reads_and_swaps_the_temperature_word() {
        // On the wire the MSB comes first: 0xC1 0x94 = crit+high alarms, 25.25 °C.
        let mut i2c = Mock::new(&[Transaction::write_read(0x1A, vec![0x05], vec![0xC1, 0x94])]);
        let mut s = Jc42::new(I2cSmbus::new(&mut i2c), 0x1A).unwrap();
        let r = s.read().unwrap();
        assert_eq!(r.temperature, MilliCelsius(25_250));
        assert_eq!(r.alarms, Alarms::CRITICAL | Alarms::HIGH);
        i2c.done();
    }

    #[test]
    fn driver_reads_a_negative_temperature() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x18, vec![0x05], vec![0x1F, 0xFF]),
            Transaction::write_read(0x18, vec![0x05], vec![0x3D, 0x80]),
        ]);
        let mut s = Jc42::new(I2cSmbus::new(&mut i2c), 0x18).unwrap();
        assert_eq!(s.read_temperature().unwrap(), MilliCelsius(-62));
        assert_eq!(s.read_alarms().unwrap(), Alarms::LOW);
        i2c.done();
    }

    #[test]
    fn driver_reads_limits_and_ids() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x1F, vec![0x03], vec![0x00, 0x00]),
            Transaction::write_read(0x1F, vec![0x02], vec![0x05, 0x50]),
            Transaction::write_read(0x1F, vec![0x04], vec![0x05, 0xF0]),
            Transaction::write_read(0x1F, vec![0x06], vec![0x00, 0x54]),
            Transaction::write_read(0x1F, vec![0x07], vec![0x04, 0x01]),
        ]);
        let mut s = Jc42::new(I2cSmbus::new(&mut i2c), 0x1F).unwrap();
        let limits = s.read_limits().unwrap();
        assert_eq!(
            limits,
            Limits {
                lower: MilliCelsius(0),
                upper: MilliCelsius(85_000),
                critical: MilliCelsius(95_000)
            }
        );
        let ids = s.read_ids().unwrap();
        assert_eq!(
            ids,
            Ids {
                manufacturer: 0x0054,
                device: 0x0401
            }
        );
        i2c.done();
    }

    #[test]
    fn driver_detects_a_tse2004_part() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x18, vec![0x00], vec![0x00, 0x6F]),
            Transaction::write_read(0x18, vec![0x01], vec![0x00, 0x00]),
            Transaction::write_read(0x18, vec![0x06], vec![0x00, 0xB3]),
            Transaction::write_read(0x18, vec![0x07], vec![0x22, 0x01]),
        ]);
        let mut s = Jc42::new(I2cSmbus::new(&mut i2c), 0x18).unwrap();
        assert!(s.detect().unwrap());
        i2c.done();
    }

    #[test]
    fn an_absent_sensor_is_a_no_acknowledge_error() {
        let nak = I2cErrorKind::NoAcknowledge(NoAcknowledgeSource::Address);
        let mut i2c =
            Mock::new(&[Transaction::write_read(0x19, vec![0x05], vec![0, 0]).with_error(nak)]);
        let mut s = Jc42::new(I2cSmbus::new(&mut i2c), 0x19).unwrap();
        let e = s.read_temperature().unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Bus(BusErrorKind::NoAcknowledge));
        i2c.done();
    }

    #[test]
    fn addresses_outside_0x18_to_0x1f_are_refused() {
        let mut i2c = Mock::new(&[]);
        for a in [0x00, 0x17, 0x20, 0x50, 0x80, 0xFF] {
            let e = Jc42::new(I2cSmbus::new(&mut i2c), a).unwrap_err();
            assert_eq!(e.kind(), ChipErrorKind::InvalidArgument, "address {a:#x}");
        }
        i2c.done();
    }
}
