//! A native reader for clean MP4/MOV files: it reads the `moov` box and reports the figures
//! ffprobe would, in ffprobe's own shape, without starting a process. An ffprobe costs about
//! 90 ms of CPU per file (two thirds of it the dynamic linker), which is most of the CPU an
//! upload of a few large videos spends before its first byte; this costs well under 1 ms.
//!
//! It is deliberately narrow: it answers only for a file it fully understands and declines
//! everything else, which then goes to ffprobe — the authority for damaged, unusual and
//! non-ISO files. It accepts a file when: the top-level boxes tile the file exactly (so a
//! truncated copy is declined), there is one `moov` and no fragments, every track is audio,
//! video or a known data kind with one sample description, the codecs are ones it names
//! (H.264, HEVC, MPEG-4 part 2; AAC, MP3, AC-3, E-AC-3, Opus, FLAC), each track's sample
//! tables agree (counts, chunk runs, every chunk inside an `mdat`, no overlaps), the H.264/HEVC
//! parameter sets are whole (an H.264 PPS is read to its stop bit) and give the stored
//! picture size, the first picture is a whole run of NAL units naming a present PPS, and the
//! display matrix is an exact quarter turn. `tests/probe_native.rs` checks that ffprobe gives
//! identical figures for every file it accepts, including thousands of corrupted headers.
//! `LAYERS_PROBE=ffprobe` turns it off.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use super::probe::{Format, Output, SideData, Stream};

/// Largest `moov` read into memory; a bigger one (hours of video) goes to ffprobe.
const MAX_MOOV: u64 = 8 * 1024 * 1024;

/// Most top-level boxes walked before giving up (a normal file has a handful).
const MAX_TOP_BOXES: usize = 10_000;

/// The identity matrix in a `mvhd`/`tkhd` (16.16 and 2.30 fixed point).
const IDENTITY: [i32; 9] = [0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x4000_0000];

/// Why the native reader left a file to ffprobe (logged at debug level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined(pub &'static str);

impl std::fmt::Display for Declined {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

type R<T> = Result<T, Declined>;

/// A byte range of the file, `[start, end)`.
type Span = (u64, u64);

fn no<T>(why: &'static str) -> R<T> {
    Err(Declined(why))
}

/// Reads the figures of an MP4/MOV of `size` bytes, in ffprobe's output shape.
pub(crate) fn read(file: &mut File, size: u64) -> R<Output> {
    let (moov, mdats) = find_moov(file, size)?;
    let movie = parse_moov(&moov)?;
    check_layout(&movie, &mdats)?;
    check_first_picture(file, &movie)?;
    output(&movie, size)
}

/// Walks the top-level boxes: they must tile the file exactly, with one `moov` and no `moof`.
/// Returns the `moov` payload and the byte ranges of every `mdat` payload.
fn find_moov(file: &mut File, size: u64) -> R<(Vec<u8>, Vec<Span>)> {
    let mut pos = 0u64;
    let mut moov: Option<(u64, u64)> = None;
    let mut mdats = Vec::new();
    let mut boxes = 0;
    while pos < size {
        boxes += 1;
        if boxes > MAX_TOP_BOXES {
            return no("too many top-level boxes");
        }
        if size - pos < 8 {
            return no("trailing bytes after the last box");
        }
        let mut head = [0u8; 16];
        read_at(file, pos, &mut head[..8])?;
        let small = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = [head[4], head[5], head[6], head[7]];
        let (header, total) = match small {
            0 => (8, size - pos),
            1 => {
                if size - pos < 16 {
                    return no("a box header runs past the end");
                }
                read_at(file, pos + 8, &mut head[8..16])?;
                let large = u64::from_be_bytes([
                    head[8], head[9], head[10], head[11], head[12], head[13], head[14], head[15],
                ]);
                (16, large)
            }
            n => (8, n),
        };
        if total < header || total > size - pos {
            return no("a top-level box runs past the end of the file");
        }
        match &kind {
            b"moov" => {
                if moov.is_some() {
                    return no("two moov boxes");
                }
                moov = Some((pos + header, total - header));
            }
            b"mdat" => mdats.push((pos + header, pos + total)),
            b"moof" | b"mfra" | b"sidx" => return no("fragmented"),
            _ => {}
        }
        pos += total;
    }
    let Some((start, len)) = moov else {
        return no("no moov box");
    };
    if len > MAX_MOOV {
        return no("moov box too large to read natively");
    }
    let mut data = vec![0u8; len as usize];
    read_at(file, start, &mut data)?;
    Ok((data, mdats))
}

fn read_at(file: &mut File, pos: u64, buf: &mut [u8]) -> R<()> {
    file.seek(SeekFrom::Start(pos))
        .and_then(|_| file.read_exact(buf))
        .map_err(|_| Declined("read failed"))
}

/// What the movie says, per track.
#[derive(Default)]
struct Movie {
    timescale: u32,
    duration: u64,
    tracks: Vec<Track>,
}

#[derive(Default)]
struct Track {
    handler: [u8; 4],
    matrix: [i32; 9],
    track_width: u32,
    track_height: u32,
    timescale: u32,
    codec: Option<&'static str>,
    width: u16,
    height: u16,
    /// Stored size from the H.264/HEVC parameter set, when there is one.
    coded: Option<(u32, u32)>,
    frames: u64,
    ticks: u64,
    /// The first sample description's fourcc.
    entry: [u8; 4],
    /// NAL length-prefix size of an H.264/HEVC stream.
    nal_length: usize,
    /// Picture parameter sets whose sequence parameter set is present (H.264/HEVC).
    pps_ids: Vec<u32>,
    hevc: bool,
    /// stsz: one size for every sample, or each sample's size.
    uniform_size: u32,
    sizes: Vec<u32>,
    sample_count: u32,
    /// stsc: (first chunk, samples per chunk), 1-based chunks.
    chunk_runs: Vec<(u32, u32)>,
    /// stco/co64.
    chunk_offsets: Vec<u64>,
    seen: u8,
}

const SEEN_STSD: u8 = 1;
const SEEN_STTS: u8 = 2;
const SEEN_STSZ: u8 = 4;
const SEEN_STSC: u8 = 8;
const SEEN_STCO: u8 = 16;
const SEEN_ALL: u8 = 31;

/// A box iterator over a parent's payload.
struct Boxes<'a> {
    data: &'a [u8],
    pos: usize,
}

