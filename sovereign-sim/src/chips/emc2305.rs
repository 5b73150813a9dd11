//! Microchip EMC2305 five-channel fan controller, HARDWARE.md §3a.
//!
//! Byte registers with an auto-incrementing pointer. Per fan n (0..5): drive (duty
//! byte) at 0x30 + 0x10·n, minimum drive at 0x38 + 0x10·n, tach reading MSB at
//! 0x3E + 0x10·n and LSB at 0x3F + 0x10·n (so the SMBus read-word value is swapped).
//! Identity: product 0x34 at 0xFD, vendor 0x5D at 0xFE. Drive-fail status at 0x27.
//!
//! The tach reading is computed from the RPM the plant provides with the inverse of the
//! kernel's formula (HARDWARE.md §3a: RPM = 2 × ⌊3932160 / (w >> 3)⌋), so the driver's
//! decode matches within one tach count. A fan below the measurable range (or stalled)
//! reads the stall pattern 0xFFF8, which the kernel formula turns into 0 RPM.
//!
//! From the EMC2305 datasheet, not HARDWARE.md (UNCONFIRMED against the kernel, which
//! does not use them): configuration 0x20 bit 5 = watchdog enable (continuous mode),
//! fan status 0x24 (bit 7 watchdog fired, bit 2 drive fail, bit 0 stall), fan stall
//! status 0x25 (bit n per fan), spin-up status 0x26, watchdog period 4 s. While enabled,
//! the watchdog must be serviced by a write to a fan drive register within its period;
//! when it expires every drive goes to 0xFF (100 %) and status bit 7 is set (cleared by
//! reading the status register). Stall and drive-fail bits follow the fans' state.

use sovereign_hal::units::Duty;

use crate::bus::{ByteRegisters, DeviceNak, Injected, SimDevice};

/// Number of fan channels.
pub const FANS: usize = 5;

const REG_CONFIG: u8 = 0x20;
const REG_FAN_STATUS: u8 = 0x24;
const REG_STALL_STATUS: u8 = 0x25;
const REG_SPIN_STATUS: u8 = 0x26;
const REG_DRIVE_FAIL: u8 = 0x27;
const REG_PRODUCT_ID: u8 = 0xFD;
const REG_VENDOR: u8 = 0xFE;
const REG_REVISION: u8 = 0xFF;

const CONFIG_WD_EN: u8 = 1 << 5;
const STATUS_WATCH: u8 = 1 << 7;
const STATUS_DRIVE_FAIL: u8 = 1 << 2;
const STATUS_STALL: u8 = 1 << 0;

/// `EMC2305_RPM_FACTOR` × `EMC2305_TACH_CNT_MULTIPLIER` (HARDWARE.md §3a).
const RPM_TIMES_COUNT: f64 = 3_932_160.0 * 2.0;
/// The tach word a stalled fan reads: the count saturates (13 bits, low 3 bits unused).
pub const STALL_PATTERN: u16 = 0xFFF8;

/// Default watchdog period, seconds (datasheet; UNCONFIRMED).
pub const WATCHDOG_PERIOD_S: f64 = 4.0;

/// A simulated EMC2305.
#[derive(Debug, Clone)]
pub struct Emc2305 {
    regs: Box<[u8; 256]>,
    pointer: u8,
    rpm: [f64; FANS],
    forced_stall: u16,
    noise_rpm: f64,
    now_s: f64,
    last_service_s: f64,
    watchdog_period_s: f64,
    watchdog_fired: bool,
    watch_status: bool,
}

impl Default for Emc2305 {
    fn default() -> Self {
        Self::new()
    }
}

