//! A PMBus voltage regulator with one or more pages (rails), HARDWARE.md §5.
//!
//! Command-code protocol: a write message `[cmd]` selects a command (and executes a
//! send-byte command such as CLEAR_FAULTS), `[cmd, data...]` writes it, a read message
//! returns the selected command's response, LSB first (no byte swap). Block commands
//! (MFR_ID, MFR_MODEL, MFR_REVISION) answer with a count byte and the text. Commands the
//! device does not implement are NAKed at the command byte, as many real VRMs do.
//!
//! Data formats: VOUT_MODE linear with exponent −9 (0x17); READ_VOUT is LINEAR16
//! (unsigned mantissa × 2^−9 V); READ_VIN, READ_IOUT, READ_TEMPERATURE_1, READ_POUT and
//! READ_PIN are LINEAR11 with the smallest exponent that fits the mantissa (best
//! resolution). CAPABILITY = 0xB0: bit 7 PEC supported (the PMBus core enables PEC only
//! if this bit is set and the adapter can do PEC, HARDWARE.md §5), 400 kHz, SMBALERT#.
//! STATUS_WORD bits (HARDWARE.md §5): 1 CML (bad command data, e.g. an invalid PAGE),
//! 2 TEMPERATURE (at or above the over-temperature warning, 100 °C by default), 6 OFF and
//! 11 POWER_GOOD# while OPERATION is off. PMBUS_REVISION = 0x22 (1.2), so writing set
//! bits back to STATUS_WORD clears them; CLEAR_FAULTS clears all.

use crate::bus::{DeviceNak, Injected, SimDevice};

const CMD_PAGE: u8 = 0x00;
const CMD_OPERATION: u8 = 0x01;
const CMD_CLEAR_FAULTS: u8 = 0x03;
const CMD_WRITE_PROTECT: u8 = 0x10;
const CMD_CAPABILITY: u8 = 0x19;
const CMD_VOUT_MODE: u8 = 0x20;
const CMD_STATUS_BYTE: u8 = 0x78;
const CMD_STATUS_WORD: u8 = 0x79;
const CMD_STATUS_VOUT: u8 = 0x7A;
const CMD_STATUS_CML: u8 = 0x7E;
const CMD_READ_VIN: u8 = 0x88;
const CMD_READ_VOUT: u8 = 0x8B;
const CMD_READ_IOUT: u8 = 0x8C;
const CMD_READ_TEMPERATURE_1: u8 = 0x8D;
const CMD_READ_POUT: u8 = 0x96;
const CMD_READ_PIN: u8 = 0x97;
const CMD_PMBUS_REVISION: u8 = 0x98;
const CMD_MFR_ID: u8 = 0x99;
const CMD_MFR_MODEL: u8 = 0x9A;
const CMD_MFR_REVISION: u8 = 0x9B;

/// STATUS_WORD bits (HARDWARE.md §5).
pub mod status {
    /// Communication/memory/logic fault.
    pub const CML: u16 = 1 << 1;
    /// Temperature warning or fault.
    pub const TEMPERATURE: u16 = 1 << 2;
    /// Output off.
    pub const OFF: u16 = 1 << 6;
    /// Power is **not** good.
    pub const POWER_GOOD_N: u16 = 1 << 11;
}

/// VOUT_MODE: linear mode (bits 7:5 = 0), exponent −9 in bits 4:0.
const VOUT_EXPONENT: i32 = -9;
const VOUT_MODE: u8 = (VOUT_EXPONENT & 0x1F) as u8;

/// What one rail measures, in SI units (from the plant).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RailTelemetry {
    /// Input voltage, V.
    pub vin_v: f64,
    /// Output voltage, V.
    pub vout_v: f64,
    /// Output current, A.
    pub iout_a: f64,
    /// Regulator temperature, °C.
    pub temperature_c: f64,
    /// Output power, W.
    pub pout_w: f64,
    /// Input power, W.
    pub pin_w: f64,
}

