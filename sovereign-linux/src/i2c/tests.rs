//! The SMBus layer against a fake fd layer: operation mapping, error mapping, refusals,
//! and ioctl counts.
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

use super::fake::*;
use super::*;
use embedded_hal::i2c::I2c;
use sovereign_hal::smbus::Error as _;

const PIIX4: u64 = 0x037F_0000; // HARDWARE.md §10
const STUB: u64 = 0x0FFF_0000 | 0x8; // i2c-stub-like: every SMBus transfer and PEC, no raw I2C
const BUS: u32 = 3;

fn sysfs_with_driver(bus: u32, address: u8, driver: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let client = t
        .path()
        .join("bus/i2c/devices")
        .join(client_name(bus, address));
    std::fs::create_dir_all(&client).unwrap();
    std::fs::create_dir_all(t.path().join("bus/i2c/drivers").join(driver)).unwrap();
    std::os::unix::fs::symlink(
        format!("../../../../bus/i2c/drivers/{driver}"),
        client.join("driver"),
    )
    .unwrap();
    let adapter = t.path().join(format!("bus/i2c/devices/i2c-{bus}"));
    std::fs::create_dir_all(&adapter).unwrap();
    std::fs::write(adapter.join("name"), "SMBus PIIX4 adapter port 0 at 0b00\n").unwrap();
    t
}

fn open(fake: &Fake, address: u8) -> I2cDevice<Fake> {
    let empty = tempfile::tempdir().unwrap();
    I2cOpen::new()
        .sysfs_root(empty.path())
        .open_with(fake.clone(), BUS, address)
        .unwrap()
}

#[test]
fn opening_costs_one_open_one_i2c_funcs_and_one_i2c_slave_then_one_ioctl_per_transaction() {
    let fake = Fake::adapter(PIIX4).with_device(0x18, &[(0x05, 0xC1), (0x06, 0x90)]);
    let mut dev = open(&fake, 0x18);
    assert_eq!((fake.0.borrow().opens, fake.ioctls()), (1, 2));
    for _ in 0..50 {
        dev.read_word_data(0x18, 0x05).unwrap();
        dev.read_byte_data(0x18, 0x06).unwrap();
    }
    assert_eq!(fake.0.borrow().opens, 1, "never reopened");
    assert_eq!(fake.ioctls(), 2 + 100, "one ioctl per SMBus transaction");
}

#[test]
fn words_come_back_low_byte_first_as_smbus_defines() {
    // JC-42.4 temperature 0x05 with MSB 0xC1 first on the wire: SMBus word = 0x90C1 when the
    // second byte is 0x90; the driver swaps (HARDWARE.md §1, §10).
    let fake = Fake::adapter(PIIX4).with_device(0x18, &[(0x05, 0xC1), (0x06, 0x90)]);
    let mut dev = open(&fake, 0x18);
    assert_eq!(dev.read_word_data(0x18, 0x05).unwrap(), 0x90C1);
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_READ, 0x05, SmbusSize::WordData))
    );
    dev.write_word_data(0x18, 0x02, 0x1234).unwrap();
    assert_eq!((fake.reg(0x18, 0x02), fake.reg(0x18, 0x03)), (0x34, 0x12));
}

#[test]
fn smbus_block_read_copies_the_count_the_device_sent() {
    let fake = Fake::adapter(PIIX4)
        .with_device(0x40, &[(0x99, 3), (0x9A, b'A'), (0x9B, b'C'), (0x9C, b'E')]);
    let mut dev = open(&fake, 0x40);
    let mut buf = [0u8; 32];
    assert_eq!(dev.read_block_data(0x40, 0x99, &mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"ACE");
    // A buffer smaller than the device's count is a length error, not a truncation.
    let mut small = [0u8; 2];
    let e = dev.read_block_data(0x40, 0x99, &mut small).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadBlockLength);
}

#[test]
fn what_piix4_lacks_is_refused_by_name_without_a_syscall() {
    let fake = Fake::adapter(PIIX4).with_device(0x50, &[]);
    let t = sysfs_with_driver(BUS, 0x18, "jc42");
    let mut dev = I2cOpen::new()
        .sysfs_root(t.path())
        .open_with(fake.clone(), BUS, 0x50)
        .unwrap();
    assert!(dev.is_smbus_only());
    let before = fake.ioctls();

    let e = dev.set_pec(0x50, true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    let msg = e.to_string();
    assert!(
        msg.contains("i2c-3 (SMBus PIIX4 adapter port 0 at 0b00)"),
        "{msg}"
    );
    assert!(msg.contains("I2C_FUNC_SMBUS_PEC"), "{msg}");

    let e = dev
        .read_i2c_block_data(0x50, 0, &mut [0u8; 16])
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string().contains("I2C_FUNC_SMBUS_READ_I2C_BLOCK"),
        "{e}"
    );

    // A shape with no SMBus equivalent on an adapter without I2C_FUNC_I2C.
    let mut out = [0u8; 4];
    let e = dev
        .transaction(
            0x50,
            &mut [Operation::Write(&[0, 1]), Operation::Read(&mut out)],
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.to_string().contains("[write 2, read 4]"), "{e}");
    assert!(e.to_string().contains("I2C_FUNC_I2C"), "{e}");

    assert_eq!(fake.ioctls(), before, "refusals cost no syscall");
    // Turning PEC off where it never was on is fine.
    dev.set_pec(0x50, false).unwrap();
}

