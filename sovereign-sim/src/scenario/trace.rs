//! A run's trace: one row per control period, written as CSV and plotted as SVG.
//!
//! The CSV is byte-identical for the same scenario, seed and controller: every number is
//! printed with a fixed number of decimals from a deterministic simulation, and nothing
//! from the wall clock enters it.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use plotters::prelude::*;
use sovereign_hal::units::Duty;

use super::Observation;
use crate::plant::PlantSnapshot;

/// One control period of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    /// Simulated time at the start of the period, s (exact: period index × period).
    pub time_s: f64,
    /// True Tctl (hottest die point), °C.
    pub tctl_c: f64,
    /// What the controller read for Tctl, °C (`None` during a dropout).
    pub tctl_read_c: Option<f64>,
    /// The setpoint, °C.
    pub setpoint_c: f64,
    /// Duty the controller chose for this period.
    pub duty: Duty,
    /// Mean fan speed, RPM.
    pub fan_rpm_mean: f64,
    /// Total fan power at the start of the period, W.
    pub fan_w: f64,
    /// Fan energy spent during the period, J.
    pub fan_energy_j: f64,
    /// Package power, W.
    pub package_w: f64,
    /// Hottest DIMM, °C.
    pub dimm_max_c: f64,
    /// Hottest VRM, °C.
    pub vrm_max_c: f64,
    /// Inlet air, °C.
    pub inlet_c: f64,
    /// Exhaust air, °C.
    pub outlet_c: f64,
    /// CPU throttling.
    pub throttling: bool,
    /// THERMTRIP latched.
    pub thermtrip: bool,
    /// Controller in failsafe.
    pub failsafe: bool,
}

impl TraceRow {
    pub(super) fn new(
        time_s: f64,
        s: &PlantSnapshot,
        obs: &Observation,
        setpoint_c: f64,
        duty: Duty,
        failsafe: bool,
        fan_energy_j: f64,
    ) -> Self {
        let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Self {
            time_s,
            tctl_c: s.tctl_c,
            tctl_read_c: obs.tctl.map(|t| f64::from(t.get()) / 1000.0),
            setpoint_c,
            duty,
            fan_rpm_mean: s.fan_rpm.iter().sum::<f64>() / s.fan_rpm.len() as f64,
            fan_w: s.fan_w.iter().sum(),
            fan_energy_j,
            package_w: s.cpu_package_w,
            dimm_max_c: max(&s.dimm_c),
            vrm_max_c: max(&s.vrm_c),
            inlet_c: s.inlet_c,
            outlet_c: s.outlet_c,
            throttling: s.throttling,
            thermtrip: s.thermtrip,
            failsafe,
        }
    }
}

/// All rows of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The controller's name.
    pub controller: String,
    /// One row per control period.
    pub rows: Vec<TraceRow>,
}

const CSV_HEADER: &str = "time_s,tctl_c,tctl_read_c,setpoint_c,duty_pct,fan_rpm_mean,fan_w,\
package_w,dimm_max_c,vrm_max_c,inlet_c,outlet_c,throttling,thermtrip,failsafe\n";

impl Trace {
    /// The trace as CSV text (header + one line per row).
    pub fn to_csv(&self) -> String {
        let mut s = String::with_capacity(CSV_HEADER.len() + self.rows.len() * 96);
        s.push_str(CSV_HEADER);
        for r in &self.rows {
            let read = r
                .tctl_read_c
                .map_or_else(String::new, |t| format!("{t:.3}"));
            let _ = writeln!(
                s,
                "{:.3},{:.4},{},{:.3},{},{:.1},{:.3},{:.3},{:.4},{:.4},{:.3},{:.4},{},{},{}",
                r.time_s,
                r.tctl_c,
                read,
                r.setpoint_c,
                r.duty,
                r.fan_rpm_mean,
                r.fan_w,
                r.package_w,
                r.dimm_max_c,
                r.vrm_max_c,
                r.inlet_c,
                r.outlet_c,
                u8::from(r.throttling),
                u8::from(r.thermtrip),
                u8::from(r.failsafe),
            );
        }
        // `Duty`'s Display is "62.5 %": keep the number only.
        s.replace(" %", "")
    }

    /// Writes the CSV to `path`, creating or truncating it.
    pub fn write_csv(&self, path: &Path) -> io::Result<()> {
        std::fs::write(path, self.to_csv())
    }
}

