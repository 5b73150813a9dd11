//! Real-kernel tier: tests that run inside the QEMU guest booted by
//! `tests/kernel-tier/run.sh` (`.ci/tier-kernel` builds this file for
//! x86_64-unknown-linux-musl and runs it there with `--include-ignored`).
//!
//! The guest has i2c-stub at 0x18, 0x48 and 0x50 behind i2c-dev (an SMBus-only adapter,
//! like EPYC's i2c-piix4), the msr driver, and the jc42 and lm75 modules ready to load.
//! What is tested is `sovereign-linux` (SMBus handles, MSR reader) and `sovereign-hal`'s
//! jc42 and lm75 drivers against the real kernel: the kernel's own jc42 and lm75 drivers
//! are the oracle — for the same register contents their `temp1_input` is what a user
//! sees today, and ours must agree.
//!
//! On a development host every test here is ignored: they need that guest.

mod raw;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, OnceLock};

use embedded_hal::i2c::I2c as _;
use sovereign_hal::chips::lm75::{Lm75, Variant};
use sovereign_hal::chips::{
    self,
    jc42::{self, Alarms, Jc42},
};
use sovereign_hal::msr::{self, MsrReader as _};
use sovereign_hal::smbus::{self, Capabilities, Smbus as _};
use sovereign_hal::units::MilliCelsius;
use sovereign_linux::i2c::{I2cDevice, I2cErrorDetail};
use sovereign_linux::msr::{LinuxMsr, MsrErrorDetail};

/// i2c-stub's adapter name in sysfs.
const STUB_ADAPTER: &str = "SMBus stub driver";
const JC42_ADDRESS: u8 = 0x18;
const LM75_ADDRESS: u8 = 0x48;
const PLAIN_ADDRESS: u8 = 0x50;
/// No stub chip there (run.sh's chip_addr list).
const EMPTY_ADDRESS: u8 = 0x30;

/// I2C_FUNCS of i2c-stub without its `functionality` parameter: quick, byte, byte data,
/// word data, I2C block — SMBus only: no I2C_FUNC_I2C, no PEC, no SMBus block.
const STUB_FUNCTIONALITY: u64 = 0x0c7f_0000;

// HARDWARE.md §1: JC-42.4 register numbers.
const JC42_REG_CAP: u8 = 0x00;
const JC42_REG_CONFIG: u8 = 0x01;
const JC42_REG_UPPER: u8 = 0x02;
const JC42_REG_LOWER: u8 = 0x03;
const JC42_REG_CRITICAL: u8 = 0x04;
const JC42_REG_TEMP: u8 = 0x05;
const JC42_REG_MANID: u8 = 0x06;
const JC42_REG_DEVICEID: u8 = 0x07;
/// HARDWARE.md §1: configuration bit 8, shutdown.
const JC42_CONFIG_SHUTDOWN: u16 = 1 << 8;
// HARDWARE.md §4: LM75 register numbers.
const LM75_REG_TEMP: u8 = 0x00;
const LM75_REG_HYST: u8 = 0x02;
const LM75_REG_OS: u8 = 0x03;

