//! PMBus telemetry of voltage regulators and power supplies.
//!
//! Pure decoders for the PMBus numeric formats (LINEAR11, LINEAR16 with VOUT_MODE,
//! DIRECT), the STATUS_WORD and CAPABILITY bits, and [`Pmbus`], a read-mostly driver:
//! page selection with read-back, VOUT_MODE cached per page, readings in
//! [`crate::units`], the status word with the kernel's STATUS_BYTE fallback, PEC switched
//! on only where both the device and the bus can do it, and MFR_ID/MFR_MODEL strings read
//! into a caller buffer.
//!
//! Every formula is the one Linux `drivers/hwmon/pmbus/pmbus_core.c` uses (HARDWARE.md §5),
//! so a reading here equals the number in the matching hwmon file: milli-units for
//! voltage, current and temperature, micro-units for power.
//!
//! ## Byte order
//!
//! PMBus words are plain SMBus words, low byte first: no swap (HARDWARE.md §5, §10).
//!
//! ## What this driver writes
//!
//! Only PAGE (to select a rail). It never writes limits, OPERATION or WRITE_PROTECT.
//! Turning PEC on changes how the bus frames transfers, not the device.

use bitflags::bitflags;

use super::Error;
use crate::decode::DecodeError;
use crate::smbus::{Capabilities, Smbus};
use crate::units::{MicroWatts, MilliAmps, MilliCelsius, MilliVolts};

/// PMBus command codes used here (HARDWARE.md §5, from `pmbus.h`).
pub mod command {
    /// PAGE: selects the rail that paged commands address.
    pub const PAGE: u8 = 0x00;
    /// CAPABILITY: bit 7 = the device supports PEC.
    pub const CAPABILITY: u8 = 0x19;
    /// VOUT_MODE: data format and exponent of the VOUT class, per page.
    pub const VOUT_MODE: u8 = 0x20;
    /// STATUS_BYTE: low byte of the status word.
    pub const STATUS_BYTE: u8 = 0x78;
    /// STATUS_WORD.
    pub const STATUS_WORD: u8 = 0x79;
    /// READ_VIN.
    pub const READ_VIN: u8 = 0x88;
    /// READ_IIN.
    pub const READ_IIN: u8 = 0x89;
    /// READ_VOUT.
    pub const READ_VOUT: u8 = 0x8B;
    /// READ_IOUT.
    pub const READ_IOUT: u8 = 0x8C;
    /// READ_TEMPERATURE_1.
    pub const READ_TEMPERATURE_1: u8 = 0x8D;
    /// READ_POUT.
    pub const READ_POUT: u8 = 0x96;
    /// READ_PIN.
    pub const READ_PIN: u8 = 0x97;
    /// MFR_ID: manufacturer name, SMBus block.
    pub const MFR_ID: u8 = 0x99;
    /// MFR_MODEL: model name, SMBus block.
    pub const MFR_MODEL: u8 = 0x9A;
}

/// Highest page number this driver selects (PMBus pages 0x00–0x1F).
pub const MAX_PAGE: u8 = 0x1F;

// --- LINEAR11 ------------------------------------------------------------------------

/// Decodes a LINEAR11 word into units of 1/`scale` (HARDWARE.md §5): exponent = bits 15:11
/// as a signed 5-bit number, mantissa = bits 10:0 as a signed 11-bit number; the value is
/// mantissa × `scale`, shifted left by a positive exponent or arithmetically right by a
/// negative one, in 64-bit arithmetic. A right shift floors, so m = −1, e = −13 with
/// scale 1000 gives −1, not 0, exactly as the kernel reports.
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] when the result does not fit `i64` (only for scales far
/// beyond 10⁶).
pub const fn linear11(raw: u16, scale: i64) -> Result<i64, DecodeError> {
    // Sign-extend the 5-bit exponent and the 11-bit mantissa.
    let exponent = (raw as i16) >> 11;
    let mantissa = ((raw << 5) as i16 >> 5) as i64;
    let Some(value) = mantissa.checked_mul(scale) else {
        return Err(DecodeError::OutOfRange);
    };
    if exponent >= 0 {
        // exponent ≤ 15: the factor fits, the product is checked.
        match value.checked_mul(1 << exponent) {
            Some(v) => Ok(v),
            None => Err(DecodeError::OutOfRange),
        }
    } else {
        // −exponent ≤ 16 < 64.
        Ok(value >> -exponent)
    }
}

/// A LINEAR11 voltage (READ_VIN and other non-VOUT voltages) in millivolts.
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] beyond ±2³¹ mV.
pub fn linear11_millivolts(raw: u16) -> Result<MilliVolts, DecodeError> {
    milli_i32(linear11(raw, 1_000)).map(MilliVolts)
}

/// A LINEAR11 current (READ_IIN, READ_IOUT) in milliamps.
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] beyond ±2³¹ mA.
pub fn linear11_milliamps(raw: u16) -> Result<MilliAmps, DecodeError> {
    milli_i32(linear11(raw, 1_000)).map(MilliAmps)
}

/// A LINEAR11 temperature (READ_TEMPERATURE_n) in millidegrees Celsius.
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] beyond ±2³¹ m°C.
pub fn linear11_millicelsius(raw: u16) -> Result<MilliCelsius, DecodeError> {
    milli_i32(linear11(raw, 1_000)).map(MilliCelsius)
}

/// A LINEAR11 power (READ_PIN, READ_POUT) in microwatts (the kernel's extra ×1000 for
/// power, HARDWARE.md §5).
///
/// # Errors
///
/// None in practice: every LINEAR11 word fits `i64` microwatts. The `Result` keeps the
/// shape of the other decoders.
pub fn linear11_microwatts(raw: u16) -> Result<MicroWatts, DecodeError> {
    linear11(raw, 1_000_000).map(MicroWatts)
}

fn milli_i32(v: Result<i64, DecodeError>) -> Result<i32, DecodeError> {
    v.and_then(|v| i32::try_from(v).map_err(|_| DecodeError::OutOfRange))
}

// --- VOUT_MODE and LINEAR16 ------------------------------------------------------------

/// The data format VOUT_MODE announces for the VOUT class (HARDWARE.md §5: mode = bits
/// 7:5, parameter = bits 4:0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VoutMode {
    /// Mode 0: LINEAR16 with this exponent (bits 4:0, signed).
    Linear {
        /// The exponent, −16..=15.
        exponent: i8,
    },
    /// Mode 1: VID codes; the parameter names the VID table.
    Vid {
        /// Bits 4:0.
        code: u8,
    },
    /// Mode 2: DIRECT, with coefficients from the device's documentation or COEFFICIENTS.
    Direct,
    /// Mode 3: IEEE 754 half precision.
    Ieee754Half,
}

