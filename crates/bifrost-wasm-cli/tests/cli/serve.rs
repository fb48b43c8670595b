//! `bifrost-wasm serve`: the real binary as a server on a loopback port.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{hello, run, TempFile};
use crate::wat;

/// A running `bifrost-wasm serve`.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    /// Starts the server on a free loopback port and waits for its "listening" line.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bifrost-wasm"))
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start bifrost-wasm serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout is piped"))
            .read_line(&mut line)
            .expect("read the listening line");
        let Some(addr) = line
            .split("listening on http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
        else {
            let _ = child.kill();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "the server did not start: {line:?}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        Server {
            addr: addr.to_string(),
            child,
        }
    }

    /// One HTTP/1.1 request; returns (status, body).
    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the response");
        let (head, body) = response.split_once("\r\n\r\n").expect("a complete response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        (status, body.to_string())
    }

    /// Sends SIGTERM and waits for the exit; returns (exit code, stderr).
    fn terminate(mut self) -> (i32, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("poll the server") {
                break status;
            }
            if Instant::now() > deadline {
                panic!("the server did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            pipe.read_to_string(&mut stderr).expect("read stderr");
        }
        (status.code().expect("exited, not killed by a signal"), stderr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

#[test]
fn serve_runs_hello_world_and_stops_cleanly_on_sigterm() {
    let server = Server::start(&["--plugin", &hello()]);
    let (status, body) = server.request("GET", "/health", "");
    assert_eq!(status, 200, "{body}");

    let (status, body) = server.request(
        "POST",
        "/v1/chat/completions",
        r#"{"model": "mock-model", "messages": [{"role": "user", "content": "Hi"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("This is a mock response!"),
        "hello-world short-circuits mock-model: {body}"
    );

    let (status, body) = server.request(
        "POST",
        "/v1/chat/completions",
        r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "echo me"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("echo me"), "the mock provider echoes: {body}");
    assert!(
        body.contains("(via rust-wasm)"),
        "post_hook rewrote the model: {body}"
    );

    let (code, stderr) = server.terminate();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("hello"),
        "one log line per request names the plugin: {stderr}"
    );
    assert!(
        stderr.contains("cleanup"),
        "graceful shutdown calls cleanup: {stderr}"
    );
}

#[test]
fn serve_reads_plugins_from_a_bifrost_config_file() {
    let config = TempFile::new(
        "config.json",
        serde_json::json!({
            "plugins": [{"path": hello(), "name": "hw", "enabled": true, "config": {"mock_model": "fake"}}],
            "gateway": {"request_shape": "flat"}
        })
        .to_string(),
    );
    let server = Server::start(&[config.arg()]);
    let (status, body) = server.request(
        "POST",
        "/v1/chat/completions",
        r#"{"model": "fake", "messages": [{"role": "user", "content": "Hi"}]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("This is a mock response!"),
        "the plugin got its config: {body}"
    );
    let (code, stderr) = server.terminate();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn serve_refuses_a_plugin_that_does_not_load() {
    let broken = wat::file("broken", &wat::abi_broken_plugin());
    let out = run(&["serve", "--plugin", broken.arg(), "--listen", "127.0.0.1:0"]);
    assert_eq!(out.code, 1, "{out:#?}");
    assert!(
        out.stderr
            .starts_with("error: plugins[0] (\"broken\"): cannot load plugin"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("missing export `malloc`"), "{}", out.stderr);
}

#[test]
fn serve_config_mistakes_are_usage_errors() {
    let out = run(&["serve", "no/such/config.json"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("cannot read the config file"),
        "{}",
        out.stderr
    );
    let bad = TempFile::new("config.json", r#"{"plugins": [{"name": "x"}]}"#);
    let out = run(&["serve", bad.arg()]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("plugins[0]"), "{}", out.stderr);
    let out = run(&["serve", "--provider", "upstream"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(
        out.stderr.contains("--provider upstream needs --upstream-url"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_recording_replays_clean_against_the_same_plugin_and_shows_diffs_against_another() {
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("rec");
    let server = Server::start(&["--plugin", &hello(), "--record", record.to_str().unwrap()]);
    // One request with secrets in its headers, sent by hand.
    let body = r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "record me"}]}"#;
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    write!(
        stream,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Authorization: Bearer sk-secret-1\r\nX-Bf-Vk: vk-secret-2\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (status, _) = server.request(
        "POST",
        "/v1/chat/completions",
        r#"{"model": "mock-model", "messages": [{"role": "user", "content": "Hi"}]}"#,
    );
    assert_eq!(status, 200);
    let (code, stderr) = server.terminate();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("recorded"), "{stderr}");

    let files: Vec<String> = std::fs::read_dir(&record)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    // Two requests: four hooks for the first, http_pre_hook, pre_hook (short-circuit) and
    // http_post_hook for the second at least.
    assert!(files.len() >= 7, "{}", files.len());
    assert!(files.iter().any(|f| f.contains("[REDACTED]")));
    assert!(files
        .iter()
        .all(|f| !f.contains("sk-secret-1") && !f.contains("vk-secret-2")));

    let out = run(&["replay", record.to_str().unwrap(), &hello()]);
    assert_eq!(out.code, 0, "{out:#?}");
    assert!(
        out.stdout.contains(&format!("{} call(s) of ", files.len())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("unchanged, 0 changed, 0 failed"),
        "{}",
        out.stdout
    );

    // An echo plugin answers differently: every changed call says where.
    let echo = wat::file("echo", &wat::echo_plugin());
    let out = run(&["replay", record.to_str().unwrap(), echo.arg(), "--json"]);
    assert_eq!(out.code, 1, "{out:#?}");
    let report = out.json();
    assert!(report["changed"].as_u64().unwrap() > 0, "{report}");
    let results = report["results"].as_array().unwrap();
    let post = results
        .iter()
        .find(|r| r["hook"] == "post_hook" && r["result"] == "changed")
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        post["differences"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().contains("(via rust-wasm)")),
        "{post}"
    );

    // A recording of nothing, or of someone else, is a usage error that says why.
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["replay", empty.path().to_str().unwrap(), &hello()]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("holds no recorded calls"), "{}", out.stderr);
    let out = run(&["replay", record.to_str().unwrap(), &hello(), "--name", "nobody"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("recorded: "), "{}", out.stderr);
}

#[test]
fn watch_swaps_a_rebuilt_plugin_under_load_without_a_failed_request() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("plugin.wasm");
    std::fs::copy(hello(), &plugin).unwrap();
    let pass_through = test_support::plugin_wasm("pass-through");
    let mut server = Server::start(&[
        "--plugin",
        plugin.to_str().unwrap(),
        "--watch",
        "--watch-interval-ms",
        "50",
    ]);
    let addr = server.addr.clone();
    // One log line per request: read them as they come, or the pipe fills and the server waits.
    let pipe = server.child.stderr.take().unwrap();
    let logged = Arc::new(std::sync::Mutex::new(String::new()));
    let log = {
        let logged = logged.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let line = line.unwrap();
                if !line.contains("POST /v1/chat/completions 200") {
                    let mut logged = logged.lock().unwrap();
                    logged.push_str(&line);
                    logged.push('\n');
                }
            }
        })
    };

    // Four clients send requests back to back for the whole test.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed, via_hello) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let post = |addr: &str| -> Result<String, String> {
        let body = r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "swap"}]}"#;
        let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        write!(
            stream,
            "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .map_err(|e| e.to_string())?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(|e| e.to_string())?;
        if response.starts_with("HTTP/1.1 200") {
            Ok(response)
        } else {
            Err(response)
        }
    };
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop, ok, failed, via_hello) = (
                addr.clone(),
                stop.clone(),
                ok.clone(),
                failed.clone(),
                via_hello.clone(),
            );
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match post(&addr) {
                        Ok(response) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                            if response.contains("(via rust-wasm)") {
                                via_hello.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            failures.push(e);
                        }
                    }
                }
                failures
            })
        })
        .collect();
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait_for("hello-world answers", &|| via_hello.load(Ordering::Relaxed) > 20);

    // A rebuilt plugin lands the way cargo and editors write files: a new file renamed over.
    let staged = dir.path().join("plugin.wasm.new");
    std::fs::copy(&pass_through, &staged).unwrap();
    std::fs::rename(&staged, &plugin).unwrap();
    let swapped_at = ok.load(Ordering::Relaxed);
    // After the swap no answer goes through hello-world's post_hook any more.
    wait_for("the swap", &|| {
        let before = via_hello.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(300));
        ok.load(Ordering::Relaxed) > swapped_at + 20 && via_hello.load(Ordering::Relaxed) == before
    });

    // A broken file keeps the running plugin.
    std::fs::write(&staged, b"\0asm but not really").unwrap();
    std::fs::rename(&staged, &plugin).unwrap();
    wait_for("the broken file's report", &|| {
        logged
            .lock()
            .unwrap()
            .contains("failed; the running plugins stay")
    });
    let broken_at = ok.load(Ordering::Relaxed);
    wait_for("requests after the broken file", &|| {
        ok.load(Ordering::Relaxed) > broken_at + 50
    });

    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    let (code, _) = server.terminate();
    log.join().unwrap();
    let stderr = logged.lock().unwrap().clone();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        failures.is_empty(),
        "{} failed requests, e.g. {:?}",
        failures.len(),
        failures.first()
    );
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert!(stderr.contains("reloaded after"), "{stderr}");
    assert!(stderr.contains("1 replaced"), "{stderr}");
    assert!(
        stderr.contains("failed; the running plugins stay"),
        "the broken file is reported: {stderr}"
    );
    // The replaced hello-world instance was cleaned up once its last request was done.
    assert!(
        stderr.matches("cleanup done").count() >= 2,
        "cleanup on the replaced and on the final instance: {stderr}"
    );
}

