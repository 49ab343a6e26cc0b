//! Password verification with bounded cost. argon2 is slow and memory-hard on purpose (the default
//! 19 MiB and tens of milliseconds per check); run unbounded on the blocking pool, a flood of wrong
//! passwords once took the process to gigabytes that the allocator never gave back. Here at most
//! `bound` checks run at once, each on one of `bound` memory blocks that are reused rather than
//! allocated per check, and a few more requests may wait for a turn; the rest are turned away.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests that may wait for a turn, per check that may run.
const WAITING_PER_CHECK: usize = 8;
/// How long a request waits for a turn before it is turned away.
const LONGEST_QUEUE: Duration = Duration::from_secs(3);

/// A stored argon2 hash, taken apart once so a check only hashes and compares.
#[derive(Clone)]
pub struct StoredHash {
    algorithm: Algorithm,
    version: Version,
    params: Params,
    salt: Vec<u8>,
    expected: Vec<u8>,
}

impl StoredHash {
    /// Parses a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub fn parse(phc: &str) -> Result<StoredHash, String> {
        let hash = argon2::PasswordHash::new(phc).map_err(|e| e.to_string())?;
        let algorithm = Algorithm::try_from(hash.algorithm).map_err(|e| e.to_string())?;
        let version = hash
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| e.to_string())?
            .unwrap_or_default();
        let params = Params::try_from(&hash).map_err(|e| e.to_string())?;
        let mut buf = [0u8; 64];
        let salt = hash
            .salt
            .ok_or("no salt")?
            .decode_b64(&mut buf)
            .map_err(|e| e.to_string())?
            .to_vec();
        let expected = hash.hash.ok_or("no hash")?.as_bytes().to_vec();
        Ok(StoredHash {
            algorithm,
            version,
            params,
            salt,
            expected,
        })
    }

    /// A hash nobody's password matches, costing what `like` costs: unknown user names are
    /// checked against it, so they take as long as known ones.
    pub fn decoy(like: &StoredHash) -> StoredHash {
        let mut salt = vec![0u8; like.salt.len().max(16)];
        let mut expected = vec![0u8; like.expected.len()];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut salt);
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut expected);
        StoredHash {
            salt,
            expected,
            ..like.clone()
        }
    }

    /// argon2's own defaults, for a decoy when no user is configured.
    pub fn default_decoy() -> StoredHash {
        StoredHash::decoy(&StoredHash {
            algorithm: Algorithm::default(),
            version: Version::default(),
            params: Params::default(),
            salt: vec![0; 16],
            expected: vec![0; Params::DEFAULT_OUTPUT_LEN],
        })
    }

    /// Bytes that tell this hash from any other (its output, which depends on salt and password).
    pub fn identity(&self) -> &[u8] {
        &self.expected
    }

    fn blocks(&self) -> usize {
        self.params.block_count()
    }

    /// Hashes `password` in `memory` (grown if this hash needs more) and compares in constant time.
    fn matches(&self, password: &[u8], memory: &mut Vec<Block>) -> bool {
        if memory.len() < self.blocks() {
            memory.resize(self.blocks(), Block::default());
        }
        let mut out = vec![0u8; self.expected.len()];
        Argon2::new(self.algorithm, self.version, self.params.clone())
            .hash_password_into_with_memory(password, &self.salt, &mut out, &mut memory[..self.blocks()])
            .is_ok()
            && bool::from(out.ct_eq(&self.expected))
    }
}

/// What the checks have done, for tests and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckStats {
    /// Checks that may run at once.
    pub bound: usize,
    /// argon2 verifications run so far.
    pub verifications: u64,
    /// The most that ever ran at once.
    pub peak_concurrent: usize,
}

/// Why a check did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Which queue a check waits in. An address that has failed, or been turned away, is a suspect:
/// suspects together may hold all turns but one and have a queue of their own, so a flood of
/// wrong passwords cannot keep a user who never failed from logging in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Clean,
    Suspect,
}

/// The bounded verifier shared by all workers.
pub struct Checks {
    permits: Arc<Semaphore>,
    /// Turns suspects may hold at once: all but one (at least one).
    suspect_permits: Arc<Semaphore>,
    bound: usize,
    waiting: AtomicUsize,
    waiting_suspects: AtomicUsize,
    /// One argon2 memory per running check, reused from check to check.
    memories: Mutex<Vec<Vec<Block>>>,
    running: AtomicUsize,
    peak: AtomicUsize,
    verifications: AtomicU64,
}

impl Checks {
    pub fn new(bound: usize) -> Checks {
        let bound = bound.max(1);
        Checks {
            permits: Arc::new(Semaphore::new(bound)),
            suspect_permits: Arc::new(Semaphore::new((bound - 1).max(1))),
            bound,
            waiting: AtomicUsize::new(0),
            waiting_suspects: AtomicUsize::new(0),
            memories: Mutex::new(Vec::new()),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            verifications: AtomicU64::new(0),
        }
    }

