//! Curves from an input (milli-units) to an output (output units): stepwise tables with
//! hysteresis and piecewise-linear interpolation, both in fixed-capacity storage.
//!
//! A stepwise table is what HPE's DL385 config uses for its CPU loop
//! (35/45/55/65/75/85/95 °C → 25/50/75/100/150/200/255 PWM, THERMAL.md §7.2); a linear
//! curve is fscd's `linear_cpu` (59 → 8 %, 62 → 9 %, … §7.3).

use heapless::Vec;

use super::ControlError;

/// How a stepwise controller's output combines with the rest of its zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StepwiseMode {
    /// The output is a demand like any other: the zone takes the maximum.
    Floor,
    /// The output caps the zone's demand (phosphor's "ceiling" stepwise): e.g. a noise
    /// limit that lowers the allowed maximum while an inlet is cool.
    Ceiling,
}

/// One row of a curve: at or above `input` (milli-units), the curve gives `output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CurvePoint {
    /// Input in milli-units (m°C for a temperature).
    pub input: i32,
    /// Output in the zone's output unit (per-mille duty).
    pub output: i32,
}

impl CurvePoint {
    /// A point from an input in milli-units and an output.
    pub const fn new(input: i32, output: i32) -> Self {
        Self { input, output }
    }
}

fn collect<const N: usize>(points: &[CurvePoint]) -> Result<Vec<CurvePoint, N>, ControlError> {
    if points.is_empty() {
        return Err(ControlError::EmptyCurve);
    }
    if points
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.input >= b.input))
    {
        return Err(ControlError::CurveNotIncreasing);
    }
    Vec::from_slice(points).map_err(|_| ControlError::TooManyPoints)
}

/// A stepwise table of up to `N` rows, with input hysteresis.
///
/// The output is that of the last row whose input is at or below the input in use (the
/// first row's output below the table). The input in use changes only when the new
/// input rises more than `rise_hysteresis` above it or falls more than
/// `fall_hysteresis` below it, so a sensor dithering on a step edge does not make the
/// fans hunt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stepwise<const N: usize> {
    rows: Vec<CurvePoint, N>,
    rise_hysteresis: u32,
    fall_hysteresis: u32,
    mode: StepwiseMode,
    held: Option<i32>,
}

impl<const N: usize> Stepwise<N> {
    /// A table from rows in strictly increasing input order.
    ///
    /// # Errors
    /// [`ControlError::EmptyCurve`], [`ControlError::CurveNotIncreasing`] or
    /// [`ControlError::TooManyPoints`] (more than `N` rows).
    pub fn new(
        rows: &[CurvePoint],
        rise_hysteresis: u32,
        fall_hysteresis: u32,
        mode: StepwiseMode,
    ) -> Result<Self, ControlError> {
        Ok(Self {
            rows: collect(rows)?,
            rise_hysteresis,
            fall_hysteresis,
            mode,
            held: None,
        })
    }

    /// Floor or ceiling.
    pub const fn mode(&self) -> StepwiseMode {
        self.mode
    }

    /// The table's output for `input`, ignoring hysteresis.
    pub fn lookup(&self, input: i32) -> i32 {
        let mut out = self.rows.first().map_or(0, |r| r.output);
        for row in &self.rows {
            if row.input <= input {
                out = row.output;
            } else {
                break;
            }
        }
        out
    }

    /// The output for a new input, with hysteresis; updates the input in use.
    pub fn update(&mut self, input: i32) -> i32 {
        let used = match self.held {
            Some(held)
                if i64::from(input) <= i64::from(held) + i64::from(self.rise_hysteresis)
                    && i64::from(input) >= i64::from(held) - i64::from(self.fall_hysteresis) =>
            {
                held
            }
            _ => input,
        };
        self.held = Some(used);
        self.lookup(used)
    }
}

/// A piecewise-linear curve of up to `N` points, flat beyond its ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiecewiseLinear<const N: usize> {
    points: Vec<CurvePoint, N>,
}

impl<const N: usize> PiecewiseLinear<N> {
    /// A curve from points in strictly increasing input order.
    ///
    /// # Errors
    /// As [`Stepwise::new`].
    pub fn new(points: &[CurvePoint]) -> Result<Self, ControlError> {
        Ok(Self {
            points: collect(points)?,
        })
    }

