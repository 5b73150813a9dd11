//! The composite cost a run is ranked by: temperature error + fan energy + duty variation.
//!
//! ```text
//! cost = temperature · mean(e²)                         [K²]     over the evaluation window
//!      + fan_power   · mean(Σ fan power)               [W]
//!      + duty_wear   · (Σ |Δduty|) / window minutes     [% per minute]
//!
//! e = Tctl − setpoint, except e = 0 while Tctl is below the setpoint with the fans at
//!     their minimum duty (the plant's `fan_d_min`)
//! ```
//!
//! Each term is a rate (per unit of time), so a longer run does not weigh more. Error
//! counts on both sides of the setpoint — running cooler than asked is airflow (noise,
//! wear, power) the operator did not ask for, and a controller that does not hold its
//! setpoint is not doing its job — except where no controller could do better: below the
//! setpoint with the fans already at their minimum (idle, or the climb after a load step).
//! Without that exception the unavoidable climb from idle to the setpoint would dominate
//! every controller's cost and hide the differences between them.
//!
//! Default weights, and why:
//! - `temperature = 1.0` per K²: the unit everything else is priced in.
//! - `fan_power = 0.2` per W: 5 W of fan power (≈ 4 % more duty near the 80 °C operating
//!   point, THERMAL.md §8.2 `P_fan = 0.5 + 13.9·u³` × 5 fans) costs as much as a steady
//!   1 K error, i.e. one degree of accuracy is worth about 5 W.
//! - `duty_wear = 0.02` per %/min: a controller that moves the fans 50 % per minute in
//!   total (a constant ±0.4 % dither at 1 Hz) pays as much as a 1 K error; audible
//!   hunting of several % per second pays far more.

/// Weights of the composite cost (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostWeights {
    /// Per K² of mean squared temperature error.
    pub temperature: f64,
    /// Per W of mean fan power.
    pub fan_power: f64,
    /// Per % of duty movement per minute.
    pub duty_wear: f64,
}

impl Default for CostWeights {
    fn default() -> Self {
        Self {
            temperature: 1.0,
            fan_power: 0.2,
            duty_wear: 0.02,
        }
    }
}

impl CostWeights {
    /// The cost of a run from its window statistics.
    pub fn cost(
        &self,
        mean_sq_error_k2: f64,
        mean_fan_w: f64,
        duty_total_variation_pct: f64,
        window_s: f64,
    ) -> f64 {
        let minutes = window_s / 60.0;
        let wear = if minutes > 0.0 {
            duty_total_variation_pct / minutes
        } else {
            0.0
        };
        self.temperature * mean_sq_error_k2 + self.fan_power * mean_fan_w + self.duty_wear * wear
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_term_raises_the_cost() {
        let w = CostWeights::default();
        let base = w.cost(1.0, 25.0, 10.0, 600.0);
        assert!(w.cost(2.0, 25.0, 10.0, 600.0) > base);
        assert!(w.cost(1.0, 30.0, 10.0, 600.0) > base);
        assert!(w.cost(1.0, 25.0, 20.0, 600.0) > base);
        // 1 K² ≈ 5 W ≈ 50 %/min, as documented.
        let one_k = w.cost(1.0, 0.0, 0.0, 60.0);
        assert!((w.cost(0.0, 5.0, 0.0, 60.0) - one_k).abs() < 1e-12);
        assert!((w.cost(0.0, 0.0, 50.0, 60.0) - one_k).abs() < 1e-12);
    }
}
