//! The PMBus numeric formats on arbitrary words: LINEAR11 with any scale, LINEAR16 with
//! any VOUT_MODE (parsed or hand-built with any exponent), DIRECT with any coefficients
//! and any number of decimals, and the VID tables.
//!
//! Checked beyond "no panic": LINEAR11 is exact for exponents ≥ 0, a floor for negative
//! ones, and monotonic in the mantissa within one exponent; the unit wrappers agree with
//! the raw decoder and fail only outside `i32`; LINEAR16 is monotonic in the word;
//! DIRECT is monotonic in the word in the direction of the sign of m.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovereign_hal::chips::pmbus::{self, DirectCoefficients, VoutMode};
use sovereign_hal::decode::DecodeError;
use sovereign_hal_fuzz::Tape;

fn mantissa(raw: u16) -> i64 {
    i64::from(((raw << 5) as i16) >> 5)
}

fn exponent(raw: u16) -> i32 {
    i32::from((raw as i16) >> 11)
}

/// `v` is floor(exact) where exact = num / 2^shift, or exactly num when shift ≤ 0.
fn assert_floor(v: i64, num: i128, exp: i32) {
    let v = i128::from(v);
    if exp >= 0 {
        assert_eq!(v, num << exp);
    } else {
        let k = -exp;
        assert!(
            v << k <= num && num < (v + 1) << k,
            "{v} is not floor({num} / 2^{k})"
        );
    }
}

fn linear11(t: &Tape<'_>) {
    let (a, b) = (t.u16(), t.u16());
    let scale = t.i64();
    if let Ok(v) = pmbus::linear11(a, scale) {
        assert_floor(v, i128::from(mantissa(a)) * i128::from(scale), exponent(a));
    }
    let va = pmbus::linear11(a, 1_000).expect("LINEAR11 × 1000 always fits i64");
    assert_floor(va, i128::from(mantissa(a)) * 1000, exponent(a));
    assert_eq!(va < 0, mantissa(a) < 0);
    // Same exponent, another mantissa: the order of mantissas is kept.
    let same_exp = (a & 0xF800) | (b & 0x07FF);
    let vb = pmbus::linear11(same_exp, 1_000).expect("fits");
    if mantissa(a) <= mantissa(same_exp) {
        assert!(va <= vb, "{a:#06x} → {va}, {same_exp:#06x} → {vb}");
    }
    // Unit wrappers: the same number, refused only outside i32.
    let fits = i32::try_from(va).ok();
    assert_eq!(pmbus::linear11_millivolts(a).ok().map(|x| x.0), fits);
    assert_eq!(pmbus::linear11_milliamps(a).ok().map(|x| x.0), fits);
    assert_eq!(pmbus::linear11_millicelsius(a).ok().map(|x| x.0), fits);
    if fits.is_none() {
        assert_eq!(pmbus::linear11_millivolts(a), Err(DecodeError::OutOfRange));
    }
    let uw = pmbus::linear11_microwatts(a).expect("every LINEAR11 word fits i64 µW");
    assert_eq!(Ok(uw.0), pmbus::linear11(a, 1_000_000));
}

fn linear16(t: &Tape<'_>) {
    let raw_mode = t.u8();
    let parsed = VoutMode::from_raw(raw_mode);
    match parsed {
        Err(e) => {
            assert_eq!(e, DecodeError::UnsupportedFormat);
            assert!(raw_mode == 0xFF || raw_mode >> 5 >= 4);
        }
        Ok(VoutMode::Linear { exponent }) => {
            assert_eq!(raw_mode >> 5, 0);
            assert!((-16..=15).contains(&exponent));
            assert_eq!(exponent as u8 & 0x1F, raw_mode & 0x1F);
        }
        Ok(VoutMode::Vid { code }) => assert_eq!((raw_mode >> 5, code), (1, raw_mode & 0x1F)),
        Ok(VoutMode::Direct) => assert_eq!(raw_mode >> 5, 2),
        Ok(VoutMode::Ieee754Half) => assert_eq!(raw_mode >> 5, 3),
    }
    // A hand-built mode may carry any exponent.
    let mode = if t.bool() {
        VoutMode::Linear {
            exponent: t.u8() as i8,
        }
    } else {
        parsed.unwrap_or(VoutMode::Linear { exponent: 0 })
    };
    let (a, b) = (t.u16(), t.u16());
    let (lo, hi) = (a.min(b), a.max(b));
    let (vlo, vhi) = (
        pmbus::linear16_millivolts(lo, mode),
        pmbus::linear16_millivolts(hi, mode),
    );
    let VoutMode::Linear { exponent } = mode else {
        assert_eq!(vlo, Err(DecodeError::UnsupportedFormat));
        assert_eq!(vhi, Err(DecodeError::UnsupportedFormat));
        return;
    };
    if let Ok(h) = vhi {
        let l = vlo.expect("a smaller word fits when a larger one does");
        assert!(
            0 <= l.0 && l <= h,
            "{lo} → {l:?}, {hi} → {h:?} at 2^{exponent}"
        );
    }
    if let Ok(v) = vlo
        && (-64..64).contains(&exponent)
    {
        let num = i128::from(lo) * 1000;
        if exponent < 0 && -exponent >= 64 {
            assert_eq!(v.0, 0);
        } else {
            assert_floor(i64::from(v.0), num, i32::from(exponent));
        }
    }
}

