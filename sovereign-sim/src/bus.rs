//! A simulated SMBus/I2C bus segment: routes transfers by 7-bit address to simulated
//! devices, injects faults, and accounts the time every transfer occupies the wire.
//!
//! [`SimBus`] implements both `embedded_hal::i2c::I2c` (raw I2C messages) and
//! [`sovereign_hal::smbus::Smbus`], so the real drivers of `sovereign-hal` run on it
//! unchanged, either directly or through [`sovereign_hal::smbus::I2cSmbus`].
//!
//! ## Sharing
//!
//! A `SimBus` is a cheap handle (`Rc<RefCell<..>>`): `clone()` it and hand one clone to
//! each driver; all clones see the same devices, time, faults and statistics. The
//! simulation is single-threaded, so the handle is neither `Send` nor `Sync`.
//!
//! ## Devices
//!
//! A device implements [`SimDevice`] at the byte level, the way the wire sees it: a
//! write message delivers its bytes (for register-pointer chips the first byte sets the
//! pointer, the rest are data), a read message asks for bytes from the current pointer.
//! The bus builds every SMBus transfer out of those messages, exactly as an SMBus
//! controller puts them on the wire, so pointer semantics stay the chip's business.
//! The bus adds what the chip's SMBus logic would: the PEC byte (when enabled for the
//! address and supported by the device) and the block count framing. Through the raw
//! `I2c` interface no PEC byte is simulated: a host that computes PEC itself over raw
//! I2C (e.g. [`sovereign_hal::smbus::I2cSmbus`] with PEC on) reads the next register
//! byte instead and reports a mismatch; use the `Smbus` interface to exercise PEC.
//!
//! ## Modes
//!
//! [`BusMode::I2c`] offers raw I2C plus every SMBus transfer with PEC
//! ([`Capabilities::FULL_SMBUS_OVER_I2C`] and [`Capabilities::I2C`]); [`BusMode::SmbusOnly`] behaves like AMD's
//! `i2c-piix4` ([`Capabilities::PIIX4`], HARDWARE.md §10): raw I2C, I2C block reads and
//! PEC fail with [`ErrorKind::Unsupported`].
//!
//! ## Wire time
//!
//! Every transfer is counted in bit times as on the wire: START, 9 bits per byte (8 data
//! bits and the ACK; the address byte includes R/W), one repeated START per direction
//! change, STOP.
//! [`SimBus::stats`] and [`SimBus::take_stats`] report transfers, bits and bus-busy time
//! at the configured [`BusSpeed`], so bus occupancy per control period can be reported.
//! Clock stretching, bus-free time and controller overhead are not modelled.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::rc::Rc;

use embedded_hal::i2c::{self, NoAcknowledgeSource, Operation, SevenBitAddress};
use sovereign_hal::smbus::{self, BLOCK_MAX, Capabilities, ErrorKind, pec};

use crate::fault::{Fault, FaultPlan, SplitMix64};

/// SMBus t_TIMEOUT (minimum, 25 ms; SMBus 2.0 specification, not restated in
/// HARDWARE.md): how long a stuck transfer holds the bus before the controller gives up.
pub const SMBUS_TIMEOUT_S: f64 = 0.025;

/// Bus clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BusSpeed {
    /// 100 kHz (SMBus, I2C standard mode).
    Standard100k,
    /// 400 kHz (I2C fast mode).
    Fast400k,
    /// 1 MHz (I2C fast mode plus).
    FastPlus1M,
}

impl BusSpeed {
    /// Clock frequency in hertz.
    pub const fn hz(self) -> u32 {
        match self {
            Self::Standard100k => 100_000,
            Self::Fast400k => 400_000,
            Self::FastPlus1M => 1_000_000,
        }
    }

    /// Seconds that `bits` bit times take at this clock.
    pub fn seconds_for_bits(self, bits: u64) -> f64 {
        bits as f64 / f64::from(self.hz())
    }
}

/// What the controller can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BusMode {
    /// A raw-I2C controller: I2C messages and every SMBus transfer, PEC included.
    I2c,
    /// An SMBus-only controller like AMD `i2c-piix4`: no raw I2C, no I2C block, no PEC.
    SmbusOnly,
}

impl BusMode {
    /// The capabilities this mode advertises.
    pub const fn capabilities(self) -> Capabilities {
        match self {
            Self::I2c => Capabilities::FULL_SMBUS_OVER_I2C.union(Capabilities::I2C),
            Self::SmbusOnly => Capabilities::PIIX4,
        }
    }
}

/// A device refused a byte of a write message (it NAKs the data byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceNak;

/// Fault effects the bus hands to a device before a transfer (and on every time step).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Injected {
    /// Bit n set: fan n is forced stalled ([`Fault::FanStall`]).
    pub stalled_fans: u16,
    /// Offset to add to the device's physical reading for this transfer
    /// ([`Fault::NoiseSpikes`]); 0 when no spike.
    pub noise: f64,
}

/// A simulated chip, seen from the wire.
///
/// `write` receives the bytes of one write message (after the address byte), `read`
/// fills one read message from the device's current register pointer. Register-pointer
/// semantics (auto-increment, word registers, pages, latching) are the chip's own.
pub trait SimDevice: Any {
    /// Short chip name for messages (`"emc2305"`).
    fn name(&self) -> &'static str;

