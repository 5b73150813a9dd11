//! A thermal zone: sensors → checked values → one controller per input → zone demand →
//! fan commands, with the zone's failsafe on top.
//!
//! One [`Zone::step`] per control period:
//!
//! 1. every sensor's sample goes through its [`SensorCheck`] (worst case while it ages)
//!    and its thresholds (events, and [`FailsafeCauses::CRITICAL`]);
//! 2. every input combines its sensors (hottest, margin to a limit, sum of powers) and
//!    runs its controller (PID, stepwise table or linear curve); outputs are in
//!    per-mille duty;
//! 3. outputs of inputs put in the same *profile* are added (fscd adds a PID to a linear curve), the
//!    zone demand is the largest profile sum, capped by any ceiling table, then clamped
//!    to the zone's minimum and maximum duty;
//! 4. fans whose tach stays low at high duty are reported stalled, fans whose tach
//!    cannot be read for more than its retries are reported unreadable;
//! 5. the failsafe state machine takes this period's causes; in failsafe, the demand is
//!    raised to the failsafe duty (above the zone maximum and any manual override); on
//!    leaving it, the duty ramps down from the failsafe duty at the exit slew rate
//!    ([`FailsafePolicy::exit_slew_down_per_s`]) until the loop's demand catches up —
//!    the PIDs ran on during failsafe, so their own slew limit is measured from their
//!    own output, not from the duty written;
//! 6. each fan gets its command: a duty, an RPM target for a smart controller, or the
//!    duty of its own RPM loop (cascade).

use heapless::Vec;

use super::ControlError;
use super::curve::{PiecewiseLinear, Stepwise, StepwiseMode};
use super::events::{Event, EventQueue, FanId, SensorId, ZoneId};
use super::failsafe::{Failsafe, FailsafeCauses, FailsafePolicy};
use super::health::{
    DEFAULT_TACH_RETRIES, Sample, SensorCheck, StallChange, StallCheck, TachChange, TachCheck,
};
use super::threshold::ThresholdMonitor;
use crate::pid::{Period, Pid, PidTerms, clamp_i64, output_to_duty};
use crate::units::{Duty, Rpm};

/// Rows of a zone's stepwise tables and points of its linear curves.
pub const CURVE_CAPACITY: usize = 16;
/// Sensors one input may combine.
pub const SENSORS_PER_INPUT: usize = 4;

/// How an input turns its sensors' values into the controller's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Combine {
    /// The highest value (temperatures; a single power).
    Hottest,
    /// `limit − hottest`: the margin to a limit (milli-units), as Hubris and phosphor's
    /// margin loops use; pair it with a `Direct` PID (less margin ⇒ more fan).
    MarginTo {
        /// The limit, in the sensors' milli-units.
        limit: i32,
    },
    /// The sum (e.g. of several rail powers, in mW).
    Sum,
}

/// The controller of one input; outputs are in per-mille duty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Controller {
    /// A PID loop.
    Pid(Pid),
    /// A stepwise table (floor or ceiling).
    Stepwise(Stepwise<CURVE_CAPACITY>),
    /// A piecewise-linear curve.
    Linear(PiecewiseLinear<CURVE_CAPACITY>),
}

/// One input of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneInput {
    sensors: Vec<SensorId, SENSORS_PER_INPUT>,
    combine: Combine,
    controller: Controller,
    disturbance: Option<SensorId>,
    profile: Option<u8>,
    last_output: Option<i32>,
    last_terms: Option<PidTerms>,
}

impl ZoneInput {
    /// An input over `sensors` (indices into the zone's sensor table), in no profile:
    /// its output competes with the others on its own.
    ///
    /// # Errors
    /// [`ControlError::UnknownSensor`] without sensors, [`ControlError::TooManyPoints`]
    /// beyond [`SENSORS_PER_INPUT`].
    pub fn new(
        sensors: &[SensorId],
        combine: Combine,
        controller: Controller,
    ) -> Result<Self, ControlError> {
        if sensors.is_empty() {
            return Err(ControlError::UnknownSensor);
        }
        Ok(Self {
            sensors: Vec::from_slice(sensors).map_err(|_| ControlError::TooManyPoints)?,
            combine,
            controller,
            disturbance: None,
            profile: None,
            last_output: None,
            last_terms: None,
        })
    }

    /// Feeds this sensor's value forward as the PID's disturbance (e.g. package power).
    #[must_use]
    pub fn with_disturbance(mut self, sensor: SensorId) -> Self {
        self.disturbance = Some(sensor);
        self
    }

