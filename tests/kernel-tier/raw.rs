//! The one raw system call the guest tests make beside the project's API: `I2C_RDWR` on
//! `/dev/i2c-N` (HARDWARE.md §10), to check the kernel fact `sovereign-linux` relies on
//! when it refuses raw I2C on an SMBus-only adapter without trying.

use std::ffi::{c_int, c_ulong};
use std::fs::OpenOptions;
use std::io;
use std::os::fd::AsRawFd;

// HARDWARE.md §10: ioctl number of i2c-dev's raw transfer.
const I2C_RDWR: c_ulong = 0x0707;
/// `I2C_M_RD`: the message is a read.
const I2C_M_RD: u16 = 0x0001;

unsafe extern "C" {
    // musl declares the request as `int`, glibc as `unsigned long`; on x86_64 both arrive
    // in the same register and the request used here fits in 32 bits.
    fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
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

/// One `I2C_RDWR` with a write message (`write`) and a read message (`out`).
pub fn i2c_rdwr_write_read(bus: u32, address: u8, write: &[u8], out: &mut [u8]) -> io::Result<()> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/dev/i2c-{bus}"))?;
    let too_long = || io::Error::from(io::ErrorKind::InvalidInput);
    let mut write = write.to_vec();
    let mut msgs = [
        I2cMsg {
            addr: u16::from(address),
            flags: 0,
            len: u16::try_from(write.len()).map_err(|_| too_long())?,
            buf: write.as_mut_ptr(),
        },
        I2cMsg {
            addr: u16::from(address),
            flags: I2C_M_RD,
            len: u16::try_from(out.len()).map_err(|_| too_long())?,
            buf: out.as_mut_ptr(),
        },
    ];
    let mut args = RdwrIoctl {
        msgs: msgs.as_mut_ptr(),
        nmsgs: 2,
    };
    // SAFETY: both messages and the buffers they point to live across the call, with the
    // lengths given; the kernel touches nothing else.
    let ret = unsafe { ioctl(file.as_raw_fd(), I2C_RDWR, &mut args as *mut RdwrIoctl) };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
