//! Real-kernel tier: tests that run inside the QEMU guest booted by
//! `tests/kernel-tier/run.sh` (`.ci/tier-kernel` builds this file for
//! x86_64-unknown-linux-musl and runs it there with `--include-ignored`).
//!
//! The guest has i2c-stub at 0x18, 0x48 and 0x50 behind i2c-dev (an SMBus-only adapter,
//! like EPYC's i2c-piix4), the msr driver, and the jc42 and lm75 modules ready to load. The
//! kernel's own jc42 and lm75 drivers are the oracle: for the same register contents their
//! `temp1_input` is what a user sees today.
//!
//! On a development host every test here is ignored: they need that guest.

mod raw;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use raw::I2cDev;

/// i2c-stub's adapter name in sysfs.
const STUB_ADAPTER: &str = "SMBus stub driver";
const JC42_ADDRESS: u8 = 0x18;
const LM75_ADDRESS: u8 = 0x48;
const PLAIN_ADDRESS: u8 = 0x50;
/// No stub chip there (run.sh's chip_addr list).
const EMPTY_ADDRESS: u8 = 0x30;

/// I2C_FUNCS of i2c-stub without its `functionality` parameter: quick, byte, byte data,
/// word data, I2C block — SMBus only, no I2C_FUNC_I2C (tools/kernel-tier README).
const STUB_FUNCTIONALITY: u64 = 0x0c7f_0000;
const I2C_FUNC_I2C: u64 = 0x1;

// HARDWARE.md §1: JC-42.4 register numbers.
const JC42_REG_CAP: u8 = 0x00;
const JC42_REG_CONFIG: u8 = 0x01;
const JC42_REG_TEMP: u8 = 0x05;
const JC42_REG_MANID: u8 = 0x06;
const JC42_REG_DEVICEID: u8 = 0x07;
// HARDWARE.md §4: LM75 register numbers.
const LM75_REG_TEMP: u8 = 0x00;
const LM75_REG_HYST: u8 = 0x02;
const LM75_REG_OS: u8 = 0x03;

/// What the guest looks like once the stub chips hold their identities and the kernel
/// drivers are bound. Set up once; the handles were opened *before* the kernel drivers
/// bound, which is how the tests keep writing register contents afterwards.
struct Guest {
    bus: u32,
    jc42: I2cDev,
    lm75: I2cDev,
    plain: I2cDev,
    jc42_hwmon: PathBuf,
    lm75_hwmon: PathBuf,
}

fn guest() -> MutexGuard<'static, Guest> {
    static GUEST: OnceLock<Mutex<Guest>> = OnceLock::new();
    let guest =
        GUEST.get_or_init(|| Mutex::new(set_up().unwrap_or_else(|e| panic!("guest set-up: {e}"))));
    // a failed test poisons the lock; the state it protects is still what the next test needs
    guest.lock().unwrap_or_else(|p| p.into_inner())
}

fn set_up() -> io::Result<Guest> {
    let bus = stub_bus()?;
    let open = |address| -> io::Result<I2cDev> {
        let mut dev = I2cDev::open(bus)?;
        dev.set_address(address)?;
        Ok(dev)
    };
    let jc42 = open(JC42_ADDRESS)?;
    let lm75 = open(LM75_ADDRESS)?;
    let plain = open(PLAIN_ADDRESS)?;

    // An NXP SE97 as jc42's detection wants it (HARDWARE.md §1): capability 0x0001,
    // config 0, manufacturer 0x1131, device 0xA200. JC-42.4 words are MSB first on the wire,
    // SMBus words LSB first: swap.
    for (reg, value) in [
        (JC42_REG_CAP, 0x0001u16),
        (JC42_REG_CONFIG, 0),
        (JC42_REG_MANID, 0x1131),
        (JC42_REG_DEVICEID, 0xA200),
    ] {
        jc42.write_word_data(reg, value.swap_bytes())?;
    }
    jc42.write_word_data(JC42_REG_TEMP, 0x0190u16.swap_bytes())?;
    // LM75 power-on limits: hysteresis 75 °C, overtemperature 80 °C (9-bit format).
    lm75.write_word_data(LM75_REG_HYST, 0x4B00u16.swap_bytes())?;
    lm75.write_word_data(LM75_REG_OS, 0x5000u16.swap_bytes())?;
    lm75.write_word_data(LM75_REG_TEMP, 0x1980u16.swap_bytes())?;

    let jc42_hwmon = bind(bus, "jc42", JC42_ADDRESS)?;
    let lm75_hwmon = bind(bus, "lm75", LM75_ADDRESS)?;
    Ok(Guest {
        bus,
        jc42,
        lm75,
        plain,
        jc42_hwmon,
        lm75_hwmon,
    })
}

