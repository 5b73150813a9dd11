//! `/dev/i2c-N`: the Linux [`Smbus`] (SMBus-only adapters too) and `embedded_hal::i2c::I2c`.
//!
//! ## One handle per (bus, address)
//!
//! [`I2cDevice`] opens `/dev/i2c-N` once, asks the adapter what it can do (`I2C_FUNCS`,
//! ioctl 0x0705) and sets the target address once (`I2C_SLAVE`, 0x0703). After that every
//! SMBus transaction is exactly one `I2C_SMBUS` ioctl (0x0720) on a stack buffer: no
//! reopen, no address change, no allocation. [`I2cBus`] keeps one such handle per address
//! for drivers that take a bus and an address per call.
//!
//! ## Why the native SMBus ioctl, and when raw I2C
//!
//! AMD's FCH SMBus controller (`i2c-piix4`, functionality 0x037F0000) and QEMU's `i2c-stub`
//! perform SMBus transfers only: `I2C_RDWR` fails there with EOPNOTSUPP (HARDWARE.md §10).
//! So [`Smbus`] is implemented with `I2C_SMBUS`, and an operation the adapter does not
//! advertise (PEC, I2C block reads, raw I2C) is refused *before* any syscall, with an error
//! naming the adapter and the missing `I2C_FUNC_*` bit.
//!
//! `embedded_hal::i2c::I2c` is implemented by mapping transaction shapes onto SMBus calls
//! (`[write [cmd], read 1]` → read byte data, `[write [cmd], read 2]` → read word data,
//! `[write [cmd, v]]` → write byte data, …). Only a shape with no SMBus equivalent, on an
//! adapter that really reports `I2C_FUNC_I2C`, goes through linux-embedded-hal 0.5's
//! `I2cdev` (`I2C_RDWR`). It is kept for that case only because it allocates a `Vec` per
//! transaction and reopens the device whenever the address changes (DESIGN.md, "Linux
//! notes"); here it is opened once per handle, for the handle's one address.
//!
//! ## Addresses owned by kernel drivers
//!
//! `I2C_SLAVE` fails with EBUSY when a kernel driver is bound at that address (HARDWARE.md
//! §10). The error then names the driver, read from
//! `/sys/bus/i2c/devices/<bus>-00<addr>/driver`: "0x18 on i2c-3 is claimed by kernel driver
//! jc42: read it through hwmon instead". Forcing (`I2C_SLAVE_FORCE`) bypasses the kernel's
//! guard and can desynchronise the driver's cached state (HARDWARE.md, "Where common
//! write-ups are wrong" 17), so it is an explicit opt-in ([`I2cOpen::force_claimed`]) that
//! logs a warning.
//!
//! ## Errors
//!
//! NAK arrives as ENXIO, EREMOTEIO or ENODEV depending on the adapter: all three are
//! [`ErrorKind::NoAcknowledge`]. EBADMSG is a PEC mismatch, ETIMEDOUT a timeout,
//! EOPNOTSUPP unsupported. The syscalls sit behind [`I2cSys`] so that tests drive the
//! operation mapping and the error mapping against a fake, and count ioctls.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use embedded_hal::i2c::Operation;
use sovereign_hal::smbus::{self, BLOCK_MAX, Capabilities, ErrorKind, Smbus};

/// Default root of device nodes.
pub const DEFAULT_DEV_ROOT: &str = "/dev";
/// Default root of sysfs.
pub const DEFAULT_SYSFS_ROOT: &str = "/sys";

// ioctl request numbers, HARDWARE.md §10 (include/uapi/linux/i2c-dev.h).
const I2C_SLAVE: u32 = 0x0703;
const I2C_FUNCS: u32 = 0x0705;
const I2C_SLAVE_FORCE: u32 = 0x0706;
const I2C_PEC: u32 = 0x0708;
const I2C_SMBUS: u32 = 0x0720;

/// `read_write` of an `I2C_SMBUS` request: HARDWARE.md §10, READ = 1, WRITE = 0.
pub const SMBUS_READ: u8 = 1;
/// See [`SMBUS_READ`].
pub const SMBUS_WRITE: u8 = 0;

/// Transfer sizes of an `I2C_SMBUS` request (HARDWARE.md §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum SmbusSize {
    /// Quick command (the R/W bit is the data).
    Quick = 0,
    /// Send/receive byte.
    Byte = 1,
    /// Byte data.
    ByteData = 2,
    /// Word data.
    WordData = 3,
    /// SMBus block (count from the device).
    BlockData = 5,
    /// I2C block (count chosen by the host).
    I2cBlockData = 8,
}

/// The kernel's `union i2c_smbus_data`: a byte, a native-endian word, or a block whose
/// byte 0 is the length (at most 32) — 34 bytes, aligned for the word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C, align(2))]
pub struct SmbusData {
    /// The raw bytes; `block[0]` is the byte, `block[0..2]` the word, `block[0]` the block length.
    pub block: [u8; BLOCK_MAX + 2],
}

impl SmbusData {
    const fn zeroed() -> Self {
        Self {
            block: [0; BLOCK_MAX + 2],
        }
    }
    fn word(&self) -> u16 {
        // HARDWARE.md §10: data.word = first byte on the wire | second byte << 8, held as a
        // native u16 in the union.
        u16::from_ne_bytes([self.block[0], self.block[1]])
    }
    fn set_word(&mut self, w: u16) {
        let b = w.to_ne_bytes();
        self.block[0] = b[0];
        self.block[1] = b[1];
    }
}

