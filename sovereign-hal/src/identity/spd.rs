//! DDR4 and DDR5 SPD identity: memory type, module maker, serial and part number, parsed
//! from an SPD image the caller read (e.g. through `ee1004`/`spd5118` sysfs `eeprom`
//! files, or page by page over SMBus). Nothing here writes an SPD EEPROM.
//!
//! [`Spd::new_checked`] checks the memory type and the CRC-16 of the base configuration
//! block(s); the accessors are infallible afterwards (smoltcp style), except the part
//! number, whose bytes may not be text.
//!
//! ## Layout (JEDEC SPD annexes, as laid out by open-source decoders)
//!
//! | | DDR4 (byte 2 = 0x0C) | DDR5 (byte 2 = 0x12) |
//! |---|---|---|
//! | CRC-16, stored little-endian | over 0..=125 at 126..=127; block 1 over 128..=253 at 254..=255 | over 0..=509 at 510..=511 |
//! | module manufacturer (JEP106) | 320..=321 | 512..=513 |
//! | module serial number | 325..=328 | 517..=520 |
//! | module part number (ASCII) | 329..=348 (20 bytes) | 521..=550 (30 bytes) |
//! | DRAM manufacturer (JEP106) | 350..=351 | 552..=553 |
//!
//! Sources (facts only, no code taken): illumos `libjedec` headers `spd_ddr4.h`
//! (`SPD_DDR4_CRC_LSB` 0x7E, `SPD_DDR4_BLK1_CRC_START` 0x80 / `_LSB` 0xFE,
//! `SPD_DDR4_MOD_MFG_ID0` 0x140, `SPD_DDR4_MOD_SN` 0x145 (4 bytes), `SPD_DDR4_MOD_PN`
//! 0x149 (20 bytes), `SPD_DDR4_DRAM_MFG_ID0` 0x15E) and `spd_ddr5.h` ("a single CRC
//! calculation that covers bytes 0-509", `SPD_DDR5_CRC_LSB` 0x1FE,
//! `SPD_DDR5_MOD_MFG_ID0` 0x200, `SPD_DDR5_MOD_SN` 0x205, `SPD_DDR5_MOD_PN` 0x209 (30
//! bytes), `SPD_DDR5_DRAM_MFG_ID0` 0x228), citing JESD400-5 and the DDR4 SPD annex;
//! byte 126 = CRC LSB, 127 = MSB in NXP's `DdrSpd.c` (ls1043a-uefi); the CRC is
//! CRC-16 with polynomial 0x1021, initial value 0, MSB first, no final XOR (the
//! CRC-16/XMODEM parameters) as in xCAT's `SPD.pm` `do_crc16`; decode-dimms prints
//! "EEPROM CRC of bytes 0-125" and "128-253" for DDR4.
//!
//! **The identity fields are outside every CRC** (DDR4 320+ and DDR5 512+ are not
//! covered), so the CRC check proves the image is an intact SPD of that type, not that
//! the serial number is right.

use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::decode::DecodeError;

/// Byte offsets, in one place.
mod field {
    use core::ops::Range;

    pub const MEMORY_TYPE: usize = 2;
    pub const DDR4_BASE_CRC_DATA: Range<usize> = 0..126;
    pub const DDR4_BASE_CRC: usize = 126;
    pub const DDR4_BLOCK1_CRC_DATA: Range<usize> = 128..254;
    pub const DDR4_BLOCK1_CRC: usize = 254;
    pub const DDR4_MANUFACTURING: usize = 320;
    pub const DDR5_CRC_DATA: Range<usize> = 0..510;
    pub const DDR5_CRC: usize = 510;
    pub const DDR5_MANUFACTURING: usize = 512;
}

/// Key byte 2 of a DDR4 SDRAM SPD.
pub const MEMORY_TYPE_DDR4: u8 = 0x0C;
/// Key byte 2 of a DDR5 SDRAM SPD.
pub const MEMORY_TYPE_DDR5: u8 = 0x12;

/// DDR4 manufacturing information, bytes 320..=351.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
struct Ddr4Manufacturing {
    module_manufacturer: [u8; 2],
    location: u8,
    date: [u8; 2],
    serial: [u8; 4],
    part_number: [u8; 20],
    revision: u8,
    dram_manufacturer: [u8; 2],
}

