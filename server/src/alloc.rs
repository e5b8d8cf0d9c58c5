//! The global allocator: jemalloc (as Redis uses), wrapped to count bytes in use so
//! `used_memory` reports real allocation like Redis's zmalloc counter, cheaply enough to read
//! before every write when `maxmemory` is set. Like Redis, it counts jemalloc's usable size
//! (the size class an allocation really occupies), not the size requested.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};

use tikv_jemallocator::Jemalloc;

pub struct Counting;

/// Bytes in use, counted per thread stripe so allocating threads never contend on one cache
/// line; `used_memory` sums the stripes (as Redis 7 sums its per-thread counters).
#[repr(align(64))]
struct Stripe(AtomicIsize);

const STRIPES: usize = 16;
static USED: [Stripe; STRIPES] = [const { Stripe(AtomicIsize::new(0)) }; STRIPES];
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static MY_STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn stripe() -> &'static AtomicIsize {
    let i = MY_STRIPE.with(|s| {
        let mut i = s.get();
        if i == usize::MAX {
            i = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
            s.set(i);
        }
        i
    });
    &USED[i].0
}

fn count(delta: isize) {
    stripe().fetch_add(delta, Ordering::Relaxed);
}

/// The size class jemalloc uses for a request (`nallocx`), which is what the allocation
/// really occupies.
fn usable(layout: Layout) -> usize {
    let flags = if layout.align() > 16 {
        layout.align().trailing_zeros() as i32
    } else {
        0
    };
    // SAFETY: nallocx only computes a size class from its arguments; it touches no memory.
    let n = unsafe { tikv_jemalloc_sys::nallocx(layout.size().max(1), flags) };
    if n == 0 {
        layout.size()
    } else {
        n
    }
}

/// Bytes currently allocated through Rust's allocator (usable sizes).
pub fn used_memory() -> usize {
    USED.iter()
        .map(|s| s.0.load(Ordering::Relaxed))
        .sum::<isize>()
        .max(0) as usize
}

// SAFETY: every method forwards to jemalloc with the caller's arguments unchanged, so the
// GlobalAlloc contract holds exactly as it does for `Jemalloc`; the counter is a side effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { Jemalloc.alloc(layout) };
        if !p.is_null() {
            count(usable(layout) as isize);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { Jemalloc.alloc_zeroed(layout) };
        if !p.is_null() {
            count(usable(layout) as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-(usable(layout) as isize));
        // SAFETY: `ptr` was allocated by jemalloc with `layout`, per our caller's contract.
        unsafe { Jemalloc.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as our caller's.
        let p = unsafe { Jemalloc.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            let new_layout = Layout::from_size_align(new_size, layout.align()).unwrap_or(layout);
            count(usable(new_layout) as isize);
            count(-(usable(layout) as isize));
        }
        p
    }
}

/// Resident set size from /proc (0 where unavailable).
pub fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<usize>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// jemalloc's own view of the Rust heap, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapStats {
    /// Handed out to the program.
    pub allocated: usize,
    /// In pages that hold at least one allocation.
    pub active: usize,
    /// In resident pages: active ones, freed ones not yet returned to the kernel, metadata.
    pub resident: usize,
}

pub fn jemalloc_stats() -> HeapStats {
    use tikv_jemalloc_ctl::{epoch, stats};
    let _ = epoch::advance();
    HeapStats {
        allocated: stats::allocated::read().unwrap_or(0),
        active: stats::active::read().unwrap_or(0),
        resident: stats::resident::read().unwrap_or(0),
    }
}

/// jemalloc's statistics report (`malloc_stats_print`), as text.
pub fn jemalloc_report() -> Vec<u8> {
    let mut out = Vec::new();
    if let Err(e) = tikv_jemalloc_ctl::stats_print::stats_print(&mut out, Default::default()) {
        out = format!("jemalloc statistics are not available: {e}\n").into_bytes();
    }
    out
}

/// Bytes in use in glibc's malloc, which serves the C++ libraries (RocksDB's block cache,
/// memtables, compaction buffers): chunks handed out plus mmapped blocks. 0 where glibc is
/// not the C allocator.
pub fn glibc_in_use() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads glibc's arenas under their locks.
        let m = unsafe { libc::mallinfo2() };
        m.uordblks + m.hblkhd
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        0
    }
}

/// Hands the free pages inside glibc's arenas back to the kernel. RocksDB's block cache
/// frees blocks in whatever order they age out, which leaves free holes that glibc only
/// returns at the top of an arena; under a continuous cold-read load they held about 30 MB.
pub fn trim_malloc() {
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Limits glibc malloc to two arenas. Strata's own allocations go to jemalloc; glibc's malloc
/// serves only RocksDB's C++ (the cold tier), whose threads would otherwise each get an arena
/// of their own, and the memory those arenas keep made RSS grow about 50 MB past the block
/// cache under a continuous cold-read load. Call once, at startup, before threads start.
pub fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets a glibc tunable; called before other threads exist.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
