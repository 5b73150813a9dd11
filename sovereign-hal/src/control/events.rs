//! Typed events of the control core and the fixed-capacity queue they go into.
//!
//! This replaces the BMC's System Event Log: the core pushes events, the daemon drains
//! the queue once per period and turns each event into a journal line. The core never
//! acts on an event itself — in particular an [`Event::EscalationRequested`] is a
//! request to the caller, who decides whether and how to power down.

use core::fmt;

use heapless::Deque;

use super::failsafe::FailsafeCauses;
use super::threshold::ThresholdLevel;
use crate::units::Rpm;

/// Index of a sensor in its zone's sensor table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SensorId(pub u8);

/// A zone's number, chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ZoneId(pub u8);

/// Index of a fan in its zone's fan table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FanId(pub u8);

/// What the caller is asked to do when failsafe is not enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EscalationAction {
    /// Power the host down (Hubris: after 60 s overheated at full fan, THERMAL.md §7.4).
    PowerDown,
}

/// Something a person should find in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Event {
    /// A sensor crossed one of its thresholds (`asserted`) or came back past it by the
    /// hysteresis (`!asserted`). `value` is in the sensor's milli-units.
    Threshold {
        /// Zone of the sensor.
        zone: ZoneId,
        /// The sensor.
        sensor: SensorId,
        /// Which threshold.
        level: ThresholdLevel,
        /// Crossed (true) or cleared (false).
        asserted: bool,
        /// The reading that crossed it.
        value: i32,
    },
    /// The zone entered failsafe for these causes.
    FailsafeEntered {
        /// The zone.
        zone: ZoneId,
        /// Causes active on entry.
        causes: FailsafeCauses,
    },
    /// While in failsafe, further causes became active.
    FailsafeCausesAdded {
        /// The zone.
        zone: ZoneId,
        /// The newly active causes.
        causes: FailsafeCauses,
    },
    /// The zone left failsafe after its good periods; `causes` lists every cause seen
    /// during the episode.
    FailsafeLeft {
        /// The zone.
        zone: ZoneId,
        /// Every cause of the episode.
        causes: FailsafeCauses,
    },
    /// A fan's tach stayed below its minimum while its duty was high.
    FanFailed {
        /// The zone.
        zone: ZoneId,
        /// The fan.
        fan: FanId,
        /// Its last tach reading.
        rpm: Rpm,
    },
    /// A failed fan turns again.
    FanRecovered {
        /// The zone.
        zone: ZoneId,
        /// The fan.
        fan: FanId,
        /// Its tach reading.
        rpm: Rpm,
    },
    /// A fan's tach failed more consecutive reads than its retries allow: the fan
    /// controller or its bus no longer answers.
    FanUnreadable {
        /// The zone.
        zone: ZoneId,
        /// The fan.
        fan: FanId,
        /// Consecutive failed reads.
        failed_reads: u16,
    },
    /// An unreadable fan tach answers again.
    FanReadable {
        /// The zone.
        zone: ZoneId,
        /// The fan.
        fan: FanId,
        /// Its tach reading.
        rpm: Rpm,
    },
    /// Failsafe has not been enough for the configured time: the caller should act.
    EscalationRequested {
        /// The zone.
        zone: ZoneId,
        /// The causes that persisted.
        causes: FailsafeCauses,
        /// What the policy asks for.
        action: EscalationAction,
    },
}

