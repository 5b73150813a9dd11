//! Shared pieces of the sovereign-hal fuzz targets: a byte tape that hands out fuzz
//! input, a fake [`Smbus`] whose every answer (value or error) comes from that tape, and
//! a fake [`MsrReader`] and a fake raw-I2C bus ([`FuzzI2c`]) built the same way.
//!
//! The fakes never stop the run: once the tape is empty every transfer fails with
//! "no acknowledge", so a driver loop always ends. They record every write so that
//! targets can check what a driver is allowed to write (nothing, for DIMM sensors).

use std::cell::{Cell, RefCell};

use embedded_hal::i2c;

use sovereign_hal::msr::{self, MsrReader};
use sovereign_hal::smbus::{Capabilities, ErrorKind, ErrorType, Smbus};

/// Fuzz input handed out front to back; reads past the end give zeros.
///
/// Shared by reference (interior mutability), so a driver can own `&mut FuzzBus` while
/// the target keeps drawing its next operation from the same tape.
#[derive(Debug)]
pub struct Tape<'a> {
    data: &'a [u8],
    pos: Cell<usize>,
}

impl<'a> Tape<'a> {
    /// A tape over the fuzzer's bytes.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: Cell::new(0),
        }
    }

    /// Whether every byte has been used.
    pub fn is_empty(&self) -> bool {
        self.pos.get() >= self.data.len()
    }

    /// The next `n` bytes, fewer at the end of the tape.
    pub fn bytes(&self, n: usize) -> &'a [u8] {
        let start = self.pos.get().min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos.set(end);
        &self.data[start..end]
    }

    /// Everything not used yet.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes(self.data.len())
    }

    /// Next byte, 0 at the end.
    pub fn u8(&self) -> u8 {
        self.bytes(1).first().copied().unwrap_or(0)
    }

    /// Next bool (low bit of a byte).
    pub fn bool(&self) -> bool {
        self.u8() & 1 != 0
    }

    fn array<const N: usize>(&self) -> [u8; N] {
        let mut out = [0u8; N];
        let b = self.bytes(N);
        out[..b.len()].copy_from_slice(b);
        out
    }

    /// Next little-endian u16.
    pub fn u16(&self) -> u16 {
        u16::from_le_bytes(self.array())
    }

    /// Next little-endian u32.
    pub fn u32(&self) -> u32 {
        u32::from_le_bytes(self.array())
    }

    /// Next little-endian u64.
    pub fn u64(&self) -> u64 {
        u64::from_le_bytes(self.array())
    }

    /// Next little-endian i32.
    pub fn i32(&self) -> i32 {
        i32::from_le_bytes(self.array())
    }

    /// Next i64.
    pub fn i64(&self) -> i64 {
        i64::from_le_bytes(self.array())
    }
}

/// One write a driver sent to the fake bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// `write_byte_data(address, command, value)`.
    Byte { address: u8, command: u8, value: u8 },
    /// `write_word_data(address, command, value)`.
    Word {
        address: u8,
        command: u8,
        value: u16,
    },
    /// `send_byte(address, value)`.
    Send { address: u8, value: u8 },
}

/// Every error kind a bus can report, for the tape to pick from.
const ERROR_KINDS: [ErrorKind; 11] = [
    ErrorKind::NoAcknowledge,
    ErrorKind::Bus,
    ErrorKind::Timeout,
    ErrorKind::PecMismatch,
    ErrorKind::Unsupported,
    ErrorKind::WriteRefused,
    ErrorKind::BadBlockLength,
    ErrorKind::Busy,
    ErrorKind::PermissionDenied,
    ErrorKind::Gone,
    ErrorKind::Other,
];

/// A control byte below this makes the transfer fail (1 in 8 with uniform bytes).
const ERROR_BELOW: u8 = 0x20;

/// A write and the value the last byte read returned before it (for read-modify-write
/// checks: the bits a driver changed are `value ^ last_byte_read`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Logged {
    /// The write.
    pub write: Write,
    /// What the most recent `read_byte_data` before it returned.
    pub last_byte_read: Option<u8>,
}