    /// One write message. `Err(DeviceNak)` if the chip NAKs a byte; it must then not
    /// have changed state.
    fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak>;

    /// One read message: fill `buf` with the bytes the chip sends.
    fn read(&mut self, buf: &mut [u8]);

    /// Whether the chip understands SMBus PEC.
    fn supports_pec(&self) -> bool {
        false
    }

    /// Simulated time moved to `now_s` (watchdogs, conversions).
    fn advance_to(&mut self, now_s: f64) {
        let _ = now_s;
    }

    /// Fault effects currently injected into this device.
    fn inject(&mut self, injected: &Injected) {
        let _ = injected;
    }
}

/// Why a transfer failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusError {
    kind: ErrorKind,
    address: u8,
    nak: Option<NoAcknowledgeSource>,
}

impl BusError {
    const fn new(kind: ErrorKind, address: u8) -> Self {
        Self {
            kind,
            address,
            nak: None,
        }
    }
    const fn nak(address: u8, source: NoAcknowledgeSource) -> Self {
        Self {
            kind: ErrorKind::NoAcknowledge,
            address,
            nak: Some(source),
        }
    }
    /// The 7-bit address of the failed transfer.
    pub const fn address(&self) -> u8 {
        self.address
    }
}

impl smbus::Error for BusError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl i2c::Error for BusError {
    fn kind(&self) -> i2c::ErrorKind {
        match (self.kind, self.nak) {
            (ErrorKind::NoAcknowledge, Some(src)) => i2c::ErrorKind::NoAcknowledge(src),
            (ErrorKind::NoAcknowledge, None) => {
                i2c::ErrorKind::NoAcknowledge(NoAcknowledgeSource::Unknown)
            }
            (ErrorKind::Bus, _) => i2c::ErrorKind::Bus,
            _ => i2c::ErrorKind::Other,
        }
    }
}

impl fmt::Display for BusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulated bus, address {:#04x}: {}",
            self.address, self.kind
        )?;
        match self.kind {
            ErrorKind::NoAcknowledge => {
                f.write_str(" (is a device registered there, or a NAK/absent fault active?)")
            }
            ErrorKind::Unsupported => f.write_str(
                " (this bus mode cannot do it; SMBus-only buses have no raw I2C, I2C block or PEC)",
            ),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for BusError {}

/// Why a device could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddDeviceError {
    /// Address above 0x7F.
    BadAddress(u8),
    /// A device is already registered at that address.
    Occupied(u8),
}

impl fmt::Display for AddDeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadAddress(a) => write!(f, "address {a:#04x} is not a 7-bit I2C address"),
            Self::Occupied(a) => {
                write!(f, "address {a:#04x} already has a device; remove it first")
            }
        }
    }
}

impl std::error::Error for AddDeviceError {}

/// Wire statistics since creation or the last [`SimBus::take_stats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BusStats {
    /// Transfers attempted (each SMBus call or I2C transaction is one).
    pub transfers: u64,
    /// Transfers that failed.
    pub failed: u64,
    /// Bit times on the wire.
    pub bits: u64,
    /// Seconds the bus was busy (bits at the bus clock, plus timeouts).
    pub busy_s: f64,
    /// Transfers per 7-bit address.
    pub per_address: BTreeMap<u8, u64>,
}

impl BusStats {
    /// Fraction of `period_s` the bus was busy (e.g. per control period).
    pub fn occupancy(&self, period_s: f64) -> f64 {
        if period_s > 0.0 {
            self.busy_s / period_s
        } else {
            0.0
        }
    }
}

