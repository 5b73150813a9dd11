//! A JEDEC JC-42.4 DIMM temperature sensor (TSE2004av class), HARDWARE.md §1.
//!
//! 16-bit registers behind a pointer, MSB first on the wire: a write `[ptr]` selects a
//! register, `[ptr, msb, lsb]` writes it, a read returns MSB then LSB (repeating).
//! Temperature: 13-bit two's complement in bits 12:0, 0.0625 °C per LSB, with the
//! crit/max/min alarm flags in bits 15/14/13 computed against the limit registers.

use crate::bus::{DeviceNak, Injected, SimDevice};
use crate::chips::quantize;

/// Register pointers (HARDWARE.md §1).
const REG_CAP: u8 = 0x00;
const REG_CONFIG: u8 = 0x01;
const REG_UPPER: u8 = 0x02;
const REG_LOWER: u8 = 0x03;
const REG_CRIT: u8 = 0x04;
const REG_TEMP: u8 = 0x05;
const REG_MANID: u8 = 0x06;
const REG_DEVID: u8 = 0x07;
const REG_SMBUS: u8 = 0x22;

/// CONFIG bit 7 locks the upper/lower limits, bit 6 the critical limit (HARDWARE.md §1).
const CONFIG_EVENT_LOCK: u16 = 1 << 7;
const CONFIG_CRIT_LOCK: u16 = 1 << 6;

/// A simulated JC-42.4 sensor.
#[derive(Debug, Clone)]
pub struct Jc42 {
    temp_c: f64,
    noise_c: f64,
    pointer: u8,
    cap: u16,
    config: u16,
    upper: u16,
    lower: u16,
    crit: u16,
    manufacturer: u16,
    device: u16,
    smbus: u16,
}

impl Jc42 {
    /// A TSE2004av-class part: capability 0x006F (bits 1, 5, 6 set as the kernel's
    /// TSE2004 check requires, HARDWARE.md §1 detection step 3), IDT manufacturer ID
    /// 0x00B3, device ID 0x2214 (TSE2004 class 0x22xx). Limits as a BIOS typically
    /// programs them (upper 85 °C, lower 0 °C, critical 95 °C); at 25 °C.
    pub fn tse2004av() -> Self {
        Self {
            temp_c: 25.0,
            noise_c: 0.0,
            pointer: REG_TEMP,
            cap: 0x006F,
            config: 0x0000,
            upper: encode_limit(85.0),
            lower: encode_limit(0.0),
            crit: encode_limit(95.0),
            manufacturer: 0x00B3,
            device: 0x2214,
            smbus: 0,
        }
    }

    /// Sets the die temperature the sensor measures.
    pub fn set_temperature_c(&mut self, celsius: f64) {
        self.temp_c = celsius;
    }

    /// The temperature register as the chip holds it (alarm bits included).
    pub fn temperature_register(&self) -> u16 {
        let raw = quantize(self.temp_c + self.noise_c, 0.0625, -4096, 4095);
        let t = sign13(raw as u16);
        let mut reg = (raw as u16) & 0x1FFF;
        // Alarm flags (HARDWARE.md §1: bits 15/14/13 = crit/max/min).
        if t >= sign13(self.crit) {
            reg |= 1 << 15;
        }
        if t > sign13(self.upper) {
            reg |= 1 << 14;
        }
        if t < sign13(self.lower) {
            reg |= 1 << 13;
        }
        reg
    }

    /// The configuration register (the host may write it).
    pub fn config(&self) -> u16 {
        self.config
    }

    fn register(&self, reg: u8) -> u16 {
        match reg {
            REG_CAP => self.cap,
            REG_CONFIG => self.config,
            REG_UPPER => self.upper,
            REG_LOWER => self.lower,
            REG_CRIT => self.crit,
            REG_TEMP => self.temperature_register(),
            REG_MANID => self.manufacturer,
            REG_DEVID => self.device,
            REG_SMBUS => self.smbus,
            _ => 0,
        }
    }
}

/// Sign-extends the 13-bit field (sign bit 12).
fn sign13(reg: u16) -> i32 {
    let v = i32::from(reg & 0x1FFF);
    if v & 0x1000 != 0 { v - 0x2000 } else { v }
}

/// A limit register for `celsius`: same 13-bit format; the chip keeps 0.25 °C
/// (bits 1:0 read as zero).
fn encode_limit(celsius: f64) -> u16 {
    ((quantize(celsius, 0.25, -1024, 1023) << 2) as u16) & 0x1FFC
}

