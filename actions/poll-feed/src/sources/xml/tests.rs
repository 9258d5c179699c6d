use super::*;

fn parse(text: &str) -> Result<Document, XmlError> {
    Document::parse(text.as_bytes())
}

fn error(text: &[u8]) -> String {
    match Document::parse(text) {
        Ok(document) => panic!("read: {:?}", document.root),
        Err(error) => error.to_string(),
    }
}

#[test]
fn elements_are_known_by_namespace_whatever_the_prefix() {
    let document = parse(
        r#"<r xmlns="urn:a" xmlns:b="urn:b" xmlns:c="urn:b"><b:x>1</b:x><c:x>2</c:x><x b:at="v" at="w">3</x></r>"#,
    )
    .expect("read");
    let root = &document.root;
    assert!(root.is("urn:a", "r"));
    let in_b: Vec<&str> = root
        .children_named("urn:b", "x")
        .map(|x| x.text.as_str())
        .collect();
    assert_eq!(in_b, ["1", "2"]);
    let x = root.child("urn:a", "x").expect("x");
    assert_eq!(x.attribute_in("urn:b", "at"), Some("v"));
    // Unprefixed attributes are in no namespace, even under a default namespace.
    assert_eq!(x.attribute("at"), Some("w"));
}

#[test]
fn text_joins_cdata_and_references_and_keeps_undeclared_entities_as_written() {
    let document =
        parse("<r><t>a &amp; b &#x263A; &#233;<![CDATA[ <i>c</i> &amp; ]]>&nbsp;\r\nd</t></r>")
            .expect("read");
    let t = document.root.child("", "t").expect("t");
    assert_eq!(t.text, "a & b ☺ é <i>c</i> &amp; &nbsp;\nd");
    assert!(!t.has_child_elements);
}

#[test]
fn markup_inside_an_element_is_kept_as_written() {
    let document = parse("<r><d>Hello <b>bold</b> &amp; <br/>done</d></r>").expect("read");
    let d = document.root.child("", "d").expect("d");
    assert!(d.has_child_elements);
    assert_eq!(
        d.inner_markup(&document),
        "Hello <b>bold</b> &amp; <br/>done"
    );
    assert_eq!(d.text, "Hello  & done");
}

#[test]
fn billion_laughs_is_never_expanded() {
    let mut doc =
        String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
    for level in 1..10 {
        let previous = if level == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", level - 1)
        };
        doc.push_str(&format!(
            " <!ENTITY lol{level} \"{}\">\n",
            format!("&{previous};").repeat(10)
        ));
    }
    doc.push_str("]>\n<rss><channel><item><title>&lol9;</title></item></channel></rss>");
    let document = parse(&doc).expect("read");
    let title = &document.root.children[0].children[0].children[0];
    assert_eq!(title.text, "&lol9;");
}

#[test]
fn external_entities_are_never_fetched_or_read() {
    let document = parse(
        "<!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\"><!ENTITY y SYSTEM \"http://127.0.0.1:9/x\">]><r a=\"&y;\">&x;</r>",
    )
    .expect("read");
    assert_eq!(document.root.text, "&x;");
    assert_eq!(document.root.attribute("a"), Some("&y;"));
}

