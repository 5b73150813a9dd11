//! The hwmon backend against sysfs trees generated in a temporary directory, laid out as
//! the kernel does: `class/hwmon/hwmonN` with a `device` link into `devices/`.
//!
//! Test-only: the parent module declares this file under `#[cfg(test)]`.

use super::*;
use std::fs;
use std::os::unix::fs::symlink;

struct Chip<'a> {
    hwmon: u32,
    name: &'a str,
    /// sysfs device name, e.g. "0-0018" or "0000:00:18.3"; None for a virtual chip.
    device: Option<&'a str>,
    files: &'a [(&'a str, &'a str)],
}

fn build(root: &Path, chips: &[Chip<'_>]) {
    let class = root.join("class/hwmon");
    fs::create_dir_all(&class).unwrap();
    for c in chips {
        let dir = class.join(format!("hwmon{}", c.hwmon));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("name"), format!("{}\n", c.name)).unwrap();
        if let Some(dev) = c.device {
            let dev_dir = root.join("devices").join(dev);
            fs::create_dir_all(&dev_dir).unwrap();
            symlink(format!("../../../devices/{dev}"), dir.join("device")).unwrap();
        }
        for (f, v) in c.files {
            fs::write(dir.join(f), v).unwrap();
        }
    }
}

const K10TEMP: &[(&str, &str)] = &[
    ("temp1_input", "45250\n"),
    ("temp1_label", "Tctl\n"),
    ("temp3_input", "38125\n"),
    ("temp3_label", "Tccd1\n"),
    ("temp4_input", "39000\n"),
    ("temp4_label", "Tccd2\n"),
];
const JC42_A: &[(&str, &str)] = &[("temp1_input", "31250\n")];
const JC42_B: &[(&str, &str)] = &[("temp1_input", "33500\n")];

fn board(root: &Path, numbers: [u32; 3]) {
    build(
        root,
        &[
            Chip {
                hwmon: numbers[0],
                name: "k10temp",
                device: Some("0000:00:18.3"),
                files: K10TEMP,
            },
            Chip {
                hwmon: numbers[1],
                name: "jc42",
                device: Some("0-0018"),
                files: JC42_A,
            },
            Chip {
                hwmon: numbers[2],
                name: "jc42",
                device: Some("0-0019"),
                files: JC42_B,
            },
        ],
    );
}

fn temp(r: Reading) -> i32 {
    match r {
        Reading::Temperature(t) => t.0,
        other => panic!("not a temperature: {other:?}"),
    }
}

#[test]
fn chips_are_found_by_name_and_device_identity() {
    let t = tempfile::tempdir().unwrap();
    board(t.path(), [0, 1, 2]);
    let h = Hwmon::with_sysfs_root(t.path());
    let k = h.find(&ChipSelector::name("k10temp")).unwrap();
    assert_eq!(k.device(), &DeviceId::Pci("0000:00:18.3".into()));
    assert_eq!(k.lm_sensors_name(), "k10temp-pci-00c3");
    let dimm = h
        .find(&ChipSelector::at(
            "jc42",
            DeviceId::I2c {
                bus: 0,
                address: 0x19,
            },
        ))
        .unwrap();
    assert_eq!(dimm.lm_sensors_name(), "jc42-i2c-0-19");
    assert_eq!(temp(dimm.channels().unwrap()[0].read().unwrap()), 33500);
}

