//! Guest accesses vsva emulates: the partition's PCI configuration window
//! (`vsva_pci::ConfigWindow`); anything else unmapped stops the partition.

use alloc::format;
use alloc::string::String;

use vsva_abi::CONFIG_WINDOW_BASE;

use super::memory::RamAccess;
use super::{Partition, StopReason};

impl Partition {
    /// Whether `ipa` is in the emulated configuration window (which only a
    /// partition with devices has).
    fn in_config_window(&self, ipa: u64) -> bool {
        !self.devices.is_empty()
            && (CONFIG_WINDOW_BASE..CONFIG_WINDOW_BASE + vsva_pci::window::WINDOW_SIZE)
                .contains(&ipa)
    }

    /// An access to an unmapped IPA the hardware did not describe: the
    /// configuration window (the instruction decoded from guest memory), or
    /// a fault that stops the partition.
    pub(super) fn stage_fault(
        &mut self,
        i: usize,
        ipa: u64,
        va: Option<u64>,
        write: bool,
        reason: String,
    ) {
        if self.in_config_window(ipa) {
            let ram = RamAccess(self.ram);
            let mut read = |gpa: u64, buf: &mut [u8]| ram.read(gpa, buf);
            if let Some((bytes, value)) = self.vcpus[i].vcpu.decode_mmio(&mut read) {
                self.mmio(i, ipa, va, bytes, value);
                return;
            }
        }
        let reason = if self.in_config_window(ipa) {
            format!("{reason}; a configuration-window access vsva cannot emulate")
        } else {
            reason
        };
        let pc = self.vcpus[i].vcpu.gprs().pc;
        self.stop(StopReason::Fault {
            vcpu: i,
            ipa,
            va,
            pc,
            write,
            reason,
        });
    }

    /// A load or store of `size` bytes at `ipa` the hardware (or the
    /// decoder) described: emulated in the window, else a fault.
    pub(super) fn mmio(
        &mut self,
        i: usize,
        ipa: u64,
        va: Option<u64>,
        size: u8,
        write: Option<u64>,
    ) {
        if !self.in_config_window(ipa) || size > 4 {
            let pc = self.vcpus[i].vcpu.gprs().pc;
            self.stop(StopReason::Fault {
                vcpu: i,
                ipa,
                va,
                pc,
                write: write.is_some(),
                reason: "translation fault: nothing is mapped or emulated at this IPA".into(),
            });
            return;
        }
        let at = ipa - CONFIG_WINDOW_BASE;
        let Some(segment) = self.devices.first().map(|d| d.segment) else {
            return;
        };
        let Some(seg) = crate::pci::SEGMENTS
            .get()
            .and_then(|s| s.iter().find(|s| s.segment == segment))
        else {
            return;
        };
        match write {
            Some(value) => {
                self.window.write(&seg.access, at, size, value as u32);
            }
            None => {
                let value = self.window.read(&seg.access, at, size);
                self.vcpus[i].vcpu.complete_read(u64::from(value));
            }
        }
    }
}