#[derive(Debug, Clone)]
struct Page {
    telemetry: RailTelemetry,
    operation: u8,
    latched_status: u16,
}

/// A simulated PMBus VRM.
#[derive(Debug, Clone)]
pub struct PmbusVrm {
    pages: Vec<Page>,
    page: usize,
    command: u8,
    write_protect: u8,
    ot_warn_c: f64,
    mfr_id: &'static [u8],
    mfr_model: &'static [u8],
    noise_c: f64,
}

/// Most rails one PMBus device can have: PAGE is one byte and 0xFF means "all pages".
pub const MAX_PAGES: usize = 255;

/// Encodes `value` in PMBus LINEAR11 with the smallest exponent whose mantissa fits in
/// 11 signed bits (HARDWARE.md §5: exponent bits 15:11, mantissa bits 10:0).
pub fn linear11(value: f64) -> u16 {
    if !value.is_finite() {
        return 0x7BFF; // largest positive: mantissa 1023, exponent 15
    }
    for e in -16i32..=15 {
        let m = (value / 2f64.powi(e)).round();
        if (-1024.0..=1023.0).contains(&m) {
            let exp = (e & 0x1F) as u16;
            return (exp << 11) | ((m as i32 as u16) & 0x07FF);
        }
    }
    if value > 0.0 { 0x7BFF } else { 0x7C00 }
}

/// Encodes volts as LINEAR16 with the VOUT_MODE exponent (unsigned mantissa).
fn linear16_vout(volts: f64) -> u16 {
    let m = (volts / 2f64.powi(VOUT_EXPONENT)).round();
    if m.is_nan() || m <= 0.0 {
        0
    } else if m >= 65535.0 {
        0xFFFF
    } else {
        m as u16
    }
}

impl PmbusVrm {
    /// A VRM with `pages` rails (at least 1, at most [`MAX_PAGES`]), all on and
    /// measuring zero.
    pub fn new(pages: usize) -> Self {
        let pages = pages.clamp(1, MAX_PAGES);
        let page = Page {
            telemetry: RailTelemetry::default(),
            operation: 0x80,
            latched_status: 0,
        };
        Self {
            pages: vec![page; pages],
            page: 0,
            command: CMD_STATUS_WORD,
            write_protect: 0,
            ot_warn_c: 100.0,
            mfr_id: b"SOVSIM",
            mfr_model: b"VRM-SIM-1",
            noise_c: 0.0,
        }
    }

    /// Sets what rail `page` measures. Out-of-range pages are ignored.
    pub fn set_telemetry(&mut self, page: usize, telemetry: RailTelemetry) {
        if let Some(p) = self.pages.get_mut(page) {
            p.telemetry = telemetry;
        }
    }

    /// Latches extra STATUS_WORD bits on `page` (fault injection at the PMBus level).
    pub fn raise_status(&mut self, page: usize, bits: u16) {
        if let Some(p) = self.pages.get_mut(page) {
            p.latched_status |= bits;
        }
    }

    /// The selected page.
    pub fn page(&self) -> usize {
        self.page
    }

    fn current(&self) -> Option<&Page> {
        self.pages.get(self.page)
    }

    fn status_word(&self) -> u16 {
        let Some(p) = self.current() else { return 0 };
        let mut s = p.latched_status;
        if p.telemetry.temperature_c + self.noise_c >= self.ot_warn_c {
            s |= status::TEMPERATURE;
        }
        if p.operation & 0x80 == 0 {
            s |= status::OFF | status::POWER_GOOD_N;
        }
        s
    }

    fn block(text: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(text.len() + 1);
        v.push(text.len() as u8);
        v.extend_from_slice(text);
        v
    }

