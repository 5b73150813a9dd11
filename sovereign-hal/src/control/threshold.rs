//! Per-sensor thresholds (lower/upper, non-critical/critical) with hysteresis, the
//! IPMI sensor model without the BMC.
//!
//! An upper threshold is asserted when the reading reaches it and cleared when the
//! reading falls below it by more than the hysteresis; a lower one mirrors that. Each
//! transition is reported once, so a reading that dithers on a threshold does not flood
//! the journal.

use super::ControlError;

/// Which threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ThresholdLevel {
    /// Lower critical (e.g. a fan at 0 RPM, a rail far below nominal).
    LowerCritical,
    /// Lower non-critical (warning).
    LowerNonCritical,
    /// Upper non-critical (warning).
    UpperNonCritical,
    /// Upper critical: also a failsafe cause.
    UpperCritical,
}

impl ThresholdLevel {
    const ALL: [Self; 4] = [
        Self::LowerCritical,
        Self::LowerNonCritical,
        Self::UpperNonCritical,
        Self::UpperCritical,
    ];

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// Lower-case name for logs and metric labels, e.g. `upper critical`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::LowerCritical => "lower critical",
            Self::LowerNonCritical => "lower non-critical",
            Self::UpperNonCritical => "upper non-critical",
            Self::UpperCritical => "upper critical",
        }
    }

    /// Whether this is a critical threshold.
    pub const fn is_critical(self) -> bool {
        matches!(self, Self::LowerCritical | Self::UpperCritical)
    }

    const fn is_upper(self) -> bool {
        matches!(self, Self::UpperNonCritical | Self::UpperCritical)
    }
}

/// The four thresholds of one sensor, in its milli-units; `None` disables one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Thresholds {
    /// Lower critical.
    pub lower_critical: Option<i32>,
    /// Lower non-critical.
    pub lower_non_critical: Option<i32>,
    /// Upper non-critical.
    pub upper_non_critical: Option<i32>,
    /// Upper critical.
    pub upper_critical: Option<i32>,
    /// How far past a threshold the reading must come back to clear it.
    pub hysteresis: u32,
}

impl Thresholds {
    /// Upper thresholds only, e.g. a CPU at 90 °C warning and 95 °C critical.
    pub const fn upper(non_critical: i32, critical: i32, hysteresis: u32) -> Self {
        Self {
            lower_critical: None,
            lower_non_critical: None,
            upper_non_critical: Some(non_critical),
            upper_critical: Some(critical),
            hysteresis,
        }
    }

    const fn get(&self, level: ThresholdLevel) -> Option<i32> {
        match level {
            ThresholdLevel::LowerCritical => self.lower_critical,
            ThresholdLevel::LowerNonCritical => self.lower_non_critical,
            ThresholdLevel::UpperNonCritical => self.upper_non_critical,
            ThresholdLevel::UpperCritical => self.upper_critical,
        }
    }
}

/// Thresholds and which of them are asserted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ThresholdMonitor {
    thresholds: Thresholds,
    asserted: u8,
}

impl ThresholdMonitor {
    /// # Errors
    /// [`ControlError::ThresholdsOutOfOrder`] unless lower critical ≤ lower non-critical
    /// < upper non-critical ≤ upper critical (for the ones that are set).
    pub fn new(thresholds: Thresholds) -> Result<Self, ControlError> {
        let mut prev: Option<(ThresholdLevel, i32)> = None;
        for level in ThresholdLevel::ALL {
            if let Some(v) = thresholds.get(level) {
                if let Some((p, pv)) = prev {
                    // Equal is fine within one side; a lower must stay below an upper.
                    let ordered = if p.is_upper() == level.is_upper() {
                        pv <= v
                    } else {
                        pv < v
                    };
                    if !ordered {
                        return Err(ControlError::ThresholdsOutOfOrder);
                    }
                }
                prev = Some((level, v));
            }
        }
        Ok(Self {
            thresholds,
            asserted: 0,
        })
    }

