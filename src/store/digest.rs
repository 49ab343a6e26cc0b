//! SHA-256 over length-prefixed fields, cut to 128 bits: how the sync and the usage write
//! recognise what they already wrote (a listing's rows, a usage report).

use sha2::{Digest, Sha256};

/// Fields hashed one after another, each prefixed with its length (so that no two different
/// sequences of fields hash alike by running into each other).
pub(super) struct Fields(Sha256);

impl Fields {
    pub(super) fn new() -> Fields {
        Fields(Sha256::new())
    }

    pub(super) fn add(&mut self, field: &[u8]) {
        self.0.update((field.len() as u64).to_le_bytes());
        self.0.update(field);
    }

    /// The first 128 bits of the SHA-256.
    pub(super) fn finish(self) -> u128 {
        let out = self.0.finalize();
        u128::from_le_bytes(out[..16].try_into().expect("SHA-256 has 32 bytes"))
    }
}

/// [`Fields`] over `parts`, at once.
pub(super) fn digest128(parts: &[&[u8]]) -> u128 {
    let mut fields = Fields::new();
    for p in parts {
        fields.add(p);
    }
    fields.finish()
}
