//! JEDEC SPD5118 DDR5 SPD hub: its thermal sensor, read through the hub's page-0
//! volatile registers at SMBus addresses 0x50–0x57. Strictly read-only.
//!
//! Facts restated from HARDWARE.md §2 (Linux `drivers/hwmon/spd5118.c`):
//!
//! - the temperature is MR50:MR49, a **little-endian** pair (an SMBus read-word of
//!   register 0x31 gives it as is, no swap); bits 12:2 are an 11-bit two's complement
//!   number of 0.25 °C steps; the limits MR28…MR35 use the same format;
//! - MR51 holds the alarm status (bit 0 high, 1 low, 2 critical, 3 critical low);
//! - MR11 bit 3 selects 16-bit register addressing, bits 2:0 the NVM page.
//!
//! ## Never a write
//!
//! The hub is also the DIMM's SPD EEPROM, and an AMD FCH SMBus signals no SPD write
//! protection (HARDWARE.md §2, Write-protection concerns): a stray write reaches the hub.
//! This driver has **no public method that writes a byte** — no limit writes, no page
//! change in MR11, no alarm clearing — so it works unchanged on a
//! [`crate::smbus::ReadOnly`] bus, which is the handle it should be given.
//!
//! Two consequences, where the kernel driver differs:
//!
//! - the kernel's alarm read is destructive (a set alarm bit is cleared by writing it to
//!   MR19); [`Spd5118::read_status`] only reads MR51, so an alarm stays latched for
//!   whoever else looks at it;
//! - the kernel switches a hub that hides its volatile registers behind a non-zero page
//!   back to page 0 (a write to MR11); this driver refuses such a hub instead
//!   (`Error::Unsupported`, saying so).
//!
//! ## 16-bit addressing
//!
//! A BIOS may leave the hub in 16-bit register-addressing mode (MR11 bit 3). SMBus cannot
//! address it then: an SMBus-emulated 16-bit read starts with START instead of repeated
//! START and the hub resets its address pointer (HARDWARE.md §2), and the [`Smbus`]
//! trait has no two-byte register address. The first access of a session reads MR11 and
//! refuses such a hub with `Error::Unsupported`; the mode is
//! never changed (some BIOSes enter setup on the next reboot if it is). What to do: on an
//! adapter with raw I2C, read the temperature through the kernel's `spd5118` hwmon
//! device, which handles 16-bit mode there; on an SMBus-only adapter such as AMD's
//! `i2c-piix4` the kernel refuses the hub as well (HARDWARE.md §2), so the only way is to
//! have the BIOS leave the hub in 8-bit mode.

use crate::chips::Error;
use crate::smbus::{Capabilities, Smbus};
use crate::units::MilliCelsius;

/// What [`Error::Unsupported`] says for a hub whose temperature sensor is switched off.
const SENSOR_DISABLED: &str = "SPD5118 temperature sensor is disabled (MR26 bit 0, set by firmware \
or a suspend): its register holds a stale value; this read-only driver does not write MR26 — \
enable the sensor in firmware, or read the DIMM through the kernel's spd5118 hwmon device, \
which enables it at probe";

/// What [`Error::Unsupported`] says for a hub in 16-bit addressing mode.
const SIXTEEN_BIT_MODE: &str = "SPD5118 hub is in 16-bit register addressing mode (MR11 bit 3), \
which SMBus transfers cannot address: on a controller with raw I2C read it through the kernel's \
spd5118 hwmon device; on an SMBus-only controller (AMD i2c-piix4) the kernel refuses it too, so \
set the BIOS to leave the SPD hubs in 8-bit (legacy) addressing mode";

/// What [`Error::Unsupported`] says for a hub that hides its volatile registers while a
/// non-zero NVM page is selected.
const PAGE_HIDES_REGISTERS: &str = "SPD5118 hub hides its thermal registers while a non-zero \
NVM page is selected in MR11, and this driver never writes the hub: let the kernel's spd5118 \
driver or the BIOS select page 0, then retry";

/// The SMBus addresses of SPD5118 hubs, one per DIMM slot (HARDWARE.md §2).
pub const ADDRESSES: core::ops::RangeInclusive<u8> = 0x50..=0x57;

/// Register addresses; equal to the MR number in 8-bit mode (HARDWARE.md §2).
mod reg {
    pub const TYPE: u8 = 0x00; // MR0:MR1
    pub const REVISION: u8 = 0x02; // MR2
    pub const VENDOR: u8 = 0x03; // MR3:MR4
    pub const CAPABILITY: u8 = 0x05; // MR5
    pub const LEGACY_MODE: u8 = 0x0B; // MR11
    pub const TEMP_CLEAR: u8 = 0x13; // MR19
    pub const ERROR_CLEAR: u8 = 0x14; // MR20
    pub const TEMP_CONFIG: u8 = 0x1A; // MR26
    pub const TEMP_HIGH: u8 = 0x1C; // MR28:MR29
    pub const TEMP_LOW: u8 = 0x1E; // MR30:MR31
    pub const TEMP_CRITICAL: u8 = 0x20; // MR32:MR33
    pub const TEMP_LOW_CRITICAL: u8 = 0x22; // MR34:MR35
    pub const TEMP: u8 = 0x31; // MR49:MR50
    pub const TEMP_STATUS: u8 = 0x33; // MR51
}

