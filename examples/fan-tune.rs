//! Tune the CPU fan loop on the simulated reference board and compare it with the
//! baselines.
//!
//! 1. Relay-feedback autotuning (Åström–Hägglund) on the reference plant at 360 W around
//!    the setpoint, a tuning rule, then a bounded search on the scenario cost.
//! 2. Prints the suggested gains in the units `sovereign_hal::pid` takes (‰ duty per °C).
//! 3. Runs the reference inference scenario (idle → 360 W step, Tctl setpoint 80 °C) for
//!    Sovereign's PID with those gains and for each baseline, prints a comparison table
//!    and writes one CSV per controller and an SVG plot to `--out`.
//! 4. Runs the same scenario with other noise seeds (`--seeds`) and prints each
//!    controller's cost and duty variation per seed: one run's numbers are one sample of
//!    a loop whose fine behaviour depends on the sensor noise.
//!
//! Sovereign's PID runs with its reference smoothing (a 2 s measurement filter and a
//! 4 ‰ output deadband, [`Smoothing::REFERENCE`]) unless `--filter-ms`,
//! `--output-deadband` or `--input-deadband` say otherwise; `--filter-ms 0
//! --output-deadband 0 --input-deadband 125` is the loop without it.
//!
//! ```text
//! cargo run --release --example fan-tune -- --out target/fan-tune
//! ```

#[macro_use]
#[path = "common/out.rs"]
mod out;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sovereign_sim::scenario::baselines::{
    Fancontrol, FancontrolConfig, FixedDuty, PhosphorPid, PhosphorPidConfig,
};
use sovereign_sim::scenario::sovereign_pid::{Smoothing, SovereignPid};
use sovereign_sim::scenario::{Controller, Outcome, Run, Scenario, comparison_table, write_svg};
use sovereign_sim::tune::{self, RelayConfig, Rule, SearchConfig};

/// Tune Sovereign's CPU fan PID on the simulated reference board and compare it with
/// phosphor-pid-control, fancontrol and fixed 100 % fans.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Directory for the CSV traces and the SVG plot.
    #[arg(long, default_value = "target/fan-tune")]
    out: PathBuf,
    /// Tuning rule applied to the relay's ultimate gain and period.
    #[arg(long, value_enum, default_value_t = RuleArg::TlPi)]
    rule: RuleArg,
    /// Share of the relay's operating point fed forward from package power (0 = feedback
    /// only).
    #[arg(long, default_value_t = 1.0)]
    feed_forward: f64,
    /// Skip the cost search and use the rule's gains as they are.
    #[arg(long)]
    no_search: bool,
    /// Gain sets the search may try (each one runs every tuning scenario).
    #[arg(long, default_value_t = 25)]
    search_runs: usize,
    /// Noise seed of the reference scenario.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Length of the reference scenario, simulated seconds (the load step is at 300 s).
    #[arg(long, default_value_t = 1800)]
    duration_s: u32,
    /// Run the reference scenario in real time (one simulated second per second).
    #[arg(long)]
    realtime: bool,
    /// Time constant of Sovereign's measurement filter, ms (0: off).
    #[arg(long, default_value_t = Smoothing::REFERENCE.measurement_filter_ms)]
    filter_ms: u32,
    /// Sovereign's output deadband, ‰ duty (0: off).
    #[arg(long, default_value_t = Smoothing::REFERENCE.output_deadband_permille)]
    output_deadband: u32,
    /// Sovereign's input deadband, m°C.
    #[arg(long, default_value_t = Smoothing::REFERENCE.input_deadband_mc
        .unwrap_or(sovereign_hal::pid::PidConfig::reference_fan_loop().input_deadband))]
    input_deadband: u32,
    /// Further noise seeds to run every controller on (comma-separated; `--seeds` with no
    /// value: none).
    #[arg(long, value_delimiter = ',', num_args = 0.., default_value = "1,2,3,4,5")]
    seeds: Vec<u64>,
}

/// Tuning rules.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum RuleArg {
    /// Tyreus–Luyben PI (Kp = Ku/3.2, Ti = 2.2 Pu).
    TlPi,
    /// Tyreus–Luyben PID.
    TlPid,
    /// Ziegler–Nichols PI (Kp = 0.45 Ku, Ti = Pu/1.2).
    ZnPi,
    /// Ziegler–Nichols PID.
    ZnPid,
}