    pub fn stats(&self) -> CheckStats {
        CheckStats {
            bound: self.bound,
            verifications: self.verifications.load(Ordering::Relaxed),
            peak_concurrent: self.peak.load(Ordering::Relaxed),
        }
    }

    /// Checks `password` against `hash` off the async workers, once a turn is free. `Err(Busy)`
    /// when too many requests already wait in `lane`. The work holds its turn until it is done,
    /// even if the request that asked is gone, so the bound holds for the CPU and memory actually
    /// used.
    pub async fn verify(self: &Arc<Self>, hash: StoredHash, password: String, lane: Lane) -> Result<bool, Busy> {
        let (suspect_permit, permit) = match lane {
            Lane::Clean => (None, self.turn(&self.permits, &self.waiting).await?),
            Lane::Suspect => {
                let first = self.turn(&self.suspect_permits, &self.waiting_suspects).await?;
                (Some(first), self.turn(&self.permits, &self.waiting_suspects).await?)
            }
        };
        let checks = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permits = (permit, suspect_permit);
            let mut memory = checks.memories.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default();
            let running = checks.running.fetch_add(1, Ordering::AcqRel) + 1;
            checks.peak.fetch_max(running, Ordering::AcqRel);
            checks.verifications.fetch_add(1, Ordering::Relaxed);
            let ok = hash.matches(password.as_bytes(), &mut memory);
            checks.running.fetch_sub(1, Ordering::AcqRel);
            checks.memories.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
            ok
        })
        .await
        .map_err(|_| Busy)
    }

    /// A turn of `permits` now, or after waiting among `waiting` (bounded, for a bounded time).
    async fn turn(&self, permits: &Arc<Semaphore>, waiting: &AtomicUsize) -> Result<OwnedSemaphorePermit, Busy> {
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let _queued = Queued::enter(waiting, self.bound * WAITING_PER_CHECK).ok_or(Busy)?;
        tokio::time::timeout(LONGEST_QUEUE, permits.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)
    }
}

/// A place in the queue for a turn, given back on drop.
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize, limit: usize) -> Option<Queued<'a>> {
        waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1))
            .ok()
            .map(|_| Queued(waiting))
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap_hash(password: &str) -> String {
        use argon2::PasswordHasher;
        let salt = argon2::password_hash::SaltString::encode_b64(b"0123456789abcdef").unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(64, 1, 1, None).unwrap())
            .hash_password(password.as_bytes(), &salt)
            .unwrap()
            .to_string()
    }

    #[test]
    fn a_reused_memory_gives_the_same_answers_as_a_fresh_one() {
        let right = StoredHash::parse(&cheap_hash("right")).unwrap();
        let other = StoredHash::parse(&cheap_hash("other")).unwrap();
        let mut memory = Vec::new();
        assert!(right.matches(b"right", &mut memory));
        assert!(!right.matches(b"wrong", &mut memory));
        assert!(other.matches(b"other", &mut memory), "after a different hash filled the memory");
        assert!(right.matches(b"right", &mut memory));
        assert!(!StoredHash::decoy(&right).matches(b"right", &mut memory));
    }

    #[tokio::test]
    async fn suspects_cannot_take_the_last_turn_nor_the_queue_of_the_clean() {
        let checks = Arc::new(Checks::new(2));
        let hash = || StoredHash::parse(&cheap_hash("right")).unwrap();
        // A suspect's check is running: it holds the suspects' one turn and one of the two turns.
        let running = (
            checks.suspect_permits.clone().try_acquire_owned().unwrap(),
            checks.permits.clone().try_acquire_owned().unwrap(),
        );
        // Another suspect waits, though a turn is free: that one is kept for addresses that never
        // failed.
        {
            use futures_util::FutureExt;
            let mut waiting = Box::pin(checks.verify(hash(), "right".into(), Lane::Suspect));
            assert_eq!((&mut waiting).now_or_never(), None);
            assert_eq!(checks.permits.available_permits(), 1, "a suspect took the last turn");
        }
        // With the suspects' queue full, one more is turned away at once.
        let queue: Vec<Queued<'_>> = (0..2 * WAITING_PER_CHECK)
            .map(|_| Queued::enter(&checks.waiting_suspects, 2 * WAITING_PER_CHECK).unwrap())
            .collect();
        assert_eq!(checks.verify(hash(), "right".into(), Lane::Suspect).await, Err(Busy));
        // One who never failed gets the free turn, and is answered.
        assert_eq!(checks.verify(hash(), "right".into(), Lane::Clean).await, Ok(true));
        assert_eq!(checks.verify(hash(), "wrong".into(), Lane::Clean).await, Ok(false));
        drop(queue);
        drop(running);
        assert_eq!(checks.verify(hash(), "right".into(), Lane::Suspect).await, Ok(true));
    }

    #[test]
    fn the_default_hash_parses() {
        let phc = crate::web::auth::hash_password("pw").unwrap();
        let hash = StoredHash::parse(&phc).unwrap();
        assert_eq!(hash.blocks(), StoredHash::default_decoy().blocks());
    }
}
