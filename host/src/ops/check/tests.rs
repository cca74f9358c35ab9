//! `switchyard check`'s own rules: which export names count as the
//! handler interface.

use super::*;

fn item(name: &str) -> Item {
    Item {
        name: name.into(),
        kind: "instance",
    }
}

#[test]
fn interface_names_match_at_any_version_and_only_whole() {
    assert!(is_interface("wasi:http/incoming-handler", HANDLER_EXPORT));
    assert!(is_interface(
        "wasi:http/incoming-handler@0.2.6",
        HANDLER_EXPORT
    ));
    assert!(!is_interface("wasi:http/incoming-handlers", HANDLER_EXPORT));
    assert!(!is_interface("wasi:http/types@0.2.6", HANDLER_EXPORT));
}

#[test]
fn world_follows_the_exports() {
    assert_eq!(
        world(&[item("wasi:http/incoming-handler@0.2.0")]),
        World::HttpProxy("wasi:http/incoming-handler@0.2.0".into())
    );
    assert_eq!(
        world(&[item("wasi:cli/run@0.2.3")]),
        World::CliCommand("wasi:cli/run@0.2.3".into())
    );
    assert_eq!(
        world(&[
            item("wasi:http/incoming-handler@0.2.6"),
            item("wasi:http/handler@0.3.0")
        ]),
        World::HttpService("wasi:http/handler@0.3.0".into())
    );
    assert_eq!(world(&[item("example:thing/x")]), World::Unknown);
    assert_eq!(world(&[]), World::Unknown);
}
