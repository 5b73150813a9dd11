//! Every pure register decoder of `sovereign_hal::chips::*` (except PMBus, which has its
//! own target) and the `Duty` conversions, on arbitrary register values.
//!
//! The first byte picks the chip; the rest are register values. Checked beyond "no
//! panic": ranges and resolutions, alarm bits kept out of temperatures, monotonicity,
//! and every encode/decode pair that the kernel's arithmetic makes a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovereign_hal::chips::{emc230x, jc42, lm75, max31790, sbtsi, spd5118};
use sovereign_hal::decode::DecodeError;
use sovereign_hal::units::{Duty, MilliCelsius, Rpm};
use sovereign_hal_fuzz::Tape;

fn jc42(t: &Tape<'_>) {
    use jc42::conversion::*;
    let (a, b) = (t.u16(), t.u16());
    let ta = temperature_from_register(a);
    // Alarm bits 15:13 never change the temperature.
    assert_eq!(ta, temperature_from_register(a & 0x1FFF));
    assert!((-256_000..=255_937).contains(&ta.0), "{ta:?}");
    // 1/16 °C steps, truncated toward zero: within 1 m°C of steps × 62.5.
    let steps = i32::from(((a << 3) as i16) >> 3);
    assert!((steps * 125 - ta.0 * 2).abs() < 2);
    assert!(ta.0 == 0 || (ta.0 < 0) == (steps < 0));
    // Monotonic in the signed 13-bit value.
    let steps_b = i32::from(((b << 3) as i16) >> 3);
    let tb = temperature_from_register(b);
    // Steps are 62.5 m°C apart, so truncation keeps them distinct and in order.
    assert_eq!(ta.cmp(&tb), steps.cmp(&steps_b));
    assert!(alarms_from_register(a).bits() & 0x1FFF == 0);

    // Limit write: clamped, then within one step of the limit it came from.
    let limit = MilliCelsius(t.i32());
    let extended = t.bool();
    let reg = limit_to_register(limit, extended);
    assert_eq!(reg & !0x1FFF, 0);
    let lo = if extended {
        LIMIT_MIN_EXTENDED.0
    } else {
        LIMIT_MIN.0
    };
    let clamped = limit.0.clamp(lo, LIMIT_MAX.0);
    let back = temperature_from_register(reg).0;
    assert!(
        (back - clamped).abs() < 125,
        "{limit:?} → {reg:#x} → {back}"
    );

    let h = hysteresis_from_config(t.u16()).0;
    assert!([0, 1_500, 3_000, 6_000].contains(&h));
    let cap = t.u16();
    let _ = has_extended_range(cap);
    let (config, mfr, dev) = (t.u16(), t.u16(), t.u16());
    if jc42::is_jc42(cap, config, mfr, dev) {
        assert_eq!(cap & 0xFF00, 0);
        assert_eq!(config & 0xF820, 0);
    }
}

fn spd5118(t: &Tape<'_>) {
    use spd5118::conversion::*;
    let raw = t.u16();
    let temp = temperature_from_register(raw);
    assert!(TEMPERATURE_MIN <= temp && temp <= TEMPERATURE_MAX);
    assert_eq!(temp.0 % 250, 0);
    assert_eq!(temp, temperature_from_register(raw & 0x1FFC));
    // Every register value survives decode → limit encoding (steps are exact).
    assert_eq!(limit_to_register(temp), raw & 0x1FFC);
    // Limits: clamped and rounded to the nearest 0.25 °C.
    let limit = MilliCelsius(t.i32());
    let back = temperature_from_register(limit_to_register(limit));
    let clamped = limit.0.clamp(TEMPERATURE_MIN.0, TEMPERATURE_MAX.0);
    assert!((back.0 - clamped).abs() <= 125, "{limit:?} → {back:?}");

    let status = status_from_register(t.u8());
    assert_eq!(status.bits() & 0xF0, 0);
    let mr11 = t.u8();
    let mode = legacy_mode_from_register(mr11);
    assert!(mode.page <= 7);
    assert_eq!(
        mode.addressing == spd5118::AddressingMode::SixteenBit,
        mr11 & 8 != 0
    );
    let mr26 = t.u8();
    assert_eq!(sensor_enabled_from_register(mr26), mr26 & 1 == 0);
    let (bank, id) = (t.u8(), t.u8());
    if is_vendor_valid(bank, id) {
        assert!(has_odd_parity(bank) && has_odd_parity(id));
    }
    let ident = spd5118::Identification {
        device_type: t.u16(),
        revision: t.u8(),
        vendor_bank: bank,
        vendor_id: id,
        capability: t.u8(),
        temperature_clear: t.u8(),
        error_clear: t.u8(),
        temperature_config: t.u8(),
    };
    if spd5118::is_spd5118(&ident) {
        assert_eq!(ident.device_type, spd5118::DEVICE_TYPE);
        assert!(ident.capability & 0b10 != 0);
    }
}

