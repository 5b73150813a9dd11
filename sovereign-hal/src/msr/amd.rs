//! AMD MSR map and decoders: RAPL energy and P-states (HARDWARE.md §7, §8).
//!
//! There is no AMD temperature MSR here, on purpose: see the parent module's docs.
//!
//! Energy: read [`MSR_AMD_RAPL_POWER_UNIT`] once for the units, then the low 32 bits of
//! [`MSR_AMD_PKG_ENERGY_STATUS`] (per package) or [`MSR_AMD_CORE_ENERGY_STATUS`] (per
//! core) often enough, and feed them to an [`EnergyAccumulator`](super::EnergyAccumulator).
//!
//! P-states: [`MSR_AMD_PERF_STATUS`] holds an **index**, not a frequency ("Where common
//! write-ups are wrong" 15); the definition MSR of that index gives a nominal frequency,
//! and the real one needs APERF/MPERF ([`super::aperf`]).

use super::energy::RaplUnits;
use super::{MsrReader, ReadError, read};
use crate::decode::DecodeError;
use crate::units::MegaHertz;

/// `MSR_AMD_RAPL_POWER_UNIT` (msr-index.h): RAPL power/energy/time units. **Not** a
/// temperature register, whatever web write-ups say.
pub const MSR_AMD_RAPL_POWER_UNIT: u32 = 0xC001_0299;
/// `MSR_AMD_CORE_ENERGY_STATUS` (msr-index.h): per-core energy counter (low 32 bits).
pub const MSR_AMD_CORE_ENERGY_STATUS: u32 = 0xC001_029A;
/// `MSR_AMD_PKG_ENERGY_STATUS` (msr-index.h): per-package energy counter (low 32 bits).
pub const MSR_AMD_PKG_ENERGY_STATUS: u32 = 0xC001_029B;
/// PStateCurLim (AMD's register name; cpupower reads it, HARDWARE.md §8 — no
/// msr-index.h name is confirmed for it): bits 6:4 give the highest P-state index, i.e.
/// the slowest P-state.
pub const MSR_AMD_PSTATE_CUR_LIMIT: u32 = 0xC001_0061;
/// `MSR_AMD_PERF_CTL` (msr-index.h): P-state control. Never written by Sovereign.
pub const MSR_AMD_PERF_CTL: u32 = 0xC001_0062;
/// `MSR_AMD_PERF_STATUS` (msr-index.h): current P-state index in bits 2:0.
pub const MSR_AMD_PERF_STATUS: u32 = 0xC001_0063;
/// `MSR_AMD_PSTATE_DEF_BASE` (msr-index.h): P-state *i* is defined at this + *i*.
pub const MSR_AMD_PSTATE_DEF_BASE: u32 = 0xC001_0064;
/// `MSR_F17H_IRPERF` (msr-index.h): retired-instructions counter.
pub const MSR_F17H_IRPERF: u32 = 0xC000_00E9;

/// Number of P-state definition MSRs addressable by the 3-bit index fields of
/// [`MSR_AMD_PERF_STATUS`] and [`MSR_AMD_PSTATE_CUR_LIMIT`].
pub const PSTATE_COUNT: u8 = 8;

/// The MSR holding P-state definition `index`, or `None` if `index` ≥ [`PSTATE_COUNT`].
pub const fn pstate_def_msr(index: u8) -> Option<u32> {
    if index < PSTATE_COUNT {
        Some(MSR_AMD_PSTATE_DEF_BASE + index as u32)
    } else {
        None
    }
}

/// Highest allowed P-state index from PStateCurLim: (raw >> 4) & 7, as cpupower reads it
/// (HARDWARE.md §8).
pub const fn decode_pstate_max_index(raw: u64) -> u8 {
    ((raw >> 4) & 0x7) as u8
}

/// Current P-state **index** from `MSR_AMD_PERF_STATUS` bits 2:0 (HARDWARE.md §8).
///
/// UNCONFIRMED on Zen: the field is evidenced by pre-Zen kernel code (powernow-k8,
/// `HW_PSTATE_MASK`) and Xen only. It is an index, never a frequency.
pub const fn decode_current_pstate_index(raw: u64) -> u8 {
    (raw & 0x7) as u8
}

