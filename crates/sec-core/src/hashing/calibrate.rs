//! `calibrate`: pick Argon2id `m`/`t` so one hash takes about a target time on this machine,
//! never below the OWASP minimum. Meant for an operator command at deploy time, not for
//! start-up: the result goes into configuration so every replica uses the same parameters.

use std::time::{Duration, Instant};

use argon2::{Algorithm, Version};

use super::{HashParams, MAX_T_COST, Work};

/// Default memory ceiling for [`calibrate`], in KiB (64 MiB). With a pool bounded at the core
/// count, peak hashing memory is cores × this.
pub const CALIBRATION_MAX_M_COST_KIB: u32 = 64 * 1024;
/// Memory is grown in whole MiB.
const M_STEP_KIB: u32 = 1024;
/// Bounds the number of measurements when shrinking an estimate that overshot.
const MAX_ADJUSTMENTS: usize = 12;

/// Parameters (p=1) whose hash takes at most about `target` here, preferring memory up to
/// [`CALIBRATION_MAX_M_COST_KIB`], then passes. If the OWASP minimum is already slower than
/// `target`, returns the OWASP minimum: calibration never weakens hashing.
///
/// Runs a handful of real hashes (each measured twice, keeping the faster, to damp noise), so
/// it takes a few times `target`.
pub fn calibrate(target: Duration) -> HashParams {
    calibrate_with_memory_limit(target, CALIBRATION_MAX_M_COST_KIB)
}

/// [`calibrate`] with another memory ceiling in KiB (raised to the OWASP minimum if lower).
pub fn calibrate_with_memory_limit(target: Duration, max_m_cost_kib: u32) -> HashParams {
    search(target, max_m_cost_kib, measure)
}