/// The syscall layer under [`I2cDevice`]: open, `I2C_FUNCS`, `I2C_SLAVE[_FORCE]`,
/// `I2C_PEC` and `I2C_SMBUS`. Real code uses [`RealI2cSys`]; tests use a fake that models
/// devices, injects errno values and counts ioctls.
pub trait I2cSys {
    /// An open `/dev/i2c-N`.
    type Fd;
    /// Opens the adapter's device node read-write.
    fn open(&mut self, path: &Path) -> io::Result<Self::Fd>;
    /// `I2C_FUNCS`: the adapter's functionality bits.
    fn functionality(&mut self, fd: &Self::Fd) -> io::Result<u64>;
    /// `I2C_SLAVE` (or `I2C_SLAVE_FORCE` when `force`).
    fn set_address(&mut self, fd: &Self::Fd, address: u16, force: bool) -> io::Result<()>;
    /// `I2C_PEC`.
    fn set_pec(&mut self, fd: &Self::Fd, enabled: bool) -> io::Result<()>;
    /// One `I2C_SMBUS` transfer.
    fn smbus(
        &mut self,
        fd: &Self::Fd,
        read_write: u8,
        command: u8,
        size: SmbusSize,
        data: &mut SmbusData,
    ) -> io::Result<()>;
}

/// The real syscalls (`open(2)`, `ioctl(2)`).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealI2cSys;

/// `struct i2c_smbus_ioctl_data` (include/uapi/linux/i2c-dev.h).
#[repr(C)]
struct SmbusIoctlData {
    read_write: u8,
    command: u8,
    size: u32,
    data: *mut SmbusData,
}

fn ioctl_result(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl I2cSys for RealI2cSys {
    type Fd = File;

    fn open(&mut self, path: &Path) -> io::Result<File> {
        OpenOptions::new().read(true).write(true).open(path)
    }

    fn functionality(&mut self, fd: &File) -> io::Result<u64> {
        let mut funcs: libc::c_ulong = 0;
        // SAFETY: I2C_FUNCS writes one `unsigned long` through the pointer, which points to
        // a live local of that type; the fd is open for the duration of the call.
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                I2C_FUNCS as _,
                &mut funcs as *mut libc::c_ulong,
            )
        };
        // `unsigned long` is 32 bits on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        ioctl_result(rc).map(|()| u64::from(funcs))
    }

    fn set_address(&mut self, fd: &File, address: u16, force: bool) -> io::Result<()> {
        let request = if force { I2C_SLAVE_FORCE } else { I2C_SLAVE };
        // SAFETY: I2C_SLAVE/I2C_SLAVE_FORCE take the address by value and touch no memory.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, libc::c_ulong::from(address)) };
        ioctl_result(rc)
    }

    fn set_pec(&mut self, fd: &File, enabled: bool) -> io::Result<()> {
        // SAFETY: I2C_PEC takes a flag by value and touches no memory.
        let rc = unsafe { libc::ioctl(fd.as_raw_fd(), I2C_PEC as _, libc::c_ulong::from(enabled)) };
        ioctl_result(rc)
    }

    fn smbus(
        &mut self,
        fd: &File,
        read_write: u8,
        command: u8,
        size: SmbusSize,
        data: &mut SmbusData,
    ) -> io::Result<()> {
        let mut request = SmbusIoctlData {
            read_write,
            command,
            size: size as u32,
            data,
        };
        // SAFETY: the request points to `data`, a live 34-byte buffer with the layout of
        // `union i2c_smbus_data`, which the kernel reads or writes (at most 34 bytes) only
        // during this call; the request struct has the kernel's layout (repr(C)).
        let rc = unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                I2C_SMBUS as _,
                &mut request as *mut SmbusIoctlData,
            )
        };
        ioctl_result(rc)
    }
}

/// The `I2C_FUNC_*` name of a capability, for error messages (HARDWARE.md §10).
pub fn capability_name(cap: Capabilities) -> &'static str {
    const NAMES: [(Capabilities, &str); 14] = [
        (Capabilities::I2C, "I2C_FUNC_I2C"),
        (Capabilities::PEC, "I2C_FUNC_SMBUS_PEC"),
        (Capabilities::QUICK, "I2C_FUNC_SMBUS_QUICK"),
        (Capabilities::READ_BYTE, "I2C_FUNC_SMBUS_READ_BYTE"),
        (Capabilities::WRITE_BYTE, "I2C_FUNC_SMBUS_WRITE_BYTE"),
        (
            Capabilities::READ_BYTE_DATA,
            "I2C_FUNC_SMBUS_READ_BYTE_DATA",
        ),
        (
            Capabilities::WRITE_BYTE_DATA,
            "I2C_FUNC_SMBUS_WRITE_BYTE_DATA",
        ),
        (
            Capabilities::READ_WORD_DATA,
            "I2C_FUNC_SMBUS_READ_WORD_DATA",
        ),
        (
            Capabilities::WRITE_WORD_DATA,
            "I2C_FUNC_SMBUS_WRITE_WORD_DATA",
        ),
        (Capabilities::PROC_CALL, "I2C_FUNC_SMBUS_PROC_CALL"),
        (
            Capabilities::READ_BLOCK_DATA,
            "I2C_FUNC_SMBUS_READ_BLOCK_DATA",
        ),
        (
            Capabilities::WRITE_BLOCK_DATA,
            "I2C_FUNC_SMBUS_WRITE_BLOCK_DATA",
        ),
        (
            Capabilities::READ_I2C_BLOCK,
            "I2C_FUNC_SMBUS_READ_I2C_BLOCK",
        ),
        (
            Capabilities::WRITE_I2C_BLOCK,
            "I2C_FUNC_SMBUS_WRITE_I2C_BLOCK",
        ),
    ];
    NAMES
        .iter()
        .find(|(c, _)| *c == cap)
        .map_or("an I2C_FUNC bit", |(_, n)| n)
}

