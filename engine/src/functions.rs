//! Function libraries (FUNCTION LOAD): the engine keeps each library's source by name, so
//! libraries are logged, snapshotted and recovered like data; the server compiles them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// Every loaded library's source, by name.
#[derive(Default)]
pub struct Libraries {
    libs: Mutex<BTreeMap<String, Bytes>>,
    /// Bumped on every change, so the server knows when its compiled copy is stale.
    version: AtomicU64,
}

impl Libraries {
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn all(&self) -> Vec<(String, Bytes)> {
        self.libs
            .lock()
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect()
    }

    /// Adds or replaces a library (its name comes from its metadata line). Returns the new
    /// version; None when the source has no valid metadata (a damaged record).
    pub fn put(&self, code: &[u8]) -> Option<u64> {
        let (_, name) = metadata(code).ok()?;
        self.libs.lock().insert(name, Bytes::copy_from_slice(code));
        Some(self.version.fetch_add(1, Ordering::AcqRel) + 1)
    }

    pub fn delete(&self, name: &str) -> bool {
        let gone = self.libs.lock().remove(name).is_some();
        self.version.fetch_add(1, Ordering::AcqRel);
        gone
    }

    pub fn flush(&self) {
        self.libs.lock().clear();
        self.version.fetch_add(1, Ordering::AcqRel);
    }
}

/// A library's first line, `#!<engine> name=<name>`: the engine and the library name, or
/// Redis's error text.
pub fn metadata(code: &[u8]) -> Result<(String, String), String> {
    let first = code.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(rest) = first.strip_prefix(b"#!") else {
        return Err("ERR Missing library metadata".into());
    };
    let line = String::from_utf8_lossy(rest);
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default().to_string();
    let mut name = None;
    for w in words {
        match w.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => return Err(format!("ERR Invalid metadata value given: {w}")),
        }
    }
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(format!("ERR Engine '{engine}' not found"));
    }
    let name = name.ok_or_else(|| "ERR Library name was not given".to_string())?;
    if !valid_name(&name) {
        return Err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    Ok((engine, name))
}

/// Library and function names: letters, digits and underscores, at least one.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_follows_redis() {
        assert_eq!(
            metadata(b"#!lua name=mylib\nreturn 1"),
            Ok(("lua".into(), "mylib".into()))
        );
        assert!(metadata(b"return 1").is_err());
        assert_eq!(
            metadata(b"#!js name=x\n"),
            Err("ERR Engine 'js' not found".into())
        );
        assert_eq!(
            metadata(b"#!lua\n"),
            Err("ERR Library name was not given".into())
        );
        assert_eq!(
            metadata(b"#!lua name=x foo=1\n"),
            Err("ERR Invalid metadata value given: foo=1".into())
        );
        assert!(metadata(b"#!lua name=bad-name\n").is_err());
        let l = Libraries::default();
        assert_eq!(l.put(b"#!lua name=a\n"), Some(1));
        assert_eq!(l.put(b"no metadata"), None);
        assert!(l.delete("a"));
        assert!(!l.delete("a"));
    }
}
