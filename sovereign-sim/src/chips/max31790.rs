//! Maxim MAX31790 six-channel fan controller, HARDWARE.md §3b.
//!
//! Byte registers with an auto-incrementing pointer; 16-bit values MSB first (so the
//! SMBus read-word value is swapped). Per channel ch (0..6): fan configuration 0x02 + ch,
//! dynamics 0x08 + ch (speed range SR index in bits 7:5), tach count 0x18 + 2·ch, duty
//! read-back 0x30 + 2·ch, target duty (PWMOUT) 0x40 + 2·ch (9 bits in 15:7), target
//! count 0x50 + 2·ch. Fault status 1 at 0x11 (bit ch per fan 1..6).
//!
//! The tach count is the inverse of the kernel formula
//! RPM = 60·SR·8192 / (w >> 4) (HARDWARE.md §3b): the 11-bit count sits in bits 15:5,
//! and a stalled fan reads 0xFFE0. The duty read-back follows the target at once (the
//! chip's rate-of-change ramp and RPM mode are not modelled). Tach inputs 7..12 (PWM pins
//! used as tach inputs) are not modelled; they read 0xFFE0.
//!
//! I2C watchdog (global configuration 0x00 bits 2:1: off / 5 s / 10 s / 30 s; bit 0 =
//! expired; MAX31790 datasheet as restated by the `sovereign-hal` driver): any transfer
//! to the chip restarts it; when it expires every channel is driven at 100 %.

use sovereign_hal::units::Duty;

use crate::bus::{ByteRegisters, DeviceNak, Injected, SimDevice};

/// Number of PWM channels.
pub const CHANNELS: usize = 6;

const REG_GLOBAL_CONFIG: u8 = 0x00;
const REG_FAULT_STATUS_2: u8 = 0x10;
const GLOBAL_WATCHDOG_EXPIRED: u8 = 1 << 0;
const REG_FAULT_STATUS_1: u8 = 0x11;

/// Speed-range multipliers by dynamics bits 7:5 (HARDWARE.md §3b).
const SR: [u32; 8] = [1, 2, 4, 8, 16, 32, 32, 32];
/// The tach word of a stalled fan (count saturated).
pub const STALL_PATTERN: u16 = 0xFFE0;

/// A simulated MAX31790.
#[derive(Debug, Clone)]
pub struct Max31790 {
    regs: Box<[u8; 256]>,
    pointer: u8,
    rpm: [f64; CHANNELS],
    forced_stall: u16,
    noise_rpm: f64,
    now_s: f64,
    last_traffic_s: f64,
}

impl Default for Max31790 {
    fn default() -> Self {
        Self::new()
    }
}

impl Max31790 {
    /// State after a board's init: every channel in PWM mode with its tach input enabled
    /// (fan configuration 0x08; the power-on default leaves tach inputs off), dynamics
    /// 0x4C (SR = 4), duty 0, fans at 0 RPM.
    pub fn new() -> Self {
        let mut regs = Box::new([0u8; 256]);
        for ch in 0..CHANNELS {
            regs[0x02 + ch] = 0x08;
            regs[0x08 + ch] = 0x4C;
        }
        Self {
            regs,
            pointer: 0,
            rpm: [0.0; CHANNELS],
            forced_stall: 0,
            noise_rpm: 0.0,
            now_s: 0.0,
            last_traffic_s: 0.0,
        }
    }

    /// Sets the speed fan `ch` turns at. Out-of-range channels are ignored.
    pub fn set_rpm(&mut self, ch: usize, rpm: f64) {
        if let Some(r) = self.rpm.get_mut(ch) {
            *r = rpm;
        }
    }

    /// The 9-bit target duty of channel `ch` (0..=511).
    pub fn duty_9bit(&self, ch: usize) -> u16 {
        if ch >= CHANNELS {
            return 0;
        }
        u16::from_be_bytes([self.regs[0x40 + 2 * ch], self.regs[0x41 + 2 * ch]]) >> 7
    }

    /// The target duty of channel `ch` as a [`Duty`].
    pub fn duty(&self, ch: usize) -> Duty {
        Duty::from_per_mille_clamped((u32::from(self.duty_9bit(ch)) * 1000 + 255) / 511)
    }

