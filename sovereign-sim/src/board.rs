//! The reference board (REFERENCE-BOARD.md) assembled from a thermal plant, simulated
//! chips on three bus segments, a simulated MSR file and a fault plan.
//!
//! | segment | what | addresses |
//! |---|---|---|
//! | 0 | SPD5118 hubs of DIMM slots A1..H1 | 0x50..0x57 |
//! | 1 | SPD5118 hubs of DIMM slots I1..L1 | 0x50..0x53 |
//! | 2 | EMC2305 (5 fans), PMBus VRMs VDDCR_CPU / VDDCR_SOC / VDDIO_MEM, inlet and outlet TMP75, SB-TSI | 0x2E, 0x60..0x62, 0x48, 0x49, 0x4C |
//!
//! All three segments are SMBus-only at 100 kHz, like the FCH SMBus (`i2c-piix4`) a
//! host daemon reads; the fields are public so a test can swap in other buses.
//!
//! [`ReferenceBoard::step`] is one simulation step: the drive the host last wrote to the
//! EMC2305 goes to the plant's fans (a fan-stall fault stops the plant's rotor too), the
//! plant integrates, the RAPL counters integrate its power, and the chips get the new
//! temperatures, speeds and rail readings. Then the buses move to the new time, so a
//! fan-controller watchdog that was not serviced drives the fans to 100 % from the next
//! step on. [`ReferenceBoard::write_hwmon`] mirrors the board as a Linux hwmon tree.
//!
//! The board works with any plant through [`BoardPlant`], the plant ↔ chips contract;
//! [`Plant`] (THERMAL.md §8) implements it.

use std::io;
use std::path::Path;

use sovereign_hal::chips::emc230x::rpm_from_tach;
use sovereign_hal::chips::lm75::Resolution;
use sovereign_hal::chips::pmbus::{
    VoutMode, command, linear11_microwatts, linear11_milliamps, linear11_millicelsius,
    linear11_millivolts, linear16_millivolts,
};
use sovereign_hal::units::Duty;

use crate::bus::{BusMode, BusSpeed, SimBus};
use crate::chips::{Emc2305, Lm75, PmbusVrm, RailTelemetry, SbTsi, Spd5118};
use crate::fault::{Fault, FaultPlan};
use crate::hwmon::{HwmonChip, HwmonTree, PIIX4_PCI, PmbusReadings, i2c_device_path};
use crate::msr::{CpuVendor, SimMsr};
use crate::plant::{Plant, PlantSnapshot};

/// Number of CCD temperatures (Tccd1..8).
pub const CCDS: usize = 8;
/// Number of DIMM slots (A1..L1).
pub const DIMMS: usize = 12;
/// DIMM slots on segment 0; the rest are on segment 1.
pub const DIMMS_ON_SEGMENT_0: usize = 8;
/// Number of fans on the EMC2305.
pub const FANS: usize = 5;
/// Number of VRM rails (VDDCR_CPU, VDDCR_SOC, VDDIO_MEM).
pub const RAILS: usize = 3;

/// EMC2305 address (REFERENCE-BOARD.md).
pub const EMC2305_ADDRESS: u8 = 0x2E;
/// First VRM address; rails are at 0x60, 0x61, 0x62.
pub const VRM_BASE_ADDRESS: u8 = 0x60;
/// Inlet TMP75.
pub const INLET_TMP75_ADDRESS: u8 = 0x48;
/// Outlet TMP75.
pub const OUTLET_TMP75_ADDRESS: u8 = 0x49;
/// SB-TSI of socket 0.
pub const SBTSI_ADDRESS: u8 = 0x4C;
/// First SPD5118 address on each DIMM segment.
pub const SPD_BASE_ADDRESS: u8 = 0x50;
/// The segment number of the fan/VRM/board-sensor bus.
pub const BOARD_SEGMENT: u8 = 2;

/// What the chips show at one instant, in SI units: the part of a plant snapshot the
/// board copies into its chips.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardState {
    /// Simulated time, s.
    pub time_s: f64,
    /// Tctl, °C (before k10temp's 0.125 °C quantisation).
    pub tctl_c: f64,
    /// Per-CCD temperatures, °C.
    pub tccd_c: [f64; CCDS],
    /// Package power after throttling, W (what RAPL package energy integrates).
    pub cpu_package_w: f64,
    /// The cores' share, W (what the RAPL core counters integrate).
    pub cpu_core_w: f64,
    /// Package energy since the plant started, J (RAPL integrates its increase).
    pub cpu_package_j: f64,
    /// Core energy since the plant started, J.
    pub cpu_core_j: f64,
    /// DIMM temperatures, slots A1..L1, °C.
    pub dimm_c: [f64; DIMMS],
    /// VRM rails VDDCR_CPU, VDDCR_SOC, VDDIO_MEM.
    pub rails: [RailTelemetry; RAILS],
    /// Fan speeds, RPM.
    pub fan_rpm: [f64; FANS],
    /// Inlet air (TMP75 0x48), °C.
    pub inlet_c: f64,
    /// Outlet air (TMP75 0x49), °C.
    pub outlet_c: f64,
}

