//! The DDR4/DDR5 SPD parser on arbitrary images.
//!
//! First byte: bit 0 set ⇒ the CRCs are recomputed and stored before parsing, so the
//! fuzzer gets past the CRC check and reaches the identity accessors. Then the image.
//!
//! Checked beyond "no panic": a CRC-correct image of a known type that is long enough
//! parses; the part number is trimmed printable ASCII; manufacturer names only come
//! with good parity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovereign_hal::decode::DecodeError;
use sovereign_hal::identity::spd::{self, MemoryType, Spd};

/// Stores the CRC-16 of `data` little-endian at `at` (if the image is long enough).
fn store_crc(img: &mut [u8], data: core::ops::Range<usize>, at: usize) {
    if img.len() >= at + 2 && img.len() >= data.end {
        let crc = spd::crc16(&img[data]);
        img[at..at + 2].copy_from_slice(&crc.to_le_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, image)) = data.split_first() else {
        return;
    };
    let mut img = image.to_vec();
    let fixed = flags & 1 != 0;
    if fixed {
        // Layout from the module docs: DDR4 CRCs over 0..126 at 126 and 128..254 at 254,
        // DDR5 over 0..510 at 510.
        match img.get(2) {
            Some(&spd::MEMORY_TYPE_DDR4) => {
                store_crc(&mut img, 0..126, 126);
                store_crc(&mut img, 128..254, 254);
            }
            Some(&spd::MEMORY_TYPE_DDR5) => store_crc(&mut img, 0..510, 510),
            _ => {}
        }
    }

    let parsed = Spd::new_checked(&img);
    let min_len = match img.get(2) {
        Some(&spd::MEMORY_TYPE_DDR4) => Some(352),
        Some(&spd::MEMORY_TYPE_DDR5) => Some(554),
        _ => None,
    };
    match (&parsed, min_len) {
        (Err(DecodeError::UnsupportedFormat), None) => {}
        (_, None) if img.len() < 3 => assert_eq!(parsed.unwrap_err(), DecodeError::Truncated),
        (_, None) => panic!("unknown memory type accepted or misreported: {parsed:?}"),
        (_, Some(min)) if img.len() < min => {
            assert_eq!(parsed.unwrap_err(), DecodeError::Truncated)
        }
        (_, Some(_)) if fixed => assert!(parsed.is_ok(), "CRC-correct image refused: {parsed:?}"),
        _ => {}
    }

    let Ok(spd) = parsed else { return };
    let expected_type = if img[2] == spd::MEMORY_TYPE_DDR4 {
        MemoryType::Ddr4
    } else {
        MemoryType::Ddr5
    };
    assert_eq!(spd.memory_type(), expected_type);

    let raw = spd.part_number_bytes();
    let (pn_at, pn_len) = match expected_type {
        MemoryType::Ddr4 => (329, 20),
        MemoryType::Ddr5 => (521, 30),
    };
    assert_eq!(raw, &img[pn_at..pn_at + pn_len]);
    if let Ok(pn) = spd.part_number() {
        assert!(pn.len() <= raw.len());
        assert!(raw.starts_with(pn.as_bytes()));
        assert!(pn.bytes().all(|b| (0x20..=0x7E).contains(&b)), "{pn:?}");
        assert!(!pn.ends_with(' '));
        // Only spaces and NULs were trimmed.
        assert!(raw[pn.len()..].iter().all(|&b| b == b' ' || b == 0));
    }

    let _ = spd.serial_number();
    for maker in [spd.module_manufacturer(), spd.dram_manufacturer()] {
        assert!((1..=128).contains(&maker.bank()));
        assert!(maker.id() <= 0x7F);
        if maker.name().is_some() {
            assert!(maker.parity_ok());
        }
        let [a, b] = maker.raw();
        assert_eq!(spd::Jep106::from_spd_bytes(a, b), maker);
    }
});
