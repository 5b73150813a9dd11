//! Chip drivers (being written).
