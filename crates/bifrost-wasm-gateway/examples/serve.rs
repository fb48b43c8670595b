//! Runs the gateway: the library API the CLI's `serve` command calls, as a small program.
//!
//! ```text
//! cargo run -p bifrost-wasm-gateway --example serve -- \
//!     [--config config.json] [--plugin build/hello-world.wasm]... [--listen 127.0.0.1:8080] \
//!     [--request-shape go-envelope|flat|snake] [--max-body-bytes N] [--serialize-steps]
//! ```
//!
//! `--serialize-steps` is for measuring only: one lock over every whole chain step, as the
//! gateway ran before each plugin was locked only while its own hook runs.
//!
//! Prints `listening on http://ADDR` once it accepts connections (so scripts can use port 0),
//! logs one line per request, and stops (calling every plugin's `cleanup`) on Ctrl-C or SIGTERM.

use std::io::Write as _;

use bifrost_wasm_gateway::{Gateway, GatewayConfig, RequestShape};

fn usage() -> ! {
    eprintln!(
        "usage: serve [--config FILE] [--plugin FILE.wasm]... [--listen ADDR] [--request-shape go-envelope|flat|snake] [--max-body-bytes N] [--serialize-steps]"
    );
    std::process::exit(2)
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let mut config = GatewayConfig::default();
    let mut plugins = Vec::new();
    let mut listen = None;
    let mut shape = None;
    let mut max_body = None;
    let mut serialize = false;
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--config" => {
                config = GatewayConfig::from_file(value()).unwrap_or_else(|e| {
                    eprintln!("{e}");
                    std::process::exit(2)
                })
            }
            "--plugin" => plugins.push(value()),
            "--listen" => listen = Some(value().parse().unwrap_or_else(|_| usage())),
            "--request-shape" => shape = Some(RequestShape::from_name(&value()).unwrap_or_else(|| usage())),
            "--max-body-bytes" => max_body = Some(value().parse().unwrap_or_else(|_| usage())),
            "--serialize-steps" => serialize = true,
            _ => usage(),
        }
    }
    for p in plugins {
        config.add_plugin(p);
    }
    if let Some(l) = listen {
        config = config.with_listen(l);
    }
    if let Some(s) = shape {
        config = config.with_request_shape(s);
    }
    if let Some(b) = max_body {
        config = config.with_max_body_bytes(b);
    }
    config.serialize_plugin_steps = serialize;
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(async {
        let gateway = match Gateway::bind(config).await {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1)
            }
        };
        println!("listening on http://{}", gateway.local_addr());
        let _ = std::io::stdout().flush();
        if let Err(e) = gateway.serve().await {
            eprintln!("{e}");
            std::process::exit(1)
        }
    });
}