/// DDR5 manufacturing information, bytes 512..=553.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
struct Ddr5Manufacturing {
    module_manufacturer: [u8; 2],
    location: u8,
    date: [u8; 2],
    serial: [u8; 4],
    part_number: [u8; 30],
    revision: u8,
    dram_manufacturer: [u8; 2],
}

/// The SDRAM generation of an SPD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MemoryType {
    /// DDR4 SDRAM (key byte 0x0C).
    Ddr4,
    /// DDR5 SDRAM (key byte 0x12).
    Ddr5,
}

/// CRC-16 of SPD data: polynomial 0x1021, initial value 0, MSB first, no final XOR
/// (CRC-16/XMODEM; check value 0x31C3 for "123456789").
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// A JEDEC JEP106 manufacturer code as stored in SPD: a continuation-code count (bank)
/// and an ID within the bank, each byte with an odd-parity bit 7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Jep106 {
    raw: [u8; 2],
}

/// A few JEP106 codes of DIMM makers: (bank, ID without parity, name). Codes from the
/// JEP106 table as restated in memtest86+ `system/jedec_id.h` (JEP106-BA), where e.g.
/// 0x004E is Samsung (bank 1, no continuation code) and 0x0118 is Kingston (bank 2).
const JEP106_NAMES: &[(u8, u8, &str)] = &[
    (1, 0x2C, "Micron"),
    (1, 0x2D, "SK hynix"),
    (1, 0x4E, "Samsung"),
    (2, 0x14, "Smart Modular"),
    (2, 0x18, "Kingston"),
    (2, 0x4F, "Transcend"),
    (2, 0x7A, "Apacer"),
    (3, 0x1E, "Corsair"),
    (3, 0x7E, "Elpida"),
    (4, 0x0B, "Nanya"),
];

impl Jep106 {
    /// From the two SPD bytes: continuation count (with parity), then the ID (with parity).
    pub const fn from_spd_bytes(continuation: u8, id: u8) -> Self {
        Self {
            raw: [continuation, id],
        }
    }

    /// Bank number, 1-based (bank 1 = no continuation code).
    pub const fn bank(self) -> u8 {
        (self.raw[0] & 0x7F) + 1
    }

    /// ID within the bank, parity bit removed.
    pub const fn id(self) -> u8 {
        self.raw[1] & 0x7F
    }

    /// The two bytes as stored.
    pub const fn raw(self) -> [u8; 2] {
        self.raw
    }

    /// Both bytes have odd parity, as JEP106 requires. A blank (0x00/0xFF) or corrupted
    /// code fails this.
    pub const fn parity_ok(self) -> bool {
        self.raw[0].count_ones() % 2 == 1 && self.raw[1].count_ones() % 2 == 1
    }

    /// The maker's name for a few common DIMM makers, `None` for any other code (show
    /// [`Self::bank`] and [`Self::id`] instead).
    pub fn name(self) -> Option<&'static str> {
        if !self.parity_ok() {
            return None;
        }
        JEP106_NAMES
            .iter()
            .find(|(b, i, _)| *b == self.bank() && *i == self.id())
            .map(|(_, _, n)| *n)
    }
}

#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Manufacturing<'a> {
    Ddr4(&'a Ddr4Manufacturing),
    Ddr5(&'a Ddr5Manufacturing),
}

/// A checked DDR4 or DDR5 SPD image.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Spd<'a> {
    manufacturing: Manufacturing<'a>,
}

fn stored_crc(bytes: &[u8], at: usize) -> Result<u16, DecodeError> {
    match bytes.get(at..at + 2) {
        Some(&[lo, hi]) => Ok(u16::from_le_bytes([lo, hi])),
        _ => Err(DecodeError::Truncated),
    }
}

fn check_crc(
    bytes: &[u8],
    data: core::ops::Range<usize>,
    stored_at: usize,
) -> Result<(), DecodeError> {
    let covered = bytes.get(data).ok_or(DecodeError::Truncated)?;
    if crc16(covered) == stored_crc(bytes, stored_at)? {
        Ok(())
    } else {
        Err(DecodeError::ChecksumMismatch)
    }
}