/// One message of a transfer.
enum Msg<'a> {
    Write(&'a [u8]),
    Read(&'a mut [u8]),
}

struct Inner {
    segment: u8,
    speed: BusSpeed,
    mode: BusMode,
    devices: BTreeMap<u8, Box<dyn SimDevice>>,
    pec: u128,
    plan: FaultPlan,
    now_s: f64,
    rng: SplitMix64,
    stuck: HashMap<(u8, Vec<u8>, usize), Vec<u8>>,
    stats: BusStats,
}

/// Faults active on one address right now.
#[derive(Default)]
struct Active {
    absent: bool,
    nak: bool,
    timeout: bool,
    stuck: bool,
    all_ones: bool,
    pec_error: bool,
    injected: Injected,
}

impl Inner {
    fn active(&mut self, address: u8, draw_noise: bool) -> Active {
        let mut a = Active::default();
        let mut spikes = Vec::new();
        for w in self
            .plan
            .active_on_device(self.segment, address, self.now_s)
        {
            match w.fault {
                Fault::Nak => a.nak = true,
                Fault::BusTimeout => a.timeout = true,
                Fault::StuckValue => a.stuck = true,
                Fault::AllOnes => a.all_ones = true,
                Fault::PecError => a.pec_error = true,
                Fault::DeviceAbsent => a.absent = true,
                Fault::FanStall { fan } => {
                    a.injected.stalled_fans |= 1u16.checked_shl(u32::from(fan)).unwrap_or(0)
                }
                Fault::NoiseSpikes {
                    amplitude,
                    probability,
                } => spikes.push((amplitude, probability)),
                Fault::MsrUnsupported | Fault::ForcedCounterWrap { .. } => {}
            }
        }
        if draw_noise {
            for (amplitude, probability) in spikes {
                let hit = self.rng.next_f64() < probability;
                let sign = if self.rng.next_u64() & 1 == 0 {
                    1.0
                } else {
                    -1.0
                };
                if hit {
                    a.injected.noise += sign * amplitude;
                }
            }
        }
        a
    }

    fn account(&mut self, address: u8, bits: u64, extra_s: f64, ok: bool) {
        self.stats.transfers += 1;
        if !ok {
            self.stats.failed += 1;
        }
        self.stats.bits += bits;
        self.stats.busy_s += self.speed.seconds_for_bits(bits) + extra_s;
        *self.stats.per_address.entry(address).or_insert(0) += 1;
    }

    /// Runs one transfer (messages with repeated STARTs between them) with optional PEC
    /// at the end, applying faults. This is the only place devices are touched.
    fn transfer(
        &mut self,
        address: u8,
        msgs: &mut [Msg<'_>],
        with_pec: bool,
    ) -> Result<(), BusError> {
        if address > 0x7F {
            return Err(BusError::new(ErrorKind::Other, address));
        }
        let act = self.active(address, true);
        if !act.stuck {
            self.stuck.retain(|k, _| k.0 != address);
        }
        // START + address byte, then STOP: the minimum any transfer costs.
        let start_addr_stop = 1 + 9 + 1;
        let Some(dev) = self.devices.get_mut(&address).filter(|_| !act.absent) else {
            self.account(address, start_addr_stop, 0.0, false);
            return Err(BusError::nak(address, NoAcknowledgeSource::Address));
        };
        dev.inject(&act.injected);
        if act.timeout {
            self.account(address, start_addr_stop, SMBUS_TIMEOUT_S, false);
            return Err(BusError::new(ErrorKind::Timeout, address));
        }
        if act.nak {
            self.account(address, start_addr_stop + 9, 0.0, false);
            return Err(BusError::nak(address, NoAcknowledgeSource::Data));
        }

        let mut bits: u64 = 1; // START
        let mut wire: Vec<u8> = Vec::new(); // every byte on the wire, for PEC
        let mut written: Vec<u8> = Vec::new(); // data written so far, for the stuck key
        let n = msgs.len();
        let mut result = Ok(());
        for (i, msg) in msgs.iter_mut().enumerate() {
            if i > 0 {
                bits += 1; // repeated START
            }
            bits += 9; // address byte + ACK
            let last = i + 1 == n;
            match msg {
                Msg::Write(bytes) => {
                    wire.push(address << 1);
                    wire.extend_from_slice(bytes);
                    bits += 9 * bytes.len() as u64;
                    if with_pec && last {
                        bits += 9;
                        if act.pec_error {
                            // The device sees a PEC that does not match: it NAKs the PEC
                            // byte and discards the write.
                            result = Err(BusError::nak(address, NoAcknowledgeSource::Data));
                            break;
                        }
                    }
                    if dev.write(bytes).is_err() {
                        result = Err(BusError::nak(address, NoAcknowledgeSource::Data));
                        break;
                    }
                    written.extend_from_slice(bytes);
                }
                Msg::Read(buf) => {
                    wire.push((address << 1) | 1);
                    dev.read(buf);
                    if act.all_ones {
                        buf.fill(0xFF);
                    }
                    if act.stuck {
                        let key = (address, written.clone(), buf.len());
                        match self.stuck.get(&key) {
                            Some(frozen) if frozen.len() == buf.len() => {
                                buf.copy_from_slice(frozen)
                            }
                            _ => {
                                self.stuck.insert(key, buf.to_vec());
                            }
                        }
                    }
                    wire.extend_from_slice(buf);
                    bits += 9 * buf.len() as u64;
                    if with_pec && last {
                        bits += 9;
                        // The device appends the PEC over every byte on the wire; the
                        // host recomputes it over what it received.
                        let mut sent = pec(&wire);
                        if act.all_ones {
                            sent = 0xFF;
                        }
                        if act.pec_error {
                            sent ^= 0xA5;
                        }
                        if sent != pec(&wire) {
                            result = Err(BusError::new(ErrorKind::PecMismatch, address));
                        }
                    }
                }
            }
        }
        bits += 1; // STOP
        self.account(address, bits, 0.0, result.is_ok());
        result
    }

    /// Like `transfer`, but the read message's length is decided by the device's count
    /// byte (SMBus block read): reads up to 1 + 32 bytes, counts only 1 + count.
    fn block_read(
        &mut self,
        address: u8,
        command: u8,
        out: &mut [u8],
        with_pec: bool,
    ) -> Result<usize, BusError> {
        let mut frame = [0u8; BLOCK_MAX + 1];
        // Peek the count without wire accounting by asking the device; then run the
        // real transfer with exactly the bytes the host clocks.
        let count = {
            let act = self.active(address, false);
            match self.devices.get_mut(&address).filter(|_| !act.absent) {
                Some(dev) if !act.timeout && !act.nak => {
                    if dev.write(&[command]).is_err() {
                        0
                    } else {
                        let mut c = [0u8; 1];
                        dev.read(&mut c);
                        if act.all_ones {
                            0xFF
                        } else {
                            usize::from(c[0])
                        }
                    }
                }
                _ => 0,
            }
        };
        let len = count.clamp(1, BLOCK_MAX) + 1;
        let rx = frame
            .get_mut(..len)
            .ok_or(BusError::new(ErrorKind::BadBlockLength, address))?;
        self.transfer(
            address,
            &mut [Msg::Write(&[command]), Msg::Read(rx)],
            with_pec,
        )?;
        let n = usize::from(rx[0]);
        if n == 0 || n > BLOCK_MAX || n > out.len() || n + 1 != len {
            return Err(BusError::new(ErrorKind::BadBlockLength, address));
        }
        let data = rx
            .get(1..=n)
            .ok_or(BusError::new(ErrorKind::BadBlockLength, address))?;
        let dst = out
            .get_mut(..n)
            .ok_or(BusError::new(ErrorKind::BadBlockLength, address))?;
        dst.copy_from_slice(data);
        Ok(n)
    }

    fn pec_on(&self, address: u8) -> bool {
        address < 128 && (self.pec >> address) & 1 == 1
    }

    fn require(&self, cap: Capabilities, address: u8) -> Result<(), BusError> {
        if self.mode.capabilities().contains(cap) {
            Ok(())
        } else {
            Err(BusError::new(ErrorKind::Unsupported, address))
        }
    }
}

/// A simulated bus segment; clone it to share it between drivers.
#[derive(Clone)]
pub struct SimBus(Rc<RefCell<Inner>>);

impl fmt::Debug for SimBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.try_borrow() {
            Ok(inner) => f
                .debug_struct("SimBus")
                .field("segment", &inner.segment)
                .field("speed", &inner.speed)
                .field("mode", &inner.mode)
                .field(
                    "devices",
                    &inner
                        .devices
                        .iter()
                        .map(|(a, d)| (*a, d.name()))
                        .collect::<Vec<_>>(),
                )
                .finish(),
            Err(_) => f.write_str("SimBus(<in use>)"),
        }
    }
}