fn lm75(t: &Tape<'_>) {
    use lm75::Resolution;
    use lm75::conversion::*;
    let bits = t.u8();
    let res = Resolution::new(bits);
    assert_eq!(res.is_some(), (9..=16).contains(&bits));
    let res = res.unwrap_or(Resolution::BITS_12);
    assert_eq!(Resolution::new(res.bits()), Some(res));
    let (a, b) = (t.u16(), t.u16());
    let (ta, tb) = (
        temperature_from_register(a, res),
        temperature_from_register(b, res),
    );
    assert!((-128_000..128_000).contains(&ta.0), "{ta:?}");
    if (a as i16) <= (b as i16) {
        assert!(
            ta <= tb,
            "not monotonic at {res:?}: {a:#x} → {ta:?}, {b:#x} → {tb:?}"
        );
    }
    // Left-justified registers: a value the chip converts at `res` decodes the same at
    // 16 bits (the module's claim that the highest resolution is always exact).
    let unused = 16 - u32::from(res.bits());
    let aligned = a & !((1u16 << unused) - 1);
    assert_eq!(
        temperature_from_register(aligned, res),
        temperature_from_register(aligned, Resolution::BITS_16)
    );
    // TMP75 configuration: resolution bits round-trip, the other bits stay.
    let config = t.u8();
    match tmp75_config_with_resolution(config, res) {
        Some(c) => {
            assert!(res.bits() <= 12);
            assert_eq!(resolution_from_tmp75_config(c), res);
            assert_eq!(c & !0x60, config & !0x60);
        }
        None => assert!(res.bits() > 12),
    }
    assert!((9..=12).contains(&resolution_from_tmp75_config(config).bits()));
}

fn sbtsi(t: &Tape<'_>) {
    use sbtsi::conversion::*;
    let (i, d) = (t.u8(), t.u8());
    let temp = temperature_from_registers(i, d);
    assert!(LIMIT_MIN <= temp && temp <= LIMIT_MAX);
    assert_eq!(temp.0 % 125, 0);
    assert_eq!(limit_to_registers(temp), (i, d & 0xE0));
    let limit = MilliCelsius(t.i32());
    let (li, ld) = limit_to_registers(limit);
    let back = temperature_from_registers(li, ld).0;
    let clamped = limit.0.clamp(LIMIT_MIN.0, LIMIT_MAX.0);
    assert!(back <= clamped && clamped - back < 125);
    let config = t.u8();
    assert_eq!(
        read_order_from_config(config) == sbtsi::ReadOrder::DecimalFirst,
        config & 0x20 != 0
    );
}

fn emc230x(t: &Tape<'_>) {
    let (vendor, product) = (t.u8(), t.u8());
    if let Some(v) = emc230x::identify(vendor, product) {
        assert_eq!(vendor, emc230x::VENDOR_MICROCHIP);
        assert_eq!(v.product_id(), product);
        assert!((1..=5).contains(&v.fan_count()));
    }
    if let Some(v) = emc230x::Variant::from_product_id(product) {
        assert_eq!(v.product_id(), product);
    }
    let (a, b) = (t.u16(), t.u16());
    match emc230x::rpm_from_tach(a) {
        Err(e) => {
            assert_eq!(e, DecodeError::Invalid);
            assert!((1..=7).contains(&a));
        }
        Ok(Rpm(r)) => {
            assert!(!(1..=7).contains(&a));
            // Zero, or twice a quotient above 480.
            assert!(r == 0 || (r % 2 == 0 && r > 960), "{a:#x} → {r}");
            // A longer tach count is never a faster fan.
            if let Ok(Rpm(rb)) = emc230x::rpm_from_tach(b)
                && a != 0
                && b != 0
                && (a >> 3) <= (b >> 3)
            {
                assert!(rb <= r);
            }
        }
    }
    let mask = emc230x::FanMask::from_bits_retain(t.u8());
    let fan = t.u8();
    if fan >= 8 {
        assert!(!mask.has_fan(fan));
    }
}

