//! Output for the example programs: `println!` that ends the program quietly when stdout
//! is closed early (`sensors | head`), instead of panicking on a broken pipe.

/// Like `println!`; on a closed stdout the program exits with status 0, on any other
/// write error with status 1 and a message.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($arg)*) {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }};
}
