//! Control: curves, zones, failsafe, thresholds and events — everything between a
//! snapshot of readings and the fan commands, in fixed-capacity storage and integer
//! arithmetic (no floats, no allocation).
//!
//! | module | what it holds |
//! |---|---|
//! | [`curve`] | stepwise tables (with hysteresis, floor or ceiling) and piecewise-linear curves |
//! | [`health`] | per-sensor plausibility and age checks (worst case while stale), fan stall detection |
//! | [`failsafe`] | the per-zone failsafe state machine, its causes and escalation policy |
//! | [`threshold`] | lower/upper non-critical/critical thresholds with hysteresis |
//! | [`events`] | typed events and the ring they are queued in (the SEL, replaced) |
//! | [`zone`] | inputs → controllers → zone demand → fan commands, with failsafe |
//!
//! The PID itself is in [`crate::pid`]. Nothing here touches hardware: the caller reads
//! sensors, hands the samples to [`zone::Zone::step`], writes the commands it gets back
//! and drains the [`events::EventQueue`].

use core::fmt;

use crate::pid::PidError;

pub mod curve;
pub mod events;
pub mod failsafe;
pub mod health;
pub mod threshold;
pub mod zone;

/// Why a control configuration was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ControlError {
    /// A PID configuration was refused.
    Pid(PidError),
    /// A curve without points.
    EmptyCurve,
    /// Curve inputs not strictly increasing.
    CurveNotIncreasing,
    /// More points, sensors, inputs or fans than the fixed capacity.
    TooManyPoints,
    /// A zone without inputs or without fans.
    EmptyZone,
    /// An input without sensors, or naming a sensor the zone does not have.
    UnknownSensor,
    /// A range or duty band whose minimum is above its maximum.
    InvertedRange,
    /// Thresholds not ordered lower critical ≤ lower ≤ upper ≤ upper critical.
    ThresholdsOutOfOrder,
    /// Failsafe `exit_after` of zero periods.
    ZeroExitPeriods,
}

impl ControlError {
    /// What went wrong and how to fix it, the same text as `Display`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pid(e) => e.as_str(),
            Self::EmptyCurve => "curve has no points: give at least one",
            Self::CurveNotIncreasing => {
                "curve inputs must be strictly increasing: sort them and remove duplicates"
            }
            Self::TooManyPoints => {
                "more entries than the fixed capacity: raise the capacity parameter or drop entries"
            }
            Self::EmptyZone => "zone has no inputs or no fans: a zone needs at least one of each",
            Self::UnknownSensor => {
                "input names no sensor or a sensor index outside the zone's sensor table"
            }
            Self::InvertedRange => "minimum above maximum: swap them",
            Self::ThresholdsOutOfOrder => {
                "thresholds must satisfy lower critical <= lower non-critical < upper non-critical <= upper critical"
            }
            Self::ZeroExitPeriods => {
                "failsafe exit_after is 0: leaving failsafe needs at least one good period"
            }
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::error::Error for ControlError {}

impl From<PidError> for ControlError {
    fn from(e: PidError) -> Self {
        Self::Pid(e)
    }
}
