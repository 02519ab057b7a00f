//! Password hashing (argon2id) on a bounded pool, and the password policy.
//!
//! Memory: argon2 needs `m` KiB of working memory per hash (19 MiB with the OWASP parameters). The
//! plain `argon2` API allocates it for every hash and frees it after, and glibc keeps freed blocks of
//! that size in its arenas (after the first free it raises its mmap threshold to the block size), so
//! idle RSS grew from 17 to 46 MiB after a few sign-ins and to hundreds of MiB in a login storm. Here
//! each hashing thread hashes into a block of its own that it reuses from one hash to the next
//! (`Scratch`), so memory is bounded by `HASH_CONCURRENCY × m`, and gives the block back after
//! `IDLE_RELEASE` (5 s) without work. The block is allocated with a capacity above glibc's largest mmap
//! threshold (32 MiB), so it always gets its own mapping and freeing it returns it to the system
//! (only the `m` KiB that argon2 touches become resident).
//!
//! Verification recomputes the hash into the same block with the algorithm, version, parameters and
//! salt of the stored PHC string and compares the outputs in constant time, as `argon2`'s own
//! `verify_password` does. A stored hash with a larger `m` than the current parameters (an old
//! setting) gets a block of its own for that one call and is re-hashed with the current parameters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use portcullis_web::{ApiError, FieldError};
use subtle::ConstantTimeEq;

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB (OWASP: 19456).
    pub memory_kib: u32,
    /// Passes (OWASP: 2).
    pub iterations: u32,
    /// Lanes (OWASP: 1).
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// How long a hash job may wait for a free thread before the request gets 503. Short: a production
/// hash takes 25–40 ms of one core, so half a second is a backlog of a dozen or more hashes per
/// thread. A login that waits longer only adds to its own latency (the client sees 2 s stalls instead
/// of a quick `Retry-After`), keeps its HTTP connection and memory meanwhile, and may be hashed after
/// its client gave up; shedding sooner keeps the queue, and so the login p99, short during a storm.
const QUEUE_WAIT: Duration = Duration::from_millis(500);
/// Jobs allowed to wait per thread; beyond that a request is refused at once. Sixteen is about what
/// one thread hashes within `QUEUE_WAIT`, so a burst that can still be served waits its turn, while a
/// storm beyond it is refused at once rather than queued to expire. (With 8 per thread and one thread,
/// sixteen clients signing in together kept getting 503s that they retried at once, and the retries'
/// CPU starved the low-priority hashing thread: half the logins per second of a bare argon2 pool.)
const QUEUE_PER_SLOT: usize = 16;
/// A hashing thread that had no job for this long frees its argon2 block, so memory returns to the
/// idle level after a burst of sign-ins; the next hash allocates it again (a few milliseconds).
const IDLE_RELEASE: Duration = Duration::from_secs(5);
/// Output length of new hashes (argon2's default, 32 bytes).
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

/// Runs argon2 on its own threads, at most `concurrency` at a time (each hash holds `memory_kib` of
/// memory, so this bounds memory too), with a bounded queue in front. A login storm queues briefly,
/// then gets 503 with `Retry-After` instead of starving every other request. The threads run at the
/// lowest scheduling priority the OS gives without privileges (nice 19 on Linux), so request
/// handling (and a local database) gets the CPU first.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: HashParams,
    queue: Arc<Queue>,
    dummy_hash: String,
    runs: Arc<AtomicU64>,
    shed: AtomicU64,
}

/// The outcome of checking a password.
#[derive(Debug)]
pub struct Verified {
    /// The password matched.
    pub ok: bool,
    /// A new hash with the current parameters, when the stored one used other parameters.
    pub rehash: Option<String>,
}

