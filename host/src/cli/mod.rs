//! The command line's parts besides its arguments and `checkout`, one concern per file.

pub(crate) mod commands;
pub(crate) mod parse;
pub(crate) mod progress;
pub(crate) mod signals;