    /// Puts the input in a profile: outputs of one profile are added together, and the
    /// sum competes with the other inputs and profiles.
    #[must_use]
    pub fn in_profile(mut self, profile: u8) -> Self {
        self.profile = Some(profile);
        self
    }

    /// The controller's output in the last step (`None` if its sensors had no value).
    pub const fn last_output(&self) -> Option<i32> {
        self.last_output
    }

    /// Every PID term of the last step, for a PID input that ran.
    pub const fn last_terms(&self) -> Option<PidTerms> {
        self.last_terms
    }

    /// The controller.
    pub const fn controller(&self) -> &Controller {
        &self.controller
    }

    fn sensor_ids(&self) -> impl Iterator<Item = SensorId> + '_ {
        self.sensors.iter().copied().chain(self.disturbance)
    }
}

/// One sensor of a zone: its health checks and thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ZoneSensor {
    /// Plausibility and age checks.
    pub check: SensorCheck,
    /// Thresholds (events; critical ones are a failsafe cause).
    pub thresholds: ThresholdMonitor,
}

/// How a fan is driven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FanDrive {
    /// The zone duty, directly (PWM fan controllers in direct mode).
    Duty,
    /// An RPM target, `max_rpm × duty`, for controllers with their own speed loop
    /// (EMC230x RPM mode, MAX31790 RPM mode).
    RpmTarget {
        /// Speed at full duty.
        max_rpm: Rpm,
    },
    /// A host-side RPM loop (cascade): the zone duty becomes an RPM target
    /// `max_rpm × duty`, and `speed_loop` (input in milli-RPM, `Direct`, output in
    /// per-mille duty) drives the fan to it. Without a tach reading, in failsafe and
    /// during the ramp down after it, the duty is written directly and the speed loop
    /// restarts afterwards.
    Cascade {
        /// Speed at full duty.
        max_rpm: Rpm,
        /// The fan's speed loop.
        speed_loop: Pid,
    },
}

/// What to write to one fan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FanCommand {
    /// Drive at this duty.
    Duty(Duty),
    /// Regulate to this speed.
    Rpm(Rpm),
}

/// One fan of a zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneFan {
    drive: FanDrive,
    stall: StallCheck,
    tach: TachCheck,
    manual: Option<Duty>,
    last_duty: Duty,
}

impl ZoneFan {
    /// A fan driven as `drive`, checked for stalls with `stall`, whose tach may fail
    /// [`DEFAULT_TACH_RETRIES`] reads in a row before it counts as unreadable.
    pub const fn new(drive: FanDrive, stall: StallCheck) -> Self {
        Self {
            drive,
            stall,
            tach: TachCheck::new(DEFAULT_TACH_RETRIES),
            manual: None,
            last_duty: Duty::ZERO,
        }
    }

    /// The same fan tolerating `retries` failed tach reads in a row before
    /// [`FailsafeCauses::FAN_UNREADABLE`].
    #[must_use]
    pub const fn with_tach_retries(mut self, retries: u8) -> Self {
        self.tach = TachCheck::new(retries);
        self
    }

    /// Whether the fan is stalled.
    pub const fn is_stalled(&self) -> bool {
        self.stall.is_stalled()
    }

    /// Whether the fan's tach has failed more reads in a row than its retries allow.
    pub const fn is_unreadable(&self) -> bool {
        self.tach.is_unreadable()
    }
}

/// Zone-wide settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ZoneConfig {
    /// The zone's number in events.
    pub id: ZoneId,
    /// Lowest duty in normal operation (phosphor's MinThermalOutput).
    pub min_duty: Duty,
    /// Highest duty in normal operation (failsafe may exceed it).
    pub max_duty: Duty,
    /// Failsafe duties, exit hysteresis and escalation.
    pub failsafe: FailsafePolicy,
}

/// What one step decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneOutput<const F: usize> {
    /// The zone duty after limits and failsafe.
    pub demand: Duty,
    /// One command per fan, in the order of the fan table.
    pub commands: Vec<FanCommand, F>,
    /// Whether the zone is in failsafe.
    pub failsafe: bool,
    /// This period's failsafe causes.
    pub causes: FailsafeCauses,
}

