//! The per-zone failsafe state machine: why a zone no longer trusts its control loop,
//! what duty it runs meanwhile, when it may return, and when to ask for more.
//!
//! ```text
//!            any cause (immediately)                 escalating cause for `after` periods
//!  Normal ─────────────────────────────► Failsafe ─────────────────────────────► (event:
//!    ▲                                     │    ▲                                escalation
//!    └──── M consecutive periods without ──┘    └─ a cause returns: count restarts  requested)
//!          any cause (`exit_after`)              (escalation: `after` periods, reset only
//!                                                 by M periods without its causes)
//! ```
//!
//! Entry is immediate: one bad period is enough. Leaving needs `exit_after` good
//! periods in a row, so a flapping sensor keeps the fans high. While in failsafe the
//! zone runs at least the largest duty among the causes seen in the episode. The core
//! never escalates by itself: [`Event::EscalationRequested`] asks the caller. The
//! escalation timer, too, is only cancelled by `exit_after` good periods in a row, so a
//! cause that flaps faster than the escalation delay still escalates
//! ([`EscalationPolicy`]). On leaving, the zone ramps down from the failsafe duty
//! ([`FailsafePolicy::exit_slew_down_per_s`]) instead of dropping in one step.

use super::ControlError;
use super::events::{EscalationAction, Event, EventQueue, ZoneId};
use crate::units::Duty;

bitflags::bitflags! {
    /// Why a zone is in failsafe; several at once. Exported as labels in metrics.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct FailsafeCauses: u16 {
        /// A sensor has not produced one valid reading since start.
        const NO_READING_YET = 1 << 0;
        /// A sensor failed more consecutive reads than its retries allow.
        const READ_ERROR = 1 << 1;
        /// A sensor's last valid reading is older than its timeout.
        const STALE = 1 << 2;
        /// A reading outside the sensor's physical range.
        const OUT_OF_RANGE = 1 << 3;
        /// A sensor repeated exactly the same value too many times.
        const STUCK = 1 << 4;
        /// A reading changed faster than physics allows.
        const TOO_FAST = 1 << 5;
        /// A fan's tach stayed below its minimum while its duty was high.
        const FAN_STALL = 1 << 6;
        /// A sensor crossed a critical threshold.
        const CRITICAL = 1 << 7;
        /// A fan's tach failed more consecutive reads than its retries allow: the fan
        /// controller or its bus no longer answers, so neither the fan's speed nor
        /// whether it applies the duty written is known.
        const FAN_UNREADABLE = 1 << 8;
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for FailsafeCauses {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "FailsafeCauses({=u16:#x})", self.bits());
    }
}

impl FailsafeCauses {
    /// Metric label of each cause, in bit order.
    pub const NAMES: [(Self, &'static str); 9] = [
        (Self::NO_READING_YET, "no_reading_yet"),
        (Self::READ_ERROR, "read_error"),
        (Self::STALE, "stale"),
        (Self::OUT_OF_RANGE, "out_of_range"),
        (Self::STUCK, "stuck"),
        (Self::TOO_FAST, "too_fast"),
        (Self::FAN_STALL, "fan_stall"),
        (Self::CRITICAL, "critical"),
        (Self::FAN_UNREADABLE, "fan_unreadable"),
    ];
}

impl core::fmt::Display for FailsafeCauses {
    /// The metric labels of the active causes joined by `,`, or `none`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut first = true;
        for (cause, name) in Self::NAMES {
            if self.contains(cause) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first { f.write_str("none") } else { Ok(()) }
    }
}

/// When failsafe is not enough: request `action` once when any of `causes` has kept
/// coming back for `after_periods` periods.
///
/// The escalation timer starts at the first period with one of `causes` and counts
/// every period from then on — also periods in which the cause is briefly clear — until
/// the cause has stayed clear for the failsafe's `exit_after` periods in a row; only
/// then does it restart. A CPU that bounces in and out of its critical threshold's
/// hysteresis band is not cooling down, and must not keep the timer at zero: the same
/// `exit_after` good periods that a zone needs to leave failsafe are needed to cancel
/// an escalation in progress. The request is made in the first period with the cause
/// active once the timer has reached `after_periods`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EscalationPolicy {
    /// The causes that count (typically [`FailsafeCauses::CRITICAL`]).
    pub causes: FailsafeCauses,
    /// Periods from the first period with a cause before the request (Hubris: 60 s at
    /// 1 Hz).
    pub after_periods: u32,
    /// What to ask for.
    pub action: EscalationAction,
}