impl Emc2305 {
    /// Power-on state: drives 0, watchdog disabled, every fan at 0 RPM.
    pub fn new() -> Self {
        let mut regs = Box::new([0u8; 256]);
        regs[usize::from(REG_PRODUCT_ID)] = 0x34;
        regs[usize::from(REG_VENDOR)] = 0x5D;
        regs[usize::from(REG_REVISION)] = 0x80;
        Self {
            regs,
            pointer: 0,
            rpm: [0.0; FANS],
            forced_stall: 0,
            noise_rpm: 0.0,
            now_s: 0.0,
            last_service_s: 0.0,
            watchdog_period_s: WATCHDOG_PERIOD_S,
            watchdog_fired: false,
            watch_status: false,
        }
    }

    /// Sets the speed fan `fan` really turns at (from the plant). Out-of-range fans are
    /// ignored.
    pub fn set_rpm(&mut self, fan: usize, rpm: f64) {
        if let Some(r) = self.rpm.get_mut(fan) {
            *r = rpm;
        }
    }

    /// Enables or disables the hardware watchdog (as the host would through bit 5 of
    /// the configuration register).
    pub fn set_watchdog_enabled(&mut self, enabled: bool) {
        let c = &mut self.regs[usize::from(REG_CONFIG)];
        if enabled {
            *c |= CONFIG_WD_EN;
        } else {
            *c &= !CONFIG_WD_EN;
        }
        self.last_service_s = self.now_s;
    }

    /// Sets the watchdog period, seconds.
    pub fn set_watchdog_period_s(&mut self, period_s: f64) {
        self.watchdog_period_s = period_s;
    }

    /// Whether the watchdog has expired (drives forced to 100 %) since the host last
    /// wrote a drive register.
    pub fn watchdog_fired(&self) -> bool {
        self.watchdog_fired
    }

    /// The drive byte of fan `fan` (0 for an out-of-range fan).
    pub fn drive(&self, fan: usize) -> u8 {
        if fan >= FANS {
            return 0;
        }
        self.regs[0x30 + 0x10 * fan]
    }

    /// The drive of fan `fan` as a duty (what the plant should apply).
    pub fn duty(&self, fan: usize) -> Duty {
        Duty::from_pwm_u8(self.drive(fan))
    }

    fn stalled(&self, fan: usize) -> bool {
        (self.forced_stall >> fan) & 1 == 1 || self.tach_count(fan) >= 0x1FFF
    }

    /// The 13-bit tach count for fan `fan`.
    fn tach_count(&self, fan: usize) -> u16 {
        if (self.forced_stall >> fan) & 1 == 1 {
            return 0x1FFF;
        }
        let rpm = self.rpm.get(fan).copied().unwrap_or(0.0) + self.noise_rpm;
        if !(rpm.is_finite() && rpm > 0.0) {
            return 0x1FFF;
        }
        // Inverse of HARDWARE.md §3a: count = 2 × 3932160 / RPM, nearest, 13 bits.
        let c = (RPM_TIMES_COUNT / rpm).round();
        if c >= 8191.0 {
            0x1FFF
        } else {
            (c as u16).max(1)
        }
    }

    /// The tach word of fan `fan` as the chip holds it (MSB at 0x3E + 0x10·n).
    pub fn tach_register(&self, fan: usize) -> u16 {
        self.tach_count(fan) << 3
    }

    fn status_bits(&self) -> (u8, u8) {
        let mut stall = 0u8;
        let mut fail = 0u8;
        for fan in 0..FANS {
            if self.drive(fan) > 0 && self.stalled(fan) {
                stall |= 1 << fan;
            }
            if self.drive(fan) > 0 && (self.forced_stall >> fan) & 1 == 1 {
                fail |= 1 << fan;
            }
        }
        (stall, fail)
    }

    fn fan_of_drive_register(reg: u8) -> Option<usize> {
        let fan = usize::from(reg.checked_sub(0x30)? >> 4);
        (reg & 0x0F == 0 && fan < FANS).then_some(fan)
    }
}

impl ByteRegisters for Emc2305 {
    fn pointer_mut(&mut self) -> &mut u8 {
        &mut self.pointer
    }

