//! The content type from a file's first bytes. The extension is only a claim; the bytes decide,
//! and an extension that disagrees with them is a hard error (the API signs the declared type
//! into the PUT URL, so a misnamed file would publish as the wrong thing).

use std::path::Path;

use super::MediaKind;

/// How many leading bytes `sniff` needs to see to recognise every format it knows.
pub const SNIFF_LEN: usize = 64;

/// A format recognised from its bytes: its MIME type and a name a person knows it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: &'static str,
    pub name: &'static str,
}

impl Sniffed {
    const fn new(mime: &'static str, name: &'static str) -> Self {
        Sniffed { mime, name }
    }

    /// The kind, for the five types the Layers content endpoints accept; `None` otherwise.
    pub fn accepted_kind(&self) -> Option<MediaKind> {
        match self.mime {
            "video/mp4" | "video/quicktime" => Some(MediaKind::Video),
            "image/jpeg" | "image/png" | "image/webp" => Some(MediaKind::Image),
            _ => None,
        }
    }

    /// The extension to suggest when a file is misnamed.
    pub fn preferred_extension(&self) -> &'static str {
        match self.mime {
            "video/mp4" => "mp4",
            "video/quicktime" => "mov",
            "image/jpeg" => "jpg",
            "image/png" => "png",
            "image/webp" => "webp",
            "image/gif" => "gif",
            _ => "",
        }
    }
}

/// Identifies the format from the first bytes of a file (`SNIFF_LEN` is enough).
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    let at = |off: usize, sig: &[u8]| {
        head.len() >= off + sig.len() && &head[off..off + sig.len()] == sig
    };

    if at(4, b"ftyp") && head.len() >= 12 {
        return Some(iso_bmff(&head[8..12]));
    }
    // Old QuickTime files may start straight with a top-level atom instead of `ftyp`.
    if [b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"]
        .iter()
        .any(|atom| at(4, *atom))
    {
        return Some(Sniffed::new("video/quicktime", "QuickTime movie"));
    }
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return Some(Sniffed::new("image/jpeg", "JPEG image"));
    }
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return Some(Sniffed::new("image/png", "PNG image"));
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return Some(Sniffed::new("image/webp", "WebP image"));
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return Some(Sniffed::new("image/gif", "GIF image"));
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        let is_webm = head.windows(4).any(|w| w == b"webm");
        return Some(if is_webm {
            Sniffed::new("video/webm", "WebM video")
        } else {
            Sniffed::new("video/x-matroska", "Matroska (MKV) video")
        });
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return Some(Sniffed::new("video/x-msvideo", "AVI video"));
    }
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return Some(Sniffed::new("audio/wav", "WAV audio"));
    }
    if at(0, b"FLV\x01") {
        return Some(Sniffed::new("video/x-flv", "Flash video"));
    }
    if at(0, b"OggS") {
        return Some(Sniffed::new("audio/ogg", "Ogg media"));
    }
    if at(0, b"fLaC") {
        return Some(Sniffed::new("audio/flac", "FLAC audio"));
    }
    if at(0, b"ID3")
        || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0 && head[1] & 0x06 != 0)
    {
        return Some(Sniffed::new("audio/mpeg", "MP3 audio"));
    }
    if at(0, &[0x47]) && at(188, &[0x47]) {
        return Some(Sniffed::new("video/mp2t", "MPEG transport stream"));
    }
    if at(0, &[0x00, 0x00, 0x01, 0xBA]) {
        return Some(Sniffed::new("video/mpeg", "MPEG program stream"));
    }
    if at(0, b"BM") && head.len() >= 14 {
        return Some(Sniffed::new("image/bmp", "BMP image"));
    }
    if at(0, b"II*\0") || at(0, b"MM\0*") {
        return Some(Sniffed::new("image/tiff", "TIFF image"));
    }
    if at(0, b"%PDF") {
        return Some(Sniffed::new("application/pdf", "PDF document"));
    }
    if at(0, b"PK\x03\x04") {
        return Some(Sniffed::new("application/zip", "ZIP archive"));
    }
    None
}

