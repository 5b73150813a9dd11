//! LM75 / TMP75 board temperature sensors, HARDWARE.md §4.
//!
//! Registers behind a pointer: 0x00 temperature, 0x02 hysteresis, 0x03 over-temperature
//! (16-bit, MSB first, left-justified two's complement), 0x01 configuration (8-bit).
//! The LM75 converts at 9 bits; the TMP75 at 9..12 bits chosen by configuration bits
//! 6:5 (0 → 9, 1 → 10, 2 → 11, 3 → 12; the kernel's probe sets 3, HARDWARE.md §4).

use crate::bus::{DeviceNak, Injected, SimDevice};
use crate::chips::quantize;

const REG_TEMP: u8 = 0x00;
const REG_CONFIG: u8 = 0x01;
const REG_HYST: u8 = 0x02;
const REG_TOS: u8 = 0x03;

/// Which part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lm75Kind {
    /// National LM75: fixed 9-bit conversion.
    Lm75,
    /// TI TMP75: resolution from configuration bits 6:5.
    Tmp75,
}

/// A simulated LM75-family sensor.
#[derive(Debug, Clone)]
pub struct Lm75 {
    kind: Lm75Kind,
    temp_c: f64,
    noise_c: f64,
    pointer: u8,
    config: u8,
    hyst: u16,
    tos: u16,
}

impl Lm75 {
    /// A part of `kind` at power-on: configuration 0 (9-bit), T_HYST 75 °C, T_OS 80 °C,
    /// measuring 25 °C.
    pub fn new(kind: Lm75Kind) -> Self {
        Self {
            kind,
            temp_c: 25.0,
            noise_c: 0.0,
            pointer: REG_TEMP,
            config: 0,
            hyst: 75 << 8,
            tos: 80 << 8,
        }
    }

    /// A TMP75 at power-on.
    pub fn tmp75() -> Self {
        Self::new(Lm75Kind::Tmp75)
    }

    /// Sets the temperature the sensor measures.
    pub fn set_temperature_c(&mut self, celsius: f64) {
        self.temp_c = celsius;
    }

    /// Conversion resolution in bits.
    pub fn resolution_bits(&self) -> u32 {
        match self.kind {
            Lm75Kind::Lm75 => 9,
            Lm75Kind::Tmp75 => 9 + u32::from((self.config >> 5) & 0x03),
        }
    }

    /// The configuration register.
    pub fn config(&self) -> u8 {
        self.config
    }

    /// The temperature register: the reading in `resolution_bits`, left-justified.
    pub fn temperature_register(&self) -> u16 {
        let res = self.resolution_bits();
        let step = 1.0 / f64::from(1u32 << (res - 8));
        let max = (1i64 << (res - 1)) - 1;
        let t = quantize(self.temp_c + self.noise_c, step, -max - 1, max);
        (t << (16 - res)) as u16
    }
}

impl SimDevice for Lm75 {
    fn name(&self) -> &'static str {
        match self.kind {
            Lm75Kind::Lm75 => "lm75",
            Lm75Kind::Tmp75 => "tmp75",
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
        let Some((&ptr, data)) = bytes.split_first() else {
            return Ok(());
        };
        self.pointer = ptr & 0x03;
        match (self.pointer, data) {
            (REG_CONFIG, [c, ..]) => self.config = *c,
            (REG_HYST, [msb, lsb, ..]) => self.hyst = u16::from_be_bytes([*msb, *lsb]),
            (REG_TOS, [msb, lsb, ..]) => self.tos = u16::from_be_bytes([*msb, *lsb]),
            _ => {}
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) {
        let bytes = match self.pointer {
            REG_CONFIG => [self.config, self.config],
            REG_HYST => self.hyst.to_be_bytes(),
            REG_TOS => self.tos.to_be_bytes(),
            _ => self.temperature_register().to_be_bytes(),
        };
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

    /// HARDWARE.md §4: t = (i16 raw) >> (16 − res); m°C = (t × 1000) >> (res − 8).
    fn kernel_millicelsius(raw: u16, res: u32) -> i32 {
        let t = i32::from(raw as i16) >> (16 - res);
        (t * 1000) >> (res - 8)
    }

    fn bus_with(kind: Lm75Kind, t: f64) -> SimBus {
        let bus = SimBus::new(0, BusSpeed::Standard100k, BusMode::SmbusOnly);
        let mut c = Lm75::new(kind);
        c.set_temperature_c(t);
        bus.add_device(0x48, Box::new(c)).unwrap();
        bus
    }

    #[test]
    fn tmp75_resolution_follows_config_bits_6_5() {
        let mut bus = bus_with(Lm75Kind::Tmp75, 23.4);
        let raw = bus.read_word_data(0x48, REG_TEMP).unwrap().swap_bytes();
        assert_eq!(
            kernel_millicelsius(raw, 9),
            23_500,
            "power-on: 9 bits, 0.5 °C"
        );
        bus.write_byte_data(0x48, REG_CONFIG, 0x60).unwrap();
        let raw = bus.read_word_data(0x48, REG_TEMP).unwrap().swap_bytes();
        assert_eq!(kernel_millicelsius(raw, 12), 23_375, "12 bits, 0.0625 °C");
        assert_eq!(bus.read_byte_data(0x48, REG_CONFIG).unwrap(), 0x60);
    }

    #[test]
    fn lm75_stays_at_9_bits_and_negative_values_round_like_the_kernel() {
        let mut bus = bus_with(Lm75Kind::Lm75, -0.5);
        bus.write_byte_data(0x48, REG_CONFIG, 0x60).unwrap();
        let raw = bus.read_word_data(0x48, REG_TEMP).unwrap().swap_bytes();
        assert_eq!(raw, 0xFF80);
        assert_eq!(kernel_millicelsius(raw, 9), -500);
    }

    #[test]
    fn every_resolution_reads_within_one_lsb() {
        for bits in 0..4u8 {
            let mut bus = bus_with(Lm75Kind::Tmp75, 0.0);
            bus.write_byte_data(0x48, REG_CONFIG, bits << 5).unwrap();
            let res = 9 + u32::from(bits);
            let lsb = 1.0 / f64::from(1u32 << (res - 8));
            for t10 in -400..=1250 {
                let t = f64::from(t10) / 10.0;
                bus.with_device::<Lm75, _>(0x48, |c| c.set_temperature_c(t))
                    .unwrap();
                let raw = bus.read_word_data(0x48, REG_TEMP).unwrap().swap_bytes();
                let got = f64::from(kernel_millicelsius(raw, res)) / 1000.0;
                assert!((got - t).abs() <= lsb, "{t} at {res} bits read {got}");
            }
        }
    }

    #[test]
    fn limits_are_msb_first_words() {
        let mut bus = bus_with(Lm75Kind::Tmp75, 25.0);
        assert_eq!(
            bus.read_word_data(0x48, REG_TOS).unwrap().swap_bytes(),
            80 << 8
        );
        bus.write_word_data(0x48, REG_HYST, (70u16 << 8).swap_bytes())
            .unwrap();
        assert_eq!(
            bus.read_word_data(0x48, REG_HYST).unwrap().swap_bytes(),
            70 << 8
        );
    }
}
