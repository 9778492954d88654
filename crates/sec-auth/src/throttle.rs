//! Login throttling: exponential back-off on failure counters kept in the database, so every
//! replica sees the same counts.
//!
//! Two counters are kept per account (by user id; for an identifier that matches no account,
//! by the identifier itself, so unknown names are throttled exactly like real ones and
//! throttling reveals nothing):
//!
//! - **per (account, client IP)**: after [`ThrottlePolicy::pair_free_failures`] failures from
//!   one address, each further attempt from it waits a delay that doubles per failure, up to
//!   [`ThrottlePolicy::max_delay_secs`]. A success from that address resets it.
//! - **per account, all addresses**: the same back-off after
//!   [`ThrottlePolicy::account_free_failures`] failures, and after
//!   [`ThrottlePolicy::account_hard_limit`] consecutive failures (NIST SP 800-63B §5.2.2: no
//!   more than 100) no further attempt from an unknown address is evaluated at all. Any
//!   success resets it.
//!
//! Failures are forgotten after a quiet period: a counter whose last counted failure is
//! [`ThrottlePolicy::reset_after_secs`] old (default 24 hours) reads as zero, and counting
//! starts again from one. Refused attempts are not counted, so once a campaign reaches the
//! hard limit it cannot prolong the lock: the account opens to every address again one quiet
//! period after its last counted failure, whatever the attacker keeps sending. The period is
//! long next to the capped back-off (15 minutes), so waiting it out never gives an attacker
//! more guesses than trying at the capped rate would (docs/auth.md has the arithmetic).
//!
//! An address that has logged in to the account successfully before is *known* for it and is
//! not subject to the account-wide counter, only to its own pair counter. So a distributed
//! campaign from many addresses cannot lock the owner out: from their usual address the owner
//! waits at most their own back-off, and their success resets the account counter. What stays
//! possible is an attacker sharing the owner's address (same NAT) guessing at the pair rate,
//! which the capped delay keeps to a few tries an hour; docs/security.md says so.
//!
//! Attempts are *reserved* before the password is checked: the counter goes up first and a
//! success puts it back, so concurrent attempts (on one replica or many) cannot all slip
//! through while the counter still reads low.

/// The numbers. Defaults: 5 free failures per address, 10 per account, then 1 s doubling to
/// 15 minutes; hard stop at 100 consecutive failures per account for unknown addresses;
/// failures forgotten after 24 hours without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures from one address before back-off starts for it.
    pub pair_free_failures: u32,
    /// Failures from all addresses before the account-wide back-off starts.
    pub account_free_failures: u32,
    /// First delay in seconds.
    pub base_delay_secs: i64,
    /// Longest delay in seconds.
    pub max_delay_secs: i64,
    /// Consecutive failures after which unknown addresses are refused outright.
    pub account_hard_limit: u32,
    /// Seconds without a counted failure after which a counter is forgotten (reads as zero).
    /// Never shorter than `max_delay_secs` (settings validation sees to it).
    pub reset_after_secs: i64,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            pair_free_failures: 5,
            account_free_failures: 10,
            base_delay_secs: 1,
            max_delay_secs: 15 * 60,
            account_hard_limit: 100,
            reset_after_secs: 24 * 60 * 60,
        }
    }
}

/// One stored counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleCounter {
    /// Consecutive failures (reserved attempts count until a success resets them).
    pub failures: u32,
    /// When the last attempt was reserved, Unix seconds.
    pub last_failure_at: i64,
    /// When a login from this address last succeeded (pair counters only).
    pub last_success_at: Option<i64>,
}

/// The two counters an attempt is judged on; `None` where nothing is stored yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThrottleView {
    /// The account-wide counter.
    pub account: Option<ThrottleCounter>,
    /// The (account, address) counter.
    pub pair: Option<ThrottleCounter>,
}

/// Why an attempt was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// This address is backing off.
    AddressBackoff,
    /// The account is backing off for unknown addresses.
    AccountBackoff,
    /// The account reached the hard limit; only known addresses may try.
    AccountLocked,
}

impl DenyReason {
    /// A short name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AddressBackoff => "address_backoff",
            Self::AccountBackoff => "account_backoff",
            Self::AccountLocked => "account_locked",
        }
    }
}

/// The verdict on an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead (the store then counts the attempt).
    Allow,
    /// Refuse without checking the password.
    Deny {
        /// Why.
        reason: DenyReason,
        /// Seconds until an attempt may be allowed again (at least 1).
        retry_after_secs: i64,
    },
}