#[test]
fn pec_is_switched_with_i2c_pec_where_the_adapter_has_it() {
    let fake = Fake::adapter(STUB).with_device(0x40, &[]);
    let mut dev = open(&fake, 0x40);
    dev.set_pec(0x40, true).unwrap();
    assert!(fake.0.borrow().pec_on);
    dev.set_pec(0x40, false).unwrap();
    assert!(!fake.0.borrow().pec_on);
}

#[test]
fn embedded_hal_shapes_map_to_one_smbus_transfer_each() {
    let fake = Fake::adapter(STUB).with_device(
        0x4C,
        &[
            (0x01, 0x2A),
            (0x10, 0x11),
            (0x11, 0x22),
            (0x20, 1),
            (0x21, 2),
            (0x22, 3),
        ],
    );
    let mut dev = open(&fake, 0x4C);
    let start = fake.ioctls();

    let mut one = [0u8; 1];
    dev.write_read(0x4C, &[0x01], &mut one).unwrap();
    assert_eq!(one, [0x2A]);
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_READ, 0x01, SmbusSize::ByteData))
    );

    let mut two = [0u8; 2];
    dev.write_read(0x4C, &[0x10], &mut two).unwrap();
    assert_eq!(two, [0x11, 0x22], "wire order");
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_READ, 0x10, SmbusSize::WordData))
    );

    let mut three = [0u8; 3];
    dev.write_read(0x4C, &[0x20], &mut three).unwrap();
    assert_eq!(three, [1, 2, 3]);
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_READ, 0x20, SmbusSize::I2cBlockData))
    );

    dev.write(0x4C, &[0x30, 0x7F]).unwrap();
    assert_eq!(fake.reg(0x4C, 0x30), 0x7F);
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_WRITE, 0x30, SmbusSize::ByteData))
    );

    dev.write(0x4C, &[0x32, 0xCD, 0xAB]).unwrap();
    assert_eq!((fake.reg(0x4C, 0x32), fake.reg(0x4C, 0x33)), (0xCD, 0xAB));
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_WRITE, 0x32, SmbusSize::WordData))
    );

    dev.write(0x4C, &[0x40, 9, 8, 7, 6]).unwrap();
    assert_eq!(fake.reg(0x4C, 0x43), 6);
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_WRITE, 0x40, SmbusSize::I2cBlockData))
    );

    dev.write(0x4C, &[0x01]).unwrap();
    assert_eq!(
        fake.last_transfer(),
        Some((SMBUS_WRITE, 0x01, SmbusSize::Byte))
    );
    dev.read(0x4C, &mut one).unwrap();
    assert_eq!(fake.last_transfer(), Some((SMBUS_READ, 0, SmbusSize::Byte)));

    assert_eq!(
        fake.ioctls() - start,
        8,
        "one ioctl per embedded-hal transaction"
    );
}

#[test]
fn on_piix4_a_three_byte_read_is_refused_because_there_is_no_i2c_block_read() {
    let fake = Fake::adapter(PIIX4).with_device(0x4C, &[]);
    let mut dev = open(&fake, 0x4C);
    let e = dev.write_read(0x4C, &[0x20], &mut [0u8; 3]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(
        embedded_hal::i2c::Error::kind(&e),
        embedded_hal::i2c::ErrorKind::Other
    );
}

#[test]
fn nak_in_all_three_linux_spellings_is_no_acknowledge() {
    let fake = Fake::adapter(PIIX4).with_device(0x18, &[]);
    let mut dev = open(&fake, 0x18);
    for errno in [libc::ENXIO, libc::EREMOTEIO, libc::ENODEV] {
        fake.fail_next(errno);
        let e = dev.read_word_data(0x18, 0x05).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NoAcknowledge, "errno {errno}");
        assert!(
            e.to_string().contains("register 0x05 at 0x18 on i2c-3"),
            "{e}"
        );
        assert!(matches!(
            embedded_hal::i2c::Error::kind(&e),
            embedded_hal::i2c::ErrorKind::NoAcknowledge(_)
        ));
    }
}

