//! Unit tests of what a route's chain may be: declared middleware in
//! order, an upstream instead of a component, and what may not be combined
//! with them (instance reuse).
use super::*;

#[test]
fn a_route_lists_declared_middleware_in_order_with_merged_env() {
    let c = parse(&format!(
        "{MIDDLEWARE}\n[[route]]\npath = \"/p/...\"\nmiddleware = [\"add-header\", \"auth\"]\n\
         component = \"hello.wasm\"\nenv = {{ TOKEN = \"t\", SHARED = \"route\" }}\n"
    ))
    .unwrap();
    let r = &c.routes[0];
    let names: Vec<&str> = r.middleware.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["add-header", "auth"]);
    assert_eq!(r.middleware[0].component, Path::new("/srv/add-header.wasm"));
    assert_eq!(
        r.middleware[1].component,
        Path::new("/etc/sy/build/auth.wasm")
    );
    // The route's env, with the middleware's own keys laid over it.
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        r.middleware[0].env,
        env(&[("SHARED", "route"), ("TOKEN", "t")])
    );
    assert_eq!(
        r.middleware[1].env,
        env(&[("REALM", "own"), ("SHARED", "middleware"), ("TOKEN", "t")])
    );
    let files: Vec<&Path> = r.files().collect();
    assert_eq!(
        files,
        [
            Path::new("/srv/add-header.wasm"),
            Path::new("/etc/sy/build/auth.wasm"),
            Path::new("/etc/sy/hello.wasm")
        ]
    );
}

#[test]
fn a_route_may_end_in_an_upstream() {
    let c = parse(&format!(
        "{MIDDLEWARE}\n[[route]]\npath = \"/api/...\"\nname = \"api\"\nmiddleware = [\"auth\"]\n\
         upstream = \"http://127.0.0.1:9000\"\n"
    ))
    .unwrap();
    let r = &c.routes[0];
    assert_eq!(
        r.upstream.as_ref().unwrap().to_string(),
        "http://127.0.0.1:9000/"
    );
    let files: Vec<&Path> = r.files().collect();
    assert_eq!(files, [Path::new("/etc/sy/build/auth.wasm")]);
}

#[test]
fn an_unknown_middleware_name_names_the_route() {
    let e = error(&format!(
        "{MIDDLEWARE}\n[[route]]\npath = \"/p\"\nmiddleware = [\"auht\"]\ncomponent = \"a.wasm\"\n"
    ));
    assert!(
        e.contains("route #1 (/p)") && e.contains("'auht' is not declared"),
        "{e}"
    );
    assert!(e.contains("declared: add-header, auth"), "{e}");
}

#[test]
fn a_route_needs_exactly_one_of_component_and_upstream() {
    let both = error(
        "[[route]]\npath = \"/p\"\nname = \"p\"\ncomponent = \"a.wasm\"\nupstream = \"http://h\"\n",
    );
    assert!(
        both.contains("route #1 (/p)") && both.contains("not both"),
        "{both}"
    );
    let neither = error("[[route]]\npath = \"/p\"\nmiddleware = []\n");
    assert!(
        neither.contains("route #1 (/p)")
            && neither.contains("`component`")
            && neither.contains("`upstream`"),
        "{neither}"
    );
    let unnamed = error("[[route]]\npath = \"/p\"\nupstream = \"http://h\"\n");
    assert!(
        unnamed.contains("route #1 (/p)") && unnamed.contains("needs a `name`"),
        "{unnamed}"
    );
}

#[test]
fn bad_upstream_urls_name_the_route() {
    for (url, why) in [
        ("127.0.0.1:9000", "scheme"),
        ("ftp://h", "scheme"),
        ("http://h/base", "path"),
        ("http://h/?q=1", "path or query"),
        ("http://u@h", "user info"),
        ("not a url", "expected a URL"),
    ] {
        let e = error(&format!(
            "[[route]]\npath = \"/p\"\nname = \"p\"\nupstream = \"{url}\"\n"
        ));
        assert!(e.contains("route #1 (/p)") && e.contains(why), "{url}: {e}");
    }
}

#[test]
fn duplicate_middleware_names_name_both_entries() {
    let e = error(
        "[[middleware]]\nname = \"m\"\ncomponent = \"a.wasm\"\n\
         [[middleware]]\nname = \"m\"\ncomponent = \"b.wasm\"\n",
    );
    assert!(
        e.contains("[[middleware]] #2 ('m')") && e.contains("#1"),
        "{e}"
    );
}

#[test]
fn bad_middleware_entries_are_rejected() {
    let e = error("[[middleware]]\nname = \"m\"\ncomponent = \"a.wasm\"\npath = \"/x\"\n");
    assert!(e.contains("path"), "{e}");
    let e = error("[[middleware]]\nname = \"../m\"\ncomponent = \"a.wasm\"\n");
    assert!(e.contains("[[middleware]] #1") && e.contains("name"), "{e}");
    let e = error("[[middleware]]\nname = \"m\"\ncomponent = \"\"\n");
    assert!(
        e.contains("[[middleware]] #1") && e.contains("empty"),
        "{e}"
    );
}

#[test]
fn instance_reuse_cannot_be_combined_with_an_upstream() {
    let e = error(
        "[[route]]\npath = \"/a\"\nname = \"a\"\nupstream = \"http://127.0.0.1:9000\"\ninstance_reuse = 8\n",
    );
    assert!(
        e.contains("route #1 (/a)") && e.contains("instance_reuse") && e.contains("no middleware"),
        "{e}"
    );
}

#[test]
fn instance_reuse_cannot_be_combined_with_middleware() {
    let e = error(
        "[[middleware]]\nname = \"m\"\ncomponent = \"m.wasm\"\n\
         [[route]]\npath = \"/a\"\nmiddleware = [\"m\"]\ncomponent = \"a.wasm\"\ninstance_reuse = 8\n",
    );
    assert!(
        e.contains("route #1 (/a)") && e.contains("instance_reuse") && e.contains("middleware"),
        "{e}"
    );
}