/// Maps an errno from an I2C transfer to what a caller can branch on.
pub fn kind_of_errno(errno: i32) -> ErrorKind {
    match errno {
        // NAK: the kernel's adapters report it as ENXIO, EREMOTEIO or ENODEV.
        libc::ENXIO | libc::EREMOTEIO | libc::ENODEV => ErrorKind::NoAcknowledge,
        // HARDWARE.md §5/§10: bad PEC in the emulated path is EBADMSG.
        libc::EBADMSG => ErrorKind::PecMismatch,
        libc::ETIMEDOUT => ErrorKind::Timeout,
        // HARDWARE.md §10: I2C_RDWR on an SMBus-only adapter is EOPNOTSUPP.
        libc::EOPNOTSUPP => ErrorKind::Unsupported,
        libc::EBUSY | libc::EAGAIN | libc::EIO | libc::EPROTO => ErrorKind::Bus,
        libc::EACCES | libc::EPERM => ErrorKind::PermissionDenied,
        // The adapter was suspended or removed under the open file.
        libc::ESHUTDOWN => ErrorKind::Gone,
        _ => ErrorKind::Other,
    }
}

/// What went wrong, in more detail than [`ErrorKind`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum I2cErrorDetail {
    /// `/dev/i2c-N` does not exist.
    DeviceMissing,
    /// Opening `/dev/i2c-N` was refused.
    Permission,
    /// A kernel driver is bound at the address (EBUSY at `I2C_SLAVE`).
    Claimed {
        /// The bound driver's name from sysfs, if it could be read.
        driver: Option<String>,
    },
    /// The adapter does not advertise what the operation needs.
    MissingCapability {
        /// The operation refused.
        operation: &'static str,
        /// The missing `I2C_FUNC_*` name.
        capability: &'static str,
    },
    /// The handle was used with another address than its own.
    WrongAddress {
        /// The address asked for.
        requested: u8,
    },
    /// An address above 0x7F.
    BadAddress,
    /// An `embedded_hal` transaction with no SMBus equivalent on an SMBus-only adapter.
    UnsupportedShape {
        /// The transaction, e.g. `[write 2, read 4]`.
        shape: String,
    },
    /// A block count of 0, above 32 or above the buffer.
    BadBlockLength {
        /// The count received or asked for.
        count: usize,
    },
    /// A syscall failed.
    Os {
        /// What was being done, e.g. "read word data".
        operation: &'static str,
        /// The register (SMBus command), if any.
        command: Option<u8>,
        /// The errno.
        errno: i32,
    },
    /// The raw-I2C path (linux-embedded-hal) failed.
    Raw {
        /// Its message.
        message: String,
    },
}

/// An SMBus/I2C error: kind, bus, address, adapter and what to do (see `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct I2cError {
    kind: ErrorKind,
    bus: u32,
    address: Option<u8>,
    adapter: Option<String>,
    path: PathBuf,
    detail: I2cErrorDetail,
}

impl I2cError {
    /// The detail behind [`smbus::Error::kind`].
    pub fn detail(&self) -> &I2cErrorDetail {
        &self.detail
    }
    /// The bus number N of `/dev/i2c-N`.
    pub fn bus(&self) -> u32 {
        self.bus
    }
    /// The kernel driver that owns the address, when that is the problem.
    pub fn claimed_by(&self) -> Option<&str> {
        match &self.detail {
            I2cErrorDetail::Claimed { driver } => driver.as_deref(),
            _ => None,
        }
    }
}

impl smbus::Error for I2cError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl embedded_hal::i2c::Error for I2cError {
    fn kind(&self) -> embedded_hal::i2c::ErrorKind {
        use embedded_hal::i2c::{ErrorKind as K, NoAcknowledgeSource};
        match self.kind {
            ErrorKind::NoAcknowledge => K::NoAcknowledge(NoAcknowledgeSource::Unknown),
            ErrorKind::Bus => K::Bus,
            _ => K::Other,
        }
    }
}