impl From<RuleArg> for Rule {
    fn from(r: RuleArg) -> Self {
        match r {
            RuleArg::TlPi => Rule::TyreusLuybenPi,
            RuleArg::TlPid => Rule::TyreusLuybenPid,
            RuleArg::ZnPi => Rule::ZieglerNicholsPi,
            RuleArg::ZnPid => Rule::ZieglerNicholsPid,
        }
    }
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template("{msg:>24} [{bar:40}] {pos}/{len} ({elapsed})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

/// A controller name as a file name: lower-case ASCII words joined by single dashes.
fn file_stem(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fan-tune: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut reference = Scenario::reference_inference();
    reference.seed = args.seed;
    reference.duration_s = args.duration_s;
    if args.realtime {
        reference.pace = sovereign_sim::scenario::Pace::RealTime;
    }
    if f64::from(args.duration_s) <= reference.eval_from_s + reference.steady_window_s {
        return Err(format!(
            "--duration-s {} is too short: the load step comes at {:.0} s and the steady-state \
             error is averaged over the last {:.0} s after it; give at least {:.0} s",
            args.duration_s,
            reference.eval_from_s,
            reference.steady_window_s,
            reference.eval_from_s + reference.steady_window_s + 1.0
        )
        .into());
    }
    reference.validate()?;
    let setpoint_c = reference.setpoint_c;

    // 1. Autotune.
    let relay_cfg = RelayConfig {
        setpoint_c,
        ..RelayConfig::reference()
    };
    let tuning = tune::tuning_scenarios();
    let search_cfg = SearchConfig {
        max_evaluations: args.search_runs,
        ..SearchConfig::default()
    };
    let search_bar = bar(args.search_runs as u64, "cost search");
    let smoothing = Smoothing {
        measurement_filter_ms: args.filter_ms,
        output_deadband_permille: args.output_deadband,
        input_deadband_mc: Some(args.input_deadband),
    };
    let mut make = |g: &tune::PidGains| -> Box<dyn Controller> {
        match SovereignPid::from_gains_smoothed(g, setpoint_c, smoothing) {
            Ok(pid) => Box::new(pid),
            // Gains out of the PID's fixed-point range: a controller that never cools
            // is priced out by the search.
            Err(_) => Box::new(FixedDuty::new(sovereign_hal::units::Duty::ZERO)),
        }
    };
    let tuned = tune::autotune(
        &relay_cfg,
        args.rule.into(),
        if args.feed_forward > 0.0 {
            tune::FeedForward::FromRelay {
                fraction: args.feed_forward,
            }
        } else {
            tune::FeedForward::None
        },
        (!args.no_search).then_some((&tuning[..], &search_cfg)),
        &mut make,
        &mut |done, _| search_bar.set_position(done as u64),
    )?;
    search_bar.finish_and_clear();
    let r = &tuned.relay;
    out!(
        "relay ±{:.0} % around {:.1} %, hysteresis ±{} °C: Pu = {:.1} s, a = {:.3} °C ⇒ Ku = {:.1} %/°C",
        relay_cfg.amplitude_pct,
        r.bias_pct,
        relay_cfg.hysteresis_c,
        r.ultimate_period_s,
        r.amplitude_c,
        r.ultimate_gain_pct_per_c
    );
    out!("{:?} gains:    {}", tuned.rule, tuned.rule_gains);
    if let Some(refined) = &tuned.refined {
        out!(
            "after search:  {} ({} gain sets × {} tuning runs of {} s, mean cost {:.2})",
            refined.gains,
            refined.evaluations,
            tuning.len(),
            tuning.first().map_or(0, |s| s.duration_s),
            refined.mean_cost
        );
    }
    let gains = tuned.gains();
    let pid = SovereignPid::from_gains_smoothed(&gains, setpoint_c, smoothing)?;
    let c = pid.config();
    out!(
        "suggested sovereign_hal::pid::PidConfig: kp = Gain::from_milli({}), ki = Gain::from_milli({}), \
         kd = Gain::from_milli({}), kff_disturbance = Gain::from_milli({}), integral_min = {}, \
         measurement_filter = MilliSeconds({}), output_deadband = {}, input_deadband = {} \
         (‰ duty per °C, per °C·s, per °C/s, per W of package power; ms; ‰; m°C)",
        c.kp.to_milli(),
        c.ki.to_milli(),
        c.kd.to_milli(),
        c.kff_disturbance.to_milli(),
        c.integral_min,
        c.measurement_filter.0,
        c.output_deadband,
        c.input_deadband
    );

    // 2. Reference scenario, every controller.
    let controllers_for = || -> Result<Vec<Box<dyn Controller>>, sovereign_hal::pid::PidError> {
        Ok(vec![
            Box::new(SovereignPid::from_gains_smoothed(
                &gains, setpoint_c, smoothing,
            )?),
            Box::new(PhosphorPid::new(
                "phosphor-pid (DaytonaX)",
                PhosphorPidConfig::daytonax(setpoint_c),
            )),
            Box::new(Fancontrol::new(FancontrolConfig::default())),
            Box::new(FixedDuty::full()),
            // Not a baseline of the issue: phosphor's algorithm with the autotuned Kp and
            // Ki (PhosphorPidConfig::tuned), to show how much of the difference is the
            // tuning and how much the controller.
            Box::new(PhosphorPid::new(
                "phosphor (tuned Kp, Ki)",
                PhosphorPidConfig::tuned(setpoint_c, &gains),
            )),
        ])
    };
    let mut controllers = controllers_for()?;
    let run_bar = bar(
        reference.periods() * controllers.len() as u64,
        "reference scenario",
    );
    let mut runs: Vec<Run> = Vec::new();
    for (i, c) in controllers.iter_mut().enumerate() {
        let offset = reference.periods() * i as u64;
        let run = reference.run_with_progress(c.as_mut(), &mut |done, _| {
            run_bar.set_position(offset + done)
        })?;
        runs.push(run);
    }
    run_bar.finish_and_clear();

    out!(
        "\nreference scenario: idle → {:.0} W at {:.0} s, setpoint {setpoint_c} °C, {} s, seed {}",
        reference.params.cpu_full_w,
        reference.eval_from_s,
        reference.duration_s,
        reference.seed
    );
    let outcomes: Vec<_> = runs.iter().map(|r| r.outcome.clone()).collect();
    out!("{}", comparison_table(&outcomes).trim_end_matches('\n'));

    // 3. Files.
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    for run in &runs {
        let path = args
            .out
            .join(format!("{}.csv", file_stem(&run.trace.controller)));
        run.trace
            .write_csv(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let svg = args.out.join("reference-inference.svg");
    let traces: Vec<_> = runs.iter().map(|r| &r.trace).collect();
    write_svg(
        &svg,
        "Reference inference scenario: idle → 360 W",
        &traces,
        setpoint_c,
    )?;
    out!("\nwrote {} CSV traces and {}", runs.len(), svg.display());

    // 4. Other seeds.
    if !args.seeds.is_empty() {
        let mut per_seed: Vec<(u64, Vec<Outcome>)> = vec![(reference.seed, outcomes)];
        let seeds_bar = bar((args.seeds.len() * controllers.len()) as u64, "other seeds");
        for &seed in &args.seeds {
            let mut s = reference.clone();
            s.seed = seed;
            s.pace = sovereign_sim::scenario::Pace::AsFastAsPossible;
            let mut row = Vec::new();
            for mut c in controllers_for()? {
                row.push(s.run(c.as_mut())?.outcome);
                seeds_bar.inc(1);
            }
            per_seed.push((seed, row));
        }
        seeds_bar.finish_and_clear();
        out!("\n{}", seed_table(&per_seed).trim_end_matches('\n'));
    }
    Ok(())
}

/// Cost and duty variation of every controller, one line per seed, then the mean.
fn seed_table(per_seed: &[(u64, Vec<Outcome>)]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("cost / ΔDuty % per noise seed\n");
    let names: Vec<&str> = per_seed
        .first()
        .map(|(_, o)| o.iter().map(|o| o.controller.as_str()).collect())
        .unwrap_or_default();
    let _ = write!(s, "{:>6}", "seed");
    for n in &names {
        let _ = write!(s, " {:>25}", n.chars().take(25).collect::<String>());
    }
    s.push('\n');
    let mut sums = vec![(0.0, 0.0); names.len()];
    for (seed, outcomes) in per_seed {
        let _ = write!(s, "{seed:>6}");
        for (o, sum) in outcomes.iter().zip(&mut sums) {
            let _ = write!(
                s,
                " {:>25}",
                format!("{:.2} / {:.0}", o.cost, o.duty_total_variation_pct)
            );
            sum.0 += o.cost;
            sum.1 += o.duty_total_variation_pct;
        }
        s.push('\n');
    }
    let n = per_seed.len().max(1) as f64;
    let _ = write!(s, "{:>6}", "mean");
    for (cost, dd) in sums {
        let _ = write!(s, " {:>25}", format!("{:.2} / {:.0}", cost / n, dd / n));
    }
    s.push('\n');
    s
}
