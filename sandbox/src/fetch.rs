//! URL-fetch with the SSRF guard (filled in next).
