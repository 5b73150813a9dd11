//! The SMBus bus trait, an adapter that speaks SMBus over any raw-I2C bus, and a
//! read-only wrapper for sensors that must never be written.
//!
//! ## Why a trait of its own
//!
//! `embedded_hal::i2c::I2c` is raw I2C. The SMBus controller of AMD EPYC platforms
//! (Linux `i2c-piix4`, functionality 0x037F0000) only performs SMBus transfers: raw I2C
//! (`I2C_RDWR`) fails there with EOPNOTSUPP (HARDWARE.md §10). Drivers in this crate are
//! therefore written against [`Smbus`]:
//!
//! - the Linux binding implements it with the kernel's native `I2C_SMBUS` ioctl;
//! - [`I2cSmbus`] implements it on top of any `embedded_hal::i2c::I2c` (microcontrollers,
//!   adapters with `I2C_FUNC_I2C`), computing PEC in software;
//! - the simulator implements it directly.
//!
//! ## For driver authors
//!
//! Words are returned exactly as SMBus defines them: the first byte on the wire is the
//! low byte (HARDWARE.md §10, "Word byte order"). Chips that send their most significant
//! byte first (JC-42.4, LM75, EMC230x, MAX31790) need `u16::swap_bytes`, as the kernel's
//! `i2c_smbus_read_word_swapped` does; PMBus does not.
//!
//! Branch on [`Error::kind`], never on an implementation's concrete error.
//!
//! ## For bus implementers
//!
//! Map "no device answered" to [`ErrorKind::NoAcknowledge`], a PEC mismatch to
//! [`ErrorKind::PecMismatch`] and an operation the controller cannot perform to
//! [`ErrorKind::Unsupported`]: callers react differently to each.

use core::fmt;
use embedded_hal::i2c::{I2c, Operation};

/// The largest SMBus block (SMBus 2.0/3.0 block read/write count).
pub const BLOCK_MAX: usize = 32;

/// What went wrong on the bus, as a caller needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// No acknowledge: nothing at the address, or the device refused a byte.
    /// (Linux reports this as ENXIO, EREMOTEIO or ENODEV depending on the adapter.)
    NoAcknowledge,
    /// Bus fault: arbitration lost, stuck line, controller error.
    Bus,
    /// The transfer did not complete in time.
    Timeout,
    /// The Packet Error Code received did not match the one computed.
    PecMismatch,
    /// The controller (or this implementation) cannot perform this kind of transfer,
    /// e.g. PEC or I2C block reads on an SMBus-only adapter.
    Unsupported,
    /// A write was refused because the handle is read-only ([`ReadOnly`]).
    WriteRefused,
    /// A block transfer's byte count was 0 or larger than the buffer / [`BLOCK_MAX`].
    BadBlockLength,
    /// The address is owned by someone else (on Linux: a bound kernel driver, EBUSY).
    Busy,
    /// The operating system refused access (permissions).
    PermissionDenied,
    /// The bus or device went away.
    Gone,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Short description, the same text as `Display`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoAcknowledge => {
                "no acknowledge (no device at that address, or it refused the transfer)"
            }
            Self::Bus => "bus fault",
            Self::Timeout => "bus timeout",
            Self::PecMismatch => "packet error code (PEC) mismatch",
            Self::Unsupported => "operation not supported by this bus controller",
            Self::WriteRefused => "write refused: this handle is read-only",
            Self::BadBlockLength => "invalid SMBus block length",
            Self::Busy => "address is in use by another driver",
            Self::PermissionDenied => "permission denied",
            Self::Gone => "bus or device went away",
            Self::Other => "other bus error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bus error a caller can branch on.
pub trait Error: fmt::Debug {
    /// The kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl Error for ErrorKind {
    #[inline]
    fn kind(&self) -> ErrorKind {
        *self
    }
}

impl core::error::Error for ErrorKind {}

/// The error type of a bus.
pub trait ErrorType {
    /// Error returned by every operation.
    type Error: Error;
}

impl<T: ErrorType + ?Sized> ErrorType for &mut T {
    type Error = T::Error;
}