/// Layout of a P-state definition MSR, which depends on the CPU family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PStateLayout {
    /// Families 17h and 19h (Zen 1–4): FID bits 7:0, DID bits 13:8, MHz = 200 × FID / DID.
    Family17h19h,
    /// Family 1Ah and later (Zen 5): FID bits 11:0, MHz = 5 × FID if FID > 0x0F, else 0.
    Family1Ah,
}

impl PStateLayout {
    /// The layout for a CPU family (CPUID base + extended family), as cpupower picks it;
    /// `None` for families before 17h, whose layout this crate does not decode.
    pub const fn for_family(family: u32) -> Option<Self> {
        match family {
            0x17 | 0x19 => Some(Self::Family17h19h),
            f if f >= 0x1A => Some(Self::Family1Ah),
            _ => None,
        }
    }
}

/// A P-state definition MSR value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PStateDef {
    raw: u64,
    layout: PStateLayout,
}

impl PStateDef {
    /// Wraps a raw definition value read from `MSR_AMD_PSTATE_DEF_BASE + i`.
    pub const fn new(raw: u64, layout: PStateLayout) -> Self {
        Self { raw, layout }
    }

    /// Bit 63: this P-state is enabled (cpupower skips disabled ones).
    pub const fn enabled(self) -> bool {
        self.raw >> 63 != 0
    }

    /// Frequency ID: bits 7:0 (17h/19h) or 11:0 (1Ah).
    pub const fn fid(self) -> u16 {
        match self.layout {
            PStateLayout::Family17h19h => (self.raw & 0xFF) as u16,
            PStateLayout::Family1Ah => (self.raw & 0xFFF) as u16,
        }
    }

    /// Divisor ID: bits 13:8 on 17h/19h; `None` on 1Ah, which has no divisor.
    pub const fn did(self) -> Option<u8> {
        match self.layout {
            PStateLayout::Family17h19h => Some(((self.raw >> 8) & 0x3F) as u8),
            PStateLayout::Family1Ah => None,
        }
    }

    /// Nominal core frequency of this P-state, the way cpupower computes it
    /// (HARDWARE.md §8), whether or not it is enabled:
    /// - 17h/19h: 200 × FID / DID MHz (integer division); DID 0 →
    ///   [`DecodeError::Invalid`] (a division by zero, not a frequency);
    /// - 1Ah: 5 × FID MHz if FID > 0x0F, else 0 MHz (cpupower's rule, kept).
    pub const fn frequency(self) -> Result<MegaHertz, DecodeError> {
        let fid = self.fid() as u32;
        match self.layout {
            PStateLayout::Family17h19h => {
                let did = ((self.raw >> 8) & 0x3F) as u32;
                match (200 * fid).checked_div(did) {
                    Some(mhz) => Ok(MegaHertz(mhz)),
                    None => Err(DecodeError::Invalid),
                }
            }
            PStateLayout::Family1Ah => {
                if fid > 0x0F {
                    Ok(MegaHertz(5 * fid))
                } else {
                    Ok(MegaHertz(0))
                }
            }
        }
    }
}

/// Nominal frequency of an enabled P-state, `Ok(None)` if it is disabled (bit 63 clear).
pub const fn decode_pstate_frequency(
    raw: u64,
    layout: PStateLayout,
) -> Result<Option<MegaHertz>, DecodeError> {
    let def = PStateDef::new(raw, layout);
    if !def.enabled() {
        return Ok(None);
    }
    match def.frequency() {
        Ok(f) => Ok(Some(f)),
        Err(e) => Err(e),
    }
}

/// Reads and decodes the RAPL unit register on `cpu`.
pub fn read_amd_rapl_units<R: MsrReader>(
    r: &mut R,
    cpu: u32,
) -> Result<RaplUnits, ReadError<R::Error>> {
    read(r, cpu, MSR_AMD_RAPL_POWER_UNIT).map(RaplUnits::from_raw)
}