    /// Whether the I2C watchdog has expired (fans driven at 100 %).
    pub fn watchdog_expired(&self) -> bool {
        self.regs[usize::from(REG_GLOBAL_CONFIG)] & GLOBAL_WATCHDOG_EXPIRED != 0
    }

    fn watchdog_period_s(&self) -> Option<f64> {
        match (self.regs[usize::from(REG_GLOBAL_CONFIG)] >> 1) & 0x3 {
            0 => None,
            1 => Some(5.0),
            2 => Some(10.0),
            _ => Some(30.0),
        }
    }

    fn speed_range(&self, ch: usize) -> u32 {
        SR[usize::from(self.regs[0x08 + ch] >> 5)]
    }

    fn stalled(&self, ch: usize) -> bool {
        self.tach_register(ch) == STALL_PATTERN
    }

    /// The tach word of channel `ch` as the chip holds it.
    pub fn tach_register(&self, ch: usize) -> u16 {
        if ch >= CHANNELS || (self.forced_stall >> ch) & 1 == 1 {
            return STALL_PATTERN;
        }
        let rpm = self.rpm[ch] + self.noise_rpm;
        if !(rpm.is_finite() && rpm > 0.0) {
            return STALL_PATTERN;
        }
        // RPM = 60·SR·8192 / (w >> 4) with (w >> 4) = 2 × count (count in bits 15:5).
        let count = (f64::from(60 * self.speed_range(ch) * 8192) / (2.0 * rpm)).round();
        if count >= 2047.0 {
            STALL_PATTERN
        } else {
            ((count as u16).max(1)) << 5
        }
    }

    fn fault_status_1(&self) -> u8 {
        let mut s = 0;
        for ch in 0..CHANNELS {
            let tach_enabled = self.regs[0x02 + ch] & 0x08 != 0;
            if tach_enabled && self.duty_9bit(ch) > 0 && self.stalled(ch) {
                s |= 1 << ch;
            }
        }
        s
    }
}

impl ByteRegisters for Max31790 {
    fn pointer_mut(&mut self) -> &mut u8 {
        &mut self.pointer
    }

    fn read_register(&mut self, reg: u8) -> u8 {
        match reg {
            REG_FAULT_STATUS_1 => self.fault_status_1(),
            REG_FAULT_STATUS_2 => 0,
            0x18..=0x2F => {
                let ch = usize::from((reg - 0x18) / 2);
                let [msb, lsb] = self.tach_register(ch).to_be_bytes();
                if reg & 1 == 0 { msb } else { lsb }
            }
            // Duty read-back mirrors the target.
            0x30..=0x3B => self.regs[usize::from(reg) + 0x10],
            _ => self.regs[usize::from(reg)],
        }
    }

    fn write_register(&mut self, reg: u8, value: u8) -> Result<(), DeviceNak> {
        match reg {
            REG_GLOBAL_CONFIG => {
                // Bit 0 (watchdog expired) is status: writing it has no effect.
                let keep = self.regs[0] & GLOBAL_WATCHDOG_EXPIRED;
                self.regs[0] = (value & !GLOBAL_WATCHDOG_EXPIRED) | keep;
            }
            REG_FAULT_STATUS_2 | REG_FAULT_STATUS_1 | 0x18..=0x3B => {}
            _ => self.regs[usize::from(reg)] = value,
        }
        Ok(())
    }
}