/// The bus number of i2c-stub's adapter.
fn stub_bus() -> io::Result<u32> {
    for entry in fs::read_dir("/sys/bus/i2c/devices")? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(n) = name.to_str().and_then(|n| n.strip_prefix("i2c-")) else {
            continue;
        };
        if fs::read_to_string(entry.path().join("name"))?.trim() == STUB_ADAPTER {
            return n
                .parse()
                .map_err(|_| io::Error::other(format!("odd adapter name i2c-{n}")));
        }
    }
    Err(io::Error::other(
        "no i2c-stub adapter: was i2c-stub loaded?",
    ))
}

/// Loads the driver module and binds it to the address (it may have bound already by
/// detection); returns the device's hwmon directory.
fn bind(bus: u32, driver: &str, address: u8) -> io::Result<PathBuf> {
    let status = Command::new("/bin/insmod")
        .arg(format!("/lib/modules/extra/{driver}.ko"))
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!("insmod {driver}: {status}")));
    }
    let device = PathBuf::from(format!("/sys/bus/i2c/devices/{bus}-{address:04x}"));
    if !device.join("driver").exists() {
        fs::write(
            format!("/sys/bus/i2c/devices/i2c-{bus}/new_device"),
            format!("{driver} {address:#04x}"),
        )?;
    }
    let bound = fs::read_link(device.join("driver"))?;
    if bound.file_name().and_then(|n| n.to_str()) != Some(driver) {
        return Err(io::Error::other(format!(
            "{} is bound to {}",
            device.display(),
            bound.display()
        )));
    }
    let hwmon = fs::read_dir(device.join("hwmon"))?
        .next()
        .ok_or_else(|| io::Error::other(format!("{driver} made no hwmon device")))??;
    Ok(hwmon.path())
}