bitflags::bitflags! {
    /// What a bus can do, in the vocabulary of Linux `I2C_FUNC_*` (HARDWARE.md §10).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Capabilities: u32 {
        /// Raw I2C messages (`I2C_FUNC_I2C`).
        const I2C = 0x0000_0001;
        /// Packet Error Code (`I2C_FUNC_SMBUS_PEC`).
        const PEC = 0x0000_0008;
        /// Quick command.
        const QUICK = 0x0001_0000;
        /// Receive byte.
        const READ_BYTE = 0x0002_0000;
        /// Send byte.
        const WRITE_BYTE = 0x0004_0000;
        /// Read byte data.
        const READ_BYTE_DATA = 0x0008_0000;
        /// Write byte data.
        const WRITE_BYTE_DATA = 0x0010_0000;
        /// Read word data.
        const READ_WORD_DATA = 0x0020_0000;
        /// Write word data.
        const WRITE_WORD_DATA = 0x0040_0000;
        /// Process call.
        const PROC_CALL = 0x0080_0000;
        /// SMBus block read (count byte from the device).
        const READ_BLOCK_DATA = 0x0100_0000;
        /// SMBus block write.
        const WRITE_BLOCK_DATA = 0x0200_0000;
        /// I2C block read (count chosen by the host).
        const READ_I2C_BLOCK = 0x0400_0000;
        /// I2C block write.
        const WRITE_I2C_BLOCK = 0x0800_0000;
    }
}

impl Capabilities {
    /// What AMD's FCH SMBus controller (`i2c-piix4`) offers: 0x037F0000, SMBus only,
    /// no PEC, no I2C block (HARDWARE.md §10).
    pub const PIIX4: Self = Self::from_bits_truncate(0x037F_0000);
    /// What [`I2cSmbus`] performs over a raw-I2C controller: byte, word and block reads,
    /// byte and word writes, send/receive byte, I2C block reads, PEC. (No raw-I2C path is
    /// offered through [`Smbus`], so [`Capabilities::I2C`] is not set.)
    pub const FULL_SMBUS_OVER_I2C: Self = Self::PEC
        .union(Self::READ_BYTE)
        .union(Self::WRITE_BYTE)
        .union(Self::READ_BYTE_DATA)
        .union(Self::WRITE_BYTE_DATA)
        .union(Self::READ_WORD_DATA)
        .union(Self::WRITE_WORD_DATA)
        .union(Self::READ_BLOCK_DATA)
        .union(Self::READ_I2C_BLOCK);
}

#[cfg(feature = "defmt")]
impl defmt::Format for Capabilities {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Capabilities({=u32:#x})", self.bits());
    }
}

/// SMBus transfers, addressed per call with a 7-bit address.
///
/// The shape follows `embedded_hal::i2c::I2c`: the bus is shared, the address is an
/// argument. Implementations must not panic on any address or buffer size; an address
/// above 0x7F is an error of kind [`ErrorKind::Other`].
pub trait Smbus: ErrorType {
    /// What this bus can do. Drivers check before relying on optional transfers.
    fn capabilities(&self) -> Capabilities;

    /// Read byte data: write `command`, read one byte.
    fn read_byte_data(&mut self, address: u8, command: u8) -> Result<u8, Self::Error>;

    /// Write byte data.
    fn write_byte_data(&mut self, address: u8, command: u8, value: u8) -> Result<(), Self::Error>;

    /// Read word data: the first byte on the wire is the low byte of the result.
    fn read_word_data(&mut self, address: u8, command: u8) -> Result<u16, Self::Error>;

    /// Write word data: the low byte goes first on the wire.
    fn write_word_data(&mut self, address: u8, command: u8, value: u16) -> Result<(), Self::Error>;

    /// SMBus block read: the device sends a count (1..=32) then that many bytes, which are
    /// copied to the start of `buf`. Returns the count. A count of 0, above 32 or above
    /// `buf.len()` is [`ErrorKind::BadBlockLength`].
    fn read_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<usize, Self::Error>;

    /// I2C block read: read exactly `buf.len()` (1..=32) bytes starting at `command`.
    /// Never carries a PEC (Linux leaves I2C block transfers out of PEC). Unsupported on
    /// SMBus-only controllers such as `i2c-piix4`.
    fn read_i2c_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<(), Self::Error>;

    /// Send byte (a command with no data, e.g. PMBus CLEAR_FAULTS).
    fn send_byte(&mut self, address: u8, value: u8) -> Result<(), Self::Error>;

    /// Receive byte (a read with no command).
    fn receive_byte(&mut self, address: u8) -> Result<u8, Self::Error>;