    fn read_register(&mut self, reg: u8) -> u8 {
        let (stall, fail) = self.status_bits();
        match reg {
            REG_FAN_STATUS => {
                let mut s = 0;
                if stall != 0 {
                    s |= STATUS_STALL;
                }
                if fail != 0 {
                    s |= STATUS_DRIVE_FAIL;
                }
                if self.watch_status {
                    s |= STATUS_WATCH;
                    // WATCH is cleared by reading the status register.
                    self.watch_status = false;
                }
                s
            }
            REG_STALL_STATUS => stall,
            REG_SPIN_STATUS => 0,
            REG_DRIVE_FAIL => fail,
            0x3E..=0x7F if reg & 0x0E == 0x0E => {
                let fan = usize::from((reg - 0x30) >> 4);
                let [msb, lsb] = self.tach_register(fan).to_be_bytes();
                if reg & 1 == 0 { msb } else { lsb }
            }
            _ => self.regs[usize::from(reg)],
        }
    }

    fn write_register(&mut self, reg: u8, value: u8) -> Result<(), DeviceNak> {
        match reg {
            REG_FAN_STATUS | REG_STALL_STATUS | REG_SPIN_STATUS | REG_DRIVE_FAIL
            | REG_PRODUCT_ID | REG_VENDOR | REG_REVISION => {}
            0x3E..=0x7F if reg & 0x0E == 0x0E => {}
            _ => {
                if Self::fan_of_drive_register(reg).is_some() {
                    // A drive write services the watchdog.
                    self.last_service_s = self.now_s;
                    self.watchdog_fired = false;
                }
                self.regs[usize::from(reg)] = value;
            }
        }
        Ok(())
    }
}

