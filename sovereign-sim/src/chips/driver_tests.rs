//! The real `sovereign-hal` drivers read the simulated chips: they get the values the
//! chips hold within each chip's resolution, and every bus fault kind reaches them as
//! the error (or value) a real failure would produce.
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

use sovereign_hal::chips::ErrorKind as ChipErrorKind;
use sovereign_hal::chips::emc230x::{Emc230x, FanMask, FanStatus, Variant as EmcVariant};
use sovereign_hal::chips::jc42::Jc42 as Jc42Driver;
use sovereign_hal::chips::lm75::{Lm75 as Lm75Driver, Resolution, Variant as Lm75Variant};
use sovereign_hal::chips::max31790::{FanFaults, Max31790 as Max31790Driver, Watchdog};
use sovereign_hal::chips::pmbus::{Pmbus, StatusWord};
use sovereign_hal::chips::sbtsi::SbTsi as SbTsiDriver;
use sovereign_hal::chips::spd5118::Spd5118 as Spd5118Driver;
use sovereign_hal::smbus::{ErrorKind, I2cSmbus, ReadOnly};
use sovereign_hal::units::Duty;

use super::*;
use crate::bus::{BusMode, BusSpeed, SimBus};
use crate::fault::{Fault, FaultPlan, FaultTarget};

fn piix4(segment: u8) -> SimBus {
    SimBus::new(segment, BusSpeed::Standard100k, BusMode::SmbusOnly)
}

fn bus_err(kind: ErrorKind) -> ChipErrorKind {
    ChipErrorKind::Bus(kind)
}

/// Sweeps `from..=to` °C in steps of `step` and checks `read` against the set value.
fn sweep(
    from: f64,
    to: f64,
    step: f64,
    tolerance_mc: f64,
    mut set: impl FnMut(f64),
    mut read: impl FnMut() -> i32,
) {
    let mut t = from;
    while t <= to {
        set(t);
        let got = f64::from(read());
        assert!(
            (got - t * 1000.0).abs() <= tolerance_mc,
            "{t} °C read as {got} m°C"
        );
        t += step;
    }
}

#[test]
fn jc42_driver_reads_the_temperature_within_one_lsb() {
    let bus = piix4(0);
    bus.add_device(0x18, Box::new(Jc42::tse2004av())).unwrap();
    let mut drv = Jc42Driver::new(ReadOnly::new(bus.clone()), 0x18).unwrap();
    assert!(
        drv.detect().unwrap(),
        "the kernel's detection accepts the simulated TSE2004av"
    );
    // 0.0625 °C resolution, kernel truncation toward zero: error < 1 LSB = 62.5 m°C.
    sweep(
        -20.0,
        120.0,
        0.37,
        62.5,
        |t| {
            bus.with_device::<Jc42, _>(0x18, |c| c.set_temperature_c(t))
                .unwrap();
        },
        || drv.read_temperature().unwrap().0,
    );
    bus.with_device::<Jc42, _>(0x18, |c| c.set_temperature_c(90.0))
        .unwrap();
    let r = drv.read().unwrap();
    assert_eq!(r.temperature.0, 90_000);
    assert!(!r.alarms.is_empty(), "above the 85 °C upper limit");
}

#[test]
fn spd5118_driver_reads_quarter_degrees_and_never_writes_the_eeprom() {
    let bus = piix4(0);
    for a in 0x50..=0x57u8 {
        bus.add_device(a, Box::new(Spd5118::new(u32::from(a))))
            .unwrap();
    }
    for a in 0x50..=0x57u8 {
        // The bare bus, not `ReadOnly`: a wrapper that refuses writes would make the
        // "no NVM write" check below pass whatever the driver tries.
        let mut drv = Spd5118Driver::new(bus.clone(), a).unwrap();
        let t = 30.0 + f64::from(a - 0x50) * 1.3;
        bus.with_device::<Spd5118, _>(a, |c| c.set_temperature_c(t))
            .unwrap();
        let got = f64::from(drv.read_temperature().unwrap().0);
        assert!((got - t * 1000.0).abs() <= 125.0, "{t} read {got}");
        let limits = drv.read_limits().unwrap();
        assert_eq!(limits.high.0, 85_000);
        assert_eq!(limits.critical.0, 95_000);
    }
    for a in 0x50..=0x57u8 {
        let writes = bus
            .with_device::<Spd5118, _>(a, |c| c.nvm_writes().len())
            .unwrap();
        assert_eq!(writes, 0, "no NVM write at {a:#x}");
    }
    // The check can fail: a write into the NVM window is seen.
    sovereign_hal::smbus::Smbus::write_byte_data(&mut bus.clone(), 0x50, 0x80, 0x00).unwrap();
    let writes = bus
        .with_device::<Spd5118, _>(0x50, |c| c.nvm_writes().len())
        .unwrap();
    assert_eq!(writes, 1);
}

