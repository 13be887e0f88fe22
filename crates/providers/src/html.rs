//! Readable text out of a fetched web page: its title, its headings, paragraphs and list items as
//! paragraphs (blank-line separated, which is how the knowledge base cuts documents), and the
//! links it has. Scripts, styles, navigation, footers and other page furniture are dropped; the
//! links inside navigation are still collected, since that is where a site's pages are listed.
//!
//! Tokenising is html5gum's (WHATWG-compliant, no dependencies); with no DOM, an element's
//! extent is tracked by its start and end tags, which is enough for text.

use html5gum::{DefaultEmitter, Token, Tokenizer};

/// What a page says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageText {
    /// The `<title>`, else the first `<h1>`; empty when neither has text.
    pub title: String,
    /// Paragraphs separated by a blank line.
    pub text: String,
    /// Every `href` of an `<a>`, as written (relative ones included), in order.
    pub links: Vec<String>,
}

/// Elements whose content is not the page's text.
const DROPPED: &[&[u8]] = &[
    b"script",
    b"style",
    b"noscript",
    b"template",
    b"nav",
    b"footer",
    b"svg",
    b"iframe",
    b"object",
    b"canvas",
    b"select",
    b"button",
];

/// Elements that start and end a paragraph.
const BLOCKS: &[&[u8]] = &[
    b"p",
    b"div",
    b"br",
    b"li",
    b"h1",
    b"h2",
    b"h3",
    b"h4",
    b"h5",
    b"h6",
    b"tr",
    b"section",
    b"article",
    b"main",
    b"header",
    b"aside",
    b"blockquote",
    b"pre",
    b"dd",
    b"dt",
    b"dl",
    b"table",
    b"ul",
    b"ol",
    b"hr",
    b"figcaption",
    b"address",
    b"summary",
    b"details",
    b"body",
];

/// Extracts the title, text and links of an HTML document.
pub fn extract(html: &str) -> PageText {
    let mut emitter = DefaultEmitter::default();
    // Without a tree builder, the tokenizer must be told that <script>/<style> hold raw text.
    emitter.naively_switch_states(true);
    let mut title = String::new();
    let mut first_h1 = String::new();
    let mut in_title = false;
    let mut title_done = false;
    let mut in_h1 = false;
    let mut h1_done = false;
    // Names of the dropped elements we are inside, innermost last.
    let mut dropped: Vec<Vec<u8>> = Vec::new();
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut links = Vec::new();
    let end_paragraph = |current: &mut String, paragraphs: &mut Vec<String>| {
        let p = current.split_whitespace().collect::<Vec<_>>().join(" ");
        if !p.is_empty() {
            paragraphs.push(p);
        }
        current.clear();
    };
    for token in Tokenizer::new_with_emitter(html, emitter).flatten() {
        match token {
            Token::StartTag(tag) => {
                let name = tag.name.to_ascii_lowercase();
                if name == b"a"
                    && let Some(href) = tag.attributes.get(b"href".as_slice())
                {
                    let href = String::from_utf8_lossy(href).trim().to_owned();
                    if !href.is_empty() {
                        links.push(href);
                    }
                }
                // The document's first title; an <svg> has titles of its own.
                if name == b"title" && dropped.is_empty() {
                    in_title = true;
                }
                if name == b"h1" {
                    in_h1 = true;
                }
                if DROPPED.contains(&name.as_slice()) && !tag.self_closing {
                    dropped.push(name.clone());
                }
                if BLOCKS.contains(&name.as_slice()) {
                    end_paragraph(&mut current, &mut paragraphs);
                } else if matches!(name.as_slice(), b"td" | b"th" | b"img") {
                    current.push(' ');
                }
            }
            Token::EndTag(tag) => {
                let name = tag.name.to_ascii_lowercase();
                match name.as_slice() {
                    b"title" => {
                        in_title = false;
                        title_done = !title.trim().is_empty();
                    }
                    b"h1" => {
                        in_h1 = false;
                        // Only the first heading with text is the fallback title.
                        h1_done = !first_h1.trim().is_empty();
                    }
                    _ => {}
                }
                // Close the innermost open element of that name (tags may be mis-nested).
                if let Some(at) = dropped.iter().rposition(|d| *d == name) {
                    dropped.truncate(at);
                }
                if BLOCKS.contains(&name.as_slice()) {
                    end_paragraph(&mut current, &mut paragraphs);
                } else if matches!(name.as_slice(), b"td" | b"th") {
                    current.push(' ');
                }
            }
            Token::String(s) => {
                let s = String::from_utf8_lossy(&s);
                if in_title {
                    // Never page text; only the first title names the page.
                    if !title_done {
                        title.push_str(&s);
                    }
                } else if dropped.is_empty() {
                    if in_h1 && !h1_done {
                        first_h1.push_str(&s);
                    }
                    current.push_str(&s);
                }
            }
            Token::Comment(_) | Token::Doctype(_) | Token::Error(_) => {}
        }
    }
    end_paragraph(&mut current, &mut paragraphs);
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let title = match squash(&title) {
        t if t.is_empty() => squash(&first_h1),
        t => t,
    };
    PageText {
        title,
        text: paragraphs.join("\n\n"),
        links,
    }
}