impl fmt::Display for I2cError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bus = self.bus;
        let adapter = match &self.adapter {
            Some(name) => format!("i2c-{bus} ({name})"),
            None => format!("i2c-{bus}"),
        };
        let at = match self.address {
            Some(a) => format!("{a:#04x} on {adapter}"),
            None => adapter.clone(),
        };
        let path = self.path.display();
        match &self.detail {
            I2cErrorDetail::DeviceMissing => write!(
                f,
                "{path} is missing: run `modprobe i2c-dev` (and check the bus number with `i2cdetect -l`)"
            ),
            I2cErrorDetail::Permission => {
                write!(
                    f,
                    "permission denied on {path}: needs root or CAP_SYS_RAWIO"
                )
            }
            I2cErrorDetail::Claimed { driver: Some(d) } => {
                write!(
                    f,
                    "{at} is claimed by kernel driver {d}: read it through hwmon instead"
                )
            }
            I2cErrorDetail::Claimed { driver: None } => write!(
                f,
                "{at} is claimed by a kernel driver (EBUSY): read it through hwmon instead"
            ),
            I2cErrorDetail::MissingCapability {
                operation,
                capability,
            } => {
                write!(
                    f,
                    "{adapter} cannot {operation}: the adapter lacks {capability}"
                )
            }
            I2cErrorDetail::WrongAddress { requested } => write!(
                f,
                "this handle is for {at}, not {requested:#04x}: open one handle per address (`I2cBus` does that)"
            ),
            I2cErrorDetail::BadAddress => write!(f, "{at}: not a 7-bit address"),
            I2cErrorDetail::UnsupportedShape { shape } => write!(
                f,
                "{at}: transaction {shape} has no SMBus equivalent and the adapter lacks I2C_FUNC_I2C (SMBus only)"
            ),
            I2cErrorDetail::BadBlockLength { count } => {
                write!(
                    f,
                    "{at}: invalid SMBus block length {count} (must be 1..=32 and fit the buffer)"
                )
            }
            I2cErrorDetail::Os {
                operation,
                command,
                errno,
            } => {
                let err = io::Error::from_raw_os_error(*errno);
                match command {
                    Some(c) => write!(
                        f,
                        "{operation} of register {c:#04x} at {at}: {} ({err})",
                        self.kind
                    ),
                    None => write!(f, "{operation} at {at}: {} ({err})", self.kind),
                }
            }
            I2cErrorDetail::Raw { message } => write!(f, "raw I2C transfer at {at}: {message}"),
        }
    }
}

impl std::error::Error for I2cError {}

/// How to open handles: device and sysfs roots, and whether to force claimed addresses.
#[derive(Debug, Clone)]
pub struct I2cOpen {
    dev_root: PathBuf,
    sysfs_root: PathBuf,
    force: bool,
}

impl Default for I2cOpen {
    fn default() -> Self {
        Self::new()
    }
}

impl I2cOpen {
    /// `/dev` and `/sys`, no forcing.
    pub fn new() -> Self {
        Self {
            dev_root: DEFAULT_DEV_ROOT.into(),
            sysfs_root: DEFAULT_SYSFS_ROOT.into(),
            force: false,
        }
    }
    /// Another root for `i2c-N` device nodes.
    #[must_use]
    pub fn dev_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.dev_root = root.into();
        self
    }
    /// Another sysfs root (for adapter names and bound drivers).
    #[must_use]
    pub fn sysfs_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.sysfs_root = root.into();
        self
    }
    /// Use `I2C_SLAVE_FORCE` even where a kernel driver owns the address. This bypasses the
    /// kernel's guard: the driver and this handle then race on the device, and a driver
    /// that caches registers (spd5118's page register) can be desynchronised. Logged as a
    /// warning on every open.
    #[must_use]
    pub fn force_claimed(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// The device node of bus `bus`.
    pub fn device_path(&self, bus: u32) -> PathBuf {
        self.dev_root.join(format!("i2c-{bus}"))
    }

    /// The adapter's name from sysfs (`/sys/bus/i2c/devices/i2c-N/name`).
    pub fn adapter_name(&self, bus: u32) -> Option<String> {
        adapter_name(&self.sysfs_root, bus)
    }

    /// The kernel driver bound at `address` on `bus`, from sysfs.
    pub fn bound_driver(&self, bus: u32, address: u8) -> Option<String> {
        bound_driver(&self.sysfs_root, bus, address)
    }

    /// Opens a handle for `address` on `bus` with the real syscalls.
    pub fn open(&self, bus: u32, address: u8) -> Result<I2cDevice, I2cError> {
        self.open_with(RealI2cSys, bus, address)
    }

    /// Opens a handle with a custom syscall layer.
    pub fn open_with<S: I2cSys>(
        &self,
        mut sys: S,
        bus: u32,
        address: u8,
    ) -> Result<I2cDevice<S>, I2cError> {
        let path = self.device_path(bus);
        let adapter = self.adapter_name(bus);
        let err = |kind, address, detail| I2cError {
            kind,
            bus,
            address,
            adapter: adapter.clone(),
            path: path.clone(),
            detail,
        };
        if address > 0x7F {
            return Err(err(
                ErrorKind::Other,
                Some(address),
                I2cErrorDetail::BadAddress,
            ));
        }
        let fd = sys.open(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => err(ErrorKind::Gone, None, I2cErrorDetail::DeviceMissing),
            Some(libc::EACCES | libc::EPERM) => err(
                ErrorKind::PermissionDenied,
                None,
                I2cErrorDetail::Permission,
            ),
            errno => err(
                errno.map_or(ErrorKind::Other, kind_of_errno),
                None,
                I2cErrorDetail::Os {
                    operation: "open",
                    command: None,
                    errno: errno.unwrap_or(0),
                },
            ),
        })?;
        let funcs = sys.functionality(&fd).map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            err(
                kind_of_errno(errno),
                None,
                I2cErrorDetail::Os {
                    operation: "I2C_FUNCS",
                    command: None,
                    errno,
                },
            )
        })?;
        if self.force {
            log::warn!(
                "forcing address {address:#04x} on i2c-{bus} (I2C_SLAVE_FORCE){}: the kernel's ownership check is bypassed",
                self.bound_driver(bus, address)
                    .map(|d| format!(", owned by kernel driver {d}"))
                    .unwrap_or_default()
            );
        }
        sys.set_address(&fd, u16::from(address), self.force)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EBUSY) => err(
                    ErrorKind::Busy,
                    Some(address),
                    I2cErrorDetail::Claimed {
                        driver: self.bound_driver(bus, address),
                    },
                ),
                errno => {
                    let errno = errno.unwrap_or(0);
                    err(
                        kind_of_errno(errno),
                        Some(address),
                        I2cErrorDetail::Os {
                            operation: "I2C_SLAVE",
                            command: None,
                            errno,
                        },
                    )
                }
            })?;
        Ok(I2cDevice {
            sys,
            fd,
            bus,
            address,
            adapter,
            path,
            raw_funcs: funcs,
            caps: Capabilities::from_bits_truncate(u32::try_from(funcs & 0xFFFF_FFFF).unwrap_or(0)),
            forced: self.force,
            raw: None,
        })
    }
}

