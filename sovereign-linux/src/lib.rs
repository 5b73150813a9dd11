//! # sovereign-linux — the thin Linux binding
//!
//! Only what needs the operating system: opening devices, ioctls, sysfs.
//!
//! | module | what |
//! |---|---|
//! | [`msr`] | `/dev/cpu/N/msr`, implementing `sovereign_hal::msr::MsrReader` |
//! | [`i2c`] | `/dev/i2c-N`, implementing `sovereign_hal::smbus::Smbus` (SMBus-only adapters too) and `embedded_hal::i2c::I2c` |
//! | [`hwmon`] | `/sys/class/hwmon` readers, found by driver name and device identity |
//! | [`discovery`] | CPUID, SMBus adapters, read-only probing |
//! | [`smi`] | SMI counting (Intel MSR, AMD PMU event) and a TSC-gap detector |

pub mod discovery;
pub mod hwmon;
pub mod i2c;
pub mod msr;
pub mod smi;
