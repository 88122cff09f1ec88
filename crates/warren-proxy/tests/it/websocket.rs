//! WebSocket through the proxy: a tokio-tungstenite echo server behind it,
//! and real clients in front (tokio-tungstenite, Python `websockets`).

use std::net::SocketAddr;
use std::process::Command;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::harness::*;

/// A WebSocket echo server that also reports the Host it was asked for.
// tungstenite's handshake callback returns its large error type by value.
#[allow(clippy::result_large_err)]
fn ws_echo(t: &TestContext) -> SocketAddr {
    let listener =
        t.rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
    let addr = listener.local_addr().unwrap();
    t.rt.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut host = String::new();
                let cb = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                          resp| {
                    host = req
                        .headers()
                        .get("host")
                        .and_then(|h| h.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    Ok(resp)
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, cb).await else {
                    return;
                };
                let _ = ws.send(Message::text(format!("hello {host}"))).await;
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_close() {
                        break;
                    }
                    if msg.is_text() || msg.is_binary() {
                        let _ = ws.send(msg).await;
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn rust_client_echo() {
    let mut t = TestContext::new("rust_client_echo");
    let backend = ws_echo(&t);
    let p = t.proxy().port;
    t.route("otter", "ws", 0, backend);
    t.rt.block_on(async {
        // Like a browser: resolve `*.localhost` to loopback ourselves, keep
        // the name in the URL (and so in Host).
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", p))
            .await
            .unwrap();
        let url = format!("ws://ws.otter.localhost:{p}/socket");
        let (mut ws, resp) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
        assert_eq!(resp.status(), 101);
        let hello = ws.next().await.unwrap().unwrap();
        assert_eq!(
            hello.into_text().unwrap().as_str(),
            format!("hello ws.otter.localhost:{p}")
        );
        for i in 0..20 {
            let text = format!("message {i} {}", "x".repeat(i * 1000));
            ws.send(Message::text(text.clone())).await.unwrap();
            let back = ws.next().await.unwrap().unwrap();
            assert_eq!(back.into_text().unwrap().as_str(), text);
        }
        ws.send(Message::binary(vec![0u8, 1, 2, 255]))
            .await
            .unwrap();
        assert_eq!(
            ws.next().await.unwrap().unwrap().into_data().as_ref(),
            &[0u8, 1, 2, 255]
        );
        ws.close(None).await.unwrap();
    });
    t.step("20 text frames and a binary frame echoed through the proxy");
    // The proxy still serves plain HTTP afterwards.
    assert_eq!(get(&format!("http://localhost:{p}/"), &[]).0, 200);
}

#[test]
fn python_client_echo() {
    let mut t = TestContext::new("python_client_echo");
    let probe = Command::new("python3")
        .args(["-c", "import websockets.sync.client"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => {
            crate::harness::skip(
                "python3 with the `websockets` package (>= 11) is not installed (pip install websockets)",
            );
            return;
        }
    }
    let backend = ws_echo(&t);
    let p = t.proxy().port;
    t.route("otter", "ws", 0, backend);
    let script = r#"
import socket, sys
from websockets.sync.client import connect
port = int(sys.argv[1])
sock = socket.create_connection(("127.0.0.1", port))
with connect(f"ws://ws.otter.localhost:{port}/", sock=sock) as ws:
    print(ws.recv())
    for i in range(5):
        ws.send(f"py {i}")
        print(ws.recv())
"#;
    let out = Command::new("python3")
        .args(["-c", script, &p.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("hello ws.otter.localhost:{p}"));
    assert_eq!(&lines[1..], ["py 0", "py 1", "py 2", "py 3", "py 4"]);
}
