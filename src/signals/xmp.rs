//! XMP packets: IPTC/PLUS `plus:DataMining` and TDMRep `tdm:reservation` /
//! `tdm:policy`. Packets are found by scanning for `<x:xmpmeta` … `</x:xmpmeta>`
//! (the XMP specification's packet scanning, which works in any container)
//! and parsed with namespaces resolved, so any prefix works; a property may
//! be an attribute of `rdf:Description`, an element's text or an element's
//! `rdf:resource`.

use memchr::memmem;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::{FileSignals, Finding, MAX_XMP_BYTES};
use crate::domain::signals::{iptc_data_mining, tdmrep_reservation, PLUS_NS, TDMREP_NS};

const RDF_NS: &[u8] = b"http://www.w3.org/1999/02/22-rdf-syntax-ns#";
const OPEN: &[u8] = b"<x:xmpmeta";
const CLOSE: &[u8] = b"</x:xmpmeta>";
/// At most this many packets are read from one file.
const MAX_PACKETS: usize = 4;

pub(super) fn read(bytes: &[u8], out: &mut FileSignals) {
    let mut at = 0;
    let mut packets = 0;
    while let Some(first) = memmem::find(&bytes[at..], OPEN).map(|i| at + i) {
        let Some(close) = memmem::find(&bytes[first..], CLOSE).map(|i| first + i) else {
            out.note("an XMP packet is not closed: not read");
            return;
        };
        // A packet starts at the last opening tag before its end: an
        // earlier stray one (a caption, a truncated old packet) must not
        // swallow it.
        let start = first + memmem::rfind(&bytes[first..close], OPEN).unwrap_or(0);
        if start != first {
            out.note("an XMP opening tag without its end, before a packet: ignored");
        }
        let end = close + CLOSE.len();
        at = end;
        packets += 1;
        if packets > MAX_PACKETS {
            out.note(format!(
                "more than {MAX_PACKETS} XMP packets: the rest not read"
            ));
            return;
        }
        let packet = &bytes[start..end];
        if packet.len() > MAX_XMP_BYTES {
            out.note(format!(
                "an XMP packet of {} bytes is larger than {} KiB: not read",
                packet.len(),
                MAX_XMP_BYTES >> 10
            ));
            continue;
        }
        let Ok(text) = std::str::from_utf8(packet) else {
            out.note("an XMP packet is not UTF-8: not read");
            continue;
        };
        if let Err(e) = read_packet(text, out) {
            out.note(format!("an XMP packet is malformed: {e}"));
        }
    }
}

/// The properties we read, by namespace and local name.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Property {
    DataMining,
    Reservation,
    Policy,
}

impl Property {
    fn of(ns: &[u8], local: &[u8]) -> Option<Self> {
        match (ns, local) {
            (n, b"DataMining") if n == PLUS_NS.as_bytes() => Some(Self::DataMining),
            (n, b"reservation") if n == TDMREP_NS.as_bytes() => Some(Self::Reservation),
            (n, b"policy") if n == TDMREP_NS.as_bytes() => Some(Self::Policy),
            _ => None,
        }
    }
}