    /// The word a word-sized read command returns on `page` (LSB first on the wire),
    /// as the host would read it; `None` for other commands or pages.
    pub fn word_on_page(&self, page: usize, cmd: u8) -> Option<u16> {
        let t = self.pages.get(page)?.telemetry;
        Some(match cmd {
            CMD_READ_VIN => linear11(t.vin_v),
            CMD_READ_VOUT => linear16_vout(t.vout_v),
            CMD_READ_IOUT => linear11(t.iout_a),
            CMD_READ_TEMPERATURE_1 => linear11(t.temperature_c + self.noise_c),
            CMD_READ_POUT => linear11(t.pout_w),
            CMD_READ_PIN => linear11(t.pin_w),
            _ => return None,
        })
    }

    /// The VOUT_MODE byte (linear, exponent −9).
    pub fn vout_mode(&self) -> u8 {
        VOUT_MODE
    }

    /// The response bytes of a read command, `None` if not implemented.
    fn response(&self, cmd: u8) -> Option<Vec<u8>> {
        if let Some(w) = self.word_on_page(self.page, cmd) {
            return Some(w.to_le_bytes().to_vec());
        }
        let word = |w: u16| Some(w.to_le_bytes().to_vec());
        match cmd {
            CMD_PAGE => Some(vec![self.page as u8]),
            CMD_OPERATION => Some(vec![self.current().map_or(0, |p| p.operation)]),
            CMD_WRITE_PROTECT => Some(vec![self.write_protect]),
            CMD_CAPABILITY => Some(vec![0xB0]),
            CMD_VOUT_MODE => Some(vec![VOUT_MODE]),
            CMD_STATUS_BYTE => Some(vec![(self.status_word() & 0xFF) as u8]),
            CMD_STATUS_WORD => word(self.status_word()),
            CMD_STATUS_VOUT..CMD_STATUS_CML => Some(vec![0]),
            CMD_STATUS_CML => Some(vec![if self.status_word() & status::CML != 0 {
                0x80
            } else {
                0
            }]),
            CMD_PMBUS_REVISION => Some(vec![0x22]),
            CMD_MFR_ID => Some(Self::block(self.mfr_id)),
            CMD_MFR_MODEL => Some(Self::block(self.mfr_model)),
            CMD_MFR_REVISION => Some(Self::block(b"A1")),
            _ => None,
        }
    }

    fn clear_faults(&mut self) {
        for p in &mut self.pages {
            p.latched_status = 0;
        }
    }
}

