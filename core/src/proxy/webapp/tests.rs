use super::*;

fn ok(raw: &str) -> AppPath {
    sanitize(raw).unwrap_or_else(|e| panic!("{raw}: {}", e.why))
}

fn refused(raw: &str) -> StatusCode {
    match sanitize(raw) {
        Ok(p) => panic!("{raw} passed as {p:?}"),
        Err(r) => r.status,
    }
}

#[test]
fn plain_paths_pass_decoded() {
    assert_eq!(ok(""), AppPath { segments: vec![], dir: true });
    assert_eq!(ok("index.html"), AppPath { segments: vec!["index.html".into()], dir: false });
    assert_eq!(ok("a/b/"), AppPath { segments: vec!["a".into(), "b".into()], dir: true });
    assert_eq!(ok("my%20app/x.js").segments, ["my app", "x.js"]);
    assert_eq!(ok("caf%C3%A9.png").segments, ["café.png"]);
    // Decoded once: `%252e%252e` is the literal name `%2e%2e`, not `..`.
    assert_eq!(ok("%252e%252e").segments, ["%2e%2e"]);
    assert_eq!(ok("v1.2/app.js").segments, ["v1.2", "app.js"]);
}

#[test]
fn traversal_and_smuggling_forms_are_400() {
    for raw in [
        "..",
        "../secret.txt",
        "a/../../secret.txt",
        "./index.html",
        "%2e%2e/secret.txt",
        "%2E%2E/secret.txt",
        "%2e%2e%2fsecret.txt",
        "%2E%2E%2F%2E%2E%2Fsecret.txt",
        "a%2fb",
        "a%2Fb",
        "..%5csecret.txt",
        "..\\secret.txt",
        "a\\b",
        "/etc/passwd",
        "//etc/passwd",
        "a//b",
        "C:/Windows/win.ini",
        "c:%5cwindows",
        "C%3A/x",
        "file.txt:stream",
        "index.html%00.png",
        "%00",
        "a%0d%0aSet-Cookie:x",
        "%",
        "%zz",
        "%e9",
        ".. /x",
        "x./y",
        "NUL",
        "con.js",
        "sub/LPT1.txt",
    ] {
        assert_eq!(refused(raw), StatusCode::BAD_REQUEST, "{raw}");
    }
}

#[test]
fn windows_devices_streams_and_trimmed_names_are_400() {
    for raw in [
        "COM%C2%B9",
        "com%C2%B2.js",
        "sub/LPT%C2%B3.txt",
        "lpt%C2%B9",
        "CONIN$",
        "conout$.txt",
        "CONOUT$",
        "com0.js",
        "LPT0",
        "nul%20.txt",
        "aux .js",
        "index.html::$DATA",
        "app.js:hidden",
        "sub::$INDEX_ALLOCATION/x",
        "app.js.",
        "app.js%20",
        "sub./app.js",
        "sub%20/app.js",
    ] {
        assert_eq!(refused(raw), StatusCode::BAD_REQUEST, "{raw}");
    }
    // Names that only start like a device are files.
    assert_eq!(ok("console.js").segments, ["console.js"]);
    assert_eq!(ok("com10.js").segments, ["com10.js"]);
    assert_eq!(ok("nullable.wasm").segments, ["nullable.wasm"]);
}

#[test]
fn names_found_on_disk_are_checked_again_below_the_root() {
    // What canonicalising can turn a request into (an 8.3 name, a junction, a link).
    for bad in [
        ".git/config",
        "sub/.env",
        "GIT~1/../.git",
        "CON",
        "sub/com\u{b9}.txt",
        "conout$",
        "a/x.js::$DATA",
        "a/trailing.",
        "a/trailing ",
        "..",
        "../outside.txt",
    ] {
        assert!(!servable_below_root(Path::new(bad)), "{bad}");
    }
    for good in ["", "index.html", "sub/app.js", "GIT~1/config", "v1.2/app.js", "café.png"] {
        assert!(servable_below_root(Path::new(good)), "{good}");
    }
}