/// Reads the package energy counter of the package `cpu` belongs to: the raw low 32 bits
/// and the units to convert them. Feed the raw value to an
/// [`EnergyAccumulator`](super::EnergyAccumulator).
pub fn read_amd_package_energy<R: MsrReader>(
    r: &mut R,
    cpu: u32,
) -> Result<(u32, RaplUnits), ReadError<R::Error>> {
    let units = read_amd_rapl_units(r, cpu)?;
    // HARDWARE.md §7: only the low 32 bits count.
    let raw = read(r, cpu, MSR_AMD_PKG_ENERGY_STATUS)? as u32;
    Ok((raw, units))
}

/// Reads the core energy counter of `cpu`'s core: raw low 32 bits and units.
pub fn read_amd_core_energy<R: MsrReader>(
    r: &mut R,
    cpu: u32,
) -> Result<(u32, RaplUnits), ReadError<R::Error>> {
    let units = read_amd_rapl_units(r, cpu)?;
    let raw = read(r, cpu, MSR_AMD_CORE_ENERGY_STATUS)? as u32;
    Ok((raw, units))
}

/// Reads the current P-state index of `cpu` (UNCONFIRMED on Zen, see
/// [`decode_current_pstate_index`]).
pub fn read_current_pstate_index<R: MsrReader>(
    r: &mut R,
    cpu: u32,
) -> Result<u8, ReadError<R::Error>> {
    read(r, cpu, MSR_AMD_PERF_STATUS).map(decode_current_pstate_index)
}

