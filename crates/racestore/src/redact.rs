//! Hiding passwords in store URLs: the one redactor every message, log line and `Display` uses.

/// What a password is shown as.
pub(crate) const REDACTED: &str = "***";

/// `url` with any password replaced by `***`: the one in `scheme://user:password@host` and any
/// `password=` option. Errs on the side of hiding: with a stray `@` it may hide more than the
/// password, never less.
pub fn redact_url(url: &str) -> String {
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => match rest[..at].split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:{REDACTED}{}", &rest[at..]),
                None => url.to_owned(),
            },
            None => url.to_owned(),
        },
        None => url.to_owned(),
    };
    // `password=...` in the query (libpq and the driver accept it there too).
    let mut search_from = 0;
    while let Some(found) = out[search_from..].find("password=") {
        let start = search_from + found;
        let preceded_ok = start == 0 || matches!(out.as_bytes()[start - 1], b'?' | b'&' | b' ');
        let value_start = start + "password=".len();
        if preceded_ok {
            let value_end = out[value_start..]
                .find(['&', ' '])
                .map_or(out.len(), |end| value_start + end);
            out.replace_range(value_start..value_end, REDACTED);
            search_from = value_start + REDACTED.len();
        } else {
            search_from = value_start;
        }
    }
    out
}