fn boxes(data: &[u8]) -> Boxes<'_> {
    Boxes { data, pos: 0 }
}

impl<'a> Iterator for Boxes<'a> {
    type Item = R<([u8; 4], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.data.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        // ISO 14496-12 allows a 32-bit zero terminator at the end of some containers.
        if rest.len() == 4 && rest == [0, 0, 0, 0] {
            self.pos = self.data.len();
            return None;
        }
        let parsed = (|| {
            let mut c = Cur::new(rest);
            let small = c.u32()? as usize;
            let kind = c.fourcc()?;
            let (header, total) = match small {
                // "To the end" is for top-level boxes; ffmpeg refuses it in some children.
                0 => return no("a child box without a size"),
                1 => (
                    16,
                    usize::try_from(c.u64()?).map_err(|_| Declined("huge box"))?,
                ),
                n => (8, n),
            };
            if total < header || total > rest.len() {
                return no("a box runs past its parent");
            }
            Ok((kind, header, total))
        })();
        Some(match parsed {
            Ok((kind, header, total)) => {
                let payload = &rest[header..total];
                self.pos += total;
                Ok((kind, payload))
            }
            Err(e) => {
                self.pos = self.data.len();
                Err(e)
            }
        })
    }
}

/// A big-endian cursor over a payload.
struct Cur<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Cur<'a> {
    fn new(d: &'a [u8]) -> Self {
        Cur { d, p: 0 }
    }
    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.p.checked_add(n).ok_or(Declined("short box"))?;
        let s = self.d.get(self.p..end).ok_or(Declined("short box"))?;
        self.p = end;
        Ok(s)
    }
    fn skip(&mut self, n: usize) -> R<()> {
        self.take(n).map(|_| ())
    }
    fn u8(&mut self) -> R<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> R<u16> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> R<u32> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> R<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn fourcc(&mut self) -> R<[u8; 4]> {
        let b = self.take(4)?;
        Ok([b[0], b[1], b[2], b[3]])
    }
    fn rest(&self) -> &'a [u8] {
        self.d.get(self.p..).unwrap_or_default()
    }
    fn matrix(&mut self) -> R<[i32; 9]> {
        let mut m = [0i32; 9];
        for v in &mut m {
            *v = self.u32()? as i32;
        }
        Ok(m)
    }
}

/// A full box's version, 0 or 1 (ffmpeg refuses others), past its flags.
fn version(c: &mut Cur<'_>) -> R<u8> {
    let v = c.u8()?;
    c.skip(3)?;
    if v > 1 {
        return no("a box version ffmpeg does not read");
    }
    Ok(v)
}

fn parse_moov(moov: &[u8]) -> R<Movie> {
    let mut movie = Movie::default();
    let mut seen_mvhd = false;
    for b in boxes(moov) {
        let (kind, payload) = b?;
        match &kind {
            b"mvhd" => {
                let mut c = Cur::new(payload);
                let version = version(&mut c)?;
                if version == 1 {
                    c.skip(16)?;
                    movie.timescale = c.u32()?;
                    movie.duration = c.u64()?;
                } else {
                    c.skip(8)?;
                    movie.timescale = c.u32()?;
                    movie.duration = u64::from(c.u32()?);
                }
                if movie.timescale == 0 || movie.timescale > i32::MAX as u32 {
                    return no("a bad movie time scale");
                }
                c.skip(4 + 2 + 10)?;
                if c.matrix()? != IDENTITY {
                    return no("the movie has a display matrix");
                }
                seen_mvhd = true;
            }
            b"trak" => movie.tracks.push(parse_trak(payload)?),
            b"mvex" => return no("fragmented"),
            b"cmov" => return no("compressed movie header"),
            _ => {}
        }
    }
    if !seen_mvhd {
        return no("no mvhd box");
    }
    Ok(movie)
}

fn parse_trak(trak: &[u8]) -> R<Track> {
    let mut t = Track::default();
    let mut seen_tkhd = false;
    for b in boxes(trak) {
        let (kind, payload) = b?;
        match &kind {
            b"tkhd" => {
                let mut c = Cur::new(payload);
                let version = version(&mut c)?;
                c.skip(if version == 1 {
                    8 + 8 + 4 + 4 + 8
                } else {
                    4 * 5
                })?;
                c.skip(8 + 2 + 2 + 2 + 2)?;
                t.matrix = c.matrix()?;
                t.track_width = c.u32()? >> 16;
                t.track_height = c.u32()? >> 16;
                seen_tkhd = true;
            }
            b"mdia" => parse_mdia(payload, &mut t)?,
            _ => {}
        }
    }
    if !seen_tkhd {
        return no("a track has no tkhd");
    }
    Ok(t)
}

