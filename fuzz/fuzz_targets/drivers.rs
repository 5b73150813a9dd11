//! Every chip driver in `sovereign_hal::chips`, driven by a fuzz-chosen sequence of
//! method calls over a fake SMBus whose every answer — value, error, block count —
//! comes from the same input. No sequence of bus answers may panic a driver.
//!
//! Checked beyond "no panic", after every call, from the fake bus's write log:
//! - JC-42.4, SPD5118 and SB-TSI never write anything (DIMM and CPU sensors; the SPD5118
//!   hub is also the SPD EEPROM);
//! - LM75 writes only the configuration of a TMP75, changing only bits 6:5 of the byte it
//!   just read;
//! - EMC230x writes only fan drive registers of fans the chip has, and the configuration
//!   register with only WD_EN changed;
//! - MAX31790 writes only PWMOUT words of channels 0..6 and the global configuration
//!   without the reset bit;
//! - PMBus writes only PAGE (0..=31), and PEC is on only where the bus offers it.
//!
//! Readings are checked against their decoders' ranges where one exists.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sovereign_hal::chips::{Error, emc230x, jc42, lm75, max31790, pmbus, sbtsi, spd5118};
use sovereign_hal::smbus::{Capabilities, ReadOnly, Smbus};
use sovereign_hal::units::Duty;
use sovereign_hal_fuzz::{FuzzBus, Logged, Tape, Write};

/// Formats an error the way a log line would, to run every `Display` arm.
fn show<E: core::fmt::Debug>(e: &Error<E>) {
    let _ = e.to_string();
}

fn show_result<T, E: core::fmt::Debug>(r: &Result<T, Error<E>>) {
    if let Err(e) = r {
        show(e);
    }
}

fn no_writes(bus: &FuzzBus<'_, '_>) {
    assert!(
        bus.writes.borrow().is_empty(),
        "a read-only driver wrote: {:?}",
        bus.writes.borrow()
    );
}

fn jc42(t: &Tape<'_>, bus: &mut FuzzBus<'_, '_>) {
    let address = t.u8();
    let mut dev = match jc42::Jc42::new(&mut *bus, address) {
        Ok(d) => d,
        Err(e) => {
            assert!(!jc42::ADDRESSES.contains(&address));
            show(&e);
            return;
        }
    };
    while !t.is_empty() {
        match t.u8() % 8 {
            0 => {
                if let Ok(r) = dev.read() {
                    assert!((-256_000..=255_937).contains(&r.temperature.0));
                }
            }
            1 => show_result(&dev.read_temperature()),
            2 => show_result(&dev.read_alarms()),
            3 => show_result(&dev.read_limits()),
            4 => show_result(&dev.read_capability()),
            5 => show_result(&dev.read_config()),
            6 => show_result(&dev.read_ids()),
            _ => show_result(&dev.detect()),
        }
    }
    assert_eq!(dev.address(), address);
    let _ = dev.release();
    no_writes(bus);
}

fn spd5118<B: sovereign_hal::smbus::Smbus>(t: &Tape<'_>, bus: B) -> Option<B> {
    let address = t.u8();
    let mut dev = match spd5118::Spd5118::new(bus, address) {
        Ok(d) => d,
        Err(e) => {
            assert!(!spd5118::ADDRESSES.contains(&address));
            show(&e);
            return None;
        }
    };
    while !t.is_empty() {
        match t.u8() % 7 {
            0 => show_result(&dev.read_legacy_mode()),
            1 => match dev.read_temperature() {
                Ok(temp) => assert!(
                    spd5118::conversion::TEMPERATURE_MIN <= temp
                        && temp <= spd5118::conversion::TEMPERATURE_MAX
                ),
                Err(e) => show(&e),
            },
            2 => show_result(&dev.read_status()),
            3 => show_result(&dev.read_limits()),
            4 => show_result(&dev.read_sensor_enabled()),
            5 => show_result(&dev.read_identification()),
            _ => show_result(&dev.detect()),
        }
    }
    Some(dev.release())
}