/// The guest once the stub chips hold their identities and the kernel drivers are bound.
/// Set up once. The handles were opened *before* the kernel drivers bound — a handle's
/// address is set once, at open — which is how the tests keep writing register contents
/// (and reading them through our drivers) while the kernel owns the addresses.
struct Guest {
    bus: u32,
    jc42: I2cDevice,
    lm75: I2cDevice,
    plain: I2cDevice,
    /// Whether the kernel found the JC-42.4 sensor by its own detection (not told).
    jc42_detected_by_kernel: bool,
    /// What our jc42 driver said of the sensor while it was still shut down, before the
    /// kernel's driver bound (and, by its probe, woke it).
    jc42_converting_before_bind: Result<(), chips::ErrorKind>,
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

fn set_up() -> Result<Guest, Box<dyn std::error::Error>> {
    let bus = stub_bus()?;
    let mut jc42 = I2cDevice::open(bus, JC42_ADDRESS)?;
    let mut lm75 = I2cDevice::open(bus, LM75_ADDRESS)?;
    let plain = I2cDevice::open(bus, PLAIN_ADDRESS)?;

    // An NXP SE97 as jc42's detection wants it (HARDWARE.md §1): capability 0x0001,
    // manufacturer 0x1131, device 0xA200; limits 0 / 85 / 95 °C; shut down (config bit 8),
    // which detection allows and the kernel's probe clears. JC-42.4 words are MSB first on
    // the wire, SMBus words LSB first: swap.
    for (reg, value) in [
        (JC42_REG_CAP, 0x0001u16),
        (JC42_REG_CONFIG, JC42_CONFIG_SHUTDOWN),
        (JC42_REG_MANID, 0x1131),
        (JC42_REG_DEVICEID, 0xA200),
        (JC42_REG_LOWER, 0x0000),
        (JC42_REG_UPPER, 0x0550),
        (JC42_REG_CRITICAL, 0x05F0),
        (JC42_REG_TEMP, 0x0190),
    ] {
        jc42.write_word_data(JC42_ADDRESS, reg, value.swap_bytes())?;
    }
    // LM75 power-on limits: hysteresis 75 °C, overtemperature 80 °C (9-bit format).
    for (reg, value) in [
        (LM75_REG_HYST, 0x4B00u16),
        (LM75_REG_OS, 0x5000),
        (LM75_REG_TEMP, 0x1980),
    ] {
        lm75.write_word_data(LM75_ADDRESS, reg, value.swap_bytes())?;
    }

    let jc42_converting_before_bind = Jc42::new(&mut jc42, JC42_ADDRESS)?
        .check_converting()
        .map_err(|e| e.kind());
    let (jc42_hwmon, jc42_detected_by_kernel) = bind(bus, "jc42", JC42_ADDRESS)?;
    let (lm75_hwmon, _) = bind(bus, "lm75", LM75_ADDRESS)?;
    Ok(Guest {
        bus,
        jc42,
        lm75,
        plain,
        jc42_detected_by_kernel,
        jc42_converting_before_bind,
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

/// Loads the driver module; if its detection did not bind the address, binds it by
/// `new_device`. Returns the device's hwmon directory and whether detection bound it.
fn bind(bus: u32, driver: &str, address: u8) -> io::Result<(PathBuf, bool)> {
    let status = Command::new("/bin/insmod")
        .arg(format!("/lib/modules/extra/{driver}.ko"))
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!("insmod {driver}: {status}")));
    }
    let device = PathBuf::from(format!("/sys/bus/i2c/devices/{bus}-{address:04x}"));
    let detected = device.join("driver").exists();
    if !detected {
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
    Ok((hwmon.path(), detected))
}

/// A hwmon attribute in the kernel's units (m°C for temperatures, 0/1 for alarms).
fn kernel_value(hwmon: &Path, attribute: &str) -> i32 {
    let path = hwmon.join(attribute);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim()
        .parse()
        .unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

fn kernel_temperature(hwmon: &Path, attribute: &str) -> MilliCelsius {
    MilliCelsius(kernel_value(hwmon, attribute))
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn stub_adapter_is_reported_smbus_only() {
    let g = guest();
    assert_eq!(g.plain.adapter_name(), Some(STUB_ADAPTER));
    assert_eq!(
        g.plain.functionality(),
        STUB_FUNCTIONALITY,
        "I2C_FUNCS {:#x}",
        g.plain.functionality()
    );
    assert!(g.plain.is_smbus_only());
    let caps = g.plain.capabilities();
    assert!(!caps.contains(Capabilities::I2C), "{caps:?}");
    assert!(!caps.contains(Capabilities::PEC), "{caps:?}");
    assert!(
        caps.contains(Capabilities::READ_WORD_DATA | Capabilities::READ_I2C_BLOCK),
        "{caps:?}"
    );
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn raw_i2c_is_refused_with_the_adapter_and_the_missing_capability() {
    let mut g = guest();
    // The kernel fact the refusal rests on (HARDWARE.md §10): I2C_RDWR on this adapter is
    // EOPNOTSUPP.
    let mut out = [0u8; 4];
    let errno = raw::i2c_rdwr_write_read(g.bus, PLAIN_ADDRESS, &[0, 1], &mut out).unwrap_err();
    assert_eq!(
        errno.raw_os_error(),
        Some(95),
        "I2C_RDWR on i2c-stub: {errno}"
    );

    // A transaction with no SMBus equivalent: two command bytes, then a 4-byte read.
    let err = g
        .plain
        .write_read(PLAIN_ADDRESS, &[0, 1], &mut out)
        .unwrap_err();
    assert_eq!(
        smbus::Error::kind(&err),
        smbus::ErrorKind::Unsupported,
        "{err}"
    );
    assert!(
        matches!(err.detail(), I2cErrorDetail::UnsupportedShape { .. }),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(STUB_ADAPTER) && message.contains("I2C_FUNC_I2C"),
        "{message}"
    );
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn missing_smbus_operations_are_refused_by_name() {
    let mut g = guest();
    let mut block = [0u8; 32];
    for err in [
        g.plain
            .read_block_data(PLAIN_ADDRESS, 0, &mut block)
            .map(drop)
            .unwrap_err(),
        g.plain.set_pec(PLAIN_ADDRESS, true).unwrap_err(),
    ] {
        assert_eq!(
            smbus::Error::kind(&err),
            smbus::ErrorKind::Unsupported,
            "{err}"
        );
        assert!(
            matches!(err.detail(), I2cErrorDetail::MissingCapability { .. }),
            "{err:?}"
        );
        assert!(err.to_string().contains(STUB_ADAPTER), "{err}");
    }
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn smbus_transfers_reach_the_chip() {
    let mut g = guest();
    let a = PLAIN_ADDRESS;
    g.plain.write_word_data(a, 0x10, 0xBEEF).unwrap();
    assert_eq!(g.plain.read_word_data(a, 0x10).unwrap(), 0xBEEF);
    g.plain.write_byte_data(a, 0x20, 0x5A).unwrap();
    assert_eq!(g.plain.read_byte_data(a, 0x20).unwrap(), 0x5A);
    // i2c-stub keeps one value per register: an I2C block read returns the low byte of
    // each register from the command on.
    for (i, v) in [0x11u8, 0x22, 0x33, 0x44].into_iter().enumerate() {
        g.plain.write_byte_data(a, 0x30 + i as u8, v).unwrap();
    }
    let mut block = [0u8; 4];
    g.plain.read_i2c_block_data(a, 0x30, &mut block).unwrap();
    assert_eq!(block, [0x11, 0x22, 0x33, 0x44]);
    // embedded-hal's write_read of [cmd] + 2 bytes is an SMBus read word on this adapter
    let mut word = [0u8; 2];
    g.plain.write_read(a, &[0x10], &mut word).unwrap();
    assert_eq!(word, 0xBEEFu16.to_le_bytes());
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn empty_address_does_not_acknowledge() {
    let g = guest();
    let mut dev = I2cDevice::open(g.bus, EMPTY_ADDRESS).unwrap();
    // i2c-stub says ENODEV where real adapters say ENXIO or EREMOTEIO: all are a NAK
    let err = dev.read_byte_data(EMPTY_ADDRESS, 0).unwrap_err();
    assert_eq!(
        smbus::Error::kind(&err),
        smbus::ErrorKind::NoAcknowledge,
        "{err}"
    );
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn address_owned_by_jc42_is_busy_and_names_the_driver() {
    let g = guest();
    let err = I2cDevice::open(g.bus, JC42_ADDRESS).unwrap_err();
    assert_eq!(smbus::Error::kind(&err), smbus::ErrorKind::Busy, "{err}");
    assert_eq!(err.claimed_by(), Some("jc42"), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("jc42") && message.contains("hwmon"),
        "{message}"
    );
}

/// JC-42.4 temperature registers (as the chip holds them, MSB first) and what they mean
/// (HARDWARE.md §1: 13-bit two's complement in 1/16 °C, × 125 / 2 truncated toward zero;
/// bits 15/14/13 are the crit/max/min alarm flags).
const JC42_CASES: [(u16, i32); 8] = [
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
fn jc42_reading_agrees_with_the_kernel() {
    let mut g = guest();
    let hwmon = g.jc42_hwmon.clone();
    for (register, millicelsius) in JC42_CASES {
        g.jc42
            .write_word_data(JC42_ADDRESS, JC42_REG_TEMP, register.swap_bytes())
            .unwrap();
        let ours = Jc42::new(&mut g.jc42, JC42_ADDRESS)
            .unwrap()
            .read()
            .unwrap();
        let kernel = kernel_temperature(&hwmon, "temp1_input");
        assert_eq!(ours.temperature, kernel, "register {register:#06x}");
        assert_eq!(
            kernel,
            MilliCelsius(millicelsius),
            "register {register:#06x}"
        );
        for (attribute, flag) in [
            ("temp1_crit_alarm", Alarms::CRITICAL),
            ("temp1_max_alarm", Alarms::HIGH),
            ("temp1_min_alarm", Alarms::LOW),
        ] {
            let kernel_alarm = kernel_value(&hwmon, attribute) == 1;
            assert_eq!(
                ours.alarms.contains(flag),
                kernel_alarm,
                "{attribute}, register {register:#06x}"
            );
        }
    }
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn jc42_limits_and_detection_agree_with_the_kernel() {
    let mut g = guest();
    let hwmon = g.jc42_hwmon.clone();
    let detected_by_kernel = g.jc42_detected_by_kernel;
    let mut sensor = Jc42::new(&mut g.jc42, JC42_ADDRESS).unwrap();
    let limits = sensor.read_limits().unwrap();
    assert_eq!(limits.lower, kernel_temperature(&hwmon, "temp1_min"));
    assert_eq!(limits.upper, kernel_temperature(&hwmon, "temp1_max"));
    assert_eq!(limits.critical, kernel_temperature(&hwmon, "temp1_crit"));
    assert_eq!(
        (limits.upper, limits.critical),
        (MilliCelsius(85_000), MilliCelsius(95_000))
    );
    // the kernel recognised the SE97 by itself; so must our detection
    assert!(
        detected_by_kernel,
        "the kernel's jc42 did not detect the SE97 identity"
    );
    assert!(sensor.detect().unwrap());
    let (capability, config) = (
        sensor.read_capability().unwrap(),
        sensor.read_config().unwrap(),
    );
    let ids = sensor.read_ids().unwrap();
    assert!(
        jc42::is_jc42(capability, config, ids.manufacturer, ids.device),
        "{ids:?}"
    );
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn jc42_shutdown_is_seen_before_the_kernel_wakes_the_sensor() {
    let mut g = guest();
    // HARDWARE.md §1: the kernel's probe clears the shutdown bit; until then a reading
    // would be a stale conversion, which our driver must say.
    assert_eq!(
        g.jc42_converting_before_bind,
        Err(chips::ErrorKind::Unsupported)
    );
    let config = g
        .jc42
        .read_word_data(JC42_ADDRESS, JC42_REG_CONFIG)
        .unwrap()
        .swap_bytes();
    assert_eq!(
        config & JC42_CONFIG_SHUTDOWN,
        0,
        "config {config:#06x} after the kernel's probe"
    );
    let mut sensor = Jc42::new(&mut g.jc42, JC42_ADDRESS).unwrap();
    assert_eq!(sensor.check_converting().map_err(|e| e.kind()), Ok(()));
}

/// LM75 temperature registers (MSB first) and what the kernel's 9-bit `lm75` makes of them
/// (HARDWARE.md §4: arithmetic shift right by 7, × 1000, arithmetic shift right by 1).
const LM75_CASES: [(u16, i32); 6] = [
    (0x1980, 25_500),
    (0xE700, -25_000),
    (0xFF80, -500),
    (0x19FF, 25_500), // bits below the 9-bit resolution are dropped
    (0x7D00, 125_000),
    (0xC900, -55_000),
];

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn lm75_reading_agrees_with_the_kernel() {
    let mut g = guest();
    let hwmon = g.lm75_hwmon.clone();
    for (register, millicelsius) in LM75_CASES {
        g.lm75
            .write_word_data(LM75_ADDRESS, LM75_REG_TEMP, register.swap_bytes())
            .unwrap();
        let ours = Lm75::new(&mut g.lm75, LM75_ADDRESS, Variant::Lm75)
            .unwrap()
            .read_temperature()
            .unwrap();
        let kernel = kernel_temperature(&hwmon, "temp1_input");
        assert_eq!(ours, kernel, "register {register:#06x}");
        assert_eq!(
            kernel,
            MilliCelsius(millicelsius),
            "register {register:#06x}"
        );
    }
    let limits = Lm75::new(&mut g.lm75, LM75_ADDRESS, Variant::Lm75)
        .unwrap()
        .read_limits()
        .unwrap();
    assert_eq!(
        limits.overtemperature,
        kernel_temperature(&hwmon, "temp1_max")
    );
    assert_eq!(
        limits.hysteresis,
        kernel_temperature(&hwmon, "temp1_max_hyst")
    );
}

/// IA32_APIC_BASE: QEMU emulates it (reset value 0xFEE00000 | enable | BSP), so it is an
/// MSR with a known, non-zero value under TCG, where unknown MSRs read 0.
const IA32_APIC_BASE: u32 = 0x1B;

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn msr_reads_on_the_housekeeping_cpu() {
    let mut reader = LinuxMsr::new(0);
    let apic_base = reader.read_msr(0, IA32_APIC_BASE).unwrap();
    assert_eq!(
        apic_base & 0xFFFF_F000,
        0xFEE0_0000,
        "APIC base {apic_base:#x}"
    );
    assert_ne!(
        apic_base & (1 << 8),
        0,
        "CPU 0 is the bootstrap processor: {apic_base:#x}"
    );
    assert_ne!(apic_base & (1 << 11), 0, "APIC enabled: {apic_base:#x}");
    // the file stays open: the same read again gives the same value
    assert_eq!(reader.read_msr(0, IA32_APIC_BASE).unwrap(), apic_base);
}

#[test]
#[ignore = "runs only in the QEMU guest of tests/kernel-tier/run.sh (.ci/tier-kernel)"]
fn msr_of_an_absent_cpu_says_so() {
    // the guest has one CPU: /dev/cpu/0/msr exists, /dev/cpu/7/msr does not (ENOENT)
    let mut reader = LinuxMsr::new(0).allow_cpus([7]);
    let err = reader.read_msr(7, IA32_APIC_BASE).unwrap_err();
    assert_eq!(msr::Error::kind(&err), msr::ErrorKind::NoSuchCpu, "{err}");
    assert_eq!(err.detail(), &MsrErrorDetail::NoCpu, "{err:?}");
    assert!(err.to_string().contains("CPU 7"), "{err}");
}