impl PasswordHasher {
    /// A hasher with these parameters and this many concurrent hashes.
    pub fn new(params: HashParams, concurrency: usize) -> Result<PasswordHasher, argon2::Error> {
        let argon2 = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(params.memory_kib, params.iterations, params.parallelism, None)?,
        );
        let blocks = argon2.params().block_count();
        // Unknown emails are checked against this, so they cost as much as known ones. Hashed into a
        // block of the same kind as the threads', so not even this one is left to the allocator.
        let dummy_hash = hash_with(
            &argon2,
            &mut Scratch::new(blocks),
            "portcullis dummy password for unknown accounts",
        )
        .map_err(|_| argon2::Error::AlgorithmInvalid)?;
        let concurrency = concurrency.max(1);
        Ok(PasswordHasher {
            argon2,
            params,
            queue: spawn_workers(concurrency, blocks),
            dummy_hash,
            runs: Arc::new(AtomicU64::new(0)),
            shed: AtomicU64::new(0),
        })
    }

    /// How many argon2 computations (hashes and verifications) this hasher has run. Tests use it to
    /// check that every sign-in path pays for one, whether or not the account exists.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Jobs waiting for a hashing thread now.
    pub fn queued(&self) -> usize {
        self.queue.lock().jobs.len()
    }

    /// Jobs refused (queue full) or dropped after waiting too long, each answered 503, since start.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let argon2 = self.argon2.clone();
        let runs = self.runs.clone();
        self.run(move |scratch| {
            runs.fetch_add(1, Ordering::Relaxed);
            hash_with(&argon2, scratch, &password)
        })
        .await?
        .map_err(ApiError::internal)
    }

    /// Checks a password against a stored hash; `None` (unknown account, or one without a password)
    /// is checked against a dummy hash and never matches, at the same cost.
    pub async fn verify(&self, stored: Option<String>, password: String) -> Result<Verified, ApiError> {
        let argon2 = self.argon2.clone();
        let params = self.params;
        let dummy = self.dummy_hash.clone();
        let runs = self.runs.clone();
        self.run(move |scratch| {
            let known = stored.is_some();
            let stored = stored.unwrap_or(dummy);
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Err(ApiError::internal("stored password hash is not a PHC string"));
            };
            // Always run argon2, then look at `known`: checking `known` first would skip the hash
            // for unknown accounts, and the time saved would tell which accounts exist.
            let matches = verify_counted(&runs, scratch, &password, &parsed)?;
            let ok = known && matches;
            let rehash = if ok && !uses_params(&parsed, params) {
                Some(hash_with(&argon2, scratch, &password).map_err(ApiError::internal)?)
            } else {
                None
            };
            Ok(Verified { ok, rehash })
        })
        .await?
    }

    /// [`policy_violations`] on the hashing threads: the strength estimate can take tens of
    /// milliseconds, which must not run on an async worker, and sharing the hashing queue bounds how
    /// many run at once (503 when the queue is full, like hashing).
    pub async fn policy_violations(
        &self,
        field: &'static str,
        password: String,
        email: String,
        display_name: Option<String>,
    ) -> Result<Vec<FieldError>, ApiError> {
        self.run(move |_| policy_violations(field, &password, &email, display_name.as_deref()))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || {
            self.shed.fetch_add(1, Ordering::Relaxed);
            ApiError::ServiceUnavailable {
                cause: "password hashing queue is full".into(),
                retry_after_secs: 1,
            }
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let deadline = Instant::now() + QUEUE_WAIT;
        let wrapped: Job = Box::new(move |scratch| {
            // A job that waited past its deadline is dropped unrun: its caller has been told to retry.
            if Instant::now() <= deadline {
                let _ = reply.send(job(scratch));
            }
        });
        match self.queue.push(wrapped) {
            Push::Queued => {}
            Push::Full => return Err(busy()),
            Push::Closed => return Err(ApiError::internal("password hashing threads stopped")),
        }
        answer.await.map_err(|_| busy())
    }
}

impl Drop for PasswordHasher {
    /// Lets the threads finish the queued jobs and stop.
    fn drop(&mut self) {
        self.queue.close();
    }
}

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// The bounded job queue in front of the hashing threads. A mutex and a condition variable rather
/// than a channel, so every idle thread waits with its own timeout and frees its block on time.
struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
    capacity: usize,
}

struct QueueState {
    jobs: VecDeque<Job>,
    open: bool,
}

enum Push {
    Queued,
    Full,
    Closed,
}

enum Next {
    Job(Job),
    Idle,
    Closed,
}