const LM75_VARIANTS: [lm75::Variant; 13] = [
    lm75::Variant::Lm75,
    lm75::Variant::Lm75a,
    lm75::Variant::Lm75b,
    lm75::Variant::G751,
    lm75::Variant::Tcn75,
    lm75::Variant::Stlm75,
    lm75::Variant::Ds75,
    lm75::Variant::Pct2075,
    lm75::Variant::Tmp75,
    lm75::Variant::Tmp75b,
    lm75::Variant::Tmp75c,
    lm75::Variant::Tmp1075,
    lm75::Variant::Max31725,
];

fn lm75(t: &Tape<'_>, bus: &mut FuzzBus<'_, '_>) {
    let address = t.u8();
    let variant = LM75_VARIANTS[usize::from(t.u8()) % LM75_VARIANTS.len()];
    let mut dev = match lm75::Lm75::new(&mut *bus, address, variant) {
        Ok(d) => d,
        Err(e) => {
            assert!(address > 0x7F);
            show(&e);
            return;
        }
    };
    while !t.is_empty() {
        match t.u8() % 4 {
            0 => {
                if let Ok(temp) = dev.read_temperature() {
                    assert!((-128_000..128_000).contains(&temp.0));
                }
            }
            1 => show_result(&dev.read_limits()),
            2 => show_result(&dev.read_config()),
            _ => {
                let r = lm75::Resolution::new(t.u8() % 8 + 9).expect("9..=16");
                show_result(&dev.set_resolution(r));
            }
        }
    }
    assert_eq!(dev.variant(), variant);
    let _ = dev.release();
    for w in bus.writes.borrow().iter() {
        match *w {
            Logged {
                write:
                    Write::Byte {
                        address: a,
                        command: 0x01,
                        value,
                    },
                last_byte_read,
            } if a == address && variant == lm75::Variant::Tmp75 => {
                let old = last_byte_read.expect("configuration read before it is written");
                assert_eq!(
                    value & !0x60,
                    old & !0x60,
                    "LM75 changed more than bits 6:5"
                );
                assert_ne!(value, old, "LM75 wrote an unchanged configuration");
            }
            other => panic!("LM75 {variant:?} wrote {other:?}"),
        }
    }
}

fn sbtsi(t: &Tape<'_>, bus: &mut FuzzBus<'_, '_>) {
    let address = t.u8();
    let mut dev = match sbtsi::SbTsi::new(&mut *bus, address) {
        Ok(d) => d,
        Err(e) => {
            assert!(address > 0x7F);
            show(&e);
            return;
        }
    };
    while !t.is_empty() {
        match t.u8() % 3 {
            0 => show_result(&dev.read_read_order()),
            1 => {
                // 0 … 255.875 °C, or 49 °C lower in the extended range (config bit 2).
                if let Ok(temp) = dev.read_temperature() {
                    assert!((-49_000..=255_875).contains(&temp.0));
                }
            }
            _ => show_result(&dev.read_limits()),
        }
    }
    let _ = dev.release();
    no_writes(bus);
}

fn duty(t: &Tape<'_>) -> Duty {
    Duty::from_per_mille_clamped(u32::from(t.u16()))
}