impl fmt::Display for Event {
    /// One journal line. Sensor values are printed in their base unit with three
    /// decimals (°C, W, V…: the event does not know which).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Threshold {
                zone,
                sensor,
                level,
                asserted,
                value,
            } => {
                let what = if asserted { "crossed" } else { "back inside" };
                let sign = if value < 0 { "-" } else { "" };
                let a = value.unsigned_abs();
                write!(
                    f,
                    "zone {}: sensor {} {what} its {} threshold at {sign}{}.{:03}",
                    zone.0,
                    sensor.0,
                    level.as_str(),
                    a / 1000,
                    a % 1000
                )
            }
            Self::FailsafeEntered { zone, causes } => {
                write!(
                    f,
                    "zone {}: failsafe entered ({causes}): fans at failsafe duty",
                    zone.0
                )
            }
            Self::FailsafeCausesAdded { zone, causes } => {
                write!(f, "zone {}: further failsafe causes ({causes})", zone.0)
            }
            Self::FailsafeLeft { zone, causes } => {
                write!(
                    f,
                    "zone {}: failsafe left after {causes}: control loop resumed",
                    zone.0
                )
            }
            Self::FanFailed { zone, fan, rpm } => write!(
                f,
                "zone {}: fan {} failed ({} RPM at high duty): check its cable and rotor",
                zone.0, fan.0, rpm.0
            ),
            Self::FanRecovered { zone, fan, rpm } => {
                write!(
                    f,
                    "zone {}: fan {} turns again ({} RPM)",
                    zone.0, fan.0, rpm.0
                )
            }
            Self::FanUnreadable {
                zone,
                fan,
                failed_reads,
            } => write!(
                f,
                "zone {}: fan {} tach unreadable ({failed_reads} reads failed in a row): fans at failsafe duty; check the fan controller and its bus, which may not apply duties either",
                zone.0, fan.0
            ),
            Self::FanReadable { zone, fan, rpm } => write!(
                f,
                "zone {}: fan {} tach readable again ({} RPM)",
                zone.0, fan.0, rpm.0
            ),
            Self::EscalationRequested {
                zone,
                causes,
                action,
            } => {
                let what = match action {
                    EscalationAction::PowerDown => "power-down",
                };
                write!(
                    f,
                    "zone {}: failsafe not enough ({causes}): {what} requested",
                    zone.0
                )
            }
        }
    }
}

/// A ring of the last `N` events. When full, the oldest event is dropped and counted,
/// so the newest state of the machine is never lost.
#[derive(Debug, Clone, Default)]
pub struct EventQueue<const N: usize> {
    events: Deque<Event, N>,
    dropped: u32,
}

impl<const N: usize> EventQueue<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            events: Deque::new(),
            dropped: 0,
        }
    }

    /// Appends an event, dropping the oldest one if the queue is full.
    pub fn push(&mut self, event: Event) {
        if self.events.is_full() && self.events.pop_front().is_some() {
            self.dropped = self.dropped.saturating_add(1);
        }
        // Room was made above (heapless refuses N = 0 at compile time); counted anyway.
        if self.events.push_back(event).is_err() {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    /// Removes and returns the oldest event.
    pub fn pop(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event is queued.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Events dropped because the queue was full, since it was created (saturating).
    pub const fn dropped(&self) -> u32 {
        self.dropped
    }

    /// The queued events, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Event> {
        self.events.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(n: u8) -> Event {
        Event::FailsafeLeft {
            zone: ZoneId(n),
            causes: FailsafeCauses::empty(),
        }
    }

    #[test]
    fn events_read_as_journal_lines() {
        extern crate std;
        use std::string::ToString;
        let e = Event::Threshold {
            zone: ZoneId(1),
            sensor: SensorId(0),
            level: ThresholdLevel::UpperCritical,
            asserted: true,
            value: 96_125,
        };
        assert_eq!(
            e.to_string(),
            "zone 1: sensor 0 crossed its upper critical threshold at 96.125"
        );
        let e = Event::FailsafeEntered {
            zone: ZoneId(2),
            causes: FailsafeCauses::STALE | FailsafeCauses::FAN_STALL,
        };
        assert_eq!(
            e.to_string(),
            "zone 2: failsafe entered (stale,fan_stall): fans at failsafe duty"
        );
        let e = Event::FanUnreadable {
            zone: ZoneId(0),
            fan: FanId(2),
            failed_reads: 3,
        };
        assert_eq!(
            e.to_string(),
            "zone 0: fan 2 tach unreadable (3 reads failed in a row): fans at failsafe duty; check the fan controller and its bus, which may not apply duties either"
        );
        assert_eq!(
            left(0).to_string(),
            "zone 0: failsafe left after none: control loop resumed"
        );
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts_it() {
        let mut q = EventQueue::<2>::new();
        q.push(left(1));
        q.push(left(2));
        q.push(left(3));
        assert_eq!(q.dropped(), 1);
        assert_eq!(q.pop(), Some(left(2)));
        assert_eq!(q.pop(), Some(left(3)));
        assert!(q.is_empty());
    }
}