#[test]
fn other_errnos_map_to_what_a_caller_can_act_on() {
    let cases = [
        (libc::EBADMSG, ErrorKind::PecMismatch),
        (libc::ETIMEDOUT, ErrorKind::Timeout),
        (libc::EOPNOTSUPP, ErrorKind::Unsupported),
        (libc::EAGAIN, ErrorKind::Bus),
        (libc::EIO, ErrorKind::Bus),
        (libc::ESHUTDOWN, ErrorKind::Gone),
    ];
    let fake = Fake::adapter(PIIX4).with_device(0x18, &[]);
    let mut dev = open(&fake, 0x18);
    for (errno, kind) in cases {
        fake.fail_next(errno);
        assert_eq!(
            dev.read_byte_data(0x18, 0).unwrap_err().kind(),
            kind,
            "errno {errno}"
        );
    }
}

#[test]
fn a_device_that_is_not_there_naks() {
    let fake = Fake::adapter(PIIX4);
    let mut dev = open(&fake, 0x1F);
    assert_eq!(
        dev.read_byte_data(0x1F, 0).unwrap_err().kind(),
        ErrorKind::NoAcknowledge
    );
}

#[test]
fn ebusy_at_i2c_slave_names_the_bound_kernel_driver_and_suggests_hwmon() {
    let fake = Fake::adapter(PIIX4).with_device(0x18, &[]);
    fake.0.borrow_mut().slave_errno = Some(libc::EBUSY);
    let t = sysfs_with_driver(BUS, 0x18, "jc42");
    let e = I2cOpen::new()
        .sysfs_root(t.path())
        .open_with(fake.clone(), BUS, 0x18)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy);
    assert_eq!(e.claimed_by(), Some("jc42"));
    let msg = e.to_string();
    assert!(msg.contains("0x18 on i2c-3"), "{msg}");
    assert!(
        msg.contains("is claimed by kernel driver jc42: read it through hwmon instead"),
        "{msg}"
    );
}

#[test]
fn forcing_a_claimed_address_is_an_explicit_opt_in() {
    let fake = Fake::adapter(PIIX4).with_device(0x18, &[(5, 0xAA)]);
    fake.0.borrow_mut().slave_errno = Some(libc::EBUSY);
    let t = sysfs_with_driver(BUS, 0x18, "jc42");
    let mut dev = I2cOpen::new()
        .sysfs_root(t.path())
        .force_claimed(true)
        .open_with(fake.clone(), BUS, 0x18)
        .unwrap();
    assert_eq!(fake.0.borrow().forced, vec![0x18]);
    assert_eq!(dev.read_byte_data(0x18, 5).unwrap(), 0xAA);
}

#[test]
fn missing_device_node_says_modprobe_i2c_dev_and_permission_says_root() {
    let fake = Fake::adapter(PIIX4);
    fake.0.borrow_mut().open_errno = Some(libc::ENOENT);
    let e = I2cOpen::new()
        .dev_root("/nonexistent-dev")
        .open_with(fake.clone(), 7, 0x18)
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("/nonexistent-dev/i2c-7 is missing: run `modprobe i2c-dev`"),
        "{e}"
    );
    fake.0.borrow_mut().open_errno = Some(libc::EACCES);
    let e = I2cOpen::new().open_with(fake, 7, 0x18).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("needs root or CAP_SYS_RAWIO"), "{e}");
}

#[test]
fn the_real_layer_reports_a_missing_node_too() {
    let t = tempfile::tempdir().unwrap();
    let e = I2cOpen::new()
        .dev_root(t.path())
        .sysfs_root(t.path())
        .open(0, 0x18)
        .unwrap_err();
    assert!(matches!(e.detail(), I2cErrorDetail::DeviceMissing));
}

#[test]
fn a_handle_refuses_other_addresses_and_bad_ones() {
    let fake = Fake::adapter(PIIX4).with_device(0x18, &[]);
    let mut dev = open(&fake, 0x18);
    let e = dev.read_byte_data(0x19, 0).unwrap_err();
    assert!(e.to_string().contains("open one handle per address"), "{e}");
    assert!(I2cOpen::new().open_with(fake.clone(), BUS, 0x80).is_err());
    assert!(dev.read_byte_data(0xFF, 0).is_err());
}

#[test]
fn the_bus_keeps_one_handle_per_address_and_costs_one_ioctl_per_transaction() {
    let fake = Fake::adapter(PIIX4)
        .with_device(0x18, &[(5, 1)])
        .with_device(0x19, &[(5, 2)]);
    let empty = tempfile::tempdir().unwrap();
    let mut bus =
        I2cBus::open_with(I2cOpen::new().sysfs_root(empty.path()), fake.clone(), BUS).unwrap();
    assert_eq!(bus.capabilities(), Capabilities::PIIX4);
    for _ in 0..10 {
        assert_eq!(bus.read_byte_data(0x18, 5).unwrap(), 1);
        assert_eq!(bus.read_byte_data(0x19, 5).unwrap(), 2);
    }
    // 1 open + I2C_FUNCS for the bus, then per address 1 open + I2C_FUNCS + I2C_SLAVE.
    assert_eq!(fake.0.borrow().opens, 3);
    assert_eq!(fake.ioctls(), 1 + 2 * 2 + 20);
}