/// The device type MR0:MR1 of every SPD5118 hub, MR0 as the high byte.
pub const DEVICE_TYPE: u16 = 0x5118;

bitflags::bitflags! {
    /// Thermal alarm status, MR51 (HARDWARE.md §2). Latched by the hub until cleared
    /// through MR19, which this driver never writes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct TemperatureStatus: u8 {
        /// Above the high limit (bit 0).
        const HIGH = 1 << 0;
        /// Below the low limit (bit 1).
        const LOW = 1 << 1;
        /// Above the critical high limit (bit 2).
        const CRITICAL = 1 << 2;
        /// Below the critical low limit (bit 3).
        const LOW_CRITICAL = 1 << 3;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for TemperatureStatus {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "TemperatureStatus({=u8:#x})", self.bits());
    }
}

/// How the hub expects register addresses (MR11 bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddressingMode {
    /// One-byte register addresses (legacy mode): SMBus works.
    EightBit,
    /// Two-byte register addresses: needs raw I2C with repeated START.
    SixteenBit,
}

/// MR11, the legacy-mode / page register, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LegacyMode {
    /// Register addressing mode (bit 3).
    pub addressing: AddressingMode,
    /// The NVM page (0..=7) visible at 0x80–0xFF (bits 2:0).
    pub page: u8,
}

/// Pure register ↔ value maths, pinned against the kernel's arithmetic.
pub mod conversion {
    use super::{AddressingMode, LegacyMode, TemperatureStatus};
    use crate::units::MilliCelsius;

    /// The lowest temperature the format represents, −256 °C.
    pub const TEMPERATURE_MIN: MilliCelsius = MilliCelsius(-256_000);
    /// The highest temperature the format represents, 255.75 °C.
    pub const TEMPERATURE_MAX: MilliCelsius = MilliCelsius(255_750);

    /// Temperature of a temperature or limit register pair, `raw` = MR(n+1)·256 + MR(n)
    /// (exactly what an SMBus read-word returns, no swap).
    ///
    /// HARDWARE.md §2: bits 12:2 are an 11-bit two's complement number of 0.25 °C steps
    /// (sign in bit 12); bits 15:13 and 1:0 are ignored; m°C = steps × 250.
    pub const fn temperature_from_register(raw: u16) -> MilliCelsius {
        let field = (raw >> 2) & 0x07FF;
        // Bit 10 of the field into the i16 sign bit, then back arithmetically.
        let steps = ((field << 5) as i16 >> 5) as i32;
        MilliCelsius(steps * 250)
    }

    /// Register pair for a limit, as the kernel computes it: clamp to
    /// [−256 000, 255 750] m°C, round to the nearest 0.25 °C step (halves away from
    /// zero, like C's `DIV_ROUND_CLOSEST`), keep 11 bits, shift left by 2.
    ///
    /// For comparing and simulating only: the driver never writes a limit.
    pub const fn limit_to_register(limit: MilliCelsius) -> u16 {
        let mut t = limit.0;
        if t < TEMPERATURE_MIN.0 {
            t = TEMPERATURE_MIN.0;
        }
        if t > TEMPERATURE_MAX.0 {
            t = TEMPERATURE_MAX.0;
        }
        let steps = if t < 0 {
            (t - 125) / 250
        } else {
            (t + 125) / 250
        };
        ((steps as u16) & 0x07FF) << 2
    }

    /// Alarm status from MR51 (bits 3:0; the others are ignored).
    pub const fn status_from_register(mr51: u8) -> TemperatureStatus {
        TemperatureStatus::from_bits_truncate(mr51)
    }

    /// MR11 decoded: bit 3 = 16-bit addressing, bits 2:0 = page.
    pub const fn legacy_mode_from_register(mr11: u8) -> LegacyMode {
        LegacyMode {
            addressing: if mr11 & (1 << 3) != 0 {
                AddressingMode::SixteenBit
            } else {
                AddressingMode::EightBit
            },
            page: mr11 & 0b111,
        }
    }

    /// Whether the temperature sensor is enabled: MR26 bit 0 is a *disable* bit.
    pub const fn sensor_enabled_from_register(mr26: u8) -> bool {
        mr26 & 1 == 0
    }

    /// Whether a byte has an odd number of one bits, the JEP106 parity rule.
    pub const fn has_odd_parity(byte: u8) -> bool {
        byte.count_ones() % 2 == 1
    }