/// ISO-BMFF: the major brand decides (design: `qt  ` → QuickTime, image brands are images,
/// everything else is MP4).
fn iso_bmff(brand: &[u8]) -> Sniffed {
    match brand {
        b"qt  " => Sniffed::new("video/quicktime", "QuickTime movie"),
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" | b"mif1" | b"msf1" => {
            Sniffed::new("image/heic", "HEIC image")
        }
        b"avif" | b"avis" => Sniffed::new("image/avif", "AVIF image"),
        b"M4A " | b"M4B " | b"M4P " => Sniffed::new("audio/mp4", "M4A audio"),
        _ => Sniffed::new("video/mp4", "MP4 video"),
    }
}

/// Extensions that may carry a given sniffed type. MP4 and MOV are one family (the brand and
/// the extension often differ in real exports, and the server derives the type from ours).
fn extension_family(mime: &str) -> &'static [&'static str] {
    match mime {
        "video/mp4" | "video/quicktime" => &["mp4", "m4v", "mov", "qt"],
        "image/jpeg" => &["jpg", "jpeg", "jpe", "jfif"],
        "image/png" => &["png"],
        "image/webp" => &["webp"],
        _ => &[],
    }
}

/// The lowercase extension of a path, if it has one.
pub fn extension_of(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Whether a path's extension agrees with the type its bytes show.
pub fn extension_agrees(path: &Path, sniffed: &Sniffed) -> bool {
    match extension_of(path) {
        Some(ext) => extension_family(sniffed.mime).contains(&ext.as_str()),
        None => false,
    }
}

/// The type a path's extension claims, for messages ("named .mp4 but its bytes are a PNG").
pub fn claimed_by_extension(path: &Path) -> Option<&'static str> {
    let ext = extension_of(path)?;
    ["video/mp4", "image/jpeg", "image/png", "image/webp"]
        .into_iter()
        .find(|mime| extension_family(mime).contains(&ext.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x20];
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(brand);
        v.resize(32, 0);
        v
    }

    #[test]
    fn iso_bmff_major_brand_decides() {
        assert_eq!(sniff(&ftyp(b"isom")).unwrap().mime, "video/mp4");
        assert_eq!(sniff(&ftyp(b"mp42")).unwrap().mime, "video/mp4");
        assert_eq!(sniff(&ftyp(b"qt  ")).unwrap().mime, "video/quicktime");
        assert_eq!(sniff(&ftyp(b"heic")).unwrap().mime, "image/heic");
        assert_eq!(sniff(&ftyp(b"avif")).unwrap().mime, "image/avif");
    }

    #[test]
    fn images_and_others() {
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0]).unwrap().mime,
            "image/jpeg"
        );
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap().mime,
            "image/png"
        );
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 ").unwrap().mime, "image/webp");
        assert_eq!(sniff(b"GIF89a\x01\0").unwrap().mime, "image/gif");
        assert_eq!(
            sniff(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm")
                .unwrap()
                .mime,
            "video/webm"
        );
        assert_eq!(sniff(b"ID3\x04\0").unwrap().mime, "audio/mpeg");
        assert_eq!(sniff(b"hello world, plain text").map(|s| s.mime), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn mp4_and_mov_are_one_extension_family() {
        let mov = sniff(&ftyp(b"qt  ")).unwrap();
        let mp4 = sniff(&ftyp(b"isom")).unwrap();
        assert!(extension_agrees(Path::new("a.mp4"), &mov));
        assert!(extension_agrees(Path::new("a.MOV"), &mp4));
        assert!(!extension_agrees(Path::new("a.png"), &mp4));
        assert!(!extension_agrees(Path::new("noext"), &mp4));
    }

    #[test]
    fn claimed_type_from_extension() {
        assert_eq!(claimed_by_extension(Path::new("x.MP4")), Some("video/mp4"));
        assert_eq!(
            claimed_by_extension(Path::new("x.jpeg")),
            Some("image/jpeg")
        );
        assert_eq!(claimed_by_extension(Path::new("x.gif")), None);
    }
}