/// A zone with up to `S` sensors, `I` inputs and `F` fans.
#[derive(Debug, Clone)]
pub struct Zone<const S: usize, const I: usize, const F: usize> {
    config: ZoneConfig,
    sensors: Vec<ZoneSensor, S>,
    inputs: Vec<ZoneInput, I>,
    fans: Vec<ZoneFan, F>,
    failsafe: Failsafe,
    /// The zone duty of the last step, in milli-per-mille (after failsafe and ramp).
    last_demand_milli: u64,
    /// While ramping down after failsafe: the floor, in milli-per-mille (1/1000 ‰, so
    /// that slow rates at short periods still move).
    exit_ramp_milli: Option<u64>,
    /// The exit ramp rate in per-mille per second (`None`: no ramp).
    exit_slew_down_per_s: Option<u32>,
}

impl<const S: usize, const I: usize, const F: usize> Zone<S, I, F> {
    /// # Errors
    /// [`ControlError::EmptyZone`] without inputs or fans, [`ControlError::UnknownSensor`]
    /// for an input naming a sensor outside `sensors`, [`ControlError::InvertedRange`]
    /// for `min_duty > max_duty`, [`ControlError::TooManyPoints`] beyond the capacities,
    /// [`ControlError::ZeroExitPeriods`] from the failsafe policy.
    pub fn new(
        config: ZoneConfig,
        sensors: &[ZoneSensor],
        inputs: &[ZoneInput],
        fans: &[ZoneFan],
    ) -> Result<Self, ControlError> {
        if inputs.is_empty() || fans.is_empty() {
            return Err(ControlError::EmptyZone);
        }
        if config.min_duty > config.max_duty {
            return Err(ControlError::InvertedRange);
        }
        if inputs
            .iter()
            .flat_map(ZoneInput::sensor_ids)
            .any(|id| usize::from(id.0) >= sensors.len())
        {
            return Err(ControlError::UnknownSensor);
        }
        let too_many = |_: heapless::CapacityError| ControlError::TooManyPoints;
        let slowest_pid_fall = inputs
            .iter()
            .filter_map(|i| match &i.controller {
                Controller::Pid(pid) => pid.config().slew_down_per_s,
                _ => None,
            })
            .min();
        Ok(Self {
            last_demand_milli: 0,
            exit_ramp_milli: None,
            exit_slew_down_per_s: config.failsafe.exit_slew_down_per_s.or(slowest_pid_fall),
            config,
            sensors: Vec::from_slice(sensors).map_err(too_many)?,
            inputs: Vec::from_slice(inputs).map_err(too_many)?,
            fans: Vec::from_slice(fans).map_err(too_many)?,
            failsafe: Failsafe::new(config.failsafe)?,
        })
    }

    /// The zone's settings.
    pub const fn config(&self) -> &ZoneConfig {
        &self.config
    }

    /// The failsafe state machine (state, active and episode causes).
    pub const fn failsafe(&self) -> &Failsafe {
        &self.failsafe
    }

    /// The inputs, with their last outputs and PID terms.
    pub fn inputs(&self) -> &[ZoneInput] {
        &self.inputs
    }

    /// The sensors, with their checks and thresholds.
    pub fn sensors(&self) -> &[ZoneSensor] {
        &self.sensors
    }

    /// The fans.
    pub fn fans(&self) -> &[ZoneFan] {
        &self.fans
    }

    /// The exit ramp rate in use, per-mille per second: the policy's
    /// `exit_slew_down_per_s`, else the slowest PID slew-down; `None`: no ramp.
    pub const fn exit_slew_down_per_s(&self) -> Option<u32> {
        self.exit_slew_down_per_s
    }

    /// Whether the zone is ramping down after failsafe.
    pub const fn is_ramping_down(&self) -> bool {
        self.exit_ramp_milli.is_some()
    }

    /// Sets (`Some`) or clears (`None`) a manual duty for one fan. Failsafe still raises
    /// it to the failsafe duty. Returns `false` for a fan the zone does not have.
    pub fn set_manual(&mut self, fan: FanId, duty: Option<Duty>) -> bool {
        match self.fans.get_mut(usize::from(fan.0)) {
            Some(f) => {
                f.manual = duty;
                true
            }
            None => false,
        }
    }

