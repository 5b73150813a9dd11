//! Model-specific registers: the [`MsrReader`] trait, register maps and pure decoders.
//!
//! ## For port authors
//!
//! [`MsrReader::read_msr`] reads one 64-bit MSR on one logical CPU. The Linux binding
//! does it with `pread` on `/dev/cpu/N/msr` (offset = MSR index), the simulator from its
//! model, and ring-0 code with the raw RDMSR instruction (feature `x86-rdmsr`).
//! Map "this CPU does not implement that MSR" (#GP, EIO on Linux) to
//! [`ErrorKind::Unsupported`]: callers use it to fall back (e.g. no RAPL ⇒ no power).
//!
//! ## What is *not* here
//!
//! AMD CPU temperature is not an MSR (HARDWARE.md §6, "Where common write-ups are wrong"
//! 1): 0xC0010299 is the RAPL unit register. Read Tctl from k10temp's hwmon files, or
//! from SB-TSI, or decode an SMN value with [`crate::amd_tctl`]. AMD has no SMI-count
//! MSR (HARDWARE.md §8): count the core PMU event `ls_smi_rx` instead.

use core::fmt;

/// Why an MSR could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The CPU does not implement this MSR (#GP on RDMSR; EIO from `/dev/cpu/N/msr`).
    Unsupported,
    /// No such logical CPU, or it is offline.
    NoSuchCpu,
    /// The MSR device is not there (Linux: the `msr` module is not loaded).
    DeviceMissing,
    /// Access refused (Linux: needs root or CAP_SYS_RAWIO).
    PermissionDenied,
    /// The read returned fewer than 8 bytes, or another I/O failure.
    Io,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// Short description, the same text as `Display`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unsupported => "MSR not implemented by this CPU",
            Self::NoSuchCpu => "no such CPU, or CPU offline",
            Self::DeviceMissing => "MSR device missing",
            Self::PermissionDenied => "permission denied reading MSR",
            Self::Io => "I/O error reading MSR",
            Self::Other => "other MSR error",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An MSR error a caller can branch on.
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

/// Reads one 64-bit model-specific register on one logical CPU.
pub trait MsrReader {
    /// Error of every read.
    type Error: Error;

    /// Reads MSR `msr` on logical CPU `cpu`.
    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, Self::Error>;
}

impl<T: MsrReader + ?Sized> MsrReader for &mut T {
    type Error = T::Error;
    #[inline]
    fn read_msr(&mut self, cpu: u32, msr: u32) -> Result<u64, Self::Error> {
        T::read_msr(self, cpu, msr)
    }
}

pub mod amd;
pub mod aperf;
pub mod energy;
pub mod intel;
// Gated on the target too, so a non-x86 build with the feature stops at the crate's one
// `compile_error!` instead of also failing on the missing `x86` dependency.
#[cfg(all(
    feature = "x86-rdmsr",
    any(target_arch = "x86", target_arch = "x86_64")
))]
pub mod x86;

pub use aperf::AperfMperf;
pub use energy::{EnergyAccumulator, RaplUnits};
pub use intel::{SmiCounter, ThermStatus};

use crate::decode::DecodeError;

/// Error of the convenience readers in this module's submodules
/// ([`amd::read_amd_package_energy`] and friends): the reader's own error, kept whole, or
/// a value the reader returned that cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadError<E> {
    /// Reading MSR `msr` on logical CPU `cpu` failed with the reader's `error`.
    Msr {
        /// The logical CPU asked for.
        cpu: u32,
        /// The MSR index asked for.
        msr: u32,
        /// The reader's error.
        error: E,
    },
    /// The MSR was read but its value cannot be decoded.
    Decode(DecodeError),
}

/// What kind of [`ReadError`], for callers to branch on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ReadErrorKind {
    /// Reading failed, with the reader's kind (e.g. [`ErrorKind::Unsupported`]: fall back).
    Msr(ErrorKind),
    /// The value could not be decoded.
    Decode(DecodeError),
}

impl<E: Error> ReadError<E> {
    /// The kind of this error.
    pub fn kind(&self) -> ReadErrorKind {
        match self {
            Self::Msr { error, .. } => ReadErrorKind::Msr(error.kind()),
            Self::Decode(d) => ReadErrorKind::Decode(*d),
        }
    }
}

impl<E> From<DecodeError> for ReadError<E> {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl<E: Error> fmt::Display for ReadError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Msr { cpu, msr, error } => match error.kind() {
                ErrorKind::Unsupported => write!(
                    f,
                    "CPU {cpu} does not implement MSR {msr:#x}: this reading is not available on this CPU model (check the vendor and family before reading it)"
                ),
                ErrorKind::NoSuchCpu => write!(f, "CPU {cpu} does not exist or is offline"),
                ErrorKind::DeviceMissing => write!(
                    f,
                    "the MSR device for CPU {cpu} is missing: on Linux run `modprobe msr`"
                ),
                ErrorKind::PermissionDenied => write!(
                    f,
                    "permission denied reading MSR {msr:#x} on CPU {cpu}: run as root or grant CAP_SYS_RAWIO"
                ),
                kind => write!(
                    f,
                    "reading MSR {msr:#x} on CPU {cpu} failed: {kind} ({error:?})"
                ),
            },
            Self::Decode(d) => write!(f, "the MSR value cannot be decoded: {d}"),
        }
    }
}

impl<E: Error> core::error::Error for ReadError<E> {}

/// Reads one MSR, wrapping the reader's error.
fn read<R: MsrReader>(r: &mut R, cpu: u32, msr: u32) -> Result<u64, ReadError<R::Error>> {
    r.read_msr(cpu, msr)
        .map_err(|error| ReadError::Msr { cpu, msr, error })
}