/// The failsafe settings of one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FailsafePolicy {
    /// Duty for each cause, in the order of [`FailsafeCauses::NAMES`].
    pub duty: [Duty; 9],
    /// Consecutive good periods needed to leave failsafe (≥ 1); also the good periods
    /// that cancel an escalation in progress ([`EscalationPolicy`]).
    pub exit_after: u16,
    /// On leaving failsafe the zone's duty falls from the failsafe duty by at most this
    /// many per-mille per second (bumpless exit), until the control loop asks for more.
    /// `None`: the slowest `slew_down_per_s` among the zone's PID inputs; a zone with
    /// neither falls to the loop's demand at once.
    pub exit_slew_down_per_s: Option<u32>,
    /// Optional escalation.
    pub escalation: Option<EscalationPolicy>,
}

impl FailsafePolicy {
    /// Full fans for every cause, leave after 5 good periods, request power-down after
    /// 60 periods with a critical threshold crossed (Hubris's overheat timeout at 1 Hz,
    /// THERMAL.md §7.4).
    pub const DEFAULT: Self = Self {
        duty: [Duty::FULL; 9],
        exit_after: 5,
        exit_slew_down_per_s: None,
        escalation: Some(EscalationPolicy {
            causes: FailsafeCauses::CRITICAL,
            after_periods: 60,
            action: EscalationAction::PowerDown,
        }),
    };

    /// The same duty for every cause; exit ramp as the zone's PIDs, no escalation.
    pub const fn uniform(duty: Duty, exit_after: u16) -> Self {
        Self {
            duty: [duty; 9],
            exit_after,
            exit_slew_down_per_s: None,
            escalation: None,
        }
    }

    /// The largest duty among `causes`; `None` without causes.
    pub fn duty_for(&self, causes: FailsafeCauses) -> Option<Duty> {
        FailsafeCauses::NAMES
            .iter()
            .zip(self.duty)
            .filter(|((c, _), _)| causes.contains(*c))
            .map(|(_, d)| d)
            .max()
    }
}

/// Where the state machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FailsafeState {
    /// The control loop drives the fans.
    Normal,
    /// The failsafe duty is the floor; `good_periods` counts towards leaving.
    Failsafe {
        /// Consecutive periods without any cause so far.
        good_periods: u16,
    },
}

/// The failsafe state machine of one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Failsafe {
    policy: FailsafePolicy,
    state: FailsafeState,
    active: FailsafeCauses,
    episode: FailsafeCauses,
    escalation_periods: u32,
    escalation_quiet: u16,
    escalated: bool,
}

impl Failsafe {
    /// A state machine in [`FailsafeState::Normal`].
    ///
    /// # Errors
    /// [`ControlError::ZeroExitPeriods`] when `exit_after` is 0.
    pub fn new(policy: FailsafePolicy) -> Result<Self, ControlError> {
        if policy.exit_after == 0 {
            return Err(ControlError::ZeroExitPeriods);
        }
        Ok(Self {
            policy,
            state: FailsafeState::Normal,
            active: FailsafeCauses::empty(),
            episode: FailsafeCauses::empty(),
            escalation_periods: 0,
            escalation_quiet: 0,
            escalated: false,
        })
    }

    /// Current state.
    pub const fn state(&self) -> FailsafeState {
        self.state
    }

    /// Whether the zone is in failsafe.
    pub const fn is_active(&self) -> bool {
        matches!(self.state, FailsafeState::Failsafe { .. })
    }

    /// The causes of the last period.
    pub const fn active_causes(&self) -> FailsafeCauses {
        self.active
    }

    /// Every cause seen since failsafe was entered (empty in normal state).
    pub const fn episode_causes(&self) -> FailsafeCauses {
        self.episode
    }

    /// The duty floor while in failsafe: the largest duty of the episode's causes.
    pub fn duty(&self) -> Option<Duty> {
        if self.is_active() {
            self.policy.duty_for(self.episode)
        } else {
            None
        }
    }