    /// One control period. `samples[i]` is sensor `i`'s sample and `tachs[i]` fan `i`'s
    /// tach reading (missing entries count as [`Sample::NotPolled`] and `None`); `dt`
    /// is the time since the previous step. Events go to `events`.
    pub fn step<const N: usize>(
        &mut self,
        samples: &[Sample],
        tachs: &[Option<Rpm>],
        dt: Period,
        events: &mut EventQueue<N>,
    ) -> ZoneOutput<F> {
        let zone = self.config.id;
        let mut causes = FailsafeCauses::empty();

        // 1. Sensors.
        let mut values: Vec<Option<i32>, S> = Vec::new();
        for (idx, sensor) in self.sensors.iter_mut().enumerate() {
            let sample = samples.get(idx).copied().unwrap_or(Sample::NotPolled);
            let status = sensor.check.observe(sample, dt);
            causes |= status.causes;
            // Thresholds judge real, accepted readings, not worst-case estimates.
            if let Sample::Fresh(v) = sample {
                if status.value == Some(v) {
                    let id = SensorId(u8::try_from(idx).unwrap_or(u8::MAX));
                    sensor.thresholds.evaluate(v, |level, asserted| {
                        events.push(Event::Threshold {
                            zone,
                            sensor: id,
                            level,
                            asserted,
                            value: v,
                        });
                    });
                }
            }
            if sensor.thresholds.critical() {
                causes |= FailsafeCauses::CRITICAL;
            }
            // Capacity S is the sensor table's: cannot overflow.
            let _ = values.push(status.value);
        }
        let value_of = |id: SensorId| values.get(usize::from(id.0)).copied().flatten();

        // 2–3. Controllers, profiles, ceilings.
        let mut profiles: Vec<(Option<u8>, i64), I> = Vec::new();
        let mut ceiling: Option<i64> = None;
        for input in &mut self.inputs {
            input.last_output = None;
            input.last_terms = None;
            let Some(x) = combine(input.combine, input.sensors.iter().map(|&id| value_of(id)))
            else {
                continue;
            };
            let disturbance = input.disturbance.and_then(value_of).unwrap_or(0);
            let (out, is_ceiling) = match &mut input.controller {
                Controller::Pid(pid) => {
                    let terms = pid.step_with_disturbance(x, disturbance, dt);
                    input.last_terms = Some(terms);
                    (terms.output, false)
                }
                Controller::Stepwise(table) => {
                    (table.update(x), table.mode() == StepwiseMode::Ceiling)
                }
                Controller::Linear(curve) => (curve.evaluate(x), false),
            };
            input.last_output = Some(out);
            let out = i64::from(out);
            if is_ceiling {
                ceiling = Some(ceiling.map_or(out, |c| c.min(out)));
            } else if let Some(slot) = profiles
                .iter_mut()
                .find(|(p, _)| p.is_some() && *p == input.profile)
            {
                slot.1 = slot.1.saturating_add(out);
            } else {
                // Capacity I is the input table's: cannot overflow.
                let _ = profiles.push((input.profile, out));
            }
        }
        let (min, max) = (
            i64::from(self.config.min_duty.per_mille()),
            i64::from(self.config.max_duty.per_mille()),
        );
        let mut demand = profiles.iter().map(|&(_, sum)| sum).max().unwrap_or(min);
        if let Some(c) = ceiling {
            demand = demand.min(c);
        }
        let mut demand = output_to_duty(i32::try_from(clamp_i64(demand, min, max)).unwrap_or(0));

        // 4. Fan stalls, judged on the duty each fan was driven at last period.
        for (idx, fan) in self.fans.iter_mut().enumerate() {
            let id = FanId(u8::try_from(idx).unwrap_or(u8::MAX));
            let rpm = tachs.get(idx).copied().flatten();
            match fan.stall.observe(fan.last_duty, rpm) {
                Some(StallChange::Failed) => {
                    events.push(Event::FanFailed {
                        zone,
                        fan: id,
                        rpm: rpm.unwrap_or(Rpm(0)),
                    });
                }
                Some(StallChange::Recovered) => {
                    events.push(Event::FanRecovered {
                        zone,
                        fan: id,
                        rpm: rpm.unwrap_or(Rpm(0)),
                    });
                }
                None => {}
            }
            if fan.stall.is_stalled() {
                causes |= FailsafeCauses::FAN_STALL;
            }
            match fan.tach.observe(rpm) {
                Some(TachChange::Unreadable { failed_reads }) => {
                    events.push(Event::FanUnreadable {
                        zone,
                        fan: id,
                        failed_reads,
                    });
                }
                Some(TachChange::Readable) => {
                    events.push(Event::FanReadable {
                        zone,
                        fan: id,
                        rpm: rpm.unwrap_or(Rpm(0)),
                    });
                }
                None => {}
            }
            if fan.tach.is_unreadable() {
                causes |= FailsafeCauses::FAN_UNREADABLE;
            }
        }

        // 5. Failsafe, then the ramp down from it.
        let was_failsafe = self.failsafe.is_active();
        self.failsafe.update(zone, causes, events);
        let mut floor = self.failsafe.duty();
        if floor.is_some() {
            self.exit_ramp_milli = None;
        } else {
            if was_failsafe && self.exit_slew_down_per_s.is_some() {
                self.exit_ramp_milli = Some(self.last_demand_milli);
            }
            floor = self.exit_ramp(demand, dt);
        }
        if let Some(f) = floor {
            demand = demand.max(f);
        }
        self.last_demand_milli = u64::from(demand.per_mille()) * 1000;

        // 6. Commands.
        let mut commands = Vec::new();
        for (idx, fan) in self.fans.iter_mut().enumerate() {
            let mut duty = fan.manual.unwrap_or(demand);
            if let Some(f) = floor {
                duty = duty.max(f);
            }
            let rpm = tachs.get(idx).copied().flatten();
            let (command, driven) = match &mut fan.drive {
                FanDrive::Duty => (FanCommand::Duty(duty), duty),
                FanDrive::RpmTarget { max_rpm } => (FanCommand::Rpm(rpm_at(*max_rpm, duty)), duty),
                FanDrive::Cascade {
                    max_rpm,
                    speed_loop,
                } => {
                    let d = match rpm {
                        // In failsafe the duty is written as it is: the speed loop's
                        // slew and output limits must not delay or lower it.
                        Some(r) if floor.is_none() => {
                            speed_loop.set_setpoint(milli_rpm(rpm_at(*max_rpm, duty)));
                            output_to_duty(speed_loop.step(milli_rpm(r), dt).output)
                        }
                        _ => {
                            // Open loop: restart the speed loop when it takes over again,
                            // rather than from a stale output and measurement.
                            speed_loop.reset();
                            duty
                        }
                    };
                    (FanCommand::Duty(d), d)
                }
            };
            fan.last_duty = driven;
            // Capacity F is the fan table's: cannot overflow.
            let _ = commands.push(command);
        }

        ZoneOutput {
            demand,
            commands,
            failsafe: self.failsafe.is_active(),
            causes,
        }
    }
}