#[test]
fn the_gates_own_files_are_private_by_place_and_by_name() {
    let data = Path::new("/srv/gate");
    for p in [
        "/srv/gate/cert.pem",
        "/srv/gate/sub/x.js",
        "/www/ca-key.pem",
        "/www/ca-key.pem.bak",
        "/www/KEY.PEM",
        "/www/a/cert-state.json",
    ] {
        assert!(is_private(Path::new(p), data), "{p}");
    }
    assert!(is_private(Path::new("/www/settings.json"), data));
    for p in ["/www/cert.pem", "/www/ca.pem", "/srv/gateway/x.js", "/www/app.js", "/www/my-key.pem"] {
        assert!(!is_private(Path::new(p), data), "{p}");
    }
}

#[test]
fn a_data_dir_inside_the_web_root_is_never_served_even_unchecked() {
    // The start and the settings form refuse this layout; here that check is bypassed.
    let t = tree();
    let data = t.root.join("gate-data");
    std::fs::create_dir_all(&data).unwrap();
    for f in ["ca-key.pem", "key.pem", "cert-state.json", "cert.pem", "ca.pem", "cxr-gate.log"] {
        std::fs::write(data.join(f), "PRIVATE").unwrap();
    }
    std::fs::write(t.root.join("settings.json"), "{}").unwrap();
    std::fs::write(t.root.join("sub/key.pem"), "PRIVATE").unwrap();
    let find_with = |raw: &str| resolve(&Roots::new(&t.root, &data), &sanitize(raw).unwrap());
    for raw in [
        "gate-data/ca-key.pem",
        "gate-data/key.pem",
        "gate-data/cert-state.json",
        "gate-data/cert.pem",
        "gate-data/ca.pem",
        "gate-data/cxr-gate.log",
        "settings.json",
        "sub/key.pem",
    ] {
        assert_eq!(find_with(raw).unwrap_err(), Miss::NotFound, "{raw}");
    }
    // The rest of the web app is still served.
    assert!(matches!(find_with("app.js"), Ok(Found::File(..))));
    // A data dir named through a link, or not created yet, is still recognised.
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&data, t.root.join("alias")).unwrap();
        assert_eq!(find_with("alias/cert.pem").unwrap_err(), Miss::NotFound);
        let later = t.root.join("later");
        let r = resolve(&Roots::new(&t.root, &later.join(".")), &sanitize("app.js").unwrap());
        assert!(matches!(r, Ok(Found::File(..))));
    }
}

#[cfg(unix)]
#[test]
fn links_inside_the_root_to_hidden_names_are_refused() {
    let t = tree();
    std::fs::create_dir_all(t.root.join(".git")).unwrap();
    std::fs::write(t.root.join(".git/config"), "SECRET").unwrap();
    std::fs::write(t.root.join(".env"), "SECRET").unwrap();
    std::os::unix::fs::symlink(t.root.join(".git"), t.root.join("GIT~1")).unwrap();
    std::os::unix::fs::symlink(t.root.join(".env"), t.root.join("env.txt")).unwrap();
    assert_eq!(find(&t, "GIT~1/config").unwrap_err(), Miss::NotFound);
    assert_eq!(find(&t, "env.txt").unwrap_err(), Miss::NotFound);
}

#[test]
fn hidden_names_are_404() {
    for raw in [".git/config", ".env", "sub/.htpasswd"] {
        assert_eq!(refused(raw), StatusCode::NOT_FOUND, "{raw}");
    }
}

#[test]
fn mime_types_by_extension() {
    let t = |p: &str| content_type(Path::new(p));
    assert_eq!(t("index.html"), "text/html; charset=utf-8");
    assert_eq!(t("A.HTM"), "text/html; charset=utf-8");
    assert_eq!(t("bundle.js"), "text/javascript; charset=utf-8");
    assert_eq!(t("mod.mjs"), "text/javascript; charset=utf-8");
    assert_eq!(t("cloudxr.wasm"), "application/wasm");
    assert_eq!(t("a.json"), "application/json");
    assert_eq!(t("bundle.js.map"), "application/json");
    assert_eq!(t("s.css"), "text/css; charset=utf-8");
    assert_eq!(t("i.svg"), "image/svg+xml");
    assert_eq!(t("i.png"), "image/png");
    assert_eq!(t("i.JPG"), "image/jpeg");
    assert_eq!(t("favicon.ico"), "image/x-icon");
    assert_eq!(t("LICENSE.txt"), "text/plain; charset=utf-8");
    assert_eq!(t("LICENSE"), "application/octet-stream");
    assert_eq!(t("x.exe"), "application/octet-stream");
}

