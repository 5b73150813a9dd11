//! AMD SB-TSI, the CPU temperature sensor interface a BMC reads (REFERENCE-BOARD: 0x4C).
//!
//! Register facts from the Linux `sbtsi_temp` driver (restated; HARDWARE.md has no
//! SB-TSI section): byte registers only; 0x01 temperature integer part (°C), 0x10
//! decimal part in bits 7:5 (0.125 °C steps), 0x02 status, 0x03 configuration (bit 5 =
//! read order, bit 2 = extended range −49 °C), 0x07/0x13 high limit integer/decimal,
//! 0x08/0x14 low limit, 0x09 configuration write, 0xFE manufacturer, 0xFF revision.
//! Read order: with bit 5 = 0, reading the integer part latches the decimal part (read
//! integer first); with bit 5 = 1 the other way round. Status bit 4 = high alert, bit 3 =
//! low alert (as QEMU's SB-TSI model has them; UNCONFIRMED against an AMD document).

use crate::bus::{ByteRegisters, DeviceNak, Injected, SimDevice};
use crate::chips::quantize;

const REG_TEMP_INT: u8 = 0x01;
const REG_STATUS: u8 = 0x02;
const REG_CONFIG: u8 = 0x03;
const REG_HIGH_INT: u8 = 0x07;
const REG_LOW_INT: u8 = 0x08;
const REG_CONFIG_WR: u8 = 0x09;
const REG_TEMP_DEC: u8 = 0x10;
const REG_HIGH_DEC: u8 = 0x13;
const REG_LOW_DEC: u8 = 0x14;
const REG_MANUFACTURER: u8 = 0xFE;
const REG_REVISION: u8 = 0xFF;

const CONFIG_READ_ORDER: u8 = 1 << 5;
const CONFIG_EXT_RANGE: u8 = 1 << 2;
const STATUS_HIGH: u8 = 1 << 4;
const STATUS_LOW: u8 = 1 << 3;

/// A simulated SB-TSI endpoint.
#[derive(Debug, Clone)]
pub struct SbTsi {
    temp_c: f64,
    noise_c: f64,
    pointer: u8,
    config: u8,
    high_eighths: u16,
    low_eighths: u16,
    latched_eighths: Option<u16>,
}

impl SbTsi {
    /// Power-on state: read order 0, default range, high limit 70 °C, low limit 0 °C,
    /// measuring 40 °C.
    pub fn new() -> Self {
        Self {
            temp_c: 40.0,
            noise_c: 0.0,
            pointer: 0,
            config: 0,
            high_eighths: 70 * 8,
            low_eighths: 0,
            latched_eighths: None,
        }
    }

    /// Sets the CPU temperature (Tctl) the interface reports.
    pub fn set_temperature_c(&mut self, celsius: f64) {
        self.temp_c = celsius;
    }

    /// The configuration register.
    pub fn config(&self) -> u8 {
        self.config
    }

    /// Current reading in 0.125 °C steps as the registers encode it (0..=255.875 °C,
    /// shifted by 49 °C in extended range).
    fn eighths(&self) -> u16 {
        let offset = if self.config & CONFIG_EXT_RANGE != 0 {
            49.0
        } else {
            0.0
        };
        quantize(self.temp_c + self.noise_c + offset, 0.125, 0, 2047) as u16
    }

    fn status(&self) -> u8 {
        let t = self.eighths();
        let mut s = 0;
        if t >= self.high_eighths {
            s |= STATUS_HIGH;
        }
        if t <= self.low_eighths {
            s |= STATUS_LOW;
        }
        s
    }
}

impl Default for SbTsi {
    fn default() -> Self {
        Self::new()
    }
}

fn int_part(eighths: u16) -> u8 {
    (eighths >> 3) as u8
}
fn dec_part(eighths: u16) -> u8 {
    ((eighths & 0x7) << 5) as u8
}

impl ByteRegisters for SbTsi {
    fn pointer_mut(&mut self) -> &mut u8 {
        &mut self.pointer
    }

    fn read_register(&mut self, reg: u8) -> u8 {
        let order_dec_first = self.config & CONFIG_READ_ORDER != 0;
        match reg {
            REG_TEMP_INT => {
                if order_dec_first {
                    // The decimal read latched the value; the integer read completes it.
                    int_part(
                        self.latched_eighths
                            .take()
                            .unwrap_or_else(|| self.eighths()),
                    )
                } else {
                    let now = self.eighths();
                    self.latched_eighths = Some(now);
                    int_part(now)
                }
            }
            REG_TEMP_DEC => {
                if order_dec_first {
                    let now = self.eighths();
                    self.latched_eighths = Some(now);
                    dec_part(now)
                } else {
                    dec_part(
                        self.latched_eighths
                            .take()
                            .unwrap_or_else(|| self.eighths()),
                    )
                }
            }
            REG_STATUS => self.status(),
            REG_CONFIG | REG_CONFIG_WR => self.config,
            REG_HIGH_INT => int_part(self.high_eighths),
            REG_HIGH_DEC => dec_part(self.high_eighths),
            REG_LOW_INT => int_part(self.low_eighths),
            REG_LOW_DEC => dec_part(self.low_eighths),
            // QEMU's model: manufacturer 0, revision 4 (the kernel accepts revisions ≤ 4).
            REG_MANUFACTURER => 0x00,
            REG_REVISION => 0x04,
            _ => 0,
        }
    }

