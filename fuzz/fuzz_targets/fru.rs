//! The IPMI FRU parser on arbitrary images.
//!
//! First byte: bit 0 fixes the common-header checksum, bit 1 the board area's, bit 2 the
//! product area's (each recomputed before parsing, so the fuzzer reaches the fields);
//! the second byte sizes a small output buffer for `decode_into`. Then the image.
//!
//! Checked beyond "no panic": a header with version 1 and a right checksum parses;
//! absent areas are `Ok(None)`; every field decodes to exactly as many characters as its
//! encoding promises (Latin-1: one per byte; 6-bit: ⌊8·len/6⌋ in 0x20..=0x5F), into a
//! buffer that is too small only when the text does not fit; `as_ascii` agrees with
//! `decode_into`; the manufacturing date follows the 1996 epoch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovereign_hal::decode::DecodeError;
use sovereign_hal::identity::fru::{self, Field, FieldType, Fru};

/// Makes `img[start..start + len]` sum to zero by adjusting its last byte.
fn fix_checksum(img: &mut [u8], start: usize, len: usize) {
    let Some(area) = start
        .checked_add(len)
        .and_then(|end| img.get_mut(start..end))
    else {
        return;
    };
    let Some((last, body)) = area.split_last_mut() else {
        return;
    };
    let sum = body.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    *last = sum.wrapping_neg();
}

/// Fixes the checksum of the area whose offset (in 8-byte units) is header byte `slot`.
fn fix_area(img: &mut [u8], slot: usize) {
    let Some(&off8) = img.get(slot) else { return };
    let start = usize::from(off8) * 8;
    if off8 == 0 {
        return;
    }
    if let Some(&len8) = img.get(start + 1) {
        fix_checksum(img, start, usize::from(len8) * 8);
    }
}

fn check_field(f: &Field<'_>, english: bool, small_buf: usize) {
    let raw = f.raw();
    assert!(raw.len() <= 63, "a type/length byte holds at most 63 bytes");
    assert_eq!(f.is_empty(), raw.is_empty());

    // The number of UTF-8 bytes and characters this field decodes to, if it decodes.
    let expected: Option<(usize, usize)> = match f.field_type() {
        FieldType::Text if english => Some((
            raw.iter().map(|&b| if b < 0x80 { 1 } else { 2 }).sum(),
            raw.len(),
        )),
        FieldType::SixBitAscii => Some((raw.len() * 8 / 6, raw.len() * 8 / 6)),
        _ => None,
    };

    let mut big = [0u8; 128];
    let decoded = f.decode_into(&mut big);
    match expected {
        None => {
            assert_eq!(decoded, Err(DecodeError::UnsupportedFormat));
            assert_eq!(f.as_ascii(), None);
        }
        Some((bytes, chars)) => {
            let text = decoded.expect("a Latin-1 or 6-bit field fits 128 bytes");
            assert_eq!(text.len(), bytes);
            assert_eq!(text.chars().count(), chars);
            if f.field_type() == FieldType::SixBitAscii {
                assert!(text.bytes().all(|b| (0x20..=0x5F).contains(&b)), "{text:?}");
            }
            if let Some(ascii) = f.as_ascii() {
                assert_eq!(ascii, text);
                assert_eq!(ascii.as_bytes(), raw);
            }
            // A smaller buffer fails exactly when the text does not fit.
            let mut small = vec![0u8; small_buf];
            match f.decode_into(&mut small) {
                Ok(t) => {
                    assert!(bytes <= small_buf);
                    assert_eq!(t, text);
                }
                Err(e) => {
                    assert_eq!(e, DecodeError::OutOfRange);
                    assert!(bytes > small_buf);
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let [flags, small_buf, image @ ..] = data else {
        return;
    };
    let mut img = image.to_vec();
    if flags & 2 != 0 {
        fix_area(&mut img, 3);
    }
    if flags & 4 != 0 {
        fix_area(&mut img, 4);
    }
    if flags & 1 != 0 {
        fix_checksum(&mut img, 0, 8);
    }
    let small_buf = usize::from(*small_buf % 130);

    let parsed = Fru::new_checked(&img);
    if img.len() >= 8 && img[0] & 0x0F == 1 && flags & 1 != 0 {
        assert!(parsed.is_ok(), "{parsed:?}");
    }
    let Ok(fru) = parsed else { return };
    assert!(img.len() >= 8);
    assert_eq!(img[..8].iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0);

    assert_eq!(
        fru.board_area_offset(),
        (img[3] != 0).then(|| usize::from(img[3]) * 8)
    );
    assert_eq!(
        fru.product_area_offset(),
        (img[4] != 0).then(|| usize::from(img[4]) * 8)
    );

    match fru.board_area() {
        Ok(None) => assert_eq!(img[3], 0),
        Ok(Some(board)) => {
            let english = matches!(board.language(), 0 | 25);
            match (
                board.manufacturing_minutes(),
                board.manufactured_unix_seconds(),
            ) {
                (0, None) => {}
                (m, Some(s)) => {
                    assert!(m > 0 && m < 1 << 24);
                    assert_eq!(s, fru::FRU_EPOCH_UNIX_SECONDS + u64::from(m) * 60);
                }
                (m, s) => panic!("minutes {m} gave {s:?}"),
            }
            for f in [
                board.manufacturer(),
                board.product_name(),
                board.serial_number(),
                board.part_number(),
                board.fru_file_id(),
            ] {
                check_field(&f, english, small_buf);
            }
            let area_len = usize::from(img[usize::from(img[3]) * 8 + 1]) * 8;
            let mut n = 0;
            for f in board.custom_fields() {
                check_field(&f, english, small_buf);
                n += 1;
                assert!(n <= area_len, "custom fields do not end");
            }
        }
        Err(_) => {}
    }

    match fru.product_area() {
        Ok(None) => assert_eq!(img[4], 0),
        Ok(Some(product)) => {
            let english = matches!(product.language(), 0 | 25);
            for f in [
                product.manufacturer(),
                product.product_name(),
                product.part_number(),
                product.version(),
                product.serial_number(),
                product.asset_tag(),
                product.fru_file_id(),
            ] {
                check_field(&f, english, small_buf);
            }
            let area_len = usize::from(img[usize::from(img[4]) * 8 + 1]) * 8;
            let mut n = 0;
            for f in product.custom_fields() {
                check_field(&f, english, small_buf);
                n += 1;
                assert!(n <= area_len, "custom fields do not end");
            }
        }
        Err(_) => {}
    }
});