#[test]
fn renumbered_hwmon_directories_still_give_the_same_chip_and_value() {
    let first = tempfile::tempdir().unwrap();
    board(first.path(), [0, 1, 2]);
    let second = tempfile::tempdir().unwrap();
    board(second.path(), [5, 3, 0]); // another boot, another probe order
    let sel = ChipSelector::at(
        "jc42",
        DeviceId::I2c {
            bus: 0,
            address: 0x18,
        },
    );
    let a = Hwmon::with_sysfs_root(first.path()).find(&sel).unwrap();
    let b = Hwmon::with_sysfs_root(second.path()).find(&sel).unwrap();
    assert!(a.dir().ends_with("hwmon1") && b.dir().ends_with("hwmon3"));
    assert_eq!(temp(a.channels().unwrap()[0].read().unwrap()), 31250);
    assert_eq!(temp(b.channels().unwrap()[0].read().unwrap()), 31250);
    // The chip list's order does not follow hwmonN either.
    let names = |root: &Path| -> Vec<String> {
        Hwmon::with_sysfs_root(root)
            .chips()
            .unwrap()
            .iter()
            .map(|c| format!("{} {}", c.name(), c.device()))
            .collect()
    };
    assert_eq!(names(first.path()), names(second.path()));
}

#[test]
fn two_chips_of_one_driver_without_a_device_are_ambiguous() {
    let t = tempfile::tempdir().unwrap();
    board(t.path(), [0, 1, 2]);
    let e = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("jc42"))
        .unwrap_err();
    assert_eq!(e.kind(), HwmonErrorKind::Ambiguous);
    assert!(e.to_string().contains("i2c 0-0018, i2c 0-0019"), "{e}");
}

#[test]
fn a_missing_chip_lists_what_is_there_and_suggests_the_module() {
    let t = tempfile::tempdir().unwrap();
    board(t.path(), [0, 1, 2]);
    let e = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("spd5118"))
        .unwrap_err();
    assert_eq!(e.kind(), HwmonErrorKind::NotFound);
    let m = e.to_string();
    assert!(m.contains("found: jc42 at i2c 0-0018"), "{m}");
    assert!(m.contains("`modprobe spd5118`"), "{m}");
}

#[test]
fn no_hwmon_class_at_all_is_not_found_not_a_panic() {
    let t = tempfile::tempdir().unwrap();
    let e = Hwmon::with_sysfs_root(t.path()).chips().unwrap_err();
    assert_eq!(e.kind(), HwmonErrorKind::NotFound);
}

#[test]
fn k10temp_tctl_and_tccd_are_picked_by_label() {
    let t = tempfile::tempdir().unwrap();
    board(t.path(), [0, 1, 2]);
    let k = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("k10temp"))
        .unwrap();
    let inputs = k10temp_inputs(&k).unwrap();
    assert_eq!(temp(inputs.tctl.unwrap().read().unwrap()), 45250);
    let ccds: Vec<(u32, i32)> = inputs
        .tccd
        .iter()
        .map(|(n, c)| (*n, temp(c.read().unwrap())))
        .collect();
    assert_eq!(ccds, vec![(1, 38125), (2, 39000)]);
    assert_eq!(
        temp(k.channel_by_label("Tccd2").unwrap().read().unwrap()),
        39000
    );
}

#[test]
fn every_kind_is_read_in_its_hwmon_unit() {
    let t = tempfile::tempdir().unwrap();
    build(
        t.path(),
        &[Chip {
            hwmon: 0,
            name: "pmbus",
            device: Some("1-0040"),
            files: &[
                ("temp1_input", "-1500\n"),
                ("fan1_input", "5400\n"),
                ("in1_input", "12050\n"),
                ("in1_label", "vin\n"),
                ("curr1_input", "-250\n"),
                ("power1_input", "350000000\n"),
                ("energy1_input", "18446744073709551615\n"),
                ("temp1_max", "90000\n"), // not an input: ignored
            ],
        }],
    );
    let chip = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("pmbus"))
        .unwrap();
    let got: Vec<(String, Reading)> = chip
        .channels()
        .unwrap()
        .iter()
        .map(|c| (c.display_name(), c.read().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("temp1".into(), Reading::Temperature(MilliCelsius(-1500))),
            ("fan1".into(), Reading::Fan(Rpm(5400))),
            ("vin".into(), Reading::Voltage(MilliVolts(12050))),
            ("curr1".into(), Reading::Current(MilliAmps(-250))),
            ("power1".into(), Reading::Power(MicroWatts(350_000_000))),
            ("energy1".into(), Reading::Energy(MicroJoules(u64::MAX))),
        ]
    );
    assert_eq!(got[4].1.to_string(), "350.000000 W");
}

