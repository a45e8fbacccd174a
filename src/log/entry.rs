//! Log entries: the exact bytes of one accepted signed document as the log
//! commits to them (`spec/log.md` §2).
//!
//! ```text
//! u8      version = 1
//! u8      kind (1 artist registration, 2 key event, 3 statement, 4 payout record)
//! u64     receipt time, unix nanoseconds, big-endian
//! u8      length of the payload type, then its ASCII bytes
//! u8      number of signatures (1 or 2), then per signature:
//!           32 bytes  Ed25519 public key
//!           64 bytes  Ed25519 signature over PAE(payload type, payload)
//! u16     length of the payload, big-endian, then the payload bytes
//! ```
//!
//! Every field is the stored document's own: nothing the log adds cannot be
//! recomputed from the record. An entry is at most [`MAX_ENTRY_BYTES`] long,
//! the limit of a C2SP `tlog-tiles` entry bundle.

/// The entry format version this module writes and reads.
pub const ENTRY_VERSION: u8 = 1;
/// An entry's length, at most (entry bundles prefix entries with a u16).
pub const MAX_ENTRY_BYTES: usize = 65_535;
/// Signatures on one document, at most.
pub const MAX_ENTRY_SIGNATURES: usize = 2;
/// Bytes an entry spends besides its payload type and payload, at most.
pub const ENTRY_OVERHEAD: usize = 1 + 1 + 8 + 1 + 1 + MAX_ENTRY_SIGNATURES * 96 + 2;

/// What kind of document an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Artist = 1,
    KeyEvent = 2,
    Statement = 3,
    Payout = 4,
}

impl EntryKind {
    /// The kind with this code.
    #[must_use]
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(EntryKind::Artist),
            2 => Some(EntryKind::KeyEvent),
            3 => Some(EntryKind::Statement),
            4 => Some(EntryKind::Payout),
            _ => None,
        }
    }

    /// The name used in JSON (`artist`, `key-event`, `statement`, `payout`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            EntryKind::Artist => "artist",
            EntryKind::KeyEvent => "key-event",
            EntryKind::Statement => "statement",
            EntryKind::Payout => "payout",
        }
    }
}

/// One signature of an entry: the raw public key and signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntrySignature {
    pub key: [u8; 32],
    pub sig: [u8; 64],
}

/// A decoded entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: EntryKind,
    /// Receipt time, unix nanoseconds.
    pub received_at: u64,
    pub payload_type: String,
    pub signatures: Vec<EntrySignature>,
    pub payload: Vec<u8>,
}

/// Why an entry cannot be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is {0} bytes; at most {MAX_ENTRY_BYTES} fit in the log")]
    TooLarge(usize),
    #[error("malformed entry: {0}")]
    Malformed(&'static str),
}

/// Encodes the entry of one document.
///
/// # Errors
/// When a field does not fit its length prefix or the entry exceeds
/// [`MAX_ENTRY_BYTES`].
pub fn encode(
    kind: EntryKind,
    received_at: u64,
    payload_type: &str,
    signatures: &[EntrySignature],
    payload: &[u8],
) -> Result<Vec<u8>, EntryError> {
    let len = encoded_len(payload_type, signatures.len(), payload.len());
    if len > MAX_ENTRY_BYTES {
        return Err(EntryError::TooLarge(len));
    }
    let type_len = u8::try_from(payload_type.len())
        .map_err(|_| EntryError::Malformed("payload type longer than 255 bytes"))?;
    if signatures.is_empty() || signatures.len() > MAX_ENTRY_SIGNATURES {
        return Err(EntryError::Malformed("an entry carries 1 or 2 signatures"));
    }
    let payload_len =
        u16::try_from(payload.len()).map_err(|_| EntryError::TooLarge(payload.len()))?;
    let mut out = Vec::with_capacity(len);
    out.push(ENTRY_VERSION);
    out.push(kind as u8);
    out.extend_from_slice(&received_at.to_be_bytes());
    out.push(type_len);
    out.extend_from_slice(payload_type.as_bytes());
    #[allow(clippy::cast_possible_truncation)] // at most MAX_ENTRY_SIGNATURES
    out.push(signatures.len() as u8);
    for s in signatures {
        out.extend_from_slice(&s.key);
        out.extend_from_slice(&s.sig);
    }
    out.extend_from_slice(&payload_len.to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// The length of an entry with these field sizes.
#[must_use]
pub const fn encoded_len(payload_type: &str, signatures: usize, payload: usize) -> usize {
    1 + 1 + 8 + 1 + payload_type.len() + 1 + signatures * 96 + 2 + payload
}

/// Reads bytes off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], EntryError> {
        if self.0.len() < n {
            return Err(EntryError::Malformed(what));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], EntryError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }
}

