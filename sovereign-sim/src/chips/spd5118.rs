//! A DDR5 SPD5118 hub: thermal sensor registers MR0..MR127 and a 1024-byte SPD NVM,
//! HARDWARE.md §2.
//!
//! Byte registers with an auto-incrementing pointer (1-byte register addressing). The
//! NVM is 8 pages × 128 bytes, visible at 0x80..0xFF, page chosen by MR11 bits 2:0.
//! Temperature: MR50:MR49 little-endian, bits 12:2 an 11-bit two's-complement number in
//! 0.25 °C steps. Every write into the NVM window is recorded ([`Spd5118::nvm_writes`]),
//! so a test can assert that a driver never writes a DIMM's EEPROM.
//!
//! Not simulated: 16-bit register addressing (MR11 bit 3 is stored and reads back, but
//! the chip keeps decoding 1-byte addresses) and write protection of NVM blocks.

use sovereign_hal::identity::spd::crc16;

use crate::bus::{ByteRegisters, DeviceNak, Injected, SimDevice};
use crate::chips::quantize;

/// Register numbers (HARDWARE.md §2 table; address = MR number in 1-byte mode).
const MR_TYPE_MSB: u8 = 0x00;
const MR_TYPE_LSB: u8 = 0x01;
const MR_REVISION: u8 = 0x02;
const MR_VENDOR_BANK: u8 = 0x03;
const MR_VENDOR_ID: u8 = 0x04;
const MR_CAPABILITY: u8 = 0x05;
const MR_LEGACY_MODE: u8 = 0x0B;
const MR_TEMP_CLR: u8 = 0x13;
const MR_ERROR_CLR: u8 = 0x14;
const MR_TEMP_CONFIG: u8 = 0x1A;
const MR_TEMP_MAX: u8 = 0x1C;
const MR_TEMP_LCRIT_END: u8 = 0x23;
const MR_TEMP_LSB: u8 = 0x31;
const MR_TEMP_MSB: u8 = 0x32;
const MR_TEMP_STATUS: u8 = 0x33;
const NVM_WINDOW: u8 = 0x80;

/// MR51 bits (HARDWARE.md §2): high, low, crit, lcrit.
const STATUS_HIGH: u8 = 1 << 0;
const STATUS_LOW: u8 = 1 << 1;
const STATUS_CRIT: u8 = 1 << 2;
const STATUS_LCRIT: u8 = 1 << 3;

/// The DDR5 SPD NVM size: 8 pages × 128 bytes.
pub const NVM_BYTES: usize = 1024;

/// One write the host made into the NVM window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NvmWrite {
    /// NVM page (MR11 bits 2:0) at the time of the write.
    pub page: u8,
    /// Register address written (0x80..=0xFF).
    pub register: u8,
    /// Byte written.
    pub value: u8,
}

/// A simulated SPD5118 hub.
#[derive(Debug, Clone)]
pub struct Spd5118 {
    mr: [u8; 128],
    nvm: Box<[u8; NVM_BYTES]>,
    temp_c: f64,
    noise_c: f64,
    pointer: u8,
    status_latched: u8,
    nvm_writes: Vec<NvmWrite>,
    zero_volatile_when_paged: bool,
}

/// Encodes °C in the SPD5118 temperature format: 0.25 °C steps in bits 12:2.
fn encode_quarter_c(celsius: f64) -> u16 {
    ((quantize(celsius, 0.25, -1024, 1023) as u16) & 0x07FF) << 2
}

/// Decodes bits 12:2 as the kernel does (sign bit 12), in quarter degrees.
fn decode_quarter_c(raw: u16) -> i32 {
    let v = i32::from((raw >> 2) & 0x07FF);
    if v & 0x0400 != 0 { v - 0x0800 } else { v }
}