#[test]
fn spd5118_driver_refuses_16_bit_mode_on_an_smbus_only_bus() {
    let bus = piix4(0);
    let mut hub = Spd5118::new(1);
    hub.set_legacy_mode_register(0x08);
    bus.add_device(0x50, Box::new(hub)).unwrap();
    let mut drv = Spd5118Driver::new(ReadOnly::new(bus), 0x50).unwrap();
    assert_eq!(
        drv.read_temperature().unwrap_err().kind(),
        ChipErrorKind::Unsupported
    );
}

#[test]
fn tmp75_driver_reads_at_the_resolution_it_sets() {
    let bus = piix4(2);
    bus.add_device(0x48, Box::new(Lm75::tmp75())).unwrap();
    let mut drv = Lm75Driver::new(bus.clone(), 0x48, Lm75Variant::Tmp75).unwrap();
    // Power-on 9 bits: within 0.5 °C.
    bus.with_device::<Lm75, _>(0x48, |c| c.set_temperature_c(23.3))
        .unwrap();
    assert!((drv.read_temperature().unwrap().0 - 23_300).abs() <= 500);
    drv.set_resolution(Resolution::BITS_12).unwrap();
    assert_eq!(
        bus.with_device::<Lm75, _>(0x48, |c| c.resolution_bits())
            .unwrap(),
        12
    );
    // 12 bits, arithmetic shifts (floor): within one LSB of 62.5 m°C.
    sweep(
        -30.0,
        110.0,
        0.29,
        62.5,
        |t| {
            bus.with_device::<Lm75, _>(0x48, |c| c.set_temperature_c(t))
                .unwrap();
        },
        || drv.read_temperature().unwrap().0,
    );
}

#[test]
fn sbtsi_driver_reads_eighths_in_either_read_order() {
    let bus = piix4(2);
    bus.add_device(0x4C, Box::new(SbTsi::new())).unwrap();
    let mut drv = SbTsiDriver::new(ReadOnly::new(bus.clone()), 0x4C).unwrap();
    let set = |t: f64| {
        bus.with_device::<SbTsi, _>(0x4C, |c| c.set_temperature_c(t))
            .unwrap();
    };
    sweep(0.0, 120.0, 0.41, 62.5, set, || {
        drv.read_temperature().unwrap().0
    });
    let mut raw = bus.clone();
    sovereign_hal::smbus::Smbus::write_byte_data(&mut raw, 0x4C, 0x09, 1 << 5).unwrap();
    sweep(0.0, 120.0, 0.41, 62.5, set, || {
        drv.read_temperature().unwrap().0
    });
}