/// The plant ↔ chips contract: what the board needs from a thermal plant.
pub trait BoardPlant {
    /// Advances the plant by `dt_s` seconds.
    fn step(&mut self, dt_s: f64);
    /// Applies a fan drive (out-of-range fans are ignored).
    fn set_fan_duty(&mut self, fan: usize, duty: Duty);
    /// Stops or frees a fan's rotor (fault injection).
    fn set_fan_stalled(&mut self, fan: usize, stalled: bool);
    /// The values the chips should show now.
    fn board_state(&self) -> BoardState;
}

/// The reference board: plant, buses, chips, MSR file and faults.
#[derive(Debug)]
pub struct ReferenceBoard<P> {
    /// The thermal plant.
    pub plant: P,
    /// DIMM segment 0 (slots A1..H1).
    pub dimm_bus_0: SimBus,
    /// DIMM segment 1 (slots I1..L1).
    pub dimm_bus_1: SimBus,
    /// Fans, VRMs, TMP75s and SB-TSI.
    pub board_bus: SimBus,
    /// The CPU's MSRs.
    pub msr: SimMsr,
    plan: FaultPlan,
    state: BoardState,
}

impl<P: BoardPlant> ReferenceBoard<P> {
    /// Builds the board around `plant` with `cpus` logical CPUs in the MSR file, and
    /// copies the plant's current state into the chips.
    pub fn new(plant: P, cpus: u32) -> Self {
        let speed = BusSpeed::Standard100k;
        let dimm_bus_0 = SimBus::new(0, speed, BusMode::SmbusOnly);
        let dimm_bus_1 = SimBus::new(1, speed, BusMode::SmbusOnly);
        let board_bus = SimBus::new(BOARD_SEGMENT, speed, BusMode::SmbusOnly);
        // Fresh buses with distinct free addresses: adding cannot fail, and a failure
        // would only leave a device out (reads then NAK), never panic.
        for slot in 0..DIMMS {
            let (bus, address) = dimm_location(&dimm_bus_0, &dimm_bus_1, slot);
            let _ = bus.add_device(address, Box::new(Spd5118::new(0x5000_0000 + slot as u32)));
        }
        let _ = board_bus.add_device(EMC2305_ADDRESS, Box::new(Emc2305::new()));
        for rail in 0..RAILS {
            let _ = board_bus.add_device(VRM_BASE_ADDRESS + rail as u8, Box::new(PmbusVrm::new(1)));
        }
        let _ = board_bus.add_device(INLET_TMP75_ADDRESS, Box::new(Lm75::tmp75()));
        let _ = board_bus.add_device(OUTLET_TMP75_ADDRESS, Box::new(Lm75::tmp75()));
        let _ = board_bus.add_device(SBTSI_ADDRESS, Box::new(SbTsi::new()));
        let state = plant.board_state();
        let board = Self {
            plant,
            dimm_bus_0,
            dimm_bus_1,
            board_bus,
            msr: SimMsr::new(CpuVendor::Amd, cpus),
            plan: FaultPlan::none(),
            state,
        };
        board.copy_into_chips();
        board.set_bus_time(state.time_s);
        board
    }

    /// Applies `plan` to every bus segment and the MSR file.
    pub fn set_fault_plan(&mut self, plan: FaultPlan) {
        self.dimm_bus_0.set_fault_plan(plan.clone());
        self.dimm_bus_1.set_fault_plan(plan.clone());
        self.board_bus.set_fault_plan(plan.clone());
        self.msr.set_fault_plan(plan.clone());
        self.plan = plan;
    }

    /// The state the chips were last given.
    pub fn state(&self) -> &BoardState {
        &self.state
    }

    /// The bus and address of DIMM slot `slot` (0 = A1 .. 11 = L1); `None` above 11.
    pub fn dimm(&self, slot: usize) -> Option<(SimBus, u8)> {
        (slot < DIMMS).then(|| {
            let (bus, address) = dimm_location(&self.dimm_bus_0, &self.dimm_bus_1, slot);
            (bus.clone(), address)
        })
    }