    /// Whether a JEP106 (bank, ID) pair is valid (HARDWARE.md §2, MR3:MR4): both bytes
    /// have odd parity, and the ID's 7 data bits are neither 0 nor 0x7F.
    pub const fn is_vendor_valid(bank: u8, id: u8) -> bool {
        let data = id & 0x7F;
        has_odd_parity(bank) && has_odd_parity(id) && data != 0 && data != 0x7F
    }
}

/// The registers the kernel's `spd5118_detect` looks at, as read from the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identification {
    /// MR0:MR1 with MR0 as the high byte; [`DEVICE_TYPE`] on a real hub.
    pub device_type: u16,
    /// MR2, the revision (bits 5:4 major − 1, bits 3:1 minor − 1).
    pub revision: u8,
    /// MR3, JEP106 bank (continuation count) with odd parity.
    pub vendor_bank: u8,
    /// MR4, JEP106 manufacturer ID with odd parity.
    pub vendor_id: u8,
    /// MR5, capabilities; bit 1 = temperature sensor present.
    pub capability: u8,
    /// MR19, the thermal-status clear register; reads 0.
    pub temperature_clear: u8,
    /// MR20, the error-status clear register; reads 0.
    pub error_clear: u8,
    /// MR26, the thermal-sensor configuration; bit 0 = sensor disabled.
    pub temperature_config: u8,
}

/// Whether identification registers look like an SPD5118 hub with a temperature
/// sensor, by the rules of the kernel's `spd5118_detect` (HARDWARE.md §2):
///
/// - MR0:MR1 = 0x5118;
/// - MR3 and MR4 are a valid JEP106 pair ([`conversion::is_vendor_valid`]);
/// - MR5 bit 1 (temperature sensor) is set and bits 7:2 are clear;
/// - MR19 and MR20 read 0;
/// - MR2 & 0xC1 = 0;
/// - MR26 has no bit but bit 0 set.
pub const fn is_spd5118(id: &Identification) -> bool {
    id.device_type == DEVICE_TYPE
        && conversion::is_vendor_valid(id.vendor_bank, id.vendor_id)
        && id.capability & 0b10 != 0
        && id.capability & 0xFC == 0
        && id.temperature_clear == 0
        && id.error_clear == 0
        && id.revision & 0xC1 == 0
        && id.temperature_config & !1 == 0
}

/// The four limit registers, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// High limit, MR28:MR29.
    pub high: MilliCelsius,
    /// Low limit, MR30:MR31.
    pub low: MilliCelsius,
    /// Critical high limit, MR32:MR33.
    pub critical: MilliCelsius,
    /// Critical low limit, MR34:MR35.
    pub low_critical: MilliCelsius,
}

/// The thermal sensor of an SPD5118 hub, read-only. Give it a
/// [`crate::smbus::ReadOnly`] bus.
#[derive(Debug)]
pub struct Spd5118<B> {
    bus: B,
    address: u8,
    /// Set once MR11 has shown 8-bit addressing and visible volatile registers.
    usable: bool,
}

impl<B: Smbus> Spd5118<B> {
    /// A hub at `address`, which must be in 0x50..=0x57 ([`ADDRESSES`]); anything else is
    /// [`Error::InvalidArgument`]. No bus traffic: the addressing mode is checked on the
    /// first read. To keep the bus on failure, pass `&mut bus`.
    pub fn new(bus: B, address: u8) -> Result<Self, Error<B::Error>> {
        if !ADDRESSES.contains(&address) {
            return Err(Error::InvalidArgument);
        }
        Ok(Self {
            bus,
            address,
            usable: false,
        })
    }

    /// Gives the bus back.
    pub fn release(self) -> B {
        self.bus
    }

    /// The hub's address.
    pub const fn address(&self) -> u8 {
        self.address
    }

    fn read_byte(&mut self, register: u8) -> Result<u8, Error<B::Error>> {
        self.bus
            .read_byte_data(self.address, register)
            .map_err(Error::Bus)
    }

    /// A little-endian register pair: the first byte on the wire (register `n`) is the
    /// low byte, as SMBus read-word returns it — no swap (HARDWARE.md §2, §10).
    fn read_pair(&mut self, register: u8) -> Result<u16, Error<B::Error>> {
        self.bus
            .read_word_data(self.address, register)
            .map_err(Error::Bus)
    }

    /// MR11: addressing mode and NVM page. Readable in either mode (the kernel reads it
    /// with an ordinary byte read to find out).
    pub fn read_legacy_mode(&mut self) -> Result<LegacyMode, Error<B::Error>> {
        self.read_byte(reg::LEGACY_MODE)
            .map(conversion::legacy_mode_from_register)
    }