/// Wall-clock time of one hash at `params`, best of two.
fn measure(params: HashParams) -> Duration {
    let work = Work {
        algorithm: Algorithm::Argon2id,
        version: Version::V0x13,
        m_cost: params.m_cost_kib(),
        t_cost: params.t_cost(),
        p_cost: params.p_cost(),
        secret: None,
        data: None,
    };
    let mut out = [0u8; super::HASH_LEN];
    (0..2)
        .map(|_| {
            let start = Instant::now();
            // Validated parameters cannot fail; a failure would only make the estimate fast.
            let _ = work.run(b"calibration password", &[0u8; super::SALT_LEN], &mut out);
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The search, with the clock injected so tests can check it against a cost model.
pub(super) fn search(
    target: Duration,
    max_m_cost_kib: u32,
    mut measure: impl FnMut(HashParams) -> Duration,
) -> HashParams {
    let floor = HashParams::OWASP_MINIMUM;
    let max_m = max_m_cost_kib.clamp(floor.m_cost_kib(), super::MAX_M_COST_KIB);
    let base_time = measure(floor);
    if base_time >= target || base_time.is_zero() {
        return floor;
    }

    // Argon2's time is close to linear in m × t: scale memory first.
    let ratio = target.as_secs_f64() / base_time.as_secs_f64();
    let wanted_m = f64::from(floor.m_cost_kib()) * ratio;
    let mut m = if wanted_m >= f64::from(max_m) {
        max_m
    } else {
        // `wanted_m` is below `max_m`, itself a u32, so the cast cannot truncate.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let m = (wanted_m as u32 / M_STEP_KIB) * M_STEP_KIB;
        m.max(floor.m_cost_kib())
    };
    let mut t = floor.t_cost();
    let mut candidate = params(m, t).unwrap_or(floor);
    let mut time = measure(candidate);

    if m == max_m && time < target {
        // Out of memory budget: add passes, scaling from the measured time per pass.
        let per_pass = time.as_secs_f64() / f64::from(t);
        let wanted_t = (target.as_secs_f64() / per_pass).floor();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let wanted_t = wanted_t.clamp(f64::from(t), f64::from(MAX_T_COST)) as u32;
        t = wanted_t;
        candidate = params(m, t).unwrap_or(candidate);
        time = measure(candidate);
    }

    // The linear estimate can overshoot (caches, noise): step back, passes first.
    for _ in 0..MAX_ADJUSTMENTS {
        if time <= target {
            return candidate;
        }
        if t > floor.t_cost() {
            t -= 1;
        } else if m > floor.m_cost_kib() {
            m = m.saturating_sub(M_STEP_KIB.max(m / 10)).max(floor.m_cost_kib());
        } else {
            return floor;
        }
        candidate = params(m, t).unwrap_or(floor);
        time = measure(candidate);
    }
    if time <= target { candidate } else { floor }
}

fn params(m: u32, t: u32) -> Option<HashParams> {
    HashParams::new(m, t, 1).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails loudly on any error")]

    use super::*;

    /// A machine where one KiB-pass costs `ns_per_kib_pass` nanoseconds.
    fn linear(ns_per_kib_pass: u64) -> impl FnMut(HashParams) -> Duration {
        move |p| {
            Duration::from_nanos(
                u64::from(p.m_cost_kib()) * u64::from(p.t_cost()) * ns_per_kib_pass,
            )
        }
    }

    fn cost(p: HashParams, ns: u64) -> Duration {
        linear(ns)(p)
    }

    #[test]
    fn a_slow_machine_gets_the_owasp_minimum_never_less() {
        // 19456 × 2 × 1000 ns ≈ 39 ms, above a 10 ms target.
        let p = search(Duration::from_millis(10), CALIBRATION_MAX_M_COST_KIB, linear(1000));
        assert_eq!(p, HashParams::OWASP_MINIMUM);
    }

    #[test]
    fn memory_grows_first_and_the_result_meets_the_target() {
        let target = Duration::from_millis(100);
        // Base ≈ 3.9 ms; 100 ms needs ~25× the memory, more than 64 MiB allows at t=2.
        let p = search(target, 1024 * 1024, linear(100));
        assert_eq!(p.t_cost(), 2);
        assert!(p.m_cost_kib() > HashParams::OWASP_MINIMUM.m_cost_kib());
        assert!(cost(p, 100) <= target);
        // Within one memory step of the target.
        let bigger = HashParams::new(p.m_cost_kib() + 2 * M_STEP_KIB, 2, 1).unwrap();
        assert!(cost(bigger, 100) > target);
    }

    #[test]
    fn passes_grow_once_the_memory_ceiling_is_reached() {
        // Base ≈ 3.9 ms, 64 MiB at t=2 ≈ 13 ms, so 200 ms needs about 30 passes.
        let target = Duration::from_millis(200);
        let p = search(target, CALIBRATION_MAX_M_COST_KIB, linear(100));
        assert_eq!(p.m_cost_kib(), CALIBRATION_MAX_M_COST_KIB);
        assert!(p.t_cost() > 2);
        assert!(cost(p, 100) <= target);
        let one_more_pass = HashParams::new(p.m_cost_kib(), p.t_cost() + 1, 1).unwrap();
        assert!(cost(one_more_pass, 100) > target);
    }

    #[test]
    fn a_ceiling_below_the_minimum_is_raised_to_it() {
        let p = search(Duration::from_millis(50), 1024, linear(100));
        assert!(p.m_cost_kib() >= HashParams::OWASP_MINIMUM.m_cost_kib());
        assert!(p.t_cost() >= 2);
    }

    #[test]
    fn an_overshooting_estimate_is_walked_back() {
        // Superlinear machine: memory beyond 32 MiB costs 4× (cache effects).
        let model = |p: HashParams| {
            let m = u64::from(p.m_cost_kib());
            let penalty = if m > 32 * 1024 { 4 } else { 1 };
            Duration::from_nanos(m * u64::from(p.t_cost()) * 100 * penalty)
        };
        let target = Duration::from_millis(20);
        let p = search(target, 1024 * 1024, model);
        assert!(model(p) <= target);
        assert!(p.m_cost_kib() >= HashParams::OWASP_MINIMUM.m_cost_kib());
    }
}