    /// One simulation step of `dt_s` seconds (see the module docs for the order). A step
    /// that is not a positive finite number of seconds does nothing.
    pub fn step(&mut self, dt_s: f64) {
        if !(dt_s.is_finite() && dt_s > 0.0) {
            return;
        }
        let now = self.state.time_s;
        let stalled = self.fault_stalled_fans(now);
        for fan in 0..FANS {
            let duty = self
                .board_bus
                .with_device::<Emc2305, _>(EMC2305_ADDRESS, |c| c.duty(fan));
            if let Some(duty) = duty {
                self.plant.set_fan_duty(fan, duty);
            }
            self.plant.set_fan_stalled(fan, (stalled >> fan) & 1 == 1);
        }
        let before = self.state;
        self.plant.step(dt_s);
        self.state = self.plant.board_state();
        // RAPL integrates the plant's own energy increase, so the counters match the
        // plant's integral exactly (the plant sub-steps inside `dt_s`; its power at the
        // end of the step is not the step's average).
        let pkg_w = (self.state.cpu_package_j - before.cpu_package_j) / dt_s;
        let core_w = (self.state.cpu_core_j - before.cpu_core_j) / dt_s;
        self.msr.advance(dt_s, pkg_w, core_w);
        self.copy_into_chips();
        self.set_bus_time(self.state.time_s);
    }

    fn fault_stalled_fans(&self, t_s: f64) -> u16 {
        self.plan
            .active_on_device(BOARD_SEGMENT, EMC2305_ADDRESS, t_s)
            .fold(0, |m, w| match w.fault {
                Fault::FanStall { fan } => m | 1u16.checked_shl(u32::from(fan)).unwrap_or(0),
                _ => m,
            })
    }

    fn set_bus_time(&self, t_s: f64) {
        self.dimm_bus_0.set_time_s(t_s);
        self.dimm_bus_1.set_time_s(t_s);
        self.board_bus.set_time_s(t_s);
    }

    fn copy_into_chips(&self) {
        let s = self.state;
        for (slot, t) in s.dimm_c.iter().enumerate() {
            let (bus, address) = dimm_location(&self.dimm_bus_0, &self.dimm_bus_1, slot);
            bus.with_device::<Spd5118, _>(address, |c| c.set_temperature_c(*t));
        }
        let b = &self.board_bus;
        b.with_device::<Emc2305, _>(EMC2305_ADDRESS, |c| {
            for (fan, rpm) in s.fan_rpm.iter().enumerate() {
                c.set_rpm(fan, *rpm);
            }
        });
        for (rail, t) in s.rails.iter().enumerate() {
            b.with_device::<PmbusVrm, _>(VRM_BASE_ADDRESS + rail as u8, |c| c.set_telemetry(0, *t));
        }
        b.with_device::<Lm75, _>(INLET_TMP75_ADDRESS, |c| c.set_temperature_c(s.inlet_c));
        b.with_device::<Lm75, _>(OUTLET_TMP75_ADDRESS, |c| c.set_temperature_c(s.outlet_c));
        b.with_device::<SbTsi, _>(SBTSI_ADDRESS, |c| c.set_temperature_c(s.tctl_c));
    }