fn direct(t: &Tape<'_>) {
    let (m, b, r) = (t.i32(), t.i32(), t.u8() as i8);
    let Some(c) = DirectCoefficients::new(m, b, r) else {
        assert_eq!(m, 0);
        return;
    };
    assert_eq!((c.m(), c.b(), c.r()), (m, b, r));
    let decimals = t.u8();
    let (x, y) = (t.u16(), t.u16());
    let (vx, vy) = (pmbus::direct(x, c, decimals), pmbus::direct(y, c, decimals));
    if let (Ok(vx), Ok(vy)) = (vx, vy) {
        // Y·10^k, the rounding (Y+5)/10 and truncating (Y−b)/m are all monotonic.
        if (x as i16) <= (y as i16) {
            if m > 0 {
                assert!(vx <= vy, "{c:?}: {x:#x} → {vx}, {y:#x} → {vy}");
            } else {
                assert!(vx >= vy, "{c:?}: {x:#x} → {vx}, {y:#x} → {vy}");
            }
        }
    }
    let milli = pmbus::direct(x, c, 3);
    let fits = milli.ok().and_then(|v| i32::try_from(v).ok());
    assert_eq!(pmbus::direct_millivolts(x, c).ok().map(|v| v.0), fits);
    assert_eq!(pmbus::direct_milliamps(x, c).ok().map(|v| v.0), fits);
    assert_eq!(pmbus::direct_millicelsius(x, c).ok().map(|v| v.0), fits);
    assert_eq!(
        pmbus::direct_microwatts(x, c).map(|v| v.0),
        pmbus::direct(x, c, 6)
    );
    // The identity coefficients give the signed word in the requested decimals.
    let one = DirectCoefficients::new(1, 0, 0).expect("m = 1");
    assert_eq!(pmbus::direct(x, one, 3), Ok(i64::from(x as i16) * 1000));
}

fn status(t: &Tape<'_>) {
    let w = t.u16();
    assert_eq!(pmbus::StatusWord::from_bits_retain(w).bits(), w);
    let c = pmbus::Capability::from_bits_retain(t.u8());
    let _ = c.contains(pmbus::Capability::PEC);
}

/// VID tables: inside its code range a table is monotonic (VR11 and AMD count down from
/// their top voltage, the others up from their base); outside it, the rail reads 0 mV.
fn vid(t: &Tape<'_>) {
    use pmbus::VidTable as V;
    let table = [V::Vr11, V::Vr12, V::Vr13, V::Imvp9, V::Amd625mv][usize::from(t.u8() % 5)];
    let (a, b) = (t.u16(), t.u16());
    let (lo, hi) = (a.min(b), a.max(b));
    let (vlo, vhi) = (
        pmbus::vid_millivolts(lo, table),
        pmbus::vid_millivolts(hi, table),
    );
    let in_range = |c: u16| match table {
        V::Vr11 => (0x02..=0xB2).contains(&c),
        V::Amd625mv => c <= 0xD8,
        _ => c >= 1,
    };
    for (c, v) in [(lo, vlo), (hi, vhi)] {
        if in_range(c) {
            assert!(v.0 > 0, "{table:?} code {c:#x} → {v:?}");
        } else {
            assert_eq!(v.0, 0, "{table:?} code {c:#x} is off");
        }
    }
    if in_range(lo) && in_range(hi) {
        match table {
            V::Vr11 | V::Amd625mv => assert!(vlo >= vhi),
            _ => assert!(vlo <= vhi),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t = Tape::new(data);
    match t.u8() % 5 {
        0 => linear11(&t),
        1 => linear16(&t),
        2 => direct(&t),
        3 => vid(&t),
        _ => status(&t),
    }
});
