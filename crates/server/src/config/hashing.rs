//! Password hashing: the argon2 parameters (`ARGON2_*`) and how many hashes run at once
//! (`HASH_CONCURRENCY`).

use portcullis_auth::password::HashParams;

use super::reader::Reader;

impl Reader<'_> {
    pub(super) fn argon2(&mut self) -> Option<HashParams> {
        let defaults = HashParams::default();
        let memory_kib = self.parse("ARGON2_MEMORY_KIB", Some(defaults.memory_kib), "a size in KiB");
        let iterations = self.parse(
            "ARGON2_ITERATIONS",
            Some(defaults.iterations),
            "a number of passes",
        );
        let parallelism = self.parse(
            "ARGON2_PARALLELISM",
            Some(defaults.parallelism),
            "a number of lanes",
        );
        let params = HashParams {
            memory_kib: memory_kib?,
            iterations: iterations?,
            parallelism: parallelism?,
        };
        // argon2's own limits: at least 8 KiB per lane, one pass, one lane.
        if params.parallelism == 0 || params.parallelism > 64 {
            self.problem("ARGON2_PARALLELISM must be from 1 to 64".into());
            return None;
        }
        if params.iterations == 0 {
            self.problem("ARGON2_ITERATIONS must be at least 1".into());
            return None;
        }
        if params.memory_kib < 8 * params.parallelism || params.memory_kib > 4 * 1024 * 1024 {
            self.problem("ARGON2_MEMORY_KIB must be from 8 × ARGON2_PARALLELISM to 4194304".into());
            return None;
        }
        Some(params)
    }

    /// `HASH_CONCURRENCY`: by default all cores but one (at least one), so a login storm leaves a
    /// core for other requests.
    pub(super) fn hash_concurrency(&mut self) -> Option<usize> {
        let spare = std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        let hash_concurrency = self.parse("HASH_CONCURRENCY", Some(spare), "a number from 1 to 256");
        if hash_concurrency.is_some_and(|n| n == 0 || n > 256) {
            self.problem("HASH_CONCURRENCY must be from 1 to 256".into());
        }
        hash_concurrency
    }
}