    /// Turn Packet Error Code on or off for transfers to `address`.
    /// Fails with [`ErrorKind::Unsupported`] where the bus cannot do PEC.
    fn set_pec(&mut self, address: u8, enabled: bool) -> Result<(), Self::Error>;
}

impl<T: Smbus + ?Sized> Smbus for &mut T {
    fn capabilities(&self) -> Capabilities {
        T::capabilities(self)
    }
    fn read_byte_data(&mut self, a: u8, c: u8) -> Result<u8, Self::Error> {
        T::read_byte_data(self, a, c)
    }
    fn write_byte_data(&mut self, a: u8, c: u8, v: u8) -> Result<(), Self::Error> {
        T::write_byte_data(self, a, c, v)
    }
    fn read_word_data(&mut self, a: u8, c: u8) -> Result<u16, Self::Error> {
        T::read_word_data(self, a, c)
    }
    fn write_word_data(&mut self, a: u8, c: u8, v: u16) -> Result<(), Self::Error> {
        T::write_word_data(self, a, c, v)
    }
    fn read_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<usize, Self::Error> {
        T::read_block_data(self, a, c, b)
    }
    fn read_i2c_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<(), Self::Error> {
        T::read_i2c_block_data(self, a, c, b)
    }
    fn send_byte(&mut self, a: u8, v: u8) -> Result<(), Self::Error> {
        T::send_byte(self, a, v)
    }
    fn receive_byte(&mut self, a: u8) -> Result<u8, Self::Error> {
        T::receive_byte(self, a)
    }
    fn set_pec(&mut self, a: u8, e: bool) -> Result<(), Self::Error> {
        T::set_pec(self, a, e)
    }
}

/// SMBus packet error code: CRC-8, polynomial x⁸+x²+x+1, initial value 0, over every
/// byte on the wire including each address byte (`addr << 1 | R/W`) (HARDWARE.md §5, PEC).
#[inline]
pub fn pec(bytes: &[u8]) -> u8 {
    smbus_pec::pec(bytes)
}

/// Extends a running PEC over more bytes.
fn pec_extend(crc: u8, bytes: &[u8]) -> u8 {
    // CRC-8 without reflection or final xor is a plain polynomial remainder, so it can be
    // continued byte by byte: feed the previous remainder through the same table.
    bytes.iter().fold(crc, |c, &b| smbus_pec::pec(&[c ^ b]))
}

const fn write_addr(a: u8) -> u8 {
    a << 1
}
const fn read_addr(a: u8) -> u8 {
    (a << 1) | 1
}

/// An error from [`I2cSmbus`]: the raw-I2C bus error, or an SMBus-level failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum I2cSmbusError<E> {
    /// The underlying I2C bus failed.
    I2c(E),
    /// The PEC byte received did not match.
    PecMismatch,
    /// A block count of 0 or above the buffer / 32 bytes.
    BadBlockLength,
    /// A 7-bit address above 0x7F.
    BadAddress,
}