    /// Advances one period with this period's causes; pushes transitions as events.
    pub fn update<const N: usize>(
        &mut self,
        zone: ZoneId,
        causes: FailsafeCauses,
        events: &mut EventQueue<N>,
    ) {
        self.active = causes;
        match self.state {
            FailsafeState::Normal if !causes.is_empty() => {
                self.state = FailsafeState::Failsafe { good_periods: 0 };
                self.episode = causes;
                events.push(Event::FailsafeEntered { zone, causes });
            }
            FailsafeState::Normal => {}
            FailsafeState::Failsafe { good_periods } => {
                if causes.is_empty() {
                    let good = good_periods.saturating_add(1);
                    if good >= self.policy.exit_after {
                        self.state = FailsafeState::Normal;
                        events.push(Event::FailsafeLeft {
                            zone,
                            causes: self.episode,
                        });
                        self.episode = FailsafeCauses::empty();
                    } else {
                        self.state = FailsafeState::Failsafe { good_periods: good };
                    }
                } else {
                    self.state = FailsafeState::Failsafe { good_periods: 0 };
                    let added = causes.difference(self.episode);
                    if !added.is_empty() {
                        self.episode |= added;
                        events.push(Event::FailsafeCausesAdded {
                            zone,
                            causes: added,
                        });
                    }
                }
            }
        }

        if let Some(esc) = self.policy.escalation {
            let persisting = causes.intersection(esc.causes);
            if persisting.is_empty() {
                if self.escalation_periods > 0 {
                    // A clear period inside an escalation episode: the timer runs on
                    // until the cause has stayed clear for `exit_after` periods.
                    self.escalation_quiet = self.escalation_quiet.saturating_add(1);
                    if self.escalation_quiet >= self.policy.exit_after {
                        self.escalation_periods = 0;
                        self.escalation_quiet = 0;
                        self.escalated = false;
                    } else {
                        self.escalation_periods = self.escalation_periods.saturating_add(1);
                    }
                }
            } else {
                self.escalation_quiet = 0;
                self.escalation_periods = self.escalation_periods.saturating_add(1);
                if self.escalation_periods >= esc.after_periods && !self.escalated {
                    self.escalated = true;
                    events.push(Event::EscalationRequested {
                        zone,
                        causes: persisting,
                        action: esc.action,
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    const Z: ZoneId = ZoneId(0);

    fn drain(q: &mut EventQueue<16>) -> Vec<Event> {
        core::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn entry_is_immediate_and_exit_needs_m_good_periods() {
        let mut f = Failsafe::new(FailsafePolicy::uniform(Duty::from_percent(90), 3)).unwrap();
        let mut q = EventQueue::<16>::new();
        f.update(Z, FailsafeCauses::empty(), &mut q);
        assert_eq!(f.duty(), None);
        f.update(Z, FailsafeCauses::STALE, &mut q);
        assert!(f.is_active());
        assert_eq!(f.duty(), Some(Duty::from_percent(90)));
        assert_eq!(
            drain(&mut q),
            [Event::FailsafeEntered {
                zone: Z,
                causes: FailsafeCauses::STALE
            }]
        );
        // Two good periods, then the cause flaps back: the count restarts.
        f.update(Z, FailsafeCauses::empty(), &mut q);
        f.update(Z, FailsafeCauses::empty(), &mut q);
        f.update(Z, FailsafeCauses::STALE, &mut q);
        assert_eq!(f.state(), FailsafeState::Failsafe { good_periods: 0 });
        f.update(Z, FailsafeCauses::empty(), &mut q);
        f.update(Z, FailsafeCauses::empty(), &mut q);
        assert!(f.is_active());
        assert!(q.is_empty());
        f.update(Z, FailsafeCauses::empty(), &mut q);
        assert_eq!(f.state(), FailsafeState::Normal);
        assert_eq!(
            drain(&mut q),
            [Event::FailsafeLeft {
                zone: Z,
                causes: FailsafeCauses::STALE
            }]
        );
    }

    #[test]
    fn each_cause_has_its_duty_and_the_largest_wins() {
        let mut policy = FailsafePolicy::uniform(Duty::from_percent(60), 1);
        policy.duty[6] = Duty::FULL; // FAN_STALL
        let mut f = Failsafe::new(policy).unwrap();
        let mut q = EventQueue::<16>::new();
        f.update(Z, FailsafeCauses::STUCK, &mut q);
        assert_eq!(f.duty(), Some(Duty::from_percent(60)));
        f.update(Z, FailsafeCauses::FAN_STALL, &mut q);
        assert_eq!(f.duty(), Some(Duty::FULL));
        assert_eq!(f.active_causes(), FailsafeCauses::FAN_STALL);
        assert_eq!(
            f.episode_causes(),
            FailsafeCauses::STUCK | FailsafeCauses::FAN_STALL
        );
        assert_eq!(
            drain(&mut q),
            [
                Event::FailsafeEntered {
                    zone: Z,
                    causes: FailsafeCauses::STUCK
                },
                Event::FailsafeCausesAdded {
                    zone: Z,
                    causes: FailsafeCauses::FAN_STALL
                },
            ]
        );
    }

    #[test]
    fn escalation_is_requested_once_after_the_critical_cause_persists() {
        let mut policy = FailsafePolicy::DEFAULT;
        policy.escalation = Some(EscalationPolicy {
            causes: FailsafeCauses::CRITICAL,
            after_periods: 3,
            action: EscalationAction::PowerDown,
        });
        let mut f = Failsafe::new(policy).unwrap();
        let mut q = EventQueue::<16>::new();
        let crit = FailsafeCauses::CRITICAL | FailsafeCauses::STALE;
        f.update(Z, crit, &mut q);
        f.update(Z, crit, &mut q);
        assert_eq!(drain(&mut q).len(), 1); // entered only
        f.update(Z, crit, &mut q);
        let req = Event::EscalationRequested {
            zone: Z,
            causes: FailsafeCauses::CRITICAL,
            action: EscalationAction::PowerDown,
        };
        assert_eq!(drain(&mut q), [req]);
        f.update(Z, crit, &mut q);
        assert!(q.is_empty(), "requested only once per episode");
        // Other causes do not count towards escalation.
        let mut g = Failsafe::new(policy).unwrap();
        for _ in 0..10 {
            g.update(Z, FailsafeCauses::STALE, &mut q);
        }
        assert!(
            !drain(&mut q)
                .iter()
                .any(|e| matches!(e, Event::EscalationRequested { .. }))
        );
    }

    fn escalations(q: &mut EventQueue<16>) -> usize {
        drain(q)
            .iter()
            .filter(|e| matches!(e, Event::EscalationRequested { .. }))
            .count()
    }

    #[test]
    fn a_critical_cause_bouncing_faster_than_the_delay_still_escalates() {
        // Critical for 2 periods, clear for 2, again and again: the CPU keeps crossing
        // its critical threshold and never cools down for exit_after = 3 periods.
        let mut policy = FailsafePolicy::uniform(Duty::FULL, 3);
        policy.escalation = Some(EscalationPolicy {
            causes: FailsafeCauses::CRITICAL,
            after_periods: 10,
            action: EscalationAction::PowerDown,
        });
        let mut f = Failsafe::new(policy).unwrap();
        let mut q = EventQueue::<16>::new();
        let bounce = [
            FailsafeCauses::CRITICAL,
            FailsafeCauses::CRITICAL,
            FailsafeCauses::empty(),
            FailsafeCauses::empty(),
        ];
        // Periods 1–9 (the timer counts the clear periods inside the episode too).
        for causes in bounce.iter().cycle().take(9) {
            f.update(Z, *causes, &mut q);
        }
        assert_eq!(escalations(&mut q), 0, "not before 10 periods");
        f.update(Z, FailsafeCauses::CRITICAL, &mut q); // period 10
        assert_eq!(escalations(&mut q), 1);
        for causes in bounce.iter().cycle().take(40) {
            f.update(Z, *causes, &mut q);
        }
        assert_eq!(escalations(&mut q), 0, "once per escalation episode");
    }

    #[test]
    fn exit_after_clear_periods_cancel_an_escalation_in_progress() {
        let mut policy = FailsafePolicy::uniform(Duty::FULL, 3);
        policy.escalation = Some(EscalationPolicy {
            causes: FailsafeCauses::CRITICAL,
            after_periods: 5,
            action: EscalationAction::PowerDown,
        });
        let mut f = Failsafe::new(policy).unwrap();
        let mut q = EventQueue::<16>::new();
        // Critical 4 periods, then cool for 3: the timer restarts.
        for _ in 0..4 {
            f.update(Z, FailsafeCauses::CRITICAL, &mut q);
        }
        for _ in 0..3 {
            f.update(Z, FailsafeCauses::empty(), &mut q);
        }
        for _ in 0..4 {
            f.update(Z, FailsafeCauses::CRITICAL, &mut q);
        }
        assert_eq!(
            escalations(&mut q),
            0,
            "4 + 4 periods, separated by a cool-down"
        );
        f.update(Z, FailsafeCauses::CRITICAL, &mut q);
        assert_eq!(escalations(&mut q), 1);
        // After a full cool-down a new episode may escalate again.
        for _ in 0..3 {
            f.update(Z, FailsafeCauses::empty(), &mut q);
        }
        for _ in 0..5 {
            f.update(Z, FailsafeCauses::CRITICAL, &mut q);
        }
        assert_eq!(escalations(&mut q), 1);
    }

    #[test]
    fn every_cause_has_a_label_and_a_duty() {
        let mut policy = FailsafePolicy::uniform(Duty::from_percent(60), 1);
        policy.duty[8] = Duty::FULL;
        assert_eq!(
            policy.duty_for(FailsafeCauses::FAN_UNREADABLE | FailsafeCauses::STALE),
            Some(Duty::FULL)
        );
        assert_eq!(FailsafeCauses::NAMES.len(), policy.duty.len());
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            (FailsafeCauses::FAN_UNREADABLE | FailsafeCauses::CRITICAL).to_string(),
            "critical,fan_unreadable"
        );
        assert_eq!(FailsafeCauses::all().bits().count_ones(), 9);
    }

    #[test]
    fn zero_exit_periods_is_rejected() {
        assert_eq!(
            Failsafe::new(FailsafePolicy::uniform(Duty::FULL, 0)),
            Err(ControlError::ZeroExitPeriods)
        );
    }
}
