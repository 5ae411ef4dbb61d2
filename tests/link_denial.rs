//! unfurl never makes hardlinks: under strace, every `link`/`linkat` fails with EPERM, and a
//! checkout still succeeds, equals git archive's, and was never seen calling either.

use std::path::Path;
use std::process::Command;

use crate::support::*;

runtime_tests!(checkout_succeeds_and_never_calls_link_when_links_are_denied);

/// `strace -f -o LOG`, tracing only link and linkat and failing every one with EPERM.
fn strace_denying_links(log: &Path) -> Command {
    let mut cmd = Command::new("strace");
    cmd.arg("-f").arg("-o").arg(log).args([
        "-e",
        "trace=link,linkat",
        "-e",
        "inject=link,linkat:error=EPERM",
    ]);
    cmd
}

/// The lines of an strace log that record a `link` or `linkat` call (`symlinkat` is not one).
fn link_calls(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            let call = line
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start();
            let call = call.strip_prefix("<... ").unwrap_or(call);
            call.starts_with("link(")
                || call.starts_with("linkat(")
                || call.starts_with("link ")
                || call.starts_with("linkat ")
        })
        .collect()
}

fn checkout_succeeds_and_never_calls_link_when_links_are_denied(rt: Runtime) {
    require("strace", "it injects EPERM into every link/linkat call");
    let c = corpus();
    let tmp = TempDir::new("links");

    // Control: the injection really denies links, so `git clone --local` (which hardlinks the
    // object files) fails under it, and its log shows the denied calls.
    let control_log = tmp.join("control.log");
    let out = run(strace_denying_links(&control_log)
        .args(["git", "clone", "-q", "--local"])
        .arg(&c.store)
        .arg(tmp.join("clone")));
    let log = std::fs::read_to_string(&control_log).unwrap_or_default();
    assert!(
        !out.status.success() && !link_calls(&log).is_empty(),
        "control: expected `git clone --local` to fail under the link denial with link calls in the log, \
         got {} with stderr {:?} and {} link calls",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        link_calls(&log).len()
    );

    let log_path = tmp.join("unfurl.log");
    let dest = tmp.join("dest");
    let out = run(strace_denying_links(&log_path)
        .arg(unfurl_bin())
        .args(checkout_args(rt, &["--json"], &c.store, "main", &dest)));
    let result = output_to_run(out);
    assert_eq!(
        result.code,
        Some(0),
        "expected unfurl to succeed with links denied, got {result:?}"
    );
    let log = std::fs::read_to_string(&log_path).expect("read strace's log");
    let calls = link_calls(&log);
    assert!(
        calls.is_empty(),
        "expected no link/linkat calls by unfurl, got {}: {calls:?}",
        calls.len()
    );
    let expected = snapshot(reference(&c.store, "main").path());
    assert_same_tree(&expected, &snapshot(&dest), "checkout with links denied");
    let linked = hardlinked_files(&dest);
    assert!(
        linked.is_empty(),
        "expected no file with more than one link, got {linked:?}"
    );
    let (commit, tree) = expected_ids(&c.store, "main");
    let json: serde_json::Value = serde_json::from_str(&result.stdout).unwrap_or_else(|e| {
        panic!(
            "expected one JSON object on stdout, got {e}: {:?}",
            result.stdout
        )
    });
    assert_json(
        &json,
        &expected,
        commit.as_deref(),
        &tree,
        rt,
        "checkout with links denied",
    );
}