impl VoutMode {
    /// Parses a VOUT_MODE byte.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnsupportedFormat`] for 0xFF (the kernel treats it as "VOUT_MODE not
    /// supported"; the format must then come from the device's documentation) and for
    /// the reserved modes 4–7 (the kernel refuses such a device).
    pub const fn from_raw(raw: u8) -> Result<Self, DecodeError> {
        if raw == 0xFF {
            return Err(DecodeError::UnsupportedFormat);
        }
        let parameter = raw & 0x1F;
        match raw >> 5 {
            // Sign-extend bits 4:0.
            0 => Ok(Self::Linear {
                exponent: ((parameter << 3) as i8) >> 3,
            }),
            1 => Ok(Self::Vid { code: parameter }),
            2 => Ok(Self::Direct),
            3 => Ok(Self::Ieee754Half),
            _ => Err(DecodeError::UnsupportedFormat),
        }
    }
}

/// READ_VOUT in LINEAR16 (HARDWARE.md §5): the raw word is an **unsigned** 16-bit
/// mantissa, × 1000, shifted by the VOUT_MODE exponent (arithmetic, so floor).
///
/// # Errors
///
/// [`DecodeError::UnsupportedFormat`] when `mode` is not [`VoutMode::Linear`] (VID, DIRECT
/// and IEEE half are not LINEAR16); [`DecodeError::OutOfRange`] beyond 2³¹ mV.
pub fn linear16_millivolts(raw: u16, mode: VoutMode) -> Result<MilliVolts, DecodeError> {
    let VoutMode::Linear { exponent } = mode else {
        return Err(DecodeError::UnsupportedFormat);
    };
    let value = i64::from(raw) * 1_000;
    // |exponent| ≤ 16 for any parsed mode; a hand-built one may be wider, so check.
    let shifted = if exponent < 0 {
        // value ≥ 0, so shifting every bit out leaves 0.
        Some(
            value
                .checked_shr(u32::from(exponent.unsigned_abs()))
                .unwrap_or(0),
        )
    } else if exponent < 32 {
        value.checked_mul(1i64 << exponent)
    } else {
        None
    };
    milli_i32(shifted.ok_or(DecodeError::OutOfRange)).map(MilliVolts)
}

// --- VID ---------------------------------------------------------------------------------

/// The VID table a VRM's READ_VOUT uses in VID mode (VOUT_MODE mode 1). The device does
/// not say which: it comes from its datasheet, as the kernel's chip drivers set it (the
/// PMBus core's `vrm_version`: vr11, vr12, vr13, imvp9, amd625mv).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum VidTable {
    /// Intel VR11: codes 0x02..=0xB2, 1.600 V down in 6.25 mV steps.
    Vr11,
    /// Intel VR12: code 1 = 250 mV, 5 mV steps.
    Vr12,
    /// Intel VR13: code 1 = 500 mV, 10 mV steps.
    Vr13,
    /// Intel IMVP9: code 1 = 200 mV, 10 mV steps.
    Imvp9,
    /// AMD SVI (6.25 mV): codes 0x00..=0xD8, 1.550 V down in 6.25 mV steps — the table
    /// of AMD CPU rails such as VDDCR_CPU/VDDCR_SOC.
    Amd625mv,
}

/// READ_VOUT in VID mode → millivolts, as the kernel's PMBus core computes it
/// (`pmbus_reg2data_vid`): VR11 ⌊(160000 − (v − 2)·625)/100⌉, VR12 250 + (v − 1)·5,
/// VR13 500 + (v − 1)·10, IMVP9 200 + (v − 1)·10, AMD 6.25 mV ⌊(155000 − v·625)/100⌉
/// (⌊⌉ = rounded to nearest). Codes outside a table (the VR "off" codes, e.g. 0) read
/// 0 mV, as in the kernel: the rail is off.
pub const fn vid_millivolts(raw: u16, table: VidTable) -> MilliVolts {
    let v = raw as i32;
    let mv = match table {
        VidTable::Vr11 if v >= 0x02 && v <= 0xB2 => (160_000 - (v - 2) * 625 + 50) / 100,
        VidTable::Vr12 if v >= 1 => 250 + (v - 1) * 5,
        VidTable::Vr13 if v >= 1 => 500 + (v - 1) * 10,
        VidTable::Imvp9 if v >= 1 => 200 + (v - 1) * 10,
        VidTable::Amd625mv if v <= 0xD8 => (155_000 - v * 625 + 50) / 100,
        _ => 0,
    };
    MilliVolts(mv)
}

// --- DIRECT ------------------------------------------------------------------------------

/// DIRECT-format coefficients of one sensor class: X = (Y·10^−R − b) / m.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DirectCoefficients {
    m: i32,
    b: i32,
    r: i8,
}

impl DirectCoefficients {
    /// Coefficients from the device's datasheet or its COEFFICIENTS command. `None` when
    /// `m` is 0: that is no valid conversion (the kernel would report 0 for every
    /// reading; refusing it here keeps a wrong table from looking like a dead rail).
    pub const fn new(m: i32, b: i32, r: i8) -> Option<Self> {
        if m == 0 { None } else { Some(Self { m, b, r }) }
    }

    /// The slope m.
    pub const fn m(self) -> i32 {
        self.m
    }
    /// The offset b.
    pub const fn b(self) -> i32 {
        self.b
    }
    /// The exponent R.
    pub const fn r(self) -> i8 {
        self.r
    }
}

/// Decodes a DIRECT word into units of 10^−`decimals` (3 for milli, 6 for micro), the way
/// the kernel does (HARDWARE.md §5): Y = raw as signed 16-bit; R' = −R + `decimals`;
/// b × 10^`decimals`; multiply Y by 10 while R' > 0; while R' < 0 replace Y by (Y + 5) / 10
/// with truncating division (so negative values round asymmetrically: −15 → −1); the
/// result is (Y − b) / m, truncating.
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] when an intermediate value overflows `i64` (absurd R).
pub fn direct(raw: u16, c: DirectCoefficients, decimals: u8) -> Result<i64, DecodeError> {
    const OOR: DecodeError = DecodeError::OutOfRange;
    let mut y = i64::from(raw as i16);
    let mut b = i64::from(c.b);
    let mut r = -i32::from(c.r);
    for _ in 0..decimals {
        r += 1;
        b = b.checked_mul(10).ok_or(OOR)?;
    }
    while r > 0 {
        y = y.checked_mul(10).ok_or(OOR)?;
        r -= 1;
    }
    while r < 0 {
        // Rust's `/` truncates toward zero, like C.
        y = y.checked_add(5).ok_or(OOR)? / 10;
        r += 1;
    }
    y.checked_sub(b)
        .ok_or(OOR)?
        .checked_div(i64::from(c.m))
        .ok_or(OOR)
}

/// A DIRECT voltage in millivolts ([`direct`] with 3 decimals).
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] beyond ±2³¹ mV.
pub fn direct_millivolts(raw: u16, c: DirectCoefficients) -> Result<MilliVolts, DecodeError> {
    milli_i32(direct(raw, c, 3)).map(MilliVolts)
}