#[test]
fn emc2305_driver_sets_duty_reads_rpm_and_sees_stalls() {
    let bus = piix4(2);
    bus.add_device(0x2E, Box::new(Emc2305::new())).unwrap();
    let mut drv = Emc230x::new(bus.clone(), 0x2E);
    assert_eq!(drv.probe().unwrap(), EmcVariant::Emc2305);
    for fan in 0..5u8 {
        drv.set_duty(fan, Duty::from_percent(20 + 15 * fan))
            .unwrap();
    }
    for fan in 0..5usize {
        let duty = bus
            .with_device::<Emc2305, _>(0x2E, |c| c.duty(fan))
            .unwrap();
        let want = Duty::from_percent(20 + 15 * fan as u8);
        assert!(
            (i32::from(duty.per_mille()) - i32::from(want.per_mille())).abs() <= 2,
            "fan {fan}"
        );
    }
    for rpm in (1200..=16000).step_by(211) {
        bus.with_device::<Emc2305, _>(0x2E, |c| c.set_rpm(3, f64::from(rpm)))
            .unwrap();
        let got = f64::from(drv.read_rpm(3).unwrap().0);
        // One tach count at this speed: RPM² / 7 864 320, plus the kernel's 2-RPM floor.
        let one_count = f64::from(rpm).powi(2) / 7_864_320.0 * 1.01 + 2.0;
        assert!(
            (got - f64::from(rpm)).abs() <= one_count,
            "{rpm} read {got}"
        );
    }
    for fan in 0..5 {
        bus.with_device::<Emc2305, _>(0x2E, |c| c.set_rpm(fan, 8000.0))
            .unwrap();
    }
    assert_eq!(
        drv.read_stall().unwrap(),
        FanMask::empty(),
        "all fans turning"
    );
    let mut plan = FaultPlan::new(60.0).unwrap();
    plan.add(
        FaultTarget::Device {
            segment: 2,
            address: 0x2E,
        },
        10.0,
        20.0,
        Fault::FanStall { fan: 3 },
    )
    .unwrap();
    bus.set_fault_plan(plan);
    bus.set_time_s(10.0);
    assert_eq!(drv.read_rpm(3).unwrap().0, 0);
    assert_eq!(drv.read_stall().unwrap(), FanMask::FAN3);
    assert_eq!(drv.read_drive_fail().unwrap(), FanMask::FAN3);
    assert!(
        drv.read_status()
            .unwrap()
            .contains(FanStatus::STALL | FanStatus::DRIVE_FAIL)
    );
    bus.set_time_s(20.0);
    assert_eq!(drv.read_stall().unwrap(), FanMask::empty());
}

#[test]
fn emc2305_watchdog_enabled_by_the_driver_takes_the_fans_to_full() {
    let bus = piix4(2);
    bus.add_device(0x2E, Box::new(Emc2305::new())).unwrap();
    let mut drv = Emc230x::new(bus.clone(), 0x2E);
    drv.probe().unwrap();
    drv.enable_watchdog().unwrap();
    drv.set_duty(0, Duty::from_percent(40)).unwrap();
    bus.set_time_s(3.0);
    drv.set_duty(0, Duty::from_percent(40)).unwrap();
    bus.set_time_s(6.5);
    assert_eq!(
        drv.read_duty(0).unwrap(),
        Duty::from_percent(40),
        "serviced at 3 s"
    );
    bus.set_time_s(7.5);
    assert!(
        drv.read_status()
            .unwrap()
            .contains(FanStatus::WATCHDOG_EXPIRED)
    );
    for fan in 0..5 {
        assert_eq!(drv.read_duty(fan).unwrap(), Duty::FULL);
    }
}

#[test]
fn max31790_driver_sets_duty_reads_rpm_faults_and_watchdog() {
    let bus = piix4(2);
    bus.add_device(0x20, Box::new(Max31790::new())).unwrap();
    let mut drv = Max31790Driver::new(bus.clone(), 0x20);
    drv.set_duty(2, Duty::from_percent(55)).unwrap();
    let duty = bus.with_device::<Max31790, _>(0x20, |c| c.duty(2)).unwrap();
    assert!((i32::from(duty.per_mille()) - 550).abs() <= 4, "{duty}");
    assert!((i32::from(drv.read_duty(2).unwrap().per_mille()) - 550).abs() <= 4);
    for rpm in (600..=12000).step_by(173) {
        bus.with_device::<Max31790, _>(0x20, |c| c.set_rpm(2, f64::from(rpm)))
            .unwrap();
        let got = f64::from(drv.read_rpm(2).unwrap().0);
        // One count (2 units of w >> 4) at SR = 4: RPM² / (60·4·8192 / 2) relative.
        let one_count = f64::from(rpm).powi(2) / 983_040.0 * 1.01 + 1.0;
        assert!(
            (got - f64::from(rpm)).abs() <= one_count,
            "{rpm} read {got}"
        );
    }
    bus.with_device::<Max31790, _>(0x20, |c| c.set_rpm(2, 0.0))
        .unwrap();
    assert_eq!(drv.read_rpm(2).unwrap().0, 0);
    assert!(
        drv.read_fan_faults()
            .unwrap()
            .contains(FanFaults::from_status(1 << 2, 0))
    );
    drv.set_watchdog(Watchdog::Seconds5).unwrap();
    bus.set_time_s(10.0);
    let (wd, expired) = drv.read_watchdog().unwrap();
    assert_eq!(wd, Watchdog::Seconds5);
    assert!(expired);
    assert_eq!(drv.read_duty(0).unwrap(), Duty::FULL);
}

