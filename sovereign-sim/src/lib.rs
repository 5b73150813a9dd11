//! # sovereign-sim — a server you can run in CI
//!
//! Thermal plants, register-level simulated chips and fault injection. (Being written.)