#[test]
fn nesting_too_deep_is_refused_and_deep_elements_are_not_kept() {
    let deep = format!(
        "{}{}",
        "<a>".repeat(MAX_DEPTH + 1),
        "</a>".repeat(MAX_DEPTH + 1)
    );
    let message = error(deep.as_bytes());
    assert!(
        message.contains(&format!("more than {MAX_DEPTH} deep")),
        "{message}"
    );
    assert!(message.contains("line 1, column"), "{message}");

    let nested = format!("{}x{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
    let document = parse(&nested).expect("read at the limit");
    let mut depth = 1;
    let mut element = &document.root;
    while let Some(child) = element.children.first() {
        depth += 1;
        element = child;
    }
    assert_eq!(depth, KEPT_DEPTH);
    assert!(element.has_child_elements);
}

#[test]
fn too_many_elements_are_refused() {
    let many = format!("<r>{}</r>", "<i/>".repeat(MAX_ELEMENTS));
    let message = error(many.as_bytes());
    assert!(
        message.contains(&format!("more than {MAX_ELEMENTS} elements")),
        "{message}"
    );
}

#[test]
fn malformed_documents_name_the_problem_and_where() {
    let truncated = error(b"<rss>\n<channel>\n<item><title>cut");
    assert!(truncated.contains("ends before `</title>`"), "{truncated}");
    assert!(truncated.contains("cut short"), "{truncated}");

    let mismatched = error(b"<rss>\n<channel>\n  <item></channel></rss>");
    assert!(mismatched.contains("line 3, column"), "{mismatched}");
    assert!(mismatched.contains("`</item>`"), "{mismatched}");

    let html = error(b"Service Unavailable");
    assert!(html.contains("text outside any element"), "{html}");
    assert!(html.contains("\"Service Unavailable\""), "{html}");

    assert_eq!(error(b"  \n"), "the body is empty");
    let two_roots = error(b"<a/><b/>");
    assert!(two_roots.contains("second root element <b>"), "{two_roots}");
    let bad_reference = error(b"<a>&#xFFFFFFFF;</a>");
    assert!(
        bad_reference.contains("invalid character reference"),
        "{bad_reference}"
    );
    let bad_attribute = error(b"<a b=1/>");
    assert!(
        bad_attribute.contains("malformed attribute"),
        "{bad_attribute}"
    );
    // A repeated attribute is forgiven: the first one counts.
    let repeated = Document::parse(b"<a b=\"1\" b=\"2\"/>").expect("read");
    assert_eq!(repeated.root.attribute("b"), Some("1"));
}

#[test]
fn too_many_namespace_declarations_are_refused_with_a_plain_reason() {
    let declarations: String = (0..5000)
        .map(|n| format!(" xmlns:p{n}=\"urn:{n}\""))
        .collect();
    let message = error(format!("<r{declarations}/>").as_bytes());
    assert!(message.contains("namespace declarations"), "{message}");
    assert!(!message.contains("set_max_namespace_bindings"), "{message}");
}

#[test]
fn encodings_by_mark_and_declaration() {
    let utf8_bom = b"\xEF\xBB\xBF<r>\xC3\xA9</r>";
    assert_eq!(Document::parse(utf8_bom).expect("utf-8").root.text, "é");

    let text = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><r>é☺</r>";
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    assert_eq!(Document::parse(&le).expect("utf-16le").root.text, "é☺");
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    assert_eq!(Document::parse(&be).expect("utf-16be").root.text, "é☺");
    let unmarked: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    assert_eq!(
        Document::parse(&unmarked)
            .expect("utf-16 unmarked")
            .root
            .text,
        "é☺"
    );

    let latin1 = b"<?xml version='1.0' encoding='ISO-8859-1'?><r>caf\xE9 \x80 \x96</r>";
    assert_eq!(
        Document::parse(latin1).expect("latin-1").root.text,
        "café € –"
    );

    let other = error(b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><r/>");
    assert!(other.contains("\"shift_jis\""), "{other}");
    assert!(other.contains("UTF-8"), "{other}");
}

#[test]
fn invalid_utf8_is_repaired_and_reported() {
    let document = Document::parse(b"<r>ok \xFF\xFE here \xEF\xBF\xBD stays</r>").expect("read");
    assert_eq!(
        document.root.text,
        "ok \u{FFFD}\u{FFFD} here \u{FFFD} stays"
    );
    assert_eq!(
        document.notes,
        ["the feed is not valid UTF-8: 2 malformed byte sequences were read as U+FFFD"]
    );
    assert!(parse("<r>fine</r>").expect("read").notes.is_empty());
}

#[test]
fn positions_count_lines_and_characters() {
    assert_eq!(position("ab\ncé\nx", 6), "line 2, column 3");
    assert_eq!(position("ab", 99), "line 1, column 3");
    assert_eq!(position("é", 1), "line 1, column 1");
}
