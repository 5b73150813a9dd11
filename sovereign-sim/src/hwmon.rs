//! hwmon (being written).