#[test]
fn watch_applies_an_edited_config_file_and_keeps_what_did_not_change() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let write = |mock_model: &str| {
        let text = serde_json::json!({
            "plugins": [{"path": hello(), "name": "hw", "enabled": true, "config": {"mock_model": mock_model}}]
        })
        .to_string();
        let staged = dir.path().join("config.json.new");
        std::fs::write(&staged, text).unwrap();
        std::fs::rename(&staged, &config).unwrap();
    };
    write("fake-1");
    let server = Server::start(&[config.to_str().unwrap(), "--watch", "--watch-interval-ms", "50"]);
    let ask = |model: &str| {
        let (status, body) = server.request(
            "POST",
            "/v1/chat/completions",
            &format!(r#"{{"model": "{model}", "messages": [{{"role": "user", "content": "Hi"}}]}}"#),
        );
        assert_eq!(status, 200, "{body}");
        body.contains("This is a mock response!")
    };
    assert!(ask("fake-1"));
    assert!(!ask("fake-2"));
    write("fake-2");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ask("fake-2") {
        assert!(Instant::now() < deadline, "the new config was not applied");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!ask("fake-1"));
    // A config that does not parse keeps the running plugins.
    std::fs::write(&config, "{ not json").unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(ask("fake-2"));
    let (code, stderr) = server.terminate();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("reloaded after the config file changed"),
        "{stderr}"
    );
    assert!(stderr.contains("cannot read the configuration again"), "{stderr}");
}

#[test]
fn serve_refuses_a_public_address_without_keys_and_starts_with_keys_from_the_environment() {
    let out = run(&["serve", "--listen", "0.0.0.0:0"]);
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("without gateway keys"), "{}", out.stderr);
    let mut child = Command::new(env!("CARGO_BIN_EXE_bifrost-wasm"))
        .args(["serve", "--listen", "0.0.0.0:0"])
        .env("BIFROST_WASM_GATEWAY_KEYS", "k1, k2")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on http://0.0.0.0:"), "{line}");
}
