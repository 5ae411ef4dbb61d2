//! The subcommands besides `checkout`: `submodules`, `lfs-objects`, `verify`.

use std::io::{IsTerminal, Write};

use super::progress::{Bar, printable};
use crate::{LfsObjectsArgs, SubmodulesArgs, VerifyArgs};

/// Print `value` as one line of JSON on stdout.
pub(crate) fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer(&mut stdout, value)?;
    writeln!(stdout)?;
    Ok(())
}

/// `unfurl submodules`: one line per submodule (or the JSON array).
pub(crate) fn submodules(args: SubmodulesArgs) -> anyhow::Result<()> {
    let listed = unfurl::list_submodules(
        &args.store,
        &args.rev,
        &args.stores.stores(),
        args.stores.url.as_deref(),
        args.recursive,
    )
    .map_err(|err| {
        anyhow::Error::new(err).context(format!(
            "could not list the submodules of '{}' in {}",
            args.rev,
            args.store.display()
        ))
    })?;
    if args.json {
        return print_json(&listed);
    }
    let mut stdout = std::io::stdout().lock();
    for m in &listed {
        // As `git submodule status`: `-` for one left out (update = none), `!` for one
        // whose store or commit is missing.
        let mark = match m.status {
            "ok" => ' ',
            "skipped" => '-',
            _ => '!',
        };
        writeln!(
            stdout,
            "{mark}{} {} {} {}",
            m.commit,
            printable(&m.path),
            printable(&m.name),
            printable(&m.url)
        )?;
    }
    Ok(())
}

/// `unfurl lfs-objects`: one line per LFS object (or the JSON object).
pub(crate) fn lfs_objects(args: LfsObjectsArgs) -> anyhow::Result<()> {
    let options = unfurl_engine::Options {
        archive: args.archive,
        ..Default::default()
    };
    let objects = unfurl::lfs_objects(&args.store, &args.rev, &options).map_err(|err| {
        anyhow::Error::new(err).context(format!(
            "could not list the LFS objects of '{}' of {}",
            args.rev,
            args.store.display()
        ))
    })?;
    if args.json {
        print_json(&serde_json::json!({ "objects": objects }))?;
    } else {
        let mut stdout = std::io::stdout().lock();
        for o in &objects {
            writeln!(stdout, "{} {} {}", o.oid, o.size, o.path.escape_debug())?;
        }
    }
    Ok(())
}

/// `unfurl verify`: print the differences (or the JSON report); `Ok(true)` if identical.
pub(crate) fn verify(args: VerifyArgs) -> anyhow::Result<bool> {
    args.stores.require_recurse(args.recurse_submodules);
    let recurse = args.recurse_submodules.then(|| unfurl::Recurse {
        stores: args.stores.stores(),
        url: args.stores.url.clone(),
    });
    let bar = Bar::new(args.progress || std::io::stderr().is_terminal());
    let report = unfurl::verify(&args.store, &args.rev, &args.dest, recurse.as_ref(), &bar);
    bar.finish();
    let report = report.map_err(|err| {
        anyhow::Error::new(err).context(format!(
            "could not verify {} against '{}' of {}",
            args.dest.display(),
            args.rev,
            args.store.display()
        ))
    })?;
    if args.json {
        print_json(&report)?;
    } else {
        let mut stdout = std::io::stdout().lock();
        for d in &report.differences {
            let change = serde_json::to_value(d.change)?;
            let change = change.as_str().unwrap_or("?");
            writeln!(stdout, "{change}\t{}", d.path.escape_debug())?;
        }
    }
    let what = report.commit.as_deref().unwrap_or(&report.tree);
    if report.identical {
        eprintln!("unfurl: {} is exactly {}", args.dest.display(), &what[..12]);
    } else {
        eprintln!(
            "unfurl: {} differs from {} in {} path(s)",
            args.dest.display(),
            &what[..12],
            report.differences.len()
        );
    }
    Ok(report.identical)
}