impl Queue {
    fn new(capacity: usize) -> Queue {
        Queue {
            state: Mutex::new(QueueState {
                jobs: VecDeque::with_capacity(capacity),
                open: true,
            }),
            ready: Condvar::new(),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Jobs run outside the lock, so a panic cannot leave the queue half-changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, job: Job) -> Push {
        let mut state = self.lock();
        if !state.open {
            return Push::Closed;
        }
        if state.jobs.len() >= self.capacity {
            return Push::Full;
        }
        state.jobs.push_back(job);
        drop(state);
        self.ready.notify_one();
        Push::Queued
    }

    /// The next job; [`Next::Idle`] when none came for `idle`; [`Next::Closed`] once closed and empty.
    fn next(&self, idle: Duration) -> Next {
        let mut state = self.lock();
        loop {
            if let Some(job) = state.jobs.pop_front() {
                return Next::Job(job);
            }
            if !state.open {
                return Next::Closed;
            }
            let (guard, waited) = self
                .ready
                .wait_timeout(state, idle)
                .unwrap_or_else(PoisonError::into_inner);
            state = guard;
            if waited.timed_out() && state.jobs.is_empty() && state.open {
                return Next::Idle;
            }
        }
    }

    fn close(&self) {
        self.lock().open = false;
        self.ready.notify_all();
    }
}

/// `concurrency` dedicated threads take jobs from a bounded queue, each with its own argon2 block
/// of `blocks` KiB.
fn spawn_workers(concurrency: usize, blocks: usize) -> Arc<Queue> {
    let queue = Arc::new(Queue::new(concurrency * QUEUE_PER_SLOT));
    for n in 0..concurrency {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                lower_priority();
                let mut scratch = Scratch::new(blocks);
                loop {
                    match queue.next(IDLE_RELEASE) {
                        Next::Job(job) => job(&mut scratch),
                        Next::Idle => scratch.release(),
                        Next::Closed => break,
                    }
                }
            });
        if let Err(err) = spawned {
            log::error!("cannot start password hashing thread: {err}");
        }
    }
    queue
}

/// One argon2 verification, counted where it runs: code that skips the call skips the count too.
fn verify_counted(
    runs: &AtomicU64,
    scratch: &mut Scratch,
    password: &str,
    hash: &PasswordHash<'_>,
) -> Result<bool, ApiError> {
    runs.fetch_add(1, Ordering::Relaxed);
    verify_with(scratch, password, hash).map_err(ApiError::internal)
}

/// Puts the calling thread at the lowest priority of its scheduling policy (nice 19 on Linux, which
/// needs no privilege). Where the OS refuses, the thread keeps its priority; said once per process.
fn lower_priority() {
    static REFUSED: AtomicBool = AtomicBool::new(false);
    if let Err(err) = thread_priority::set_current_thread_priority(thread_priority::ThreadPriority::Min) {
        if !REFUSED.swap(true, Ordering::Relaxed) {
            log::info!(
                "password hashing threads keep the normal priority (the OS refused a lower one: {err:?})"
            );
        }
    }
}

/// One hashing thread's argon2 memory, kept from one hash to the next.
struct Scratch {
    /// Blocks of the current parameters.
    blocks: usize,
    kept: Option<Vec<Block>>,
}

/// Above glibc's largest dynamic mmap threshold (32 MiB on 64-bit), so a block always gets its own
/// mapping and is unmapped when freed, however the threshold has moved. Capacity only: the pages past
/// the `m` KiB that argon2 uses are never touched, so never resident.
const ALWAYS_MAPPED_BLOCKS: usize = 32 * 1024 + 1;

impl Scratch {
    fn new(blocks: usize) -> Scratch {
        Scratch { blocks, kept: None }
    }

    /// Runs `work` on `needed` blocks: the kept ones when they are enough (allocated on first use),
    /// otherwise blocks allocated for this call only (a stored hash with a larger `m`).
    fn with_blocks<R>(&mut self, needed: usize, work: impl FnOnce(&mut [Block]) -> R) -> R {
        if needed > self.blocks {
            return work(&mut allocate(needed));
        }
        let blocks = self.blocks;
        let kept = self.kept.get_or_insert_with(|| allocate(blocks));
        work(&mut kept[..needed])
    }

    fn release(&mut self) {
        self.kept = None;
    }
}

