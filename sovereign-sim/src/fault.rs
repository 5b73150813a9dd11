//! Fault injection per device (or MSR) and per time window.
//!
//! A [`FaultPlan`] is a list of `(target, start_s, end_s, fault)` windows over a run of
//! known length. The simulated bus ([`crate::bus::SimBus`]) and MSR file
//! ([`crate::msr::SimMsr`]) are handed a copy of the plan and the current simulated time;
//! while a window is active (`start_s <= t < end_s`) the fault changes what the drivers
//! see, exactly at the level a real failure would: an address NAK, a timeout, a corrupted
//! PEC byte, a tach that reads the stall pattern, an MSR that faults.
//!
//! Bad plans are rejected when the window is added ([`FaultError`]): a window with
//! `start_s >= end_s`, one outside `[0, run_s]`, or a fault that cannot apply to its
//! target (an MSR fault on an I2C device, a NAK on an MSR).

use std::fmt;

/// What a fault window is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultTarget {
    /// A device on a simulated bus segment (`segment` is the [`crate::bus::SimBus`]'s
    /// segment number, `address` its 7-bit address).
    Device {
        /// Bus segment number (0 on a single-bus setup).
        segment: u8,
        /// 7-bit I2C address.
        address: u8,
    },
    /// One MSR index, on every CPU of the simulated MSR file.
    Msr {
        /// MSR index, e.g. 0xC001029B.
        msr: u32,
    },
}

/// One kind of failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fault {
    /// The device acknowledges its address but NAKs the bytes that follow
    /// (driver sees `ErrorKind::NoAcknowledge`).
    Nak,
    /// The transfer never completes; the bus reports a timeout after the SMBus
    /// t_TIMEOUT (driver sees `ErrorKind::Timeout`).
    BusTimeout,
    /// The device keeps answering whatever it answered at the first read inside the
    /// window (a frozen sensor).
    StuckValue,
    /// Every byte read is 0xFF (a device whose data line floats high).
    AllOnes,
    /// The PEC byte the device sends is corrupted (driver with PEC on sees
    /// `ErrorKind::PecMismatch`; a write with a corrupted PEC is NAKed).
    PecError,
    /// Fan `fan` (0-based) stops: its tach reads the stall pattern and the controller's
    /// stall status bit is set.
    FanStall {
        /// 0-based fan channel of the controller.
        fan: u8,
    },
    /// Nothing answers at the address (address NAK).
    DeviceAbsent,
    /// The MSR faults (#GP) as if the CPU did not implement it.
    MsrUnsupported,
    /// At the start of the window the energy counter is set this many counts below the
    /// 32-bit wrap, so it wraps while the window is active.
    ForcedCounterWrap {
        /// Counts left before the counter wraps.
        counts_before_wrap: u32,
    },
    /// Occasional spikes on the device's physical reading: on each transfer, with
    /// `probability`, the reading is offset by ±`amplitude` (°C for temperature sensors
    /// and a VRM's temperature, RPM for tachometers). Drawn from the plan's seeded
    /// generator, so a run is reproducible.
    NoiseSpikes {
        /// Size of a spike, in the device's physical unit.
        amplitude: f64,
        /// Chance of a spike per transfer, 0..=1.
        probability: f64,
    },
}

impl Fault {
    const fn applies_to_msr(&self) -> bool {
        matches!(self, Self::MsrUnsupported | Self::ForcedCounterWrap { .. })
    }
}

/// One fault window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultWindow {
    /// Which device or MSR.
    pub target: FaultTarget,
    /// Start of the window, seconds of simulated time (inclusive).
    pub start_s: f64,
    /// End of the window, seconds of simulated time (exclusive).
    pub end_s: f64,
    /// What goes wrong.
    pub fault: Fault,
}

impl FaultWindow {
    /// True while `t_s` is inside the window.
    pub fn active_at(&self, t_s: f64) -> bool {
        self.start_s <= t_s && t_s < self.end_s
    }
}

/// A rejected fault window.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultError {
    /// The run length is not a positive finite number of seconds.
    BadRunLength(f64),
    /// `start_s >= end_s`, or a bound is not finite.
    EmptyWindow {
        /// Start given.
        start_s: f64,
        /// End given.
        end_s: f64,
    },
    /// The window lies (partly) outside `[0, run_s]`.
    OutsideRun {
        /// Start given.
        start_s: f64,
        /// End given.
        end_s: f64,
        /// Length of the run.
        run_s: f64,
    },
    /// The fault cannot happen to that target (e.g. an MSR fault on an I2C device).
    WrongTarget {
        /// The target.
        target: FaultTarget,
        /// The fault.
        fault: Fault,
    },
    /// A parameter of the fault is out of range (probability outside 0..=1, negative or
    /// non-finite amplitude, fan channel above 15).
    BadParameter(&'static str),
}

