//! The fuzzer's bytes as a stream of choices. Reads past the end give
//! zeros, so a scenario always decodes; every loop of the harness takes at
//! least one byte per round or is bounded by a constant, so a scenario ends
//! within a bound set by its input's length.

/// A cursor over the input.
#[derive(Debug)]
pub(crate) struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    /// Whether every byte has been used.
    pub fn is_empty(&self) -> bool {
        self.at >= self.data.len()
    }

    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | u32::from(self.u16()) << 16
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }

    /// A value below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n
    }

    /// True with probability about `n` / 256.
    pub fn chance(&mut self, n: u8) -> bool {
        self.u8() < n
    }

    /// One of `items` (not empty), or `None` for an empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        Some(items[self.below(items.len())])
    }

    /// Up to `max` bytes of the input as they are (fewer at its end).
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        let end = start.saturating_add(max).min(self.data.len());
        self.at = end.max(self.at);
        &self.data[start..end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero_and_bytes_stop_there() {
        let mut i = Input::new(&[1, 2, 3]);
        assert_eq!(i.u16(), 0x0201);
        assert_eq!(i.bytes(8), &[3]);
        assert!(i.is_empty());
        assert_eq!((i.u32(), i.bytes(4).len()), (0, 0));
        assert_eq!(i.pick::<u8>(&[]), None);
    }
}