/// The adapter name under `<sysfs>/bus/i2c/devices/i2c-N/name` (or the class link).
pub fn adapter_name(sysfs_root: &Path, bus: u32) -> Option<String> {
    let candidates = [
        sysfs_root.join(format!("bus/i2c/devices/i2c-{bus}/name")),
        sysfs_root.join(format!("class/i2c-adapter/i2c-{bus}/name")),
    ];
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// The sysfs name of a client: `<bus>-00<addr>` in hex (`3-0018`).
pub fn client_name(bus: u32, address: u8) -> String {
    format!("{bus}-{address:04x}")
}

/// The kernel driver bound at `address` on `bus`: the target name of the
/// `<sysfs>/bus/i2c/devices/<bus>-00<addr>/driver` symlink.
pub fn bound_driver(sysfs_root: &Path, bus: u32, address: u8) -> Option<String> {
    let link = sysfs_root
        .join("bus/i2c/devices")
        .join(client_name(bus, address))
        .join("driver");
    let target = std::fs::read_link(link).ok()?;
    target.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// One SMBus/I2C target: an open `/dev/i2c-N` with its address set once (module docs).
pub struct I2cDevice<S: I2cSys = RealI2cSys> {
    sys: S,
    fd: S::Fd,
    bus: u32,
    address: u8,
    adapter: Option<String>,
    path: PathBuf,
    raw_funcs: u64,
    caps: Capabilities,
    forced: bool,
    raw: Option<linux_embedded_hal::I2cdev>,
}

impl<S: I2cSys> fmt::Debug for I2cDevice<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("I2cDevice")
            .field("bus", &self.bus)
            .field("address", &self.address)
            .field("adapter", &self.adapter)
            .field("functionality", &format_args!("{:#010x}", self.raw_funcs))
            .field("forced", &self.forced)
            .finish_non_exhaustive()
    }
}

impl I2cDevice<RealI2cSys> {
    /// Opens `address` on `/dev/i2c-<bus>` with the defaults of [`I2cOpen::new`].
    pub fn open(bus: u32, address: u8) -> Result<Self, I2cError> {
        I2cOpen::new().open(bus, address)
    }
}

impl<S: I2cSys> I2cDevice<S> {
    /// The bus number.
    pub fn bus(&self) -> u32 {
        self.bus
    }
    /// The 7-bit address.
    pub fn address(&self) -> u8 {
        self.address
    }
    /// The adapter's name, when sysfs gave one.
    pub fn adapter_name(&self) -> Option<&str> {
        self.adapter.as_deref()
    }
    /// The raw `I2C_FUNCS` bits.
    pub fn functionality(&self) -> u64 {
        self.raw_funcs
    }
    /// True when the adapter cannot do raw I2C (e.g. `i2c-piix4`, `i2c-stub`).
    pub fn is_smbus_only(&self) -> bool {
        !self.caps.contains(Capabilities::I2C)
    }
    /// The syscall layer (tests read their counters through it).
    pub fn sys(&self) -> &S {
        &self.sys
    }

    fn error(&self, kind: ErrorKind, detail: I2cErrorDetail) -> I2cError {
        I2cError {
            kind,
            bus: self.bus,
            address: Some(self.address),
            adapter: self.adapter.clone(),
            path: self.path.clone(),
            detail,
        }
    }

    fn check(
        &self,
        address: u8,
        cap: Capabilities,
        operation: &'static str,
    ) -> Result<(), I2cError> {
        if address != self.address {
            let detail = if address > 0x7F {
                I2cErrorDetail::BadAddress
            } else {
                I2cErrorDetail::WrongAddress { requested: address }
            };
            return Err(self.error(ErrorKind::Other, detail));
        }
        if !self.caps.contains(cap) {
            let capability = capability_name(cap);
            return Err(self.error(
                ErrorKind::Unsupported,
                I2cErrorDetail::MissingCapability {
                    operation,
                    capability,
                },
            ));
        }
        Ok(())
    }

    /// One `I2C_SMBUS` ioctl, errno mapped.
    fn transfer(
        &mut self,
        operation: &'static str,
        read_write: u8,
        command: u8,
        size: SmbusSize,
        data: &mut SmbusData,
    ) -> Result<(), I2cError> {
        self.sys
            .smbus(&self.fd, read_write, command, size, data)
            .map_err(|e| {
                let errno = e.raw_os_error().unwrap_or(0);
                let cmd = match size {
                    SmbusSize::Quick | SmbusSize::Byte => None,
                    _ => Some(command),
                };
                self.error(
                    kind_of_errno(errno),
                    I2cErrorDetail::Os {
                        operation,
                        command: cmd,
                        errno,
                    },
                )
            })
    }

