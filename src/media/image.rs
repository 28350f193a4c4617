//! Image dimensions read natively from the headers (no process per image), with EXIF
//! orientation applied and the cheap truncation checks each format allows.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

/// Measured image figures: displayed size and the rotation applied to get it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
    pub rotation: i32,
}

/// Why an image could not be measured; the message is for a person.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("the image header is damaged: {0}")]
    Corrupt(&'static str),
    #[error("the image is cut short (the file ends before the image does)")]
    Truncated,
    #[error("could not read the file: {0}")]
    Io(#[from] io::Error),
}

/// Reads dimensions for `image/jpeg`, `image/png` or `image/webp`.
pub fn read_image_info(file: &mut File, mime: &str, size: u64) -> Result<ImageInfo, ImageError> {
    file.seek(SeekFrom::Start(0))?;
    match mime {
        "image/png" => png(file, size),
        "image/jpeg" => jpeg(file),
        "image/webp" => webp(file, size),
        _ => Err(ImageError::Corrupt("not an image type this reader knows")),
    }
}

fn read_exact_or_truncated(r: &mut impl Read, buf: &mut [u8]) -> Result<(), ImageError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ImageError::Truncated,
        _ => ImageError::Io(e),
    })
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn png(file: &mut File, size: u64) -> Result<ImageInfo, ImageError> {
    let mut head = [0u8; 24];
    read_exact_or_truncated(file, &mut head)?;
    if &head[12..16] != b"IHDR" {
        return Err(ImageError::Corrupt("PNG without an IHDR chunk"));
    }
    let (width, height) = (be32(&head[16..20]), be32(&head[20..24]));
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("PNG with a zero dimension"));
    }
    // Every complete PNG ends with the 12-byte IEND chunk; an interrupted copy does not.
    if size < 12 + 24 {
        return Err(ImageError::Truncated);
    }
    let mut tail = [0u8; 12];
    file.seek(SeekFrom::Start(size - 12))?;
    read_exact_or_truncated(file, &mut tail)?;
    if &tail[4..8] != b"IEND" {
        return Err(ImageError::Truncated);
    }
    Ok(ImageInfo {
        width,
        height,
        rotation: 0,
    })
}

fn webp(file: &mut File, size: u64) -> Result<ImageInfo, ImageError> {
    let mut head = [0u8; 30];
    read_exact_or_truncated(file, &mut head)?;
    let riff_len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
    if size < riff_len + 8 {
        return Err(ImageError::Truncated);
    }
    let le24 = |b: &[u8]| u32::from(b[0]) | u32::from(b[1]) << 8 | u32::from(b[2]) << 16;
    let (width, height) = match &head[12..16] {
        b"VP8 " => {
            if head[23..26] != [0x9D, 0x01, 0x2A] {
                return Err(ImageError::Corrupt("WebP VP8 frame without its start code"));
            }
            (
                u32::from(u16::from_le_bytes([head[26], head[27]]) & 0x3FFF),
                u32::from(u16::from_le_bytes([head[28], head[29]]) & 0x3FFF),
            )
        }
        b"VP8L" => {
            if head[20] != 0x2F {
                return Err(ImageError::Corrupt(
                    "WebP lossless frame without its signature",
                ));
            }
            let bits = u32::from_le_bytes([head[21], head[22], head[23], head[24]]);
            ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        }
        b"VP8X" => (le24(&head[24..27]) + 1, le24(&head[27..30]) + 1),
        _ => return Err(ImageError::Corrupt("WebP with an unknown first chunk")),
    };
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt("WebP with a zero dimension"));
    }
    Ok(ImageInfo {
        width,
        height,
        rotation: 0,
    })
}

/// Walks JPEG segments up to the first start-of-frame, noting EXIF orientation on the way.
fn jpeg(file: &mut File) -> Result<ImageInfo, ImageError> {
    let mut r = io::BufReader::with_capacity(64 * 1024, file);
    let mut soi = [0u8; 2];
    read_exact_or_truncated(&mut r, &mut soi)?;
    let mut orientation = 1u16;
    loop {
        let mut marker = [0u8; 2];
        read_exact_or_truncated(&mut r, &mut marker)?;
        if marker[0] != 0xFF {
            return Err(ImageError::Corrupt("JPEG segment without a marker"));
        }
        let m = marker[1];
        if m == 0xFF {
            // Fill byte: the real marker follows.
            let mut one = [0u8; 1];
            read_exact_or_truncated(&mut r, &mut one)?;
            if one[0] == 0xFF {
                continue;
            }
            return Err(ImageError::Corrupt("JPEG marker padding out of place"));
        }
        if m == 0xD8 || (0xD0..=0xD7).contains(&m) || m == 0x01 {
            continue;
        }
        if m == 0xD9 || m == 0xDA {
            return Err(ImageError::Corrupt(
                "JPEG with no frame header before its image data",
            ));
        }
        let mut len = [0u8; 2];
        read_exact_or_truncated(&mut r, &mut len)?;
        let len = u16::from_be_bytes(len) as usize;
        if len < 2 {
            return Err(ImageError::Corrupt(
                "JPEG segment with an impossible length",
            ));
        }
        let mut body = vec![0u8; len - 2];
        read_exact_or_truncated(&mut r, &mut body)?;
        let is_sof = (0xC0..=0xCF).contains(&m) && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if m == 0xE1 && body.starts_with(b"Exif\0\0") {
            orientation = exif_orientation(&body[6..]).unwrap_or(1);
        } else if is_sof {
            if body.len() < 5 {
                return Err(ImageError::Corrupt("JPEG frame header too short"));
            }
            let h = u32::from(u16::from_be_bytes([body[1], body[2]]));
            let w = u32::from(u16::from_be_bytes([body[3], body[4]]));
            if w == 0 || h == 0 {
                return Err(ImageError::Corrupt("JPEG with a zero dimension"));
            }
            // EXIF orientations 5–8 turn the picture a quarter: the displayed edges swap.
            let (width, height, rotation) = match orientation {
                5..=8 => (
                    h,
                    w,
                    if matches!(orientation, 6 | 7) {
                        90
                    } else {
                        270
                    },
                ),
                3 | 4 => (w, h, 180),
                _ => (w, h, 0),
            };
            return Ok(ImageInfo {
                width,
                height,
                rotation,
            });
        }
    }
}

/// The orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block.
fn exif_orientation(tiff: &[u8]) -> Option<u16> {
    let little = match tiff.get(0..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |o: usize| -> Option<u16> {
        let b = tiff.get(o..o + 2)?;
        Some(if little {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |o: usize| -> Option<u32> {
        let b = tiff.get(o..o + 4)?;
        Some(if little {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = u16_at(ifd)? as usize;
    (0..count).find_map(|i| {
        let entry = ifd + 2 + i * 12;
        (u16_at(entry)? == 0x0112)
            .then(|| u16_at(entry + 8))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_orientation_reads_both_byte_orders() {
        // II, 42, IFD at 8, one entry: tag 0x0112 type SHORT count 1 value 6.
        let le = [
            b'I', b'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 6, 0, 0, 0,
        ];
        assert_eq!(exif_orientation(&le), Some(6));
        let be = [
            b'M', b'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 8, 0, 0,
        ];
        assert_eq!(exif_orientation(&be), Some(8));
        assert_eq!(exif_orientation(b"XX"), None);
    }
}