impl SimDevice for PmbusVrm {
    fn name(&self) -> &'static str {
        "pmbus"
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
        let Some((&cmd, data)) = bytes.split_first() else {
            return Ok(());
        };
        let writable = matches!(
            cmd,
            CMD_PAGE | CMD_OPERATION | CMD_CLEAR_FAULTS | CMD_WRITE_PROTECT | CMD_STATUS_WORD
        );
        if self.response(cmd).is_none() && !writable {
            return Err(DeviceNak);
        }
        self.command = cmd;
        match (cmd, data) {
            (CMD_CLEAR_FAULTS, []) => self.clear_faults(),
            (CMD_PAGE, [p, ..]) => {
                if usize::from(*p) < self.pages.len() {
                    self.page = usize::from(*p);
                } else if let Some(page) = self.pages.get_mut(self.page) {
                    // Invalid data: the device keeps its page and flags a CML fault.
                    page.latched_status |= status::CML;
                }
            }
            (CMD_OPERATION, [op, ..]) => {
                if let Some(page) = self.pages.get_mut(self.page) {
                    page.operation = *op;
                }
            }
            (CMD_WRITE_PROTECT, [wp, ..]) => self.write_protect = *wp,
            (CMD_STATUS_WORD, [lo, hi, ..]) => {
                // PMBus 1.2+: writing a 1 clears that status bit (HARDWARE.md §5).
                let clear = u16::from_le_bytes([*lo, *hi]);
                if let Some(page) = self.pages.get_mut(self.page) {
                    page.latched_status &= !clear;
                }
            }
            (_, []) => {}
            _ => {
                // Data written to a read-only command.
                if let Some(page) = self.pages.get_mut(self.page) {
                    page.latched_status |= status::CML;
                }
            }
        }
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) {
        let resp = self.response(self.command).unwrap_or_default();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = resp.get(i).copied().unwrap_or(0xFF);
        }
    }

    fn supports_pec(&self) -> bool {
        true
    }

    fn inject(&mut self, injected: &Injected) {
        self.noise_c = injected.noise;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{BusMode, BusSpeed, SimBus};
    use sovereign_hal::smbus::{Error as _, ErrorKind, Smbus};

    #[test]
    fn an_absurd_page_count_is_capped_not_a_panic() {
        // PAGE is one byte (0xFF = all pages): at most 255 rails are addressable.
        let mut bus = SimBus::new(0, BusSpeed::Standard100k, BusMode::SmbusOnly);
        bus.add_device(0x60, Box::new(PmbusVrm::new(usize::MAX)))
            .unwrap();
        bus.write_byte_data(0x60, CMD_PAGE, 254).unwrap();
        assert_eq!(bus.read_byte_data(0x60, CMD_PAGE).unwrap(), 254);
    }

    /// HARDWARE.md §5 LINEAR11 decode to milli-units (× `scale`), floor shifts.
    fn kernel_linear11(w: u16, scale: i64) -> i64 {
        let exp = {
            let raw = i32::from(w >> 11) & 0x1F;
            if raw & 0x10 != 0 { raw - 32 } else { raw }
        };
        let m = i64::from((((w & 0x07FF) << 5) as i16) >> 5);
        let v = m * scale;
        if exp >= 0 { v << exp } else { v >> -exp }
    }

    /// HARDWARE.md §5 LINEAR16 decode to mV.
    fn kernel_linear16_mv(w: u16, vout_mode: u8) -> i64 {
        let exp = {
            let raw = i32::from(vout_mode & 0x1F);
            if raw & 0x10 != 0 { raw - 32 } else { raw }
        };
        let v = i64::from(w) * 1000;
        if exp >= 0 { v << exp } else { v >> -exp }
    }

    fn vrm_bus() -> SimBus {
        let bus = SimBus::new(2, BusSpeed::Standard100k, BusMode::I2c);
        let mut vrm = PmbusVrm::new(3);
        vrm.set_telemetry(
            0,
            RailTelemetry {
                vin_v: 12.1,
                vout_v: 1.1,
                iout_a: 250.0,
                temperature_c: 71.3,
                pout_w: 275.0,
                pin_w: 300.0,
            },
        );
        vrm.set_telemetry(
            1,
            RailTelemetry {
                vout_v: 0.9,
                iout_a: 20.0,
                ..RailTelemetry::default()
            },
        );
        bus.add_device(0x60, Box::new(vrm)).unwrap();
        bus
    }

    #[test]
    fn linear11_values_decode_within_one_mantissa_step() {
        for v in [
            0.0, 0.001, 1.0, 12.1, -3.7, 71.3, 250.0, 999.9, 4000.0, -0.0001,
        ] {
            let w = linear11(v);
            let exp = {
                let raw = i32::from(w >> 11) & 0x1F;
                if raw & 0x10 != 0 { raw - 32 } else { raw }
            };
            let got = kernel_linear11(w, 1_000_000) as f64 / 1e6;
            let step = 2f64.powi(exp);
            assert!((got - v).abs() <= step, "{v} encoded {w:#06x} read {got}");
        }
    }

    #[test]
    fn telemetry_reads_lsb_first_in_the_kernel_formats() {
        let mut bus = vrm_bus();
        let mode = bus.read_byte_data(0x60, CMD_VOUT_MODE).unwrap();
        assert_eq!(mode >> 5, 0, "linear mode");
        let vout = kernel_linear16_mv(bus.read_word_data(0x60, CMD_READ_VOUT).unwrap(), mode);
        assert!((vout - 1100).abs() <= 2, "{vout} mV");
        let vin = kernel_linear11(bus.read_word_data(0x60, CMD_READ_VIN).unwrap(), 1000);
        assert!((vin - 12_100).abs() <= 8, "{vin} mV");
        let t = kernel_linear11(
            bus.read_word_data(0x60, CMD_READ_TEMPERATURE_1).unwrap(),
            1000,
        );
        assert!((t - 71_300).abs() <= 63, "{t} m°C");
        let pout = kernel_linear11(bus.read_word_data(0x60, CMD_READ_POUT).unwrap(), 1_000_000);
        assert!((pout - 275_000_000).abs() <= 250_000, "{pout} µW");
        let iout = kernel_linear11(bus.read_word_data(0x60, CMD_READ_IOUT).unwrap(), 1000);
        assert!((iout - 250_000).abs() <= 250, "{iout} mA");
    }

    #[test]
    fn page_selects_the_rail_and_an_invalid_page_is_a_cml_fault() {
        let mut bus = vrm_bus();
        bus.write_byte_data(0x60, CMD_PAGE, 1).unwrap();
        assert_eq!(bus.read_byte_data(0x60, CMD_PAGE).unwrap(), 1);
        let iout = kernel_linear11(bus.read_word_data(0x60, CMD_READ_IOUT).unwrap(), 1000);
        assert_eq!(iout, 20_000);
        bus.write_byte_data(0x60, CMD_PAGE, 7).unwrap();
        assert_eq!(bus.read_byte_data(0x60, CMD_PAGE).unwrap(), 1, "page kept");
        let s = bus.read_word_data(0x60, CMD_STATUS_WORD).unwrap();
        assert_ne!(s & status::CML, 0);
        bus.send_byte(0x60, CMD_CLEAR_FAULTS).unwrap();
        assert_eq!(bus.read_word_data(0x60, CMD_STATUS_WORD).unwrap(), 0);
    }

    #[test]
    fn status_word_reports_temperature_and_off() {
        let mut bus = vrm_bus();
        assert_eq!(bus.read_word_data(0x60, CMD_STATUS_WORD).unwrap(), 0);
        bus.with_device::<PmbusVrm, _>(0x60, |v| {
            v.set_telemetry(
                0,
                RailTelemetry {
                    temperature_c: 105.0,
                    ..RailTelemetry::default()
                },
            )
        })
        .unwrap();
        assert_eq!(
            bus.read_word_data(0x60, CMD_STATUS_WORD).unwrap(),
            status::TEMPERATURE
        );
        bus.write_byte_data(0x60, CMD_OPERATION, 0).unwrap();
        let s = bus.read_word_data(0x60, CMD_STATUS_WORD).unwrap();
        assert_eq!(
            s & (status::OFF | status::POWER_GOOD_N),
            status::OFF | status::POWER_GOOD_N
        );
        assert_eq!(
            bus.read_byte_data(0x60, CMD_STATUS_BYTE).unwrap(),
            (s & 0xFF) as u8
        );
    }

    #[test]
    fn block_reads_with_pec_and_capability_bit() {
        let mut bus = vrm_bus();
        assert_ne!(bus.read_byte_data(0x60, CMD_CAPABILITY).unwrap() & 0x80, 0);
        bus.set_pec(0x60, true).unwrap();
        let mut buf = [0u8; 32];
        let n = bus.read_block_data(0x60, CMD_MFR_ID, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"SOVSIM");
        let n = bus.read_block_data(0x60, CMD_MFR_MODEL, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"VRM-SIM-1");
        // 1 + 9 + 9 + 1 + 9 + 9×(1 + 9) + 9 (PEC) + 1 bits for the MFR_MODEL read.
        let last = bus.take_stats();
        assert!(last.bits > 0);
    }

    #[test]
    fn unsupported_commands_are_naked() {
        let mut bus = vrm_bus();
        let e = bus.read_word_data(0x60, 0x89).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoAcknowledge);
    }
}
