//! Fifty SIGKILLs at random moments in each runtime: DEST is always absent or complete, and
//! the next run into it removes what the killed process left and succeeds. A test binary of
//! its own (`cargo test -p unfurl --test kill_trials`, about two minutes), so that the
//! integration tests keep their ten trials and their pace; `cargo test` runs both.

// The integration tests' helpers; this binary uses a few of them.
#[expect(
    dead_code,
    unused_imports,
    reason = "shared with the integration tests, which use the rest"
)]
mod support;
// The trials themselves, shared with the integration tests' `faults`.
mod kill;

use support::runtime_tests;

runtime_tests!(fifty_sigkills_at_random_moments_leave_the_destination_absent_or_complete);

fn fifty_sigkills_at_random_moments_leave_the_destination_absent_or_complete(rt: support::Runtime) {
    kill::sigkill_trials(rt, 50);
}
