//! The process's allocator: mimalloc, and how soon it gives freed memory
//! back to the kernel.
//!
//! Arrow allocates and frees large buffers for every batch; glibc's malloc
//! returns them to the kernel and faults them back in, mimalloc keeps them
//! (measured in bench/RESULTS.md). Built without transparent huge pages
//! (`no_thp`): with them, every first touch of a 2 MB region zeroes all of
//! it, which took a quarter of reading 1M customers. The feature
//! `system-allocator` leaves glibc's malloc in place, for heap profilers.
//!
//! mimalloc 3 purges freed memory 1 s after the free; an aggregation that
//! grows its hash table and vectors frees the old ones while it builds the
//! new, so for that second the process holds both. [`configure`] sets the
//! delay to 10 ms, mimalloc 2's (`MIMALLOC_PURGE_DELAY` still overrides it): the 10M-order answer from Parquet peaked at
//! 1.16-1.27 GB instead of 1.59-1.64 GB, 0.1-0.2 s slower (bench/README.md).
//!
//! What must stay true: [`configure`] runs before any other thread starts
//! (mimalloc's options are not thread safe), and the option it sets is the
//! purge delay of the mimalloc version linked (checked by a test).

#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long mimalloc waits before it returns freed memory, in milliseconds.
#[cfg(not(feature = "system-allocator"))]
pub const PURGE_DELAY_MS: i64 = 10;

/// `mi_option_purge_delay` in mimalloc 3.3's `mi_option_t` (libmimalloc-sys
/// binds the options around it but not this one).
#[cfg(not(feature = "system-allocator"))]
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The mimalloc version whose option numbers this module uses.
#[cfg(not(feature = "system-allocator"))]
const MI_VERSION: i32 = 30302;

/// Sets mimalloc's purge delay unless `MIMALLOC_PURGE_DELAY` does; call it
/// first in `main`, on the only thread.
#[cfg(not(feature = "system-allocator"))]
#[allow(unsafe_code)]
pub fn configure() {
    // SAFETY: plain C calls that read and set an integer option; called
    // before the runtime starts any other thread, as mimalloc requires.
    unsafe {
        if libmimalloc_sys::mi_version() == MI_VERSION {
            libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS as std::ffi::c_long);
        }
    }
}

/// Without mimalloc there is nothing to configure.
#[cfg(feature = "system-allocator")]
pub fn configure() {}

#[cfg(all(test, not(feature = "system-allocator")))]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    #[test]
    fn the_option_set_is_the_purge_delay_of_the_linked_mimalloc() {
        // SAFETY: reads only.
        let (version, delay) = unsafe {
            (
                libmimalloc_sys::mi_version(),
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY),
            )
        };
        assert_eq!(
            version, MI_VERSION,
            "mimalloc changed: check MI_OPTION_PURGE_DELAY in its mimalloc.h"
        );
        // untouched in this test process (unless MIMALLOC_PURGE_DELAY is
        // set), the option reads mimalloc 3's default of 1 s
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert!(delay == 1000 || delay == PURGE_DELAY_MS, "option 15 reads {delay}");
        }
    }
}
