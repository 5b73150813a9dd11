//! IPMI FRU identity (Platform Management FRU Information Storage Definition v1.0):
//! the common header, the board info area and the product info area, parsed from a FRU
//! image the caller read (an EEPROM dump, a BMC's FRU file). Nothing here writes a FRU.
//!
//! [`Fru::new_checked`] checks the 8-byte common header; [`Fru::board_area`] and
//! [`Fru::product_area`] check their area (version, length, checksum, every field within
//! the area, the end-of-fields marker) and the accessors are infallible afterwards.
//! Chassis, internal-use and multi-record areas are not parsed.
//!
//! ## Format (facts restated from the spec, as its open-source readers lay it out)
//!
//! - Common header, 8 bytes: format version (bits 3:0 = 1), offsets of the internal-use,
//!   chassis, board, product and multi-record areas in multiples of 8 bytes (0 = absent),
//!   a pad byte, and a zero checksum (all 8 bytes sum to 0 mod 256).
//! - Board area: version (1), length in multiples of 8, language code, manufacturing
//!   date/time as minutes since 1996-01-01 00:00 (3 bytes, little-endian, 0 =
//!   unspecified), then type/length fields — manufacturer, product name, serial number,
//!   part number, FRU file ID — then custom fields, the end marker 0xC1, zero padding and
//!   a checksum byte that makes the whole area sum to 0.
//! - Product area: version, length, language, then manufacturer, product name,
//!   part/model number, version, serial number, asset tag, FRU file ID, custom fields,
//!   0xC1, padding, checksum.
//! - Type/length byte: bits 7:6 type — 00 binary, 01 BCD plus, 10 6-bit packed ASCII,
//!   11 8-bit ASCII + Latin-1 when the area's language is English (code 0 or 25), else
//!   2-byte Unicode; bits 5:0 length in bytes. 0xC1 (type 11, length 1) ends the fields.
//!
//! Cross-checked against EDK2 `IpmiFruInformationStorage.h` (common header layout),
//! EDK2's `FRU_END_OF_FIELDS 0xC1`, fwupd's IPMI FRU struct (board area: version,
//! length, language, 24-bit LE mfg date) and google/ecclesia's 6-bit ASCII decoder
//! (first character in the low 6 bits of the first byte; 0x37 0x9A 0x7F = "WHY?").
//!
//! ## Text
//!
//! [`Field::as_ascii`] borrows an 8-bit field that is plain ASCII. [`Field::decode_into`]
//! writes UTF-8 into a caller buffer and handles 8-bit Latin-1 (English areas) and 6-bit
//! packed ASCII; binary, BCD plus and Unicode (non-English 8-bit) fields are
//! [`DecodeError::UnsupportedFormat`] — use [`Field::raw`] for those.

use zerocopy::{FromBytes, Immutable, KnownLayout, Unaligned};

use crate::decode::DecodeError;

/// The type/length byte that ends an area's fields.
pub const END_OF_FIELDS: u8 = 0xC1;
/// 1996-01-01 00:00:00 UTC as Unix seconds, the FRU date epoch.
pub const FRU_EPOCH_UNIX_SECONDS: u64 = 820_454_400;

/// Common header, bytes 0..=7.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
struct CommonHeader {
    format_version: u8,
    internal_use_offset: u8,
    chassis_offset: u8,
    board_offset: u8,
    product_offset: u8,
    multirecord_offset: u8,
    pad: u8,
    checksum: u8,
}

/// Board area header: version, length, language, manufacturing minutes (LE 24-bit).
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
struct BoardHeader {
    format_version: u8,
    length_8: u8,
    language: u8,
    mfg_minutes: [u8; 3],
}

/// Product area header: version, length, language.
#[derive(Debug, FromBytes, KnownLayout, Immutable, Unaligned)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(C)]
struct ProductHeader {
    format_version: u8,
    length_8: u8,
    language: u8,
}

fn zero_checksum_ok(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)) == 0
}

/// A FRU image with a checked common header.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Fru<'a> {
    bytes: &'a [u8],
    header: &'a CommonHeader,
}

