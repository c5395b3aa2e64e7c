//! A partition's console: text from the ConsoleWrite hypercall, logged line
//! by line with the partition's name (escaped, within the partition's log
//! budget per slice: `crate::log_budget`) and kept (the last few KiB) for
//! tests and reports.

use log::info;

use super::Partition;
use crate::log_budget::push_escaped;

/// Console output kept per partition.
const CONSOLE_KEPT: usize = 8 * 1024;
/// The longest line logged; the rest of a longer one is dropped.
const LINE_MAX: usize = 512;

impl Partition {
    /// Appends console text, logging it line by line with the partition's name.
    pub(super) fn console_write(&mut self, text: &str) {
        for c in text.chars() {
            if c == '\n' {
                self.flush_line();
            } else if self.line.len() < LINE_MAX {
                push_escaped(&mut self.line, c);
            }
        }
        if self.console.len() + text.len() > CONSOLE_KEPT {
            let cut = (self.console.len() + text.len()).saturating_sub(CONSOLE_KEPT);
            let cut = (cut..=self.console.len())
                .find(|&i| self.console.is_char_boundary(i))
                .unwrap_or(self.console.len());
            self.console.drain(..cut);
        }
        self.console.push_str(text);
    }

    pub(super) fn flush_line(&mut self) {
        if !self.line.is_empty() {
            if self.log_budget.take_bytes(self.line.len()) {
                info!("[{}] {}", self.name, self.line);
            }
            self.line.clear();
        }
    }
}