impl fmt::Display for FaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRunLength(r) => {
                write!(
                    f,
                    "run length {r} s is not a positive finite number of seconds; give the scenario's duration"
                )
            }
            Self::EmptyWindow { start_s, end_s } => write!(
                f,
                "fault window [{start_s} s, {end_s} s) is empty or not finite; the start must be before the end"
            ),
            Self::OutsideRun {
                start_s,
                end_s,
                run_s,
            } => write!(
                f,
                "fault window [{start_s} s, {end_s} s) lies outside the run [0 s, {run_s} s]; move it inside the run or lengthen the run"
            ),
            Self::WrongTarget { target, fault } => write!(
                f,
                "fault {fault:?} cannot apply to {target:?}: MSR faults need an MSR target, bus faults a device target"
            ),
            Self::BadParameter(what) => write!(f, "bad fault parameter: {what}"),
        }
    }
}

impl std::error::Error for FaultError {}

/// Fault windows over a run of known length, plus the seed for noise spikes.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultPlan {
    run_s: f64,
    seed: u64,
    windows: Vec<FaultWindow>,
}

impl FaultPlan {
    /// An empty plan for a run of `run_s` seconds.
    pub fn new(run_s: f64) -> Result<Self, FaultError> {
        if !(run_s.is_finite() && run_s > 0.0) {
            return Err(FaultError::BadRunLength(run_s));
        }
        Ok(Self {
            run_s,
            seed: 0,
            windows: Vec::new(),
        })
    }

    /// A plan without faults that accepts any time (for setups without a run length).
    pub fn none() -> Self {
        Self {
            run_s: f64::MAX,
            seed: 0,
            windows: Vec::new(),
        }
    }

    /// Sets the seed of the noise-spike generator.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The noise seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Length of the run this plan was made for, seconds.
    pub fn run_s(&self) -> f64 {
        self.run_s
    }

    /// Adds a window; rejects empty windows, windows outside the run, faults that cannot
    /// apply to the target and out-of-range parameters.
    pub fn add(
        &mut self,
        target: FaultTarget,
        start_s: f64,
        end_s: f64,
        fault: Fault,
    ) -> Result<&mut Self, FaultError> {
        if !(start_s.is_finite() && end_s.is_finite()) || start_s >= end_s {
            return Err(FaultError::EmptyWindow { start_s, end_s });
        }
        if start_s < 0.0 || end_s > self.run_s {
            return Err(FaultError::OutsideRun {
                start_s,
                end_s,
                run_s: self.run_s,
            });
        }
        let msr_target = matches!(target, FaultTarget::Msr { .. });
        if msr_target != fault.applies_to_msr() {
            return Err(FaultError::WrongTarget { target, fault });
        }
        if let FaultTarget::Device { address, .. } = target
            && address > 0x7F
        {
            return Err(FaultError::BadParameter("I2C address above 0x7F"));
        }
        match fault {
            Fault::NoiseSpikes {
                amplitude,
                probability,
            } => {
                if !(0.0..=1.0).contains(&probability) {
                    return Err(FaultError::BadParameter(
                        "noise spike probability must be within 0..=1",
                    ));
                }
                if !(amplitude.is_finite() && amplitude >= 0.0) {
                    return Err(FaultError::BadParameter(
                        "noise spike amplitude must be finite and >= 0",
                    ));
                }
            }
            Fault::FanStall { fan } if fan > 15 => {
                return Err(FaultError::BadParameter("fan channel above 15"));
            }
            _ => {}
        }
        self.windows.push(FaultWindow {
            target,
            start_s,
            end_s,
            fault,
        });
        Ok(self)
    }

    /// All windows, in the order added.
    pub fn windows(&self) -> &[FaultWindow] {
        &self.windows
    }