#[test]
fn capability_names_are_the_kernels() {
    assert_eq!(capability_name(Capabilities::PEC), "I2C_FUNC_SMBUS_PEC");
    assert_eq!(capability_name(Capabilities::I2C), "I2C_FUNC_I2C");
}

#[test]
fn an_adapter_gone_from_under_its_device_node_is_gone_not_a_nak() {
    // i2c-dev's open fails with ENODEV when no adapter is registered for the node's minor
    // any more (drivers/i2c/i2c-dev.c, i2cdev_open); a stale node without a char device
    // behind it gives ENXIO. Neither is "no device at that address".
    for errno in [libc::ENODEV, libc::ENXIO] {
        let fake = Fake::adapter(PIIX4);
        fake.0.borrow_mut().open_errno = Some(errno);
        let e = I2cOpen::new().open_with(fake.clone(), 7, 0x18).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Gone, "errno {errno}");
        assert!(e.to_string().contains("i2cdetect -l"), "{e}");
        let e = I2cBus::open_with(I2cOpen::new(), fake, 7).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Gone, "errno {errno}");
    }
}

#[test]
fn ioctl_structs_have_the_kernels_layout() {
    use std::mem::{align_of, offset_of, size_of};
    // HARDWARE.md §10: union i2c_smbus_data = u8 / u16 / u8 block[34] (block[0] = length).
    assert_eq!(size_of::<SmbusData>(), 34);
    assert_eq!(align_of::<SmbusData>(), 2);
    // struct i2c_smbus_ioctl_data = {u8 read_write; u8 command; u32 size; union *data}.
    assert_eq!(offset_of!(SmbusIoctlData, read_write), 0);
    assert_eq!(offset_of!(SmbusIoctlData, command), 1);
    assert_eq!(offset_of!(SmbusIoctlData, size), 4);
    assert_eq!(offset_of!(SmbusIoctlData, data), 8);
    assert_eq!(size_of::<SmbusIoctlData>(), 8 + size_of::<usize>());
    // Transfer sizes and directions as the kernel numbers them.
    assert_eq!((SMBUS_READ, SMBUS_WRITE), (1, 0));
    assert_eq!(
        [
            SmbusSize::Quick,
            SmbusSize::Byte,
            SmbusSize::ByteData,
            SmbusSize::WordData,
            SmbusSize::BlockData,
            SmbusSize::I2cBlockData
        ]
        .map(|s| s as u32),
        [0, 1, 2, 3, 5, 8]
    );
    assert_eq!(
        (I2C_SLAVE, I2C_FUNCS, I2C_SLAVE_FORCE, I2C_PEC, I2C_SMBUS),
        (0x0703, 0x0705, 0x0706, 0x0708, 0x0720)
    );
}

#[test]
fn a_block_count_outside_1_to_32_from_below_is_an_error_never_an_index() {
    let fake = Fake::adapter(STUB).with_device(0x40, &[]);
    let mut dev = open(&fake, 0x40);
    for count in [0u8, 33, 34, 255] {
        fake.0.borrow_mut().raw_block_count = Some(count);
        let mut buf = [0u8; 64];
        let e = dev.read_block_data(0x40, 0x99, &mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::BadBlockLength, "count {count}");
        assert!(e.to_string().contains(&format!("length {count}")), "{e}");
        assert_eq!(buf, [0u8; 64], "nothing copied for count {count}");
    }
    // An I2C block read that comes back with another length than asked for.
    fake.0.borrow_mut().raw_block_count = Some(40);
    let mut buf = [0u8; 8];
    let e = dev.read_i2c_block_data(0x40, 0, &mut buf).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadBlockLength);
    assert_eq!(buf, [0u8; 8]);
}

#[test]
fn a_huge_adapter_name_file_is_read_only_as_far_as_a_name_can_be() {
    // The kernel's adapter name is a 48-byte array; a garbage tree may hold anything.
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("bus/i2c/devices/i2c-0");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("name"), "x".repeat(1 << 20)).unwrap();
    let name = adapter_name(t.path(), 0).unwrap();
    assert!(name.len() <= 128, "{} bytes", name.len());
    // Not UTF-8: read lossily, not dropped.
    std::fs::write(dir.join("name"), [b'p', 0xFF, b'4']).unwrap();
    assert_eq!(adapter_name(t.path(), 0).as_deref(), Some("p\u{FFFD}4"));
}
