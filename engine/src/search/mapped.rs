//! A segment's HNSW graph, read in place from its memory-mapped file.
//!
//! usearch can map a file itself (`Index::view`), but it maps with the kernel's default
//! readahead, which reads 128 KB around every page fault. A search reads nodes and vectors
//! scattered over the whole file, so on an index larger than its page cache that readahead
//! fills the cache with pages no search wants. Strata maps the file itself, advises the
//! mapping for random access, and hands usearch the bytes (`Index::view_from_buffer`).
//!
//! This is the engine's one module with `unsafe` code: the mapping's lifetime is the one
//! thing the compiler cannot check, and `Mapped` ties it to the index that reads it.

#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use usearch::Index;

/// A graph viewed in its mapped file.
pub(super) struct Mapped {
    // Declared before the mapping, so dropped before it: the index reads the mapping until
    // then. Private, so nothing can move the index out of this pair.
    index: Index,
    _file: FileMap,
}

impl Mapped {
    /// Maps the file at `path` and makes `index` (empty, with the file's options) a view of it.
    pub(super) fn view(index: Index, path: &Path) -> Result<Mapped, String> {
        let file = FileMap::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        // SAFETY: the bytes stay mapped and unchanged for as long as `index` lives: both are
        // owned by the `Mapped` returned, which drops the index first, and segment files are
        // never written once renamed into place. On failure usearch may already hold
        // pointers into the bytes, so the index goes before the mapping there too.
        if let Err(e) = unsafe { index.view_from_buffer(file.bytes()) } {
            drop(index);
            return Err(e.to_string());
        }
        // Loading read the keys in file order with readahead's help; from now on reads are
        // scattered.
        file.advise_random();
        Ok(Mapped { index, _file: file })
    }

    pub(super) fn index(&self) -> &Index {
        &self.index
    }
}

/// A read-only, shared memory map of a whole file.
struct FileMap {
    ptr: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; any number of threads may
// read it at once.
unsafe impl Send for FileMap {}
// SAFETY: as above: shared access only reads.
unsafe impl Sync for FileMap {}

impl FileMap {
    fn open(path: &Path) -> io::Result<FileMap> {
        let file = std::fs::File::open(path)?;
        let len = usize::try_from(file.metadata()?.len())
            .map_err(|_| io::Error::other("file too large to map"))?;
        if len == 0 {
            return Err(io::Error::other("empty file"));
        }
        // SAFETY: a new read-only shared mapping of an open file; the result is checked
        // before use. The mapping outlives the descriptor, which closes on return.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(FileMap { ptr, len })
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` maps `len` readable bytes until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }

    /// Asks the kernel to read only the faulting page, not the pages around it.
    fn advise_random(&self) {
        // SAFETY: advice on our own live mapping; a failure only loses the hint.
        unsafe { libc::madvise(self.ptr, self.len, libc::MADV_RANDOM) };
    }
}

impl Drop for FileMap {
    fn drop(&mut self) {
        // SAFETY: unmapped once, after the index that read it is gone.
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}