/// A DIRECT current in milliamps.
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] beyond ±2³¹ mA.
pub fn direct_milliamps(raw: u16, c: DirectCoefficients) -> Result<MilliAmps, DecodeError> {
    milli_i32(direct(raw, c, 3)).map(MilliAmps)
}

/// A DIRECT temperature in millidegrees Celsius.
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] beyond ±2³¹ m°C.
pub fn direct_millicelsius(raw: u16, c: DirectCoefficients) -> Result<MilliCelsius, DecodeError> {
    milli_i32(direct(raw, c, 3)).map(MilliCelsius)
}

/// A DIRECT power in microwatts ([`direct`] with 6 decimals).
///
/// # Errors
///
/// [`DecodeError::OutOfRange`] when an intermediate value overflows.
pub fn direct_microwatts(raw: u16, c: DirectCoefficients) -> Result<MicroWatts, DecodeError> {
    direct(raw, c, 6).map(MicroWatts)
}

// --- status and capability -------------------------------------------------------------

bitflags! {
    /// STATUS_WORD (STATUS_BYTE is its low byte), bit names from `pmbus.h`
    /// (HARDWARE.md §5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct StatusWord: u16 {
        /// A fault not listed in the other bits.
        const NONE_OF_THE_ABOVE = 1 << 0;
        /// Communication, memory or logic fault (see STATUS_CML).
        const CML = 1 << 1;
        /// Temperature fault or warning.
        const TEMPERATURE = 1 << 2;
        /// Input undervoltage fault.
        const VIN_UV = 1 << 3;
        /// Output overcurrent fault.
        const IOUT_OC = 1 << 4;
        /// Output overvoltage fault.
        const VOUT_OV = 1 << 5;
        /// The output is off.
        const OFF = 1 << 6;
        /// The device was busy and could not answer.
        const BUSY = 1 << 7;
        /// Other fault (upper byte).
        const UNKNOWN = 1 << 8;
        /// A status bit in STATUS_OTHER is set.
        const OTHER = 1 << 9;
        /// Fan fault or warning.
        const FANS = 1 << 10;
        /// POWER_GOOD# is asserted: the power is **not** good.
        const POWER_NOT_GOOD = 1 << 11;
        /// Manufacturer-specific fault.
        const MFR = 1 << 12;
        /// Input voltage, current or power fault or warning.
        const INPUT = 1 << 13;
        /// Output current or power fault or warning.
        const IOUT_POUT = 1 << 14;
        /// Output voltage fault or warning.
        const VOUT = 1 << 15;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for StatusWord {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "StatusWord({=u16:#06x})", self.bits());
    }
}

bitflags! {
    /// CAPABILITY (0x19). Only the PEC bit is used (HARDWARE.md §5); the other bits are
    /// kept as read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Capability: u8 {
        /// The device supports Packet Error Checking.
        const PEC = 1 << 7;
        const _ = !0;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Capability {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Capability({=u8:#04x})", self.bits());
    }
}

// --- driver -----------------------------------------------------------------------------

/// Which reading a DIRECT coefficient set applies to (the kernel's sensor classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SensorClass {
    /// READ_VIN.
    VoltageIn,
    /// READ_VOUT (used when VOUT_MODE announces DIRECT).
    VoltageOut,
    /// READ_IIN.
    CurrentIn,
    /// READ_IOUT.
    CurrentOut,
    /// READ_PIN and READ_POUT.
    Power,
    /// READ_TEMPERATURE_n.
    Temperature,
}

impl SensorClass {
    const COUNT: usize = 6;

    const fn index(self) -> usize {
        match self {
            Self::VoltageIn => 0,
            Self::VoltageOut => 1,
            Self::CurrentIn => 2,
            Self::CurrentOut => 3,
            Self::Power => 4,
            Self::Temperature => 5,
        }
    }
}

/// The numeric format of one sensor class's readings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Format {
    /// LINEAR11 (LINEAR16 with VOUT_MODE for VOUT): the PMBus default and the generic
    /// kernel driver's.
    #[default]
    Linear,
    /// DIRECT with these coefficients.
    Direct(DirectCoefficients),
}

/// What [`Error::Unsupported`] says when READ_VOUT is in VID mode and no table is set.
const VID_TABLE_UNSET: &str = "VOUT_MODE announces VID codes, whose table the device does not \
name: set it from the VRM's datasheet with Pmbus::set_vid_table (AMD CPU rails: Amd625mv)";

/// Cache slot used while no page has been selected through this driver.
const UNSELECTED_SLOT: usize = MAX_PAGE as usize + 1;

/// A PMBus device over SMBus.
///
/// Owns the bus handle; [`Pmbus::release`] gives it back. Readings address the page last
/// chosen with [`Pmbus::select_page`] (or the device's current page if none was chosen).
/// All classes are decoded as LINEAR unless [`Pmbus::set_format`] says otherwise.
#[derive(Debug)]
pub struct Pmbus<B> {
    bus: B,
    address: u8,
    page: Option<u8>,
    /// Raw VOUT_MODE per page, read once; the last slot is for "no page selected".
    vout_mode: [Option<u8>; UNSELECTED_SLOT + 1],
    formats: [Format; SensorClass::COUNT],
    vid_table: Option<VidTable>,
    pec: bool,
}

impl<B: Smbus> Pmbus<B> {
    /// Wraps the bus for the device at 7-bit `address`. Nothing is sent yet.
    pub fn new(bus: B, address: u8) -> Self {
        Self {
            bus,
            address,
            page: None,
            vout_mode: [None; UNSELECTED_SLOT + 1],
            formats: [Format::Linear; SensorClass::COUNT],
            vid_table: None,
            pec: false,
        }
    }

    /// The 7-bit bus address.
    pub const fn address(&self) -> u8 {
        self.address
    }

    /// Gives the bus back.
    pub fn release(self) -> B {
        self.bus
    }

    /// Sets the numeric format of one sensor class (from the device's datasheet).
    pub fn set_format(&mut self, class: SensorClass, format: Format) {
        if let Some(slot) = self.formats.get_mut(class.index()) {
            *slot = format;
        }
    }

    /// Sets the VID table READ_VOUT uses when VOUT_MODE announces VID (from the VRM's
    /// datasheet; AMD CPU rails typically use [`VidTable::Amd625mv`]).
    pub fn set_vid_table(&mut self, table: VidTable) {
        self.vid_table = Some(table);
    }

    /// The page selected through this driver, if any.
    pub const fn page(&self) -> Option<u8> {
        self.page
    }

    /// Whether PEC is on for this device (see [`Pmbus::enable_pec_if_supported`]).
    pub const fn pec_enabled(&self) -> bool {
        self.pec
    }

