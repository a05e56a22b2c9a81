//! Command-line handling shared by the exporter binaries: Go-style single-dash long flags, and
//! errors printed as one line with a non-zero exit.

use std::ffi::OsString;

use clap::{ArgMatches, Command};

/// Exit code for bad flags, config or DSN (sysexits' `EX_USAGE` would be 64; the Go exporters and
/// clap use 2, which operators' systemd units already expect).
pub const EXIT_USAGE: i32 = 2;

/// Rewrites `-web.listen-address=:9121` into `--web.listen-address=:9121` when the name is one of
/// `cmd`'s long flags. Go's `flag` package (redis_exporter) accepts both forms and deployed units use
/// the single dash; values that merely start with `-` are left alone.
pub fn normalize_go_flags(cmd: &Command, args: Vec<OsString>) -> Vec<OsString> {
    let longs: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    let mut out = Vec::with_capacity(args.len());
    let mut after_double_dash = false;
    for (i, arg) in args.into_iter().enumerate() {
        if i == 0 || after_double_dash {
            out.push(arg);
            continue;
        }
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if s == "--" {
            after_double_dash = true;
            out.push(arg);
            continue;
        }
        if let Some(rest) = s.strip_prefix('-')
            && !rest.starts_with('-')
            && rest.len() > 1
        {
            let name = rest.split('=').next().unwrap_or(rest);
            if longs.iter().any(|l| l == name) {
                out.push(OsString::from(format!("-{s}")));
                continue;
            }
        }
        out.push(arg);
    }
    out
}

/// Parses `args`; on `--help`/`--version` prints and exits 0, on any error prints one line naming
/// the problem to stderr and exits with [`EXIT_USAGE`].
pub fn parse_or_exit(cmd: Command, args: Vec<OsString>) -> ArgMatches {
    match cmd.try_get_matches_from(&args) {
        Ok(m) => m,
        Err(error) => {
            use clap::error::ErrorKind;
            match error.kind() {
                ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = error.print();
                    std::process::exit(0);
                }
                _ => {
                    eprintln!("{}", error_line(&error, &args));
                    std::process::exit(EXIT_USAGE);
                }
            }
        }
    }
}

/// The one line for a parse error. clap reads `-no.such.flag` as the short flags `-n -o ...` and
/// names only `'-n'`; the operator typed the whole word, so the whole word is named.
pub fn error_line(error: &clap::Error, args: &[OsString]) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if error.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(short)) = error.get(ContextKind::InvalidArg)
        && short.len() == 2
        && short.starts_with('-')
        && let Some(word) = args
            .iter()
            .skip(1)
            .filter_map(|a| a.to_str())
            .find(|a| a.starts_with(short.as_str()) && !a.starts_with("--") && a.len() > 2)
    {
        let word = word.split('=').next().unwrap_or(word);
        return format!("error: unexpected argument '{word}' found");
    }
    one_line(&error.render().to_string())
}

/// The first meaningful line of a multi-line error text.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("error")
        .to_owned()
}

/// Prints `error: {msg}` as one line and exits with [`EXIT_USAGE`]; for validation errors found after
/// parsing (a bad DSN, an unreadable file).
pub fn usage_exit(msg: impl std::fmt::Display) -> ! {
    eprintln!("error: {}", one_line(&msg.to_string()));
    std::process::exit(EXIT_USAGE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    #[test]
    fn an_unknown_single_dash_flag_is_named_whole() {
        let cmd = Command::new("t").arg(Arg::new("a").long("web.listen-address"));
        let args: Vec<OsString> = ["t", "-no.such.flag=1"]
            .iter()
            .map(OsString::from)
            .collect();
        let error = cmd.try_get_matches_from(&args).unwrap_err();
        assert_eq!(
            error_line(&error, &args),
            "error: unexpected argument '-no.such.flag' found"
        );
        let cmd = Command::new("t").arg(Arg::new("a").long("web.listen-address"));
        let args: Vec<OsString> = ["t", "--nope"].iter().map(OsString::from).collect();
        let error = cmd.try_get_matches_from(&args).unwrap_err();
        assert!(error_line(&error, &args).contains("'--nope'"));
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let cmd = Command::new("t")
            .arg(Arg::new("a").long("redis.addr"))
            .arg(Arg::new("p").long("redis.password"));
        let args: Vec<OsString> = [
            "t",
            "-redis.addr=redis://x:1",
            "-redis.password",
            "-secret",
            "-v",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let out = normalize_go_flags(&cmd, args);
        assert_eq!(
            out,
            vec![
                "t",
                "--redis.addr=redis://x:1",
                "--redis.password",
                "-secret",
                "-v"
            ]
        );
    }
}
