//! # sovereign-hal — the core that runs everywhere
//!
//! `#![no_std]`, no allocator. Everything Sovereign knows about server sensors and fan
//! control lives here, so the same code runs in the Linux daemon, in the simulator and on
//! a BMC-class microcontroller (Cortex-M or RISC-V, possibly without an FPU).
//!
//! Layers, bottom up:
//!
//! | module | what it holds |
//! |---|---|
//! | [`units`] | integer newtypes with the unit in the name; no floats in the public API |
//! | [`smbus`] | the [`smbus::Smbus`] bus trait, an adapter for any `embedded_hal::i2c::I2c`, a read-only wrapper |
//! | [`msr`] | the [`msr::MsrReader`] trait, MSR register maps and pure decoders (RAPL, P-states, APERF/MPERF, Intel thermal) |
//! | [`decode`] | the error every pure decoder returns |
//! | [`chips`] | chip drivers (JC-42.4, SPD5118, LM75/TMP75, SB-TSI, EMC230x, MAX31790, PMBus) |
//! | [`amd_tctl`] | AMD Tctl/Tccd SMN register decoding, for ports that can read SMN |
//! | [`identity`] | read-only SPD (DDR4/DDR5) and IPMI FRU parsing |
//! | [`pid`], [`control`] | fixed-point PID, curves, zones, failsafe, thresholds and events |
//!
//! Facts about registers come from `docs/HARDWARE.md` (restated from the Linux drivers); each
//! decoder cites the fact it implements, and its tests pin the kernel's behaviour,
//! rounding included.
//!
//! No function in this crate panics on any value read from hardware.
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(all(
    feature = "x86-rdmsr",
    not(any(target_arch = "x86", target_arch = "x86_64"))
))]
compile_error!("feature `x86-rdmsr` needs an x86 or x86_64 target: RDMSR does not exist elsewhere");

pub mod amd_tctl;
pub mod chips;
// Fixed point only: no FPU on BMC-class targets (issue 3). The compiler checks the
// arithmetic, .ci/no-float-check greps for the types.
#[cfg_attr(not(test), deny(clippy::float_arithmetic))]
pub mod control;
pub mod decode;
pub mod identity;
pub mod msr;
#[cfg_attr(not(test), deny(clippy::float_arithmetic))]
pub mod pid;
pub mod smbus;
pub mod units;