/// Decodes an entry. Strict: a known version and kind, 1 or 2 signatures,
/// an ASCII payload type, and no bytes after the payload.
///
/// # Errors
/// When the bytes are not one well-formed entry.
pub fn decode(bytes: &[u8]) -> Result<Entry, EntryError> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return Err(EntryError::TooLarge(bytes.len()));
    }
    let mut r = Reader(bytes);
    let [version] = r.array::<1>("no version byte")?;
    if version != ENTRY_VERSION {
        return Err(EntryError::Malformed("unknown entry version"));
    }
    let [code] = r.array::<1>("no kind byte")?;
    let kind = EntryKind::from_code(code).ok_or(EntryError::Malformed("unknown entry kind"))?;
    let received_at = u64::from_be_bytes(r.array::<8>("truncated receipt time")?);
    let [type_len] = r.array::<1>("no payload type length")?;
    let payload_type = r.take(usize::from(type_len), "truncated payload type")?;
    if !payload_type.iter().all(|b| (0x21..0x7f).contains(b)) {
        return Err(EntryError::Malformed("payload type is not printable ASCII"));
    }
    let [count] = r.array::<1>("no signature count")?;
    let count = usize::from(count);
    if count == 0 || count > MAX_ENTRY_SIGNATURES {
        return Err(EntryError::Malformed("an entry carries 1 or 2 signatures"));
    }
    let mut signatures = Vec::with_capacity(count);
    for _ in 0..count {
        signatures.push(EntrySignature {
            key: r.array::<32>("truncated signature key")?,
            sig: r.array::<64>("truncated signature")?,
        });
    }
    let payload_len = u16::from_be_bytes(r.array::<2>("no payload length")?);
    let payload = r.take(usize::from(payload_len), "truncated payload")?;
    if !r.0.is_empty() {
        return Err(EntryError::Malformed("bytes after the payload"));
    }
    Ok(Entry {
        kind,
        received_at,
        payload_type: String::from_utf8_lossy(payload_type).into_owned(),
        signatures,
        payload: payload.to_vec(),
    })
}

impl Entry {
    /// The entry's bytes.
    ///
    /// # Errors
    /// As [`encode`].
    pub fn encode(&self) -> Result<Vec<u8>, EntryError> {
        encode(
            self.kind,
            self.received_at,
            &self.payload_type,
            &self.signatures,
            &self.payload,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Entry {
        Entry {
            kind: EntryKind::KeyEvent,
            received_at: 1_700_000_000_123_456_789,
            payload_type: "application/vnd.consentry.key-event.v1+json".into(),
            signatures: vec![
                EntrySignature {
                    key: [1; 32],
                    sig: [2; 64],
                },
                EntrySignature {
                    key: [3; 32],
                    sig: [4; 64],
                },
            ],
            payload: b"{\"x\":1}".to_vec(),
        }
    }

    #[test]
    fn round_trip_and_layout() {
        let e = sample();
        let bytes = e.encode().expect("encodes");
        assert_eq!(bytes.len(), encoded_len(&e.payload_type, 2, 7));
        assert_eq!(&bytes[..2], &[1, 2]);
        assert_eq!(&bytes[2..10], &1_700_000_000_123_456_789u64.to_be_bytes());
        assert_eq!(usize::from(bytes[10]), e.payload_type.len());
        assert_eq!(&bytes[bytes.len() - 9..bytes.len() - 7], &[0, 7]);
        assert_eq!(decode(&bytes).expect("decodes"), e);
    }

    #[test]
    fn refuses_malformed_entries() {
        let bytes = sample().encode().expect("encodes");
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "prefix of {cut} bytes");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).is_err());
        let mut version = bytes.clone();
        version[0] = 2;
        assert!(decode(&version).is_err());
        let mut kind = bytes.clone();
        kind[1] = 9;
        assert!(decode(&kind).is_err());
    }

    #[test]
    fn refuses_oversized_entries() {
        let mut e = sample();
        e.payload = vec![b'a'; MAX_ENTRY_BYTES];
        assert!(matches!(e.encode(), Err(EntryError::TooLarge(_))));
        let fits = MAX_ENTRY_BYTES - encoded_len(&e.payload_type, 2, 0);
        e.payload = vec![b'a'; fits];
        assert_eq!(e.encode().expect("fits").len(), MAX_ENTRY_BYTES);
    }
}