/// A DDR5 RDIMM SPD image: byte 0 = 0x30 (1024-byte SPD device), byte 1 = 0x10 (SPD
/// revision 1.0), byte 2 = 0x12 (DRAM type DDR5), byte 3 = 0x01 (RDIMM), CRC-16 of bytes
/// 0..=509 in bytes 510 (LSB) and 511 (MSB), module manufacturer JEP106 code in bytes
/// 512..=513, a serial number made unique by `serial` in 517..=520 and an ASCII part
/// number in 521..=550 (JEDEC DDR5 SPD layout; not restated in HARDWARE.md).
pub fn ddr5_rdimm_spd(serial: u32) -> Box<[u8; NVM_BYTES]> {
    let mut nvm = Box::new([0u8; NVM_BYTES]);
    nvm[0] = 0x30;
    nvm[1] = 0x10;
    nvm[2] = 0x12;
    nvm[3] = 0x01;
    nvm[4] = 0x04; // SDRAM density and package (16 Gb monolithic)
    // The JEDEC SPD CRC-16 (CRC-16/XMODEM), as `sovereign-hal`'s identity decoder checks it.
    let crc = crc16(&nvm[..510]);
    nvm[510..512].copy_from_slice(&crc.to_le_bytes());
    nvm[512] = 0x86; // JEP106 bank 7 continuation (odd parity)
    nvm[513] = 0x32;
    nvm[517..521].copy_from_slice(&serial.to_be_bytes());
    let part = b"SOVSIM-DDR5-RDIMM-64G";
    nvm[521..551].fill(b' ');
    nvm[521..521 + part.len()].copy_from_slice(part);
    nvm
}

impl Spd5118 {
    /// A hub as found on DDR5 RDIMMs: type 0x5118, revision 0x10, JEP106 vendor 0x86/0x32
    /// (both odd parity), temperature sensor present, page 0, limits high 85 °C / low
    /// 0 °C / crit 95 °C / lcrit −10 °C, NVM from [`ddr5_rdimm_spd`]`(serial)`; at 25 °C.
    pub fn new(serial: u32) -> Self {
        let mut mr = [0u8; 128];
        mr[usize::from(MR_TYPE_MSB)] = 0x51;
        mr[usize::from(MR_TYPE_LSB)] = 0x18;
        // HARDWARE.md §2: (MR2 & 0xC1) must be 0; 0x10 = version 2.0.
        mr[usize::from(MR_REVISION)] = 0x10;
        mr[usize::from(MR_VENDOR_BANK)] = 0x86;
        mr[usize::from(MR_VENDOR_ID)] = 0x32;
        mr[usize::from(MR_CAPABILITY)] = 0x02;
        let mut chip = Self {
            mr,
            nvm: ddr5_rdimm_spd(serial),
            temp_c: 25.0,
            noise_c: 0.0,
            pointer: 0,
            status_latched: 0,
            nvm_writes: Vec::new(),
            zero_volatile_when_paged: false,
        };
        chip.set_limit(0, 85.0);
        chip.set_limit(1, 0.0);
        chip.set_limit(2, 95.0);
        chip.set_limit(3, -10.0);
        chip
    }

    /// Behave like the hub the kernel driver names (Renesas/IDT): volatile registers read
    /// 0 while MR11 selects a page other than 0 (HARDWARE.md §2, page quirks).
    pub fn with_zero_volatile_when_paged(mut self) -> Self {
        self.zero_volatile_when_paged = true;
        self
    }

    /// Sets the temperature the sensor measures.
    pub fn set_temperature_c(&mut self, celsius: f64) {
        self.temp_c = celsius;
        self.status_latched |= self.current_status();
    }

    /// Sets MR11 directly, as the BIOS would (page in bits 2:0, 16-bit mode in bit 3).
    pub fn set_legacy_mode_register(&mut self, value: u8) {
        self.mr[usize::from(MR_LEGACY_MODE)] = value;
    }

    /// The SPD NVM content.
    pub fn nvm(&self) -> &[u8; NVM_BYTES] {
        &self.nvm
    }

    /// Every write the host made into the NVM window, in order.
    pub fn nvm_writes(&self) -> &[NvmWrite] {
        &self.nvm_writes
    }

    fn page(&self) -> usize {
        usize::from(self.mr[usize::from(MR_LEGACY_MODE)] & 0x07)
    }

    /// Limit `i` (0 high, 1 low, 2 crit, 3 lcrit) in °C.
    fn set_limit(&mut self, i: usize, celsius: f64) {
        let [lo, hi] = encode_quarter_c(celsius).to_le_bytes();
        let at = usize::from(MR_TEMP_MAX) + 2 * i;
        self.mr[at] = lo;
        self.mr[at + 1] = hi;
    }

    fn limit_quarters(&self, i: usize) -> i32 {
        let at = usize::from(MR_TEMP_MAX) + 2 * i;
        decode_quarter_c(u16::from_le_bytes([self.mr[at], self.mr[at + 1]]))
    }