    /// No thresholds at all.
    pub const fn none() -> Self {
        Self {
            thresholds: Thresholds {
                lower_critical: None,
                lower_non_critical: None,
                upper_non_critical: None,
                upper_critical: None,
                hysteresis: 0,
            },
            asserted: 0,
        }
    }

    /// Whether `level` is asserted now.
    pub const fn is_asserted(&self, level: ThresholdLevel) -> bool {
        self.asserted & level.bit() != 0
    }

    /// Whether a critical threshold is asserted now.
    pub const fn critical(&self) -> bool {
        self.is_asserted(ThresholdLevel::LowerCritical)
            || self.is_asserted(ThresholdLevel::UpperCritical)
    }

    /// Evaluates a reading; calls `on_change(level, asserted)` for each transition.
    pub fn evaluate(&mut self, value: i32, mut on_change: impl FnMut(ThresholdLevel, bool)) {
        let v = i64::from(value);
        let hyst = i64::from(self.thresholds.hysteresis);
        for level in ThresholdLevel::ALL {
            let Some(t) = self.thresholds.get(level) else {
                continue;
            };
            let t = i64::from(t);
            let was = self.is_asserted(level);
            let now = if level.is_upper() {
                if was { v >= t - hyst } else { v >= t }
            } else if was {
                v <= t + hyst
            } else {
                v <= t
            };
            if now != was {
                self.asserted ^= level.bit();
                on_change(level, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    fn run(m: &mut ThresholdMonitor, v: i32) -> Vec<(ThresholdLevel, bool)> {
        let mut out = Vec::new();
        m.evaluate(v, |l, a| out.push((l, a)));
        out
    }

    #[test]
    fn upper_thresholds_assert_once_and_clear_after_hysteresis() {
        use ThresholdLevel::*;
        let mut m = ThresholdMonitor::new(Thresholds::upper(90_000, 95_000, 2_000)).unwrap();
        assert_eq!(run(&mut m, 89_999), []);
        assert_eq!(run(&mut m, 90_000), [(UpperNonCritical, true)]);
        assert_eq!(run(&mut m, 96_000), [(UpperCritical, true)]);
        assert!(m.critical());
        // Dither just under the critical threshold: still asserted, no new event.
        assert_eq!(run(&mut m, 94_000), []);
        assert_eq!(run(&mut m, 95_100), []);
        assert_eq!(run(&mut m, 92_999), [(UpperCritical, false)]);
        assert_eq!(run(&mut m, 87_000), [(UpperNonCritical, false)]);
        assert!(!m.critical());
    }

    #[test]
    fn lower_thresholds_mirror_upper_ones() {
        use ThresholdLevel::*;
        let t = Thresholds {
            lower_critical: Some(500),
            lower_non_critical: Some(1_000),
            hysteresis: 100,
            ..Thresholds::default()
        };
        let mut m = ThresholdMonitor::new(t).unwrap();
        assert_eq!(
            run(&mut m, 400),
            [(LowerCritical, true), (LowerNonCritical, true)]
        );
        assert_eq!(run(&mut m, 550), []);
        assert_eq!(run(&mut m, 601), [(LowerCritical, false)]);
        assert_eq!(run(&mut m, 1_101), [(LowerNonCritical, false)]);
    }

    #[test]
    fn thresholds_out_of_order_are_rejected() {
        let t = Thresholds::upper(95_000, 90_000, 0);
        assert_eq!(
            ThresholdMonitor::new(t),
            Err(ControlError::ThresholdsOutOfOrder)
        );
        let t = Thresholds {
            lower_non_critical: Some(5),
            upper_non_critical: Some(5),
            ..Thresholds::default()
        };
        assert_eq!(
            ThresholdMonitor::new(t),
            Err(ControlError::ThresholdsOutOfOrder)
        );
        assert!(ThresholdMonitor::new(Thresholds::upper(90_000, 90_000, 0)).is_ok());
    }
}