    /// Selects `page` (0..=31): writes PAGE, then reads it back (HARDWARE.md §5,
    /// `pmbus_set_page`). Nothing is sent when `page` is already selected.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a page above 31, or when the device reads back a
    /// different page (it does not have that page); the bus error otherwise.
    pub fn select_page(&mut self, page: u8) -> Result<(), Error<B::Error>> {
        if page > MAX_PAGE {
            return Err(Error::InvalidArgument);
        }
        if self.page == Some(page) {
            return Ok(());
        }
        // Unknown until the read-back confirms it; forget what was cached for "no page
        // selected", since the device may now sit on any page.
        self.page = None;
        if let Some(slot) = self.vout_mode.get_mut(UNSELECTED_SLOT) {
            *slot = None;
        }
        self.bus
            .write_byte_data(self.address, command::PAGE, page)
            .map_err(Error::Bus)?;
        let echoed = self.read_byte(command::PAGE)?;
        if echoed != page {
            return Err(Error::InvalidArgument);
        }
        self.page = Some(page);
        Ok(())
    }

    /// VOUT_MODE of the current page, read from the device the first time and cached.
    ///
    /// # Errors
    ///
    /// The bus error, or [`Error::Decode`] with [`DecodeError::UnsupportedFormat`] for 0xFF
    /// or a reserved mode.
    pub fn read_vout_mode(&mut self) -> Result<VoutMode, Error<B::Error>> {
        let slot = self.page.map_or(UNSELECTED_SLOT, usize::from);
        let cached = self.vout_mode.get(slot).copied().flatten();
        let raw = match cached {
            Some(raw) => raw,
            None => {
                let raw = self.read_byte(command::VOUT_MODE)?;
                if let Some(s) = self.vout_mode.get_mut(slot) {
                    *s = Some(raw);
                }
                raw
            }
        };
        Ok(VoutMode::from_raw(raw)?)
    }

    /// Input voltage (READ_VIN).
    ///
    /// # Errors
    ///
    /// The bus error, or [`Error::Decode`] for a value outside `i32` millivolts.
    pub fn read_vin(&mut self) -> Result<MilliVolts, Error<B::Error>> {
        self.read_milli(command::READ_VIN, SensorClass::VoltageIn)
            .map(MilliVolts)
    }

    /// Output voltage of the current page (READ_VOUT), in the format VOUT_MODE announces:
    /// LINEAR16, DIRECT with the coefficients set for [`SensorClass::VoltageOut`], or VID
    /// with the table set by [`Pmbus::set_vid_table`].
    ///
    /// # Errors
    ///
    /// The bus error; [`Error::Unsupported`] for VID mode before [`Pmbus::set_vid_table`];
    /// [`Error::Decode`] with [`DecodeError::UnsupportedFormat`] for IEEE half (not
    /// implemented), for DIRECT without coefficients, or for VOUT_MODE 0xFF.
    pub fn read_vout(&mut self) -> Result<MilliVolts, Error<B::Error>> {
        let mode = self.read_vout_mode()?;
        let raw = self.read_word(command::READ_VOUT)?;
        let mv = match (mode, self.format(SensorClass::VoltageOut)) {
            (VoutMode::Linear { .. }, _) => linear16_millivolts(raw, mode)?,
            (VoutMode::Direct, Format::Direct(c)) => direct_millivolts(raw, c)?,
            (VoutMode::Vid { .. }, _) => match self.vid_table {
                Some(table) => vid_millivolts(raw, table),
                None => return Err(Error::Unsupported(VID_TABLE_UNSET)),
            },
            _ => return Err(Error::Decode(DecodeError::UnsupportedFormat)),
        };
        Ok(mv)
    }

    /// Input current (READ_IIN).
    ///
    /// # Errors
    ///
    /// The bus error, or [`Error::Decode`] for a value outside `i32` milliamps.
    pub fn read_iin(&mut self) -> Result<MilliAmps, Error<B::Error>> {
        self.read_milli(command::READ_IIN, SensorClass::CurrentIn)
            .map(MilliAmps)
    }

    /// Output current of the current page (READ_IOUT).
    ///
    /// # Errors
    ///
    /// The bus error, or [`Error::Decode`] for a value outside `i32` milliamps.
    pub fn read_iout(&mut self) -> Result<MilliAmps, Error<B::Error>> {
        self.read_milli(command::READ_IOUT, SensorClass::CurrentOut)
            .map(MilliAmps)
    }

    /// First temperature sensor (READ_TEMPERATURE_1).
    ///
    /// # Errors
    ///
    /// The bus error, or [`Error::Decode`] for a value outside `i32` m°C.
    pub fn read_temperature_1(&mut self) -> Result<MilliCelsius, Error<B::Error>> {
        self.read_milli(command::READ_TEMPERATURE_1, SensorClass::Temperature)
            .map(MilliCelsius)
    }

    /// Output power (READ_POUT), in microwatts like hwmon `power*_input`.
    ///
    /// # Errors
    ///
    /// The bus error, or [`Error::Decode`] on overflow.
    pub fn read_pout(&mut self) -> Result<MicroWatts, Error<B::Error>> {
        self.read_power(command::READ_POUT)
    }

    /// Input power (READ_PIN), in microwatts.
    ///
    /// # Errors
    ///
    /// The bus error, or [`Error::Decode`] on overflow.
    pub fn read_pin(&mut self) -> Result<MicroWatts, Error<B::Error>> {
        self.read_power(command::READ_PIN)
    }

    /// STATUS_WORD; when that read fails or returns 0xFFFF, STATUS_BYTE as the low byte
    /// (HARDWARE.md §5, the kernel's fallback).
    ///
    /// # Errors
    ///
    /// The STATUS_BYTE read's bus error, or [`Error::WrongDevice`] when STATUS_BYTE reads
    /// 0xFF (the kernel's "not a PMBus device").
    pub fn read_status_word(&mut self) -> Result<StatusWord, Error<B::Error>> {
        match self.bus.read_word_data(self.address, command::STATUS_WORD) {
            Ok(word) if word != 0xFFFF => return Ok(StatusWord::from_bits_retain(word)),
            // A failed or all-ones word read: some devices only implement STATUS_BYTE.
            _ => {}
        }
        let byte = self.read_byte(command::STATUS_BYTE)?;
        if byte == 0xFF {
            return Err(Error::WrongDevice);
        }
        Ok(StatusWord::from_bits_retain(u16::from(byte)))
    }

    /// CAPABILITY (0x19).
    ///
    /// # Errors
    ///
    /// The bus error (devices without CAPABILITY usually NAK it).
    pub fn read_capability(&mut self) -> Result<Capability, Error<B::Error>> {
        Ok(Capability::from_bits_retain(
            self.read_byte(command::CAPABILITY)?,
        ))
    }