    /// MR50:MR49 as the hub holds them (little-endian pair, bits 12:2 in 0.25 °C).
    pub fn temperature_register(&self) -> u16 {
        self.temperature_raw()
    }

    fn temperature_raw(&self) -> u16 {
        encode_quarter_c(self.temp_c + self.noise_c)
    }

    fn current_status(&self) -> u8 {
        let t = decode_quarter_c(self.temperature_raw());
        let mut s = 0;
        if t > self.limit_quarters(0) {
            s |= STATUS_HIGH;
        }
        if t < self.limit_quarters(1) {
            s |= STATUS_LOW;
        }
        if t > self.limit_quarters(2) {
            s |= STATUS_CRIT;
        }
        if t < self.limit_quarters(3) {
            s |= STATUS_LCRIT;
        }
        s
    }
}

impl ByteRegisters for Spd5118 {
    fn pointer_mut(&mut self) -> &mut u8 {
        &mut self.pointer
    }

    fn read_register(&mut self, reg: u8) -> u8 {
        if reg >= NVM_WINDOW {
            let at = self.page() * 128 + usize::from(reg - NVM_WINDOW);
            return self.nvm.get(at).copied().unwrap_or(0xFF);
        }
        if self.zero_volatile_when_paged && self.page() != 0 && reg != MR_LEGACY_MODE {
            return 0;
        }
        match reg {
            MR_TEMP_LSB => self.temperature_raw().to_le_bytes()[0],
            MR_TEMP_MSB => self.temperature_raw().to_le_bytes()[1],
            MR_TEMP_STATUS => self.status_latched | self.current_status(),
            MR_TEMP_CLR | MR_ERROR_CLR => 0,
            _ => self.mr.get(usize::from(reg)).copied().unwrap_or(0),
        }
    }

    fn write_register(&mut self, reg: u8, value: u8) -> Result<(), DeviceNak> {
        if reg >= NVM_WINDOW {
            let page = self.page() as u8;
            self.nvm_writes.push(NvmWrite {
                page,
                register: reg,
                value,
            });
            let at = self.page() * 128 + usize::from(reg - NVM_WINDOW);
            if let Some(b) = self.nvm.get_mut(at) {
                *b = value;
            }
            return Ok(());
        }
        match reg {
            MR_LEGACY_MODE => self.mr[usize::from(reg)] = value & 0x0F,
            // Writing a mask to MR19 clears those latched status bits (HARDWARE.md §2).
            MR_TEMP_CLR => self.status_latched &= !value,
            MR_TEMP_CONFIG => self.mr[usize::from(reg)] = value,
            MR_TEMP_MAX..=MR_TEMP_LCRIT_END => self.mr[usize::from(reg)] = value,
            // Other registers are read-only: acknowledged, ignored.
            _ => {}
        }
        Ok(())
    }
}

impl SimDevice for Spd5118 {
    fn name(&self) -> &'static str {
        "spd5118"
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

    fn bus_with(t: f64) -> SimBus {
        let bus = SimBus::new(0, BusSpeed::Standard100k, BusMode::SmbusOnly);
        let mut chip = Spd5118::new(7);
        chip.set_temperature_c(t);
        bus.add_device(0x50, Box::new(chip)).unwrap();
        bus
    }

    fn odd_parity(b: u8) -> bool {
        b.count_ones() % 2 == 1
    }

    #[test]
    fn identity_registers_pass_the_kernel_detect_rules() {
        let mut bus = bus_with(30.0);
        // HARDWARE.md §2: swapped word at MR0 reads 0x5118.
        assert_eq!(bus.read_word_data(0x50, 0).unwrap().swap_bytes(), 0x5118);
        assert_eq!(bus.read_byte_data(0x50, MR_REVISION).unwrap() & 0xC1, 0);
        let bank = bus.read_byte_data(0x50, MR_VENDOR_BANK).unwrap();
        let id = bus.read_byte_data(0x50, MR_VENDOR_ID).unwrap();
        assert!(odd_parity(bank) && odd_parity(id));
        assert!(!matches!(id & 0x7F, 0 | 0x7F));
        let cap = bus.read_byte_data(0x50, MR_CAPABILITY).unwrap();
        assert_eq!(cap & 0x02, 0x02);
        assert_eq!(cap & 0xFC, 0);
        assert_eq!(bus.read_byte_data(0x50, MR_TEMP_CLR).unwrap(), 0);
        assert_eq!(bus.read_byte_data(0x50, MR_ERROR_CLR).unwrap(), 0);
        assert_eq!(bus.read_byte_data(0x50, MR_TEMP_CONFIG).unwrap() & 0xFE, 0);
    }

