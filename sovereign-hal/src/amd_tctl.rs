//! AMD Zen CPU temperature (Tctl, Tdie, per-CCD Tccd) decoded from SMN register values
//! the way Linux `k10temp` computes it, and where the per-CCD registers are.
//!
//! ## Who should use this
//!
//! Ports that can read SMN (System Management Network) registers themselves: a BMC
//! through SB-RMI/APML, or ring-0 firmware. Decoding is pure: the port reads the 32-bit
//! value at [`SMN_TCTL`] (or [`CcdLayout::smn_address`]) and hands it here.
//!
//! **A Linux host should not.** It should read k10temp's hwmon files (`temp1_input` =
//! Tctl, `temp3_input`… = Tccd). Reaching SMN from user space means writing the root
//! complex's config index/data pair 0x60/0x64, which current kernels reserve (the write
//! taints the kernel) and which races with the kernel's own locked SMN accesses
//! (HARDWARE.md §6, "How SMN is accessed"). AMD CPU temperature is not an MSR.
//!
//! Facts restated from HARDWARE.md §6 (`drivers/hwmon/k10temp.c`):
//!
//! - Tctl: bits 31:21 in 0.125 °C; subtract 49 °C when bit 19 (range select) is set or
//!   bits 17:16 are both set; a negative result reads 0 except on family 17h parts whose
//!   model name contains "3255";
//! - Tdie = Tctl − a per-model offset, only for a few family 17h desktop parts;
//! - Tccd: (bits 10:0) × 125 − 49 000 m°C, not clamped, meaningful only when bit 11 (valid)
//!   is set; the CCD registers start at 0x59800 + an offset that depends on family and
//!   model ([`ccd_layout`]).

use crate::decode::DecodeError;
use crate::units::MilliCelsius;

/// SMN address of the reported-temperature control register that holds Tctl
/// (`ZEN_REPORTED_TEMP_CTRL_BASE`).
pub const SMN_TCTL: u32 = 0x0005_9800;

/// What a PCI config read returns when nothing answered; the kernel's SMN accessor turns
/// it into an error (HARDWARE.md §6), and so does every decoder here.
pub const READ_FAILED: u32 = 0xFFFF_FFFF;

/// The −49 °C offset of the extended range.
const RANGE_OFFSET: i32 = 49_000;
/// Bit 19, `ZEN_CUR_TEMP_RANGE_SEL_MASK`.
const RANGE_SELECT: u32 = 1 << 19;
/// Bits 17:16, `ZEN_CUR_TEMP_TJ_SEL_MASK`.
const TJ_SELECT: u32 = 0b11 << 16;
/// Tccd valid bit.
const CCD_VALID: u32 = 1 << 11;

/// What to do with a negative Tctl or Tdie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NegativeTemperatures {
    /// Report 0 instead (k10temp's default).
    ClampToZero,
    /// Report the negative value (k10temp's "3255" industrial-part quirk).
    Show,
}

impl NegativeTemperatures {
    /// k10temp's choice for a CPU: [`Show`](Self::Show) for family 17h parts whose
    /// model name (CPUID brand string) contains "3255", otherwise
    /// [`ClampToZero`](Self::ClampToZero).
    pub fn for_cpu(family: u32, model_name: &str) -> Self {
        if family == 0x17 && model_name.contains("3255") {
            Self::Show
        } else {
            Self::ClampToZero
        }
    }
}

/// Tctl before clamping: bits 31:21 × 125 m°C, minus 49 000 m°C when bit 19 is set or
/// bits 17:16 are both set. [`READ_FAILED`] is [`DecodeError::Invalid`].
pub const fn tctl_unclamped_from_register(reg: u32) -> Result<MilliCelsius, DecodeError> {
    if reg == READ_FAILED {
        return Err(DecodeError::Invalid);
    }
    // 11 bits × 125 ≤ 255 875: no overflow.
    let mut mc = (reg >> 21) as i32 * 125;
    if reg & RANGE_SELECT != 0 || reg & TJ_SELECT == TJ_SELECT {
        mc -= RANGE_OFFSET;
    }
    Ok(MilliCelsius(mc))
}

