//! Helpers shared by the integration tests: locating the shared ACPI tables, a small reader of
//! `iasl -d` output, and builders for hand-made tables.
#![allow(dead_code)] // Each test binary uses a different subset.

use std::path::{Path, PathBuf};

/// The shared table collection: `../../../shared/acpi-tables` from this crate. CI always has
/// `shared/` beside the clone; without it the tests must fail, not pass vacuously.
pub fn tables_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/acpi-tables");
    assert!(
        dir.join("manifest.json").is_file(),
        "shared ACPI tables not found at {} (expected the `shared/` checkout beside the \
         repository, with acpi-tables/manifest.json); these tests need the real tables",
        dir.display()
    );
    dir
}

/// One table of the collection, as `manifest.json` describes it.
#[derive(Debug)]
pub struct Entry {
    pub file: String,
    pub dsl: String,
    pub sig: String,
    pub kind: String,
    pub note: String,
    pub summary: serde_json::Value,
}

impl Entry {
    /// Tables that the collection marks as damaged (for example by a text conversion in
    /// transit) and that a parser must refuse.
    pub fn expected_corrupt(&self) -> bool {
        let k = self.kind.to_ascii_lowercase();
        let n = self.note.to_ascii_lowercase();
        k.contains("corrupt") || n.contains("corrupt")
    }

    pub fn summary_str(&self, key: &str) -> Option<String> {
        match self.summary.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// The leading number of a summary field such as `"4 (1 incl-all)"` or `2`.
    pub fn summary_count(&self, key: &str) -> Option<usize> {
        let s = self.summary_str(key)?;
        let digits: String = s.chars().take_while(|c| c.is_ascii_digit()).collect();
        digits.parse().ok()
    }
}

pub fn manifest(dir: &Path) -> Vec<Entry> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).expect("read manifest.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("parse manifest.json");
    let s = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string()
    };
    json.as_array()
        .expect("manifest is an array")
        .iter()
        .map(|v| Entry {
            file: s(v, "file"),
            dsl: s(v, "dsl"),
            sig: s(v, "sig"),
            kind: s(v, "kind"),
            note: s(v, "note"),
            summary: v.get("summary").cloned().unwrap_or(serde_json::Value::Null),
        })
        .collect()
}

/// One decoded field of `iasl -d` output: `[030h 0048 002h]   Subtable Type : 0000 [...]`.
#[derive(Debug, Clone)]
pub struct Field {
    pub offset: usize,
    pub len: usize,
    pub name: String,
    pub value: String,
}

impl Field {
    /// The value's first token as hex (iasl prints numbers in hex without a prefix).
    pub fn hex(&self) -> u64 {
        let tok = self.value.split_whitespace().next().unwrap_or("");
        u64::from_str_radix(tok, 16).unwrap_or_else(|_| {
            panic!(
                "field {:?} at {:#x}: {:?} is not hex",
                self.name, self.offset, self.value
            )
        })
    }

    /// The text between the first pair of double quotes.
    pub fn quoted(&self) -> String {
        let v = &self.value;
        let start = v.find('"').map(|i| i + 1).unwrap_or(0);
        let end = v[start..].find('"').map(|i| start + i).unwrap_or(v.len());
        v[start..end].to_string()
    }
}

/// The fields of one `.dsl` file, in file order.
#[derive(Debug)]
pub struct Dsl {
    pub fields: Vec<Field>,
}

impl Dsl {
    pub fn parse(text: &str) -> Self {
        let mut fields = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix('[') else {
                continue;
            };
            let Some(close) = rest.find(']') else {
                continue;
            };
            let mut toks = rest[..close].split_whitespace();
            let (Some(off), Some(_dec), Some(len)) = (toks.next(), toks.next(), toks.next()) else {
                continue;
            };
            let Some(off) = off
                .strip_suffix('h')
                .and_then(|h| usize::from_str_radix(h, 16).ok())
            else {
                continue;
            };
            // New iasl prints the length in hex with an `h`, old iasl in decimal.
            let len = match len.strip_suffix('h') {
                Some(h) => usize::from_str_radix(h, 16).unwrap_or(0),
                None => len.parse().unwrap_or(0),
            };
            let body = &rest[close + 1..];
            let Some(colon) = body.find(" : ") else {
                continue;
            };
            fields.push(Field {
                offset: off,
                len,
                name: body[..colon].trim().to_string(),
                value: body[colon + 3..].trim().to_string(),
            });
        }
        Self { fields }
    }

    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Self::parse(&text)
    }

    /// The field named `name` at `offset`.
    pub fn at(&self, offset: usize, name: &str) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.offset == offset && f.name == name)
    }

    pub fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| f.name == name)
    }
}

/// Collects mismatches so one run reports all of them.
#[derive(Default)]
pub struct Checker {
    pub failures: Vec<String>,
    pub checks: usize,
}

impl Checker {
    pub fn eq<T: PartialEq + std::fmt::Debug>(
        &mut self,
        ctx: &str,
        what: &str,
        ours: T,
        theirs: T,
    ) {
        self.checks += 1;
        if ours != theirs {
            self.failures
                .push(format!("{ctx}: {what}: parser {ours:?}, iasl {theirs:?}"));
        }
    }

    /// Compares against the field `name` at `offset` read as hex; a missing field is a failure.
    pub fn hex(&mut self, ctx: &str, dsl: &Dsl, offset: usize, name: &str, ours: u64) {
        match dsl.at(offset, name) {
            Some(f) => self.eq(ctx, &format!("{name} @ {offset:#x}"), ours, f.hex()),
            None => {
                self.checks += 1;
                self.failures.push(format!(
                    "{ctx}: iasl has no {name:?} at {offset:#x} (parser: {ours:#x})"
                ));
            }
        }
    }

    pub fn fail(&mut self, msg: String) {
        self.checks += 1;
        self.failures.push(msg);
    }
}

/// Fixes byte 9 so the table's bytes sum to zero.
pub fn fix_checksum(t: &mut [u8]) {
    t[9] = 0;
    let sum = t.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    t[9] = 0u8.wrapping_sub(sum);
}

/// A 36-byte ACPI header with `sig`; length and checksum are filled by `finish`.
pub fn acpi_header(sig: &[u8; 4], revision: u8) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(sig);
    t.extend_from_slice(&0u32.to_le_bytes());
    t.push(revision);
    t.push(0);
    t.extend_from_slice(b"VSVA  ");
    t.extend_from_slice(b"TESTTABL");
    t.extend_from_slice(&1u32.to_le_bytes());
    t.extend_from_slice(b"VSVA");
    t.extend_from_slice(&1u32.to_le_bytes());
    assert_eq!(t.len(), 36);
    t
}

/// Sets the Length field and a valid checksum.
pub fn finish(mut t: Vec<u8>) -> Vec<u8> {
    let len = u32::try_from(t.len()).unwrap();
    t[4..8].copy_from_slice(&len.to_le_bytes());
    fix_checksum(&mut t);
    t
}

pub fn put_u16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}
pub fn put_u32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}
pub fn put_u64(v: &mut Vec<u8>, x: u64) {
    v.extend_from_slice(&x.to_le_bytes());
}

/// Simulates the damage a text-mode transfer does: every LF becomes CR LF.
pub fn lf_to_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    for &x in b {
        if x == b'\n' {
            out.push(b'\r');
        }
        out.push(x);
    }
    out
}

/// Simulates a lossy UTF-8 round trip: every byte that is not valid UTF-8 becomes U+FFFD.
pub fn utf8_lossy(b: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(b).into_owned().into_bytes()
}
