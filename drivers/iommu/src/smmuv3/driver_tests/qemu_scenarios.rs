//! The QEMU scenarios against the model, as QEMU's SMMU and as a full-featured one, and the
//! nested translation QEMU 10 gets wrong.

use super::*;
use crate::smmuv3::scenarios::{self, Outcome};
use crate::vtd::scenarios::{ModelBench, ModelDma};

/// The model as the device SID's path to memory.
struct Port<'a>(&'a SmmuModel);

impl ModelDma for Port<'_> {
    fn read(&self, iova: u64, buf: &mut [u8]) -> bool {
        self.0.dma_read(SID, None, iova, buf).is_ok()
    }

    fn write(&self, iova: u64, data: &[u8]) -> bool {
        self.0.dma_write(SID, None, iova, data).is_ok()
    }
}

impl Rig {
    /// The device at SID doing DMA through this rig's model.
    fn bench(&self) -> ModelBench<'_, Port<'_>> {
        ModelBench {
            dma: Port(&self.model),
            rid: SID as u16,
            mem: &self.mem,
            ram: RAM_BASE..RAM_LIMIT,
            buffer: [0; scenarios::LEN],
        }
    }
}

/// Every scenario the QEMU tests run passes against the model, as QEMU's SMMU
/// and as a full-featured one.
#[test]
fn the_qemu_scenarios_pass_against_the_model() {
    type All<'a> = ModelBench<'a, Port<'a>>;
    let n = scenarios::all::<&SmmuModel, &SimMemory, &SimClock, All>().len();
    for (config_name, config) in [("QEMU", SmmuConfig::qemu()), ("full", SmmuConfig::full())] {
        for i in 0..n {
            let rig = Rig::new(config);
            let (name, format, scenario) =
                scenarios::all::<&SmmuModel, &SimMemory, &SimClock, All>()[i];
            let mut smmu = rig.smmu(format);
            let mut bench = rig.bench();
            match scenario(&mut smmu, &mut bench) {
                Ok(Outcome::Passed) => {}
                Ok(Outcome::Skipped(why)) => panic!("{name} on {config_name} skipped: {why}"),
                Err(e) => panic!("{name} on {config_name}: {e}"),
            }
        }
    }
}

/// Nested translation with IPAs in the second of the two concatenated
/// stage-2 level-1 tables (bit 39 set): the model, written from the Arm ARM,
/// translates it (QEMU 10 does not; see `scenarios::nested_second_concatenated_table`).
#[test]
fn nested_translation_reaches_the_second_concatenated_stage2_table() {
    let rig = Rig::new(SmmuConfig::full());
    let mut smmu = rig.smmu(LINEAR);
    let mut bench = rig.bench();
    match scenarios::nested_second_concatenated_table(&mut smmu, &mut bench) {
        Ok(Outcome::Passed) => {}
        other => panic!("{other:?}"),
    }
}