impl ThrottlePolicy {
    /// Delay owed after `failures` failures when `free` are allowed without one.
    pub fn delay_after(&self, free: u32, failures: u32) -> i64 {
        if failures < free {
            return 0;
        }
        let doublings = (failures - free).min(40);
        self.base_delay_secs.saturating_mul(1_i64 << doublings).min(self.max_delay_secs)
    }

    /// A counter whose last counted failure is at or before this second has decayed: it
    /// reads as zero failures, the store counts the next failure as the first, and
    /// housekeeping may delete it (unless it marks a known address).
    pub fn forget_before(&self, now: i64) -> i64 {
        now.saturating_sub(self.reset_after_secs)
    }

    /// `counter` as it stands at `now`: without failures once it has decayed.
    pub fn current(&self, counter: ThrottleCounter, now: i64) -> ThrottleCounter {
        if counter.last_failure_at <= self.forget_before(now) {
            ThrottleCounter { failures: 0, ..counter }
        } else {
            counter
        }
    }

    /// Judges an attempt at `now` on the stored counters (decayed ones read as zero).
    pub fn decide(&self, view: &ThrottleView, now: i64) -> Decision {
        let view = ThrottleView {
            account: view.account.map(|c| self.current(c, now)),
            pair: view.pair.map(|c| self.current(c, now)),
        };
        let mut worst: Option<(DenyReason, i64)> = None;
        let mut deny = |reason, wait: i64| {
            if wait > 0 && worst.is_none_or(|(_, w)| wait > w) {
                worst = Some((reason, wait));
            }
        };
        if let Some(pair) = view.pair {
            let ready_at = pair
                .last_failure_at
                .saturating_add(self.delay_after(self.pair_free_failures, pair.failures));
            deny(DenyReason::AddressBackoff, ready_at.saturating_sub(now));
        }
        let known_address = view.pair.and_then(|p| p.last_success_at).is_some();
        if let (false, Some(account)) = (known_address, view.account) {
            if account.failures >= self.account_hard_limit {
                // Open again one quiet period after the last counted failure.
                let opens_at = account.last_failure_at.saturating_add(self.reset_after_secs);
                deny(DenyReason::AccountLocked, opens_at.saturating_sub(now).max(1));
            } else {
                let ready_at = account
                    .last_failure_at
                    .saturating_add(self.delay_after(self.account_free_failures, account.failures));
                deny(DenyReason::AccountBackoff, ready_at.saturating_sub(now));
            }
        }
        match worst {
            None => Decision::Allow,
            // A counter written by a replica whose clock runs ahead can put the wait beyond
            // the cap; the client is never told to wait longer than the cap.
            Some((reason, wait)) => Decision::Deny {
                reason,
                retry_after_secs: wait.clamp(1, self.max_delay_secs.max(1)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn counter(failures: u32, last_failure_at: i64) -> ThrottleCounter {
        ThrottleCounter { failures, last_failure_at, last_success_at: None }
    }

    #[test]
    fn delays_start_after_the_free_tries_double_and_cap() {
        let p = ThrottlePolicy::default();
        assert_eq!(p.delay_after(5, 4), 0);
        assert_eq!(p.delay_after(5, 5), 1);
        assert_eq!(p.delay_after(5, 6), 2);
        assert_eq!(p.delay_after(5, 14), 512);
        assert_eq!(p.delay_after(5, 15), 900);
        assert_eq!(p.delay_after(5, u32::MAX), 900);
    }

    #[test]
    fn an_address_past_its_free_tries_waits() {
        let p = ThrottlePolicy::default();
        let view = ThrottleView { account: Some(counter(6, 100)), pair: Some(counter(6, 100)) };
        assert_eq!(
            p.decide(&view, 100),
            Decision::Deny { reason: DenyReason::AddressBackoff, retry_after_secs: 2 }
        );
        assert_eq!(p.decide(&view, 102), Decision::Allow);
    }

    #[test]
    fn a_distributed_campaign_hits_the_account_counter() {
        let p = ThrottlePolicy::default();
        // A fresh address, but the account has 12 failures from elsewhere.
        let view = ThrottleView { account: Some(counter(12, 1000)), pair: None };
        assert_eq!(
            p.decide(&view, 1000),
            Decision::Deny { reason: DenyReason::AccountBackoff, retry_after_secs: 4 }
        );
        // At the hard limit a new address is not even evaluated, an hour after the last failure
        // as at once (the limit lifts one quiet period later: the next test).
        let locked = ThrottleView { account: Some(counter(100, 0)), pair: None };
        assert!(matches!(
            p.decide(&locked, 3_600),
            Decision::Deny { reason: DenyReason::AccountLocked, .. }
        ));
    }

    #[test]
    fn the_hard_limit_lifts_one_quiet_period_after_the_last_failure() {
        let p = ThrottlePolicy::default();
        let locked = ThrottleView { account: Some(counter(100, 5_000)), pair: None };
        let opens_at = 5_000 + p.reset_after_secs;
        assert_eq!(
            p.decide(&locked, opens_at - 1),
            Decision::Deny { reason: DenyReason::AccountLocked, retry_after_secs: 1 }
        );
        assert_eq!(p.decide(&locked, opens_at), Decision::Allow, "a new address gets in");
        // Once decayed, the counter starts again from zero: the free tries, then back-off.
        assert_eq!(p.current(counter(100, 5_000), opens_at).failures, 0);
        assert_eq!(p.current(counter(100, 5_000), opens_at - 1).failures, 100);
    }

    #[test]
    fn waiting_out_the_reset_gives_fewer_guesses_than_the_capped_rate() {
        // The decay must not be a way around the back-off: in one quiet period an attacker
        // at the capped rate would get reset/max_delay tries, far more than the free ones a
        // reset gives back.
        let p = ThrottlePolicy::default();
        assert!(i64::from(p.account_free_failures) < p.reset_after_secs / p.max_delay_secs);
        assert!(i64::from(p.pair_free_failures) < p.reset_after_secs / p.max_delay_secs);
    }

    #[test]
    fn a_known_address_is_not_held_back_by_the_account_counter() {
        let p = ThrottlePolicy::default();
        let known = ThrottleCounter { failures: 0, last_failure_at: 0, last_success_at: Some(0) };
        let view = ThrottleView { account: Some(counter(100, 1000)), pair: Some(known) };
        assert_eq!(p.decide(&view, 1000), Decision::Allow);
    }

    proptest! {
        /// However the counters stand, a refusal always names a wait of at least one second
        /// and at most the cap, and enough waiting always lets a known address in.
        #[test]
        fn waits_are_bounded(af in 0u32..200, pf in 0u32..200, t in 0i64..10_000, now in 0i64..20_000) {
            let p = ThrottlePolicy::default();
            let view = ThrottleView {
                account: Some(counter(af, t)),
                pair: Some(ThrottleCounter { failures: pf, last_failure_at: t, last_success_at: Some(0) }),
            };
            match p.decide(&view, now) {
                Decision::Allow => {}
                Decision::Deny { retry_after_secs, .. } => {
                    prop_assert!((1..=p.max_delay_secs).contains(&retry_after_secs));
                }
            }
            prop_assert_eq!(p.decide(&view, t + p.max_delay_secs), Decision::Allow);
        }

        /// Simulates an attacker who tries whenever allowed from ever-new addresses: the
        /// account never records more than the hard limit of consecutive failures.
        #[test]
        fn fresh_addresses_never_exceed_the_hard_limit(step in 1i64..5_000) {
            let p = ThrottlePolicy::default();
            let mut account = ThrottleCounter::default();
            let mut now = 0;
            for _ in 0..3_000 {
                let view = ThrottleView { account: Some(account), pair: None };
                if p.decide(&view, now) == Decision::Allow {
                    // What the store does: count on from the counter as it stands now.
                    account = p.current(account, now);
                    account.failures += 1;
                    account.last_failure_at = now;
                }
                now += step;
            }
            prop_assert!(account.failures <= p.account_hard_limit);
        }

        /// However a campaign left the counters, a new address is let in once no failure has
        /// been counted for a quiet period: the throttle never locks anyone out for good.
        #[test]
        fn every_lock_ends_after_a_quiet_period(af in 0u32..1_000, pf in 0u32..1_000, t in 0i64..100_000) {
            let p = ThrottlePolicy::default();
            let view = ThrottleView {
                account: Some(counter(af, t)),
                pair: Some(counter(pf, t)),
            };
            prop_assert_eq!(p.decide(&view, t + p.reset_after_secs), Decision::Allow);
        }
    }
}