struct Tree {
    _dir: tempfile::TempDir,
    root: PathBuf,
    /// The gate's data dir, beside the root.
    data: PathBuf,
}

/// base/{secret.txt, root/{index.html, app.js, sub/{data.json}, empty/}} plus symlinks.
fn tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path();
    std::fs::write(base.join("secret.txt"), "SENTINEL").unwrap();
    let root = base.join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>app</h1>").unwrap();
    std::fs::write(root.join("app.js"), "1").unwrap();
    std::fs::write(root.join("sub/data.json"), "{}").unwrap();
    std::fs::write(root.join("sub/index.html"), "sub").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(base.join("secret.txt"), root.join("leak.txt")).unwrap();
        symlink(base, root.join("up")).unwrap();
        symlink(root.join("app.js"), root.join("alias.js")).unwrap();
    }
    let data = base.join("data");
    Tree { _dir: dir, root, data }
}

fn find(t: &Tree, raw: &str) -> Result<Found, Miss> {
    resolve(&Roots::new(&t.root, &t.data), &sanitize(raw).unwrap())
}

#[test]
fn resolve_serves_files_and_index_pages_and_lists_nothing() {
    let t = tree();
    let name = |r: Result<Found, Miss>| match r {
        Ok(Found::File(p, _)) => p.strip_prefix(std::fs::canonicalize(&t.root).unwrap()).unwrap().to_path_buf(),
        other => panic!("{other:?}"),
    };
    assert_eq!(name(find(&t, "")), Path::new("index.html"));
    assert_eq!(name(find(&t, "app.js")), Path::new("app.js"));
    assert_eq!(name(find(&t, "sub/")), Path::new("sub/index.html"));
    assert!(matches!(find(&t, "sub"), Ok(Found::AddSlash)));
    assert_eq!(find(&t, "empty/").unwrap_err(), Miss::NotFound, "no listing");
    assert_eq!(find(&t, "empty").unwrap_err(), Miss::NotFound);
    assert_eq!(find(&t, "app.js/").unwrap_err(), Miss::NotFound);
    assert_eq!(find(&t, "nope.js").unwrap_err(), Miss::NotFound);
}

#[cfg(unix)]
#[test]
fn resolve_refuses_symlinks_out_of_the_root() {
    let t = tree();
    assert_eq!(find(&t, "leak.txt").unwrap_err(), Miss::NotFound);
    assert_eq!(find(&t, "up/secret.txt").unwrap_err(), Miss::NotFound);
    assert_eq!(find(&t, "up/").unwrap_err(), Miss::NotFound);
    // A link that stays inside the root is fine.
    assert!(matches!(find(&t, "alias.js"), Ok(Found::File(..))));
}

/// Roots made before the change, as a running gate holds them: a root replaced by a link to a
/// folder outside it, or a file renamed to a link out, serves nothing outside; the looked-up-again
/// root says why.
#[cfg(unix)]
#[test]
fn roots_made_before_links_appear_still_confine() {
    use std::os::unix::fs::symlink;
    let t = tree();
    let base = t.root.parent().unwrap().to_path_buf();
    let roots = Arc::new(Roots::new(&t.root, &t.data));
    let asked = |raw: &str| sanitize(raw).unwrap();
    assert!(matches!(resolve(&roots, &asked("app.js")), Ok(Found::File(..))));

    // A file inside renamed to a link out of the root.
    std::fs::rename(t.root.join("app.js"), base.join("app.js.old")).unwrap();
    symlink(base.join("secret.txt"), t.root.join("app.js")).unwrap();
    assert_eq!(resolve(&roots, &asked("app.js")).unwrap_err(), Miss::NotFound);
    let (found, _) = lookup(Some(roots.clone()), &t.root, &t.data, &asked("app.js"));
    assert_eq!(found.unwrap_err(), Miss::NotFound);

    // The root itself replaced by a link to the folder holding the secret.
    std::fs::rename(&t.root, base.join("root.old")).unwrap();
    symlink(&base, &t.root).unwrap();
    assert_eq!(resolve(&roots, &asked("secret.txt")).unwrap_err(), Miss::NotFound);
    let (found, made) = lookup(Some(roots.clone()), &t.root, &t.data, &asked("secret.txt"));
    assert!(matches!(found, Err(Miss::Root(ref m)) if m.contains("no index.html")), "{found:?}");
    assert!(made.is_some_and(|r| r.problem().is_some()), "the unusable root is kept, so the status can say why");
}

