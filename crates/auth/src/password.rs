//! Password hashing (argon2id) on a bounded pool, and the password policy.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use portcullis_web::{ApiError, FieldError};

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

/// How long a hash job may wait for a free slot before the request gets 503.
const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// Jobs allowed to wait per thread; beyond that a request is refused at once.
const QUEUE_PER_SLOT: usize = 8;

/// Runs argon2 on its own threads, at most `concurrency` at a time (each hash holds `memory_kib` of
/// memory, so this bounds memory too), with a bounded queue in front. A login storm queues briefly,
/// then gets 503 with `Retry-After` instead of starving every other request.
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: HashParams,
    jobs: SyncSender<Job>,
    dummy_hash: String,
    runs: Arc<AtomicU64>,
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
        // Unknown emails are checked against this, so they cost as much as known ones.
        let dummy_hash = hash_with(&argon2, "portcullis dummy password for unknown accounts")
            .map_err(|_| argon2::Error::AlgorithmInvalid)?;
        let concurrency = concurrency.max(1);
        Ok(PasswordHasher {
            argon2,
            params,
            jobs: spawn_workers(concurrency),
            dummy_hash,
            runs: Arc::new(AtomicU64::new(0)),
        })
    }

    /// How many argon2 computations (hashes and verifications) this hasher has run. Tests use it to
    /// check that every sign-in path pays for one, whether or not the account exists.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        let argon2 = self.argon2.clone();
        let runs = self.runs.clone();
        self.run(move || {
            runs.fetch_add(1, Ordering::Relaxed);
            hash_with(&argon2, &password)
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
        self.run(move || {
            let known = stored.is_some();
            let stored = stored.unwrap_or(dummy);
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Err(ApiError::internal("stored password hash is not a PHC string"));
            };
            // Always run argon2, then look at `known`: checking `known` first would skip the hash
            // for unknown accounts, and the time saved would tell which accounts exist.
            let matches = verify_counted(&argon2, &runs, &password, &parsed);
            let ok = known && matches;
            let rehash = if ok && !uses_params(&parsed, params) {
                Some(hash_with(&argon2, &password).map_err(ApiError::internal)?)
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
        self.run(move || policy_violations(field, &password, &email, display_name.as_deref()))
            .await
    }

    async fn run<T: Send + 'static>(&self, job: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let busy = || ApiError::ServiceUnavailable {
            cause: "password hashing queue is full".into(),
            retry_after_secs: 1,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let deadline = Instant::now() + QUEUE_WAIT;
        let wrapped: Job = Box::new(move || {
            // A job that waited past its deadline is dropped unrun: its caller has been told to retry.
            if Instant::now() <= deadline {
                let _ = reply.send(job());
            }
        });
        match self.jobs.try_send(wrapped) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(busy()),
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::internal("password hashing threads stopped"))
            }
        }
        answer.await.map_err(|_| busy())
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// `concurrency` dedicated threads take hash jobs from a bounded queue. Dedicated threads (rather
/// than the shared blocking pool) also bound the allocator arenas that keep argon2's 19 MiB blocks,
/// so memory stays near `concurrency` × memory cost however long a storm lasts.
fn spawn_workers(concurrency: usize) -> SyncSender<Job> {
    let (jobs, queue) = sync_channel::<Job>(concurrency * QUEUE_PER_SLOT);
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..concurrency {
        let queue = queue.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || loop {
                let next = match queue.lock() {
                    Ok(receiver) => receiver.recv(),
                    Err(_) => break,
                };
                match next {
                    Ok(job) => job(),
                    Err(_) => break,
                }
            });
        if let Err(err) = spawned {
            log::error!("cannot start password hashing thread: {err}");
        }
    }
    jobs
}

/// One argon2 verification, counted where it runs: code that skips the call skips the count too.
fn verify_counted(argon2: &Argon2<'_>, runs: &AtomicU64, password: &str, hash: &PasswordHash<'_>) -> bool {
    runs.fetch_add(1, Ordering::Relaxed);
    argon2.verify_password(password.as_bytes(), hash).is_ok()
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Ok(argon2.hash_password(password.as_bytes(), &salt)?.to_string())
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