fn parse_mdia(mdia: &[u8], t: &mut Track) -> R<()> {
    for b in boxes(mdia) {
        let (kind, payload) = b?;
        match &kind {
            b"mdhd" => {
                let mut c = Cur::new(payload);
                let version = version(&mut c)?;
                c.skip(if version == 1 { 16 } else { 8 })?;
                t.timescale = c.u32()?;
                // ffmpeg reads the time scale as signed and replaces a bad one with 1.
                if t.timescale == 0 || t.timescale > i32::MAX as u32 {
                    return no("a bad media time scale");
                }
            }
            b"hdlr" => {
                let mut c = Cur::new(payload);
                c.skip(8)?;
                t.handler = c.fourcc()?;
            }
            b"minf" => {
                for b in boxes(payload) {
                    let (kind, payload) = b?;
                    match &kind {
                        b"stbl" => parse_stbl(payload, t)?,
                        b"dinf" => {
                            for b in boxes(payload) {
                                let (kind, dref) = b?;
                                if &kind == b"dref" {
                                    self_contained(dref)?;
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_stbl(stbl: &[u8], t: &mut Track) -> R<()> {
    for b in boxes(stbl) {
        let (kind, payload) = b?;
        match &kind {
            b"stsd" => {
                t.seen |= SEEN_STSD;
                parse_stsd(payload, t)?;
            }
            b"stsz" => {
                t.seen |= SEEN_STSZ;
                let mut c = Cur::new(payload);
                c.skip(4)?;
                t.uniform_size = c.u32()?;
                t.sample_count = c.u32()?;
                // ffmpeg refuses sizes it reads as negative ("Invalid sample size").
                if t.uniform_size > i32::MAX as u32 || t.sample_count > i32::MAX as u32 {
                    return no("an impossible sample size or count");
                }
                if t.uniform_size == 0 {
                    let n = t.sample_count as usize;
                    if c.rest().len() != n * 4 {
                        return no("an stsz whose count does not match its size");
                    }
                    t.sizes = Vec::with_capacity(n);
                    for _ in 0..n {
                        let size = c.u32()?;
                        if size > i32::MAX as u32 {
                            return no("an impossible sample size");
                        }
                        t.sizes.push(size);
                    }
                }
            }
            b"stsc" => {
                t.seen |= SEEN_STSC;
                let mut c = Cur::new(payload);
                c.skip(4)?;
                let n = c.u32()? as usize;
                if c.rest().len() != n * 12 {
                    return no("an stsc whose count does not match its size");
                }
                for _ in 0..n {
                    let first = c.u32()?;
                    let per_chunk = c.u32()?;
                    let description = c.u32()?;
                    if description != 1 {
                        return no("samples with a second sample description");
                    }
                    t.chunk_runs.push((first, per_chunk));
                }
            }
            b"stco" | b"co64" => {
                t.seen |= SEEN_STCO;
                let mut c = Cur::new(payload);
                c.skip(4)?;
                let n = c.u32()? as usize;
                let wide = &kind == b"co64";
                if c.rest().len() != n * if wide { 8 } else { 4 } {
                    return no("a chunk table whose count does not match its size");
                }
                t.chunk_offsets = Vec::with_capacity(n);
                for _ in 0..n {
                    t.chunk_offsets
                        .push(if wide { c.u64()? } else { u64::from(c.u32()?) });
                }
            }
            b"stss" | b"stps" => table(payload, 4)?,
            b"ctts" => table(payload, 8)?,
            b"sdtp" | b"sgpd" | b"sbgp" | b"cslg" | b"subs" | b"saiz" | b"saio" => {}
            b"stts" => {
                t.seen |= SEEN_STTS;
                let mut c = Cur::new(payload);
                c.skip(4)?;
                let n = c.u32()?;
                if c.rest().len() != n as usize * 8 {
                    return no("an stts whose count does not match its size");
                }
                for _ in 0..n {
                    let count = u64::from(c.u32()?);
                    let delta = c.u32()?;
                    // ffmpeg reads a delta over 2^31 as a negative one: leave those to it.
                    if delta > i32::MAX as u32 {
                        return no("a negative sample duration");
                    }
                    t.frames += count;
                    t.ticks = t
                        .ticks
                        .checked_add(count * u64::from(delta))
                        .ok_or(Declined("frame timing overflows"))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn parse_stsd(stsd: &[u8], t: &mut Track) -> R<()> {
    let mut c = Cur::new(stsd);
    c.skip(4)?;
    if c.u32()? != 1 || boxes(c.rest()).count() != 1 {
        return no("not exactly one sample description");
    }
    let Some(first) = boxes(c.rest()).next() else {
        return no("a track has no sample description");
    };
    let (kind, entry) = first?;
    t.entry = kind;
    match &t.handler {
        b"vide" => {
            let mut e = Cur::new(entry);
            e.skip(6 + 2 + 16)?;
            t.width = e.u16()?;
            t.height = e.u16()?;
            e.skip(50)?;
            let children = e.rest();
            t.codec = Some(match &kind {
                b"avc1" | b"avc3" => {
                    let avcc = child(children, b"avcC")?.ok_or(Declined("no avcC"))?;
                    t.coded = Some(h264_size(avcc, &mut t.pps_ids)?);
                    t.nal_length = usize::from(avcc.get(4).ok_or(Declined("short avcC"))? & 3) + 1;
                    "h264"
                }
                b"hvc1" | b"hev1" => {
                    let hvcc = child(children, b"hvcC")?.ok_or(Declined("no hvcC"))?;
                    t.coded = Some(hevc_size(hvcc, &mut t.pps_ids)?);
                    t.hevc = true;
                    t.nal_length = usize::from(hvcc.get(21).ok_or(Declined("short hvcC"))? & 3) + 1;
                    "hevc"
                }
                b"mp4v" => {
                    let esds = child(children, b"esds")?.ok_or(Declined("no esds"))?;
                    match object_type(esds)? {
                        0x20 => "mpeg4",
                        _ => return no("an mp4v stream of another kind"),
                    }
                }
                _ => return no("a video codec the native reader does not name"),
            });
        }
        b"soun" => {
            let mut e = Cur::new(entry);
            e.skip(6 + 2)?;
            let version = e.u16()?;
            e.skip(18)?;
            match version {
                0 => {}
                1 => e.skip(16)?,
                2 => e.skip(36)?,
                _ => return no("an unknown sound description version"),
            }
            let children = e.rest();
            t.codec = Some(match &kind {
                b"mp4a" => {
                    let esds = match child(children, b"esds")? {
                        Some(esds) => esds,
                        None => child(children, b"wave")?
                            .map(|wave| child(wave, b"esds"))
                            .transpose()?
                            .flatten()
                            .ok_or(Declined("no esds"))?,
                    };
                    match object_type(esds)? {
                        0x40 | 0x66 | 0x67 | 0x68 => "aac",
                        0x69 | 0x6B => "mp3",
                        _ => return no("an mp4a stream of another kind"),
                    }
                }
                b"ac-3" => "ac3",
                b"ec-3" => "eac3",
                b"Opus" => "opus",
                b"fLaC" => "flac",
                _ => return no("an audio codec the native reader does not name"),
            });
        }
        b"meta" | b"tmcd" | b"text" | b"sbtl" | b"subt" | b"clcp" | b"hint" | b"odsm" | b"sdsm" => {
            // ffmpeg names a stream by its sample description, not its handler: a data
            // track that holds an audio or video fourcc is not ours to judge.
            if KNOWN_AV.contains(&kind) {
                return no("a data track with an audio or video sample description");
            }
        }
        _ => return no("a track of an unknown kind"),
    }
    Ok(())
}

/// A table box whose entry count fills its payload exactly (ffmpeg reads past a short one).
fn table(payload: &[u8], entry: usize) -> R<()> {
    let mut c = Cur::new(payload);
    c.skip(4)?;
    let n = c.u32()? as usize;
    if n.checked_mul(entry) != Some(c.rest().len()) {
        return no("a sample table whose count does not match its size");
    }
    Ok(())
}

/// Every data reference says "in this file" (flag 1); anything else names another file.
fn self_contained(dref: &[u8]) -> R<()> {
    let mut c = Cur::new(dref);
    c.skip(4)?;
    let n = c.u32()? as usize;
    let mut seen = 0;
    for b in boxes(c.rest()) {
        let (kind, payload) = b?;
        let flags = payload.get(..4).ok_or(Declined("a short data reference"))?;
        if !matches!(&kind, b"url " | b"alis") || flags[3] & 1 == 0 {
            return no("media data in another file");
        }
        seen += 1;
    }
    if seen != n || n == 0 {
        return no("a data reference count that does not match");
    }
    Ok(())
}

/// Sample-description fourccs ffmpeg reads as audio or video (the ones this reader names,
/// and the common others).
const KNOWN_AV: &[[u8; 4]] = &[
    *b"avc1", *b"avc3", *b"hvc1", *b"hev1", *b"mp4v", *b"mp4a", *b"ac-3", *b"ec-3", *b"Opus",
    *b"fLaC", *b"av01", *b"vp09", *b"apch", *b"apcn", *b"jpeg", *b"mjpa", *b"sowt", *b"twos",
    *b"lpcm", *b"alac", *b".mp3", *b"samr", *b"raw ", *b"in24", *b"fl32",
];

/// The sample tables of every track agree: counts match, every chunk lies inside an `mdat`,
/// and no two chunks overlap. A damaged table (a flipped size or offset) fails one of these.
fn check_layout(movie: &Movie, mdats: &[Span]) -> R<()> {
    let mut ranges: Vec<Span> = Vec::new();
    for t in &movie.tracks {
        if t.seen != SEEN_ALL {
            return no("a track without its full sample table");
        }
        if t.sample_count == 0 || u64::from(t.sample_count) != t.frames {
            return no("sample counts disagree");
        }
        if t.uniform_size == 0 && t.sizes.len() != t.sample_count as usize {
            return no("sample sizes missing");
        }
        let chunks = t.chunk_offsets.len();
        if t.chunk_runs.first().map(|r| r.0) != Some(1) {
            return no("an stsc that does not start at chunk 1");
        }
        let mut sample = 0usize;
        for (i, run) in t.chunk_runs.iter().enumerate() {
            let (first, per_chunk) = (run.0 as usize, run.1 as usize);
            let end = match t.chunk_runs.get(i + 1) {
                Some(next) if (next.0 as usize) > first => next.0 as usize,
                Some(_) => return no("an stsc out of order"),
                None => chunks + 1,
            };
            if per_chunk == 0 || end > chunks + 1 {
                return no("an stsc that contradicts the chunk table");
            }
            for chunk in first..end {
                let offset = t.chunk_offsets[chunk - 1];
                let mut bytes = 0u64;
                for _ in 0..per_chunk {
                    if sample >= t.sample_count as usize {
                        return no("more samples in chunks than in stsz");
                    }
                    bytes += u64::from(match t.uniform_size {
                        0 => t.sizes[sample],
                        n => n,
                    });
                    sample += 1;
                }
                ranges.push((offset, offset + bytes));
            }
        }
        if sample != t.sample_count as usize {
            return no("fewer samples in chunks than in stsz");
        }
    }
    ranges.sort_unstable();
    let mut last_end = 0;
    for (start, end) in ranges {
        if start < last_end {
            return no("two chunks overlap");
        }
        if !mdats.iter().any(|&(a, b)| a <= start && end <= b) {
            return no("a chunk outside the media data");
        }
        last_end = end;
    }
    Ok(())
}

/// The first video sample is a whole sequence of length-prefixed NAL units, as a decoder
/// (and so ffprobe) expects; a damaged one is left to ffprobe's verdict.
fn check_first_picture(file: &mut File, movie: &Movie) -> R<()> {
    let Some(t) = movie.tracks.iter().find(|t| &t.handler == b"vide") else {
        return Ok(());
    };
    if t.nal_length == 0 {
        return Ok(());
    }
    let start = *t.chunk_offsets.first().ok_or(Declined("no chunks"))?;
    let size = u64::from(match t.uniform_size {
        0 => *t.sizes.first().ok_or(Declined("no samples"))?,
        n => n,
    });
    let mut at = 0u64;
    let mut units = 0;
    while at < size {
        units += 1;
        if units > 1_000 || size - at < t.nal_length as u64 + 1 {
            return no("the first picture is not a sequence of NAL units");
        }
        let mut prefix = [0u8; 5];
        read_at(file, start + at, &mut prefix[..t.nal_length + 1])?;
        let len = prefix[..t.nal_length]
            .iter()
            .fold(0u64, |n, &b| (n << 8) | u64::from(b));
        let forbidden = prefix[t.nal_length] & 0x80;
        if len == 0 || forbidden != 0 || len > size - at - t.nal_length as u64 {
            return no("the first picture is not a sequence of NAL units");
        }
        // A slice must name a picture parameter set the header carries.
        let mut head = [0u8; 32];
        let n = (len as usize).min(head.len());
        read_at(file, start + at + t.nal_length as u64, &mut head[..n])?;
        if let Some(pps) = slice_pps(&head[..n], t.hevc)? {
            if !t.pps_ids.contains(&pps) {
                return no("a slice that names a missing PPS");
            }
        }
        at += t.nal_length as u64 + len;
    }
    Ok(())
}

/// The PPS id a slice NAL unit names, or `None` for a unit that is not a slice.
fn slice_pps(nal: &[u8], hevc: bool) -> R<Option<u32>> {
    let (kind, header) = match (hevc, nal.first()) {
        (false, Some(&h)) => (h & 0x1f, 1),
        (true, Some(&h)) => (h >> 1 & 0x3f, 2),
        (_, None) => return no("an empty NAL unit"),
    };
    let is_slice = if hevc {
        kind <= 31
    } else {
        (1..=5).contains(&kind)
    };
    if !is_slice {
        return Ok(None);
    }
    let rbsp = unescape(nal.get(header..).unwrap_or_default());
    let mut b = Bits::new(&rbsp);
    if hevc {
        b.bit()?;
        if (16..=23).contains(&kind) {
            b.bit()?;
        }
    } else {
        b.ue()?;
        b.ue()?;
    }
    Ok(Some(b.ue()?))
}

/// The payload of the first child box `kind`, if any.
fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> R<Option<&'a [u8]>> {
    for b in boxes(data) {
        let (k, payload) = b?;
        if &k == kind {
            return Ok(Some(payload));
        }
    }
    Ok(None)
}

/// The objectTypeIndication of an `esds` (ISO 14496-1 descriptors), with every descriptor
/// length inside its parent and, for AAC, a decoder config ffmpeg accepts.
fn object_type(esds: &[u8]) -> R<u8> {
    let mut c = Cur::new(esds);
    c.skip(4)?;
    let (tag, len) = descriptor(&mut c)?;
    let mut c = if tag == 0x03 {
        let mut es = Cur::new(c.take(len as usize)?);
        es.skip(2)?;
        let flags = es.u8()?;
        if flags & 0x80 != 0 {
            es.skip(2)?;
        }
        if flags & 0x40 != 0 {
            let n = es.u8()?;
            es.skip(n.into())?;
        }
        if flags & 0x20 != 0 {
            es.skip(2)?;
        }
        es
    } else {
        return no("an esds without an ES descriptor");
    };
    let (tag, len) = descriptor(&mut c)?;
    if tag != 0x04 {
        return no("an esds without a decoder config");
    }
    let mut dc = Cur::new(c.take(len as usize)?);
    let oti = dc.u8()?;
    dc.skip(12)?;
    if matches!(oti, 0x40 | 0x66 | 0x67 | 0x68) {
        let (tag, len) = descriptor(&mut dc)?;
        if tag != 0x05 || len == 0 {
            return no("an AAC stream without its decoder config");
        }
        aac_config(dc.take(len as usize)?)?;
    }
    Ok(oti)
}

/// An AudioSpecificConfig of the kinds real files carry (Main/LC/SBR/PS, a sampling-rate
/// index, 1–7 channels); anything else is left to ffprobe.
fn aac_config(config: &[u8]) -> R<()> {
    let mut b = Bits::new(config);
    let mut object = b.bits(5)?;
    let rate = b.bits(4)?;
    let channels = b.bits(4)?;
    if rate > 12 || !(1..=7).contains(&channels) {
        return no("an AAC config with an unusual rate or layout");
    }
    if object == 5 || object == 29 {
        if b.bits(4)? > 12 {
            return no("an AAC config with an unusual rate");
        }
        object = b.bits(5)?;
    }
    if !matches!(object, 1 | 2) {
        return no("an AAC object type the native reader does not check");
    }
    Ok(())
}

fn descriptor(c: &mut Cur<'_>) -> R<(u8, u32)> {
    let tag = c.u8()?;
    let mut len = 0u32;
    for _ in 0..4 {
        let b = c.u8()?;
        len = (len << 7) | u32::from(b & 0x7f);
        if b & 0x80 == 0 {
            break;
        }
    }
    Ok((tag, len))
}

/// The cropped picture size from the first SPS of an `avcC` (ITU-T H.264 7.3.2.1.1).
fn h264_size(avcc: &[u8], pps_ids: &mut Vec<u32>) -> R<(u32, u32)> {
    let mut c = Cur::new(avcc);
    if c.u8()? != 1 {
        return no("an unknown avcC version");
    }
    c.skip(4)?;
    // Every parameter set must be whole and of its kind (SPS 7, PPS 8), or ffmpeg's decoder
    // fails on the extradata.
    if c.u8()? & 0x1f != 1 {
        return no("an avcC without exactly one SPS");
    }
    let len = c.u16()?;
    let nal = c.take(len.into())?;
    nal_unit(nal, 7)?;
    let rbsp = unescape(nal.get(1..).ok_or(Declined("empty SPS"))?);
    let sps_id = Bits::new(rbsp.get(3..).unwrap_or_default()).ue()?;
    let pps_count = c.u8()?;
    if pps_count == 0 {
        return no("an avcC without a PPS");
    }
    for _ in 0..pps_count {
        let len = c.u16()?;
        let pps = c.take(len.into())?;
        nal_unit(pps, 8)?;
        let (pps_id, refers_to) = h264_pps_whole(&pps[1..])?;
        if refers_to == sps_id {
            pps_ids.push(pps_id);
        }
    }
    let mut b = Bits::new(&rbsp);
    let profile = b.bits(8)?;
    b.bits(16)?;
    b.ue()?;
    let mut chroma = 1;
    let mut separate = false;
    if matches!(
        profile,
        100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
    ) {
        chroma = b.ue()?;
        if chroma == 3 {
            separate = b.bit()?;
        }
        b.ue()?;
        b.ue()?;
        b.bit()?;
        if b.bit()? {
            for i in 0..if chroma == 3 { 12 } else { 8 } {
                if b.bit()? {
                    skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                }
            }
        }
    }
    b.ue()?;
    match b.ue()? {
        0 => {
            b.ue()?;
        }
        1 => {
            b.bit()?;
            b.se()?;
            b.se()?;
            for _ in 0..b.ue()?.min(256) {
                b.se()?;
            }
        }
        _ => {}
    }
    b.ue()?;
    b.bit()?;
    let width_mbs = u64::from(b.ue()?) + 1;
    let height_units = u64::from(b.ue()?) + 1;
    let frame_mbs_only = b.bit()?;
    if !frame_mbs_only {
        b.bit()?;
    }
    b.bit()?;
    let field = if frame_mbs_only { 1 } else { 2 };
    let (mut w, mut h) = (width_mbs * 16, height_units * 16 * field);
    if b.bit()? {
        let (l, r, t, btm) = (b.ue64()?, b.ue64()?, b.ue64()?, b.ue64()?);
        let (ux, uy) = match (separate, chroma) {
            (true, _) | (false, 0) => (1, field),
            (false, 1) => (2, 2 * field),
            (false, 2) => (2, field),
            _ => (1, field),
        };
        let (cw, ch) = ((l + r) * ux, (t + btm) * uy);
        if cw >= w || ch >= h {
            return no("an SPS crops the whole picture");
        }
        w -= cw;
        h -= ch;
    }
    small_size(w, h)
}

/// A picture size as u32, or declined when it is beyond any real video.
fn small_size(w: u64, h: u64) -> R<(u32, u32)> {
    if w > 65_535 || h > 65_535 {
        return no("an SPS with an impossible size");
    }
    Ok((w as u32, h as u32))
}

fn skip_scaling_list(b: &mut Bits<'_>, size: usize) -> R<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + b.se()? + 256) % 256;
        }
        if next != 0 {
            last = next;
        }
    }
    Ok(())
}

/// The conformance-window size from the first SPS of an `hvcC` (ITU-T H.265 7.3.2.2).
fn hevc_size(hvcc: &[u8], pps_ids: &mut Vec<u32>) -> R<(u32, u32)> {
    let mut c = Cur::new(hvcc);
    if c.u8()? != 1 {
        return no("an unknown hvcC version");
    }
    c.skip(21)?;
    let arrays = c.u8()?;
    let mut sps = None;
    let mut ppss = Vec::new();
    let mut kinds = 0u8;
    for _ in 0..arrays {
        let kind = c.u8()? & 0x3f;
        let count = c.u16()?;
        for _ in 0..count {
            let len = c.u16()?;
            let nal = c.take(len.into())?;
            // Every unit whole, of its array's type, with a clear forbidden bit and a stop bit.
            match (nal.first(), nal.last()) {
                (Some(&head), Some(&last)) if nal.len() > 2 && head >> 1 == kind && last != 0 => {}
                _ => return no("a damaged parameter set"),
            }
            match kind {
                32 => kinds |= 1,
                33 => {
                    kinds |= 2;
                    if sps.replace(nal).is_some() {
                        return no("an hvcC with two SPSs");
                    }
                }
                34 => {
                    kinds |= 4;
                    ppss.push(nal);
                }
                _ => {}
            }
        }
    }
    if !c.rest().is_empty() || kinds != 7 {
        return no("an hvcC without exactly its parameter sets");
    }
    let nal = sps.ok_or(Declined("an hvcC without an SPS"))?;
    let (sps_id, size) = hevc_sps_size(&unescape(nal.get(2..).ok_or(Declined("empty SPS"))?))?;
    for pps in ppss {
        pps_of(&pps[2..], sps_id, pps_ids)?;
    }
    Ok(size)
}

/// Records an HEVC PPS's id when it names the stream's SPS.
fn pps_of(payload: &[u8], sps_id: u32, pps_ids: &mut Vec<u32>) -> R<()> {
    let rbsp = unescape(payload);
    let mut b = Bits::new(&rbsp);
    let (pps_id, refers_to) = (b.ue()?, b.ue()?);
    if refers_to == sps_id && pps_id < 256 {
        pps_ids.push(pps_id);
    }
    Ok(())
}

/// An H.264 PPS read to its stop bit with ffmpeg's range checks (ITU-T H.264 7.3.2.2): a
/// damaged one makes ffmpeg's decoder, and so ffprobe, fail. Returns (PPS id, SPS id).
fn h264_pps_whole(payload: &[u8]) -> R<(u32, u32)> {
    let rbsp = unescape(payload);
    let stop = stop_bit(&rbsp)?;
    let mut b = Bits::new(&rbsp);
    let bad = || Declined("a damaged PPS");
    let (pps_id, sps_id) = (b.ue()?, b.ue()?);
    b.bits(2)?;
    if pps_id >= 256 || sps_id >= 32 || b.ue()? != 0 {
        return Err(bad());
    }
    if b.ue()? > 31 || b.ue()? > 31 {
        return Err(bad());
    }
    b.bit()?;
    if b.bits(2)? > 2 {
        return Err(bad());
    }
    let (qp, qs, chroma) = (b.se()?, b.se()?, b.se()?);
    if !(-(26 + 48)..=25).contains(&qp)
        || !(-26..=25).contains(&qs)
        || !(-12..=12).contains(&chroma)
    {
        return Err(bad());
    }
    b.bits(3)?;
    if b.p < stop {
        b.bit()?;
        if b.bit()? {
            return no("a PPS with scaling lists");
        }
        if !(-12..=12).contains(&b.se()?) {
            return Err(bad());
        }
    }
    if b.p != stop {
        return Err(bad());
    }
    Ok((pps_id, sps_id))
}

/// The bit position of the RBSP stop bit (the last 1 bit of the payload).
fn stop_bit(rbsp: &[u8]) -> R<usize> {
    let (i, &last) = rbsp
        .iter()
        .enumerate()
        .rev()
        .find(|(_, &byte)| byte != 0)
        .ok_or(Declined("an empty parameter set"))?;
    Ok(i * 8 + 7 - last.trailing_zeros() as usize)
}

fn hevc_sps_size(rbsp: &[u8]) -> R<(u32, (u32, u32))> {
    let mut b = Bits::new(rbsp);
    b.bits(4)?;
    let sub_layers = b.bits(3)?;
    b.bit()?;
    // profile_tier_level(1, sub_layers): general part, then per-sub-layer flags and parts.
    b.bits(2 + 1 + 5 + 32 + 4 + 43 + 1 + 8)?;
    let mut present = Vec::new();
    for _ in 0..sub_layers {
        present.push((b.bit()?, b.bit()?));
    }
    if sub_layers > 0 {
        for _ in sub_layers..8 {
            b.bits(2)?;
        }
    }
    for (profile, level) in present {
        if profile {
            b.bits(88)?;
        }
        if level {
            b.bits(8)?;
        }
    }
    let sps_id = b.ue()?;
    let chroma = b.ue()?;
    let separate = chroma == 3 && b.bit()?;
    let mut w = b.ue64()?;
    let mut h = b.ue64()?;
    if b.bit()? {
        let (l, r, t, btm) = (b.ue64()?, b.ue64()?, b.ue64()?, b.ue64()?);
        let (ux, uy) = match (separate, chroma) {
            (false, 1) => (2, 2),
            (false, 2) => (2, 1),
            _ => (1, 1),
        };
        let (cw, ch) = ((l + r) * ux, (t + btm) * uy);
        if cw >= w || ch >= h {
            return no("an SPS crops the whole picture");
        }
        w -= cw;
        h -= ch;
    }
    Ok((sps_id, small_size(w, h)?))
}

/// An H.264 NAL unit of type `kind`, with a clear forbidden bit and an RBSP stop bit at its end.
fn nal_unit(nal: &[u8], kind: u8) -> R<()> {
    match (nal.first(), nal.last()) {
        (Some(&head), Some(&last)) if nal.len() > 1 && head & 0x9f == kind && last != 0 => Ok(()),
        _ => no("a damaged parameter set"),
    }
}

/// A NAL unit's payload without its emulation-prevention bytes (00 00 03 → 00 00).
fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &byte in nal {
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

/// A bit reader with Exp-Golomb codes.
struct Bits<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Bits<'a> {
    fn new(d: &'a [u8]) -> Self {
        Bits { d, p: 0 }
    }
    fn bit(&mut self) -> R<bool> {
        let byte = self.d.get(self.p / 8).ok_or(Declined("short SPS"))?;
        let v = byte >> (7 - self.p % 8) & 1;
        self.p += 1;
        Ok(v == 1)
    }
    fn bits(&mut self, n: u32) -> R<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            v = v.wrapping_shl(1) | u32::from(self.bit()?);
        }
        Ok(v)
    }
    fn ue(&mut self) -> R<u32> {
        let mut zeros = 0;
        while !self.bit()? {
            zeros += 1;
            if zeros > 31 {
                return no("a bad Exp-Golomb code");
            }
        }
        Ok(((1u64 << zeros) - 1 + u64::from(self.bits(zeros)?)) as u32)
    }
    fn ue64(&mut self) -> R<u64> {
        self.ue().map(u64::from)
    }
    fn se(&mut self) -> R<i64> {
        let k = i64::from(self.ue()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

/// Builds ffprobe's output from the movie, the way libavformat's mov demuxer computes it.
fn output(movie: &Movie, size: u64) -> R<Output> {
    let mut streams = Vec::new();
    for t in &movie.tracks {
        match &t.handler {
            b"vide" => streams.push(video_stream(t)?),
            b"soun" => streams.push(Stream {
                codec_type: Some("audio".into()),
                codec_name: Some(t.codec.ok_or(Declined("no audio codec"))?.into()),
                ..Stream::default()
            }),
            _ => {}
        }
    }
    if !streams
        .iter()
        .any(|s| s.codec_type.as_deref() == Some("video"))
    {
        return no("no video track");
    }
    // mov.c sets the format duration from mvhd, rescaled to microseconds (rounding to nearest);
    // update_stream_timings then derives the bit rate from the file size.
    if movie.timescale == 0 || movie.duration == 0 {
        return no("the movie has no duration");
    }
    let us = (u128::from(movie.duration) * 1_000_000 + u128::from(movie.timescale) / 2)
        / u128::from(movie.timescale);
    let us = u64::try_from(us).map_err(|_| Declined("a huge duration"))?;
    let bitrate = size as f64 * 8.0 * 1_000_000.0 / us as f64;
    Ok(Output {
        streams,
        format: Some(Format {
            // ffprobe prints `duration * av_q2d(AV_TIME_BASE_Q)` with "%f".
            duration: Some(format!("{:.6}", us as f64 * (1.0 / 1_000_000.0))),
            bit_rate: Some(format!("{}", bitrate as i64)),
            size: Some(size.to_string()),
        }),
    })
}

fn video_stream(t: &Track) -> R<Stream> {
    let codec = t.codec.ok_or(Declined("no video codec"))?;
    let (w, h) = (u32::from(t.width), u32::from(t.height));
    if w == 0 || h == 0 {
        return no("a video with no stored size");
    }
    // A track size other than the stored one means non-square pixels or cropping: ffprobe's
    // decoder then knows better.
    if (t.track_width, t.track_height) != (w, h) {
        return no("the track size differs from the stored size");
    }
    if t.coded.is_some_and(|c| c != (w, h)) {
        return no("the parameter set's size differs from the stored size");
    }
    let rotation = rotation(&t.matrix)?;
    // avg_frame_rate: every stts sample over their summed durations, reduced (mov.c).
    if t.timescale == 0 || t.frames == 0 || t.ticks == 0 {
        return no("no frame timing");
    }
    let num = u128::from(t.timescale) * u128::from(t.frames);
    let den = u128::from(t.ticks);
    let g = gcd(num, den);
    let (num, den) = (num / g, den / g);
    if num > i32::MAX as u128 || den > i32::MAX as u128 {
        return no("a frame rate ffmpeg would approximate");
    }
    Ok(Stream {
        codec_type: Some("video".into()),
        codec_name: Some(codec.into()),
        width: Some(w),
        height: Some(h),
        avg_frame_rate: Some(format!("{num}/{den}")),
        side_data_list: rotation
            .map(|r| {
                vec![SideData {
                    rotation: Some(serde_json::Value::from(r)),
                }]
            })
            .unwrap_or_default(),
        ..Stream::default()
    })
}

/// ffprobe's `rotation` for the four exact rotations (`av_display_rotation_get`, truncated);
/// `None` for the identity, which ffprobe does not report. Any other matrix is declined.
fn rotation(m: &[i32; 9]) -> R<Option<i64>> {
    const ONE: i32 = 0x10000;
    if m[2] != 0 || m[5] != 0 || m[8] != 0x4000_0000 {
        return no("a perspective display matrix");
    }
    Ok(match (m[0], m[1], m[3], m[4]) {
        (ONE, 0, 0, ONE) => None,
        (0, ONE, x, 0) if x == -ONE => Some(-90),
        (x, 0, 0, y) if x == -ONE && y == -ONE => Some(-180),
        (0, x, ONE, 0) if x == -ONE => Some(90),
        _ => return no("a display matrix other than a quarter turn"),
    })
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_codes_decode() {
        // 1 → 0, 010 → 1, 011 → 2, 00100 → 3 ; se: 010 → +1, 011 → -1.
        let data = [0b1010_0110, 0b0100_0100, 0b1100_0000];
        let mut b = Bits::new(&data);
        assert_eq!(b.ue().unwrap(), 0);
        assert_eq!(b.ue().unwrap(), 1);
        assert_eq!(b.ue().unwrap(), 2);
        assert_eq!(b.ue().unwrap(), 3);
        assert_eq!(b.se().unwrap(), 1);
        assert_eq!(b.se().unwrap(), -1);
    }

    #[test]
    fn emulation_prevention_bytes_are_removed() {
        assert_eq!(
            unescape(&[0, 0, 3, 1, 0, 0, 3, 0, 3]),
            vec![0, 0, 1, 0, 0, 0, 3]
        );
    }

    #[test]
    fn quarter_turns_match_ffprobe_and_others_are_declined() {
        let one = 0x10000;
        let m = |a, b, c, d| [a, b, 0, c, d, 0, 0, 0, 0x4000_0000];
        assert_eq!(rotation(&m(one, 0, 0, one)), Ok(None));
        assert_eq!(rotation(&m(0, one, -one, 0)), Ok(Some(-90)));
        assert_eq!(rotation(&m(-one, 0, 0, -one)), Ok(Some(-180)));
        assert_eq!(rotation(&m(0, -one, one, 0)), Ok(Some(90)));
        assert!(rotation(&m(-one, 0, 0, one)).is_err(), "a mirror");
        assert!(rotation(&m(2 * one, 0, 0, one)).is_err(), "a stretch");
    }

    #[test]
    fn truncated_boxes_are_declined_not_read_past() {
        let mut data = Vec::new();
        data.extend_from_slice(&100u32.to_be_bytes());
        data.extend_from_slice(b"trak");
        data.extend_from_slice(&[0; 10]);
        let mut it = boxes(&data);
        assert!(matches!(it.next(), Some(Err(_))));
        assert!(it.next().is_none());
    }
}