    /// Quick command: the R/W bit is the only data (what `i2cdetect` uses; some old EEPROMs
    /// treat a quick *write* as a write-protect command, so probing never uses it).
    pub fn quick(&mut self, address: u8, read: bool) -> Result<(), I2cError> {
        self.check(address, Capabilities::QUICK, "do a quick command")?;
        let mut data = SmbusData::zeroed();
        let rw = if read { SMBUS_READ } else { SMBUS_WRITE };
        self.transfer("quick command", rw, 0, SmbusSize::Quick, &mut data)
    }

    /// I2C block write: `command`, then `data` (1..=32 bytes).
    pub fn write_i2c_block_data(
        &mut self,
        address: u8,
        command: u8,
        data: &[u8],
    ) -> Result<(), I2cError> {
        self.check(address, Capabilities::WRITE_I2C_BLOCK, "write an I2C block")?;
        let n = data.len();
        if n == 0 || n > BLOCK_MAX {
            return Err(self.error(
                ErrorKind::BadBlockLength,
                I2cErrorDetail::BadBlockLength { count: n },
            ));
        }
        let mut d = SmbusData::zeroed();
        d.block[0] = n as u8; // n <= 32
        if let Some(dst) = d.block.get_mut(1..=n) {
            dst.copy_from_slice(data);
        }
        self.transfer(
            "I2C block write",
            SMBUS_WRITE,
            command,
            SmbusSize::I2cBlockData,
            &mut d,
        )
    }

    fn unsupported_shape(&self, ops: &[Operation<'_>]) -> I2cError {
        let parts: Vec<String> = ops
            .iter()
            .map(|op| match op {
                Operation::Write(w) => format!("write {}", w.len()),
                Operation::Read(r) => format!("read {}", r.len()),
            })
            .collect();
        self.error(
            ErrorKind::Unsupported,
            I2cErrorDetail::UnsupportedShape {
                shape: format!("[{}]", parts.join(", ")),
            },
        )
    }

    /// Raw I2C through linux-embedded-hal, only on adapters with `I2C_FUNC_I2C`.
    fn raw_transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), I2cError> {
        use embedded_hal::i2c::I2c as _;
        if !self.caps.contains(Capabilities::I2C) {
            return Err(self.unsupported_shape(ops));
        }
        if self.forced {
            // linux-embedded-hal sets its address with plain I2C_SLAVE, which the kernel
            // refuses for a claimed address; a forced handle stays on SMBus transfers.
            return Err(self.error(
                ErrorKind::Unsupported,
                I2cErrorDetail::Raw {
                    message: "raw I2C is not available on a forced handle".into(),
                },
            ));
        }
        if self.raw.is_none() {
            let dev = linux_embedded_hal::I2cdev::new(&self.path).map_err(|e| {
                self.error(
                    ErrorKind::Other,
                    I2cErrorDetail::Raw {
                        message: e.to_string(),
                    },
                )
            })?;
            self.raw = Some(dev);
        }
        let result = match self.raw.as_mut() {
            Some(raw) => raw.transaction(address, ops),
            None => {
                return Err(self.error(
                    ErrorKind::Other,
                    I2cErrorDetail::Raw {
                        message: "not open".into(),
                    },
                ));
            }
        };
        result.map_err(|e| {
            let errno = match e.inner() {
                i2cdev::linux::LinuxI2CError::Errno(n) => Some(*n),
                i2cdev::linux::LinuxI2CError::Io(io) => io.raw_os_error(),
            };
            match errno {
                Some(errno) => self.error(
                    kind_of_errno(errno),
                    I2cErrorDetail::Os {
                        operation: "I2C_RDWR transfer",
                        command: None,
                        errno,
                    },
                ),
                None => self.error(
                    ErrorKind::Other,
                    I2cErrorDetail::Raw {
                        message: e.to_string(),
                    },
                ),
            }
        })
    }
}

impl<S: I2cSys> smbus::ErrorType for I2cDevice<S> {
    type Error = I2cError;
}

impl<S: I2cSys> Smbus for I2cDevice<S> {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn read_byte_data(&mut self, address: u8, command: u8) -> Result<u8, I2cError> {
        self.check(address, Capabilities::READ_BYTE_DATA, "read byte data")?;
        let mut d = SmbusData::zeroed();
        self.transfer(
            "read byte data",
            SMBUS_READ,
            command,
            SmbusSize::ByteData,
            &mut d,
        )?;
        Ok(d.block[0])
    }

    fn write_byte_data(&mut self, address: u8, command: u8, value: u8) -> Result<(), I2cError> {
        self.check(address, Capabilities::WRITE_BYTE_DATA, "write byte data")?;
        let mut d = SmbusData::zeroed();
        d.block[0] = value;
        self.transfer(
            "write byte data",
            SMBUS_WRITE,
            command,
            SmbusSize::ByteData,
            &mut d,
        )
    }

    fn read_word_data(&mut self, address: u8, command: u8) -> Result<u16, I2cError> {
        self.check(address, Capabilities::READ_WORD_DATA, "read word data")?;
        let mut d = SmbusData::zeroed();
        self.transfer(
            "read word data",
            SMBUS_READ,
            command,
            SmbusSize::WordData,
            &mut d,
        )?;
        Ok(d.word())
    }