    /// Faults active on a device at time `t_s`.
    pub fn active_on_device(
        &self,
        segment: u8,
        address: u8,
        t_s: f64,
    ) -> impl Iterator<Item = &FaultWindow> + '_ {
        self.windows.iter().filter(move |w| {
            w.target == FaultTarget::Device { segment, address } && w.active_at(t_s)
        })
    }

    /// Faults active on an MSR at time `t_s`.
    pub fn active_on_msr(&self, msr: u32, t_s: f64) -> impl Iterator<Item = &FaultWindow> + '_ {
        self.windows
            .iter()
            .filter(move |w| w.target == FaultTarget::Msr { msr } && w.active_at(t_s))
    }
}

/// A small deterministic generator (SplitMix64) for noise spikes: same seed, same spikes.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        // SplitMix64 (Steele, Lea, Flood 2014): golden-ratio increment, then two
        // xor-shift-multiply rounds.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        // 53 random mantissa bits.
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: FaultTarget = FaultTarget::Device {
        segment: 0,
        address: 0x50,
    };

    #[test]
    fn window_with_start_after_end_is_rejected_with_a_clear_error() {
        let mut plan = FaultPlan::new(100.0).unwrap();
        let err = plan.add(DEV, 10.0, 10.0, Fault::Nak).unwrap_err();
        assert_eq!(
            err,
            FaultError::EmptyWindow {
                start_s: 10.0,
                end_s: 10.0
            }
        );
        assert!(err.to_string().contains("start must be before the end"));
        assert!(plan.add(DEV, 20.0, 10.0, Fault::Nak).is_err());
        assert!(plan.windows().is_empty());
    }

    #[test]
    fn window_outside_the_run_is_rejected() {
        let mut plan = FaultPlan::new(100.0).unwrap();
        let err = plan.add(DEV, 90.0, 120.0, Fault::Nak).unwrap_err();
        assert!(matches!(err, FaultError::OutsideRun { .. }));
        assert!(err.to_string().contains("outside the run"));
        assert!(plan.add(DEV, -1.0, 5.0, Fault::Nak).is_err());
        assert!(plan.add(DEV, 0.0, 100.0, Fault::Nak).is_ok());
    }

    #[test]
    fn msr_faults_need_msr_targets_and_bus_faults_device_targets() {
        let mut plan = FaultPlan::new(10.0).unwrap();
        assert!(matches!(
            plan.add(DEV, 0.0, 1.0, Fault::MsrUnsupported),
            Err(FaultError::WrongTarget { .. })
        ));
        let msr = FaultTarget::Msr { msr: 0xC001_029B };
        assert!(matches!(
            plan.add(msr, 0.0, 1.0, Fault::Nak),
            Err(FaultError::WrongTarget { .. })
        ));
        assert!(plan.add(msr, 0.0, 1.0, Fault::MsrUnsupported).is_ok());
    }

    #[test]
    fn bad_noise_parameters_and_run_lengths_are_rejected() {
        assert!(FaultPlan::new(0.0).is_err());
        assert!(FaultPlan::new(f64::NAN).is_err());
        let mut plan = FaultPlan::new(10.0).unwrap();
        let spike = Fault::NoiseSpikes {
            amplitude: 5.0,
            probability: 1.5,
        };
        assert!(matches!(
            plan.add(DEV, 0.0, 1.0, spike),
            Err(FaultError::BadParameter(_))
        ));
    }

    #[test]
    fn a_window_is_active_from_start_inclusive_to_end_exclusive() {
        let mut plan = FaultPlan::new(10.0).unwrap();
        plan.add(DEV, 2.0, 4.0, Fault::AllOnes).unwrap();
        assert_eq!(plan.active_on_device(0, 0x50, 1.99).count(), 0);
        assert_eq!(plan.active_on_device(0, 0x50, 2.0).count(), 1);
        assert_eq!(plan.active_on_device(0, 0x50, 3.99).count(), 1);
        assert_eq!(plan.active_on_device(0, 0x50, 4.0).count(), 0);
        assert_eq!(
            plan.active_on_device(1, 0x50, 3.0).count(),
            0,
            "other segment"
        );
    }

    #[test]
    fn same_seed_gives_the_same_noise_sequence() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let mut c = SplitMix64::new(8);
        let sa: Vec<u64> = (0..8).map(|_| a.next_u64()).collect();
        let sb: Vec<u64> = (0..8).map(|_| b.next_u64()).collect();
        let sc: Vec<u64> = (0..8).map(|_| c.next_u64()).collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
        let x = SplitMix64::new(1).next_f64();
        assert!((0.0..1.0).contains(&x));
    }
}