#[test]
fn garbage_files_are_clear_errors() {
    let huge = "9".repeat(1 << 20);
    let t = tempfile::tempdir().unwrap();
    build(
        t.path(),
        &[Chip {
            hwmon: 0,
            name: "junk",
            device: None,
            files: &[
                ("temp1_input", ""),
                ("temp2_input", "hot\n"),
                ("temp3_input", "99999999999\n"),
                ("temp4_input", &huge),
                ("fan1_input", "-1\n"),
                ("temp5_input", "placeholder"),
                ("temp6_input", "123456789012345678901234567890\n"),
            ],
        }],
    );
    // Not UTF-8 at all (a `&str` fixture cannot hold these bytes).
    fs::write(
        t.path().join("class/hwmon/hwmon0/temp5_input"),
        [0xFF, 0xFE, b'1', b'\n'],
    )
    .unwrap();
    let chip = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("junk"))
        .unwrap();
    assert_eq!(chip.device(), &DeviceId::Virtual);
    assert!(
        chip.channels().unwrap()[4]
            .read()
            .unwrap_err()
            .to_string()
            .contains("not a number: \"\u{FFFD}\u{FFFD}1\\n\""),
        "invalid UTF-8 is reported as such, lossily"
    );
    let kinds: Vec<(String, HwmonErrorKind)> = chip
        .channels()
        .unwrap()
        .iter()
        .map(|c| (c.display_name(), c.read().unwrap_err().kind()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("temp1".into(), HwmonErrorKind::Empty),
            ("temp2".into(), HwmonErrorKind::NotNumeric),
            ("temp3".into(), HwmonErrorKind::OutOfRange),
            ("temp4".into(), HwmonErrorKind::TooLong),
            ("temp5".into(), HwmonErrorKind::NotNumeric),
            ("temp6".into(), HwmonErrorKind::OutOfRange),
            ("fan1".into(), HwmonErrorKind::OutOfRange),
        ]
    );
    let e = chip.channels().unwrap()[1].read().unwrap_err();
    assert!(
        e.to_string()
            .ends_with("temp2_input: not a number: \"hot\""),
        "{e}"
    );
}

#[test]
fn an_open_sensor_file_sees_each_new_value_with_one_read() {
    let t = tempfile::tempdir().unwrap();
    board(t.path(), [0, 1, 2]);
    let k = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("k10temp"))
        .unwrap();
    let tctl = k.channel_by_label("Tctl").unwrap();
    let mut f = tctl.open().unwrap();
    assert_eq!(temp(f.read().unwrap()), 45250);
    fs::write(&tctl.input, "51000\n").unwrap();
    assert_eq!(temp(f.read().unwrap()), 51000);
    // A shorter value after a longer one is not mixed with the old bytes.
    fs::write(&tctl.input, "7\n").unwrap();
    assert_eq!(temp(f.read().unwrap()), 7);
}

#[test]
fn a_vanished_chip_is_an_io_error() {
    let t = tempfile::tempdir().unwrap();
    board(t.path(), [0, 1, 2]);
    let k = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("k10temp"))
        .unwrap();
    let ch = k.channel_by_label("Tctl").unwrap();
    fs::remove_dir_all(k.dir()).unwrap();
    assert_eq!(ch.read().unwrap_err().kind(), HwmonErrorKind::Io);
}

#[test]
fn sysfs_device_names_are_classified() {
    assert_eq!(
        DeviceId::from_sysfs_name("3-004c"),
        DeviceId::I2c {
            bus: 3,
            address: 0x4C
        }
    );
    assert_eq!(
        DeviceId::from_sysfs_name("0000:c0:18.3"),
        DeviceId::Pci("0000:c0:18.3".into())
    );
    assert_eq!(
        DeviceId::from_sysfs_name("coretemp.0"),
        DeviceId::Other("coretemp.0".into())
    );
    assert_eq!(
        DeviceId::from_sysfs_name("i2c-3"),
        DeviceId::Other("i2c-3".into())
    );
    assert_eq!(
        DeviceId::Pci("0000:c0:18.3".into()).lm_sensors_suffix(),
        "pci-c0c3"
    );
}