impl<'a> Fru<'a> {
    /// Checks the common header: at least 8 bytes ([`DecodeError::Truncated`]), format
    /// version 1 in bits 3:0 ([`DecodeError::UnsupportedFormat`]; a blank 0x00 or 0xFF
    /// EEPROM fails here), zero checksum ([`DecodeError::ChecksumMismatch`]).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, _) =
            CommonHeader::ref_from_prefix(bytes).map_err(|_| DecodeError::Truncated)?;
        if header.format_version & 0x0F != 1 {
            return Err(DecodeError::UnsupportedFormat);
        }
        if !zero_checksum_ok(bytes.get(..8).ok_or(DecodeError::Truncated)?) {
            return Err(DecodeError::ChecksumMismatch);
        }
        Ok(Self { bytes, header })
    }

    /// Byte offset of the board area, `None` if there is none.
    pub fn board_area_offset(&self) -> Option<usize> {
        area_offset(self.header.board_offset)
    }

    /// Byte offset of the product area, `None` if there is none.
    pub fn product_area_offset(&self) -> Option<usize> {
        area_offset(self.header.product_offset)
    }

    /// The board info area, checked; `Ok(None)` if the header says there is none.
    pub fn board_area(&self) -> Result<Option<BoardArea<'a>>, DecodeError> {
        match self.board_area_offset() {
            None => Ok(None),
            Some(off) => {
                BoardArea::new_checked(self.bytes.get(off..).ok_or(DecodeError::Truncated)?)
                    .map(Some)
            }
        }
    }

    /// The product info area, checked; `Ok(None)` if the header says there is none.
    pub fn product_area(&self) -> Result<Option<ProductArea<'a>>, DecodeError> {
        match self.product_area_offset() {
            None => Ok(None),
            Some(off) => {
                ProductArea::new_checked(self.bytes.get(off..).ok_or(DecodeError::Truncated)?)
                    .map(Some)
            }
        }
    }
}

fn area_offset(multiple_of_8: u8) -> Option<usize> {
    if multiple_of_8 == 0 {
        None
    } else {
        Some(usize::from(multiple_of_8) * 8)
    }
}

/// Encoding of a field, from bits 7:6 of its type/length byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FieldType {
    /// 00: binary or unspecified.
    Binary,
    /// 01: BCD plus.
    BcdPlus,
    /// 10: 6-bit ASCII, packed 4 characters in 3 bytes.
    SixBitAscii,
    /// 11: 8-bit ASCII + Latin-1 in English areas, 2-byte Unicode otherwise.
    Text,
}

/// One type/length field of an area.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Field<'a> {
    field_type: FieldType,
    english: bool,
    data: &'a [u8],
}

impl<'a> Field<'a> {
    const EMPTY: Field<'static> = Field {
        field_type: FieldType::Text,
        english: true,
        data: &[],
    };

    /// The field's encoding.
    pub fn field_type(&self) -> FieldType {
        self.field_type
    }

    /// The field's bytes, as stored.
    pub fn raw(&self) -> &'a [u8] {
        self.data
    }

    /// No data bytes (e.g. type/length 0xC0).
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The field as a borrowed string if it is 8-bit text in an English area and every
    /// byte is ASCII; `None` otherwise (try [`Self::decode_into`]).
    pub fn as_ascii(&self) -> Option<&'a str> {
        if self.field_type == FieldType::Text && self.english && self.data.is_ascii() {
            core::str::from_utf8(self.data).ok()
        } else {
            None
        }
    }

    /// Decodes the field as UTF-8 into `buf` and returns the text.
    ///
    /// 8-bit text in an English area is Latin-1 (a byte ≥ 0x80 takes 2 UTF-8 bytes);
    /// 6-bit packed ASCII yields ⌊8·len/6⌋ characters (0x20 + each 6-bit code).
    /// Errors: [`DecodeError::UnsupportedFormat`] for binary, BCD plus and Unicode
    /// fields; [`DecodeError::OutOfRange`] if `buf` is too small (84 bytes hold any
    /// 6-bit field — 63 bytes of 6-bit codes are 84 characters — and 128 any Latin-1
    /// field).
    pub fn decode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, DecodeError> {
        let mut n = 0usize;
        let mut push = |b: u8, buf: &mut [u8]| -> Result<(), DecodeError> {
            let slot = buf.get_mut(n).ok_or(DecodeError::OutOfRange)?;
            *slot = b;
            n += 1;
            Ok(())
        };
        match self.field_type {
            FieldType::Text if self.english => {
                for &b in self.data {
                    if b < 0x80 {
                        push(b, buf)?;
                    } else {
                        // Latin-1 code point b as 2-byte UTF-8.
                        push(0xC0 | (b >> 6), buf)?;
                        push(0x80 | (b & 0x3F), buf)?;
                    }
                }
            }
            FieldType::SixBitAscii => {
                let chars = self.data.len() * 8 / 6;
                for i in 0..chars {
                    let bit = i * 6;
                    let lo = self.data.get(bit / 8).copied().unwrap_or(0);
                    let hi = self.data.get(bit / 8 + 1).copied().unwrap_or(0);
                    let word = (u16::from(hi) << 8) | u16::from(lo);
                    let code = ((word >> (bit % 8)) & 0x3F) as u8;
                    push(0x20 + code, buf)?;
                }
            }
            _ => return Err(DecodeError::UnsupportedFormat),
        }
        let out = buf.get(..n).ok_or(DecodeError::OutOfRange)?;
        core::str::from_utf8(out).map_err(|_| DecodeError::Invalid)
    }
}

