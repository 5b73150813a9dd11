//! Intel MSR map and decoders: RAPL addresses, thermal status, TjMax, SMI count
//! (HARDWARE.md §7, §8). Here for comparison hosts and Intel ports; Sovereign's target is
//! AMD EPYC.
//!
//! ## Thermal readout: every consumer masks differently
//!
//! `IA32_THERM_STATUS` bits 22:16 hold how many degrees the core is **below** TjMax. The
//! kernel's consumers disagree on the mask ("Where common write-ups are wrong" 6):
//! turbostat and therm_throt use 7 bits ([`READOUT_MASK_7BIT`]), coretemp 8 bits
//! ([`READOUT_MASK_CORETEMP`], and it ignores the valid bit), perf's
//! `cpu_thermal_margin` 6 bits ([`READOUT_MASK_PERF`], and it reports nothing unless bit
//! 31 says the reading is valid). The mask is therefore a parameter here.
//!
//! ## Log bits
//!
//! The `*_LOG` flags are sticky and cleared by writing 0; the kernel's therm_throt
//! clears them itself. A health daemon must only read them, never clear them.
//!
//! ## RAPL DRAM-domain quirk
//!
//! On some Intel server parts (the kernel lists Haswell-X, Broadwell-X, Skylake-X,
//! Icelake-X/D, Knights Landing/Mill) the DRAM domain ignores the unit register and uses
//! a fixed unit — and the kernel's two subsystems disagree about it: perf forces ESU 16
//! (2⁻¹⁶ J ≈ 15.2588 µJ), powercap forces 15.3 µJ, ≈ 0.27 % apart (HARDWARE.md §7). This
//! crate does not carry a CPU-model list it cannot confirm: a port that knows it runs on
//! such a part builds the DRAM accumulator with
//! [`RaplUnits::from_esu(16)`](super::RaplUnits::from_esu) (perf's choice) and should say
//! so next to the numbers. Likewise, the kernel uses a fixed 1 J unit for the PSYS
//! domain ([`MSR_PLATFORM_ENERGY_STATUS`]) on Sapphire/Emerald Rapids in both subsystems
//! (HARDWARE.md §7): [`RaplUnits::from_esu(0)`](super::RaplUnits::from_esu).

use super::energy::RaplUnits;
use super::{MsrReader, ReadError, read};
use crate::decode::DecodeError;
use crate::units::MilliCelsius;

/// `MSR_SMI_COUNT` (msr-index.h): SMIs since reset in the low 32 bits. Intel only: AMD
/// has no such MSR in the kernel (count the PMU event `ls_smi_rx` instead).
pub const MSR_SMI_COUNT: u32 = 0x34;
/// `MSR_IA32_THERM_STATUS` (msr-index.h): per-core thermal status and readout.
pub const MSR_IA32_THERM_STATUS: u32 = 0x19C;
/// `MSR_IA32_TEMPERATURE_TARGET` (msr-index.h): TjMax in bits 23:16.
pub const MSR_IA32_TEMPERATURE_TARGET: u32 = 0x1A2;
/// `MSR_IA32_PACKAGE_THERM_STATUS` (msr-index.h): package thermal status and readout.
pub const MSR_IA32_PACKAGE_THERM_STATUS: u32 = 0x1B1;
/// `MSR_RAPL_POWER_UNIT` (msr-index.h): same layout as AMD's unit register.
pub const MSR_RAPL_POWER_UNIT: u32 = 0x606;
/// `MSR_PKG_POWER_LIMIT` (msr-index.h). Never written by Sovereign.
pub const MSR_PKG_POWER_LIMIT: u32 = 0x610;
/// `MSR_PKG_ENERGY_STATUS` (msr-index.h): package energy counter (low 32 bits).
pub const MSR_PKG_ENERGY_STATUS: u32 = 0x611;
/// `MSR_PKG_PERF_STATUS` (msr-index.h): package throttled time.
pub const MSR_PKG_PERF_STATUS: u32 = 0x613;
/// `MSR_PKG_POWER_INFO` (msr-index.h): package power range (TDP) in power units.
pub const MSR_PKG_POWER_INFO: u32 = 0x614;
/// `MSR_DRAM_ENERGY_STATUS` (msr-index.h): DRAM energy counter (see the DRAM quirk).
pub const MSR_DRAM_ENERGY_STATUS: u32 = 0x619;
/// `MSR_PP0_ENERGY_STATUS` (msr-index.h): cores (power plane 0) energy counter.
pub const MSR_PP0_ENERGY_STATUS: u32 = 0x639;
/// `MSR_PP1_ENERGY_STATUS` (msr-index.h): uncore/graphics (power plane 1) energy counter.
pub const MSR_PP1_ENERGY_STATUS: u32 = 0x641;
/// `MSR_PLATFORM_ENERGY_STATUS` (msr-index.h): platform (PSYS) energy counter.
pub const MSR_PLATFORM_ENERGY_STATUS: u32 = 0x64D;