impl SimDevice for Jc42 {
    fn name(&self) -> &'static str {
        "jc42"
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
        let Some((&ptr, data)) = bytes.split_first() else {
            return Ok(());
        };
        self.pointer = ptr;
        if let [msb, lsb, ..] = *data {
            let value = u16::from_be_bytes([msb, lsb]);
            let event_locked = self.config & CONFIG_EVENT_LOCK != 0;
            let crit_locked = self.config & CONFIG_CRIT_LOCK != 0;
            match ptr {
                REG_CONFIG => self.config = value,
                REG_UPPER if !event_locked => self.upper = value & 0x1FFC,
                REG_LOWER if !event_locked => self.lower = value & 0x1FFC,
                REG_CRIT if !crit_locked => self.crit = value & 0x1FFC,
                REG_SMBUS => self.smbus = value,
                // Read-only and locked registers acknowledge and ignore the data.
                _ => {}
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) {
        let bytes = self.register(self.pointer).to_be_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = bytes[i % 2];
        }
    }

    fn inject(&mut self, injected: &Injected) {
        self.noise_c = injected.noise;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{BusMode, BusSpeed, SimBus};
    use sovereign_hal::smbus::Smbus;

    /// HARDWARE.md §1: sign-extend bits 12:0, m°C = value × 125 / 2 truncated toward 0.
    fn kernel_millicelsius(word_swapped: u16) -> i32 {
        sign13(word_swapped) * 125 / 2
    }

    fn bus_with(t: f64) -> SimBus {
        let bus = SimBus::new(0, BusSpeed::Standard100k, BusMode::SmbusOnly);
        let mut chip = Jc42::tse2004av();
        chip.set_temperature_c(t);
        bus.add_device(0x18, Box::new(chip)).unwrap();
        bus
    }

    #[test]
    fn temperature_reads_msb_first_so_the_smbus_word_is_swapped() {
        let mut bus = bus_with(25.0625);
        let w = bus.read_word_data(0x18, REG_TEMP).unwrap();
        assert_eq!(w.swap_bytes() & 0x1FFF, 401, "25.0625 °C = 401 × 0.0625");
        assert_eq!(kernel_millicelsius(w.swap_bytes()), 25_062);
    }

    #[test]
    fn kernel_decode_is_within_one_lsb_over_the_range() {
        for t10 in -400..=1250 {
            let t = f64::from(t10) / 10.0 + 0.013;
            let mut bus = bus_with(t);
            let w = bus.read_word_data(0x18, REG_TEMP).unwrap().swap_bytes();
            let got = f64::from(kernel_millicelsius(w)) / 1000.0;
            assert!((got - t).abs() <= 0.0625, "{t} °C read as {got}");
        }
    }

    #[test]
    fn ids_and_capability_pass_the_kernel_tse2004_checks() {
        let mut bus = bus_with(30.0);
        let cap = bus.read_word_data(0x18, REG_CAP).unwrap().swap_bytes();
        let config = bus.read_word_data(0x18, REG_CONFIG).unwrap().swap_bytes();
        let man = bus.read_word_data(0x18, REG_MANID).unwrap().swap_bytes();
        let dev = bus.read_word_data(0x18, REG_DEVID).unwrap().swap_bytes();
        // HARDWARE.md §1 detection.
        assert_eq!(cap & 0xFF00, 0);
        assert_eq!(config & 0xF820, 0);
        assert_eq!(dev & 0xFF00, 0x2200);
        assert_eq!(cap & 0x0062, 0x0062);
        assert_eq!(man, 0x00B3);
    }

    #[test]
    fn alarm_bits_follow_the_limits() {
        let mut bus = bus_with(90.0);
        let w = bus.read_word_data(0x18, REG_TEMP).unwrap().swap_bytes();
        assert_eq!(w & 0xE000, 1 << 14, "above upper 85 °C, below crit 95 °C");
        // Host lowers the critical limit to 80 °C (word written MSB first).
        bus.write_word_data(0x18, REG_CRIT, encode_limit(80.0).swap_bytes())
            .unwrap();
        let w = bus.read_word_data(0x18, REG_TEMP).unwrap().swap_bytes();
        assert_eq!(w & 0xE000, (1 << 15) | (1 << 14));
        bus.with_device::<Jc42, _>(0x18, |c| c.set_temperature_c(-5.0))
            .unwrap();
        let w = bus.read_word_data(0x18, REG_TEMP).unwrap().swap_bytes();
        assert_eq!(w & 0xE000, 1 << 13, "below lower 0 °C");
        assert_eq!(kernel_millicelsius(w), -5000);
    }

    #[test]
    fn locked_limits_ignore_writes() {
        let mut bus = bus_with(30.0);
        bus.write_word_data(0x18, REG_CONFIG, CONFIG_CRIT_LOCK.swap_bytes())
            .unwrap();
        bus.write_word_data(0x18, REG_CRIT, encode_limit(50.0).swap_bytes())
            .unwrap();
        let crit = bus.read_word_data(0x18, REG_CRIT).unwrap().swap_bytes();
        assert_eq!(crit, encode_limit(95.0));
    }
}