fn read_packet(text: &str, out: &mut FileSignals) -> Result<(), quick_xml::Error> {
    let mut reader = NsReader::from_str(text);
    let mut found: Vec<(Property, String)> = Vec::new();
    // The property element whose text is being read.
    let mut open: Option<(Property, String)> = None;
    loop {
        let (ns, event) = reader.read_resolved_event()?;
        let ns = match ns {
            ResolveResult::Bound(n) => Some(n.into_inner().to_vec()),
            _ => None,
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) if open.is_none() => {
                let is_start = matches!(event, Event::Start(_));
                attributes(&reader, e, &mut found)?;
                let property = ns
                    .as_deref()
                    .and_then(|n| Property::of(n, e.local_name().into_inner()));
                if let Some(p) = property {
                    if let Some(v) = resource(&reader, e)? {
                        found.push((p, v));
                    } else if is_start {
                        open = Some((p, String::new()));
                    }
                }
            }
            Event::Text(t) => {
                if let Some((_, v)) = open.as_mut() {
                    v.push_str(&t.xml10_content()?);
                }
            }
            Event::GeneralRef(r) => {
                if let Some((_, v)) = open.as_mut() {
                    match r.resolve_char_ref()? {
                        Some(c) => v.push(c),
                        None => v.push_str(match &*r.decode()? {
                            "amp" => "&",
                            "lt" => "<",
                            "gt" => ">",
                            "quot" => "\"",
                            "apos" => "'",
                            _ => "",
                        }),
                    }
                }
            }
            Event::End(_) => {
                if let Some((p, v)) = open.take() {
                    found.push((p, v));
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    let policy = found
        .iter()
        .find(|(p, _)| *p == Property::Policy)
        .map(|(_, v)| v.trim().to_owned());
    for (p, value) in found {
        let (property, read) = match p {
            Property::DataMining => ("plus:DataMining", iptc_data_mining(&value)),
            Property::Reservation => ("tdm:reservation", tdmrep_reservation(&value)),
            Property::Policy => continue,
        };
        match read {
            Ok(consent) if !consent.is_empty() || p == Property::DataMining => {
                let value = match (&policy, p) {
                    (Some(url), Property::Reservation) if value.trim() == "1" => {
                        format!("{} (tdm:policy {url})", value.trim())
                    }
                    _ => value.trim().to_owned(),
                };
                out.add(Finding {
                    source: "xmp",
                    property: property.to_owned(),
                    value,
                    consent,
                    signature: None,
                    signer: None,
                });
            }
            Ok(_) => {}
            Err(e) => out.note(format!("{property}: {e}")),
        }
    }
    Ok(())
}

/// Properties written as attributes (`<rdf:Description plus:DataMining="…">`).
fn attributes(
    reader: &NsReader<&[u8]>,
    e: &BytesStart<'_>,
    found: &mut Vec<(Property, String)>,
) -> Result<(), quick_xml::Error> {
    for attr in e.attributes() {
        let attr = attr.map_err(quick_xml::Error::from)?;
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        if let ResolveResult::Bound(n) = ns {
            if let Some(p) = Property::of(n.into_inner(), local.into_inner()) {
                found.push((
                    p,
                    attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                        .into_owned(),
                ));
            }
        }
    }
    Ok(())
}

/// A property element's `rdf:resource` (a URI value), if it has one.
fn resource(
    reader: &NsReader<&[u8]>,
    e: &BytesStart<'_>,
) -> Result<Option<String>, quick_xml::Error> {
    for attr in e.attributes() {
        let attr = attr.map_err(quick_xml::Error::from)?;
        let (ns, local) = reader.resolver().resolve_attribute(attr.key);
        if matches!(ns, ResolveResult::Bound(n) if n.into_inner() == RDF_NS)
            && local.into_inner() == b"resource"
        {
            return Ok(Some(
                attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)?
                    .into_owned(),
            ));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Preference};

    fn packet(body: &str) -> Vec<u8> {
        format!(
            "\u{ff}\u{d8}junk<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\
             <x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\
             {body}</rdf:RDF></x:xmpmeta><?xpacket end=\"w\"?>more"
        )
        .into_bytes()
    }

    fn signals(bytes: &[u8]) -> FileSignals {
        let mut out = FileSignals::default();
        read(bytes, &mut out);
        out
    }

    #[test]
    fn attribute_element_and_resource_forms() {
        let forms = [
            r#"<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"/>"#,
            r#"<rdf:Description xmlns:p="http://ns.useplus.org/ldf/xmp/1.0/"><p:DataMining>http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED</p:DataMining></rdf:Description>"#,
            r#"<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/"><plus:DataMining rdf:resource="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED"/></rdf:Description>"#,
        ];
        for body in forms {
            let s = signals(&packet(body));
            assert_eq!(s.notes, Vec::<String>::new(), "{body}");
            assert_eq!(s.findings.len(), 1, "{body}");
            let f = &s.findings[0];
            assert_eq!(f.property, "plus:DataMining");
            assert_eq!(f.value, "http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED");
            assert_eq!(
                f.consent.get(Category::Search),
                Some(Preference::Disallowed)
            );
        }
    }

    #[test]
    fn tdmrep_with_policy() {
        let s = signals(&packet(
            r#"<rdf:Description xmlns:tdm="http://www.w3.org/ns/tdmrep/" tdm:reservation="1" tdm:policy="https://example.com/policy.json"/>"#,
        ));
        assert_eq!(s.findings.len(), 1);
        assert_eq!(s.findings[0].property, "tdm:reservation");
        assert_eq!(
            s.findings[0].value,
            "1 (tdm:policy https://example.com/policy.json)"
        );
        assert_eq!(
            s.findings[0].consent.get(Category::TrainGenai),
            Some(Preference::Disallowed)
        );
        assert_eq!(s.findings[0].consent.get(Category::Search), None);
    }

    #[test]
    fn damage_gives_notes_not_errors() {
        let s = signals(&packet(
            r#"<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" plus:DataMining="DMI-SOMETIMES"/>"#,
        ));
        assert!(s.findings.is_empty());
        assert!(
            s.notes[0].contains("not a PLUS Data Mining value"),
            "{:?}",
            s.notes
        );
        let s = signals(b"<x:xmpmeta xmlns:x=\"adobe:ns:meta/\"><rdf:RDF></x:xmpmeta>");
        assert!(s.notes[0].contains("malformed"), "{:?}", s.notes);
        let s = signals(b"<x:xmpmeta never closed");
        assert!(s.notes[0].contains("not closed"), "{:?}", s.notes);
        let refusal = packet(
            r#"<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" plus:DataMining="DMI-PROHIBITED"/>"#,
        );
        // Scanning goes on after a packet too large to read.
        let mut huge = packet(&" ".repeat(MAX_XMP_BYTES));
        huge.extend_from_slice(&refusal);
        let s = signals(&huge);
        assert!(s.notes[0].contains("larger than"), "{:?}", s.notes);
        assert_eq!(s.findings.len(), 1, "the next packet is read");
        // Four packets are read, the fifth is not.
        let mut many = packet("").repeat(3);
        many.extend_from_slice(&refusal);
        many.extend_from_slice(&packet("").repeat(2));
        let s = signals(&many);
        assert!(s.notes[0].contains("more than 4"), "{:?}", s.notes);
        assert_eq!(s.findings.len(), 1, "the fourth packet is read");
        // A stray opening tag does not swallow the packet after it.
        let mut stray = b"caption: <x:xmpmeta is how XMP starts ".to_vec();
        stray.extend_from_slice(&refusal);
        let s = signals(&stray);
        assert_eq!(s.findings.len(), 1, "{s:?}");
        assert!(s.notes[0].contains("without its end"), "{:?}", s.notes);
        assert_eq!(signals(b"plain bytes"), FileSignals::default());
    }

    #[test]
    fn repeated_signals_are_listed_once_and_long_values_clipped() {
        let policy = "p".repeat(500_000);
        let body = format!(
            r#"<rdf:Description xmlns:tdm="http://www.w3.org/ns/tdmrep/" tdm:policy="{policy}"/>{}"#,
            r#"<rdf:Description xmlns:tdm="http://www.w3.org/ns/tdmrep/" tdm:reservation="1"/>"#
                .repeat(1000)
        );
        let s = signals(&packet(&body));
        assert_eq!(s.findings.len(), 1, "one finding for a thousand equal ones");
        assert!(s.findings[0].value.chars().count() <= crate::signals::MAX_TEXT + 1);
    }
}