impl SimDevice for Max31790 {
    fn name(&self) -> &'static str {
        "max31790"
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
        self.last_traffic_s = self.now_s;
        self.write_bytes(bytes)
    }

    fn read(&mut self, buf: &mut [u8]) {
        self.last_traffic_s = self.now_s;
        self.read_bytes(buf)
    }

    fn advance_to(&mut self, now_s: f64) {
        self.now_s = now_s;
        if let Some(period) = self.watchdog_period_s()
            && !self.watchdog_expired()
            && now_s - self.last_traffic_s >= period
        {
            self.regs[usize::from(REG_GLOBAL_CONFIG)] |= GLOBAL_WATCHDOG_EXPIRED;
            for ch in 0..CHANNELS {
                self.regs[0x40 + 2 * ch] = 0xFF;
                self.regs[0x41 + 2 * ch] = 0x80;
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
    use sovereign_hal::smbus::Smbus;

    /// HARDWARE.md §3b (newer kernels).
    fn kernel_rpm(w: u16, sr: u32) -> u32 {
        if w == 0xFFE0 {
            return 0;
        }
        (60 * sr * 8192)
            .checked_div(u32::from(w >> 4))
            .unwrap_or(7_864_320)
    }

    fn bus() -> SimBus {
        let bus = SimBus::new(0, BusSpeed::Standard100k, BusMode::SmbusOnly);
        bus.add_device(0x20, Box::new(Max31790::new())).unwrap();
        bus
    }

    #[test]
    fn tach_decodes_to_the_rpm_within_one_count() {
        let mut bus = bus();
        for rpm in (500..=15000).step_by(53) {
            bus.with_device::<Max31790, _>(0x20, |c| c.set_rpm(3, f64::from(rpm)))
                .unwrap();
            let w = bus.read_word_data(0x20, 0x18 + 6).unwrap().swap_bytes();
            let c2 = f64::from(w >> 4);
            let got = kernel_rpm(w, 4);
            let one_count = 60.0 * 4.0 * 8192.0 * (1.0 / (c2 - 2.0) - 1.0 / c2);
            assert!(
                (f64::from(got) - f64::from(rpm)).abs() <= one_count + 1.0,
                "{rpm} read {got}"
            );
        }
    }

    #[test]
    fn pwm_write_follows_the_kernel_encoding_and_reads_back() {
        let mut bus = bus();
        // Kernel: round(pwm·511/255) << 7 into PWMOUT, word swapped (HARDWARE.md §3b).
        let pwm = 128u32;
        let v = (((pwm * 511 + 127) / 255) << 7) as u16;
        bus.write_word_data(0x20, 0x40, v.swap_bytes()).unwrap();
        let read = bus.read_word_data(0x20, 0x30).unwrap().swap_bytes();
        assert_eq!(read >> 8, 128, "read = duty word >> 8");
        let duty = bus.with_device::<Max31790, _>(0x20, |c| c.duty(0)).unwrap();
        assert_eq!(duty.per_mille(), 503, "257/511");
    }

    #[test]
    fn watchdog_drives_every_channel_to_full_without_traffic() {
        let mut bus = bus();
        bus.write_byte_data(0x20, REG_GLOBAL_CONFIG, 1 << 1)
            .unwrap(); // 5 s
        bus.set_time_s(4.0);
        bus.read_byte_data(0x20, REG_FAULT_STATUS_1).unwrap(); // traffic at 4 s
        bus.set_time_s(8.9);
        assert_eq!(bus.read_byte_data(0x20, REG_GLOBAL_CONFIG).unwrap() & 1, 0);
        bus.set_time_s(13.9);
        assert_eq!(bus.read_byte_data(0x20, REG_GLOBAL_CONFIG).unwrap() & 1, 1);
        let duty = bus.with_device::<Max31790, _>(0x20, |c| c.duty(5)).unwrap();
        assert_eq!(duty.per_mille(), 1000);
    }

    #[test]
    fn stalled_fan_reads_0xffe0_and_sets_its_fault_bit() {
        let mut bus = bus();
        bus.write_word_data(0x20, 0x42, (256u16 << 7).swap_bytes())
            .unwrap();
        assert_eq!(
            bus.read_byte_data(0x20, REG_FAULT_STATUS_1).unwrap(),
            0b10,
            "0 RPM with duty on"
        );
        assert_eq!(
            bus.read_word_data(0x20, 0x1A).unwrap().swap_bytes(),
            STALL_PATTERN
        );
        bus.with_device::<Max31790, _>(0x20, |c| c.set_rpm(1, 5000.0))
            .unwrap();
        assert_eq!(bus.read_byte_data(0x20, REG_FAULT_STATUS_1).unwrap(), 0);
    }
}
