//! The wall clock as the task protocol uses it: unix seconds as `f64` (request invoke times,
//! attempt status times, stale-request checks). One helper, so every component reads the same
//! clock the same way.

/// Seconds since the unix epoch, with microsecond resolution (0 if the clock is before 1970).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