impl SimBus {
    /// An empty bus segment number `segment` (the number fault targets use).
    pub fn new(segment: u8, speed: BusSpeed, mode: BusMode) -> Self {
        Self(Rc::new(RefCell::new(Inner {
            segment,
            speed,
            mode,
            devices: BTreeMap::new(),
            pec: 0,
            plan: FaultPlan::none(),
            now_s: 0.0,
            rng: SplitMix64::new(u64::from(segment)),
            stuck: HashMap::new(),
            stats: BusStats::default(),
        })))
    }

    fn inner(&self) -> Result<std::cell::RefMut<'_, Inner>, BusError> {
        // Devices never call back into the bus, so the cell is never borrowed twice;
        // report a bus fault rather than panic should that ever change.
        self.0
            .try_borrow_mut()
            .map_err(|_| BusError::new(ErrorKind::Bus, 0))
    }

    /// The segment number.
    pub fn segment(&self) -> u8 {
        self.0.try_borrow().map(|i| i.segment).unwrap_or(0)
    }

    /// The bus clock.
    pub fn speed(&self) -> BusSpeed {
        self.0
            .try_borrow()
            .map(|i| i.speed)
            .unwrap_or(BusSpeed::Standard100k)
    }

    /// Registers `device` at `address`.
    pub fn add_device(
        &self,
        address: u8,
        device: Box<dyn SimDevice>,
    ) -> Result<(), AddDeviceError> {
        if address > 0x7F {
            return Err(AddDeviceError::BadAddress(address));
        }
        let mut inner = self
            .inner()
            .map_err(|_| AddDeviceError::Occupied(address))?;
        if inner.devices.contains_key(&address) {
            return Err(AddDeviceError::Occupied(address));
        }
        inner.devices.insert(address, device);
        Ok(())
    }

    /// Removes and returns the device at `address`.
    pub fn remove_device(&self, address: u8) -> Option<Box<dyn SimDevice>> {
        self.inner().ok()?.devices.remove(&address)
    }

    /// Addresses with a device, ascending.
    pub fn addresses(&self) -> Vec<u8> {
        self.0
            .try_borrow()
            .map(|i| i.devices.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Runs `f` on the device at `address` if it is a `T` (to set its physical inputs or
    /// read what the host wrote). `None` if there is no such device or it is another type.
    pub fn with_device<T: SimDevice, R>(
        &self,
        address: u8,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        let mut inner = self.inner().ok()?;
        let dev: &mut dyn SimDevice = inner.devices.get_mut(&address)?.as_mut();
        let any: &mut dyn Any = dev;
        any.downcast_mut::<T>().map(f)
    }

    /// Replaces the fault plan (and reseeds the noise generator from it).
    pub fn set_fault_plan(&self, plan: FaultPlan) {
        if let Ok(mut inner) = self.inner() {
            inner.rng = SplitMix64::new(plan.seed() ^ (u64::from(inner.segment) << 56));
            inner.plan = plan;
            inner.stuck.clear();
        }
    }

    /// Moves simulated time to `now_s`: fault windows open and close, devices advance
    /// (watchdogs) and see their injected faults (fan stalls).
    pub fn set_time_s(&self, now_s: f64) {
        let Ok(mut inner) = self.inner() else { return };
        inner.now_s = now_s;
        let addresses: Vec<u8> = inner.devices.keys().copied().collect();
        for a in addresses {
            let act = inner.active(a, false);
            if let Some(dev) = inner.devices.get_mut(&a) {
                dev.inject(&act.injected);
                dev.advance_to(now_s);
            }
        }
    }

    /// Current simulated time, seconds.
    pub fn time_s(&self) -> f64 {
        self.0.try_borrow().map(|i| i.now_s).unwrap_or(0.0)
    }

    /// Whether PEC is on for `address`.
    pub fn pec_enabled(&self, address: u8) -> bool {
        self.0
            .try_borrow()
            .map(|i| i.pec_on(address))
            .unwrap_or(false)
    }

    /// Wire statistics since creation or the last [`SimBus::take_stats`].
    pub fn stats(&self) -> BusStats {
        self.0
            .try_borrow()
            .map(|i| i.stats.clone())
            .unwrap_or_default()
    }

    /// Returns the statistics and starts counting afresh (call once per control period).
    pub fn take_stats(&self) -> BusStats {
        self.inner()
            .map(|mut i| std::mem::take(&mut i.stats))
            .unwrap_or_default()
    }

    fn smbus_read(&self, address: u8, command: u8, buf: &mut [u8]) -> Result<(), BusError> {
        let mut inner = self.inner()?;
        let with_pec = inner.pec_on(address);
        inner.transfer(
            address,
            &mut [Msg::Write(&[command]), Msg::Read(buf)],
            with_pec,
        )
    }

    fn smbus_write(&self, address: u8, bytes: &[u8]) -> Result<(), BusError> {
        let mut inner = self.inner()?;
        let with_pec = inner.pec_on(address);
        inner.transfer(address, &mut [Msg::Write(bytes)], with_pec)
    }
}

impl smbus::ErrorType for SimBus {
    type Error = BusError;
}

impl smbus::Smbus for SimBus {
    fn capabilities(&self) -> Capabilities {
        self.0
            .try_borrow()
            .map(|i| i.mode.capabilities())
            .unwrap_or(Capabilities::empty())
    }

    fn read_byte_data(&mut self, address: u8, command: u8) -> Result<u8, BusError> {
        let mut b = [0u8; 1];
        self.smbus_read(address, command, &mut b)?;
        Ok(b[0])
    }

    fn write_byte_data(&mut self, address: u8, command: u8, value: u8) -> Result<(), BusError> {
        self.smbus_write(address, &[command, value])
    }

    fn read_word_data(&mut self, address: u8, command: u8) -> Result<u16, BusError> {
        let mut b = [0u8; 2];
        self.smbus_read(address, command, &mut b)?;
        // HARDWARE.md §10: the first byte on the wire is the low byte.
        Ok(u16::from_le_bytes(b))
    }

    fn write_word_data(&mut self, address: u8, command: u8, value: u16) -> Result<(), BusError> {
        let [lo, hi] = value.to_le_bytes();
        self.smbus_write(address, &[command, lo, hi])
    }

    fn read_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<usize, BusError> {
        let mut inner = self.inner()?;
        inner.require(Capabilities::READ_BLOCK_DATA, address)?;
        let with_pec = inner.pec_on(address);
        inner.block_read(address, command, buf, with_pec)
    }

    fn read_i2c_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<(), BusError> {
        self.inner()?
            .require(Capabilities::READ_I2C_BLOCK, address)?;
        if buf.is_empty() || buf.len() > BLOCK_MAX {
            return Err(BusError::new(ErrorKind::BadBlockLength, address));
        }
        // Linux's SMBus emulation never adds PEC to I2C block reads (i2c-core-smbus.c,
        // as the `Smbus` trait documents), so neither does the simulated controller.
        let mut inner = self.inner()?;
        inner.transfer(
            address,
            &mut [Msg::Write(&[command]), Msg::Read(buf)],
            false,
        )
    }

    fn send_byte(&mut self, address: u8, value: u8) -> Result<(), BusError> {
        self.smbus_write(address, &[value])
    }

    fn receive_byte(&mut self, address: u8) -> Result<u8, BusError> {
        let mut inner = self.inner()?;
        let with_pec = inner.pec_on(address);
        let mut b = [0u8; 1];
        inner.transfer(address, &mut [Msg::Read(&mut b)], with_pec)?;
        Ok(b[0])
    }

    fn set_pec(&mut self, address: u8, enabled: bool) -> Result<(), BusError> {
        let mut inner = self.inner()?;
        if address > 0x7F {
            return Err(BusError::new(ErrorKind::Other, address));
        }
        if !enabled {
            inner.pec &= !(1u128 << address);
            return Ok(());
        }
        inner.require(Capabilities::PEC, address)?;
        match inner.devices.get(&address) {
            None => Err(BusError::nak(address, NoAcknowledgeSource::Address)),
            Some(d) if !d.supports_pec() => Err(BusError::new(ErrorKind::Unsupported, address)),
            Some(_) => {
                inner.pec |= 1u128 << address;
                Ok(())
            }
        }
    }
}

impl i2c::ErrorType for SimBus {
    type Error = BusError;
}

impl i2c::I2c<SevenBitAddress> for SimBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), BusError> {
        let mut inner = self.inner()?;
        inner.require(Capabilities::I2C, address)?;
        // embedded-hal: adjacent operations of the same kind form one message (no
        // repeated START between them); merge writes so the device sees one message.
        let mut write_bufs: Vec<Vec<u8>> = Vec::new();
        let mut kinds: Vec<bool> = Vec::new(); // true = write
        for op in operations.iter() {
            let is_write = matches!(op, Operation::Write(_));
            if is_write {
                let data = match op {
                    Operation::Write(d) => *d,
                    Operation::Read(_) => &[],
                };
                if kinds.last() == Some(&true) {
                    if let Some(last) = write_bufs.last_mut() {
                        last.extend_from_slice(data);
                    }
                } else {
                    write_bufs.push(data.to_vec());
                    kinds.push(true);
                }
            } else if kinds.last() != Some(&false) {
                kinds.push(false);
            }
        }
        // Reads of one message are contiguous on the wire: gather them into one buffer.
        let mut read_lens: Vec<Vec<usize>> = Vec::new();
        let mut prev_write = None;
        for op in operations.iter() {
            match op {
                Operation::Read(b) => {
                    if prev_write != Some(false) {
                        read_lens.push(Vec::new());
                    }
                    if let Some(l) = read_lens.last_mut() {
                        l.push(b.len());
                    }
                    prev_write = Some(false);
                }
                Operation::Write(_) => prev_write = Some(true),
            }
        }
        let mut read_bufs: Vec<Vec<u8>> = read_lens
            .iter()
            .map(|l| vec![0u8; l.iter().sum()])
            .collect();
        {
            let mut wi = write_bufs.iter();
            let mut ri = read_bufs.iter_mut();
            let mut msgs: Vec<Msg<'_>> = Vec::with_capacity(kinds.len());
            for k in &kinds {
                if *k {
                    if let Some(w) = wi.next() {
                        msgs.push(Msg::Write(w));
                    }
                } else if let Some(r) = ri.next() {
                    msgs.push(Msg::Read(r));
                }
            }
            inner.transfer(address, &mut msgs, false)?;
        }
        // Scatter the read bytes back into the caller's buffers.
        let mut groups = read_bufs.iter();
        let mut current: Option<&Vec<u8>> = None;
        let mut offset = 0;
        let mut prev_write = None;
        for op in operations.iter_mut() {
            match op {
                Operation::Read(b) => {
                    if prev_write != Some(false) {
                        current = groups.next();
                        offset = 0;
                    }
                    if let Some(src) = current.and_then(|c| c.get(offset..offset + b.len())) {
                        b.copy_from_slice(src);
                    }
                    offset += b.len();
                    prev_write = Some(false);
                }
                Operation::Write(_) => prev_write = Some(true),
            }
        }
        Ok(())
    }
}