/// A plain-text page as paragraphs: its lines, with runs of blank lines kept as one.
pub fn plain(text: &str) -> String {
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_headings_paragraphs_and_list_items_and_drops_furniture() {
        let page = extract(
            r#"<!doctype html><html><head><title> Acme   Plumbing &amp; Heating </title>
            <style>body { color: red }</style><script>var x = "<p>not text</p>";</script></head>
            <body><nav><a href="/">Home</a> <a href="/prices">Prices</a></nav>
            <h1>Our services</h1><p>We fix boilers<br>and leaks.</p>
            <ul><li>Emergency call-outs</li><li>Annual servicing &ndash; from $89</ul>
            <div>Open <b>Monday</b> to Friday.</div>
            <footer>© Acme <a href="/legal#terms">Terms</a></footer></body></html>"#,
        );
        assert_eq!(page.title, "Acme Plumbing & Heating");
        assert_eq!(
            page.text,
            "Our services\n\nWe fix boilers\n\nand leaks.\n\nEmergency call-outs\n\n\
             Annual servicing – from $89\n\nOpen Monday to Friday."
        );
        assert_eq!(page.links, ["/", "/prices", "/legal#terms"]);
    }

    #[test]
    fn the_first_heading_is_the_title_when_there_is_none() {
        let page = extract("<h1>Welcome</h1><p>Hi.</p><h1>Second</h1>");
        assert_eq!(page.title, "Welcome");
        assert_eq!(extract("<p>x</p>").title, "");
    }

    #[test]
    fn unclosed_dropped_elements_do_not_swallow_text_after_their_parent_ends() {
        let page = extract("<p>Before</p><noscript>Enable JS</noscript><p>After &lt;3</p>");
        assert_eq!(page.text, "Before\n\nAfter <3");
    }

    #[test]
    fn a_missing_head_end_tag_and_svg_titles_change_nothing() {
        let page = extract(
            "<html><head><title>Shop</title><meta charset=utf-8><body>\
             <svg><title>icon</title></svg><p>Open daily.</p><title>Late</title>",
        );
        assert_eq!(page.title, "Shop");
        assert_eq!(page.text, "Open daily.");
    }

    #[test]
    fn plain_text_keeps_its_paragraphs() {
        assert_eq!(plain("a  b\nc\n\n\n\nd\n"), "a b c\n\nd");
    }

    proptest::proptest! {
        /// Any input, tag soup included, gives tidy paragraphs and never script text.
        #[test]
        fn any_input_gives_tidy_paragraphs(
            body in "(<p>|</p>|<script>|</script>|<nav>|</nav>|<li>|<br>|<b>|&amp;|&#x41;|secret|word| |\n|<|>|\"|=){0,60}"
        ) {
            let page = extract(&body);
            proptest::prop_assert!(!page.text.contains("\n\n\n"));
            for p in page.text.split("\n\n").filter(|_| !page.text.is_empty()) {
                proptest::prop_assert!(!p.is_empty() && p.trim() == p);
            }
            let wrapped = extract(&format!("<script>{}</script><p>ok</p>", body.replace("</script", "")));
            proptest::prop_assert!(wrapped.text.ends_with("ok"));
        }
    }
}