    fn write_word_data(&mut self, address: u8, command: u8, value: u16) -> Result<(), I2cError> {
        self.check(address, Capabilities::WRITE_WORD_DATA, "write word data")?;
        let mut d = SmbusData::zeroed();
        d.set_word(value);
        self.transfer(
            "write word data",
            SMBUS_WRITE,
            command,
            SmbusSize::WordData,
            &mut d,
        )
    }

    fn read_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<usize, I2cError> {
        self.check(
            address,
            Capabilities::READ_BLOCK_DATA,
            "read an SMBus block",
        )?;
        let mut d = SmbusData::zeroed();
        self.transfer(
            "block read",
            SMBUS_READ,
            command,
            SmbusSize::BlockData,
            &mut d,
        )?;
        let n = usize::from(d.block[0]);
        match (d.block.get(1..=n), buf.get_mut(..n)) {
            (Some(src), Some(dst)) if (1..=BLOCK_MAX).contains(&n) => {
                dst.copy_from_slice(src);
                Ok(n)
            }
            _ => Err(self.error(
                ErrorKind::BadBlockLength,
                I2cErrorDetail::BadBlockLength { count: n },
            )),
        }
    }

    fn read_i2c_block_data(
        &mut self,
        address: u8,
        command: u8,
        buf: &mut [u8],
    ) -> Result<(), I2cError> {
        self.check(address, Capabilities::READ_I2C_BLOCK, "read an I2C block")?;
        let n = buf.len();
        if n == 0 || n > BLOCK_MAX {
            return Err(self.error(
                ErrorKind::BadBlockLength,
                I2cErrorDetail::BadBlockLength { count: n },
            ));
        }
        let mut d = SmbusData::zeroed();
        // HARDWARE.md §10: block[0] is the length; the host chooses it for I2C block reads.
        d.block[0] = n as u8; // n <= 32
        self.transfer(
            "I2C block read",
            SMBUS_READ,
            command,
            SmbusSize::I2cBlockData,
            &mut d,
        )?;
        let got = usize::from(d.block[0]);
        match d.block.get(1..=n) {
            Some(src) if got == n => {
                buf.copy_from_slice(src);
                Ok(())
            }
            _ => Err(self.error(
                ErrorKind::BadBlockLength,
                I2cErrorDetail::BadBlockLength { count: got },
            )),
        }
    }

    fn send_byte(&mut self, address: u8, value: u8) -> Result<(), I2cError> {
        self.check(address, Capabilities::WRITE_BYTE, "send a byte")?;
        let mut d = SmbusData::zeroed();
        self.transfer("send byte", SMBUS_WRITE, value, SmbusSize::Byte, &mut d)
    }

    fn receive_byte(&mut self, address: u8) -> Result<u8, I2cError> {
        self.check(address, Capabilities::READ_BYTE, "receive a byte")?;
        let mut d = SmbusData::zeroed();
        self.transfer("receive byte", SMBUS_READ, 0, SmbusSize::Byte, &mut d)?;
        Ok(d.block[0])
    }

    fn set_pec(&mut self, address: u8, enabled: bool) -> Result<(), I2cError> {
        if !enabled {
            self.check(address, Capabilities::empty(), "turn PEC off")?;
            if !self.caps.contains(Capabilities::PEC) {
                return Ok(()); // never on: nothing to turn off
            }
        } else {
            self.check(address, Capabilities::PEC, "do PEC")?;
        }
        self.sys.set_pec(&self.fd, enabled).map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            self.error(
                kind_of_errno(errno),
                I2cErrorDetail::Os {
                    operation: "I2C_PEC",
                    command: None,
                    errno,
                },
            )
        })
    }
}

impl<S: I2cSys> embedded_hal::i2c::ErrorType for I2cDevice<S> {
    type Error = I2cError;
}