/// Readout mask of turbostat and therm_throt: 7 bits (22:16).
pub const READOUT_MASK_7BIT: u8 = 0x7F;
/// Readout mask of coretemp: 8 bits (23:16); coretemp ignores the valid bit.
pub const READOUT_MASK_CORETEMP: u8 = 0xFF;
/// Readout mask of perf's `cpu_thermal_margin`: 6 bits (21:16); valid bit required.
pub const READOUT_MASK_PERF: u8 = 0x3F;

bitflags::bitflags! {
    /// Flag bits of `IA32_THERM_STATUS` / `IA32_PACKAGE_THERM_STATUS` (HARDWARE.md §8).
    /// The digital readout (bits 22:16) is a number, not a flag: see [`digital_readout`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct ThermStatus: u32 {
        /// Bit 0: thermal (PROCHOT) status, currently hot.
        const THERMAL_STATUS = 1 << 0;
        /// Bit 1: PROCHOT log (`THERM_STATUS_PROCHOT_LOG`), sticky.
        const PROCHOT_LOG = 1 << 1;
        /// Bit 2: PROCHOT#/FORCEPR# event (2022+ msr-index.h patch; merge UNCONFIRMED).
        const PROCHOT_EVENT = 1 << 2;
        /// Bit 3: PROCHOT#/FORCEPR# log (2022+ msr-index.h patch; merge UNCONFIRMED).
        const PROCHOT_EVENT_LOG = 1 << 3;
        /// Bit 4: critical-temperature status (2022+ msr-index.h patch; merge UNCONFIRMED).
        const CRITICAL_TEMP_STATUS = 1 << 4;
        /// Bit 5: critical-temperature log (coretemp `crit_alarm`), sticky.
        const CRITICAL_TEMP_LOG = 1 << 5;
        /// Bit 6: threshold-0 status.
        const THRESHOLD0_STATUS = 1 << 6;
        /// Bit 7: threshold-0 log, sticky.
        const THRESHOLD0_LOG = 1 << 7;
        /// Bit 8: threshold-1 status.
        const THRESHOLD1_STATUS = 1 << 8;
        /// Bit 9: threshold-1 log, sticky.
        const THRESHOLD1_LOG = 1 << 9;
        /// Bit 10: power-limit status.
        const POWER_LIMIT_STATUS = 1 << 10;
        /// Bit 26: hardware-feedback interface updated (package register only).
        const HFI_UPDATED = 1 << 26;
        /// Bit 31: the digital readout is valid.
        const READING_VALID = 1 << 31;
    }
}

impl ThermStatus {
    /// The known flags of a raw register value (readout and unknown bits dropped).
    pub const fn from_raw(raw: u64) -> Self {
        Self::from_bits_truncate(raw as u32)
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for ThermStatus {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "ThermStatus({=u32:#x})", self.bits());
    }
}

/// Digital readout (degrees below TjMax) of a thermal-status value, with the consumer's
/// `mask` applied to bits 23:16 (see the module docs for which tool uses which mask).
pub const fn digital_readout(therm_status: u64, mask: u8) -> u8 {
    ((therm_status >> 16) as u8) & mask
}