impl<E: embedded_hal::i2c::Error> Error for I2cSmbusError<E> {
    fn kind(&self) -> ErrorKind {
        use embedded_hal::i2c::ErrorKind as K;
        match self {
            Self::I2c(e) => match e.kind() {
                K::NoAcknowledge(_) => ErrorKind::NoAcknowledge,
                K::Bus | K::ArbitrationLoss | K::Overrun => ErrorKind::Bus,
                _ => ErrorKind::Other,
            },
            Self::PecMismatch => ErrorKind::PecMismatch,
            Self::BadBlockLength => ErrorKind::BadBlockLength,
            Self::BadAddress => ErrorKind::Other,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for I2cSmbusError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::I2c(e) => write!(f, "I2C bus error: {e:?}"),
            Self::PecMismatch => f.write_str(ErrorKind::PecMismatch.as_str()),
            Self::BadBlockLength => f.write_str(ErrorKind::BadBlockLength.as_str()),
            Self::BadAddress => f.write_str(
                "7-bit address above 0x7F: pass the 7-bit address (an 8-bit bus address \
                 shifted right by one)",
            ),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for I2cSmbusError<E> {}

/// SMBus over any raw-I2C bus, with PEC computed in software.
///
/// Owns the bus; [`I2cSmbus::release`] gives it back. PEC is enabled per address with
/// [`Smbus::set_pec`].
///
/// A block read is two I2C transactions: the first reads the count byte, the second
/// re-reads count and data with the right length, so that the host never clocks bytes
/// the device did not offer (an embedded-hal transaction cannot size a read from data
/// received inside it).
#[derive(Debug)]
pub struct I2cSmbus<I> {
    i2c: I,
    pec: u128,
}

impl<I: I2c> I2cSmbus<I> {
    /// Wraps a raw-I2C bus.
    pub const fn new(i2c: I) -> Self {
        Self { i2c, pec: 0 }
    }

    /// Gives the bus back.
    pub fn release(self) -> I {
        self.i2c
    }

    fn pec_on(&self, address: u8) -> bool {
        address < 128 && (self.pec >> address) & 1 == 1
    }

    fn check(address: u8) -> Result<(), I2cSmbusError<I::Error>> {
        if address > 0x7F {
            Err(I2cSmbusError::BadAddress)
        } else {
            Ok(())
        }
    }

    /// Write `command`, then read `out.len()` bytes (+ PEC when enabled), verify PEC.
    fn command_read(
        &mut self,
        address: u8,
        command: u8,
        out: &mut [u8],
    ) -> Result<(), I2cSmbusError<I::Error>> {
        Self::check(address)?;
        let with_pec = self.pec_on(address);
        let n = out.len();
        let mut buf = [0u8; BLOCK_MAX + 2];
        let len = n + usize::from(with_pec);
        let rx = buf.get_mut(..len).ok_or(I2cSmbusError::BadBlockLength)?;
        self.i2c
            .write_read(address, &[command], rx)
            .map_err(I2cSmbusError::I2c)?;
        if with_pec {
            let crc = pec_extend(
                pec(&[write_addr(address), command, read_addr(address)]),
                &rx[..n],
            );
            if rx.get(n).copied() != Some(crc) {
                return Err(I2cSmbusError::PecMismatch);
            }
        }
        out.copy_from_slice(&rx[..n]);
        Ok(())
    }

    /// Write `command` followed by `data` (+ PEC when enabled).
    fn command_write(
        &mut self,
        address: u8,
        command: u8,
        data: &[u8],
    ) -> Result<(), I2cSmbusError<I::Error>> {
        Self::check(address)?;
        let mut buf = [0u8; BLOCK_MAX + 3];
        let n = data.len();
        let frame = buf.get_mut(..n + 2).ok_or(I2cSmbusError::BadBlockLength)?;
        frame[0] = command;
        frame[1..=n].copy_from_slice(data);
        let mut len = n + 1;
        if self.pec_on(address) {
            frame[len] = pec_extend(pec(&[write_addr(address)]), &frame[..len]);
            len += 1;
        }
        self.i2c
            .write(address, &frame[..len])
            .map_err(I2cSmbusError::I2c)
    }
}

impl<I: I2c> ErrorType for I2cSmbus<I> {
    type Error = I2cSmbusError<I::Error>;
}

impl<I: I2c> Smbus for I2cSmbus<I> {
    fn capabilities(&self) -> Capabilities {
        Capabilities::FULL_SMBUS_OVER_I2C
    }

    fn read_byte_data(&mut self, address: u8, command: u8) -> Result<u8, Self::Error> {
        let mut b = [0u8; 1];
        self.command_read(address, command, &mut b)?;
        Ok(b[0])
    }

    fn write_byte_data(&mut self, address: u8, command: u8, value: u8) -> Result<(), Self::Error> {
        self.command_write(address, command, &[value])
    }

    fn read_word_data(&mut self, address: u8, command: u8) -> Result<u16, Self::Error> {
        let mut b = [0u8; 2];
        self.command_read(address, command, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    fn write_word_data(&mut self, address: u8, command: u8, value: u16) -> Result<(), Self::Error> {
        self.command_write(address, command, &value.to_le_bytes())
    }

    fn read_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<usize, Self::Error> {
        Self::check(address)?;
        let mut count = [0u8; 1];
        self.i2c
            .write_read(address, &[command], &mut count)
            .map_err(I2cSmbusError::I2c)?;
        let n = usize::from(count[0]);
        if n == 0 || n > BLOCK_MAX || n > buf.len() {
            return Err(I2cSmbusError::BadBlockLength);
        }
        let mut frame = [0u8; BLOCK_MAX + 1];
        self.command_read(address, command, &mut frame[..=n])?;
        if usize::from(frame[0]) != n {
            // The device changed its mind between the two reads.
            return Err(I2cSmbusError::BadBlockLength);
        }
        buf[..n].copy_from_slice(&frame[1..=n]);
        Ok(n)
    }

    fn read_i2c_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<(), Self::Error> {
        if buf.is_empty() || buf.len() > BLOCK_MAX {
            return Err(I2cSmbusError::BadBlockLength);
        }
        Self::check(address)?;
        // An I2C block read is a plain I2C transfer: no PEC even when PEC is on for the
        // address, as Linux's SMBus emulation leaves I2C_SMBUS_I2C_BLOCK_DATA out of PEC.
        self.i2c
            .write_read(address, &[command], buf)
            .map_err(I2cSmbusError::I2c)
    }

    fn send_byte(&mut self, address: u8, value: u8) -> Result<(), Self::Error> {
        Self::check(address)?;
        if self.pec_on(address) {
            let crc = pec(&[write_addr(address), value]);
            self.i2c
                .write(address, &[value, crc])
                .map_err(I2cSmbusError::I2c)
        } else {
            self.i2c
                .write(address, &[value])
                .map_err(I2cSmbusError::I2c)
        }
    }

    fn receive_byte(&mut self, address: u8) -> Result<u8, Self::Error> {
        Self::check(address)?;
        let with_pec = self.pec_on(address);
        let mut b = [0u8; 2];
        let len = 1 + usize::from(with_pec);
        self.i2c
            .transaction(address, &mut [Operation::Read(&mut b[..len])])
            .map_err(I2cSmbusError::I2c)?;
        if with_pec && pec(&[read_addr(address), b[0]]) != b[1] {
            return Err(I2cSmbusError::PecMismatch);
        }
        Ok(b[0])
    }

    fn set_pec(&mut self, address: u8, enabled: bool) -> Result<(), Self::Error> {
        Self::check(address)?;
        if enabled {
            self.pec |= 1u128 << address;
        } else {
            self.pec &= !(1u128 << address);
        }
        Ok(())
    }
}

/// An error from [`ReadOnly`]: the inner bus's error, or a refused write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadOnlyError<E> {
    /// The inner bus failed.
    Bus(E),
    /// A write was attempted through the read-only handle; nothing reached the bus.
    WriteRefused,
}

impl<E: Error> Error for ReadOnlyError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Bus(e) => e.kind(),
            Self::WriteRefused => ErrorKind::WriteRefused,
        }
    }
}

impl<E: fmt::Debug> fmt::Display for ReadOnlyError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bus(e) => write!(f, "bus error: {e:?}"),
            Self::WriteRefused => f.write_str(ErrorKind::WriteRefused.as_str()),
        }
    }
}