/// A device with byte-addressed registers and an auto-incrementing pointer (EMC230x,
/// MAX31790, SPD5118, SB-TSI): a write message is `[pointer, data...]` (data go to
/// consecutive registers), a read message returns consecutive registers from the pointer.
/// A chip supplies its registers and its pointer; the pointer logic is provided, so its
/// [`SimDevice::write`]/[`SimDevice::read`] just call [`ByteRegisters::write_bytes`] and
/// [`ByteRegisters::read_bytes`].
pub trait ByteRegisters {
    /// Value of register `reg` as the chip sends it (reads may latch, e.g. SB-TSI).
    fn read_register(&mut self, reg: u8) -> u8;
    /// The host writes `value` to `reg`; `Err` NAKs it.
    fn write_register(&mut self, reg: u8, value: u8) -> Result<(), DeviceNak>;
    /// The register pointer.
    fn pointer_mut(&mut self) -> &mut u8;
    /// Whether reads advance the pointer (SB-TSI's registers are accessed one byte at a
    /// time; EMC230x/MAX31790/SPD5118 auto-increment).
    fn auto_increment(&self) -> bool {
        true
    }

    /// A write message: the first byte sets the pointer, the rest go to consecutive
    /// registers (the pointer stays at the first byte, as these chips do).
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
        let Some((&first, data)) = bytes.split_first() else {
            return Ok(()); // an empty write (quick command) changes nothing
        };
        *self.pointer_mut() = first;
        let mut reg = first;
        for &b in data {
            self.write_register(reg, b)?;
            reg = reg.wrapping_add(1);
        }
        Ok(())
    }

    /// A read message: consecutive registers from the pointer.
    fn read_bytes(&mut self, buf: &mut [u8]) {
        let inc = self.auto_increment();
        for b in buf.iter_mut() {
            let reg = *self.pointer_mut();
            *b = self.read_register(reg);
            if inc {
                *self.pointer_mut() = reg.wrapping_add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::FaultTarget;
    use embedded_hal::i2c::I2c;
    use smbus::{Error as _, Smbus};

    /// 256 byte registers, auto-increment, PEC capable.
    struct Ram {
        regs: [u8; 256],
        ptr: u8,
        noise: f64,
    }
    impl ByteRegisters for Ram {
        fn read_register(&mut self, reg: u8) -> u8 {
            if reg == 0xF0 {
                self.noise as i8 as u8
            } else {
                self.regs[usize::from(reg)]
            }
        }
        fn write_register(&mut self, reg: u8, value: u8) -> Result<(), DeviceNak> {
            if reg == 0xFF {
                return Err(DeviceNak);
            }
            self.regs[usize::from(reg)] = value;
            Ok(())
        }
        fn pointer_mut(&mut self) -> &mut u8 {
            &mut self.ptr
        }
    }
    impl SimDevice for Ram {
        fn name(&self) -> &'static str {
            "ram"
        }
        fn write(&mut self, bytes: &[u8]) -> Result<(), DeviceNak> {
            self.write_bytes(bytes)
        }
        fn read(&mut self, buf: &mut [u8]) {
            self.read_bytes(buf)
        }
        fn supports_pec(&self) -> bool {
            true
        }
        fn inject(&mut self, injected: &Injected) {
            self.noise = injected.noise;
        }
    }
    fn ram() -> Box<Ram> {
        let mut regs = [0u8; 256];
        for (i, r) in regs.iter_mut().enumerate() {
            *r = i as u8;
        }
        regs[0x40] = 5;
        for (i, c) in b"HELLO".iter().enumerate() {
            regs[0x41 + i] = *c;
        }
        Box::new(Ram {
            regs,
            ptr: 0,
            noise: 0.0,
        })
    }
    fn bus(mode: BusMode) -> SimBus {
        let b = SimBus::new(0, BusSpeed::Standard100k, mode);
        b.add_device(0x20, ram()).unwrap();
        b
    }

    #[test]
    fn empty_address_naks_on_both_traits() {
        let mut b = bus(BusMode::I2c);
        let e = b.read_byte_data(0x21, 0).unwrap_err();
        assert_eq!(smbus::Error::kind(&e), ErrorKind::NoAcknowledge);
        let e = b.write(0x21, &[0]).unwrap_err();
        assert_eq!(
            i2c::Error::kind(&e),
            i2c::ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
        );
    }

    #[test]
    fn word_reads_are_low_byte_first_and_writes_land_in_consecutive_registers() {
        let mut b = bus(BusMode::SmbusOnly);
        assert_eq!(b.read_word_data(0x20, 0x10).unwrap(), 0x1110);
        b.write_word_data(0x20, 0x10, 0xBEEF).unwrap();
        assert_eq!(b.read_byte_data(0x20, 0x10).unwrap(), 0xEF);
        assert_eq!(b.read_byte_data(0x20, 0x11).unwrap(), 0xBE);
        // A NAKed register write reports NoAcknowledge.
        assert_eq!(
            b.write_byte_data(0x20, 0xFF, 1).unwrap_err().kind(),
            ErrorKind::NoAcknowledge
        );
    }

    #[test]
    fn raw_i2c_write_sets_the_pointer_and_reads_continue_from_it() {
        let mut b = bus(BusMode::I2c);
        let mut buf = [0u8; 3];
        b.write_read(0x20, &[0x30], &mut buf).unwrap();
        assert_eq!(buf, [0x30, 0x31, 0x32]);
        b.read(0x20, &mut buf).unwrap();
        assert_eq!(buf, [0x33, 0x34, 0x35], "pointer auto-incremented");
        b.write(0x20, &[0x50, 9, 8]).unwrap();
        let mut r1 = [0u8; 1];
        let mut r2 = [0u8; 1];
        b.transaction(
            0x20,
            &mut [
                Operation::Write(&[0x50]),
                Operation::Read(&mut r1),
                Operation::Read(&mut r2),
            ],
        )
        .unwrap();
        assert_eq!((r1[0], r2[0]), (9, 8), "adjacent reads are one message");
    }

    #[test]
    fn smbus_only_mode_refuses_raw_i2c_i2c_block_and_pec_like_piix4() {
        let mut b = bus(BusMode::SmbusOnly);
        assert_eq!(b.capabilities(), Capabilities::PIIX4);
        let mut buf = [0u8; 4];
        assert_eq!(
            b.write_read(0x20, &[0], &mut buf).unwrap_err().kind,
            ErrorKind::Unsupported
        );
        assert_eq!(
            b.read_i2c_block_data(0x20, 0, &mut buf).unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        assert_eq!(
            b.set_pec(0x20, true).unwrap_err().kind(),
            ErrorKind::Unsupported
        );
        // SMBus block read works.
        let mut blk = [0u8; 32];
        assert_eq!(b.read_block_data(0x20, 0x40, &mut blk).unwrap(), 5);
        assert_eq!(&blk[..5], b"HELLO");
    }

    #[test]
    fn i2c_block_reads_carry_no_pec_even_with_pec_on() {
        let mut b = bus(BusMode::I2c);
        b.set_pec(0x20, true).unwrap();
        let mut buf = [0u8; 4];
        b.read_i2c_block_data(0x20, 0x30, &mut buf).unwrap();
        assert_eq!(buf, [0x30, 0x31, 0x32, 0x33]);
        // S + 2 bytes + Sr + addr + 4 data + P, no PEC byte.
        assert_eq!(b.stats().bits, 1 + 18 + 1 + 9 + 36 + 1);
    }

    #[test]
    fn wire_time_counts_start_address_bytes_repeated_start_and_stop() {
        let mut b = bus(BusMode::I2c);
        b.read_word_data(0x20, 0).unwrap();
        // S + (addr+W) + cmd + Sr + (addr+R) + 2 data + P = 1 + 9 + 9 + 1 + 9 + 18 + 1.
        let s = b.take_stats();
        assert_eq!(s.bits, 48);
        assert_eq!(s.transfers, 1);
        assert!((s.busy_s - 48.0 / 100_000.0).abs() < 1e-12);
        assert_eq!(b.stats().bits, 0, "take_stats starts afresh");
        b.write_byte_data(0x20, 1, 2).unwrap();
        assert_eq!(b.stats().bits, 1 + 27 + 1);
        let fast = SimBus::new(1, BusSpeed::FastPlus1M, BusMode::I2c);
        assert!((fast.speed().seconds_for_bits(48) - 48e-6).abs() < 1e-15);
        assert!((s.occupancy(1.0) - 48e-5).abs() < 1e-12);
    }

    #[test]
    fn pec_is_computed_over_the_wire_bytes_and_a_pec_fault_is_reported() {
        let mut b = bus(BusMode::I2c);
        b.set_pec(0x20, true).unwrap();
        assert_eq!(b.read_byte_data(0x20, 0x07).unwrap(), 0x07);
        let bits_with_pec = b.take_stats().bits;
        assert_eq!(bits_with_pec, 1 + 9 + 9 + 1 + 9 + 9 + 9 + 1);
        let mut plan = FaultPlan::new(10.0).unwrap();
        plan.add(
            FaultTarget::Device {
                segment: 0,
                address: 0x20,
            },
            1.0,
            2.0,
            Fault::PecError,
        )
        .unwrap();
        b.set_fault_plan(plan);
        b.set_time_s(1.5);
        assert_eq!(
            b.read_byte_data(0x20, 0x07).unwrap_err().kind(),
            ErrorKind::PecMismatch
        );
        // A write with a corrupted PEC is NAKed and not applied.
        assert_eq!(
            b.write_byte_data(0x20, 0x07, 0x99).unwrap_err().kind(),
            ErrorKind::NoAcknowledge
        );
        b.set_time_s(2.0);
        assert_eq!(b.read_byte_data(0x20, 0x07).unwrap(), 0x07);
        // PEC needs the device's support; the PEC byte matches the CRC-8 of the wire.
        let on_wire = [0x20 << 1, 0x07, (0x20 << 1) | 1, 0x07];
        assert_ne!(pec(&on_wire), 0, "non-trivial check value");
    }

    #[test]
    fn faults_are_seen_as_the_driver_would_see_them() {
        let mut b = bus(BusMode::I2c);
        let t = FaultTarget::Device {
            segment: 0,
            address: 0x20,
        };
        let mut plan = FaultPlan::new(100.0).unwrap().with_seed(3);
        plan.add(t, 1.0, 2.0, Fault::Nak).unwrap();
        plan.add(t, 2.0, 3.0, Fault::BusTimeout).unwrap();
        plan.add(t, 3.0, 4.0, Fault::AllOnes).unwrap();
        plan.add(t, 4.0, 5.0, Fault::DeviceAbsent).unwrap();
        plan.add(t, 5.0, 6.0, Fault::StuckValue).unwrap();
        plan.add(
            t,
            6.0,
            7.0,
            Fault::NoiseSpikes {
                amplitude: 10.0,
                probability: 1.0,
            },
        )
        .unwrap();
        b.set_fault_plan(plan);
        b.set_time_s(1.0);
        let e = b.read_byte_data(0x20, 1).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoAcknowledge);
        assert_eq!(
            i2c::Error::kind(&e),
            i2c::ErrorKind::NoAcknowledge(NoAcknowledgeSource::Data)
        );
        b.set_time_s(2.0);
        b.take_stats();
        assert_eq!(
            b.read_byte_data(0x20, 1).unwrap_err().kind(),
            ErrorKind::Timeout
        );
        assert!(
            b.stats().busy_s >= SMBUS_TIMEOUT_S,
            "a timeout holds the bus"
        );
        b.set_time_s(3.0);
        assert_eq!(b.read_word_data(0x20, 1).unwrap(), 0xFFFF);
        b.set_time_s(4.0);
        let e = b.read_byte_data(0x20, 1).unwrap_err();
        assert_eq!(
            i2c::Error::kind(&e),
            i2c::ErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
        );
        b.set_time_s(5.0);
        assert_eq!(b.read_byte_data(0x20, 0x60).unwrap(), 0x60);
        b.write_byte_data(0x20, 0x60, 0x11).unwrap();
        assert_eq!(
            b.read_byte_data(0x20, 0x60).unwrap(),
            0x60,
            "stuck at the first value read"
        );
        b.set_time_s(6.0);
        assert_eq!(
            b.read_byte_data(0x20, 0x60).unwrap(),
            0x11,
            "unstuck after the window"
        );
        let spike = b.read_byte_data(0x20, 0xF0).unwrap() as i8;
        assert_eq!(
            spike.abs(),
            10,
            "probability 1 ⇒ every transfer spikes by ±amplitude"
        );
        b.set_time_s(7.0);
        assert_eq!(b.read_byte_data(0x20, 0xF0).unwrap(), 0);
    }

    #[test]
    fn devices_can_be_reached_for_their_physical_inputs_and_clones_share_the_bus() {
        let b = bus(BusMode::I2c);
        let mut c = b.clone();
        b.with_device::<Ram, _>(0x20, |r| r.regs[0x10] = 0x77)
            .unwrap();
        assert_eq!(c.read_byte_data(0x20, 0x10).unwrap(), 0x77);
        assert!(b.with_device::<Ram, _>(0x21, |_| ()).is_none());
        assert_eq!(
            b.add_device(0x20, ram()).unwrap_err(),
            AddDeviceError::Occupied(0x20)
        );
        assert_eq!(
            b.add_device(0x80, ram()).unwrap_err(),
            AddDeviceError::BadAddress(0x80)
        );
        assert_eq!(b.addresses(), vec![0x20]);
        assert!(format!("{b:?}").contains("ram"));
    }
}