/// TjMax from `IA32_TEMPERATURE_TARGET` bits 23:16 (HARDWARE.md §8, coretemp). A TjMax of
/// 0 °C cannot be real (the MSR is not implemented or not filled in):
/// [`DecodeError::Invalid`]. Bits 29:24 (TCC offset) are not applied (UNCONFIRMED).
pub const fn decode_tjmax(temperature_target: u64) -> Result<MilliCelsius, DecodeError> {
    let deg = ((temperature_target >> 16) & 0xFF) as i32;
    if deg == 0 {
        Err(DecodeError::Invalid)
    } else {
        Ok(MilliCelsius::from_celsius(deg))
    }
}

/// coretemp's "ttarget": TjMax − bits 15:8 of `IA32_TEMPERATURE_TARGET` (a field the
/// coretemp driver itself calls undocumented). Errors as [`decode_tjmax`].
pub const fn decode_ttarget(temperature_target: u64) -> Result<MilliCelsius, DecodeError> {
    match decode_tjmax(temperature_target) {
        Ok(tjmax) => {
            let below = ((temperature_target >> 8) & 0xFF) as i32;
            Ok(MilliCelsius(tjmax.0 - below * 1000))
        }
        Err(e) => Err(e),
    }
}

/// Temperature = TjMax − readout, with the consumer's `mask`. With `require_valid`
/// (perf's rule) a value without bit 31 set is [`DecodeError::Invalid`]; without it
/// (coretemp's rule) the readout is used as is.
pub const fn decode_temperature(
    therm_status: u64,
    tjmax: MilliCelsius,
    mask: u8,
    require_valid: bool,
) -> Result<MilliCelsius, DecodeError> {
    if require_valid && therm_status & (1 << 31) == 0 {
        return Err(DecodeError::Invalid);
    }
    let below = digital_readout(therm_status, mask) as i32 * 1000;
    Ok(MilliCelsius(tjmax.0.saturating_sub(below)))
}

/// Accumulates `MSR_SMI_COUNT` readings into a total that survives the 32-bit wrap
/// (turbostat masks the MSR to 32 bits; HARDWARE.md §8). Deltas are taken modulo 2³².
///
/// Wrap or reset: a count that goes back (the MSR restarts at a CPU reset or resume)
/// would read modulo 2³² as ≈ 4·10⁹ SMIs. As perf's `msr` PMU sign-extends the delta
/// from bit 31 (HARDWARE.md §8), a step of 2³¹ or more is taken as a **reset**: nothing
/// is added and the value becomes the new baseline. A real step that large (2·10⁹ SMIs
/// between two readings) cannot happen at any plausible reading interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SmiCounter {
    prev: Option<u32>,
    total: u64,
}

impl SmiCounter {
    /// A counter with no baseline.
    pub const fn new() -> Self {
        Self {
            prev: None,
            total: 0,
        }
    }

    /// Feeds one raw `MSR_SMI_COUNT` value. Returns the SMIs since the previous value,
    /// `None` if the value only sets the baseline: the first, or one after a reset (a
    /// step of 2³¹ or more).
    pub fn update(&mut self, raw: u64) -> Option<u32> {
        let now = raw as u32;
        let delta = self
            .prev
            .map(|p| now.wrapping_sub(p))
            // HARDWARE.md §8: perf reads a step ≥ 2³¹ as negative; here it is a reset.
            .filter(|&d| d < 1 << 31);
        self.prev = Some(now);
        if let Some(d) = delta {
            self.total = self.total.saturating_add(u64::from(d));
        }
        delta
    }

    /// SMIs counted since the first value.
    pub const fn total(&self) -> u64 {
        self.total
    }
}

