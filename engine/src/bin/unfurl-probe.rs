//! A test-only WASI guest: it tries to read each path it is given, and to create a file
//! next to it, and prints what happened, so the test suite can show what a guest run with
//! the checkout's preopens can and cannot reach. Built by the host's `build.rs` beside the
//! real guest, never embedded in `unfurl`.

fn main() {
    let paths: Vec<String> = std::env::args()
        .nth(1)
        .and_then(|arg| serde_json::from_str(&arg).ok())
        .unwrap_or_default();
    let describe = |result: std::io::Result<()>| match result {
        Ok(()) => "ok".to_string(),
        Err(err) => err.to_string(),
    };
    let results: Vec<(String, String, String)> = paths
        .iter()
        .map(|path| {
            let read = std::fs::read(path).map(drop);
            let create = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(format!("{path}.unfurl-probe"))
                .map(drop);
            (path.clone(), describe(read), describe(create))
        })
        .collect();
    println!(
        "{}",
        serde_json::to_string(&results).expect("strings encode")
    );
}