/// Splits off one field; `Ok(None)` at the end marker. A field running past `region` is
/// [`DecodeError::Truncated`].
fn next_field<'a>(
    region: &'a [u8],
    english: bool,
) -> Result<Option<(Field<'a>, &'a [u8])>, DecodeError> {
    let (&tl, rest) = region.split_first().ok_or(DecodeError::Truncated)?;
    if tl == END_OF_FIELDS {
        return Ok(None);
    }
    let (data, rest) = rest
        .split_at_checked(usize::from(tl & 0x3F))
        .ok_or(DecodeError::Truncated)?;
    let field_type = match tl >> 6 {
        0 => FieldType::Binary,
        1 => FieldType::BcdPlus,
        2 => FieldType::SixBitAscii,
        _ => FieldType::Text,
    };
    Ok(Some((
        Field {
            field_type,
            english,
            data,
        },
        rest,
    )))
}

/// Checks an area's length and checksum and returns (area bytes, field region).
fn checked_area(bytes: &[u8], length_8: u8, header_len: usize) -> Result<&[u8], DecodeError> {
    let len = usize::from(length_8) * 8;
    if len <= header_len {
        return Err(DecodeError::Invalid);
    }
    let area = bytes.get(..len).ok_or(DecodeError::Truncated)?;
    if !zero_checksum_ok(area) {
        return Err(DecodeError::ChecksumMismatch);
    }
    // Fields live between the header and the final checksum byte.
    area.get(header_len..len - 1).ok_or(DecodeError::Truncated)
}

/// Parses the `N` required fields and validates the custom fields up to the end marker.
fn parse_fields<const N: usize>(
    region: &[u8],
    english: bool,
) -> Result<([Field<'_>; N], &[u8]), DecodeError> {
    let mut fields = [Field::EMPTY; N];
    let mut rest = region;
    for slot in fields.iter_mut() {
        // A required field missing (end marker early) means the area is cut short.
        let (f, r) = next_field(rest, english)?.ok_or(DecodeError::Truncated)?;
        *slot = f;
        rest = r;
    }
    let custom = rest;
    let mut walk = rest;
    while let Some((_, r)) = next_field(walk, english)? {
        walk = r;
    }
    Ok((fields, custom))
}

fn is_english(language: u8) -> bool {
    // Language code 0 (default) and 25 are English.
    language == 0 || language == 25
}

/// The custom fields of an area (already validated, ending at the end marker).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CustomFields<'a> {
    rest: &'a [u8],
    english: bool,
}

impl<'a> Iterator for CustomFields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        match next_field(self.rest, self.english) {
            Ok(Some((f, r))) => {
                self.rest = r;
                Some(f)
            }
            _ => None,
        }
    }
}

/// A checked board info area.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct BoardArea<'a> {
    header: &'a BoardHeader,
    fields: [Field<'a>; 5],
    custom: &'a [u8],
}

