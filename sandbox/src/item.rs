//! Builds the full content item (001's shape) from measured assets, so finalize, URL-fetch,
//! GET, PATCH and list all return the same thing. Fit comes from `media::inspect`, never here.

use layers_uploader::api::types::{ContentAsset, ContentItem, PlatformFit, Preview};
use layers_uploader::media::MediaKind;

use crate::clock;

/// One measured asset of an item.
#[derive(Debug, Clone)]
pub struct MeasuredAsset {
    pub kind: MediaKind,
    pub url: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub mime_type: String,
    pub size_bytes: u64,
    pub platform_fit: Vec<PlatformFit>,
}

/// The completed item for these assets (in upload order).
pub fn completed(
    id: &str,
    project_id: &str,
    caption: &str,
    assets: &[MeasuredAsset],
    created_at_ms: u64,
    completed_at_ms: u64,
) -> ContentItem {
    let mut item = blank(id, project_id, created_at_ms);
    item.status = "completed".to_string();
    item.caption = Some(caption.to_string());
    item.assets = assets
        .iter()
        .enumerate()
        .map(|(i, a)| ContentAsset {
            asset_id: format!("upload-{}", i + 1),
            kind: kind_name(a.kind).to_string(),
            url: a.url.clone(),
            thumbnail_url: None,
            width: a.width,
            height: a.height,
            duration_ms: a.duration_ms,
            mime_type: a.mime_type.clone(),
            size_bytes: a.size_bytes,
        })
        .collect();
    item.preview = Some(preview(assets));
    item.platform_fit = merged_fit(assets);
    item.completed_at = Some(clock::rfc3339(completed_at_ms));
    item
}

/// A reserved container's item: exists, but nothing is measured yet.
pub fn pending(id: &str, project_id: &str, created_at_ms: u64) -> ContentItem {
    blank(id, project_id, created_at_ms)
}

fn blank(id: &str, project_id: &str, created_at_ms: u64) -> ContentItem {
    ContentItem {
        id: id.to_string(),
        project_id: project_id.to_string(),
        status: "pending".to_string(),
        format: None,
        hook: None,
        influencer_id: None,
        source_tiktok_id: None,
        media_id: None,
        caption: None,
        first_comment: None,
        assets: Vec::new(),
        preview: None,
        approval_status: Some("not_required".to_string()),
        creative_type: "uploaded".to_string(),
        ads_enrollment: Some("opted_out".to_string()),
        platform_fit: Vec::new(),
        created_at: Some(clock::rfc3339(created_at_ms)),
        completed_at: None,
        failed_at: None,
        last_error: None,
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Video => "video",
        MediaKind::Image => "image",
    }
}

fn preview(assets: &[MeasuredAsset]) -> Preview {
    let first = assets.first();
    let is_video = first.is_some_and(|a| a.kind == MediaKind::Video);
    let kind = if is_video {
        "video"
    } else if assets.len() > 1 {
        "slideshow"
    } else {
        "image"
    };
    let image_urls = if is_video {
        Vec::new()
    } else {
        assets.iter().map(|a| a.url.clone()).collect()
    };
    Preview {
        kind: kind.to_string(),
        primary_url: first.map(|a| a.url.clone()),
        thumbnail_url: None,
        image_urls,
        video_url: first.filter(|_| is_video).map(|a| a.url.clone()),
        hls_url: None,
        duration_ms: first.and_then(|a| a.duration_ms),
        aspect_ratio: first.and_then(|a| Some(aspect_ratio(a.width?, a.height?))),
    }
}

/// Per platform: ok only if every asset fits; issues of all assets, each once, in order.
fn merged_fit(assets: &[MeasuredAsset]) -> Vec<PlatformFit> {
    let mut merged: Vec<PlatformFit> = Vec::new();
    for fit in assets.iter().flat_map(|a| a.platform_fit.iter()) {
        match merged.iter_mut().find(|m| m.platform == fit.platform) {
            Some(m) => {
                m.ok &= fit.ok;
                for issue in &fit.issues {
                    if !m.issues.contains(issue) {
                        m.issues.push(issue.clone());
                    }
                }
            }
            None => merged.push(fit.clone()),
        }
    }
    merged
}

/// Measured aspect ratio: a common social ratio when within 1 %, else the reduced fraction.
pub fn aspect_ratio(width: u32, height: u32) -> String {
    const COMMON: [(u32, u32); 11] = [
        (9, 16),
        (16, 9),
        (1, 1),
        (4, 5),
        (5, 4),
        (3, 4),
        (4, 3),
        (2, 3),
        (3, 2),
        (21, 9),
        (9, 21),
    ];
    if width == 0 || height == 0 {
        return format!("{width}:{height}");
    }
    let actual = f64::from(width) / f64::from(height);
    for (w, h) in COMMON {
        let ratio = f64::from(w) / f64::from(h);
        if (actual - ratio).abs() / ratio < 0.01 {
            return format!("{w}:{h}");
        }
    }
    let g = gcd(width, height);
    format!("{}:{}", width / g, height / g)
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Fixture media for test keys: plausible, platform-fit figures for the declared kind.
pub fn fixture_asset(
    kind: MediaKind,
    url: String,
    mime_type: &str,
    size_bytes: u64,
) -> MeasuredAsset {
    let (width, height, duration_ms) = match kind {
        MediaKind::Video => (1080, 1920, Some(15_000)),
        MediaKind::Image => (1080, 1350, None),
    };
    MeasuredAsset {
        kind,
        url,
        width: Some(width),
        height: Some(height),
        duration_ms,
        mime_type: mime_type.to_string(),
        size_bytes,
        platform_fit: ["tiktok", "instagram"]
            .iter()
            .map(|p| PlatformFit {
                platform: p.to_string(),
                ok: true,
                issues: Vec::new(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratios_read_like_the_docs() {
        assert_eq!(aspect_ratio(1080, 1920), "9:16");
        assert_eq!(aspect_ratio(1920, 1080), "16:9");
        assert_eq!(aspect_ratio(800, 800), "1:1");
        assert_eq!(aspect_ratio(1080, 1350), "4:5");
        assert_eq!(aspect_ratio(1366, 768), "16:9");
        assert_eq!(aspect_ratio(1000, 300), "10:3");
        assert_eq!(aspect_ratio(720, 1280), "9:16");
    }
}