fn vrm(bus: &SimBus, address: u8, pages: usize) {
    let mut v = PmbusVrm::new(pages);
    for p in 0..pages {
        let k = p as f64;
        v.set_telemetry(
            p,
            RailTelemetry {
                vin_v: 12.05,
                vout_v: 1.1 - 0.1 * k,
                iout_a: 200.0 / (k + 1.0),
                temperature_c: 70.3 + k,
                pout_w: 220.0 / (k + 1.0),
                pin_w: 240.0 / (k + 1.0),
            },
        );
    }
    bus.add_device(address, Box::new(v)).unwrap();
}

#[test]
fn pmbus_driver_reads_every_rail_within_its_linear_resolution() {
    let bus = piix4(2);
    vrm(&bus, 0x61, 3);
    let mut drv = Pmbus::new(bus.clone(), 0x61);
    assert!(!drv.enable_pec_if_supported().unwrap(), "piix4 has no PEC");
    for page in 0..3u8 {
        drv.select_page(page).unwrap();
        let k = f64::from(page);
        let near = |got: i64, want: f64, tol: f64| (got as f64 - want).abs() <= tol;
        assert!(near(i64::from(drv.read_vin().unwrap().0), 12_050.0, 8.0));
        assert!(near(
            i64::from(drv.read_vout().unwrap().0),
            (1.1 - 0.1 * k) * 1000.0,
            2.0
        ));
        assert!(near(
            i64::from(drv.read_iout().unwrap().0),
            200_000.0 / (k + 1.0),
            250.0
        ));
        assert!(near(
            i64::from(drv.read_temperature_1().unwrap().0),
            (70.3 + k) * 1000.0,
            63.0
        ));
        assert!(near(
            drv.read_pout().unwrap().0,
            220e6 / (k + 1.0),
            250_000.0
        ));
        assert!(near(
            drv.read_pin().unwrap().0,
            240e6 / (k + 1.0),
            250_000.0
        ));
        assert_eq!(drv.read_status_word().unwrap(), StatusWord::empty());
    }
    assert_eq!(
        drv.select_page(3).unwrap_err().kind(),
        ChipErrorKind::InvalidArgument
    );
    let mut buf = [0u8; 32];
    assert_eq!(drv.read_mfr_id(&mut buf).unwrap(), "SOVSIM");
}

#[test]
fn pmbus_driver_negotiates_pec_on_a_raw_i2c_bus_and_sees_pec_errors() {
    let bus = SimBus::new(2, BusSpeed::Fast400k, BusMode::I2c);
    vrm(&bus, 0x60, 1);
    let mut plan = FaultPlan::new(10.0).unwrap();
    plan.add(
        FaultTarget::Device {
            segment: 2,
            address: 0x60,
        },
        5.0,
        6.0,
        Fault::PecError,
    )
    .unwrap();
    bus.set_fault_plan(plan);
    let mut drv = Pmbus::new(bus.clone(), 0x60);
    assert!(drv.enable_pec_if_supported().unwrap());
    assert!(bus.pec_enabled(0x60));
    assert!(drv.read_vin().is_ok());
    bus.set_time_s(5.0);
    assert_eq!(
        drv.read_vin().unwrap_err().kind(),
        bus_err(ErrorKind::PecMismatch)
    );
    bus.set_time_s(6.0);
    assert!(drv.read_vin().is_ok());
}

