//! # sovereign-linux — the thin Linux binding
//!
//! Opens devices and sysfs on behalf of `sovereign-hal`: `/dev/cpu/N/msr`, `/dev/i2c-N`,
//! `/sys/class/hwmon`. (Being written.)