impl<'a> BoardArea<'a> {
    /// Checks a board area starting at the first byte of `bytes` (which may run past the
    /// area). Errors: [`DecodeError::Truncated`] if `bytes` is shorter than the area's
    /// length or a field runs past the area or the end marker is missing;
    /// [`DecodeError::UnsupportedFormat`] for a version other than 1;
    /// [`DecodeError::Invalid`] for a length too small to hold the header;
    /// [`DecodeError::ChecksumMismatch`] if the area does not sum to 0.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, _) =
            BoardHeader::ref_from_prefix(bytes).map_err(|_| DecodeError::Truncated)?;
        if header.format_version & 0x0F != 1 {
            return Err(DecodeError::UnsupportedFormat);
        }
        let region = checked_area(bytes, header.length_8, 6)?;
        let (fields, custom) = parse_fields::<5>(region, is_english(header.language))?;
        Ok(Self {
            header,
            fields,
            custom,
        })
    }

    /// Language code (0 or 25 = English).
    pub fn language(&self) -> u8 {
        self.header.language
    }

    /// Manufacturing date/time as minutes since 1996-01-01 00:00 (0 = unspecified).
    pub fn manufacturing_minutes(&self) -> u32 {
        let [a, b, c] = self.header.mfg_minutes;
        u32::from_le_bytes([a, b, c, 0])
    }

    /// Manufacturing date/time as Unix seconds, `None` if unspecified (0).
    pub fn manufactured_unix_seconds(&self) -> Option<u64> {
        match self.manufacturing_minutes() {
            0 => None,
            m => Some(FRU_EPOCH_UNIX_SECONDS + u64::from(m) * 60),
        }
    }

    /// Board manufacturer.
    pub fn manufacturer(&self) -> Field<'a> {
        self.fields[0]
    }
    /// Board product name.
    pub fn product_name(&self) -> Field<'a> {
        self.fields[1]
    }
    /// Board serial number.
    pub fn serial_number(&self) -> Field<'a> {
        self.fields[2]
    }
    /// Board part number.
    pub fn part_number(&self) -> Field<'a> {
        self.fields[3]
    }
    /// FRU file ID.
    pub fn fru_file_id(&self) -> Field<'a> {
        self.fields[4]
    }
    /// Custom (OEM) fields after the required ones.
    pub fn custom_fields(&self) -> CustomFields<'a> {
        CustomFields {
            rest: self.custom,
            english: is_english(self.header.language),
        }
    }
}

/// A checked product info area.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ProductArea<'a> {
    header: &'a ProductHeader,
    fields: [Field<'a>; 7],
    custom: &'a [u8],
}