impl<'a> Spd<'a> {
    /// Checks an SPD image: at least 352 bytes (DDR4) or 554 bytes (DDR5), a known
    /// memory type in byte 2, and matching CRCs.
    ///
    /// Errors: [`DecodeError::Truncated`] if the image is too short,
    /// [`DecodeError::UnsupportedFormat`] for other memory types (DDR3, LPDDR…, or a
    /// blank 0xFF image), [`DecodeError::ChecksumMismatch`] if a CRC is wrong (a bad
    /// read, or not an SPD at that address: re-read before trusting it).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let key = *bytes
            .get(field::MEMORY_TYPE)
            .ok_or(DecodeError::Truncated)?;
        let manufacturing = match key {
            MEMORY_TYPE_DDR4 => {
                let tail = bytes
                    .get(field::DDR4_MANUFACTURING..)
                    .ok_or(DecodeError::Truncated)?;
                let (m, _) =
                    Ddr4Manufacturing::ref_from_prefix(tail).map_err(|_| DecodeError::Truncated)?;
                check_crc(bytes, field::DDR4_BASE_CRC_DATA, field::DDR4_BASE_CRC)?;
                check_crc(bytes, field::DDR4_BLOCK1_CRC_DATA, field::DDR4_BLOCK1_CRC)?;
                Manufacturing::Ddr4(m)
            }
            MEMORY_TYPE_DDR5 => {
                let tail = bytes
                    .get(field::DDR5_MANUFACTURING..)
                    .ok_or(DecodeError::Truncated)?;
                let (m, _) =
                    Ddr5Manufacturing::ref_from_prefix(tail).map_err(|_| DecodeError::Truncated)?;
                check_crc(bytes, field::DDR5_CRC_DATA, field::DDR5_CRC)?;
                Manufacturing::Ddr5(m)
            }
            _ => return Err(DecodeError::UnsupportedFormat),
        };
        Ok(Self { manufacturing })
    }

    /// DDR4 or DDR5.
    pub fn memory_type(&self) -> MemoryType {
        match self.manufacturing {
            Manufacturing::Ddr4(_) => MemoryType::Ddr4,
            Manufacturing::Ddr5(_) => MemoryType::Ddr5,
        }
    }

    /// Maker of the module (JEP106).
    pub fn module_manufacturer(&self) -> Jep106 {
        let [a, b] = match self.manufacturing {
            Manufacturing::Ddr4(m) => m.module_manufacturer,
            Manufacturing::Ddr5(m) => m.module_manufacturer,
        };
        Jep106::from_spd_bytes(a, b)
    }

    /// Maker of the DRAM chips (JEP106).
    pub fn dram_manufacturer(&self) -> Jep106 {
        let [a, b] = match self.manufacturing {
            Manufacturing::Ddr4(m) => m.dram_manufacturer,
            Manufacturing::Ddr5(m) => m.dram_manufacturer,
        };
        Jep106::from_spd_bytes(a, b)
    }

    /// Module serial number: the four bytes in EEPROM order, first byte most significant
    /// (so `{:08X}` prints the bytes as they are stored, as decode-dimms shows them).
    pub fn serial_number(&self) -> u32 {
        u32::from_be_bytes(match self.manufacturing {
            Manufacturing::Ddr4(m) => m.serial,
            Manufacturing::Ddr5(m) => m.serial,
        })
    }

    /// The raw part-number bytes (20 for DDR4, 30 for DDR5), untrimmed.
    pub fn part_number_bytes(&self) -> &'a [u8] {
        match self.manufacturing {
            Manufacturing::Ddr4(m) => &m.part_number,
            Manufacturing::Ddr5(m) => &m.part_number,
        }
    }

    /// Module part number with trailing spaces (and trailing NUL padding, which some
    /// makers use instead) removed.
    ///
    /// Rule for non-text bytes: if any remaining byte is not printable ASCII
    /// (0x20..=0x7E), this is [`DecodeError::Invalid`]; use [`Self::part_number_bytes`]
    /// to show the raw bytes instead. No lossy replacement is done.
    pub fn part_number(&self) -> Result<&'a str, DecodeError> {
        let raw = self.part_number_bytes();
        let end = raw
            .iter()
            .rposition(|&b| b != b' ' && b != 0)
            .map_or(0, |i| i + 1);
        let trimmed = raw.get(..end).unwrap_or(&[]);
        if !trimmed.iter().all(|b| (0x20..=0x7E).contains(b)) {
            return Err(DecodeError::Invalid);
        }
        core::str::from_utf8(trimmed).map_err(|_| DecodeError::Invalid)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn put_crc(img: &mut [u8], data: core::ops::Range<usize>, at: usize) {
        let c = crc16(&img[data]).to_le_bytes();
        img[at..at + 2].copy_from_slice(&c);
    }

    fn put_text(img: &mut [u8], at: usize, width: usize, text: &str) {
        img[at..at + width].fill(b' ');
        img[at..at + text.len()].copy_from_slice(text.as_bytes());
    }

    /// A 512-byte DDR4 RDIMM image from Samsung (0x80 0xCE), serial 12 34 56 78.
    fn ddr4_image() -> Vec<u8> {
        let mut img = std::vec![0u8; 512];
        img[0] = 0x23; // 384 bytes used, 512 total
        img[1] = 0x11; // SPD revision 1.1
        img[2] = MEMORY_TYPE_DDR4;
        img[3] = 0x01; // RDIMM
        for (i, b) in img[4..126].iter_mut().enumerate() {
            *b = i as u8; // arbitrary content under the CRC
        }
        img[130] = 0x55;
        img[320] = 0x80;
        img[321] = 0xCE;
        img[325..329].copy_from_slice(&[0x12, 0x34, 0x56, 0x78]);
        put_text(&mut img, 329, 20, "M393A4K40DB3-CWE");
        img[350] = 0x80;
        img[351] = 0xCE;
        put_crc(&mut img, 0..126, 126);
        put_crc(&mut img, 128..254, 254);
        img
    }

    /// A 1024-byte DDR5 image from SK hynix (0x80 0xAD), DRAM by Micron (0x80 0x2C).
    fn ddr5_image() -> Vec<u8> {
        let mut img = std::vec![0u8; 1024];
        img[0] = 0x30;
        img[1] = 0x10;
        img[2] = MEMORY_TYPE_DDR5;
        img[3] = 0x01;
        img[200] = 0xA5;
        img[512] = 0x80;
        img[513] = 0xAD;
        img[517..521].copy_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
        put_text(&mut img, 521, 30, "HMCG94AEBRA109N");
        img[552] = 0x80;
        img[553] = 0x2C;
        put_crc(&mut img, 0..510, 510);
        img
    }

    #[test]
    fn crc16_matches_the_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(&[]), 0);
    }

    #[test]
    fn ddr4_round_trip() {
        let img = ddr4_image();
        let spd = Spd::new_checked(&img).unwrap();
        assert_eq!(spd.memory_type(), MemoryType::Ddr4);
        let m = spd.module_manufacturer();
        assert_eq!((m.bank(), m.id(), m.name()), (1, 0x4E, Some("Samsung")));
        assert_eq!(spd.dram_manufacturer().name(), Some("Samsung"));
        assert_eq!(spd.serial_number(), 0x1234_5678);
        assert_eq!(spd.part_number(), Ok("M393A4K40DB3-CWE"));
        assert_eq!(spd.part_number_bytes().len(), 20);
    }

    #[test]
    fn ddr5_round_trip() {
        let img = ddr5_image();
        let spd = Spd::new_checked(&img).unwrap();
        assert_eq!(spd.memory_type(), MemoryType::Ddr5);
        assert_eq!(spd.module_manufacturer().name(), Some("SK hynix"));
        assert_eq!(spd.dram_manufacturer().name(), Some("Micron"));
        assert_eq!(spd.serial_number(), 0xDEAD_BEEF);
        assert_eq!(spd.part_number(), Ok("HMCG94AEBRA109N"));
        assert_eq!(spd.part_number_bytes().len(), 30);
    }

    #[test]
    fn any_flipped_bit_under_a_crc_is_a_checksum_mismatch() {
        for at in [0usize, 2 + 1, 125, 126, 127, 128, 200, 253, 254, 255] {
            let mut img = ddr4_image();
            img[at] ^= 0x01;
            assert_eq!(
                Spd::new_checked(&img).unwrap_err(),
                DecodeError::ChecksumMismatch,
                "byte {at}"
            );
        }
        for at in [0usize, 3, 509, 510, 511] {
            let mut img = ddr5_image();
            img[at] ^= 0x80;
            assert_eq!(
                Spd::new_checked(&img).unwrap_err(),
                DecodeError::ChecksumMismatch,
                "byte {at}"
            );
        }
    }

    #[test]
    fn identity_bytes_are_outside_the_crc() {
        // A changed serial number still passes: the CRC does not cover it.
        let mut img = ddr4_image();
        img[328] = 0x79;
        assert_eq!(Spd::new_checked(&img).unwrap().serial_number(), 0x1234_5679);
    }

    #[test]
    fn short_unknown_and_blank_images_are_rejected() {
        let img = ddr4_image();
        assert_eq!(
            Spd::new_checked(&img[..351]).unwrap_err(),
            DecodeError::Truncated
        );
        assert!(Spd::new_checked(&img[..352]).is_ok());
        let img5 = ddr5_image();
        assert_eq!(
            Spd::new_checked(&img5[..553]).unwrap_err(),
            DecodeError::Truncated
        );
        assert_eq!(
            Spd::new_checked(&[0x23, 0x11]).unwrap_err(),
            DecodeError::Truncated
        );
        assert_eq!(
            Spd::new_checked(&[0xFF; 512]).unwrap_err(),
            DecodeError::UnsupportedFormat
        );
        let mut ddr3 = ddr4_image();
        ddr3[2] = 0x0B;
        assert_eq!(
            Spd::new_checked(&ddr3).unwrap_err(),
            DecodeError::UnsupportedFormat
        );
    }

    #[test]
    fn part_number_trims_padding_and_rejects_non_ascii() {
        let mut img = ddr4_image();
        put_text(&mut img, 329, 20, "KSM32RD8/16HDR");
        img[329 + 14..349].fill(0);
        assert_eq!(
            Spd::new_checked(&img).unwrap().part_number(),
            Ok("KSM32RD8/16HDR")
        );
        img[329] = 0xC3;
        assert_eq!(
            Spd::new_checked(&img).unwrap().part_number(),
            Err(DecodeError::Invalid)
        );
        img[329..349].fill(b' ');
        assert_eq!(Spd::new_checked(&img).unwrap().part_number(), Ok(""));
    }

    #[test]
    fn jep106_parity_and_banks() {
        // Kingston: one continuation code (0x01, odd parity already), ID 0x18 → 0x98.
        let k = Jep106::from_spd_bytes(0x01, 0x98);
        assert_eq!(
            (k.bank(), k.id(), k.parity_ok(), k.name()),
            (2, 0x18, true, Some("Kingston"))
        );
        // Micron 0x2C has odd parity without bit 7.
        assert_eq!(Jep106::from_spd_bytes(0x80, 0x2C).name(), Some("Micron"));
        // Blank bytes fail parity and have no name.
        assert!(!Jep106::from_spd_bytes(0xFF, 0xFF).parity_ok());
        assert_eq!(Jep106::from_spd_bytes(0x00, 0x4E).name(), None);
        assert_eq!(Jep106::from_spd_bytes(0x80, 0x01).name(), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
            if let Ok(spd) = Spd::new_checked(&bytes) {
                let _ = (spd.memory_type(), spd.serial_number(), spd.part_number());
                let _ = (spd.module_manufacturer().name(), spd.dram_manufacturer().name());
            }
        }

        #[test]
        fn random_images_with_fixed_crcs_parse(mut bytes in proptest::collection::vec(any::<u8>(), 1024), ddr5 in any::<bool>()) {
            if ddr5 {
                bytes[2] = MEMORY_TYPE_DDR5;
                put_crc(&mut bytes, 0..510, 510);
            } else {
                bytes[2] = MEMORY_TYPE_DDR4;
                put_crc(&mut bytes, 0..126, 126);
                put_crc(&mut bytes, 128..254, 254);
            }
            let spd = Spd::new_checked(&bytes).unwrap();
            let _ = (spd.part_number(), spd.module_manufacturer().name());
        }
    }
}