    /// Checks once per session that the volatile registers can be read over SMBus and
    /// that the temperature sensor is switched on.
    ///
    /// - 16-bit addressing ⇒ `Error::Unsupported`: on a bus
    ///   without [`Capabilities::I2C`] SMBus cannot address the hub at all, and on one
    ///   with it the [`Smbus`] trait still has no two-byte register address; read it
    ///   through the kernel's `spd5118` hwmon device instead (module docs).
    /// - a non-zero page with MR0:MR1 not reading 0x5118 ⇒ `Error::Unsupported`: the hub
    ///   hides its volatile registers behind the page (HARDWARE.md §2, Renesas/IDT) and
    ///   fixing that would take a write to MR11, which this driver never does.
    /// - MR26 bit 0 set (sensor disabled) ⇒ `Error::Unsupported`: the temperature
    ///   register would hold a stale value. (Checked once; a sensor disabled later in the
    ///   session, e.g. by a suspend, is not noticed until the driver is recreated.)
    fn ensure_usable(&mut self) -> Result<(), Error<B::Error>> {
        if self.usable {
            return Ok(());
        }
        let mode = self.read_legacy_mode()?;
        if mode.addressing == AddressingMode::SixteenBit {
            return Err(Error::Unsupported(SIXTEEN_BIT_MODE));
        }
        if mode.page != 0 && self.read_pair(reg::TYPE)?.swap_bytes() != DEVICE_TYPE {
            return Err(Error::Unsupported(PAGE_HIDES_REGISTERS));
        }
        // HARDWARE.md §2: MR26 bit 0 set = sensor disabled (firmware, or the kernel's
        // suspend path). A disabled hub keeps returning its last conversion, so reading
        // on would report a stale temperature as if it were live.
        let mr26 = self.read_byte(reg::TEMP_CONFIG)?;
        if !conversion::sensor_enabled_from_register(mr26) {
            return Err(Error::Unsupported(SENSOR_DISABLED));
        }
        self.usable = true;
        Ok(())
    }

    /// The temperature, MR49:MR50.
    pub fn read_temperature(&mut self) -> Result<MilliCelsius, Error<B::Error>> {
        self.ensure_usable()?;
        let raw = self.read_pair(reg::TEMP)?;
        Ok(conversion::temperature_from_register(raw))
    }

    /// The alarm status, MR51, **without clearing it** (the kernel's alarm read clears a
    /// set bit by writing MR19; this one writes nothing, so alarms stay latched).
    pub fn read_status(&mut self) -> Result<TemperatureStatus, Error<B::Error>> {
        self.ensure_usable()?;
        let mr51 = self.read_byte(reg::TEMP_STATUS)?;
        Ok(conversion::status_from_register(mr51))
    }

    /// The four limits, MR28…MR35.
    pub fn read_limits(&mut self) -> Result<Limits, Error<B::Error>> {
        self.ensure_usable()?;
        Ok(Limits {
            high: conversion::temperature_from_register(self.read_pair(reg::TEMP_HIGH)?),
            low: conversion::temperature_from_register(self.read_pair(reg::TEMP_LOW)?),
            critical: conversion::temperature_from_register(self.read_pair(reg::TEMP_CRITICAL)?),
            low_critical: conversion::temperature_from_register(
                self.read_pair(reg::TEMP_LOW_CRITICAL)?,
            ),
        })
    }

    /// Whether the thermal sensor is enabled (MR26 bit 0 clear). A disabled sensor's
    /// temperature register is not updated; enabling it would be a write, so it is left
    /// to the BIOS or the kernel.
    pub fn read_sensor_enabled(&mut self) -> Result<bool, Error<B::Error>> {
        self.ensure_usable()?;
        let mr26 = self.read_byte(reg::TEMP_CONFIG)?;
        Ok(conversion::sensor_enabled_from_register(mr26))
    }

    /// The identification registers, read with the same transfers as the kernel's
    /// `spd5118_detect`: word MR0:MR1 (MSB first, swapped), word MR3:MR4 (not swapped),
    /// then bytes MR5, MR19, MR20, MR2, MR26.
    pub fn read_identification(&mut self) -> Result<Identification, Error<B::Error>> {
        let device_type = self.read_pair(reg::TYPE)?.swap_bytes();
        let [vendor_bank, vendor_id] = self.read_pair(reg::VENDOR)?.to_le_bytes();
        let capability = self.read_byte(reg::CAPABILITY)?;
        let temperature_clear = self.read_byte(reg::TEMP_CLEAR)?;
        let error_clear = self.read_byte(reg::ERROR_CLEAR)?;
        let revision = self.read_byte(reg::REVISION)?;
        let temperature_config = self.read_byte(reg::TEMP_CONFIG)?;
        Ok(Identification {
            device_type,
            revision,
            vendor_bank,
            vendor_id,
            capability,
            temperature_clear,
            error_clear,
            temperature_config,
        })
    }