/// Reads P-state definition `index` of `cpu` and returns its nominal frequency, `None` if
/// the state is disabled. `index` ≥ [`PSTATE_COUNT`] is
/// [`DecodeError::OutOfRange`] (nothing is read).
pub fn read_pstate_frequency<R: MsrReader>(
    r: &mut R,
    cpu: u32,
    index: u8,
    layout: PStateLayout,
) -> Result<Option<MegaHertz>, ReadError<R::Error>> {
    let msr = pstate_def_msr(index).ok_or(ReadError::Decode(DecodeError::OutOfRange))?;
    let raw = read(r, cpu, msr)?;
    decode_pstate_frequency(raw, layout).map_err(ReadError::Decode)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::msr::{ErrorKind, ReadErrorKind};
    use proptest::prelude::*;
    use std::string::ToString;

    const ENABLED: u64 = 1 << 63;

    /// A fake MSR file: a few (cpu, msr, value) entries; anything else is Unsupported.
    struct FakeMsrs(&'static [(u32, u32, u64)]);

    impl MsrReader for FakeMsrs {
        type Error = ErrorKind;
        fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, ErrorKind> {
            self.0
                .iter()
                .find(|(c, m, _)| *c == cpu && *m == msr)
                .map(|(_, _, v)| *v)
                .ok_or(ErrorKind::Unsupported)
        }
    }

    #[test]
    fn zen_pstate_is_200_fid_over_did() {
        // FID 0x78 (120), DID 8: 200 × 120 / 8 = 3000 MHz.
        let raw = ENABLED | (8 << 8) | 0x78;
        assert_eq!(
            decode_pstate_frequency(raw, PStateLayout::Family17h19h),
            Ok(Some(MegaHertz(3000)))
        );
        // FID 0x7C (124), DID 10: 2480 MHz; integer division: FID 100, DID 12 → 1666.
        assert_eq!(
            PStateDef::new((10 << 8) | 0x7C, PStateLayout::Family17h19h).frequency(),
            Ok(MegaHertz(2480))
        );
        assert_eq!(
            PStateDef::new((12 << 8) | 100, PStateLayout::Family17h19h).frequency(),
            Ok(MegaHertz(1666))
        );
    }

    #[test]
    fn zen_did_zero_is_an_error_not_a_frequency() {
        assert_eq!(
            decode_pstate_frequency(ENABLED | 0x78, PStateLayout::Family17h19h),
            Err(DecodeError::Invalid)
        );
        // A disabled all-zero slot is simply disabled.
        assert_eq!(
            decode_pstate_frequency(0, PStateLayout::Family17h19h),
            Ok(None)
        );
    }

    #[test]
    fn family_1ah_pstate_is_5_fid_with_small_fids_zero() {
        // FID 0x2EE (750): 3750 MHz. DID bits would be part of FID on 1Ah: bits 11:8 count.
        let raw = ENABLED | 0x2EE;
        assert_eq!(
            decode_pstate_frequency(raw, PStateLayout::Family1Ah),
            Ok(Some(MegaHertz(3750)))
        );
        assert_eq!(PStateDef::new(raw, PStateLayout::Family1Ah).did(), None);
        assert_eq!(
            decode_pstate_frequency(ENABLED | 0x0F, PStateLayout::Family1Ah),
            Ok(Some(MegaHertz(0)))
        );
        assert_eq!(
            decode_pstate_frequency(ENABLED | 0x10, PStateLayout::Family1Ah),
            Ok(Some(MegaHertz(80)))
        );
        // Bits above 11 are not FID.
        assert_eq!(
            PStateDef::new(ENABLED | 0xF_F2EE, PStateLayout::Family1Ah).fid(),
            0x2EE
        );
    }

    #[test]
    fn layout_follows_family() {
        assert_eq!(
            PStateLayout::for_family(0x17),
            Some(PStateLayout::Family17h19h)
        );
        assert_eq!(
            PStateLayout::for_family(0x19),
            Some(PStateLayout::Family17h19h)
        );
        assert_eq!(
            PStateLayout::for_family(0x1A),
            Some(PStateLayout::Family1Ah)
        );
        assert_eq!(PStateLayout::for_family(0x18), None);
        assert_eq!(PStateLayout::for_family(0x10), None);
    }

    #[test]
    fn index_fields() {
        assert_eq!(decode_pstate_max_index(0x0000_0000_0000_0020), 2);
        assert_eq!(decode_pstate_max_index(u64::MAX), 7);
        assert_eq!(decode_current_pstate_index(0xFFFF_FFFF_FFFF_FFF9), 1);
        assert_eq!(pstate_def_msr(0), Some(0xC001_0064));
        assert_eq!(pstate_def_msr(7), Some(0xC001_006B));
        assert_eq!(pstate_def_msr(8), None);
    }

    #[test]
    fn package_energy_reader_keeps_low_32_bits_and_units() {
        let mut r = FakeMsrs(&[
            (0, MSR_AMD_RAPL_POWER_UNIT, 0x000A_1003),
            (0, MSR_AMD_PKG_ENERGY_STATUS, 0xDEAD_0000_1234_5678),
        ]);
        let (raw, units) = read_amd_package_energy(&mut r, 0).unwrap();
        assert_eq!(raw, 0x1234_5678);
        assert_eq!(units.energy_status_unit(), 16);
    }

    #[test]
    fn reader_errors_keep_their_kind() {
        let mut r = FakeMsrs(&[(0, MSR_AMD_RAPL_POWER_UNIT, 0x000A_1003)]);
        let e = read_amd_core_energy(&mut r, 0).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Msr(ErrorKind::Unsupported));
        // The message names the CPU and MSR and says what to do.
        let msg = e.to_string();
        assert!(
            msg.contains("CPU 0 does not implement MSR 0xc001029a"),
            "{msg}"
        );
        assert!(msg.contains("check the vendor and family"), "{msg}");
        let mut r = FakeMsrs(&[(3, MSR_AMD_PSTATE_DEF_BASE + 1, ENABLED | 0x78)]);
        let e = read_pstate_frequency(&mut r, 3, 1, PStateLayout::Family17h19h).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Decode(DecodeError::Invalid));
        let e = read_pstate_frequency(&mut r, 3, 9, PStateLayout::Family17h19h).unwrap_err();
        assert_eq!(e.kind(), ReadErrorKind::Decode(DecodeError::OutOfRange));
    }

    proptest! {
        #[test]
        fn nothing_panics_on_any_value(raw in any::<u64>(), family in any::<u32>()) {
            for layout in [PStateLayout::Family17h19h, PStateLayout::Family1Ah] {
                let _ = decode_pstate_frequency(raw, layout);
                let d = PStateDef::new(raw, layout);
                let _ = (d.fid(), d.did(), d.enabled(), d.frequency());
            }
            let _ = PStateLayout::for_family(family);
            let _ = (decode_pstate_max_index(raw), decode_current_pstate_index(raw));
        }
    }
}