impl<const S: usize, const I: usize, const F: usize> Zone<S, I, F> {
    /// One period of the exit ramp: the floor falls by `rate × dt` from where it was;
    /// the ramp ends once the loop's `demand` is at or above it.
    fn exit_ramp(&mut self, demand: Duty, dt: Period) -> Option<Duty> {
        let (Some(prev), Some(rate)) = (self.exit_ramp_milli, self.exit_slew_down_per_s) else {
            self.exit_ramp_milli = None;
            return None;
        };
        // ‰/s × ms = milli-‰.
        let next = prev.saturating_sub(u64::from(rate).saturating_mul(u64::from(dt.millis())));
        // Rounded up: the duty written never falls faster than the rate.
        let floor = output_to_duty(i32::try_from(next.div_ceil(1000)).unwrap_or(i32::MAX));
        if demand >= floor {
            self.exit_ramp_milli = None;
            return None;
        }
        self.exit_ramp_milli = Some(next);
        Some(floor)
    }
}

/// The controller input of one zone input; `None` if any of its sensors has no value
/// (that sensor is then a failsafe cause already).
fn combine(how: Combine, values: impl Iterator<Item = Option<i32>>) -> Option<i32> {
    let mut hottest: Option<i32> = None;
    let mut sum: i64 = 0;
    for v in values {
        let v = v?;
        hottest = Some(hottest.map_or(v, |h| h.max(v)));
        sum = sum.saturating_add(i64::from(v));
    }
    let hottest = hottest?;
    let sat = |v: i64| i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX });
    Some(match how {
        Combine::Hottest => hottest,
        Combine::MarginTo { limit } => sat(i64::from(limit) - i64::from(hottest)),
        Combine::Sum => sat(sum),
    })
}

/// `max_rpm × duty`, rounded to nearest.
fn rpm_at(max_rpm: Rpm, duty: Duty) -> Rpm {
    let r = (u64::from(max_rpm.0) * u64::from(duty.per_mille()) + 500) / 1000;
    Rpm(u32::try_from(r).unwrap_or(u32::MAX))
}

/// RPM as the milli-units a PID takes, saturating.
fn milli_rpm(rpm: Rpm) -> i32 {
    i32::try_from(u64::from(rpm.0) * 1000).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests;
