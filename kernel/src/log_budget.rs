//! What a partition may put into vsva's log in one time slice. A guest
//! controls its console text and, through its devices, its DMA faults; both
//! are logged, and logging costs vsva time that is not charged to the
//! guest's slice. So each partition gets a budget of console bytes and of
//! fault lines per slice; what is over it is counted, not logged, and the
//! count is reported once the next slice begins. Console text is escaped
//! so that a guest cannot forge log lines (`\r`, escape sequences).

use alloc::string::String;

/// Console bytes a partition may have logged per slice.
pub const CONSOLE_BYTES_PER_SLICE: usize = 4096;
/// DMA fault lines a partition may have logged per slice.
pub const FAULT_LINES_PER_SLICE: u32 = 8;

/// One partition's budget and what it dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogBudget {
    bytes_left: usize,
    faults_left: u32,
    dropped_bytes: usize,
    dropped_faults: u32,
}

/// What was dropped during a slice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    pub bytes: usize,
    pub faults: u32,
}

impl Default for LogBudget {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBudget {
    pub const fn new() -> Self {
        Self {
            bytes_left: CONSOLE_BYTES_PER_SLICE,
            faults_left: FAULT_LINES_PER_SLICE,
            dropped_bytes: 0,
            dropped_faults: 0,
        }
    }

    /// A new slice: the budget is full again; what the last one dropped,
    /// if anything, to report.
    pub fn refill(&mut self) -> Option<Dropped> {
        let dropped = Dropped {
            bytes: self.dropped_bytes,
            faults: self.dropped_faults,
        };
        *self = Self::new();
        (dropped != Dropped::default()).then_some(dropped)
    }

    /// Takes `n` console bytes: whether they may be logged (else counted).
    pub fn take_bytes(&mut self, n: usize) -> bool {
        if n <= self.bytes_left {
            self.bytes_left -= n;
            true
        } else {
            self.bytes_left = 0;
            self.dropped_bytes = self.dropped_bytes.saturating_add(n);
            false
        }
    }

    /// Takes one fault line: whether it may be logged (else counted).
    pub fn take_fault(&mut self) -> bool {
        if self.faults_left > 0 {
            self.faults_left -= 1;
            true
        } else {
            self.dropped_faults = self.dropped_faults.saturating_add(1);
            false
        }
    }
}

/// Appends `c` to a log line as text that cannot act on a terminal or
/// start a new line: control characters other than tab become escapes
/// (`\r`, `\u{1b}`, ...).
pub fn push_escaped(line: &mut String, c: char) {
    if c.is_control() && c != '\t' {
        line.extend(c.escape_default());
    } else {
        line.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_over_the_budget_are_counted_and_reported_once() {
        let mut b = LogBudget::new();
        assert!(b.take_bytes(CONSOLE_BYTES_PER_SLICE - 10));
        assert!(b.take_bytes(10));
        assert!(!b.take_bytes(1));
        assert!(!b.take_bytes(100));
        assert_eq!(
            b.refill(),
            Some(Dropped {
                bytes: 101,
                faults: 0
            })
        );
        assert_eq!(b.refill(), None, "reported once");
        assert!(b.take_bytes(CONSOLE_BYTES_PER_SLICE));
    }

    #[test]
    fn a_line_too_long_for_what_is_left_is_dropped_whole() {
        let mut b = LogBudget::new();
        assert!(b.take_bytes(CONSOLE_BYTES_PER_SLICE - 5));
        assert!(!b.take_bytes(6));
        // Nothing is left for smaller ones either: the slice is over budget.
        assert!(!b.take_bytes(1));
        assert_eq!(b.refill().map(|d| d.bytes), Some(7));
    }

    #[test]
    fn fault_lines_are_budgeted_too() {
        let mut b = LogBudget::new();
        for _ in 0..FAULT_LINES_PER_SLICE {
            assert!(b.take_fault());
        }
        assert!(!b.take_fault());
        assert!(!b.take_fault());
        assert_eq!(
            b.refill(),
            Some(Dropped {
                bytes: 0,
                faults: 2
            })
        );
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let mut line = String::new();
        for c in "ok\r[    0.1] INFO  forged\u{1b}[2J\ttab\u{7f}".chars() {
            push_escaped(&mut line, c);
        }
        assert_eq!(line, "ok\\r[    0.1] INFO  forged\\u{1b}[2J\ttab\\u{7f}");
        assert!(!line.chars().any(|c| c.is_control() && c != '\t'));
    }
}