/// Renders Tctl (top) and fan duty (bottom) of several runs against time as SVG text,
/// with the setpoint as a dashed line.
pub fn svg_string(title: &str, traces: &[&Trace], setpoint_c: f64) -> Result<String, PlotError> {
    let ranges = plot_ranges(traces, setpoint_c)?;
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (1100, 760)).into_drawing_area();
        draw(&root, title, traces, setpoint_c, ranges).map_err(|e| PlotError(e.to_string()))?;
        root.present().map_err(|e| PlotError(e.to_string()))?;
    }
    Ok(buf)
}

/// Writes [`svg_string`] to `path`.
pub fn write_svg(
    path: &Path,
    title: &str,
    traces: &[&Trace],
    setpoint_c: f64,
) -> Result<(), PlotError> {
    let svg = svg_string(title, traces, setpoint_c)?;
    std::fs::write(path, svg)
        .map_err(|e| PlotError(format!("cannot write {}: {e}", path.display())))
}

/// A plot could not be drawn or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotError(pub String);

impl std::fmt::Display for PlotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "plot failed: {}", self.0)
    }
}

impl std::error::Error for PlotError {}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Largest |temperature| and time the plot accepts: plotters panics on non-finite axis
/// ranges, and nothing a simulated server does comes near these.
const PLOT_LIMIT: f64 = 1.0e6;

/// The time axis end and the Tctl axis range, checked to be finite numbers plotters can
/// draw (NaN readings are skipped).
fn plot_ranges(traces: &[&Trace], setpoint_c: f64) -> Result<(f64, f64, f64), PlotError> {
    if !(setpoint_c.is_finite() && setpoint_c.abs() <= PLOT_LIMIT) {
        return Err(PlotError(format!(
            "setpoint {setpoint_c} °C cannot be plotted: give a finite temperature within ±{PLOT_LIMIT} °C"
        )));
    }
    let t_end = traces
        .iter()
        .filter_map(|t| t.rows.last().map(|r| r.time_s))
        .fold(1.0, f64::max);
    let (mut t_lo, mut t_hi) = (setpoint_c - 5.0, setpoint_c + 5.0);
    for t in traces {
        for r in &t.rows {
            t_lo = t_lo.min(r.tctl_c);
            t_hi = t_hi.max(r.tctl_c);
        }
    }
    if !(t_end <= PLOT_LIMIT * 1.0e3 && t_lo >= -PLOT_LIMIT && t_hi <= PLOT_LIMIT) {
        return Err(PlotError(format!(
            "trace values cannot be plotted: time up to {t_end} s, Tctl {t_lo}..{t_hi} °C \
             (times and temperatures must be finite)"
        )));
    }
    Ok((t_end, t_lo, t_hi))
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    traces: &[&Trace],
    setpoint_c: f64,
    (t_end, t_lo, t_hi): (f64, f64, f64),
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (top, bottom) = root.split_vertically(470);
    let mut temp = ChartBuilder::on(&top)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..t_end, (t_lo - 2.0).floor()..(t_hi + 2.0).ceil())?;
    temp.configure_mesh()
        .x_desc("time (s)")
        .y_desc("Tctl (°C)")
        .draw()?;
    temp.draw_series(DashedLineSeries::new(
        [(0.0, setpoint_c), (t_end, setpoint_c)],
        8,
        6,
        BLACK.stroke_width(1),
    ))?
    .label(format!("setpoint {setpoint_c} °C"))
    .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
    for (i, t) in traces.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        temp.draw_series(LineSeries::new(
            t.rows.iter().map(|r| (r.time_s, r.tctl_c)),
            colour.stroke_width(2),
        ))?
        .label(t.controller.clone())
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    temp.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;

    let mut duty = ChartBuilder::on(&bottom)
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..t_end, 0.0..100.0)?;
    duty.configure_mesh()
        .x_desc("time (s)")
        .y_desc("fan duty (%)")
        .draw()?;
    for (i, t) in traces.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        duty.draw_series(LineSeries::new(
            t.rows
                .iter()
                .map(|r| (r.time_s, f64::from(r.duty.per_mille()) / 10.0)),
            colour.stroke_width(2),
        ))?;
    }
    Ok(())
}