fn emc230x(t: &Tape<'_>, bus: &mut FuzzBus<'_, '_>) {
    let address = t.u8();
    let mut dev = if t.bool() {
        match emc230x::Emc230x::new_checked(&mut *bus, address) {
            Ok(d) => {
                assert!(d.variant().is_some());
                d
            }
            Err((_bus, e)) => {
                show(&e);
                return;
            }
        }
    } else {
        emc230x::Emc230x::new(&mut *bus, address)
    };
    while !t.is_empty() {
        let fans = dev.variant().map_or(5, |v| v.fan_count());
        let fan = t.u8() % 8;
        match t.u8() % 12 {
            0 => match dev.probe() {
                Ok(v) => assert_eq!(dev.variant(), Some(v)),
                Err(e) => show(&e),
            },
            1 => match dev.read_rpm(fan) {
                Ok(_) => assert!(fan < fans),
                Err(e) => show(&e),
            },
            2 => match dev.read_duty(fan) {
                Ok(d) => assert!(fan < fans && d <= Duty::FULL),
                Err(e) => show(&e),
            },
            3 => match dev.set_duty(fan, duty(t)) {
                Ok(()) => assert!(fan < fans),
                Err(e) => show(&e),
            },
            4..=6 => {
                let r = match t.u8() % 3 {
                    0 => dev.read_drive_fail(),
                    1 => dev.read_stall(),
                    _ => dev.read_spin_failure(),
                };
                match r {
                    Ok(mask) => assert_eq!(u32::from(mask.bits()) >> fans, 0, "{mask:?}"),
                    Err(e) => show(&e),
                }
            }
            7 => show_result(&dev.read_status()),
            8 => show_result(&dev.enable_watchdog()),
            9 => show_result(&dev.disable_watchdog()),
            10 => show_result(&dev.watchdog_enabled()),
            _ => {}
        }
    }
    assert_eq!(dev.address(), address);
    let _ = dev.release();
    for w in bus.writes.borrow().iter() {
        match *w {
            Logged {
                write:
                    Write::Byte {
                        address: a,
                        command,
                        value,
                    },
                last_byte_read,
            } if a == address => match command {
                // Fan drive registers 0x30 + 0x10·n of fans 0..=4.
                0x30 | 0x40 | 0x50 | 0x60 | 0x70 => {}
                // Configuration: read first, only WD_EN (bit 5) changed.
                0x20 => {
                    let old = last_byte_read.expect("configuration read before it is written");
                    assert_eq!(value ^ old, 0x20, "EMC230x changed more than WD_EN");
                }
                _ => panic!("EMC230x wrote register {command:#x}"),
            },
            other => panic!("EMC230x wrote {other:?}"),
        }
    }
}

fn max31790(t: &Tape<'_>, bus: &mut FuzzBus<'_, '_>) {
    let address = t.u8();
    let mut dev = max31790::Max31790::new(&mut *bus, address);
    const WATCHDOGS: [max31790::Watchdog; 4] = [
        max31790::Watchdog::Disabled,
        max31790::Watchdog::Seconds5,
        max31790::Watchdog::Seconds10,
        max31790::Watchdog::Seconds30,
    ];
    while !t.is_empty() {
        let ch = t.u8() % 8;
        match t.u8() % 6 {
            0 => match dev.read_rpm(ch) {
                Ok(r) => assert!(ch < max31790::CHANNELS && r.0 <= 60 * 32 * 8192),
                Err(e) => show(&e),
            },
            1 => show_result(&dev.read_duty(ch)),
            2 => match dev.set_duty(ch, duty(t)) {
                Ok(()) => assert!(ch < max31790::CHANNELS),
                Err(e) => show(&e),
            },
            3 => show_result(&dev.read_fan_faults()),
            4 => show_result(&dev.set_watchdog(WATCHDOGS[usize::from(t.u8() % 4)])),
            _ => show_result(&dev.read_watchdog()),
        }
    }
    assert_eq!(dev.address(), address);
    let _ = dev.release();
    for w in bus.writes.borrow().iter() {
        match w.write {
            // PWMOUT of channels 0..6: 0x40 + 2·ch, a 9-bit duty in bits 15:7 (swapped).
            Write::Word {
                address: a,
                command,
                value,
            } if a == address => {
                assert!(
                    (0x40..0x4C).contains(&command) && command % 2 == 0,
                    "{command:#x}"
                );
                assert_eq!(value.swap_bytes() & 0x7F, 0);
            }
            // Global configuration: never the reset bit (6) or the status bit (0).
            Write::Byte {
                address: a,
                command: 0x00,
                value,
            } if a == address => {
                assert_eq!(
                    value & 0x41,
                    0,
                    "MAX31790 wrote {value:#x} to the global configuration"
                );
                assert_ne!(Some(value), w.last_byte_read, "unchanged value written");
            }
            other => panic!("MAX31790 wrote {other:?}"),
        }
    }
}

