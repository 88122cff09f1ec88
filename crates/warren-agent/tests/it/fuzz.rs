//! The OpenAPI document matches the server: every documented operation is
//! routed, and schemathesis fuzzing finds no 5xx, mismatch or crash.

use std::process::Command;

use crate::harness::{server, warren_bin};

#[test]
fn every_documented_operation_is_routed() {
    let s = server(|_| {});
    let ops = warren_agent::server::openapi::operations();
    assert_eq!(ops.len(), warren_agent::server::ROUTES.len());
    let http = crate::harness::http();
    for (method, path) in ops {
        if path == "/shutdown" {
            continue;
        }
        let url = format!("{}{}", s.url, path.replace("{id}", "nope"));
        let mut r = match method.as_str() {
            "get" => http
                .get(&url)
                .header("Authorization", &format!("Bearer {}", s.token))
                .call(),
            _ => http
                .post(&url)
                .header("Authorization", &format!("Bearer {}", s.token))
                .send_json(serde_json::json!({ "prompt": "x" })),
        }
        .unwrap();
        let code = r.status().as_u16();
        let body: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
        eprintln!("{method} {path}: {code} {body}");
        assert_ne!(code, 405, "{method} {path} not routed");
        assert_ne!(
            body["message"], "no such route",
            "{method} {path} not routed"
        );
    }
    let (code, doc) = s.get("/openapi.json");
    assert_eq!((code, doc["openapi"].as_str()), (200, Some("3.0.3")));
}

#[test]
fn schemathesis_finds_no_server_errors() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz.sh");
    let out = Command::new("bash")
        .arg(script)
        .env("WARREN_BIN", warren_bin())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(77) {
        crate::harness::skip(&format!("schemathesis fuzzing: {}", stdout.trim()));
        return;
    }
    assert!(out.status.success(), "fuzzing failed");
    assert!(stdout.contains("fuzz: ok"));
}