/// Reads the RAPL units and the raw package energy (low 32 bits) of `cpu`'s package.
pub fn read_intel_package_energy<R: MsrReader>(
    r: &mut R,
    cpu: u32,
) -> Result<(u32, RaplUnits), ReadError<R::Error>> {
    let units = RaplUnits::from_raw(read(r, cpu, MSR_RAPL_POWER_UNIT)?);
    let raw = read(r, cpu, MSR_PKG_ENERGY_STATUS)? as u32;
    Ok((raw, units))
}

/// Reads TjMax and `IA32_THERM_STATUS` of `cpu` and returns the core temperature with
/// the given readout `mask` and valid-bit rule (see [`decode_temperature`]).
pub fn read_core_temperature<R: MsrReader>(
    r: &mut R,
    cpu: u32,
    mask: u8,
    require_valid: bool,
) -> Result<MilliCelsius, ReadError<R::Error>> {
    let tjmax = decode_tjmax(read(r, cpu, MSR_IA32_TEMPERATURE_TARGET)?)?;
    let status = read(r, cpu, MSR_IA32_THERM_STATUS)?;
    Ok(decode_temperature(status, tjmax, mask, require_valid)?)
}

/// Reads TjMax and `IA32_PACKAGE_THERM_STATUS` of `cpu`'s package and returns the
/// package temperature (see [`decode_temperature`]).
pub fn read_package_temperature<R: MsrReader>(
    r: &mut R,
    cpu: u32,
    mask: u8,
    require_valid: bool,
) -> Result<MilliCelsius, ReadError<R::Error>> {
    let tjmax = decode_tjmax(read(r, cpu, MSR_IA32_TEMPERATURE_TARGET)?)?;
    let status = read(r, cpu, MSR_IA32_PACKAGE_THERM_STATUS)?;
    Ok(decode_temperature(status, tjmax, mask, require_valid)?)
}

