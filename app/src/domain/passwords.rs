//! Password hashing with argon2id, off the async threads: a small pool of
//! dedicated threads (bounded concurrency) running at a lower scheduling
//! priority. A flood of sign-ins queues here instead of starving the
//! runtime's worker threads, and when the CPU is contended the scheduler
//! prefers request threads, so token checks and page loads stay fast.

use argon2::{
    password_hash::{
        rand_core::OsRng, PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString,
    },
    Algorithm, Argon2, Params, Version,
};
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    mpsc, Arc, Mutex,
};
use tokio::sync::oneshot;

/// OWASP's minimum for argon2id: 19 MiB of memory, 2 iterations, 1 lane.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// argon2id iterations (time cost).
pub const ITERATIONS: u32 = 2;
/// argon2id lanes (degree of parallelism).
pub const PARALLELISM: u32 = 1;

/// Why a password could not be hashed or verified.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Hashing failed, or a hashing thread could not be started.
    #[error("password hashing failed: {0}")]
    Hash(String),
    /// The hashing threads are gone, so the job could not run.
    #[error("password hashing pool closed")]
    Closed,
    /// Too many jobs are waiting already: refused at once, try again soon.
    #[error("password hashing queue full")]
    Busy,
}

/// The lowest zxcvbn score (0–4) a new password may have: 3 means "safely
/// unguessable: moderate protection from an offline slow-hash scenario".
pub const MIN_STRENGTH: u8 = 3;

/// Why a new password is too easy to guess (zxcvbn: common and breached
/// passwords, dictionary words, names, keyboard patterns, dates, repeats,
/// and the user's own name), or `None` when it is strong enough.
pub fn strength_problem(password: &str, username: &str) -> Option<String> {
    let estimate = zxcvbn::zxcvbn(password, &[username, "tessera"]);
    if u8::from(estimate.score()) >= MIN_STRENGTH {
        return None;
    }
    let mut message = String::from("This password is too easy to guess.");
    if let Some(feedback) = estimate.feedback() {
        if let Some(w) = feedback.warning() {
            message.push(' ');
            message.push_str(&w.to_string());
        }
        if let Some(s) = feedback.suggestions().first() {
            message.push(' ');
            message.push_str(&s.to_string());
        }
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    Some(message)
}

type Job = Box<dyn FnOnce() + Send>;

/// Nice value of the hashing threads (0 is normal; higher yields sooner).
const HASH_NICE: i32 = 10;

/// Hashes and verifies passwords on the pool of hashing threads; clones share
/// the pool.
#[derive(Clone)]
pub struct PasswordHasher {
    /// Jobs for the hashing threads; they stop when every sender is gone.
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not finished (running or waiting).
    pending: Arc<AtomicUsize>,
    /// Jobs allowed at once: the threads plus the queue.
    capacity: usize,
    /// A real hash of a random password: verifying against it when a username
    /// is unknown makes that answer cost the same time as a wrong password.
    dummy_hash: Arc<str>,
}

fn argon2() -> Argon2<'static> {
    // The parameters are constants inside the valid range, so this cannot fail.
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .unwrap_or_else(|_| Params::default());
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Lowers the calling thread's scheduling priority (Linux: per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its integer arguments; `0` names the
    // calling thread. A failure leaves the priority as it was.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, HASH_NICE);
    }
}