    /// Read-only probe: whether the device at this address is an SPD5118 hub with a
    /// temperature sensor ([`is_spd5118`]). Like the kernel, it needs byte-data and
    /// word-data reads and answers `false` without bus traffic on a bus that lacks them.
    pub fn detect(&mut self) -> Result<bool, Error<B::Error>> {
        let needed = Capabilities::READ_BYTE_DATA | Capabilities::READ_WORD_DATA;
        if !self.bus.capabilities().contains(needed) {
            return Ok(false);
        }
        let id = self.read_identification()?;
        Ok(is_spd5118(&id))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::conversion::*;
    use super::*;
    use crate::chips::ErrorKind as ChipErrorKind;
    use crate::smbus::{ErrorType, I2cSmbus, ReadOnly};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    #[test]
    fn temperature_uses_bits_12_to_2_in_quarter_degrees() {
        // 25.5 °C = 102 steps = field 0x066 → raw 0x0198 (MR49 = 0x98, MR50 = 0x01).
        assert_eq!(temperature_from_register(0x0198), MilliCelsius(25_500));
        assert_eq!(temperature_from_register(0x0004), MilliCelsius(250));
        assert_eq!(temperature_from_register(0x0000), MilliCelsius(0));
    }

    #[test]
    fn negative_temperatures_sign_extend_from_bit_12() {
        assert_eq!(temperature_from_register(0x1FFC), MilliCelsius(-250));
        // −40 °C = −160 steps: field 0x760 → raw 0x1D80.
        assert_eq!(temperature_from_register(0x1D80), MilliCelsius(-40_000));
        assert_eq!(temperature_from_register(0x1000), MilliCelsius(-256_000));
        assert_eq!(temperature_from_register(0x0FFC), MilliCelsius(255_750));
    }

    #[test]
    fn ignored_bits_do_not_change_the_temperature() {
        for junk in [0x0001u16, 0x0002, 0x0003, 0x2000, 0x4000, 0x8000, 0xE003] {
            assert_eq!(
                temperature_from_register(0x0198 | junk),
                MilliCelsius(25_500)
            );
            assert_eq!(temperature_from_register(0x1FFC | junk), MilliCelsius(-250));
        }
    }

    #[test]
    fn limits_round_to_the_nearest_quarter_degree_halves_away_from_zero() {
        assert_eq!(limit_to_register(MilliCelsius(85_000)), 0x0550);
        assert_eq!(limit_to_register(MilliCelsius(124)), 0x0000);
        assert_eq!(limit_to_register(MilliCelsius(125)), 0x0004);
        assert_eq!(limit_to_register(MilliCelsius(-124)), 0x0000);
        assert_eq!(limit_to_register(MilliCelsius(-125)), 0x1FFC);
    }

    #[test]
    fn limits_clamp_to_the_representable_range() {
        assert_eq!(limit_to_register(MilliCelsius(i32::MAX)), 0x0FFC);
        assert_eq!(limit_to_register(MilliCelsius(i32::MIN)), 0x1000);
        for steps in -1024i32..=1023 {
            let raw = ((steps as u16) & 0x07FF) << 2;
            assert_eq!(limit_to_register(temperature_from_register(raw)), raw);
        }
    }

    #[test]
    fn status_bits() {
        assert_eq!(status_from_register(0x01), TemperatureStatus::HIGH);
        assert_eq!(status_from_register(0x02), TemperatureStatus::LOW);
        assert_eq!(status_from_register(0x04), TemperatureStatus::CRITICAL);
        assert_eq!(status_from_register(0x08), TemperatureStatus::LOW_CRITICAL);
        assert_eq!(status_from_register(0xF0), TemperatureStatus::empty());
    }

    #[test]
    fn legacy_mode_register() {
        let m = legacy_mode_from_register(0x08);
        assert_eq!(m.addressing, AddressingMode::SixteenBit);
        assert_eq!(m.page, 0);
        let m = legacy_mode_from_register(0x05);
        assert_eq!(m.addressing, AddressingMode::EightBit);
        assert_eq!(m.page, 5);
        assert!(sensor_enabled_from_register(0x00));
        assert!(!sensor_enabled_from_register(0x01));
    }

    #[test]
    fn jep106_parity_and_reserved_ids() {
        assert!(has_odd_parity(0x80));
        assert!(!has_odd_parity(0x00));
        assert!(!has_odd_parity(0x03));
        // Bank 1 (0x80, odd), ID 0xCE (Samsung, odd parity): valid.
        assert!(is_vendor_valid(0x80, 0xCE));
        // Even-parity bank or ID.
        assert!(!is_vendor_valid(0x00, 0xCE));
        assert!(!is_vendor_valid(0x80, 0xCF));
        // ID data bits 0 (0x80 has odd parity) or 0x7F (odd parity) are reserved.
        assert!(!is_vendor_valid(0x80, 0x80));
        assert!(!is_vendor_valid(0x80, 0x7F));
    }

    fn good_id() -> Identification {
        Identification {
            device_type: 0x5118,
            revision: 0x10,
            vendor_bank: 0x86,
            vendor_id: 0x32,
            capability: 0x02,
            temperature_clear: 0,
            error_clear: 0,
            temperature_config: 0,
        }
    }

    #[test]
    fn detection_accepts_a_plain_hub() {
        assert!(is_spd5118(&good_id()));
        // A disabled sensor is still a hub.
        assert!(is_spd5118(&Identification {
            temperature_config: 1,
            ..good_id()
        }));
    }

    #[test]
    fn detection_rejects_each_rule() {
        let bad = [
            Identification {
                device_type: 0x1851,
                ..good_id()
            },
            Identification {
                vendor_bank: 0x06,
                ..good_id()
            },
            Identification {
                vendor_id: 0x33,
                ..good_id()
            },
            Identification {
                capability: 0x00,
                ..good_id()
            },
            Identification {
                capability: 0x06,
                ..good_id()
            },
            Identification {
                temperature_clear: 0x01,
                ..good_id()
            },
            Identification {
                error_clear: 0x01,
                ..good_id()
            },
            Identification {
                revision: 0x11,
                ..good_id()
            },
            Identification {
                revision: 0x40,
                ..good_id()
            },
            Identification {
                temperature_config: 0x02,
                ..good_id()
            },
        ];
        for id in bad {
            assert!(!is_spd5118(&id), "{id:?}");
        }
    }

    proptest! {
        #[test]
        fn no_register_value_panics(raw: u16, byte: u8, limit: i32) {
            let t = temperature_from_register(raw);
            prop_assert!((TEMPERATURE_MIN.0..=TEMPERATURE_MAX.0).contains(&t.0));
            prop_assert_eq!(limit_to_register(MilliCelsius(limit)) & !0x1FFC, 0);
            let _ = status_from_register(byte);
            let _ = legacy_mode_from_register(byte);
            let _ = is_vendor_valid(byte, raw as u8);
        }
    }

    /// Counts every write the driver attempts, whatever the bus below does with it.
    struct WriteSpy<B> {
        inner: B,
        writes: usize,
    }

    impl<B: Smbus> ErrorType for WriteSpy<B> {
        type Error = B::Error;
    }

    impl<B: Smbus> Smbus for WriteSpy<B> {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        fn read_byte_data(&mut self, a: u8, c: u8) -> Result<u8, Self::Error> {
            self.inner.read_byte_data(a, c)
        }
        fn write_byte_data(&mut self, a: u8, c: u8, v: u8) -> Result<(), Self::Error> {
            self.writes += 1;
            self.inner.write_byte_data(a, c, v)
        }
        fn read_word_data(&mut self, a: u8, c: u8) -> Result<u16, Self::Error> {
            self.inner.read_word_data(a, c)
        }
        fn write_word_data(&mut self, a: u8, c: u8, v: u16) -> Result<(), Self::Error> {
            self.writes += 1;
            self.inner.write_word_data(a, c, v)
        }
        fn read_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<usize, Self::Error> {
            self.inner.read_block_data(a, c, b)
        }
        fn read_i2c_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<(), Self::Error> {
            self.inner.read_i2c_block_data(a, c, b)
        }
        fn send_byte(&mut self, a: u8, v: u8) -> Result<(), Self::Error> {
            self.writes += 1;
            self.inner.send_byte(a, v)
        }
        fn receive_byte(&mut self, a: u8) -> Result<u8, Self::Error> {
            self.inner.receive_byte(a)
        }
        fn set_pec(&mut self, a: u8, e: bool) -> Result<(), Self::Error> {
            self.inner.set_pec(a, e)
        }
    }

    fn rd(address: u8, register: u8, bytes: &[u8]) -> Transaction {
        Transaction::write_read(address, vec![register], bytes.to_vec())
    }

    #[test]
    fn a_full_session_on_a_read_only_bus_writes_nothing() {
        let a = 0x51;
        let expectations: Vec<Transaction> = vec![
            // detect(): the kernel's detect transfers.
            rd(a, 0x00, &[0x51, 0x18]),
            rd(a, 0x03, &[0x86, 0x32]),
            rd(a, 0x05, &[0x02]),
            rd(a, 0x13, &[0x00]),
            rd(a, 0x14, &[0x00]),
            rd(a, 0x02, &[0x10]),
            rd(a, 0x1A, &[0x00]),
            // First volatile read: MR11 check (8-bit mode, page 0), MR26 (sensor enabled),
            // then the temperature.
            rd(a, 0x0B, &[0x00]),
            rd(a, 0x1A, &[0x00]),
            rd(a, 0x31, &[0x98, 0x01]),
            // Status with a latched high alarm; a second read still sees it.
            rd(a, 0x33, &[0x01]),
            rd(a, 0x33, &[0x01]),
            // Limits: 85, 0, 95, −40 °C.
            rd(a, 0x1C, &[0x50, 0x05]),
            rd(a, 0x1E, &[0x00, 0x00]),
            rd(a, 0x20, &[0xF0, 0x05]),
            rd(a, 0x22, &[0x80, 0x1D]),
            rd(a, 0x1A, &[0x00]),
            rd(a, 0x0B, &[0x00]),
        ];
        let mut i2c = Mock::new(&expectations);
        let bus = WriteSpy {
            inner: ReadOnly::new(I2cSmbus::new(&mut i2c)),
            writes: 0,
        };
        let mut hub = Spd5118::new(bus, a).unwrap();
        assert!(hub.detect().unwrap());
        assert_eq!(hub.read_temperature().unwrap(), MilliCelsius(25_500));
        assert_eq!(hub.read_status().unwrap(), TemperatureStatus::HIGH);
        assert_eq!(hub.read_status().unwrap(), TemperatureStatus::HIGH);
        assert_eq!(
            hub.read_limits().unwrap(),
            Limits {
                high: MilliCelsius(85_000),
                low: MilliCelsius(0),
                critical: MilliCelsius(95_000),
                low_critical: MilliCelsius(-40_000),
            }
        );
        assert!(hub.read_sensor_enabled().unwrap());
        assert_eq!(
            hub.read_legacy_mode().unwrap(),
            LegacyMode {
                addressing: AddressingMode::EightBit,
                page: 0
            }
        );
        let bus = hub.release();
        assert_eq!(bus.writes, 0, "the driver attempted a write");
        i2c.done();
    }

    #[test]
    fn sixteen_bit_mode_is_refused_before_any_other_read() {
        let mut i2c = Mock::new(&[rd(0x50, 0x0B, &[0x08])]);
        let mut hub = Spd5118::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x50).unwrap();
        let e = hub.read_temperature().unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Unsupported);
        i2c.done();
    }

    #[test]
    fn a_hub_hiding_its_registers_behind_a_page_is_refused_not_switched() {
        // Page 3 selected and MR0:MR1 read 0 (Renesas/IDT behaviour): refuse, write nothing.
        let mut i2c = Mock::new(&[rd(0x52, 0x0B, &[0x03]), rd(0x52, 0x00, &[0x00, 0x00])]);
        let mut hub = Spd5118::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x52).unwrap();
        // It is the right chip in a mode this driver will not change: Unsupported, with
        // a text that says what to do, not WrongDevice ("check the address").
        let e = hub.read_temperature().unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Unsupported);
        let Error::Unsupported(why) = e else {
            panic!("expected Unsupported, got {e:?}")
        };
        assert!(why.contains("page 0"), "{why}");
        i2c.done();
    }

    #[test]
    fn a_disabled_sensor_is_refused_instead_of_read_stale() {
        let mut i2c = Mock::new(&[rd(0x51, 0x0B, &[0x00]), rd(0x51, 0x1A, &[0x01])]);
        let mut hub = Spd5118::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x51).unwrap();
        let e = hub.read_temperature().unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Unsupported);
        assert!(
            matches!(e, Error::Unsupported(why) if why.contains("disabled")),
            "{e}"
        );
        i2c.done();
    }

    #[test]
    fn a_non_zero_page_is_fine_when_the_volatile_registers_are_visible() {
        let mut i2c = Mock::new(&[
            rd(0x53, 0x0B, &[0x02]),
            rd(0x53, 0x00, &[0x51, 0x18]),
            rd(0x53, 0x1A, &[0x00]),
            rd(0x53, 0x31, &[0xFC, 0x1F]),
            // The check is done once per session.
            rd(0x53, 0x31, &[0x80, 0x1D]),
        ]);
        let mut hub = Spd5118::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x53).unwrap();
        assert_eq!(hub.read_temperature().unwrap(), MilliCelsius(-250));
        assert_eq!(hub.read_temperature().unwrap(), MilliCelsius(-40_000));
        i2c.done();
    }

    #[test]
    fn detect_rejects_a_ddr4_eeprom() {
        // An EE1004 answers with SPD bytes, not 0x5118.
        let mut i2c = Mock::new(&[
            rd(0x50, 0x00, &[0x23, 0x11]),
            rd(0x50, 0x03, &[0x02, 0x81]),
            rd(0x50, 0x05, &[0x85]),
            rd(0x50, 0x13, &[0x00]),
            rd(0x50, 0x14, &[0x00]),
            rd(0x50, 0x02, &[0x0C]),
            rd(0x50, 0x1A, &[0x00]),
        ]);
        let mut hub = Spd5118::new(ReadOnly::new(I2cSmbus::new(&mut i2c)), 0x50).unwrap();
        assert!(!hub.detect().unwrap());
        i2c.done();
    }

    /// A hub as a register map behind an SMBus-only controller (like `i2c-piix4`):
    /// byte reads return one register, word reads two, low byte first.
    struct Piix4Hub {
        regs: [u8; 256],
        caps: Capabilities,
        transfers: usize,
    }

    impl ErrorType for Piix4Hub {
        type Error = crate::smbus::ErrorKind;
    }

    impl Smbus for Piix4Hub {
        fn capabilities(&self) -> Capabilities {
            self.caps
        }
        fn read_byte_data(&mut self, _: u8, c: u8) -> Result<u8, Self::Error> {
            self.transfers += 1;
            Ok(self.regs[usize::from(c)])
        }
        fn write_byte_data(&mut self, _: u8, _: u8, _: u8) -> Result<(), Self::Error> {
            panic!("the SPD5118 driver wrote a byte")
        }
        fn read_word_data(&mut self, _: u8, c: u8) -> Result<u16, Self::Error> {
            self.transfers += 1;
            let lo = self.regs[usize::from(c)];
            let hi = self.regs[usize::from(c.wrapping_add(1))];
            Ok(u16::from_le_bytes([lo, hi]))
        }
        fn write_word_data(&mut self, _: u8, _: u8, _: u16) -> Result<(), Self::Error> {
            panic!("the SPD5118 driver wrote a word")
        }
        fn read_block_data(&mut self, _: u8, _: u8, _: &mut [u8]) -> Result<usize, Self::Error> {
            Err(crate::smbus::ErrorKind::Unsupported)
        }
        fn read_i2c_block_data(&mut self, _: u8, _: u8, _: &mut [u8]) -> Result<(), Self::Error> {
            Err(crate::smbus::ErrorKind::Unsupported)
        }
        fn send_byte(&mut self, _: u8, _: u8) -> Result<(), Self::Error> {
            panic!("the SPD5118 driver sent a byte")
        }
        fn receive_byte(&mut self, _: u8) -> Result<u8, Self::Error> {
            Err(crate::smbus::ErrorKind::Unsupported)
        }
        fn set_pec(&mut self, _: u8, _: bool) -> Result<(), Self::Error> {
            Err(crate::smbus::ErrorKind::Unsupported)
        }
    }

    fn piix4_hub(mr11: u8) -> Piix4Hub {
        let mut regs = [0u8; 256];
        regs[0x00] = 0x51;
        regs[0x01] = 0x18;
        regs[0x0B] = mr11;
        regs[0x31] = 0x98;
        regs[0x32] = 0x01;
        Piix4Hub {
            regs,
            caps: Capabilities::PIIX4,
            transfers: 0,
        }
    }

    #[test]
    fn sixteen_bit_mode_on_an_smbus_only_controller_is_refused() {
        let mut hub = Spd5118::new(ReadOnly::new(piix4_hub(0x08)), 0x50).unwrap();
        for _ in 0..2 {
            let e = hub.read_temperature().unwrap_err();
            assert_eq!(e.kind(), ChipErrorKind::Unsupported);
        }
        let e = hub.read_status().unwrap_err();
        assert_eq!(e.kind(), ChipErrorKind::Unsupported);
    }

    #[test]
    fn the_sixteen_bit_refusal_says_what_works_on_an_amd_smbus() {
        // On i2c-piix4 (no raw I2C) the kernel's spd5118 driver refuses such a hub too
        // (HARDWARE.md §2), so "use the kernel driver" alone leads nowhere on EPYC: the
        // message must name the BIOS setting as the way out there.
        let mut hub = Spd5118::new(ReadOnly::new(piix4_hub(0x08)), 0x50).unwrap();
        let e = hub.read_temperature().unwrap_err();
        let Error::Unsupported(why) = e else {
            panic!("expected Unsupported, got {e:?}")
        };
        assert!(why.contains("8-bit"), "{why}");
        assert!(why.contains("i2c-piix4"), "{why}");
        assert!(why.contains("spd5118"), "{why}");
    }

    #[test]
    fn eight_bit_mode_on_an_smbus_only_controller_reads() {
        let mut hub = Spd5118::new(ReadOnly::new(piix4_hub(0x00)), 0x57).unwrap();
        assert_eq!(hub.read_temperature().unwrap(), MilliCelsius(25_500));
        assert_eq!(hub.read_temperature().unwrap(), MilliCelsius(25_500));
        // MR11 and MR26 once, then one word per reading.
        assert_eq!(hub.release().release().transfers, 4);
    }

    #[test]
    fn detect_needs_byte_and_word_reads_and_asks_nothing_otherwise() {
        let mut bus = piix4_hub(0x00);
        bus.caps = Capabilities::READ_BYTE_DATA;
        let mut hub = Spd5118::new(bus, 0x50).unwrap();
        assert!(!hub.detect().unwrap());
        assert_eq!(hub.release().transfers, 0);
    }

    #[test]
    fn addresses_outside_0x50_to_0x57_are_refused() {
        let mut i2c = Mock::new(&[]);
        for a in [0x18, 0x4F, 0x58, 0x80] {
            let e = Spd5118::new(I2cSmbus::new(&mut i2c), a).unwrap_err();
            assert_eq!(e.kind(), ChipErrorKind::InvalidArgument);
        }
        i2c.done();
    }
}