impl<S: I2cSys> embedded_hal::i2c::I2c for I2cDevice<S> {
    /// Maps the transaction's shape onto one SMBus transfer (module docs); shapes with no
    /// SMBus equivalent, or whose SMBus transfer the adapter lacks, go to raw I2C when the
    /// adapter has `I2C_FUNC_I2C`, and are refused otherwise.
    fn transaction(&mut self, address: u8, ops: &mut [Operation<'_>]) -> Result<(), I2cError> {
        let has = |c: Capabilities| self.caps.contains(c);
        match ops {
            [] => Ok(()),
            [Operation::Write([])] if has(Capabilities::QUICK) => self.quick(address, false),
            [Operation::Write([value])] if has(Capabilities::WRITE_BYTE) => {
                self.send_byte(address, *value)
            }
            [Operation::Write([cmd, value])] if has(Capabilities::WRITE_BYTE_DATA) => {
                self.write_byte_data(address, *cmd, *value)
            }
            // The low byte goes first on the wire (HARDWARE.md §10).
            [Operation::Write([cmd, lo, hi])] if has(Capabilities::WRITE_WORD_DATA) => {
                self.write_word_data(address, *cmd, u16::from_le_bytes([*lo, *hi]))
            }
            [Operation::Write([cmd, data @ ..])]
                if has(Capabilities::WRITE_I2C_BLOCK) && (1..=BLOCK_MAX).contains(&data.len()) =>
            {
                self.write_i2c_block_data(address, *cmd, data)
            }
            [Operation::Read([byte])] if has(Capabilities::READ_BYTE) => {
                *byte = self.receive_byte(address)?;
                Ok(())
            }
            [Operation::Write([cmd]), Operation::Read(buf)] => {
                let cmd = *cmd;
                match buf.len() {
                    1 if has(Capabilities::READ_BYTE_DATA) => {
                        let v = self.read_byte_data(address, cmd)?;
                        buf.fill(v);
                        Ok(())
                    }
                    2 if has(Capabilities::READ_WORD_DATA) => {
                        let w = self.read_word_data(address, cmd)?;
                        buf.copy_from_slice(&w.to_le_bytes());
                        Ok(())
                    }
                    1..=BLOCK_MAX if has(Capabilities::READ_I2C_BLOCK) => {
                        self.read_i2c_block_data(address, cmd, buf)
                    }
                    _ => self.raw_transaction(address, ops),
                }
            }
            _ => self.raw_transaction(address, ops),
        }
    }
}

/// One bus, addressed per call: keeps one [`I2cDevice`] per address, each opened (and its
/// address set) on first use and kept, so that drivers written against [`Smbus`] with an
/// address per call still cost one ioctl per transaction.
pub struct I2cBus<S: I2cSys + Clone = RealI2cSys> {
    opener: I2cOpen,
    sys: S,
    bus: u32,
    caps: Capabilities,
    funcs: u64,
    devices: BTreeMap<u8, I2cDevice<S>>,
}

impl<S: I2cSys + Clone> fmt::Debug for I2cBus<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("I2cBus")
            .field("bus", &self.bus)
            .field("functionality", &format_args!("{:#010x}", self.funcs))
            .field("open_addresses", &self.devices.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl I2cBus<RealI2cSys> {
    /// Opens `/dev/i2c-<bus>` with the defaults of [`I2cOpen::new`].
    pub fn open(bus: u32) -> Result<Self, I2cError> {
        Self::open_with(I2cOpen::new(), RealI2cSys, bus)
    }
}

impl<S: I2cSys + Clone> I2cBus<S> {
    /// Opens the bus once to read its functionality; handles per address come later.
    pub fn open_with(opener: I2cOpen, mut sys: S, bus: u32) -> Result<Self, I2cError> {
        let path = opener.device_path(bus);
        let err = |kind, detail| I2cError {
            kind,
            bus,
            address: None,
            adapter: opener.adapter_name(bus),
            path: path.clone(),
            detail,
        };
        let fd = sys.open(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => err(ErrorKind::Gone, I2cErrorDetail::DeviceMissing),
            Some(libc::EACCES | libc::EPERM) => {
                err(ErrorKind::PermissionDenied, I2cErrorDetail::Permission)
            }
            errno => {
                let errno = errno.unwrap_or(0);
                err(
                    kind_of_errno(errno),
                    I2cErrorDetail::Os {
                        operation: "open",
                        command: None,
                        errno,
                    },
                )
            }
        })?;
        let funcs = sys.functionality(&fd).map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            err(
                kind_of_errno(errno),
                I2cErrorDetail::Os {
                    operation: "I2C_FUNCS",
                    command: None,
                    errno,
                },
            )
        })?;
        Ok(Self {
            opener,
            sys,
            bus,
            caps: Capabilities::from_bits_truncate(u32::try_from(funcs & 0xFFFF_FFFF).unwrap_or(0)),
            funcs,
            devices: BTreeMap::new(),
        })
    }

    /// The raw `I2C_FUNCS` bits.
    pub fn functionality(&self) -> u64 {
        self.funcs
    }

    /// The handle for `address`, opened on first use.
    pub fn device(&mut self, address: u8) -> Result<&mut I2cDevice<S>, I2cError> {
        if !self.devices.contains_key(&address) {
            let dev = self.opener.open_with(self.sys.clone(), self.bus, address)?;
            self.devices.insert(address, dev);
        }
        self.devices.get_mut(&address).ok_or_else(|| I2cError {
            kind: ErrorKind::Other,
            bus: self.bus,
            address: Some(address),
            adapter: None,
            path: self.opener.device_path(self.bus),
            detail: I2cErrorDetail::BadAddress,
        })
    }
}

impl<S: I2cSys + Clone> smbus::ErrorType for I2cBus<S> {
    type Error = I2cError;
}

impl<S: I2cSys + Clone> Smbus for I2cBus<S> {
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    fn read_byte_data(&mut self, a: u8, c: u8) -> Result<u8, I2cError> {
        self.device(a)?.read_byte_data(a, c)
    }
    fn write_byte_data(&mut self, a: u8, c: u8, v: u8) -> Result<(), I2cError> {
        self.device(a)?.write_byte_data(a, c, v)
    }
    fn read_word_data(&mut self, a: u8, c: u8) -> Result<u16, I2cError> {
        self.device(a)?.read_word_data(a, c)
    }
    fn write_word_data(&mut self, a: u8, c: u8, v: u16) -> Result<(), I2cError> {
        self.device(a)?.write_word_data(a, c, v)
    }
    fn read_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<usize, I2cError> {
        self.device(a)?.read_block_data(a, c, b)
    }
    fn read_i2c_block_data(&mut self, a: u8, c: u8, b: &mut [u8]) -> Result<(), I2cError> {
        self.device(a)?.read_i2c_block_data(a, c, b)
    }
    fn send_byte(&mut self, a: u8, v: u8) -> Result<(), I2cError> {
        self.device(a)?.send_byte(a, v)
    }
    fn receive_byte(&mut self, a: u8) -> Result<u8, I2cError> {
        self.device(a)?.receive_byte(a)
    }
    fn set_pec(&mut self, a: u8, e: bool) -> Result<(), I2cError> {
        self.device(a)?.set_pec(a, e)
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;
