//! Microchip (SMSC) EMC2301/EMC2302/EMC2303/EMC2305 PWM fan controllers.
//!
//! One register map for the whole family; the variants differ only in how many fan
//! drivers they have (HARDWARE.md §3a). This module holds the pure decoders (tach count →
//! RPM, product ID → variant) and [`Emc230x`], a driver that reads fan speeds, sets PWM
//! duty in direct-drive mode, reads the fault latches and arms the chip's hardware
//! watchdog.
//!
//! ## Register facts and where they come from
//!
//! - Drive, tach, drive-fail (0x27), product ID (0xFD) and vendor (0xFE): HARDWARE.md §3a,
//!   restated from Linux `drivers/hwmon/emc2305.c`.
//! - Configuration (0x20), Fan Status (0x24), Fan Stall Status (0x25) and Fan Spin Status
//!   (0x26): **not used by the kernel** (HARDWARE.md marks them UNCONFIRMED). Taken from
//!   the SMSC EMC2301/EMC2302 datasheets (register tables 5.1–5.3 and §4.8 "Watchdog
//!   Timer"), cross-checked against independent open drivers (Microchip-datasheet-based
//!   Python and ESPHome drivers) that agree bit for bit. Oxide Hubris's
//!   `drv/i2c-devices/src/emc2305.rs` enables the same watchdog at initialisation, but its
//!   bitfield places the watchdog enable at bit 6 (the datasheet's DIS_TO) and lists the
//!   stall register at 0x28; this module follows the datasheet (bit 5, 0x25).
//!
//! ## Byte order
//!
//! The tach reading is a high/low register pair (0x3E high, 0x3F low), so an SMBus
//! read-word returns it byte-swapped; the driver swaps it back, as the kernel's
//! `i2c_smbus_read_word_swapped` does (HARDWARE.md §3a, §10).
//!
//! ## The watchdog
//!
//! With WD_EN set the chip runs its watchdog continuously: if four seconds pass without
//! SMBus activity from the host, it sets the WATCH bit and drives every fan at full scale
//! until the host programs a drive again (datasheet §4.8, §5.3.1). So a hung daemon leaves
//! the fans at 100 %, as Oxide's thermal task arranges. The control loop must therefore
//! talk to the chip at least every four seconds (the default period is one second).

use bitflags::bitflags;

use super::Error;
use crate::decode::DecodeError;
use crate::smbus::Smbus;
use crate::units::{Duty, Rpm};

/// Register addresses (HARDWARE.md §3a unless marked as datasheet facts).
mod reg {
    /// Configuration (datasheet table 5.2; UNCONFIRMED by the kernel).
    pub const CONFIGURATION: u8 = 0x20;
    /// Fan Status summary, clear-on-read for WATCH (datasheet §5.3.1).
    pub const FAN_STATUS: u8 = 0x24;
    /// Fan Stall Status, bit n = fan n+1, clear-on-read (datasheet §5.3.2).
    pub const FAN_STALL_STATUS: u8 = 0x25;
    /// Fan Spin Status, bit n = fan n+1, clear-on-read (datasheet §5.3.3).
    pub const FAN_SPIN_STATUS: u8 = 0x26;
    /// Drive Fail Status, bit n = fan n+1 (kernel `EMC2305_REG_DRIVE_FAIL_STATUS`).
    pub const DRIVE_FAIL_STATUS: u8 = 0x27;
    /// Fan n drive setting: 0x30 + 0x10·n.
    pub const FAN_DRIVE_BASE: u8 = 0x30;
    /// Fan n tach reading, high byte: 0x3E + 0x10·n (low byte follows).
    pub const FAN_TACH_BASE: u8 = 0x3E;
    /// Stride between the per-fan register blocks.
    pub const FAN_STRIDE: u8 = 0x10;
    /// Product ID.
    pub const PRODUCT_ID: u8 = 0xFD;
    /// Manufacturer (vendor) ID.
    pub const VENDOR_ID: u8 = 0xFE;
}

/// Configuration register bits (datasheet table 5.2; UNCONFIRMED by the kernel).
mod config {
    /// WD_EN: run the watchdog continuously.
    pub const WD_EN: u8 = 1 << 5;
}

/// The vendor ID every member of the family reports at 0xFE (HARDWARE.md §3a).
pub const VENDOR_MICROCHIP: u8 = 0x5D;

