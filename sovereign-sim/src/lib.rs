//! # sovereign-sim — a server you can run in CI
//!
//! Thermal plants, register-level simulated chips and fault injection, so that every
//! driver, control loop and failsafe path of `sovereign-hal` runs without hardware.
//!
//! | module | what |
//! |---|---|
//! | [`plant`] | the thermal ODEs: CPU dies and heatsink, DIMMs, VRMs, fans, inlet, workloads |
//! | [`scenario`] | controller + plant + faults for N seconds; outcomes, CSV, SVG; baselines |
//! | [`tune`] | relay-feedback autotuning and cost search |
//! | [`bus`] | a simulated SMBus/I2C bus routing by address |
//! | [`chips`] | simulated chips with their real register maps |
//! | [`msr`] | a simulated MSR file |
//! | [`hwmon`] | writes the simulated board as a Linux hwmon sysfs tree |
//! | [`fault`] | fault injection per device and time window |
//! | [`board`] | the reference board (`docs/REFERENCE-BOARD.md`): plant + buses + chips + MSR file + faults |

pub mod board;
pub mod bus;
pub mod chips;
pub mod fault;
pub mod hwmon;
pub mod msr;
pub mod plant;
pub mod scenario;
pub mod tune;