#[test]
fn attributes_of_old_style_drivers_are_found_under_device() {
    let t = tempfile::tempdir().unwrap();
    build(
        t.path(),
        &[Chip {
            hwmon: 0,
            name: "old",
            device: Some("2-004c"),
            files: &[],
        }],
    );
    fs::write(t.path().join("devices/2-004c/temp1_input"), "41000\n").unwrap();
    let chip = Hwmon::with_sysfs_root(t.path())
        .find(&ChipSelector::name("old"))
        .unwrap();
    assert_eq!(temp(chip.channels().unwrap()[0].read().unwrap()), 41000);
}

/// The layout the kernel (and the simulator's writer) really use: the class entry is a
/// link into `devices/`, and `device` inside `hwmon/hwmonN` points two levels up.
fn build_linked(root: &Path, hwmon: u32, name: &str, device_path: &str, files: &[(&str, &str)]) {
    let dir = root
        .join("devices")
        .join(device_path)
        .join("hwmon")
        .join(format!("hwmon{hwmon}"));
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("name"), format!("{name}\n")).unwrap();
    symlink("../..", dir.join("device")).unwrap();
    for (f, v) in files {
        fs::write(dir.join(f), v).unwrap();
    }
    fs::create_dir_all(root.join("class/hwmon")).unwrap();
    symlink(
        format!("../../devices/{device_path}/hwmon/hwmon{hwmon}"),
        root.join("class/hwmon").join(format!("hwmon{hwmon}")),
    )
    .unwrap();
}

#[test]
fn a_device_link_pointing_up_the_tree_resolves_to_the_device_name() {
    let t = tempfile::tempdir().unwrap();
    build_linked(
        t.path(),
        4,
        "spd5118",
        "pci0000:00/0000:00:14.0/i2c-1/1-0052",
        &[("temp1_input", "36250\n")],
    );
    build_linked(t.path(), 0, "k10temp", "pci0000:00/0000:00:18.3", K10TEMP);
    let h = Hwmon::with_sysfs_root(t.path());
    let spd = h
        .find(&ChipSelector::at(
            "spd5118",
            DeviceId::I2c {
                bus: 1,
                address: 0x52,
            },
        ))
        .unwrap();
    assert_eq!(temp(spd.channels().unwrap()[0].read().unwrap()), 36250);
    let k = h.find(&ChipSelector::name("k10temp")).unwrap();
    assert_eq!(k.device(), &DeviceId::Pci("0000:00:18.3".into()));
}

#[test]
fn dangling_links_in_the_class_directory_do_not_panic_or_hide_other_chips() {
    let t = tempfile::tempdir().unwrap();
    board(t.path(), [0, 1, 2]);
    // A chip whose device went away: its class link dangles.
    symlink(
        "../../devices/gone/hwmon/hwmon7",
        t.path().join("class/hwmon/hwmon7"),
    )
    .unwrap();
    // A chip whose `device` link dangles: its identity still comes from the link's name.
    fs::remove_dir_all(t.path().join("devices/0-0019")).unwrap();
    let h = Hwmon::with_sysfs_root(t.path());
    let chips = h.chips().unwrap();
    assert_eq!(chips.len(), 4);
    let jc42_b = h
        .find(&ChipSelector::at(
            "jc42",
            DeviceId::I2c {
                bus: 0,
                address: 0x19,
            },
        ))
        .unwrap();
    assert_eq!(temp(jc42_b.channels().unwrap()[0].read().unwrap()), 33500);
    let gone = chips.iter().find(|c| c.dir().ends_with("hwmon7")).unwrap();
    assert_eq!(gone.name(), "");
    assert_eq!(gone.channels().unwrap_err().kind(), HwmonErrorKind::Io);
}
