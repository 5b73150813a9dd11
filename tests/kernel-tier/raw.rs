//! The few raw system calls the guest tests need beside the project's own API: the
//! `/dev/i2c-N` ioctls (HARDWARE.md §10) and `pread` on `/dev/cpu/N/msr` (HARDWARE.md §9),
//! used to check the plumbing the project's code is measured against.

use std::ffi::{c_int, c_ulong, c_void};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

// HARDWARE.md §10: ioctl numbers of i2c-dev.
const I2C_SLAVE: c_ulong = 0x0703;
const I2C_FUNCS: c_ulong = 0x0705;
const I2C_RDWR: c_ulong = 0x0707;
const I2C_SMBUS: c_ulong = 0x0720;
const I2C_SMBUS_READ: u8 = 1;
const I2C_SMBUS_WRITE: u8 = 0;
const I2C_SMBUS_WORD_DATA: u32 = 3;

unsafe extern "C" {
    // musl declares the request as `int`, glibc as `unsigned long`; on x86_64 both arrive
    // in the same register and every request used here fits in 32 bits.
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
}

/// `struct i2c_smbus_ioctl_data`.
#[repr(C)]
struct SmbusIoctl {
    read_write: u8,
    command: u8,
    size: u32,
    data: *mut c_void,
}

/// `struct i2c_msg`.
#[repr(C)]
struct I2cMsg {
    addr: u16,
    flags: u16,
    len: u16,
    buf: *mut u8,
}

/// `struct i2c_rdwr_ioctl_data`.
#[repr(C)]
struct RdwrIoctl {
    msgs: *mut I2cMsg,
    nmsgs: u32,
}

fn check(ret: c_int) -> io::Result<c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// An open `/dev/i2c-N` with (optionally) a slave address set.
pub struct I2cDev {
    file: File,
}

impl I2cDev {
    /// Opens `/dev/i2c-{bus}` without choosing an address.
    pub fn open(bus: u32) -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("/dev/i2c-{bus}"))?;
        Ok(Self { file })
    }

    /// `I2C_SLAVE`: fails with EBUSY when a kernel driver owns the address.
    pub fn set_address(&mut self, address: u8) -> io::Result<()> {
        // SAFETY: I2C_SLAVE takes the address as the integer argument itself.
        check(unsafe { ioctl(self.file.as_raw_fd(), I2C_SLAVE, c_ulong::from(address)) }).map(drop)
    }

    /// `I2C_FUNCS`: the adapter's functionality bits.
    pub fn functionality(&self) -> io::Result<u64> {
        let mut funcs: c_ulong = 0;
        // SAFETY: I2C_FUNCS writes one `unsigned long` through the pointer, which points at
        // a live local of that type.
        check(unsafe { ioctl(self.file.as_raw_fd(), I2C_FUNCS, &mut funcs as *mut c_ulong) })?;
        Ok(funcs)
    }

    fn smbus_word(&self, read_write: u8, command: u8, word: &mut u16) -> io::Result<()> {
        // `union i2c_smbus_data` is 34 bytes; a word transfer uses its first two.
        let mut data = [0u8; 34];
        data[..2].copy_from_slice(&word.to_ne_bytes());
        let mut args = SmbusIoctl {
            read_write,
            command,
            size: I2C_SMBUS_WORD_DATA,
            data: data.as_mut_ptr().cast(),
        };
        // SAFETY: `args` and the 34-byte union it points to live across the call; the kernel
        // reads and writes only within them.
        check(unsafe {
            ioctl(
                self.file.as_raw_fd(),
                I2C_SMBUS,
                &mut args as *mut SmbusIoctl,
            )
        })?;
        *word = u16::from_ne_bytes([data[0], data[1]]);
        Ok(())
    }

    /// SMBus read word data, low byte first on the wire (HARDWARE.md §10).
    pub fn read_word_data(&self, command: u8) -> io::Result<u16> {
        let mut word = 0;
        self.smbus_word(I2C_SMBUS_READ, command, &mut word)?;
        Ok(word)
    }

    /// SMBus write word data.
    pub fn write_word_data(&self, command: u8, mut word: u16) -> io::Result<()> {
        self.smbus_word(I2C_SMBUS_WRITE, command, &mut word)
    }

    /// `I2C_RDWR` with one write message and one read message (a raw-I2C write_read).
    pub fn raw_write_read(&self, address: u8, command: u8, out: &mut [u8]) -> io::Result<()> {
        let mut cmd = [command];
        let len =
            u16::try_from(out.len()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut msgs = [
            I2cMsg {
                addr: u16::from(address),
                flags: 0,
                len: 1,
                buf: cmd.as_mut_ptr(),
            },
            // 0x0001 = I2C_M_RD
            I2cMsg {
                addr: u16::from(address),
                flags: 1,
                len,
                buf: out.as_mut_ptr(),
            },
        ];
        let mut args = RdwrIoctl {
            msgs: msgs.as_mut_ptr(),
            nmsgs: 2,
        };
        // SAFETY: both messages and their buffers live across the call, with the lengths given.
        check(unsafe { ioctl(self.file.as_raw_fd(), I2C_RDWR, &mut args as *mut RdwrIoctl) })
            .map(drop)
    }
}

/// `pread` of 8 bytes at offset = MSR index on `/dev/cpu/{cpu}/msr` (HARDWARE.md §9).
pub fn read_msr(cpu: u32, index: u32) -> io::Result<u64> {
    let file = File::open(format!("/dev/cpu/{cpu}/msr"))?;
    let mut buf = [0u8; 8];
    file.read_exact_at(&mut buf, u64::from(index))?;
    Ok(u64::from_le_bytes(buf))
}