/// An SMBus whose answers all come from the tape.
///
/// Each transfer first takes a control byte: below 0x20 the transfer fails with the
/// error kind it selects; otherwise the data (if any) is taken from the tape. A block
/// read's count is a raw tape byte and may be 0, above 32 or above the buffer — a bus
/// that breaks the trait's contract — so drivers are tested against a lying bus too.
#[derive(Debug)]
pub struct FuzzBus<'t, 'a> {
    tape: &'t Tape<'a>,
    capabilities: Capabilities,
    /// Every write, in order.
    pub writes: RefCell<Vec<Logged>>,
    /// The last value a byte read returned, for read-modify-write checks.
    pub last_byte_read: Cell<Option<u8>>,
    /// Addresses PEC was last switched on for.
    pub pec_on: RefCell<Vec<u8>>,
}

impl<'t, 'a> FuzzBus<'t, 'a> {
    /// A bus over `tape` that claims `capabilities`.
    pub fn new(tape: &'t Tape<'a>, capabilities: Capabilities) -> Self {
        Self {
            tape,
            capabilities,
            writes: RefCell::new(Vec::new()),
            last_byte_read: Cell::new(None),
            pec_on: RefCell::new(Vec::new()),
        }
    }

    /// The outcome of the next transfer: `Err` with a tape-chosen kind, or `Ok`.
    fn outcome(&self) -> Result<(), ErrorKind> {
        if self.tape.is_empty() {
            return Err(ErrorKind::NoAcknowledge);
        }
        let ctl = self.tape.u8();
        if ctl < ERROR_BELOW {
            Err(ERROR_KINDS[usize::from(ctl) % ERROR_KINDS.len()])
        } else {
            Ok(())
        }
    }

    fn log(&self, w: Write) -> Result<(), ErrorKind> {
        self.writes.borrow_mut().push(Logged {
            write: w,
            last_byte_read: self.last_byte_read.get(),
        });
        self.outcome()
    }
}

impl ErrorType for FuzzBus<'_, '_> {
    type Error = ErrorKind;
}

impl Smbus for FuzzBus<'_, '_> {
    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn read_byte_data(&mut self, _address: u8, _command: u8) -> Result<u8, ErrorKind> {
        self.outcome()?;
        let v = self.tape.u8();
        self.last_byte_read.set(Some(v));
        Ok(v)
    }

    fn write_byte_data(&mut self, address: u8, command: u8, value: u8) -> Result<(), ErrorKind> {
        self.log(Write::Byte {
            address,
            command,
            value,
        })
    }

    fn read_word_data(&mut self, _address: u8, _command: u8) -> Result<u16, ErrorKind> {
        self.outcome()?;
        Ok(self.tape.u16())
    }

    fn write_word_data(&mut self, address: u8, command: u8, value: u16) -> Result<(), ErrorKind> {
        self.log(Write::Word {
            address,
            command,
            value,
        })
    }

    fn read_block_data(
        &mut self,
        _address: u8,
        _command: u8,
        buf: &mut [u8],
    ) -> Result<usize, ErrorKind> {
        self.outcome()?;
        let count = usize::from(self.tape.u8());
        let data = self.tape.bytes(count.min(buf.len()));
        buf[..data.len()].copy_from_slice(data);
        Ok(count)
    }

    fn read_i2c_block_data(
        &mut self,
        _address: u8,
        _command: u8,
        buf: &mut [u8],
    ) -> Result<(), ErrorKind> {
        self.outcome()?;
        let data = self.tape.bytes(buf.len());
        buf[..data.len()].copy_from_slice(data);
        Ok(())
    }

    fn send_byte(&mut self, address: u8, value: u8) -> Result<(), ErrorKind> {
        self.log(Write::Send { address, value })
    }

    fn receive_byte(&mut self, _address: u8) -> Result<u8, ErrorKind> {
        self.outcome()?;
        Ok(self.tape.u8())
    }

    fn set_pec(&mut self, address: u8, enabled: bool) -> Result<(), ErrorKind> {
        self.outcome()?;
        let mut on = self.pec_on.borrow_mut();
        on.retain(|&a| a != address);
        if enabled {
            on.push(address);
        }
        Ok(())
    }
}

