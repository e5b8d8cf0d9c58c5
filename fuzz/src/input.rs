//! Reading structured values off the front of a fuzz input.
//!
//! Targets that need more than one byte string (a flag, a limit, several values) take them from
//! the input in order. Reads past the end give zeros and empty slices rather than failing, so
//! every byte string is a usable input and a mutation never makes an input "invalid", it only
//! changes what the target does with it.

pub struct Input<'a> {
    rest: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Input<'a> {
        Input { rest: data }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next byte, or 0 once the input is used up.
    pub fn byte(&mut self) -> u8 {
        match self.rest.split_first() {
            Some((&b, tail)) => {
                self.rest = tail;
                b
            }
            None => 0,
        }
    }

    /// Two bytes, little endian.
    pub fn u16(&mut self) -> u16 {
        let lo = self.byte();
        let hi = self.byte();
        u16::from_le_bytes([lo, hi])
    }

    /// Eight bytes, little endian.
    pub fn u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        for b in &mut bytes {
            *b = self.byte();
        }
        u64::from_le_bytes(bytes)
    }

    /// Up to `n` bytes (fewer when the input ends first).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.rest.split_at(n.min(self.rest.len()));
        self.rest = tail;
        head
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.rest.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_order_and_pads_with_zeros() {
        let mut input = Input::new(&[1, 2, 3, 4, 5]);
        assert_eq!(input.byte(), 1);
        assert_eq!(input.u16(), 0x0302);
        assert_eq!(input.bytes(1), &[4]);
        assert_eq!(input.rest(), &[5]);
        assert!(input.is_empty());
        assert_eq!(input.byte(), 0);
        assert_eq!(input.u64(), 0);
        assert_eq!(input.bytes(3), &[] as &[u8]);
    }
}