#[test]
fn drivers_work_through_the_raw_i2c_interface_too() {
    // I2cSmbus computes PEC itself and builds SMBus transfers out of raw I2C messages.
    let bus = SimBus::new(0, BusSpeed::FastPlus1M, BusMode::I2c);
    bus.add_device(0x18, Box::new(Jc42::tse2004av())).unwrap();
    bus.with_device::<Jc42, _>(0x18, |c| c.set_temperature_c(44.5))
        .unwrap();
    let mut drv = Jc42Driver::new(I2cSmbus::new(bus.clone()), 0x18).unwrap();
    assert_eq!(drv.read_temperature().unwrap().0, 44_500);
    vrm(&bus, 0x60, 1);
    let mut pm = Pmbus::new(I2cSmbus::new(bus.clone()), 0x60);
    let mut buf = [0u8; 32];
    assert_eq!(pm.read_mfr_model(&mut buf).unwrap(), "VRM-SIM-1");
}

/// Every bus-level fault kind, seen by the driver that reads the device.
#[test]
fn every_bus_fault_kind_is_observed_by_the_driver() {
    let bus = piix4(0);
    bus.add_device(0x18, Box::new(Jc42::tse2004av())).unwrap();
    bus.with_device::<Jc42, _>(0x18, |c| c.set_temperature_c(40.0))
        .unwrap();
    let target = FaultTarget::Device {
        segment: 0,
        address: 0x18,
    };
    let mut plan = FaultPlan::new(100.0).unwrap().with_seed(11);
    plan.add(target, 1.0, 2.0, Fault::Nak).unwrap();
    plan.add(target, 2.0, 3.0, Fault::BusTimeout).unwrap();
    plan.add(target, 3.0, 4.0, Fault::DeviceAbsent).unwrap();
    plan.add(target, 4.0, 5.0, Fault::AllOnes).unwrap();
    plan.add(target, 5.0, 6.0, Fault::StuckValue).unwrap();
    plan.add(
        target,
        6.0,
        7.0,
        Fault::NoiseSpikes {
            amplitude: 20.0,
            probability: 1.0,
        },
    )
    .unwrap();
    bus.set_fault_plan(plan);
    let mut drv = Jc42Driver::new(ReadOnly::new(bus.clone()), 0x18).unwrap();
    let at = |t: f64| bus.set_time_s(t);

    at(1.0);
    assert_eq!(
        drv.read_temperature().unwrap_err().kind(),
        bus_err(ErrorKind::NoAcknowledge)
    );
    at(2.0);
    assert_eq!(
        drv.read_temperature().unwrap_err().kind(),
        bus_err(ErrorKind::Timeout)
    );
    at(3.0);
    assert_eq!(
        drv.read_temperature().unwrap_err().kind(),
        bus_err(ErrorKind::NoAcknowledge)
    );
    at(4.0);
    // 0xFFFF: all alarm bits and −1 LSB, which the kernel formula makes −62 m°C.
    let r = drv.read().unwrap();
    assert_eq!(r.temperature.0, -62);
    assert_eq!(r.alarms.bits(), 0xE000);
    at(5.0);
    assert_eq!(drv.read_temperature().unwrap().0, 40_000);
    bus.with_device::<Jc42, _>(0x18, |c| c.set_temperature_c(60.0))
        .unwrap();
    assert_eq!(
        drv.read_temperature().unwrap().0,
        40_000,
        "stuck at the first reading"
    );
    at(6.0);
    let spiked = drv.read_temperature().unwrap().0;
    assert_eq!((spiked - 60_000).abs(), 20_000, "a spike of ±20 °C");
    at(7.0);
    assert_eq!(drv.read_temperature().unwrap().0, 60_000, "all faults over");
}