fn allocate(blocks: usize) -> Vec<Block> {
    let mut memory = Vec::with_capacity(blocks.max(ALWAYS_MAPPED_BLOCKS));
    memory.resize(blocks, Block::new());
    memory
}

/// Hashes `password` with a new random salt into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`),
/// as `Argon2::hash_password` would, but in the thread's kept memory.
fn hash_with(
    argon2: &Argon2<'_>,
    scratch: &mut Scratch,
    password: &str,
) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    hash_with_salt(argon2, scratch, password, &salt)
}

fn hash_with_salt(
    argon2: &Argon2<'_>,
    scratch: &mut Scratch,
    password: &str,
    salt: &SaltString,
) -> Result<String, argon2::password_hash::Error> {
    let params = argon2.params();
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.as_salt().decode_b64(&mut salt_bytes)?;
    let mut output = [0u8; OUTPUT_LEN];
    scratch.with_blocks(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut output, blocks)
    })?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches `stored`: argon2 recomputed with the stored algorithm, version,
/// parameters, salt and output length, compared in constant time. An error means the stored string
/// is not a usable argon2 hash.
fn verify_with(
    scratch: &mut Scratch,
    password: &str,
    stored: &PasswordHash<'_>,
) -> Result<bool, argon2::password_hash::Error> {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return Err(argon2::password_hash::Error::PhcStringField);
    };
    let algorithm = Algorithm::try_from(stored.algorithm)?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()?
        .unwrap_or_default();
    let params = Params::try_from(stored)?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
    let mut output = [0u8; Output::MAX_LENGTH];
    let output = output
        .get_mut(..expected.len())
        .ok_or(argon2::password_hash::Error::OutputSize {
            provided: std::cmp::Ordering::Greater,
            expected: Output::MAX_LENGTH,
        })?;
    scratch.with_blocks(argon2.params().block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt_bytes, output, blocks)
    })?;
    Ok(bool::from(output.ct_eq(expected.as_bytes())))
}

fn uses_params(hash: &PasswordHash<'_>, params: HashParams) -> bool {
    let get = |name: &str| hash.params.get_decimal(name);
    hash.algorithm.as_str() == "argon2id"
        && get("m") == Some(params.memory_kib)
        && get("t") == Some(params.iterations)
        && get("p") == Some(params.parallelism)
}

/// Shortest and longest passwords accepted, in characters.
pub const MIN_LEN: usize = 12;
const MAX_LEN: usize = 128;
/// zxcvbn scores from 0 to 4; below this a password is too easy to guess.
const MIN_SCORE: u8 = 3;
/// The strength estimate looks at this many characters at most: its cost grows steeply with length
/// (0.5–0.8 s for 128 characters of leet), and 64 characters that are hard to guess make a password
/// hard to guess whatever follows them.
const STRENGTH_CHARS: usize = 64;

