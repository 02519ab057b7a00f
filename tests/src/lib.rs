//! Test helpers (filled below).