    /// The interpolated output, rounded to nearest.
    pub fn evaluate(&self, input: i32) -> i32 {
        let (Some(first), Some(last)) = (self.points.first(), self.points.last()) else {
            return 0;
        };
        if input <= first.input {
            return first.output;
        }
        if input >= last.input {
            return last.output;
        }
        for w in self.points.windows(2) {
            if let [a, b] = w {
                if input <= b.input {
                    // i128: the two differences may each need 33 bits.
                    let dy = i128::from(b.output) - i128::from(a.output);
                    let dx = i128::from(b.input) - i128::from(a.input);
                    let t = i128::from(input) - i128::from(a.input);
                    let num = dy * t;
                    let half = dx / 2;
                    let step = if num >= 0 {
                        (num + half) / dx
                    } else {
                        (num - half) / dx
                    };
                    // Between a.output and b.output, so it fits i32.
                    return i32::try_from(i128::from(a.output) + step).unwrap_or(b.output);
                }
            }
        }
        last.output
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use proptest::prelude::*;

    use super::*;

    /// HPE DL385 Gen11 CPU table (THERMAL.md §7.2), °C → PWM/255.
    fn dl385() -> Stepwise<8> {
        let rows = [
            (35, 25),
            (45, 50),
            (55, 75),
            (65, 100),
            (75, 150),
            (85, 200),
            (95, 255),
        ]
        .map(|(c, pwm)| CurvePoint::new(c * 1000, pwm));
        Stepwise::new(&rows, 1000, 1000, StepwiseMode::Floor).unwrap()
    }

    #[test]
    fn stepwise_picks_the_row_at_or_below() {
        let t = dl385();
        assert_eq!(t.lookup(20_000), 25);
        assert_eq!(t.lookup(45_000), 50);
        assert_eq!(t.lookup(64_999), 75);
        assert_eq!(t.lookup(120_000), 255);
    }

    #[test]
    fn stepwise_hysteresis_stops_hunting_on_an_edge() {
        let mut t = dl385();
        assert_eq!(t.update(65_200), 100);
        // Dither of ±0.5 °C around the 65 °C edge: held.
        assert_eq!(t.update(64_700), 100);
        assert_eq!(t.update(65_600), 100);
        // A real fall of more than 1 °C below the input in use.
        assert_eq!(t.update(64_100), 75);
        assert_eq!(t.update(64_900), 75);
        assert_eq!(t.update(65_200), 100);
    }

    #[test]
    fn curves_reject_bad_tables() {
        let p = CurvePoint::new;
        assert_eq!(
            Stepwise::<4>::new(&[], 0, 0, StepwiseMode::Floor),
            Err(ControlError::EmptyCurve)
        );
        assert_eq!(
            PiecewiseLinear::<4>::new(&[p(2, 1), p(2, 3)]),
            Err(ControlError::CurveNotIncreasing)
        );
        assert_eq!(
            PiecewiseLinear::<2>::new(&[p(1, 1), p(2, 2), p(3, 3)]),
            Err(ControlError::TooManyPoints)
        );
    }

    #[test]
    fn linear_interpolates_and_is_flat_beyond_its_ends() {
        // fscd Halfdome linear_cpu (THERMAL.md §7.3), °C → per-mille.
        let c = PiecewiseLinear::<8>::new(&[
            CurvePoint::new(59_000, 80),
            CurvePoint::new(62_000, 90),
            CurvePoint::new(65_000, 140),
        ])
        .unwrap();
        assert_eq!(c.evaluate(0), 80);
        assert_eq!(c.evaluate(60_500), 85);
        assert_eq!(c.evaluate(63_000), 107); // 90 + 50/3 = 106.67
        assert_eq!(c.evaluate(99_000), 140);
    }

    proptest! {
        #[test]
        fn linear_stays_between_neighbours_for_any_points(
            mut xs in proptest::collection::btree_set(any::<i32>(), 2..8),
            ys in proptest::collection::vec(any::<i32>(), 8),
            x in any::<i32>(),
        ) {
            let xs: std::vec::Vec<i32> = core::mem::take(&mut xs).into_iter().collect();
            let pts: std::vec::Vec<CurvePoint> = xs.iter().zip(&ys).map(|(&x, &y)| CurvePoint::new(x, y)).collect();
            let c = PiecewiseLinear::<8>::new(&pts).unwrap();
            let y = c.evaluate(x);
            let lo = pts.iter().map(|p| p.output).min().unwrap();
            let hi = pts.iter().map(|p| p.output).max().unwrap();
            prop_assert!(y >= lo && y <= hi);
        }
    }
}