fn read_sysfs_int(path: &Path) -> i64 {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn stub_adapter_is_smbus_only() {
    let g = guest();
    let funcs = g.plain.functionality().unwrap();
    assert_eq!(
        funcs, STUB_FUNCTIONALITY,
        "I2C_FUNCS of i2c-stub is {funcs:#x}"
    );
    assert_eq!(funcs & I2C_FUNC_I2C, 0);
    let mut out = [0u8; 2];
    let err = g
        .plain
        .raw_write_read(PLAIN_ADDRESS, 0, &mut out)
        .unwrap_err();
    // HARDWARE.md §10: I2C_RDWR needs I2C_FUNC_I2C, else EOPNOTSUPP.
    assert_eq!(
        err.raw_os_error(),
        Some(95),
        "I2C_RDWR on an SMBus-only adapter: {err}"
    );
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn word_written_is_word_read() {
    let g = guest();
    g.plain.write_word_data(0x10, 0xBEEF).unwrap();
    assert_eq!(g.plain.read_word_data(0x10).unwrap(), 0xBEEF);
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn empty_address_does_not_acknowledge() {
    let g = guest();
    let mut dev = I2cDev::open(g.bus).unwrap();
    dev.set_address(EMPTY_ADDRESS).unwrap();
    let err = dev.read_word_data(0).unwrap_err();
    // i2c-stub reports a missing chip as ENODEV (real adapters: ENXIO or EREMOTEIO).
    assert_eq!(
        err.raw_os_error(),
        Some(19),
        "read at an empty address: {err}"
    );
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn address_bound_to_jc42_is_busy() {
    let g = guest();
    let mut dev = I2cDev::open(g.bus).unwrap();
    let err = dev.set_address(JC42_ADDRESS).unwrap_err();
    // HARDWARE.md §10: I2C_SLAVE on an address with a bound driver is EBUSY.
    assert_eq!(
        err.raw_os_error(),
        Some(16),
        "I2C_SLAVE 0x18 with jc42 bound: {err}"
    );
}

/// JC-42.4 temperature registers (as the chip holds them, MSB first) and what they mean
/// (HARDWARE.md §1: 13-bit two's complement in 1/16 °C, × 125 / 2 truncated toward zero;
/// bits 15/14/13 are the crit/max/min alarm flags).
const JC42_CASES: [(u16, i64); 8] = [
    (0x0190, 25_000),
    (0xE190, 25_000),  // every alarm flag set
    (0x1F58, -10_500), // sign bit 12
    (0x1FFF, -62),     // −1/16 °C truncates toward zero
    (0x0001, 62),
    (0x0FFF, 255_937),
    (0x9D80, -40_000), // crit alarm at −40 °C
    (0x5FFF, -62),     // max alarm, −1/16 °C
];

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn jc42_temperature_agrees_with_the_kernel() {
    let g = guest();
    for (register, millicelsius) in JC42_CASES {
        g.jc42
            .write_word_data(JC42_REG_TEMP, register.swap_bytes())
            .unwrap();
        let kernel = read_sysfs_int(&g.jc42_hwmon.join("temp1_input"));
        assert_eq!(kernel, millicelsius, "register {register:#06x}");
        for (file, bit) in [
            ("temp1_crit_alarm", 15),
            ("temp1_max_alarm", 14),
            ("temp1_min_alarm", 13),
        ] {
            let kernel_alarm = read_sysfs_int(&g.jc42_hwmon.join(file));
            assert_eq!(
                kernel_alarm,
                i64::from((register >> bit) & 1),
                "{file} for register {register:#06x}"
            );
        }
    }
}

/// LM75 temperature registers (MSB first) and what the kernel's 9-bit `lm75` makes of them
/// (HARDWARE.md §4: arithmetic shift right by 7, × 1000, arithmetic shift right by 1).
const LM75_CASES: [(u16, i64); 6] = [
    (0x1980, 25_500),
    (0xE700, -25_000),
    (0xFF80, -500),
    (0x19FF, 25_500), // bits below the 9-bit resolution are dropped
    (0x7D00, 125_000),
    (0xC900, -55_000),
];

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn lm75_temperature_agrees_with_the_kernel() {
    let g = guest();
    for (register, millicelsius) in LM75_CASES {
        g.lm75
            .write_word_data(LM75_REG_TEMP, register.swap_bytes())
            .unwrap();
        let kernel = read_sysfs_int(&g.lm75_hwmon.join("temp1_input"));
        assert_eq!(kernel, millicelsius, "register {register:#06x}");
    }
}

/// IA32_APIC_BASE: QEMU emulates it (reset value 0xFEE00000 | enable | BSP), so it is an
/// MSR with a known, non-zero value under TCG.
const IA32_APIC_BASE: u32 = 0x1B;

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn msr_read_on_cpu0() {
    let apic_base = raw::read_msr(0, IA32_APIC_BASE).unwrap();
    assert_eq!(
        apic_base & 0xFFFF_F000,
        0xFEE0_0000,
        "APIC base {apic_base:#x}"
    );
    assert_eq!(
        apic_base & (1 << 8),
        1 << 8,
        "CPU 0 is the bootstrap processor"
    );
    assert_eq!(apic_base & (1 << 11), 1 << 11, "APIC enabled");
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn msr_of_absent_cpu_is_not_found() {
    // the guest has one CPU, so there is no /dev/cpu/7/msr
    let err = raw::read_msr(7, IA32_APIC_BASE).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound, "{err}");
}
