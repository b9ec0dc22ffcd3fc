//! One file per command group; the helpers here are what every command shares.

pub mod bench;
pub mod demo;
pub mod import;
pub mod sessions;

use anyhow::Context;
use racestore::RaceStore;

/// Opens the store `url` names, reporting on stderr anything the library repaired while opening.
///
/// The library's error already names the file, the lock holder or the valid URL forms; the
/// context adds which URL was being opened (except for an unsupported URL, which names itself).
pub fn open_store(url: &str) -> anyhow::Result<Box<dyn RaceStore>> {
    let store = match racestore::open(url) {
        Ok(store) => store,
        Err(err @ racestore::Error::Unsupported { .. }) => return Err(err.into()),
        Err(err) => return Err(err).with_context(|| format!("cannot open store {url}")),
    };
    for repair in store.repairs() {
        eprintln!("note: {repair}");
    }
    Ok(store)
}

/// Closes the store, so that a failure to flush is reported instead of lost in a drop.
pub fn close_store(store: &dyn RaceStore, url: &str) -> anyhow::Result<()> {
    store
        .close()
        .with_context(|| format!("closing store {url}: the last writes may not have reached the disk"))
}

/// Whether an error is stdout's reader having gone away.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Quotes `text` for a POSIX shell when it holds anything but plainly safe characters.
pub fn shell_quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if safe {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_leaves_plain_urls_alone_and_quotes_the_rest() {
        assert_eq!(shell_quote("json:storage"), "json:storage");
        assert_eq!(shell_quote("sqlite:/tmp/r.db"), "sqlite:/tmp/r.db");
        assert_eq!(shell_quote("json:my races"), "'json:my races'");
        assert_eq!(
            shell_quote("sqlite:r.db?durability=power-loss"),
            "'sqlite:r.db?durability=power-loss'"
        );
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