fn max31790(t: &Tape<'_>) {
    let dynamics = t.u8();
    let sr = max31790::speed_range(dynamics);
    assert!([1, 2, 4, 8, 16, 32].contains(&sr));
    let (a, b) = (t.u16(), t.u16());
    let ra = max31790::rpm_from_tach(a, dynamics);
    // Note: `RPM_MAX` is only the value for a count of 0 (the kernel's FAN_RPM_MAX); a
    // count of 1 at speed range 32 reads twice as fast, 60 · 32 · 8192 RPM.
    assert!(ra.0 <= 60 * 32 * 8192);
    if a >> 4 == 0 {
        assert_eq!(ra, max31790::RPM_MAX);
    }
    // A longer count is never a faster fan (0xFFE0 is "no pulses": 0 RPM).
    let rb = max31790::rpm_from_tach(b, dynamics);
    if a >> 4 != 0 && (a >> 4) <= (b >> 4) && b != 0xFFE0 && a != 0xFFE0 {
        assert!(rb <= ra);
    }
    // PWM byte → PWMOUT word → PWM byte is the identity for every byte.
    let pwm = t.u8();
    let word = max31790::pwmout_word_from_pwm(pwm);
    assert_eq!(word & 0x7F, 0);
    assert_eq!(max31790::pwm_from_duty_word(word), pwm);
    let faults = max31790::FanFaults::from_status(t.u8(), t.u8());
    assert_eq!(faults.bits() & !0x0FFF, 0);
    let ch = t.u8();
    if ch >= max31790::CHANNELS {
        assert!(!faults.channel(ch));
    }
    let config = t.u8();
    let wd = max31790::Watchdog::from_global_config(config);
    assert_eq!(max31790::Watchdog::from_global_config(wd.field()), wd);
    assert_eq!(wd.field(), config & 0b110);
}

fn duty(t: &Tape<'_>) {
    let b = t.u8();
    let d = Duty::from_pwm_u8(b);
    assert_eq!(d.to_pwm_u8(), b);
    assert!(d <= Duty::FULL);
    let pm = t.u16();
    assert_eq!(Duty::from_per_mille(pm).is_some(), pm <= 1000);
    let clamped = Duty::from_per_mille_clamped(t.u32());
    assert!(clamped.per_mille() <= 1000);
    if let Some(d) = Duty::from_per_mille(pm) {
        assert_eq!(d.per_mille(), pm);
        assert_eq!(Duty::from_per_mille_clamped(u32::from(pm)), d);
        // to_pwm_u8 is monotonic.
        let other = Duty::from_per_mille_clamped(u32::from(t.u16()));
        if d <= other {
            assert!(d.to_pwm_u8() <= other.to_pwm_u8());
        }
        // Rounding to nearest: the byte is within half a PWM step of the duty.
        let err = i32::from(d.to_pwm_u8()) * 1000 - i32::from(pm) * 255;
        assert!(err.abs() <= 500, "{pm} ‰ → {}", d.to_pwm_u8());
    }
    let pct = t.u8();
    assert_eq!(
        Duty::from_percent(pct).per_mille(),
        (u16::from(pct) * 10).min(1000)
    );
    let _ = format!("{d} {clamped}");
}

fuzz_target!(|data: &[u8]| {
    let t = Tape::new(data);
    match t.u8() % 7 {
        0 => jc42(&t),
        1 => spd5118(&t),
        2 => lm75(&t),
        3 => sbtsi(&t),
        4 => emc230x(&t),
        5 => max31790(&t),
        _ => duty(&t),
    }
});