const fn clamp(t: MilliCelsius, negatives: NegativeTemperatures) -> MilliCelsius {
    match negatives {
        NegativeTemperatures::ClampToZero if t.0 < 0 => MilliCelsius(0),
        _ => t,
    }
}

/// Tctl as k10temp reports it (`temp1_input`).
///
/// Where the kernel substitutes 0 for a failed SMN read, this returns
/// [`DecodeError::Invalid`] for [`READ_FAILED`]: a fan controller must not mistake a
/// failed read for a cold CPU.
pub const fn tctl_from_register(
    reg: u32,
    negatives: NegativeTemperatures,
) -> Result<MilliCelsius, DecodeError> {
    match tctl_unclamped_from_register(reg) {
        Ok(t) => Ok(clamp(t, negatives)),
        Err(e) => Err(e),
    }
}

/// The Tdie offset k10temp applies for a CPU, or `None` (no Tdie): family 17h parts
/// whose model name contains "AMD Ryzen 5 1600X", "AMD Ryzen 7 1700X",
/// "AMD Ryzen 7 1800X" (20 °C), "AMD Ryzen 7 2700X" (10 °C), "AMD Ryzen Threadripper 19"
/// or "AMD Ryzen Threadripper 29" (27 °C). EPYC has none (HARDWARE.md §6).
pub fn tdie_offset(family: u32, model_name: &str) -> Option<MilliCelsius> {
    const TABLE: [(&str, i32); 6] = [
        ("AMD Ryzen 5 1600X", 20_000),
        ("AMD Ryzen 7 1700X", 20_000),
        ("AMD Ryzen 7 1800X", 20_000),
        ("AMD Ryzen 7 2700X", 10_000),
        ("AMD Ryzen Threadripper 19", 27_000),
        ("AMD Ryzen Threadripper 29", 27_000),
    ];
    if family != 0x17 {
        return None;
    }
    TABLE
        .iter()
        .find(|(name, _)| model_name.contains(name))
        .map(|&(_, offset)| MilliCelsius(offset))
}

/// Tdie = unclamped Tctl − `offset`, then clamped like Tctl (`temp2_input`).
pub const fn tdie_from_register(
    reg: u32,
    offset: MilliCelsius,
    negatives: NegativeTemperatures,
) -> Result<MilliCelsius, DecodeError> {
    match tctl_unclamped_from_register(reg) {
        Ok(t) => Ok(clamp(t.saturating_sub(offset), negatives)),
        Err(e) => Err(e),
    }
}

/// One CCD's temperature: (bits 10:0) × 125 − 49 000 m°C, not clamped.
///
/// Without the valid bit (11) the CCD is absent or not reporting — k10temp hides such a
/// CCD — and this returns [`DecodeError::Invalid`]; so does [`READ_FAILED`].
pub const fn tccd_from_register(reg: u32) -> Result<MilliCelsius, DecodeError> {
    if reg == READ_FAILED || reg & CCD_VALID == 0 {
        return Err(DecodeError::Invalid);
    }
    Ok(MilliCelsius((reg & 0x7FF) as i32 * 125 - RANGE_OFFSET))
}

/// Where a CPU's per-CCD temperature registers are, and how many k10temp probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CcdLayout {
    /// Offset of CCD 0's register from [`SMN_TCTL`].
    pub offset: u32,
    /// Number of CCD registers probed (4, 8 or 12).
    pub count: u8,
}

impl CcdLayout {
    /// SMN address of CCD `ccd`'s register (0x59800 + offset + 4·ccd); `None` when
    /// `ccd` ≥ [`count`](Self::count).
    pub const fn smn_address(&self, ccd: u8) -> Option<u32> {
        if ccd >= self.count {
            return None;
        }
        // Checked: the fields are public, so an offset can be anything.
        let Some(base) = SMN_TCTL.checked_add(self.offset) else {
            return None;
        };
        base.checked_add(4 * ccd as u32)
    }
}