impl<'a> ProductArea<'a> {
    /// Checks a product area starting at the first byte of `bytes`; errors as
    /// [`BoardArea::new_checked`].
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, _) =
            ProductHeader::ref_from_prefix(bytes).map_err(|_| DecodeError::Truncated)?;
        if header.format_version & 0x0F != 1 {
            return Err(DecodeError::UnsupportedFormat);
        }
        let region = checked_area(bytes, header.length_8, 3)?;
        let (fields, custom) = parse_fields::<7>(region, is_english(header.language))?;
        Ok(Self {
            header,
            fields,
            custom,
        })
    }

    /// Language code (0 or 25 = English).
    pub fn language(&self) -> u8 {
        self.header.language
    }
    /// Product manufacturer.
    pub fn manufacturer(&self) -> Field<'a> {
        self.fields[0]
    }
    /// Product name.
    pub fn product_name(&self) -> Field<'a> {
        self.fields[1]
    }
    /// Product part/model number.
    pub fn part_number(&self) -> Field<'a> {
        self.fields[2]
    }
    /// Product version.
    pub fn version(&self) -> Field<'a> {
        self.fields[3]
    }
    /// Product serial number.
    pub fn serial_number(&self) -> Field<'a> {
        self.fields[4]
    }
    /// Asset tag.
    pub fn asset_tag(&self) -> Field<'a> {
        self.fields[5]
    }
    /// FRU file ID.
    pub fn fru_file_id(&self) -> Field<'a> {
        self.fields[6]
    }
    /// Custom (OEM) fields after the required ones.
    pub fn custom_fields(&self) -> CustomFields<'a> {
        CustomFields {
            rest: self.custom,
            english: is_english(self.header.language),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn checksum(bytes: &[u8]) -> u8 {
        0u8.wrapping_sub(bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b)))
    }

    fn text(out: &mut Vec<u8>, s: &[u8]) {
        out.push(0xC0 | s.len() as u8);
        out.extend_from_slice(s);
    }

    /// Pads `area` (after its end marker) to a multiple of 8 with the checksum last, and
    /// writes the length byte.
    fn finish_area(mut area: Vec<u8>) -> Vec<u8> {
        area.push(END_OF_FIELDS);
        while (area.len() + 1) % 8 != 0 {
            area.push(0);
        }
        area[1] = ((area.len() + 1) / 8) as u8;
        let c = checksum(&area);
        area.push(c);
        area
    }

    fn board_area() -> Vec<u8> {
        // 2024-01-01 00:00 UTC = 14 726 880 minutes after the FRU epoch = 0xE0B6E0.
        let mut a = std::vec![0x01, 0, 0, 0xE0, 0xB6, 0xE0];
        text(&mut a, b"Acme Servers");
        text(&mut a, b"EPYC-2S Board");
        text(&mut a, b"SN0001");
        text(&mut a, b"PN-42");
        a.push(0xC0); // empty FRU file ID
        text(&mut a, b"Rev\xE9"); // custom field, Latin-1 é
        finish_area(a)
    }

    fn product_area() -> Vec<u8> {
        let mut a = std::vec![0x01, 0, 25];
        text(&mut a, b"Acme");
        a.extend_from_slice(&[0x83, 0x37, 0x9A, 0x7F]); // 6-bit "WHY?"
        text(&mut a, b"MODEL-9");
        text(&mut a, b"1.0");
        text(&mut a, b"PSN7");
        a.extend_from_slice(&[0x02, 0xAB, 0xCD]); // binary asset tag
        text(&mut a, b"");
        finish_area(a)
    }

    fn image() -> Vec<u8> {
        let board = board_area();
        let board_off = 1u8;
        let product_off = board_off + (board.len() / 8) as u8;
        let mut img = std::vec![0x01, 0, 0, board_off, product_off, 0, 0];
        img.push(checksum(&img));
        img.extend_from_slice(&board);
        img.extend_from_slice(&product_area());
        img
    }

    #[test]
    fn round_trip_board_and_product() {
        let img = image();
        let fru = Fru::new_checked(&img).unwrap();
        let board = fru.board_area().unwrap().unwrap();
        assert_eq!(board.language(), 0);
        assert_eq!(board.manufacturer().as_ascii(), Some("Acme Servers"));
        assert_eq!(board.product_name().as_ascii(), Some("EPYC-2S Board"));
        assert_eq!(board.serial_number().as_ascii(), Some("SN0001"));
        assert_eq!(board.part_number().as_ascii(), Some("PN-42"));
        assert!(board.fru_file_id().is_empty());
        assert_eq!(board.manufacturing_minutes(), 14_726_880);
        assert_eq!(board.manufactured_unix_seconds(), Some(1_704_067_200));
        let custom: Vec<_> = board.custom_fields().collect();
        assert_eq!(custom.len(), 1);
        assert_eq!(custom[0].as_ascii(), None);
        let mut buf = [0u8; 16];
        assert_eq!(custom[0].decode_into(&mut buf), Ok("Revé"));

        let product = fru.product_area().unwrap().unwrap();
        assert_eq!(product.language(), 25);
        assert_eq!(product.manufacturer().as_ascii(), Some("Acme"));
        assert_eq!(product.product_name().field_type(), FieldType::SixBitAscii);
        assert_eq!(product.product_name().decode_into(&mut buf), Ok("WHY?"));
        assert_eq!(product.part_number().as_ascii(), Some("MODEL-9"));
        assert_eq!(product.version().as_ascii(), Some("1.0"));
        assert_eq!(product.serial_number().as_ascii(), Some("PSN7"));
        assert_eq!(product.asset_tag().raw(), &[0xAB, 0xCD]);
        assert_eq!(
            product.asset_tag().decode_into(&mut buf),
            Err(DecodeError::UnsupportedFormat)
        );
        assert_eq!(product.fru_file_id().as_ascii(), Some(""));
        assert_eq!(product.custom_fields().count(), 0);
    }

    #[test]
    fn six_bit_ascii_leftover_bytes_give_whole_characters() {
        // google/ecclesia vector: one more byte after "WHY?" gives one more character.
        let f = Field {
            field_type: FieldType::SixBitAscii,
            english: true,
            data: &[0x37, 0x9A, 0x7F, 0x66],
        };
        let mut buf = [0u8; 8];
        assert_eq!(f.decode_into(&mut buf), Ok("WHY?F"));
        let mut small = [0u8; 3];
        assert_eq!(f.decode_into(&mut small), Err(DecodeError::OutOfRange));
    }

    #[test]
    fn non_english_text_is_unicode_and_unsupported() {
        let f = Field {
            field_type: FieldType::Text,
            english: false,
            data: b"ab",
        };
        assert_eq!(f.as_ascii(), None);
        assert_eq!(
            f.decode_into(&mut [0u8; 8]),
            Err(DecodeError::UnsupportedFormat)
        );
    }

    #[test]
    fn header_checks() {
        let img = image();
        assert_eq!(
            Fru::new_checked(&img[..7]).unwrap_err(),
            DecodeError::Truncated
        );
        let mut bad = img.clone();
        bad[6] = 1;
        assert_eq!(
            Fru::new_checked(&bad).unwrap_err(),
            DecodeError::ChecksumMismatch
        );
        assert_eq!(
            Fru::new_checked(&[0u8; 64]).unwrap_err(),
            DecodeError::UnsupportedFormat
        );
        assert_eq!(
            Fru::new_checked(&[0xFF; 64]).unwrap_err(),
            DecodeError::UnsupportedFormat
        );
        // No areas: both absent.
        let mut empty = std::vec![0x01, 0, 0, 0, 0, 0, 0];
        empty.push(checksum(&empty));
        let fru = Fru::new_checked(&empty).unwrap();
        assert!(fru.board_area().unwrap().is_none());
        assert!(fru.product_area().unwrap().is_none());
    }

    #[test]
    fn area_checks() {
        let img = image();
        let fru = Fru::new_checked(&img).unwrap();
        // Image cut inside the product area.
        let cut = Fru::new_checked(&img[..img.len() - 3]).unwrap();
        assert_eq!(cut.product_area().unwrap_err(), DecodeError::Truncated);
        assert!(fru.board_area().is_ok());
        // A corrupted byte in the board area.
        let mut bad = img.clone();
        bad[8 + 10] ^= 0x20;
        assert_eq!(
            Fru::new_checked(&bad).unwrap().board_area().unwrap_err(),
            DecodeError::ChecksumMismatch
        );
        // Wrong area version.
        let mut v2 = board_area();
        v2[0] = 0x02;
        assert_eq!(
            BoardArea::new_checked(&v2).unwrap_err(),
            DecodeError::UnsupportedFormat
        );
        // Length 0.
        let zero = [0x01, 0x00, 0x00, 0, 0, 0, 0xC1, 0x3E];
        assert_eq!(
            BoardArea::new_checked(&zero).unwrap_err(),
            DecodeError::Invalid
        );
    }

    #[test]
    fn fields_past_the_area_or_missing_end_marker_are_truncated() {
        // 16-byte board area: manufacturer "AB", then a field (0xE8: text, 40 bytes)
        // that runs past the area.
        let mut a = std::vec![0x01, 2, 0, 0, 0, 0, 0xC2, b'A', b'B', 0xE8];
        a.resize(15, 0);
        let c = checksum(&a);
        a.push(c);
        assert_eq!(
            BoardArea::new_checked(&a).unwrap_err(),
            DecodeError::Truncated
        );
        // End marker before the required fields.
        let mut b = std::vec![0x01, 1, 0, 0, 0, 0, 0xC1];
        let c = checksum(&b);
        b.push(c);
        assert_eq!(
            BoardArea::new_checked(&b).unwrap_err(),
            DecodeError::Truncated
        );
        // All required fields, then no end marker: the padding is read as empty binary
        // fields until the area ends.
        let mut d = std::vec![0x01, 2, 0, 0, 0, 0, 0xC0, 0xC0, 0xC0, 0xC0, 0xC0];
        d.resize(15, 0);
        let c = checksum(&d);
        d.push(c);
        assert_eq!(
            BoardArea::new_checked(&d).unwrap_err(),
            DecodeError::Truncated
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let mut buf = [0u8; 40];
            if let Ok(fru) = Fru::new_checked(&bytes) {
                if let Ok(Some(b)) = fru.board_area() {
                    for f in [b.manufacturer(), b.product_name(), b.serial_number(), b.part_number(), b.fru_file_id()] {
                        let _ = (f.as_ascii(), f.decode_into(&mut buf));
                    }
                    for f in b.custom_fields() {
                        let _ = f.decode_into(&mut buf);
                    }
                    let _ = b.manufactured_unix_seconds();
                }
                if let Ok(Some(p)) = fru.product_area() {
                    let _ = (p.asset_tag().decode_into(&mut buf), p.custom_fields().count());
                }
            }
            // Areas parsed directly from arbitrary bytes, with a fixed checksum so the
            // field walk is reached.
            if bytes.len() >= 8 {
                let mut area = bytes.clone();
                area[0] = 0x01;
                let len = (usize::from(area[1]) * 8).min(area.len());
                if len > 0 {
                    let c = checksum(&area[..len - 1]);
                    area[len - 1] = c;
                }
                if let Ok(b) = BoardArea::new_checked(&area) {
                    let _ = (b.serial_number().decode_into(&mut buf), b.custom_fields().count());
                }
                if let Ok(p) = ProductArea::new_checked(&area) {
                    let _ = (p.product_name().decode_into(&mut buf), p.custom_fields().count());
                }
            }
        }
    }
}