    fn write_register(&mut self, reg: u8, value: u8) -> Result<(), DeviceNak> {
        let set_int = |e: u16| (u16::from(value) << 3) | (e & 0x7);
        let set_dec = |e: u16| (e & !0x7) | u16::from(value >> 5);
        match reg {
            REG_CONFIG_WR => self.config = value,
            REG_HIGH_INT => self.high_eighths = set_int(self.high_eighths),
            REG_HIGH_DEC => self.high_eighths = set_dec(self.high_eighths),
            REG_LOW_INT => self.low_eighths = set_int(self.low_eighths),
            REG_LOW_DEC => self.low_eighths = set_dec(self.low_eighths),
            _ => {}
        }
        Ok(())
    }

    fn auto_increment(&self) -> bool {
        false
    }
}

impl SimDevice for SbTsi {
    fn name(&self) -> &'static str {
        "sbtsi"
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
        self.write_bytes(bytes)
    }

    fn read(&mut self, buf: &mut [u8]) {
        self.read_bytes(buf)
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

    /// The kernel's conversion: m°C = ((int << 3) + (dec >> 5)) × 125.
    fn millicelsius(int: u8, dec: u8) -> i32 {
        ((i32::from(int) << 3) + (i32::from(dec) >> 5)) * 125
    }

    fn bus_with(t: f64) -> SimBus {
        let bus = SimBus::new(0, BusSpeed::Standard100k, BusMode::SmbusOnly);
        let mut c = SbTsi::new();
        c.set_temperature_c(t);
        bus.add_device(0x4C, Box::new(c)).unwrap();
        bus
    }

    #[test]
    fn integer_and_decimal_registers_give_eighths_of_a_degree() {
        let mut bus = bus_with(72.4);
        let int = bus.read_byte_data(0x4C, REG_TEMP_INT).unwrap();
        let dec = bus.read_byte_data(0x4C, REG_TEMP_DEC).unwrap();
        assert_eq!(millicelsius(int, dec), 72_375);
    }

    #[test]
    fn reading_the_integer_part_latches_the_decimal_part() {
        let mut bus = bus_with(72.875);
        let int = bus.read_byte_data(0x4C, REG_TEMP_INT).unwrap();
        // The temperature crosses a degree boundary between the two reads.
        bus.with_device::<SbTsi, _>(0x4C, |c| c.set_temperature_c(73.0))
            .unwrap();
        let dec = bus.read_byte_data(0x4C, REG_TEMP_DEC).unwrap();
        assert_eq!(millicelsius(int, dec), 72_875, "no torn 72.000 read");
    }

    #[test]
    fn read_order_bit_reverses_the_latch() {
        let mut bus = bus_with(72.875);
        bus.write_byte_data(0x4C, REG_CONFIG_WR, CONFIG_READ_ORDER)
            .unwrap();
        assert_eq!(
            bus.read_byte_data(0x4C, REG_CONFIG).unwrap(),
            CONFIG_READ_ORDER
        );
        let dec = bus.read_byte_data(0x4C, REG_TEMP_DEC).unwrap();
        bus.with_device::<SbTsi, _>(0x4C, |c| c.set_temperature_c(73.0))
            .unwrap();
        let int = bus.read_byte_data(0x4C, REG_TEMP_INT).unwrap();
        assert_eq!(millicelsius(int, dec), 72_875);
    }

    #[test]
    fn limits_and_status() {
        let mut bus = bus_with(75.0);
        assert_eq!(bus.read_byte_data(0x4C, REG_STATUS).unwrap(), STATUS_HIGH);
        bus.write_byte_data(0x4C, REG_HIGH_INT, 80).unwrap();
        bus.write_byte_data(0x4C, REG_HIGH_DEC, 0x80).unwrap();
        assert_eq!(bus.read_byte_data(0x4C, REG_HIGH_INT).unwrap(), 80);
        assert_eq!(bus.read_byte_data(0x4C, REG_HIGH_DEC).unwrap(), 0x80);
        assert_eq!(bus.read_byte_data(0x4C, REG_STATUS).unwrap(), 0);
        assert_eq!(bus.read_byte_data(0x4C, REG_REVISION).unwrap(), 4);
    }
}