    #[test]
    fn temperature_is_little_endian_in_quarter_degrees() {
        let mut bus = bus_with(41.3);
        // Read as the kernel does: MR50:MR49, no swap (HARDWARE.md §2).
        let raw = bus.read_word_data(0x50, MR_TEMP_LSB).unwrap();
        assert_eq!(decode_quarter_c(raw) * 250, 41_250);
        bus.with_device::<Spd5118, _>(0x50, |c| c.set_temperature_c(-12.6))
            .unwrap();
        let raw = bus.read_word_data(0x50, MR_TEMP_LSB).unwrap();
        assert_eq!(decode_quarter_c(raw) * 250, -12_500);
        for t10 in -300..=1200 {
            let t = f64::from(t10) / 10.0;
            bus.with_device::<Spd5118, _>(0x50, |c| c.set_temperature_c(t))
                .unwrap();
            let raw = bus.read_word_data(0x50, MR_TEMP_LSB).unwrap();
            let got = f64::from(decode_quarter_c(raw)) * 0.25;
            assert!((got - t).abs() <= 0.125 + 1e-9, "{t} read as {got}");
        }
    }

    #[test]
    fn status_latches_until_cleared_through_mr19() {
        let mut bus = bus_with(90.0);
        assert_eq!(
            bus.read_byte_data(0x50, MR_TEMP_STATUS).unwrap(),
            STATUS_HIGH
        );
        bus.with_device::<Spd5118, _>(0x50, |c| c.set_temperature_c(50.0))
            .unwrap();
        assert_eq!(
            bus.read_byte_data(0x50, MR_TEMP_STATUS).unwrap(),
            STATUS_HIGH,
            "latched"
        );
        bus.write_byte_data(0x50, MR_TEMP_CLR, STATUS_HIGH).unwrap();
        assert_eq!(bus.read_byte_data(0x50, MR_TEMP_STATUS).unwrap(), 0);
    }

    #[test]
    fn nvm_pages_hold_a_ddr5_image_with_a_valid_crc() {
        let mut bus = bus_with(30.0);
        let mut image = Vec::new();
        for page in 0..8u8 {
            bus.write_byte_data(0x50, MR_LEGACY_MODE, page).unwrap();
            for reg in 0x80..=0xFFu8 {
                image.push(bus.read_byte_data(0x50, reg).unwrap());
            }
        }
        assert_eq!(image.len(), NVM_BYTES);
        assert_eq!(image[2], 0x12, "DDR5");
        let stored = u16::from_le_bytes([image[510], image[511]]);
        assert_eq!(stored, crc16(&image[..510]));
        assert!(
            bus.with_device::<Spd5118, _>(0x50, |c| c.nvm_writes().is_empty())
                .unwrap()
        );
    }

    #[test]
    fn nvm_writes_are_recorded() {
        let mut bus = bus_with(30.0);
        bus.write_byte_data(0x50, MR_LEGACY_MODE, 3).unwrap();
        bus.write_byte_data(0x50, 0x90, 0xAB).unwrap();
        let writes = bus
            .with_device::<Spd5118, _>(0x50, |c| c.nvm_writes().to_vec())
            .unwrap();
        assert_eq!(
            writes,
            vec![NvmWrite {
                page: 3,
                register: 0x90,
                value: 0xAB
            }]
        );
    }

    #[test]
    fn renesas_style_hub_reads_zero_volatile_registers_on_a_nonzero_page() {
        let bus = SimBus::new(0, BusSpeed::Standard100k, BusMode::SmbusOnly);
        let mut chip = Spd5118::new(1).with_zero_volatile_when_paged();
        chip.set_legacy_mode_register(0x02);
        bus.add_device(0x51, Box::new(chip)).unwrap();
        let mut b = bus.clone();
        assert_eq!(b.read_word_data(0x51, 0).unwrap(), 0);
        assert_eq!(b.read_byte_data(0x51, MR_LEGACY_MODE).unwrap(), 0x02);
        b.write_byte_data(0x51, MR_LEGACY_MODE, 0).unwrap();
        assert_eq!(b.read_word_data(0x51, 0).unwrap().swap_bytes(), 0x5118);
    }
}