const CLASSES: [pmbus::SensorClass; 6] = [
    pmbus::SensorClass::VoltageIn,
    pmbus::SensorClass::VoltageOut,
    pmbus::SensorClass::CurrentIn,
    pmbus::SensorClass::CurrentOut,
    pmbus::SensorClass::Power,
    pmbus::SensorClass::Temperature,
];

fn pmbus(t: &Tape<'_>, bus: &mut FuzzBus<'_, '_>) {
    let address = t.u8();
    let bus_has_pec = bus.capabilities().contains(Capabilities::PEC);
    let mut dev = pmbus::Pmbus::new(&mut *bus, address);
    while !t.is_empty() {
        match t.u8() % 16 {
            0 => {
                let page = t.u8() % 40;
                match dev.select_page(page) {
                    Ok(()) => assert_eq!(dev.page(), Some(page)),
                    Err(e) => show(&e),
                }
            }
            1 => {
                let class = CLASSES[usize::from(t.u8()) % CLASSES.len()];
                let format = match pmbus::DirectCoefficients::new(t.i32(), t.i32(), t.u8() as i8) {
                    Some(c) if t.bool() => pmbus::Format::Direct(c),
                    _ => pmbus::Format::Linear,
                };
                dev.set_format(class, format);
            }
            2 => show_result(&dev.read_vout_mode()),
            3 => show_result(&dev.read_vin()),
            4 => show_result(&dev.read_vout()),
            5 => show_result(&dev.read_iin()),
            6 => show_result(&dev.read_iout()),
            7 => show_result(&dev.read_temperature_1()),
            8 => show_result(&dev.read_pout()),
            9 => show_result(&dev.read_pin()),
            10 => show_result(&dev.read_status_word()),
            11 => show_result(&dev.read_capability()),
            12 => match dev.enable_pec_if_supported() {
                Ok(on) => {
                    assert_eq!(on, dev.pec_enabled());
                    assert!(!on || bus_has_pec, "PEC on over a bus without PEC");
                }
                Err(e) => show(&e),
            },
            n => {
                let mut buf = vec![0u8; usize::from(t.u8() % 40)];
                let len = buf.len();
                let r = if n == 13 {
                    dev.read_mfr_id(&mut buf)
                } else {
                    dev.read_mfr_model(&mut buf)
                };
                match r {
                    Ok(s) => {
                        assert!(s.len() <= len);
                        assert!(!s.ends_with(|c: char| c == '\0' || c.is_whitespace()));
                    }
                    Err(e) => show(&e),
                }
            }
        }
        if let Some(p) = dev.page() {
            assert!(p <= pmbus::MAX_PAGE);
        }
    }
    assert_eq!(dev.address(), address);
    let pec = dev.pec_enabled();
    let _ = dev.release();
    if pec {
        assert!(bus_has_pec && bus.pec_on.borrow().contains(&address));
    }
    for w in bus.writes.borrow().iter() {
        match w.write {
            Write::Byte {
                address: a,
                command: pmbus::command::PAGE,
                value,
            } if a == address => assert!(value <= pmbus::MAX_PAGE),
            other => panic!("PMBus wrote {other:?}"),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let t = Tape::new(data);
    let which = t.u8();
    let caps = Capabilities::from_bits_truncate(t.u32());
    let mut bus = FuzzBus::new(&t, caps);
    match which % 8 {
        0 => jc42(&t, &mut bus),
        1 => {
            let _ = spd5118(&t, &mut bus);
            no_writes(&bus);
        }
        2 => {
            // Through the read-only wrapper the driver is meant to be given.
            let _ = spd5118(&t, ReadOnly::new(&mut bus));
            no_writes(&bus);
        }
        3 => lm75(&t, &mut bus),
        4 => sbtsi(&t, &mut bus),
        5 => emc230x(&t, &mut bus),
        6 => max31790(&t, &mut bus),
        _ => pmbus(&t, &mut bus),
    }
});