/// k10temp's CCD table by CPU family and model (HARDWARE.md §6); `None` where k10temp
/// exposes no Tccd (e.g. family 1Ah server parts in the kernels read — a circulating
/// 0x1F0 offset for them is UNCONFIRMED and not used here).
///
/// | family | models | offset | CCDs |
/// |---|---|---|---|
/// | 17h, 18h | 01, 08, 11, 18 | 0x154 | 4 |
/// | 17h, 18h | 31, 47, 60, 68, 71 | 0x154 | 8 |
/// | 17h, 18h | A0–AF | 0x300 | 8 |
/// | 19h | 00–01, 08, 21, 50–5F | 0x154 | 8 |
/// | 19h | 40–4F | 0x300 | 8 |
/// | 19h | 60–7F | 0x308 | 8 |
/// | 19h | 10–1F, A0–AF | 0x300 | 12 |
/// | 1Ah | 40–4F | 0x308 | 8 |
pub const fn ccd_layout(family: u32, model: u32) -> Option<CcdLayout> {
    const fn l(offset: u32, count: u8) -> Option<CcdLayout> {
        Some(CcdLayout { offset, count })
    }
    match family {
        0x17 | 0x18 => match model {
            0x01 | 0x08 | 0x11 | 0x18 => l(0x154, 4),
            0x31 | 0x47 | 0x60 | 0x68 | 0x71 => l(0x154, 8),
            0xA0..=0xAF => l(0x300, 8),
            _ => None,
        },
        0x19 => match model {
            0x00..=0x01 | 0x08 | 0x21 | 0x50..=0x5F => l(0x154, 8),
            0x40..=0x4F => l(0x300, 8),
            0x60..=0x7F => l(0x308, 8),
            0x10..=0x1F | 0xA0..=0xAF => l(0x300, 12),
            _ => None,
        },
        0x1A => match model {
            0x40..=0x4F => l(0x308, 8),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::NegativeTemperatures::{ClampToZero, Show};
    use super::*;
    use proptest::prelude::*;

    /// A Tctl register value from 0.125 °C steps and flag bits.
    const fn tctl(eighths: u32, flags: u32) -> u32 {
        (eighths << 21) | flags
    }

    #[test]
    fn tctl_without_range_select_is_bits_31_to_21_in_eighths() {
        assert_eq!(
            tctl_from_register(tctl(400, 0), ClampToZero),
            Ok(MilliCelsius(50_000))
        );
        assert_eq!(
            tctl_from_register(tctl(401, 0), ClampToZero),
            Ok(MilliCelsius(50_125))
        );
        assert_eq!(
            tctl_from_register(tctl(2047, 0), ClampToZero),
            Ok(MilliCelsius(255_875))
        );
        // Bits 20, 18, 16 and 15:0 change nothing (bit 17 clear, so not both TJ bits).
        assert_eq!(
            tctl_from_register(tctl(400, 0x0015_FFFF), ClampToZero),
            Ok(MilliCelsius(50_000))
        );
    }

    #[test]
    fn range_select_or_both_tj_bits_subtract_49_degrees() {
        assert_eq!(
            tctl_from_register(tctl(800, 1 << 19), ClampToZero),
            Ok(MilliCelsius(51_000))
        );
        assert_eq!(
            tctl_from_register(tctl(800, 0b11 << 16), ClampToZero),
            Ok(MilliCelsius(51_000))
        );
        // Only one of bits 17:16: no offset.
        assert_eq!(
            tctl_from_register(tctl(800, 0b01 << 16), ClampToZero),
            Ok(MilliCelsius(100_000))
        );
        assert_eq!(
            tctl_from_register(tctl(800, 0b10 << 16), ClampToZero),
            Ok(MilliCelsius(100_000))
        );
        // Both conditions at once subtract once.
        assert_eq!(
            tctl_from_register(tctl(800, (1 << 19) | (0b11 << 16)), ClampToZero),
            Ok(MilliCelsius(51_000))
        );
    }

    #[test]
    fn negative_tctl_is_clamped_unless_the_3255_quirk_applies() {
        // 8 eighths = 1 °C, minus 49 = −48 °C.
        let reg = tctl(8, 1 << 19);
        assert_eq!(tctl_unclamped_from_register(reg), Ok(MilliCelsius(-48_000)));
        assert_eq!(tctl_from_register(reg, ClampToZero), Ok(MilliCelsius(0)));
        assert_eq!(tctl_from_register(reg, Show), Ok(MilliCelsius(-48_000)));
    }

    #[test]
    fn the_3255_quirk_needs_family_17h() {
        assert_eq!(
            NegativeTemperatures::for_cpu(0x17, "AMD Ryzen Embedded R3255 ..."),
            Show
        );
        assert_eq!(
            NegativeTemperatures::for_cpu(0x19, "AMD Ryzen Embedded R3255"),
            ClampToZero
        );
        assert_eq!(
            NegativeTemperatures::for_cpu(0x17, "AMD EPYC 7702 64-Core Processor"),
            ClampToZero
        );
    }

    #[test]
    fn a_failed_read_is_not_a_temperature() {
        assert_eq!(
            tctl_from_register(READ_FAILED, ClampToZero),
            Err(DecodeError::Invalid)
        );
        assert_eq!(tccd_from_register(READ_FAILED), Err(DecodeError::Invalid));
        assert_eq!(
            tdie_from_register(READ_FAILED, MilliCelsius(0), Show),
            Err(DecodeError::Invalid)
        );
    }

    #[test]
    fn tdie_offsets_only_for_listed_family_17h_parts() {
        assert_eq!(
            tdie_offset(0x17, "AMD Ryzen 7 1800X Eight-Core Processor"),
            Some(MilliCelsius(20_000))
        );
        assert_eq!(
            tdie_offset(0x17, "AMD Ryzen 7 2700X Eight-Core Processor"),
            Some(MilliCelsius(10_000))
        );
        assert_eq!(
            tdie_offset(0x17, "AMD Ryzen Threadripper 2990WX 32-Core"),
            Some(MilliCelsius(27_000))
        );
        assert_eq!(tdie_offset(0x17, "AMD EPYC 7601 32-Core Processor"), None);
        assert_eq!(tdie_offset(0x19, "AMD Ryzen 7 1800X"), None);
        // Tdie: 70 °C Tctl − 20 °C.
        let reg = tctl(560, 0);
        assert_eq!(
            tdie_from_register(reg, MilliCelsius(20_000), ClampToZero),
            Ok(MilliCelsius(50_000))
        );
        // Offset larger than Tctl clamps like Tctl.
        assert_eq!(
            tdie_from_register(tctl(80, 0), MilliCelsius(27_000), ClampToZero),
            Ok(MilliCelsius(0))
        );
        assert_eq!(
            tdie_from_register(tctl(80, 0), MilliCelsius(27_000), Show),
            Ok(MilliCelsius(-17_000))
        );
    }

    #[test]
    fn tccd_needs_the_valid_bit_and_is_not_clamped() {
        // 0x2D0 = 720 eighths = 90 °C, −49 = 41 °C.
        assert_eq!(tccd_from_register(0x0800 | 0x2D0), Ok(MilliCelsius(41_000)));
        assert_eq!(tccd_from_register(0x2D0), Err(DecodeError::Invalid));
        // 0 eighths: −49 °C, reported as is.
        assert_eq!(tccd_from_register(0x0800), Ok(MilliCelsius(-49_000)));
        assert_eq!(tccd_from_register(0x0FFF), Ok(MilliCelsius(206_875)));
        // Bits above 11 are ignored.
        assert_eq!(
            tccd_from_register(0xFFFF_F000 | 0x0800 | 0x2D1),
            Ok(MilliCelsius(41_125))
        );
    }

    #[test]
    fn ccd_layouts_by_family_and_model() {
        // Rome-class 17h/31h: 8 CCDs from 0x59954.
        let rome = ccd_layout(0x17, 0x31).unwrap();
        assert_eq!(
            rome,
            CcdLayout {
                offset: 0x154,
                count: 8
            }
        );
        assert_eq!(rome.smn_address(0), Some(0x0005_9954));
        assert_eq!(rome.smn_address(7), Some(0x0005_9970));
        assert_eq!(rome.smn_address(8), None);
        // Zen1 4-CCD parts; Hygon 18h follows 17h.
        assert_eq!(
            ccd_layout(0x17, 0x01),
            Some(CcdLayout {
                offset: 0x154,
                count: 4
            })
        );
        assert_eq!(
            ccd_layout(0x18, 0x18),
            Some(CcdLayout {
                offset: 0x154,
                count: 4
            })
        );
        assert_eq!(
            ccd_layout(0x17, 0xA5),
            Some(CcdLayout {
                offset: 0x300,
                count: 8
            })
        );
        // 19h: Milan-class 01h, Genoa-class 11h (12 CCDs at 0x59B00), 61h at 0x59B08.
        assert_eq!(
            ccd_layout(0x19, 0x01),
            Some(CcdLayout {
                offset: 0x154,
                count: 8
            })
        );
        let genoa = ccd_layout(0x19, 0x11).unwrap();
        assert_eq!(
            genoa,
            CcdLayout {
                offset: 0x300,
                count: 12
            }
        );
        assert_eq!(genoa.smn_address(0), Some(0x0005_9B00));
        assert_eq!(genoa.smn_address(11), Some(0x0005_9B2C));
        assert_eq!(
            ccd_layout(0x19, 0xA0),
            Some(CcdLayout {
                offset: 0x300,
                count: 12
            })
        );
        assert_eq!(
            ccd_layout(0x19, 0x44),
            Some(CcdLayout {
                offset: 0x300,
                count: 8
            })
        );
        assert_eq!(
            ccd_layout(0x19, 0x61).unwrap().smn_address(0),
            Some(0x0005_9B08)
        );
        assert_eq!(
            ccd_layout(0x19, 0x75),
            Some(CcdLayout {
                offset: 0x308,
                count: 8
            })
        );
        assert_eq!(
            ccd_layout(0x1A, 0x44),
            Some(CcdLayout {
                offset: 0x308,
                count: 8
            })
        );
    }

    #[test]
    fn models_without_ccd_support() {
        assert_eq!(
            ccd_layout(0x1A, 0x02),
            None,
            "Turin-class: no CCD table in the kernels read"
        );
        assert_eq!(ccd_layout(0x1A, 0x11), None);
        assert_eq!(ccd_layout(0x17, 0x30), None);
        assert_eq!(ccd_layout(0x19, 0x02), None);
        assert_eq!(ccd_layout(0x19, 0x30), None);
        assert_eq!(ccd_layout(0x15, 0x01), None);
    }

    proptest! {
        #[test]
        fn no_register_value_panics(reg: u32, offset: i32, family: u32, model: u32, ccd: u8) {
            for n in [ClampToZero, Show] {
                if let Ok(t) = tctl_from_register(reg, n) {
                    prop_assert!((-49_000..=255_875).contains(&t.0));
                }
                let _ = tdie_from_register(reg, MilliCelsius(offset), n);
            }
            if let Ok(t) = tccd_from_register(reg) {
                prop_assert!((-49_000..=206_875).contains(&t.0));
            }
            if let Some(l) = ccd_layout(family, model) {
                let _ = l.smn_address(ccd);
            }
            // A hand-built layout with any offset must not overflow either.
            let _ = CcdLayout { offset: reg, count: u8::MAX }.smn_address(ccd);
        }
    }
}