    /// The board as hwmon devices, values as the Linux drivers would show them: k10temp
    /// in 0.125 °C steps (HARDWARE.md §6), the others decoded from the simulated chips'
    /// registers with `sovereign-hal`'s kernel-equivalent decoders.
    pub fn hwmon_chips(&self) -> Vec<HwmonChip> {
        let s = self.state;
        // k10temp: Tctl = (reg >> 21) × 125 m°C clamped at 0; Tccd = (reg & 0x7FF) × 125
        // − 49000 (HARDWARE.md §6); the sensor rounds to the nearest 0.125 °C.
        let eighths = |c: f64| ((c * 8.0).round() as i64).clamp(0, 0x7FF);
        let tctl = eighths(s.tctl_c) * 125;
        let tccd: Vec<i64> = s
            .tccd_c
            .iter()
            .map(|t| eighths(t + 49.0) * 125 - 49_000)
            .collect();
        let mut chips = vec![HwmonChip::k10temp(tctl, &tccd)];
        for slot in 0..DIMMS {
            let (bus, address) = dimm_location(&self.dimm_bus_0, &self.dimm_bus_1, slot);
            let raw = bus
                .with_device::<Spd5118, _>(address, |c| c.temperature_register())
                .unwrap_or(0);
            let t = sovereign_hal::chips::spd5118::conversion::temperature_from_register(raw).0;
            let device = i2c_device_path(PIIX4_PCI, u32::from(bus.segment()), address);
            chips.push(HwmonChip::spd5118(device, i64::from(t), 85_000, 95_000));
        }
        let b = &self.board_bus;
        // HARDWARE.md §3a: `fanN_fault` is bit n of the drive-fail status (0x27), which
        // the chip sets for a driven fan whose rotor the fault plan holds. The chip only
        // learns its faults on a bus transfer, so take them from the plan at this time.
        let stalled = self.fault_stalled_fans(s.time_s);
        let (rpm, pwm, fault) = b
            .with_device::<Emc2305, _>(EMC2305_ADDRESS, |c| {
                let mut rpm = [0u32; FANS];
                let mut pwm = [0u8; FANS];
                let mut fault = [false; FANS];
                for fan in 0..FANS {
                    rpm[fan] = rpm_from_tach(c.tach_register(fan)).map_or(0, |r| r.0);
                    pwm[fan] = c.drive(fan);
                    fault[fan] = pwm[fan] > 0 && (stalled >> fan) & 1 == 1;
                }
                (rpm, pwm, fault)
            })
            .unwrap_or(([0; FANS], [0; FANS], [true; FANS]));
        let seg = u32::from(BOARD_SEGMENT);
        chips.push(HwmonChip::emc2305(
            i2c_device_path(PIIX4_PCI, seg, EMC2305_ADDRESS),
            &rpm,
            &pwm,
            &fault,
        ));
        for rail in 0..RAILS {
            let address = VRM_BASE_ADDRESS + rail as u8;
            let r = b
                .with_device::<PmbusVrm, _>(address, pmbus_readings)
                .unwrap_or_default();
            chips.push(HwmonChip::pmbus(
                i2c_device_path(PIIX4_PCI, seg, address),
                &r,
            ));
        }
        for address in [INLET_TMP75_ADDRESS, OUTLET_TMP75_ADDRESS] {
            let t = b
                .with_device::<Lm75, _>(address, |c| {
                    let res =
                        Resolution::new(c.resolution_bits() as u8).unwrap_or(Resolution::BITS_9);
                    sovereign_hal::chips::lm75::conversion::temperature_from_register(
                        c.temperature_register(),
                        res,
                    )
                    .0
                })
                .unwrap_or(0);
            chips.push(HwmonChip::tmp75(
                i2c_device_path(PIIX4_PCI, seg, address),
                i64::from(t),
                80_000,
                75_000,
            ));
        }
        chips
    }

    /// Writes the board as a hwmon tree under `root`, numbered by `boot_seed`.
    pub fn write_hwmon(&self, root: &Path, boot_seed: u64) -> io::Result<HwmonTree> {
        HwmonTree::create(root, &self.hwmon_chips(), boot_seed)
    }

    /// Rewrites the values of a tree made by [`ReferenceBoard::write_hwmon`].
    pub fn update_hwmon(&self, tree: &HwmonTree) -> io::Result<()> {
        tree.update(&self.hwmon_chips())
    }
}

/// The contract's plant (`crate::plant`, THERMAL.md §8) drives the reference board.
impl BoardPlant for Plant {
    fn step(&mut self, dt_s: f64) {
        Plant::step(self, dt_s);
    }
    fn set_fan_duty(&mut self, fan: usize, duty: Duty) {
        Plant::set_fan_duty(self, fan, duty);
    }
    fn set_fan_stalled(&mut self, fan: usize, stalled: bool) {
        Plant::set_fan_stalled(self, fan, stalled);
    }
    fn board_state(&self) -> BoardState {
        BoardState::from(&self.snapshot())
    }
}

impl From<&PlantSnapshot> for BoardState {
    fn from(s: &PlantSnapshot) -> Self {
        let mut tccd_c = [0.0; CCDS];
        for (dst, src) in tccd_c.iter_mut().zip(s.tccd_c.iter()) {
            *dst = *src;
        }
        let mut dimm_c = [0.0; DIMMS];
        for (dst, src) in dimm_c.iter_mut().zip(s.dimm_c.iter()) {
            *dst = *src;
        }
        let mut rails = [RailTelemetry::default(); RAILS];
        for (i, r) in rails.iter_mut().enumerate() {
            let at = |a: &[f64]| a.get(i).copied().unwrap_or(0.0);
            *r = RailTelemetry {
                vin_v: at(&s.vrm_vin_v),
                vout_v: at(&s.vrm_vout_v),
                iout_a: at(&s.vrm_iout_a),
                temperature_c: at(&s.vrm_c),
                pout_w: at(&s.vrm_pout_w),
                pin_w: at(&s.vrm_pin_w),
            };
        }
        let mut fan_rpm = [0.0; FANS];
        for (dst, src) in fan_rpm.iter_mut().zip(s.fan_rpm.iter()) {
            *dst = *src;
        }
        Self {
            time_s: s.time_s,
            tctl_c: s.tctl_c,
            tccd_c,
            cpu_package_w: s.cpu_package_w,
            cpu_core_w: s.cpu_core_w,
            cpu_package_j: s.cpu_package_j,
            cpu_core_j: s.cpu_core_j,
            dimm_c,
            rails,
            fan_rpm,
            inlet_c: s.inlet_c,
            outlet_c: s.outlet_c,
        }
    }
}