impl<E: fmt::Debug> core::error::Error for ReadOnlyError<E> {}

/// A bus handle that refuses every write: byte/word writes and send-byte return
/// [`ErrorKind::WriteRefused`] without touching the bus.
///
/// Sensors whose job is only to be read (DIMM sensors, SPD EEPROMs) are given a
/// `ReadOnly` bus, so no bug in a driver can write an EEPROM byte. PEC can still be
/// switched: it changes how reads are checked, not the device.
#[derive(Debug)]
pub struct ReadOnly<B>(B);

impl<B: Smbus> ReadOnly<B> {
    /// Wraps a bus.
    pub const fn new(bus: B) -> Self {
        Self(bus)
    }
    /// Gives the bus back.
    pub fn release(self) -> B {
        self.0
    }
}

impl<B: Smbus> ErrorType for ReadOnly<B> {
    type Error = ReadOnlyError<B::Error>;
}

impl<B: Smbus> Smbus for ReadOnly<B> {
    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
            & !(Capabilities::WRITE_BYTE
                | Capabilities::WRITE_BYTE_DATA
                | Capabilities::WRITE_WORD_DATA
                | Capabilities::WRITE_BLOCK_DATA
                | Capabilities::WRITE_I2C_BLOCK
                | Capabilities::PROC_CALL
                | Capabilities::QUICK)
    }
    fn read_byte_data(&mut self, a: u8, c: u8) -> Result<u8, Self::Error> {
        self.0.read_byte_data(a, c).map_err(ReadOnlyError::Bus)
    }
    fn write_byte_data(&mut self, _: u8, _: u8, _: u8) -> Result<(), Self::Error> {
        Err(ReadOnlyError::WriteRefused)
    }
    fn read_word_data(&mut self, a: u8, c: u8) -> Result<u16, Self::Error> {
        self.0.read_word_data(a, c).map_err(ReadOnlyError::Bus)
    }
    fn write_word_data(&mut self, _: u8, _: u8, _: u16) -> Result<(), Self::Error> {
        Err(ReadOnlyError::WriteRefused)
    }
    fn read_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<usize, Self::Error> {
        self.0.read_block_data(a, c, b).map_err(ReadOnlyError::Bus)
    }
    fn read_i2c_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<(), Self::Error> {
        self.0
            .read_i2c_block_data(a, c, b)
            .map_err(ReadOnlyError::Bus)
    }
    fn send_byte(&mut self, _: u8, _: u8) -> Result<(), Self::Error> {
        Err(ReadOnlyError::WriteRefused)
    }
    fn receive_byte(&mut self, a: u8) -> Result<u8, Self::Error> {
        self.0.receive_byte(a).map_err(ReadOnlyError::Bus)
    }
    fn set_pec(&mut self, a: u8, e: bool) -> Result<(), Self::Error> {
        self.0.set_pec(a, e).map_err(ReadOnlyError::Bus)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use embedded_hal::i2c::{ErrorKind as I2cErrorKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction};
    use std::string::ToString;
    use std::vec;
    use std::vec::Vec;

    const A: u8 = 0x2C;

    /// CRC-8, polynomial 0x07, bit by bit: an oracle independent of `smbus_pec`.
    fn crc8(bytes: &[u8]) -> u8 {
        let mut crc = 0u8;
        for &b in bytes {
            crc ^= b;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x07
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    fn nak() -> I2cErrorKind {
        I2cErrorKind::NoAcknowledge(NoAcknowledgeSource::Address)
    }

    #[test]
    fn pec_is_crc8_smbus() {
        // CRC-8/SMBUS check value.
        assert_eq!(pec(b"123456789"), 0xF4);
        let frame = [A << 1, 0x10, (A << 1) | 1, 0x12, 0x34];
        assert_eq!(pec(&frame), crc8(&frame));
        // Continuing a PEC over more bytes equals the PEC of the whole frame.
        assert_eq!(pec_extend(pec(&frame[..2]), &frame[2..]), crc8(&frame));
    }

    #[test]
    fn byte_and_word_reads_are_command_then_read() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x05], vec![0xAB]),
            Transaction::write_read(A, vec![0x06], vec![0x34, 0x12]),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        assert_eq!(bus.read_byte_data(A, 0x05).unwrap(), 0xAB);
        // The first byte on the wire is the low byte.
        assert_eq!(bus.read_word_data(A, 0x06).unwrap(), 0x1234);
        i2c.done();
    }

    #[test]
    fn byte_and_word_writes_are_one_write_low_byte_first() {
        let mut i2c = Mock::new(&[
            Transaction::write(A, vec![0x01, 0x5A]),
            Transaction::write(A, vec![0x02, 0x34, 0x12]),
            Transaction::write(A, vec![0x03]),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        bus.write_byte_data(A, 0x01, 0x5A).unwrap();
        bus.write_word_data(A, 0x02, 0x1234).unwrap();
        bus.send_byte(A, 0x03).unwrap();
        i2c.done();
    }

    #[test]
    fn receive_byte_is_a_bare_read() {
        let mut i2c = Mock::new(&[
            Transaction::transaction_start(A),
            Transaction::read(A, vec![0x42]),
            Transaction::transaction_end(A),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        assert_eq!(bus.receive_byte(A).unwrap(), 0x42);
        i2c.done();
    }

    #[test]
    fn block_read_reads_the_count_then_count_and_data() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x9A], vec![3]),
            Transaction::write_read(A, vec![0x9A], vec![3, 0x10, 0x20, 0x30]),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        let mut buf = [0u8; BLOCK_MAX];
        assert_eq!(bus.read_block_data(A, 0x9A, &mut buf).unwrap(), 3);
        assert_eq!(&buf[..4], &[0x10, 0x20, 0x30, 0x00]);
        i2c.done();
    }

    #[test]
    fn a_32_byte_block_is_the_largest_accepted() {
        let data: Vec<u8> = (1..=32).collect();
        let mut second = vec![32u8];
        second.extend_from_slice(&data);
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x9A], vec![32]),
            Transaction::write_read(A, vec![0x9A], second),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        let mut buf = [0u8; BLOCK_MAX];
        assert_eq!(bus.read_block_data(A, 0x9A, &mut buf).unwrap(), 32);
        assert_eq!(&buf[..], &data[..]);
        i2c.done();
    }

    #[test]
    fn block_counts_of_0_above_32_or_above_the_buffer_are_bad_lengths() {
        for (count, buf_len) in [(0u8, 32usize), (33, 64), (255, 64), (5, 4)] {
            let mut i2c = Mock::new(&[Transaction::write_read(A, vec![0x9A], vec![count])]);
            let mut bus = I2cSmbus::new(&mut i2c);
            let mut buf = vec![0u8; buf_len];
            let e = bus.read_block_data(A, 0x9A, &mut buf).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::BadBlockLength, "count {count}");
            i2c.done();
        }
    }

    #[test]
    fn a_block_whose_count_changes_between_reads_is_a_bad_length() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x9A], vec![2]),
            Transaction::write_read(A, vec![0x9A], vec![1, 0x10, 0x20]),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        let mut buf = [0u8; 8];
        let e = bus.read_block_data(A, 0x9A, &mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadBlockLength);
        i2c.done();
    }

    #[test]
    fn i2c_block_reads_need_1_to_32_bytes() {
        let mut i2c = Mock::new(&[Transaction::write_read(A, vec![0x80], vec![1, 2, 3])]);
        let mut bus = I2cSmbus::new(&mut i2c);
        let mut buf = [0u8; 3];
        bus.read_i2c_block_data(A, 0x80, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3]);
        let e = bus.read_i2c_block_data(A, 0x80, &mut []).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadBlockLength);
        let e = bus
            .read_i2c_block_data(A, 0x80, &mut [0u8; 33])
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadBlockLength);
        i2c.done();
    }

    #[test]
    fn pec_is_appended_to_writes() {
        let w = A << 1;
        let mut i2c = Mock::new(&[
            Transaction::write(A, vec![0x01, 0x5A, crc8(&[w, 0x01, 0x5A])]),
            Transaction::write(A, vec![0x02, 0x34, 0x12, crc8(&[w, 0x02, 0x34, 0x12])]),
            Transaction::write(A, vec![0x03, crc8(&[w, 0x03])]),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        bus.set_pec(A, true).unwrap();
        bus.write_byte_data(A, 0x01, 0x5A).unwrap();
        bus.write_word_data(A, 0x02, 0x1234).unwrap();
        bus.send_byte(A, 0x03).unwrap();
        i2c.done();
    }

    #[test]
    fn a_good_pec_on_a_read_passes() {
        let (w, r) = (A << 1, (A << 1) | 1);
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x05], vec![0xAB, crc8(&[w, 0x05, r, 0xAB])]),
            Transaction::write_read(
                A,
                vec![0x06],
                vec![0x34, 0x12, crc8(&[w, 0x06, r, 0x34, 0x12])],
            ),
            Transaction::transaction_start(A),
            Transaction::read(A, vec![0x42, crc8(&[r, 0x42])]),
            Transaction::transaction_end(A),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        bus.set_pec(A, true).unwrap();
        assert_eq!(bus.read_byte_data(A, 0x05).unwrap(), 0xAB);
        assert_eq!(bus.read_word_data(A, 0x06).unwrap(), 0x1234);
        assert_eq!(bus.receive_byte(A).unwrap(), 0x42);
        i2c.done();
    }

    #[test]
    fn a_good_pec_on_a_block_read_covers_the_count() {
        let (w, r) = (A << 1, (A << 1) | 1);
        let pec = crc8(&[w, 0x9A, r, 2, 0x10, 0x20]);
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x9A], vec![2]),
            Transaction::write_read(A, vec![0x9A], vec![2, 0x10, 0x20, pec]),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        bus.set_pec(A, true).unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(bus.read_block_data(A, 0x9A, &mut buf).unwrap(), 2);
        assert_eq!(buf, [0x10, 0x20]);
        i2c.done();
    }

    #[test]
    fn a_bad_pec_is_a_pec_mismatch_not_a_nak() {
        let (w, r) = (A << 1, (A << 1) | 1);
        let good = crc8(&[w, 0x05, r, 0xAB]);
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x05], vec![0xAB, good ^ 0x01]),
            Transaction::write_read(A, vec![0x05], vec![0xAB, good]).with_error(nak()),
            Transaction::transaction_start(A),
            Transaction::read(A, vec![0x42, crc8(&[r, 0x42]) ^ 0x80]),
            Transaction::transaction_end(A),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        bus.set_pec(A, true).unwrap();
        let e = bus.read_byte_data(A, 0x05).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PecMismatch);
        let e = bus.read_byte_data(A, 0x05).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoAcknowledge);
        let e = bus.receive_byte(A).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PecMismatch);
        i2c.done();
    }

    #[test]
    fn i2c_block_reads_never_carry_a_pec() {
        // Linux's SMBus emulation leaves I2C block transfers out of PEC
        // (`size != I2C_SMBUS_I2C_BLOCK_DATA` in i2c-core-smbus.c): they are plain I2C
        // reads and the device appends nothing. With PEC on for the address, the host must
        // still clock exactly the requested bytes and check no PEC.
        let mut i2c = Mock::new(&[Transaction::write_read(A, vec![0x80], vec![1, 2, 3])]);
        let mut bus = I2cSmbus::new(&mut i2c);
        bus.set_pec(A, true).unwrap();
        let mut buf = [0u8; 3];
        bus.read_i2c_block_data(A, 0x80, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3]);
        i2c.done();
    }

    #[test]
    fn pec_is_per_address_and_can_be_turned_off() {
        let other = 0x2D;
        let mut i2c = Mock::new(&[
            Transaction::write_read(other, vec![0x05], vec![0xAB]),
            Transaction::write_read(A, vec![0x05], vec![0xAB]),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        bus.set_pec(A, true).unwrap();
        assert_eq!(bus.read_byte_data(other, 0x05).unwrap(), 0xAB);
        bus.set_pec(A, false).unwrap();
        assert_eq!(bus.read_byte_data(A, 0x05).unwrap(), 0xAB);
        i2c.done();
    }

    #[test]
    fn bus_errors_keep_their_kind() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(A, vec![0x05], vec![0]).with_error(nak()),
            Transaction::write(A, vec![0x01, 0x02]).with_error(I2cErrorKind::ArbitrationLoss),
            Transaction::write_read(A, vec![0x9A], vec![0]).with_error(I2cErrorKind::Bus),
        ]);
        let mut bus = I2cSmbus::new(&mut i2c);
        let e = bus.read_byte_data(A, 0x05).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoAcknowledge);
        let e = bus.write_byte_data(A, 0x01, 0x02).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Bus);
        let e = bus.read_block_data(A, 0x9A, &mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Bus);
        i2c.done();
    }

    #[test]
    fn addresses_above_0x7f_never_reach_the_bus() {
        let mut i2c = Mock::new(&[]);
        let mut bus = I2cSmbus::new(&mut i2c);
        for a in [0x80u8, 0xFF] {
            assert_eq!(
                bus.read_byte_data(a, 0).unwrap_err(),
                I2cSmbusError::BadAddress
            );
            assert_eq!(
                bus.write_word_data(a, 0, 0).unwrap_err(),
                I2cSmbusError::BadAddress
            );
            assert_eq!(bus.send_byte(a, 0).unwrap_err(), I2cSmbusError::BadAddress);
            assert_eq!(bus.receive_byte(a).unwrap_err(), I2cSmbusError::BadAddress);
            assert_eq!(bus.set_pec(a, true).unwrap_err(), I2cSmbusError::BadAddress);
            let e = bus.read_block_data(a, 0, &mut [0u8; 4]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Other);
        }
        i2c.done();
    }

    #[test]
    fn a_bad_address_error_says_to_pass_the_7_bit_form() {
        let e: I2cSmbusError<I2cErrorKind> = I2cSmbusError::BadAddress;
        assert!(e.to_string().contains("shifted right"), "{e}");
    }

    #[test]
    fn read_only_refuses_every_write_and_nothing_reaches_the_bus() {
        let mut i2c = Mock::new(&[]);
        let mut bus = ReadOnly::new(I2cSmbus::new(&mut i2c));
        let e = bus.write_byte_data(0x50, 0x0B, 0x00).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WriteRefused);
        let e = bus.write_word_data(0x50, 0x1C, 0x0550).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WriteRefused);
        let e = bus.send_byte(0x50, 0x03).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WriteRefused);
        // An empty expectation list: any transfer above would have failed the mock.
        i2c.done();
    }

    #[test]
    fn read_only_passes_reads_and_their_errors_through() {
        let mut i2c = Mock::new(&[
            Transaction::write_read(0x50, vec![0x31], vec![0x98, 0x01]),
            Transaction::write_read(0x50, vec![0x33], vec![0]).with_error(nak()),
        ]);
        let mut bus = ReadOnly::new(I2cSmbus::new(&mut i2c));
        assert_eq!(bus.read_word_data(0x50, 0x31).unwrap(), 0x0198);
        let e = bus.read_byte_data(0x50, 0x33).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoAcknowledge);
        i2c.done();
    }

    #[test]
    fn read_only_does_not_advertise_writes() {
        let mut i2c = Mock::new(&[]);
        let bus = ReadOnly::new(I2cSmbus::new(&mut i2c));
        let caps = bus.capabilities();
        assert!(caps.contains(Capabilities::READ_BYTE_DATA | Capabilities::READ_WORD_DATA));
        assert!(!caps.intersects(
            Capabilities::WRITE_BYTE
                | Capabilities::WRITE_BYTE_DATA
                | Capabilities::WRITE_WORD_DATA
                | Capabilities::WRITE_BLOCK_DATA
                | Capabilities::WRITE_I2C_BLOCK
        ));
        i2c.done();
    }
}
