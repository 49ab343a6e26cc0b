//! Backoff after failed logins, per client address and across all of them.
//!
//! An address may fail [`FREE_FAILURES`] times; after that it waits before each further attempt,
//! one second after the first failure past the allowance, doubling with every failure up to
//! [`LONGEST_WAIT`]. When failures from everywhere together pass [`ATTACK_FAILURES`] within about
//! a minute, the service is under attack and the allowance drops to one failure: every address
//! that has failed at all waits, while addresses that never failed still log in at once. That
//! keeps a flood from many addresses from starving a legitimate first login.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures an address may make before it has to wait.
pub const FREE_FAILURES: u32 = 10;
/// Failures from all addresses together, within about a minute, that mean an attack.
pub const ATTACK_FAILURES: f64 = 20.0;
/// How fast the global failure count decays: [`ATTACK_FAILURES`] per minute.
const ATTACK_DECAY_PER_SEC: f64 = ATTACK_FAILURES / 60.0;
/// The first wait past the allowance; each further failure doubles it.
const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait: a user who mistyped is never held back for long.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// An address that has not failed for this long starts over.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses remembered at most; past it the stalest is forgotten, so an attacker with many
/// addresses cannot grow the table without bound.
const MAX_CLIENTS: usize = 10_000;

/// A client as the throttle sees it: an IPv4 address, or an IPv6 /64 (one host usually holds a
/// whole /64, so single IPv6 addresses would be free to change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(peer: Option<IpAddr>) -> ClientKey {
        match peer.map(|ip| ip.to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let s = v6.segments();
                ClientKey(IpAddr::from([s[0], s[1], s[2], s[3], 0, 0, 0, 0]))
            }
            Some(v4) => ClientKey(v4),
            // No peer address (not over TCP): all such requests share one record.
            None => ClientKey(IpAddr::from([0u8, 0, 0, 0])),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    last_failure: Instant,
    /// Verifications running for this client now.
    checking: u32,
    /// Turned away because too many checks waited (`last_failure` says when): such an address
    /// is hammering, and waits among the suspects from then on.
    turned_away: bool,
}

impl Record {
    /// How long this client must still wait, given the failures it is allowed.
    fn wait(&self, now: Instant, allowance: u32) -> Option<Duration> {
        if self.failures < allowance {
            return None;
        }
        let doublings = (self.failures - allowance).min(16);
        let wait = (FIRST_WAIT * 2u32.pow(doublings)).min(LONGEST_WAIT);
        (self.last_failure + wait).checked_duration_since(now).filter(|d| !d.is_zero())
    }

    fn stale(&self, now: Instant) -> bool {
        self.checking == 0 && now.duration_since(self.last_failure) >= FORGET_AFTER
    }
}

struct State {
    clients: HashMap<ClientKey, Record>,
    /// Recent failures from everywhere, decaying by [`ATTACK_DECAY_PER_SEC`].
    global: f64,
    global_at: Instant,
}

impl State {
    fn global_failures(&mut self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.global_at).as_secs_f64();
        self.global = (self.global - elapsed * ATTACK_DECAY_PER_SEC).max(0.0);
        self.global_at = now;
        self.global
    }

    fn allowance(&mut self, now: Instant) -> u32 {
        if self.global_failures(now) >= ATTACK_FAILURES {
            1
        } else {
            FREE_FAILURES
        }
    }

    /// The client's record, forgetting it when stale.
    fn record(&mut self, key: ClientKey, now: Instant) -> Option<&mut Record> {
        if self.clients.get(&key).is_some_and(|r| r.stale(now)) {
            self.clients.remove(&key);
        }
        self.clients.get_mut(&key)
    }

    /// Makes room for one more client when the table is full.
    fn make_room(&mut self, now: Instant) {
        if self.clients.len() < MAX_CLIENTS {
            return;
        }
        self.clients.retain(|_, r| !r.stale(now));
        if self.clients.len() >= MAX_CLIENTS
            && let Some(oldest) = self
                .clients
                .iter()
                .filter(|(_, r)| r.checking == 0)
                .min_by_key(|(_, r)| r.last_failure)
                .map(|(k, _)| *k)
        {
            self.clients.remove(&oldest);
        }
    }
}

/// The failed-login backoff shared by all workers.
pub struct Throttle {
    state: Mutex<State>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            state: Mutex::new(State {
                clients: HashMap::new(),
                global: 0.0,
                global_at: Instant::now(),
            }),
        }
    }
}