/// Every MSR error kind, for the tape to pick from.
const MSR_ERROR_KINDS: [msr::ErrorKind; 6] = [
    msr::ErrorKind::Unsupported,
    msr::ErrorKind::NoSuchCpu,
    msr::ErrorKind::DeviceMissing,
    msr::ErrorKind::PermissionDenied,
    msr::ErrorKind::Io,
    msr::ErrorKind::Other,
];

/// An MSR reader whose answers come from the tape: a control byte (below 0x20: an
/// error of the kind it selects), then eight value bytes. Records which MSRs were read.
#[derive(Debug)]
pub struct FuzzMsr<'t, 'a> {
    tape: &'t Tape<'a>,
    /// (cpu, msr) of every read, in order.
    pub reads: Vec<(u32, u32)>,
}

impl<'t, 'a> FuzzMsr<'t, 'a> {
    /// A reader over `tape`.
    pub fn new(tape: &'t Tape<'a>) -> Self {
        Self {
            tape,
            reads: Vec::new(),
        }
    }
}

impl MsrReader for FuzzMsr<'_, '_> {
    type Error = msr::ErrorKind;

    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, msr::ErrorKind> {
        self.reads.push((cpu, msr));
        if self.tape.is_empty() {
            return Err(msr::ErrorKind::Unsupported);
        }
        let ctl = self.tape.u8();
        if ctl < ERROR_BELOW {
            return Err(MSR_ERROR_KINDS[usize::from(ctl) % MSR_ERROR_KINDS.len()]);
        }
        Ok(self.tape.u64())
    }
}

/// Every raw-I2C error kind, for the tape to pick from.
const I2C_ERROR_KINDS: [i2c::ErrorKind; 7] = [
    i2c::ErrorKind::NoAcknowledge(i2c::NoAcknowledgeSource::Address),
    i2c::ErrorKind::NoAcknowledge(i2c::NoAcknowledgeSource::Data),
    i2c::ErrorKind::NoAcknowledge(i2c::NoAcknowledgeSource::Unknown),
    i2c::ErrorKind::Bus,
    i2c::ErrorKind::ArbitrationLoss,
    i2c::ErrorKind::Overrun,
    i2c::ErrorKind::Other,
];

/// A raw `embedded_hal` I2C bus whose answers come from the tape, for fuzzing the
/// SMBus-over-I2C adapter: per transaction a control byte (below 0x20: an error of the
/// kind it selects), then the bytes of every read operation. Every transaction that
/// reaches it is logged (address, bytes written) in a log the target keeps a reference
/// to, so it can be inspected while an adapter owns the bus.
#[derive(Debug)]
pub struct FuzzI2c<'t, 'a> {
    tape: &'t Tape<'a>,
    log: &'t RefCell<Vec<(u8, Vec<u8>)>>,
}

impl<'t, 'a> FuzzI2c<'t, 'a> {
    /// A bus over `tape` that logs into `log`.
    pub fn new(tape: &'t Tape<'a>, log: &'t RefCell<Vec<(u8, Vec<u8>)>>) -> Self {
        Self { tape, log }
    }
}

impl i2c::ErrorType for FuzzI2c<'_, '_> {
    type Error = i2c::ErrorKind;
}

impl i2c::I2c for FuzzI2c<'_, '_> {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [i2c::Operation<'_>],
    ) -> Result<(), i2c::ErrorKind> {
        let mut written = Vec::new();
        for op in operations.iter() {
            if let i2c::Operation::Write(bytes) = op {
                written.extend_from_slice(bytes);
            }
        }
        self.log.borrow_mut().push((address, written));
        if self.tape.is_empty() {
            return Err(i2c::ErrorKind::NoAcknowledge(
                i2c::NoAcknowledgeSource::Address,
            ));
        }
        let ctl = self.tape.u8();
        if ctl < ERROR_BELOW {
            return Err(I2C_ERROR_KINDS[usize::from(ctl) % I2C_ERROR_KINDS.len()]);
        }
        for op in operations.iter_mut() {
            if let i2c::Operation::Read(buf) = op {
                let data = self.tape.bytes(buf.len());
                buf[..data.len()].copy_from_slice(data);
                buf[data.len()..].fill(0);
            }
        }
        Ok(())
    }
}