/// Checks a new password against the policy; every violation becomes a field error on `field`.
/// Handlers call it through [`PasswordHasher::policy_violations`], off the async workers.
pub fn policy_violations(
    field: &str,
    password: &str,
    email: &str,
    display_name: Option<&str>,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let length = password.chars().count();
    if length < MIN_LEN {
        errors.push(FieldError::new(
            field,
            "too_short",
            format!("must be at least {MIN_LEN} characters"),
        ));
    }
    if length > MAX_LEN {
        errors.push(FieldError::new(
            field,
            "too_long",
            format!("must be at most {MAX_LEN} characters"),
        ));
        return errors;
    }
    let lowered = password.to_lowercase();
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    if local.chars().count() >= 3 && lowered.contains(&local) {
        errors.push(FieldError::new(
            field,
            "contains_email",
            "must not contain the email address's local part",
        ));
    }
    let mut hints = vec![email, local.as_str()];
    if let Some(name) = display_name {
        hints.push(name);
    }
    let judged: String = password.chars().take(STRENGTH_CHARS).collect();
    let strength = zxcvbn::zxcvbn(&judged, &hints);
    if u8::from(strength.score()) < MIN_SCORE {
        errors.push(FieldError::new(
            field,
            "too_common",
            "is a common or easily guessed password",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(password: &str) -> Vec<String> {
        policy_violations("password", password, "alice.smith@example.com", Some("Alice"))
            .into_iter()
            .map(|e| e.code.into_owned())
            .collect()
    }

    #[test]
    fn strong_passwords_pass() {
        assert!(codes("correct horse battery staple").is_empty());
        assert!(codes("vN7#qL2!xR9$wT4").is_empty());
    }

    #[test]
    fn each_rule_is_reported() {
        assert_eq!(codes("short"), ["too_short", "too_common"]);
        assert!(codes(&"x".repeat(129)).contains(&"too_long".to_string()));
        assert!(codes("password1234").contains(&"too_common".to_string()));
        assert!(codes("Qz9!alice.smith#Vw").contains(&"contains_email".to_string()));
    }

    #[tokio::test]
    async fn hashes_verify_and_old_parameters_are_upgraded() {
        let light = HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let old = PasswordHasher::new(light, 2).unwrap();
        let stored = old.hash("correct horse battery staple".into()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));

        let current = PasswordHasher::new(
            HashParams {
                memory_kib: 2048,
                ..light
            },
            2,
        )
        .unwrap();
        let wrong = current
            .verify(Some(stored.clone()), "wrong".into())
            .await
            .unwrap();
        assert!(!wrong.ok && wrong.rehash.is_none());
        let right = current
            .verify(Some(stored), "correct horse battery staple".into())
            .await
            .unwrap();
        assert!(right.ok);
        let upgraded = right.rehash.expect("re-hashed with the new parameters");
        assert!(upgraded.contains("m=2048"), "{upgraded}");
        let again = current
            .verify(Some(upgraded), "correct horse battery staple".into())
            .await
            .unwrap();
        assert!(again.ok && again.rehash.is_none());
    }

    fn light(memory_kib: u32) -> Argon2<'static> {
        Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(memory_kib, 1, 1, None).unwrap(),
        )
    }

    /// The plain `argon2` API, which allocates for each call: the answer key for the reused memory.
    fn plain_hash(argon2: &Argon2<'_>, password: &str, salt: &SaltString) -> String {
        use argon2::password_hash::PasswordHasher as _;
        argon2
            .hash_password(password.as_bytes(), salt)
            .unwrap()
            .to_string()
    }

    fn plain_verify(stored: &str, password: &str) -> bool {
        use argon2::password_hash::PasswordVerifier as _;
        let parsed = PasswordHash::new(stored).unwrap();
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    fn verify(scratch: &mut Scratch, stored: &str, password: &str) -> bool {
        verify_with(scratch, password, &PasswordHash::new(stored).unwrap()).unwrap()
    }

    #[test]
    fn reused_memory_gives_the_same_hashes_as_the_plain_api() {
        let argon2 = light(256);
        let mut scratch = Scratch::new(argon2.params().block_count());
        let first_salt = SaltString::encode_b64(b"sixteen byte one").unwrap();
        let ours = hash_with_salt(&argon2, &mut scratch, "first password", &first_salt).unwrap();
        let kept = scratch.kept.as_ref().map(|blocks| blocks.as_ptr());
        assert!(kept.is_some(), "the block is kept after a hash");
        assert_eq!(ours, plain_hash(&argon2, "first password", &first_salt));

        // The second hash runs in memory still holding the first one's state.
        let second_salt = SaltString::encode_b64(b"sixteen byte two").unwrap();
        let again = hash_with_salt(&argon2, &mut scratch, "second password", &second_salt).unwrap();
        assert_eq!(again, plain_hash(&argon2, "second password", &second_salt));
        assert_eq!(
            scratch.kept.as_ref().map(|blocks| blocks.as_ptr()),
            kept,
            "one block, reused"
        );

        assert!(verify(&mut scratch, &ours, "first password"));
        assert!(!verify(&mut scratch, &ours, "second password"));
        assert!(verify(&mut scratch, &again, "second password"));
        assert_eq!(scratch.kept.as_ref().map(|blocks| blocks.as_ptr()), kept);

        scratch.release();
        assert!(scratch.kept.is_none());
        assert!(
            verify(&mut scratch, &again, "second password"),
            "allocated again after release"
        );
    }

    #[test]
    fn hashes_of_either_api_verify_with_the_other() {
        let argon2 = light(512);
        let mut scratch = Scratch::new(argon2.params().block_count());
        let ours = hash_with(&argon2, &mut scratch, "correct horse battery staple").unwrap();
        assert!(ours.starts_with("$argon2id$v=19$m=512,t=1,p=1$"), "{ours}");
        assert!(plain_verify(&ours, "correct horse battery staple"));
        assert!(!plain_verify(&ours, "correct horse battery stapler"));

        // Hashes the plain API made with other settings: other algorithms, an old version, two
        // lanes, a longer output, a larger and a smaller memory cost than the current one.
        let salt = SaltString::encode_b64(b"a salt of 16 b!!").unwrap();
        let others = [
            (Algorithm::Argon2id, Version::V0x13, Params::new(2048, 2, 1, None)),
            (Algorithm::Argon2id, Version::V0x13, Params::new(64, 3, 2, None)),
            (Algorithm::Argon2i, Version::V0x13, Params::new(512, 2, 1, None)),
            (Algorithm::Argon2d, Version::V0x10, Params::new(512, 1, 1, None)),
            (
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(512, 1, 1, Some(64)),
            ),
        ];
        for (algorithm, version, params) in others {
            let other = Argon2::new(algorithm, version, params.unwrap());
            let stored = plain_hash(&other, "correct horse battery staple", &salt);
            assert!(
                verify(&mut scratch, &stored, "correct horse battery staple"),
                "{stored}"
            );
            assert!(
                !verify(&mut scratch, &stored, "wrong horse battery staple"),
                "{stored}"
            );
        }
        assert_eq!(
            scratch.kept.as_ref().map(Vec::len),
            Some(512),
            "a larger stored m did not grow the kept block"
        );
    }

    #[tokio::test]
    async fn a_hash_with_a_larger_old_memory_cost_verifies_and_is_rehashed() {
        let old = light(4096);
        let stored = plain_hash(
            &old,
            "correct horse battery staple",
            &SaltString::encode_b64(b"an old salt 16 b").unwrap(),
        );
        let current = PasswordHasher::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        let before = current.runs();
        let right = current
            .verify(Some(stored.clone()), "correct horse battery staple".into())
            .await
            .unwrap();
        assert!(right.ok);
        let upgraded = right.rehash.expect("re-hashed with the current parameters");
        assert!(upgraded.contains("m=1024,t=1,p=1"), "{upgraded}");
        assert!(plain_verify(&upgraded, "correct horse battery staple"));
        assert_eq!(current.runs(), before + 1);
        let wrong = current.verify(Some(stored), "wrong".into()).await.unwrap();
        assert!(!wrong.ok && wrong.rehash.is_none());
    }

    #[test]
    fn an_idle_queue_says_so_and_a_closed_one_drains_first() {
        let queue = Queue::new(2);
        assert!(matches!(queue.next(Duration::from_millis(10)), Next::Idle));
        assert!(matches!(queue.push(Box::new(|_| {})), Push::Queued));
        assert!(matches!(queue.push(Box::new(|_| {})), Push::Queued));
        assert!(matches!(queue.push(Box::new(|_| {})), Push::Full));
        queue.close();
        assert!(matches!(queue.push(Box::new(|_| {})), Push::Closed));
        assert!(matches!(queue.next(Duration::from_millis(10)), Next::Job(_)));
        assert!(matches!(queue.next(Duration::from_millis(10)), Next::Job(_)));
        assert!(matches!(queue.next(Duration::from_millis(10)), Next::Closed));
    }

    /// The nice value of the calling thread, from `/proc/thread-self/stat` (field 19).
    #[cfg(target_os = "linux")]
    fn nice() -> i64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_threads_run_at_the_lowest_priority() {
        let hasher = PasswordHasher::new(
            HashParams {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        let before = nice();
        assert_eq!(hasher.run(|_| nice()).await.unwrap(), 19);
        assert_eq!(nice(), before, "the caller's own priority is unchanged");
    }

    #[tokio::test]
    async fn unknown_accounts_never_match() {
        let hasher = PasswordHasher::new(
            HashParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            1,
        )
        .unwrap();
        let result = hasher
            .verify(None, "portcullis dummy password for unknown accounts".into())
            .await
            .unwrap();
        assert!(!result.ok);
    }
}
