//! A small streaming ZIP writer (deflate, UTF-8 names, data descriptors): enough for a support
//! bundle of log files without holding any file in memory or pulling in a zip crate.

use std::io::{self, Read, Write};

use flate2::write::DeflateEncoder;
use flate2::Compression;

use crate::queue::time::civil_from_days;

/// One finished entry, remembered for the central directory.
struct Entry {
    name: String,
    crc: u32,
    compressed: u32,
    uncompressed: u32,
    offset: u32,
    dos_time: u16,
    dos_date: u16,
}

/// Writes entries one after another, then the central directory on [`ZipWriter::finish`].
pub struct ZipWriter<W: Write> {
    out: Counting<W>,
    entries: Vec<Entry>,
    dos_time: u16,
    dos_date: u16,
}

/// Counts the bytes that pass through, so offsets and sizes need no `Seek`.
struct Counting<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

const LOCAL_HEADER: u32 = 0x0403_4b50;
const DATA_DESCRIPTOR: u32 = 0x0807_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL: u32 = 0x0605_4b50;
/// Bit 3: sizes follow in a data descriptor; bit 11: the name is UTF-8.
const FLAGS: u16 = 0x0008 | 0x0800;
const DEFLATE: u16 = 8;
const VERSION: u16 = 20;

fn too_big() -> io::Error {
    io::Error::other("a diagnostics bundle entry passed 4 GiB (ZIP64 is not supported)")
}

fn u32_of(n: u64) -> io::Result<u32> {
    u32::try_from(n).map_err(|_| too_big())
}

impl<W: Write> ZipWriter<W> {
    /// Starts an archive whose entries are all stamped with `unix_secs` (UTC).
    pub fn new(out: W, unix_secs: i64) -> Self {
        let (dos_time, dos_date) = dos_stamp(unix_secs);
        ZipWriter {
            out: Counting {
                inner: out,
                written: 0,
            },
            entries: Vec::new(),
            dos_time,
            dos_date,
        }
    }

    /// Adds one entry, streaming `data` through the compressor.
    pub fn add(&mut self, name: &str, data: &mut dyn Read) -> io::Result<()> {
        if self.entries.len() >= usize::from(u16::MAX) {
            return Err(io::Error::other(
                "too many files for one diagnostics bundle",
            ));
        }
        let offset = u32_of(self.out.written)?;
        let name_bytes = name.as_bytes();
        let name_len = u16::try_from(name_bytes.len()).map_err(|_| too_big())?;
        let mut header = Vec::with_capacity(30 + name_bytes.len());
        put32(&mut header, LOCAL_HEADER);
        put16(&mut header, VERSION);
        put16(&mut header, FLAGS);
        put16(&mut header, DEFLATE);
        put16(&mut header, self.dos_time);
        put16(&mut header, self.dos_date);
        put32(&mut header, 0); // crc, sizes: in the data descriptor
        put32(&mut header, 0);
        put32(&mut header, 0);
        put16(&mut header, name_len);
        put16(&mut header, 0);
        header.extend_from_slice(name_bytes);
        self.out.write_all(&header)?;

        let start = self.out.written;
        let mut hasher = crc32fast::Hasher::new();
        let mut uncompressed: u64 = 0;
        {
            let mut encoder = DeflateEncoder::new(&mut self.out, Compression::default());
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = data.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                uncompressed += n as u64;
                encoder.write_all(&buf[..n])?;
            }
            encoder.finish()?;
        }
        let compressed = u32_of(self.out.written - start)?;
        let uncompressed = u32_of(uncompressed)?;
        let crc = hasher.finalize();
        let mut descriptor = Vec::with_capacity(16);
        put32(&mut descriptor, DATA_DESCRIPTOR);
        put32(&mut descriptor, crc);
        put32(&mut descriptor, compressed);
        put32(&mut descriptor, uncompressed);
        self.out.write_all(&descriptor)?;
        self.entries.push(Entry {
            name: name.to_string(),
            crc,
            compressed,
            uncompressed,
            offset,
            dos_time: self.dos_time,
            dos_date: self.dos_date,
        });
        Ok(())
    }

    /// Writes the central directory and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        let central_start = u32_of(self.out.written)?;
        for e in &self.entries {
            let mut h = Vec::with_capacity(46 + e.name.len());
            put32(&mut h, CENTRAL_HEADER);
            put16(&mut h, (3 << 8) | VERSION); // made by: Unix
            put16(&mut h, VERSION);
            put16(&mut h, FLAGS);
            put16(&mut h, DEFLATE);
            put16(&mut h, e.dos_time);
            put16(&mut h, e.dos_date);
            put32(&mut h, e.crc);
            put32(&mut h, e.compressed);
            put32(&mut h, e.uncompressed);
            put16(&mut h, u16::try_from(e.name.len()).map_err(|_| too_big())?);
            put16(&mut h, 0); // extra
            put16(&mut h, 0); // comment
            put16(&mut h, 0); // disk
            put16(&mut h, 0); // internal attributes
            put32(&mut h, 0o100644 << 16); // external: a regular file, rw-r--r--
            put32(&mut h, e.offset);
            h.extend_from_slice(e.name.as_bytes());
            self.out.write_all(&h)?;
        }
        let central_size = u32_of(self.out.written)? - central_start;
        let count = u16::try_from(self.entries.len()).map_err(|_| too_big())?;
        let mut end = Vec::with_capacity(22);
        put32(&mut end, END_OF_CENTRAL);
        put16(&mut end, 0);
        put16(&mut end, 0);
        put16(&mut end, count);
        put16(&mut end, count);
        put32(&mut end, central_size);
        put32(&mut end, central_start);
        put16(&mut end, 0);
        self.out.write_all(&end)?;
        self.out.flush()?;
        Ok(self.out.inner)
    }
}

fn put16(v: &mut Vec<u8>, n: u16) {
    v.extend_from_slice(&n.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, n: u32) {
    v.extend_from_slice(&n.to_le_bytes());
}

/// MS-DOS time and date fields for a Unix time (UTC); clamped to DOS's 1980 epoch.
fn dos_stamp(unix_secs: i64) -> (u16, u16) {
    let secs = unix_secs.max(315_532_800); // 1980-01-01
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let time = ((rem / 3600) << 11) | (((rem % 3600) / 60) << 5) | ((rem % 60) / 2);
    let date = ((y - 1980).clamp(0, 127) << 9) | (m << 5) | d;
    (time as u16, date as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_stamp_of_a_known_instant() {
        // 2026-11-21 15:30:42 UTC
        let (time, date) = dos_stamp(1_795_275_042);
        assert_eq!(time >> 11, 15);
        assert_eq!((time >> 5) & 0x3f, 30);
        assert_eq!((time & 0x1f) * 2, 42);
        assert_eq!((date >> 9) + 1980, 2026);
        assert_eq!((date >> 5) & 0xf, 11);
        assert_eq!(date & 0x1f, 21);
    }

    #[test]
    fn an_archive_ends_with_a_directory_naming_every_entry() {
        let mut zip = ZipWriter::new(Vec::new(), 1_795_275_042);
        zip.add("a.txt", &mut &b"hello hello hello"[..]).unwrap();
        zip.add("dir/b.json", &mut &b"{}"[..]).unwrap();
        let bytes = zip.finish().unwrap();
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(
            u32::from_le_bytes(end[0..4].try_into().unwrap()),
            END_OF_CENTRAL
        );
        assert_eq!(u16::from_le_bytes(end[10..12].try_into().unwrap()), 2);
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("a.txt") && text.contains("dir/b.json"));
    }
}