/// Cached roots are used only for the configuration they were made for; a root that moved away
/// and back, or was re-pointed to another build, is looked up again on the first miss.
#[cfg(unix)]
#[test]
fn lookups_follow_the_configuration_and_a_re_pointed_root() {
    use std::os::unix::fs::symlink;
    let t = tree();
    let base = t.root.parent().unwrap().to_path_buf();
    let asked = |raw: &str| sanitize(raw).unwrap();
    // Another build beside the first, and a `current` link to the first.
    let v2 = base.join("v2");
    std::fs::create_dir_all(&v2).unwrap();
    std::fs::write(v2.join("index.html"), "v2").unwrap();
    std::fs::write(v2.join("new.js"), "2").unwrap();
    let current = base.join("current");
    symlink(&t.root, &current).unwrap();

    let (found, made) = lookup(None, &current, &t.data, &asked("app.js"));
    assert!(matches!(found, Ok(Found::File(..))));
    let roots = made.expect("made for the first request");
    // A hit keeps the roots; another configuration makes its own.
    let (_, again) = lookup(Some(roots.clone()), &current, &t.data, &asked("app.js"));
    assert!(again.is_none(), "a hit canonicalises the root again");
    let (found, other) = lookup(Some(roots.clone()), &v2, &t.data, &asked("new.js"));
    assert!(matches!(found, Ok(Found::File(..))) && other.is_some());

    // `current` re-pointed to v2: its file is found at the first miss.
    std::fs::remove_file(&current).unwrap();
    symlink(&v2, &current).unwrap();
    let (found, made) = lookup(Some(roots), &current, &t.data, &asked("new.js"));
    match found {
        Ok(Found::File(p, _)) => assert_eq!(p, std::fs::canonicalize(v2.join("new.js")).unwrap()),
        other => panic!("{other:?}"),
    }
    assert!(made.is_some());
}

#[test]
fn a_missing_root_is_a_root_problem() {
    let t = tree();
    std::fs::remove_file(t.root.join("index.html")).unwrap();
    assert!(matches!(find(&t, "app.js"), Err(Miss::Root(m)) if m.contains("no index.html")));
    let gone = t.root.join("gone");
    assert!(
        matches!(resolve(&Roots::new(&gone, &t.data), &sanitize("").unwrap()), Err(Miss::Root(m)) if m.contains("does not exist"))
    );
}

#[test]
fn revalidation_by_etag_then_date() {
    let t = tree();
    let meta = std::fs::metadata(t.root.join("app.js")).unwrap();
    let tag = etag(&meta).unwrap();
    let m = meta.modified().ok();
    let h = |k: header::HeaderName, v: &str| {
        let mut h = HeaderMap::new();
        h.insert(k, HeaderValue::from_str(v).unwrap());
        h
    };
    assert!(not_modified(&h(header::IF_NONE_MATCH, &tag), Some(&tag), m));
    assert!(not_modified(&h(header::IF_NONE_MATCH, &format!("\"x\", W/{tag}")), Some(&tag), m));
    assert!(not_modified(&h(header::IF_NONE_MATCH, "*"), Some(&tag), m));
    assert!(!not_modified(&h(header::IF_NONE_MATCH, "\"other\""), Some(&tag), m));
    let date = httpdate::fmt_http_date(m.unwrap());
    assert!(not_modified(&h(header::IF_MODIFIED_SINCE, &date), Some(&tag), m));
    let old = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(1_000_000));
    assert!(!not_modified(&h(header::IF_MODIFIED_SINCE, &old), Some(&tag), m));
    assert!(!not_modified(&h(header::IF_MODIFIED_SINCE, "yesterday"), Some(&tag), m));
    assert!(!not_modified(&HeaderMap::new(), Some(&tag), m));
}

#[test]
fn only_app_paths_are_ours() {
    assert!(is_app_path("/app") && is_app_path("/app/") && is_app_path("/app/x.js"));
    assert!(!is_app_path("/apps") && !is_app_path("/") && !is_app_path("/application/x"));
}
