//! Flushes subnormal floats to zero on every thread that does tensor work.
//!
//! A softmax over sharp attention logits, and its backward pass, make numbers below f32's
//! normal range (about 1e-38). x86 handles such subnormal operands and results in microcode,
//! dozens of times slower than normal ones, so a training step whose attention heads are sharp
//! ran at half speed. Setting the MXCSR flags FTZ (results) and DAZ (operands) treats them as
//! zero, which changes values only below 1e-38, far under anything a model's output shows.

/// MXCSR bit 15: flush subnormal results to zero.
#[cfg(target_arch = "x86_64")]
const FLUSH_TO_ZERO: u32 = 1 << 15;
/// MXCSR bit 6: read subnormal operands as zero.
#[cfg(target_arch = "x86_64")]
const DENORMALS_ARE_ZERO: u32 = 1 << 6;

/// Sets FTZ and DAZ on the calling thread, and so on every thread it starts afterwards: a
/// new thread inherits its creator's floating-point environment (POSIX `pthread_create`),
/// which is how candle's worker pool gets it. Call first thing in `main`, before any thread
/// starts.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, deprecated)] // _mm_setcsr is the documented way to set MXCSR
pub fn flush_to_zero() {
    use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
    // SAFETY: both calls read or write only the calling thread's SSE control register; FTZ and
    // DAZ change how tiny floats round, nothing else.
    unsafe { _mm_setcsr(_mm_getcsr() | FLUSH_TO_ZERO | DENORMALS_ARE_ZERO) };
}

/// Elsewhere subnormals keep their default handling.
#[cfg(not(target_arch = "x86_64"))]
pub fn flush_to_zero() {}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use std::hint::black_box;

    /// 1e-30 * 1e-10 = 1e-40, a subnormal f32 unless flushed.
    fn tiny_product() -> f32 {
        black_box(1e-30_f32) * black_box(1e-10_f32)
    }

    #[test]
    fn products_below_the_normal_range_become_zero_here_and_on_later_threads() {
        let before = std::thread::spawn(tiny_product).join().unwrap();
        assert!(before > 0.0 && !before.is_normal(), "{before:e}");
        super::flush_to_zero();
        assert_eq!(tiny_product(), 0.0);
        // Reading a subnormal operand counts as zero too (DAZ).
        assert_eq!(black_box(f32::from_bits(1)) * black_box(2.0_f32), 0.0);
        // Threads started afterwards inherit it, as candle's workers do.
        let after = std::thread::spawn(tiny_product).join().unwrap();
        assert_eq!(after, 0.0);
        // Normal numbers are untouched.
        let small = black_box(1e-30_f32) * black_box(1e-5_f32);
        assert!(
            small.is_normal() && (small / 1e-35 - 1.0).abs() < 1e-6,
            "{small:e}"
        );
    }
}