#[test]
fn pec_fault_is_invisible_without_pec_like_on_piix4() {
    // On an SMBus-only bus PEC is never used, so a corrupted PEC byte changes nothing.
    let bus = piix4(2);
    vrm(&bus, 0x60, 1);
    let mut plan = FaultPlan::new(10.0).unwrap();
    plan.add(
        FaultTarget::Device {
            segment: 2,
            address: 0x60,
        },
        0.0,
        10.0,
        Fault::PecError,
    )
    .unwrap();
    bus.set_fault_plan(plan);
    let mut drv = Pmbus::new(bus.clone(), 0x60);
    drv.enable_pec_if_supported().unwrap();
    assert!(drv.read_vin().is_ok());
}

#[test]
fn bus_occupancy_of_one_control_period_is_reported() {
    // One reference-board fan/VRM segment read once: 5 tach words, 5 duty writes,
    // 3 × (VIN, VOUT, IOUT, TEMP, POUT) words, 2 TMP75 words.
    let bus = piix4(2);
    bus.add_device(0x2E, Box::new(Emc2305::new())).unwrap();
    for a in 0x60..=0x62 {
        vrm(&bus, a, 1);
    }
    bus.add_device(0x48, Box::new(Lm75::tmp75())).unwrap();
    bus.add_device(0x49, Box::new(Lm75::tmp75())).unwrap();
    let mut fans = Emc230x::new(bus.clone(), 0x2E);
    for fan in 0..5 {
        fans.read_rpm(fan).unwrap();
        fans.set_duty(fan, Duty::from_percent(50)).unwrap();
    }
    for a in 0x60..=0x62 {
        let mut v = Pmbus::new(bus.clone(), a);
        v.read_vin().unwrap();
        v.read_vout().unwrap();
        v.read_iout().unwrap();
        v.read_temperature_1().unwrap();
        v.read_pout().unwrap();
    }
    for a in [0x48, 0x49] {
        Lm75Driver::new(bus.clone(), a, Lm75Variant::Tmp75)
            .unwrap()
            .read_temperature()
            .unwrap();
    }
    let stats = bus.take_stats();
    assert_eq!(stats.failed, 0);
    // Read word = 48 bits, write byte = 29, read byte = 39 (VOUT_MODE, read once per
    // device by the driver).
    let expected_bits = 5 * 48 + 5 * 29 + 3 * (5 * 48 + 39) + 2 * 48;
    assert_eq!(stats.bits, expected_bits);
    assert!((stats.occupancy(1.0) - expected_bits as f64 / 100_000.0).abs() < 1e-12);
    println!(
        "first 1 s control period at 100 kHz: {} bits, {:.1} ms on the wire, {:.1} % occupancy",
        stats.bits,
        stats.bits as f64 / 100.0,
        stats.occupancy(1.0) * 100.0
    );
}

#[test]
fn spd_image_read_page_by_page_parses_with_the_hal_identity_decoder() {
    use sovereign_hal::identity::spd::{MemoryType, Spd};
    use sovereign_hal::smbus::Smbus;
    let mut bus = piix4(0);
    bus.add_device(0x52, Box::new(Spd5118::new(0x1234_ABCD)))
        .unwrap();
    let mut image = Vec::new();
    for page in 0..8u8 {
        // MR11 is the hub's volatile page selector, not the EEPROM.
        bus.write_byte_data(0x52, 0x0B, page).unwrap();
        for reg in 0x80..=0xFFu8 {
            image.push(bus.read_byte_data(0x52, reg).unwrap());
        }
    }
    bus.write_byte_data(0x52, 0x0B, 0).unwrap();
    let spd = Spd::new_checked(&image).unwrap();
    assert_eq!(spd.memory_type(), MemoryType::Ddr5);
    assert_eq!(spd.serial_number(), 0x1234_ABCD);
    assert_eq!(spd.part_number().unwrap(), "SOVSIM-DDR5-RDIMM-64G");
    assert!(spd.module_manufacturer().parity_ok());
    let writes = bus
        .with_device::<Spd5118, _>(0x52, |c| c.nvm_writes().len())
        .unwrap();
    assert_eq!(writes, 0);
}