    /// Turns PEC on for this device when, and only when, CAPABILITY bit 7 is set **and**
    /// the bus can do PEC ([`Capabilities::PEC`]), as the kernel's PMBus core does
    /// (HARDWARE.md §5). On an SMBus-only controller such as AMD's `i2c-piix4` PEC stays
    /// off. CAPABILITY is read with PEC off. Returns whether PEC is now on.
    ///
    /// # Errors
    ///
    /// The bus error of the CAPABILITY read or of switching PEC.
    pub fn enable_pec_if_supported(&mut self) -> Result<bool, Error<B::Error>> {
        let bus_can = self.bus.capabilities().contains(Capabilities::PEC);
        if bus_can {
            self.bus.set_pec(self.address, false).map_err(Error::Bus)?;
        }
        self.pec = false;
        let device_can = self.read_capability()?.contains(Capability::PEC);
        if bus_can && device_can {
            self.bus.set_pec(self.address, true).map_err(Error::Bus)?;
            self.pec = true;
        }
        Ok(self.pec)
    }

    /// MFR_ID (manufacturer), read as an SMBus block into `buf` (32 bytes hold any
    /// block). Returns the longest valid UTF-8 prefix without trailing NULs or spaces.
    ///
    /// # Errors
    ///
    /// The bus error (a block longer than `buf` is the bus's `BadBlockLength`).
    pub fn read_mfr_id<'a>(&mut self, buf: &'a mut [u8]) -> Result<&'a str, Error<B::Error>> {
        self.read_string(command::MFR_ID, buf)
    }

    /// MFR_MODEL (model), like [`Pmbus::read_mfr_id`].
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn read_mfr_model<'a>(&mut self, buf: &'a mut [u8]) -> Result<&'a str, Error<B::Error>> {
        self.read_string(command::MFR_MODEL, buf)
    }

    fn read_string<'a>(&mut self, cmd: u8, buf: &'a mut [u8]) -> Result<&'a str, Error<B::Error>> {
        let n = self
            .bus
            .read_block_data(self.address, cmd, buf)
            .map_err(Error::Bus)?;
        let filled: &'a [u8] = buf;
        let bytes = filled
            .get(..n)
            .ok_or(Error::Decode(DecodeError::Truncated))?;
        let text = match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => bytes
                .get(..e.valid_up_to())
                .and_then(|b| core::str::from_utf8(b).ok())
                .unwrap_or(""),
        };
        Ok(text.trim_end_matches(|c: char| c == '\0' || c.is_whitespace()))
    }

    fn format(&self, class: SensorClass) -> Format {
        self.formats.get(class.index()).copied().unwrap_or_default()
    }

    /// Reads a non-VOUT, non-power reading in milli-units.
    fn read_milli(&mut self, cmd: u8, class: SensorClass) -> Result<i32, Error<B::Error>> {
        let raw = self.read_word(cmd)?;
        let v = match self.format(class) {
            Format::Linear => linear11(raw, 1_000),
            Format::Direct(c) => direct(raw, c, 3),
        };
        Ok(milli_i32(v)?)
    }

    fn read_power(&mut self, cmd: u8) -> Result<MicroWatts, Error<B::Error>> {
        let raw = self.read_word(cmd)?;
        let v = match self.format(SensorClass::Power) {
            Format::Linear => linear11_microwatts(raw)?,
            Format::Direct(c) => direct_microwatts(raw, c)?,
        };
        Ok(v)
    }

    fn read_word(&mut self, cmd: u8) -> Result<u16, Error<B::Error>> {
        // PMBus words are LSB first: no swap (HARDWARE.md §5).
        self.bus
            .read_word_data(self.address, cmd)
            .map_err(Error::Bus)
    }

    fn read_byte(&mut self, cmd: u8) -> Result<u8, Error<B::Error>> {
        self.bus
            .read_byte_data(self.address, cmd)
            .map_err(Error::Bus)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::chips::ErrorKind;
    use crate::smbus::{self, ErrorType, I2cSmbus, pec};
    use embedded_hal::i2c::{ErrorKind as I2cErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};
    use proptest::prelude::*;

    const ADDR: u8 = 0x40;

    /// LINEAR11 word from exponent and mantissa.
    fn l11(e: i8, m: i16) -> u16 {
        ((e as u16 & 0x1F) << 11) | (m as u16 & 0x7FF)
    }

    fn coeffs(m: i32, b: i32, r: i8) -> DirectCoefficients {
        DirectCoefficients::new(m, b, r).unwrap()
    }

    fn driver(expect: &[T]) -> (Pmbus<I2cSmbus<Mock>>, Mock) {
        let mock = Mock::new(expect);
        (Pmbus::new(I2cSmbus::new(mock.clone()), ADDR), mock)
    }

    /// A word read as the wire carries it: low byte first.
    fn word(cmd: u8, w: u16) -> T {
        T::write_read(ADDR, vec![cmd], w.to_le_bytes().to_vec())
    }

    /// A word read with a PEC byte appended; `corrupt` flips it.
    fn word_pec(cmd: u8, w: u16, corrupt: bool) -> T {
        let [lo, hi] = w.to_le_bytes();
        let mut crc = pec(&[ADDR << 1, cmd, (ADDR << 1) | 1, lo, hi]);
        if corrupt {
            crc ^= 0x01;
        }
        T::write_read(ADDR, vec![cmd], vec![lo, hi, crc])
    }

    fn byte(cmd: u8, b: u8) -> T {
        T::write_read(ADDR, vec![cmd], vec![b])
    }

    // --- LINEAR11 ---

    #[test]
    fn linear11_negative_exponent_floors_negative_mantissa() {
        // HARDWARE.md §5: m = −1, e = −13 → −1 (arithmetic shift), not 0.
        assert_eq!(l11(-13, -1), 0x9FFF);
        assert_eq!(linear11_millivolts(0x9FFF), Ok(MilliVolts(-1)));
        // −1000 / 16 = −62.5 → floor −63.
        assert_eq!(linear11_millicelsius(l11(-4, -1)), Ok(MilliCelsius(-63)));
        // Positive values truncate: 1000 / 16 = 62.5 → 62.
        assert_eq!(linear11_millicelsius(l11(-4, 1)), Ok(MilliCelsius(62)));
    }

    #[test]
    fn linear11_typical_readings() {
        // 12.5 V input: m = 50, e = −2.
        assert_eq!(linear11_millivolts(l11(-2, 50)), Ok(MilliVolts(12_500)));
        // −6 A: m = −3, e = 1.
        assert_eq!(linear11_milliamps(l11(1, -3)), Ok(MilliAmps(-6_000)));
        // 45.25 °C: m = 181, e = −2.
        assert_eq!(
            linear11_millicelsius(l11(-2, 181)),
            Ok(MilliCelsius(45_250))
        );
        // 350.5 W: m = 701, e = −1 → µW.
        assert_eq!(
            linear11_microwatts(l11(-1, 701)),
            Ok(MicroWatts(350_500_000))
        );
        // Extremes of the mantissa: −1024 and 1023.
        assert_eq!(linear11_milliamps(l11(0, -1024)), Ok(MilliAmps(-1_024_000)));
        assert_eq!(linear11_milliamps(l11(0, 1023)), Ok(MilliAmps(1_023_000)));
    }

    #[test]
    fn linear11_overflow_is_out_of_range() {
        // 1023 · 1000 · 2¹⁵ mV does not fit i32 …
        assert_eq!(
            linear11_millivolts(l11(15, 1023)),
            Err(DecodeError::OutOfRange)
        );
        // … but fits i64 µW.
        assert_eq!(
            linear11_microwatts(l11(15, 1023)),
            Ok(MicroWatts(1023 * 1_000_000 * 32_768))
        );
    }

    // --- VOUT_MODE / LINEAR16 ---

    #[test]
    fn vout_mode_parsing() {
        assert_eq!(
            VoutMode::from_raw(0x17),
            Ok(VoutMode::Linear { exponent: -9 })
        );
        assert_eq!(
            VoutMode::from_raw(0x0F),
            Ok(VoutMode::Linear { exponent: 15 })
        );
        assert_eq!(
            VoutMode::from_raw(0x10),
            Ok(VoutMode::Linear { exponent: -16 })
        );
        assert_eq!(VoutMode::from_raw(0x21), Ok(VoutMode::Vid { code: 1 }));
        assert_eq!(VoutMode::from_raw(0x40), Ok(VoutMode::Direct));
        assert_eq!(VoutMode::from_raw(0x60), Ok(VoutMode::Ieee754Half));
        assert_eq!(
            VoutMode::from_raw(0x80),
            Err(DecodeError::UnsupportedFormat)
        );
        assert_eq!(
            VoutMode::from_raw(0xFF),
            Err(DecodeError::UnsupportedFormat)
        );
    }

    #[test]
    fn linear16_uses_unsigned_mantissa() {
        let mode = VoutMode::Linear { exponent: -9 };
        // 384 / 512 V = 0.75 V.
        assert_eq!(linear16_millivolts(0x0180, mode), Ok(MilliVolts(750)));
        // 0xFFFF is 65535, not −1: 65 535 000 / 4096 = 15 999.75 → 15 999 mV.
        let e12 = VoutMode::Linear { exponent: -12 };
        assert_eq!(linear16_millivolts(0xFFFF, e12), Ok(MilliVolts(15_999)));
    }

    #[test]
    fn linear16_refuses_modes_that_are_not_linear() {
        for mode in [
            VoutMode::Direct,
            VoutMode::Vid { code: 2 },
            VoutMode::Ieee754Half,
        ] {
            assert_eq!(
                linear16_millivolts(0x0180, mode),
                Err(DecodeError::UnsupportedFormat)
            );
        }
        // A hand-built exponent that does not fit.
        let huge = VoutMode::Linear { exponent: 100 };
        assert_eq!(linear16_millivolts(1, huge), Err(DecodeError::OutOfRange));
        assert_eq!(
            linear16_millivolts(1, VoutMode::Linear { exponent: -100 }),
            Ok(MilliVolts(0))
        );
    }

    // --- DIRECT ---

    #[test]
    fn direct_rounds_negatives_like_the_kernel() {
        // m = 1, b = 0, R = 4 → R' = −4 + 3 = −1: one (Y + 5) / 10 step, C truncation.
        let c = coeffs(1, 0, 4);
        assert_eq!(direct_millivolts(15, c), Ok(MilliVolts(2)));
        assert_eq!(direct_millivolts(14, c), Ok(MilliVolts(1)));
        // −1.5 → (−15 + 5) / 10 = −1 (true nearest would be −2).
        assert_eq!(direct_millivolts(-15i16 as u16, c), Ok(MilliVolts(-1)));
        assert_eq!(direct_millivolts(-16i16 as u16, c), Ok(MilliVolts(-1)));
        assert_eq!(direct_millivolts(-6i16 as u16, c), Ok(MilliVolts(0)));
        assert_eq!(direct_millivolts(-5i16 as u16, c), Ok(MilliVolts(0)));
    }

    #[test]
    fn direct_divides_by_m_with_truncation_and_scales_b() {
        // m = 3, b = 0, R = 3 → R' = 0: (−10 − 0) / 3 = −3 (not −4).
        assert_eq!(
            direct_millivolts(-10i16 as u16, coeffs(3, 0, 3)),
            Ok(MilliVolts(-3))
        );
        // m = 2, b = 1, R = 0 → R' = 3: (7 · 1000 − 1000) / 2 = 3000 mA.
        assert_eq!(direct_milliamps(7, coeffs(2, 1, 0)), Ok(MilliAmps(3_000)));
        // Power gets three more decimals: (−7 · 10⁶ − 0) / 1 µW.
        assert_eq!(
            direct_microwatts(-7i16 as u16, coeffs(1, 0, 0)),
            Ok(MicroWatts(-7_000_000))
        );
        // Temperature: m = 10, b = −5, R = 1 → R' = 2: (250 · 100 + 5000) / 10 = 3000.
        assert_eq!(
            direct_millicelsius(250, coeffs(10, -5, 1)),
            Ok(MilliCelsius(3_000))
        );
    }

    #[test]
    fn direct_rejects_zero_slope_and_overflow() {
        assert_eq!(DirectCoefficients::new(0, 5, 1), None);
        assert_eq!(
            direct(1, coeffs(1, 0, -128), 6),
            Err(DecodeError::OutOfRange)
        );
        assert_eq!(
            direct_millivolts(0x7FFF, coeffs(1, 0, -3)),
            Err(DecodeError::OutOfRange)
        );
    }

    #[test]
    fn status_word_names_power_good_inverted() {
        let s = StatusWord::from_bits_retain(0x0840);
        assert!(s.contains(StatusWord::POWER_NOT_GOOD | StatusWord::OFF));
        assert_eq!(StatusWord::POWER_NOT_GOOD.bits(), 1 << 11);
    }

    proptest! {
        #[test]
        fn no_raw_value_panics_a_decoder(
            raw in any::<u16>(),
            mode in any::<u8>(),
            m in any::<i32>(),
            b in any::<i32>(),
            r in any::<i8>(),
        ) {
            // Oracle, independent of the shifts under test: floor(m · 1000 · 2^e) in i128.
            let exp = i32::from((raw >> 11) as u8 & 0x1F);
            let exp = if exp >= 16 { exp - 32 } else { exp };
            let man = i128::from(raw & 0x7FF);
            let man = if man >= 1024 { man - 2048 } else { man };
            let floor_scaled = |scale: i128| {
                if exp >= 0 {
                    man * scale * (1i128 << exp)
                } else {
                    (man * scale).div_euclid(1i128 << -exp)
                }
            };
            let exact = floor_scaled(1_000);
            prop_assert_eq!(linear11(raw, 1_000), Ok(exact as i64));
            let mv = linear11_millivolts(raw);
            prop_assert_eq!(mv.is_ok(), i32::try_from(exact).is_ok());
            prop_assert_eq!(linear11_milliamps(raw).map(|a| a.0), mv.map(|v| v.0));
            prop_assert_eq!(linear11_millicelsius(raw).map(|t| t.0), mv.map(|v| v.0));
            prop_assert_eq!(linear11_microwatts(raw), Ok(MicroWatts(floor_scaled(1_000_000) as i64)));
            if let Ok(vm) = VoutMode::from_raw(mode) {
                let _ = linear16_millivolts(raw, vm);
            }
            if let Some(c) = DirectCoefficients::new(m, b, r) {
                let _ = direct_millivolts(raw, c);
                let _ = direct_milliamps(raw, c);
                let _ = direct_millicelsius(raw, c);
                let _ = direct_microwatts(raw, c);
            }
        }
    }

    // --- driver ---

    #[test]
    fn select_page_writes_reads_back_and_skips_when_current() {
        let (mut dev, mut mock) = driver(&[
            T::write(ADDR, vec![0x00, 1]),
            byte(0x00, 1),
            T::write(ADDR, vec![0x00, 3]),
            byte(0x00, 0),
        ]);
        dev.select_page(1).unwrap();
        dev.select_page(1).unwrap();
        assert_eq!(dev.page(), Some(1));
        // The device stays on page 0: it has no page 3.
        assert_eq!(
            dev.select_page(3).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        assert_eq!(dev.page(), None);
        assert_eq!(
            dev.select_page(32).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        dev.release();
        mock.done();
    }

    #[test]
    fn vid_tables_match_the_kernel() {
        // AMD 6.25 mV: code 0 = 1.550 V, 0x58 = 1.000 V, 0xD8 = 0.200 V, beyond = off.
        assert_eq!(vid_millivolts(0x00, VidTable::Amd625mv), MilliVolts(1_550));
        assert_eq!(vid_millivolts(0x58, VidTable::Amd625mv), MilliVolts(1_000));
        assert_eq!(vid_millivolts(0xD8, VidTable::Amd625mv), MilliVolts(200));
        assert_eq!(vid_millivolts(0xD9, VidTable::Amd625mv), MilliVolts(0));
        // 155000 − 625 = 154375 → 1543.75 mV rounds to 1544.
        assert_eq!(vid_millivolts(0x01, VidTable::Amd625mv), MilliVolts(1_544));
        // VR11: 0x02 = 1.600 V; 0x03 = 1593.75 → 1594; 0xB2 = 0.500 V; 0x01 and 0xB3 off.
        assert_eq!(vid_millivolts(0x02, VidTable::Vr11), MilliVolts(1_600));
        assert_eq!(vid_millivolts(0x03, VidTable::Vr11), MilliVolts(1_594));
        assert_eq!(vid_millivolts(0xB2, VidTable::Vr11), MilliVolts(500));
        assert_eq!(vid_millivolts(0x01, VidTable::Vr11), MilliVolts(0));
        assert_eq!(vid_millivolts(0xB3, VidTable::Vr11), MilliVolts(0));
        // VR12/VR13/IMVP9: code 0 is off, code 1 the base, then 5/10/10 mV steps.
        assert_eq!(vid_millivolts(0x00, VidTable::Vr12), MilliVolts(0));
        assert_eq!(vid_millivolts(0x01, VidTable::Vr12), MilliVolts(250));
        assert_eq!(vid_millivolts(0x97, VidTable::Vr12), MilliVolts(1_000));
        assert_eq!(vid_millivolts(0x33, VidTable::Vr13), MilliVolts(1_000));
        assert_eq!(vid_millivolts(0x51, VidTable::Imvp9), MilliVolts(1_000));
        assert_eq!(
            vid_millivolts(u16::MAX, VidTable::Vr12),
            MilliVolts(327_920)
        );
    }

    #[test]
    fn vout_in_vid_mode_needs_the_table_from_the_datasheet() {
        // VOUT_MODE 0x20: mode 1 (VID).
        let (mut dev, mut mock) =
            driver(&[byte(0x20, 0x20), word(0x8B, 0x0058), word(0x8B, 0x0058)]);
        let e = dev.read_vout().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert!(matches!(e, Error::Unsupported(why) if why.contains("set_vid_table")));
        dev.set_vid_table(VidTable::Amd625mv);
        assert_eq!(dev.read_vout(), Ok(MilliVolts(1_000)));
        dev.release();
        mock.done();
    }

    #[test]
    fn vout_mode_is_read_once_per_page() {
        let (mut dev, mut mock) = driver(&[
            T::write(ADDR, vec![0x00, 0]),
            byte(0x00, 0),
            byte(0x20, 0x17),
            word(0x8B, 0x0180),
            word(0x8B, 0x0200),
            T::write(ADDR, vec![0x00, 1]),
            byte(0x00, 1),
            byte(0x20, 0x16),
            word(0x8B, 0x0180),
            T::write(ADDR, vec![0x00, 0]),
            byte(0x00, 0),
            word(0x8B, 0x0180),
        ]);
        dev.select_page(0).unwrap();
        assert_eq!(dev.read_vout(), Ok(MilliVolts(750)));
        assert_eq!(dev.read_vout(), Ok(MilliVolts(1_000)));
        dev.select_page(1).unwrap();
        // Page 1 has exponent −10: 384 / 1024 V.
        assert_eq!(dev.read_vout(), Ok(MilliVolts(375)));
        dev.select_page(0).unwrap();
        assert_eq!(dev.read_vout(), Ok(MilliVolts(750)));
        dev.release();
        mock.done();
    }

    #[test]
    fn failed_page_select_forgets_the_unselected_vout_mode() {
        let (mut dev, mut mock) = driver(&[
            byte(0x20, 0x17),
            word(0x8B, 0x0180),
            T::write(ADDR, vec![0x00, 2]),
            byte(0x00, 1),
            // The device may be on another page now: VOUT_MODE is read again.
            byte(0x20, 0x16),
            word(0x8B, 0x0180),
        ]);
        assert_eq!(dev.read_vout(), Ok(MilliVolts(750)));
        assert!(dev.select_page(2).is_err());
        assert_eq!(dev.read_vout(), Ok(MilliVolts(375)));
        dev.release();
        mock.done();
    }

    #[test]
    fn readings_are_lsb_first_and_scaled() {
        let (mut dev, mut mock) = driver(&[
            word(0x88, l11(-2, 50)),
            word(0x8C, l11(-3, 100)),
            word(0x8D, l11(-1, 91)),
            word(0x96, l11(0, 200)),
            word(0x97, l11(1, 110)),
            word(0x89, l11(-4, -1)),
        ]);
        assert_eq!(dev.read_vin(), Ok(MilliVolts(12_500)));
        assert_eq!(dev.read_iout(), Ok(MilliAmps(12_500)));
        assert_eq!(dev.read_temperature_1(), Ok(MilliCelsius(45_500)));
        assert_eq!(dev.read_pout(), Ok(MicroWatts(200_000_000)));
        assert_eq!(dev.read_pin(), Ok(MicroWatts(220_000_000)));
        assert_eq!(dev.read_iin(), Ok(MilliAmps(-63)));
        dev.release();
        mock.done();
    }

    #[test]
    fn direct_format_per_class() {
        let (mut dev, mut mock) = driver(&[word(0x8C, 7), byte(0x20, 0x40), word(0x8B, 15)]);
        dev.set_format(SensorClass::CurrentOut, Format::Direct(coeffs(2, 1, 0)));
        assert_eq!(dev.read_iout(), Ok(MilliAmps(3_000)));
        dev.set_format(SensorClass::VoltageOut, Format::Direct(coeffs(1, 0, 4)));
        assert_eq!(dev.read_vout(), Ok(MilliVolts(2)));
        dev.release();
        mock.done();
    }

    #[test]
    fn status_word_falls_back_to_status_byte() {
        let (mut dev, mut mock) = driver(&[
            word(0x79, 0x0840),
            // Word read NAKed → STATUS_BYTE.
            T::write_read(ADDR, vec![0x79], vec![0, 0])
                .with_error(I2cErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)),
            byte(0x78, 0x40),
            // All ones → STATUS_BYTE; 0xFF there too → not PMBus.
            word(0x79, 0xFFFF),
            byte(0x78, 0xFF),
        ]);
        assert_eq!(
            dev.read_status_word(),
            Ok(StatusWord::POWER_NOT_GOOD | StatusWord::OFF)
        );
        assert_eq!(dev.read_status_word(), Ok(StatusWord::OFF));
        assert_eq!(
            dev.read_status_word().map_err(|e| e.kind()),
            Err(ErrorKind::WrongDevice)
        );
        dev.release();
        mock.done();
    }

    #[test]
    fn pec_is_enabled_and_a_corrupted_pec_is_a_pec_mismatch() {
        let (mut dev, mut mock) = driver(&[
            byte(0x19, 0xB0),
            word_pec(0x88, l11(-2, 50), false),
            word_pec(0x88, l11(-2, 50), true),
        ]);
        assert_eq!(dev.enable_pec_if_supported(), Ok(true));
        assert!(dev.pec_enabled());
        assert_eq!(dev.read_vin(), Ok(MilliVolts(12_500)));
        let err = dev.read_vin().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Bus(smbus::ErrorKind::PecMismatch));
        dev.release();
        mock.done();
    }

    #[test]
    fn pec_stays_off_when_the_device_lacks_it() {
        let (mut dev, mut mock) = driver(&[byte(0x19, 0x30), word(0x88, l11(-2, 50))]);
        assert_eq!(dev.enable_pec_if_supported(), Ok(false));
        // No PEC byte is expected on the next read.
        assert_eq!(dev.read_vin(), Ok(MilliVolts(12_500)));
        dev.release();
        mock.done();
    }

    /// An SMBus-only bus like `i2c-piix4`: no PEC capability, `set_pec` refused.
    #[derive(Debug)]
    struct Piix4Like {
        inner: I2cSmbus<Mock>,
        set_pec_calls: Vec<(u8, bool)>,
    }

    impl ErrorType for Piix4Like {
        type Error = smbus::ErrorKind;
    }

    impl Smbus for Piix4Like {
        fn capabilities(&self) -> Capabilities {
            Capabilities::PIIX4
        }
        fn read_byte_data(&mut self, a: u8, c: u8) -> Result<u8, Self::Error> {
            self.inner
                .read_byte_data(a, c)
                .map_err(|e| smbus::Error::kind(&e))
        }
        fn write_byte_data(&mut self, a: u8, c: u8, v: u8) -> Result<(), Self::Error> {
            self.inner
                .write_byte_data(a, c, v)
                .map_err(|e| smbus::Error::kind(&e))
        }
        fn read_word_data(&mut self, a: u8, c: u8) -> Result<u16, Self::Error> {
            self.inner
                .read_word_data(a, c)
                .map_err(|e| smbus::Error::kind(&e))
        }
        fn write_word_data(&mut self, a: u8, c: u8, v: u16) -> Result<(), Self::Error> {
            self.inner
                .write_word_data(a, c, v)
                .map_err(|e| smbus::Error::kind(&e))
        }
        fn read_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<usize, Self::Error> {
            self.inner
                .read_block_data(a, c, b)
                .map_err(|e| smbus::Error::kind(&e))
        }
        fn read_i2c_block_data(&mut self, _: u8, _: u8, _: &mut [u8]) -> Result<(), Self::Error> {
            Err(smbus::ErrorKind::Unsupported)
        }
        fn send_byte(&mut self, a: u8, v: u8) -> Result<(), Self::Error> {
            self.inner
                .send_byte(a, v)
                .map_err(|e| smbus::Error::kind(&e))
        }
        fn receive_byte(&mut self, a: u8) -> Result<u8, Self::Error> {
            self.inner
                .receive_byte(a)
                .map_err(|e| smbus::Error::kind(&e))
        }
        fn set_pec(&mut self, a: u8, e: bool) -> Result<(), Self::Error> {
            self.set_pec_calls.push((a, e));
            Err(smbus::ErrorKind::Unsupported)
        }
    }

    #[test]
    fn pec_stays_off_on_an_smbus_only_bus_even_if_the_device_can() {
        let mut mock = Mock::new(&[byte(0x19, 0x80), word(0x88, l11(-2, 50))]);
        let bus = Piix4Like {
            inner: I2cSmbus::new(mock.clone()),
            set_pec_calls: Vec::new(),
        };
        let mut dev = Pmbus::new(bus, ADDR);
        assert_eq!(dev.enable_pec_if_supported(), Ok(false));
        assert_eq!(dev.read_vin(), Ok(MilliVolts(12_500)));
        let bus = dev.release();
        assert!(
            bus.set_pec_calls.is_empty(),
            "PEC must not be touched on piix4"
        );
        mock.done();
    }

    #[test]
    fn mfr_strings_are_block_reads_into_the_callers_buffer() {
        let (mut dev, mut mock) = driver(&[
            T::write_read(ADDR, vec![0x99], vec![5]),
            T::write_read(ADDR, vec![0x99], b"\x05ACME ".to_vec()),
            T::write_read(ADDR, vec![0x9A], vec![4]),
            T::write_read(ADDR, vec![0x9A], b"\x04X1\xFF\x00".to_vec()),
        ]);
        let mut buf = [0u8; 32];
        assert_eq!(dev.read_mfr_id(&mut buf), Ok("ACME"));
        // Invalid UTF-8 ends the string instead of failing the read.
        assert_eq!(dev.read_mfr_model(&mut buf), Ok("X1"));
        dev.release();
        mock.done();
    }

    #[test]
    fn mfr_string_longer_than_buffer_is_bad_block_length() {
        let (mut dev, mut mock) = driver(&[T::write_read(ADDR, vec![0x99], vec![9])]);
        let mut buf = [0u8; 4];
        assert_eq!(
            dev.read_mfr_id(&mut buf).map_err(|e| e.kind()),
            Err(ErrorKind::Bus(smbus::ErrorKind::BadBlockLength))
        );
        dev.release();
        mock.done();
    }
}
