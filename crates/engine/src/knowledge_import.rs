//! Importing a business's website into its knowledge base: [`crawl`] fetches a start page and the
//! same-origin pages it links to (breadth-first, bounded in pages and depth) through the SSRF-safe
//! [`Fetcher`], and [`merge`] turns the pages into knowledge documents, replacing the ones an
//! earlier import brought from the same address and keeping everything else.
//!
//! Saving is the caller's: the merged list goes into the assistant settings as one new version.

use leadline_conversation::KnowledgeDocument;
use leadline_providers::fetch::{Fetcher, PageKind};
use leadline_providers::html;
use std::collections::{HashSet, VecDeque};
use url::Url;

/// How far an import goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrawlLimits {
    /// Pages fetched at most, failures included.
    pub max_pages: usize,
    /// Links followed from the start page: 1 is its links, 2 their links.
    pub max_depth: u8,
}

impl Default for CrawlLimits {
    fn default() -> Self {
        Self {
            max_pages: 20,
            max_depth: 2,
        }
    }
}

/// A document's text is cut at this many bytes, like a pasted one (the dashboard's limit).
pub const MAX_PAGE_TEXT: usize = 256 * 1024;

/// One page that became text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedPage {
    pub url: String,
    pub title: String,
    pub text: String,
}

/// One page that did not, and why (a sentence: "refused: the address 10.0.0.5 is private").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFailure {
    pub url: String,
    pub error: String,
}

/// Counts so far, reported after every page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CrawlProgress {
    pub fetched: usize,
    pub failed: usize,
    /// Pages found and not fetched yet.
    pub queued: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrawlReport {
    pub pages: Vec<ImportedPage>,
    pub failures: Vec<PageFailure>,
    /// Links left alone because they name a file that is not a page (a PDF, an image…).
    pub skipped_assets: usize,
}

/// Path endings that are files, not pages: never fetched.
const ASSET_EXTENSIONS: &[&str] = &[
    "pdf", "jpg", "jpeg", "png", "gif", "webp", "svg", "ico", "bmp", "tif", "tiff", "css", "js",
    "mjs", "json", "xml", "rss", "zip", "gz", "tgz", "rar", "7z", "mp3", "mp4", "m4a", "mov",
    "avi", "webm", "wav", "ogg", "woff", "woff2", "ttf", "otf", "eot", "doc", "docx", "xls",
    "xlsx", "ppt", "pptx", "csv", "exe", "dmg", "apk",
];

fn is_asset(url: &Url) -> bool {
    let last = url.path().rsplit('/').next().unwrap_or_default();
    last.rsplit_once('.')
        .is_some_and(|(_, ext)| ASSET_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()))
}

/// The URL a page is known by: no fragment.
fn canonical(mut url: Url) -> Url {
    url.set_fragment(None);
    url
}

/// Fetches `start` and the same-origin pages it links to, breadth-first.
pub async fn crawl(
    start: &Url,
    fetcher: &Fetcher,
    limits: CrawlLimits,
    on_progress: &(dyn Fn(CrawlProgress) + Send + Sync),
) -> CrawlReport {
    let start = canonical(start.clone());
    // The site is the start page's origin, and the one it redirects to (http → https, www).
    let mut origins = vec![start.origin()];
    let mut seen: HashSet<Url> = HashSet::from([start.clone()]);
    let mut queue: VecDeque<(Url, u8)> = VecDeque::from([(start, 0)]);
    let mut report = CrawlReport::default();
    let mut progress = CrawlProgress::default();
    while let Some((url, depth)) = queue.pop_front() {
        if progress.fetched + progress.failed >= limits.max_pages {
            break;
        }
        let fail = |report: &mut CrawlReport, error: String| {
            report.failures.push(PageFailure {
                url: url.to_string(),
                error,
            });
        };
        match fetcher.fetch(&url).await {
            Err(e) => {
                fail(&mut report, e.to_string());
                progress.failed += 1;
            }
            Ok(page) => {
                let found = canonical(page.url.clone());
                if depth == 0 && !origins.contains(&found.origin()) {
                    origins.push(found.origin());
                }
                if !origins.contains(&found.origin()) {
                    fail(
                        &mut report,
                        format!("it redirects off the site, to {found}"),
                    );
                    progress.failed += 1;
                } else if found != url && !seen.insert(found.clone()) {
                    // A redirect to a page already imported or queued: nothing new.
                } else {
                    let (title, text, links) = match page.kind {
                        PageKind::Html => {
                            let t = html::extract(&page.body);
                            (t.title, t.text, t.links)
                        }
                        PageKind::Plain => (String::new(), html::plain(&page.body), Vec::new()),
                    };
                    if depth < limits.max_depth {
                        for link in links {
                            let Ok(next) = found.join(&link).map(canonical) else {
                                continue;
                            };
                            if !matches!(next.scheme(), "http" | "https")
                                || !origins.contains(&next.origin())
                                || seen.contains(&next)
                            {
                                continue;
                            }
                            seen.insert(next.clone());
                            if is_asset(&next) {
                                report.skipped_assets += 1;
                            } else {
                                queue.push_back((next, depth + 1));
                            }
                        }
                    }
                    if text.trim().is_empty() {
                        fail(&mut report, "the page has no readable text".into());
                        progress.failed += 1;
                    } else {
                        report.pages.push(ImportedPage {
                            title: page_title(title, &found),
                            text: cut(text, MAX_PAGE_TEXT),
                            url: found.to_string(),
                        });
                        progress.fetched += 1;
                    }
                }
            }
        }
        progress.queued = queue.len();
        on_progress(progress);
    }
    report
}

