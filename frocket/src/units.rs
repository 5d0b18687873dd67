//! Byte units as the CLI reads and prints them, and the process's peak memory.

/// A mebibyte: every `*_MB` setting and flag of the CLI counts in MiB, and sizes print in MiB.
pub use settings::MIB;

/// `bytes` in MiB, for printing.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// Peak resident memory of this process in bytes (Linux `VmHWM`; `None` elsewhere).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mib_is_binary_and_peak_memory_is_read_on_linux() {
        assert_eq!(mib(3 * MIB / 2), 1.5);
        if cfg!(target_os = "linux") {
            let peak = peak_memory_bytes().expect("VmHWM on Linux");
            assert!(peak > MIB, "a test process holds more than 1 MiB: {peak}");
        }
    }
}