fn spawn_workers(count: usize) -> Result<mpsc::Sender<Job>, HashError> {
    let (tx, rx) = mpsc::channel::<Job>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..count.max(1) {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{i}"))
            .spawn(move || {
                lower_priority();
                loop {
                    let job = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return, // the hasher is gone
                    }
                }
            })
            .map_err(|e| HashError::Hash(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(tx)
}

impl PasswordHasher {
    /// `concurrency` hashes may run at once (at least one) and `queue` more
    /// may wait; beyond that, [`HashError::Busy`].
    pub async fn new(concurrency: usize, queue: usize) -> Result<Self, HashError> {
        let jobs = spawn_workers(concurrency)?;
        let dummy = run(&jobs, || {
            let mut random = [0u8; 24];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
            hash_blocking(&base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                random,
            ))
        })
        .await??;
        Ok(Self {
            jobs,
            pending: Arc::default(),
            capacity: concurrency.max(1) + queue,
            dummy_hash: dummy.into(),
        })
    }

    /// Hashes running or waiting now.
    pub fn queued(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Runs `f` on a hashing thread unless the queue is full.
    async fn bounded<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        if self.pending.fetch_add(1, Ordering::SeqCst) >= self.capacity {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return Err(HashError::Busy);
        }
        let pending = self.pending.clone();
        // the count drops when the job ends, even if the caller went away
        run(&self.jobs, move || {
            let out = f();
            pending.fetch_sub(1, Ordering::SeqCst);
            out
        })
        .await
    }

    /// Why `password` is too easy to guess (zxcvbn), checked on the
    /// hashing threads under the same bound as a hash: a flood of sign-ups
    /// with crafted passwords waits there, or is told the server is busy,
    /// instead of taking the blocking pool.
    pub async fn strength_problem(
        &self,
        password: String,
        username: String,
    ) -> Result<Option<String>, HashError> {
        self.bounded(move || strength_problem(&password, &username))
            .await
    }

    /// Hashes `password` with a fresh random salt (a PHC string, as stored).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.bounded(move || hash_blocking(&password)).await?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no such user (`hash == None`) — then always `false`.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let ok = self
            .bounded(move || verify_blocking(&password, &hash))
            .await?;
        Ok(ok && known)
    }
}

/// Runs `f` on a hashing thread (queued until one is free) and awaits it.
async fn run<T: Send + 'static>(
    jobs: &mpsc::Sender<Job>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    let (tx, rx) = oneshot::channel();
    jobs.send(Box::new(move || {
        let _ = tx.send(f());
    }))
    .map_err(|_| HashError::Closed)?;
    rx.await.map_err(|_| HashError::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let hasher = PasswordHasher::new(1, 4).await.expect("hasher");
        let hash = hasher
            .hash("correct horse battery".into())
            .await
            .expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(hasher
            .verify("correct horse battery".into(), Some(hash.clone()))
            .await
            .unwrap());
        assert!(!hasher
            .verify("wrong horse battery".into(), Some(hash))
            .await
            .unwrap());
        assert!(!hasher.verify("anything".into(), None).await.unwrap());
    }

    #[test]
    fn common_and_guessable_passwords_are_refused() {
        for weak in [
            "password12345",
            "iloveyou123456",
            "qwertyuiopasdfgh",
            "abcdefghijklmnop",
            "aaaaaaaaaaaaaaaa",
            "1q2w3e4r5t6y7u8i",
            "P@ssw0rd123456",
            "letmein1234567",
        ] {
            let problem = strength_problem(weak, "alice");
            assert!(problem.is_some(), "{weak} passed");
            assert!(problem
                .unwrap()
                .starts_with("This password is too easy to guess."));
        }
        for strong in [
            "correct horse battery",
            "correct horse battery staple",
            "a brand new passphrase",
            "violet tundra 38 sparrow",
        ] {
            assert_eq!(strength_problem(strong, "alice"), None, "{strong}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_answers_busy_at_once() {
        let hasher = PasswordHasher::new(1, 1).await.expect("hasher");
        let started = std::time::Instant::now();
        let jobs: Vec<_> = (0..8)
            .map(|i| {
                let h = hasher.clone();
                tokio::spawn(async move { h.hash(format!("password number {i}")).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for j in jobs {
            match j.await.expect("join") {
                Ok(_) => done += 1,
                Err(HashError::Busy) => busy += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(done >= 1 && busy >= 1, "done {done}, busy {busy}");
        assert_eq!(done + busy, 8);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // once the queue drained, hashing works again
        assert!(hasher.hash("after the flood".into()).await.is_ok());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_threads_run_at_a_lower_priority() {
        let jobs = spawn_workers(1).expect("workers");
        let (tx, rx) = std::sync::mpsc::channel();
        jobs.send(Box::new(move || {
            // SAFETY: reads the calling thread's nice value.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
            let _ = tx.send(nice);
        }))
        .expect("send");
        let nice = rx.recv().expect("answer");
        assert!(nice >= HASH_NICE, "nice {nice}");
    }
}