/// The page's title, else its address without the scheme.
fn page_title(title: String, url: &Url) -> String {
    let title = if title.trim().is_empty() {
        url.as_str()
            .trim_start_matches(url.scheme())
            .trim_start_matches("://")
            .to_owned()
    } else {
        title
    };
    title.chars().take(200).collect()
}

fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The documents after an import: a page replaces the document imported from its address
/// before (in place), new pages are added at the end, and every other document stays.
pub fn merge(existing: &[KnowledgeDocument], pages: &[ImportedPage]) -> Vec<KnowledgeDocument> {
    let as_document = |p: &ImportedPage| KnowledgeDocument {
        title: p.title.clone(),
        text: p.text.clone(),
        source_url: Some(p.url.clone()),
    };
    let mut placed: HashSet<&str> = HashSet::new();
    let mut out: Vec<KnowledgeDocument> = Vec::with_capacity(existing.len() + pages.len());
    for doc in existing {
        let replacement = doc
            .source_url
            .as_deref()
            .and_then(|src| pages.iter().find(|p| p.url == src));
        match replacement {
            // A second document from the same address (edited by hand) goes with the first.
            Some(p) if !placed.insert(p.url.as_str()) => {}
            Some(p) => out.push(as_document(p)),
            None => out.push(doc.clone()),
        }
    }
    out.extend(
        pages
            .iter()
            .filter(|p| !placed.contains(p.url.as_str()))
            .map(as_document),
    );
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn doc(title: &str, src: Option<&str>) -> KnowledgeDocument {
        KnowledgeDocument {
            title: title.into(),
            text: format!("{title} text"),
            source_url: src.map(str::to_owned),
        }
    }

    fn page(url: &str, title: &str) -> ImportedPage {
        ImportedPage {
            url: url.into(),
            title: title.into(),
            text: format!("{title} text"),
        }
    }

    #[test]
    fn reimporting_replaces_by_address_and_keeps_the_rest() {
        let existing = [
            doc("Pasted", None),
            doc("Old prices", Some("https://a.example/prices")),
            doc("Old team", Some("https://a.example/team")),
        ];
        let merged = merge(
            &existing,
            &[
                page("https://a.example/prices", "Prices"),
                page("https://a.example/faq", "FAQ"),
            ],
        );
        let titles: Vec<&str> = merged.iter().map(|d| d.title.as_str()).collect();
        assert_eq!(titles, ["Pasted", "Prices", "Old team", "FAQ"]);
        assert_eq!(
            merged[1].source_url.as_deref(),
            Some("https://a.example/prices")
        );
    }

    #[test]
    fn assets_and_fragments_are_recognised() {
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(is_asset(&u("http://a.example/files/Menu.PDF")));
        assert!(is_asset(&u("http://a.example/logo.png?v=2")));
        assert!(!is_asset(&u("http://a.example/about")));
        assert!(!is_asset(&u("http://a.example/page.html")));
        assert_eq!(
            canonical(u("http://a.example/faq#hours")).as_str(),
            "http://a.example/faq"
        );
        assert_eq!(cut("héllo".into(), 2), "h");
    }
}