fn dimm_location<'a>(bus0: &'a SimBus, bus1: &'a SimBus, slot: usize) -> (&'a SimBus, u8) {
    if slot < DIMMS_ON_SEGMENT_0 {
        (bus0, SPD_BASE_ADDRESS + slot as u8)
    } else {
        (bus1, SPD_BASE_ADDRESS + (slot - DIMMS_ON_SEGMENT_0) as u8)
    }
}

/// A VRM's page-0 readings decoded as the PMBus core does (HARDWARE.md §5).
fn pmbus_readings(v: &mut PmbusVrm) -> PmbusReadings {
    let word = |cmd| v.word_on_page(0, cmd).unwrap_or(0);
    let mode = VoutMode::from_raw(v.vout_mode());
    PmbusReadings {
        vin_mv: linear11_millivolts(word(command::READ_VIN)).map_or(0, |x| i64::from(x.0)),
        vout_mv: mode
            .and_then(|m| linear16_millivolts(word(command::READ_VOUT), m))
            .map_or(0, |x| i64::from(x.0)),
        iout_ma: linear11_milliamps(word(command::READ_IOUT)).map_or(0, |x| i64::from(x.0)),
        temp_mc: linear11_millicelsius(word(command::READ_TEMPERATURE_1))
            .map_or(0, |x| i64::from(x.0)),
        pin_uw: linear11_microwatts(word(command::READ_PIN)).map_or(0, |x| x.0),
        pout_uw: linear11_microwatts(word(command::READ_POUT)).map_or(0, |x| x.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultTarget;
    use sovereign_hal::chips::emc230x::Emc230x;
    use sovereign_hal::chips::lm75::{Lm75 as Lm75Driver, Variant};
    use sovereign_hal::chips::pmbus::Pmbus;
    use sovereign_hal::chips::sbtsi::SbTsi as SbTsiDriver;
    use sovereign_hal::chips::spd5118::Spd5118 as Spd5118Driver;
    use sovereign_hal::msr::amd::read_amd_package_energy;
    use sovereign_hal::msr::energy::EnergyAccumulator;
    use sovereign_hal::smbus::ReadOnly;
    use sovereign_hal::units::MilliSeconds;

    /// A first-order stand-in plant: temperatures relax toward values set by power and
    /// fan duty; fans follow duty at once (0 RPM when stalled).
    #[derive(Debug)]
    struct ToyPlant {
        t: f64,
        joules: f64,
        cpu_c: f64,
        duty: [f64; FANS],
        stalled: [bool; FANS],
    }

    impl ToyPlant {
        fn new() -> Self {
            Self {
                t: 0.0,
                joules: 0.0,
                cpu_c: 40.0,
                duty: [0.0; FANS],
                stalled: [false; FANS],
            }
        }
        fn airflow(&self) -> f64 {
            self.duty
                .iter()
                .zip(&self.stalled)
                .map(|(d, s)| if *s { 0.0 } else { *d })
                .sum::<f64>()
                / FANS as f64
        }
    }

    impl BoardPlant for ToyPlant {
        fn step(&mut self, dt_s: f64) {
            let target = 95.0 - 40.0 * self.airflow();
            self.cpu_c += (target - self.cpu_c) * (dt_s / 10.0).min(1.0);
            self.t += dt_s;
            self.joules += 300.0 * dt_s;
        }
        fn set_fan_duty(&mut self, fan: usize, duty: Duty) {
            if let Some(d) = self.duty.get_mut(fan) {
                *d = f64::from(duty.per_mille()) / 1000.0;
            }
        }
        fn set_fan_stalled(&mut self, fan: usize, stalled: bool) {
            if let Some(s) = self.stalled.get_mut(fan) {
                *s = stalled;
            }
        }
        fn board_state(&self) -> BoardState {
            let mut fan_rpm = [0.0; FANS];
            for (i, r) in fan_rpm.iter_mut().enumerate() {
                *r = if self.stalled[i] {
                    0.0
                } else {
                    16_000.0 * self.duty[i]
                };
            }
            let mut dimm_c = [0.0; DIMMS];
            for (i, d) in dimm_c.iter_mut().enumerate() {
                *d = 40.0 + i as f64 + self.cpu_c / 10.0;
            }
            let rail = |k: f64| RailTelemetry {
                vin_v: 12.0,
                vout_v: 1.1 - 0.1 * k,
                iout_a: 100.0 / (k + 1.0),
                temperature_c: 60.0 + k,
                pout_w: 110.0 / (k + 1.0),
                pin_w: 120.0 / (k + 1.0),
            };
            BoardState {
                time_s: self.t,
                tctl_c: self.cpu_c,
                tccd_c: [self.cpu_c - 2.0; CCDS],
                cpu_package_w: 300.0,
                cpu_core_w: 200.0,
                cpu_package_j: self.joules,
                cpu_core_j: self.joules * 2.0 / 3.0,
                dimm_c,
                rails: [rail(0.0), rail(1.0), rail(2.0)],
                fan_rpm,
                inlet_c: 25.0,
                outlet_c: 25.0 + self.cpu_c / 4.0,
            }
        }
    }

    #[test]
    fn real_drivers_read_the_board_state() {
        let mut board = ReferenceBoard::new(ToyPlant::new(), 4);
        let mut fans = Emc230x::new(board.board_bus.clone(), EMC2305_ADDRESS);
        fans.probe().unwrap();
        for fan in 0..FANS as u8 {
            fans.set_duty(fan, Duty::from_percent(60)).unwrap();
        }
        for _ in 0..30 {
            board.step(1.0);
        }
        let s = *board.state();
        // The duty written over the bus reached the plant.
        assert!((board.plant.duty[2] - 0.6).abs() < 0.003);
        let rpm = f64::from(fans.read_rpm(2).unwrap().0);
        assert!((rpm - s.fan_rpm[2]).abs() <= s.fan_rpm[2].powi(2) / 7_864_320.0 * 1.01 + 2.0);
        for slot in 0..DIMMS {
            let (bus, address) = board.dimm(slot).unwrap();
            let mut d = Spd5118Driver::new(ReadOnly::new(bus), address).unwrap();
            let got = f64::from(d.read_temperature().unwrap().0);
            assert!(
                (got - s.dimm_c[slot] * 1000.0).abs() <= 125.0,
                "slot {slot}"
            );
        }
        let mut tsi =
            SbTsiDriver::new(ReadOnly::new(board.board_bus.clone()), SBTSI_ADDRESS).unwrap();
        assert!((f64::from(tsi.read_temperature().unwrap().0) - s.tctl_c * 1000.0).abs() <= 62.5);
        let mut inlet = Lm75Driver::new(
            board.board_bus.clone(),
            OUTLET_TMP75_ADDRESS,
            Variant::Tmp75,
        )
        .unwrap();
        assert!(
            (f64::from(inlet.read_temperature().unwrap().0) - s.outlet_c * 1000.0).abs() <= 500.0
        );
        for rail in 0..RAILS {
            let mut v = Pmbus::new(board.board_bus.clone(), VRM_BASE_ADDRESS + rail as u8);
            let got = f64::from(v.read_vout().unwrap().0);
            assert!((got - s.rails[rail].vout_v * 1000.0).abs() <= 2.0);
        }
        // RAPL: 300 W package over the next 10 s.
        let (raw, units) = read_amd_package_energy(&mut board.msr, 0).unwrap();
        let mut acc = EnergyAccumulator::new(units);
        acc.update(raw);
        for _ in 0..10 {
            board.step(1.0);
        }
        let (raw, _) = read_amd_package_energy(&mut board.msr, 0).unwrap();
        assert_eq!(
            acc.update_power(raw, MilliSeconds(10_000)).unwrap().0,
            300_000
        );
    }

    #[test]
    fn a_fan_stall_fault_stops_the_plant_fan_and_the_driver_sees_it() {
        let mut board = ReferenceBoard::new(ToyPlant::new(), 1);
        let mut plan = FaultPlan::new(100.0).unwrap();
        plan.add(
            FaultTarget::Device {
                segment: BOARD_SEGMENT,
                address: EMC2305_ADDRESS,
            },
            5.0,
            10.0,
            Fault::FanStall { fan: 1 },
        )
        .unwrap();
        board.set_fault_plan(plan);
        let mut fans = Emc230x::new(board.board_bus.clone(), EMC2305_ADDRESS);
        fans.probe().unwrap();
        for fan in 0..FANS as u8 {
            fans.set_duty(fan, Duty::from_percent(50)).unwrap();
        }
        for _ in 0..6 {
            board.step(1.0);
        }
        assert!(board.plant.stalled[1]);
        assert_eq!(fans.read_rpm(1).unwrap().0, 0);
        assert!(fans.read_stall().unwrap().has_fan(1));
        for _ in 0..5 {
            board.step(1.0);
        }
        assert!(!board.plant.stalled[1]);
        assert!(fans.read_rpm(1).unwrap().0 > 0);
    }

    #[test]
    fn the_hwmon_mirror_reports_a_stalled_fan_as_faulty() {
        let mut board = ReferenceBoard::new(ToyPlant::new(), 1);
        let mut plan = FaultPlan::new(100.0).unwrap();
        plan.add(
            FaultTarget::Device {
                segment: BOARD_SEGMENT,
                address: EMC2305_ADDRESS,
            },
            5.0,
            10.0,
            Fault::FanStall { fan: 1 },
        )
        .unwrap();
        board.set_fault_plan(plan);
        let mut fans = Emc230x::new(board.board_bus.clone(), EMC2305_ADDRESS);
        fans.probe().unwrap();
        for fan in 0..FANS as u8 {
            fans.set_duty(fan, Duty::from_percent(50)).unwrap();
        }
        let fault = |board: &ReferenceBoard<ToyPlant>, file: &str| {
            let chips = board.hwmon_chips();
            let emc = chips.iter().find(|c| c.name == "emc2305").unwrap();
            let (_, v) = emc.attributes.iter().find(|(n, _)| n == file).unwrap();
            v.clone()
        };
        board.step(1.0);
        assert_eq!(fault(&board, "fan2_fault"), "0");
        for _ in 0..6 {
            board.step(1.0);
        }
        // HARDWARE.md §3a: fanN_fault is bit n of the drive-fail status (0x27), which
        // the chip sets for the stalled, driven fan.
        assert_eq!(fault(&board, "fan2_fault"), "1");
        assert_eq!(fault(&board, "fan1_fault"), "0");
        for _ in 0..5 {
            board.step(1.0);
        }
        assert_eq!(fault(&board, "fan2_fault"), "0");
    }

    #[test]
    fn an_unserviced_watchdog_drives_the_plant_fans_to_full() {
        let mut board = ReferenceBoard::new(ToyPlant::new(), 1);
        let mut fans = Emc230x::new(board.board_bus.clone(), EMC2305_ADDRESS);
        fans.probe().unwrap();
        fans.enable_watchdog().unwrap();
        for fan in 0..FANS as u8 {
            fans.set_duty(fan, Duty::from_percent(30)).unwrap();
        }
        // The host stops writing: after the 4 s period the chip takes over.
        for _ in 0..6 {
            board.step(1.0);
        }
        assert!(
            board.plant.duty.iter().all(|d| (*d - 1.0).abs() < 1e-9),
            "{:?}",
            board.plant.duty
        );
    }

    #[test]
    fn hwmon_tree_of_the_board_has_every_chip_and_plant_values() {
        let mut board = ReferenceBoard::new(ToyPlant::new(), 1);
        board.step(1.0);
        let root = std::env::temp_dir().join(format!("sovereign-sim-board-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut tree = board.write_hwmon(&root, 3).unwrap();
        let names: Vec<String> = std::fs::read_dir(root.join("class/hwmon"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path().join("name")).unwrap())
            .collect();
        let count = |n: &str| names.iter().filter(|x| x.trim() == n).count();
        assert_eq!(
            (
                count("k10temp"),
                count("spd5118"),
                count("emc2305"),
                count("pmbus"),
                count("tmp75")
            ),
            (1, 12, 1, 3, 2)
        );
        let k = tree.chip_dir(crate::hwmon::K10TEMP_PCI).unwrap();
        let tctl: i64 = std::fs::read_to_string(k.join("temp1_input"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!((tctl as f64 - board.state().tctl_c * 1000.0).abs() <= 62.5);
        // Next step: values rewritten in place; a reboot renumbers.
        for _ in 0..20 {
            board.step(1.0);
        }
        board.update_hwmon(&tree).unwrap();
        let tctl2: i64 = std::fs::read_to_string(k.join("temp1_input"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_ne!(tctl, tctl2);
        let dimm_l1 = i2c_device_path(PIIX4_PCI, 1, 0x53);
        board.step(1.0);
        tree.reboot(&board.hwmon_chips(), 99).unwrap();
        let dir = tree.chip_dir(&dimm_l1).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("name")).unwrap(),
            "spd5118\n"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn real_drivers_read_the_reference_plant_through_the_board() {
        use crate::plant::PlantParams;
        use sovereign_hal::chips::lm75::Resolution as Res;
        use sovereign_hal::msr::amd::read_amd_core_energy;

        let plant = Plant::new(PlantParams::reference(), 42).unwrap();
        let mut board = ReferenceBoard::new(plant, 8);
        board.plant.set_cpu_power_w(360.0);
        let bus = board.board_bus.clone();
        let mut fans = Emc230x::new(bus.clone(), EMC2305_ADDRESS);
        fans.probe().unwrap();
        for fan in 0..FANS as u8 {
            fans.set_duty(fan, Duty::from_percent(70)).unwrap();
        }
        let mut inlet = Lm75Driver::new(bus.clone(), INLET_TMP75_ADDRESS, Variant::Tmp75).unwrap();
        let mut outlet =
            Lm75Driver::new(bus.clone(), OUTLET_TMP75_ADDRESS, Variant::Tmp75).unwrap();
        inlet.set_resolution(Res::BITS_12).unwrap();
        outlet.set_resolution(Res::BITS_12).unwrap();
        let (raw, units) = read_amd_package_energy(&mut board.msr, 0).unwrap();
        let mut pkg = EnergyAccumulator::new(units);
        pkg.update(raw);
        let (raw, _) = read_amd_core_energy(&mut board.msr, 3).unwrap();
        let mut core = EnergyAccumulator::new(units);
        core.update(raw);
        let start = *board.state();
        for _ in 0..120 {
            board.step(1.0);
            let (raw, _) = read_amd_package_energy(&mut board.msr, 0).unwrap();
            pkg.update(raw);
            let (raw, _) = read_amd_core_energy(&mut board.msr, 3).unwrap();
            core.update(raw);
        }
        let snap = board.plant.snapshot();
        let s = *board.state();

        // The duty written over SMBus is the duty the plant's fans run at.
        for d in snap.fan_duty {
            assert_eq!(d.to_pwm_u8(), Duty::from_percent(70).to_pwm_u8());
        }
        for fan in 0..FANS {
            let rpm = snap.fan_rpm[fan];
            let got = f64::from(fans.read_rpm(fan as u8).unwrap().0);
            assert!(
                (got - rpm).abs() <= rpm * rpm / 7_864_320.0 * 1.01 + 2.0,
                "fan {fan}: {got} vs {rpm}"
            );
        }
        let mut tsi = SbTsiDriver::new(ReadOnly::new(bus.clone()), SBTSI_ADDRESS).unwrap();
        let tctl = f64::from(tsi.read_temperature().unwrap().0);
        assert!(
            (tctl - snap.tctl_c * 1000.0).abs() <= 62.5,
            "{tctl} vs {}",
            snap.tctl_c
        );
        for slot in 0..DIMMS {
            let (dbus, address) = board.dimm(slot).unwrap();
            let mut d = Spd5118Driver::new(ReadOnly::new(dbus), address).unwrap();
            let got = f64::from(d.read_temperature().unwrap().0);
            assert!(
                (got - snap.dimm_c[slot] * 1000.0).abs() <= 125.0,
                "DIMM {slot}"
            );
        }
        assert!(
            (f64::from(inlet.read_temperature().unwrap().0) - snap.inlet_c * 1000.0).abs() <= 62.5
        );
        assert!(
            (f64::from(outlet.read_temperature().unwrap().0) - snap.outlet_c * 1000.0).abs()
                <= 62.5
        );
        for rail in 0..RAILS {
            let mut v = Pmbus::new(bus.clone(), VRM_BASE_ADDRESS + rail as u8);
            let near = |got: f64, want: f64, rel: f64| (got - want).abs() <= want.abs() * rel + 1.0;
            // LINEAR11 keeps 10 bits of magnitude: within 1/1024 relative (+1 unit).
            assert!(near(
                f64::from(v.read_vin().unwrap().0),
                snap.vrm_vin_v[rail] * 1e3,
                1.0 / 1024.0
            ));
            assert!(near(
                f64::from(v.read_iout().unwrap().0),
                snap.vrm_iout_a[rail] * 1e3,
                1.0 / 1024.0
            ));
            assert!(near(
                f64::from(v.read_temperature_1().unwrap().0),
                snap.vrm_c[rail] * 1e3,
                1.0 / 1024.0
            ));
            assert!(near(
                v.read_pout().unwrap().0 as f64,
                snap.vrm_pout_w[rail] * 1e6,
                1.0 / 1024.0
            ));
            assert!(near(
                v.read_pin().unwrap().0 as f64,
                snap.vrm_pin_w[rail] * 1e6,
                1.0 / 1024.0
            ));
            // LINEAR16 at 2^-9 V: within 2 mV.
            assert!(
                (f64::from(v.read_vout().unwrap().0) - snap.vrm_vout_v[rail] * 1e3).abs() <= 2.0
            );
        }
        // RAPL energy read through the hal matches the plant's energy integral: package
        // on any CPU, core as the sum of 8 equal per-CPU shares.
        let pkg_j = pkg.total_energy().0 as f64 / 1e6;
        let want_pkg = s.cpu_package_j - start.cpu_package_j;
        assert!(
            (pkg_j - want_pkg).abs() <= 1e-3,
            "{pkg_j} J vs {want_pkg} J"
        );
        let core_j = core.total_energy().0 as f64 / 1e6 * 8.0;
        let want_core = s.cpu_core_j - start.cpu_core_j;
        assert!(
            (core_j - want_core).abs() <= 8e-3,
            "{core_j} J vs {want_core} J"
        );
        assert!(want_pkg > 120.0 * 100.0, "the CPU really drew power");
    }
}