impl SimDevice for Emc2305 {
    fn name(&self) -> &'static str {
        "emc2305"
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
        self.write_bytes(bytes)
    }

    fn read(&mut self, buf: &mut [u8]) {
        self.read_bytes(buf)
    }

    fn advance_to(&mut self, now_s: f64) {
        self.now_s = now_s;
        let enabled = self.regs[usize::from(REG_CONFIG)] & CONFIG_WD_EN != 0;
        if enabled && !self.watchdog_fired && now_s - self.last_service_s >= self.watchdog_period_s
        {
            self.watchdog_fired = true;
            self.watch_status = true;
            for fan in 0..FANS {
                self.regs[0x30 + 0x10 * fan] = 0xFF;
            }
        }
    }

    fn inject(&mut self, injected: &Injected) {
        self.forced_stall = injected.stalled_fans;
        self.noise_rpm = injected.noise;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{BusMode, BusSpeed, SimBus};
    use crate::fault::{Fault, FaultPlan, FaultTarget};
    use sovereign_hal::smbus::Smbus;

    /// HARDWARE.md §3a, exactly.
    fn kernel_rpm(word_swapped: u16) -> u32 {
        let c = u32::from(word_swapped >> 3);
        if c == 0 {
            return 0;
        }
        let r = 3_932_160 / c;
        if r <= 480 { 0 } else { r * 2 }
    }

    fn bus() -> SimBus {
        let bus = SimBus::new(2, BusSpeed::Standard100k, BusMode::SmbusOnly);
        bus.add_device(0x2E, Box::new(Emc2305::new())).unwrap();
        bus
    }

    #[test]
    fn identity_registers() {
        let mut bus = bus();
        assert_eq!(bus.read_byte_data(0x2E, REG_VENDOR).unwrap(), 0x5D);
        assert_eq!(bus.read_byte_data(0x2E, REG_PRODUCT_ID).unwrap(), 0x34);
    }

    #[test]
    fn tach_decodes_to_the_plant_rpm_within_one_count() {
        let mut bus = bus();
        for rpm in (1000..=20000).step_by(37) {
            bus.with_device::<Emc2305, _>(0x2E, |c| c.set_rpm(2, f64::from(rpm)))
                .unwrap();
            let w = bus.read_word_data(0x2E, 0x3E + 0x20).unwrap().swap_bytes();
            let c = f64::from(w >> 3);
            let got = kernel_rpm(w);
            // One tach count at this speed, in RPM, plus the kernel's floor (2 RPM).
            let one_count = RPM_TIMES_COUNT / (c - 1.0) - RPM_TIMES_COUNT / c;
            assert!(
                (f64::from(got) - f64::from(rpm)).abs() <= one_count + 2.0,
                "{rpm} read {got}"
            );
        }
    }

    #[test]
    fn drive_registers_are_what_the_plant_reads_as_duty() {
        let mut bus = bus();
        bus.write_byte_data(0x2E, 0x30 + 0x10 * 4, 128).unwrap();
        let (drive, duty) = bus
            .with_device::<Emc2305, _>(0x2E, |c| (c.drive(4), c.duty(4)))
            .unwrap();
        assert_eq!(drive, 128);
        assert_eq!(duty.per_mille(), 502);
        assert_eq!(bus.read_byte_data(0x2E, 0x70).unwrap(), 128);
    }

    #[test]
    fn a_stalled_fan_reads_the_stall_pattern_and_sets_stall_and_drive_fail_bits() {
        let mut bus = bus();
        bus.with_device::<Emc2305, _>(0x2E, |c| c.set_rpm(1, 9000.0))
            .unwrap();
        bus.write_byte_data(0x2E, 0x40, 200).unwrap();
        let mut plan = FaultPlan::new(100.0).unwrap();
        plan.add(
            FaultTarget::Device {
                segment: 2,
                address: 0x2E,
            },
            10.0,
            20.0,
            Fault::FanStall { fan: 1 },
        )
        .unwrap();
        bus.set_fault_plan(plan);
        bus.set_time_s(5.0);
        assert_eq!(bus.read_byte_data(0x2E, REG_STALL_STATUS).unwrap(), 0);
        bus.set_time_s(10.0);
        let w = bus.read_word_data(0x2E, 0x4E).unwrap().swap_bytes();
        assert_eq!(w, STALL_PATTERN);
        assert_eq!(kernel_rpm(w), 0);
        assert_eq!(bus.read_byte_data(0x2E, REG_STALL_STATUS).unwrap(), 0b10);
        assert_eq!(bus.read_byte_data(0x2E, REG_DRIVE_FAIL).unwrap(), 0b10);
        assert_eq!(
            bus.read_byte_data(0x2E, REG_FAN_STATUS).unwrap() & 0x05,
            0x05
        );
        bus.set_time_s(20.0);
        assert_eq!(bus.read_byte_data(0x2E, REG_DRIVE_FAIL).unwrap(), 0);
    }

    #[test]
    fn watchdog_drives_fans_to_full_when_not_serviced() {
        let mut bus = bus();
        bus.write_byte_data(0x2E, REG_CONFIG, CONFIG_WD_EN).unwrap();
        bus.write_byte_data(0x2E, 0x30, 100).unwrap();
        bus.set_time_s(3.0);
        bus.write_byte_data(0x2E, 0x30, 90).unwrap(); // serviced at 3 s
        bus.set_time_s(6.9);
        assert_eq!(bus.read_byte_data(0x2E, 0x30).unwrap(), 90);
        bus.set_time_s(7.0);
        for fan in 0..FANS as u8 {
            assert_eq!(bus.read_byte_data(0x2E, 0x30 + 0x10 * fan).unwrap(), 0xFF);
        }
        assert_ne!(
            bus.read_byte_data(0x2E, REG_FAN_STATUS).unwrap() & STATUS_WATCH,
            0
        );
        assert!(
            bus.with_device::<Emc2305, _>(0x2E, |c| c.watchdog_fired())
                .unwrap()
        );
    }

    #[test]
    fn watchdog_disabled_never_fires() {
        let mut bus = bus();
        bus.write_byte_data(0x2E, 0x30, 100).unwrap();
        bus.set_time_s(1000.0);
        assert_eq!(bus.read_byte_data(0x2E, 0x30).unwrap(), 100);
    }
}