/// Numerator of the kernel's RPM formula (`EMC2305_RPM_FACTOR`, HARDWARE.md §3a).
const RPM_FACTOR: u32 = 3_932_160;
/// Quotients at or below this are reported as a stopped fan (`EMC2305_TACH_RANGE_MIN`).
const TACH_RANGE_MIN: u32 = 480;
/// Multiplier applied to the quotient (`EMC2305_TACH_CNT_MULTIPLIER`).
const TACH_MULTIPLIER: u32 = 2;

/// Which member of the EMC230x family answered, from its product ID (HARDWARE.md §3a).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Variant {
    /// EMC2305, product ID 0x34: five fans.
    Emc2305,
    /// EMC2303, product ID 0x35: three fans.
    Emc2303,
    /// EMC2302, product ID 0x36: two fans.
    Emc2302,
    /// EMC2301, product ID 0x37: one fan.
    Emc2301,
}

impl Variant {
    /// The variant a product ID (register 0xFD) names, or `None` for any other value.
    pub const fn from_product_id(id: u8) -> Option<Self> {
        match id {
            0x34 => Some(Self::Emc2305),
            0x35 => Some(Self::Emc2303),
            0x36 => Some(Self::Emc2302),
            0x37 => Some(Self::Emc2301),
            _ => None,
        }
    }

    /// The product ID this variant reports.
    pub const fn product_id(self) -> u8 {
        match self {
            Self::Emc2305 => 0x34,
            Self::Emc2303 => 0x35,
            Self::Emc2302 => 0x36,
            Self::Emc2301 => 0x37,
        }
    }

    /// How many fan drivers this variant has.
    pub const fn fan_count(self) -> u8 {
        match self {
            Self::Emc2305 => 5,
            Self::Emc2303 => 3,
            Self::Emc2302 => 2,
            Self::Emc2301 => 1,
        }
    }
}

/// Checks the identification registers: vendor (0xFE) must be 0x5D and the product ID
/// (0xFD) one of the four the family uses. `None` means "not an EMC230x".
pub const fn identify(vendor: u8, product: u8) -> Option<Variant> {
    if vendor != VENDOR_MICROCHIP {
        return None;
    }
    Variant::from_product_id(product)
}

/// Fan speed from a tach reading, exactly as Linux `emc2305.c` computes it.
///
/// `word` is the reading with the high register (0x3E + 0x10·n) in bits 15:8, i.e. the
/// SMBus word already swapped. HARDWARE.md §3a: drop the 3 unused low bits, divide
/// 3 932 160 by the count (integer division), report 0 RPM when that quotient is ≤ 480,
/// otherwise twice the quotient. A reading of 0 is reported as 0 RPM, as the kernel does.
///
/// # Errors
///
/// [`DecodeError::Invalid`] for readings 1..=7: their count is 0 after dropping the unused
/// bits, where the kernel divides by zero. The chip never produces them; seeing one means
/// a corrupted transfer.
pub const fn rpm_from_tach(word: u16) -> Result<Rpm, DecodeError> {
    if word == 0 {
        return Ok(Rpm(0));
    }
    let count = (word >> 3) as u32;
    if count == 0 {
        return Err(DecodeError::Invalid);
    }
    let quotient = RPM_FACTOR / count;
    if quotient <= TACH_RANGE_MIN {
        Ok(Rpm(0))
    } else {
        // At most 3 932 160 × 2, far below u32::MAX.
        Ok(Rpm(quotient * TACH_MULTIPLIER))
    }
}

bitflags! {
    /// One bit per fan driver, as in the stall, spin and drive-fail status registers
    /// (bit n = fan n, counting from 0).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FanMask: u8 {
        /// Fan 0 (the chip's FAN1).
        const FAN0 = 1 << 0;
        /// Fan 1 (FAN2).
        const FAN1 = 1 << 1;
        /// Fan 2 (FAN3).
        const FAN2 = 1 << 2;
        /// Fan 3 (FAN4).
        const FAN3 = 1 << 3;
        /// Fan 4 (FAN5).
        const FAN4 = 1 << 4;
    }
}

