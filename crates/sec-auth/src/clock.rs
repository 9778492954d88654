//! Time as the rules see it: whole Unix seconds read from the same injectable [`Clock`] the
//! audit writers use, so tests move time forward instead of sleeping.

use std::time::{SystemTime, UNIX_EPOCH};

pub use sec_audit::{Clock, ManualClock, SystemClock};

/// `clock`'s time in whole Unix seconds. A clock before 1970 reads as 0 (a broken host;
/// every comparison stays defined).
pub fn unix_now(clock: &dyn Clock) -> i64 {
    clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The [`SystemTime`] of Unix second `secs` (negative values clamp to the epoch).
pub fn system_time(secs: i64) -> SystemTime {
    UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}