/// Reads the SMI count of `cpu` (low 32 bits).
pub fn read_smi_count<R: MsrReader>(r: &mut R, cpu: u32) -> Result<u32, ReadError<R::Error>> {
    read(r, cpu, MSR_SMI_COUNT).map(|v| v as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msr::{ErrorKind, ReadErrorKind};
    use proptest::prelude::*;

    const TJMAX_100: u64 = 100 << 16;
    /// Readout field bits 23:16 = 0xC5: bit 23 set, bits 22:16 = 0x45 (69), bits 21:16 = 5.
    const STATUS_C5_VALID: u64 = (1 << 31) | (0xC5 << 16);

    #[test]
    fn tjmax_minus_readout_with_each_consumers_mask() {
        let tj = decode_tjmax(TJMAX_100).unwrap();
        assert_eq!(tj, MilliCelsius(100_000));
        // turbostat / therm_throt: 7 bits → 69 below → 31 °C.
        assert_eq!(
            decode_temperature(STATUS_C5_VALID, tj, READOUT_MASK_7BIT, false),
            Ok(MilliCelsius(31_000))
        );
        // coretemp: 8 bits → 197 below → −97 °C.
        assert_eq!(
            decode_temperature(STATUS_C5_VALID, tj, READOUT_MASK_CORETEMP, false),
            Ok(MilliCelsius(-97_000))
        );
        // perf: 6 bits → 5 below → 95 °C.
        assert_eq!(
            decode_temperature(STATUS_C5_VALID, tj, READOUT_MASK_PERF, true),
            Ok(MilliCelsius(95_000))
        );
    }

    #[test]
    fn valid_bit_only_matters_when_required() {
        let tj = MilliCelsius(100_000);
        let not_valid = 20 << 16;
        assert_eq!(
            decode_temperature(not_valid, tj, READOUT_MASK_PERF, true),
            Err(DecodeError::Invalid)
        );
        assert_eq!(
            decode_temperature(not_valid, tj, READOUT_MASK_CORETEMP, false),
            Ok(MilliCelsius(80_000))
        );
    }

    #[test]
    fn tjmax_zero_is_invalid_and_ttarget_subtracts_bits_15_8() {
        assert_eq!(decode_tjmax(0xFF00_FFFF), Err(DecodeError::Invalid));
        // TjMax 105, bits 15:8 = 5 → ttarget 100 °C.
        assert_eq!(
            decode_ttarget((105 << 16) | (5 << 8)),
            Ok(MilliCelsius(100_000))
        );
    }

    #[test]
    fn flags_are_named_per_bit() {
        let s = ThermStatus::from_raw(0x8445_0283);
        assert!(s.contains(
            ThermStatus::THERMAL_STATUS | ThermStatus::PROCHOT_LOG | ThermStatus::READING_VALID
        ));
        assert!(s.contains(
            ThermStatus::THRESHOLD0_LOG | ThermStatus::THRESHOLD1_LOG | ThermStatus::HFI_UPDATED
        ));
        assert!(!s.contains(ThermStatus::CRITICAL_TEMP_LOG));
        assert!(!s.contains(ThermStatus::POWER_LIMIT_STATUS));
        assert!(ThermStatus::from_raw(1 << 26).contains(ThermStatus::HFI_UPDATED));
        // The readout bits are not flags.
        assert_eq!(ThermStatus::from_raw(0x007F_0000), ThermStatus::empty());
    }

    #[test]
    fn smi_count_survives_the_32_bit_wrap() {
        let mut c = SmiCounter::new();
        assert_eq!(c.update(0xAAAA_0000_FFFF_FFFE), None);
        assert_eq!(c.update(0xBBBB_0000_0000_0003), Some(5));
        assert_eq!(c.update(3), Some(0));
        assert_eq!(c.total(), 5);
    }

    #[test]
    fn smi_count_going_back_is_a_reset_not_four_billion_smis() {
        // MSR_SMI_COUNT restarts from 0 at a CPU reset (or S3 resume). Read as a wrap,
        // 1000 → 2 would be 4 294 966 298 SMIs — an SMI storm that never happened.
        let mut c = SmiCounter::new();
        assert_eq!(c.update(990), None);
        assert_eq!(c.update(1000), Some(10));
        assert_eq!(c.update(2), None);
        assert_eq!(c.total(), 10);
        assert_eq!(c.update(7), Some(5));
        assert_eq!(c.total(), 15);
    }

    struct Fake;
    impl MsrReader for Fake {
        type Error = ErrorKind;
        fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, ErrorKind> {
            match (cpu, msr) {
                (0, MSR_IA32_TEMPERATURE_TARGET) => Ok(TJMAX_100),
                (0, MSR_IA32_THERM_STATUS) => Ok(STATUS_C5_VALID),
                (0, MSR_IA32_PACKAGE_THERM_STATUS) => Ok(30 << 16),
                (1, MSR_IA32_TEMPERATURE_TARGET) => Ok(0),
                _ => Err(ErrorKind::Unsupported),
            }
        }
    }

    #[test]
    fn readers_decode_and_report_kinds() {
        assert_eq!(
            read_core_temperature(&mut Fake, 0, READOUT_MASK_7BIT, true),
            Ok(MilliCelsius(31_000))
        );
        assert_eq!(
            read_package_temperature(&mut Fake, 0, READOUT_MASK_7BIT, false),
            Ok(MilliCelsius(70_000))
        );
        let e = read_package_temperature(&mut Fake, 0, READOUT_MASK_PERF, true).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Decode(DecodeError::Invalid));
        let e = read_core_temperature(&mut Fake, 1, READOUT_MASK_7BIT, false).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Decode(DecodeError::Invalid));
        let e = read_smi_count(&mut Fake, 0).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Msr(ErrorKind::Unsupported));
    }

    proptest! {
        #[test]
        fn nothing_panics(raw in any::<u64>(), tt in any::<u64>(), mask in any::<u8>(), valid in any::<bool>(), tj in any::<i32>()) {
            let _ = ThermStatus::from_raw(raw);
            let _ = digital_readout(raw, mask);
            let _ = decode_tjmax(tt);
            let _ = decode_ttarget(tt);
            let _ = decode_temperature(raw, MilliCelsius(tj), mask, valid);
            let mut c = SmiCounter::new();
            c.update(raw);
            c.update(tt);
        }
    }
}