impl FanMask {
    /// Whether fan `fan` (0-based) is flagged; false for fans the chip does not have.
    pub const fn has_fan(self, fan: u8) -> bool {
        fan < 8 && self.bits() & (1 << fan) != 0
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for FanMask {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FanMask({=u8:#b})", self.bits());
    }
}

bitflags! {
    /// The Fan Status summary register 0x24 (datasheet §5.3.1; UNCONFIRMED by the kernel).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FanStatus: u8 {
        /// WATCH: the watchdog expired and the fans were driven to full scale. Cleared by
        /// reading the register.
        const WATCHDOG_EXPIRED = 1 << 7;
        /// DRIVE_FAIL: some fan cannot reach its target speed at full drive (see
        /// [`Emc230x::read_drive_fail`]).
        const DRIVE_FAIL = 1 << 2;
        /// FAN_SPIN: some fan failed to spin up (see [`Emc230x::read_spin_failure`]).
        const SPIN_FAILURE = 1 << 1;
        /// FAN_STALL: some fan stalled (see [`Emc230x::read_stall`]).
        const STALL = 1 << 0;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for FanStatus {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FanStatus({=u8:#b})", self.bits());
    }
}

/// EMC2301/2/3/5 driver over SMBus.
///
/// Owns the bus handle; [`Emc230x::release`] gives it back. Fans are numbered from 0.
/// Until [`Emc230x::probe`] has identified the chip, fan indices up to 4 are accepted
/// (the largest family member); afterwards only the variant's own fans are.
#[derive(Debug)]
pub struct Emc230x<B> {
    bus: B,
    address: u8,
    variant: Option<Variant>,
}

impl<B: Smbus> Emc230x<B> {
    /// Wraps the bus for the chip at 7-bit `address`. Nothing is sent until a method is
    /// called; call [`Emc230x::probe`] to check the chip and learn its fan count.
    pub const fn new(bus: B, address: u8) -> Self {
        Self {
            bus,
            address,
            variant: None,
        }
    }

    /// Wraps the bus and probes the chip; on failure the bus is handed back with the
    /// error so the caller can try another address or driver.
    pub fn new_checked(bus: B, address: u8) -> Result<Self, (B, Error<B::Error>)> {
        let mut dev = Self::new(bus, address);
        match dev.probe() {
            Ok(_) => Ok(dev),
            Err(e) => Err((dev.release(), e)),
        }
    }

    /// Reads the vendor (0xFE) and product ID (0xFD) registers and remembers the variant.
    /// Read-only.
    ///
    /// # Errors
    ///
    /// [`Error::WrongDevice`] when the vendor is not 0x5D or the product ID is not one
    /// of 0x34–0x37: something else answers at this address.
    pub fn probe(&mut self) -> Result<Variant, Error<B::Error>> {
        let vendor = self.read_byte(reg::VENDOR_ID)?;
        let product = self.read_byte(reg::PRODUCT_ID)?;
        let variant = identify(vendor, product).ok_or(Error::WrongDevice)?;
        self.variant = Some(variant);
        Ok(variant)
    }

    /// The variant found by [`Emc230x::probe`], if it has run.
    pub const fn variant(&self) -> Option<Variant> {
        self.variant
    }

    /// The 7-bit bus address.
    pub const fn address(&self) -> u8 {
        self.address
    }

    /// Gives the bus back.
    pub fn release(self) -> B {
        self.bus
    }

    /// Speed of fan `fan` from its tach reading ([`rpm_from_tach`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a fan the chip does not have; the bus error; or
    /// [`Error::Decode`] for an impossible reading.
    pub fn read_rpm(&mut self, fan: u8) -> Result<Rpm, Error<B::Error>> {
        let register = self.fan_register(reg::FAN_TACH_BASE, fan)?;
        let word = self
            .bus
            .read_word_data(self.address, register)
            .map_err(Error::Bus)?;
        // High register first on the wire (HARDWARE.md §3a: word read swapped).
        Ok(rpm_from_tach(word.swap_bytes())?)
    }

    /// The drive currently programmed for fan `fan` (the Fan Setting byte; hwmon `pwmN`
    /// shows this byte unchanged, HARDWARE.md §3a).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a fan the chip does not have, or the bus error.
    pub fn read_duty(&mut self, fan: u8) -> Result<Duty, Error<B::Error>> {
        let register = self.fan_register(reg::FAN_DRIVE_BASE, fan)?;
        Ok(Duty::from_pwm_u8(self.read_byte(register)?))
    }

    /// Programs the drive of fan `fan` (direct PWM mode), rounded to the nearest of the
    /// chip's 256 steps. Writing a drive also ends a watchdog full-speed override for
    /// that fan (datasheet §5.3.1).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a fan the chip does not have, or the bus error.
    pub fn set_duty(&mut self, fan: u8, duty: Duty) -> Result<(), Error<B::Error>> {
        let register = self.fan_register(reg::FAN_DRIVE_BASE, fan)?;
        self.bus
            .write_byte_data(self.address, register, duty.to_pwm_u8())
            .map_err(Error::Bus)
    }

    /// Fans that cannot reach their target speed at full drive (register 0x27; hwmon
    /// `fanN_fault`, HARDWARE.md §3a). Reading clears the latch once the condition is gone
    /// (datasheet §5.3.4).
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn read_drive_fail(&mut self) -> Result<FanMask, Error<B::Error>> {
        self.read_fan_mask(reg::DRIVE_FAIL_STATUS)
    }

    /// Fans that stalled (register 0x25, datasheet §5.3.2; UNCONFIRMED by the kernel).
    /// Reading clears the latch once the condition is gone.
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn read_stall(&mut self) -> Result<FanMask, Error<B::Error>> {
        self.read_fan_mask(reg::FAN_STALL_STATUS)
    }

    /// Fans that failed to spin up (register 0x26, datasheet §5.3.3; UNCONFIRMED by the
    /// kernel). Reading clears the latch once the condition is gone.
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn read_spin_failure(&mut self) -> Result<FanMask, Error<B::Error>> {
        self.read_fan_mask(reg::FAN_SPIN_STATUS)
    }

    /// The Fan Status summary (register 0x24). Reading clears
    /// [`FanStatus::WATCHDOG_EXPIRED`].
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn read_status(&mut self) -> Result<FanStatus, Error<B::Error>> {
        Ok(FanStatus::from_bits_retain(
            self.read_byte(reg::FAN_STATUS)?,
        ))
    }

    /// Arms the hardware watchdog in continuous mode: set WD_EN, bit 5 of the
    /// Configuration register 0x20 (datasheet table 5.2 and §4.8; UNCONFIRMED by the
    /// kernel, which never touches it). From then on, four seconds without SMBus traffic
    /// from the host drive every fan at full scale, so a hung host cannot leave the fans
    /// slow. Read-modify-write: the other configuration bits are kept.
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn enable_watchdog(&mut self) -> Result<(), Error<B::Error>> {
        self.update_config(|c| c | config::WD_EN)
    }

    /// Stops the continuous watchdog (clears WD_EN). Only for shutting the daemon down in
    /// an orderly way while something else takes over the fans.
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn disable_watchdog(&mut self) -> Result<(), Error<B::Error>> {
        self.update_config(|c| c & !config::WD_EN)
    }

    /// Whether WD_EN is set in the Configuration register.
    ///
    /// # Errors
    ///
    /// The bus error.
    pub fn watchdog_enabled(&mut self) -> Result<bool, Error<B::Error>> {
        Ok(self.read_byte(reg::CONFIGURATION)? & config::WD_EN != 0)
    }

    fn update_config(&mut self, f: impl FnOnce(u8) -> u8) -> Result<(), Error<B::Error>> {
        let old = self.read_byte(reg::CONFIGURATION)?;
        let new = f(old);
        if new == old {
            return Ok(());
        }
        self.bus
            .write_byte_data(self.address, reg::CONFIGURATION, new)
            .map_err(Error::Bus)
    }

    fn read_fan_mask(&mut self, register: u8) -> Result<FanMask, Error<B::Error>> {
        let bits = self.read_byte(register)?;
        // Bits for fans this variant lacks are reserved; drop them.
        let fans = self.fan_count();
        let valid = if fans >= 8 { 0xFF } else { (1u8 << fans) - 1 };
        Ok(FanMask::from_bits_truncate(bits & valid))
    }

    fn read_byte(&mut self, register: u8) -> Result<u8, Error<B::Error>> {
        self.bus
            .read_byte_data(self.address, register)
            .map_err(Error::Bus)
    }

    fn fan_count(&self) -> u8 {
        match self.variant {
            Some(v) => v.fan_count(),
            None => Variant::Emc2305.fan_count(),
        }
    }

    /// Register `base` of fan `fan`'s block, after checking the fan exists.
    fn fan_register(&self, base: u8, fan: u8) -> Result<u8, Error<B::Error>> {
        if fan >= self.fan_count() {
            return Err(Error::InvalidArgument);
        }
        // fan ≤ 4, so at most 0x3E + 0x40 = 0x7E.
        Ok(base + fan * reg::FAN_STRIDE)
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

    const ADDR: u8 = 0x2E;

    fn driver(expect: &[T]) -> (Emc230x<I2cSmbus<Mock>>, Mock) {
        let mock = Mock::new(expect);
        (Emc230x::new(I2cSmbus::new(mock.clone()), ADDR), mock)
    }

    // --- decoders ---------------------------------------------------------------------

    #[test]
    fn rpm_follows_kernel_formula() {
        // HARDWARE.md §3a: c = w >> 3; r = 3932160 / c; RPM = 2r.
        // 0x0F00 >> 3 = 480; 3932160 / 480 = 8192 → 16384 RPM.
        assert_eq!(rpm_from_tach(0x0F00), Ok(Rpm(16_384)));
        // Low three bits are ignored: 0x0F07 gives the same count.
        assert_eq!(rpm_from_tach(0x0F07), Ok(Rpm(16_384)));
        // 0x1000 >> 3 = 512 → 7680 → 15360 RPM; integer division truncates:
        // 0x2A30 >> 3 = 1350 → 3932160 / 1350 = 2912 (2912.7) → 5824 RPM.
        assert_eq!(rpm_from_tach(0x1000), Ok(Rpm(15_360)));
        assert_eq!(rpm_from_tach(0x2A30), Ok(Rpm(5_824)));
    }

    #[test]
    fn slow_or_stopped_fan_reads_zero() {
        // 0xFFF8 (count 8191, all ones: no tach pulses) → r = 480 → 0 RPM.
        assert_eq!(rpm_from_tach(0xFFF8), Ok(Rpm(0)));
        // The largest count with r > 480 is 8174 (3932160 / 8174 = 481.04).
        assert_eq!(rpm_from_tach(8174 << 3), Ok(Rpm(962)));
        assert_eq!(rpm_from_tach(8175 << 3), Ok(Rpm(0)));
        assert_eq!(rpm_from_tach(0), Ok(Rpm(0)));
    }

    #[test]
    fn tach_words_one_to_seven_are_invalid_not_a_panic() {
        // The kernel divides by zero here (HARDWARE.md §3a quirk).
        for w in 1..=7u16 {
            assert_eq!(rpm_from_tach(w), Err(DecodeError::Invalid), "word {w}");
        }
        // Count 1 is the fastest representable reading.
        assert_eq!(rpm_from_tach(8), Ok(Rpm(7_864_320)));
    }

    #[test]
    fn product_ids_map_to_fan_counts() {
        assert_eq!(identify(0x5D, 0x34).map(Variant::fan_count), Some(5));
        assert_eq!(identify(0x5D, 0x35).map(Variant::fan_count), Some(3));
        assert_eq!(identify(0x5D, 0x36).map(Variant::fan_count), Some(2));
        assert_eq!(identify(0x5D, 0x37).map(Variant::fan_count), Some(1));
        assert_eq!(identify(0x5D, 0x38), None);
        assert_eq!(identify(0x5C, 0x34), None);
        for v in [
            Variant::Emc2305,
            Variant::Emc2303,
            Variant::Emc2302,
            Variant::Emc2301,
        ] {
            assert_eq!(Variant::from_product_id(v.product_id()), Some(v));
        }
    }

    proptest! {
        #[test]
        fn every_tach_word_follows_the_kernel_formula(w in any::<u16>()) {
            let r = rpm_from_tach(w);
            if (1..=7).contains(&w) {
                prop_assert_eq!(r, Err(DecodeError::Invalid));
            } else if w == 0 {
                prop_assert_eq!(r, Ok(Rpm(0)));
            } else {
                // HARDWARE.md §3a, in u64 so the oracle cannot share an overflow.
                let q = 3_932_160u64 / u64::from(w >> 3);
                let expected = if q <= 480 { 0 } else { q * 2 };
                prop_assert_eq!(r.map(|r| u64::from(r.0)), Ok(expected));
            }
        }
    }

    // --- driver -----------------------------------------------------------------------

    #[test]
    fn probe_identifies_emc2303_and_limits_fans() {
        let (mut dev, mut mock) = driver(&[
            T::write_read(ADDR, vec![0xFE], vec![0x5D]),
            T::write_read(ADDR, vec![0xFD], vec![0x35]),
        ]);
        assert_eq!(dev.probe(), Ok(Variant::Emc2303));
        // Fan 3 does not exist on a three-fan chip: refused without bus traffic.
        assert_eq!(
            dev.read_rpm(3).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        assert_eq!(
            dev.set_duty(3, Duty::FULL).map_err(|e| e.kind()),
            Err(ErrorKind::InvalidArgument)
        );
        dev.release().release();
        mock.done();
    }

    #[test]
    fn probe_rejects_other_vendor_and_returns_bus() {
        let mock = Mock::new(&[
            T::write_read(ADDR, vec![0xFE], vec![0x4D]),
            T::write_read(ADDR, vec![0xFD], vec![0x34]),
        ]);
        let mut keep = mock.clone();
        let Err((bus, e)) = Emc230x::new_checked(I2cSmbus::new(mock), ADDR) else {
            panic!("a Maxim vendor ID must not pass as an EMC230x");
        };
        assert_eq!(e.kind(), ErrorKind::WrongDevice);
        drop(bus);
        keep.done();
    }

    #[test]
    fn read_rpm_swaps_the_tach_word() {
        // Fan 1: tach high at 0x4E. Wire bytes 0x2A (high), 0x30 (low) → 0x2A30.
        let (mut dev, mut mock) = driver(&[T::write_read(ADDR, vec![0x4E], vec![0x2A, 0x30])]);
        assert_eq!(dev.read_rpm(1), Ok(Rpm(5_824)));
        dev.release();
        mock.done();
    }

    #[test]
    fn corrupted_tach_word_is_a_decode_error() {
        let (mut dev, mut mock) = driver(&[T::write_read(ADDR, vec![0x3E], vec![0x00, 0x05])]);
        assert_eq!(
            dev.read_rpm(0).map_err(|e| e.kind()),
            Err(ErrorKind::Decode(DecodeError::Invalid))
        );
        dev.release();
        mock.done();
    }

    #[test]
    fn duty_round_trips_through_the_drive_byte() {
        let (mut dev, mut mock) = driver(&[
            T::write(ADDR, vec![0x50, 128]),
            T::write_read(ADDR, vec![0x50], vec![128]),
            T::write(ADDR, vec![0x70, 255]),
        ]);
        let half = Duty::from_pwm_u8(128);
        dev.set_duty(2, half).unwrap();
        assert_eq!(dev.read_duty(2), Ok(half));
        dev.set_duty(4, Duty::FULL).unwrap();
        dev.release();
        mock.done();
    }

    #[test]
    fn status_registers_become_fan_masks() {
        let (mut dev, mut mock) = driver(&[
            T::write_read(ADDR, vec![0xFE], vec![0x5D]),
            T::write_read(ADDR, vec![0xFD], vec![0x36]),
            // Drive fail on fan 1; reserved high bits set by a glitch are dropped for a
            // two-fan chip.
            T::write_read(ADDR, vec![0x27], vec![0b1110_0010]),
            T::write_read(ADDR, vec![0x25], vec![0b0000_0001]),
            T::write_read(ADDR, vec![0x26], vec![0]),
            T::write_read(ADDR, vec![0x24], vec![0x81]),
        ]);
        dev.probe().unwrap();
        assert_eq!(dev.read_drive_fail(), Ok(FanMask::FAN1));
        let stalled = dev.read_stall().unwrap();
        assert!(stalled.has_fan(0) && !stalled.has_fan(1));
        assert_eq!(dev.read_spin_failure(), Ok(FanMask::empty()));
        assert_eq!(
            dev.read_status(),
            Ok(FanStatus::WATCHDOG_EXPIRED | FanStatus::STALL)
        );
        dev.release();
        mock.done();
    }

    #[test]
    fn watchdog_sets_bit_5_and_keeps_the_rest() {
        let (mut dev, mut mock) = driver(&[
            // Power-on default 0x40 (DIS_TO) → 0x60.
            T::write_read(ADDR, vec![0x20], vec![0x40]),
            T::write(ADDR, vec![0x20, 0x60]),
            // Already on: no write.
            T::write_read(ADDR, vec![0x20], vec![0x60]),
            T::write_read(ADDR, vec![0x20], vec![0x60]),
            T::write_read(ADDR, vec![0x20], vec![0xE3]),
            T::write(ADDR, vec![0x20, 0xC3]),
        ]);
        dev.enable_watchdog().unwrap();
        dev.enable_watchdog().unwrap();
        assert_eq!(dev.watchdog_enabled(), Ok(true));
        dev.disable_watchdog().unwrap();
        dev.release();
        mock.done();
    }

    #[test]
    fn nak_surfaces_as_bus_no_acknowledge() {
        let (mut dev, mut mock) = driver(&[T::write_read(ADDR, vec![0x3E], vec![0, 0])
            .with_error(I2cErrorKind::NoAcknowledge(NoAcknowledgeSource::Address))]);
        assert_eq!(
            dev.read_rpm(0).map_err(|e| e.kind()),
            Err(ErrorKind::Bus(smbus::ErrorKind::NoAcknowledge))
        );
        dev.release();
        mock.done();
    }
}