impl Throttle {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Some(wait)` while `key` has to wait before trying again.
    pub fn blocked(&self, key: ClientKey, now: Instant) -> Option<Duration> {
        let mut state = self.lock();
        let allowance = state.allowance(now);
        state.record(key, now)?.wait(now, allowance)
    }

    /// Whether `key` has failed, or been turned away, and not been forgotten since: its checks
    /// wait among the suspects.
    pub fn suspect(&self, key: ClientKey) -> bool {
        self.lock().clients.get(&key).is_some_and(|r| r.failures > 0 || r.turned_away)
    }

    /// Records that `key` was turned away because too many checks waited.
    pub fn turned_away(&self, key: ClientKey, now: Instant) {
        let mut state = self.lock();
        if let Some(record) = state.clients.get_mut(&key) {
            record.turned_away = true;
            record.last_failure = now;
        }
    }

    /// Reserves a verification for `key`, or says how long to wait. Verifications already
    /// running count against the failures left, so a burst from one address cannot start more
    /// of them than it may fail.
    pub fn reserve(&self, key: ClientKey, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        let allowance = state.allowance(now);
        if state.record(key, now).is_none() {
            state.make_room(now);
        }
        let record = state.clients.entry(key).or_insert(Record {
            failures: 0,
            last_failure: now,
            checking: 0,
            turned_away: false,
        });
        if let Some(wait) = record.wait(now, allowance) {
            return Err(wait);
        }
        let room = allowance.saturating_sub(record.failures).max(1);
        if record.checking >= room {
            return Err(FIRST_WAIT);
        }
        record.checking += 1;
        Ok(())
    }

    /// Ends a reservation: `Some(false)` records a failure, `Some(true)` a success, `None` a
    /// verification that never ran. Says what a failure changed, for one log line per change
    /// rather than one per refused request.
    pub fn finish(&self, key: ClientKey, outcome: Option<bool>, now: Instant) -> Escalation {
        let mut state = self.lock();
        let mut escalation = Escalation::default();
        if outcome == Some(false) {
            let before = state.global_failures(now);
            state.global += 1.0;
            escalation.attack_began = before < ATTACK_FAILURES && state.global >= ATTACK_FAILURES;
        }
        let allowance = state.allowance(now);
        let Some(record) = state.clients.get_mut(&key) else {
            return escalation;
        };
        record.checking = record.checking.saturating_sub(1);
        if outcome == Some(false) {
            record.failures += 1;
            record.last_failure = now;
            escalation.client_waits = record.wait(now, allowance).map(|wait| (record.failures, wait));
        }
        if record.failures == 0 && record.checking == 0 && !record.turned_away {
            state.clients.remove(&key);
        }
        escalation
    }
}

/// What one failure changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Escalation {
    /// The client now waits: its failures and the wait.
    pub client_waits: Option<(u32, Duration)>,
    /// Failures from everywhere just passed [`ATTACK_FAILURES`].
    pub attack_began: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> ClientKey {
        ClientKey::of(Some(s.parse().unwrap()))
    }

    fn fail(t: &Throttle, key: ClientKey, now: Instant) {
        t.reserve(key, now).expect("may try");
        let _ = t.finish(key, Some(false), now);
    }

    #[test]
    fn an_address_waits_after_its_free_failures_and_the_wait_doubles() {
        let t = Throttle::default();
        let a = ip("192.0.2.1");
        let start = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.blocked(a, start), None);
            fail(&t, a, start);
        }
        assert_eq!(t.blocked(a, start), Some(Duration::from_secs(1)));
        assert_eq!(t.reserve(a, start), Err(Duration::from_secs(1)));
        let later = start + Duration::from_secs(1);
        assert_eq!(t.blocked(a, later), None, "the wait is over");
        fail(&t, a, later);
        assert_eq!(t.blocked(a, later), Some(Duration::from_secs(2)), "doubled");
        assert_eq!(t.blocked(ip("192.0.2.2"), later), None, "another address is not affected");
        assert_eq!(t.blocked(a, later + FORGET_AFTER), None, "forgotten after a quiet while");
    }

    #[test]
    fn running_checks_count_against_the_failures_left() {
        let t = Throttle::default();
        let a = ip("192.0.2.1");
        let now = Instant::now();
        for _ in 0..FREE_FAILURES {
            t.reserve(a, now).expect("within the allowance");
        }
        assert!(t.reserve(a, now).is_err(), "one more would exceed what it may fail");
        assert_eq!(t.finish(a, None, now), Escalation::default());
        assert!(t.reserve(a, now).is_ok(), "a slot came back");
    }

    #[test]
    fn under_attack_any_failed_address_waits_but_clean_ones_do_not() {
        let t = Throttle::default();
        let now = Instant::now();
        // One failure each from many addresses: none reaches its own allowance.
        for i in 0..ATTACK_FAILURES as u8 {
            fail(&t, ip(&format!("198.51.100.{i}")), now);
        }
        assert!(t.blocked(ip("198.51.100.0"), now).is_some(), "a failed address waits");
        assert_eq!(t.blocked(ip("203.0.113.9"), now), None, "a clean address does not");
        assert!(t.reserve(ip("203.0.113.9"), now).is_ok());
        let calm = now + Duration::from_secs(60);
        assert_eq!(t.blocked(ip("198.51.100.0"), calm), None, "the attack has decayed");
    }

    #[test]
    fn ipv6_addresses_of_one_64_share_a_record_and_the_table_is_bounded() {
        assert_eq!(ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff::9"));
        assert_ne!(ip("2001:db8:1:2::1"), ip("2001:db8:1:3::1"));
        assert_eq!(ip("::ffff:192.0.2.1"), ip("192.0.2.1"));
        let t = Throttle::default();
        let now = Instant::now();
        for i in 0..(MAX_CLIENTS + 50) as u32 {
            let key = ClientKey(IpAddr::from(i.to_be_bytes()));
            t.reserve(key, now).unwrap();
            let _ = t.finish(key, Some(false), now);
        }
        assert!(t.lock().clients.len() <= MAX_CLIENTS);
    }
}
